//! Processes sharing one PostgreSQL database (`--db postgres://…`), each
//! with a home of its own as separate machines have: two servers fire each
//! cron tick once, a signal sent from another home reaches the run a
//! server drives, and a run killed in one home is resumed from another.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{
    Backend, home_on, home_sharing_store, json, newest_run, run_status, spawn, spawn_logged,
    stored, stored_count, try_stored, wfhost, write,
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

/// Workflow `name`: `count` steps `s1`, `s2`, … in a row, each sleeping
/// `milliseconds`.
fn sleeps(name: &str, count: usize, milliseconds: u64) -> String {
    let steps: String = (1..=count)
        .map(|i| {
            let next = if i < count { format!(", onSuccess: s{}", i + 1) } else { String::new() };
            format!("  - {{ id: s{i}, module: system, action: sleep, inputs: {{ milliseconds: {milliseconds} }}{next} }}\n")
        })
        .collect();
    format!("name: {name}\nsteps:\n{steps}")
}

/// The runs (still running) process `pid` drives, by the owner ids leases
/// record (`host:pid:start`).
fn driven_by(home: &std::path::Path, pid: u32) -> i64 {
    stored_count(
        home,
        &format!("SELECT count(*) FROM runs WHERE owner LIKE '%:{pid}:%' AND status = 'running'"),
        &[],
    )
}

