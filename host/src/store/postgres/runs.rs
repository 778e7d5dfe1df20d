//! [`RunStore`] for PostgreSQL: runs, their leases, requests from other
//! processes, the journal's appends, and the reads `list`, `status`,
//! `logs` and `resume` make — the same statements as SQLite's, in
//! PostgreSQL's dialect.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use tokio_postgres::Row;

use super::{PostgresStore, Tx, WriteError, big, unsigned};
use crate::engine::resume::RecordedAttempt;
use crate::engine::{
    AttemptKey, AttemptResult, Event, RunStatus, Signal, StepFailure, StepStatus, Stop,
};
use crate::store::lease::{Lease, Owner, lease_ttl};
use crate::store::policy::{self, SlotDecision};
use crate::store::records::{
    Admission, AuditEntry, Batch, CallVerdict, CircuitAdmission, CircuitRecord, CircuitRule,
    Delivery, DeliveryRecord, EventRecord, NewRun, NewSignal, Parent, RunFilter, RunRecord,
    SignalSent, StepRecord, TickOutcome, TickRecord, TokenRecord, WorkerRecord,
};
use crate::store::{MAX_DELIVERIES, RunStore, StoreError};

/// `runs.trace_export`: to be exported once the run ends.
const TRACE_DUE: i64 = 1;
/// `runs.trace_export`: an exporter took it (sent, or being sent).
const TRACE_CLAIMED: i64 = 2;

macro_rules! run_select {
    ($rest:literal) => {
        concat!(
            "SELECT id, name, path, workflow_digest, inputs, status, error, requested, owner, lease_expires, created_at, updated_at, workspace, started_by, trigger_data, concurrency_key, parent_run, parent_step, outputs, trace_id, trace_parent, idempotency_key FROM runs ",
            $rest
        )
    };
}

