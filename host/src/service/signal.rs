//! Sending a signal to a run, as `wfhost signal` and
//! `POST /v1/runs/{id}/signals/{name}` do: the payload is checked against
//! the type the run's workflow (the definition it started with) declares
//! for that signal, then put in the run's mailbox. An ill-typed payload is
//! refused and nothing is recorded.

use crate::diagnostics::Source;
use crate::store::{NewSignal, RunStore, SignalSent, StoreError};
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

/// Check `signal` against its run's workflow and put it in the mailbox.
pub fn send(store: &mut dyn RunStore, signal: &NewSignal<'_>) -> Result<SignalSent, SignalError> {
    if !valid_signal_name(signal.name) {
        return Err(SignalError::InvalidName(signal.name.to_string()));
    }
    let size = signal.payload.to_string().len();
    if size > MAX_PAYLOAD_BYTES {
        return Err(SignalError::TooLarge(size));
    }
    let run = store.run(signal.run_id)?;
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
    let waits: Vec<_> = definition
        .steps
        .iter()
        .filter_map(|step| step.wait.as_ref())
        .collect();
    let Some(wait) = waits.iter().find(|w| w.signal.value == signal.name) else {
        let mut known: Vec<String> = waits.iter().map(|w| w.signal.value.clone()).collect();
        known.sort();
        known.dedup();
        return Err(SignalError::UnknownSignal {
            run: run.id,
            workflow: run.name,
            name: signal.name.to_string(),
            known,
        });
    };
    let ty = wait.ty.as_ref().map_or("any", |t| t.value.as_str());
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
    let mut payload = signal.payload.clone();
    wit_type::complete(&shape, &mut payload);
    Ok(store.send_signal(&NewSignal {
        payload: &payload,
        ..*signal
    })?)
}
