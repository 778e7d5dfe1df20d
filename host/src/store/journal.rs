//! The journal: records every event of a run as it happens, from a writer
//! thread (SQLite never runs on the async executor). Events are committed
//! in order, each with the state it changes, in one transaction per batch:
//! the journal is always a prefix of the run's event stream, never half an
//! event. The thread also watches for `pause` / `cancel` requests from
//! other processes.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Transaction, params};
use serde_json::Value;

use super::{Durability, Store, StoreError, capped_json, now_seconds};
use crate::engine::{AttemptKey, AttemptResult, Control, Event, Observer, Stop};

/// How often the writer looks for requests from other processes.
const REQUEST_POLL: Duration = Duration::from_millis(100);
/// The most events committed in one transaction.
const BATCH: usize = 256;

enum Message {
    Event(Box<Event>),
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

impl Observer for Journal {
    fn event(&mut self, event: &Event) {
        let sent = self
            .sender
            .as_ref()
            .is_some_and(|sender| sender.send(Message::Event(Box::new(event.clone()))).is_ok());
        if !sent && self.sender.take().is_some() {
            // The writer stopped on an error; `finish` reports it. Say so now too.
            tracing::error!(
                "the journal stopped recording this run; `wfhost` will report why when the run ends"
            );
        }
    }
}

fn write(
    mut store: Store,
    run_id: &str,
    receiver: &Receiver<Message>,
    control: &Control,
) -> Result<(), StoreError> {
    loop {
        let first = match receiver.recv_timeout(REQUEST_POLL) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => {
                match store.requested(run_id)?.as_deref() {
                    Some("pause") => control.request(Stop::Pause),
                    Some("cancel") => control.request(Stop::Cancel),
                    _ => {}
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        let mut events = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Event(event) => events.push(event),
                Message::Flush(done) => flushes.push(done),
            }
            next = if events.len() < BATCH {
                receiver.try_recv().ok()
            } else {
                None
            };
        }
        if !events.is_empty() {
            store.record(run_id, &events)?;
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

impl Store {
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
            failure,
            ..
        } => {
            let result = AttemptResult::measured(Err(failure.clone()), *duration_ms, *fuel, 0);
            record_attempt(tx, run_id, key, seq, &result)?;
        }
        Event::StepFinished {
            step,
            status,
            attempts,
            duration_ms,
            fuel,
            output,
            failure,
        } => {
            let output = output.as_ref().map(|o| capped_json(o).0);
            let failure_text = failure.as_ref().map(|f| capped_json(f).0);
            tx.prepare_cached(
                "INSERT INTO steps (run_id, step, status, attempts, duration_ms, fuel, kind, output, failure, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (run_id, step) DO UPDATE SET status = excluded.status,
                   attempts = excluded.attempts, duration_ms = excluded.duration_ms,
                   fuel = excluded.fuel, kind = excluded.kind, output = excluded.output,
                   failure = excluded.failure")?
            .execute(
                params![
                    run_id,
                    step,
                    status,
                    attempts,
                    duration_ms,
                    fuel,
                    failure.as_ref().map(|f| f.kind.clone()),
                    output,
                    failure_text,
                    seq
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
