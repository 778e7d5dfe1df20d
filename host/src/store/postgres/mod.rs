//! The PostgreSQL backend (`--db postgres://…`): the store every process
//! of a deployment shares when runs outgrow one machine; the only code
//! that touches PostgreSQL. Writes are transactions; the few decisions
//! SQLite serialises with its single writer (a concurrency key's slots, a
//! breaker's probe, signal numbering) take a lock for the transaction
//! here. Times are the writer's clock, as with SQLite, so every machine's
//! clock must be kept (NTP) within a fraction of a lease.

mod circuits;
mod record;
mod runs;
mod schema;
#[cfg(test)]
pub(crate) mod test_server;

use std::cell::RefCell;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use futures_executor::block_on;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client, NoTls, Row, Statement};

use super::recording::Recorder;
use super::{Durability, StoreError, now_seconds};

/// What can go wrong inside [`PostgresStore::write`].
pub(crate) type WriteError = crate::store::WriteError<tokio_postgres::Error>;

impl From<tokio_postgres::Error> for WriteError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Sql(error)
    }
}

/// The parameters of a statement.
type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Statements prepared once per connection, by their text.
type Prepared = HashMap<&'static str, Statement>;

/// A connection to a PostgreSQL database.
pub struct PostgresStore {
    client: RefCell<Client>,
    /// What a new connection is made from (after one is lost, too).
    config: tokio_postgres::Config,
    durability: Durability,
    /// Who is woken by notifications of work, once someone asked.
    wake: Wake,
    prepared: RefCell<Prepared>,
    /// The database as errors name it: the URL without its password.
    target: String,
    /// Seconds since the epoch: the system clock, or a test's.
    clock: fn() -> f64,
    /// What the journal's writes remember between transactions.
    recorder: Recorder,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// The advisory-lock space of wfhost's transaction locks (the first key
/// of `pg_advisory_xact_lock(int, int)`).
const LOCK_SPACE: i32 = 0x7766_686f; // "wfho"

impl PostgresStore {
    /// Connect to the database `url` names (a `postgres://` URL or
    /// `key=value` pairs) and migrate its schema.
    pub fn open(url: &str, durability: Durability) -> Result<Self, StoreError> {
        let target = redacted(url);
        let fail = |action: &'static str| {
            let target = target.clone();
            move |source| StoreError::Postgres {
                target: target.clone(),
                action,
                source,
            }
        };
        let mut config =
            tokio_postgres::Config::from_str(url).map_err(fail("cannot read its URL"))?;
        if config.get_application_name().is_none() {
            config.application_name("wfhost");
        }
        let wake = Wake::default();
        let client = session(&config, durability, &target, &wake)?;
        let store = Self {
            client: RefCell::new(client),
            config,
            durability,
            wake,
            prepared: RefCell::new(HashMap::new()),
            target,
            clock: now_seconds,
            recorder: Recorder::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Read time from `clock` (seconds since the epoch) instead of the
    /// system clock: lease expiry without waiting, in tests.
    #[cfg(test)]
    pub(crate) fn set_clock(&mut self, clock: fn() -> f64) {
        self.clock = clock;
    }

    /// Wake `wake`'s receiver whenever another process may have made work
    /// ready (`LISTEN`, on this connection and any made after it).
    pub(super) fn listen_for_work(
        &mut self,
        wake: std::sync::mpsc::Sender<()>,
    ) -> Result<(), StoreError> {
        *self.wake.lock().unwrap_or_else(PoisonError::into_inner) = Some(wake);
        block_on(self.client()?.batch_execute(&format!("LISTEN {WORK}")))
            .map_err(self.error("cannot listen for work"))
    }

    /// The one number `sql` selects, for tests that look at the rows.
    #[cfg(test)]
    pub(crate) fn scalar(&self, sql: &str) -> i64 {
        block_on(self.client.borrow().query_one(sql, &[]))
            .expect(sql)
            .get(0)
    }

    /// The text of every row's first column `sql` selects, for tests.
    #[cfg(test)]
    pub(crate) fn texts(&self, sql: &str) -> Vec<String> {
        block_on(self.client.borrow().query(sql, &[]))
            .expect(sql)
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    fn now(&self) -> f64 {
        (self.clock)()
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let latest = i64::try_from(schema::MIGRATIONS.len()).unwrap_or(i64::MAX);
        let target = self.target.clone();
        self.write("cannot migrate its schema", |tx| {
            // One process migrates; the others wait for it and find it done.
            tx.lock("schema")?;
            tx.batch(
                "CREATE TABLE IF NOT EXISTS wfhost_schema (version BIGINT NOT NULL);
                 INSERT INTO wfhost_schema SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM wfhost_schema);",
            )?;
            let version: i64 = tx.one("SELECT version FROM wfhost_schema", &[])?.get(0);
            if version > latest {
                return Err(StoreError::Refused(format!(
                    "{target} was written by a newer wfhost (schema {version}, this one knows {latest}); upgrade wfhost"
                ))
                .into());
            }
            for migration in &schema::MIGRATIONS[usize::try_from(version).unwrap_or(0)..] {
                tx.batch(migration)?;
            }
            tx.execute("UPDATE wfhost_schema SET version = $1", &[&latest])?;
            Ok(())
        })
    }

    /// The rows `sql` gives for `params`.
    fn rows(
        &self,
        action: &'static str,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, StoreError> {
        let client = self.client()?;
        let mut prepared = self.prepared.borrow_mut();
        prepare(&mut prepared, sql, |sql| block_on(client.prepare(sql)))
            .and_then(|statement| block_on(client.query(&statement, params)))
            .map_err(self.error(action))
    }

    /// The row `sql` gives for `params`, if any.
    fn row(
        &self,
        action: &'static str,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.rows(action, sql, params)?.into_iter().next())
    }

    /// The one row `sql` gives for `params` (a count): an error otherwise.
    fn one(
        &self,
        action: &'static str,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Row, StoreError> {
        let client = self.client()?;
        let mut prepared = self.prepared.borrow_mut();
        prepare(&mut prepared, sql, |sql| block_on(client.prepare(sql)))
            .and_then(|statement| block_on(client.query_one(&statement, params)))
            .map_err(self.error(action))
    }

    /// Run `sql` for `params` on its own; how many rows it changed.
    fn execute(
        &self,
        action: &'static str,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<u64, StoreError> {
        let client = self.client()?;
        let mut prepared = self.prepared.borrow_mut();
        prepare(&mut prepared, sql, |sql| block_on(client.prepare(sql)))
            .and_then(|statement| block_on(client.execute(&statement, params)))
            .map_err(self.error(action))
    }

    /// Run `work` in one transaction and commit it.
    fn write<T>(
        &self,
        action: &'static str,
        work: impl FnOnce(&mut Tx<'_>) -> Result<T, WriteError>,
    ) -> Result<T, StoreError> {
        let fail = self.error(action);
        drop(self.client()?);
        let mut client = self.client.borrow_mut();
        let mut prepared = self.prepared.borrow_mut();
        let mut tx = Tx {
            tx: block_on(client.transaction()).map_err(&fail)?,
            prepared: &mut prepared,
        };
        let value = work(&mut tx).map_err(|error| match error {
            WriteError::Sql(source) => fail(source),
            WriteError::Store(error) => error,
        })?;
        block_on(tx.tx.commit()).map_err(fail)?;
        Ok(value)
    }

    /// The connection, made again first when it was lost (the server
    /// restarted, or ended a session stalled in a transaction): what was
    /// being written when it was lost failed, and the next write goes on.
    fn client(&self) -> Result<std::cell::Ref<'_, Client>, StoreError> {
        if self.client.borrow().is_closed() {
            let fresh = session(&self.config, self.durability, &self.target, &self.wake)?;
            tracing::warn!("the connection to {} was lost; made a new one", self.target);
            *self.client.borrow_mut() = fresh;
            self.prepared.borrow_mut().clear();
        }
        Ok(self.client.borrow())
    }

    fn error(&self, action: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
        move |source| StoreError::Postgres {
            target: self.target.clone(),
            action,
            source,
        }
    }

    /// A stored value back, its blobs read from the database.
    fn decode(&self, text: &str) -> serde_json::Value {
        crate::store::payload::decode(text, &mut |digest| {
            self.row(
                "cannot read a stored value",
                "SELECT body FROM blobs WHERE digest = $1",
                &[&digest.as_bytes().as_slice()],
            )
            .ok()
            .flatten()
            .map(|row| row.get(0))
        })
    }
}

/// `sql` prepared on this connection (once).
fn prepare(
    prepared: &mut Prepared,
    sql: &'static str,
    prepare: impl FnOnce(&str) -> Result<Statement, tokio_postgres::Error>,
) -> Result<Statement, tokio_postgres::Error> {
    if let Some(statement) = prepared.get(sql) {
        return Ok(statement.clone());
    }
    let statement = prepare(sql)?;
    prepared.insert(sql, statement.clone());
    Ok(statement)
}

/// A write transaction, with the connection's prepared statements.
pub(super) struct Tx<'a> {
    tx: tokio_postgres::Transaction<'a>,
    prepared: &'a mut Prepared,
}

impl Tx<'_> {
    fn statement(&mut self, sql: &'static str) -> Result<Statement, tokio_postgres::Error> {
        let tx = &self.tx;
        prepare(self.prepared, sql, |sql| block_on(tx.prepare(sql)))
    }

