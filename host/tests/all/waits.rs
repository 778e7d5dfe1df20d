//! Steps that wait for a signal, through the real binary: a signal from a
//! second process, type checks at arrival, the mailbox, idempotency,
//! durable timeouts across a crash, and cancelling a waiting run.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{json, newest_run, run_status, spawn, step_of, until, wfhost, write};

/// Build, wait for an approval (routed on its payload), deploy; a timeout
/// goes to `timed-out`. `{{TIMEOUT}}` and `{{BEFORE}}` (a sleep before the
/// wait, in ms) are filled in per test.
const APPROVAL: &str = r#"
name: approve-deploy
steps:
  - id: build
    module: system
    action: sleep
    inputs: { milliseconds: {{BEFORE}} }
    onSuccess: approve
  - id: approve
    wait:
      signal: approval
      type: "record { approved: bool, comment: option<string> }"
      timeout: {{TIMEOUT}}
    onSuccess:
      condition: "{{ steps.approve.output.approved }}"
      then: deploy
      else: stopped
    onFailure: timed-out
  - { id: deploy, module: system, action: echo, inputs: { message: "deploying: {{ steps.approve.output.comment }}" } }
  - { id: stopped, module: system, action: echo, inputs: { message: "not approved" } }
  - { id: timed-out, module: system, action: echo, inputs: { message: "{{ steps.approve.error.kind }}" } }
"#;

/// A temporary home and the approval workflow beside it: (the directory
/// to keep, the home, the workflow's path).
fn setup(timeout: &str, before_ms: u32) -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let workflow = approval(dir.path(), timeout, before_ms);
    (dir, home, workflow)
}

fn approval(dir: &Path, timeout: &str, before_ms: u32) -> String {
    let text = APPROVAL
        .replace("{{TIMEOUT}}", timeout)
        .replace("{{BEFORE}}", &before_ms.to_string());
    let path = write(dir, "approve.yaml", &text);
    path.to_str().expect("UTF-8").to_string()
}

/// Start `workflow` in the background; its run id once it is recorded.
fn start(home: &Path, workflow: &str) -> (Child, String) {
    let child = spawn(home, &["run", workflow]);
    let run = until("the run is recorded", || {
        json(home, &["list", "--json"])[0]["id"]
            .as_str()
            .map(String::from)
    });
    (child, run)
}

fn wait_until_waiting(home: &Path, run: &str) {
    until("the run waits", || {
        (run_status(home, run)["status"] == "waiting").then_some(())
    });
}

/// Send the approval signal with `data` (which must be accepted).
fn approve(home: &Path, run: &str, data: &str) {
    let sent = wfhost(home, &["signal", run, "approval", "--data", data]);
    assert_eq!(sent.code, 0, "{}", sent.render());
}

