//! Signals in SQLite: a run's mailbox (`signals`), and the waits its
//! journal began (`step_waiting` events), for resume.

use std::sync::Arc;

use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use super::SqliteStore;
use crate::engine::{AttemptKey, Event, Signal};
use crate::store::StoreError;
use crate::store::records::{NewSignal, SignalSent};

impl SqliteStore {
    pub(super) fn insert_signal(
        &mut self,
        signal: &NewSignal<'_>,
    ) -> Result<SignalSent, StoreError> {
        let now = self.now();
        self.write("cannot record the signal", |tx| {
            let status: Option<String> = tx
                .query_row(
                    "SELECT status FROM runs WHERE id = ?1",
                    [signal.run_id],
                    |row| row.get(0),
                )
                .optional()?;
            let Some(status) = status else {
                return Err(StoreError::UnknownRun(signal.run_id.to_string()).into());
            };
            // A repeat is answered with the first, even once the run ended.
            if let Some(key) = signal.idempotency_key
                && let Some(seq) = tx
                    .query_row(
                        "SELECT seq FROM signals WHERE run_id = ?1 AND idempotency_key = ?2",
                        params![signal.run_id, key],
                        |row| row.get(0),
                    )
                    .optional()?
            {
                return Ok(SignalSent {
                    seq,
                    duplicate: true,
                });
            }
            if matches!(status.as_str(), "succeeded" | "failed" | "cancelled") {
                return Err(StoreError::Refused(format!(
                    "run {} has ended ({status}); a signal can no longer reach it",
                    signal.run_id
                ))
                .into());
            }
            tx.execute(
                "INSERT INTO signals (run_id, name, payload, sent_by, sent_at, idempotency_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    signal.run_id,
                    signal.name,
                    signal.payload.to_string(),
                    signal.sent_by,
                    now,
                    signal.idempotency_key
                ],
            )?;
            Ok(SignalSent {
                seq: tx.last_insert_rowid(),
                duplicate: false,
            })
        })
    }

    /// Untaken signals after `after`, of run `id` or of every run.
    pub(super) fn untaken_signals(
        &self,
        id: Option<&str>,
        after: i64,
    ) -> Result<Vec<(String, Signal)>, StoreError> {
        self.rows(
            "cannot read signals",
            "SELECT seq, name, payload, sent_by, run_id FROM signals
             WHERE (?1 IS NULL OR run_id = ?1) AND seq > ?2 AND taken_by IS NULL ORDER BY seq",
            params![id, after],
            |row| {
                let payload: String = row.get(2)?;
                Ok((
                    row.get(4)?,
                    Signal {
                        seq: row.get(0)?,
                        name: row.get(1)?,
                        payload: Arc::new(serde_json::from_str(&payload).unwrap_or(Value::Null)),
                        sent_by: row.get(3)?,
                    },
                ))
            },
        )
    }

    pub(super) fn begun_waits(
        &self,
        id: &str,
    ) -> Result<Vec<(AttemptKey, Option<String>)>, StoreError> {
        let bodies: Vec<String> = self.rows(
            "cannot read waits",
            "SELECT body FROM events WHERE run_id = ?1 AND kind = 'step_waiting' ORDER BY seq",
            [id],
            |row| row.get(0),
        )?;
        Ok(bodies
            .iter()
            .filter_map(|body| match serde_json::from_str(body) {
                Ok(Event::StepWaiting { key, deadline, .. }) => Some((key, deadline)),
                _ => None,
            })
            .collect())
    }
}
