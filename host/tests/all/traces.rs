//! Runs' traces over OTLP/HTTP, received by a test collector: one trace
//! per run with the right structure, sent once even across a crash, and a
//! collector that is down costs the run nothing.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::collector::{Collector, Received};
use crate::common::{
    newest_run, run_status, spawn, step_of, top_run, try_newest_run, until, wfhost, write,
};

const CHILD: &str = r#"
name: child
steps:
  - { id: inner, module: system, action: echo, inputs: { message: inside } }
"#;

/// A retry, a parallel group of two branches, and a sub-workflow.
const TRACED: &str = r#"
name: traced
steps:
  - id: flaky
    module: system
    action: fail
    inputs: { code: down, message: "not yet", retryable: true }
    retry: { max_attempts: 2, initial: 10ms }
    onFailure: both
  - id: both
    parallel: { branches: [left, right] }
    onSuccess: nested
  - { id: left, module: system, action: echo, inputs: { message: l } }
  - { id: right, module: system, action: echo, inputs: { message: r } }
  - id: nested
    workflow: ./child.yaml
"#;

/// A home, and workflow `name` written beside it; the directory lives as
/// long as the first value.
fn setup(name: &str, text: &str) -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let file = write(dir.path(), name, text);
    let file = file.to_str().expect("UTF-8").to_string();
    (dir, home, file)
}

/// The run's trace id, from `status`.
fn trace_of(home: &Path, run: &str) -> String {
    run_status(home, run)["trace_id"]
        .as_str()
        .expect("a trace id")
        .to_string()
}

fn named<'s>(spans: &'s [Received], name: &str) -> Vec<&'s Received> {
    spans.iter().filter(|s| s.span.name == name).collect()
}

fn one<'s>(spans: &'s [Received], name: &str) -> &'s Received {
    let found = named(spans, name);
    assert_eq!(found.len(), 1, "one span `{name}` in {spans:#?}");
    found[0]
}

fn assert_no_duplicates(spans: &[Received]) {
    let ids: HashSet<String> = spans.iter().map(Received::span_id).collect();
    assert_eq!(ids.len(), spans.len(), "a span was sent twice: {spans:#?}");
}

#[test]
fn a_run_with_a_retry_a_group_and_a_child_is_one_trace_with_that_structure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let file = write(dir.path(), "traced.yaml", TRACED);
    write(dir.path(), "child.yaml", CHILD);
    let collector = Collector::start();
    let ran = wfhost(
        &home,
        &[
            "run",
            file.to_str().unwrap_or_default(),
            "--otlp",
            &collector.url,
        ],
    );
    assert_eq!(ran.code, 0, "{}", ran.render());
    let status = run_status(&home, &top_run(&home).expect("the parent run"));
    let run = status["id"].as_str().unwrap_or_default().to_string();
    let trace = trace_of(&home, &run);
    // Root, two attempts of `flaky`, the group and its two branches,
    // `nested`, the child's root and its step.
    let spans = collector.wait_for(&trace, 9);
    assert_eq!(spans.len(), 9, "{spans:#?}");
    assert_no_duplicates(&spans);
    assert_eq!(collector.requests(), 1, "one trace, one request");
    assert!(spans.iter().all(|s| s.service.contains("wfhost")));

    let root = one(&spans, "RUN traced");
    assert_eq!(root.parent_id(), "", "the root has no parent");
    assert_eq!(
        root.attribute("cicd.pipeline.run.id").as_deref(),
        Some(run.as_str())
    );
    assert_eq!(
        root.attribute("cicd.pipeline.result").as_deref(),
        Some("success")
    );
    let flaky = named(&spans, "flaky");
    assert_eq!(flaky.len(), 2, "{flaky:#?}");
    for (n, attempt) in flaky.iter().enumerate() {
        assert_eq!(attempt.parent_id(), root.span_id());
        assert!(attempt.is_error(), "{attempt:#?}");
        assert_eq!(
            attempt.attribute("wfhost.attempt"),
            Some((n + 1).to_string())
        );
        assert_eq!(
            attempt.attribute("wfhost.module.name").as_deref(),
            Some("system")
        );
        assert_eq!(attempt.attribute("wfhost.action").as_deref(), Some("fail"));
        assert_eq!(
            attempt.attribute("wfhost.failure.kind").as_deref(),
            Some("error")
        );
        assert!(
            attempt
                .attribute("wfhost.module.digest")
                .is_some_and(|d| d.len() == 64)
        );
        assert!(attempt.attribute("wfhost.fuel").is_some());
    }
    let first = flaky
        .iter()
        .find(|s| s.attribute("wfhost.attempt").as_deref() == Some("1"))
        .expect("the first attempt");
    assert_eq!(
        first.attribute("wfhost.retry.delay_ms").as_deref(),
        Some("10")
    );
    let group = one(&spans, "both");
    assert_eq!(group.parent_id(), root.span_id());
    for branch in ["left", "right"] {
        assert_eq!(one(&spans, branch).parent_id(), group.span_id(), "{branch}");
    }
    let nested = one(&spans, "nested");
    assert_eq!(
        nested.attribute("wfhost.workflow").as_deref(),
        Some("./child.yaml")
    );
    let child_root = one(&spans, "RUN child");
    assert_eq!(
        child_root.parent_id(),
        nested.span_id(),
        "the child's run is inside the step"
    );
    assert_eq!(one(&spans, "inner").parent_id(), child_root.span_id());
    // Spans lie within their parents.
    let by_id: HashMap<String, &Received> = spans.iter().map(|s| (s.span_id(), s)).collect();
    for span in &spans {
        if let Some(parent) = by_id.get(&span.parent_id()) {
            assert!(
                parent.span.start_time_unix_nano <= span.span.start_time_unix_nano
                    && span.span.end_time_unix_nano <= parent.span.end_time_unix_nano,
                "{} outside {}",
                span.span.name,
                parent.span.name
            );
        }
    }
}

