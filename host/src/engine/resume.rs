//! Resuming a run: whether it may be resumed, and which recorded attempts
//! stand in for calling the sandbox again. The policy, apart from where
//! the records are kept and from the command line that asks.

use super::attempt::{AttemptKey, AttemptResult, Replay};
use super::status::{RunStatus, StepStatus};
use crate::suggest::closest;
use crate::workflow::Plan;

/// An attempt as a run recorded it.
#[derive(Debug, Clone)]
pub struct RecordedAttempt {
    pub key: AttemptKey,
    pub result: AttemptResult,
    /// Where it ended in the run's history (journal sequence number).
    pub seq: i64,
    /// Where it started (the sequence number of its `step_started`).
    pub started: i64,
    /// False when its output was too large to store whole: it runs again.
    pub complete: bool,
}

/// Why a run cannot be resumed as asked.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("run {run} succeeded; nothing to resume (re-run part of it with --from STEP)")]
    Succeeded { run: String },
    #[error("run {run} was cancelled; it is not resumed unless you say where from: --from STEP")]
    Cancelled { run: String },
    #[error(
        "run {run} has not started: it waits for a concurrency slot and starts when one frees (`wfhost cancel {run}` drops it)"
    )]
    Queued { run: String },
    #[error(
        "run {run} recorded step `{step}`, which the workflow no longer has; resume cannot continue it"
    )]
    StepGone { run: String, step: String },
    #[error("the workflow has no step `{step}`{}", .suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownStep {
        step: String,
        suggestion: Option<String>,
    },
    #[error("step `{step}` never ran in run {run}; nothing to re-run from")]
    NeverRan { run: String, step: String },
}

/// Whether run `run`, now `status`, may be resumed (from step `from`): a
/// run that succeeded or was cancelled only from a step.
pub fn check_resumable(
    run: &str,
    status: RunStatus,
    from: Option<&str>,
) -> Result<(), ResumeError> {
    match (status, from) {
        (RunStatus::Succeeded, None) => Err(ResumeError::Succeeded { run: run.into() }),
        (RunStatus::Cancelled, None) => Err(ResumeError::Cancelled { run: run.into() }),
        (RunStatus::Queued, _) => Err(ResumeError::Queued { run: run.into() }),
        _ => Ok(()),
    }
}

/// The recorded attempts a resumed run reuses: every complete one, except
/// those from `from`'s first start on, and the failed attempts of steps
/// that ended failed or cancelled (a failed or cancelled run runs those
/// steps again). `ended` is each step's recorded status.
pub fn replay(
    run: &str,
    status: RunStatus,
    plan: &Plan,
    attempts: Vec<RecordedAttempt>,
    ended: &[(String, StepStatus)],
    from: Option<&str>,
) -> Result<Replay, ResumeError> {
    if let Some(gone) = attempts
        .iter()
        .find(|a| !plan.by_id.contains_key(&a.key.step))
    {
        return Err(ResumeError::StepGone {
            run: run.into(),
            step: gone.key.step.clone(),
        });
    }
    let cutoff = match from {
        None => i64::MAX,
        Some(step) => {
            if !plan.by_id.contains_key(step) {
                return Err(ResumeError::UnknownStep {
                    step: step.into(),
                    suggestion: closest(step, plan.by_id.keys().map(String::as_str))
                        .map(String::from),
                });
            }
            attempts
                .iter()
                .filter(|a| a.key.step == step)
                .map(|a| a.started)
                .min()
                .ok_or_else(|| ResumeError::NeverRan {
                    run: run.into(),
                    step: step.into(),
                })?
        }
    };
    let rerun_failed = matches!(status, RunStatus::Failed | RunStatus::Cancelled);
    let failed: Vec<&str> = ended
        .iter()
        .filter(|(_, status)| {
            rerun_failed && matches!(status, StepStatus::Failed | StepStatus::Cancelled)
        })
        .map(|(step, _)| step.as_str())
        .collect();
    let mut replay = Replay::default();
    for attempt in attempts {
        let rerun = attempt.result.outcome.is_err() && failed.contains(&attempt.key.step.as_str());
        if attempt.seq < cutoff && attempt.complete && !rerun {
            replay.insert(attempt.key, attempt.result);
        }
    }
    Ok(replay)
}
