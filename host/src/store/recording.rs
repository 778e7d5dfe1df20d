//! What an event of a run changes, decided once for every backend: the
//! event's row, and the rows of the state it moves (attempts, steps, the
//! run, a taken signal). A backend writes them through [`Rows`] in its own
//! transaction. An event's data (a step's input or output) is stored once,
//! apart from the event ([`payload`](super::payload)): large parts go to
//! blobs by digest, and every row that needs the value refers to them.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use serde_json::Value;

use super::lease::Lease;
use super::records::Batch;
use super::{VALUE_CAP_BYTES, WriteError, capped_json, payload};
use crate::engine::{AttemptKey, Event, RunStatus, StepFailure, StepStatus};
use crate::sandbox::Digest;

/// The writes of one backend's transaction that journaling makes.
pub(super) trait Rows {
    type Error;

    /// Check that `lease` still holds its run and push its expiry to
    /// `expires_at`: the fence every write of a run's journal passes first.
    fn hold(&mut self, lease: &Lease, expires_at: f64) -> Result<(), WriteError<Self::Error>>;

    /// Begin, release or roll back to the savepoint of one run's batch.
    fn savepoint(&mut self, step: Savepoint) -> Result<(), Self::Error>;

    /// Keep blob `digest` (once) and note that run `run_id` refers to it.
    fn blob(&mut self, run_id: &str, digest: &Digest, body: &str) -> Result<(), Self::Error>;

    /// Append the event's row; its sequence number.
    fn event(&mut self, row: &EventRow<'_>) -> Result<i64, Self::Error>;

    /// A step began (or began again): `running`, first seen at `seq`.
    fn step_started(&mut self, run_id: &str, step: &str, seq: i64) -> Result<(), Self::Error>;

    /// An attempt ended: its row, written once.
    fn attempt(&mut self, run_id: &str, attempt: &AttemptRow<'_>) -> Result<(), Self::Error>;

    /// A step ended with everything its attempts add up to.
    fn step_finished(&mut self, run_id: &str, step: &StepRow<'_>) -> Result<(), Self::Error>;

    /// A step was skipped, first seen at `seq`.
    fn step_skipped(&mut self, run_id: &str, step: &str, seq: i64) -> Result<(), Self::Error>;

    /// A step waits for a signal or a timer.
    fn step_waiting(&mut self, run_id: &str, step: &str) -> Result<(), Self::Error>;

    /// The run is `waiting` (only waits in flight) or `running` again.
    fn run_status(&mut self, run_id: &str, status: RunStatus) -> Result<(), Self::Error>;

    /// The run ended: its status, error and outputs; its lease released.
    fn run_finished(
        &mut self,
        run_id: &str,
        status: RunStatus,
        error: Option<&Value>,
        outputs: Option<&Value>,
    ) -> Result<(), Self::Error>;

    /// Signal `signal` of the run was taken by `step` at `at`.
    fn signal_taken(
        &mut self,
        run_id: &str,
        signal: i64,
        step: &str,
        at: f64,
    ) -> Result<(), Self::Error>;
}

/// The savepoint around one run's batch in a transaction journaling many.
#[derive(Debug, Clone, Copy)]
pub(super) enum Savepoint {
    Begin,
    Release,
    /// Roll back to it and release it.
    RollBack,
}

/// An event's row.
#[derive(Debug)]
pub(super) struct EventRow<'a> {
    pub run_id: &'a str,
    pub step: Option<&'a str>,
    pub kind: &'static str,
    /// The event as JSON, its data left out when `payload` has it.
    pub body: &'a str,
    pub at: f64,
    pub payload: Option<&'a str>,
}

/// An attempt's end, as its row keeps it.
#[derive(Debug)]
pub(super) struct AttemptRow<'a> {
    pub key: &'a AttemptKey,
    /// Where it ended (the sequence number of its `step_succeeded` or
    /// `step_failed`).
    pub seq: i64,
    /// Where it started, when this process journaled its start.
    pub started: Option<i64>,
    /// `succeeded` or `failed`.
    pub status: &'static str,
    pub kind: Option<&'a str>,
    /// Its failure as JSON; `null` for a success (whose output is its
    /// event's payload).
    pub result: Cow<'a, str>,
    pub duration_ms: f64,
    pub fuel: u64,
    pub memory_peak_bytes: u64,
    /// Whether what it returned was kept whole (else it runs again on
    /// resume).
    pub complete: bool,
}

impl AttemptRow<'_> {
    /// Its `foreach` item as the column keeps it: -1 for none.
    pub fn item(&self) -> i64 {
        self.key
            .item
            .map_or(-1, |i| i64::try_from(i).unwrap_or(i64::MAX))
    }
}