    fn rows(
        &mut self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let statement = self.statement(sql)?;
        block_on(self.tx.query(&statement, params))
    }

    fn row(
        &mut self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        let statement = self.statement(sql)?;
        block_on(self.tx.query_opt(&statement, params))
    }

    /// The one row `sql` gives (a count, an insert's `RETURNING`): an
    /// error otherwise.
    fn one(&mut self, sql: &'static str, params: Params<'_>) -> Result<Row, tokio_postgres::Error> {
        let statement = self.statement(sql)?;
        block_on(self.tx.query_one(&statement, params))
    }

    fn execute(
        &mut self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<u64, tokio_postgres::Error> {
        let statement = self.statement(sql)?;
        block_on(self.tx.execute(&statement, params))
    }

    /// Run `sql` (statements without parameters) as it is.
    fn batch(&mut self, sql: &str) -> Result<(), tokio_postgres::Error> {
        block_on(self.tx.batch_execute(sql))
    }

    /// Tell the processes listening that work may be ready, when this
    /// transaction commits.
    fn notify_work(&mut self) -> Result<(), tokio_postgres::Error> {
        self.execute("SELECT pg_notify($1, '')", &[&WORK]).map(drop)
    }

    /// Hold the transaction lock named `name` until the transaction ends:
    /// what the same name decides is decided by one process at a time.
    fn lock(&mut self, name: &str) -> Result<(), tokio_postgres::Error> {
        self.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&LOCK_SPACE, &name],
        )
        .map(drop)
    }
}

