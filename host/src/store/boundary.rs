//! The operations the engine and the CLI need from wherever runs are kept:
//! one trait, so a second backend (PostgreSQL) implements the same
//! behaviour and passes the same tests.

use std::collections::HashMap;

use super::StoreError;
use super::lease::{Lease, Owner};
use super::records::{
    Admission, AuditEntry, Batch, CallVerdict, CircuitAdmission, CircuitRecord, CircuitRule,
    Delivery, DeliveryRecord, EventRecord, NewRun, NewSignal, RunFilter, RunRecord, SignalSent,
    StepRecord, TickOutcome, TickRecord, TokenRecord, WorkerRecord,
};
use crate::engine::resume::RecordedAttempt;
use crate::engine::{AttemptKey, Event, RunStatus, Signal, Stop};

/// Where runs are kept. Writes that belong to a running run take its
/// [`Lease`] and fail with [`StoreError::LeaseLost`] (writing nothing) once
/// another owner holds it.
pub trait RunStore: Send + std::fmt::Debug {
    /// Record a new run, owned by `owner` when it may run now (its
    /// concurrency slot, if it needs one, is free and nobody queues for
    /// it); otherwise queued or cancelled as its slot says.
    fn create_run(&mut self, run: &NewRun<'_>, owner: &Owner) -> Result<Admission, StoreError>;

    /// Start queued run `id` for `owner` when it is first in its key's
    /// queue and a slot is free: its lease; `None` while it must wait.
    fn admit(&mut self, id: &str, owner: &Owner) -> Result<Option<Lease>, StoreError>;

    /// The runs holding slots of concurrency key `key`, oldest first.
    fn slot_holders(&self, key: &str) -> Result<Vec<String>, StoreError>;

    /// Become the owner of run `id` (to resume it), pinning it to
    /// `modules`: refused while another owner's lease is live.
    fn claim(
        &mut self,
        id: &str,
        owner: &Owner,
        modules: &[(String, String)],
    ) -> Result<Lease, StoreError>;

    /// Extend `lease` by [`lease_ttl`](super::lease_ttl) from now.
    fn renew(&mut self, lease: &mut Lease) -> Result<(), StoreError>;

    /// From now on this connection journals only runs it holds leases for
    /// (and renews them, reads stops and takes signals): a backend may drop
    /// checks those writes cannot fail. SQLite turns its foreign-key checks
    /// off here — every journal row names a run whose lease the same
    /// transaction has just checked — while deletions, which cascade, run on
    /// other connections with the checks on.
    fn journal_only(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Record `events` of the leased run, each with the state it changes,
    /// in one transaction that also checks and renews the lease.
    fn append(&mut self, lease: &mut Lease, events: &[Box<Event>]) -> Result<(), StoreError> {
        let mut batches = [Batch {
            lease,
            events,
            result: Ok(()),
        }];
        self.append_many(&mut batches)?;
        let [batch] = batches;
        batch.result
    }

    /// [`append`](Self::append) for several runs in one transaction: each
    /// batch checks and renews its own lease, and one refused (its lease
    /// lost) is left out, with its error in its `result`, without the
    /// others failing. `Err` when the transaction as a whole failed.
    fn append_many(&mut self, batches: &mut [Batch<'_>]) -> Result<(), StoreError>;

    /// How many ends (`step_finished`, `step_skipped`) of each step the
    /// journal of run `id` holds.
    fn step_ends(&self, id: &str) -> Result<HashMap<String, u32>, StoreError>;

    /// Every attempt recorded for run `id`, in the order they finished.
    fn attempts(&self, id: &str) -> Result<Vec<RecordedAttempt>, StoreError>;

    /// Ask the owner of run `id` to stop it. A run nobody drives is
    /// cancelled here and now; pausing it is refused. Returns whether an
    /// owner was asked (true) or the change was made (false).
    fn request(&mut self, id: &str, stop: Stop) -> Result<bool, StoreError>;

    /// A stop another process asked for run `id`, if any.
    fn requested(&self, id: &str) -> Result<Option<Stop>, StoreError>;

    /// The stops asked for the runs `owner` holds: (run, stop).
    fn requested_of(&self, owner: &Owner) -> Result<Vec<(String, Stop)>, StoreError>;

    /// Set a run's status outside its journal (a cancel of an unowned
    /// run), releasing its lease.
    fn set_status(&mut self, id: &str, status: RunStatus) -> Result<(), StoreError>;

    fn run(&self, id: &str) -> Result<RunRecord, StoreError>;

    /// Runs, newest first, optionally with one status.
    fn runs(&self, status: Option<RunStatus>) -> Result<Vec<RunRecord>, StoreError>;

    /// The newest runs that pass `filter`, at most `filter.limit` of them:
    /// what a page of runs shows, read without reading every run.
    fn recent_runs(&self, filter: &RunFilter<'_>) -> Result<Vec<RunRecord>, StoreError>;

    /// How many runs have `status`.
    fn count_runs(&self, status: RunStatus) -> Result<u64, StoreError>;

    /// The runs sub-workflow steps of run `id` started, oldest first.
    fn children(&self, id: &str) -> Result<Vec<RunRecord>, StoreError>;

    /// Each step's recorded state, in the order the steps first started.
    fn steps(&self, id: &str) -> Result<Vec<StepRecord>, StoreError>;

    /// Events of run `id` after sequence number `after`, optionally of one step.
    fn events(
        &self,
        id: &str,
        step: Option<&str>,
        after: i64,
    ) -> Result<Vec<EventRecord>, StoreError>;

    /// The (module, sha256) pairs run `id` is pinned to.
    fn run_modules(&self, id: &str) -> Result<Vec<(String, String)>, StoreError>;

    /// The workflow text with sha256 `digest` a run started with.
    fn workflow_text(&self, digest: &str) -> Result<String, StoreError>;

    /// Delete ended runs (succeeded, failed, cancelled) last updated before
    /// `cutoff` (seconds since the epoch), with all they recorded.
    fn prune(&mut self, cutoff: f64) -> Result<usize, StoreError>;

    /// Keep API token `name` as the sha256 `digest` of its secret; refused
    /// when the name is taken.
    fn add_token(&mut self, name: &str, digest: &[u8; 32]) -> Result<(), StoreError>;

    /// Forget token `name`; whether there was one.
    fn remove_token(&mut self, name: &str) -> Result<bool, StoreError>;

    /// The name of the token whose secret has sha256 `digest`.
    fn token_named_by(&self, digest: &[u8; 32]) -> Result<Option<String>, StoreError>;

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Record what schedule `schedule` did with its tick at `at` (seconds
    /// since the epoch), replacing what was recorded for that tick.
    fn record_tick(
        &mut self,
        schedule: &str,
        at: f64,
        outcome: TickOutcome,
        run_id: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Pause schedule `schedule` (`by` whom), or resume it.
    fn set_schedule_paused(
        &mut self,
        schedule: &str,
        paused: bool,
        by: &str,
    ) -> Result<(), StoreError>;

    /// The schedules paused now.
    fn paused_schedules(&self) -> Result<Vec<String>, StoreError>;

    /// The newest ticks of `schedule`, newest first.
    fn ticks(&self, schedule: &str, limit: usize) -> Result<Vec<TickRecord>, StoreError>;

    /// Record a delivery to a webhook path, keeping the newest
    /// [`MAX_DELIVERIES`](super::MAX_DELIVERIES) of that path.
    fn record_delivery(&mut self, delivery: &Delivery<'_>) -> Result<(), StoreError>;

    /// The newest deliveries to webhook `path`, newest first.
    fn deliveries(&self, path: &str, limit: usize) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// Send on `wake` whenever another process may have made work ready (a
    /// run queued, ended or handed to the workers); `false` when this
    /// backend cannot push that (polling alone finds the work).
    fn listen_for_work(&mut self, wake: std::sync::mpsc::Sender<()>) -> Result<bool, StoreError> {
        let _ = wake;
        Ok(false)
    }

    /// The top-level runs another process should continue, oldest first:
    /// `running` or `waiting` runs no live lease holds (it expired, or its
    /// owner is a process of this machine that is gone), and `interrupted`
    /// runs not stopped by a person at the command line. Read without
    /// reading the runs live leases hold.
    fn orphans(&self) -> Result<Vec<String>, StoreError>;

    /// Worker `owner`, driving up to `slots` runs, is alive now.
    fn worker_seen(&mut self, owner: &Owner, slots: u32) -> Result<(), StoreError>;

    /// Worker `owner` stopped.
    fn worker_gone(&mut self, owner: &Owner) -> Result<(), StoreError>;

    /// The workers seen at or after `since` (seconds since the epoch).
    fn workers(&self, since: f64) -> Result<Vec<WorkerRecord>, StoreError>;

    /// Record a write made through the API.
    fn audit(&mut self, entry: &AuditEntry<'_>) -> Result<(), StoreError>;

    /// Put a signal in a run's mailbox; refused once the run has ended.
    fn send_signal(&mut self, signal: &NewSignal<'_>) -> Result<SignalSent, StoreError>;

    /// The signals of run `id` after `after` (by `seq`) no step has taken
    /// yet, oldest first.
    fn signals(&self, id: &str, after: i64) -> Result<Vec<Signal>, StoreError>;

    /// Every run's signals after `after` (by `seq`) that no step has taken
    /// yet, oldest first: (run, signal).
    fn signals_after(&self, after: i64) -> Result<Vec<(String, Signal)>, StoreError>;

    /// The waits run `id` began, with their deadlines (RFC 3339) as the
    /// journal recorded them.
    /// May a call guarded by `rule`'s breaker start now (a probe, when it
    /// was open long enough)?
    fn admit_call(&mut self, rule: &CircuitRule<'_>) -> Result<CircuitAdmission, StoreError>;

    /// A guarded call ended: count a failure, open the breaker at `rule`'s
    /// threshold, or close it after a probe that succeeded.
    fn record_call(
        &mut self,
        rule: &CircuitRule<'_>,
        probe: bool,
        verdict: &CallVerdict,
    ) -> Result<(), StoreError>;

    /// Every breaker that saw a failure since it last closed, by key.
    fn circuits(&self) -> Result<Vec<CircuitRecord>, StoreError>;

    /// Close breaker `key` and forget its failures; whether there was one.
    fn reset_circuit(&mut self, key: &str) -> Result<bool, StoreError>;

    fn waits(&self, id: &str) -> Result<Vec<(AttemptKey, Option<String>)>, StoreError>;

    /// Up to `limit` ended runs whose traces are due for export (runs
    /// created with [`NewRun::export_trace`]), longest ended first.
    fn traces_due(&self, limit: usize) -> Result<Vec<String>, StoreError>;

    /// Take run `id`'s due trace for export; false when another exporter
    /// took it first (or it is not due).
    fn claim_trace(&mut self, id: &str) -> Result<bool, StoreError>;

    /// Give back a claimed trace the collector did not take: due again.
    fn release_trace(&mut self, id: &str) -> Result<(), StoreError>;
}
