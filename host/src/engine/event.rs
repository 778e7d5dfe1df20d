//! What the engine reports as a run proceeds: every state change of a run is
//! one [`Event`], sent to an [`Observer`] — the reporter that shows progress,
//! and the journal that records it. The engine never prints. Stored events
//! read back as the same type, so `wfhost logs` renders them as `run` did.

use std::sync::Arc;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use super::attempt::AttemptKey;
use super::control::{Control, Stop};
use super::failure::StepFailure;
use super::status::{RunStatus, StepStatus};

/// One state change of a run. Serialised as one JSON line with `--json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        workflow: String,
        steps: usize,
        /// Recorded attempt results this run reuses (a resumed run).
        #[serde(default, skip_serializing_if = "is_zero")]
        replaying: usize,
    },
    StepStarted {
        #[serde(flatten)]
        key: AttemptKey,
        /// The action's input, templates evaluated (absent for a group).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<Arc<Value>>,
    },
    StepSucceeded {
        #[serde(flatten)]
        key: AttemptKey,
        #[serde(serialize_with = "microseconds")]
        duration_ms: f64,
        fuel: u64,
        memory_peak_bytes: u64,
        output: Arc<Value>,
    },
    StepFailed {
        #[serde(flatten)]
        key: AttemptKey,
        #[serde(serialize_with = "microseconds")]
        duration_ms: f64,
        fuel: u64,
        #[serde(default)]
        memory_peak_bytes: u64,
        #[serde(flatten)]
        failure: StepFailure,
        /// Another attempt follows.
        will_retry: bool,
    },
    /// A step is over (after its retries, items or iterations): its result.
    StepFinished {
        step: String,
        /// `succeeded`, `failed` or `cancelled`.
        status: StepStatus,
        attempts: u32,
        #[serde(serialize_with = "microseconds")]
        duration_ms: f64,
        fuel: u64,
        /// The most linear memory any of its attempts used.
        #[serde(default)]
        memory_peak_bytes: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<Arc<Value>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure: Option<StepFailure>,
    },
    StepRetrying {
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item: Option<usize>,
        next_attempt: u32,
        delay_ms: u64,
    },
    StepSkipped {
        step: String,
        reason: String,
    },
    /// Guest log lines and output of one attempt.
    StepOutput {
        #[serde(flatten)]
        key: AttemptKey,
        logs: Vec<Value>,
        stdout: String,
        stderr: String,
    },
    /// A `wait` step began waiting for `signal` (until `deadline`, RFC
    /// 3339), or a timer (no signal) until `deadline`.
    StepWaiting {
        #[serde(flatten)]
        key: AttemptKey,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<String>,
        /// The payload's WIT type.
        #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
        ty: Option<String>,
        /// How many different people must approve (a wait for approvals).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        approvals: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline: Option<String>,
    },
    /// A waiting step took signal `seq` (its payload is the step's output).
    SignalReceived {
        #[serde(flatten)]
        key: AttemptKey,
        signal: String,
        seq: i64,
        sent_by: String,
    },
    /// A step that succeeded updated run variables (`set:`).
    VarsSet {
        step: String,
        values: serde_json::Map<String, Value>,
    },
    /// Every step in flight waits: the run is `waiting` (on these steps).
    RunWaiting {
        steps: Vec<String>,
    },
    /// A step started again after the run waited: it is `running`.
    RunContinued,
    RouteTaken {
        from: String,
        to: String,
        on: Outcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        when: Option<String>,
    },
    RunFinished {
        run_id: String,
        status: RunStatus,
        #[serde(serialize_with = "microseconds")]
        duration_ms: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<Value>,
        /// The workflow's `outputs:`, evaluated (a run that succeeded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outputs: Option<Value>,
    },
}

/// Which outcome a route was taken on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Milliseconds to the microsecond: `0.228`, not `0.22789500000000001`.
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn microseconds<S: Serializer>(ms: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64((ms * 1000.0).round() / 1000.0)
}

impl Event {
    /// The value the event carries — a step's input (`step_started`) or
    /// output (`step_succeeded`, `step_finished`) — which a journal keeps
    /// apart from the rest of the event.
    pub fn data(&self) -> Option<&Arc<Value>> {
        match self {
            Event::StepStarted { input, .. } => input.as_ref(),
            Event::StepSucceeded { output, .. } => Some(output),
            Event::StepFinished { output, .. } => output.as_ref(),
            _ => None,
        }
    }

    /// The event with its [`data`](Self::data) left out (cheap: values
    /// are shared, not copied); it serialises with the data as `null`.
    #[must_use]
    pub fn without_data(&self) -> Event {
        let mut event = self.clone();
        match &mut event {
            Event::StepStarted { input, .. } => *input = None,
            Event::StepSucceeded { output, .. } => *output = Arc::new(Value::Null),
            Event::StepFinished { output, .. } => *output = None,
            _ => {}
        }
        event
    }

