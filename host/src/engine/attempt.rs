//! One attempt of a step: its stable key, and its result — from the sandbox,
//! or recorded by an earlier run and replayed on resume.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::failure::StepFailure;
use crate::sandbox::{CallReport, FailureKind, Outcome};
use crate::workflow::StepFailureKind;

/// Which attempt: the same on every replay of a run, so a recorded result
/// can stand in for calling the sandbox again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AttemptKey {
    pub step: String,
    /// Which entry into the step (1 for the first; cycles enter again).
    pub visit: u32,
    /// The item of a `foreach` step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// The iteration of a `loop` step (1 for the first; 0 when not a loop).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub iteration: u32,
    /// 1 for the first attempt, then one more per retry.
    pub attempt: u32,
}

impl AttemptKey {
    /// The first attempt of the first visit of `step` (no item, no loop).
    pub fn first(step: &str) -> Self {
        Self {
            step: step.to_string(),
            visit: 1,
            item: None,
            iteration: 0,
            attempt: 1,
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What an attempt produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptResult {
    /// The output is shared (events, the step's state, templates) rather
    /// than copied.
    pub outcome: Result<Arc<Value>, StepFailure>,
    pub duration_ms: f64,
    pub fuel: u64,
    pub memory_peak_bytes: u64,
    pub logs: Vec<Value>,
    pub stdout: String,
    pub stderr: String,
}

impl AttemptResult {
    pub(crate) fn from_call(report: Result<CallReport, String>) -> Self {
        let report = match report {
            Ok(report) => report,
            Err(problem) => {
                return Self::failed(StepFailure::engine(
                    StepFailureKind::Call(FailureKind::InvalidInput),
                    problem,
                ));
            }
        };
        let outcome = match report.outcome {
            Outcome::Success(output) => Ok(Arc::new(output)),
            Outcome::Failure(failure) => Err(StepFailure::from_sandbox(&failure)),
        };
        Self {
            outcome,
            duration_ms: report.duration.as_secs_f64() * 1000.0,
            fuel: report.fuel_consumed,
            memory_peak_bytes: report.memory_peak_bytes,
            logs: report
                .logs
                .iter()
                .filter_map(|log| serde_json::to_value(log).ok())
                .collect(),
            stdout: report.stdout.text,
            stderr: report.stderr.text,
        }
    }

    /// A failure before the sandbox ran (e.g. an input template).
    pub fn failed(failure: StepFailure) -> Self {
        Self::measured(Err(failure), 0.0, 0, 0)
    }

    /// An outcome with its measurements and no captured output (what the
    /// journal keeps for replay: the output itself is in the event history).
    pub fn measured(
        outcome: Result<Arc<Value>, StepFailure>,
        duration_ms: f64,
        fuel: u64,
        memory_peak_bytes: u64,
    ) -> Self {
        Self {
            outcome,
            duration_ms,
            fuel,
            memory_peak_bytes,
            logs: Vec::new(),
            stdout: String::new(),
            stderr: String::new(),
        }
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration_ms.max(0.0) / 1000.0)
    }
}

/// Results an earlier run of the same workflow recorded, by attempt.
#[derive(Debug, Default, Clone)]
pub struct Replay {
    results: HashMap<AttemptKey, AttemptResult>,
    /// When each wait an earlier run began ends (unix seconds): a resumed
    /// wait keeps its deadline.
    deadlines: HashMap<AttemptKey, f64>,
}

impl Replay {
    pub fn insert(&mut self, key: AttemptKey, result: AttemptResult) {
        self.results.insert(key, result);
    }

    pub fn take(&mut self, key: &AttemptKey) -> Option<AttemptResult> {
        self.results.remove(key)
    }

    /// Keep the deadline a wait began with.
    pub fn set_deadline(&mut self, key: AttemptKey, deadline: f64) {
        self.deadlines.insert(key, deadline);
    }

    /// The deadline the wait `key` began with, if an earlier run began it.
    pub fn deadline(&self, key: &AttemptKey) -> Option<f64> {
        self.deadlines.get(key).copied()
    }

    pub fn len(&self) -> usize {
        self.results.len()
    }

    pub fn is_empty(&self) -> bool {
        self.results.is_empty()
    }
}