#[test]
fn a_run_killed_mid_step_and_resumed_is_one_trace_sent_once() {
    let (_dir, home, file) = setup(
        "slow.yaml",
        r#"
name: slow
steps:
  - id: first
    module: system
    action: echo
    inputs: { message: quick }
    onSuccess: nap
  - { id: nap, module: system, action: sleep, inputs: { milliseconds: 1500 } }
"#,
    );
    let collector = Collector::start();
    let path = file.as_str();
    let mut driver = spawn(&home, &["run", path, "--otlp", &collector.url]);
    let run = until("the run starts", || try_newest_run(&home));
    until("the nap begins", || {
        (step_of(&run_status(&home, &run), "nap")["status"] == "running").then_some(())
    });
    driver.kill().expect("SIGKILL");
    let _ = driver.wait();
    let resumed = until("the run resumes", || {
        let resumed = wfhost(&home, &["resume", &run, "--otlp", &collector.url]);
        (!resumed.stderr.contains("is being driven")).then_some(resumed)
    });
    assert_eq!(resumed.code, 0, "{}", resumed.render());
    // Another run with OTLP set afterwards does not send the first again.
    let again = wfhost(&home, &["run", path, "--otlp", &collector.url]);
    assert_eq!(again.code, 0, "{}", again.render());
    let trace = trace_of(&home, &run);
    let spans = collector.wait_for(&trace, 4);
    assert_no_duplicates(&spans);
    // The root, `first`, the `nap` cut short by the kill, and the one that ran.
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let root = one(&spans, "RUN slow");
    assert_eq!(root.span.events.len(), 1, "one resume: {root:#?}");
    assert_eq!(root.span.events[0].name, "resumed");
    assert_eq!(
        named(&spans, "first").len(),
        1,
        "the replayed step is one span"
    );
    let naps = named(&spans, "nap");
    assert_eq!(naps.len(), 2, "{naps:#?}");
    let kinds: HashSet<Option<String>> = naps
        .iter()
        .map(|nap| nap.attribute("wfhost.failure.kind"))
        .collect();
    assert_eq!(kinds, HashSet::from([Some("interrupted".into()), None]));
    assert_eq!(collector.requests(), 2, "one request per run");
    let others = collector.spans().len() - spans.len();
    assert_eq!(others, 3, "the second run's trace: root, first, nap");
}

