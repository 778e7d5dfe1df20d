//! Why a step failed, as routes (`steps.<id>.error.kind`) and retry
//! policies (`retry.on`) name it: how its call ended (the sandbox's kinds),
//! or why the engine stopped it. The one list of kind names.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::sandbox::FailureKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepFailureKind {
    /// How the call ended: `error`, `trap`, `timeout`, `cancelled`, …
    Call(FailureKind),
    /// An input, `foreach`, `until` or route condition could not be evaluated.
    Template,
    /// A route entered the step more than its `max_visits`.
    MaxVisits,
    /// A `loop` step's `until` never held.
    MaxIterations,
    /// The run passed its `workflow_timeout`.
    WorkflowTimeout,
    /// A `wait` passed its `timeout` with no signal.
    WaitTimeout,
    /// A person rejected a wait for approvals.
    Rejected,
    /// A sub-workflow's run failed (or was cancelled from outside);
    /// `error.value` holds its `run` id and its `error`.
    ChildFailed,
    /// The action's circuit breaker is open: the call was not made (never
    /// retried).
    CircuitOpen,
}

impl StepFailureKind {
    /// Every kind, the sandbox's first.
    pub const ALL: [StepFailureKind; 17] = [
        StepFailureKind::Call(FailureKind::Error),
        StepFailureKind::Call(FailureKind::Trap),
        StepFailureKind::Call(FailureKind::FuelExhausted),
        StepFailureKind::Call(FailureKind::MemoryLimit),
        StepFailureKind::Call(FailureKind::Timeout),
        StepFailureKind::Call(FailureKind::StackOverflow),
        StepFailureKind::Call(FailureKind::InvalidInput),
        StepFailureKind::Call(FailureKind::Grant),
        StepFailureKind::Call(FailureKind::Cancelled),
        StepFailureKind::Template,
        StepFailureKind::MaxVisits,
        StepFailureKind::MaxIterations,
        StepFailureKind::WorkflowTimeout,
        StepFailureKind::WaitTimeout,
        StepFailureKind::Rejected,
        StepFailureKind::ChildFailed,
        StepFailureKind::CircuitOpen,
    ];

    /// A stop from outside the step.
    pub const CANCELLED: StepFailureKind = StepFailureKind::Call(FailureKind::Cancelled);

    pub fn as_str(self) -> &'static str {
        match self {
            StepFailureKind::Call(kind) => kind.as_str(),
            StepFailureKind::Template => "template",
            StepFailureKind::MaxVisits => "max-visits",
            StepFailureKind::MaxIterations => "max-iterations",
            StepFailureKind::WorkflowTimeout => "workflow-timeout",
            StepFailureKind::WaitTimeout => "wait-timeout",
            StepFailureKind::Rejected => "rejected",
            StepFailureKind::ChildFailed => "child-failed",
            StepFailureKind::CircuitOpen => "circuit-open",
        }
    }

    /// The kind named `text`, as [`as_str`](Self::as_str) writes it.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// Whether a failure of this kind counts against the action's circuit
    /// breaker: the action misbehaved (it returned an error, trapped, ran
    /// out of time or a limit), not its caller (a cancel, bad input, a
    /// grant that could not be opened).
    pub fn counts_against_circuit(self) -> bool {
        matches!(
            self,
            StepFailureKind::Call(
                FailureKind::Error
                    | FailureKind::Trap
                    | FailureKind::FuelExhausted
                    | FailureKind::MemoryLimit
                    | FailureKind::Timeout
                    | FailureKind::StackOverflow
            )
        )
    }

    /// Every kind's name.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Self::ALL.into_iter().map(Self::as_str)
    }
}

impl fmt::Display for StepFailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for StepFailureKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for StepFailureKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown failure kind `{text}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_name_that_parses_back() {
        let mut names: Vec<&str> = StepFailureKind::names().collect();
        for kind in StepFailureKind::ALL {
            assert_eq!(StepFailureKind::parse(kind.as_str()), Some(kind));
        }
        for kind in FailureKind::ALL {
            assert!(
                StepFailureKind::ALL.contains(&StepFailureKind::Call(kind)),
                "{kind}"
            );
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), StepFailureKind::ALL.len());
    }
}