#[test]
fn a_signal_from_a_second_process_reaches_the_waiting_run() {
    let (_dir, home, workflow) = setup("5m", 1);
    let (child, run) = start(&home, &workflow);
    wait_until_waiting(&home, &run);
    let list = wfhost(&home, &["list"]);
    assert!(
        list.stdout.contains("waiting (approve)"),
        "{}",
        list.render()
    );
    assert_eq!(
        step_of(&run_status(&home, &run), "approve")["status"],
        "waiting"
    );

    // Ill-typed: refused with the type error, nothing recorded.
    let events = "SELECT count(*) FROM events WHERE run_id = ?1";
    let before = crate::common::stored_count(&home, events, &[&run]);
    let wrong = wfhost(
        &home,
        &[
            "signal",
            &run,
            "approval",
            "--data",
            r#"{"approved": "yes"}"#,
        ],
    );
    assert_eq!(wrong.code, 2, "{}", wrong.render());
    assert!(
        wrong.stderr.contains(
            r#"signal `approval` takes record { approved: bool, comment: option<string> }: payload.approved: expected bool, found a string ("yes"); nothing was sent"#
        ),
        "{}",
        wrong.render()
    );
    let unknown = wfhost(&home, &["signal", &run, "aproval", "--data", "{}"]);
    assert_eq!(unknown.code, 2, "{}", unknown.render());
    assert!(
        unknown.stderr.contains("its signals: approval"),
        "{}",
        unknown.render()
    );
    assert_eq!(crate::common::stored_count(&home, events, &[&run]), before);
    assert_eq!(
        crate::common::stored_count(
            &home,
            "SELECT count(*) FROM signals WHERE run_id = ?1",
            &[&run]
        ),
        0
    );

    let data = r#"{"approved": true, "comment": "ship it"}"#;
    let args = [
        "signal", &run, "approval", "--data", data, "--key", "k1", "--as", "alice",
    ];
    let sent = wfhost(&home, &args);
    assert_eq!(sent.code, 0, "{}", sent.render());
    let again = wfhost(&home, &args);
    assert_eq!(again.code, 0, "{}", again.render());
    assert!(
        again.stdout.contains("was sent before"),
        "{}",
        again.render()
    );

    let output = child.wait_with_output().expect("the run ends");
    assert!(output.status.success(), "{output:?}");
    let ended = run_status(&home, &run);
    assert_eq!(ended["status"], "succeeded", "{ended}");
    assert_eq!(
        step_of(&ended, "approve")["output"],
        json!({"approved": true, "comment": "ship it"})
    );
    assert_eq!(step_of(&ended, "deploy")["output"], "deploying: ship it");
    let logs = wfhost(&home, &["logs", &run]);
    assert!(
        logs.stdout
            .contains("approve took signal `approval` #1 from cli:alice"),
        "{}",
        logs.render()
    );
    let late = wfhost(&home, &["signal", &run, "approval", "--data", data]);
    assert_eq!(late.code, 2, "{}", late.render());
    assert!(
        late.stderr.contains("has ended (succeeded)"),
        "{}",
        late.render()
    );
}

#[test]
fn a_signal_sent_before_the_wait_begins_waits_in_the_mailbox() {
    let (_dir, home, workflow) = setup("5m", 1500);
    let (child, run) = start(&home, &workflow);
    approve(&home, &run, r#"{"approved": false}"#);
    assert_eq!(
        step_of(&run_status(&home, &run), "approve"),
        &Value::Null,
        "sent before the wait"
    );
    let output = child.wait_with_output().expect("the run ends");
    assert!(output.status.success(), "{output:?}");
    let ended = run_status(&home, &run);
    assert_eq!(
        step_of(&ended, "stopped")["output"],
        "not approved",
        "{ended}"
    );
    assert_eq!(step_of(&ended, "deploy"), &Value::Null);
}

#[test]
fn a_wait_times_out_at_its_first_deadline_after_a_crash_and_resume() {
    let (_dir, home, workflow) = setup("2s", 1);
    let (mut child, run) = start(&home, &workflow);
    wait_until_waiting(&home, &run);
    let began = Instant::now();
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert_eq!(run_status(&home, &run)["status"], "waiting");
    // Resumed before the deadline: it waits only the rest, then times out.
    std::thread::sleep(Duration::from_millis(1200));
    let resumed = wfhost(&home, &["resume", &run]);
    let waited = began.elapsed();
    assert_eq!(resumed.code, 0, "{}", resumed.render());
    assert!(
        waited < Duration::from_millis(2800),
        "the deadline was reset on resume: {waited:?}\n{}",
        resumed.render()
    );
    assert!(
        resumed
            .stdout
            .contains("wait-timeout: no signal `approval` arrived within 2s"),
        "{}",
        resumed.render()
    );
    let ended = run_status(&home, &run);
    assert_eq!(step_of(&ended, "approve")["status"], "failed");
    assert_eq!(step_of(&ended, "timed-out")["output"], "wait-timeout");
    assert_eq!(crate::common::unended_attempts(&home, &run), 0);
}

#[test]
fn a_timeout_with_a_value_continues_with_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let text = APPROVAL.replace("{{BEFORE}}", "1").replace(
        "timeout: {{TIMEOUT}}",
        "timeout: 300ms\n      on_timeout: { value: { approved: false, comment: timed out } }",
    );
    let workflow = write(dir.path(), "default.yaml", &text);
    let run = wfhost(&home, &["run", workflow.to_str().expect("UTF-8")]);
    assert_eq!(run.code, 0, "{}", run.render());
    let id = newest_run(&home);
    let ended = run_status(&home, &id);
    assert_eq!(
        step_of(&ended, "approve")["output"],
        json!({"approved": false, "comment": "timed out"})
    );
    assert_eq!(step_of(&ended, "stopped")["output"], "not approved");
}

