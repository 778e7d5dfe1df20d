//! The store: the only code that touches SQLite (`wfhost.db` in the home
//! directory). WAL mode, a busy timeout so concurrent runs wait instead of
//! failing, immediate transactions for writes, migrations by `user_version`.
//!
//! [`Journal`] records a run's events as it goes (from a writer thread, off
//! the async executor); [`Store`] answers `list`, `status`, `logs`, and
//! gives `resume` what it needs.

mod journal;
mod runs;
mod schema;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

pub use journal::Journal;
pub use runs::{EventRecord, NewRun, RunRecord, StepRecord};

/// How long a writer waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Outputs and guest output larger than this are stored truncated (and the
/// attempt is then not replayed on resume: it runs again).
pub const VALUE_CAP_BYTES: usize = 1024 * 1024;

/// What a commit survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Durability {
    /// `synchronous=NORMAL`: survives a crash of the process; a power loss
    /// may lose the last commits (never corrupts). About 10 µs a commit.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is on disk (an fsync); survives a
    /// power loss. Milliseconds a commit.
    Full,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the state database {}: {action}", .path.display())]
    Sqlite {
        path: PathBuf,
        action: &'static str,
        source: rusqlite::Error,
    },
    #[error("no run `{0}`; `wfhost list` shows the runs")]
    UnknownRun(String),
    #[error("{0}")]
    Refused(String),
}

/// What can go wrong inside [`Store::write`].
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
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
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
        };
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
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

/// Seconds since the Unix epoch.
pub fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// JSON text, cut to [`VALUE_CAP_BYTES`] with a marker when larger.
pub(crate) fn capped_json(value: &impl serde::Serialize) -> (String, bool) {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".to_string());
    if text.len() <= VALUE_CAP_BYTES {
        return (text, true);
    }
    let mut cut = VALUE_CAP_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let marker = serde_json::json!({
        "$truncated": format!("{} bytes stored of {}", cut, text.len()),
        "preview": &text[..cut],
    });
    (marker.to_string(), false)
}
