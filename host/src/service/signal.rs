//! Sending a signal to a run, as `wfhost signal` / `approve` / `reject`
//! and `POST /v1/runs/{id}/signals/{name}` / `…/approvals/{step}` do: the
//! payload is checked against the type the run's workflow (the definition
//! it started with) declares for that signal, an approval against who may
//! give it, then put in the run's mailbox. A refused signal records
//! nothing.

use serde_json::json;

use crate::diagnostics::Source;
use crate::store::{NewSignal, RunRecord, RunStore, SignalSent, StoreError};
use crate::user::person;
use crate::workflow::model::{Approvals, Wait, Workflow};
use crate::workflow::validate::valid_signal_name;
use crate::workflow::{self, wit_type};

/// The largest payload a signal may carry, as JSON text.
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("invalid signal name `{0}`: use up to 64 letters, digits, `_` and `-`")]
    InvalidName(String),
    #[error(
        "workflow `{workflow}` (run {run}) has no step waiting for signal `{name}`; {}",
        if .known.is_empty() { "it waits for no signal".to_string() } else { format!("its signals: {}", .known.join(", ")) }
    )]
    UnknownSignal {
        run: String,
        workflow: String,
        name: String,
        known: Vec<String>,
    },
    #[error(
        "step `{step}` of run {run} does not wait for approvals{}",
        if .approval_steps.is_empty() { String::new() } else { format!("; these do: {}", .approval_steps.join(", ")) }
    )]
    NotAnApproval {
        run: String,
        step: String,
        approval_steps: Vec<String>,
    },
    #[error("{who} may not approve step `{step}`: its approvers are {}", .approvers.join(", "))]
    NotAnApprover {
        who: String,
        step: String,
        approvers: Vec<String>,
    },
    #[error("{who} started run {run} and may not approve its step `{step}` (not_by_starter)")]
    Starter {
        who: String,
        run: String,
        step: String,
    },
    #[error("{who} has already answered step `{step}`; its answer stands")]
    AlreadyAnswered { who: String, step: String },
    #[error("signal `{name}` takes {ty}: {problem}; nothing was sent")]
    IllTyped {
        name: String,
        ty: String,
        problem: String,
    },
    #[error("the payload is {0} bytes of JSON, over the {MAX_PAYLOAD_BYTES} a signal may carry")]
    TooLarge(usize),
    #[error("run {run}'s recorded workflow no longer reads: {problem}")]
    Definition { run: String, problem: String },
}

/// An answer to a wait for approvals.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub run_id: &'a str,
    pub step: &'a str,
    pub approved: bool,
    pub comment: Option<&'a str>,
    /// `cli:USER`, `api:TOKEN-NAME`: the person is who approves.
    pub sent_by: &'a str,
    pub idempotency_key: Option<&'a str>,
}

/// Check `signal` against its run's workflow and put it in the mailbox.
pub fn send(store: &mut dyn RunStore, signal: &NewSignal<'_>) -> Result<SignalSent, SignalError> {
    if !valid_signal_name(signal.name) {
        return Err(SignalError::InvalidName(signal.name.to_string()));
    }
    let (run, definition) = recorded(store, signal.run_id)?;
    let waits = || {
        definition
            .steps
            .iter()
            .filter_map(|step| Some((step.id.value.as_str(), step.wait.as_ref()?)))
    };
    let Some((step, wait)) = waits().find(|(step, w)| w.signal_name(step) == signal.name) else {
        let mut known: Vec<String> = waits()
            .map(|(step, w)| w.signal_name(step).to_string())
            .collect();
        known.sort();
        known.dedup();
        return Err(SignalError::UnknownSignal {
            run: run.id,
            workflow: run.name,
            name: signal.name.to_string(),
            known,
        });
    };
    deliver(store, &run, step, wait, signal)
}

