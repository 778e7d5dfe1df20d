//! Resolve and load the module a command names.

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
    // Relative paths resolve against the current directory, as written.
    let source = module_source::resolve(reference, std::path::Path::new("."))?;
    Ok(runtime.load(&source.name, &source.bytes, &source.wit)?)
}
