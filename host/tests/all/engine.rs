//! The engine, construct by construct: real workflows, real components in a
//! real wasmtime, events recorded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use wfhost::catalog::Catalog;
use wfhost::diagnostics::Source;
use wfhost::engine::{self, Event, Recorder, RunOptions, RunSummary, inputs};
use wfhost::workflow;

use crate::common::{fixture, guest, runtime};

struct Ran {
    summary: RunSummary,
    events: Vec<Event>,
}

impl Ran {
    fn status(&self, step: &str) -> &str {
        self.summary
            .step(step)
            .map_or("not run", |s| s.status.as_str())
    }

    fn output(&self, step: &str) -> &Value {
        self.summary.outputs.get(step).unwrap_or(&Value::Null)
    }

    /// Steps in the order they finished.
    fn finished(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::StepFinished { step, .. } => Some(step.as_str()),
                _ => None,
            })
            .collect()
    }

    fn routes(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::RouteTaken { from, to, on, .. } => Some(format!("{from} -{on}-> {to}")),
                _ => None,
            })
            .collect()
    }
}

/// Validate and run a workflow given as YAML (`$KITCHEN_SINK`, `$SPIN` expand).
async fn run(yaml: &str, given: Value) -> Ran {
    let text = yaml
        .replace("$KITCHEN_SINK", &guest("kitchen-sink"))
        .replace("$SPIN", &fixture("hostile/spin.wat"))
        .replace("$BOMB", &fixture("hostile/memory-bomb.wat"));
    let source = Source::new("test.yaml", text);
    let catalog = Catalog::new(runtime());
    let checked = workflow::check(&source, &catalog);
    let plan = checked.plan.unwrap_or_else(|| {
        panic!(
            "invalid test workflow:\n{}",
            source.render(&checked.diagnostics)
        )
    });
    let given: Map<String, Value> = serde_json::from_value(given).expect("inputs object");
    let inputs = inputs::resolve(&plan.inputs, &given).expect("inputs resolve");
    let mut recorder = Recorder::default();
    let options = RunOptions {
        run_id: "run1".into(),
        ..RunOptions::default()
    };
    let summary = engine::run(Arc::new(plan), inputs, options, &mut recorder).await;
    Ran {
        summary,
        events: recorder.events,
    }
}

#[tokio::test]
async fn routes_follow_outcomes_and_conditions() {
    let ran = run(
        r#"
name: routes
steps:
  - id: fail
    module: system
    action: fail
    inputs: { code: not-found, message: missing }
    onFailure:
      - when: "{{ steps.fail.error.code == 'other' }}"
        goto: wrong
      - when: "{{ steps.fail.error.kind == 'error' and steps.fail.error.value.code == 'not-found' }}"
        goto: handled
  - id: handled
    module: system
    action: echo
    inputs: { message: "handled {{ steps.fail.error.message }}" }
    onSuccess: { condition: "{{ steps.handled.output | length > 100 }}", then: wrong, else: last }
  - id: wrong
    module: system
    action: echo
    inputs: { message: wrong }
  - id: last
    module: system
    action: echo
    inputs: { message: last }
"#,
        json!({}),
    )
    .await;
    assert!(
        ran.summary.succeeded(),
        "a handled failure lets the run succeed"
    );
    assert_eq!(
        ran.routes(),
        ["fail -failure-> handled", "handled -success-> last"]
    );
    assert_eq!(ran.output("handled"), &json!("handled not-found: missing"));
    assert_eq!(ran.status("wrong"), "not run");
}

#[tokio::test]
async fn an_unhandled_failure_fails_the_run_with_its_kind() {
    let ran = run(
        r#"
name: sandbox-stops
steps:
  - id: spin
    module: $SPIN
    action: spin
    limits: { fuel: 100000 }
"#,
        json!({}),
    )
    .await;
    assert!(!ran.summary.succeeded());
    let error = ran.summary.error.as_ref().expect("workflow.error");
    assert_eq!(error["step"], "spin");
    assert_eq!(error["kind"], "fuel-exhausted");
}

#[tokio::test]
async fn failure_kinds_route_like_error_equals() {
    let ran = run(
        r#"
name: timeouts
steps:
  - id: slow
    module: system
    action: sleep
    inputs: { milliseconds: 5000 }
    timeout: 100ms
    onFailure:
      - when: "{{ steps.slow.error.kind == 'timeout' }}"
        goto: on-timeout
      - goto: other
  - id: on-timeout
    module: system
    action: echo
    inputs: { message: "{{ steps.slow.error.kind }}" }
  - id: other
    module: system
    action: echo
    inputs: { message: other }
"#,
        json!({}),
    )
    .await;
    assert!(ran.summary.succeeded());
    assert_eq!(ran.output("on-timeout"), &json!("timeout"));
}

