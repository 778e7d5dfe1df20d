//! What every backend of [`RunStore`] must do with leases and journals,
//! checked on SQLite (the same checks run against each backend).

use std::cell::Cell;
use std::sync::Arc;

use serde_json::json;

use super::{
    Admission, NewRun, Owner, PostgresStore, RunStore, Slot, SqliteStore, StoreError, WhenFull,
    lease_ttl,
};
use crate::engine::{AttemptKey, Event, RunStatus, Stop};

thread_local! {
    static NOW: Cell<f64> = const { Cell::new(1_000_000.0) };
}

fn clock() -> f64 {
    NOW.with(Cell::get)
}

fn advance(seconds: f64) {
    NOW.with(|now| now.set(now.get() + seconds));
}

/// A backend under test: the store, and what the tests read beside it.
trait Backend: RunStore {
    fn set_clock(&mut self, clock: fn() -> f64);
    /// The one number `sql` (the same in both dialects) selects.
    fn scalar(&self, sql: &str) -> i64;
}

impl Backend for SqliteStore {
    fn set_clock(&mut self, clock: fn() -> f64) {
        SqliteStore::set_clock(self, clock);
    }

    fn scalar(&self, sql: &str) -> i64 {
        self.conn().query_row(sql, [], |row| row.get(0)).expect(sql)
    }
}

impl Backend for PostgresStore {
    fn set_clock(&mut self, clock: fn() -> f64) {
        PostgresStore::set_clock(self, clock);
    }

    fn scalar(&self, sql: &str) -> i64 {
        self.scalar(sql)
    }
}

/// Both backends keep the same tables with the same columns (PostgreSQL
/// adds `runs.ordinal`, its stand-in for SQLite's rowid, and its
/// migration counter): a column added to one and not the other fails here.
#[test]
fn both_backends_have_the_same_tables_and_columns() {
    let dir = tempfile::tempdir().expect("dir");
    let sqlite =
        SqliteStore::open(&dir.path().join("wfhost.db"), super::Durability::Normal).expect("open");
    let mut sqlite_columns: Vec<String> = sqlite
        .conn()
        .prepare(
            "SELECT m.name || '.' || c.name FROM sqlite_master m JOIN pragma_table_info(m.name) c
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
        )
        .and_then(|mut query| query.query_map([], |row| row.get(0))?.collect())
        .expect("SQLite's columns");
    let postgres = PostgresStore::open(
        &super::postgres::test_server::database(),
        super::Durability::Normal,
    )
    .expect("open");
    let mut postgres_columns: Vec<String> = postgres
        .texts(
            "SELECT table_name || '.' || column_name FROM information_schema.columns
             WHERE table_schema = current_schema()",
        )
        .into_iter()
        .filter(|column| column != "runs.ordinal" && !column.starts_with("wfhost_schema."))
        .collect();
    sqlite_columns.sort();
    postgres_columns.sort();
    assert_eq!(sqlite_columns, postgres_columns);
}

/// Every contract test, run on SQLite (a fresh file) and on PostgreSQL (a
/// fresh schema of the private test server).
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let dir = tempfile::tempdir().expect("dir");
                    let mut store =
                        super::SqliteStore::open(&dir.path().join("wfhost.db"), super::super::Durability::Normal)
                            .expect("open");
                    super::Backend::set_clock(&mut store, super::clock);
                    super::$name(&mut store);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    let url = crate::store::postgres::test_server::database();
                    let mut store = super::PostgresStore::open(&url, super::super::Durability::Normal)
                        .expect("open");
                    super::Backend::set_clock(&mut store, super::clock);
                    super::$name(&mut store);
                }
            )*
        }
    };
}

