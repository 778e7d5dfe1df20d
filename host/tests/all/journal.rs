//! The journal through the real binary: crash (SIGKILL) and resume, resume
//! from a step, pinned digests, pause, cancel, concurrent runs, prune,
//! bounded growth.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{guest, repo, wfhost};

/// A workflow of short steps: sleeps between deterministic echoes, a map,
/// a retried step and a template chain, so a kill lands in every phase.
const STEADY: &str = r#"
name: steady
steps:
  - { id: a, module: system, action: echo, inputs: { message: a }, onSuccess: wait-1 }
  - { id: wait-1, module: system, action: sleep, inputs: { milliseconds: 80 }, onSuccess: b }
  - { id: b, module: system, action: echo, inputs: { message: "{{ steps.a.output }}b" }, onSuccess: each }
  - id: each
    module: system
    action: echo
    inputs: { message: "{{ steps.b.output }}-{{ item }}" }
    foreach: "{{ [1, 2, 3, 4] }}"
    concurrency: 2
    onSuccess: wait-2
  - { id: wait-2, module: system, action: sleep, inputs: { milliseconds: 80 }, onSuccess: flaky }
  - id: flaky
    module: system
    action: fail
    inputs: { code: busy, message: "{{ steps.each.output | join(',') }}", retryable: true }
    retry: { max_attempts: 3, initial: 40ms, backoff: fixed }
    onFailure: c
  - { id: c, module: system, action: echo, inputs: { message: "{{ steps.flaky.error.message }}!" }, onSuccess: wait-3 }
  - { id: wait-3, module: system, action: sleep, inputs: { milliseconds: 80 }, onSuccess: d }
  - { id: d, module: system, action: echo, inputs: { message: "{{ steps.c.output }}d" } }
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write workflow");
    path
}

fn spawn(home: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_wfhost"))
        .args(args)
        .current_dir(repo())
        .env("WFHOST_HOME", home)
        .env_remove("WFHOST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wfhost starts")
}

fn json(home: &Path, args: &[&str]) -> Value {
    let run = wfhost(home, args);
    assert_eq!(run.code, 0, "{}", run.render());
    serde_json::from_str(&run.stdout).expect("JSON output")
}

/// The only (or newest) run's id.
fn newest_run(home: &Path) -> String {
    try_newest_run(home).expect("a run is recorded")
}

fn try_newest_run(home: &Path) -> Option<String> {
    let list = json(home, &["list", "--json"]);
    list[0]["id"].as_str().map(String::from)
}

/// Step id → (status, output) from `wfhost status --json`.
fn steps(home: &Path, run: &str) -> Vec<(String, String, Value)> {
    let status = json(home, &["status", run, "--json"]);
    status["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or_default().to_string(),
                s["status"].as_str().unwrap_or_default().to_string(),
                s["output"].clone(),
            )
        })
        .collect()
}

fn database(home: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(home.join("wfhost.db")).expect("open the database")
}

/// `step_finished` events per step: a step recorded twice shows as 2.
fn finished_counts(home: &Path, run: &str) -> Vec<(String, i64)> {
    let db = database(home);
    let mut statement = db
        .prepare("SELECT step, count(*) FROM events WHERE run_id = ?1 AND kind = 'step_finished' GROUP BY step ORDER BY step")
        .expect("query");
    statement
        .query_map([run], |row| Ok((row.get(0)?, row.get(1)?)))
        .and_then(Iterator::collect)
        .expect("rows")
}

/// Deterministic steps only (sleeps return the time they slept).
fn comparable(steps: Vec<(String, String, Value)>) -> Vec<(String, String, Value)> {
    steps
        .into_iter()
        .map(|(id, status, output)| {
            let output = if id.starts_with("wait") {
                Value::Null
            } else {
                output
            };
            (id, status, output)
        })
        .collect()
}

