//! Recording a run's events in SQLite: the rows
//! [`Recorder`](crate::store::recording::Recorder) decides, written in the
//! caller's transaction.

use rusqlite::{Transaction, params};
use serde_json::Value;

use super::WriteError;
use crate::engine::RunStatus;
use crate::sandbox::Digest;
use crate::store::Lease;
use crate::store::recording::{AttemptRow, EventRow, Rows, Savepoint, StepRow};

/// The journal's writes into one SQLite transaction.
pub(super) struct Writes<'a, 'c>(pub &'a Transaction<'c>);

impl Rows for Writes<'_, '_> {
    type Error = rusqlite::Error;

    fn hold(&mut self, lease: &Lease, expires_at: f64) -> Result<(), WriteError> {
        super::runs::hold(self.0, lease, expires_at)
    }

    fn savepoint(&mut self, step: Savepoint) -> rusqlite::Result<()> {
        self.0.execute_batch(match step {
            Savepoint::Begin => "SAVEPOINT run",
            Savepoint::Release => "RELEASE run",
            Savepoint::RollBack => "ROLLBACK TO run; RELEASE run",
        })
    }

    fn blob(&mut self, run_id: &str, digest: &Digest, body: &str) -> rusqlite::Result<()> {
        self.0
            .prepare_cached("INSERT OR IGNORE INTO blobs (digest, body) VALUES (?1, ?2)")?
            .execute(params![digest.as_bytes(), body])?;
        self.0
            .prepare_cached("INSERT OR IGNORE INTO run_blobs (run_id, digest) VALUES (?1, ?2)")?
            .execute(params![run_id, digest.as_bytes()])?;
        Ok(())
    }

    fn event(&mut self, row: &EventRow<'_>) -> rusqlite::Result<i64> {
        self.0.prepare_cached(
            "INSERT INTO events (run_id, step, kind, body, at, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![row.run_id, row.step, row.kind, row.body, row.at, row.payload])?;
        Ok(self.0.last_insert_rowid())
    }

    fn step_started(&mut self, run_id: &str, step: &str, seq: i64) -> rusqlite::Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO steps (run_id, step, status, attempts, duration_ms, fuel, seq)
                 VALUES (?1, ?2, 'running', 0, 0, 0, ?3)
                 ON CONFLICT (run_id, step) DO UPDATE SET status = 'running'",
            )?
            .execute(params![run_id, step, seq])?;
        Ok(())
    }

    fn attempt(&mut self, run_id: &str, attempt: &AttemptRow<'_>) -> rusqlite::Result<()> {
        let key = attempt.key;
        self.0.prepare_cached(
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
            attempt.item(),
            key.iteration,
            key.attempt,
            attempt.seq,
            attempt.status,
            attempt.kind,
            attempt.fuel,
            attempt.memory_peak_bytes,
            attempt.duration_ms,
            attempt.result,
            attempt.complete,
            attempt.started
        ])?;
        Ok(())
    }

    fn step_finished(&mut self, run_id: &str, step: &StepRow<'_>) -> rusqlite::Result<()> {
        self.0.prepare_cached(
            "INSERT INTO steps (run_id, step, status, attempts, duration_ms, fuel, kind, output, failure, seq, memory_peak)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (run_id, step) DO UPDATE SET status = excluded.status,
               attempts = excluded.attempts, duration_ms = excluded.duration_ms,
               fuel = excluded.fuel, kind = excluded.kind, output = excluded.output,
               failure = excluded.failure, memory_peak = excluded.memory_peak")?
        .execute(params![
            run_id,
            step.step,
            step.status.as_str(),
            step.attempts,
            step.duration_ms,
            step.fuel,
            step.kind,
            step.output,
            step.failure,
            step.seq,
            step.memory_peak_bytes
        ])?;
        Ok(())
    }

    fn step_skipped(&mut self, run_id: &str, step: &str, seq: i64) -> rusqlite::Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO steps (run_id, step, status, attempts, duration_ms, fuel, seq)
                 VALUES (?1, ?2, 'skipped', 0, 0, 0, ?3)
                 ON CONFLICT (run_id, step) DO UPDATE SET status = 'skipped'",
            )?
            .execute(params![run_id, step, seq])?;
        Ok(())
    }

    fn step_waiting(&mut self, run_id: &str, step: &str) -> rusqlite::Result<()> {
        self.0
            .prepare_cached("UPDATE steps SET status = 'waiting' WHERE run_id = ?1 AND step = ?2")?
            .execute(params![run_id, step])?;
        Ok(())
    }

    fn run_status(&mut self, run_id: &str, status: RunStatus) -> rusqlite::Result<()> {
        self.0
            .prepare_cached("UPDATE runs SET status = ?2 WHERE id = ?1")?
            .execute(params![run_id, status.as_str()])?;
        Ok(())
    }

    fn run_finished(
        &mut self,
        run_id: &str,
        status: RunStatus,
        error: Option<&Value>,
        outputs: Option<&Value>,
    ) -> rusqlite::Result<()> {
        self.0.prepare_cached(
            "UPDATE runs SET status = ?2, error = ?3, outputs = ?4, owner = NULL, lease_expires = NULL, requested = NULL WHERE id = ?1")?
        .execute(params![
            run_id,
            status.as_str(),
            error.map(Value::to_string),
            outputs.map(Value::to_string)
        ])?;
        Ok(())
    }

    fn signal_taken(
        &mut self,
        run_id: &str,
        signal: i64,
        step: &str,
        at: f64,
    ) -> rusqlite::Result<()> {
        self.0
            .prepare_cached(
                "UPDATE signals SET taken_by = ?3, taken_at = ?4 WHERE run_id = ?1 AND seq = ?2",
            )?
            .execute(params![run_id, signal, step, at])?;
        Ok(())
    }
}
