//! `wfhost validate FILE`: every problem, each at its line; exit 0 when valid.

use std::path::PathBuf;

use crate::home::Home;

use super::exit::{SUCCESS, UsageError};
use super::workflow_file;

#[derive(Debug, clap::Args)]
pub(super) struct ValidateArgs {
    /// The workflow file (YAML or JSON).
    file: PathBuf,
}

pub(super) fn run(home: &Home, args: &ValidateArgs) -> Result<u8, UsageError> {
    let (plan, _) = workflow_file::plan(home, &args.file)?;
    println!(
        "{}: valid workflow `{}` ({} steps)",
        args.file.display(),
        plan.name,
        plan.steps.len()
    );
    // What each step may reach beyond its sandbox: the security review.
    let granted: Vec<_> = plan
        .steps
        .iter()
        .filter(|step| !step.permissions.is_empty())
        .collect();
    if granted.is_empty() {
        println!("grants: none (every step runs with nothing granted)");
    } else {
        println!("grants (everything else is denied):");
        for step in granted {
            println!("  {}: {}", step.id, step.permissions);
        }
    }
    Ok(SUCCESS)
}
