//! Runs: creating, reading, claiming (one driver per run), requests from
//! other processes (pause, cancel), pruning, and what `resume` replays.

use rusqlite::{OptionalExtension, Row, params};
use serde_json::Value;

use super::{Store, StoreError, now_seconds};
use crate::engine::resume::RecordedAttempt;
use crate::engine::{AttemptKey, RunStatus, StepStatus};

/// What `wfhost run` records before the first step starts.
#[derive(Debug)]
pub struct NewRun<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// The workflow file, absolute.
    pub path: &'a str,
    /// The workspace root grants resolve against, absolute.
    pub workspace: &'a str,
    pub workflow_digest: &'a str,
    pub workflow_text: &'a str,
    pub inputs: &'a Value,
    /// (module reference, sha256) of every module the run uses.
    pub modules: &'a [(String, String)],
}

#[derive(Debug, Clone)]
pub struct RunRecord {
    pub id: String,
    pub name: String,
    pub path: String,
    pub workspace: String,
    pub workflow_digest: String,
    pub inputs: Value,
    pub status: RunStatus,
    pub error: Option<Value>,
    pub requested: Option<String>,
    pub driver_pid: Option<u32>,
    pub created_at: f64,
    pub updated_at: f64,
}

impl RunRecord {
    /// Is a live process driving this run?
    pub fn is_driven(&self) -> bool {
        self.status == RunStatus::Running && self.driver_pid.is_some_and(process_alive)
    }
}

#[derive(Debug, Clone)]
pub struct StepRecord {
    pub step: String,
    pub status: StepStatus,
    pub attempts: u32,
    pub duration_ms: f64,
    pub fuel: u64,
    /// The most linear memory any of its attempts used.
    pub memory_peak_bytes: u64,
    pub kind: Option<String>,
    pub output: Option<Value>,
    pub failure: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct EventRecord {
    pub seq: i64,
    pub step: Option<String>,
    pub kind: String,
    pub body: Value,
    pub at: f64,
}

const RUN_COLUMNS: &str = "id, name, path, workflow_digest, inputs, status, error, requested, driver_pid, created_at, updated_at, workspace";

fn json(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

/// A status stored by name in column `index`.
fn status<T>(row: &Row<'_>, index: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("unknown status `{text}`").into(),
        )
    })
}

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        path: row.get(2)?,
        workflow_digest: row.get(3)?,
        inputs: json(row.get(4)?).unwrap_or(Value::Null),
        status: status(row, 5, RunStatus::parse)?,
        error: json(row.get(6)?),
        requested: row.get(7)?,
        driver_pid: row.get(8)?,
        created_at: row.get(9)?,
        updated_at: row.get(10)?,
        workspace: row.get(11)?,
    })
}

/// Is process `pid` alive? (A crashed driver's claim lapses at once.)
/// Elsewhere than Linux a claim is taken as live until the run records its end.
fn process_alive(pid: u32) -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    // `/proc/PID/stat`: "PID (name) STATE …"; a zombie (Z) or dead (X) process
    // drives nothing.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

impl Store {
    pub fn create_run(&mut self, run: &NewRun<'_>) -> Result<(), StoreError> {
        self.write("cannot record the new run", |tx| {
            let at = now_seconds();
            tx.execute(
                "INSERT OR IGNORE INTO workflows (digest, name, text) VALUES (?1, ?2, ?3)",
                params![run.workflow_digest, run.name, run.workflow_text],
            )?;
            tx.execute(
                "INSERT INTO runs (id, workflow_digest, name, path, workspace, inputs, status, driver_pid, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?8, ?5, 'running', ?6, ?7, ?7)",
                params![
                    run.id,
                    run.workflow_digest,
                    run.name,
                    run.path,
                    run.inputs.to_string(),
                    std::process::id(),
                    at,
                    run.workspace
                ],
            )?;
            record_modules(tx, run.id, run.modules)?;
            Ok(())
        })
    }

