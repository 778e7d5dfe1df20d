//! Every WIT type round-trips through the JSON mapping, and input that does
//! not fit is refused before the guest runs.

use serde_json::{Value, json};
use wfhost::sandbox::{FailureKind, Limits, Outcome};

use crate::common::{call, guest, load, runtime};

/// (action, value): calling `echoes.<action>` with `{"v": value}` returns `value`.
fn round_trips() -> Vec<(&'static str, Value)> {
    vec![
        ("echo-bool", json!(true)),
        ("echo-s8", json!(-128)),
        ("echo-u8", json!(255)),
        ("echo-s16", json!(-32768)),
        ("echo-u16", json!(65535)),
        ("echo-s32", json!(-2147483648i64)),
        ("echo-u32", json!(4294967295u64)),
        ("echo-s64", json!(i64::MIN)),
        ("echo-u64", json!(u64::MAX)),
        ("echo-f32", json!(1.5)),
        ("echo-f32", json!("NaN")),
        ("echo-f64", json!(-0.1)),
        ("echo-f64", json!("Infinity")),
        ("echo-f64", json!("-Infinity")),
        ("echo-char", json!("é")),
        ("echo-char", json!("🦀")),
        ("echo-string", json!("line one\nline \"two\" {{ 7*7 }}")),
        ("echo-bytes", json!([0, 1, 255])),
        ("echo-list", json!(["a", "b"])),
        ("echo-list", json!([])),
        ("echo-record", json!({"x": 1, "y": -2, "label": "origin"})),
        ("echo-record", json!({"x": 1, "y": -2, "label": null})),
        ("echo-tuple", json!([7, "seven", false])),
        ("echo-variant", json!({"circle": 2.5})),
        (
            "echo-variant",
            json!({"rect": {"x": 0, "y": 0, "label": null}}),
        ),
        ("echo-variant", json!("empty")),
        ("echo-enum", json!("green")),
        ("echo-option", json!(null)),
        ("echo-option", json!(5)),
        ("echo-nested-option", json!(null)),
        ("echo-nested-option", json!({"some": null})),
        ("echo-nested-option", json!({"some": 3})),
        ("echo-results", json!([{"ok": "fine"}, {"err": 7}])),
        ("echo-flags", json!(["read", "exec"])),
        ("echo-flags", json!([])),
        (
            "echo-points",
            json!([{"x": 1, "y": 2, "label": null}, {"x": 3, "y": 4, "label": "b"}]),
        ),
    ]
}

