//! The real `wfhost` binary: outputs, messages and exit codes.

use std::process::Command;

use crate::common::{Run, walk, wfhost};

fn snapshot(name: &str, run: &Run) {
    insta::with_settings!({
        filters => vec![
            (r"sha256:[0-9a-f]{64}", "sha256:[digest]"),
            (r"run [0-9a-f]{8}", "run [id]"),
            (r#""run_id":"[0-9a-f]{8}""#, r#""run_id":"[id]""#),
            (r#""duration_ms":[0-9.e-]+"#, r#""duration_ms":[ms]"#),
            (r#""delay_ms":[0-9]+"#, r#""delay_ms":[ms]"#),
            (r#""at_ms":[0-9]+"#, r#""at_ms":[ms]"#),
            (r#""time":"[^"]+""#, r#""time":"[time]""#),
            (r#""trace_id":"[0-9a-f]{32}""#, r#""trace_id":"[trace]""#),
            (r"\s+[0-9]+\.[0-9]+m?s\b", " [time]"),
        ],
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!(name, run.render());
    });
}

/// One golden test per CLI outcome worth pinning down: the snapshot is
/// named after the test.
macro_rules! golden {
    ($($name:ident: [$($arg:expr),* $(,)?],)*) => {
        $(
            #[test]
            fn $name() {
                let home = tempfile::tempdir().expect("temp dir");
                snapshot(stringify!($name), &wfhost(home.path(), &[$($arg),*]));
            }
        )*
    };
}

golden! {
    call_echo: ["call", "system", "echo", "--input", r#"{"message": "hello"}"#],
    call_fail: ["call", "system", "fail", "--input", r#"{"code": "not-found", "message": "no such branch", "details": "{\"branch\": \"main\"}"}"#],
    call_unknown_action: ["call", "system", "ecoh"],
    call_unknown_module: ["call", "sytsem", "echo"],
    call_missing_file: ["call", "./missing.wasm", "run"],
    call_bad_json: ["call", "system", "echo", "--input", "{message: hi}"],
    call_invalid_input: ["call", "tests/fixtures/components/checked.wat", "add", "--input", r#"{"a": "two", "b": 1}"#],
    call_guest_error: ["call", "tests/fixtures/components/checked.wat", "check", "--input", r#"{"value": 0}"#],
    call_fuel_exhausted: ["call", "tests/fixtures/hostile/spin.wat", "spin", "--fuel", "1000000"],
    call_memory_limit: ["call", "tests/fixtures/hostile/memory-bomb.wat", "bomb", "--memory", "8MiB"],
    call_stack_overflow: ["call", "tests/fixtures/hostile/recursion.wat", "recurse"],
    call_bad_size: ["call", "system", "echo", "--memory", "lots"],
    call_core_module: ["call", "tests/fixtures/components/core-module.wat", "f"],
    actions_system: ["actions", "system"],
    call_allow_read: ["call", concat!(env!("WFHOST_GUEST_DIR"), "/kitchen-sink.wasm"), "read-file", "--input", r#"{"path": "tests/fixtures/workflows/invalid/unknown-action.yaml"}"#, "--allow-read", "tests/fixtures/workflows/invalid"],
    call_denied_read: ["call", concat!(env!("WFHOST_GUEST_DIR"), "/kitchen-sink.wasm"), "read-file", "--input", r#"{"path": "tests/fixtures/workflows/invalid/unknown-action.yaml"}"#],
    call_allow_outside: ["call", "system", "echo", "--input", r#"{"message": "hi"}"#, "--allow-read", "../"],
    run_hello: ["run", "workflows/hello.yaml", "--input", "who=Ada"],
    run_failed_json: ["run", "workflows/resilient.yaml", "--json"],
    run_unknown_input: ["run", "workflows/hello.yaml", "--input", "whom=Ada"],
    run_invalid_workflow: ["run", "tests/fixtures/workflows/invalid/unknown-route.yaml"],
    validate_valid: ["validate", "workflows/bounded-cycle.yaml"],
    validate_invalid: ["validate", "tests/fixtures/workflows/invalid/unknown-key.yaml"],
    graph_mermaid: ["graph", "workflows/fan-out.yaml"],
    graph_dot: ["graph", "workflows/hello.yaml", "--format", "dot"],
    schema: ["schema"],
    actions_bare_component: ["actions", "tests/fixtures/components/checked.wat"],
}

#[test]
fn call_json_reports_status_output_and_measurements() {
    let home = tempfile::tempdir().expect("temp dir");
    let run = wfhost(
        home.path(),
        &[
            "call",
            "system",
            "notify-completion",
            "--json",
            "--input",
            r#"{"workflow": "release", "status": "completed"}"#,
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
    assert_eq!(json["status"], "success");
    assert_eq!(json["output"], "workflow release finished: completed");
    assert!(json["fuel_consumed"].as_u64().expect("fuel is a number") > 0);
    assert!(
        json["memory_peak_bytes"]
            .as_u64()
            .expect("memory is a number")
            > 0
    );
    assert!(json["duration_ms"].as_f64().is_some());
    assert_eq!(json["logs"][0]["level"], "info");
    assert_eq!(json["logs"][0]["fields"]["status"], "completed");

    let failed = wfhost(
        home.path(),
        &[
            "call",
            "tests/fixtures/hostile/spin.wat",
            "spin",
            "--json",
            "--timeout",
            "100ms",
            "--fuel",
            "100000000000000",
        ],
    );
    assert_eq!(failed.code, 1);
    let json: serde_json::Value = serde_json::from_str(&failed.stdout).expect("stdout is JSON");
    assert_eq!(json["status"], "failure");
    assert_eq!(json["kind"], "timeout");
}

#[test]
fn the_artifact_cache_lives_under_wfhost_home() {
    let home = tempfile::tempdir().expect("temp dir");
    // Without `WFHOST_CACHE_DIR`, the cache is in the home.
    let first = crate::common::wfhost_without_shared_cache(
        home.path(),
        &["call", "system", "echo", "--input", r#"{"message": "a"}"#],
    );
    assert_eq!(first.code, 0, "{}", first.stderr);
    let cache = home.path().join("cache").join("components");
    let artifacts: Vec<_> = walk(&cache)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(
        artifacts.len(),
        1,
        "one artifact for the system module: {artifacts:?}"
    );
}

#[test]
fn version_help_and_completions() {
    let home = tempfile::tempdir().expect("temp dir");
    let version = wfhost(home.path(), &["--version"]);
    assert_eq!(
        version.stdout.trim(),
        format!("wfhost {}", env!("CARGO_PKG_VERSION"))
    );
    let help = wfhost(home.path(), &["call", "--help"]);
    assert!(
        help.stdout.contains("--timeout <DURATION>"),
        "{}",
        help.stdout
    );
    let completions = wfhost(home.path(), &["completions", "bash"]);
    assert_eq!(completions.code, 0);
    assert!(
        completions.stdout.contains("_wfhost()"),
        "{}",
        completions.stdout
    );
    let bad = wfhost(home.path(), &["frobnicate"]);
    assert_eq!(bad.code, 2);
}

#[test]
fn without_address_space_for_the_pool_it_falls_back_to_on_demand_allocation() {
    let home = tempfile::tempdir().expect("temp dir");
    // 12 GB of address space: too little for the pool, enough for one instance.
    let script = format!(
        "ulimit -v 12000000 && exec '{}' call system echo --input '{{\"message\": \"still works\"}}'",
        env!("CARGO_BIN_EXE_wfhost")
    );
    let output = Command::new("sh")
        .args(["-c", &script])
        .env("WFHOST_HOME", home.path())
        .env("WFHOST_LOG", "info")
        .output()
        .expect("sh runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "\"still works\""
    );
    assert!(
        stderr.contains("falling back to on-demand allocation"),
        "{stderr}"
    );
}

#[test]
fn json_events_carry_the_runs_trace_id_from_traceparent_or_its_own() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let trace_ids = |stdout: &str| -> Vec<String> {
        stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .map(|event| event["trace_id"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let given = "4bf92f3577b34da6a3ce929d0e0e4736";
    let joined = crate::common::wfhost_with(
        &home,
        &["run", "workflows/hello.yaml", "--json"],
        &[("TRACEPARENT", &format!("00-{given}-00f067aa0ba902b7-01"))],
    );
    assert_eq!(joined.code, 0, "{}", joined.render());
    let ids = trace_ids(&joined.stdout);
    assert!(
        !ids.is_empty() && ids.iter().all(|id| id == given),
        "{ids:?}"
    );
    let run = crate::common::newest_run(&home);
    let status = crate::common::run_status(&home, &run);
    assert_eq!(
        (status["trace_id"].as_str(), status["trace_parent"].as_str()),
        (Some(given), Some("00f067aa0ba902b7"))
    );
    let logs = wfhost(&home, &["logs", &run, "--json"]);
    assert!(
        trace_ids(&logs.stdout).iter().all(|id| id == given),
        "{}",
        logs.stdout
    );

    // Without one (or with a malformed one), the run has a trace of its own.
    let own = crate::common::wfhost_with(
        &home,
        &["run", "workflows/hello.yaml", "--json"],
        &[("TRACEPARENT", "not a traceparent")],
    );
    let ids = trace_ids(&own.stdout);
    let first = ids.first().cloned().unwrap_or_default();
    assert!(
        first.len() == 32 && first != given && ids.iter().all(|id| *id == first),
        "{ids:?}"
    );
    let run = crate::common::newest_run(&home);
    assert_eq!(
        crate::common::run_status(&home, &run)["trace_id"],
        first.as_str()
    );
}