fn json(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

fn run_from_row(row: &Row) -> RunRecord {
    let id: String = row.get(0);
    RunRecord {
        name: row.get(1),
        path: row.get(2),
        workflow_digest: row.get(3),
        inputs: json(row.get(4)).unwrap_or(Value::Null),
        status: RunStatus::parse(row.get(5)).unwrap_or(RunStatus::Failed),
        error: json(row.get(6)),
        requested: row.get::<_, Option<&str>>(7).and_then(Stop::parse),
        owner: row.get(8),
        lease_expires: row.get(9),
        created_at: row.get(10),
        updated_at: row.get(11),
        workspace: row.get(12),
        started_by: row.get(13),
        trigger: json(row.get(14))
            .and_then(|value| serde_json::from_value(value).ok())
            .unwrap_or_default(),
        concurrency_key: row.get(15),
        parent: match (row.get::<_, Option<String>>(16), row.get(17)) {
            (Some(run), Some(step)) => Some(Parent { run, step }),
            _ => None,
        },
        outputs: json(row.get(18)),
        trace_id: row
            .get::<_, Option<String>>(19)
            .unwrap_or_else(|| crate::trace::trace_id_of_run(&id)),
        trace_parent: row.get(20),
        idempotency_key: row.get(21),
        id,
    }
}

impl RunStore for PostgresStore {
    fn create_run(&mut self, run: &NewRun<'_>, owner: &Owner) -> Result<Admission, StoreError> {
        let at = self.now();
        let lease = Lease {
            run_id: run.id.to_string(),
            owner: owner.clone(),
            epoch: 1,
            expires_at: at + lease_ttl().as_secs_f64(),
        };
        self.write("cannot record the new run", |tx| {
            if let Some(key) = run.idempotency_key {
                tx.lock(&format!("idempotency:{key}"))?;
                if let Some(first) =
                    tx.row("SELECT id FROM runs WHERE idempotency_key = $1", &[&key])?
                {
                    return Err(StoreError::DuplicateKey { run: first.get(0) }.into());
                }
            }
            let admission = admission(tx, run, &lease)?;
            let (status, owner_id, error) = policy::admitted_as(run, &admission, owner.id());
            tx.execute(
                "INSERT INTO workflows (digest, name, text) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&run.workflow_digest, &run.name, &run.workflow_text],
            )?;
            tx.execute(
                "INSERT INTO runs (id, workflow_digest, name, path, workspace, inputs, status, owner, lease_epoch, lease_expires, created_at, updated_at, started_by, idempotency_key, trigger_data, concurrency_key, concurrency_limit, error, parent_run, parent_step, trace_id, trace_parent, trace_export)
                 VALUES ($1, $2, $3, $4, $5, $6, $14, $7, $8, $9, $10, $10, $11, $12, $13, $15, $16, $17, $18, $19, $20, $21, $22)",
                &[
                    &run.id,
                    &run.workflow_digest,
                    &run.name,
                    &run.path,
                    &run.workspace,
                    &run.inputs.to_string(),
                    &owner_id,
                    &lease.epoch,
                    &owner_id.map(|_| lease.expires_at),
                    &at,
                    &run.started_by,
                    &run.idempotency_key,
                    &run.trigger.to_value().to_string(),
                    &status,
                    &run.slot.map(|s| s.key),
                    &run.slot.map(|s| i64::from(s.limit)),
                    &error,
                    &run.parent.map(|p| p.run),
                    &run.parent.map(|p| p.step),
                    &run.trace_id,
                    &run.trace_parent,
                    &run.export_trace.then_some(TRACE_DUE),
                ],
            )?;
            record_modules(tx, run.id, run.modules)?;
            if matches!(admission, Admission::Queued { .. }) {
                tx.notify_work()?;
            }
            Ok(admission)
        })
    }

    fn admit(&mut self, id: &str, owner: &Owner) -> Result<Option<Lease>, StoreError> {
        let now = self.now();
        self.write("cannot start the queued run", |tx| {
                        // A run another process is admitting is skipped, not waited for.
            let Some(row) = tx.row(
                "SELECT status, concurrency_key, concurrency_limit, lease_epoch FROM runs WHERE id = $1
                 FOR UPDATE SKIP LOCKED",
                &[&id],
            )?
            else {
                return match tx.row("SELECT 1 FROM runs WHERE id = $1", &[&id])? {
                    Some(_) => Ok(None),
                    None => Err(StoreError::UnknownRun(id.to_string()).into()),
                };
            };
            let (status, key, limit, epoch): (String, Option<String>, Option<i64>, i64) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            if status != "queued" {
                return Err(StoreError::Refused(format!(
                    "run {id} is not queued any more ({status})"
                ))
                .into());
            }
                        // A key's slots are counted by one process at a time.
            if let Some(key) = &key {
                tx.lock(&slot_lock(Some(key)))?;
            }
            // First in its queue (its key's, or the runs without a key that
            // a server held back) of those no other process is admitting,
            // and its key's slot free.
            let first: Option<String> = tx
                .row(
                    "SELECT id FROM runs WHERE concurrency_key IS NOT DISTINCT FROM $1 AND status = 'queued'
                     ORDER BY created_at, ordinal LIMIT 1 FOR UPDATE SKIP LOCKED",
                    &[&key],
                )?
                .map(|row| row.get(0));
            if first.as_deref() != Some(id) {
                return Ok(None);
            }
            if let (Some(key), Some(limit)) = (&key, limit)
                && big(holders(tx, key)?.len()) >= limit
            {
                return Ok(None);
            }
            let lease = Lease {
                run_id: id.to_string(),
                owner: owner.clone(),
                epoch: epoch + 1,
                expires_at: now + lease_ttl().as_secs_f64(),
            };
            tx.execute(
                "UPDATE runs SET status = 'running', owner = $2, lease_epoch = $3, lease_expires = $4, updated_at = $5 WHERE id = $1",
                &[&id, &owner.id(), &lease.epoch, &lease.expires_at, &now],
            )?;
            Ok(Some(lease))
        })
    }

    fn slot_holders(&self, key: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .rows("cannot read concurrency slots", HOLDERS, &[&key])?
            .iter()
            .map(|row| row.get(0))
            .collect())
    }

    fn run(&self, id: &str) -> Result<RunRecord, StoreError> {
        self.row("cannot read the run", run_select!("WHERE id = $1"), &[&id])?
            .map(|row| run_from_row(&row))
            .ok_or_else(|| StoreError::UnknownRun(id.to_string()))
    }

    fn count_runs(&self, status: RunStatus) -> Result<u64, StoreError> {
        Ok(unsigned(
            self.one(
                "cannot count runs",
                "SELECT count(*) FROM runs WHERE status = $1",
                &[&status.as_str()],
            )?
            .get(0),
        ))
    }

    fn children(&self, id: &str) -> Result<Vec<RunRecord>, StoreError> {
        Ok(self
            .rows(
                "cannot list child runs",
                run_select!("WHERE parent_run = $1 ORDER BY created_at, id"),
                &[&id],
            )?
            .iter()
            .map(run_from_row)
            .collect())
    }

    fn runs(&self, status: Option<RunStatus>) -> Result<Vec<RunRecord>, StoreError> {
        Ok(self
            .rows(
                "cannot list runs",
                run_select!("WHERE $1::text IS NULL OR status = $1 ORDER BY created_at DESC, id"),
                &[&status.map(RunStatus::as_str)],
            )?
            .iter()
            .map(run_from_row)
            .collect())
    }

    fn recent_runs(&self, filter: &RunFilter<'_>) -> Result<Vec<RunRecord>, StoreError> {
        Ok(self
            .rows(
                "cannot list runs",
                run_select!(
                    "WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR name = $2)
                       AND ($3::text IS NULL OR trigger_data::jsonb ->> 'kind' = $3)
                     ORDER BY created_at DESC, id LIMIT $4"
                ),
                &[
                    &filter.status.map(RunStatus::as_str),
                    &filter.workflow,
                    &filter.trigger,
                    &big(filter.limit),
                ],
            )?
            .iter()
            .map(run_from_row)
            .collect())
    }

    fn steps(&self, id: &str) -> Result<Vec<StepRecord>, StoreError> {
        let rows = self.rows(
            "cannot read steps",
            "SELECT step, status, attempts, duration_ms, fuel, kind, output, failure, memory_peak
             FROM steps WHERE run_id = $1 ORDER BY seq",
            &[&id],
        )?;
        Ok(rows
            .iter()
            .map(|row| StepRecord {
                step: row.get(0),
                status: StepStatus::parse(row.get(1)).unwrap_or(StepStatus::Failed),
                attempts: unsigned(row.get(2)),
                duration_ms: row.get(3),
                fuel: unsigned(row.get(4)),
                kind: row.get(5),
                output: row.get::<_, Option<&str>>(6).map(|text| self.decode(text)),
                failure: json(row.get(7)),
                memory_peak_bytes: unsigned(row.get(8)),
            })
            .collect())
    }

    fn events(
        &self,
        id: &str,
        step: Option<&str>,
        after: i64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let rows = self.rows(
            "cannot read events",
            "SELECT seq, step, kind, body, at, payload FROM events
             WHERE run_id = $1 AND seq > $2 AND ($3::text IS NULL OR step = $3) ORDER BY seq",
            &[&id, &after, &step],
        )?;
        Ok(rows
            .iter()
            .map(|row| {
                let kind: String = row.get(2);
                let mut body = json(row.get(3)).unwrap_or(Value::Null);
                // The event's data, stored apart, goes back where it was.
                if let (Some(payload), Some(field), Value::Object(fields)) = (
                    row.get::<_, Option<&str>>(5),
                    Event::data_field(&kind),
                    &mut body,
                ) {
                    fields.insert(field.to_string(), self.decode(payload));
                }
                EventRecord {
                    seq: row.get(0),
                    step: row.get(1),
                    kind,
                    body,
                    at: row.get(4),
                }
            })
            .collect())
    }

    fn run_modules(&self, id: &str) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .rows(
                "cannot read the run's modules",
                "SELECT reference, digest FROM run_modules WHERE run_id = $1 ORDER BY reference",
                &[&id],
            )?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect())
    }

    fn workflow_text(&self, digest: &str) -> Result<String, StoreError> {
        self.row(
            "cannot read the run's workflow",
            "SELECT text FROM workflows WHERE digest = $1",
            &[&digest],
        )?
        .map(|row| row.get(0))
        .ok_or_else(|| {
            StoreError::Refused(format!(
                "the workflow with sha256 {digest} is not in {}",
                self.target
            ))
        })
    }

    fn attempts(&self, id: &str) -> Result<Vec<RecordedAttempt>, StoreError> {
        // A success's output is the payload of its `step_succeeded` event
        // (the attempt's `seq`); a failure is the row's `result`.
        let rows = self.rows(
            "cannot read attempts",
            "SELECT a.step, a.visit, a.item, a.iteration, a.attempt, a.status, a.result,
                    a.duration_ms, a.fuel, a.memory_peak, a.seq, a.complete,
                    coalesce(a.started_seq, a.seq), e.payload
             FROM attempts a LEFT JOIN events e ON e.seq = a.seq AND e.kind = 'step_succeeded'
             WHERE a.run_id = $1 AND a.status != 'running' ORDER BY a.seq",
            &[&id],
        )?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let key = AttemptKey {
                    step: row.get(0),
                    visit: unsigned(row.get(1)),
                    item: usize::try_from(row.get::<_, i64>(2)).ok(),
                    iteration: unsigned(row.get(3)),
                    attempt: unsigned(row.get(4)),
                };
                let payload: Option<&str> = row.get(13);
                let mut complete: bool = row.get(11);
                let outcome = if row.get::<_, &str>(5) == "succeeded" {
                    if payload.is_none() {
                        // Not kept whole: it runs again.
                        complete = false;
                    }
                    Ok(Arc::new(payload.map_or(Value::Null, |p| self.decode(p))))
                } else {
                    match serde_json::from_str::<StepFailure>(row.get(6)) {
                        Ok(failure) => Err(failure),
                        Err(error) => {
                            tracing::warn!(
                                "run {id}: attempt {key:?} has an unreadable failure ({error}); it runs again on resume"
                            );
                            return None;
                        }
                    }
                };
                Some(RecordedAttempt {
                    result: AttemptResult::measured(
                        outcome,
                        row.get(7),
                        unsigned(row.get(8)),
                        unsigned(row.get(9)),
                    ),
                    key,
                    seq: row.get(10),
                    started: row.get(12),
                    complete,
                })
            })
            .collect())
    }

    fn claim(
        &mut self,
        id: &str,
        owner: &Owner,
        modules: &[(String, String)],
    ) -> Result<Lease, StoreError> {
        let now = self.now();
        self.write("cannot claim the run", |tx| {
            let row = tx
                .row(
                    "SELECT owner, lease_expires, lease_epoch FROM runs WHERE id = $1 FOR UPDATE",
                    &[&id],
                )?
                .ok_or_else(|| StoreError::UnknownRun(id.to_string()))?;
                        let lease =
                policy::take_over(id, owner, (row.get(0), row.get(1), row.get(2)), now)?;
            tx.execute(
                "UPDATE runs SET status = 'running', owner = $2, lease_epoch = $3, lease_expires = $4,
                   requested = NULL, error = NULL, updated_at = $5 WHERE id = $1",
                &[&id, &owner.id(), &lease.epoch, &lease.expires_at, &now],
            )?;
            record_modules(tx, id, modules)?;
            Ok(lease)
        })
    }

    fn renew(&mut self, lease: &mut Lease) -> Result<(), StoreError> {
        let expires_at = self.now() + lease_ttl().as_secs_f64();
        self.write("cannot renew the run's lease", |tx| {
            hold(tx, lease, expires_at)
        })?;
        lease.expires_at = expires_at;
        Ok(())
    }

    fn append_many(&mut self, batches: &mut [Batch<'_>]) -> Result<(), StoreError> {
        let now = self.now();
        let expires_at = now + lease_ttl().as_secs_f64();
        let mut recorder = std::mem::take(&mut self.recorder);
        let written = self.write("cannot journal the runs", |tx| {
            recorder.append(tx, batches, now, expires_at)
        });
        if written.is_err() {
            recorder.forget(None);
        }
        self.recorder = recorder;
        written?;
        Batch::renewed(batches, expires_at);
        Ok(())
    }

    fn step_ends(&self, id: &str) -> Result<HashMap<String, u32>, StoreError> {
        Ok(self
            .rows(
                "cannot read the run's journal",
                "SELECT step, count(*) FROM events WHERE run_id = $1
                   AND kind IN ('step_finished', 'step_skipped') AND step IS NOT NULL GROUP BY step",
                &[&id],
            )?
            .iter()
            .map(|row| (row.get(0), unsigned(row.get(1))))
            .collect())
    }

    fn request(&mut self, id: &str, stop: Stop) -> Result<bool, StoreError> {
        let run = self.run(id)?;
        let stop = policy::escalate(stop, run.requested);
        if run.is_driven() {
            self.execute(
                "cannot record the request",
                "UPDATE runs SET requested = $2 WHERE id = $1",
                &[&id, &stop.as_str()],
            )?;
            return Ok(true);
        }
        policy::stop_unowned(id, stop, run.status)?;
        self.set_status(id, RunStatus::Cancelled)?;
        Ok(false)
    }

    fn requested(&self, id: &str) -> Result<Option<Stop>, StoreError> {
        Ok(self
            .row(
                "cannot read requests",
                "SELECT requested FROM runs WHERE id = $1",
                &[&id],
            )?
            .and_then(|row| row.get::<_, Option<&str>>(0).and_then(Stop::parse)))
    }

    fn requested_of(&self, owner: &Owner) -> Result<Vec<(String, Stop)>, StoreError> {
        Ok(self
            .rows(
                "cannot read requests",
                "SELECT id, requested FROM runs WHERE owner = $1 AND requested IS NOT NULL",
                &[&owner.id()],
            )?
            .iter()
            .filter_map(|row| Some((row.get(0), Stop::parse(row.get(1))?)))
            .collect())
    }

    fn set_status(&mut self, id: &str, status: RunStatus) -> Result<(), StoreError> {
        let now = self.now();
        self.write("cannot update the run", |tx| {
            tx.execute(
                "UPDATE runs SET status = $2, owner = NULL, lease_expires = NULL, requested = NULL, updated_at = $3 WHERE id = $1",
                &[&id, &status.as_str(), &now],
            )?;
            // A run handed to the workers, or a slot freed.
            tx.notify_work()?;
            Ok(())
        })
    }

    fn listen_for_work(&mut self, wake: std::sync::mpsc::Sender<()>) -> Result<bool, StoreError> {
        PostgresStore::listen_for_work(self, wake).map(|()| true)
    }

    fn prune(&mut self, cutoff: f64) -> Result<usize, StoreError> {
        self.write("cannot prune", |tx| {
            let pruned = tx.execute(
                "DELETE FROM runs WHERE status IN ('succeeded', 'failed', 'cancelled') AND updated_at < $1",
                &[&cutoff],
            )?;
            tx.execute(
                "DELETE FROM workflows w WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.workflow_digest = w.digest)",
                &[],
            )?;
            tx.execute(
                "DELETE FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM run_blobs r WHERE r.digest = b.digest)",
                &[],
            )?;
            Ok(usize::try_from(pruned).unwrap_or(usize::MAX))
        })
    }

    fn add_token(&mut self, name: &str, digest: &[u8; 32]) -> Result<(), StoreError> {
        let at = self.now();
        let added = self.execute(
            "cannot record the token",
            "INSERT INTO tokens (name, digest, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&name, &digest.as_slice(), &at],
        )?;
        if added == 0 {
            return Err(StoreError::Refused(format!(
                "a token named `{name}` exists already; revoke it first (`wfhost token revoke {name}`) or choose another name"
            )));
        }
        Ok(())
    }

    fn remove_token(&mut self, name: &str) -> Result<bool, StoreError> {
        Ok(self.execute(
            "cannot revoke the token",
            "DELETE FROM tokens WHERE name = $1",
            &[&name],
        )? > 0)
    }

    fn token_named_by(&self, digest: &[u8; 32]) -> Result<Option<String>, StoreError> {
        Ok(self
            .row(
                "cannot read tokens",
                "SELECT name FROM tokens WHERE digest = $1",
                &[&digest.as_slice()],
            )?
            .map(|row| row.get(0)))
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(self
            .rows(
                "cannot read tokens",
                "SELECT name, created_at FROM tokens ORDER BY name",
                &[],
            )?
            .iter()
            .map(|row| TokenRecord {
                name: row.get(0),
                created_at: row.get(1),
            })
            .collect())
    }

    fn record_tick(
        &mut self,
        schedule: &str,
        at: f64,
        outcome: TickOutcome,
        run_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = self.now();
        self.execute(
            "cannot record a schedule tick",
            "INSERT INTO schedule_ticks (schedule, at, outcome, run_id, recorded_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (schedule, at) DO UPDATE SET outcome = excluded.outcome,
               run_id = coalesce(excluded.run_id, schedule_ticks.run_id), recorded_at = excluded.recorded_at",
            &[&schedule, &at, &outcome.as_str(), &run_id, &now],
        )
        .map(drop)
    }

    fn set_schedule_paused(
        &mut self,
        schedule: &str,
        paused: bool,
        by: &str,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let action = "cannot record the schedule's pause";
        if paused {
            self.execute(
                action,
                "INSERT INTO schedule_pauses (schedule, paused_at, paused_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&schedule, &now, &by],
            )
        } else {
            self.execute(
                action,
                "DELETE FROM schedule_pauses WHERE schedule = $1",
                &[&schedule],
            )
        }
        .map(drop)
    }

    fn paused_schedules(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .rows(
                "cannot read paused schedules",
                "SELECT schedule FROM schedule_pauses ORDER BY schedule",
                &[],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect())
    }

    fn ticks(&self, schedule: &str, limit: usize) -> Result<Vec<TickRecord>, StoreError> {
        Ok(self
            .rows(
                "cannot read schedule ticks",
                "SELECT at, outcome, run_id FROM schedule_ticks WHERE schedule = $1 ORDER BY at DESC LIMIT $2",
                &[&schedule, &big(limit)],
            )?
            .iter()
            .filter_map(|row| {
                Some(TickRecord {
                    at: row.get(0),
                    outcome: TickOutcome::parse(row.get(1))?,
                    run_id: row.get(2),
                })
            })
            .collect())
    }

    fn record_delivery(&mut self, delivery: &Delivery<'_>) -> Result<(), StoreError> {
        let at = self.now();
        self.write("cannot record a webhook delivery", |tx| {
            tx.execute(
                "INSERT INTO webhook_deliveries (path, workflow, at, status, outcome, reason, run_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &delivery.path,
                    &delivery.workflow,
                    &at,
                    &i64::from(delivery.status),
                    &delivery.outcome,
                    &delivery.reason,
                    &delivery.run_id,
                ],
            )?;
            tx.execute(
                "DELETE FROM webhook_deliveries WHERE path = $1 AND seq <= (
                   SELECT seq FROM webhook_deliveries WHERE path = $1
                   ORDER BY seq DESC LIMIT 1 OFFSET $2)",
                &[&delivery.path, &big(MAX_DELIVERIES)],
            )?;
            Ok(())
        })
    }

    fn deliveries(&self, path: &str, limit: usize) -> Result<Vec<DeliveryRecord>, StoreError> {
        Ok(self
            .rows(
                "cannot read webhook deliveries",
                "SELECT at, workflow, status, outcome, reason, run_id FROM webhook_deliveries
                 WHERE path = $1 ORDER BY seq DESC LIMIT $2",
                &[&path, &big(limit)],
            )?
            .iter()
            .map(|row| DeliveryRecord {
                at: row.get(0),
                workflow: row.get(1),
                status: unsigned(row.get(2)),
                outcome: row.get(3),
                reason: row.get(4),
                run_id: row.get(5),
            })
            .collect())
    }

    fn orphans(&self) -> Result<Vec<String>, StoreError> {
        let now = self.now();
        Ok(self
            .rows(
                "cannot look for runs to take over",
                policy::orphan_candidates!(),
                &[&now, &crate::store::lease::local_owners()],
            )?
            .iter()
            .filter(|row| policy::orphaned(row.get(1), row.get(2), row.get(3), now))
            .map(|row| row.get(0))
            .collect())
    }

    fn worker_seen(&mut self, owner: &Owner, slots: u32) -> Result<(), StoreError> {
        let now = self.now();
        self.execute(
            "cannot record the worker",
            "INSERT INTO workers (id, slots, started_at, seen_at) VALUES ($1, $2, $3, $3)
             ON CONFLICT (id) DO UPDATE SET slots = excluded.slots, seen_at = excluded.seen_at",
            &[&owner.id(), &i64::from(slots), &now],
        )
        .map(drop)
    }

    fn worker_gone(&mut self, owner: &Owner) -> Result<(), StoreError> {
        self.execute(
            "cannot record the worker's end",
            "DELETE FROM workers WHERE id = $1",
            &[&owner.id()],
        )
        .map(drop)
    }

    fn workers(&self, since: f64) -> Result<Vec<WorkerRecord>, StoreError> {
        Ok(self
            .rows(
                "cannot read the workers",
                "SELECT id, slots, started_at, seen_at FROM workers WHERE seen_at >= $1 ORDER BY id",
                &[&since],
            )?
            .iter()
            .map(|row| WorkerRecord {
                id: row.get(0),
                slots: unsigned(row.get(1)),
                started_at: row.get(2),
                seen_at: row.get(3),
            })
            .collect())
    }

    fn audit(&mut self, entry: &AuditEntry<'_>) -> Result<(), StoreError> {
        let at = self.now();
        self.execute(
            "cannot write the audit log",
            "INSERT INTO audit (at, actor, action, run_id, detail) VALUES ($1, $2, $3, $4, $5)",
            &[
                &at,
                &entry.actor,
                &entry.action,
                &entry.run_id,
                &entry.detail,
            ],
        )
        .map(drop)
    }

    fn send_signal(&mut self, signal: &NewSignal<'_>) -> Result<SignalSent, StoreError> {
        let now = self.now();
        self.write("cannot record the signal", |tx| {
            // Signals are numbered in the order they commit (a reader that
            // saw number n never misses a later commit with a smaller one).
            tx.batch("LOCK TABLE signals IN SHARE ROW EXCLUSIVE MODE")?;
            let status: String = tx
                .row("SELECT status FROM runs WHERE id = $1", &[&signal.run_id])?
                .ok_or_else(|| StoreError::UnknownRun(signal.run_id.to_string()))?
                .get(0);
            // A repeat is answered with the first, even once the run ended.
            if let Some(key) = signal.idempotency_key
                && let Some(first) = tx.row(
                    "SELECT seq FROM signals WHERE run_id = $1 AND idempotency_key = $2",
                    &[&signal.run_id, &key],
                )?
            {
                return Ok(SignalSent {
                    seq: first.get(0),
                    duplicate: true,
                });
            }
            if RunStatus::parse(&status).is_some_and(RunStatus::is_ended) {
                return Err(StoreError::Refused(format!(
                    "run {} has ended ({status}); a signal can no longer reach it",
                    signal.run_id
                ))
                .into());
            }
            let seq = tx
                .one(
                    "INSERT INTO signals (run_id, name, payload, sent_by, sent_at, idempotency_key)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
                    &[
                        &signal.run_id,
                        &signal.name,
                        &signal.payload.to_string(),
                        &signal.sent_by,
                        &now,
                        &signal.idempotency_key,
                    ],
                )?
                .get(0);
            Ok(SignalSent {
                seq,
                duplicate: false,
            })
        })
    }

    fn signals(&self, id: &str, after: i64) -> Result<Vec<Signal>, StoreError> {
        Ok(self
            .untaken_signals(Some(id), after)?
            .into_iter()
            .map(|(_, signal)| signal)
            .collect())
    }

    fn signals_after(&self, after: i64) -> Result<Vec<(String, Signal)>, StoreError> {
        self.untaken_signals(None, after)
    }

    fn waits(&self, id: &str) -> Result<Vec<(AttemptKey, Option<String>)>, StoreError> {
        Ok(self
            .rows(
                "cannot read waits",
                "SELECT body FROM events WHERE run_id = $1 AND kind = 'step_waiting' ORDER BY seq",
                &[&id],
            )?
            .iter()
            .filter_map(|row| match serde_json::from_str(row.get(0)) {
                Ok(Event::StepWaiting { key, deadline, .. }) => Some((key, deadline)),
                _ => None,
            })
            .collect())
    }

    fn admit_call(&mut self, rule: &CircuitRule<'_>) -> Result<CircuitAdmission, StoreError> {
        self.admit_guarded_call(rule)
    }

    fn record_call(
        &mut self,
        rule: &CircuitRule<'_>,
        probe: bool,
        verdict: &CallVerdict,
    ) -> Result<(), StoreError> {
        self.record_guarded_call(rule, probe, verdict)
    }

    fn circuits(&self) -> Result<Vec<CircuitRecord>, StoreError> {
        self.circuit_records()
    }

    fn reset_circuit(&mut self, key: &str) -> Result<bool, StoreError> {
        self.close_circuit(key)
    }

    fn traces_due(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        Ok(self
            .rows(
                "cannot list the traces due for export",
                "SELECT id FROM runs WHERE trace_export = $1
                   AND status IN ('succeeded', 'failed', 'cancelled')
                 ORDER BY updated_at, id LIMIT $2",
                &[&TRACE_DUE, &big(limit)],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect())
    }

    fn claim_trace(&mut self, id: &str) -> Result<bool, StoreError> {
        self.move_trace(id, TRACE_DUE, TRACE_CLAIMED)
    }

    fn release_trace(&mut self, id: &str) -> Result<(), StoreError> {
        self.move_trace(id, TRACE_CLAIMED, TRACE_DUE).map(drop)
    }
}

