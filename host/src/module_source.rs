//! Turning a module reference from the command line or a workflow into
//! component bytes: a bundled module's name, or a path to a `.wasm` or
//! `.wat` file.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::bundled;
use crate::sandbox::WitFile;

/// A module's component bytes (binary), with its name for messages.
#[derive(Debug)]
pub struct ModuleSource {
    pub name: String,
    pub bytes: Cow<'static, [u8]>,
    /// WIT sources shipped with the module (dependencies first), for docs.
    pub wit: Vec<WitFile>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModuleSourceError {
    #[error("no module named `{name}`{hint}")]
    NotFound { name: String, hint: String },
    #[error("cannot read module file {}: {error}", .path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: invalid WebAssembly text: {message}", .path.display())]
    Wat { path: PathBuf, message: String },
}

/// Does `reference` look like a path rather than a module name?
pub fn is_path(reference: &str) -> bool {
    reference.contains('/')
        || reference.contains('\\')
        || reference.ends_with(".wasm")
        || reference.ends_with(".wat")
}

/// The name a module loaded from `reference` has (what a run pins it by):
/// a path's file stem, or the name without its `@version`.
pub fn name_of(reference: &str) -> Cow<'_, str> {
    if is_path(reference) {
        stem(Path::new(reference))
    } else {
        Cow::Borrowed(
            reference
                .split_once('@')
                .map_or(reference, |(name, _)| name),
        )
    }
}

fn stem(path: &Path) -> Cow<'_, str> {
    path.file_stem().map_or_else(
        || Cow::Owned(path.display().to_string()),
        |stem| stem.to_string_lossy(),
    )
}

/// Resolve `reference`: a path (relative to `base`) or a bundled module name.
pub fn resolve(reference: &str, base: &Path) -> Result<ModuleSource, ModuleSourceError> {
    if is_path(reference) {
        let path = Path::new(reference);
        // Keep a relative path as written so messages show what the user typed.
        let path = if path.is_relative() && base != Path::new(".") && base != Path::new("") {
            base.join(path)
        } else {
            path.to_path_buf()
        };
        return from_file(&path);
    }
    if let Some(module) = bundled::find(reference) {
        return Ok(ModuleSource {
            name: reference.to_string(),
            bytes: Cow::Borrowed(module.component),
            wit: module
                .wit
                .iter()
                .map(|(path, text)| WitFile {
                    path: path.to_string(),
                    text: text.to_string(),
                })
                .collect(),
        });
    }
    let names: Vec<&str> = bundled::names().collect();
    let hint = match crate::suggest::closest(reference, names.iter().copied()) {
        Some(name) => format!("; did you mean `{name}`?"),
        None => format!(
            "; bundled modules: {}. To use a component file, give its path (./{reference}.wasm)",
            names.join(", ")
        ),
    };
    Err(ModuleSourceError::NotFound {
        name: reference.to_string(),
        hint,
    })
}

/// Read a component file; `.wat` text is assembled to binary.
pub fn from_file(path: &Path) -> Result<ModuleSource, ModuleSourceError> {
    let raw = std::fs::read(path).map_err(|error| ModuleSourceError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let bytes = if raw.starts_with(b"\0asm") {
        raw
    } else {
        let wat_error = |message: String| ModuleSourceError::Wat {
            path: path.to_path_buf(),
            message,
        };
        let text = std::str::from_utf8(&raw).map_err(|_| {
            wat_error("the file is neither WebAssembly binary nor UTF-8 text".into())
        })?;
        wat::parse_str(text).map_err(|mut error| {
            error.set_path(path);
            wat_error(error.to_string())
        })?
    };
    let name = stem(path).into_owned();
    Ok(ModuleSource {
        name,
        bytes: Cow::Owned(bytes),
        wit: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::name_of;

    #[test]
    fn a_reference_names_its_module_as_loading_it_does() {
        assert_eq!(name_of("system"), "system");
        assert_eq!(name_of("testing@1.2.0"), "testing");
        assert_eq!(name_of("./probe.wasm"), "probe");
        assert_eq!(name_of("../mods/checked.wat"), "checked");
    }
}
