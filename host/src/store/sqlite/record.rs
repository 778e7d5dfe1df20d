//! Recording a run's events in SQLite: each event row, with the state it
//! changes (attempts, steps, the run), in the caller's transaction. An
//! event's data (a step's input or output) is stored once, apart from the
//! event ([`payload`](crate::store::payload)): large parts go to `blobs` by
//! digest, and every row that needs the value refers to them.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use rusqlite::{Transaction, params};
use serde_json::Value;

use crate::engine::{AttemptKey, Event, StepFailure};
use crate::sandbox::Digest;
use crate::store::{VALUE_CAP_BYTES, capped_json, payload};

/// A value as a row keeps it: encoded text, and whether it is whole (a
/// value over [`VALUE_CAP_BYTES`] is kept as a marker; its attempt then
/// runs again on resume).
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub text: String,
    pub complete: bool,
}

/// What the writer remembers between events: the blobs this run already
/// holds, and the last values it stored (the same output arrives in
/// `step_succeeded` and again in `step_finished`: encoded once).
#[derive(Debug, Default)]
pub(super) struct Payloads {
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
    fn store(
        &mut self,
        tx: &Transaction<'_>,
        run_id: &str,
        value: &Arc<Value>,
    ) -> rusqlite::Result<Stored> {
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
                        tx.prepare_cached("INSERT OR IGNORE INTO blobs (digest, body) VALUES (?1, ?2)")?
                            .execute(params![digest.as_bytes(), &*body])?;
                        tx.prepare_cached(
                            "INSERT OR IGNORE INTO run_blobs (run_id, digest) VALUES (?1, ?2)",
                        )?
                        .execute(params![run_id, digest.as_bytes()])?;
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

    /// Forget what a failed transaction may not have kept.
    pub(super) fn reset(&mut self) {
        *self = Self::default();
    }
}

/// Where each attempt in flight started (the sequence number of its
/// `step_started`), by run: an attempt's row is written once, when it ends,
/// with where it started (a row at its start cost a write per step, and
/// nothing reads an attempt that has not ended: a crash makes it run again).
#[derive(Debug, Default)]
pub(super) struct Starts(HashMap<String, HashMap<AttemptKey, i64>>);

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

    /// Forget a run that ended, or everything after a failed transaction.
    pub(super) fn forget(&mut self, run_id: Option<&str>) {
        match run_id {
            Some(run_id) => {
                self.0.remove(run_id);
            }
            None => self.0.clear(),
        }
    }
}

