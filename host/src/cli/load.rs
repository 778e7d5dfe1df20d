//! Resolve and load the modules a command names.

use crate::catalog::{Catalog, Entry};
use crate::home::Home;
use crate::registry::Registry;
use crate::sandbox::Runtime;

use super::exit::CliError;

/// A runtime with the artifact cache under `home`.
pub(super) fn runtime(home: &Home) -> Result<Runtime, CliError> {
    Ok(Runtime::new(Some(&home.component_cache()))?)
}

/// The modules installed under `home`.
pub(super) fn registry(home: &Home) -> Registry {
    Registry::new(home.modules())
}

/// A catalog of bundled, installed and file modules.
pub(super) fn catalog(home: &Home) -> Result<Catalog, CliError> {
    Ok(Catalog::new(runtime(home)?).with_registry(registry(home)))
}

/// Load `reference` (a name, `name@version`, or a component path relative to
/// the current directory), printing any warning about how it resolved.
pub(super) fn entry(catalog: &Catalog, reference: &str) -> Result<Entry, CliError> {
    let entry = catalog
        .load(reference, std::path::Path::new("."))
        .map_err(|problem| CliError(anyhow::anyhow!(problem)))?;
    if let Some(warning) = &entry.warning {
        eprintln!("warning: {warning}");
    }
    Ok(entry)
}
