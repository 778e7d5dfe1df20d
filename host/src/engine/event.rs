//! What the engine reports as a run proceeds: every state change of a run is
//! one [`Event`], sent to an [`Observer`] — the reporter that shows progress,
//! and (next) the journal that records it. The engine never prints.

use serde::Serialize;
use serde_json::Value;

use super::failure::StepFailure;

/// One state change of a run. Serialised as one JSON line with `--json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run_id: String,
        workflow: String,
        steps: usize,
    },
    StepStarted {
        step: String,
        attempt: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        item: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        iteration: Option<u32>,
    },
    StepSucceeded {
        step: String,
        attempt: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        item: Option<usize>,
        duration_ms: f64,
        fuel: u64,
        memory_peak_bytes: u64,
        output: Value,
    },
    StepFailed {
        step: String,
        attempt: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        item: Option<usize>,
        duration_ms: f64,
        fuel: u64,
        #[serde(flatten)]
        failure: StepFailure,
        /// Another attempt follows.
        will_retry: bool,
    },
    /// A step is over (after its retries, items or iterations): its result.
    StepFinished {
        step: String,
        /// `succeeded`, `failed` or `cancelled`.
        status: &'static str,
        attempts: u32,
        duration_ms: f64,
        fuel: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        failure: Option<StepFailure>,
    },
    StepRetrying {
        step: String,
        #[serde(skip_serializing_if = "Option::is_none")]
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
        step: String,
        attempt: u32,
        logs: Vec<Value>,
        stdout: String,
        stderr: String,
    },
    RouteTaken {
        from: String,
        to: String,
        /// `success` or `failure`.
        on: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        when: Option<String>,
    },
    RunFinished {
        run_id: String,
        status: RunStatus,
        duration_ms: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<Value>,
    },
}

impl Event {
    /// The step this event is about, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            Event::StepStarted { step, .. }
            | Event::StepSucceeded { step, .. }
            | Event::StepFailed { step, .. }
            | Event::StepFinished { step, .. }
            | Event::StepRetrying { step, .. }
            | Event::StepSkipped { step, .. }
            | Event::StepOutput { step, .. } => Some(step),
            Event::RouteTaken { from, .. } => Some(from),
            Event::RunStarted { .. } | Event::RunFinished { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Succeeded,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }
}

/// Receives every event of a run, in order, from the engine's one task.
pub trait Observer: Send {
    fn event(&mut self, event: &Event);
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
