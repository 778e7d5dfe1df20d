//! Driving many runs in one process: each run is an engine task with its
//! own journal (and lease), started from the API, adopted after a crash, or
//! resumed on request. The runner knows the runs it drives, so a pause or
//! cancel reaches them at once; runs driven elsewhere are asked through the
//! store. Shutting down drains: running steps finish within a grace period,
//! the rest is interrupted, and every run ends resumable.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::children::ChildRunner;
use super::circuits::StoreBreakers;
use super::library::{Library, Workflow};
use super::metrics::Metrics;
use super::resume::{self, PrepareError, ResumeRequest};
use super::shared_store::{SharedStore, Spares};
use crate::engine::{self, Control, Replay, RunOptions, RunStatus, Stop, Trigger, inputs};
use crate::sandbox::Grants;
use crate::store::{
    self, Admission, Durability, JournalHub, Lease, NewRun, Owner, RunRecord, RunStore, Slot,
    StoreError, WhenFull,
};
use crate::trace::TraceParent;
use crate::workflow::Plan;
use crate::workflow::model::OnLimit;
use crate::workflow::template;

/// What starts a run.
#[derive(Debug)]
pub struct StartRequest<'a> {
    pub workflow: Arc<Workflow>,
    /// Inputs as given; checked against the workflow's declared inputs.
    pub inputs: Map<String, Value>,
    /// Who starts it (`api:NAME`, `cron:WORKFLOW#N`): recorded with the run.
    pub started_by: &'a str,
    /// What its templates see as `trigger`.
    pub trigger: Trigger,
    /// A repeated key returns the run the first request started.
    pub idempotency_key: Option<&'a str>,
    /// The caller's trace (`traceparent`): the run joins it.
    pub traceparent: Option<TraceParent>,
}

/// A run started, or the one an earlier request with the same key started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    New(String),
    Existing(String),
    /// Waiting for a concurrency slot held by these runs; it starts when one frees.
    Queued(String, Vec<String>),
    /// Recorded cancelled: every slot was taken (`on_limit: cancel-newest`).
    Cancelled(String, Vec<String>),
}

impl Started {
    pub fn run_id(&self) -> &str {
        match self {
            Started::New(id)
            | Started::Existing(id)
            | Started::Queued(id, _)
            | Started::Cancelled(id, _) => id,
        }
    }
}

/// Why a run was not started, resumed or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("invalid inputs: {}", .0.join("; "))]
    Inputs(Vec<String>),
    #[error("cannot grant what workflow `{workflow}` asks: {}", .problems.join("; "))]
    Grants {
        workflow: String,
        problems: Vec<String>,
    },
    #[error("the server is shutting down and takes no new runs")]
    ShuttingDown,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Resume(#[from] PrepareError),
    #[error("the runner's task failed: {0}")]
    Task(String),
}

/// The runs this process drives.
#[derive(Debug)]
pub struct Runner {
    /// Connections for claiming runs while their workflows are planned.
    spares: Spares,
    /// The root workspace-relative grants resolve against.
    workspace: PathBuf,
    owner: Owner,
    /// For the runner's own reads and writes (stops, admission, orphans).
    store: SharedStore,
    /// Journals every run this process drives: one thread, one connection.
    journals: Arc<JournalHub>,
    /// Drives the sub-workflows of those runs.
    children: Arc<ChildRunner>,
    /// The circuit breakers their guarded calls go through.
    breakers: Arc<dyn engine::Breakers>,
    /// What `/metrics` shows.
    metrics: Arc<Metrics>,
    /// `--max-runs`: a permit per run started or admitted here (runs it
    /// resumes or adopts are not held back).
    capacity: Option<Arc<Semaphore>>,
    active: Mutex<HashMap<String, Arc<Control>>>,
    /// Notified whenever a run ends.
    ended: Notify,
    /// Notified when a run may have become admissible (one queued, or ended).
    queued: Notify,
    closing: AtomicBool,
    /// Runs started here are recorded with their traces due for export.
    export_traces: bool,
    /// Whether this process drives runs (`serve --no-worker` does not: it
    /// records them queued for `wfhost worker` processes).
    drives: bool,
    /// How often queued runs are looked for besides being woken.
    poll: Duration,
}