#[test]
fn killed_runs_resume_without_losing_or_repeating_a_step() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "steady.yaml", STEADY);
    let file = file.to_str().expect("UTF-8");

    let reference_home = dir.path().join("reference");
    assert_eq!(wfhost(&reference_home, &["run", file]).code, 0);
    let reference = comparable(steps(&reference_home, &newest_run(&reference_home)));

    fastrand::seed(7);
    for round in 0..4 {
        let home = dir.path().join(format!("crash-{round}"));
        let mut child = spawn(&home, &["run", file]);
        let mut kills = 0;
        let run = loop {
            std::thread::sleep(Duration::from_millis(fastrand::u64(60..400)));
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            kills += 1;
            if let Some(run) = try_newest_run(&home) {
                break run;
            }
            // Killed before the run was recorded: start again.
            child = spawn(&home, &["run", file]);
        };
        if json(&home, &["status", &run, "--json"])["status"] == "running" {
            let pause = wfhost(&home, &["pause", &run]);
            assert_eq!(pause.code, 2, "{}", pause.render());
            assert!(
                pause.stderr.contains("no process is driving"),
                "{}",
                pause.render()
            );
        }
        let mut before: Vec<(String, String, Value)> = comparable(steps(&home, &run));
        // Resume, killing again a bounded number of times, then to the end.
        // A kill can land after the run has recorded its end: then it is done.
        while json(&home, &["status", &run, "--json"])["status"] != "succeeded" {
            let finished: Vec<_> = before
                .iter()
                .filter(|s| s.1 == "succeeded")
                .cloned()
                .collect();
            let mut child = spawn(&home, &["resume", &run]);
            if kills < 6 {
                std::thread::sleep(Duration::from_millis(fastrand::u64(40..300)));
                let _ = child.kill();
                kills += 1;
                let _ = child.wait();
            } else {
                let output = child.wait_with_output().expect("resume finishes");
                assert!(
                    output.status.success(),
                    "round {round}: the final resume succeeds: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            let after = comparable(steps(&home, &run));
            for step in &finished {
                assert!(
                    after.contains(step),
                    "round {round}: completed step {step:?} was lost or changed: {after:?}"
                );
            }
            before = after;
        }
        assert_eq!(
            comparable(steps(&home, &run)),
            reference,
            "round {round}: the result equals an uninterrupted run's"
        );
        for (step, count) in finished_counts(&home, &run) {
            assert_eq!(
                count, 1,
                "round {round}: step {step} was recorded {count} times"
            );
        }
        let check: String = database(&home)
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .expect("integrity check");
        assert_eq!(check, "ok");
    }
}

#[test]
fn resume_from_a_step_keeps_what_came_before() {
    let home = tempfile::tempdir().expect("temp dir");
    let home = home.path();
    assert_eq!(wfhost(home, &["run", "workflows/hello.yaml"]).code, 0);
    let run = newest_run(home);
    let resumed = wfhost(home, &["resume", &run]);
    assert_eq!(
        resumed.code,
        2,
        "a succeeded run needs --from: {}",
        resumed.render()
    );
    let resumed = wfhost(home, &["resume", &run, "--from", "fallback"]);
    assert_eq!(resumed.code, 0, "{}", resumed.render());
    assert!(resumed.stdout.contains("(recorded)"), "{}", resumed.stdout);
    let counts = finished_counts(home, &run);
    let count = |step: &str| {
        counts
            .iter()
            .find(|(s, _)| s == step)
            .map_or(0, |(_, n)| *n)
    };
    assert_eq!(
        (count("greet"), count("lookup")),
        (1, 1),
        "kept: {counts:?}"
    );
    assert_eq!(
        (count("fallback"), count("report")),
        (2, 2),
        "re-run: {counts:?}"
    );
    let unknown = wfhost(home, &["resume", &run, "--from", "fallbak"]);
    assert!(
        unknown.stderr.contains("did you mean `fallback`?"),
        "{}",
        unknown.render()
    );
}

#[test]
fn a_run_is_pinned_to_its_definition_and_modules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let text = "name: pinned\nsteps:\n  - { id: one, module: system, action: echo, inputs: { message: one }, onSuccess: two }\n  - { id: two, module: system, action: fail, inputs: { code: x, message: broken } }\n";
    let file = write(dir.path(), "pinned.yaml", text);
    let file_arg = file.to_str().expect("UTF-8");
    assert_eq!(wfhost(&home, &["run", file_arg]).code, 1);
    let run = newest_run(&home);

    std::fs::write(&file, text.replace("broken", "still broken")).expect("edit");
    let refused = wfhost(&home, &["resume", &run]);
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("changed since run") && refused.stderr.contains("--allow-changed"),
        "{}",
        refused.render()
    );

    let allowed = wfhost(&home, &["resume", &run, "--allow-changed"]);
    assert_eq!(
        allowed.code,
        1,
        "resumes and fails again: {}",
        allowed.render()
    );
    assert!(
        allowed.stdout.contains("still broken"),
        "{}",
        allowed.stdout
    );

    std::fs::write(&file, text.replace("id: one", "id: uno")).expect("edit");
    let missing = wfhost(&home, &["resume", &run, "--allow-changed"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("recorded step `one`"),
        "{}",
        missing.render()
    );

    // A module whose content changed: the run recorded another digest.
    let module_dir = dir.path().join("mod");
    std::fs::create_dir_all(&module_dir).expect("dir");
    std::fs::copy(
        repo().join("tests/fixtures/components/checked.wat"),
        module_dir.join("m.wat"),
    )
    .expect("copy");
    let flow = write(
        &module_dir,
        "flow.yaml",
        "name: m\nsteps:\n  - { id: add, module: ./m.wat, action: add, inputs: { a: 1, b: 2 }, onSuccess: fail }\n  - { id: fail, module: system, action: fail, inputs: { code: x, message: y } }\n",
    );
    assert_eq!(
        wfhost(&home, &["run", flow.to_str().expect("UTF-8")]).code,
        1
    );
    let run = newest_run(&home);
    let changed = std::fs::read_to_string(module_dir.join("m.wat"))
        .expect("read")
        .replace("i32.add", "i32.sub");
    std::fs::write(module_dir.join("m.wat"), changed).expect("edit module");
    let refused = wfhost(&home, &["resume", &run]);
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("modules changed"),
        "{}",
        refused.render()
    );
}

