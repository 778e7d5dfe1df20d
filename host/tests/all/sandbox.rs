//! The sandbox: deny by default, captured logs, outcomes and measurements.

use serde_json::json;
use wfhost::sandbox::{CallError, FailureKind, Limits, Outcome};

use crate::common::{call, fixture, guest, load, runtime};

#[tokio::test]
async fn nothing_is_granted_by_default() {
    let runtime = runtime();
    let module = load(&runtime, &guest("kitchen-sink"));

    // The host process has PATH; the guest must not see it.
    assert!(std::env::var_os("PATH").is_some());
    let env = call(
        &module,
        "env-var",
        json!({"name": "PATH"}),
        Limits::default(),
    )
    .await;
    assert_eq!(
        env.outcome,
        Outcome::Success(json!(null)),
        "no environment variable leaks in"
    );

    let file = call(
        &module,
        "read-file",
        json!({"path": "/etc/passwd"}),
        Limits::default(),
    )
    .await;
    let Outcome::Failure(failure) = &file.outcome else {
        panic!("reading /etc/passwd must fail, got {:?}", file.outcome);
    };
    assert_eq!(failure.kind, FailureKind::Error);

    let connect = call(
        &module,
        "connect",
        json!({"address": "127.0.0.1:9"}),
        Limits::default(),
    )
    .await;
    assert_eq!(
        connect.failure().map(|f| f.kind),
        Some(FailureKind::Error),
        "no sockets"
    );
}

#[tokio::test]
async fn logs_fields_and_progress_are_captured() {
    let runtime = runtime();
    let module = load(&runtime, &guest("kitchen-sink"));
    let report = call(&module, "chatty", json!({}), Limits::default()).await;
    assert_eq!(report.outcome, Outcome::Success(json!("done")));
    let levels: Vec<&str> = report.logs.iter().map(|record| record.level).collect();
    assert_eq!(levels, ["trace", "debug", "info", "warn", "error"]);
    assert_eq!(
        report.logs[4].fields,
        [
            ("file".to_string(), "src/lib.rs".to_string()),
            ("line".to_string(), "7".to_string())
        ]
    );
    let progress = report.progress.expect("progress reported");
    assert_eq!(
        (progress.done, progress.total, progress.message.as_str()),
        (3, Some(4), "almost there")
    );
    assert!(report.fuel_consumed > 0);
    assert!(report.memory_peak_bytes > 0);
}

#[tokio::test]
async fn a_panicking_guest_traps_with_its_panic_message() {
    let runtime = runtime();
    let module = load(&runtime, &guest("kitchen-sink"));
    let report = call(
        &module,
        "panic",
        json!({"message": "the disk is on fire"}),
        Limits::default(),
    )
    .await;
    let failure = report.failure().expect("a panic fails");
    assert_eq!(failure.kind, FailureKind::Trap);
    assert!(
        failure.message.contains("the disk is on fire"),
        "{}",
        failure.message
    );
    assert!(failure.backtrace.is_some());
}

#[tokio::test]
async fn action_errors_keep_code_retryable_and_structured_details() {
    let runtime = runtime();
    let module = load(&runtime, "system");
    let input = json!({"code": "busy", "message": "try later", "retryable": true, "details": "{\"after_ms\": 50}"});
    let report = call(&module, "fail", input, Limits::default()).await;
    let failure = report.failure().expect("fail fails");
    assert_eq!(failure.kind, FailureKind::Error);
    assert_eq!(failure.message, "busy: try later");
    assert!(failure.retryable());
    assert_eq!(
        failure.error,
        Some(
            json!({"code": "busy", "message": "try later", "retryable": true, "details": {"after_ms": 50}})
        )
    );
}

#[tokio::test]
async fn every_call_gets_a_fresh_instance() {
    // `add` is pure, but a fresh store per call also means fuel is per call.
    let runtime = runtime();
    let module = load(&runtime, &fixture("components/checked.wat"));
    let first = call(&module, "add", json!({"a": 1, "b": 2}), Limits::default()).await;
    let second = call(&module, "add", json!({"a": 1, "b": 2}), Limits::default()).await;
    assert_eq!(first.fuel_consumed, second.fuel_consumed);
    assert_eq!(first.outcome, Outcome::Success(json!(3)));
}

#[tokio::test]
async fn actions_are_found_by_qualified_or_unambiguous_name() {
    let runtime = runtime();
    let module = load(&runtime, &guest("kitchen-sink"));
    assert_eq!(
        module.action("echoes.echo-u8").expect("qualified").name,
        "echoes.echo-u8"
    );
    assert_eq!(
        module.action("echo-u8").expect("unqualified").name,
        "echoes.echo-u8"
    );
    for fully in [
        "wfhost-test:kitchen-sink/echoes@0.1.0.echo-u8",
        "wfhost-test:kitchen-sink/echoes.echo-u8",
    ] {
        assert_eq!(
            module.action(fully).expect("fully qualified").name,
            "echoes.echo-u8",
            "{fully}"
        );
    }
    assert!(module.action("other:pkg/echoes.echo-u8").is_err());
    match module.action("echo-u9") {
        Err(CallError::UnknownAction { suggestion, .. }) => {
            assert_eq!(suggestion.as_deref(), Some("echoes.echo-u8"))
        }
        other => panic!("expected an unknown action, got {other:?}"),
    }
}

#[tokio::test]
async fn limits_above_the_host_maximum_are_refused() {
    let runtime = runtime();
    let module = load(&runtime, &fixture("components/checked.wat"));
    let limits = Limits {
        memory_bytes: 64 << 30,
        ..Limits::default()
    };
    let error = module
        .call("add", &json!({"a": 1, "b": 1}), &limits)
        .await
        .expect_err("refused");
    assert!(
        error.to_string().contains("above the host maximum"),
        "{error}"
    );
}

#[test]
fn a_core_module_is_not_a_component() {
    let runtime = runtime();
    let source = wfhost::module_source::from_file(std::path::Path::new(&fixture(
        "components/core-module.wat",
    )))
    .expect("reads");
    let error = runtime
        .load(&source.name, &source.bytes, &[])
        .expect_err("refused");
    assert!(
        error
            .to_string()
            .contains("core WebAssembly module, not a component"),
        "{error}"
    );
}

#[tokio::test]
async fn the_sdk_example_greets_and_fails_with_a_typed_error() {
    let runtime = runtime();
    let module = load(&runtime, &guest("greeter"));
    let hello = call(&module, "hello", json!({"name": "Ada"}), Limits::default()).await;
    assert_eq!(hello.outcome, Outcome::Success(json!("Hello, Ada!")));
    assert_eq!(hello.logs[0].message, "greeting Ada");

    let empty = call(&module, "hello", json!({"name": ""}), Limits::default()).await;
    let failure = empty.failure().expect("an empty name fails");
    assert_eq!(failure.kind, FailureKind::Error);
    assert_eq!(
        failure.error.as_ref().and_then(|e| e.get("code")),
        Some(&json!("empty-name"))
    );
    assert!(!failure.retryable());
}

#[test]
fn the_sdk_readme_shows_the_tested_example_verbatim() {
    let repo = crate::common::repo();
    let readme = std::fs::read_to_string(repo.join("sdk/README.md")).expect("sdk/README.md");
    for file in [
        "sdk/examples/greeter/wit/world.wit",
        "sdk/examples/greeter/src/lib.rs",
        "sdk/examples/greeter/Cargo.toml",
    ] {
        let text = std::fs::read_to_string(repo.join(file)).expect("example file");
        assert!(
            readme.contains(&text),
            "sdk/README.md must show {file} exactly as it is"
        );
    }
}