impl PostgresStore {
    /// Untaken signals after `after`, of run `id` or of every run.
    fn untaken_signals(
        &self,
        id: Option<&str>,
        after: i64,
    ) -> Result<Vec<(String, Signal)>, StoreError> {
        Ok(self
            .rows(
                "cannot read signals",
                "SELECT seq, name, payload, sent_by, run_id FROM signals
                 WHERE ($1::text IS NULL OR run_id = $1) AND seq > $2 AND taken_by IS NULL ORDER BY seq",
                &[&id, &after],
            )?
            .iter()
            .map(|row| {
                (
                    row.get(4),
                    Signal {
                        seq: row.get(0),
                        name: row.get(1),
                        payload: Arc::new(serde_json::from_str(row.get(2)).unwrap_or(Value::Null)),
                        sent_by: row.get(3),
                    },
                )
            })
            .collect())
    }

    /// Move run `id`'s trace from export state `from` to `to`; whether it was in `from`.
    fn move_trace(&self, id: &str, from: i64, to: i64) -> Result<bool, StoreError> {
        Ok(self.execute(
            "cannot record a trace's export",
            "UPDATE runs SET trace_export = $3 WHERE id = $1 AND trace_export = $2",
            &[&id, &from, &to],
        )? == 1)
    }
}

