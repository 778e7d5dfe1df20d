//! `wfhost schedules`: the cron triggers of a folder's workflows, their
//! next fire times, and what their recent ticks did.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::{Value, json};

use crate::home::Home;
use crate::service::library::{Change, Library};
use crate::service::scheduler::schedule_key;
use crate::store::{self, Durability};

use super::exit::{CliError, SUCCESS};
use super::load;

#[derive(Debug, clap::Args)]
pub(super) struct SchedulesArgs {
    /// The folder `wfhost serve` serves.
    #[arg(long, value_name = "DIR", default_value = "workflows")]
    workflows: PathBuf,
    /// How many next fire times to show per schedule.
    #[arg(long, default_value = "3")]
    next: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(home: &Home, args: &SchedulesArgs) -> Result<u8, CliError> {
    let library = Library::new(&args.workflows, load::runtime(home)?, load::registry(home))
        .with_context(|| format!("cannot use {}", args.workflows.display()))?;
    for change in library
        .reload()
        .with_context(|| format!("cannot read {}", args.workflows.display()))?
    {
        if let Change::Invalid(name, problems) = change {
            eprint!("warning: workflow `{name}` is not served:\n{problems}");
        }
    }
    let store = store::open(&home.database(), Durability::Normal)?;
    let now = chrono::Utc::now();
    let mut schedules = Vec::new();
    for listed in library.list() {
        let Some(workflow) = listed.serving else {
            continue;
        };
        for trigger in &workflow.plan.triggers {
            let key = schedule_key(&workflow.name, trigger);
            let mut next = Vec::new();
            let mut cursor = now;
            while next.len() < args.next {
                let Some(tick) = trigger.schedule.next_after(cursor) else {
                    break;
                };
                next.push(tick.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                cursor = tick;
            }
            let recent: Vec<Value> = store
                .ticks(&key, 5)?
                .iter()
                .map(|tick| {
                    json!({
                        "at": crate::units::rfc3339(tick.at),
                        "outcome": tick.outcome.as_str(),
                        "run": tick.run_id,
                    })
                })
                .collect();
            schedules.push(json!({
                "workflow": workflow.name,
                "cron": trigger.schedule.expression(),
                "timezone": trigger.schedule.zone().name(),
                "next": next,
                "recent": recent,
            }));
        }
    }
    if args.json {
        println!("{}", Value::Array(schedules));
        return Ok(SUCCESS);
    }
    if schedules.is_empty() {
        println!("no schedules in {}", args.workflows.display());
    }
    for schedule in &schedules {
        println!(
            "{}  {} ({})",
            schedule["workflow"].as_str().unwrap_or_default(),
            schedule["cron"].as_str().unwrap_or_default(),
            schedule["timezone"].as_str().unwrap_or_default()
        );
        for time in schedule["next"].as_array().into_iter().flatten() {
            println!("  next       {}", time.as_str().unwrap_or_default());
        }
        for tick in schedule["recent"].as_array().into_iter().flatten() {
            println!(
                "  {:<10} {}{}",
                tick["outcome"].as_str().unwrap_or_default(),
                tick["at"].as_str().unwrap_or_default(),
                tick["run"]
                    .as_str()
                    .map(|run| format!("  run {run}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(SUCCESS)
}
