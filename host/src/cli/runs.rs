//! Looking at runs: `wfhost list`, `wfhost status RUN`, `wfhost logs RUN`.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::anyhow;
use serde_json::{Value, json};

use crate::engine::{Event, RunStatus, StepStatus};
use crate::home::Home;
use crate::store::{self, Durability, RunRecord, RunStore};

use super::exit::{CliError, SUCCESS};
use super::report;

#[derive(Debug, clap::Args)]
pub(super) struct ListArgs {
    /// Only runs with this status: queued, running, waiting, succeeded, failed, paused, cancelled, interrupted.
    #[arg(long)]
    status: Option<String>,
    /// Show sub-workflows' runs under the runs that started them.
    #[arg(long)]
    tree: bool,
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
    /// Print each event as one JSON object per line, with its journal
    /// sequence number (`seq`) and time (`time`, RFC 3339).
    #[arg(long)]
    json: bool,
}

fn store(home: &Home) -> Result<Box<dyn RunStore>, CliError> {
    Ok(store::open(&home.database(), Durability::Normal)?)
}

/// A run's status as people read it: who holds the slot a queued run
/// waits for; a `running` run whose driver died without recording its end.
fn shown_status(store: &dyn RunStore, run: &RunRecord) -> String {
    match (run.status, &run.concurrency_key) {
        (RunStatus::Queued, Some(key)) => {
            let holders = store.slot_holders(key).unwrap_or_default();
            format!("queued ({key} held by {})", holders.join(", "))
        }
        (RunStatus::Queued, None) => {
            let since = store::now_seconds() - store::lease_ttl().as_secs_f64();
            match store.workers(since).map(|w| w.len()).unwrap_or(0) {
                0 => "queued (no `wfhost worker` is running: start one, or a server takes it once it has room under its --max-runs)".into(),
                1 => "queued (for the worker that is running)".into(),
                workers => format!("queued (for one of the {workers} workers running)"),
            }
        }
        (status, _) if status.is_active() && !run.is_driven() => {
            format!("{status} (driver gone: resume it)")
        }
        (RunStatus::Waiting, _) => {
            let steps: Vec<String> = store
                .steps(&run.id)
                .unwrap_or_default()
                .into_iter()
                .filter(|step| step.status == StepStatus::Waiting)
                .map(|step| step.step)
                .collect();
            format!("waiting ({})", steps.join(", "))
        }
        _ => run.status.to_string(),
    }
}

fn age(at: f64) -> String {
    let seconds = (store::now_seconds() - at).max(0.0);
    let rounded = Duration::from_secs(seconds as u64);
    format!("{} ago", humantime::format_duration(rounded))
}

