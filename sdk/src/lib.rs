//! Write wfhost modules in Rust.
//!
//! A module is a WebAssembly component with its own WIT world. The world
//! includes `wfhost:module/imports` and exports the module's actions:
//!
//! ```wit
//! package my:greeter@0.1.0;
//!
//! world greeter {
//!     include wfhost:module/imports@0.1.0;
//!     use wfhost:module/types@0.1.0.{action-error};
//!
//!     /// Greet someone by name.
//!     export hello: func(name: string) -> result<string, action-error>;
//! }
//! ```
//!
//! Generate the bindings with [`generate!`], which points the wfhost
//! interfaces at this crate so the types are shared, and use the helpers here:
//!
//! ```text
//! wfhost_sdk::generate!(world: "my:greeter/greeter", path: "wit");
//! ```
//!
//! See `sdk/README.md` for the complete example and `wit/README.md` for the
//! contract.

// The glue wit-bindgen generates is `unsafe`; the code written here has none.
#![allow(unsafe_code, clippy::too_many_arguments)]

wit_bindgen::generate!({
    path: "../wit",
    world: "wfhost:module/imports",
    // `action-error` is used by modules' exports, not by the imports.
    generate_unused_types: true,
});

/// The generated bindings of the `wfhost:module` interfaces, for `with:`.
pub mod wit {
    pub use super::wfhost::module::{log, progress, types};
}

pub use wit::types::ActionError;

/// Generate a module's bindings with `wit_bindgen::generate!`, sharing this
/// crate's bindings of the wfhost interfaces (so every module has the same
/// `ActionError`). `path` is relative to the module's `Cargo.toml`: a `wit`
/// folder with the wfhost package in `wit/deps/wfhost/`, or a list naming the
/// wfhost package first and the module's own WIT second:
///
/// ```text
/// wfhost_sdk::generate!(world: "example:greeter/greeter", path: "wit");
/// ```
///
/// The module crate depends on `wit-bindgen` too (the generated code uses it).
#[macro_export]
macro_rules! generate {
    (world: $world:literal, path: $path:tt $(,)?) => {
        ::wit_bindgen::generate!({
            world: $world,
            path: $path,
            with: {
                "wfhost:module/types@0.1.0": wfhost_sdk::wit::types,
                "wfhost:module/log@0.1.0": wfhost_sdk::wit::log,
                "wfhost:module/progress@0.1.0": wfhost_sdk::wit::progress,
            },
        });
    };
}

impl ActionError {
    /// A permanent failure: retrying will not help.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            retryable: false,
            details: None,
        }
    }

    /// A transient failure: the default retry policy tries again.
    pub fn retryable(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            retryable: true,
            ..Self::new(code, message)
        }
    }

    /// Attach details; JSON text is kept as structured JSON by the host.
    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }
}

/// Structured logging into the run's journal.
///
/// Inside a component these call the host; in a native build (a module's own
/// unit tests) they write to stderr, so module logic can be tested natively.
pub mod log {
    pub use super::wit::log::Level;

    /// Log `message` at `level` with key/value `fields`.
    pub fn with_fields(level: Level, message: &str, fields: &[(&str, &str)]) {
        #[cfg(target_family = "wasm")]
        {
            let fields: Vec<(String, String)> = fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            super::wit::log::log(level, message, &fields);
        }
        #[cfg(not(target_family = "wasm"))]
        {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("[{level:?}] {message} {fields:?}");
            }
        }
    }

    pub fn trace(message: impl AsRef<str>) {
        with_fields(Level::Trace, message.as_ref(), &[]);
    }

    pub fn debug(message: impl AsRef<str>) {
        with_fields(Level::Debug, message.as_ref(), &[]);
    }

    pub fn info(message: impl AsRef<str>) {
        with_fields(Level::Info, message.as_ref(), &[]);
    }

    pub fn warn(message: impl AsRef<str>) {
        with_fields(Level::Warn, message.as_ref(), &[]);
    }

    pub fn error(message: impl AsRef<str>) {
        with_fields(Level::Error, message.as_ref(), &[]);
    }
}

/// Report progress of a long action: `done` of `total` units (when known).
pub fn progress(done: u64, total: Option<u64>, message: &str) {
    #[cfg(target_family = "wasm")]
    wit::progress::report(done, total, message);
    #[cfg(not(target_family = "wasm"))]
    let _ = (done, total, message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_error_constructors() {
        let permanent = ActionError::new("not-found", "no such file");
        assert!(!permanent.retryable);
        assert_eq!(permanent.details, None);

        let transient =
            ActionError::retryable("busy", "try later").with_details(r#"{"after_ms": 50}"#);
        assert!(transient.retryable);
        assert_eq!(transient.code, "busy");
        assert_eq!(transient.details.as_deref(), Some(r#"{"after_ms": 50}"#));
    }
}
