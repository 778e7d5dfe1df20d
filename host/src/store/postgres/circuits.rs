//! Circuit breakers in PostgreSQL: failures of guarded actions
//! (`circuit_failures`) and the breakers that opened (`circuits`), each
//! decided in one transaction holding the breaker's lock, so that every
//! process sharing the database agrees.

use super::{PostgresStore, Tx, WriteError, unsigned};
use crate::store::StoreError;
use crate::store::policy::{BreakerState, breaker_admission};
use crate::store::records::{CallVerdict, CircuitAdmission, CircuitRecord, CircuitRule};

const STATE: &str = "SELECT opened_at, open_until, probe_at FROM circuits WHERE key = $1";

impl PostgresStore {
    pub(super) fn admit_guarded_call(
        &mut self,
        rule: &CircuitRule<'_>,
    ) -> Result<CircuitAdmission, StoreError> {
        let now = self.now();
        // Most calls find their breaker closed: a read, no lock.
        let seen = self
            .row("cannot read a circuit breaker", STATE, &[&rule.key])?
            .map(|row| (row.get(0), row.get(1), row.get(2)));
        if let Some(decided) = breaker_admission(seen, now, rule) {
            return Ok(decided);
        }
        // It may be time for a probe: decided again under the breaker's
        // lock, so that of the processes asking at once only one probes.
        self.write("cannot take a circuit breaker's probe", |tx| {
            tx.lock(&format!("circuit:{}", rule.key))?;
            if let Some(decided) = breaker_admission(state(tx, rule.key)?, now, rule) {
                return Ok(decided);
            }
            tx.execute(
                "UPDATE circuits SET probe_at = $2 WHERE key = $1",
                &[&rule.key, &now],
            )?;
            Ok(CircuitAdmission::Probe)
        })
    }

    pub(super) fn record_guarded_call(
        &mut self,
        rule: &CircuitRule<'_>,
        probe: bool,
        verdict: &CallVerdict,
    ) -> Result<(), StoreError> {
        // A closed breaker's success, or a call that does not count,
        // changes nothing: no transaction.
        if !probe && !matches!(verdict, CallVerdict::Failed(_)) {
            return Ok(());
        }
        let now = self.now();
        self.write("cannot record a call in its circuit breaker", |tx| {
            tx.lock(&format!("circuit:{}", rule.key))?;
            match verdict {
                CallVerdict::Succeeded if probe => {
                    tx.execute("DELETE FROM circuits WHERE key = $1", &[&rule.key])?;
                    tx.execute("DELETE FROM circuit_failures WHERE key = $1", &[&rule.key])?;
                }
                CallVerdict::Succeeded => {}
                CallVerdict::Neutral => {
                    if probe {
                        tx.execute(
                            "UPDATE circuits SET probe_at = NULL WHERE key = $1",
                            &[&rule.key],
                        )?;
                    }
                }
                CallVerdict::Failed(message) => {
                    let window_start = now - rule.within_seconds;
                    tx.execute(
                        "DELETE FROM circuit_failures WHERE key = $1 AND at < $2",
                        &[&rule.key, &window_start],
                    )?;
                    tx.execute(
                        "INSERT INTO circuit_failures (key, at) VALUES ($1, $2)",
                        &[&rule.key, &now],
                    )?;
                    let count: u32 = unsigned(
                        tx.one(
                            "SELECT count(*) FROM circuit_failures WHERE key = $1 AND at >= $2",
                            &[&rule.key, &window_start],
                        )?
                        .get(0),
                    );
                    let open = state(tx, rule.key)?.is_some_and(|(opened, _, _)| opened.is_some());
                    if probe || (!open && count >= rule.failures) {
                        tx.execute(
                            "INSERT INTO circuits (key, opened_at, open_until, probe_at, last_error)
                             VALUES ($1, $2, $3, NULL, $4)
                             ON CONFLICT (key) DO UPDATE SET opened_at = $2, open_until = $3, probe_at = NULL, last_error = $4",
                            &[&rule.key, &now, &(now + rule.open_for_seconds), message],
                        )?;
                    } else {
                        tx.execute(
                            "INSERT INTO circuits (key, last_error) VALUES ($1, $2)
                             ON CONFLICT (key) DO UPDATE SET last_error = $2",
                            &[&rule.key, message],
                        )?;
                    }
                }
            }
            Ok(())
        })
    }

    pub(super) fn circuit_records(&self) -> Result<Vec<CircuitRecord>, StoreError> {
        Ok(self
            .rows(
                "cannot read circuit breakers",
                "SELECT c.key, c.opened_at, c.open_until, c.probe_at, c.last_error,
                        (SELECT count(*) FROM circuit_failures f WHERE f.key = c.key)
                 FROM circuits c ORDER BY c.key",
                &[],
            )?
            .iter()
            .map(|row| CircuitRecord {
                key: row.get(0),
                opened_at: row.get(1),
                open_until: row.get(2),
                probing_since: row.get(3),
                last_error: row.get(4),
                recent_failures: unsigned(row.get(5)),
            })
            .collect())
    }

    pub(super) fn close_circuit(&mut self, key: &str) -> Result<bool, StoreError> {
        self.write("cannot reset a circuit breaker", |tx| {
            let closed = tx.execute("DELETE FROM circuits WHERE key = $1", &[&key])?;
            let forgotten = tx.execute("DELETE FROM circuit_failures WHERE key = $1", &[&key])?;
            Ok(closed + forgotten > 0)
        })
    }
}

fn state(tx: &mut Tx<'_>, key: &str) -> Result<BreakerState, WriteError> {
    Ok(tx
        .row(STATE, &[&key])?
        .map(|row| (row.get(0), row.get(1), row.get(2))))
}
