//! A run's attempts on a time axis, from its journal: each attempt a bar
//! from its `step_started` to its end (`step_succeeded`, `step_failed`;
//! still open: up to now), a wait a bar of its own kind, retries as the
//! attempts they are. Positions are fractions of the run's span, so the
//! page draws them with plain CSS.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::store::EventRecord;

/// The most bars drawn (a run with more shows its first ones and says so).
pub const MAX_BARS: usize = 2_000;

/// One attempt (or wait) on the axis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    /// `build`, `build[3]`, `build #2` (attempt 2), `poll (3)` (iteration).
    pub label: String,
    pub step: String,
    /// `running`, `waiting`, `succeeded`, `failed`.
    pub state: &'static str,
    /// Where it starts and how long it is, in percent of the span.
    pub left: f64,
    pub width: f64,
    pub duration_ms: f64,
}

/// The bars of a run whose events are `events`, the span ending at `now`
/// (seconds since the epoch) when the run has not ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    pub bars: Vec<Bar>,
    /// Attempts left out beyond [`MAX_BARS`].
    pub left_out: usize,
    pub span_ms: f64,
}

struct Open {
    label: String,
    step: String,
    start: f64,
    end: Option<f64>,
    state: &'static str,
}

/// The timeline of `events`.
pub fn timeline(events: &[EventRecord], now: f64) -> Timeline {
    let mut bars: Vec<Open> = Vec::new();
    let mut open: HashMap<String, usize> = HashMap::new();
    let mut end_of_run = None;
    for event in events {
        let body = &event.body;
        match event.kind.as_str() {
            "step_started" | "step_waiting" => {
                let key = attempt_key(body);
                let state = if event.kind == "step_waiting" {
                    "waiting"
                } else {
                    "running"
                };
                if let Some(&index) = open.get(&key) {
                    // A wait begins inside its attempt: the bar turns into one.
                    bars[index].state = state;
                    continue;
                }
                open.insert(key, bars.len());
                bars.push(Open {
                    label: label(body),
                    step: text(body, "step"),
                    start: event.at,
                    end: None,
                    state,
                });
            }
            "step_succeeded" | "step_failed" => {
                if let Some(index) = open.remove(&attempt_key(body)) {
                    bars[index].end = Some(event.at);
                    bars[index].state = if event.kind == "step_succeeded" {
                        "succeeded"
                    } else {
                        "failed"
                    };
                }
            }
            "run_finished" => end_of_run = Some(event.at),
            _ => {}
        }
    }
    let start = events.first().map_or(now, |e| e.at);
    let end = end_of_run
        .or_else(|| (!open.is_empty()).then_some(now))
        .unwrap_or_else(|| events.last().map_or(now, |e| e.at))
        .max(start);
    let span = (end - start).max(1e-3);
    let left_out = bars.len().saturating_sub(MAX_BARS);
    let bars = bars
        .into_iter()
        .take(MAX_BARS)
        .map(|bar| {
            let stop = bar.end.unwrap_or(end);
            Bar {
                label: bar.label,
                step: bar.step,
                state: bar.state,
                left: percent((bar.start - start) / span),
                width: percent((stop - bar.start).max(0.0) / span).max(0.2),
                duration_ms: ((stop - bar.start) * 1000.0).max(0.0),
            }
        })
        .collect();
    Timeline {
        bars,
        left_out,
        span_ms: span * 1000.0,
    }
}

fn percent(fraction: f64) -> f64 {
    (fraction.clamp(0.0, 1.0) * 1000.0).round() / 10.0
}

fn text(body: &Value, field: &str) -> String {
    body.get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn number(body: &Value, field: &str) -> u64 {
    body.get(field).and_then(Value::as_u64).unwrap_or(0)
}

/// What tells one attempt from another: step, visit, item, iteration,
/// attempt (an `AttemptKey` as its events carry it).
fn attempt_key(body: &Value) -> String {
    format!(
        "{}/{}/{}/{}/{}",
        text(body, "step"),
        number(body, "visit"),
        body.get("item")
            .and_then(Value::as_u64)
            .map_or(-1, |i| i as i64),
        number(body, "iteration"),
        number(body, "attempt"),
    )
}

fn label(body: &Value) -> String {
    let mut label = text(body, "step");
    if let Some(item) = body.get("item").and_then(Value::as_u64) {
        label.push_str(&format!("[{item}]"));
    }
    let iteration = number(body, "iteration");
    if iteration > 0 {
        label.push_str(&format!(" ({iteration})"));
    }
    let attempt = number(body, "attempt");
    if attempt > 1 {
        label.push_str(&format!(" #{attempt}"));
    }
    label
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(kind: &str, at: f64, body: Value) -> EventRecord {
        EventRecord {
            seq: 0,
            step: body.get("step").and_then(Value::as_str).map(str::to_string),
            kind: kind.to_string(),
            body,
            at,
        }
    }

    #[test]
    fn attempts_retries_and_waits_are_bars_on_the_runs_span() {
        let key = |attempt: u32| json!({ "step": "flaky", "visit": 1, "attempt": attempt });
        let events = [
            event("run_started", 100.0, json!({})),
            event("step_started", 100.0, key(1)),
            event("step_failed", 101.0, key(1)),
            event("step_started", 102.0, key(2)),
            event("step_succeeded", 104.0, key(2)),
            event(
                "step_started",
                104.0,
                json!({ "step": "ok", "visit": 1, "attempt": 1 }),
            ),
            event(
                "step_waiting",
                104.0,
                json!({ "step": "ok", "visit": 1, "attempt": 1 }),
            ),
        ];
        let timeline = timeline(&events, 110.0);
        let bars: Vec<_> = timeline
            .bars
            .iter()
            .map(|b| (&*b.label, b.state, b.left, b.width))
            .collect();
        assert_eq!(
            bars,
            [
                ("flaky", "failed", 0.0, 10.0),
                ("flaky #2", "succeeded", 20.0, 20.0),
                ("ok", "waiting", 40.0, 60.0),
            ]
        );
        assert!((timeline.span_ms - 10_000.0).abs() < 1e-6);
    }
}
