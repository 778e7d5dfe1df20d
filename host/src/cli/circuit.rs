//! `wfhost circuit list | reset KEY`: the circuit breakers of guarded
//! actions, shared by every run on the home; and the lines other commands
//! (`status`, `module show`) show for open ones.

use std::fmt::Write as _;

use anyhow::anyhow;
use serde_json::json;

use crate::home::Home;
use crate::store::{self, CircuitRecord, Durability};
use crate::units::{now_seconds, rfc3339};

use super::exit::{CliError, SUCCESS};

#[derive(Debug, clap::Subcommand)]
pub(super) enum CircuitCommand {
    /// List breakers: open ones, and closed ones with recent failures.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Close a breaker and forget its failures (`module.action`).
    Reset {
        /// The guarded action, as `circuit list` names it.
        key: String,
    },
}

pub(super) fn run(home: &Home, command: &CircuitCommand) -> Result<u8, CliError> {
    let mut store = store::open(&home.database(), Durability::Normal)?;
    match command {
        CircuitCommand::List { json } => {
            let circuits = store.circuits()?;
            if *json {
                let list: Vec<_> = circuits
                    .iter()
                    .map(|c| {
                        json!({
                            "key": c.key, "open": c.is_open(), "opened_at": c.opened_at,
                            "open_until": c.open_until, "probing_since": c.probing_since,
                            "recent_failures": c.recent_failures, "last_error": c.last_error,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if circuits.is_empty() {
                println!("no circuit breaker has seen a failure");
            } else {
                for circuit in &circuits {
                    print!("{}", describe(circuit));
                }
            }
            Ok(SUCCESS)
        }
        CircuitCommand::Reset { key } => {
            if store.reset_circuit(key)? {
                println!("closed the circuit breaker of `{key}` and forgot its failures");
                Ok(SUCCESS)
            } else {
                let known: Vec<String> = store.circuits()?.into_iter().map(|c| c.key).collect();
                Err(CliError(anyhow!(
                    "no circuit breaker `{key}` has seen a failure{}",
                    crate::suggest::closest(key, known.iter().map(String::as_str))
                        .map(|k| format!("; did you mean `{k}`?"))
                        .unwrap_or_default()
                )))
            }
        }
    }
}

/// One breaker, as people read it.
pub(super) fn describe(circuit: &CircuitRecord) -> String {
    let mut out = String::new();
    let now = now_seconds();
    match (circuit.opened_at, circuit.open_until) {
        (Some(_), Some(until)) if circuit.probing_since.is_some() => {
            let _ = write!(
                out,
                "{}: open (a probe call is deciding; it was open until {})",
                circuit.key,
                rfc3339(until)
            );
        }
        (Some(_), Some(until)) if until > now => {
            let _ = write!(out, "{}: open until {}", circuit.key, rfc3339(until));
        }
        (Some(_), _) => {
            let _ = write!(out, "{}: open, the next call is a probe", circuit.key);
        }
        _ => {
            let _ = write!(
                out,
                "{}: closed, {} recent failures",
                circuit.key, circuit.recent_failures
            );
        }
    }
    if let Some(error) = &circuit.last_error {
        let _ = write!(out, " — last: {error}");
    }
    out.push('\n');
    out
}

/// The open breakers among `circuits` of the actions of `modules` (keys
/// `module.action`).
pub(super) fn open_of(circuits: Vec<CircuitRecord>, modules: &[&str]) -> Vec<CircuitRecord> {
    circuits
        .into_iter()
        .filter(|c| {
            c.is_open()
                && modules.iter().any(|m| {
                    c.key
                        .strip_prefix(m)
                        .is_some_and(|rest| rest.starts_with('.'))
                })
        })
        .collect()
}
