//! Workflows: a file is read into a [`model::Workflow`] (positions kept),
//! validated, and planned into a [`plan::Plan`] the engine runs.
//!
//! This module does no I/O beyond reading the workflow file; modules are
//! loaded through the [`catalog`](crate::catalog) the caller passes in.

pub mod diagnostic;
pub mod graph;
pub mod model;
pub mod plan;
pub mod read;
pub mod source;
pub mod span;
pub mod template;
pub mod tree;
pub mod validate;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use plan::Plan;
pub use source::Source;
pub use validate::Checked;

use crate::catalog::Catalog;

/// Read the workflow in `source` into the model, or every problem found.
pub fn parse(source: &Source) -> Result<model::Workflow, Diagnostics> {
    let node = tree::parse(&source.text)?;
    let mut reader = read::Reader::default();
    let workflow = <model::Workflow as read::FromNode>::from_node(&node, &mut reader);
    match workflow {
        Some(workflow) if !reader.problems.has_errors() => Ok(workflow),
        _ => Err(reader.problems.sorted()),
    }
}

/// Parse and validate: the plan when the workflow is valid, and every
/// diagnostic (errors and warnings) either way.
pub fn check(source: &Source, catalog: &Catalog) -> Checked {
    match parse(source) {
        Ok(workflow) => validate::validate(source, &workflow, catalog),
        Err(diagnostics) => Checked {
            plan: None,
            diagnostics,
        },
    }
}