#[test]
fn cancelling_a_waiting_run_records_the_wait_cancelled() {
    let (_dir, home, workflow) = setup("5m", 1);
    let (child, run) = start(&home, &workflow);
    wait_until_waiting(&home, &run);
    let cancelled = wfhost(&home, &["cancel", &run]);
    assert_eq!(cancelled.code, 0, "{}", cancelled.render());
    let output = child.wait_with_output().expect("the run ends");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let ended = run_status(&home, &run);
    assert_eq!(ended["status"], "cancelled");
    assert_eq!(step_of(&ended, "approve")["status"], "cancelled");
    assert_eq!(crate::common::unended_attempts(&home, &run), 0);
}

#[test]
fn detach_on_wait_leaves_the_run_waiting_for_a_signal_and_resume() {
    let (_dir, home, workflow) = setup("5m", 1);
    let detached = wfhost(&home, &["run", &workflow, "--detach-on-wait"]);
    assert_eq!(detached.code, 3, "{}", detached.render());
    assert!(
        detached
            .stdout
            .contains(r#"--data '{"approved":true,"comment":"text"}'"#),
        "the command that answers the wait: {}",
        detached.render()
    );
    let run = newest_run(&home);
    assert_eq!(run_status(&home, &run)["status"], "waiting");
    approve(&home, &run, r#"{"approved": true}"#);
    let resumed = wfhost(&home, &["resume", &run, "--detach-on-wait"]);
    assert_eq!(resumed.code, 0, "{}", resumed.render());
    let ended = run_status(&home, &run);
    assert_eq!(ended["status"], "succeeded", "{ended}");
    assert_eq!(step_of(&ended, "deploy")["output"], "deploying: null");
}

#[test]
fn the_approval_example_releases_what_was_approved_and_stops_what_was_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let mut outcomes = Vec::new();
    for approved in [true, false] {
        let detached = wfhost(
            &home,
            &["run", "workflows/approval.yaml", "--detach-on-wait"],
        );
        assert_eq!(detached.code, 3, "{}", detached.render());
        let run = newest_run(&home);
        let data = json!({ "approved": approved, "comment": "by the book" }).to_string();
        approve(&home, &run, &data);
        let resumed = wfhost(&home, &["resume", &run]);
        let ended = run_status(&home, &run);
        outcomes.push((
            resumed.code,
            ended["status"].clone(),
            step_of(&ended, "release")["output"].clone(),
            step_of(&ended, "rejected")["status"].clone(),
        ));
    }
    assert_eq!(
        outcomes,
        [
            (
                0,
                json!("succeeded"),
                json!("released 1.0.0: by the book"),
                Value::Null
            ),
            (1, json!("failed"), Value::Null, json!("failed")),
        ]
    );
}

const TIMERS: &str = r#"
name: timers
inputs:
  at: { type: string }
steps:
  - { id: nap, sleep: 2s, onSuccess: later }
  - { id: later, until: "{{ inputs.at }}", onSuccess: done, onFailure: bad-time }
  - { id: done, module: system, action: echo, inputs: { message: "woke" } }
  - { id: bad-time, module: system, action: echo, inputs: { message: "{{ steps.later.error.message }}" } }
"#;

#[test]
fn a_timer_resumed_after_a_crash_waits_only_the_rest_and_a_past_time_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let workflow = write(dir.path(), "timers.yaml", TIMERS);
    let workflow = workflow.to_str().expect("UTF-8");
    let mut child = spawn(&home, &["run", workflow, "-i", "at=2001-01-01T00:00:00Z"]);
    let run = until("the run is recorded", || {
        json(&home, &["list", "--json"])[0]["id"]
            .as_str()
            .map(String::from)
    });
    wait_until_waiting(&home, &run);
    let began = Instant::now();
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    std::thread::sleep(Duration::from_millis(800));
    let resumed = wfhost(&home, &["resume", &run]);
    let waited = began.elapsed();
    assert_eq!(resumed.code, 0, "{}", resumed.render());
    assert!(
        waited < Duration::from_millis(2600),
        "the timer started over on resume: {waited:?}"
    );
    let ended = run_status(&home, &run);
    assert_eq!(step_of(&ended, "done")["output"], "woke", "{ended}");

    let bad = wfhost(&home, &["run", workflow, "-i", "at=next tuesday"]);
    assert_eq!(bad.code, 0, "{}", bad.render());
    let ended = run_status(&home, &newest_run(&home));
    assert_eq!(
        step_of(&ended, "bad-time")["output"],
        "`until` gave \"next tuesday\", not an RFC 3339 time (2026-12-01T09:00:00Z)"
    );
}

