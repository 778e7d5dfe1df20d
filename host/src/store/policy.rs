//! The decisions a store makes the same way whatever keeps its rows: how a
//! stop asked of a run escalates, what a stop asked of a run nobody drives
//! does, whether a new run takes a concurrency slot, and what a circuit
//! breaker answers a call. Each backend reads what they need in its
//! transaction and writes what they decide.

use super::StoreError;
use super::lease::{Lease, Owner, is_live, lease_ttl};
use super::records::{Admission, CircuitAdmission, CircuitRule, NewRun, WhenFull};
use crate::engine::{RunStatus, Stop};

/// The stop to record when `asked` comes while `already` is recorded: a
/// second cancel of a run still cancelling skips its `finally` steps.
pub(super) fn escalate(asked: Stop, already: Option<Stop>) -> Stop {
    if asked == Stop::Cancel && already == Some(Stop::Cancel) {
        Stop::CancelNow
    } else {
        asked
    }
}

/// A stop asked of run `id`, in `status`, that no process drives: `Ok`
/// when it is cancelled here and now, else why nothing can be done.
pub(super) fn stop_unowned(id: &str, stop: Stop, status: RunStatus) -> Result<(), StoreError> {
    let what = stop.as_str();
    match (stop, status) {
        (_, status) if status.is_ended() => Err(StoreError::Refused(format!(
            "run {id} has already ended ({status}); nothing to {what}"
        ))),
        (Stop::Pause | Stop::Detach | Stop::Drain | Stop::Interrupt, status)
            if status.is_active() =>
        {
            Err(StoreError::Refused(format!(
                "no process is driving run {id} any more (it crashed or was killed); `wfhost resume {id}` continues it"
            )))
        }
        (Stop::Pause | Stop::Detach | Stop::Drain | Stop::Interrupt, _) => {
            Err(StoreError::Refused(format!(
                "run {id} is not running ({status}); `wfhost resume {id}` continues it"
            )))
        }
        (Stop::Cancel | Stop::CancelNow, _) => Ok(()),
    }
}

/// What a new run's slot says, given the runs holding its key's slots and
/// how many queue for them.
#[derive(Debug)]
pub(super) enum SlotDecision {
    Admitted(Admission),
    /// Queued, and the holders are to be asked to cancel (`cancel-running`).
    CancelHolders(Admission),
}

pub(super) fn admission(
    run: &NewRun<'_>,
    lease: &Lease,
    held_by: Vec<String>,
    queued: u32,
) -> Result<SlotDecision, StoreError> {
    let decided = |admission| Ok(SlotDecision::Admitted(admission));
    if run.hold {
        return decided(Admission::Queued { held_by });
    }
    let Some(slot) = run.slot else {
        return decided(Admission::Running(lease.clone()));
    };
    if queued == 0 && held_by.len() < slot.limit as usize {
        return decided(Admission::Running(lease.clone()));
    }
    match slot.when_full {
        WhenFull::CancelNewest => decided(Admission::Cancelled { held_by }),
        WhenFull::Queue | WhenFull::CancelRunning if queued >= slot.max_queued => {
            Err(StoreError::Refused(format!(
                "{queued} runs of `{}` are queued already (max_queued: {}); try again later",
                slot.key, slot.max_queued
            )))
        }
        WhenFull::Queue => decided(Admission::Queued { held_by }),
        WhenFull::CancelRunning => Ok(SlotDecision::CancelHolders(Admission::Queued { held_by })),
    }
}

/// How a new run is recorded for its admission: status, owner and error.
pub(super) fn admitted_as<'a>(
    run: &NewRun<'_>,
    admission: &Admission,
    owner: &'a str,
) -> (&'static str, Option<&'a str>, Option<String>) {
    match admission {
        Admission::Running(_) => ("running", Some(owner), None),
        Admission::Queued { .. } => ("queued", None, None),
        Admission::Cancelled { held_by } => (
            "cancelled",
            None,
            Some(
                serde_json::json!({
                    "kind": "concurrency-limit",
                    "message": format!(
                        "every slot of `{}` was taken (by {}); on_limit: cancel-newest",
                        run.slot.map_or("", |s| s.key),
                        held_by.join(", ")
                    ),
                })
                .to_string(),
            ),
        ),
    }
}

/// A breaker's `opened_at`, `open_until` and `probe_at`, if it has a row.
pub(super) type BreakerState = Option<(Option<f64>, Option<f64>, Option<f64>)>;

/// What a call finds at `now`: closed, or open until some time; `None`
/// when the call may be the probe.
pub(super) fn breaker_admission(
    state: BreakerState,
    now: f64,
    rule: &CircuitRule<'_>,
) -> Option<CircuitAdmission> {
    let Some((Some(_), open_until, probe_at)) = state else {
        return Some(CircuitAdmission::Closed);
    };
    let open_until = open_until.unwrap_or(now);
    if now < open_until {
        return Some(CircuitAdmission::Open { until: open_until });
    }
    // One probe at a time; a probe whose caller vanished is given up after
    // another `open_for`.
    match probe_at {
        Some(since) if now < since + rule.open_for_seconds => Some(CircuitAdmission::Open {
            until: since + rule.open_for_seconds,
        }),
        _ => None,
    }
}

/// The lease `owner` takes of run `id`, held by `held_by` until `expires`
/// at epoch `epoch`: refused while another owner's lease is live.
pub(super) fn take_over(
    id: &str,
    owner: &Owner,
    (held_by, expires, epoch): (Option<String>, Option<f64>, i64),
    now: f64,
) -> Result<Lease, StoreError> {
    if held_by.as_deref() != Some(owner.id()) && is_live(held_by.as_deref(), expires, now) {
        let by = Owner::from_id(held_by.unwrap_or_default());
        return Err(StoreError::Refused(format!(
            "run {id} is being driven by {by}; wait for it, or `wfhost pause {id}` it first"
        )));
    }
    Ok(Lease {
        run_id: id.to_string(),
        owner: owner.clone(),
        epoch: epoch + 1,
        expires_at: now + lease_ttl().as_secs_f64(),
    })
}

/// The query for [`RunStore::orphans`](super::RunStore::orphans)'
/// candidates, the same for both backends: `$1` the time now, `$2` a
/// `LIKE` pattern of this machine's owner ids; (id, status, owner, lease
/// expiry), oldest first.
macro_rules! orphan_candidates {
    () => {
        "SELECT id, status, owner, lease_expires FROM runs WHERE parent_run IS NULL AND (
            (status IN ('running', 'waiting')
               AND (owner IS NULL OR lease_expires IS NULL OR lease_expires <= $1 OR owner LIKE $2))
            OR (status = 'interrupted' AND started_by != 'cli' AND started_by NOT LIKE 'cli:%'))
         ORDER BY created_at"
    };
}
pub(super) use orphan_candidates;

/// Whether a candidate (`status`, held by `owner` until `expires`) is an
/// orphan at `now`: an interrupted run is; an active one when no live lease
/// holds it.
pub(super) fn orphaned(status: &str, owner: Option<&str>, expires: Option<f64>, now: f64) -> bool {
    status == "interrupted" || !is_live(owner, expires, now)
}
