//! Reading and checking the workflow file a command names, printing its
//! diagnostics: shared by `run`, `validate` and `graph`.

use std::path::Path;

use anyhow::Context;

use crate::catalog::Catalog;
use crate::diagnostics::Source;
use crate::home::Home;
use crate::workflow::tree::MAX_FILE_BYTES;
use crate::workflow::{self, Plan};

use super::exit::CliError;
use super::load;

/// The plan of a valid workflow, with warnings printed; errors printed and
/// turned into a usage error (exit 2).
pub(super) fn plan(home: &Home, path: &Path) -> Result<(Plan, Catalog), CliError> {
    let source = Source::read(path, MAX_FILE_BYTES)
        .with_context(|| format!("cannot read workflow file {}", path.display()))?;
    plan_source(home, &source)
}

/// The plan of the workflow in `source` (see [`plan`]). When a lockfile
/// lies beside the workflow, its modules load exactly as locked.
pub(super) fn plan_source(home: &Home, source: &Source) -> Result<(Plan, Catalog), CliError> {
    let catalog = load::catalog(home)?
        .locked_for(&source.path)
        .map_err(|e| CliError(anyhow::anyhow!(e)))?;
    check(source, catalog)
}

/// The plan of the workflow in `source`, resolving modules without a lockfile.
pub(super) fn plan_unlocked(home: &Home, source: &Source) -> Result<(Plan, Catalog), CliError> {
    check(source, load::catalog(home)?)
}

fn check(source: &Source, catalog: Catalog) -> Result<(Plan, Catalog), CliError> {
    let checked = workflow::check(source, &catalog);
    if checked.diagnostics.iter().next().is_some() {
        eprint!("{}", source.render(&checked.diagnostics));
    }
    match checked.plan {
        Some(plan) => Ok((plan, catalog)),
        None => {
            let count = checked.diagnostics.error_count();
            Err(CliError(anyhow::anyhow!(
                "{} is not a valid workflow: {count} error{}",
                source.path.display(),
                if count == 1 { "" } else { "s" }
            )))
        }
    }
}

/// Print what each step may reach beyond its sandbox (the security review),
/// when any step is granted anything; returns whether anything was printed.
pub(super) fn print_grants(plan: &Plan) -> bool {
    let granted: Vec<_> = plan
        .steps
        .iter()
        .filter(|step| !step.permissions.is_empty())
        .collect();
    if granted.is_empty() {
        return false;
    }
    println!("grants (everything else is denied):");
    for step in granted {
        println!("  {}: {}", step.id, step.permissions);
    }
    true
}
