//! Hostile guests end in their typed failure while the host stays healthy.

use std::time::Duration;

use serde_json::json;
use wfhost::sandbox::{FailureKind, Limits};

use crate::common::{call, fixture, guest, load, runtime};

struct Case {
    name: &'static str,
    /// A bundled module name or a component path.
    module: String,
    action: &'static str,
    input: serde_json::Value,
    limits: Limits,
    expected: FailureKind,
}

fn limits(fuel: u64, memory_mib: u64, timeout_ms: u64) -> Limits {
    Limits {
        fuel,
        memory_bytes: memory_mib << 20,
        timeout: Duration::from_millis(timeout_ms),
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "infinite loop runs out of fuel",
            module: fixture("hostile/spin.wat"),
            action: "spin",
            input: json!({}),
            limits: limits(50_000_000, 64, 30_000),
            expected: FailureKind::FuelExhausted,
        },
        Case {
            name: "infinite loop with huge fuel hits its deadline",
            module: fixture("hostile/spin.wat"),
            action: "spin",
            input: json!({}),
            limits: limits(u64::MAX / 2, 64, 300),
            expected: FailureKind::Timeout,
        },
        Case {
            name: "memory bomb hits the memory limit",
            module: fixture("hostile/memory-bomb.wat"),
            action: "bomb",
            input: json!({}),
            limits: limits(Limits::DEFAULT_FUEL, 32, 30_000),
            expected: FailureKind::MemoryLimit,
        },
        Case {
            name: "heap allocation past the limit in a Rust guest",
            module: guest("kitchen-sink"),
            action: "allocate",
            input: json!({"megabytes": 256}),
            limits: limits(Limits::DEFAULT_FUEL, 64, 30_000),
            expected: FailureKind::MemoryLimit,
        },
        Case {
            name: "unbounded recursion overflows the stack",
            module: fixture("hostile/recursion.wat"),
            action: "recurse",
            input: json!({}),
            limits: Limits::default(),
            expected: FailureKind::StackOverflow,
        },
        Case {
            name: "unreachable is a trap",
            module: fixture("hostile/unreachable.wat"),
            action: "crash",
            input: json!({}),
            limits: Limits::default(),
            expected: FailureKind::Trap,
        },
        Case {
            name: "a guest blocked in a host call is stopped by the outer timeout",
            module: "system".to_string(),
            action: "sleep",
            input: json!({"milliseconds": 60_000}),
            limits: limits(Limits::DEFAULT_FUEL, 64, 200),
            expected: FailureKind::Timeout,
        },
        Case {
            name: "a guest that returns err is an error",
            module: fixture("components/checked.wat"),
            action: "check",
            input: json!({"value": 0}),
            limits: Limits::default(),
            expected: FailureKind::Error,
        },
    ]
}

#[tokio::test]
async fn every_hostile_guest_ends_in_its_typed_failure() {
    let runtime = runtime();
    let mut wrong = Vec::new();
    for case in cases() {
        let module = load(&runtime, &case.module);
        let started = std::time::Instant::now();
        let report = call(&module, case.action, case.input.clone(), case.limits).await;
        let failure = report
            .failure()
            .map(|failure| (failure.kind, failure.message.clone()));
        match failure {
            Some((kind, _)) if kind == case.expected => {
                // A guest stopped in a tight loop still reports what it used.
                if case.action == "spin" {
                    assert!(report.fuel_consumed > 0, "{}: no fuel measured", case.name);
                }
                // A stopped guest never outlives its deadline by much.
                assert!(
                    started.elapsed() < case.limits.timeout + Duration::from_secs(2),
                    "{}: took {:?}",
                    case.name,
                    started.elapsed()
                );
            }
            other => wrong.push(format!(
                "{}: expected {}, got {other:?}",
                case.name, case.expected
            )),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn memory_bomb_keeps_peak_memory_at_the_limit() {
    let runtime = runtime();
    let module = load(&runtime, &fixture("hostile/memory-bomb.wat"));
    let report = call(
        &module,
        "bomb",
        json!({}),
        limits(Limits::DEFAULT_FUEL, 32, 30_000),
    )
    .await;
    assert_eq!(
        report.failure().map(|f| f.kind),
        Some(FailureKind::MemoryLimit)
    );
    assert!(
        report.memory_peak_bytes <= 32 << 20,
        "peak {}",
        report.memory_peak_bytes
    );
    assert!(
        report.memory_peak_bytes > 16 << 20,
        "peak {}",
        report.memory_peak_bytes
    );
}

#[tokio::test]
async fn stdout_flood_is_capped_and_the_host_stays_up() {
    let runtime = runtime();
    let module = load(&runtime, &guest("kitchen-sink"));
    let report = call(
        &module,
        "flood-stdout",
        json!({"megabytes": 300}),
        Limits::default(),
    )
    .await;
    assert!(report.is_success(), "{:?}", report.failure());
    assert_eq!(report.stdout.text.len(), 1 << 20, "keeps exactly the cap");
    assert_eq!(report.stdout.truncated_bytes, (300 << 20) - (1 << 20));
    assert!(
        report
            .stdout
            .display()
            .ends_with("[wfhost: 313524224 more bytes truncated]")
    );

    // The same module still works afterwards.
    let again = call(
        &module,
        "echoes.echo-u8",
        json!({"v": 7}),
        Limits::default(),
    )
    .await;
    assert!(again.is_success());
}

#[tokio::test]
async fn log_flood_is_capped() {
    let runtime = runtime();
    let module = load(&runtime, &guest("kitchen-sink"));
    let report = call(
        &module,
        "flood-logs",
        json!({"lines": 25_000}),
        Limits::default(),
    )
    .await;
    assert!(report.is_success(), "{:?}", report.failure());
    assert_eq!(report.logs.len(), 10_000);
    assert_eq!(report.dropped_logs, 15_000);
}

#[tokio::test]
async fn many_hostile_calls_run_concurrently_without_harming_each_other() {
    let runtime = runtime();
    let spin = load(&runtime, &fixture("hostile/spin.wat"));
    let checked = load(&runtime, &fixture("components/checked.wat"));
    let mut tasks = Vec::new();
    for i in 0..16u32 {
        let spin = spin.clone();
        let checked = checked.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let report = call(&spin, "spin", json!({}), limits(u64::MAX / 2, 16, 200)).await;
                report.failure().map(|f| f.kind) == Some(FailureKind::Timeout)
            } else {
                let report =
                    call(&checked, "add", json!({"a": i, "b": 1}), Limits::default()).await;
                report.outcome == wfhost::sandbox::Outcome::Success(json!(i + 1))
            }
        }));
    }
    for task in tasks {
        assert!(task.await.expect("task completes"));
    }
}