impl Runner {
    /// A runner journaling into `journals` (a connection of its own).
    pub fn new(
        database: store::Location,
        durability: Durability,
        workspace: PathBuf,
        store: SharedStore,
        journals: Box<dyn RunStore>,
        max_runs: Option<usize>,
        metrics: Metrics,
    ) -> Result<Self, StoreError> {
        let journals = Arc::new(JournalHub::start(journals)?);
        let owner = Owner::this_process();
        let breakers: Arc<dyn engine::Breakers> = Arc::new(StoreBreakers::new(store.clone()));
        let metrics = Arc::new(metrics);
        Ok(Self {
            children: Arc::new(
                ChildRunner::new(
                    store.clone(),
                    Arc::clone(&journals),
                    owner.clone(),
                    workspace.clone(),
                )
                .with_breakers(Some(Arc::clone(&breakers)))
                .with_metrics(Some(Arc::clone(&metrics))),
            ),
            breakers,
            metrics,
            journals,
            capacity: max_runs.map(|n| Arc::new(Semaphore::new(n))),
            spares: Spares::new(database, durability),
            workspace,
            owner,
            store,
            active: Mutex::default(),
            ended: Notify::new(),
            queued: Notify::new(),
            closing: AtomicBool::new(false),
            export_traces: false,
            drives: true,
            poll: Duration::from_millis(250),
        })
    }

