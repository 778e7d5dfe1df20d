//! The result of a run: its status and one line per step.

use std::time::Duration;

use serde_json::{Map, Value};

use super::status::{RunStatus, StepStatus};
use crate::workflow::StepFailureKind;

#[derive(Debug, Clone)]
pub struct RunSummary {
    pub run_id: String,
    pub workflow: String,
    pub status: RunStatus,
    pub duration: Duration,
    /// Steps that ran or were skipped, in workflow order.
    pub steps: Vec<StepSummary>,
    /// `workflow.error`: the first unhandled failure.
    pub error: Option<Value>,
    /// The output of every step that succeeded, by id.
    pub outputs: Map<String, Value>,
    /// The workflow's `outputs:`, evaluated when it succeeded.
    pub workflow_outputs: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct StepSummary {
    pub id: String,
    /// `succeeded`, `failed`, `cancelled`, `skipped`, `running`.
    pub status: StepStatus,
    pub attempts: u32,
    pub visits: u32,
    /// Time in the sandbox, summed over attempts.
    pub duration: Duration,
    pub fuel: u64,
    /// The most linear memory any attempt used.
    pub memory_peak_bytes: u64,
    pub failure: Option<StepFailureKind>,
}

impl RunSummary {
    pub fn succeeded(&self) -> bool {
        self.status == RunStatus::Succeeded
    }

    pub fn step(&self, id: &str) -> Option<&StepSummary> {
        self.steps.iter().find(|step| step.id == id)
    }
}
