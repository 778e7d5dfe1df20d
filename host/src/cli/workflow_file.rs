//! Reading and checking the workflow file a command names, printing its
//! diagnostics: shared by `run`, `validate` and `graph`.

use std::path::Path;

use anyhow::Context;

use crate::catalog::Catalog;
use crate::home::Home;
use crate::workflow::{self, Plan, Source};

use super::exit::UsageError;
use super::load;

/// The plan of a valid workflow, with warnings printed; errors printed and
/// turned into a usage error (exit 2).
pub(super) fn plan(home: &Home, path: &Path) -> Result<(Plan, Catalog), UsageError> {
    let source = Source::read(path)
        .with_context(|| format!("cannot read workflow file {}", path.display()))?;
    let catalog = Catalog::new(load::runtime(home)?);
    let checked = workflow::check(&source, &catalog);
    if checked.diagnostics.iter().next().is_some() {
        eprint!("{}", source.render(&checked.diagnostics));
    }
    match checked.plan {
        Some(plan) => Ok((plan, catalog)),
        None => {
            let count = checked.diagnostics.error_count();
            Err(UsageError(anyhow::anyhow!(
                "{} is not a valid workflow: {count} error{}",
                path.display(),
                if count == 1 { "" } else { "s" }
            )))
        }
    }
}
