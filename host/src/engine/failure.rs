//! A failed step as workflows see it: `steps.<id>.error`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::sandbox::{Failure, says_retryable};

/// Why a step failed: a sandbox failure kind (`error`, `trap`, `timeout`, …)
/// or one the engine adds (`template`, `max-visits`, `max-iterations`,
/// `cancelled`, `workflow-timeout`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepFailure {
    pub kind: String,
    pub message: String,
    /// The guest's `err` value, for kind `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl StepFailure {
    pub fn engine(kind: &str, message: impl Into<String>) -> Self {
        Self {
            kind: kind.to_string(),
            message: message.into(),
            value: None,
        }
    }

    pub fn from_sandbox(failure: &Failure) -> Self {
        Self {
            kind: failure.kind.as_str().to_string(),
            message: failure.message.clone(),
            value: failure.error.clone(),
        }
    }

    /// The `code` of an `action-error`.
    pub fn code(&self) -> Option<&str> {
        self.value.as_ref()?.get("code")?.as_str()
    }

    /// Does the guest say trying again may help?
    pub fn guest_retryable(&self) -> bool {
        says_retryable(self.value.as_ref())
    }

    /// `steps.<id>.error` in templates.
    pub fn to_scope(&self, attempts: u32) -> Value {
        json!({
            "kind": self.kind,
            "message": self.message,
            "code": self.code(),
            "retryable": self.guest_retryable(),
            "value": self.value,
            "attempts": attempts,
        })
    }

    /// `workflow.error` in templates: the system module's `failure` record.
    pub fn to_workflow_error(&self, step: &str, attempts: u32) -> Value {
        json!({
            "step": step,
            "kind": self.kind,
            "message": self.message,
            "code": self.code(),
            "attempts": attempts,
        })
    }
}
