//! Errors of the sandbox API. Failures *of a call* are not errors: they are
//! [`Outcome::Failure`](super::Outcome) values. These are the caller's
//! problems: a module that cannot load, an action that does not exist.

/// The engine could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the WebAssembly engine: {0}")]
pub struct RuntimeError(pub String);

/// A module that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "{name}: this is a core WebAssembly module, not a component; wrap it with `wasm-tools component new` or build for wasm32-wasip2"
    )]
    CoreModule { name: String },
    #[error("{name}: not a WebAssembly component (it does not start with the component header)")]
    NotWasm { name: String },
    #[error("{name}: the component is invalid: {reason}")]
    Invalid { name: String, reason: String },
    #[error(
        "{name}: the component imports {reason}; wfhost provides WASI 0.2 and the `wfhost:module` imports only"
    )]
    UnsupportedImport { name: String, reason: String },
}

/// A call that could not even start.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("module `{module}` has no action `{action}`{}", suggestion_text(.suggestion.as_deref(), .available))]
    UnknownAction {
        module: String,
        action: String,
        suggestion: Option<String>,
        available: Vec<String>,
    },
    #[error("action `{action}` of module `{module}` is ambiguous; name one of: {}", .candidates.join(", "))]
    AmbiguousAction {
        module: String,
        action: String,
        candidates: Vec<String>,
    },
    #[error("invalid limits: {0}")]
    Limits(String),
}

fn suggestion_text(suggestion: Option<&str>, available: &[String]) -> String {
    match suggestion {
        Some(suggestion) => format!("; did you mean `{suggestion}`?"),
        None if available.is_empty() => "; it exports no actions".to_string(),
        None => format!("; it has: {}", available.join(", ")),
    }
}
