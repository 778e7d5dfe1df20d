//! `wfhost pause RUN`, `wfhost cancel RUN`, `wfhost prune --older-than D`.

use std::time::Duration;

use crate::engine::Stop;
use crate::home::Home;
use crate::service::signal::{self, Answer};
use crate::store::{self, Durability, NewSignal};
use crate::units::parse_duration;
use crate::user;

use super::exit::{CliError, SUCCESS};

#[derive(Debug, clap::Args)]
pub(super) struct RunArg {
    run: String,
}

#[derive(Debug, clap::Args)]
pub(super) struct CancelArgs {
    run: String,
    /// Skip the run's `finally` steps too (as a second cancel does).
    #[arg(long)]
    now: bool,
}

#[derive(Debug, clap::Args)]
pub(super) struct SignalArgs {
    run: String,
    /// The signal's name, as the workflow's `wait: { signal: NAME }` says.
    name: String,
    /// The payload, JSON of the type the wait declares (default `null`).
    #[arg(long, value_name = "JSON")]
    data: Option<String>,
    /// Send it at most once: a second signal with the same key is not sent again.
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
    /// Who sends it (default: your user name).
    #[arg(long = "as", value_name = "NAME")]
    sender: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(super) struct AnswerArgs {
    run: String,
    /// The step that waits for approvals.
    step: String,
    /// Why (kept with the answer; the step's output shows it).
    #[arg(long)]
    comment: Option<String>,
    /// Answer at most once: a second answer with the same key is not sent again.
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
    /// Who answers (default: your user name); the workflow's `from` names who may.
    #[arg(long = "as", value_name = "NAME")]
    sender: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(super) struct PruneArgs {
    /// Delete ended runs (succeeded, failed, cancelled) older than this, e.g. `7d`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    older_than: Duration,
}

pub(super) fn pause(home: &Home, args: &RunArg) -> Result<u8, CliError> {
    let mut store = store::open(&home.database(), Durability::Normal)?;
    store.request(&args.run, Stop::Pause)?;
    println!(
        "asked the process driving run {0} to pause: running steps finish, nothing new starts; `wfhost resume {0}` continues it",
        args.run
    );
    Ok(SUCCESS)
}

pub(super) fn cancel(home: &Home, args: &CancelArgs) -> Result<u8, CliError> {
    let mut store = store::open(&home.database(), Durability::Normal)?;
    let stop = if args.now {
        Stop::CancelNow
    } else {
        Stop::Cancel
    };
    if store.request(&args.run, stop)? {
        println!(
            "asked the process driving run {0} to cancel it: running steps stop and are recorded cancelled{1}",
            args.run,
            if args.now {
                ", and its `finally` steps are skipped"
            } else {
                "; its `finally` steps run (cancel again, or `--now`, to skip them)"
            }
        );
    } else {
        println!("run {} cancelled", args.run);
    }
    Ok(SUCCESS)
}

pub(super) fn signal(home: &Home, args: &SignalArgs) -> Result<u8, CliError> {
    let payload: serde_json::Value = match &args.data {
        None => serde_json::Value::Null,
        Some(text) => serde_json::from_str(text).map_err(|error| {
            anyhow::anyhow!("--data is not JSON ({error}); quote strings: --data '\"yes\"'")
        })?,
    };
    let sender = args.sender.clone().unwrap_or_else(user::os_user);
    let mut store = store::open(&home.database(), Durability::Normal)?;
    let sent = signal::send(
        store.as_mut(),
        &NewSignal {
            run_id: &args.run,
            name: &args.name,
            payload: &payload,
            sent_by: &format!("cli:{sender}"),
            idempotency_key: args.key.as_deref(),
        },
    )
    .map_err(signal_error)?;
    if sent.duplicate {
        println!(
            "signal `{}` with key {} was sent before (#{}); not sent again",
            args.name,
            args.key.as_deref().unwrap_or_default(),
            sent.seq
        );
    } else {
        println!(
            "sent signal `{}` (#{}) to run {}: a step waiting for it takes it",
            args.name, sent.seq, args.run
        );
    }
    Ok(SUCCESS)
}

pub(super) fn approve(home: &Home, args: &AnswerArgs) -> Result<u8, CliError> {
    answer(home, args, true)
}

pub(super) fn reject(home: &Home, args: &AnswerArgs) -> Result<u8, CliError> {
    answer(home, args, false)
}

fn answer(home: &Home, args: &AnswerArgs, approved: bool) -> Result<u8, CliError> {
    let sender = args.sender.clone().unwrap_or_else(user::os_user);
    let mut store = store::open(&home.database(), Durability::Normal)?;
    let sent = signal::answer(
        store.as_mut(),
        &Answer {
            run_id: &args.run,
            step: &args.step,
            approved,
            comment: args.comment.as_deref(),
            sent_by: &format!("cli:{sender}"),
            idempotency_key: args.key.as_deref(),
        },
    )
    .map_err(signal_error)?;
    let verb = if approved { "approved" } else { "rejected" };
    if sent.duplicate {
        println!(
            "this answer (key {}) was sent before; not sent again",
            args.key.as_deref().unwrap_or_default()
        );
    } else {
        println!(
            "{sender} {verb} step `{}` of run {} (#{})",
            args.step, args.run, sent.seq
        );
    }
    Ok(SUCCESS)
}

/// A refused signal: a store failure keeps its exit code.
fn signal_error(error: signal::SignalError) -> CliError {
    match error {
        signal::SignalError::Store(error) => CliError::from(error),
        error => CliError::from(error),
    }
}

pub(super) fn prune(home: &Home, args: &PruneArgs) -> Result<u8, CliError> {
    let mut store = store::open(&home.database(), Durability::Normal)?;
    let cutoff = store::now_seconds() - args.older_than.as_secs_f64();
    let pruned = store.prune(cutoff)?;
    println!("pruned {pruned} run{}", if pruned == 1 { "" } else { "s" });
    Ok(SUCCESS)
}
