//! The journal: records every event of a run as it happens, from a writer
//! thread (SQLite never runs on the async executor). Events are committed
//! in order, each with the state it changes, in one transaction per batch:
//! the journal is always a prefix of the run's event stream, never half an
//! event. The thread also watches for `pause` / `cancel` requests from
//! other processes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Transaction, params};
use serde_json::Value;

use super::{Durability, Store, StoreError, capped_json, now_seconds};
use crate::engine::{AttemptKey, AttemptResult, Control, Event, Observer, Stop};

/// How often the writer looks for requests from other processes, whether
/// events keep arriving or not.
const REQUEST_POLL: Duration = Duration::from_millis(50);
/// The most events committed in one transaction.
const BATCH: usize = 256;

enum Message {
    Event(Box<Event>),
    /// The end of a step that a resumed run re-enacted: recorded only when
    /// the journal does not hold it yet (see [`Store::record`]).
    Replayed(Box<Event>),
    Flush(mpsc::SyncSender<()>),
}

/// Records a run's events; an [`Observer`] for the engine.
#[derive(Debug)]
pub struct Journal {
    sender: Option<Sender<Message>>,
    writer: Option<JoinHandle<Result<(), StoreError>>>,
}

impl Journal {
    /// Start journaling run `run_id` into the database at `path`.
    pub fn start(
        path: &Path,
        durability: Durability,
        run_id: &str,
        control: Arc<Control>,
    ) -> Result<Self, StoreError> {
        // Open here so a problem is reported before the run starts.
        let store = Store::open(path, durability)?;
        let (sender, receiver) = mpsc::channel();
        let run_id = run_id.to_string();
        let writer = std::thread::Builder::new()
            .name("wfhost-journal".into())
            .spawn(move || write(store, &run_id, &receiver, &control))
            .map_err(|error| {
                StoreError::Refused(format!("cannot start the journal thread: {error}"))
            })?;
        Ok(Self {
            sender: Some(sender),
            writer: Some(writer),
        })
    }

    /// Wait until everything sent so far is committed.
    pub fn flush(&self) {
        let (done, wait) = mpsc::sync_channel(1);
        if let Some(sender) = &self.sender
            && sender.send(Message::Flush(done)).is_ok()
        {
            let _ = wait.recv();
        }
    }

