//! [`RunStore`] for SQLite: runs, their leases, requests from other
//! processes, the journal's appends, and the reads `list`, `status`,
//! `logs` and `resume` make.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde_json::Value;

use super::record::Writes;
use super::{SqliteStore, WriteError};
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

use super::traces::TRACE_DUE;

const RUN_COLUMNS: &str = "id, name, path, workflow_digest, inputs, status, error, requested, owner, lease_expires, created_at, updated_at, workspace, started_by, trigger_data, concurrency_key, parent_run, parent_step, outputs, trace_id, trace_parent, idempotency_key";

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
        requested: row
            .get::<_, Option<String>>(7)?
            .as_deref()
            .and_then(Stop::parse),
        owner: row.get(8)?,
        lease_expires: row.get(9)?,
        created_at: row.get(10)?,
        updated_at: row.get(11)?,
        workspace: row.get(12)?,
        started_by: row.get(13)?,
        trigger: json(row.get(14)?)
            .and_then(|value| serde_json::from_value(value).ok())
            .unwrap_or_default(),
        concurrency_key: row.get(15)?,
        parent: match (row.get::<_, Option<String>>(16)?, row.get(17)?) {
            (Some(run), Some(step)) => Some(Parent { run, step }),
            _ => None,
        },
        outputs: json(row.get(18)?),
        trace_id: match row.get::<_, Option<String>>(19)? {
            Some(trace_id) => trace_id,
            None => crate::trace::trace_id_of_run(&row.get::<_, String>(0)?),
        },
        trace_parent: row.get(20)?,
        idempotency_key: row.get(21)?,
    })
}