/// Start a slow run in the background and wait until it is recorded.
#[allow(clippy::zombie_processes)] // the caller waits for the child it gets
fn slow_run(home: &Path, dir: &Path) -> (Child, String) {
    let file = write(
        dir,
        "slow.yaml",
        "name: slow\nsteps:\n  - { id: s1, module: system, action: sleep, inputs: { milliseconds: 400 }, onSuccess: s2 }\n  - { id: s2, module: system, action: sleep, inputs: { milliseconds: 400 }, onSuccess: s3 }\n  - { id: s3, module: system, action: sleep, inputs: { milliseconds: 400 } }\n",
    );
    let before = try_newest_run(home);
    let mut child = spawn(home, &["run", file.to_str().expect("UTF-8")]);
    let started = Instant::now();
    loop {
        if let Some(run) = try_newest_run(home).filter(|run| Some(run) != before.as_ref()) {
            return (child, run);
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the run was never recorded");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn pause_then_resume_and_cancel() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let (child, run) = slow_run(&home, dir.path());
    let second = wfhost(&home, &["resume", &run]);
    assert_eq!(second.code, 2, "{}", second.render());
    assert!(
        second.stderr.contains("being driven by process"),
        "{}",
        second.render()
    );
    let paused = wfhost(&home, &["pause", &run]);
    assert_eq!(paused.code, 0, "{}", paused.render());
    assert!(
        paused.stdout.contains("asked the process driving"),
        "{}",
        paused.render()
    );
    let output = child.wait_with_output().expect("the driver stops");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("wfhost resume {run}")), "{stderr}");
    assert_eq!(json(&home, &["status", &run, "--json"])["status"], "paused");
    let resumed = wfhost(&home, &["resume", &run]);
    assert_eq!(resumed.code, 0, "{}", resumed.render());
    assert_eq!(
        json(&home, &["status", &run, "--json"])["status"],
        "succeeded"
    );

    let (child, run) = slow_run(&home, dir.path());
    assert_eq!(wfhost(&home, &["cancel", &run]).code, 0);
    let output = child.wait_with_output().expect("the driver stops");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        json(&home, &["status", &run, "--json"])["status"],
        "cancelled"
    );
    let again = wfhost(&home, &["pause", &run]);
    assert_eq!(again.code, 2, "{}", again.render());
}