/// Record `event` of run `run_id` at time `at`.
pub(super) fn record_event(
    tx: &Transaction<'_>,
    payloads: &mut Payloads,
    starts: &mut Starts,
    run_id: &str,
    event: &Event,
    at: f64,
) -> rusqlite::Result<()> {
    let data = event
        .data()
        .map(|value| payloads.store(tx, run_id, value))
        .transpose()?;
    let body = match data {
        Some(_) => capped_json(&event.without_data()).0,
        None => capped_json(event).0,
    };
    tx.prepare_cached(
        "INSERT INTO events (run_id, step, kind, body, at, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        run_id,
        event.step(),
        event.name(),
        body,
        at,
        data.as_ref().map(|d| d.text.as_str())
    ])?;
    let seq = tx.last_insert_rowid();
    match event {
        Event::StepStarted { key, .. } => {
            // An attempt of an action or a wait (they have an input; a
            // group's start is not an attempt).
            if data.is_some() {
                starts.started(run_id, key, seq);
            }
            tx.prepare_cached(
                "INSERT INTO steps (run_id, step, status, attempts, duration_ms, fuel, seq)
                 VALUES (?1, ?2, 'running', 0, 0, 0, ?3)
                 ON CONFLICT (run_id, step) DO UPDATE SET status = 'running'",
            )?
            .execute(params![run_id, key.step, seq])?;
        }
        Event::StepSucceeded {
            key,
            duration_ms,
            fuel,
            memory_peak_bytes,
            ..
        } => {
            // The output is the event's payload (`seq`): the row keeps the
            // measurements, and whether the output was kept whole.
            let attempt = Attempt {
                key,
                seq,
                started: starts.ended(run_id, key),
                failure: None,
                duration_ms: *duration_ms,
                fuel: *fuel,
                memory_peak_bytes: *memory_peak_bytes,
                complete: data.as_ref().is_some_and(|d| d.complete),
            };
            record_attempt(tx, run_id, &attempt)?;
        }
        Event::StepFailed {
            key,
            duration_ms,
            fuel,
            memory_peak_bytes,
            failure,
            ..
        } => {
            let attempt = Attempt {
                key,
                seq,
                started: starts.ended(run_id, key),
                failure: Some(failure),
                duration_ms: *duration_ms,
                fuel: *fuel,
                memory_peak_bytes: *memory_peak_bytes,
                complete: true,
            };
            record_attempt(tx, run_id, &attempt)?;
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
            let output = data.as_ref().map(|d| d.text.as_str());
            let failure_text = failure.as_ref().map(|f| capped_json(f).0);
            tx.prepare_cached(
                "INSERT INTO steps (run_id, step, status, attempts, duration_ms, fuel, kind, output, failure, seq, memory_peak)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (run_id, step) DO UPDATE SET status = excluded.status,
                   attempts = excluded.attempts, duration_ms = excluded.duration_ms,
                   fuel = excluded.fuel, kind = excluded.kind, output = excluded.output,
                   failure = excluded.failure, memory_peak = excluded.memory_peak")?
            .execute(
                params![
                    run_id,
                    step,
                    status.as_str(),
                    attempts,
                    duration_ms,
                    fuel,
                    failure.as_ref().map(|f| f.kind.as_str()),
                    output,
                    failure_text,
                    seq,
                    memory_peak_bytes
                ],
            )?;
        }
        Event::StepSkipped { step, .. } => {
            tx.prepare_cached(
                "INSERT INTO steps (run_id, step, status, attempts, duration_ms, fuel, seq)
                 VALUES (?1, ?2, 'skipped', 0, 0, 0, ?3)
                 ON CONFLICT (run_id, step) DO UPDATE SET status = 'skipped'",
            )?
            .execute(params![run_id, step, seq])?;
        }
        Event::RunFinished {
            status,
            error,
            outputs,
            ..
        } => {
            starts.forget(Some(run_id));
            tx.prepare_cached(
                "UPDATE runs SET status = ?2, error = ?3, outputs = ?4, owner = NULL, lease_expires = NULL, requested = NULL WHERE id = ?1")?
            .execute(
                params![run_id, status.as_str(), error.as_ref().map(Value::to_string), outputs.as_ref().map(Value::to_string)],
            )?;
        }
        Event::StepWaiting { key, .. } => {
            tx.prepare_cached(
                "UPDATE steps SET status = 'waiting' WHERE run_id = ?1 AND step = ?2",
            )?
            .execute(params![run_id, key.step])?;
        }
        Event::SignalReceived {
            key, seq: signal, ..
        } => {
            tx.prepare_cached(
                "UPDATE signals SET taken_by = ?3, taken_at = ?4 WHERE run_id = ?1 AND seq = ?2",
            )?
            .execute(params![run_id, signal, key.step, at])?;
        }
        Event::RunWaiting { .. } => {
            tx.prepare_cached("UPDATE runs SET status = 'waiting' WHERE id = ?1")?
                .execute([run_id])?;
        }
        Event::RunContinued => {
            tx.prepare_cached("UPDATE runs SET status = 'running' WHERE id = ?1")?
                .execute([run_id])?;
        }
        Event::RunStarted { .. }
        | Event::VarsSet { .. }
        | Event::StepRetrying { .. }
        | Event::StepOutput { .. }
        | Event::RouteTaken { .. } => {}
    }
    Ok(())
}

/// An attempt's end, as its row keeps it.
struct Attempt<'a> {
    key: &'a AttemptKey,
    /// Where it ended (the sequence number of its `step_succeeded` or
    /// `step_failed`).
    seq: i64,
    /// Where it started, when this process journaled its start.
    started: Option<i64>,
    failure: Option<&'a StepFailure>,
    duration_ms: f64,
    fuel: u64,
    memory_peak_bytes: u64,
    complete: bool,
}

fn record_attempt(
    tx: &Transaction<'_>,
    run_id: &str,
    attempt: &Attempt<'_>,
) -> rusqlite::Result<()> {
    let (status, kind, result, whole) = match attempt.failure {
        None => ("succeeded", None, Cow::Borrowed("null"), true),
        Some(failure) => {
            let (text, whole) = capped_json(failure);
            (
                "failed",
                Some(failure.kind.as_str()),
                Cow::Owned(text),
                whole,
            )
        }
    };
    let key = attempt.key;
    tx.prepare_cached(
        "INSERT INTO attempts
           (run_id, step, visit, item, iteration, attempt, seq, status, kind, fuel, memory_peak, duration_ms, result, complete, started_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT (run_id, step, visit, item, iteration, attempt) DO UPDATE SET
           seq = excluded.seq, started_seq = excluded.started_seq, status = excluded.status, kind = excluded.kind, fuel = excluded.fuel,
           memory_peak = excluded.memory_peak, duration_ms = excluded.duration_ms,
           result = excluded.result, complete = excluded.complete")?
    .execute(params![
        run_id,
        key.step,
        key.visit,
        item_column(key),
        key.iteration,
        key.attempt,
        attempt.seq,
        status,
        kind,
        attempt.fuel,
        attempt.memory_peak_bytes,
        attempt.duration_ms,
        result,
        attempt.complete && whole,
        attempt.started
    ])?;
    Ok(())
}

/// A `foreach` item as its column keeps it: -1 for none.
pub(super) fn item_column(key: &AttemptKey) -> i64 {
    key.item
        .map_or(-1, |i| i64::try_from(i).unwrap_or(i64::MAX))
}