on_every_backend!(
    runs_whose_driver_went_silent_are_orphans_and_the_others_are_not,
    workers_are_seen_with_their_slots_and_forgotten_when_they_stop,
    a_live_lease_keeps_others_out_and_an_expired_one_is_taken_over,
    an_owner_of_this_machine_that_is_gone_is_not_waited_for,
    the_end_of_a_run_releases_its_lease,
    a_child_run_is_found_by_its_key_names_its_parent_and_keeps_its_outputs,
    requests_reach_the_owner_and_a_second_cancel_goes_further,
    a_value_is_stored_once_and_reads_back_whole,
    a_full_slot_queues_runs_in_order_and_frees_when_its_run_ends,
    cancel_newest_records_the_newcomer_cancelled_and_cancel_running_asks_the_holder,
    one_transaction_for_many_runs_leaves_out_a_run_whose_lease_was_lost,
    a_breaker_counts_failures_in_its_window_lets_one_probe_through_and_closes_on_success,
    a_trace_is_due_once_its_run_ended_and_one_exporter_claims_it,
    webhook_deliveries_are_kept_newest_first_and_bounded_per_path,
    recent_runs_are_the_newest_that_pass_the_filter,
);

fn new_run(store: &mut dyn RunStore, owner: &Owner) -> super::Lease {
    new_run_in(store, "r1", owner, None)
        .running()
        .expect("no slot needed")
}

fn new_run_in(
    store: &mut dyn RunStore,
    id: &str,
    owner: &Owner,
    slot: Option<Slot<'_>>,
) -> Admission {
    try_new_run(store, id, owner, slot).expect("created")
}

fn try_new_run(
    store: &mut dyn RunStore,
    id: &str,
    owner: &Owner,
    slot: Option<Slot<'_>>,
) -> Result<Admission, StoreError> {
    store.create_run(&record(id, slot, &json!({})), owner)
}

/// A top-level run `id` of workflow `w`.
fn record<'a>(id: &'a str, slot: Option<Slot<'a>>, inputs: &'a serde_json::Value) -> NewRun<'a> {
    NewRun {
        id,
        name: "w",
        path: "w.yaml",
        workspace: ".",
        workflow_digest: "d",
        workflow_text: "name: w",
        inputs,
        modules: &[],
        started_by: "cli",
        trigger: &CLI,
        slot,
        hold: false,
        idempotency_key: None,
        parent: None,
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
        trace_parent: None,
        export_trace: false,
    }
}

static CLI: std::sync::LazyLock<crate::engine::Trigger> =
    std::sync::LazyLock::new(crate::engine::Trigger::cli);

fn started(step: &str) -> Box<Event> {
    Box::new(Event::StepStarted {
        key: AttemptKey::first(step),
        input: Some(Arc::new(json!({}))),
    })
}

/// Another machine's owner: its lease is waited out, never cut short.
fn remote(name: &str) -> Owner {
    Owner::from_id(format!("{name}.example:1:1"))
}

fn a_live_lease_keeps_others_out_and_an_expired_one_is_taken_over(store: &mut dyn Backend) {
    let (a, b) = (remote("a"), remote("b"));
    let mut lease_a = new_run(store, &a);
    assert_eq!(lease_a.epoch, 1);
    let refused = store.claim("r1", &b, &[]);
    assert!(
        matches!(&refused, Err(StoreError::Refused(m)) if m.contains("a.example")),
        "{refused:?}"
    );
    // Appending renews: the lease outlives its first term.
    advance(lease_ttl().as_secs_f64() * 0.8);
    store
        .append(&mut lease_a, &[started("s")])
        .expect("a appends");
    advance(lease_ttl().as_secs_f64() * 0.8);
    assert!(store.claim("r1", &b, &[]).is_err(), "renewed by the append");
    // Then a goes silent and its lease expires.
    advance(lease_ttl().as_secs_f64() + 1.0);
    let mut lease_b = store.claim("r1", &b, &[]).expect("b takes over");
    assert_eq!(lease_b.epoch, 2);
    // a's writes are fenced off and write nothing.
    let before = store.events("r1", None, 0).expect("events").len();
    let lost = store.append(&mut lease_a, &[started("t")]);
    assert!(
        matches!(&lost, Err(StoreError::LeaseLost { by: Some(by), .. }) if by.contains("b.example")),
        "{lost:?}"
    );
    assert!(matches!(
        store.renew(&mut lease_a),
        Err(StoreError::LeaseLost { .. })
    ));
    assert_eq!(store.events("r1", None, 0).expect("events").len(), before);
    store
        .append(&mut lease_b, &[started("t")])
        .expect("b appends");
    assert_eq!(
        store.events("r1", None, 0).expect("events").len(),
        before + 1
    );
}