/// Where a connection passes on the notifications it gets (`LISTEN`): set
/// once a caller asks to be woken, and kept for the connections made after
/// one was lost.
type Wake = Arc<Mutex<Option<std::sync::mpsc::Sender<()>>>>;

/// The channel `NOTIFY`ed when another process may have made work ready.
const WORK: &str = "wfhost_work";

/// A connection made from `config`, with wfhost's session settings:
/// - `synchronous_commit` by `durability`: `normal` (off) has a commit
///   durable once the server flushes its log, a fraction of a second
///   later (a crash of the server may lose the last commits, never corrupt
///   them); `full` (on) waits for the flush;
/// - `idle_in_transaction_session_timeout`, half a lease: a process stopped
///   in the middle of a transaction (paused, swapped out) loses it, and the
///   locks it held, before its lease expires, so the run it held is taken
///   over on time rather than waiting for it;
/// - `lock_timeout`, a lease: no statement waits longer for a lock.
fn session(
    config: &tokio_postgres::Config,
    durability: Durability,
    target: &str,
    wake: &Wake,
) -> Result<Client, StoreError> {
    let fail = |action: &'static str| {
        move |source| StoreError::Postgres {
            target: target.to_string(),
            action,
            source,
        }
    };
    let client = connect(config.clone(), target, Arc::clone(wake))?.map_err(fail(
        "cannot connect (is the server running, and the URL right?)",
    ))?;
    let synchronous = match durability {
        Durability::Normal => "off",
        Durability::Full => "on",
    };
    let lease = super::lease_ttl().as_millis();
    block_on(client.batch_execute(&format!(
        "SET synchronous_commit = {synchronous}; SET client_min_messages = warning;
         SET idle_in_transaction_session_timeout = {}; SET lock_timeout = {lease}",
        lease / 2
    )))
    .map_err(fail("cannot configure the session"))?;
    let listening = wake
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_some();
    if listening {
        block_on(client.batch_execute(&format!("LISTEN {WORK}")))
            .map_err(fail("cannot listen for work"))?;
    }
    Ok(client)
}

