//! A failed step as workflows see it: `steps.<id>.error`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::sandbox::{Failure, says_retryable};
use crate::workflow::StepFailureKind;

/// Why a step failed ([`StepFailureKind`]), in words, with the guest's
/// `err` value when it returned one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepFailure {
    pub kind: StepFailureKind,
    pub message: String,
    /// The guest's `err` value, for kind `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl StepFailure {
    pub fn engine(kind: StepFailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            value: None,
        }
    }

    pub fn from_sandbox(failure: &Failure) -> Self {
        Self {
            kind: StepFailureKind::Call(failure.kind),
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