fn an_owner_of_this_machine_that_is_gone_is_not_waited_for(store: &mut dyn Backend) {
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let pid = child.id();
    child.wait().expect("wait");
    let host = Owner::this_process()
        .id()
        .split(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let gone = Owner::from_id(format!("{host}:{pid}:1"));
    new_run(store, &gone);
    let lease = store
        .claim("r1", &Owner::this_process(), &[])
        .expect("taken over at once");
    assert_eq!(lease.epoch, 2);
}

fn the_end_of_a_run_releases_its_lease(store: &mut dyn Backend) {
    let mut lease = new_run(store, &remote("a"));
    let finished = Box::new(Event::RunFinished {
        run_id: "r1".into(),
        status: RunStatus::Paused,
        duration_ms: 1.0,
        error: None,
        outputs: None,
    });
    store.append(&mut lease, &[finished]).expect("append");
    let run = store.run("r1").expect("run");
    assert_eq!(run.status, RunStatus::Paused);
    assert_eq!(store.count_runs(RunStatus::Paused).expect("count"), 1);
    assert_eq!(store.count_runs(RunStatus::Running).expect("count"), 0);
    assert_eq!(run.owner, None);
    assert!(!run.is_driven());
    // A pause asked of a run nobody drives is refused; a cancel is done here.
    assert!(store.request("r1", Stop::Pause).is_err());
    assert_eq!(store.request("r1", Stop::Cancel).ok(), Some(false));
    assert_eq!(store.run("r1").expect("run").status, RunStatus::Cancelled);
    assert!(matches!(
        store.append(&mut lease, &[started("s")]),
        Err(StoreError::LeaseLost { by: None, .. })
    ));
}

fn a_child_run_is_found_by_its_key_names_its_parent_and_keeps_its_outputs(store: &mut dyn Backend) {
    let owner = remote("a");
    new_run_in(store, "p1", &owner, None);
    let (inputs, trigger) = (json!({}), crate::engine::Trigger::workflow("p1"));
    let child = |id: &'static str| NewRun {
        name: "c",
        path: "c.yaml",
        workflow_digest: "dc",
        workflow_text: "name: c",
        started_by: "run:p1",
        trigger: &trigger,
        idempotency_key: Some("child:p1:build[0]#1"),
        parent: Some(super::ParentRef {
            run: "p1",
            step: "build[0]",
        }),
        ..record(id, None, &inputs)
    };
    let Admission::Running(mut lease) = store.create_run(&child("c1"), &owner).expect("created")
    else {
        panic!("a child starts at once");
    };
    // The same attempt again (a resumed parent) finds the first.
    assert!(matches!(
        store.create_run(&child("c2"), &owner),
        Err(StoreError::DuplicateKey { run }) if run == "c1"
    ));
    let finished = Box::new(Event::RunFinished {
        run_id: "c1".into(),
        status: RunStatus::Succeeded,
        duration_ms: 1.0,
        error: None,
        outputs: Some(json!({ "doubled": 4 })),
    });
    store.append(&mut lease, &[finished]).expect("append");
    let children = store.children("p1").expect("children");
    assert_eq!(children.len(), 1);
    assert_eq!(
        children[0].parent,
        Some(super::Parent {
            run: "p1".into(),
            step: "build[0]".into()
        })
    );
    assert_eq!(children[0].outputs, Some(json!({ "doubled": 4 })));
    assert_eq!(store.run("p1").expect("parent").parent, None);
    assert!(store.children("c1").expect("none").is_empty());
}

fn requests_reach_the_owner_and_a_second_cancel_goes_further(store: &mut dyn Backend) {
    // A live owner is this process (is_driven reads the system clock).
    store.set_clock(super::now_seconds);
    new_run(store, &Owner::this_process());
    assert_eq!(store.requested("r1").expect("read"), None);
    assert_eq!(store.request("r1", Stop::Cancel).ok(), Some(true));
    assert_eq!(store.requested("r1").expect("read"), Some(Stop::Cancel));
    assert_eq!(store.request("r1", Stop::Cancel).ok(), Some(true));
    assert_eq!(store.requested("r1").expect("read"), Some(Stop::CancelNow));
}

