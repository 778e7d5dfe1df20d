//! `wfhost run FILE`: validate, plan, execute, report.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use serde_json::{Map, Value};

use crate::engine::{self, inputs};
use crate::home::Home;

use super::exit::{FAILURE, SUCCESS, UsageError};
use super::report::{self, Reporter};
use super::workflow_file;

#[derive(Debug, clap::Args)]
pub(super) struct RunArgs {
    /// The workflow file (YAML or JSON).
    file: PathBuf,
    /// A workflow input, `NAME=VALUE` (JSON for non-string inputs). Repeatable.
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    inputs: Vec<String>,
    /// A JSON object of inputs; `--input` values override it.
    #[arg(long, value_name = "FILE.json")]
    inputs_file: Option<PathBuf>,
    /// Print every event as one JSON object per line.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(home: &Home, args: &RunArgs) -> Result<u8, UsageError> {
    let (plan, _catalog) = workflow_file::plan(home, &args.file)?;
    let given = given_inputs(&plan.inputs, args)?;
    let inputs = inputs::resolve(&plan.inputs, &given).map_err(|problems| {
        UsageError(anyhow::anyhow!(
            "invalid inputs:\n  {}",
            problems.join("\n  ")
        ))
    })?;
    let mut reporter = if args.json {
        Reporter::Json
    } else {
        Reporter::Human {
            fancy: std::io::stdout().is_terminal(),
        }
    };
    let tokio = super::tokio_runtime()?;
    let plan = Arc::new(plan);
    let run_id = engine::new_run_id();
    // The engine runs as a task on a worker thread: the attempts it spawns
    // then start on that worker without a cross-thread wake-up (4× less
    // per-step latency than driving it from `block_on`).
    let summary = tokio
        .block_on(
            tokio.spawn(async move { engine::run(plan, inputs, run_id, &mut reporter).await }),
        )
        .context("the engine task failed")?;
    if !args.json {
        print!("{}", report::summary(&summary));
    }
    Ok(if summary.succeeded() {
        SUCCESS
    } else {
        FAILURE
    })
}

fn given_inputs(
    declared: &indexmap::IndexMap<String, crate::workflow::model::InputSpec>,
    args: &RunArgs,
) -> Result<Map<String, Value>, UsageError> {
    let mut given = match &args.inputs_file {
        None => Map::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --inputs-file {}", path.display()))?;
            match serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", path.display()))?
            {
                Value::Object(map) => map,
                _ => {
                    return Err(UsageError(anyhow::anyhow!(
                        "{} must hold a JSON object of inputs",
                        path.display()
                    )));
                }
            }
        }
    };
    for assignment in &args.inputs {
        let (name, value) = inputs::parse_assignment(declared, assignment)
            .map_err(|problem| UsageError(anyhow::anyhow!("--input {problem}")))?;
        given.insert(name, value);
    }
    Ok(given)
}
