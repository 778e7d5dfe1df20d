//! Schema migrations, applied in order; `PRAGMA user_version` records how
//! many have run. Append new migrations; never edit an applied one.

pub const MIGRATIONS: &[&str] = &[
    // 1: definitions, runs, the modules each run used, attempts, step
    // summaries and the append-only event history.
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
    // 2: the most linear memory a step's attempts used.
    r"
    ALTER TABLE steps ADD COLUMN memory_peak INTEGER NOT NULL DEFAULT 0;
    ",
    // 3: ownership by lease (owner id, epoch, expiry) instead of a pid.
    r"
    ALTER TABLE runs ADD COLUMN owner TEXT;
    ALTER TABLE runs ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN lease_expires REAL;
    ALTER TABLE runs DROP COLUMN driver_pid;
    ",
    // 4: a value (a step's input or output) stored once: events keep their
    // data apart (`payload`), and its large parts live in `blobs` by sha256,
    // shared by every row of the run that refers to them.
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
    // 5: an attempt row keeps its measurements in columns and only its
    // failure as JSON (`null` for a success, whose output is its
    // `step_succeeded` event's payload); an attempt's input is its
    // `step_started` event's payload. Rows from before move over.
    r"
    UPDATE events SET payload = body -> '$.output'
     WHERE payload IS NULL AND kind = 'step_succeeded' AND json_valid(body);
    UPDATE attempts SET result = coalesce(
        CASE WHEN json_valid(result) THEN result -> '$.outcome.Err' END, 'null');
    ALTER TABLE attempts DROP COLUMN input;
    ",
    // 6: who or what started a run (`cli`, `api:NAME`, …), what its
    // templates see as `trigger`, the idempotency key it was started with
    // (a repeat returns the same run), its concurrency key and limit; what each cron tick did;
    // API tokens, stored as sha256 digests; an audit log of API writes.
    r"
    ALTER TABLE runs ADD COLUMN started_by TEXT NOT NULL DEFAULT 'cli';
    ALTER TABLE runs ADD COLUMN idempotency_key TEXT;
    ALTER TABLE runs ADD COLUMN trigger_data TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE runs ADD COLUMN concurrency_key TEXT;
    ALTER TABLE runs ADD COLUMN concurrency_limit INTEGER;
    CREATE INDEX runs_by_concurrency_key ON runs(concurrency_key, status, created_at)
        WHERE concurrency_key IS NOT NULL;
    CREATE UNIQUE INDEX runs_by_idempotency_key ON runs(idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE TABLE tokens (
        name TEXT PRIMARY KEY,
        digest BLOB NOT NULL UNIQUE,
        created_at REAL NOT NULL
    );
    CREATE TABLE schedule_ticks (
        schedule TEXT NOT NULL,
        at REAL NOT NULL,
        outcome TEXT NOT NULL,
        run_id TEXT,
        recorded_at REAL NOT NULL,
        PRIMARY KEY (schedule, at)
    );
    CREATE TABLE schedule_pauses (
        schedule TEXT PRIMARY KEY,
        paused_at REAL NOT NULL,
        paused_by TEXT NOT NULL
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
];