fn a_value_is_stored_once_and_reads_back_whole(store: &mut dyn Backend) {
    store.set_clock(super::now_seconds);
    let mut lease = new_run(store, &Owner::this_process());
    let big = "v".repeat(100_000);
    let output = Arc::new(json!(big));
    let key = AttemptKey::first("s");
    let events = vec![
        Box::new(Event::StepStarted {
            key: key.clone(),
            input: Some(Arc::new(json!({"text": big, "n": 1}))),
        }),
        Box::new(Event::StepSucceeded {
            key,
            duration_ms: 1.0,
            fuel: 2,
            memory_peak_bytes: 3,
            output: Arc::clone(&output),
        }),
        Box::new(Event::StepFinished {
            step: "s".into(),
            status: crate::engine::StepStatus::Succeeded,
            attempts: 1,
            duration_ms: 1.0,
            fuel: 2,
            memory_peak_bytes: 3,
            output: Some(Arc::clone(&output)),
            failure: None,
        }),
    ];
    store.append(&mut lease, &events).expect("append");
    let (blobs, bytes) = (
        store.scalar("SELECT count(*) FROM blobs"),
        store.scalar("SELECT CAST(sum(length(body)) AS BIGINT) FROM blobs"),
    );
    assert_eq!(
        (blobs, bytes),
        (1, 100_000),
        "100 KB kept once, in input, output and end"
    );
    let elsewhere = store.scalar(
        "SELECT CAST((SELECT sum(length(body) + coalesce(length(payload), 0)) FROM events)
              + (SELECT sum(length(result)) FROM attempts)
              + (SELECT sum(coalesce(length(output), 0)) FROM steps) AS BIGINT)",
    );
    assert!(
        elsewhere < 2_000,
        "the rest refers to it: {elsewhere} bytes"
    );
    let read = store.events("r1", None, 0).expect("events");
    for (stored, sent) in read.iter().zip(&events) {
        assert_eq!(
            stored.body,
            serde_json::to_value(sent).expect("json"),
            "{}",
            stored.kind
        );
    }
    let attempts = store.attempts("r1").expect("attempts");
    assert_eq!(attempts[0].result.outcome.as_deref().ok(), Some(&*output));
    assert!(attempts[0].complete);
    let steps = store.steps("r1").expect("steps");
    assert_eq!(steps[0].output.as_ref(), Some(&*output));
    // Pruning the run takes its blobs with it.
    store.set_status("r1", RunStatus::Succeeded).expect("ended");
    assert_eq!(store.prune(f64::MAX).expect("pruned"), 1);
    let blobs = store.scalar("SELECT count(*) FROM blobs");
    assert_eq!(blobs, 0);
}

fn slot(when_full: WhenFull) -> Option<Slot<'static>> {
    Some(Slot {
        key: "deploy-prod",
        limit: 1,
        when_full,
        max_queued: 2,
    })
}

fn a_full_slot_queues_runs_in_order_and_frees_when_its_run_ends(store: &mut dyn Backend) {
    let owner = remote("a");
    let queue = slot(WhenFull::Queue);
    let first = new_run_in(store, "r1", &owner, queue).running();
    assert!(first.is_some(), "a free slot: running");
    let second = new_run_in(store, "r2", &owner, queue);
    assert!(
        matches!(&second, Admission::Queued { held_by } if held_by == &["r1"]),
        "{second:?}"
    );
    assert!(matches!(
        new_run_in(store, "r3", &owner, queue),
        Admission::Queued { .. }
    ));
    // The queue is bounded.
    let refused = try_new_run(store, "r4", &owner, queue);
    assert!(matches!(refused, Err(StoreError::Refused(m)) if m.contains("max_queued")));
    assert_eq!(store.run("r2").expect("r2").status, RunStatus::Queued);
    assert_eq!(
        store.admit("r2", &owner).expect("admit").map(|l| l.run_id),
        None,
        "r1 holds it"
    );
    store
        .set_status("r1", RunStatus::Succeeded)
        .expect("r1 ends");
    assert_eq!(
        store.admit("r3", &owner).expect("admit").map(|l| l.run_id),
        None,
        "r2 is first"
    );
    let admitted = store
        .admit("r2", &owner)
        .expect("admit")
        .expect("r2's turn");
    assert_eq!(admitted.run_id, "r2");
    assert_eq!(store.slot_holders("deploy-prod").expect("holders"), ["r2"]);
    // A run without a slot is never held back.
    assert!(new_run_in(store, "free", &owner, None).running().is_some());
}