/// A finished step's row.
#[derive(Debug)]
pub(super) struct StepRow<'a> {
    pub step: &'a str,
    pub status: StepStatus,
    pub attempts: u32,
    pub duration_ms: f64,
    pub fuel: u64,
    pub memory_peak_bytes: u64,
    pub kind: Option<&'a str>,
    pub output: Option<&'a str>,
    pub failure: Option<String>,
    pub seq: i64,
}

/// A value as a row keeps it: encoded text, and whether it is whole (a
/// value over [`VALUE_CAP_BYTES`] is kept as a marker; its attempt then
/// runs again on resume).
#[derive(Debug, Clone)]
struct Stored {
    text: String,
    complete: bool,
}

/// What a journal's writer remembers between events: the blobs this run
/// already holds, the last values it stored (the same output arrives in
/// `step_succeeded` and again in `step_finished`: encoded once), and where
/// each attempt in flight started.
#[derive(Debug, Default)]
pub(super) struct Recorder {
    payloads: Payloads,
    starts: Starts,
}

#[derive(Debug, Default)]
struct Payloads {
    run: String,
    known: HashSet<Digest>,
    recent: VecDeque<(Arc<Value>, Stored)>,
    /// The last blobs written: a copy of one (an output passed into the
    /// next step's input) is recognised without hashing it.
    recent_blobs: Vec<(Digest, Arc<str>)>,
}

const RECENT: usize = 4;
const RECENT_BLOBS: usize = 8;

impl Payloads {
    fn store<R: Rows>(
        &mut self,
        rows: &mut R,
        run_id: &str,
        value: &Arc<Value>,
    ) -> Result<Stored, R::Error> {
        if self.run != run_id {
            *self = Self {
                run: run_id.to_string(),
                ..Self::default()
            };
        }
        if let Some((_, stored)) = self.recent.iter().find(|(v, _)| Arc::ptr_eq(v, value)) {
            return Ok(stored.clone());
        }
        let stored = match payload::encode(value, VALUE_CAP_BYTES, &self.recent_blobs) {
            Ok(encoded) => {
                for (digest, body) in encoded.blobs {
                    if self.known.insert(digest) {
                        rows.blob(run_id, &digest, &body)?;
                    }
                    if !self.recent_blobs.iter().any(|(seen, _)| *seen == digest) {
                        if self.recent_blobs.len() == RECENT_BLOBS {
                            self.recent_blobs.remove(0);
                        }
                        self.recent_blobs.push((digest, body));
                    }
                }
                Stored {
                    text: encoded.text,
                    complete: true,
                }
            }
            Err(size) => Stored {
                text: serde_json::json!({
                    "$truncated": format!(
                        "more than {size} bytes of JSON, over the {} MiB a value may take in the journal",
                        VALUE_CAP_BYTES >> 20
                    )
                })
                .to_string(),
                complete: false,
            },
        };
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((Arc::clone(value), stored.clone()));
        Ok(stored)
    }
}

/// Where each attempt in flight started (the sequence number of its
/// `step_started`), by run: an attempt's row is written once, when it ends,
/// with where it started (a row at its start cost a write per step, and
/// nothing reads an attempt that has not ended: a crash makes it run again).
#[derive(Debug, Default)]
struct Starts(HashMap<String, HashMap<AttemptKey, i64>>);

impl Starts {
    fn started(&mut self, run_id: &str, key: &AttemptKey, seq: i64) {
        match self.0.get_mut(run_id) {
            Some(run) => {
                run.insert(key.clone(), seq);
            }
            None => {
                self.0
                    .insert(run_id.to_string(), HashMap::from([(key.clone(), seq)]));
            }
        }
    }

    fn ended(&mut self, run_id: &str, key: &AttemptKey) -> Option<i64> {
        self.0.get_mut(run_id).and_then(|run| run.remove(key))
    }
}

impl Recorder {
    /// Forget what a transaction that failed (or a run's part of it that
    /// was rolled back: `Some(run)`) may not have kept.
    pub fn forget(&mut self, run_id: Option<&str>) {
        self.payloads = Payloads::default();
        match run_id {
            Some(run_id) => {
                self.starts.0.remove(run_id);
            }
            None => self.starts.0.clear(),
        }
    }

