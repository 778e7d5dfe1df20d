//! `wfhost serve`: the always-on engine. One process loads the workflows of
//! a folder ([`library`]), drives any number of runs at once ([`runner`]),
//! and answers the HTTP API ([`api`]), with tokens ([`tokens`]) for writes.
//! [`resume`] prepares a recorded run to continue, for `serve` and for
//! `wfhost resume` alike.

pub mod api;
pub mod children;
pub mod circuits;
pub mod clock;
pub mod dashboard;
pub mod library;
pub mod metrics;
pub mod otlp;
pub mod resume;
pub mod runner;
pub mod scheduler;
pub mod shared_store;
pub mod signal;
pub mod tokens;
pub mod webhook;
pub mod worker;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::RunStatus;
use crate::registry::Registry;
use crate::sandbox::Runtime;
use crate::store::{self, Durability, StoreError};

use self::api::ApiState;
use self::clock::Clock;
use self::library::{Change, Library};
use self::metrics::Metrics;
use self::otlp::{OtlpMetrics, TraceExporter};
use self::runner::Runner;
use self::scheduler::Scheduler;
use self::shared_store::SharedStore;

/// How often the workflows folder is looked at for changes.
const RELOAD_EVERY: Duration = Duration::from_secs(1);
/// How often ended runs' traces are looked for and sent.
const EXPORT_EVERY: Duration = Duration::from_secs(1);
/// The longest wait between export passes while the collector refuses.
const EXPORT_BACKOFF_MAX: Duration = Duration::from_secs(60);
/// How long one trace's send may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the pass when the server stops may take per trace.
const LAST_EXPORT: Duration = Duration::from_secs(2);
/// How long open connections (event streams) get to close after the runs
/// have stopped.
const CLOSE_CONNECTIONS: Duration = Duration::from_secs(5);

/// How `wfhost serve` was asked to run.
#[derive(Debug)]
pub struct ServeConfig {
    pub workflows: PathBuf,
    pub database: store::Location,
    pub durability: Durability,
    /// The root workspace-relative grants resolve against.
    pub workspace: PathBuf,
    /// How long running steps get to finish when the server stops.
    pub grace: Duration,
    pub open_reads: bool,
    /// The most runs this server starts or admits at once (`--max-runs`);
    /// beyond, new runs are recorded queued and started as others end.
    pub max_runs: Option<usize>,
    /// What the scheduler reads the time from.
    pub clock: Clock,
    pub runtime: Runtime,
    pub registry: Registry,
    /// `--otlp URL`: the OTLP collector runs' traces and the metrics go to
    /// (otherwise the `OTEL_EXPORTER_OTLP_*` variables say, if anything).
    pub otlp: Option<String>,
    /// `--no-worker`: drive no runs here; record them queued for the
    /// `wfhost worker` processes sharing the database.
    pub no_worker: bool,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot read the workflows folder {}: {source}", .dir.display())]
    Workflows {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the HTTP server failed: {0}")]
    Http(std::io::Error),
    #[error("cannot look for runs to adopt: {0}")]
    Orphans(runner::RunnerError),
    #[error(transparent)]
    Otlp(#[from] otlp::ExporterError),
}

/// A server ready to serve: workflows loaded, orphaned runs adopted.
#[derive(Debug)]
pub struct Service {
    state: Arc<ApiState>,
    grace: Duration,
    clock: Clock,
    traces: Option<Arc<TraceExporter>>,
}

/// What starting found, for the operator.
#[derive(Debug, Default)]
pub struct Startup {
    /// The workflows folder's files as first read.
    pub changes: Vec<Change>,
    /// Runs taken over from an earlier owner, and runs that could not be.
    pub adopted: Vec<String>,
    pub not_adopted: Vec<(String, String)>,
    /// How many cron schedules the served workflows have.
    pub schedules: usize,
    /// Whether any API token exists (without one, nothing can write).
    pub has_tokens: bool,
    /// Where runs' traces are sent (the OTLP endpoint), if anywhere.
    pub traces_to: Option<String>,
    /// Where metrics are pushed, if anywhere.
    pub metrics_to: Option<String>,
}

impl Service {
    /// Load the workflows, open the store, adopt runs whose owner is gone.
    pub async fn start(config: ServeConfig) -> Result<(Self, Startup), ServeError> {
        let workflows_error = |source| ServeError::Workflows {
            dir: config.workflows.clone(),
            source,
        };
        let library = Arc::new(
            Library::new(&config.workflows, config.runtime, config.registry)
                .map_err(workflows_error)?,
        );
        let loading = Arc::clone(&library);
        let changes = tokio::task::spawn_blocking(move || loading.reload())
            .await
            .map_err(|error| ServeError::Http(std::io::Error::other(error)))?
            .map_err(workflows_error)?;
        let store = shared_store::open(&config.database, config.durability).await?;
        let has_tokens = !store.tokens()?.is_empty();
        let store = SharedStore::new(store);
        let traces = TraceExporter::configured(config.otlp.as_deref())?;
        let journals = shared_store::open(&config.database, config.durability).await?;
        let counted = store.clone();
        let gauges: otlp::Gauges =
            Arc::new(move |status: RunStatus| counted.lock().count_runs(status).ok());
        let pushed = OtlpMetrics::configured(config.otlp.as_deref(), metrics::buckets(), &gauges)?;
        let mut runner = Runner::new(
            config.database,
            config.durability,
            config.workspace,
            store.clone(),
            journals,
            config.max_runs,
            Metrics::new(pushed),
        )?
        .exporting_traces(traces.is_some());
        if config.no_worker {
            runner = runner.handing_runs_to_workers();
        }
        let runner = Arc::new(runner);
        let schedules = library
            .list()
            .iter()
            .filter_map(|listed| listed.serving.as_ref())
            .map(|workflow| workflow.plan.triggers.len())
            .sum();
        let mut startup = Startup {
            changes,
            schedules,
            has_tokens,
            traces_to: traces.as_ref().map(|t| t.endpoint().to_string()),
            metrics_to: runner.metrics().otlp().map(|m| m.endpoint().to_string()),
            ..Startup::default()
        };
        if runner.drives() {
            let tried = runner
                .adopt_orphans(&library, |_| false)
                .await
                .map_err(ServeError::Orphans)?;
            for (run, adopted) in tried {
                match adopted {
                    Ok(()) => startup.adopted.push(run),
                    Err(error) => startup.not_adopted.push((run, error.to_string())),
                }
            }
        }
        let state = Arc::new(ApiState {
            library,
            runner,
            store,
            open_reads: config.open_reads,
        });
        Ok((
            Self {
                state,
                grace: config.grace,
                clock: config.clock,
                traces: traces.map(Arc::new),
            },
            startup,
        ))
    }

    /// Serve the API on `listener` until `shutdown` completes; then take no
    /// new runs, let running steps finish within the grace period,
    /// interrupt the rest (the next start resumes them), and return.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let reloading = tokio::spawn(reload_forever(Arc::clone(&self.state.library)));
        let scheduling = tokio::spawn(
            Scheduler::new(
                Arc::clone(&self.state.library),
                Arc::clone(&self.state.runner),
                self.state.store.clone(),
                self.clock,
            )
            .run_forever(),
        );
        let admitting = self.state.runner.drives().then(|| {
            tokio::spawn(
                Arc::clone(&self.state.runner).admit_forever(Arc::clone(&self.state.library)),
            )
        });
        let exporting = self.traces.clone().map(|traces| {
            tokio::spawn(export_forever(
                traces,
                self.state.store.clone(),
                Arc::clone(self.state.runner.metrics()),
            ))
        });
        let (close, closed) = tokio::sync::oneshot::channel::<()>();
        let router =
            api::router(Arc::clone(&self.state)).merge(dashboard::router(Arc::clone(&self.state)));
        let server = tokio::spawn(
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = closed.await;
                })
                .into_future(),
        );
        shutdown.await;
        scheduling.abort();
        if let Some(admitting) = admitting {
            admitting.abort();
        }
        tracing::info!("stopping: no new runs; running steps get {:?}", self.grace);
        self.state.runner.shut_down(self.grace).await;
        reloading.abort();
        if let (Some(exporting), Some(traces)) = (exporting, &self.traces) {
            // One last pass for the runs that ended while stopping.
            exporting.abort();
            export_pass(
                traces,
                &self.state.store,
                self.state.runner.metrics(),
                LAST_EXPORT,
            )
            .await;
        }
        let _ = close.send(());
        match tokio::time::timeout(CLOSE_CONNECTIONS, server).await {
            Ok(Ok(result)) => result.map_err(ServeError::Http),
            Ok(Err(error)) => Err(ServeError::Http(std::io::Error::other(error))),
            // Connections still open (a client holding a stream): leave them.
            Err(_) => Ok(()),
        }
    }
}

