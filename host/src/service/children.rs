//! Running sub-workflows: each `workflow:` step's attempt becomes a run of
//! its own, linked to its parent, journaled by the parent's journal hub and
//! driven by the same engine in this process. The child run is found by a
//! key derived from the parent's attempt, so a resumed parent continues
//! the child it started (or takes its recorded end) and never starts a
//! second one. `wfhost run` and `wfhost serve` share this driver.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use super::metrics::Metrics;
use super::resume::{self, PrepareError, ResumeRequest};
use super::shared_store::SharedStore;
use crate::engine::{
    self, AttemptResult, Breakers, ChildCall, ChildEnd, Children, Control, DetachOnWait, Observer,
    Replay, RunOptions, RunStatus, StepFailure, Stop, Tee, Trigger, inputs,
};
use crate::sandbox::Digest;
use crate::store::{
    Admission, JournalHub, Lease, NewRun, Owner, ParentRef, RunRecord, RunStore, StoreError,
};
use crate::workflow::StepFailureKind;
use crate::workflow::plan::PlannedChild;

/// How often a child driven by another process is looked at again.
const DRIVEN_ELSEWHERE_POLL: Duration = Duration::from_millis(250);

/// Makes an extra observer for a child run (the CLI's reporter), given
/// the child's run id and the step that started it.
pub type Watch = dyn Fn(&str, &str) -> Box<dyn Observer + Send> + Send + Sync;

/// Drives the children of the runs this process drives.
pub struct ChildRunner {
    store: SharedStore,
    journals: Arc<JournalHub>,
    owner: Owner,
    workspace: PathBuf,
    /// Leave a child waiting once every path of it waits (`wfhost run
    /// --detach-on-wait`): its parent is then left waiting too.
    detach_on_wait: bool,
    watch: Option<Box<Watch>>,
    /// The circuit breakers children's guarded calls go through.
    breakers: Option<Arc<dyn Breakers>>,
    /// What a server counts of its children's runs.
    metrics: Option<Arc<Metrics>>,
    /// Children being driven here now.
    active: Mutex<usize>,
    ended: Notify,
}

impl std::fmt::Debug for ChildRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildRunner")
            .field("owner", &self.owner)
            .field("workspace", &self.workspace)
            .finish_non_exhaustive()
    }
}

/// Where a child run stands before it is driven.
enum Found {
    /// Created now, or found unfinished and claimed: drive it.
    Drive {
        lease: Lease,
        replay: Box<Replay>,
        inputs: Map<String, Value>,
        /// Created now (not an earlier attempt's run continued).
        created: bool,
    },
    /// It ended already (a parent resumed after its child ended).
    Ended(Box<RunRecord>),
    /// Another process drives it: look again later.
    DrivenElsewhere,
    /// It cannot continue (its file changed, its recorded state does not
    /// fit the plan): the step fails, saying why.
    Refused(String),
}

impl ChildRunner {
    pub fn new(
        store: SharedStore,
        journals: Arc<JournalHub>,
        owner: Owner,
        workspace: PathBuf,
    ) -> Self {
        Self {
            store,
            journals,
            owner,
            workspace,
            detach_on_wait: false,
            watch: None,
            breakers: None,
            metrics: None,
            active: Mutex::default(),
            ended: Notify::new(),
        }
    }

    /// Leave children waiting (and so their parents) once they only wait.
    #[must_use]
    pub fn detach_on_wait(mut self, detach: bool) -> Self {
        self.detach_on_wait = detach;
        self
    }

    /// Guard children's calls with `breakers`.
    #[must_use]
    pub fn with_breakers(mut self, breakers: Option<Arc<dyn Breakers>>) -> Self {
        self.breakers = breakers;
        self
    }

    /// Count children's runs and steps into `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Option<Arc<Metrics>>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Show each child's events to an observer `watch` makes too.
    #[must_use]
    pub fn watched(mut self, watch: Box<Watch>) -> Self {
        self.watch = Some(watch);
        self
    }