    /// Journal `batches` (each a run's events under its lease) through
    /// `rows`, in the caller's transaction: each batch checks and renews
    /// its lease (to `expires_at`), and one refused (its lease lost) is
    /// rolled back to its savepoint, its error in its `result`, without
    /// the others failing.
    pub fn append<R: Rows>(
        &mut self,
        rows: &mut R,
        batches: &mut [Batch<'_>],
        now: f64,
        expires_at: f64,
    ) -> Result<(), WriteError<R::Error>> {
        for batch in batches.iter_mut() {
            rows.savepoint(Savepoint::Begin).map_err(WriteError::Sql)?;
            let recorded = rows.hold(batch.lease, expires_at).and_then(|()| {
                for event in batch.events {
                    self.record(rows, &batch.lease.run_id, event, now)
                        .map_err(WriteError::Sql)?;
                }
                Ok(())
            });
            match recorded {
                Ok(()) => rows
                    .savepoint(Savepoint::Release)
                    .map_err(WriteError::Sql)?,
                Err(WriteError::Store(error)) => {
                    rows.savepoint(Savepoint::RollBack)
                        .map_err(WriteError::Sql)?;
                    // Blobs it wrote, and starts it saw, are gone with it.
                    self.forget(Some(&batch.lease.run_id));
                    batch.result = Err(error);
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Record `event` of run `run_id` at time `at` through `rows`.
    fn record<R: Rows>(
        &mut self,
        rows: &mut R,
        run_id: &str,
        event: &Event,
        at: f64,
    ) -> Result<(), R::Error> {
        let data = event
            .data()
            .map(|value| self.payloads.store(rows, run_id, value))
            .transpose()?;
        let body = match data {
            Some(_) => capped_json(&event.without_data()).0,
            None => capped_json(event).0,
        };
        let seq = rows.event(&EventRow {
            run_id,
            step: event.step(),
            kind: event.name(),
            body: &body,
            at,
            payload: data.as_ref().map(|d| d.text.as_str()),
        })?;
        match event {
            Event::StepStarted { key, .. } => {
                // An attempt of an action or a wait (they have an input; a
                // group's start is not an attempt).
                if data.is_some() {
                    self.starts.started(run_id, key, seq);
                }
                rows.step_started(run_id, &key.step, seq)?;
            }
            Event::StepSucceeded {
                key,
                duration_ms,
                fuel,
                memory_peak_bytes,
                ..
            } => {
                // The output is the event's payload (`seq`): the row keeps
                // the measurements, and whether the output was kept whole.
                rows.attempt(
                    run_id,
                    &AttemptRow {
                        key,
                        seq,
                        started: self.starts.ended(run_id, key),
                        status: "succeeded",
                        kind: None,
                        result: Cow::Borrowed("null"),
                        duration_ms: *duration_ms,
                        fuel: *fuel,
                        memory_peak_bytes: *memory_peak_bytes,
                        complete: data.as_ref().is_some_and(|d| d.complete),
                    },
                )?;
            }
            Event::StepFailed {
                key,
                duration_ms,
                fuel,
                memory_peak_bytes,
                failure,
                ..
            } => {
                let (result, whole) = capped_json(failure);
                rows.attempt(
                    run_id,
                    &AttemptRow {
                        key,
                        seq,
                        started: self.starts.ended(run_id, key),
                        status: "failed",
                        kind: Some(failure.kind.as_str()),
                        result: Cow::Owned(result),
                        duration_ms: *duration_ms,
                        fuel: *fuel,
                        memory_peak_bytes: *memory_peak_bytes,
                        complete: whole,
                    },
                )?;
            }
            Event::StepFinished {
                step,
                status,
                attempts,
                duration_ms,
                fuel,
                memory_peak_bytes,
                failure,
                ..
            } => {
                rows.step_finished(
                    run_id,
                    &StepRow {
                        step,
                        status: *status,
                        attempts: *attempts,
                        duration_ms: *duration_ms,
                        fuel: *fuel,
                        memory_peak_bytes: *memory_peak_bytes,
                        kind: failure.as_ref().map(|f: &StepFailure| f.kind.as_str()),
                        output: data.as_ref().map(|d| d.text.as_str()),
                        failure: failure.as_ref().map(|f| capped_json(f).0),
                        seq,
                    },
                )?;
            }
            Event::StepSkipped { step, .. } => rows.step_skipped(run_id, step, seq)?,
            Event::RunFinished {
                status,
                error,
                outputs,
                ..
            } => {
                self.starts.0.remove(run_id);
                rows.run_finished(run_id, *status, error.as_ref(), outputs.as_ref())?;
            }
            Event::StepWaiting { key, .. } => rows.step_waiting(run_id, &key.step)?,
            Event::SignalReceived {
                key, seq: signal, ..
            } => rows.signal_taken(run_id, *signal, &key.step, at)?,
            Event::RunWaiting { .. } => rows.run_status(run_id, RunStatus::Waiting)?,
            Event::RunContinued => rows.run_status(run_id, RunStatus::Running)?,
            Event::RunStarted { .. }
            | Event::VarsSet { .. }
            | Event::StepRetrying { .. }
            | Event::StepOutput { .. }
            | Event::RouteTaken { .. } => {}
        }
        Ok(())
    }
}