#[tokio::test]
async fn every_wit_type_round_trips() {
    let runtime = runtime();
    let module = load(&runtime, &guest("kitchen-sink"));
    let mut wrong = Vec::new();
    for (action, value) in round_trips() {
        let report = call(
            &module,
            &format!("echoes.{action}"),
            json!({ "v": value }),
            Limits::default(),
        )
        .await;
        if report.outcome != Outcome::Success(value.clone()) {
            wrong.push(format!("{action}({value}) gave {:?}", report.outcome));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn a_top_level_result_is_the_outcome() {
    let runtime = runtime();
    let module = load(&runtime, &guest("kitchen-sink"));
    let ok = call(
        &module,
        "echo-result",
        json!({"v": {"ok": "fine"}}),
        Limits::default(),
    )
    .await;
    assert_eq!(ok.outcome, Outcome::Success(json!("fine")));
    let err = call(
        &module,
        "echo-result",
        json!({"v": {"err": 7}}),
        Limits::default(),
    )
    .await;
    let failure = err.failure().expect("err is a failure");
    assert_eq!(
        (failure.kind, failure.error.clone()),
        (FailureKind::Error, Some(json!(7)))
    );
}

#[tokio::test]
async fn option_fields_and_parameters_may_be_omitted() {
    let runtime = runtime();
    let module = load(&runtime, &guest("kitchen-sink"));
    let record = call(
        &module,
        "echo-record",
        json!({"v": {"x": 1, "y": 2}}),
        Limits::default(),
    )
    .await;
    assert_eq!(
        record.outcome,
        Outcome::Success(json!({"x": 1, "y": 2, "label": null}))
    );
    let described = call(
        &module,
        "describe",
        json!({"name": "Ada"}),
        Limits::default(),
    )
    .await;
    assert_eq!(
        described.outcome,
        Outcome::Success(json!("Ada, unknown age, no tags"))
    );
    let full = call(
        &module,
        "describe",
        json!({"name": "Ada", "age": 36, "tags": ["math"]}),
        Limits::default(),
    )
    .await;
    assert_eq!(full.outcome, Outcome::Success(json!("Ada, 36 years, math")));
}

/// (action, input, the message): refused before the guest runs.
fn invalid_inputs() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        (
            "echo-u32",
            json!({"v": "12"}),
            "input.v: expected u32, found string",
        ),
        (
            "echo-u8",
            json!({"v": 256}),
            "input.v: 256 is out of range for u8 (0 to 255)",
        ),
        (
            "echo-u8",
            json!({"v": -1}),
            "input.v: -1 is out of range for u8 (0 to 255)",
        ),
        (
            "echo-s8",
            json!({"v": 1.5}),
            "input.v: expected s8, found the non-integer number 1.5",
        ),
        (
            "echo-u64",
            json!({"v": -5}),
            "input.v: -5 is out of range for u64 (0 to 18446744073709551615)",
        ),
        (
            "echo-bool",
            json!({}),
            "input.v: missing required parameter `v` (bool)",
        ),
        (
            "echo-bool",
            json!({"v": true, "w": 1}),
            "input: unknown parameter `w`; expected one of: v",
        ),
        (
            "echo-bool",
            json!([true]),
            "input: expected an object keyed by parameter name, found array",
        ),
        (
            "echo-char",
            json!({"v": "ab"}),
            "input.v: expected char (a string of exactly one character), found a string of 2 characters",
        ),
        (
            "echo-record",
            json!({"v": {"x": 1}}),
            "input.v.y: missing field `y` (s32)",
        ),
        (
            "echo-record",
            json!({"v": {"x": 1, "y": 2, "colour": 3}}),
            "input.v: unknown field `colour`; expected one of: x, y, label",
        ),
        (
            "echo-points",
            json!({"v": [{"x": 1, "y": 2}, {"x": "1", "y": 2}]}),
            "input.v[1].x: expected s32, found string",
        ),
        (
            "echo-tuple",
            json!({"v": [1, "a"]}),
            "input.v: expected tuple<u8, string, bool> (an array of 3 items), found an array of 2",
        ),
        (
            "echo-enum",
            json!({"v": "purple"}),
            "input.v: unknown case `purple`; expected one of: red, green, blue",
        ),
        (
            "echo-variant",
            json!({"v": {"square": 1}}),
            "input.v: unknown case `square`; expected one of: circle, rect, empty",
        ),
        (
            "echo-variant",
            json!({"v": {"circle": "big"}}),
            "input.v.circle: expected f64, found string",
        ),
        (
            "echo-variant",
            json!({"v": {"empty": 1}}),
            "input.v.empty: this case has no payload, found number",
        ),
        (
            "echo-flags",
            json!({"v": ["read", "delete"]}),
            "input.v[1]: unknown flag `delete`; expected one of: read, write, exec",
        ),
        (
            "echo-result",
            json!({"v": {"ok": 1}}),
            "input.v.ok: expected string, found number",
        ),
        (
            "echo-nested-option",
            json!({"v": 3}),
            "input.v: expected null or {\"some\": …} for nested option<option<u32>>, found number",
        ),
        (
            "describe",
            json!({"Name": "x"}),
            "input: unknown parameter `Name` (did you mean `name`? WIT names are kebab-case)",
        ),
        (
            "describe",
            json!({"nick": "x"}),
            "input: unknown parameter `nick`; expected one of: name, age, tags",
        ),
    ]
}

#[tokio::test]
async fn invalid_input_is_refused_before_the_guest_runs() {
    let runtime = runtime();
    let module = load(&runtime, &guest("kitchen-sink"));
    let mut wrong = Vec::new();
    for (action, input, expected) in invalid_inputs() {
        let report = call(&module, action, input.clone(), Limits::default()).await;
        match report.failure() {
            Some(failure)
                if failure.kind == FailureKind::InvalidInput && failure.message == expected =>
            {
                assert_eq!(report.fuel_consumed, 0, "{action}: the guest must not run");
            }
            other => wrong.push(format!(
                "{action} {input}:\n  expected {expected}\n  got      {other:?}"
            )),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