const HOLDERS: &str = "SELECT id FROM runs WHERE concurrency_key = $1 AND status IN ('running', 'waiting') ORDER BY created_at, ordinal";

/// The runs holding slots of `key`, oldest first.
fn holders(tx: &mut Tx<'_>, key: &str) -> Result<Vec<String>, tokio_postgres::Error> {
    Ok(tx
        .rows(HOLDERS, &[&key])?
        .iter()
        .map(|row| row.get(0))
        .collect())
}

/// The transaction lock of a concurrency key's slots (or of the runs
/// without a key a server held back).
fn slot_lock(key: Option<&str>) -> String {
    format!("slot:{}", key.unwrap_or(""))
}

/// Whether `run` may run now, waits, or is cancelled, as its slot says;
/// the holders asked to cancel for `cancel-running`.
fn admission(tx: &mut Tx<'_>, run: &NewRun<'_>, lease: &Lease) -> Result<Admission, WriteError> {
    tx.lock(&slot_lock(run.slot.map(|s| s.key)))?;
    let (held_by, queued) = match run.slot {
        Some(slot) if !run.hold => {
            let held_by = holders(tx, slot.key)?;
            let queued: i64 = tx
                .one(
                    "SELECT count(*) FROM runs WHERE concurrency_key = $1 AND status = 'queued'",
                    &[&slot.key],
                )?
                .get(0);
            (held_by, unsigned(queued))
        }
        Some(slot) => (holders(tx, slot.key)?, 0),
        None => (Vec::new(), 0),
    };
    match policy::admission(run, lease, held_by, queued)? {
        SlotDecision::Admitted(admission) => Ok(admission),
        SlotDecision::CancelHolders(admission) => {
            if let Admission::Queued { held_by } = &admission {
                for holder in held_by {
                    tx.execute(
                        "UPDATE runs SET requested = 'cancel' WHERE id = $1 AND status IN ('running', 'waiting')",
                        &[holder],
                    )?;
                }
            }
            Ok(admission)
        }
    }
}