fn cancel_newest_records_the_newcomer_cancelled_and_cancel_running_asks_the_holder(
    store: &mut dyn Backend,
) {
    let owner = remote("a");
    new_run_in(store, "r1", &owner, slot(WhenFull::CancelNewest))
        .running()
        .expect("running");
    let newest = new_run_in(store, "r2", &owner, slot(WhenFull::CancelNewest));
    assert!(matches!(newest, Admission::Cancelled { .. }), "{newest:?}");
    assert_eq!(store.run("r2").expect("r2").status, RunStatus::Cancelled);
    let queued = new_run_in(store, "r3", &owner, slot(WhenFull::CancelRunning));
    assert!(matches!(queued, Admission::Queued { .. }), "{queued:?}");
    assert_eq!(
        store.requested("r1").expect("requested"),
        Some(Stop::Cancel)
    );
}

/// Several runs' events in one transaction: a run whose lease was lost is
/// left out with its error, the others are recorded.
fn one_transaction_for_many_runs_leaves_out_a_run_whose_lease_was_lost(store: &mut dyn Backend) {
    let (a, b) = (remote("a"), remote("b"));
    let mut lost = new_run(store, &a);
    let mut kept = new_run_in(store, "r2", &a, None)
        .running()
        .expect("no slot needed");
    advance(lease_ttl().as_secs_f64() + 1.0);
    let _taken = store.claim("r1", &b, &[]).expect("b takes r1 over");
    let kept_renewed = {
        let (first, second) = ([started("s")], [started("t"), started("u")]);
        let mut batches = [
            super::Batch {
                lease: &mut lost,
                events: &first,
                result: Ok(()),
            },
            super::Batch {
                lease: &mut kept,
                events: &second,
                result: Ok(()),
            },
        ];
        store.append_many(&mut batches).expect("the transaction");
        assert!(
            matches!(&batches[0].result, Err(StoreError::LeaseLost { .. })),
            "{:?}",
            batches[0].result
        );
        assert!(batches[1].result.is_ok());
        batches[1].lease.expires_at
    };
    assert_eq!(store.events("r1", None, 0).expect("events").len(), 0);
    assert_eq!(store.events("r2", None, 0).expect("events").len(), 2);
    assert!(kept_renewed > clock(), "the kept run's lease was renewed");
}

fn a_breaker_counts_failures_in_its_window_lets_one_probe_through_and_closes_on_success(
    store: &mut dyn Backend,
) {
    use super::{CallVerdict, CircuitAdmission, CircuitRule};
    let rule = CircuitRule {
        key: "m.a",
        failures: 2,
        within_seconds: 60.0,
        open_for_seconds: 30.0,
    };
    let failed = CallVerdict::Failed("error: boom".into());
    let admit = |store: &mut dyn Backend| store.admit_call(&rule).expect("admit");
    store.record_call(&rule, false, &failed).expect("record");
    // The first failure left the window before the second came.
    advance(61.0);
    store.record_call(&rule, false, &failed).expect("record");
    assert_eq!(admit(store), CircuitAdmission::Closed);
    // Cancelled calls do not count.
    store
        .record_call(&rule, false, &CallVerdict::Neutral)
        .expect("record");
    assert_eq!(admit(store), CircuitAdmission::Closed);
    store.record_call(&rule, false, &failed).expect("record");
    let opened = clock();
    assert_eq!(
        admit(store),
        CircuitAdmission::Open {
            until: opened + 30.0
        }
    );
    advance(30.0);
    assert_eq!(admit(store), CircuitAdmission::Probe);
    // While the probe is out, others fail fast.
    assert!(matches!(admit(store), CircuitAdmission::Open { .. }));
    store.record_call(&rule, true, &failed).expect("record");
    assert!(matches!(admit(store), CircuitAdmission::Open { .. }));
    advance(30.0);
    assert_eq!(admit(store), CircuitAdmission::Probe);
    store
        .record_call(&rule, true, &CallVerdict::Succeeded)
        .expect("record");
    assert_eq!(admit(store), CircuitAdmission::Closed);
    assert!(store.circuits().expect("list").is_empty());
    // A probe whose caller vanished is given up after another `open_for`.
    store.record_call(&rule, false, &failed).expect("record");
    store.record_call(&rule, false, &failed).expect("record");
    advance(30.0);
    assert_eq!(admit(store), CircuitAdmission::Probe);
    advance(30.0);
    assert_eq!(admit(store), CircuitAdmission::Probe);
    let listed = store.circuits().expect("list");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].is_open());
    assert_eq!(listed[0].last_error.as_deref(), Some("error: boom"));
    assert!(store.reset_circuit("m.a").expect("reset"));
    assert!(!store.reset_circuit("m.a").expect("reset"));
    assert_eq!(admit(store), CircuitAdmission::Closed);
}