const SIGN_OFF: &str = r#"
name: two-of-three
steps:
  - id: sign-off
    wait:
      approvals: { required: 2, from: [alice, bob, carol], not_by_starter: true }
      timeout: 5m
    onSuccess: ship
    onFailure: stop
  - id: ship
    module: system
    action: echo
    inputs: { message: "{{ steps['sign-off'].output.approvals | map(attribute='by') | join(',') }}" }
  - id: stop
    module: system
    action: echo
    inputs: { message: "{{ steps['sign-off'].error.kind }}: {{ steps['sign-off'].error.message }}" }
"#;

/// Answer `step` of `run` as `who` (`approve` or `reject`); the result.
fn answer(home: &Path, verb: &str, run: &str, who: &str, extra: &[&str]) -> crate::common::Run {
    let mut args = vec![verb, run, "sign-off", "--as", who];
    args.extend_from_slice(extra);
    wfhost(home, &args)
}

#[test]
fn two_of_three_named_approvers_approve_and_one_rejection_fails_the_step() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let workflow = write(dir.path(), "sign-off.yaml", SIGN_OFF);
    let workflow = workflow.to_str().expect("UTF-8");
    let started = crate::common::wfhost_with(
        &home,
        &["run", workflow, "--detach-on-wait"],
        &[("USER", "alice")],
    );
    assert_eq!(started.code, 3, "{}", started.render());
    assert!(
        started.stdout.contains("waits for 2 approvals until"),
        "{}",
        started.render()
    );
    let run = newest_run(&home);
    let refused = [
        ("alice", "alice started run"),
        (
            "dave",
            "dave may not approve step `sign-off`: its approvers are alice, bob, carol",
        ),
    ];
    for (who, message) in refused {
        let denied = answer(&home, "approve", &run, who, &[]);
        assert_eq!(denied.code, 2, "{}", denied.render());
        assert!(denied.stderr.contains(message), "{}", denied.render());
    }
    assert_eq!(
        answer(&home, "approve", &run, "bob", &["--comment", "lgtm"]).code,
        0
    );
    let twice = answer(&home, "approve", &run, "bob", &[]);
    assert!(
        twice.stderr.contains("bob has already answered"),
        "{}",
        twice.render()
    );
    // One approval of two: the run goes back to waiting.
    let resumed = wfhost(&home, &["resume", &run, "--detach-on-wait"]);
    assert_eq!(resumed.code, 3, "{}", resumed.render());
    assert_eq!(answer(&home, "approve", &run, "carol", &[]).code, 0);
    let resumed = wfhost(&home, &["resume", &run]);
    assert_eq!(resumed.code, 0, "{}", resumed.render());
    let ended = run_status(&home, &run);
    assert_eq!(
        step_of(&ended, "sign-off")["output"],
        json!({"approved": true, "approvals": [
            {"by": "bob", "comment": "lgtm"}, {"by": "carol", "comment": null}
        ]})
    );
    assert_eq!(step_of(&ended, "ship")["output"], "bob,carol");

    // Another run: one rejection ends the wait, routed by kind.
    let started = crate::common::wfhost_with(
        &home,
        &["run", workflow, "--detach-on-wait"],
        &[("USER", "alice")],
    );
    assert_eq!(started.code, 3, "{}", started.render());
    let run = newest_run(&home);
    assert_eq!(answer(&home, "approve", &run, "bob", &[]).code, 0);
    let rejected = answer(&home, "reject", &run, "carol", &["--comment", "too risky"]);
    assert_eq!(rejected.code, 0, "{}", rejected.render());
    let resumed = wfhost(&home, &["resume", &run]);
    assert_eq!(resumed.code, 0, "{}", resumed.render());
    let ended = run_status(&home, &run);
    assert_eq!(
        step_of(&ended, "stop")["output"],
        "rejected: rejected by carol: too risky"
    );
}