/// Send due traces every [`EXPORT_EVERY`]; after a pass the collector
/// refused, wait twice as long each time (up to [`EXPORT_BACKOFF_MAX`]).
async fn export_forever(traces: Arc<TraceExporter>, store: SharedStore, metrics: Arc<Metrics>) {
    let mut pause = EXPORT_EVERY;
    loop {
        tokio::time::sleep(pause).await;
        pause = if export_pass(&traces, &store, &metrics, EXPORT_TIMEOUT).await {
            EXPORT_EVERY
        } else {
            (pause * 2).min(EXPORT_BACKOFF_MAX)
        };
    }
}

/// One export pass; whether the collector took everything it was sent.
async fn export_pass(
    traces: &TraceExporter,
    store: &SharedStore,
    metrics: &Metrics,
    timeout: Duration,
) -> bool {
    match traces.export_due(store, timeout).await {
        Ok(exported) => {
            metrics.traces_exported(
                exported.runs,
                exported.failed.len() + exported.refused.len(),
            );
            for (run, why) in &exported.refused {
                tracing::warn!(
                    "the collector at {} refused the trace of run {run} ({why}); it is not sent again",
                    traces.endpoint()
                );
            }
            for (run, why) in &exported.failed {
                tracing::warn!(
                    "the trace of run {run} was not sent to {}: {why}; it stays due (sent again with backoff)",
                    traces.endpoint()
                );
            }
            exported.failed.is_empty()
        }
        Err(error) => {
            tracing::warn!("cannot read the traces due for export: {error}");
            false
        }
    }
}

/// Look at the workflows folder every [`RELOAD_EVERY`], logging changes.
async fn reload_forever(library: Arc<Library>) {
    loop {
        tokio::time::sleep(RELOAD_EVERY).await;
        let loading = Arc::clone(&library);
        match tokio::task::spawn_blocking(move || loading.reload()).await {
            Ok(Ok(changes)) => {
                for change in changes {
                    match change {
                        Change::Loaded(name) => tracing::info!("workflow `{name}` loaded"),
                        Change::Removed(name) => tracing::info!("workflow `{name}` removed"),
                        Change::Shadowed(name, why) => {
                            tracing::warn!("workflow `{name}`: {why}");
                        }
                        Change::Invalid(name, problems) => tracing::warn!(
                            "workflow `{name}` is invalid now; its last valid version (if any) keeps serving:\n{problems}"
                        ),
                    }
                }
            }
            Ok(Err(error)) => tracing::warn!(
                "cannot read the workflows folder {}: {error}",
                library.dir().display()
            ),
            Err(error) => tracing::error!("reloading workflows failed: {error}"),
        }
    }
}