/// Approve or reject the wait of step `answer.step`.
pub fn answer(store: &mut dyn RunStore, answer: &Answer<'_>) -> Result<SignalSent, SignalError> {
    let (run, definition) = recorded(store, answer.run_id)?;
    let approvals = || {
        definition
            .steps
            .iter()
            .filter(|step| step.wait.as_ref().is_some_and(|w| w.approvals.is_some()))
    };
    let Some(wait) = approvals()
        .find(|step| step.id.value == answer.step)
        .and_then(|step| step.wait.as_ref())
    else {
        return Err(SignalError::NotAnApproval {
            run: run.id,
            step: answer.step.to_string(),
            approval_steps: approvals().map(|step| step.id.value.clone()).collect(),
        });
    };
    let payload = json!({ "approved": answer.approved, "comment": answer.comment });
    let signal = NewSignal {
        run_id: &run.id,
        name: wait.signal_name(answer.step),
        payload: &payload,
        sent_by: answer.sent_by,
        idempotency_key: answer.idempotency_key,
    };
    deliver(store, &run, answer.step, wait, &signal)
}

/// Run `id` and the workflow it started with.
fn recorded(store: &dyn RunStore, id: &str) -> Result<(RunRecord, Workflow), SignalError> {
    let run = store.run(id)?;
    let text = store.workflow_text(&run.workflow_digest)?;
    let definition = workflow::parse(&Source::new(&run.path, text)).map_err(|problems| {
        SignalError::Definition {
            run: run.id.clone(),
            problem: problems
                .iter()
                .find(|d| d.is_error())
                .map_or_else(|| "it does not parse".to_string(), ToString::to_string),
        }
    })?;
    Ok((run, definition))
}

/// Check `signal` for the wait of `step` and store it.
fn deliver(
    store: &mut dyn RunStore,
    run: &RunRecord,
    step: &str,
    wait: &Wait,
    signal: &NewSignal<'_>,
) -> Result<SignalSent, SignalError> {
    let size = signal.payload.to_string().len();
    if size > MAX_PAYLOAD_BYTES {
        return Err(SignalError::TooLarge(size));
    }
    let ty = wait.type_text();
    let shape = wit_type::parse(ty).map_err(|error| SignalError::Definition {
        run: run.id.clone(),
        problem: error.problem,
    })?;
    wit_type::check(&shape, signal.payload, "payload").map_err(|problem| {
        SignalError::IllTyped {
            name: signal.name.to_string(),
            ty: ty.to_string(),
            problem,
        }
    })?;
    if let Some(approvals) = &wait.approvals {
        check_approver(store, run, step, approvals, signal)?;
    }
    let mut payload = signal.payload.clone();
    wit_type::complete(&shape, &mut payload);
    Ok(store.send_signal(&NewSignal {
        payload: &payload,
        ..*signal
    })?)
}

/// Whether the sender of `signal` may answer `step`: one of `from` (when
/// given), not the run's starter (when `not_by_starter`), and, unless the
/// signal repeats an idempotency key, not someone whose answer is pending.
fn check_approver(
    store: &dyn RunStore,
    run: &RunRecord,
    step: &str,
    approvals: &Approvals,
    signal: &NewSignal<'_>,
) -> Result<(), SignalError> {
    let who = person(signal.sent_by);
    if !approvals.from.is_empty() && !approvals.from.iter().any(|a| a.value == who) {
        return Err(SignalError::NotAnApprover {
            who: who.to_string(),
            step: step.to_string(),
            approvers: approvals.from.iter().map(|a| a.value.clone()).collect(),
        });
    }
    if approvals.not_by_starter && person(&run.started_by) == who {
        return Err(SignalError::Starter {
            who: who.to_string(),
            run: run.id.clone(),
            step: step.to_string(),
        });
    }
    let answered = signal.idempotency_key.is_none()
        && store
            .signals(&run.id, 0)?
            .iter()
            .any(|pending| pending.name == signal.name && person(&pending.sent_by) == who);
    if answered {
        return Err(SignalError::AlreadyAnswered {
            who: who.to_string(),
            step: step.to_string(),
        });
    }
    Ok(())
}
