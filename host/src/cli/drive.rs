//! Driving a run — new (`wfhost run`) or resumed (`wfhost resume`): the
//! engine on a worker task, the journal and the reporter observing it,
//! Ctrl-C turned into a resumable stop.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context;
use serde_json::{Map, Value};

use crate::engine::{
    self, Control, DetachOnWait, Observer, Replay, RunOptions, RunStatus, Stop, Tee, Trigger,
};
use crate::service::children::ChildRunner;
use crate::service::circuits::StoreBreakers;
use crate::service::shared_store::SharedStore;
use crate::store::{self, Durability, JournalHub, Lease, Owner, RunStore, StoreError};
use crate::workflow::Plan;
use crate::workflow::plan::StepKind;

use super::exit::{CliError, DETACHED, EnvironmentError, FAILURE, INTERRUPTED, SUCCESS};
use super::report::{self, ChildReporter, Reporter};

/// What to drive.
pub(super) struct Drive {
    pub plan: Arc<Plan>,
    /// The directory workspace-relative grants resolve against.
    pub workspace: std::path::PathBuf,
    pub inputs: Map<String, Value>,
    pub replay: Replay,
    /// What started the run (kept with it; templates read it).
    pub trigger: Trigger,
    pub json: bool,
    /// Leave the run waiting, and exit, once every path waits.
    pub detach_on_wait: bool,
    /// Where the run is kept, and this process's lease on it.
    pub store: Box<dyn RunStore>,
    pub lease: Lease,
    /// The database, opened again for sub-workflows' runs when the plan
    /// has `workflow:` steps.
    pub database: store::Location,
    pub durability: Durability,
    /// The W3C trace the run belongs to (printed with `--json`).
    pub trace_id: String,
    /// Where traces go: the run's (and any still due) are sent once it ended.
    pub traces: Option<crate::service::otlp::TraceExporter>,
}

pub(super) fn drive(drive: Drive) -> Result<u8, CliError> {
    let grants = engine::grants::resolve(&drive.plan, &drive.workspace).map_err(|problems| {
        CliError(anyhow::anyhow!(
            "cannot grant what the workflow asks:\n  {}",
            problems.join("\n  ")
        ))
    })?;
    let control = Arc::new(Control::default());
    let run_id = drive.lease.run_id.clone();
    let journals = Arc::new(JournalHub::start(drive.store)?);
    let journal = journals.journal(drive.lease, control.clone())?;
    // Children and circuit breakers keep state in the store beside the
    // journal: a connection of their own, opened only when the plan has them.
    let side_store = if has_children(&drive.plan) || has_circuits(&drive.plan) {
        Some(SharedStore::new(store::open(
            &drive.database,
            drive.durability,
        )?))
    } else {
        None
    };
    let breakers = side_store
        .clone()
        .map(|store| Arc::new(StoreBreakers::new(store)) as Arc<dyn engine::Breakers>);
    let children = if let Some(store) = side_store.filter(|_| has_children(&drive.plan)) {
        let mut runner = ChildRunner::new(
            store,
            Arc::clone(&journals),
            Owner::this_process(),
            drive.workspace.clone(),
        )
        .detach_on_wait(drive.detach_on_wait)
        .with_breakers(breakers.clone());
        if !drive.json {
            let fancy = std::io::stdout().is_terminal();
            runner = runner.watched(Box::new(move |run: &str, step: &str| {
                Box::new(ChildReporter {
                    fancy,
                    run: run.to_string(),
                    step: step.to_string(),
                }) as Box<dyn Observer + Send>
            }));
        }
        Some(Arc::new(runner))
    } else {
        None
    };
    let reporter = if drive.json {
        Reporter::Json {
            trace_id: drive.trace_id.clone(),
        }
    } else {
        Reporter::Human {
            fancy: std::io::stdout().is_terminal(),
            run: run_id.clone(),
        }
    };
    // The journal first (so an event is on its way to disk before it is
    // shown), then the reporter.
    let detach = drive
        .detach_on_wait
        .then(|| DetachOnWait(Arc::clone(&control)));
    let mut observers = Tee(journal, Tee(reporter, detach));
    let tokio = super::tokio_runtime()?;
    let options = RunOptions {
        run_id: run_id.clone(),
        replay: drive.replay,
        control: control.clone(),
        grants,
        trigger: drive.trigger,
        children: children
            .clone()
            .map(|children| children as Arc<dyn engine::Children>),
        breakers,
    };
    let (plan, inputs) = (drive.plan, drive.inputs);
    let interrupt = control;
    // Ctrl-C: stop what is in flight, record the run as interrupted.
    tokio.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            interrupt.request(Stop::Interrupt);
        }
    });
    // The engine runs as a task on a worker thread: the attempts it spawns
    // then start on that worker without a cross-thread wake-up.
    let (summary, observers) = tokio
        .block_on(tokio.spawn(async move {
            let summary = engine::run(plan, inputs, options, &mut observers).await;
            // Children stopped with their parent journal how they ended.
            if let Some(children) = children {
                children.idle().await;
            }
            (summary, observers)
        }))
        .context("the engine task failed")?;
    let Tee(journal, _) = observers;
    journal.finish().map_err(|error| match error {
        // Another owner continues the run: nothing for the user to resume.
        StoreError::LeaseLost { .. } => CliError(anyhow::Error::new(error)),
        _ => CliError::from(EnvironmentError(format!(
            "{:#}\nrun {run_id} is recorded up to that point; fix the cause, then continue it with: wfhost resume {run_id}",
            anyhow::Error::new(error)
        ))),
    })?;
    if !drive.json {
        print!("{}", report::summary(&summary));
    }
    if let Some(traces) = &drive.traces {
        super::otlp::export_after_run(traces, &tokio, &drive.database, drive.durability);
    }
    Ok(match summary.status {
        RunStatus::Succeeded => SUCCESS,
        RunStatus::Paused | RunStatus::Interrupted => {
            eprintln!(
                "run {run_id} stopped ({}); continue it with: wfhost resume {run_id}",
                summary.status.as_str()
            );
            if summary.status == RunStatus::Interrupted {
                INTERRUPTED
            } else {
                FAILURE
            }
        }
        RunStatus::Waiting => {
            eprintln!(
                "run {run_id} is left waiting for a signal: send it (`wfhost signal {run_id} NAME --data JSON`), then `wfhost resume {run_id}` continues it (or `wfhost serve` does)"
            );
            DETACHED
        }
        RunStatus::Failed | RunStatus::Cancelled | RunStatus::Running | RunStatus::Queued => {
            FAILURE
        }
    })
}

/// Whether `plan` runs sub-workflows.
fn has_children(plan: &Plan) -> bool {
    plan.steps
        .iter()
        .any(|step| matches!(step.kind, StepKind::Workflow(_)))
}

/// Whether any step of `plan` calls through a circuit breaker.
fn has_circuits(plan: &Plan) -> bool {
    plan.steps.iter().any(|step| step.circuit.is_some())
}
