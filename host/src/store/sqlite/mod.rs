//! The SQLite backend: `wfhost.db` in the home directory, the only code
//! that touches SQLite. WAL mode, a busy timeout so concurrent processes
//! wait instead of failing, immediate transactions for writes, migrations
//! by `user_version`.

mod circuits;
mod record;
mod runs;
mod schema;
mod signals;
mod traces;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use super::recording::Recorder;
use super::{Durability, StoreError, now_seconds};

/// How long a writer waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What can go wrong inside [`SqliteStore::write`].
pub(crate) type WriteError = crate::store::WriteError<rusqlite::Error>;

impl From<rusqlite::Error> for WriteError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Sql(error)
    }
}

/// A connection to `wfhost.db`.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// Seconds since the epoch: the system clock, or a test's.
    clock: fn() -> f64,
    /// What the journal's writes remember between transactions.
    recorder: Recorder,
}

impl SqliteStore {
    /// Open (creating and migrating) the database at `path`.
    pub fn open(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let fail = |action: &'static str| {
            move |source| StoreError::Sqlite {
                path: path.to_path_buf(),
                action,
                source,
            }
        };
        let conn = Connection::open(path).map_err(fail("cannot open it"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(fail("cannot set the busy timeout"))?;
        let synchronous = match durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous}; PRAGMA foreign_keys=ON;"
        ))
        .map_err(fail("cannot configure it"))?;
        let mut store = Self {
            conn,
            path: path.to_path_buf(),
            clock: now_seconds,
            recorder: Recorder::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read time from `clock` (seconds since the epoch) instead of the
    /// system clock: lease expiry without waiting, in tests.
    #[cfg(test)]
    pub(crate) fn set_clock(&mut self, clock: fn() -> f64) {
        self.clock = clock;
    }

    #[cfg(test)]
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    fn now(&self) -> f64 {
        (self.clock)()
    }

    /// A stored value back, its blobs read from the database.
    fn decode(&self, text: &str) -> serde_json::Value {
        crate::store::payload::decode(text, &mut |digest| {
            self.conn
                .prepare_cached("SELECT body FROM blobs WHERE digest = ?1")
                .and_then(|mut query| query.query_row([digest.as_bytes()], |row| row.get(0)))
                .ok()
        })
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        // Read first: a database already migrated (every open but the
        // first) takes no write lock, so opening never waits on writers.
        let version: usize = self
            .conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(self.error("cannot read its schema version"))?;
        if version == schema::MIGRATIONS.len() {
            return Ok(());
        }
        let path = self.path.clone();
        self.write("cannot migrate its schema", |tx| {
            let version: usize = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
            if version > schema::MIGRATIONS.len() {
                return Err(StoreError::Refused(format!(
                    "{} was written by a newer wfhost (schema {version}, this one knows {}); upgrade wfhost",
                    path.display(),
                    schema::MIGRATIONS.len()
                ))
                .into());
            }
            for (index, migration) in schema::MIGRATIONS.iter().enumerate().skip(version) {
                migration.apply(tx)?;
                tx.execute_batch(&format!("PRAGMA user_version = {}", index + 1))?;
            }
            Ok(())
        })
    }

    /// The rows `sql` gives for `params`, each read by `read`.
    pub(crate) fn rows<T>(
        &self,
        action: &'static str,
        sql: &str,
        params: impl rusqlite::Params,
        read: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut statement| statement.query_map(params, read)?.collect())
            .map_err(self.error(action))
    }

    /// Run `work` in one immediate (write-locking) transaction and commit it.
    pub(crate) fn write<T>(
        &mut self,
        action: &'static str,
        work: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, WriteError>,
    ) -> Result<T, StoreError> {
        let path = self.path.clone();
        let fail = |source| StoreError::Sqlite {
            path: path.clone(),
            action,
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail)?;
        let value = work(&tx).map_err(|error| match error {
            WriteError::Sql(source) => fail(source),
            WriteError::Store(error) => error,
        })?;
        tx.commit().map_err(fail)?;
        Ok(value)
    }

    fn error(&self, action: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            action,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::RunStore;

    /// A database written before values were stored apart (schema 4): its
    /// attempts read back the same after the migration.
    #[test]
    fn attempts_recorded_before_payloads_read_back_after_the_migration() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("wfhost.db");
        let conn = Connection::open(&path).expect("open");
        let tx = conn.unchecked_transaction().expect("transaction");
        for migration in &schema::MIGRATIONS[..4] {
            migration.apply(&tx).expect("migration");
        }
        tx.commit().expect("commit");
        let succeeded = json!({"outcome": {"Ok": {"n": 42}}, "duration_ms": 1.5, "fuel": 7,
            "memory_peak_bytes": 9, "logs": [], "stdout": "", "stderr": ""});
        let failed = json!({"outcome": {"Err": {"kind": "error", "message": "no", "value": null}},
            "duration_ms": 2.0, "fuel": 3, "memory_peak_bytes": 4, "logs": [], "stdout": "", "stderr": ""});
        conn.execute_batch(&format!(
            "PRAGMA user_version = 4;
             INSERT INTO workflows VALUES ('d', 'w', 'name: w');
             INSERT INTO runs (id, workflow_digest, name, path, workspace, inputs, status, created_at, updated_at)
               VALUES ('r1', 'd', 'w', 'w.yaml', '.', '{{}}', 'failed', 0, 0);
             INSERT INTO events (seq, run_id, step, kind, body, at) VALUES
               (1, 'r1', 'a', 'step_succeeded', '{{\"event\":\"step_succeeded\",\"output\":{{\"n\":42}}}}', 0),
               (2, 'r1', 'b', 'step_failed', '{{\"event\":\"step_failed\"}}', 0);
             INSERT INTO attempts (run_id, step, visit, item, iteration, attempt, seq, started_seq, status, input, kind, fuel, memory_peak, duration_ms, result, complete)
               VALUES ('r1', 'a', 1, -1, 0, 1, 1, 1, 'succeeded', '{{}}', NULL, 7, 9, 1.5, '{succeeded}', 1),
                      ('r1', 'b', 1, -1, 0, 1, 2, 2, 'failed', '{{}}', 'error', 3, 4, 2.0, '{failed}', 1);"
        ))
        .expect("legacy rows");
        drop(conn);
        let store = SqliteStore::open(&path, Durability::Normal).expect("migrated");
        let attempts = store.attempts("r1").expect("attempts");
        assert_eq!(attempts.len(), 2);
        assert_eq!(
            attempts[0].result.outcome.as_deref().ok(),
            Some(&json!({"n": 42}))
        );
        assert_eq!(
            (
                attempts[0].result.duration_ms,
                attempts[0].result.fuel,
                attempts[0].result.memory_peak_bytes
            ),
            (1.5, 7, 9)
        );
        assert!(attempts[0].complete);
        let failure = attempts[1].result.outcome.as_ref().expect_err("failed");
        assert_eq!(
            (failure.kind.as_str(), failure.message.as_str()),
            ("error", "no")
        );
    }

    /// Every table, column and index of the database at `path`.
    fn shape(path: &Path) -> Vec<String> {
        let conn = Connection::open(path).expect("open");
        let mut statement = conn
            .prepare(
                "SELECT m.type || ' ' || m.name || ' ' || coalesce(c.name, '') || ' ' || coalesce(c.type, '')
                 FROM sqlite_master m LEFT JOIN pragma_table_info(m.name) c ON m.type = 'table'
                 WHERE m.name NOT LIKE 'sqlite_%' ORDER BY 1",
            )
            .expect("prepare");
        let rows = statement.query_map([], |row| row.get(0)).expect("query");
        rows.collect::<Result<_, _>>().expect("rows")
    }

    /// Development builds grew migration 6 in place before it was split
    /// into 6 and 7: a database left at any of those forms opens into the
    /// same schema as a new one.
    #[test]
    fn databases_from_every_development_form_of_schema_6_open_into_the_current_schema() {
        let dir = tempfile::tempdir().expect("dir");
        let fresh = dir.path().join("fresh.db");
        drop(SqliteStore::open(&fresh, Durability::Normal).expect("fresh"));
        assert!(shape(&fresh).contains(&"table runs concurrency_key TEXT".to_owned()));
        let grown_in_place = [
            "",
            "ALTER TABLE runs ADD COLUMN trigger_data TEXT NOT NULL DEFAULT '{}';
             CREATE TABLE schedule_ticks (schedule TEXT NOT NULL, at REAL NOT NULL, outcome TEXT NOT NULL,
                 run_id TEXT, recorded_at REAL NOT NULL, PRIMARY KEY (schedule, at));
             CREATE TABLE schedule_pauses (schedule TEXT PRIMARY KEY, paused_at REAL NOT NULL, paused_by TEXT NOT NULL);",
        ];
        for (form, extra) in grown_in_place.iter().enumerate() {
            let path = dir.path().join(format!("form-{form}.db"));
            let conn = Connection::open(&path).expect("open");
            let tx = conn.unchecked_transaction().expect("transaction");
            for migration in &schema::MIGRATIONS[..6] {
                migration.apply(&tx).expect("migration");
            }
            tx.execute_batch(extra).expect("grown in place");
            tx.execute_batch("PRAGMA user_version = 6")
                .expect("version");
            tx.commit().expect("commit");
            drop(conn);
            drop(SqliteStore::open(&path, Durability::Normal).expect("migrated"));
            assert_eq!(shape(&path), shape(&fresh), "form {form}");
        }
        // The latest form of 6 had everything 7 adds: 7 changes nothing.
        let path = dir.path().join("latest.db");
        drop(SqliteStore::open(&path, Durability::Normal).expect("new"));
        let conn = Connection::open(&path).expect("open");
        let tx = conn.unchecked_transaction().expect("transaction");
        schema::MIGRATIONS[6].apply(&tx).expect("applied twice");
        tx.commit().expect("commit");
        drop(conn);
        assert_eq!(shape(&path), shape(&fresh));
    }
}
