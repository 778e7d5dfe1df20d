//! Resolve and load the module a command names.

use anyhow::Context;

use crate::home::Home;
use crate::module_source;
use crate::sandbox::{Module, Runtime};

use super::exit::UsageError;

/// A runtime with the artifact cache under `home`.
pub(super) fn runtime(home: &Home) -> Result<Runtime, UsageError> {
    Ok(Runtime::new(Some(&home.component_cache()))?)
}

/// Load `reference` (bundled name or component path) into `runtime`.
pub(super) fn module(runtime: &Runtime, reference: &str) -> Result<Module, UsageError> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let source = module_source::resolve(reference, &cwd)?;
    Ok(runtime.load(&source.name, &source.bytes, &source.wit)?)
}