/// A connection made from `config`, driven by a thread of its own (which
/// ends when the client is dropped); its calls are awaited by
/// [`block_on`] wherever they are made, inside an async runtime or not.
fn connect(
    config: tokio_postgres::Config,
    target: &str,
    wake: Wake,
) -> Result<Result<Client, tokio_postgres::Error>, StoreError> {
    let (sent, received) = std::sync::mpsc::channel();
    let refused = |error: std::io::Error| {
        StoreError::Refused(format!("cannot start the connection to {target}: {error}"))
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(refused)?;
    std::thread::Builder::new()
        .name("wfhost-postgres".into())
        .spawn(move || {
            runtime.block_on(async move {
                match config.connect(NoTls).await {
                    Ok((client, mut connection)) => {
                        let _ = sent.send(Ok(client));
                        // Driving the connection, passing on notifications.
                        loop {
                            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                                Some(Ok(AsyncMessage::Notification(_))) => {
                                    if let Some(wake) =
                                        wake.lock().unwrap_or_else(PoisonError::into_inner).as_ref()
                                    {
                                        let _ = wake.send(());
                                    }
                                }
                                Some(Ok(_)) => {}
                                Some(Err(error)) => {
                                    tracing::warn!("the PostgreSQL connection ended: {error}");
                                    break;
                                }
                                None => break,
                            }
                        }
                    }
                    Err(error) => {
                        let _ = sent.send(Err(error));
                    }
                }
            });
        })
        .map_err(refused)?;
    received.recv().map_err(|_| {
        StoreError::Refused(format!(
            "the connection to {target} ended before it was made"
        ))
    })
}

/// `url` without its password, for messages.
pub(super) fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user, host)) => {
                let user = user.split(':').next().unwrap_or(user);
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_string(),
        },
        None => url
            .split_whitespace()
            .filter(|pair| !pair.starts_with("password="))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// A count or measure as a BIGINT column keeps it.
fn big(value: impl TryInto<i64>) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

/// A BIGINT column read back as an unsigned count or measure.
fn unsigned<T: TryFrom<i64> + Default>(value: i64) -> T {
    T::try_from(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_named_without_their_password() {
        assert_eq!(
            super::redacted("postgres://wf:secret@db:5432/runs"),
            "postgres://wf@db:5432/runs"
        );
        assert_eq!(
            super::redacted("host=db user=wf password=secret"),
            "host=db user=wf"
        );
    }
}
