//! What a call ends in: success with an output, or a failure of a kind.
//!
//! Two families of failure are kept apart: the guest *chose* to fail
//! (`error`, it returned `err(..)`), or the sandbox *stopped* it (a trap, its
//! fuel, memory or time ran out, its stack overflowed). Workflows route on both.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::capture::Captured;
use super::reports::{LogRecord, Progress};

/// Why a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The action returned `err(..)`; its value is in [`Failure::error`].
    Error,
    /// The guest trapped: a panic, `unreachable`, an out-of-bounds access.
    Trap,
    /// The call used all the fuel it was given.
    FuelExhausted,
    /// The guest tried to grow its linear memory past the limit.
    MemoryLimit,
    /// The call ran past its wall-clock limit.
    Timeout,
    /// The guest's call stack grew past the host's maximum depth.
    StackOverflow,
    /// The input did not fit the action's WIT signature; the guest never ran.
    InvalidInput,
    /// A granted capability could not be provided when the call started (a
    /// granted directory is gone, or is now a link); the guest never ran.
    Grant,
    /// The call was stopped from outside: its run was cancelled, its
    /// parallel group finished without it, or its run timed out.
    Cancelled,
}

impl FailureKind {
    pub const ALL: [FailureKind; 9] = [
        FailureKind::Error,
        FailureKind::Trap,
        FailureKind::FuelExhausted,
        FailureKind::MemoryLimit,
        FailureKind::Timeout,
        FailureKind::StackOverflow,
        FailureKind::InvalidInput,
        FailureKind::Grant,
        FailureKind::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Error => "error",
            FailureKind::Trap => "trap",
            FailureKind::FuelExhausted => "fuel-exhausted",
            FailureKind::MemoryLimit => "memory-limit",
            FailureKind::Timeout => "timeout",
            FailureKind::StackOverflow => "stack-overflow",
            FailureKind::InvalidInput => "invalid-input",
            FailureKind::Grant => "grant",
            FailureKind::Cancelled => "cancelled",
        }
    }
}

impl FailureKind {
    /// The kind named `text`, as [`as_str`](Self::as_str) writes it.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub kind: FailureKind,
    /// One line for a person.
    pub message: String,
    /// The guest's `err` value as JSON, for kind `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// The WebAssembly backtrace, when the guest trapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backtrace: Option<String>,
}

impl Failure {
    pub(crate) fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            error: None,
            backtrace: None,
        }
    }

    /// True for an `action-error` that says trying again may help.
    pub fn retryable(&self) -> bool {
        says_retryable(self.error.as_ref())
    }
}

/// Does a guest's `err` value say trying again may help (`retryable: true`)?
pub fn says_retryable(error: Option<&Value>) -> bool {
    error
        .and_then(|error| error.get("retryable"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Success with the action's output, or a failure.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Success(Value),
    Failure(Failure),
}

/// Everything known about one call.
#[derive(Debug, Clone)]
pub struct CallReport {
    pub outcome: Outcome,
    /// Fuel the call consumed (0 when metering is off).
    pub fuel_consumed: u64,
    /// Highest total linear memory the guest held.
    pub memory_peak_bytes: u64,
    /// Wall-clock time from instantiation to return.
    pub duration: Duration,
    /// Log lines the guest wrote through `wfhost:module/log`.
    pub logs: Vec<LogRecord>,
    /// Log lines dropped past the per-call cap.
    pub dropped_logs: u64,
    /// The last progress the guest reported.
    pub progress: Option<Progress>,
    pub stdout: Captured,
    pub stderr: Captured,
}

impl CallReport {
    pub fn is_success(&self) -> bool {
        matches!(self.outcome, Outcome::Success(_))
    }

    pub fn failure(&self) -> Option<&Failure> {
        match &self.outcome {
            Outcome::Failure(failure) => Some(failure),
            Outcome::Success(_) => None,
        }
    }

    /// The report as one JSON object: `status`, `output` or `error`, `kind`,
    /// `message`, measurements, logs and captured output.
    pub fn to_json(&self) -> Value {
        let mut json = serde_json::json!({
            "fuel_consumed": self.fuel_consumed,
            "memory_peak_bytes": self.memory_peak_bytes,
            "duration_ms": self.duration.as_secs_f64() * 1000.0,
            "logs": self.logs,
            "dropped_logs": self.dropped_logs,
            "progress": self.progress,
            "stdout": self.stdout,
            "stderr": self.stderr,
        });
        let object = json.as_object_mut().expect("built as an object");
        match &self.outcome {
            Outcome::Success(output) => {
                object.insert("status".into(), "success".into());
                object.insert("output".into(), output.clone());
            }
            Outcome::Failure(failure) => {
                object.insert("status".into(), "failure".into());
                object.insert("kind".into(), failure.kind.as_str().into());
                object.insert("message".into(), failure.message.clone().into());
                object.insert("error".into(), failure.error.clone().unwrap_or(Value::Null));
                if let Some(backtrace) = &failure.backtrace {
                    object.insert("backtrace".into(), backtrace.clone().into());
                }
            }
        }
        json
    }
}

/// The guest's `err` value as JSON, with an `action-error`'s `details` parsed
/// when it holds JSON, and a one-line message for people.
pub(crate) fn guest_error(mut error: Value) -> Failure {
    if let Some(details) = error.get_mut("details")
        && let Some(text) = details.as_str()
        && let Ok(parsed) = serde_json::from_str::<Value>(text)
    {
        *details = parsed;
    }
    let message = match &error {
        Value::String(text) => text.clone(),
        Value::Object(object) => match (
            object.get("code").and_then(Value::as_str),
            object.get("message").and_then(Value::as_str),
        ) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (None, Some(message)) => message.to_string(),
            _ => error.to_string(),
        },
        Value::Null => "the action returned an error".to_string(),
        other => other.to_string(),
    };
    Failure {
        kind: FailureKind::Error,
        message,
        error: Some(error),
        backtrace: None,
    }
}