    /// The JSON field of a stored event of kind `name` that holds its data.
    pub fn data_field(name: &str) -> Option<&'static str> {
        match name {
            "step_started" => Some("input"),
            "step_succeeded" | "step_finished" => Some("output"),
            _ => None,
        }
    }

    /// The event's name, as `event` in its JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Event::RunStarted { .. } => "run_started",
            Event::StepStarted { .. } => "step_started",
            Event::StepSucceeded { .. } => "step_succeeded",
            Event::StepFailed { .. } => "step_failed",
            Event::StepFinished { .. } => "step_finished",
            Event::StepRetrying { .. } => "step_retrying",
            Event::StepSkipped { .. } => "step_skipped",
            Event::StepOutput { .. } => "step_output",
            Event::RouteTaken { .. } => "route_taken",
            Event::StepWaiting { .. } => "step_waiting",
            Event::SignalReceived { .. } => "signal_received",
            Event::RunWaiting { .. } => "run_waiting",
            Event::RunContinued => "run_continued",
            Event::VarsSet { .. } => "vars_set",
            Event::RunFinished { .. } => "run_finished",
        }
    }

    /// The step this event is about, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            Event::StepStarted { key, .. }
            | Event::StepSucceeded { key, .. }
            | Event::StepFailed { key, .. }
            | Event::StepOutput { key, .. }
            | Event::StepWaiting { key, .. }
            | Event::SignalReceived { key, .. } => Some(&key.step),
            Event::StepFinished { step, .. }
            | Event::StepRetrying { step, .. }
            | Event::StepSkipped { step, .. }
            | Event::VarsSet { step, .. } => Some(step),
            Event::RouteTaken { from, .. } => Some(from),
            Event::RunStarted { .. }
            | Event::RunFinished { .. }
            | Event::RunWaiting { .. }
            | Event::RunContinued => None,
        }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Receives every event of a run, in order, from the engine's one task.
pub trait Observer: Send {
    fn event(&mut self, event: &Event);

    /// An event re-enacted from recorded results while a resumed run catches
    /// up; it happened before, and is recorded unless a crash came between
    /// the commit of the attempts it follows and its own.
    fn replayed(&mut self, event: &Event) {
        let _ = event;
    }
}

/// Two observers, each shown every event in turn (a journal first, then
/// whatever counts or shows it).
#[derive(Debug)]
pub struct Tee<A, B>(pub A, pub B);

impl<A: Observer, B: Observer> Observer for Tee<A, B> {
    fn event(&mut self, event: &Event) {
        self.0.event(event);
        self.1.event(event);
    }

    fn replayed(&mut self, event: &Event) {
        self.0.replayed(event);
        self.1.replayed(event);
    }
}

/// An observer that may be absent.
impl<O: Observer> Observer for Option<O> {
    fn event(&mut self, event: &Event) {
        if let Some(observer) = self {
            observer.event(event);
        }
    }

    fn replayed(&mut self, event: &Event) {
        if let Some(observer) = self {
            observer.replayed(event);
        }
    }
}

impl Observer for Box<dyn Observer + Send> {
    fn event(&mut self, event: &Event) {
        (**self).event(event);
    }

    fn replayed(&mut self, event: &Event) {
        (**self).replayed(event);
    }
}

/// `--detach-on-wait`: once every path of the run waits (`run_waiting`),
/// ask it to stop and be left waiting.
#[derive(Debug)]
pub struct DetachOnWait(pub Arc<Control>);

impl Observer for DetachOnWait {
    fn event(&mut self, event: &Event) {
        if let Event::RunWaiting { .. } = event {
            self.0.request(Stop::Detach);
        }
    }
}

/// An observer that keeps every event (tests, benchmarks).
#[derive(Debug, Default)]
pub struct Recorder {
    pub events: Vec<Event>,
}

impl Observer for Recorder {
    fn event(&mut self, event: &Event) {
        self.events.push(event.clone());
    }
}

/// An observer that drops every event.
#[derive(Debug, Default)]
pub struct Discard;

impl Observer for Discard {
    fn event(&mut self, _: &Event) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Event::name` is the `event` tag serde writes, for every variant.
    #[test]
    fn names_match_the_serialised_tag() {
        let key = AttemptKey::first("s");
        let failure = StepFailure::engine(crate::workflow::StepFailureKind::Template, "x");
        let events = [
            Event::RunStarted {
                run_id: "r".into(),
                workflow: "w".into(),
                steps: 1,
                replaying: 0,
            },
            Event::StepStarted {
                key: key.clone(),
                input: None,
            },
            Event::StepSucceeded {
                key: key.clone(),
                duration_ms: 0.0,
                fuel: 0,
                memory_peak_bytes: 0,
                output: Arc::new(Value::Null),
            },
            Event::StepFailed {
                key: key.clone(),
                duration_ms: 0.0,
                fuel: 0,
                memory_peak_bytes: 0,
                failure: failure.clone(),
                will_retry: false,
            },
            Event::StepFinished {
                step: "s".into(),
                status: StepStatus::Failed,
                attempts: 1,
                duration_ms: 0.0,
                fuel: 0,
                memory_peak_bytes: 0,
                output: None,
                failure: Some(failure),
            },
            Event::StepRetrying {
                step: "s".into(),
                item: None,
                next_attempt: 2,
                delay_ms: 1,
            },
            Event::StepSkipped {
                step: "s".into(),
                reason: "r".into(),
            },
            Event::StepOutput {
                key,
                logs: Vec::new(),
                stdout: String::new(),
                stderr: String::new(),
            },
            Event::RouteTaken {
                from: "a".into(),
                to: "b".into(),
                on: Outcome::Success,
                when: None,
            },
            Event::RunFinished {
                run_id: "r".into(),
                status: RunStatus::Failed,
                duration_ms: 0.0,
                error: None,
                outputs: Some(serde_json::json!({ "total": 3 })),
            },
        ];
        for event in events {
            let json = serde_json::to_value(&event).expect("events are JSON");
            assert_eq!(json["event"], event.name());
        }
    }
}