    fn active(&self) -> std::sync::MutexGuard<'_, usize> {
        self.active.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Until no child is driven here (each has journaled how it ended).
    pub async fn idle(&self) {
        loop {
            let ended = self.ended.notified();
            if *self.active() == 0 {
                return;
            }
            ended.await;
        }
    }

    async fn run_child(self: Arc<Self>, call: ChildCall) -> ChildEnd {
        let given = match call.inputs.as_ref() {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        let child = Arc::clone(&call.child);
        let inputs = match inputs::resolve(&child.plan.inputs, &given) {
            Ok(inputs) => inputs,
            Err(problems) => {
                return failed(format!(
                    "invalid inputs for sub-workflow `{}`: {}",
                    child.written,
                    problems.join("; ")
                ));
            }
        };
        loop {
            let found = match self.find_or_create(&call, &inputs).await {
                Ok(found) => found,
                Err(error) => {
                    tracing::error!("run {}: {error}", call.parent_run);
                    return ChildEnd::Stopped(Stop::Interrupt);
                }
            };
            match found {
                Found::Ended(record) => return ended(&record),
                Found::Refused(why) => return failed(why),
                Found::DrivenElsewhere => {
                    tokio::select! {
                        () = tokio::time::sleep(DRIVEN_ELSEWHERE_POLL) => {}
                        _ = call.cancel.clone().cancelled() => {
                            return failed("cancelled while its child run was driven by another process".into());
                        }
                    }
                }
                Found::Drive {
                    lease,
                    replay,
                    inputs,
                    created,
                } => {
                    if let (true, Some(metrics)) = (created, &self.metrics) {
                        metrics.run_started(&call.child.plan.name);
                    }
                    return Arc::clone(&self).drive(&call, lease, *replay, inputs).await;
                }
            }
        }
    }

    /// The child run of `call`: created, or found by its key.
    async fn find_or_create(
        &self,
        call: &ChildCall,
        inputs: &Map<String, Value>,
    ) -> Result<Found, String> {
        let child = Arc::clone(&call.child);
        let (owner, workspace) = (self.owner.clone(), self.workspace.clone());
        let key = call.idempotency_key.clone();
        let parent_run = call.parent_run.clone();
        let parent_step = step_label(call);
        let recorded_inputs = Value::Object(inputs.clone());
        let id = engine::new_run_id();
        self.store
            .with(move |store| {
                // A child joins its parent's trace.
                let trace_id = store.run(&parent_run)?.trace_id;
                let created = store.create_run(
                    &NewRun {
                        id: &id,
                        name: &child.plan.name,
                        path: &child.plan.file.display().to_string(),
                        workspace: &workspace.display().to_string(),
                        workflow_digest: &child.digest,
                        workflow_text: &child.text,
                        inputs: &recorded_inputs,
                        modules: &child.modules,
                        started_by: &format!("run:{parent_run}"),
                        trigger: &Trigger::workflow(&parent_run),
                        slot: None,
                        hold: false,
                        idempotency_key: Some(&key),
                        parent: Some(ParentRef {
                            run: &parent_run,
                            step: &parent_step,
                        }),
                        trace_id: &trace_id,
                        trace_parent: None,
                        export_trace: false,
                    },
                    &owner,
                );
                match created {
                    Ok(Admission::Running(lease)) => Ok(Found::Drive {
                        lease,
                        created: true,
                        replay: Box::default(),
                        inputs: match recorded_inputs {
                            Value::Object(map) => map,
                            _ => Map::new(),
                        },
                    }),
                    Ok(_) => Err(StoreError::Refused(
                        "a child run was not admitted".to_string(),
                    )),
                    Err(StoreError::DuplicateKey { run }) => existing(store, &run, &child, &owner),
                    Err(error) => Err(error),
                }
            })
            .await
            .map_err(|error| {
                format!(
                    "cannot start the child run of step `{}`: {error}",
                    call.key.step
                )
            })
    }

    /// Drive child run `lease` to its end (or its stop), cancelling it when
    /// the parent cancels the step and interrupting it when the parent's
    /// attempt is dropped (the parent interrupted).
    async fn drive(
        self: Arc<Self>,
        call: &ChildCall,
        lease: Lease,
        replay: Replay,
        inputs: Map<String, Value>,
    ) -> ChildEnd {
        let run_id = lease.run_id.clone();
        let plan = Arc::clone(&call.child.plan);
        let grants = match engine::grants::resolve(&plan, &self.workspace) {
            Ok(grants) => grants,
            Err(problems) => {
                return failed(format!(
                    "cannot grant what sub-workflow `{}` asks: {}",
                    call.child.written,
                    problems.join("; ")
                ));
            }
        };
        let control = Arc::new(Control::default());
        let journal = match self.journals.journal_now(lease, Arc::clone(&control)) {
            Ok(journal) => journal,
            Err(error) => {
                tracing::error!("child run {run_id}: {error}");
                return ChildEnd::Stopped(Stop::Interrupt);
            }
        };
        // Its journal first, then whoever watches.
        let watch = self
            .watch
            .as_ref()
            .map(|watch| watch(&run_id, &step_label(call)));
        let metrics = self.metrics.as_ref().map(|m| m.observer(&call.child.plan));
        let detach = self
            .detach_on_wait
            .then(|| DetachOnWait(Arc::clone(&control)));
        let mut observers = Tee(journal, Tee(watch, Tee(metrics, detach)));
        *self.active() += 1;
        let options = RunOptions {
            run_id: run_id.clone(),
            replay,
            control: Arc::clone(&control),
            grants,
            trigger: Trigger::workflow(&call.parent_run),
            children: Some(Arc::clone(&self) as Arc<dyn Children>),
            breakers: self.breakers.clone(),
        };
        let runner = Arc::clone(&self);
        let mut task = tokio::spawn(async move {
            let summary = engine::run(plan, inputs, options, &mut observers).await;
            let Tee(journal, _) = observers;
            let journaled = tokio::task::spawn_blocking(move || journal.finish()).await;
            *runner.active() -= 1;
            runner.ended.notify_waiters();
            match journaled {
                Ok(Ok(())) => Ok(summary),
                Ok(Err(error)) => Err(error.to_string()),
                Err(error) => Err(format!("the journal task failed: {error}")),
            }
        });
        // A pause, drain or detach of the parent reaches the child: its
        // running steps finish and it stops, to continue with its parent.
        let forward = tokio::spawn(forward_stops(
            Arc::clone(&call.parent_control),
            Arc::clone(&control),
        ));
        // Dropped before the child ends (the parent interrupted): the child
        // is interrupted too, and resumes with its parent.
        let guard = InterruptOnDrop(Some(Arc::clone(&control)));
        let mut cancelled_by_parent = false;
        let joined = tokio::select! {
            joined = &mut task => joined,
            _ = call.cancel.clone().cancelled() => {
                cancelled_by_parent = true;
                control.request(Stop::Cancel);
                (&mut task).await
            }
        };
        guard.disarm();
        forward.abort();
        let summary = match joined {
            Ok(Ok(summary)) => summary,
            Ok(Err(error)) => {
                tracing::error!("child run {run_id}: {error}");
                return ChildEnd::Stopped(Stop::Interrupt);
            }
            Err(error) => {
                tracing::error!("child run {run_id}: the engine task failed: {error}");
                return ChildEnd::Stopped(Stop::Interrupt);
            }
        };
        let record = ChildOutcome {
            run: run_id,
            status: summary.status,
            error: summary.error,
            outputs: summary.workflow_outputs,
            duration_ms: summary.duration.as_secs_f64() * 1000.0,
        };
        record.end(cancelled_by_parent)
    }
}

impl Children for ChildRunner {
    fn run(
        self: Arc<Self>,
        call: ChildCall,
    ) -> Pin<Box<dyn Future<Output = ChildEnd> + Send + 'static>> {
        Box::pin(self.run_child(call))
    }
}