fn a_trace_is_due_once_its_run_ended_and_one_exporter_claims_it(store: &mut dyn Backend) {
    let owner = remote("a");
    let inputs = json!({});
    let mut traced = record("t1", None, &inputs);
    traced.export_trace = true;
    let Admission::Running(mut lease) = store.create_run(&traced, &owner).expect("created") else {
        panic!("no slot needed");
    };
    new_run_in(store, "quiet", &owner, None);
    assert!(
        store.traces_due(10).expect("due").is_empty(),
        "not ended yet"
    );
    let finished = |id: &str| {
        Box::new(Event::RunFinished {
            run_id: id.into(),
            status: RunStatus::Failed,
            duration_ms: 1.0,
            error: None,
            outputs: None,
        })
    };
    store.append(&mut lease, &[finished("t1")]).expect("append");
    assert_eq!(store.traces_due(10).expect("due"), ["t1"]);
    assert!(store.claim_trace("t1").expect("claim"));
    assert!(!store.claim_trace("t1").expect("claim"), "claimed once");
    assert!(store.traces_due(10).expect("due").is_empty());
    // The collector refused it: due again.
    store.release_trace("t1").expect("release");
    assert_eq!(store.traces_due(10).expect("due"), ["t1"]);
    assert!(!store.claim_trace("quiet").expect("claim"), "never due");
}

fn webhook_deliveries_are_kept_newest_first_and_bounded_per_path(store: &mut dyn Backend) {
    use crate::store::{Delivery, MAX_DELIVERIES};
    let delivery = |outcome: &'static str| Delivery {
        path: "/hooks/a",
        workflow: "a",
        status: if outcome == "started" { 202 } else { 401 },
        outcome,
        reason: (outcome != "started").then_some("bad signature"),
        run_id: (outcome == "started").then_some("r1"),
    };
    for _ in 0..MAX_DELIVERIES + 5 {
        store
            .record_delivery(&delivery("unauthorized"))
            .expect("recorded");
    }
    store
        .record_delivery(&delivery("started"))
        .expect("recorded");
    let other = Delivery {
        path: "/hooks/b",
        ..delivery("started")
    };
    store.record_delivery(&other).expect("recorded");
    let kept = store.deliveries("/hooks/a", 1000).expect("read");
    assert_eq!(kept.len(), MAX_DELIVERIES, "bounded per path");
    assert_eq!(kept[0].outcome, "started", "newest first");
    assert_eq!(kept[0].run_id.as_deref(), Some("r1"));
    assert_eq!(kept[1].reason.as_deref(), Some("bad signature"));
    assert_eq!(kept[1].status, 401);
    assert_eq!(store.deliveries("/hooks/b", 10).expect("read").len(), 1);
    assert!(store.deliveries("/hooks/c", 10).expect("read").is_empty());
}

