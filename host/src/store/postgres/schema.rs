//! The PostgreSQL schema: the same tables, columns and meaning as the
//! SQLite schema has after all its migrations (`sqlite/schema.rs`), in
//! PostgreSQL's types. `wfhost_schema` records how many migrations ran;
//! append new ones (one for each SQLite migration that changes the
//! shape), never edit an applied one.

pub const MIGRATIONS: &[&str] = &[
    // 1: everything SQLite's migrations 1–16 built.
    r"
    CREATE TABLE workflows (
        digest TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        text TEXT NOT NULL
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        ordinal BIGINT GENERATED ALWAYS AS IDENTITY,
        workflow_digest TEXT NOT NULL REFERENCES workflows(digest),
        name TEXT NOT NULL,
        path TEXT NOT NULL,
        workspace TEXT NOT NULL,
        inputs TEXT NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        requested TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        owner TEXT,
        lease_epoch BIGINT NOT NULL DEFAULT 0,
        lease_expires DOUBLE PRECISION,
        started_by TEXT NOT NULL DEFAULT 'cli',
        idempotency_key TEXT,
        trigger_data TEXT NOT NULL DEFAULT '{}',
        concurrency_key TEXT,
        concurrency_limit BIGINT,
        parent_run TEXT,
        parent_step TEXT,
        outputs TEXT,
        trace_id TEXT,
        trace_parent TEXT,
        trace_export BIGINT
    );
    CREATE INDEX runs_by_status ON runs(status, updated_at);
    CREATE UNIQUE INDEX runs_by_idempotency_key ON runs(idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE INDEX runs_by_concurrency_key ON runs(concurrency_key, status, created_at)
        WHERE concurrency_key IS NOT NULL;
    CREATE INDEX runs_by_owner ON runs(owner) WHERE owner IS NOT NULL;
    CREATE INDEX runs_by_parent ON runs(parent_run) WHERE parent_run IS NOT NULL;
    CREATE INDEX runs_with_trace_due ON runs(trace_export) WHERE trace_export = 1;
    CREATE INDEX runs_by_created ON runs(created_at);
    CREATE TABLE run_modules (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        reference TEXT NOT NULL,
        digest TEXT NOT NULL,
        PRIMARY KEY (run_id, reference)
    );
    CREATE TABLE attempts (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step TEXT NOT NULL,
        visit BIGINT NOT NULL,
        item BIGINT NOT NULL,
        iteration BIGINT NOT NULL,
        attempt BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        started_seq BIGINT,
        status TEXT NOT NULL,
        kind TEXT,
        fuel BIGINT NOT NULL,
        memory_peak BIGINT NOT NULL,
        duration_ms DOUBLE PRECISION NOT NULL,
        result TEXT NOT NULL,
        complete BOOLEAN NOT NULL,
        PRIMARY KEY (run_id, step, visit, item, iteration, attempt)
    );
    CREATE TABLE steps (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        duration_ms DOUBLE PRECISION NOT NULL,
        fuel BIGINT NOT NULL,
        kind TEXT,
        output TEXT,
        failure TEXT,
        seq BIGINT NOT NULL,
        memory_peak BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (run_id, step)
    );
    CREATE TABLE events (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step TEXT,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        payload TEXT
    );
    CREATE INDEX events_by_run ON events(run_id, seq);
    CREATE TABLE blobs (
        digest BYTEA PRIMARY KEY,
        body TEXT NOT NULL
    );
    CREATE TABLE run_blobs (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        digest BYTEA NOT NULL,
        PRIMARY KEY (run_id, digest)
    );
    CREATE TABLE tokens (
        name TEXT PRIMARY KEY,
        digest BYTEA NOT NULL UNIQUE,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE audit (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at DOUBLE PRECISION NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        run_id TEXT,
        detail TEXT
    );
    CREATE TABLE schedule_ticks (
        schedule TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        outcome TEXT NOT NULL,
        run_id TEXT,
        recorded_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (schedule, at)
    );
    CREATE TABLE schedule_pauses (
        schedule TEXT PRIMARY KEY,
        paused_at DOUBLE PRECISION NOT NULL,
        paused_by TEXT NOT NULL
    );
    CREATE TABLE signals (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        payload TEXT NOT NULL,
        sent_by TEXT NOT NULL,
        sent_at DOUBLE PRECISION NOT NULL,
        idempotency_key TEXT,
        taken_by TEXT,
        taken_at DOUBLE PRECISION
    );
    CREATE INDEX signals_untaken ON signals(run_id, seq) WHERE taken_by IS NULL;
    CREATE UNIQUE INDEX signals_by_key ON signals(run_id, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE TABLE circuits (
        key TEXT PRIMARY KEY,
        opened_at DOUBLE PRECISION,
        open_until DOUBLE PRECISION,
        probe_at DOUBLE PRECISION,
        last_error TEXT
    );
    CREATE TABLE circuit_failures (
        key TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX circuit_failures_by_key ON circuit_failures(key, at);
    CREATE TABLE webhook_deliveries (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        path TEXT NOT NULL,
        workflow TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        status BIGINT NOT NULL,
        outcome TEXT NOT NULL,
        reason TEXT,
        run_id TEXT
    );
    CREATE INDEX webhook_deliveries_by_path ON webhook_deliveries(path, seq);
    ",
    // 2: SQLite's 17: the `wfhost worker` processes, as each last said it
    // was alive.
    r"
    CREATE TABLE workers (
        id TEXT PRIMARY KEY,
        slots BIGINT NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        seen_at DOUBLE PRECISION NOT NULL
    );
    ",
];

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    /// A migration some database has applied is never edited: append one.
    #[test]
    fn applied_migrations_are_never_edited() {
        let applied = [
            "1d6d7dc512bae7963526a20ac41da149b1ac749771c0ff333bec263426cd9a99",
            "ba5023c8428919c21cc32a30a51f5be8e559bd3a43fa9454cca0072399431aa7",
        ];
        for (number, digest) in applied.iter().enumerate() {
            assert_eq!(
                hex::encode(Sha256::digest(super::MIGRATIONS[number])),
                *digest,
                "migration {} was edited; append a new one instead",
                number + 1
            );
        }
    }
}