impl RunStore for SqliteStore {
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
                let first: Option<String> = tx
                    .query_row(
                        "SELECT id FROM runs WHERE idempotency_key = ?1",
                        [key],
                        |row| row.get(0),
                    )
                    .optional()?;
                if let Some(run) = first {
                    return Err(StoreError::DuplicateKey { run }.into());
                }
            }
            let admission = admission(tx, run, &lease)?;
            let (status, owner_id, error) = policy::admitted_as(run, &admission, owner.id());
            tx.execute(
                "INSERT OR IGNORE INTO workflows (digest, name, text) VALUES (?1, ?2, ?3)",
                params![run.workflow_digest, run.name, run.workflow_text],
            )?;
            tx.execute(
                "INSERT INTO runs (id, workflow_digest, name, path, workspace, inputs, status, owner, lease_epoch, lease_expires, created_at, updated_at, started_by, idempotency_key, trigger_data, concurrency_key, concurrency_limit, error, parent_run, parent_step, trace_id, trace_parent, trace_export)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?14, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
                params![
                    run.id,
                    run.workflow_digest,
                    run.name,
                    run.path,
                    run.workspace,
                    run.inputs.to_string(),
                    owner_id,
                    lease.epoch,
                    owner_id.map(|_| lease.expires_at),
                    at,
                    run.started_by,
                    run.idempotency_key,
                    run.trigger.to_value().to_string(),
                    status,
                    run.slot.map(|s| s.key),
                    run.slot.map(|s| s.limit),
                    error,
                    run.parent.map(|p| p.run),
                    run.parent.map(|p| p.step),
                    run.trace_id,
                    run.trace_parent,
                    run.export_trace.then_some(TRACE_DUE),
                ],
            )?;
            record_modules(tx, run.id, run.modules)?;
            Ok(admission)
        })
    }

    fn admit(&mut self, id: &str, owner: &Owner) -> Result<Option<Lease>, StoreError> {
        let now = self.now();
        self.write("cannot start the queued run", |tx| {
            let (status, key, limit, epoch): (String, Option<String>, Option<u32>, i64) = tx
                .query_row(
                    "SELECT status, concurrency_key, concurrency_limit, lease_epoch FROM runs WHERE id = ?1",
                    [id],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )
                .optional()?
                .ok_or_else(|| StoreError::UnknownRun(id.to_string()))?;
            if status != "queued" {
                return Err(StoreError::Refused(format!(
                    "run {id} is not queued any more ({status})"
                ))
                .into());
            }
            // First in its queue (its key's, or the runs without a key that
            // a server held back), and its key's slot free.
            let first: Option<String> = tx
                .query_row(
                    "SELECT id FROM runs WHERE concurrency_key IS ?1 AND status = 'queued' ORDER BY created_at, rowid LIMIT 1",
                    [&key],
                    |row| row.get(0),
                )
                .optional()?;
            if first.as_deref() != Some(id) {
                return Ok(None);
            }
            if let (Some(key), Some(limit)) = (&key, limit)
                && holders(tx, key)?.len() >= limit as usize
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
                "UPDATE runs SET status = 'running', owner = ?2, lease_epoch = ?3, lease_expires = ?4, updated_at = ?5 WHERE id = ?1",
                params![id, owner.id(), lease.epoch, lease.expires_at, now],
            )?;
            Ok(Some(lease))
        })
    }

    fn slot_holders(&self, key: &str) -> Result<Vec<String>, StoreError> {
        holders(&self.conn, key).map_err(self.error("cannot read concurrency slots"))
    }

    fn run(&self, id: &str) -> Result<RunRecord, StoreError> {
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

    fn count_runs(&self, status: RunStatus) -> Result<u64, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM runs WHERE status = ?1",
                [status.as_str()],
                |row| row.get(0),
            )
            .map_err(self.error("cannot count runs"))
    }

    fn children(&self, id: &str) -> Result<Vec<RunRecord>, StoreError> {
        self.rows(
            "cannot list child runs",
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE parent_run = ?1 ORDER BY created_at, id"
            ),
            [id],
            run_from_row,
        )
    }

    fn runs(&self, status: Option<RunStatus>) -> Result<Vec<RunRecord>, StoreError> {
        self.rows("cannot list runs", &format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE ?1 IS NULL OR status = ?1 ORDER BY created_at DESC, id"
            ), [status.map(RunStatus::as_str)], run_from_row)
    }

    fn recent_runs(&self, filter: &RunFilter<'_>) -> Result<Vec<RunRecord>, StoreError> {
        self.rows(
            "cannot list runs",
            &format!(
                "SELECT {RUN_COLUMNS} FROM runs
                 WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR name = ?2)
                   AND (?3 IS NULL OR trigger_data ->> '$.kind' = ?3)
                 ORDER BY created_at DESC, id LIMIT ?4"
            ),
            params![
                filter.status.map(RunStatus::as_str),
                filter.workflow,
                filter.trigger,
                i64::try_from(filter.limit).unwrap_or(i64::MAX)
            ],
            run_from_row,
        )
    }

    fn steps(&self, id: &str) -> Result<Vec<StepRecord>, StoreError> {
        self.rows(
            "cannot read steps",
            "SELECT step, status, attempts, duration_ms, fuel, kind, output, failure, memory_peak
                 FROM steps WHERE run_id = ?1 ORDER BY seq",
            [id],
            |row| {
                Ok(StepRecord {
                    step: row.get(0)?,
                    status: status(row, 1, StepStatus::parse)?,
                    attempts: row.get(2)?,
                    duration_ms: row.get(3)?,
                    fuel: row.get(4)?,
                    kind: row.get(5)?,
                    output: row
                        .get::<_, Option<String>>(6)?
                        .map(|text| self.decode(&text)),
                    failure: json(row.get(7)?),
                    memory_peak_bytes: row.get(8)?,
                })
            },
        )
    }

    /// Events of a run after `after` (a sequence number), optionally of one step.
    fn events(
        &self,
        id: &str,
        step: Option<&str>,
        after: i64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        self.rows(
            "cannot read events",
            "SELECT seq, step, kind, body, at, payload FROM events
             WHERE run_id = ?1 AND seq > ?2 AND (?3 IS NULL OR step = ?3) ORDER BY seq",
            params![id, after, step],
            |row| {
                let kind: String = row.get(2)?;
                let mut body = json(row.get(3)?).unwrap_or(Value::Null);
                // The event's data, stored apart, goes back where it was.
                if let (Some(payload), Some(field), Value::Object(fields)) = (
                    row.get::<_, Option<String>>(5)?,
                    Event::data_field(&kind),
                    &mut body,
                ) {
                    fields.insert(field.to_string(), self.decode(&payload));
                }
                Ok(EventRecord {
                    seq: row.get(0)?,
                    step: row.get(1)?,
                    kind,
                    body,
                    at: row.get(4)?,
                })
            },
        )
    }

    fn run_modules(&self, id: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.rows(
            "cannot read the run's modules",
            "SELECT reference, digest FROM run_modules WHERE run_id = ?1 ORDER BY reference",
            [id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
    }

    /// The workflow text a run started with.
    fn workflow_text(&self, digest: &str) -> Result<String, StoreError> {
        self.conn
            .query_row(
                "SELECT text FROM workflows WHERE digest = ?1",
                [digest],
                |row| row.get(0),
            )
            .map_err(self.error("cannot read the run's workflow"))
    }

    /// Every attempt recorded for a run, in the order they finished.
    fn attempts(&self, id: &str) -> Result<Vec<RecordedAttempt>, StoreError> {
        // A success's output is the payload of its `step_succeeded` event
        // (the attempt's `seq`); a failure is the row's `result`.
        let mut statement = self
            .conn
            .prepare(
                "SELECT a.step, a.visit, a.item, a.iteration, a.attempt, a.status, a.result,
                        a.duration_ms, a.fuel, a.memory_peak, a.seq, a.complete,
                        coalesce(a.started_seq, a.seq), e.payload
                 FROM attempts a LEFT JOIN events e ON e.seq = a.seq AND e.kind = 'step_succeeded'
                 WHERE a.run_id = ?1 AND a.status != 'running' ORDER BY a.seq",
            )
            .map_err(self.error("cannot read attempts"))?;
        let rows = statement
            .query_map([id], |row| {
                let item: i64 = row.get(2)?;
                let key = AttemptKey {
                    step: row.get(0)?,
                    visit: row.get(1)?,
                    item: usize::try_from(item).ok(),
                    iteration: row.get(3)?,
                    attempt: row.get(4)?,
                };
                let status: String = row.get(5)?;
                let result: String = row.get(6)?;
                let payload: Option<String> = row.get(13)?;
                let mut complete: bool = row.get(11)?;
                let outcome = if status == "succeeded" {
                    if payload.is_none() {
                        // Not kept whole: it runs again.
                        complete = false;
                    }
                    Ok(Arc::new(payload.map_or(Value::Null, |p| self.decode(&p))))
                } else {
                    match serde_json::from_str::<StepFailure>(&result) {
                        Ok(failure) => Err(failure),
                        Err(error) => {
                            tracing::warn!(
                                "run {id}: attempt {key:?} has an unreadable failure ({error}); it runs again on resume"
                            );
                            return Ok(None);
                        }
                    }
                };
                Ok(Some(RecordedAttempt {
                    result: AttemptResult::measured(
                        outcome,
                        row.get(7)?,
                        row.get(8)?,
                        row.get(9)?,
                    ),
                    key,
                    seq: row.get(10)?,
                    started: row.get(12)?,
                    complete,
                }))
            })
            .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
            .map_err(self.error("cannot read attempts"))?;
        Ok(rows.into_iter().flatten().collect())
    }

    fn claim(
        &mut self,
        id: &str,
        owner: &Owner,
        modules: &[(String, String)],
    ) -> Result<Lease, StoreError> {
        let now = self.now();
        self.write("cannot claim the run", |tx| {
                        let held = tx
                .query_row(
                    "SELECT owner, lease_expires, lease_epoch FROM runs WHERE id = ?1",
                    [id],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()?
                .ok_or_else(|| StoreError::UnknownRun(id.to_string()))?;
            let lease = policy::take_over(id, owner, held, now)?;
            tx.execute(
                "UPDATE runs SET status = 'running', owner = ?2, lease_epoch = ?3, lease_expires = ?4,
                   requested = NULL, error = NULL, updated_at = ?5 WHERE id = ?1",
                params![id, owner.id(), lease.epoch, lease.expires_at, now],
            )?;
            record_modules(tx, id, modules)?;
            Ok(lease)
        })
    }

    fn renew(&mut self, lease: &mut Lease) -> Result<(), StoreError> {
        let expires_at = self.now() + lease_ttl().as_secs_f64();
        self.write("cannot renew the run's lease", |tx| {
            hold(tx, lease, expires_at)?;
            Ok(())
        })?;
        lease.expires_at = expires_at;
        Ok(())
    }

    fn journal_only(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("PRAGMA foreign_keys=OFF")
            .map_err(self.error("cannot configure the journal's connection"))
    }

    fn append_many(&mut self, batches: &mut [Batch<'_>]) -> Result<(), StoreError> {
        let now = self.now();
        let expires_at = now + lease_ttl().as_secs_f64();
        let mut recorder = std::mem::take(&mut self.recorder);
        let written = self.write("cannot journal the runs", |tx| {
            recorder.append(&mut Writes(tx), batches, now, expires_at)
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
        self.conn
            .prepare_cached(
                "SELECT step, count(*) FROM events WHERE run_id = ?1
                   AND kind IN ('step_finished', 'step_skipped') GROUP BY step",
            )
            .and_then(|mut query| {
                query
                    .query_map(params![id], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect()
            })
            .map_err(self.error("cannot read the run's journal"))
    }

    fn request(&mut self, id: &str, stop: Stop) -> Result<bool, StoreError> {
        let run = self.run(id)?;
        let stop = policy::escalate(stop, run.requested);
        if run.is_driven() {
            self.conn
                .execute(
                    "UPDATE runs SET requested = ?2 WHERE id = ?1",
                    params![id, stop.as_str()],
                )
                .map_err(self.error("cannot record the request"))?;
            return Ok(true);
        }
        policy::stop_unowned(id, stop, run.status)?;
        self.set_status(id, RunStatus::Cancelled)?;
        Ok(false)
    }

    fn requested(&self, id: &str) -> Result<Option<Stop>, StoreError> {
        self.conn
            .prepare_cached("SELECT requested FROM runs WHERE id = ?1")
            .and_then(|mut query| {
                query
                    .query_row([id], |row| row.get::<_, Option<String>>(0))
                    .optional()
            })
            .map(|text| text.flatten().as_deref().and_then(Stop::parse))
            .map_err(self.error("cannot read requests"))
    }

    fn requested_of(&self, owner: &Owner) -> Result<Vec<(String, Stop)>, StoreError> {
        let rows: Vec<(String, String)> = self.rows(
            "cannot read requests",
            "SELECT id, requested FROM runs WHERE owner = ?1 AND requested IS NOT NULL",
            [owner.id()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, stop)| Some((id, Stop::parse(&stop)?)))
            .collect())
    }

    fn set_status(&mut self, id: &str, status: RunStatus) -> Result<(), StoreError> {
        let now = self.now();
        self.conn
            .execute(
                "UPDATE runs SET status = ?2, owner = NULL, lease_expires = NULL, requested = NULL, updated_at = ?3 WHERE id = ?1",
                params![id, status.as_str(), now],
            )
            .map_err(self.error("cannot update the run"))
            .map(drop)
    }

    /// Delete ended runs (succeeded, failed, cancelled) last updated before
    /// `cutoff` (seconds since the epoch), with all they recorded.
    fn prune(&mut self, cutoff: f64) -> Result<usize, StoreError> {
        self.write("cannot prune", |tx| {
            let pruned = tx.execute(
                "DELETE FROM runs WHERE status IN ('succeeded', 'failed', 'cancelled') AND updated_at < ?1",
                [cutoff],
            )?;
            tx.execute(
                "DELETE FROM workflows WHERE digest NOT IN (SELECT workflow_digest FROM runs)",
                [],
            )?;
            tx.execute(
                "DELETE FROM blobs WHERE digest NOT IN (SELECT digest FROM run_blobs)",
                [],
            )?;
            Ok(pruned)
        })
    }

    fn add_token(&mut self, name: &str, digest: &[u8; 32]) -> Result<(), StoreError> {
        let at = self.now();
        self.write("cannot record the token", |tx| {
            let added = tx.execute(
                "INSERT OR IGNORE INTO tokens (name, digest, created_at) VALUES (?1, ?2, ?3)",
                params![name, digest.as_slice(), at],
            )?;
            if added == 0 {
                return Err(StoreError::Refused(format!(
                    "a token named `{name}` exists already; revoke it first (`wfhost token revoke {name}`) or choose another name"
                ))
                .into());
            }
            Ok(())
        })
    }

    fn remove_token(&mut self, name: &str) -> Result<bool, StoreError> {
        self.conn
            .execute("DELETE FROM tokens WHERE name = ?1", [name])
            .map(|removed| removed > 0)
            .map_err(self.error("cannot revoke the token"))
    }

    fn token_named_by(&self, digest: &[u8; 32]) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached("SELECT name FROM tokens WHERE digest = ?1")
            .and_then(|mut query| {
                query
                    .query_row([digest.as_slice()], |row| row.get(0))
                    .optional()
            })
            .map_err(self.error("cannot read tokens"))
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.rows(
            "cannot read tokens",
            "SELECT name, created_at FROM tokens ORDER BY name",
            [],
            |row| {
                Ok(TokenRecord {
                    name: row.get(0)?,
                    created_at: row.get(1)?,
                })
            },
        )
    }

    fn record_tick(
        &mut self,
        schedule: &str,
        at: f64,
        outcome: TickOutcome,
        run_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = self.now();
        self.conn
            .prepare_cached(
                "INSERT INTO schedule_ticks (schedule, at, outcome, run_id, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (schedule, at) DO UPDATE SET outcome = excluded.outcome,
                   run_id = coalesce(excluded.run_id, run_id), recorded_at = excluded.recorded_at",
            )
            .and_then(|mut upsert| {
                upsert.execute(params![schedule, at, outcome.as_str(), run_id, now])
            })
            .map(drop)
            .map_err(self.error("cannot record a schedule tick"))
    }

    fn set_schedule_paused(
        &mut self,
        schedule: &str,
        paused: bool,
        by: &str,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let done = if paused {
            self.conn.execute(
                "INSERT OR IGNORE INTO schedule_pauses (schedule, paused_at, paused_by) VALUES (?1, ?2, ?3)",
                params![schedule, now, by],
            )
        } else {
            self.conn.execute(
                "DELETE FROM schedule_pauses WHERE schedule = ?1",
                [schedule],
            )
        };
        done.map(drop)
            .map_err(self.error("cannot record the schedule's pause"))
    }

    fn paused_schedules(&self) -> Result<Vec<String>, StoreError> {
        self.rows(
            "cannot read paused schedules",
            "SELECT schedule FROM schedule_pauses ORDER BY schedule",
            [],
            |row| row.get(0),
        )
    }

    fn ticks(&self, schedule: &str, limit: usize) -> Result<Vec<TickRecord>, StoreError> {
        self.rows("cannot read schedule ticks", "SELECT at, outcome, run_id FROM schedule_ticks WHERE schedule = ?1 ORDER BY at DESC LIMIT ?2", params![schedule, limit as i64], |row| {
                Ok(TickRecord {
                    at: row.get(0)?,
                    outcome: status(row, 1, TickOutcome::parse)?,
                    run_id: row.get(2)?,
                })
            })
    }

    fn record_delivery(&mut self, delivery: &Delivery<'_>) -> Result<(), StoreError> {
        let at = self.now();
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(self.error("cannot record a webhook delivery"))?;
        tx.prepare_cached(
            "INSERT INTO webhook_deliveries (path, workflow, at, status, outcome, reason, run_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut insert| {
            insert.execute(params![
                delivery.path,
                delivery.workflow,
                at,
                delivery.status,
                delivery.outcome,
                delivery.reason,
                delivery.run_id
            ])
        })
        .and_then(|_| {
            tx.prepare_cached(
                "DELETE FROM webhook_deliveries WHERE path = ?1 AND seq <= (
                   SELECT seq FROM webhook_deliveries WHERE path = ?1
                   ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
            )?
            .execute(params![delivery.path, MAX_DELIVERIES as i64])
        })
        .and_then(|_| tx.commit())
        .map_err(self.error("cannot record a webhook delivery"))
    }

    fn deliveries(&self, path: &str, limit: usize) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.rows(
            "cannot read webhook deliveries",
            "SELECT at, workflow, status, outcome, reason, run_id FROM webhook_deliveries
             WHERE path = ?1 ORDER BY seq DESC LIMIT ?2",
            params![path, limit as i64],
            |row| {
                Ok(DeliveryRecord {
                    at: row.get(0)?,
                    workflow: row.get(1)?,
                    status: row.get(2)?,
                    outcome: row.get(3)?,
                    reason: row.get(4)?,
                    run_id: row.get(5)?,
                })
            },
        )
    }

    fn orphans(&self) -> Result<Vec<String>, StoreError> {
        let now = self.now();
        let candidates: Vec<(String, String, Option<String>, Option<f64>)> = self.rows(
            "cannot look for runs to take over",
            policy::orphan_candidates!(),
            params![now, crate::store::lease::local_owners()],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )?;
        Ok(candidates
            .into_iter()
            .filter(|(_, status, owner, expires)| {
                policy::orphaned(status, owner.as_deref(), *expires, now)
            })
            .map(|(id, ..)| id)
            .collect())
    }

    fn worker_seen(&mut self, owner: &Owner, slots: u32) -> Result<(), StoreError> {
        let now = self.now();
        self.conn
            .prepare_cached(
                "INSERT INTO workers (id, slots, started_at, seen_at) VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT (id) DO UPDATE SET slots = excluded.slots, seen_at = excluded.seen_at",
            )
            .and_then(|mut upsert| upsert.execute(params![owner.id(), slots, now]))
            .map(drop)
            .map_err(self.error("cannot record the worker"))
    }

    fn worker_gone(&mut self, owner: &Owner) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM workers WHERE id = ?1", [owner.id()])
            .map(drop)
            .map_err(self.error("cannot record the worker's end"))
    }

    fn workers(&self, since: f64) -> Result<Vec<WorkerRecord>, StoreError> {
        self.rows(
            "cannot read the workers",
            "SELECT id, slots, started_at, seen_at FROM workers WHERE seen_at >= ?1 ORDER BY id",
            [since],
            |row| {
                Ok(WorkerRecord {
                    id: row.get(0)?,
                    slots: row.get(1)?,
                    started_at: row.get(2)?,
                    seen_at: row.get(3)?,
                })
            },
        )
    }

    fn audit(&mut self, entry: &AuditEntry<'_>) -> Result<(), StoreError> {
        let at = self.now();
        self.conn
            .prepare_cached(
                "INSERT INTO audit (at, actor, action, run_id, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut insert| {
                insert.execute(params![
                    at,
                    entry.actor,
                    entry.action,
                    entry.run_id,
                    entry.detail
                ])
            })
            .map(drop)
            .map_err(self.error("cannot write the audit log"))
    }

    fn send_signal(&mut self, signal: &NewSignal<'_>) -> Result<SignalSent, StoreError> {
        self.insert_signal(signal)
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
        self.begun_waits(id)
    }

    fn admit_call(&mut self, rule: &CircuitRule<'_>) -> Result<CircuitAdmission, StoreError> {
        SqliteStore::admit_call(self, rule)
    }

    fn record_call(
        &mut self,
        rule: &CircuitRule<'_>,
        probe: bool,
        verdict: &CallVerdict,
    ) -> Result<(), StoreError> {
        SqliteStore::record_call(self, rule, probe, verdict)
    }

    fn circuits(&self) -> Result<Vec<CircuitRecord>, StoreError> {
        self.circuit_records()
    }

    fn reset_circuit(&mut self, key: &str) -> Result<bool, StoreError> {
        self.close_circuit(key)
    }

    fn traces_due(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        self.ended_traces_due(limit)
    }

    fn claim_trace(&mut self, id: &str) -> Result<bool, StoreError> {
        self.set_trace_claimed(id, true)
    }

    fn release_trace(&mut self, id: &str) -> Result<(), StoreError> {
        self.set_trace_claimed(id, false).map(drop)
    }
}

