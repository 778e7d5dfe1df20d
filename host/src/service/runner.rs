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
use tokio::sync::Notify;

use super::library::{Library, Workflow};
use super::resume::{self, PrepareError, ResumeRequest};
use crate::engine::{self, Control, Replay, RunOptions, RunStatus, Stop, Trigger, inputs};
use crate::sandbox::Grants;
use crate::store::{self, Durability, Journal, Lease, NewRun, Owner, RunStore, StoreError};
use crate::workflow::Plan;

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
}

/// A run started, or the one an earlier request with the same key started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    New(String),
    Existing(String),
}

impl Started {
    pub fn run_id(&self) -> &str {
        match self {
            Started::New(id) | Started::Existing(id) => id,
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
    database: PathBuf,
    durability: Durability,
    /// The root workspace-relative grants resolve against.
    workspace: PathBuf,
    owner: Owner,
    active: Mutex<HashMap<String, Arc<Control>>>,
    /// Notified whenever a run ends.
    ended: Notify,
    closing: AtomicBool,
}

impl Runner {
    pub fn new(database: PathBuf, durability: Durability, workspace: PathBuf) -> Self {
        Self {
            database,
            durability,
            workspace,
            owner: Owner::this_process(),
            active: Mutex::default(),
            ended: Notify::new(),
            closing: AtomicBool::new(false),
        }
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Control>>> {
        self.active.lock().unwrap_or_else(PoisonError::into_inner)
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
        let run_id = engine::new_run_id();
        let (database, durability, owner) =
            (self.database.clone(), self.durability, self.owner.clone());
        let workspace = self.workspace.clone();
        let (started_by, key) = (
            request.started_by.to_string(),
            request.idempotency_key.map(str::to_string),
        );
        let record = Arc::clone(&workflow);
        let trigger = request.trigger;
        let recorded_trigger = trigger.clone();
        let recorded_inputs = Value::Object(inputs.clone());
        let id = run_id.clone();
        let created = blocking(move || {
            let grants = grants(&record.plan, &workspace, &record.name)?;
            let mut store = store::open(&database, durability)?;
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
                    idempotency_key: key.as_deref(),
                },
                &owner,
            );
            match created {
                Ok(lease) => Ok(Ok((store, lease, grants))),
                Err(StoreError::DuplicateKey { run }) => Ok(Err(run)),
                Err(error) => Err(error.into()),
            }
        })
        .await?;
        match created {
            Err(first) => Ok(Started::Existing(first)),
            Ok((store, lease, grants)) => {
                let options = RunOptions {
                    run_id: run_id.clone(),
                    replay: Replay::default(),
                    control: Arc::default(),
                    grants,
                    trigger,
                };
                self.drive(store, lease, Arc::clone(&workflow.plan), inputs, options)?;
                Ok(Started::New(run_id))
            }
        }
    }

    /// Continue recorded run `request.run` in this process, planning its
    /// workflow file with `library`'s modules.
    pub async fn resume(
        self: &Arc<Self>,
        library: &Arc<Library>,
        request: ResumeRequest<'_>,
    ) -> Result<(), RunnerError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(RunnerError::ShuttingDown);
        }
        let (database, durability, owner) =
            (self.database.clone(), self.durability, self.owner.clone());
        let (run, from, allow_changed) = (
            request.run.to_string(),
            request.from.map(str::to_string),
            request.allow_changed,
        );
        let library = Arc::clone(library);
        let (store, prepared, grants) = blocking(move || {
            let mut store = store::open(&database, durability)?;
            let request = ResumeRequest {
                run: &run,
                from: from.as_deref(),
                allow_changed,
            };
            let prepared = resume::prepare(store.as_mut(), request, &owner, |source| {
                library
                    .plan_source(source)
                    .map_err(|problems| PrepareError::Plan(problems.into()))
            })?;
            let grants = grants(&prepared.plan, &prepared.workspace, &run)?;
            Ok((store, prepared, grants))
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
        };
        self.drive(
            store,
            prepared.lease,
            Arc::new(prepared.plan),
            prepared.inputs,
            options,
        )
    }

    /// Journal and run the engine on a task of its own.
    fn drive(
        self: &Arc<Self>,
        store: Box<dyn RunStore>,
        lease: Lease,
        plan: Arc<Plan>,
        inputs: Map<String, Value>,
        options: RunOptions,
    ) -> Result<(), RunnerError> {
        let control = Arc::clone(&options.control);
        let run_id = lease.run_id.clone();
        let journal = Journal::start(store, lease, Arc::clone(&control))?;
        self.active().insert(run_id.clone(), Arc::clone(&control));
        let runner = Arc::clone(self);
        tokio::spawn(async move {
            let mut journal = journal;
            let summary = engine::run(plan, inputs, options, &mut journal).await;
            match tokio::task::spawn_blocking(move || journal.finish()).await {
                Ok(Ok(())) => tracing::info!("run {run_id} ended {}", summary.status),
                Ok(Err(error)) => tracing::error!("run {run_id}: {error}"),
                Err(error) => tracing::error!("run {run_id}: the journal task failed: {error}"),
            }
            runner.active().remove(&run_id);
            runner.ended.notify_waiters();
        });
        Ok(())
    }

    /// Stop run `id`: at once when this process drives it (true), else
    /// through the store (its owner polls requests; an unowned run is
    /// cancelled there and then).
    pub async fn stop(&self, id: &str, stop: Stop) -> Result<bool, RunnerError> {
        if let Some(control) = self.active().get(id) {
            control.request(stop);
            return Ok(true);
        }
        let (database, durability, id) = (self.database.clone(), self.durability, id.to_string());
        blocking(move || {
            let mut store = store::open(&database, durability)?;
            Ok(store.request(&id, stop).map(|_| false)?)
        })
        .await
    }

    /// Runs a crashed or stopped `serve` (or a crashed `wfhost run`) left:
    /// `running` runs whose owner's lease expired or whose owner is gone,
    /// and runs a server left `interrupted` (not those a person stopped
    /// with Ctrl-C in `wfhost run`: they wait for `wfhost resume`).
    pub async fn orphans(&self) -> Result<Vec<String>, RunnerError> {
        let (database, durability) = (self.database.clone(), self.durability);
        blocking(move || {
            let store = store::open(&database, durability)?;
            let mut orphans: Vec<String> = store
                .runs(Some(RunStatus::Running))?
                .into_iter()
                .filter(|run| !run.is_driven())
                .map(|run| run.id)
                .collect();
            orphans.extend(
                store
                    .runs(Some(RunStatus::Interrupted))?
                    .into_iter()
                    .filter(|run| run.started_by != "cli")
                    .map(|run| run.id),
            );
            Ok(orphans)
        })
        .await
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