    /// Look for queued runs every `poll` besides being woken (`wake`).
    #[must_use]
    pub fn polling(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Look for queued runs now: one may have become admissible in another
    /// process.
    pub fn wake(&self) {
        self.queued.notify_one();
    }

    /// Drive no run here: record new runs queued, for workers to take, and
    /// hand runs asked to resume to them (`serve --no-worker`).
    #[must_use]
    pub fn handing_runs_to_workers(mut self) -> Self {
        self.drives = false;
        self
    }

    /// Who this runner's leases name.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// The runner's own connection to the store.
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    /// Whether this process drives runs (not `serve --no-worker`).
    pub fn drives(&self) -> bool {
        self.drives
    }

    /// Record the runs this runner starts as due for trace export.
    #[must_use]
    pub fn exporting_traces(mut self, yes: bool) -> Self {
        self.export_traces = yes;
        self
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Control>>> {
        self.active.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What this server counts (`/metrics`).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Whether the runner stopped taking new runs (the server is stopping).
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// How many runs this process drives now.
    pub fn driving(&self) -> usize {
        self.active().len()
    }

    /// Start a run of `request.workflow`.
    pub async fn start(
        self: &Arc<Self>,
        request: StartRequest<'_>,
    ) -> Result<Started, RunnerError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(RunnerError::ShuttingDown);
        }
        let workflow = request.workflow;
        let inputs =
            inputs::resolve(&workflow.plan.inputs, &request.inputs).map_err(RunnerError::Inputs)?;
        let slot_key =
            slot_key(&workflow.plan, &inputs).map_err(|p| RunnerError::Inputs(vec![p]))?;
        let run_id = engine::new_run_id();
        // At `--max-runs`, the run is recorded queued; one ending admits it.
        // Without a worker here, every run is queued for the workers.
        let permit = self.drives.then(|| self.permit()).flatten();
        let hold = !self.drives || (self.capacity.is_some() && permit.is_none());
        let owner = self.owner.clone();
        let workspace = self.workspace.clone();
        let (started_by, key) = (
            request.started_by.to_string(),
            request.idempotency_key.map(str::to_string),
        );
        let record = Arc::clone(&workflow);
        let trigger = request.trigger;
        let recorded_trigger = trigger.clone();
        let (trace_id, trace_parent) = crate::trace::trace_of_new_run(&run_id, request.traceparent);
        let recorded_inputs = Value::Object(inputs.clone());
        let export_trace = self.export_traces;
        let id = run_id.clone();
        let shared = self.store.clone();
        let created = blocking(move || {
            let grants = grants(&record.plan, &workspace, &record.name)?;
            let mut store = shared.lock();
            let created = store.create_run(
                &NewRun {
                    id: &id,
                    name: &record.plan.name,
                    path: &record.path.display().to_string(),
                    workspace: &workspace.display().to_string(),
                    workflow_digest: &record.digest,
                    workflow_text: &record.text,
                    inputs: &recorded_inputs,
                    modules: &record.modules,
                    started_by: &started_by,
                    trigger: &recorded_trigger,
                    slot: slot_key.as_deref().and_then(|key| slot(&record.plan, key)),
                    hold,
                    idempotency_key: key.as_deref(),
                    parent: None,
                    trace_id: &trace_id,
                    trace_parent: trace_parent.as_deref(),
                    export_trace,
                },
                &owner,
            );
            match created {
                Ok(lease) => Ok(Ok((lease, grants))),
                Err(StoreError::DuplicateKey { run }) => Ok(Err(run)),
                Err(error) => Err(error.into()),
            }
        })
        .await?;
        match created {
            Err(first) => Ok(Started::Existing(first)),
            Ok((admission, grants)) => match admission {
                Admission::Running(lease) => {
                    self.metrics.run_started(&workflow.plan.name);
                    let options = RunOptions {
                        run_id: run_id.clone(),
                        replay: Replay::default(),
                        control: Arc::default(),
                        grants,
                        trigger,
                        children: None,
                        breakers: None,
                    };
                    self.drive(lease, Arc::clone(&workflow.plan), inputs, options, permit)?;
                    Ok(Started::New(run_id))
                }
                Admission::Queued { held_by } => {
                    self.queued.notify_one();
                    Ok(Started::Queued(run_id, held_by))
                }
                Admission::Cancelled { held_by } => Ok(Started::Cancelled(run_id, held_by)),
            },
        }
    }

    /// Continue recorded run `request.run` in this process, planning its
    /// workflow file with `library`'s modules.
    pub async fn resume(
        self: &Arc<Self>,
        library: &Arc<Library>,
        request: ResumeRequest<'_>,
    ) -> Result<(), RunnerError> {
        if !self.drives {
            return self.hand_over(request).await;
        }
        self.resume_with(library, request).await
    }

    /// Leave a run asked to resume to the workers (`serve --no-worker`): a
    /// paused or interrupted run nobody drives is marked `interrupted`, which
    /// a worker adopts and continues as a resume would (both replay the
    /// same). Anything else a resume does differently — rerunning a failed
    /// or cancelled run's failed steps, from a step, with changes allowed —
    /// is refused, saying where it can be done.
    async fn hand_over(&self, request: ResumeRequest<'_>) -> Result<(), RunnerError> {
        let id = request.run.to_string();
        let plain = request.from.is_none() && !request.allow_changed;
        self.store
            .with(move |store| {
                let run = store.run(&id)?;
                if run.is_driven() {
                    return Err(StoreError::Refused(format!(
                        "run {id} is being driven by {}; pause it first",
                        run.driver()
                    )));
                }
                if !plain || !matches!(run.status, RunStatus::Paused | RunStatus::Interrupted) {
                    return Err(StoreError::Refused(format!(
                        "this server drives no runs (--no-worker) and hands workers only paused or interrupted runs to continue; run {id} is {}: resume it with `wfhost resume {id}` (with `--from STEP` or `--allow-changed` as needed) where the workflow's files are",
                        run.status
                    )));
                }
                store.set_status(&id, RunStatus::Interrupted)
            })
            .await?;
        Ok(())
    }

    async fn resume_with(
        self: &Arc<Self>,
        library: &Arc<Library>,
        request: ResumeRequest<'_>,
    ) -> Result<(), RunnerError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(RunnerError::ShuttingDown);
        }
        let (spares, owner) = (self.spares.clone(), self.owner.clone());
        let (run, from, allow_changed) = (
            request.run.to_string(),
            request.from.map(str::to_string),
            request.allow_changed,
        );
        let library = Arc::clone(library);
        let (prepared, grants) = blocking(move || {
            let request = ResumeRequest {
                run: &run,
                from: from.as_deref(),
                allow_changed,
            };
            let prepared = spares.with(|store| {
                resume::prepare(store, request, &owner, |source| {
                    library
                        .plan_source(source)
                        .map(Arc::new)
                        .map_err(|problems| PrepareError::Plan(problems.into()))
                })
            })?;
            let grants = grants(&prepared.plan, &prepared.workspace, &run)?;
            Ok((prepared, grants))
        })
        .await?;
        for note in &prepared.notes {
            tracing::warn!("run {}: {note}", prepared.lease.run_id);
        }
        let options = RunOptions {
            run_id: prepared.lease.run_id.clone(),
            replay: prepared.replay,
            control: Arc::default(),
            grants,
            trigger: prepared.trigger,
            children: None,
            breakers: None,
        };
        self.drive(
            prepared.lease,
            prepared.plan,
            prepared.inputs,
            options,
            None,
        )
    }

    /// A place under `--max-runs` if one is free (`None` without a limit).
    fn permit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(self.capacity.as_ref()?).try_acquire_owned().ok()
    }

    /// Journal and run the engine on a task of its own; `permit`, its
    /// place under `--max-runs`, is given back when it ends.
    fn drive(
        self: &Arc<Self>,
        lease: Lease,
        plan: Arc<Plan>,
        inputs: Map<String, Value>,
        options: RunOptions,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<(), RunnerError> {
        let mut options = options;
        options.children = Some(Arc::clone(&self.children) as Arc<dyn engine::Children>);
        options.breakers = Some(Arc::clone(&self.breakers));
        let control = Arc::clone(&options.control);
        let run_id = lease.run_id.clone();
        self.active().insert(run_id.clone(), Arc::clone(&control));
        let runner = Arc::clone(self);
        let journals = Arc::clone(&self.journals);
        // The engine starts at once; a journal that cannot open stops it.
        let journal = journals.journal_now(lease, control)?;
        let mut observer = engine::Tee(journal, self.metrics.observer(&plan));
        tokio::spawn(async move {
            let summary = engine::run(plan, inputs, options, &mut observer).await;
            drop(permit);
            let engine::Tee(journal, _) = observer;
            match tokio::task::spawn_blocking(move || journal.finish()).await {
                Ok(Ok(())) => tracing::info!("run {run_id} ended {}", summary.status),
                Ok(Err(error @ StoreError::LeaseLost { .. })) => {
                    runner.metrics.lease_lost();
                    tracing::error!("run {run_id}: {error}");
                }
                Ok(Err(error)) => tracing::error!("run {run_id}: {error}"),
                Err(error) => tracing::error!("run {run_id}: the journal task failed: {error}"),
            }
            runner.active().remove(&run_id);
            runner.ended.notify_waiters();
            runner.queued.notify_one();
        });
        Ok(())
    }

    /// Start queued runs whose slot has freed, oldest first, in this
    /// process: forever, woken when a run is queued or ends here, or by
    /// [`wake`](Self::wake) (and every `poll`, for runs that end in other
    /// processes).
    pub async fn admit_forever(self: Arc<Self>, library: Arc<Library>) {
        loop {
            if !self.is_closing()
                && let Err(error) = self.admit_queued(&library).await
            {
                tracing::warn!("cannot start queued runs: {error}");
            }
            let _ = tokio::time::timeout(self.poll, self.queued.notified()).await;
        }
    }

    /// Admit queued runs, oldest first, while their key has a free slot
    /// (only a queue's head can be admitted: first in, first started; a
    /// queue whose head must wait is left for the next pass).
    async fn admit_queued(self: &Arc<Self>, library: &Arc<Library>) -> Result<(), RunnerError> {
        let owner = self.owner.clone();
        // Under `--max-runs`, as many as there are free places.
        let mut permits = Vec::new();
        let room = match &self.capacity {
            None => usize::MAX,
            Some(_) => {
                while let Some(permit) = self.permit() {
                    permits.push(permit);
                }
                permits.len()
            }
        };
        if room == 0 {
            return Ok(());
        }
        let admitted = self
            .store
            .with(move |store| {
                let mut queued = store.runs(Some(RunStatus::Queued))?;
                queued.reverse();
                // A key whose queue head must wait: the rest of its queue waits too.
                let mut waiting = std::collections::HashSet::new();
                let mut admitted = Vec::new();
                for run in queued {
                    if admitted.len() >= room {
                        break;
                    }
                    // A run `wfhost run` queued is admitted by that process,
                    // which waits for it (`cli` or `cli:USER`).
                    if waiting.contains(&run.concurrency_key)
                        || run.started_by.split(':').next() == Some("cli")
                    {
                        continue;
                    }
                    match store.admit(&run.id, &owner) {
                        Ok(Some(lease)) => admitted.push((run, lease)),
                        Ok(None) => {
                            waiting.insert(run.concurrency_key.clone());
                        }
                        // Another process admitted it first.
                        Err(StoreError::Refused(_)) => {}
                        Err(error) => return Err(error),
                    }
                }
                Ok(admitted)
            })
            .await?;
        for (run, lease) in admitted {
            let id = run.id.clone();
            let mut fence = lease.clone();
            if let Err(error) = self
                .start_admitted(library, run, lease, permits.pop())
                .await
            {
                tracing::error!("run {id} got its slot but cannot start: {error}");
                // Recorded under its lease: a run another process took over
                // meanwhile (this one was paused past the lease) is left alone.
                let ended = Box::new(engine::Event::RunFinished {
                    run_id: id.clone(),
                    status: RunStatus::Failed,
                    duration_ms: 0.0,
                    error: Some(serde_json::json!({
                        "kind": "start-failed",
                        "message": format!("it got its concurrency slot but could not start: {error}"),
                    })),
                    outputs: None,
                });
                match self
                    .store
                    .with(move |store| store.append(&mut fence, &[ended]))
                    .await
                {
                    Ok(()) => {}
                    Err(StoreError::LeaseLost { .. }) => {
                        tracing::warn!("run {id}: another process took it over meanwhile");
                    }
                    Err(error) => tracing::error!("run {id}: cannot record it failed: {error}"),
                }
            }
        }
        Ok(())
    }

    /// Drive a queued run that was just given its slot: the workflow as
    /// served when it is the same version, else as recorded.
    async fn start_admitted(
        self: &Arc<Self>,
        library: &Arc<Library>,
        run: RunRecord,
        lease: Lease,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<(), RunnerError> {
        let (spares, workspace) = (self.spares.clone(), run.workspace.clone());
        let library = Arc::clone(library);
        let record = run.clone();
        let (plan, grants) = blocking(move || {
            let serving = library.list().into_iter().find_map(|listed| {
                listed
                    .serving
                    .filter(|w| w.digest == record.workflow_digest)
            });
            let plan = match serving {
                Some(workflow) => Arc::clone(&workflow.plan),
                None => {
                    let text = spares.with(|store| store.workflow_text(&record.workflow_digest))?;
                    let source = crate::diagnostics::Source::new(&record.path, text);
                    Arc::new(library.plan_source(&source).map_err(|problems| {
                        RunnerError::Resume(PrepareError::Plan(problems.into()))
                    })?)
                }
            };
            let grants = grants(&plan, std::path::Path::new(&workspace), &record.name)?;
            Ok((plan, grants))
        })
        .await?;
        let inputs = match run.inputs {
            Value::Object(inputs) => inputs,
            _ => Map::new(),
        };
        self.metrics.run_started(&plan.name);
        let options = RunOptions {
            run_id: run.id,
            replay: Replay::default(),
            control: Arc::default(),
            grants,
            trigger: run.trigger,
            children: None,
            breakers: None,
        };
        self.drive(lease, plan, inputs, options, permit)
    }

    /// Stop run `id`: at once when this process drives it (true), else
    /// through the store (its owner polls requests; an unowned run is
    /// cancelled there and then).
    pub async fn stop(&self, id: &str, stop: Stop) -> Result<bool, RunnerError> {
        if let Some(control) = self.active().get(id) {
            control.request(stop);
            return Ok(true);
        }
        let id = id.to_string();
        Ok(self
            .store
            .with(move |store| store.request(&id, stop).map(|_| false))
            .await?)
    }

    /// Runs a crashed or stopped `serve` (or a crashed `wfhost run`) left:
    /// `running` runs whose owner's lease expired or whose owner is gone,
    /// and runs a server left `interrupted` (not those a person stopped
    /// with Ctrl-C in `wfhost run`: they wait for `wfhost resume`).
    pub async fn orphans(&self) -> Result<Vec<String>, RunnerError> {
        // A child run continues with its parent; a run a person stopped
        // with Ctrl-C in `wfhost run` waits for `wfhost resume`.
        Ok(self.store.with(|store| store.orphans()).await?)
    }

    /// Take over the [`orphans`](Self::orphans) `skip` does not rule out,
    /// each by resume: every run tried, with what came of it.
    pub async fn adopt_orphans(
        self: &Arc<Self>,
        library: &Arc<Library>,
        skip: impl Fn(&str) -> bool,
    ) -> Result<Vec<(String, Result<(), RunnerError>)>, RunnerError> {
        let mut tried = Vec::new();
        for run in self.orphans().await? {
            if skip(&run) {
                continue;
            }
            let request = ResumeRequest {
                run: &run,
                from: None,
                allow_changed: false,
            };
            let adopted = self.resume(library, request).await;
            tried.push((run, adopted));
        }
        Ok(tried)
    }

    /// Take no new runs; let running steps finish for up to `grace`, then
    /// interrupt what is left. Every run ends `interrupted` (or as it
    /// ended by itself), ready for the next start to resume.
    pub async fn shut_down(&self, grace: Duration) {
        self.closing.store(true, Ordering::SeqCst);
        self.request_all(Stop::Drain);
        if tokio::time::timeout(grace, self.idle()).await.is_err() {
            tracing::warn!(
                "{} runs still had steps running after the grace period; interrupting them",
                self.driving()
            );
            self.request_all(Stop::Interrupt);
            self.idle().await;
        }
        // Children stopped with their parents journal how they ended.
        self.children.idle().await;
    }

    fn request_all(&self, stop: Stop) {
        for control in self.active().values() {
            control.request(stop);
        }
    }

    /// Until no run is driven here.
    async fn idle(&self) {
        loop {
            let ended = self.ended.notified();
            if self.driving() == 0 {
                return;
            }
            ended.await;
        }
    }
}

/// The concurrency key a run of `plan` with `inputs` takes a slot of, and
/// how its slot behaves; `None` when the workflow sets no limit.
pub fn slot_key(plan: &Plan, inputs: &Map<String, Value>) -> Result<Option<String>, String> {
    let Some(concurrency) = &plan.concurrency else {
        return Ok(None);
    };
    let scope = template::jinja(&serde_json::json!({ "inputs": inputs }));
    match concurrency.key.eval(&scope) {
        Ok(Value::String(key)) => Ok(Some(key)),
        Ok(other) => Ok(Some(other.to_string())),
        Err(problem) => Err(format!("cannot evaluate the concurrency key: {problem}")),
    }
}

/// The slot of `key` as `plan` limits it.
pub fn slot<'a>(plan: &Plan, key: &'a str) -> Option<Slot<'a>> {
    let concurrency = plan.concurrency.as_ref()?;
    Some(Slot {
        key,
        limit: concurrency.limit,
        when_full: match concurrency.on_limit {
            OnLimit::Queue => WhenFull::Queue,
            OnLimit::CancelNewest => WhenFull::CancelNewest,
            OnLimit::CancelRunning => WhenFull::CancelRunning,
        },
        max_queued: concurrency.max_queued,
    })
}

/// A plan's grants resolved against `workspace`.
fn grants(
    plan: &Plan,
    workspace: &std::path::Path,
    workflow: &str,
) -> Result<Vec<Arc<Grants>>, RunnerError> {
    engine::grants::resolve(plan, workspace).map_err(|problems| RunnerError::Grants {
        workflow: workflow.to_string(),
        problems,
    })
}

/// Run blocking store work off the async executor.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RunnerError> + Send + 'static,
) -> Result<T, RunnerError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| RunnerError::Task(error.to_string()))?
}
