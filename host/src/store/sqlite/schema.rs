//! Schema migrations, applied in order; `PRAGMA user_version` records how
//! many have run. Append new migrations; never edit an applied one.

use rusqlite::Transaction;

/// One step of the schema's history.
pub enum Migration {
    Sql(&'static str),
    /// For a change SQL cannot make conditionally.
    Code(fn(&Transaction<'_>) -> rusqlite::Result<()>),
}

impl Migration {
    pub fn apply(&self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        match self {
            Self::Sql(sql) => tx.execute_batch(sql),
            Self::Code(change) => change(tx),
        }
    }
}

pub const MIGRATIONS: &[Migration] = &[
    // 1: definitions, runs, the modules each run used, attempts, step
    // summaries and the append-only event history.
    Migration::Sql(
        r"
    CREATE TABLE workflows (
        digest TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        text TEXT NOT NULL
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        workflow_digest TEXT NOT NULL REFERENCES workflows(digest),
        name TEXT NOT NULL,
        path TEXT NOT NULL,
        workspace TEXT NOT NULL,
        inputs TEXT NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        requested TEXT,
        driver_pid INTEGER,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX runs_by_status ON runs(status, updated_at);
    CREATE TABLE run_modules (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        reference TEXT NOT NULL,
        digest TEXT NOT NULL,
        PRIMARY KEY (run_id, reference)
    );
    CREATE TABLE attempts (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step TEXT NOT NULL,
        visit INTEGER NOT NULL,
        item INTEGER NOT NULL,
        iteration INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        started_seq INTEGER,
        status TEXT NOT NULL,
        input TEXT,
        kind TEXT,
        fuel INTEGER NOT NULL,
        memory_peak INTEGER NOT NULL,
        duration_ms REAL NOT NULL,
        result TEXT NOT NULL,
        complete INTEGER NOT NULL,
        PRIMARY KEY (run_id, step, visit, item, iteration, attempt)
    );
    CREATE TABLE steps (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        duration_ms REAL NOT NULL,
        fuel INTEGER NOT NULL,
        kind TEXT,
        output TEXT,
        failure TEXT,
        seq INTEGER NOT NULL,
        PRIMARY KEY (run_id, step)
    );
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step TEXT,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX events_by_run ON events(run_id, seq);
    ",
    ),
    // 2: the most linear memory a step's attempts used.
    Migration::Sql(
        r"
    ALTER TABLE steps ADD COLUMN memory_peak INTEGER NOT NULL DEFAULT 0;
    ",
    ),
    // 3: ownership by lease (owner id, epoch, expiry) instead of a pid.
    Migration::Sql(
        r"
    ALTER TABLE runs ADD COLUMN owner TEXT;
    ALTER TABLE runs ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN lease_expires REAL;
    ALTER TABLE runs DROP COLUMN driver_pid;
    ",
    ),
    // 4: a value (a step's input or output) stored once: events keep their
    // data apart (`payload`), and its large parts live in `blobs` by sha256,
    // shared by every row of the run that refers to them.
    Migration::Sql(
        r"
    CREATE TABLE blobs (
        digest BLOB PRIMARY KEY,
        body TEXT NOT NULL
    );
    CREATE TABLE run_blobs (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        digest BLOB NOT NULL,
        PRIMARY KEY (run_id, digest)
    ) WITHOUT ROWID;
    ALTER TABLE events ADD COLUMN payload TEXT;
    ",
    ),
    // 5: an attempt row keeps its measurements in columns and only its
    // failure as JSON (`null` for a success, whose output is its
    // `step_succeeded` event's payload); an attempt's input is its
    // `step_started` event's payload. Rows from before move over.
    Migration::Sql(
        r"
    UPDATE events SET payload = body -> '$.output'
     WHERE payload IS NULL AND kind = 'step_succeeded' AND json_valid(body);
    UPDATE attempts SET result = coalesce(
        CASE WHEN json_valid(result) THEN result -> '$.outcome.Err' END, 'null');
    ALTER TABLE attempts DROP COLUMN input;
    ",
    ),
    // 6: who or what started a run (`cli`, `api:NAME`, …) and the
    // idempotency key it was started with (a repeat returns the same run);
    // API tokens, stored as sha256 digests; an audit log of API writes.
    Migration::Sql(
        r"
    ALTER TABLE runs ADD COLUMN started_by TEXT NOT NULL DEFAULT 'cli';
    ALTER TABLE runs ADD COLUMN idempotency_key TEXT;
    CREATE UNIQUE INDEX runs_by_idempotency_key ON runs(idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE TABLE tokens (
        name TEXT PRIMARY KEY,
        digest BLOB NOT NULL UNIQUE,
        created_at REAL NOT NULL
    );
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        run_id TEXT,
        detail TEXT
    );
    ",
    ),
    // 7: what a run's templates see as `trigger`, its concurrency key and
    // limit; what each cron tick did and which schedules are paused.
    // Development builds once grew migration 6 in place, so a database
    // may already have some of this: every part is added only if missing.
    Migration::Code(triggers_and_concurrency),
    // 8: signals sent to runs, for their waiting steps: kept until the
    // run is pruned; `taken_by` is the step that took one (in the
    // transaction that journals it).
    Migration::Sql(
        r"
    CREATE TABLE signals (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        payload TEXT NOT NULL,
        sent_by TEXT NOT NULL,
        sent_at REAL NOT NULL,
        idempotency_key TEXT,
        taken_by TEXT,
        taken_at REAL
    );
    CREATE INDEX signals_untaken ON signals(run_id, seq) WHERE taken_by IS NULL;
    CREATE UNIQUE INDEX signals_by_key ON signals(run_id, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    ",
    ),
    // 9: the runs an owner holds, found without a scan (the journal asks
    // for their stop requests every 50 ms).
    Migration::Sql(
        r"
    CREATE INDEX runs_by_owner ON runs(owner) WHERE owner IS NOT NULL;
    ",
    ),
    // 10: sub-workflows: a child run names its parent run and the step
    // that started it; a run keeps the outputs it ended with.
    Migration::Sql(
        r"
    ALTER TABLE runs ADD COLUMN parent_run TEXT;
    ALTER TABLE runs ADD COLUMN parent_step TEXT;
    ALTER TABLE runs ADD COLUMN outputs TEXT;
    CREATE INDEX runs_by_parent ON runs(parent_run) WHERE parent_run IS NOT NULL;
    ",
    ),
    // 11: circuit breakers: failures of guarded actions, and each
    // breaker's state (open from `opened_at` until `open_until`; a probe in
    // flight since `probe_at`).
    Migration::Sql(
        r"
    CREATE TABLE circuits (
        key TEXT PRIMARY KEY,
        opened_at REAL,
        open_until REAL,
        probe_at REAL,
        last_error TEXT
    );
    CREATE TABLE circuit_failures (
        key TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX circuit_failures_by_key ON circuit_failures(key, at);
    ",
    ),
    // 12: the W3C trace each run belongs to, and the caller's span when a
    // `traceparent` named one.
    Migration::Sql(
        r"
    ALTER TABLE runs ADD COLUMN trace_id TEXT;
    ALTER TABLE runs ADD COLUMN trace_parent TEXT;
    ",
    ),
    // 13: whether a run's trace is to be exported over OTLP (1: due once
    // the run ends, 2: claimed by an exporter or sent); NULL when the
    // process that started it exported no traces.
    Migration::Sql(
        r"
    ALTER TABLE runs ADD COLUMN trace_export INTEGER;
    CREATE INDEX runs_with_trace_due ON runs(trace_export) WHERE trace_export = 1;
    ",
    ),
    // 14: the newest deliveries to each webhook path a workflow serves,
    // accepted or refused (and why), for the dashboard.
    Migration::Sql(
        r"
    CREATE TABLE webhook_deliveries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT NOT NULL,
        workflow TEXT NOT NULL,
        at REAL NOT NULL,
        status INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        reason TEXT,
        run_id TEXT
    );
    CREATE INDEX webhook_deliveries_by_path ON webhook_deliveries(path, seq);
    ",
    ),
    // 15: events numbered by their rowid alone, without AUTOINCREMENT (which
    // wrote `sqlite_sequence` again with every event: a fifth of an event's
    // cost). A number is never reused within a run — the highest a run can
    // reuse is one of a pruned run's — and every reader of events is
    // scoped to one run. The table is copied once.
    Migration::Sql(
        r"
    CREATE TABLE events_by_rowid (
        seq INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step TEXT,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        at REAL NOT NULL,
        payload TEXT
    );
    INSERT INTO events_by_rowid (seq, run_id, step, kind, body, at, payload)
        SELECT seq, run_id, step, kind, body, at, payload FROM events;
    DROP TABLE events;
    ALTER TABLE events_by_rowid RENAME TO events;
    CREATE INDEX events_by_run ON events(run_id, seq);
    ",
    ),
    // 16: runs newest first without sorting them all (a page of runs).
    Migration::Sql(
        r"
    CREATE INDEX runs_by_created ON runs(created_at);
    ",
    ),
    // 17: the `wfhost worker` processes, as each last said it was alive.
    Migration::Sql(
        r"
    CREATE TABLE workers (
        id TEXT PRIMARY KEY,
        slots INTEGER NOT NULL,
        started_at REAL NOT NULL,
        seen_at REAL NOT NULL
    );
    ",
    ),
];

/// Migration 7 (see [`MIGRATIONS`]).
fn triggers_and_concurrency(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    for (column, definition) in [
        ("trigger_data", "TEXT NOT NULL DEFAULT '{}'"),
        ("concurrency_key", "TEXT"),
        ("concurrency_limit", "INTEGER"),
    ] {
        if !has_column(tx, "runs", column)? {
            tx.execute_batch(&format!(
                "ALTER TABLE runs ADD COLUMN {column} {definition}"
            ))?;
        }
    }
    tx.execute_batch(
        r"
    CREATE INDEX IF NOT EXISTS runs_by_concurrency_key
        ON runs(concurrency_key, status, created_at)
        WHERE concurrency_key IS NOT NULL;
    CREATE TABLE IF NOT EXISTS schedule_ticks (
        schedule TEXT NOT NULL,
        at REAL NOT NULL,
        outcome TEXT NOT NULL,
        run_id TEXT,
        recorded_at REAL NOT NULL,
        PRIMARY KEY (schedule, at)
    );
    CREATE TABLE IF NOT EXISTS schedule_pauses (
        schedule TEXT PRIMARY KEY,
        paused_at REAL NOT NULL,
        paused_by TEXT NOT NULL
    );
    ",
    )
}

fn has_column(tx: &Transaction<'_>, table: &str, column: &str) -> rusqlite::Result<bool> {
    tx.query_row(
        "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |row| row.get::<_, i64>(0),
    )
    .map(|count| count > 0)
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::{MIGRATIONS, Migration};

    /// A migration some database has applied is never edited: editing one
    /// leaves databases that applied the old text without the new parts
    /// (it happened once; migration 7 repairs it). Append a migration.
    #[test]
    fn applied_migrations_are_never_edited() {
        // (number, sha256 of its SQL); 7 is code.
        let applied = [
            (
                1,
                "780cc9146a42cdc1032eafb33b75082b81501aa114ad119523499d246f6b5d97",
            ),
            (
                2,
                "c04986627f07ee3d91a6f3b3a0d84174671aaccf28241052b46602c17d74d6cb",
            ),
            (
                3,
                "16bd00cb8a036298e5e4c34ee8155a4a9f5dfb8703b0bd263a0bde3bfafe85cb",
            ),
            (
                4,
                "2c5442a774af4f05febd6075acb7031e1b4aae87f93ca87710959f8592512b49",
            ),
            (
                5,
                "76d98a209c06e131f5308de522fa5a8bee92e79ce2581487fc0fef429a078f0e",
            ),
            (
                6,
                "f4e57fc01750b11882a0e5c5fa237769a474c19580862e8b6892d62b4ce8aa3a",
            ),
            (
                8,
                "5d7ca1e358390e4ab95c379ca2200fc7cbd59154ced55a2a05930c12533314bf",
            ),
            (
                9,
                "f86d9bbdef9aa04fc333739dc687a96d4aa05bb2907af7fe34d9c60bd0cc1e91",
            ),
            (
                10,
                "178840e92deb12529ef18a7f43601389d8a452d233457c2bdd1196c51389bbbb",
            ),
            (
                11,
                "00e34e88b8486f6ba31940868fabd0e90577ad7e8a8d7d7a74827435c7b401ac",
            ),
            (
                12,
                "79fc10f84c2b3757c5b72bdfa84fd63c41821dcaa5f98a46c1fcb8d9e0af3790",
            ),
            (
                13,
                "ec82a14158afcab4fdd515f15ed4142d3a677237f3286356926c9288fb2ec548",
            ),
            (
                14,
                "9ec5eaf700f45d08679b6ade178ae9f7165c26068992309dcbb819d16ebe6621",
            ),
            (
                15,
                "57ca178a14ce9e0885e797b5152471d0334cc4026a5a1d38769e455bd800c7e1",
            ),
            (
                16,
                "e2041e2b890821bdd587985b1485b9fa5a748fb4764b085fc40dd127cfed2790",
            ),
            (
                17,
                "56db7e56b5e76a5be4534a31200aa81a7ca06010a52569f257fd0c3c669a1a44",
            ),
        ];
        for (number, digest) in applied {
            let Migration::Sql(sql) = &MIGRATIONS[number - 1] else {
                panic!("migration {number} was SQL");
            };
            assert_eq!(
                hex::encode(Sha256::digest(sql)),
                *digest,
                "migration {number} was edited; append a new one instead"
            );
        }
    }
}
