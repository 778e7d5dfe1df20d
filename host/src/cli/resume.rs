//! `wfhost resume RUN [--from STEP] [--allow-changed]`: continue a run that
//! crashed, was paused, interrupted or failed, reusing recorded results.

use anyhow::anyhow;
use serde_json::{Map, Value};

use crate::diagnostics::Source;
use crate::engine::{Replay, RunStatus, StepStatus};
use crate::home::Home;
use crate::sandbox::Digest;
use crate::store::{Durability, Store};
use crate::suggest::closest;
use crate::workflow::tree::MAX_FILE_BYTES;

use super::drive::{self, Drive};
use super::exit::UsageError;
use super::workflow_file;

#[derive(Debug, clap::Args)]
pub(super) struct ResumeArgs {
    /// The run id (`wfhost list` shows them).
    run: String,
    /// Re-run from this step: results recorded before its first attempt are
    /// kept, it and everything after run again. Works on finished runs too.
    #[arg(long, value_name = "STEP")]
    from: Option<String>,
    /// Resume even though the workflow file or a module changed since the
    /// run started (recorded steps must still exist).
    #[arg(long)]
    allow_changed: bool,
    /// Print every event as one JSON object per line.
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value = "normal")]
    durability: Durability,
}

pub(super) fn run(home: &Home, args: &ResumeArgs) -> Result<u8, UsageError> {
    let mut store = Store::open(&home.database(), args.durability)?;
    let run = store.run(&args.run)?;
    let id = &run.id;
    if run.status == RunStatus::Succeeded && args.from.is_none() {
        return Err(UsageError(anyhow!(
            "run {id} succeeded; nothing to resume (re-run part of it with --from STEP)"
        )));
    }
    if run.status == RunStatus::Cancelled && args.from.is_none() {
        return Err(UsageError(anyhow!(
            "run {id} was cancelled; it is not resumed unless you say where from: --from STEP"
        )));
    }
    if run.is_driven() {
        return Err(UsageError(anyhow!(
            "run {id} is being driven by process {}; `wfhost pause {id}` it first",
            run.driver_pid.unwrap_or_default()
        )));
    }
    // The definition the run started with is pinned by its digest.
    let source = match Source::read(std::path::Path::new(&run.path), MAX_FILE_BYTES) {
        Ok(source) => source,
        Err(error) => {
            eprintln!(
                "note: cannot read {} ({error}); resuming with the definition recorded when the run started",
                run.path
            );
            Source::new(&run.path, store.workflow_text(&run.workflow_digest)?)
        }
    };
    let digest = Digest::of(source.text.as_bytes()).to_hex();
    if digest != run.workflow_digest && !args.allow_changed {
        return Err(UsageError(anyhow!(
            "{} changed since run {id} started (sha256 {} then, {} now); resuming could mix two definitions. \
             Pass --allow-changed to resume with the file as it is now",
            run.path,
            short(&run.workflow_digest),
            short(&digest)
        )));
    }
    let (plan, _catalog) = workflow_file::plan_source(home, &source)?;
    let modules = workflow_file::module_digests(&plan);
    let recorded_modules = store.run_modules(id)?;
    if modules != recorded_modules && !args.allow_changed {
        let changed: Vec<String> = recorded_modules
            .iter()
            .filter(|recorded| !modules.contains(recorded))
            .map(|(name, digest)| format!("{name} (was sha256 {})", short(digest)))
            .collect();
        return Err(UsageError(anyhow!(
            "modules changed since run {id} started: {}. Pass --allow-changed to resume with the modules as they are now",
            changed.join(", ")
        )));
    }
    let attempts = store.attempts(id)?;
    if let Some(missing) = attempts
        .iter()
        .find(|a| !plan.by_id.contains_key(&a.key.step))
    {
        return Err(UsageError(anyhow!(
            "run {id} recorded step `{}`, which the workflow no longer has; resume cannot continue it",
            missing.key.step
        )));
    }
    let cutoff = match &args.from {
        None => i64::MAX,
        Some(step) => {
            if !plan.by_id.contains_key(step) {
                let hint = closest(step, plan.by_id.keys().map(String::as_str))
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                return Err(UsageError(anyhow!(
                    "the workflow has no step `{step}`{hint}"
                )));
            }
            attempts
                .iter()
                .filter(|a| &a.key.step == step)
                .map(|a| a.started)
                .min()
                .ok_or_else(|| {
                    UsageError(anyhow!(
                        "step `{step}` never ran in run {id}; nothing to re-run from"
                    ))
                })?
        }
    };
    // A failed or cancelled run re-runs the steps that failed.
    let failed_steps: Vec<String> =
        if matches!(run.status, RunStatus::Failed | RunStatus::Cancelled) {
            store
                .steps(id)?
                .into_iter()
                .filter(|s| matches!(s.status, StepStatus::Failed | StepStatus::Cancelled))
                .map(|s| s.step)
                .collect()
        } else {
            Vec::new()
        };
    let mut replay = Replay::default();
    for attempt in attempts {
        let rerun = attempt.result.outcome.is_err() && failed_steps.contains(&attempt.key.step);
        if attempt.seq < cutoff && attempt.complete && !rerun {
            replay.insert(attempt.key, attempt.result);
        }
    }
    store.claim(id, &modules)?;
    drop(store);
    let inputs = match run.inputs {
        Value::Object(inputs) => inputs,
        _ => Map::new(),
    };
    drive::drive(
        home,
        Drive {
            plan,
            workspace: run.workspace.into(),
            inputs,
            run_id: id.clone(),
            replay,
            json: args.json,
            durability: args.durability,
        },
    )
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}
