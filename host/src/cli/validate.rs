//! `wfhost validate FILE`: every problem, each at its line; exit 0 when valid.

use std::path::PathBuf;

use crate::home::Home;

use super::exit::{CliError, SUCCESS};
use super::workflow_file;

#[derive(Debug, clap::Args)]
pub(super) struct ValidateArgs {
    /// The workflow file (YAML or JSON).
    file: PathBuf,
}

pub(super) fn run(home: &Home, args: &ValidateArgs) -> Result<u8, CliError> {
    let (plan, _) = workflow_file::plan(home, &args.file)?;
    let nested = match plan.child_files().len() {
        0 => String::new(),
        1 => ", 1 sub-workflow file".to_string(),
        files => format!(", {files} sub-workflow files"),
    };
    println!(
        "{}: valid workflow `{}` ({} steps{nested})",
        args.file.display(),
        plan.name,
        plan.steps.len()
    );
    if !workflow_file::print_grants(&plan) {
        println!("grants: none (every step runs with nothing granted)");
    }
    Ok(SUCCESS)
}