    pub fn run(&self, id: &str) -> Result<RunRecord, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                [id],
                run_from_row,
            )
            .optional()
            .map_err(self.error("cannot read the run"))?
            .ok_or_else(|| StoreError::UnknownRun(id.to_string()))
    }

    /// Runs, newest first, optionally with one status.
    pub fn runs(&self, status: Option<&str>) -> Result<Vec<RunRecord>, StoreError> {
        let mut statement = self
            .conn
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE ?1 IS NULL OR status = ?1 ORDER BY created_at DESC, id"
            ))
            .map_err(self.error("cannot list runs"))?;
        statement
            .query_map([status], run_from_row)
            .and_then(Iterator::collect)
            .map_err(self.error("cannot list runs"))
    }

    pub fn steps(&self, id: &str) -> Result<Vec<StepRecord>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT step, status, attempts, duration_ms, fuel, kind, output, failure, memory_peak
                 FROM steps WHERE run_id = ?1 ORDER BY seq",
            )
            .map_err(self.error("cannot read steps"))?;
        statement
            .query_map([id], |row| {
                Ok(StepRecord {
                    step: row.get(0)?,
                    status: status(row, 1, StepStatus::parse)?,
                    attempts: row.get(2)?,
                    duration_ms: row.get(3)?,
                    fuel: row.get(4)?,
                    kind: row.get(5)?,
                    output: json(row.get(6)?),
                    failure: json(row.get(7)?),
                    memory_peak_bytes: row.get(8)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(self.error("cannot read steps"))
    }

    /// Events of a run after `after` (a sequence number), optionally of one step.
    pub fn events(
        &self,
        id: &str,
        step: Option<&str>,
        after: i64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT seq, step, kind, body, at FROM events
                 WHERE run_id = ?1 AND seq > ?2 AND (?3 IS NULL OR step = ?3) ORDER BY seq",
            )
            .map_err(self.error("cannot read events"))?;
        statement
            .query_map(params![id, after, step], |row| {
                Ok(EventRecord {
                    seq: row.get(0)?,
                    step: row.get(1)?,
                    kind: row.get(2)?,
                    body: json(row.get(3)?).unwrap_or(Value::Null),
                    at: row.get(4)?,
                })
            })
            .and_then(Iterator::collect)
            .map_err(self.error("cannot read events"))
    }

    pub fn run_modules(&self, id: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT reference, digest FROM run_modules WHERE run_id = ?1 ORDER BY reference",
            )
            .map_err(self.error("cannot read the run's modules"))?;
        statement
            .query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(self.error("cannot read the run's modules"))
    }

    /// The workflow text a run started with.
    pub fn workflow_text(&self, digest: &str) -> Result<String, StoreError> {
        self.conn
            .query_row(
                "SELECT text FROM workflows WHERE digest = ?1",
                [digest],
                |row| row.get(0),
            )
            .map_err(self.error("cannot read the run's workflow"))
    }

    /// Every attempt recorded for a run, in the order they finished.
    pub fn attempts(&self, id: &str) -> Result<Vec<RecordedAttempt>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT step, visit, item, iteration, attempt, result, seq, complete, coalesce(started_seq, seq)
                 FROM attempts WHERE run_id = ?1 AND status != 'running' ORDER BY seq",
            )
            .map_err(self.error("cannot read attempts"))?;
        let rows: Vec<(AttemptKey, String, i64, bool, i64)> = statement
            .query_map([id], |row| {
                let item: i64 = row.get(2)?;
                Ok((
                    AttemptKey {
                        step: row.get(0)?,
                        visit: row.get(1)?,
                        item: usize::try_from(item).ok(),
                        iteration: row.get(3)?,
                        attempt: row.get(4)?,
                    },
                    row.get(5)?,
                    row.get(6)?,
                    row.get(7)?,
                    row.get(8)?,
                ))
            })
            .and_then(Iterator::collect)
            .map_err(self.error("cannot read attempts"))?;
        Ok(rows
            .into_iter()
            .filter_map(|(key, result, seq, complete, started)| {
                serde_json::from_str(&result)
                    .ok()
                    .map(|result| RecordedAttempt {
                        key,
                        result,
                        seq,
                        started,
                        complete,
                    })
            })
            .collect())
    }

    /// Become the one process driving run `id`: refused while another live
    /// process drives it.
    pub fn claim(&mut self, id: &str, modules: &[(String, String)]) -> Result<(), StoreError> {
        self.write("cannot claim the run", |tx| {
            let run = tx
                .query_row(
                    &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                    [id],
                    run_from_row,
                )
                .optional()?
                .ok_or_else(|| StoreError::UnknownRun(id.to_string()))?;
            if run.is_driven() && run.driver_pid != Some(std::process::id()) {
                return Err(StoreError::Refused(format!(
                    "run {id} is being driven by process {}; wait for it, or `wfhost pause {id}` it first",
                    run.driver_pid.unwrap_or_default()
                ))
                .into());
            }
            tx.execute(
                "UPDATE runs SET status = 'running', driver_pid = ?2, requested = NULL, error = NULL, updated_at = ?3 WHERE id = ?1",
                params![id, std::process::id(), now_seconds()],
            )?;
            record_modules(tx, id, modules)?;
            Ok(())
        })
    }

    /// Ask the process driving `id` to pause or cancel it. A run nobody
    /// drives is cancelled here and now; pausing it is refused.
    /// Returns whether a driver was asked (true) or the change was made (false).
    pub fn request(&mut self, id: &str, what: &str) -> Result<bool, StoreError> {
        let run = self.run(id)?;
        // A second cancel of a run still cancelling skips its `finally` steps.
        let what = if what == "cancel" && run.requested.as_deref() == Some("cancel") {
            "cancel-now"
        } else {
            what
        };
        if run.is_driven() {
            self.conn
                .execute(
                    "UPDATE runs SET requested = ?2 WHERE id = ?1",
                    params![id, what],
                )
                .map_err(self.error("cannot record the request"))?;
            return Ok(true);
        }
        match (what, run.status) {
            (_, status) if status.is_ended() => Err(StoreError::Refused(format!(
                "run {id} has already ended ({status}); nothing to {what}"
            ))),
            ("pause", RunStatus::Running) => Err(StoreError::Refused(format!(
                "no process is driving run {id} any more (it crashed or was killed); `wfhost resume {id}` continues it"
            ))),
            ("pause", _) => Err(StoreError::Refused(format!(
                "run {id} is not running ({}); `wfhost resume {id}` continues it",
                run.status
            ))),
            _ => {
                self.set_status(id, RunStatus::Cancelled)?;
                Ok(false)
            }
        }
    }

    /// A request another process made for run `id`, if any.
    pub fn requested(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT requested FROM runs WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()
            .map(Option::flatten)
            .map_err(self.error("cannot read requests"))
    }

    pub fn set_status(&mut self, id: &str, status: RunStatus) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE runs SET status = ?2, driver_pid = NULL, requested = NULL, updated_at = ?3 WHERE id = ?1",
                params![id, status.as_str(), now_seconds()],
            )
            .map_err(self.error("cannot update the run"))
            .map(drop)
    }

    /// Delete ended runs (succeeded, failed, cancelled) last updated before
    /// `cutoff` (seconds since the epoch), with all they recorded.
    pub fn prune(&mut self, cutoff: f64) -> Result<usize, StoreError> {
        self.write("cannot prune", |tx| {
            let pruned = tx.execute(
                "DELETE FROM runs WHERE status IN ('succeeded', 'failed', 'cancelled') AND updated_at < ?1",
                [cutoff],
            )?;
            tx.execute(
                "DELETE FROM workflows WHERE digest NOT IN (SELECT workflow_digest FROM runs)",
                [],
            )?;
            Ok(pruned)
        })
    }
}

/// The (module, digest) pairs a run is pinned to.
fn record_modules(
    tx: &rusqlite::Transaction<'_>,
    run_id: &str,
    modules: &[(String, String)],
) -> rusqlite::Result<()> {
    for (reference, digest) in modules {
        tx.execute(
            "INSERT OR REPLACE INTO run_modules (run_id, reference, digest) VALUES (?1, ?2, ?3)",
            params![run_id, reference, digest],
        )?;
    }
    Ok(())
}
