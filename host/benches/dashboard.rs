//! The dashboard's render time: `cargo bench -p wfhost --bench dashboard`.
//!
//! Records a run of 2,000 steps (a chain of `system.echo`), starts the
//! real binary's `wfhost serve --open-reads` on 127.0.0.1, opens the run's
//! page in Debian's headless Chromium (through chromedriver) ten times and
//! prints the median of the browser's navigation timing: the server's
//! response, DOM ready, and the load event — and the same for the page with
//! every row (`?steps=all`). Figures are printed, never asserted: goals live
//! in the issue tracker.

#![allow(clippy::print_stdout)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::ClientBuilder;
use serde_json::{Value, json};

const STEPS: usize = 2_000;
const ROUNDS: usize = 10;

fn wfhost(home: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wfhost"));
    command.env("WFHOST_HOME", home).env_remove("WFHOST_LOG");
    command
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (home, workflows) = (dir.path().join("home"), dir.path().join("workflows"));
    std::fs::create_dir_all(&workflows).expect("workflows dir");
    let mut text = String::from("name: big\nsteps:\n");
    for i in 0..STEPS {
        let next = if i + 1 < STEPS {
            format!(", onSuccess: s{}", i + 1)
        } else {
            String::new()
        };
        text.push_str(&format!(
            "  - {{ id: s{i}, module: system, action: echo, inputs: {{ message: \"step {i}\" }}{next} }}\n"
        ));
    }
    let file = dir.path().join("big.yaml");
    std::fs::write(&file, text).expect("workflow");
    let ran = wfhost(&home)
        .arg("run")
        .arg(&file)
        .arg("--json")
        .output()
        .expect("wfhost run");
    assert!(ran.status.success(), "the run fails");
    let run = String::from_utf8_lossy(&ran.stdout)
        .lines()
        .find_map(|line| {
            serde_json::from_str::<Value>(line)
                .ok()
                .filter(|e| e["event"] == "run_started")
        })
        .and_then(|e| e["run_id"].as_str().map(str::to_string))
        .expect("the run's id");

    let mut server = wfhost(&home)
        .args([
            "serve",
            "--open-reads",
            "--listen",
            "127.0.0.1:0",
            "--workflows",
        ])
        .arg(&workflows)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("wfhost serve starts");
    let mut stdout = BufReader::new(server.stdout.take().expect("stdout"));
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

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut driver = Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts (Debian's chromium-driver)");
    let profile = tempfile::tempdir().expect("profile");
    let Value::Object(capabilities) = json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1300,1400", format!("--user-data-dir={}", profile.path().display()),
            ]
        }
    }) else {
        unreachable!("an object")
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(_) if started.elapsed() < Duration::from_secs(20) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("chromedriver took no session: {error}"),
            }
        };
        for (what, path) in [
            ("the run page (300 of 2,000 rows, steps grouped)", format!("/runs/{run}")),
            ("the run page with every row (?steps=all)", format!("/runs/{run}?steps=all")),
        ] {
            let mut samples: Vec<[f64; 3]> = Vec::new();
            for _ in 0..ROUNDS {
                client.goto(&format!("{base}{path}")).await.expect("opens");
                let timing = client
                    .execute(
                        "const t = performance.getEntriesByType('navigation')[0]; return [t.responseEnd - t.startTime, t.domContentLoadedEventEnd - t.startTime, t.loadEventEnd - t.startTime];",
                        vec![],
                    )
                    .await
                    .expect("timing");
                let at = |i: usize| timing[i].as_f64().unwrap_or(f64::NAN);
                samples.push([at(0), at(1), at(2)]);
            }
            let median = |i: usize| {
                let mut values: Vec<f64> = samples.iter().map(|s| s[i]).collect();
                values.sort_by(f64::total_cmp);
                values[values.len() / 2]
            };
            println!(
                "{what}: response {:.0} ms, DOM ready {:.0} ms, loaded {:.0} ms (median of {ROUNDS})",
                median(0),
                median(1),
                median(2)
            );
        }
        let _ = client.close().await;
    });
    let _ = driver.kill();
    let _ = driver.wait();
    let _ = server.kill();
    let _ = server.wait();
}
