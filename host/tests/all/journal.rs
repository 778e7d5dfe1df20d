//! The journal through the real binary: crash (SIGKILL) and resume, resume
//! from a step, pinned digests, pause, cancel, concurrent runs, prune,
//! bounded growth.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{
    Backend, guest, json, newest_run, repo, spawn, stored, stored_count, try_newest_run,
    try_stored, unended_attempts, wfhost, write,
};

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

/// `step_finished` events per step: a step recorded twice shows as 2.
fn finished_counts(home: &Path, run: &str) -> Vec<(String, i64)> {
    stored(
        home,
        "SELECT step, count(*) FROM events WHERE run_id = ?1 AND kind = 'step_finished' GROUP BY step ORDER BY step",
        &[run],
    )
    .into_iter()
    .map(|row| (row[0].clone(), row[1].parse().expect("a count")))
    .collect()
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

/// The crash loop: run STEADY (and a long chain after it) under `wfhost run`,
/// SIGKILL it at random moments, resume, kill again, until the run ends;
/// after every kill, no step that had succeeded is lost or changed, no
/// attempt's result is recorded twice, and the database is intact; at the
/// end the result equals an uninterrupted run's and every step's recorded
/// state agrees with its events. `WFHOST_CRASH_KILLS` sets the number of
/// kills per durability (default 15: CI runs 30 in all).
fn crash_loop_never_loses_or_repeats_a_step(backend: Backend) {
    let kills: usize = std::env::var("WFHOST_CRASH_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(15);
    let dir = tempfile::tempdir().expect("temp dir");
    let chain: String = (0..60)
        .map(|i| {
            let next = if i < 59 { format!(", onSuccess: c{}", i + 1) } else { String::new() };
            format!("  - {{ id: c{i}, module: system, action: echo, inputs: {{ message: \"{{{{ steps.d.output }}}}-{i}\" }}{next} }}\n")
        })
        .collect();
    let text = format!(
        "{}{chain}",
        STEADY.replace(
            "inputs: { message: \"{{ steps.c.output }}d\" } }",
            "inputs: { message: \"{{ steps.c.output }}d\" }, onSuccess: c0 }"
        )
    );
    let file = write(dir.path(), "steady.yaml", &text);
    let file = file.to_str().expect("UTF-8");

    let reference_home = backend.home(&dir.path().join("reference"));
    let reference = wfhost(&reference_home, &["run", file]);
    assert_eq!(reference.code, 0, "{}", reference.render());
    let reference = comparable(steps(&reference_home, &newest_run(&reference_home)));

    fastrand::seed(7);
    let mut report = Vec::new();
    for durability in ["normal", "full"] {
        let home = backend.home(&dir.path().join(format!("crash-{durability}")));
        let started = Instant::now();
        let mut done = 0;
        let mut runs = 0;
        while done < kills {
            runs += 1;
            let mut child = spawn(&home, &["run", file, "--durability", durability]);
            // Kills before the run is recorded test nothing: wait for it.
            let id = recorded_run(&home, runs);
            // Kill, resume, kill… until the run has ended.
            loop {
                std::thread::sleep(Duration::from_millis(fastrand::u64(5..150)));
                let _ = child.kill(); // SIGKILL
                let _ = child.wait();
                done += 1;
                check_after_kill(
                    &home,
                    &id,
                    &reference,
                    &format!("{durability}, kill {done}"),
                );
                if json(&home, &["status", &id, "--json"])["status"] == "succeeded" {
                    break;
                }
                if done >= kills {
                    let last = wfhost(&home, &["resume", &id, "--durability", durability]);
                    assert_eq!(last.code, 0, "{}", last.render());
                    break;
                }
                child = spawn(&home, &["resume", &id, "--durability", durability]);
            }
            let context = format!("{durability}, run {runs}");
            assert_eq!(
                comparable(steps(&home, &id)),
                reference,
                "{context}: the result equals an uninterrupted run's"
            );
            assert_consistent(&home, &id, &context);
        }
        report.push(format!(
            "{durability}: {done} kills over {runs} runs in {:.1?}",
            started.elapsed()
        ));
    }
    #[allow(clippy::print_stderr)] // the figure, shown with --nocapture
    {
        eprintln!("crash loop: {}", report.join("; "));
    }
}

/// The id of the `nth` run of the home, once it is recorded.
fn recorded_run(home: &Path, nth: usize) -> String {
    let started = Instant::now();
    loop {
        if Backend::of(home) == Backend::Postgres || home.join("wfhost.db").exists() {
            let ids = try_stored(home, "SELECT id FROM runs ORDER BY created_at", &[])
                .unwrap_or_default();
            if let Some(id) = ids.get(nth - 1) {
                return id[0].clone();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "run {nth} was never recorded"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// After a kill: steps that succeeded match the reference, no attempt's
/// result is recorded twice, the database is intact.
fn check_after_kill(home: &Path, run: &str, reference: &[(String, String, Value)], context: &str) {
    for step in comparable(steps(home, run)) {
        if step.1 == "succeeded" {
            assert!(
                reference.contains(&step),
                "{context}: step {step:?} differs from the reference"
            );
        }
    }
    assert_journal_intact(home, run, context);
}

/// No attempt's result is recorded twice, and the database is intact.
fn assert_journal_intact(home: &Path, run: &str, context: &str) {
    let backend = Backend::of(home);
    let field = |name| backend.json_field("body", name);
    let twice = stored_count(
        home,
        &format!(
            "SELECT count(*) FROM (SELECT {} s, {} v, {} i, {} it, {} a, count(*) n
               FROM events WHERE run_id = ?1 AND kind IN ('step_succeeded', 'step_failed')
               GROUP BY 1, 2, 3, 4, 5 HAVING count(*) > 1) twice",
            field("step"),
            field("visit"),
            field("item"),
            field("iteration"),
            field("attempt")
        ),
        &[run],
    );
    assert_eq!(
        twice, 0,
        "{context}: an attempt's result was recorded twice"
    );
    if backend == Backend::Sqlite {
        let check = stored(home, "PRAGMA integrity_check", &[]);
        assert_eq!(check, [["ok"]], "{context}");
    }
}

fn resume_from_a_step_keeps_what_came_before(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = &backend.home(dir.path());
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

fn a_run_is_pinned_to_its_definition_and_modules(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = backend.home(dir.path());
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
        refused.stderr.contains("modules or sub-workflows changed"),
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

fn pause_then_resume_and_cancel(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = backend.home(dir.path());
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

fn concurrent_runs_share_one_database(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = backend.home(dir.path());
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
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("dir");
    std::fs::write(data.join("big.txt"), "x".repeat(3_000_000)).expect("file");
    let file = write(
        dir.path(),
        "huge.yaml",
        &format!(
            "name: huge\npermissions: {{ fs: [{{ path: data, access: read }}] }}\nsteps:\n  - {{ id: big, module: {}, action: read-file, inputs: {{ path: data/big.txt }} }}\n",
            guest("kitchen-sink")
        ),
    );
    let ran = wfhost(
        &home,
        &[
            "run",
            file.to_str().expect("UTF-8"),
            "--workspace",
            dir.path().to_str().expect("UTF-8"),
        ],
    );
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

fn ctrl_c_leaves_the_run_resumable(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = backend.home(dir.path());
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

/// A workflow with a loop, a map, a retry and a bounded cycle (a step
/// visited three times), each step short: every kind of event a crash can
/// fall between.
const CYCLING: &str = r#"
name: cycling
steps:
  - id: warm
    module: system
    action: echo
    inputs: { message: "{{ 'ready' if iteration >= 2 else 'starting' }}" }
    loop: { until: "{{ steps.warm.output == 'ready' }}", max_iterations: 5 }
    onSuccess: each
  - id: each
    module: system
    action: echo
    inputs: { message: "item {{ item }}" }
    foreach: "{{ [1, 2, 3] }}"
    concurrency: 2
    onSuccess: flaky
  - id: flaky
    module: system
    action: fail
    inputs: { code: busy, message: "{{ steps.each.output | join(',') }}", retryable: true }
    retry: { max_attempts: 2, initial: 1ms, backoff: fixed }
    onFailure: test
  - id: test
    module: system
    action: fail
    inputs: { code: tests-failed, message: "run {{ steps.test.visits }}" }
    max_visits: 3
    onFailure:
      - when: "{{ steps.test.visits < 3 }}"
        goto: fix
      - goto: done
  - { id: fix, module: system, action: echo, inputs: { message: "after {{ steps.test.error.message }}" }, onSuccess: test }
  - { id: done, module: system, action: echo, inputs: { message: "{{ steps.fix.output }}" } }
"#;

/// Every step's recorded state agrees with the events the journal holds:
/// its status and attempts are those of its last recorded end, no step or
/// attempt is left `running` in an ended run, and no attempt's result was
/// recorded twice.
fn assert_consistent(home: &Path, run: &str, context: &str) {
    let steps = stored(
        home,
        "SELECT s.step, s.status, s.attempts,
                (SELECT e.body FROM events e WHERE e.run_id = s.run_id AND e.step = s.step
                   AND e.kind IN ('step_finished', 'step_skipped') ORDER BY e.seq DESC LIMIT 1)
         FROM steps s WHERE s.run_id = ?1",
        &[run],
    );
    assert!(!steps.is_empty(), "{context}: no steps recorded");
    for row in steps {
        let [step, status, attempts, end] = &row[..] else {
            panic!("{context}: a step row {row:?}");
        };
        let attempts: i64 = attempts.parse().expect("attempts");
        let end: Value = if end.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(end).expect("JSON")
        };
        assert!(
            !end.is_null(),
            "{context}: step `{step}` is `{status}` with no recorded end"
        );
        let ended = end["status"].as_str().unwrap_or("skipped");
        assert_eq!(status, ended, "{context}: step `{step}`");
        if end["event"] == "step_finished" {
            assert_eq!(
                Some(attempts),
                end["attempts"].as_i64(),
                "{context}: step `{step}` attempts"
            );
        }
    }
    assert_eq!(
        unended_attempts(home, run),
        0,
        "{context}: attempts started and never ended"
    );
    assert_journal_intact(home, run, context);
}

/// Run `args` with the journal killing its process after `commits` commits.
fn run_crashing(home: &Path, args: &[&str], commits: usize) -> crate::common::Run {
    crate::common::wfhost_with(
        home,
        args,
        &[("WFHOST_TEST_CRASH_AFTER_COMMITS", &commits.to_string())],
    )
}

fn a_crash_between_any_two_commits_resumes_to_a_consistent_journal(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "cycling.yaml", CYCLING);
    let file = file.to_str().expect("UTF-8");
    let reference_home = backend.home(&dir.path().join("reference"));
    let reference = wfhost(&reference_home, &["run", file]);
    assert_eq!(reference.code, 0, "{}", reference.render());
    let reference_run = newest_run(&reference_home);
    let expected = steps(&reference_home, &reference_run);
    assert_consistent(&reference_home, &reference_run, "uninterrupted");
    let expected_ends = finished_counts(&reference_home, &reference_run);

    let mut crashes = 0;
    for commits in 1.. {
        let home = backend.home(&dir.path().join(format!("crash-{commits}")));
        let first = run_crashing(&home, &["run", file], commits);
        if first.code == 0 {
            // The run ended before its journal reached this many commits.
            break;
        }
        assert_eq!(
            first.code,
            -1,
            "killed after {commits} commits: {}",
            first.render()
        );
        crashes += 1;
        let run = newest_run(&home);
        // Crash the resume too, at a point that moves with `commits`.
        let second = run_crashing(&home, &["resume", &run], commits % 5 + 1);
        if second.code == -1 {
            crashes += 1;
        }
        if json(&home, &["status", &run, "--json"])["status"] != "succeeded" {
            let last = wfhost(&home, &["resume", &run]);
            assert_eq!(last.code, 0, "after {commits} commits: {}", last.render());
        }
        let context = format!("killed after {commits} commits");
        assert_eq!(steps(&home, &run), expected, "{context}");
        assert_consistent(&home, &run, &context);
        assert_eq!(
            finished_counts(&home, &run),
            expected_ends,
            "{context}: each end recorded once"
        );
    }
    assert!(
        crashes > 40,
        "only {crashes} crashes: the workflow is too short to test much"
    );
}

/// Requests are read on time however busy the run is: a step that loops
/// every 40 ms (an event every few milliseconds) is paused within a few
/// iterations, not after all 300.
fn pause_takes_effect_while_a_run_is_busy(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = backend.home(dir.path());
    let file = write(
        dir.path(),
        "busy.yaml",
        "name: busy\nsteps:\n  - id: spin\n    module: system\n    action: sleep\n    inputs: { milliseconds: 40 }\n    loop: { until: \"{{ false }}\", max_iterations: 300 }\n",
    );
    let mut child = spawn(&home, &["run", file.to_str().expect("UTF-8")]);
    let run = recorded_run(&home, 1);
    let iterations = |home: &Path| -> i64 {
        stored_count(
            home,
            "SELECT count(*) FROM attempts WHERE run_id = ?1 AND status = 'succeeded'",
            &[&run],
        )
    };
    let started = Instant::now();
    while iterations(&home) < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the loop never ran"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let asked_at = iterations(&home);
    let paused = wfhost(&home, &["pause", &run]);
    assert_eq!(paused.code, 0, "{}", paused.render());
    let _ = child.wait();
    let done = iterations(&home);
    assert_eq!(json(&home, &["status", &run, "--json"])["status"], "paused");
    // 50 ms between reads of requests, 40 ms an iteration: a handful more.
    assert!(
        done - asked_at <= 10,
        "{} iterations ran after the pause was asked ({asked_at} before)",
        done - asked_at
    );
}

/// Wait until step `step` of `run` has an attempt recorded.
fn wait_for_attempt(home: &Path, run: &str, step: &str) {
    let started = Instant::now();
    loop {
        let found = stored_count(
            home,
            "SELECT count(*) FROM events WHERE run_id = ?1 AND step = ?2 AND kind = 'step_started'",
            &[run, step],
        );
        if found > 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "step {step} never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// (status, attempts, duration_ms, fuel) of each step, by id.
fn step_rows(home: &Path, run: &str) -> std::collections::HashMap<String, (String, i64, f64, i64)> {
    stored(
        home,
        "SELECT step, status, attempts, duration_ms, fuel FROM steps WHERE run_id = ?1",
        &[run],
    )
    .into_iter()
    .map(|row| {
        let number = |i: usize| row[i].parse::<f64>().expect("a number");
        #[allow(clippy::cast_possible_truncation)] // counts and fuel
        let whole = |i: usize| number(i) as i64;
        (
            row[0].clone(),
            (row[1].clone(), whole(2), number(3), whole(4)),
        )
    })
    .collect()
}

fn cancel_records_what_it_stopped_runs_finally_and_is_not_resumed(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = backend.home(dir.path());
    let spin = crate::common::fixture("hostile/spin.wat");
    let file = write(
        dir.path(),
        "cancel.yaml",
        &format!(
            "name: cancel\nsteps:\n  - {{ id: spin, module: \"{spin}\", action: spin, limits: {{ fuel: 100000000000, timeout: 60s }} }}\n  - {{ id: cleanup, module: system, action: echo, inputs: {{ message: cleaned }} }}\nfinally: [cleanup]\n"
        ),
    );
    let child = spawn(&home, &["run", file.to_str().expect("UTF-8")]);
    let run = recorded_run(&home, 1);
    wait_for_attempt(&home, &run, "spin");
    std::thread::sleep(Duration::from_millis(300));
    let cancelled = wfhost(&home, &["cancel", &run]);
    assert_eq!(cancelled.code, 0, "{}", cancelled.render());
    let output = child.wait_with_output().expect("the driver stops");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        json(&home, &["status", &run, "--json"])["status"],
        "cancelled"
    );
    let rows = step_rows(&home, &run);
    let (status, attempts, duration, fuel) = &rows["spin"];
    assert_eq!(status, "cancelled");
    assert_eq!(*attempts, 1);
    assert!(*duration >= 300.0, "the cancelled step ran {duration} ms");
    assert!(*fuel > 0, "the cancelled step used fuel");
    assert_eq!(
        rows["cleanup"].0, "succeeded",
        "`finally` runs after a cancel"
    );
    assert_consistent(&home, &run, "cancelled");
    let resumed = wfhost(&home, &["resume", &run]);
    assert_eq!(resumed.code, 2, "{}", resumed.render());
    assert!(
        resumed.stderr.contains("--from STEP"),
        "{}",
        resumed.render()
    );
}

fn a_second_cancel_stops_the_finally_steps_too(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = backend.home(dir.path());
    let file = write(
        dir.path(),
        "cancel-twice.yaml",
        "name: cancel-twice\nsteps:\n  - { id: wait, module: system, action: sleep, inputs: { milliseconds: 20000 } }\n  - { id: slow-cleanup, module: system, action: sleep, inputs: { milliseconds: 20000 } }\nfinally: [slow-cleanup]\n",
    );
    let child = spawn(&home, &["run", file.to_str().expect("UTF-8")]);
    let run = recorded_run(&home, 1);
    wait_for_attempt(&home, &run, "wait");
    assert_eq!(wfhost(&home, &["cancel", &run]).code, 0);
    wait_for_attempt(&home, &run, "slow-cleanup");
    let again = wfhost(&home, &["cancel", &run]);
    assert_eq!(again.code, 0, "{}", again.render());
    let output = child.wait_with_output().expect("the driver stops");
    assert_eq!(output.status.code(), Some(1));
    let rows = step_rows(&home, &run);
    assert_eq!(rows["wait"].0, "cancelled");
    assert_eq!(rows["slow-cleanup"].0, "cancelled");
    assert_eq!(
        json(&home, &["status", &run, "--json"])["status"],
        "cancelled"
    );
    assert_consistent(&home, &run, "cancelled twice");
}

/// Every journal test above, on SQLite and on PostgreSQL.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(crate::common::Backend::Sqlite);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    super::$name(crate::common::Backend::Postgres);
                }
            )*
        }
    };
}

on_every_backend!(
    crash_loop_never_loses_or_repeats_a_step,
    resume_from_a_step_keeps_what_came_before,
    a_run_is_pinned_to_its_definition_and_modules,
    pause_then_resume_and_cancel,
    concurrent_runs_share_one_database,
    ctrl_c_leaves_the_run_resumable,
    a_crash_between_any_two_commits_resumes_to_a_consistent_journal,
    pause_takes_effect_while_a_run_is_busy,
    cancel_records_what_it_stopped_runs_finally_and_is_not_resumed,
    a_second_cancel_stops_the_finally_steps_too,
);
