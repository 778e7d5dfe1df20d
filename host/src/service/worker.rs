//! `wfhost worker`: a process that drives the runs others record, sharing
//! one database with any number of servers and workers — the runs a
//! `serve --no-worker` queues, queued runs whose concurrency slot freed,
//! and runs whose driver went silent past its lease (taken over and
//! continued by replay). It serves no HTTP and fires no schedules.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ServeError;
use super::library::Library;
use super::metrics::Metrics;
use super::resume::PrepareError;
use super::runner::{Runner, RunnerError};
use super::shared_store::{self, SharedStore};
use crate::registry::Registry;
use crate::sandbox::Runtime;
use crate::store::{self, Durability, StoreError};

/// How long a run this worker could not continue (its workflow no longer
/// plans here, say) is left alone before it is tried again.
const RETRY_REFUSED: Duration = Duration::from_secs(60);

/// How `wfhost worker` was asked to run.
#[derive(Debug)]
pub struct WorkerConfig {
    pub database: store::Location,
    pub durability: Durability,
    /// The root workspace-relative grants resolve against.
    pub workspace: PathBuf,
    /// `--slots`: the most runs this worker drives at once.
    pub slots: u32,
    /// How long running steps get to finish when the worker stops.
    pub grace: Duration,
    /// How often queued runs and runs whose driver went silent are looked
    /// for besides being woken by the store (PostgreSQL's `NOTIFY`).
    pub poll: Duration,
    pub runtime: Runtime,
    pub registry: Registry,
}

/// A worker ready to take runs.
#[derive(Debug)]
pub struct Worker {
    runner: Arc<Runner>,
    library: Arc<Library>,
    grace: Duration,
    slots: u32,

    /// Runs that could not be continued here, and when that was found.
    refused: HashMap<String, Instant>,
    poll: Duration,
    /// Notified when the store says work may be ready.
    woken: Arc<tokio::sync::Notify>,
}

impl Worker {
    /// Open the store (twice: the journal writes on a connection of its own).
    pub async fn start(config: WorkerConfig) -> Result<Self, ServeError> {
        let store = shared_store::open(&config.database, config.durability).await?;
        let journals = shared_store::open(&config.database, config.durability).await?;
        let runner = Arc::new(
            Runner::new(
                config.database,
                config.durability,
                config.workspace,
                SharedStore::new(store),
                journals,
                Some(config.slots as usize),
                Metrics::new(None),
            )?
            .polling(config.poll),
        );
        let woken = Arc::new(tokio::sync::Notify::new());
        let (wake, wakes) = std::sync::mpsc::channel();
        if runner
            .store()
            .with(move |store| store.listen_for_work(wake))
            .await?
        {
            let (runner, woken) = (Arc::clone(&runner), Arc::clone(&woken));
            // Ends when the store's connections are gone.
            std::thread::Builder::new()
                .name("wfhost-work-wakes".into())
                .spawn(move || {
                    for () in wakes {
                        runner.wake();
                        woken.notify_one();
                    }
                })
                .map_err(ServeError::Http)?;
        }
        Ok(Self {
            runner,
            library: Arc::new(Library::for_recorded_runs(config.runtime, config.registry)),
            grace: config.grace,
            slots: config.slots,
            refused: HashMap::new(),
            poll: config.poll,
            woken,
        })
    }

    /// Take runs until `shutdown` completes; then take no more, let
    /// running steps finish within the grace period, and interrupt the
    /// rest, which another worker (or this one's next start) continues.
    pub async fn work(mut self, shutdown: impl Future<Output = ()>) {
        let admitting =
            tokio::spawn(Arc::clone(&self.runner).admit_forever(Arc::clone(&self.library)));
        tokio::pin!(shutdown);
        let mut seen: Option<Instant> = None;
        loop {
            // Said to be alive every third of a lease (`wfhost status` of
            // a run queued for workers says when none is).
            if seen.is_none_or(|at| at.elapsed() >= store::lease_ttl() / 3) {
                seen = Some(Instant::now());
                self.say_seen().await;
            }
            let woken = Arc::clone(&self.woken);
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(self.poll) => self.adopt_orphans().await,
                () = woken.notified() => self.adopt_orphans().await,
            }
        }
        admitting.abort();
        tracing::info!("stopping: no new runs; running steps get {:?}", self.grace);
        self.runner.shut_down(self.grace).await;
        let owner = self.runner.owner().clone();
        if let Err(error) = self
            .runner
            .store()
            .with(move |store| store.worker_gone(&owner))
            .await
        {
            tracing::warn!("cannot record that this worker stopped: {error}");
        }
    }

    async fn say_seen(&self) {
        let (owner, slots) = (self.runner.owner().clone(), self.slots);
        if let Err(error) = self
            .runner
            .store()
            .with(move |store| store.worker_seen(&owner, slots))
            .await
        {
            tracing::warn!("cannot record that this worker is alive: {error}");
        }
    }

    /// Take over the runs whose driver is gone. Like a resume, a run taken
    /// over is not held back by `--slots` (its steps continue at once);
    /// queued runs wait for room.
    async fn adopt_orphans(&mut self) {
        self.refused.retain(|_, at| at.elapsed() < RETRY_REFUSED);
        let refused = &self.refused;
        let tried = self
            .runner
            .adopt_orphans(&self.library, |run| refused.contains_key(run))
            .await;
        let tried = match tried {
            Ok(tried) => tried,
            Err(error) => {
                tracing::warn!("cannot look for runs to take over: {error}");
                return;
            }
        };
        for (run, adopted) in tried {
            match adopted {
                Ok(()) => tracing::info!("took over run {run}: its driver went silent"),
                // Another process took it first.
                Err(RunnerError::Resume(
                    PrepareError::Driven { .. } | PrepareError::Store(StoreError::Refused(_)),
                )) => {}
                Err(error) => {
                    tracing::warn!("run {run} cannot be continued by this worker: {error}");
                    self.refused.insert(run, Instant::now());
                }
            }
        }
    }
}
