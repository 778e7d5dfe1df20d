//! Recording a run's events in PostgreSQL: the rows
//! [`Recorder`](crate::store::recording::Recorder) decides, written in the
//! caller's transaction.

use serde_json::Value;

use super::{Tx, WriteError, big};
use crate::engine::RunStatus;
use crate::sandbox::Digest;
use crate::store::Lease;
use crate::store::recording::{AttemptRow, EventRow, Rows, Savepoint, StepRow};

impl Rows for Tx<'_> {
    type Error = tokio_postgres::Error;

    fn hold(&mut self, lease: &Lease, expires_at: f64) -> Result<(), WriteError> {
        super::runs::hold(self, lease, expires_at)
    }

    fn savepoint(&mut self, step: Savepoint) -> Result<(), tokio_postgres::Error> {
        self.batch(match step {
            Savepoint::Begin => "SAVEPOINT run",
            Savepoint::Release => "RELEASE SAVEPOINT run",
            Savepoint::RollBack => "ROLLBACK TO SAVEPOINT run; RELEASE SAVEPOINT run",
        })
    }

    fn blob(
        &mut self,
        run_id: &str,
        digest: &Digest,
        body: &str,
    ) -> Result<(), tokio_postgres::Error> {
        let digest = digest.as_bytes().as_slice();
        self.execute(
            "INSERT INTO blobs (digest, body) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&digest, &body],
        )?;
        self.execute(
            "INSERT INTO run_blobs (run_id, digest) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&run_id, &digest],
        )?;
        Ok(())
    }

    fn event(&mut self, row: &EventRow<'_>) -> Result<i64, tokio_postgres::Error> {
        Ok(self
            .one(
                "INSERT INTO events (run_id, step, kind, body, at, payload) VALUES ($1, $2, $3, $4, $5, $6)
                 RETURNING seq",
                &[&row.run_id, &row.step, &row.kind, &row.body, &row.at, &row.payload],
            )?
            .get(0))
    }

    fn step_started(
        &mut self,
        run_id: &str,
        step: &str,
        seq: i64,
    ) -> Result<(), tokio_postgres::Error> {
        self.execute(
            "INSERT INTO steps (run_id, step, status, attempts, duration_ms, fuel, seq)
             VALUES ($1, $2, 'running', 0, 0, 0, $3)
             ON CONFLICT (run_id, step) DO UPDATE SET status = 'running'",
            &[&run_id, &step, &seq],
        )
        .map(drop)
    }

    fn attempt(
        &mut self,
        run_id: &str,
        attempt: &AttemptRow<'_>,
    ) -> Result<(), tokio_postgres::Error> {
        let key = attempt.key;
        self.execute(
            "INSERT INTO attempts
               (run_id, step, visit, item, iteration, attempt, seq, status, kind, fuel, memory_peak, duration_ms, result, complete, started_seq)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT (run_id, step, visit, item, iteration, attempt) DO UPDATE SET
               seq = excluded.seq, started_seq = excluded.started_seq, status = excluded.status, kind = excluded.kind, fuel = excluded.fuel,
               memory_peak = excluded.memory_peak, duration_ms = excluded.duration_ms,
               result = excluded.result, complete = excluded.complete",
            &[
                &run_id,
                &key.step,
                &big(key.visit),
                &attempt.item(),
                &big(key.iteration),
                &big(key.attempt),
                &attempt.seq,
                &attempt.status,
                &attempt.kind,
                &big(attempt.fuel),
                &big(attempt.memory_peak_bytes),
                &attempt.duration_ms,
                &attempt.result.as_ref(),
                &attempt.complete,
                &attempt.started,
            ],
        )
        .map(drop)
    }

    fn step_finished(
        &mut self,
        run_id: &str,
        step: &StepRow<'_>,
    ) -> Result<(), tokio_postgres::Error> {
        self.execute(
            "INSERT INTO steps (run_id, step, status, attempts, duration_ms, fuel, kind, output, failure, seq, memory_peak)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (run_id, step) DO UPDATE SET status = excluded.status,
               attempts = excluded.attempts, duration_ms = excluded.duration_ms,
               fuel = excluded.fuel, kind = excluded.kind, output = excluded.output,
               failure = excluded.failure, memory_peak = excluded.memory_peak",
            &[
                &run_id,
                &step.step,
                &step.status.as_str(),
                &big(step.attempts),
                &step.duration_ms,
                &big(step.fuel),
                &step.kind,
                &step.output,
                &step.failure,
                &step.seq,
                &big(step.memory_peak_bytes),
            ],
        )
        .map(drop)
    }

    fn step_skipped(
        &mut self,
        run_id: &str,
        step: &str,
        seq: i64,
    ) -> Result<(), tokio_postgres::Error> {
        self.execute(
            "INSERT INTO steps (run_id, step, status, attempts, duration_ms, fuel, seq)
             VALUES ($1, $2, 'skipped', 0, 0, 0, $3)
             ON CONFLICT (run_id, step) DO UPDATE SET status = 'skipped'",
            &[&run_id, &step, &seq],
        )
        .map(drop)
    }

    fn step_waiting(&mut self, run_id: &str, step: &str) -> Result<(), tokio_postgres::Error> {
        self.execute(
            "UPDATE steps SET status = 'waiting' WHERE run_id = $1 AND step = $2",
            &[&run_id, &step],
        )
        .map(drop)
    }

    fn run_status(&mut self, run_id: &str, status: RunStatus) -> Result<(), tokio_postgres::Error> {
        self.execute(
            "UPDATE runs SET status = $2 WHERE id = $1",
            &[&run_id, &status.as_str()],
        )
        .map(drop)
    }

    fn run_finished(
        &mut self,
        run_id: &str,
        status: RunStatus,
        error: Option<&Value>,
        outputs: Option<&Value>,
    ) -> Result<(), tokio_postgres::Error> {
        self.execute(
            "UPDATE runs SET status = $2, error = $3, outputs = $4, owner = NULL, lease_expires = NULL, requested = NULL WHERE id = $1",
            &[
                &run_id,
                &status.as_str(),
                &error.map(Value::to_string),
                &outputs.map(Value::to_string),
            ],
        )?;
        // Its concurrency slot is free, or its driver has room.
        self.notify_work()
    }

    fn signal_taken(
        &mut self,
        run_id: &str,
        signal: i64,
        step: &str,
        at: f64,
    ) -> Result<(), tokio_postgres::Error> {
        self.execute(
            "UPDATE signals SET taken_by = $3, taken_at = $4 WHERE run_id = $1 AND seq = $2",
            &[&run_id, &signal, &step, &at],
        )
        .map(drop)
    }
}
