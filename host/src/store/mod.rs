//! The store: where runs are kept, behind one boundary ([`RunStore`]) a
//! backend implements. SQLite (`wfhost.db` in the home directory) is the
//! embedded default and the only code that touches it lives in
//! [`sqlite`].
//!
//! A run is owned by whoever holds its [`Lease`] (an owner id, an epoch
//! and an expiry the owner renews); every write of a run's journal checks
//! the lease in the same transaction, so a process that lost its run can
//! never record into it. [`Journal`] records a running run's events from a
//! writer thread; the read side answers `list`, `status`, `logs` and gives
//! `resume` what it needs.

mod boundary;
mod journal;
mod lease;
mod location;
mod payload;
mod policy;
mod postgres;
mod recording;
mod records;
mod sqlite;

use std::path::PathBuf;

pub use boundary::RunStore;
pub use journal::{Journal, JournalHub};
pub use lease::{DEFAULT_LEASE_TTL, Lease, Owner, lease_ttl, set_lease_ttl};
pub use location::Location;
pub use postgres::PostgresStore;
pub use records::{
    Admission, AuditEntry, Batch, CallVerdict, CircuitAdmission, CircuitRecord, CircuitRule,
    Delivery, DeliveryRecord, EventRecord, NewRun, NewSignal, Parent, ParentRef, RunFilter,
    RunRecord, SignalSent, Slot, StepRecord, TickOutcome, TickRecord, TokenRecord, WhenFull,
    WorkerRecord,
};
pub use sqlite::SqliteStore;

/// The most deliveries kept per webhook path (the newest): a flood of
/// forged requests cannot grow the store.
pub const MAX_DELIVERIES: usize = 100;

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
    #[error("the PostgreSQL store {target}: {action}")]
    Postgres {
        target: String,
        action: &'static str,
        source: tokio_postgres::Error,
    },
    #[error("no run `{0}`; `wfhost list` shows the runs")]
    UnknownRun(String),
    /// The run was taken over: this owner's lease expired and another
    /// claimed it (or it ended). Nothing was written.
    #[error(
        "run {run} is no longer driven by this process (its lease was taken over by {}); nothing more is recorded here, and the new owner continues the run",
        .by.as_deref().unwrap_or("nobody: the run was ended or released")
    )]
    LeaseLost { run: String, by: Option<String> },
    /// A run with this idempotency key exists already.
    #[error("run {run} was already started with this idempotency key")]
    DuplicateKey { run: String },
    #[error("{0}")]
    Refused(String),
}

/// What can go wrong inside a backend's write transaction: the database's
/// error, or a refusal the store decided on (which rolls it back).
#[derive(Debug)]
pub(crate) enum WriteError<E> {
    Sql(E),
    Store(StoreError),
}

impl<E> From<StoreError> for WriteError<E> {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// Open the store at `location` (creating and migrating it).
pub fn open(location: &Location, durability: Durability) -> Result<Box<dyn RunStore>, StoreError> {
    Ok(match location {
        Location::Sqlite(path) => Box::new(SqliteStore::open(path, durability)?),
        Location::Postgres(url) => Box::new(PostgresStore::open(url, durability)?),
    })
}

pub use crate::units::now_seconds;

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

#[cfg(test)]
mod contract;