fn recent_runs_are_the_newest_that_pass_the_filter(store: &mut dyn Backend) {
    use crate::store::RunFilter;
    let owner = remote("a");
    let inputs = json!({});
    let api = crate::engine::Trigger::api("alice");
    for (id, name, trigger) in [
        ("r1", "w", &*CLI),
        ("r2", "v", &*CLI),
        ("r3", "w", &api),
        ("r4", "w", &*CLI),
    ] {
        advance(1.0);
        let run = NewRun {
            name,
            trigger,
            ..record(id, None, &inputs)
        };
        store.create_run(&run, &owner).expect("created");
    }
    store.set_status("r4", RunStatus::Failed).expect("failed");
    let ids = |filter: RunFilter<'_>| -> Vec<String> {
        let runs = store.recent_runs(&filter).expect("listed");
        runs.into_iter().map(|r| r.id).collect()
    };
    let all = RunFilter {
        limit: 10,
        ..RunFilter::default()
    };
    assert_eq!(ids(all), ["r4", "r3", "r2", "r1"], "newest first");
    assert_eq!(ids(RunFilter { limit: 2, ..all }), ["r4", "r3"]);
    assert_eq!(
        ids(RunFilter {
            workflow: Some("w"),
            ..all
        }),
        ["r4", "r3", "r1"]
    );
    assert_eq!(
        ids(RunFilter {
            trigger: Some("api"),
            ..all
        }),
        ["r3"]
    );
    assert_eq!(
        ids(RunFilter {
            status: Some(RunStatus::Running),
            workflow: Some("w"),
            trigger: Some("cli"),
            ..all
        }),
        ["r1"]
    );
}

fn workers_are_seen_with_their_slots_and_forgotten_when_they_stop(store: &mut dyn Backend) {
    let (a, b) = (remote("a"), remote("b"));
    let first = clock();
    store.worker_seen(&a, 4).expect("a seen");
    advance(10.0);
    store.worker_seen(&b, 8).expect("b seen");
    let recent = store.workers(clock() - 5.0).expect("workers");
    assert_eq!(
        recent
            .iter()
            .map(|w| (w.id.as_str(), w.slots))
            .collect::<Vec<_>>(),
        [(b.id(), 8)]
    );
    // Seen again: still the worker that started then.
    store.worker_seen(&a, 4).expect("a seen again");
    let all = store.workers(0.0).expect("workers");
    assert_eq!(all.len(), 2);
    assert_eq!((all[0].started_at, all[0].seen_at), (first, clock()));
    store.worker_gone(&b).expect("b gone");
    let left: Vec<String> = store
        .workers(0.0)
        .expect("workers")
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(left, [a.id().to_string()]);
}

fn runs_whose_driver_went_silent_are_orphans_and_the_others_are_not(store: &mut dyn Backend) {
    let inputs = json!({});
    let create = |store: &mut dyn Backend, id: &str, owner: &Owner, started_by: &str| {
        let mut run = record(id, None, &inputs);
        run.started_by = started_by;
        store
            .create_run(&run, owner)
            .expect("created")
            .running()
            .expect("no slot needed")
    };
    let mut live = create(store, "live", &remote("a"), "api:alice");
    create(store, "silent", &remote("b"), "api:alice");
    create(store, "handed-over", &remote("c"), "api:alice");
    create(store, "ctrl-c", &remote("d"), "cli:ada");
    let mut parent = create(store, "parent", &remote("e"), "api:alice");
    let mut child = record("child", None, &inputs);
    child.parent = Some(super::ParentRef {
        run: "parent",
        step: "s",
    });
    store.create_run(&child, &remote("e")).expect("child");
    store
        .set_status("handed-over", RunStatus::Interrupted)
        .expect("interrupted");
    store
        .set_status("ctrl-c", RunStatus::Interrupted)
        .expect("interrupted");
    assert_eq!(store.orphans().expect("orphans"), ["handed-over"]);
    // Past the leases, but `live` and `parent` renewed theirs: the child
    // continues with its parent, whatever its own lease says.
    advance(lease_ttl().as_secs_f64() + 1.0);
    store.renew(&mut live).expect("renewed");
    store.renew(&mut parent).expect("renewed");
    let mut orphans = store.orphans().expect("orphans");
    orphans.sort();
    assert_eq!(orphans, ["handed-over", "silent"]);
}