#[tokio::test]
async fn retries_back_off_and_respect_retryability() {
    let ran = run(
        r#"
name: retries
steps:
  - id: flaky
    module: system
    action: fail
    inputs: { code: busy, message: try later, retryable: true }
    retry: { max_attempts: 3, initial: 20ms, backoff: exponential }
    onFailure: permanent
  - id: permanent
    module: system
    action: fail
    inputs: { code: bad, message: never works }
    retry: { max_attempts: 3, initial: 1ms }
    onFailure: forced
  - id: forced
    module: system
    action: fail
    inputs: { code: bad, message: retried on request }
    retry: { max_attempts: 2, initial: 1ms, backoff: fixed, on: [error] }
"#,
        json!({}),
    )
    .await;
    let attempts = |step: &str| ran.summary.step(step).map_or(0, |s| s.attempts);
    assert_eq!(attempts("flaky"), 3, "retryable errors are retried");
    assert_eq!(attempts("permanent"), 1, "non-retryable errors are not");
    assert_eq!(attempts("forced"), 2, "`on: [error]` retries any error");
    let delays: Vec<u64> = ran
        .events
        .iter()
        .filter_map(|e| match e {
            Event::StepRetrying { step, delay_ms, .. } if step == "flaky" => Some(*delay_ms),
            _ => None,
        })
        .collect();
    assert_eq!(delays, [20, 40]);
    let failed_attempts = ran
        .events
        .iter()
        .filter(|e| matches!(e, Event::StepFailed { key, .. } if key.step == "flaky"))
        .count();
    assert_eq!(failed_attempts, 3, "every attempt is an event");
    assert_eq!(
        ran.routes(),
        ["flaky -failure-> permanent", "permanent -failure-> forced"]
    );
    assert!(!ran.summary.succeeded());
}

#[tokio::test]
async fn the_workflow_timeout_stops_the_run() {
    let started = Instant::now();
    let ran = run(
        r#"
name: workflow-timeout
limits: { workflow_timeout: 200ms }
steps:
  - id: slow
    module: system
    action: sleep
    inputs: { milliseconds: 10000 }
  - id: group
    parallel: { branches: [slower] }
  - id: slower
    module: system
    action: sleep
    inputs: { milliseconds: 10000 }
"#,
        json!({}),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        (
            ran.status("slow"),
            ran.status("group"),
            ran.status("slower")
        ),
        ("failed", "failed", "failed")
    );
    assert_eq!(
        ran.summary.error.as_ref().map(|e| e["kind"].clone()),
        Some(json!("workflow-timeout"))
    );
}

#[tokio::test]
async fn parallel_groups_join_all_or_any() {
    let ran = run(
        r#"
name: parallel
steps:
  - id: all
    parallel: { branches: [a, b], wait_for: all }
    onSuccess: any
  - id: a
    module: system
    action: echo
    inputs: { message: a }
  - id: b
    module: system
    action: echo
    inputs: { message: b1 }
    onSuccess: b2
  - id: b2
    module: system
    action: echo
    inputs: { message: b2 }
  - id: any
    parallel: { branches: [fast, slow], wait_for: any }
    onSuccess: failing-group
  - id: fast
    module: system
    action: echo
    inputs: { message: fast }
  - id: slow
    module: system
    action: sleep
    inputs: { milliseconds: 10000 }
  - id: failing-group
    parallel: { branches: [ok, broken] }
    onFailure: after
  - id: ok
    module: system
    action: sleep
    inputs: { milliseconds: 10000 }
  - id: broken
    module: system
    action: fail
    inputs: { code: broken, message: branch broke }
  - id: after
    module: system
    action: echo
    inputs: { message: "{{ steps['failing-group'].error.message }}" }
"#,
        json!({}),
    )
    .await;
    assert!(ran.summary.succeeded(), "{:?}", ran.summary.error);
    assert_eq!(ran.output("all"), &json!({"a": "a", "b2": "b2"}));
    assert_eq!(ran.output("any"), &json!({"fast": "fast"}));
    assert_eq!(ran.status("slow"), "cancelled");
    assert_eq!(
        ran.status("ok"),
        "cancelled",
        "a failing branch stops its siblings"
    );
    assert_eq!(
        ran.output("after"),
        &json!("branch step `broken` failed: broken: branch broke")
    );
    assert!(
        ran.summary.duration < Duration::from_secs(5),
        "cancelled branches do not hold the run"
    );
}

