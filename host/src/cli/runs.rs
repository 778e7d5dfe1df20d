//! Looking at runs: `wfhost list`, `wfhost status RUN`, `wfhost logs RUN`.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::anyhow;
use serde_json::{Value, json};

use crate::engine::RunStatus;
use crate::home::Home;
use crate::store::{Durability, RunRecord, Store};

use super::exit::{SUCCESS, UsageError};

#[derive(Debug, clap::Args)]
pub(super) struct ListArgs {
    /// Only runs with this status: succeeded, failed, running, paused, cancelled, interrupted.
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(super) struct StatusArgs {
    run: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(super) struct LogsArgs {
    run: String,
    /// Only this step's events and output.
    #[arg(long)]
    step: Option<String>,
    /// Keep printing new events until the run stops.
    #[arg(long, short)]
    follow: bool,
}

fn store(home: &Home) -> Result<Store, UsageError> {
    Ok(Store::open(&home.database(), Durability::Normal)?)
}

/// `running` for a run whose driver died without recording its end.
fn shown_status(run: &RunRecord) -> String {
    if run.status == "running" && !run.is_driven() {
        "running (driver gone: resume it)".to_string()
    } else {
        run.status.clone()
    }
}

fn age(at: f64) -> String {
    let seconds = (crate::store::now_seconds() - at).max(0.0);
    let rounded = Duration::from_secs(seconds as u64);
    format!("{} ago", humantime::format_duration(rounded))
}

pub(super) fn list(home: &Home, args: &ListArgs) -> Result<u8, UsageError> {
    if let Some(status) = &args.status
        && RunStatus::parse(status).is_none()
        && status != "running"
    {
        return Err(UsageError(anyhow!(
            "unknown status `{status}`; one of: running, {}",
            RunStatus::ALL.map(RunStatus::as_str).join(", ")
        )));
    }
    let runs = store(home)?.runs(args.status.as_deref())?;
    if args.json {
        let list: Vec<Value> = runs
            .iter()
            .map(|run| {
                json!({
                    "id": run.id, "workflow": run.name, "status": run.status, "path": run.path,
                    "created_at": run.created_at, "updated_at": run.updated_at, "error": run.error,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(SUCCESS);
    }
    if runs.is_empty() {
        println!("no runs");
        return Ok(SUCCESS);
    }
    let width = runs.iter().map(|r| r.name.len()).max().unwrap_or(8).max(8);
    println!(
        "{:<8}  {:<width$}  {:<12}  STARTED",
        "RUN", "WORKFLOW", "STATUS"
    );
    for run in &runs {
        println!(
            "{:<8}  {:<width$}  {:<12}  {}",
            run.id,
            run.name,
            shown_status(run),
            age(run.created_at)
        );
    }
    Ok(SUCCESS)
}

pub(super) fn status(home: &Home, args: &StatusArgs) -> Result<u8, UsageError> {
    let store = store(home)?;
    let run = store.run(&args.run)?;
    let steps = store.steps(&run.id)?;
    if args.json {
        let steps: Vec<Value> = steps
            .iter()
            .map(|s| {
                json!({
                    "id": s.step, "status": s.status, "attempts": s.attempts,
                    "duration_ms": s.duration_ms, "fuel": s.fuel, "outcome": s.kind.clone().unwrap_or_else(|| s.status.clone()),
                    "output": s.output, "failure": s.failure,
                })
            })
            .collect();
        let report = json!({
            "id": run.id, "workflow": run.name, "path": run.path, "status": run.status,
            "driven": run.is_driven(), "error": run.error, "inputs": run.inputs, "steps": steps,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(SUCCESS);
    }
    let mut out = format!(
        "run {}: {} ({})\nstatus: {}\nstarted {}, updated {}\n",
        run.id,
        run.name,
        run.path,
        shown_status(&run),
        age(run.created_at),
        age(run.updated_at)
    );
    if let Some(error) = &run.error {
        let _ = writeln!(
            out,
            "error: step `{}` failed ({}): {}",
            error["step"].as_str().unwrap_or("?"),
            error["kind"].as_str().unwrap_or("?"),
            error["message"].as_str().unwrap_or("")
        );
    }
    let width = steps.iter().map(|s| s.step.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(
        out,
        "\n{:<width$}  {:<10}  {:>8}  {:>10}  {:>12}  OUTCOME",
        "STEP", "STATUS", "ATTEMPTS", "DURATION", "FUEL"
    );
    for step in &steps {
        let _ = writeln!(
            out,
            "{:<width$}  {:<10}  {:>8}  {:>8.1}ms  {:>12}  {}",
            step.step,
            step.status,
            step.attempts,
            step.duration_ms,
            step.fuel,
            step.kind.as_deref().unwrap_or("-")
        );
    }
    let resumable = matches!(run.status.as_str(), "paused" | "interrupted" | "failed")
        || (run.status == "running" && !run.is_driven());
    if resumable {
        let _ = writeln!(out, "\ncontinue it with: wfhost resume {}", run.id);
    }
    print!("{out}");
    Ok(SUCCESS)
}

pub(super) fn logs(home: &Home, args: &LogsArgs) -> Result<u8, UsageError> {
    let store = store(home)?;
    let run = store.run(&args.run)?;
    let mut after = 0;
    loop {
        for event in store.events(&run.id, args.step.as_deref(), after)? {
            after = event.seq;
            print!("{}", describe(&event.kind, &event.body));
        }
        if !args.follow || !store.run(&run.id)?.is_driven() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(SUCCESS)
}

/// One event as lines for `wfhost logs`.
fn describe(kind: &str, body: &Value) -> String {
    let text = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let step = text("step");
    let attempt = body.get("attempt").and_then(Value::as_u64).unwrap_or(0);
    let mut out = String::new();
    match kind {
        "run_started" => {
            let _ = writeln!(out, "run started: {}", text("workflow"));
        }
        "step_started" => {
            let _ = writeln!(out, "{step}: attempt {attempt} started");
        }
        "step_succeeded" => {
            let _ = writeln!(
                out,
                "{step}: attempt {attempt} succeeded: {}",
                body["output"]
            );
        }
        "step_failed" => {
            let _ = writeln!(
                out,
                "{step}: attempt {attempt} failed ({}): {}",
                text("kind"),
                text("message")
            );
        }
        "step_retrying" => {
            let _ = writeln!(out, "{step}: retrying in {}ms", body["delay_ms"]);
        }
        "step_finished" => {
            let _ = writeln!(out, "{step}: {}", text("status"));
        }
        "step_skipped" => {
            let _ = writeln!(out, "{step}: skipped: {}", text("reason"));
        }
        "step_output" => {
            for log in body["logs"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    out,
                    "{step}: [{}] {}",
                    log["level"].as_str().unwrap_or("info"),
                    log["message"].as_str().unwrap_or("")
                );
            }
            for stream in ["stdout", "stderr"] {
                for line in text(stream).lines() {
                    let _ = writeln!(out, "{step}: {stream}: {line}");
                }
            }
        }
        "route_taken" => {
            let _ = writeln!(
                out,
                "{} -> {} (on {})",
                text("from"),
                text("to"),
                text("on")
            );
        }
        "run_finished" => {
            let _ = writeln!(out, "run finished: {}", text("status"));
        }
        other => {
            let _ = writeln!(out, "{other}: {body}");
        }
    }
    out
}
