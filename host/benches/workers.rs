//! Runs per second past one machine: `cargo bench -p wfhost --bench workers`.
//!
//! The same load — `RUNS` runs of a `STEPS`-step chain of no-op steps,
//! started over HTTP by 8 clients — driven five ways in one sitting on this
//! machine: by one `wfhost serve` on SQLite; by one `wfhost serve` on
//! PostgreSQL; and by `wfhost serve --no-worker` with 1, 2 and 4
//! `wfhost worker` processes on PostgreSQL (a private server the bench
//! starts, as the tests do). It prints runs per second, wall time per step,
//! each as a ratio to SQLite's, and checks that every run succeeded once.
//! Figures are printed, never asserted: goals live in the issue tracker.

#![allow(clippy::print_stdout)]

#[path = "../src/store/postgres/test_server.rs"]
mod test_server;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 200;
const STEPS: usize = 10;
const CLIENTS: usize = 8;

fn chain() -> String {
    let steps: String = (1..=STEPS)
        .map(|i| {
            let next = if i < STEPS { format!(", onSuccess: s{}", i + 1) } else { String::new() };
            format!("  - {{ id: s{i}, module: system, action: echo, inputs: {{ message: \"{i}\" }}{next} }}\n")
        })
        .collect();
    format!("name: chain\nsteps:\n{steps}")
}

fn wfhost(home: &Path, db: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wfhost"));
    command.env("WFHOST_HOME", home).env_remove("WFHOST_LOG");
    match db {
        Some(url) => command.env("WFHOST_DB", url),
        None => command.env_remove("WFHOST_DB"),
    };
    command
}

/// `wfhost serve` started, and the address it listens on.
#[allow(clippy::zombie_processes)] // the caller stops it (`stop`)
fn serve(home: &Path, workflows: &Path, db: Option<&str>, extra: &[&str]) -> (Child, String) {
    let mut child = wfhost(home, db)
        .args(["serve", "--listen", "127.0.0.1:0", "--workflows"])
        .arg(workflows)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("wfhost serve starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).expect("read") > 0,
            "serve exited"
        );
        if let Some(address) = line.trim().strip_prefix("wfhost serve: listening on ") {
            std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
            return (child, address.to_string());
        }
    }
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// How many runs have ended, and how many of those succeeded.
fn ended(home: &Path, db: Option<&str>) -> (usize, usize) {
    let sql = "SELECT count(*), count(*) FILTER (WHERE status = 'succeeded') FROM runs
               WHERE status IN ('succeeded', 'failed', 'cancelled')";
    let row: Vec<String> = match db {
        Some(url) => test_server::rows(url, sql).remove(0),
        None => {
            let db = rusqlite::Connection::open(home.join("wfhost.db")).expect("open");
            let (all, ok): (i64, i64) = db
                .query_row(sql, [], |row| Ok((row.get(0)?, row.get(1)?)))
                .expect("count");
            vec![all.to_string(), ok.to_string()]
        }
    };
    (
        row[0].parse().expect("a count"),
        row[1].parse().expect("a count"),
    )
}

/// One way of driving the load: its wall time from the first request to
/// the last run's end.
fn drive(label: &str, db: Option<&str>, workers: usize) -> Duration {
    let dir = tempfile::tempdir().expect("temp dir");
    let (home, workflows) = (dir.path().join("home"), dir.path().join("workflows"));
    std::fs::create_dir_all(&workflows).expect("workflows dir");
    std::fs::write(workflows.join("chain.yaml"), chain()).expect("workflow");
    let created = wfhost(&home, db)
        .args(["token", "create", "bench"])
        .output()
        .expect("token create runs");
    let token = String::from_utf8_lossy(&created.stdout)
        .lines()
        .find(|line| line.starts_with("wfh_"))
        .expect("a token")
        .to_string();
    let extra: &[&str] = if workers > 0 { &["--no-worker"] } else { &[] };
    let (server, base) = serve(&home, &workflows, db, extra);
    let workers: Vec<Child> = (0..workers)
        .map(|i| {
            let home = dir.path().join(format!("worker-{i}"));
            wfhost(&home, db)
                .args(["worker", "--slots", "16"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("wfhost worker starts")
        })
        .collect();
    let url = format!("{base}/v1/runs");
    let started = Instant::now();
    std::thread::scope(|scope| {
        for client in 0..CLIENTS {
            let (url, token) = (&url, &token);
            scope.spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                for _ in (client..RUNS).step_by(CLIENTS) {
                    let response = agent
                        .post(url)
                        .header("Authorization", &format!("Bearer {token}"))
                        .send_json(serde_json::json!({ "workflow": "chain" }))
                        .expect("answered");
                    assert_eq!(response.status().as_u16(), 202);
                }
            });
        }
    });
    let wall = loop {
        let (all, succeeded) = ended(&home, db);
        if all == RUNS {
            assert_eq!(succeeded, RUNS, "{label}: every run succeeds");
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "{label}: {all} of {RUNS} runs ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    for worker in workers {
        stop(worker);
    }
    stop(server);
    wall
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "{RUNS} runs of a {STEPS}-step chain of no-op steps, started over HTTP by {CLIENTS} clients; journal on (durability normal); {cores} cores\n"
    );
    let scenarios: [(&str, bool, usize); 5] = [
        ("SQLite, one serve", false, 0),
        ("PostgreSQL, one serve", true, 0),
        ("PostgreSQL, serve --no-worker + 1 worker", true, 1),
        ("PostgreSQL, serve --no-worker + 2 workers", true, 2),
        ("PostgreSQL, serve --no-worker + 4 workers", true, 4),
    ];
    let mut baseline = None;
    println!(
        "{:<44} {:>9} {:>10} {:>12} {:>9}",
        "", "runs/s", "wall", "wall/step", "vs SQLite"
    );
    for (label, postgres, workers) in scenarios {
        let db = postgres.then(test_server::database);
        let wall = drive(label, db.as_deref(), workers);
        let baseline = *baseline.get_or_insert(wall);
        println!(
            "{label:<44} {:>9.1} {:>10.2?} {:>10.0} µs {:>8.2}×",
            RUNS as f64 / wall.as_secs_f64(),
            wall,
            wall.as_secs_f64() * 1e6 / (RUNS * STEPS) as f64,
            baseline.as_secs_f64() / wall.as_secs_f64(),
        );
    }
}
