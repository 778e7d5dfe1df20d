//! Where a run and a step stand. Stored, shown and read back by name.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting for a slot of its `concurrency` key; starts when one frees.
    Queued,
    /// A process drives it (or did, until it crashed: `wfhost resume`).
    Running,
    /// Every step in flight waits for a signal (or a timer); it keeps its
    /// concurrency slot.
    Waiting,
    Succeeded,
    Failed,
    /// Stopped by `wfhost pause`; `wfhost resume` continues it.
    Paused,
    /// Stopped by `wfhost cancel`; resumed only from a step (`--from`).
    Cancelled,
    /// Stopped by Ctrl-C; `wfhost resume` continues it.
    Interrupted,
}

impl RunStatus {
    pub const ALL: [RunStatus; 8] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Waiting,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Paused,
        RunStatus::Cancelled,
        RunStatus::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Waiting => "waiting",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Paused => "paused",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// A run a process drives (or drove, until it crashed): `running` or
    /// `waiting`.
    pub fn is_active(self) -> bool {
        matches!(self, RunStatus::Running | RunStatus::Waiting)
    }

    /// A run that has ended for good (only `resume --from` runs it again).
    pub fn is_ended(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not started (yet).
    #[default]
    Pending,
    Running,
    /// A `wait` step waiting for its signal.
    Waiting,
    Succeeded,
    Failed,
    /// Stopped from outside: a cancel, its group finished without it.
    Cancelled,
    Skipped,
}

impl StepStatus {
    pub const ALL: [StepStatus; 7] = [
        StepStatus::Pending,
        StepStatus::Running,
        StepStatus::Waiting,
        StepStatus::Succeeded,
        StepStatus::Failed,
        StepStatus::Cancelled,
        StepStatus::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Waiting => "waiting",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Cancelled => "cancelled",
            StepStatus::Skipped => "skipped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serialised_form_and_parse_back() {
        for status in RunStatus::ALL {
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(status.as_str().into())
            );
            assert_eq!(RunStatus::parse(status.as_str()), Some(status));
        }
        for status in StepStatus::ALL {
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(status.as_str().into())
            );
            assert_eq!(StepStatus::parse(status.as_str()), Some(status));
        }
    }
}