/// The (module, digest) pairs a run is pinned to.
fn record_modules(
    tx: &mut Tx<'_>,
    run_id: &str,
    modules: &[(String, String)],
) -> Result<(), tokio_postgres::Error> {
    for (reference, digest) in modules {
        tx.execute(
            "INSERT INTO run_modules (run_id, reference, digest) VALUES ($1, $2, $3)
             ON CONFLICT (run_id, reference) DO UPDATE SET digest = excluded.digest",
            &[&run_id, reference, digest],
        )?;
    }
    Ok(())
}

/// Check that `lease` still holds its run and push its expiry to
/// `expires_at`: the fence every write of a run's journal passes first.
pub(super) fn hold(tx: &mut Tx<'_>, lease: &Lease, expires_at: f64) -> Result<(), WriteError> {
    let held = tx.execute(
        "UPDATE runs SET lease_expires = $4, updated_at = $5
         WHERE id = $1 AND owner = $2 AND lease_epoch = $3",
        &[
            &lease.run_id,
            &lease.owner.id(),
            &lease.epoch,
            &expires_at,
            &(expires_at - lease_ttl().as_secs_f64()),
        ],
    )?;
    if held == 1 {
        return Ok(());
    }
    let by: Option<String> = tx
        .row("SELECT owner FROM runs WHERE id = $1", &[&lease.run_id])?
        .and_then(|row| row.get(0));
    Err(StoreError::LeaseLost {
        run: lease.run_id.clone(),
        by: by.map(|id| Owner::from_id(id).to_string()),
    }
    .into())
}