/// The run an earlier attempt of the same step created: its end, or the
/// run claimed to continue.
fn existing(
    store: &mut dyn RunStore,
    id: &str,
    child: &Arc<PlannedChild>,
    owner: &Owner,
) -> Result<Found, StoreError> {
    let record = store.run(id)?;
    if matches!(
        record.status,
        RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
    ) {
        return Ok(Found::Ended(Box::new(record)));
    }
    let request = ResumeRequest {
        run: id,
        from: None,
        allow_changed: false,
    };
    let planned = Arc::clone(&child.plan);
    let digest = child.digest.clone();
    match resume::prepare(store, request, owner, move |source| {
        if Digest::of(source.text.as_bytes()).to_hex() == digest {
            Ok(planned)
        } else {
            Err(PrepareError::Plan(
                "the sub-workflow's file changed since the parent was planned".into(),
            ))
        }
    }) {
        Ok(prepared) => Ok(Found::Drive {
            created: false,
            lease: prepared.lease,
            replay: Box::new(prepared.replay),
            inputs: prepared.inputs,
        }),
        Err(PrepareError::Driven { .. }) => Ok(Found::DrivenElsewhere),
        Err(PrepareError::Store(error)) => Err(error),
        Err(other) => Ok(Found::Refused(format!(
            "cannot continue child run {id}: {other}"
        ))),
    }
}