/// Wait until process `pid` drives a run; panics after 30 s.
fn until_driving(home: &std::path::Path, pid: u32) {
    let started = Instant::now();
    while driven_by(home, pid) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "worker {pid} never drove a run"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How long until no run is left to process `pid` (each taken over by
/// another worker, or ended); panics after 30 s.
fn taken_from(home: &std::path::Path, pid: u32) -> Duration {
    let started = Instant::now();
    while driven_by(home, pid) > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the runs of worker {pid} were never taken over: {:?}",
            stored(
                home,
                &format!(
                    "SELECT id, name, status, owner, lease_expires, lease_epoch FROM runs WHERE owner LIKE '%:{pid}:%'"
                ),
                &[]
            )
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

/// Worker processes, killed (and their logs shown, when a check failed)
/// when dropped.
struct Workers {
    children: Vec<std::process::Child>,
    logs: Vec<std::path::PathBuf>,
}

impl Workers {
    fn start(home: &std::path::Path, dir: &std::path::Path, count: usize, lease: &str) -> Self {
        let logs: Vec<_> = (0..count)
            .map(|i| dir.join(format!("worker-{i}.log")))
            .collect();
        let children = logs
            .iter()
            .enumerate()
            .map(|(i, log)| {
                let home = home_sharing_store(home, dir, &format!("worker-{i}"));
                spawn_logged(&home, &["worker", "--slots", "4", "--lease", lease], log)
            })
            .collect();
        Self { children, logs }
    }

    fn pid(&self, index: usize) -> u32 {
        self.children[index].id()
    }

    fn log(&self, index: usize) -> String {
        std::fs::read_to_string(&self.logs[index]).unwrap_or_default()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.children {
            // A stopped process is killed all the same.
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            #[allow(clippy::print_stderr)] // what the workers said, for the failure
            for index in 0..self.logs.len() {
                eprintln!("worker {index} said:\n{}", self.log(index));
            }
        }
    }
}

fn signal(pid: u32, name: &str) {
    let sent = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{name} {pid}");
}

/// `serve --no-worker` queues every run; three workers take them. One is
/// killed with SIGKILL mid-run and another stopped (SIGSTOP) past its
/// lease: their runs are taken over soon after the kill and after the
/// stopped one's lease ends, every
/// run ends succeeded with each attempt's result and each step's end
/// recorded once, and the stopped worker, woken, records nothing more.
#[test]
fn workers_take_the_runs_a_server_queues_and_take_over_from_a_lost_one() {
    const LEASE: Duration = Duration::from_secs(2);
    let lease = format!("{}s", LEASE.as_secs());
    let dir = tempfile::tempdir().expect("temp dir");
    let home = Backend::Postgres.home(dir.path());
    let workflows = dir.path().join("workflows");
    write(&workflows, "five.yaml", &sleeps("five", 5, 100));
    write(
        &workflows,
        "map.yaml",
        "name: map\nsteps:\n  - { id: each, module: system, action: echo, inputs: { message: \"item {{ item }}\" }, foreach: \"{{ range(200) | list }}\", concurrency: 16 }\n",
    );
    let alice = token(&home, "alice");
    let server = Server::start(&home, &workflows, &["--no-worker", "--lease", &lease]);
    let mut workers = Workers::start(&home, dir.path(), 3, &lease);
    let mut ids: Vec<String> = (0..300)
        .map(|_| start(&server, &alice, "five", &json!({})))
        .collect();
    ids.push(start(&server, &alice, "map", &json!({})));

    let (killed, stopped) = (workers.pid(0), workers.pid(1));
    until_driving(&home, killed);
    signal(killed, "KILL");
    let after_kill = taken_from(&home, killed);
    until_driving(&home, stopped);
    signal(stopped, "STOP");
    // When its last lease ends (a transaction it was in never commits).
    std::thread::sleep(Duration::from_millis(100));
    let expiry: f64 = stored(
        &home,
        &format!("SELECT max(lease_expires) FROM runs WHERE owner LIKE '%:{stopped}:%'"),
        &[],
    )[0][0]
        .parse()
        .expect("an expiry");
    let after_stop = taken_from(&home, stopped);
    let past_expiry = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
        - expiry;
    signal(stopped, "CONT");

    let started = Instant::now();
    while stored_count(
        &home,
        "SELECT count(*) FROM runs WHERE status NOT IN ('succeeded', 'failed', 'cancelled')",
        &[],
    ) > 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the runs never ended"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(server);
    for index in 1..3 {
        signal(workers.pid(index), "TERM");
        let stopped = workers.children[index].wait().expect("the worker stops");
        assert!(stopped.success(), "worker {index}: {stopped:?}");
    }
    #[allow(clippy::print_stderr)] // the figures, shown with --nocapture
    {
        eprintln!(
            "workers: {} runs; taken over {after_kill:.2?} after SIGKILL, {after_stop:.2?} after SIGSTOP ({past_expiry:.2} s after its lease ended; lease {LEASE:?})",
            ids.len()
        );
    }
    // A process of this machine that is gone is not waited for; one that
    // went silent is waited for until its lease ends. Taking a run over
    // plans its workflow again: typically 0.3 s here, bounded at 2 s for a
    // CI machine whose two cores run other tests beside these processes.
    assert!(after_kill <= Duration::from_secs(2), "{after_kill:?}");
    assert!(
        past_expiry <= 2.0,
        "taken over {past_expiry} s after the lease ended"
    );

    let statuses = stored(
        &home,
        "SELECT status, count(*) FROM runs GROUP BY status",
        &[],
    );
    let unsuccessful = stored(
        &home,
        "SELECT id, name, status, error, lease_epoch FROM runs WHERE status != 'succeeded'",
        &[],
    );
    assert_eq!(
        statuses,
        [["succeeded".to_string(), ids.len().to_string()]],
        "{unsuccessful:?}"
    );
    let twice = stored_count(
        &home,
        "SELECT count(*) FROM (SELECT run_id, body::jsonb ->> 'step', body::jsonb ->> 'visit',
                  body::jsonb ->> 'item', body::jsonb ->> 'iteration', body::jsonb ->> 'attempt'
           FROM events WHERE kind IN ('step_succeeded', 'step_failed')
           GROUP BY 1, 2, 3, 4, 5, 6 HAVING count(*) > 1) twice",
        &[],
    );
    assert_eq!(twice, 0, "an attempt's result was recorded twice");
    let ends_twice = stored_count(
        &home,
        "SELECT count(*) FROM (SELECT run_id, step FROM events WHERE kind = 'step_finished'
           GROUP BY 1, 2 HAVING count(*) > 1) twice",
        &[],
    );
    assert_eq!(ends_twice, 0, "a step's end was recorded twice");
    let taken_over = stored_count(
        &home,
        "SELECT count(*) FROM runs WHERE lease_epoch > 2",
        &[],
    );
    assert!(taken_over >= 2, "{taken_over} runs taken over");
    let woken = workers.log(1);
    assert!(
        woken.contains("no longer driven by this process"),
        "the stopped worker, woken: {woken}"
    );
}

/// The database restarts (a fast shutdown: every session ended) while a
/// worker drives a run: the server and the worker connect again, the
/// worker takes the run over once its lease expired, and it ends
/// succeeded with each step recorded once.
#[test]
fn a_run_completes_when_the_database_restarts_under_it() {
    let mut database = crate::test_server::PrivateServer::start("restart");
    let dir = tempfile::tempdir().expect("temp dir");
    let home = home_on(dir.path(), &database.url());
    let workflows = dir.path().join("workflows");
    write(&workflows, "slow.yaml", &sleeps("slow", 6, 300));
    let alice = token(&home, "alice");
    let server = Server::start(&home, &workflows, &["--no-worker", "--lease", "2s"]);
    let workers = Workers::start(&home, dir.path(), 1, "2s");
    let id = start(&server, &alice, "slow", &json!({}));
    let started = Instant::now();
    while try_stored(&home, "SELECT 1 FROM attempts WHERE run_id = ?1", &[&id])
        .map_or(0, |rows| rows.len())
        < 2
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the run never got going"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    database.restart();
    let restarted = Instant::now();
    let status = |home: &std::path::Path| {
        try_stored(home, "SELECT status FROM runs WHERE id = ?1", &[&id])
            .ok()
            .and_then(|rows| rows.into_iter().next())
            .map(|mut row| row.remove(0))
    };
    while status(&home).as_deref() != Some("succeeded") {
        assert!(
            restarted.elapsed() < Duration::from_secs(60),
            "the run never ended after the restart: {:?}",
            status(&home)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ends_twice = stored_count(
        &home,
        "SELECT count(*) FROM (SELECT step FROM events WHERE run_id = ?1 AND kind = 'step_finished'
           GROUP BY step HAVING count(*) > 1) twice",
        &[&id],
    );
    assert_eq!(ends_twice, 0, "a step's end was recorded twice");
    let ended = stored_count(
        &home,
        "SELECT count(*) FROM steps WHERE run_id = ?1 AND status = 'succeeded'",
        &[&id],
    );
    assert_eq!(ended, 6);
    let epoch = stored_count(&home, "SELECT lease_epoch FROM runs WHERE id = ?1", &[&id]);
    #[allow(clippy::print_stderr)] // the figure, shown with --nocapture
    {
        eprintln!(
            "restart: the run ended {:.2?} after the database restarted (lease epoch {epoch}: {})",
            restarted.elapsed(),
            if epoch > 2 {
                "taken over"
            } else {
                "its worker went on"
            }
        );
    }
    drop(workers);
}

/// A PostgreSQL home with token `alice` and `serve --no-worker` serving
/// workflow `name` of `count` steps sleeping `milliseconds` each: (the
/// temporary directory to keep, home, token, server).
fn serving_for_workers(
    name: &str,
    count: usize,
    milliseconds: u64,
) -> (tempfile::TempDir, std::path::PathBuf, String, Server) {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = Backend::Postgres.home(dir.path());
    let workflows = dir.path().join("workflows");
    write(
        &workflows,
        &format!("{name}.yaml"),
        &sleeps(name, count, milliseconds),
    );
    let alice = token(&home, "alice");
    let server = Server::start(&home, &workflows, &["--no-worker"]);
    (dir, home, alice, server)
}

/// A run queued for workers while none runs says so in `status`; the
/// first worker to start takes it, and a worker that stops is forgotten.
#[test]
fn a_run_queued_while_no_worker_runs_says_so_and_the_first_worker_takes_it() {
    let (dir, home, alice, server) = serving_for_workers("one", 1, 10);
    let id = start(&server, &alice, "one", &json!({}));
    let shown = wfhost(&home, &["status", &id]);
    assert!(
        shown.stdout.contains("no `wfhost worker` is running"),
        "{}",
        shown.render()
    );
    let mut workers = Workers::start(&home, dir.path(), 1, "15s");
    let run = wait_for(&server, &alice, &id, "an end", ended);
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(stored_count(&home, "SELECT count(*) FROM workers", &[]), 1);
    signal(workers.pid(0), "TERM");
    let stopped = workers.children[0].wait().expect("the worker stops");
    assert!(stopped.success(), "{stopped:?}\n{}", workers.log(0));
    assert_eq!(stored_count(&home, "SELECT count(*) FROM workers", &[]), 0);
}

/// A worker that polls only once a minute still takes a queued run at once:
/// the database notifies it (`LISTEN`/`NOTIFY`) when a run is queued.
#[test]
fn a_queued_run_wakes_a_worker_that_polls_rarely() {
    let (dir, home, alice, server) = serving_for_workers("one", 1, 10);
    let worker_home = home_sharing_store(&home, dir.path(), "worker");
    let log = dir.path().join("worker.log");
    let mut worker = spawn_logged(&worker_home, &["worker", "--poll", "60s"], &log);
    // Listening once it says it is alive.
    let started = Instant::now();
    while try_stored(&home, "SELECT 1 FROM workers", &[]).map_or(true, |rows| rows.is_empty()) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the worker never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..3 {
        let queued = Instant::now();
        let id = start(&server, &alice, "one", &json!({}));
        let run = wait_for(&server, &alice, &id, "an end", ended);
        assert_eq!(run["status"], "succeeded", "{run}");
        assert!(
            queued.elapsed() < Duration::from_secs(20),
            "taken {:?} after it was queued: not woken",
            queued.elapsed()
        );
    }
    let _ = worker.kill();
    let _ = worker.wait();
}

/// Paused and resumed over the API of a server that drives no runs: the
/// worker pauses it, the server hands the resumed run back to the workers,
/// and a worker finishes it; resuming from a step is refused there.
#[test]
fn a_run_paused_and_resumed_through_a_server_without_workers_is_finished_by_a_worker() {
    let (dir, home, alice, server) = serving_for_workers("slow", 5, 300);
    let workers = Workers::start(&home, dir.path(), 1, "15s");
    let id = start(&server, &alice, "slow", &json!({}));
    until_driving(&home, workers.pid(0));
    let act = |what: &str, body: &Value| {
        crate::serve::call(
            "POST",
            &server.url(&format!("/v1/runs/{id}/{what}")),
            Some(&alice),
            Some(body),
        )
    };
    let (status, body) = act("pause", &json!({}));
    assert!(status < 300, "{status} {body}");
    wait_for(&server, &alice, &id, "paused", |run| {
        run["status"] == "paused"
    });
    let (status, body) = act("resume", &json!({ "from": "s2" }));
    assert_eq!(status, 409, "{body}");
    let (status, body) = act("resume", &json!({}));
    assert_eq!(status, 202, "{body}");
    // Handed over (`interrupted`, nobody driving it), then a worker's.
    wait_for(&server, &alice, &id, "succeeded", |run| {
        run["status"] == "succeeded"
    });
    let ends = stored_count(
        &home,
        "SELECT count(*) FROM events WHERE run_id = ?1 AND kind = 'step_finished'",
        &[&id],
    );
    assert_eq!(ends, 5, "each step's end recorded once");
    // A failed run is not handed over: resuming it reruns its failed steps,
    // which `wfhost resume` does, not a worker continuing it.
    write(
        &dir.path().join("workflows"),
        "broken.yaml",
        "name: broken\nsteps:\n  - { id: fail, module: system, action: fail, inputs: { code: x, message: broken } }\n",
    );
    let (_, started) = crate::serve::eventually(
        "the new file served",
        || {
            crate::serve::call(
                "POST",
                &server.url("/v1/runs"),
                Some(&alice),
                Some(&json!({ "workflow": "broken" })),
            )
        },
        |(status, _)| *status == 202,
    );
    let broken = started["run_id"].as_str().expect("a run id").to_string();
    wait_for(&server, &alice, &broken, "failed", |run| {
        run["status"] == "failed"
    });
    let (status, body) = crate::serve::call(
        "POST",
        &server.url(&format!("/v1/runs/{broken}/resume")),
        Some(&alice),
        Some(&json!({})),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("wfhost resume {broken}"))),
        "{body}"
    );
    assert_eq!(run_status(&home, &broken)["status"], "failed");
}