pub(super) fn list(home: &Home, args: &ListArgs) -> Result<u8, CliError> {
    let status = match args.status.as_deref() {
        None => None,
        Some(text) => Some(RunStatus::parse(text).ok_or_else(|| {
            CliError(anyhow!(
                "unknown status `{text}`; one of: {}",
                RunStatus::ALL.map(RunStatus::as_str).join(", ")
            ))
        })?),
    };
    let store = store(home)?;
    let runs = store.runs(status)?;
    if args.json {
        let list: Vec<Value> = runs
            .iter()
            .map(|run| {
                json!({
                    "id": run.id, "workflow": run.name, "status": run.status, "path": run.path,
                    "created_at": run.created_at, "updated_at": run.updated_at, "error": run.error,
                    "parent": parent_json(run),
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
    // (run, depth): flat, or each child right under its parent.
    let rows: Vec<(&RunRecord, usize)> = if args.tree {
        tree(&runs)
    } else {
        runs.iter().map(|run| (run, 0)).collect()
    };
    let ids: Vec<String> = rows
        .iter()
        .map(|(run, depth)| match depth {
            0 => run.id.clone(),
            _ => format!("{}└ {}", "  ".repeat(depth - 1), run.id),
        })
        .collect();
    let id_width = ids
        .iter()
        .map(|id| id.chars().count())
        .max()
        .unwrap_or(8)
        .max(8);
    let width = runs.iter().map(|r| r.name.len()).max().unwrap_or(8).max(8);
    let statuses: Vec<String> = rows
        .iter()
        .map(|(run, _)| shown_status(store.as_ref(), run))
        .collect();
    let status_width = statuses.iter().map(String::len).max().unwrap_or(6).max(6);
    println!(
        "{:<id_width$}  {:<width$}  {:<status_width$}  STARTED",
        "RUN", "WORKFLOW", "STATUS"
    );
    for (((run, _), id), status) in rows.iter().zip(&ids).zip(&statuses) {
        let pad = id_width - id.chars().count();
        println!(
            "{id}{:pad$}  {:<width$}  {:<status_width$}  {}",
            "",
            run.name,
            status,
            age(run.created_at)
        );
    }
    Ok(SUCCESS)
}

/// `runs` (newest first) with each run's children under it, oldest
/// first, and their depth; a child whose parent is not listed is a root.
fn tree(runs: &[RunRecord]) -> Vec<(&RunRecord, usize)> {
    let listed: std::collections::HashSet<&str> = runs.iter().map(|r| r.id.as_str()).collect();
    let mut children: std::collections::HashMap<&str, Vec<&RunRecord>> =
        std::collections::HashMap::new();
    for run in runs.iter().rev() {
        if let Some(parent) = run
            .parent
            .as_ref()
            .filter(|p| listed.contains(p.run.as_str()))
        {
            children.entry(parent.run.as_str()).or_default().push(run);
        }
    }
    let mut rows = Vec::new();
    let mut stack: Vec<(&RunRecord, usize)> = runs
        .iter()
        .filter(|run| {
            run.parent
                .as_ref()
                .is_none_or(|p| !listed.contains(p.run.as_str()))
        })
        .rev()
        .map(|run| (run, 0))
        .collect();
    while let Some((run, depth)) = stack.pop() {
        rows.push((run, depth));
        if let Some(kids) = children.get(run.id.as_str()) {
            stack.extend(kids.iter().rev().map(|kid| (*kid, depth + 1)));
        }
    }
    rows
}

fn parent_json(run: &RunRecord) -> Value {
    run.parent
        .as_ref()
        .map_or(Value::Null, |p| json!({ "run": p.run, "step": p.step }))
}

pub(super) fn status(home: &Home, args: &StatusArgs) -> Result<u8, CliError> {
    let store = store(home)?;
    let run = store.run(&args.run)?;
    let steps = store.steps(&run.id)?;
    let children = store.children(&run.id)?;
    if args.json {
        let children: Vec<Value> = children
            .iter()
            .map(|c| {
                json!({
                    "id": c.id, "workflow": c.name, "step": c.parent.as_ref().map(|p| &p.step),
                    "status": c.status, "error": c.error, "outputs": c.outputs,
                })
            })
            .collect();
        let steps: Vec<Value> = steps
            .iter()
            .map(|s| {
                json!({
                    "id": s.step, "status": s.status, "attempts": s.attempts,
                    "duration_ms": s.duration_ms, "fuel": s.fuel, "memory_peak_bytes": s.memory_peak_bytes,
                    "outcome": s.kind.clone().unwrap_or_else(|| s.status.to_string()),
                    "output": s.output, "failure": s.failure,
                })
            })
            .collect();
        let report = json!({
            "id": run.id, "workflow": run.name, "path": run.path, "status": run.status,
            "driven": run.is_driven(), "error": run.error, "inputs": run.inputs, "steps": steps,
            "outputs": run.outputs, "parent": parent_json(&run), "children": children,
            "trace_id": run.trace_id, "trace_parent": run.trace_parent,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(SUCCESS);
    }
    let mut out = format!(
        "run {}: {} ({})\nstatus: {}\nstarted {}, updated {}\n",
        run.id,
        run.name,
        run.path,
        shown_status(store.as_ref(), &run),
        age(run.created_at),
        age(run.updated_at)
    );
    if let Some(parent) = &run.parent {
        let _ = writeln!(
            out,
            "sub-workflow of run {} (step `{}`)",
            parent.run, parent.step
        );
    }
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
        "\n{:<width$}  {:<10}  {:>8}  {:>10}  {:>12}  {:>10}  OUTCOME",
        "STEP", "STATUS", "ATTEMPTS", "DURATION", "FUEL", "MEMORY"
    );
    for step in &steps {
        let _ = writeln!(
            out,
            "{:<width$}  {:<10}  {:>8}  {:>8.1}ms  {:>12}  {:>10}  {}",
            step.step,
            step.status,
            step.attempts,
            step.duration_ms,
            step.fuel,
            crate::units::format_bytes(step.memory_peak_bytes),
            step.kind.as_deref().unwrap_or("-")
        );
    }
    if !children.is_empty() {
        let width = children
            .iter()
            .filter_map(|c| c.parent.as_ref().map(|p| p.step.len()))
            .max()
            .unwrap_or(4)
            .max(4);
        // A waiting child says what it waits for.
        let statuses: Vec<String> = children
            .iter()
            .map(|child| shown_status(store.as_ref(), child))
            .collect();
        let status_width = statuses.iter().map(String::len).max().unwrap_or(6).max(6);
        let _ = writeln!(
            out,
            "\nchild runs:\n{:<width$}  {:<8}  {:<status_width$}  WORKFLOW",
            "STEP", "RUN", "STATUS"
        );
        for (child, status) in children.iter().zip(&statuses) {
            let _ = writeln!(
                out,
                "{:<width$}  {:<8}  {:<status_width$}  {}",
                child.parent.as_ref().map_or("", |p| p.step.as_str()),
                child.id,
                status,
                child.name
            );
        }
    }
    let modules = store.run_modules(&run.id)?;
    let names: Vec<&str> = modules.iter().map(|(name, _)| name.as_str()).collect();
    let open = super::circuit::open_of(store.circuits()?, &names);
    if !open.is_empty() {
        let _ = writeln!(
            out,
            "\nopen circuit breakers (`wfhost circuit reset KEY` closes one):"
        );
        for circuit in &open {
            let _ = write!(out, "  {}", super::circuit::describe(circuit));
        }
    }
    let resumable = matches!(
        run.status,
        RunStatus::Paused | RunStatus::Interrupted | RunStatus::Failed
    ) || (run.status.is_active() && !run.is_driven());
    if resumable {
        let _ = writeln!(out, "\ncontinue it with: wfhost resume {}", run.id);
    }
    print!("{out}");
    Ok(SUCCESS)
}

pub(super) fn logs(home: &Home, args: &LogsArgs) -> Result<u8, CliError> {
    let store = store(home)?;
    let run = store.run(&args.run)?;
    let mut after = 0;
    loop {
        for record in store.events(&run.id, args.step.as_deref(), after)? {
            after = record.seq;
            let text = if args.json {
                let mut body = record.body;
                body["seq"] = record.seq.into();
                body["time"] = crate::units::rfc3339(record.at).into();
                body["trace_id"] = run.trace_id.clone().into();
                format!("{body}\n")
            } else {
                // The renderer of `wfhost run`, on the stored event.
                match serde_json::from_value::<Event>(record.body) {
                    Ok(event) => report::human(&event, false, &run.id),
                    Err(_) => format!("{}: (stored truncated: too large to show)\n", record.kind),
                }
            };
            print!("{text}");
        }
        if !args.follow || !store.run(&run.id)?.is_driven() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if !args.json && args.step.is_none() {
        child_logs(store.as_ref(), &run.id, 1)?;
    }
    Ok(SUCCESS)
}

/// The events of run `id`'s children, each under a line naming it,
/// indented by `depth`, their own children below them.
fn child_logs(store: &dyn RunStore, id: &str, depth: usize) -> Result<(), CliError> {
    let indent = "    ".repeat(depth);
    for child in store.children(id)? {
        let step = child.parent.as_ref().map_or("", |p| p.step.as_str());
        let mut text = format!(
            "{indent}run {}: {} (sub-workflow of step `{step}`): {}\n",
            child.id, child.name, child.status
        );
        for record in store.events(&child.id, None, 0)? {
            if let Ok(event) = serde_json::from_value::<Event>(record.body)
                && !matches!(event, Event::RunStarted { .. })
            {
                for line in report::human(&event, false, &child.id).lines() {
                    let _ = writeln!(text, "{indent}{line}");
                }
            }
        }
        print!("{text}");
        child_logs(store, &child.id, depth + 1)?;
    }
    Ok(())
}
