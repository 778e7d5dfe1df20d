//! The SQLite backend: `wfhost.db` in the home directory, the only code
//! that touches SQLite. WAL mode, a busy timeout so concurrent processes
//! wait instead of failing, immediate transactions for writes, migrations
//! by `user_version`.

mod record;
mod runs;
mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use super::{Durability, StoreError, now_seconds};

/// How long a writer waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What can go wrong inside [`SqliteStore::write`].
#[derive(Debug)]
pub(crate) enum WriteError {
    Sql(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for WriteError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Sql(error)
    }
}

impl From<StoreError> for WriteError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// A connection to `wfhost.db`.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// Seconds since the epoch: the system clock, or a test's.
    clock: fn() -> f64,
    payloads: record::Payloads,
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
            payloads: record::Payloads::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read time from `clock` (seconds since the epoch) instead of the
    /// system clock: lease expiry without waiting, in tests.
    pub fn set_clock(&mut self, clock: fn() -> f64) {
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
                tx.execute_batch(migration)?;
                tx.execute_batch(&format!("PRAGMA user_version = {}", index + 1))?;
            }
            Ok(())
        })
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