/// The runs holding slots of `key`, oldest first.
fn holders(conn: &rusqlite::Connection, key: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare_cached(
        "SELECT id FROM runs WHERE concurrency_key = ?1 AND status IN ('running', 'waiting') ORDER BY created_at, rowid",
    )?
    .query_map([key], |row| row.get(0))?
    .collect()
}

/// Whether `run` may run now, waits, or is cancelled, as its slot says;
/// the holders asked to cancel for `cancel-running`.
fn admission(
    tx: &Transaction<'_>,
    run: &NewRun<'_>,
    lease: &Lease,
) -> Result<Admission, WriteError> {
    let (held_by, queued) = match run.slot {
        Some(slot) if !run.hold => (
            holders(tx, slot.key)?,
            tx.query_row(
                "SELECT count(*) FROM runs WHERE concurrency_key = ?1 AND status = 'queued'",
                [slot.key],
                |row| row.get(0),
            )?,
        ),
        Some(slot) => (holders(tx, slot.key)?, 0),
        None => (Vec::new(), 0),
    };
    match policy::admission(run, lease, held_by, queued)? {
        SlotDecision::Admitted(admission) => Ok(admission),
        SlotDecision::CancelHolders(admission) => {
            if let Admission::Queued { held_by } = &admission {
                for holder in held_by {
                    tx.execute(
                        "UPDATE runs SET requested = 'cancel' WHERE id = ?1 AND status IN ('running', 'waiting')",
                        [holder],
                    )?;
                }
            }
            Ok(admission)
        }
    }
}

/// The (module, digest) pairs a run is pinned to.
fn record_modules(
    tx: &Transaction<'_>,
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

/// Check that `lease` still holds its run and push its expiry to
/// `expires_at`: the fence every write of a run's journal passes first.
pub(super) fn hold(tx: &Transaction<'_>, lease: &Lease, expires_at: f64) -> Result<(), WriteError> {
    let held = tx
        .prepare_cached(
            "UPDATE runs SET lease_expires = ?4, updated_at = ?5
             WHERE id = ?1 AND owner = ?2 AND lease_epoch = ?3",
        )?
        .execute(params![
            lease.run_id,
            lease.owner.id(),
            lease.epoch,
            expires_at,
            expires_at - lease_ttl().as_secs_f64()
        ])?;
    if held == 1 {
        return Ok(());
    }
    let by: Option<String> = tx
        .query_row(
            "SELECT owner FROM runs WHERE id = ?1",
            [&lease.run_id],
            |row| row.get(0),
        )
        .optional()?
        .flatten();
    Err(StoreError::LeaseLost {
        run: lease.run_id.clone(),
        by: by.map(|id| Owner::from_id(id).to_string()),
    }
    .into())
}
