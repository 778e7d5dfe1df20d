//! Preparing a recorded run to continue: the checks `wfhost resume` and
//! `wfhost serve` (adopting a run, or `POST /v1/runs/{id}/resume`) share.
//! The definition the run started with is pinned by its digest, and so are
//! its modules; a change is refused unless the caller allows it.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::diagnostics::Source;
use crate::engine::resume::{self, ResumeError};
use crate::engine::{Replay, StepStatus, Trigger};
use crate::sandbox::Digest;
use crate::store::{Lease, Owner, RunRecord, RunStore, StoreError};
use crate::units::parse_rfc3339;
use crate::workflow::Plan;
use crate::workflow::tree::MAX_FILE_BYTES;

/// What to resume: the run, from where, and whether changes are allowed.
#[derive(Debug, Clone, Copy)]
pub struct ResumeRequest<'a> {
    pub run: &'a str,
    /// Re-run from this step (results recorded before its first attempt stand).
    pub from: Option<&'a str>,
    /// Resume even though the workflow file or a module changed.
    pub allow_changed: bool,
}

/// A run ready to drive again, owned by the caller's lease.
#[derive(Debug)]
pub struct Prepared {
    pub plan: Arc<Plan>,
    pub workspace: PathBuf,
    pub inputs: Map<String, Value>,
    pub replay: Replay,
    /// What started the run.
    pub trigger: Trigger,
    pub lease: Lease,
    /// Said to the user: e.g. the file is gone and the recorded definition is used.
    pub notes: Vec<String>,
    /// The W3C trace the run belongs to.
    pub trace_id: String,
}

/// Why a run cannot be resumed.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Resume(#[from] ResumeError),
    #[error("run {run} is being driven by {driver}; pause it first")]
    Driven { run: String, driver: String },
    #[error(
        "{path} changed since run {run} started (sha256 {then} then, {now} now); resuming could mix two definitions. Pass --allow-changed to resume with the file as it is now"
    )]
    WorkflowChanged {
        run: String,
        path: String,
        then: String,
        now: String,
    },
    #[error(
        "modules or sub-workflows changed since run {run} started: {}. Pass --allow-changed to resume with them as they are now",
        .changed.join(", ")
    )]
    ModulesChanged { run: String, changed: Vec<String> },
    /// The workflow does not plan, or its modules cannot be loaded: what
    /// the planner said.
    #[error(transparent)]
    Plan(Box<dyn std::error::Error + Send + Sync>),
}

/// Check that `request.run` may continue, plan its workflow with `plan`,
/// work out which recorded attempts stand in, and claim it for `owner`.
pub fn prepare(
    store: &mut dyn RunStore,
    request: ResumeRequest<'_>,
    owner: &Owner,
    plan: impl FnOnce(&Source) -> Result<Arc<Plan>, PrepareError>,
) -> Result<Prepared, PrepareError> {
    let run = store.run(request.run)?;
    let id = &run.id;
    resume::check_resumable(id, run.status, request.from)?;
    if run.is_driven() {
        return Err(PrepareError::Driven {
            run: id.clone(),
            driver: run.driver(),
        });
    }
    let mut notes = Vec::new();
    let source = definition(store, &run, &mut notes)?;
    let digest = Digest::of(source.text.as_bytes()).to_hex();
    if digest != run.workflow_digest && !request.allow_changed {
        return Err(PrepareError::WorkflowChanged {
            run: id.clone(),
            path: run.path.clone(),
            then: short(&run.workflow_digest).into(),
            now: short(&digest).into(),
        });
    }
    let plan = plan(&source)?;
    let modules = plan.module_digests();
    let recorded_modules = store.run_modules(id)?;
    if modules != recorded_modules && !request.allow_changed {
        return Err(PrepareError::ModulesChanged {
            run: id.clone(),
            changed: recorded_modules
                .iter()
                .filter(|recorded| !modules.contains(recorded))
                .map(|(name, digest)| format!("{name} (was sha256 {})", short(digest)))
                .collect(),
        });
    }
    let ended: Vec<(String, StepStatus)> = store
        .steps(id)?
        .into_iter()
        .map(|step| (step.step, step.status))
        .collect();
    let mut replay = resume::replay(
        id,
        run.status,
        &plan,
        store.attempts(id)?,
        &ended,
        request.from,
    )?;
    for (key, deadline) in store.waits(id)? {
        if let Some(deadline) = deadline.as_deref().and_then(parse_rfc3339) {
            replay.set_deadline(key, deadline);
        }
    }
    let lease = store.claim(id, owner, &modules)?;
    Ok(Prepared {
        plan,
        workspace: run.workspace.into(),
        inputs: match run.inputs {
            Value::Object(inputs) => inputs,
            _ => Map::new(),
        },
        replay,
        trigger: run.trigger,
        lease,
        notes,
        trace_id: run.trace_id,
    })
}

/// The workflow file as it is now, or the text recorded when the run
/// started when the file cannot be read.
fn definition(
    store: &dyn RunStore,
    run: &RunRecord,
    notes: &mut Vec<String>,
) -> Result<Source, StoreError> {
    match Source::read(std::path::Path::new(&run.path), MAX_FILE_BYTES) {
        Ok(source) => Ok(source),
        Err(error) => {
            notes.push(format!(
                "cannot read {} ({error}); resuming with the definition recorded when the run started",
                run.path
            ));
            Ok(Source::new(
                &run.path,
                store.workflow_text(&run.workflow_digest)?,
            ))
        }
    }
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}
