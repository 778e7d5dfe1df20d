//! `wfhost resume RUN [--from STEP] [--allow-changed]`: continue a run that
//! crashed, was paused, interrupted or failed, reusing recorded results.

use anyhow::anyhow;
use serde_json::{Map, Value};

use crate::diagnostics::Source;
use crate::engine::StepStatus;
use crate::engine::resume;
use crate::home::Home;
use crate::sandbox::Digest;
use crate::store::{self, Durability, Owner};
use crate::workflow::tree::MAX_FILE_BYTES;

use super::drive::{self, Drive};
use super::exit::CliError;
use super::workflow_file;

#[derive(Debug, clap::Args)]
pub(super) struct ResumeArgs {
    /// The run id (`wfhost list` shows them).
    run: String,
    /// Re-run from this step: results recorded before its first attempt are
    /// kept, it and everything after run again. Works on finished runs too.
    #[arg(long, value_name = "STEP")]
    from: Option<String>,
    /// Resume even though the workflow file or a module changed since the
    /// run started (recorded steps must still exist).
    #[arg(long)]
    allow_changed: bool,
    /// Print every event as one JSON object per line.
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value = "normal")]
    durability: Durability,
}

pub(super) fn run(home: &Home, args: &ResumeArgs) -> Result<u8, CliError> {
    let mut store = store::open(&home.database(), args.durability)?;
    let run = store.run(&args.run)?;
    let id = &run.id;
    resume::check_resumable(id, run.status, args.from.as_deref())?;
    if run.is_driven() {
        return Err(CliError(anyhow!(
            "run {id} is being driven by {}; `wfhost pause {id}` it first",
            run.driver()
        )));
    }
    // The definition the run started with is pinned by its digest.
    let source = match Source::read(std::path::Path::new(&run.path), MAX_FILE_BYTES) {
        Ok(source) => source,
        Err(error) => {
            eprintln!(
                "note: cannot read {} ({error}); resuming with the definition recorded when the run started",
                run.path
            );
            Source::new(&run.path, store.workflow_text(&run.workflow_digest)?)
        }
    };
    let digest = Digest::of(source.text.as_bytes()).to_hex();
    if digest != run.workflow_digest && !args.allow_changed {
        return Err(CliError(anyhow!(
            "{} changed since run {id} started (sha256 {} then, {} now); resuming could mix two definitions. \
             Pass --allow-changed to resume with the file as it is now",
            run.path,
            short(&run.workflow_digest),
            short(&digest)
        )));
    }
    let (plan, _catalog) = workflow_file::plan_source(home, &source)?;
    let modules = workflow_file::module_digests(&plan);
    let recorded_modules = store.run_modules(id)?;
    if modules != recorded_modules && !args.allow_changed {
        let changed: Vec<String> = recorded_modules
            .iter()
            .filter(|recorded| !modules.contains(recorded))
            .map(|(name, digest)| format!("{name} (was sha256 {})", short(digest)))
            .collect();
        return Err(CliError(anyhow!(
            "modules changed since run {id} started: {}. Pass --allow-changed to resume with the modules as they are now",
            changed.join(", ")
        )));
    }
    let ended: Vec<(String, StepStatus)> = store
        .steps(id)?
        .into_iter()
        .map(|step| (step.step, step.status))
        .collect();
    let replay = resume::replay(
        id,
        run.status,
        &plan,
        store.attempts(id)?,
        &ended,
        args.from.as_deref(),
    )?;
    let lease = store.claim(id, &Owner::this_process(), &modules)?;
    let inputs = match run.inputs {
        Value::Object(inputs) => inputs,
        _ => Map::new(),
    };
    drive::drive(Drive {
        plan,
        workspace: run.workspace.into(),
        inputs,
        replay,
        json: args.json,
        store,
        lease,
    })
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}