#[tokio::test]
async fn needs_wait_for_every_dependency() {
    let ran = run(
        r#"
name: needs
steps:
  - id: a
    module: system
    action: sleep
    inputs: { milliseconds: 50 }
  - id: b
    module: system
    action: echo
    inputs: { message: b }
  - id: c
    module: system
    action: echo
    inputs: { message: "after a {{ steps.a.status }} and {{ steps.b.output }}" }
    needs: [a, b]
  - id: broken
    module: system
    action: fail
    inputs: { code: x, message: y }
    continue_on_error: false
  - id: d
    module: system
    action: echo
    inputs: { message: never }
    needs: [broken, c]
"#,
        json!({}),
    )
    .await;
    assert_eq!(ran.output("c"), &json!("after a succeeded and b"));
    let order = ran.finished();
    let position = |s: &str| order.iter().position(|x| *x == s).expect("finished");
    assert!(position("c") > position("a") && position("c") > position("b"));
    assert_eq!(ran.status("d"), "skipped");
    assert!(!ran.summary.succeeded());
}

#[tokio::test]
async fn bounded_loops_stop_at_their_bounds() {
    let ran = run(
        r#"
name: loops
inputs:
  target: { type: integer, default: 3 }
steps:
  - id: poll
    module: system
    action: echo
    inputs: { message: "{{ iteration | string }}" }
    loop: { until: "{{ steps.poll.output == inputs.target | string }}", max_iterations: 10 }
    onSuccess: test
  - id: test
    module: system
    action: fail
    inputs: { code: red, message: "visit {{ steps.test.visits }}" }
    max_visits: 3
    onFailure: fix
  - id: fix
    module: system
    action: echo
    inputs: { message: fixing }
    onSuccess: test
"#,
        json!({}),
    )
    .await;
    assert_eq!(ran.output("poll"), &json!("3"));
    assert_eq!(ran.summary.step("poll").map(|s| s.attempts), Some(3));
    let test = ran.summary.step("test").expect("test ran");
    assert_eq!(
        (test.visits, test.attempts),
        (4, 3),
        "the fourth visit is refused"
    );
    assert_eq!(
        ran.summary.error.as_ref().map(|e| e["kind"].clone()),
        Some(json!("max-visits"))
    );
}

#[tokio::test]
async fn a_loop_that_never_converges_fails_with_max_iterations() {
    let ran = run(
        r#"
name: loop-exhausted
steps:
  - id: poll
    module: system
    action: echo
    inputs: { message: never }
    loop: { until: "{{ steps.poll.output == 'done' }}", max_iterations: 3 }
"#,
        json!({}),
    )
    .await;
    assert_eq!(
        ran.summary.error.as_ref().map(|e| e["kind"].clone()),
        Some(json!("max-iterations"))
    );
    assert_eq!(ran.summary.step("poll").map(|s| s.attempts), Some(3));
}

#[tokio::test]
async fn foreach_maps_items_to_a_list_of_outputs() {
    let ran = run(
        r#"
name: map
inputs:
  files: { type: array }
steps:
  - id: each
    module: system
    action: echo
    inputs: { message: "{{ index }}:{{ item }}" }
    foreach: "{{ inputs.files }}"
    concurrency: 2
    onSuccess: count
  - id: count
    module: $KITCHEN_SINK
    action: echo-u32
    inputs: { v: "{{ steps.each.output | length }}" }
"#,
        json!({"files": ["a.rs", "b.rs", "c.rs"]}),
    )
    .await;
    assert_eq!(ran.output("each"), &json!(["0:a.rs", "1:b.rs", "2:c.rs"]));
    assert_eq!(
        ran.output("count"),
        &json!(3),
        "a lone expression keeps its type"
    );
}

#[tokio::test]
async fn continue_on_error_handler_and_finally() {
    let ran = run(
        r#"
name: strategies
onFailure: handler
finally: [notify]
steps:
  - id: optional
    module: system
    action: fail
    inputs: { code: meh, message: optional step failed }
    continue_on_error: true
    onSuccess: required
  - id: required
    module: system
    action: fail
    inputs: { code: broken, message: required step failed }
  - id: handler
    module: system
    action: handle-error
    inputs: { workflow: "{{ workflow.name }}", failure: "{{ workflow.error }}" }
  - id: notify
    module: system
    action: notify-completion
    inputs: { workflow: "{{ workflow.name }}", status: "{{ workflow.status }}" }
"#,
        json!({}),
    )
    .await;
    assert_eq!(ran.status("optional"), "failed", "the failure is recorded");
    assert_eq!(ran.routes(), ["optional -success-> required"]);
    assert!(!ran.summary.succeeded());
    let handled = ran.output("handler").as_str().unwrap_or_default();
    assert!(handled.contains("required step failed"), "{handled}");
    assert!(
        ran.output("notify")
            .as_str()
            .unwrap_or_default()
            .contains("failed")
    );
    assert_eq!(ran.finished().last(), Some(&"notify"));
}