#[test]
fn a_collector_that_is_down_costs_the_run_nothing_and_gets_the_trace_later() {
    let (_dir, home, file) = setup(
        "hello.yaml",
        "name: hello\nsteps:\n  - { id: hi, module: system, action: echo, inputs: { message: hi } }\n",
    );
    let path = file.as_str();
    // A port nothing listens on.
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    let ran = wfhost(&home, &["run", path, "--otlp", &down]);
    assert_eq!(ran.code, 0, "the run succeeds: {}", ran.render());
    let first = newest_run(&home);
    assert!(
        ran.stderr.contains(&format!(
            "the trace of run {first} was not sent to {down}/v1/traces"
        )) && ran.stderr.contains("stays due"),
        "{}",
        ran.render()
    );
    // The collector is back: the next run sends its own trace and the one left due.
    let collector = Collector::start();
    let ran = wfhost(&home, &["run", path, "--otlp", &collector.url]);
    assert_eq!(ran.code, 0, "{}", ran.render());
    let second = newest_run(&home);
    for run in [&first, &second] {
        let spans = collector.wait_for(&trace_of(&home, run), 2);
        assert_eq!(spans.len(), 2, "run {run}: {spans:#?}");
    }
    // Without OTLP set, nothing is due and nothing is sent.
    let quiet = wfhost(&home, &["run", path]);
    assert_eq!(quiet.code, 0, "{}", quiet.render());
    let ran = wfhost(&home, &["run", path, "--otlp", &collector.url]);
    assert_eq!(ran.code, 0, "{}", ran.render());
    assert_eq!(
        collector.requests(),
        3,
        "the run without OTLP is not exported later"
    );
}

#[test]
fn a_wait_is_a_span_inside_its_step_ending_when_the_signal_came() {
    let (_dir, home, file) = setup(
        "gate.yaml",
        r#"
name: gate
steps:
  - id: approve
    wait: { signal: approval, type: "record { ok: bool }", timeout: 1h }
"#,
    );
    let collector = Collector::start();
    let path = file.as_str();
    let waiting = wfhost(
        &home,
        &["run", path, "--detach-on-wait", "--otlp", &collector.url],
    );
    assert_eq!(waiting.code, 3, "{}", waiting.render());
    let run = newest_run(&home);
    assert_eq!(collector.requests(), 0, "a waiting run has not ended");
    let sent = wfhost(
        &home,
        &["signal", &run, "approval", "--data", r#"{"ok": true}"#],
    );
    assert_eq!(sent.code, 0, "{}", sent.render());
    let resumed = wfhost(&home, &["resume", &run, "--otlp", &collector.url]);
    assert_eq!(resumed.code, 0, "{}", resumed.render());
    let spans = collector.wait_for(&trace_of(&home, &run), 3);
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let step = one(&spans, "approve");
    let wait = one(&spans, "wait approval");
    assert_eq!(wait.parent_id(), step.span_id());
    assert_eq!(wait.attribute("wfhost.signal").as_deref(), Some("approval"));
    assert!(
        wait.attribute("wfhost.signal.sent_by").is_some(),
        "{wait:#?}"
    );
    assert!(wait.span.end_time_unix_nano <= step.span.end_time_unix_nano);
    assert!(wait.span.start_time_unix_nano >= step.span.start_time_unix_nano);
}

#[test]
fn a_trace_the_collector_refuses_for_good_is_not_sent_again() {
    let (_dir, home, file) = setup(
        "hello.yaml",
        "name: hello\nsteps:\n  - { id: hi, module: system, action: echo, inputs: { message: hi } }\n",
    );
    let refusing = Collector::answering(413);
    let ran = wfhost(&home, &["run", &file, "--otlp", &refusing.url]);
    assert_eq!(ran.code, 0, "{}", ran.render());
    let first = newest_run(&home);
    assert!(
        ran.stderr
            .contains(&format!("refused the trace of run {first} (HTTP 413"))
            && ran.stderr.contains("it is not sent again"),
        "{}",
        ran.render()
    );
    let collector = Collector::start();
    let ran = wfhost(&home, &["run", &file, "--otlp", &collector.url]);
    assert_eq!(ran.code, 0, "{}", ran.render());
    let second = newest_run(&home);
    assert_eq!(collector.wait_for(&trace_of(&home, &second), 2).len(), 2);
    assert_eq!(
        collector.requests(),
        1,
        "the refused trace is not sent again"
    );
}
