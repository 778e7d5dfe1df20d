//! `wfhost run FILE`: validate, plan, execute, report.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::{Map, Value};

use crate::diagnostics::Source;
use crate::engine::Stop;
use crate::engine::{self, Replay, Trigger, inputs};
use crate::home::Home;
use crate::sandbox::Digest;
use crate::service::runner;
use crate::store::{self, Admission, Durability, Lease, NewRun, Owner, RunStore};
use crate::workflow::tree::MAX_FILE_BYTES;

use super::drive::{self, Drive};
use super::exit::CliError;
use super::workflow_file;

#[derive(Debug, clap::Args)]
pub(super) struct RunArgs {
    /// The workflow file (YAML or JSON).
    file: PathBuf,
    /// A workflow input, `NAME=VALUE` (JSON for non-string inputs), or
    /// `NAME=@FILE` for the file's contents. Repeatable.
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    inputs: Vec<String>,
    /// A JSON object of inputs; `--input` values override it.
    #[arg(long, value_name = "FILE.json")]
    inputs_file: Option<PathBuf>,
    /// Print every event as one JSON object per line.
    #[arg(long)]
    json: bool,
    /// `normal` survives a crash of wfhost; `full` also survives a power loss
    /// (an fsync per commit).
    #[arg(long, value_enum, default_value = "normal")]
    durability: Durability,
    /// The root that `permissions` paths are relative to (default: the current directory).
    #[arg(long, value_name = "DIR", default_value = ".")]
    workspace: PathBuf,
    /// When every path of the run waits for a signal, leave it waiting and
    /// exit with code 3; `wfhost resume` (or `wfhost serve`) continues it.
    #[arg(long)]
    detach_on_wait: bool,
    #[command(flatten)]
    otlp: super::otlp::OtlpArgs,
}

pub(super) fn run(home: &Home, args: &RunArgs) -> Result<u8, CliError> {
    let source = Source::read(&args.file, MAX_FILE_BYTES)
        .with_context(|| format!("cannot read workflow file {}", args.file.display()))?;
    let (plan, _catalog) = workflow_file::plan_source(home, &source)?;
    let traces = args.otlp.exporter()?;
    let given = given_inputs(&plan.inputs, args)?;
    let inputs = inputs::resolve(&plan.inputs, &given).map_err(|problems| {
        CliError(anyhow::anyhow!(
            "invalid inputs:\n  {}",
            problems.join("\n  ")
        ))
    })?;
    if !args.json {
        workflow_file::print_grants(&plan);
    }
    let run_id = engine::new_run_id();
    let path = std::path::absolute(&args.file).unwrap_or_else(|_| args.file.clone());
    let workspace = args
        .workspace
        .canonicalize()
        .with_context(|| format!("cannot use workspace {}", args.workspace.display()))?;
    let slot_key =
        runner::slot_key(&plan, &inputs).map_err(|problem| CliError(anyhow::anyhow!(problem)))?;
    // `TRACEPARENT` (as CI systems set it) makes the run part of that trace.
    let (trace_id, trace_parent) = crate::trace::trace_of_new_run(
        &run_id,
        std::env::var("TRACEPARENT")
            .ok()
            .as_deref()
            .and_then(crate::trace::parse_traceparent),
    );
    let mut store = store::open(&home.database(), args.durability)?;
    let admission = store.create_run(
        &NewRun {
            id: &run_id,
            name: &plan.name,
            path: &path.display().to_string(),
            workspace: &workspace.display().to_string(),
            workflow_digest: &Digest::of(source.text.as_bytes()).to_hex(),
            workflow_text: &source.text,
            inputs: &Value::Object(inputs.clone()),
            modules: &plan.module_digests(),
            started_by: &format!("cli:{}", crate::user::os_user()),
            trigger: &Trigger::cli(),
            slot: slot_key.as_deref().and_then(|key| runner::slot(&plan, key)),
            hold: false,
            idempotency_key: None,
            parent: None,
            trace_id: &trace_id,
            trace_parent: trace_parent.as_deref(),
            export_trace: traces.is_some(),
        },
        &Owner::this_process(),
    )?;
    let lease = match admission {
        Admission::Running(lease) => lease,
        Admission::Cancelled { held_by } => {
            return Err(CliError(anyhow::anyhow!(
                "run {run_id} was cancelled: every slot of `{}` is taken (by {}) and the workflow says on_limit: cancel-newest",
                slot_key.unwrap_or_default(),
                held_by.join(", ")
            )));
        }
        Admission::Queued { held_by } => {
            eprintln!(
                "run {run_id} is queued: `{}` is held by {}; waiting for a slot (Ctrl-C cancels it)",
                slot_key.unwrap_or_default(),
                held_by.join(", ")
            );
            wait_for_slot(store.as_mut(), &run_id)?
        }
    };
    drive::drive(Drive {
        plan: std::sync::Arc::new(plan),
        workspace,
        inputs,
        replay: Replay::default(),
        trigger: Trigger::cli(),
        json: args.json,
        detach_on_wait: args.detach_on_wait,
        store,
        lease,
        database: home.database(),
        durability: args.durability,
        trace_id,
        traces,
    })
}

/// Wait until queued run `id` gets its slot (its lease); Ctrl-C cancels it.
fn wait_for_slot(store: &mut dyn RunStore, id: &str) -> Result<Lease, CliError> {
    let tokio = super::tokio_runtime()?;
    let owner = Owner::this_process();
    loop {
        if let Some(lease) = store.admit(id, &owner)? {
            return Ok(lease);
        }
        let interrupted = tokio.block_on(async {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => true,
                () = tokio::time::sleep(std::time::Duration::from_millis(200)) => false,
            }
        });
        if interrupted {
            store.request(id, Stop::Cancel)?;
            return Err(CliError(anyhow::anyhow!(
                "run {id} was cancelled while it waited for a slot"
            )));
        }
    }
}

fn given_inputs(
    declared: &indexmap::IndexMap<String, crate::workflow::model::InputSpec>,
    args: &RunArgs,
) -> Result<Map<String, Value>, CliError> {
    let mut given = match &args.inputs_file {
        None => Map::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --inputs-file {}", path.display()))?;
            match serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", path.display()))?
            {
                Value::Object(map) => map,
                _ => {
                    return Err(CliError(anyhow::anyhow!(
                        "{} must hold a JSON object of inputs",
                        path.display()
                    )));
                }
            }
        }
    };
    for assignment in &args.inputs {
        let assignment = match assignment.split_once("=@") {
            Some((name, path)) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("--input {name}=@{path}: cannot read the file"))?;
                format!("{name}={text}")
            }
            None => assignment.clone(),
        };
        let (name, value) = inputs::parse_assignment(declared, &assignment)
            .map_err(|problem| CliError(anyhow::anyhow!("--input {problem}")))?;
        given.insert(name, value);
    }
    Ok(given)
}
