//! Workflows: a file is read into a [`model::Workflow`] (positions kept),
//! validated, and planned into a [`plan::Plan`] the engine runs.
//!
//! This module does no I/O beyond reading workflow files (the one given,
//! and the sub-workflows it names); modules are loaded through the
//! [`catalog`](crate::catalog) the caller passes in.

pub mod diagram;
pub mod failure_kind;
pub mod graph;
pub mod model;
pub mod plan;
pub mod read;
pub mod schedule;
pub mod template;
pub mod tree;
pub mod validate;
pub mod wit_type;

pub use failure_kind::StepFailureKind;
pub use plan::Plan;
pub use validate::Checked;

use crate::catalog::Catalog;
use crate::diagnostics::{Diagnostics, Source};

/// Read the workflow in `source` into the model, or every problem found.
pub fn parse(source: &Source) -> Result<model::Workflow, Diagnostics> {
    match read(source) {
        (Some(workflow), problems) if !problems.has_errors() => Ok(workflow),
        (_, problems) => Err(problems),
    }
}

/// Read as much of the workflow as is well-formed, with the problems found.
fn read(source: &Source) -> (Option<model::Workflow>, Diagnostics) {
    let node = match tree::parse(&source.text) {
        Ok(node) => node,
        Err(problems) => return (None, problems),
    };
    let mut reader = read::Reader::default();
    let workflow = <model::Workflow as read::FromNode>::from_node(&node, &mut reader);
    (workflow, reader.problems)
}

/// Parse and validate: the plan when the workflow is valid, and every
/// diagnostic (errors and warnings) either way. A workflow with some
/// malformed parts is still validated, so one run shows every problem.
pub fn check(source: &Source, catalog: &Catalog) -> Checked {
    check_nested(
        source,
        catalog,
        &validate::Nesting::starting_at(&source.path),
    )
}

/// [`check`] for a workflow met as a sub-workflow while checking the
/// files `nesting` has seen.
pub(crate) fn check_nested(
    source: &Source,
    catalog: &Catalog,
    nesting: &validate::Nesting,
) -> Checked {
    let (workflow, mut diagnostics) = read(source);
    let Some(workflow) = workflow else {
        return Checked {
            plan: None,
            diagnostics: diagnostics.sorted(),
        };
    };
    let checked = validate::validate(source, &workflow, catalog, nesting);
    let malformed = diagnostics.has_errors();
    diagnostics.extend(checked.diagnostics);
    Checked {
        plan: checked.plan.filter(|_| !malformed),
        diagnostics: diagnostics.sorted(),
    }
}
