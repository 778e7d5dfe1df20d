//! `wfhost serve` under load: `cargo bench -p wfhost --bench serve`.
//!
//! Starts the real binary on 127.0.0.1, sends 2,000 webhook deliveries (a
//! one-step workflow, bearer auth) from 16 concurrent clients, and prints:
//! request latency (p50, p99), sustained runs per second (first request to
//! the last run ended, from the journal), and the time from a run's
//! creation to its first step's start (p50, p99, from the journal).
//! Every run is checked to have completed, once. First it starts 1,000 runs
//! that wait for a signal and prints the server's resident memory with
//! them waiting (they keep waiting through the load). Figures are printed, never asserted: goals live in the
//! issue tracker.

#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DELIVERIES: usize = 2_000;
const CLIENTS: usize = 16;
const WAITING: usize = 1_000;

const WORKFLOW: &str = "name: load\ninputs:\n  n: { type: integer }\ntriggers:\n  - webhook: /hooks/load\n    auth: { scheme: bearer, secret_env: LOAD_SECRET }\n    dedupe: \"{{ body.n }}\"\n    inputs: { n: \"{{ body.n }}\" }\nsteps:\n  - { id: say, module: system, action: echo, inputs: { message: \"n={{ inputs.n }}\" } }\n";

const WAITS: &str = "name: waits\ninputs:\n  n: { type: integer }\ntriggers:\n  - webhook: /hooks/wait\n    auth: { scheme: bearer, secret_env: LOAD_SECRET }\n    inputs: { n: \"{{ body.n }}\" }\nsteps:\n  - id: approve\n    wait: { signal: go, type: bool }\n";

/// The resident memory of process `pid`, from `/proc`.
fn resident(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .to_string();
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("{:.0} MiB", kib / 1024.0))
        })
        .unwrap_or_else(|| "unknown (no /proc)".into())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (home, workflows) = (dir.path().join("home"), dir.path().join("workflows"));
    std::fs::create_dir_all(&workflows).expect("workflows dir");
    std::fs::write(workflows.join("load.yaml"), WORKFLOW).expect("workflow");
    std::fs::write(workflows.join("waits.yaml"), WAITS).expect("workflow");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wfhost"))
        .args(["serve", "--listen", "127.0.0.1:0", "--workflows"])
        .arg(&workflows)
        .env("WFHOST_HOME", &home)
        .env("LOAD_SECRET", "load-secret")
        .env_remove("WFHOST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("wfhost serve starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let base = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).expect("read") > 0,
            "serve exited"
        );
        if let Some(address) = line.trim().strip_prefix("wfhost serve: listening on ") {
            break address.to_string();
        }
    };
    let url = Arc::new(format!("{base}/hooks/load"));
    // Warm up: the module compiled and cached, connections opened.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    agent
        .post(url.as_str())
        .header("Authorization", "Bearer load-secret")
        .send_json(serde_json::json!({ "n": -1 }))
        .expect("warm-up");
    let db = rusqlite::Connection::open(home.join("wfhost.db")).expect("open");
    let started_fresh = resident(child.id());
    let waits = format!("{base}/hooks/wait");
    for n in 0..WAITING {
        let response = agent
            .post(&waits)
            .header("Authorization", "Bearer load-secret")
            .send_json(serde_json::json!({ "n": n }))
            .expect("answered");
        assert_eq!(response.status().as_u16(), 202, "wait {n}");
    }
    loop {
        let waiting: i64 = db
            .query_row(
                "SELECT count(*) FROM runs WHERE status = 'waiting'",
                [],
                |row| row.get(0),
            )
            .expect("count");
        if waiting == WAITING as i64 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let with_waits = resident(child.id());
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let url = Arc::clone(&url);
                scope.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .build()
                        .into();
                    (client..DELIVERIES)
                        .step_by(CLIENTS)
                        .map(|n| {
                            let sent = Instant::now();
                            let response = agent
                                .post(url.as_str())
                                .header("Authorization", "Bearer load-secret")
                                .send_json(serde_json::json!({ "n": n }))
                                .expect("answered");
                            assert_eq!(response.status().as_u16(), 202, "delivery {n}");
                            sent.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|client| client.join().expect("client"))
            .collect()
    });
    let accepted = started.elapsed();
    let ended = loop {
        let running: i64 = db
            .query_row(
                "SELECT count(*) FROM runs WHERE name = 'load' AND status = 'running'",
                [],
                |row| row.get(0),
            )
            .expect("count");
        if running == 0 {
            break started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (runs, succeeded): (i64, i64) = db
        .query_row(
            "SELECT count(*), sum(status = 'succeeded') FROM runs WHERE name = 'load'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("count");
    assert_eq!(
        (runs, succeeded),
        (DELIVERIES as i64 + 1, DELIVERIES as i64 + 1)
    );
    let mut to_first_step: Vec<Duration> = db
        .prepare(
            "SELECT min(e.at) - r.created_at FROM runs r JOIN events e ON e.run_id = r.id AND e.kind = 'step_started' WHERE r.name = 'load' GROUP BY r.id",
        )
        .expect("query")
        .query_map([], |row| row.get::<_, f64>(0))
        .expect("rows")
        .map(|seconds| Duration::from_secs_f64(seconds.expect("a time").max(0.0)))
        .collect();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    latencies.sort();
    to_first_step.sort();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "wfhost serve, {DELIVERIES} webhook deliveries from {CLIENTS} clients ({cores} cores), one-step runs, journal on (durability normal)\n"
    );
    println!(
        "request latency: p50 {:?}, p99 {:?}; all accepted in {accepted:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    println!(
        "sustained: {:.0} runs/s ({DELIVERIES} runs ended {ended:?} after the first request)",
        DELIVERIES as f64 / ended.as_secs_f64()
    );
    println!(
        "run recorded → first step started: p50 {:?}, p99 {:?}",
        percentile(&to_first_step, 0.5),
        percentile(&to_first_step, 0.99)
    );
    println!(
        "resident memory: {started_fresh} started, {with_waits} with {WAITING} runs waiting for a signal (before the load, which runs beside them)"
    );
}
