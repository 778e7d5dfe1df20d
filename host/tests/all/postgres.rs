//! Processes sharing one PostgreSQL database (`--db postgres://…`), each
//! with a home of its own as separate machines have: two servers fire each
//! cron tick once, a signal sent from another home reaches the run a
//! server drives, and a run killed in one home is resumed from another.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{
    Backend, home_sharing_store, json, newest_run, spawn, stored, stored_count, try_stored, wfhost,
    write,
};
use crate::serve::{APPROVAL, Server, ended, start, token, wait_for};

#[test]
fn two_servers_sharing_a_database_start_one_run_per_cron_tick() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home_a = Backend::Postgres.home(dir.path());
    let home_b = home_sharing_store(&home_a, dir.path(), "other");
    let workflows = dir.path().join("workflows");
    write(
        &workflows,
        "every.yaml",
        "name: every\ntriggers:\n  - { cron: \"* * * * * *\", overlap: allow }\nsteps:\n  - { id: say, module: system, action: echo, inputs: { message: \"{{ trigger.scheduled_time }}\" } }\n",
    );
    let servers = [
        Server::start(&home_a, &workflows, &[]),
        Server::start(&home_b, &workflows, &[]),
    ];
    let started = Instant::now();
    while stored_count(&home_a, "SELECT count(*) FROM runs", &[]) < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the schedule never started five runs"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(servers);
    let per_tick = stored(
        &home_a,
        "SELECT (trigger_data::jsonb ->> 'scheduled_time'), count(*), min(status) FROM runs GROUP BY 1 ORDER BY 1",
        &[],
    );
    assert!(per_tick.len() >= 5, "{per_tick:?}");
    for tick in &per_tick {
        assert_eq!(tick[1], "1", "one run per tick: {per_tick:?}");
    }
    // Both servers recorded the ticks they saw, naming the one run each
    // tick started: the second to arrive found it by the tick's key.
    let unknown = stored_count(
        &home_a,
        "SELECT count(*) FROM schedule_ticks t WHERE t.outcome = 'started'
           AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = t.run_id)",
        &[],
    );
    assert_eq!(unknown, 0);
}

#[test]
fn a_signal_sent_from_another_home_reaches_the_run_a_server_drives() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = Backend::Postgres.home(dir.path());
    let elsewhere = home_sharing_store(&home, dir.path(), "elsewhere");
    let workflows = dir.path().join("workflows");
    write(&workflows, "approval.yaml", APPROVAL);
    let alice = token(&home, "alice");
    let server = Server::start(&home, &workflows, &[]);
    let id = start(&server, &alice, "approval", &json!({}));
    wait_for(&server, &alice, &id, "waiting", |run| {
        run["status"] == "waiting"
    });
    // Another home reads the run the server drives, and signals it.
    let status = json(&elsewhere, &["status", &id, "--json"]);
    assert_eq!(status["status"], "waiting", "{status}");
    let sent = wfhost(
        &elsewhere,
        &["signal", &id, "go", "--data", r#"{"approved": true}"#],
    );
    assert_eq!(sent.code, 0, "{}", sent.render());
    let run = wait_for(&server, &alice, &id, "an end", ended);
    assert_eq!(run["status"], "succeeded", "{run}");
    // The token made in one home is known in the other: one database.
    let listed = wfhost(&elsewhere, &["token", "list"]);
    assert!(listed.stdout.contains("alice"), "{}", listed.render());
}

#[test]
fn a_run_killed_in_one_home_is_resumed_from_another() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = Backend::Postgres.home(dir.path());
    let elsewhere = home_sharing_store(&home, dir.path(), "elsewhere");
    let file = write(
        dir.path(),
        "slow.yaml",
        "name: slow\nsteps:\n  - { id: s1, module: system, action: sleep, inputs: { milliseconds: 300 }, onSuccess: s2 }\n  - { id: s2, module: system, action: sleep, inputs: { milliseconds: 300 }, onSuccess: s3 }\n  - { id: s3, module: system, action: echo, inputs: { message: done } }\n",
    );
    let mut child = spawn(&home, &["run", file.to_str().expect("UTF-8")]);
    let started = Instant::now();
    // Until s1 has ended (the tables exist once the run is recorded).
    let s1_ended = || {
        try_stored(&home, "SELECT 1 FROM attempts WHERE step = 's1'", &[])
            .is_ok_and(|rows| !rows.is_empty())
    };
    while !s1_ended() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "s1 never ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    let run = newest_run(&elsewhere);
    let resumed = wfhost(&elsewhere, &["resume", &run]);
    assert_eq!(resumed.code, 0, "{}", resumed.render());
    assert!(resumed.stdout.contains("(recorded)"), "{}", resumed.stdout);
    let status = json(&home, &["status", &run, "--json"]);
    assert_eq!(status["status"], "succeeded", "{status}");
    let outputs: Vec<&Value> = status["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|step| &step["output"])
        .collect();
    assert_eq!(outputs.last(), Some(&&json!("done")), "{status}");
}
