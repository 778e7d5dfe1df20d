//! `wfhost resume RUN [--from STEP] [--allow-changed]`: continue a run that
//! crashed, was paused, interrupted or failed, reusing recorded results.

use crate::home::Home;
use crate::service::resume::{self, PrepareError, ResumeRequest};
use crate::store::{self, Durability, Owner};

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
    /// When every path of the run waits for a signal, leave it waiting and
    /// exit with code 3; `wfhost resume` (or `wfhost serve`) continues it.
    #[arg(long)]
    detach_on_wait: bool,
    #[command(flatten)]
    otlp: super::otlp::OtlpArgs,
}

pub(super) fn run(home: &Home, args: &ResumeArgs) -> Result<u8, CliError> {
    let traces = args.otlp.exporter()?;
    let mut store = store::open(&home.database(), args.durability)?;
    let request = ResumeRequest {
        run: &args.run,
        from: args.from.as_deref(),
        allow_changed: args.allow_changed,
    };
    let prepared = resume::prepare(store.as_mut(), request, &Owner::this_process(), |source| {
        workflow_file::plan_source(home, source)
            .map(|(plan, _catalog)| std::sync::Arc::new(plan))
            .map_err(|error| PrepareError::Plan(error.0.into()))
    })
    .map_err(|error| match error {
        // The planner printed the diagnostics and says why already.
        PrepareError::Plan(error) => CliError(anyhow::Error::from_boxed(error)),
        PrepareError::Driven { run, driver } => CliError(anyhow::anyhow!(
            "run {run} is being driven by {driver}; `wfhost pause {run}` it first"
        )),
        other => CliError::from(other),
    })?;
    for note in &prepared.notes {
        eprintln!("note: {note}");
    }
    drive::drive(Drive {
        plan: prepared.plan,
        workspace: prepared.workspace,
        inputs: prepared.inputs,
        replay: prepared.replay,
        trigger: prepared.trigger,
        json: args.json,
        detach_on_wait: args.detach_on_wait,
        store,
        lease: prepared.lease,
        database: home.database(),
        durability: args.durability,
        trace_id: prepared.trace_id,
        traces,
    })
}