#[tokio::test]
async fn outputs_are_data_never_templates() {
    let ran = run(
        r#"
name: injection
inputs:
  evil: { type: string }
steps:
  - id: first
    module: system
    action: echo
    inputs: { message: "{{ inputs.evil }}" }
    onSuccess: second
  - id: second
    module: system
    action: echo
    inputs: { message: "{{ steps.first.output }}" }
"#,
        json!({"evil": "{{ 7*7 }}"}),
    )
    .await;
    assert_eq!(ran.output("second"), &json!("{{ 7*7 }}"));
}

#[tokio::test]
async fn context_values_are_evaluated_from_the_inputs_when_the_run_starts() {
    let workflow = r#"
name: context
inputs:
  env: { type: string, default: staging }
  repeat: { type: integer, default: 2 }
context:
  region: "{{ inputs.env }}-eu"
  wide: "{{ 'ab' * inputs.repeat }}"
  fixed: [1, { nested: "{{ inputs.env | upper }}" }]
steps:
  - id: show
    module: system
    action: echo
    inputs: { message: "{{ context.region }} {{ context.wide }} {{ context.fixed[1].nested }}" }
"#;
    let ran = run(workflow, json!({"env": "prod"})).await;
    assert!(ran.summary.succeeded());
    assert_eq!(ran.output("show"), &json!("prod-eu abab PROD"));

    let ran = run(workflow, json!({"repeat": 100_000_000})).await;
    assert!(
        !ran.summary.succeeded(),
        "a context over budget fails the run"
    );
    let error = ran.summary.error.as_ref().expect("workflow.error");
    assert_eq!(error["kind"], "template", "{error}");
    assert!(
        error["message"].as_str().unwrap_or("").contains("context"),
        "{error}"
    );
    assert_eq!(ran.status("show"), "not run", "no step starts");
}

#[tokio::test]
async fn independent_roots_run_concurrently() {
    let ran = run(
        r#"
name: fan-out
limits: { max_concurrent_steps: 4 }
steps:
  - { id: a, module: system, action: sleep, inputs: { milliseconds: 300 } }
  - { id: b, module: system, action: sleep, inputs: { milliseconds: 300 } }
  - { id: c, module: system, action: sleep, inputs: { milliseconds: 300 } }
  - { id: d, module: system, action: sleep, inputs: { milliseconds: 300 } }
"#,
        json!({}),
    )
    .await;
    assert!(ran.summary.succeeded());
    // Told by the events, not a clock: every root started before any ended.
    let first_end = ran
        .events
        .iter()
        .position(|e| matches!(e, Event::StepSucceeded { .. }))
        .expect("a step succeeded");
    let started_before = ran.events[..first_end]
        .iter()
        .filter(|e| matches!(e, Event::StepStarted { .. }))
        .count();
    assert_eq!(started_before, 4, "the four sleeps overlap");
}

#[tokio::test]
async fn hostile_steps_end_in_typed_failures_and_the_run_goes_on() {
    let ran = run(
        r#"
name: hostile
steps:
  - id: bomb
    module: $BOMB
    action: bomb
    limits: { memory: 8MiB }
    onFailure:
      - when: "{{ steps.bomb.error.kind == 'memory-limit' }}"
        goto: flood
  - id: flood
    module: $KITCHEN_SINK
    action: flood-logs
    inputs: { lines: 25000 }
    onSuccess: after
  - id: after
    module: system
    action: echo
    inputs: { message: "still here after {{ steps.flood.output }} lines" }
"#,
        json!({}),
    )
    .await;
    assert!(ran.summary.succeeded(), "{:?}", ran.summary.error);
    assert_eq!(ran.output("after"), &json!("still here after 25000 lines"));
    let kept: usize = ran
        .events
        .iter()
        .filter_map(|e| match e {
            Event::StepOutput { key, logs, .. } if key.step == "flood" => Some(logs.len()),
            _ => None,
        })
        .sum();
    assert_eq!(kept, 10_000, "the log cap holds inside a workflow");
}

#[tokio::test]
async fn each_action_can_read_a_stable_idempotency_key() {
    let ran = run(
        r#"
name: keys
steps:
  - id: probe
    module: $KITCHEN_SINK
    action: env-var
    inputs: { name: WFHOST_IDEMPOTENCY_KEY }
    onSuccess: each
  - id: each
    module: $KITCHEN_SINK
    action: env-var
    inputs: { name: "{{ item }}" }
    foreach: "{{ ['WFHOST_IDEMPOTENCY_KEY', 'HOME'] }}"
"#,
        json!({}),
    )
    .await;
    assert_eq!(ran.output("probe"), &json!("run1:probe"));
    assert_eq!(
        ran.output("each"),
        &json!(["run1:each[0]", null]),
        "nothing else of the environment"
    );
}
