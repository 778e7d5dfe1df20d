//! Circuit breakers through the real binary: failures of an action across
//! runs (separate processes) open its breaker, calls then fail at once with
//! kind `circuit-open` (routed, not retried), a probe after `open_for`
//! closes it or opens it again, and `wfhost circuit reset` closes it.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common::{guest, json, newest_run, run_status, step_of, wfhost, write};

/// A call that fails unless `ok`, guarded by a breaker (two failures
/// within a minute open it for a second); a failure is routed to `handle`.
fn workflow(dir: &Path) -> String {
    let text = format!(
        r#"
name: flaky
inputs:
  ok: {{ type: boolean, default: false }}
steps:
  - id: call
    module: {}
    action: echoes.echo-result
    inputs: {{ v: "{{{{ {{'ok': 'fine'}} if inputs.ok else {{'err': 7}} }}}}" }}
    retry: {{ max_attempts: 3, initial: 10ms, on: [circuit-open] }}
    circuit: {{ failures: 2, within: 1m, open_for: 1s }}
    onFailure: handle
  - {{ id: handle, module: system, action: echo, inputs: {{ message: "{{{{ steps.call.error.kind }}}}" }} }}
"#,
        guest("kitchen-sink")
    );
    write(dir, "flaky.yaml", &text)
        .to_str()
        .expect("UTF-8")
        .to_string()
}

/// Run it once; what `call` did: its output, or the kind it failed with,
/// and how many attempts it made.
fn once(home: &Path, workflow: &str, ok: bool) -> (String, u64) {
    let ran = wfhost(home, &["run", workflow, "-i", &format!("ok={ok}")]);
    assert_eq!(ran.code, 0, "{}", ran.render());
    let status = run_status(home, &newest_run(home));
    let attempts = step_of(&status, "call")["attempts"].as_u64().unwrap_or(0);
    let handled = step_of(&status, "handle")["output"].clone();
    match handled {
        Value::String(kind) => (kind, attempts),
        _ => ("succeeded".to_string(), attempts),
    }
}

fn open_breakers(home: &Path) -> Vec<String> {
    json(home, &["circuit", "list", "--json"])
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["open"] == true)
        .filter_map(|c| c["key"].as_str().map(String::from))
        .collect()
}

#[test]
fn a_breaker_opens_across_runs_fails_fast_and_closes_after_a_probe() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let flaky = workflow(dir.path());
    assert_eq!(once(&home, &flaky, false), ("error".into(), 1));
    assert!(open_breakers(&home).is_empty(), "one failure is not enough");
    assert_eq!(once(&home, &flaky, false), ("error".into(), 1));
    assert_eq!(open_breakers(&home), ["kitchen-sink.echoes.echo-result"]);
    // Open: the call is not made, and `retry.on` does not knock again.
    assert_eq!(once(&home, &flaky, true), ("circuit-open".into(), 1));
    let status = wfhost(&home, &["status", &newest_run(&home)]);
    assert!(
        status.stdout.contains("open circuit breakers")
            && status
                .stdout
                .contains("kitchen-sink.echoes.echo-result: open until"),
        "{}",
        status.stdout
    );
    let shown = json(&home, &["module", "show", &guest("kitchen-sink"), "--json"]);
    assert_eq!(
        shown["open_circuits"][0]["key"], "kitchen-sink.echoes.echo-result",
        "{shown}"
    );
    // After `open_for`, a probe that fails opens it again…
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(once(&home, &flaky, false), ("error".into(), 1));
    assert_eq!(once(&home, &flaky, true), ("circuit-open".into(), 1));
    // …and one that succeeds closes it.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(once(&home, &flaky, true), ("succeeded".into(), 1));
    assert!(open_breakers(&home).is_empty());
    assert_eq!(once(&home, &flaky, false), ("error".into(), 1));
}

#[test]
fn circuit_reset_closes_an_open_breaker() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let flaky = workflow(dir.path());
    once(&home, &flaky, false);
    once(&home, &flaky, false);
    assert_eq!(once(&home, &flaky, true), ("circuit-open".into(), 1));
    let unknown = wfhost(
        &home,
        &["circuit", "reset", "kitchen-sink.echoes.echo-resul"],
    );
    assert_ne!(unknown.code, 0);
    assert!(
        unknown
            .stderr
            .contains("did you mean `kitchen-sink.echoes.echo-result`?"),
        "{}",
        unknown.render()
    );
    let reset = wfhost(
        &home,
        &["circuit", "reset", "kitchen-sink.echoes.echo-result"],
    );
    assert_eq!(reset.code, 0, "{}", reset.render());
    assert_eq!(once(&home, &flaky, true), ("succeeded".into(), 1));
}