#[test]
fn concurrent_runs_share_one_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let steps: String = (0..30)
        .map(|i| format!("  - {{ id: s{i}, module: system, action: echo, inputs: {{ message: \"{i}\" }}{} }}\n", if i < 29 { format!(", onSuccess: s{}", i + 1) } else { String::new() }))
        .collect();
    let file = write(
        dir.path(),
        "many.yaml",
        &format!("name: many\nsteps:\n{steps}"),
    );
    let children: Vec<Child> = (0..4)
        .map(|_| spawn(&home, &["run", file.to_str().expect("UTF-8")]))
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("run ends");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert!(!stderr.contains("locked"), "{stderr}");
    }
    let list = json(&home, &["list", "--status", "succeeded", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(4));
    let pruned = wfhost(&home, &["prune", "--older-than", "0s"]);
    assert_eq!(pruned.stdout.trim(), "pruned 4 runs", "{}", pruned.render());
    assert_eq!(json(&home, &["list", "--json"]), Value::Array(Vec::new()));
}

#[test]
fn a_huge_output_is_stored_truncated() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let file = write(
        dir.path(),
        "huge.yaml",
        &format!(
            "name: huge\nsteps:\n  - {{ id: big, module: {}, action: echo-string, inputs: {{ v: \"{{{{ 'x' * 3000000 }}}}\" }} }}\n",
            guest("kitchen-sink")
        ),
    );
    let ran = wfhost(&home, &["run", file.to_str().expect("UTF-8")]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let run = newest_run(&home);
    let status = json(&home, &["status", &run, "--json"]);
    assert!(
        status["steps"][0]["output"].get("$truncated").is_some(),
        "{}",
        status["steps"][0]["output"].to_string().len()
    );
    let size = std::fs::metadata(home.join("wfhost.db"))
        .map(|m| m.len())
        .unwrap_or(0)
        + std::fs::metadata(home.join("wfhost.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    assert!(
        size < 8 * 1024 * 1024,
        "the database holds {size} bytes for one 3 MB output"
    );
}

#[test]
fn ctrl_c_leaves_the_run_resumable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let (child, run) = slow_run(&home, dir.path());
    // Wait until the first step runs: the driver is past its setup.
    while json(&home, &["status", &run, "--json"])["steps"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let output = child.wait_with_output().expect("the driver stops");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains(&format!("wfhost resume {run}")), "{stderr}");
    assert_eq!(
        json(&home, &["status", &run, "--json"])["status"],
        "interrupted"
    );
    let shown = wfhost(&home, &["status", &run]);
    assert!(
        shown
            .stdout
            .contains(&format!("continue it with: wfhost resume {run}")),
        "{}",
        shown.render()
    );
    let resumed = wfhost(&home, &["resume", &run]);
    assert_eq!(resumed.code, 0, "{}", resumed.render());
    let status = json(&home, &["status", &run, "--json"]);
    assert_eq!(status["status"], "succeeded");
    assert_eq!(status["steps"].as_array().map(Vec::len), Some(3));
}