/// The step that started a child, with its item in a map (`build[2]`).
fn step_label(call: &ChildCall) -> String {
    match call.key.item {
        Some(item) => format!("{}[{item}]", call.key.step),
        None => call.key.step.clone(),
    }
}

/// How a child run ended, from its summary or its record.
struct ChildOutcome {
    run: String,
    status: RunStatus,
    error: Option<Value>,
    outputs: Option<Value>,
    duration_ms: f64,
}

impl ChildOutcome {
    fn end(self, cancelled_by_parent: bool) -> ChildEnd {
        let failure = |what: &str| {
            let message = self
                .error
                .as_ref()
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .map_or_else(String::new, |m| format!(": {m}"));
            StepFailure {
                kind: if cancelled_by_parent {
                    StepFailureKind::CANCELLED
                } else {
                    StepFailureKind::ChildFailed
                },
                message: format!("child run {} {what}{message}", self.run),
                value: Some(json!({ "run": self.run, "error": self.error })),
            }
        };
        let outcome = match self.status {
            RunStatus::Succeeded => Ok(Arc::new(
                self.outputs
                    .clone()
                    .unwrap_or_else(|| Value::Object(Map::new())),
            )),
            RunStatus::Failed => Err(failure("failed")),
            RunStatus::Cancelled => Err(failure("was cancelled")),
            RunStatus::Paused => return ChildEnd::Stopped(Stop::Pause),
            RunStatus::Waiting => return ChildEnd::Stopped(Stop::Detach),
            RunStatus::Interrupted | RunStatus::Running | RunStatus::Queued => {
                return ChildEnd::Stopped(Stop::Interrupt);
            }
        };
        ChildEnd::Ended(Box::new(AttemptResult::measured(
            outcome,
            self.duration_ms,
            0,
            0,
        )))
    }
}

fn ended(record: &RunRecord) -> ChildEnd {
    ChildOutcome {
        run: record.id.clone(),
        status: record.status,
        error: record.error.clone(),
        outputs: record.outputs.clone(),
        duration_ms: (record.updated_at - record.created_at).max(0.0) * 1000.0,
    }
    .end(false)
}

fn failed(message: String) -> ChildEnd {
    ChildEnd::Ended(Box::new(AttemptResult::failed(StepFailure::engine(
        StepFailureKind::ChildFailed,
        message,
    ))))
}

/// Ask `child` for every pause, drain or detach `parent` is asked for
/// (a cancel reaches the child through its step's cancel signal, an
/// interrupt through [`InterruptOnDrop`]).
async fn forward_stops(parent: Arc<Control>, child: Arc<Control>) {
    let mut current = None;
    loop {
        let stop = parent.escalated(current).await;
        if matches!(stop, Stop::Pause | Stop::Drain | Stop::Detach) {
            child.request(stop);
        }
        current = Some(stop);
    }
}

/// Interrupts a child whose parent stopped waiting for it.
struct InterruptOnDrop(Option<Arc<Control>>);

impl InterruptOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        if let Some(control) = self.0.take() {
            control.request(Stop::Interrupt);
        }
    }
}