    /// Commit what is left and stop the writer; its first error, if any.
    pub fn finish(mut self) -> Result<(), StoreError> {
        self.sender.take();
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(StoreError::Refused("the journal thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Journal {
    fn send(&mut self, message: Message) {
        let sent = self
            .sender
            .as_ref()
            .is_some_and(|sender| sender.send(message).is_ok());
        if !sent && self.sender.take().is_some() {
            // The writer stopped on an error; `finish` reports it. Say so now too.
            tracing::error!(
                "the journal stopped recording this run; `wfhost` will report why when the run ends"
            );
        }
    }
}

impl Observer for Journal {
    fn event(&mut self, event: &Event) {
        self.send(Message::Event(Box::new(event.clone())));
    }

    fn replayed(&mut self, event: &Event) {
        // Only the end of a step changes state a crash may have left
        // unrecorded (its attempts are recorded, or it would not replay).
        if ending(event).is_some() {
            self.send(Message::Replayed(Box::new(event.clone())));
        }
    }
}

/// Fault injection for crash tests: with `WFHOST_TEST_CRASH_AFTER_COMMITS=N`
/// the journal commits one event per transaction and kills its own process
/// with SIGKILL right after the Nth commit of this process, so a test can
/// stop a run between any two commits of its journal, deterministically.
const CRASH_AFTER_COMMITS: &str = "WFHOST_TEST_CRASH_AFTER_COMMITS";

fn write(
    mut store: Store,
    run_id: &str,
    receiver: &Receiver<Message>,
    control: &Control,
) -> Result<(), StoreError> {
    let crash_after: Option<u64> = std::env::var(CRASH_AFTER_COMMITS)
        .ok()
        .and_then(|n| n.parse().ok());
    let batch = if crash_after.is_some() { 1 } else { BATCH };
    let mut commits = 0_u64;
    let mut ends = StepEnds::load(&store, run_id)?;
    let mut polled = Instant::now();
    loop {
        // A busy run sends events faster than the poll interval: requests
        // are read on time anyway.
        if polled.elapsed() >= REQUEST_POLL {
            polled = Instant::now();
            match store.requested(run_id)?.as_deref() {
                Some("pause") => control.request(Stop::Pause),
                Some("cancel") => control.request(Stop::Cancel),
                Some("cancel-now") => control.request(Stop::CancelNow),
                _ => {}
            }
        }
        let first = match receiver.recv_timeout(REQUEST_POLL.saturating_sub(polled.elapsed())) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        let mut events = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Event(event) => {
                    ends.recorded(&event);
                    events.push(event);
                }
                Message::Replayed(event) => {
                    if ends.missing(&event) {
                        ends.recorded(&event);
                        events.push(event);
                    }
                }
                Message::Flush(done) => flushes.push(done),
            }
            next = if events.len() < batch {
                receiver.try_recv().ok()
            } else {
                None
            };
        }
        if !events.is_empty() {
            store.record(run_id, &events)?;
            commits += 1;
            if crash_after == Some(commits) {
                let _ = rustix::process::kill_process(
                    rustix::process::getpid(),
                    rustix::process::Signal::KILL,
                );
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// The ends (`step_finished`, `step_skipped`) the journal holds for each
/// step of a run, and those a resumed run has re-enacted: a crash between
/// the commit of a step's last attempt and the commit of its end leaves the
/// step `running`; the resumed run re-enacts the step and records its end
/// then. Each step's recorded visits are re-enacted in order, so the nth
/// re-enacted end is the journal's nth end of that step, when that one was
/// committed.
struct StepEnds {
    recorded: HashMap<String, u32>,
    replayed: HashMap<String, u32>,
}

impl StepEnds {
    fn load(store: &Store, run_id: &str) -> Result<Self, StoreError> {
        Ok(Self {
            recorded: store.step_ends(run_id)?,
            replayed: HashMap::new(),
        })
    }

    /// Note an end about to be recorded.
    fn recorded(&mut self, event: &Event) {
        if let Some(step) = ending(event) {
            *self.recorded.entry(step.to_string()).or_default() += 1;
        }
    }

    /// Whether the replayed `event` is an end the journal does not hold.
    fn missing(&mut self, event: &Event) -> bool {
        let Some(step) = ending(event) else {
            return false;
        };
        let nth = self.replayed.entry(step.to_string()).or_default();
        *nth += 1;
        self.recorded.get(step).copied().unwrap_or(0) < *nth
    }
}

/// The step `event` ends, if it is a step's end.
fn ending(event: &Event) -> Option<&str> {
    match event {
        Event::StepFinished { step, .. } | Event::StepSkipped { step, .. } => Some(step),
        _ => None,
    }
}

impl Store {
    /// How many ends (`step_finished`, `step_skipped`) of each step the
    /// journal of run `run_id` holds.
    fn step_ends(&self, run_id: &str) -> Result<HashMap<String, u32>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT step, count(*) FROM events WHERE run_id = ?1
                   AND kind IN ('step_finished', 'step_skipped') GROUP BY step",
            )
            .and_then(|mut query| {
                query
                    .query_map(params![run_id], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect()
            })
            .map_err(self.error("cannot read the run's journal"))
    }

    /// Commit `events` of run `run_id`, with the state each changes, in one
    /// transaction.
    pub(crate) fn record(&mut self, run_id: &str, events: &[Box<Event>]) -> Result<(), StoreError> {
        self.write("cannot journal the run", |tx| {
            for event in events {
                record_event(tx, run_id, event)?;
            }
            tx.prepare_cached("UPDATE runs SET updated_at = ?2 WHERE id = ?1")?
                .execute(params![run_id, now_seconds()])?;
            Ok(())
        })
    }
}

fn record_event(tx: &Transaction<'_>, run_id: &str, event: &Event) -> rusqlite::Result<()> {
    let (text, _) = capped_json(event);
    tx.prepare_cached(
        "INSERT INTO events (run_id, step, kind, body, at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        run_id,
        event.step(),
        event.name(),
        text,
        now_seconds()
    ])?;
    let seq = tx.last_insert_rowid();
    match event {
        Event::StepStarted { key, input } => {
            if let Some(input) = input {
                let item = key
                    .item
                    .map_or(-1, |i| i64::try_from(i).unwrap_or(i64::MAX));
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO attempts
                       (run_id, step, visit, item, iteration, attempt, seq, started_seq, status, input, fuel, memory_peak, duration_ms, result, complete)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, 'running', ?8, 0, 0, 0, 'null', 0)")?
            .execute(
                    params![run_id, key.step, key.visit, item, key.iteration, key.attempt, seq, capped_json(input).0],
                )?;
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
            output,
        } => {
            let result = AttemptResult::measured(
                Ok(output.clone()),
                *duration_ms,
                *fuel,
                *memory_peak_bytes,
            );
            record_attempt(tx, run_id, key, seq, &result)?;
        }
        Event::StepFailed {
            key,
            duration_ms,
            fuel,
            memory_peak_bytes,
            failure,
            ..
        } => {
            let result = AttemptResult::measured(
                Err(failure.clone()),
                *duration_ms,
                *fuel,
                *memory_peak_bytes,
            );
            record_attempt(tx, run_id, key, seq, &result)?;
        }
        Event::StepFinished {
            step,
            status,
            attempts,
            duration_ms,
            fuel,
            memory_peak_bytes,
            output,
            failure,
        } => {
            let output = output.as_ref().map(|o| capped_json(o).0);
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
        Event::RunFinished { status, error, .. } => {
            tx.prepare_cached(
                "UPDATE runs SET status = ?2, error = ?3, driver_pid = NULL, requested = NULL WHERE id = ?1")?
            .execute(
                params![run_id, status.as_str(), error.as_ref().map(Value::to_string)],
            )?;
        }
        Event::RunStarted { .. }
        | Event::StepRetrying { .. }
        | Event::StepOutput { .. }
        | Event::RouteTaken { .. } => {}
    }
    Ok(())
}

fn record_attempt(
    tx: &Transaction<'_>,
    run_id: &str,
    key: &AttemptKey,
    seq: i64,
    result: &AttemptResult,
) -> rusqlite::Result<()> {
    let (text, complete) = capped_json(result);
    let item = key
        .item
        .map_or(-1, |i| i64::try_from(i).unwrap_or(i64::MAX));
    let (status, kind) = match &result.outcome {
        Ok(_) => ("succeeded", None),
        Err(failure) => ("failed", Some(failure.kind.as_str())),
    };
    tx.prepare_cached(
        "INSERT INTO attempts
           (run_id, step, visit, item, iteration, attempt, seq, status, kind, fuel, memory_peak, duration_ms, result, complete)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (run_id, step, visit, item, iteration, attempt) DO UPDATE SET
           seq = excluded.seq, status = excluded.status, kind = excluded.kind, fuel = excluded.fuel,
           memory_peak = excluded.memory_peak, duration_ms = excluded.duration_ms,
           result = excluded.result, complete = excluded.complete")?
            .execute(
        params![
            run_id,
            key.step,
            key.visit,
            item,
            key.iteration,
            key.attempt,
            seq,
            status,
            kind,
            result.fuel,
            result.memory_peak_bytes,
            result.duration_ms,
            text,
            complete
        ],
    )?;
    Ok(())
}
