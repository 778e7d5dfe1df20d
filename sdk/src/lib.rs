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
    pub use super::wfhost::module::{log, process, progress, types};
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
                "wfhost:module/process@0.1.0": wfhost_sdk::wit::process,
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

/// An [`ActionError`] for a file operation on `path` that failed, with a
/// stable code and what to do. Inside the sandbox a path outside every
/// granted directory looks like a missing one, so the message says both.
pub fn fs_error(path: &str, error: &std::io::Error) -> ActionError {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::NotFound => ActionError::new(
            "not-found",
            format!(
                "`{path}` does not exist, or is outside the directories this step is granted; \
                 check the path (relative to the workspace root) and the workflow's `permissions.fs`"
            ),
        ),
        // WASI reports a path leaving its directory (`..`) as EPERM (63) too.
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => not_permitted(path),
        _ if error.raw_os_error() == Some(63) => not_permitted(path),
        _ => ActionError::new("io-error", format!("`{path}`: {error}")),
    }
}

fn not_permitted(path: &str) -> ActionError {
    ActionError::new(
        "not-permitted",
        format!(
            "`{path}` is not permitted: it is outside the directories this step is granted, \
             or in one granted read-only; use a workspace-relative path and grant its directory \
             with `access: read-write` in `permissions.fs`"
        ),
    )
}

/// Files of the workspace by glob.
pub mod files {
    use super::ActionError;

    /// Directories never searched: version control, build output, dependencies.
    pub const SKIPPED_DIRS: &[&str] = &[
        ".git",
        "target",
        "node_modules",
        ".venv",
        "__pycache__",
        ".wfhost",
    ];

    /// Workspace-relative paths (`src/lib.rs`) of the files matching any of
    /// `globs` (`**/*.md`, `src/**/*.rs`), sorted. Searches from `.`, which
    /// the workflow must grant. A glob that matches nothing is an error:
    /// it is almost always a typo.
    pub fn matching(globs: &[String]) -> Result<Vec<String>, ActionError> {
        if globs.is_empty() {
            return Err(ActionError::new(
                "invalid-glob",
                "no globs given; pass at least one, such as `**/*.md`",
            ));
        }
        let mut set = globset::GlobSetBuilder::new();
        for glob in globs {
            let glob = globset::GlobBuilder::new(glob.trim_start_matches("./"))
                .literal_separator(true)
                .build()
                .map_err(|e| {
                    ActionError::new("invalid-glob", format!("`{glob}` is not a glob: {e}"))
                })?;
            set.add(glob);
        }
        let set = set
            .build()
            .map_err(|e| ActionError::new("invalid-glob", e.to_string()))?;
        let found: Vec<String> = walk(".")?
            .into_iter()
            .filter(|path| set.is_match(path))
            .collect();
        if found.is_empty() {
            return Err(ActionError::new(
                "no-files",
                format!(
                    "no file matches {}; globs are relative to the workspace root, such as `**/*.md`",
                    globs.join(", ")
                ),
            ));
        }
        Ok(found)
    }

    /// Every file under `dir` (a workspace path; `.` for the root) as a
    /// workspace-relative path, sorted, skipping [`SKIPPED_DIRS`].
    pub fn walk(dir: &str) -> Result<Vec<String>, ActionError> {
        let mut found = Vec::new();
        let mut pending = vec![dir.to_string()];
        while let Some(dir) = pending.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| super::fs_error(&dir, &e))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = if dir == "." {
                    name.clone()
                } else {
                    format!("{dir}/{name}")
                };
                match entry.file_type() {
                    Ok(kind) if kind.is_dir() && !SKIPPED_DIRS.contains(&name.as_str()) => {
                        pending.push(path);
                    }
                    Ok(kind) if kind.is_file() => found.push(path),
                    _ => {}
                }
            }
        }
        found.sort();
        Ok(found)
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

/// Running a program on the host, when the workflow grants it
/// (`permissions.run`). The program runs outside the sandbox; see
/// `wit/wfhost.wit` for what the host enforces.
///
/// ```text
/// let output = wfhost_sdk::process::Command::new("cargo").arg("test").run()?;
/// ```
///
/// In a native build (a module's own unit tests) the program runs directly,
/// with the test's environment, so module logic can be tested natively.
pub mod process {
    pub use super::wit::process::{Output, RunError};

    /// A program to run, built up and then [`run`](Command::run).
    #[derive(Debug, Clone)]
    pub struct Command(super::wit::process::Command);

    impl Command {
        pub fn new(program: impl Into<String>) -> Self {
            Self(super::wit::process::Command {
                program: program.into(),
                args: Vec::new(),
                cwd: None,
                timeout_ms: None,
                stdin: None,
            })
        }

        pub fn arg(mut self, arg: impl Into<String>) -> Self {
            self.0.args.push(arg.into());
            self
        }

        pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
            self.0.args.extend(args.into_iter().map(Into::into));
            self
        }

        /// The working directory, as the module sees it (`.`, `crates/core`).
        pub fn cwd(mut self, cwd: impl Into<String>) -> Self {
            self.0.cwd = Some(cwd.into());
            self
        }

        pub fn timeout_ms(mut self, timeout_ms: u64) -> Self {
            self.0.timeout_ms = Some(timeout_ms);
            self
        }

        pub fn stdin(mut self, text: impl Into<String>) -> Self {
            self.0.stdin = Some(text.into());
            self
        }

        /// Run it and wait. `Ok` whenever the program ran, whatever its exit code.
        pub fn run(&self) -> Result<Output, RunError> {
            #[cfg(target_family = "wasm")]
            {
                super::wit::process::run(&self.0)
            }
            #[cfg(not(target_family = "wasm"))]
            {
                native::run(&self.0)
            }
        }
    }

    impl RunError {
        /// What went wrong, in the host's words.
        pub fn message(&self) -> &str {
            match self {
                RunError::NotGranted(why) | RunError::BadCwd(why) | RunError::CannotStart(why) => {
                    why
                }
            }
        }

        /// The error as an [`ActionError`](super::ActionError) with a stable code.
        pub fn to_action_error(&self) -> super::ActionError {
            let code = match self {
                RunError::NotGranted(_) => "not-granted",
                RunError::BadCwd(_) => "bad-cwd",
                RunError::CannotStart(_) => "cannot-start",
            };
            super::ActionError::new(code, self.message())
        }
    }

    #[cfg(not(target_family = "wasm"))]
    mod native {
        use std::io::Write;
        use std::time::Instant;

        use super::{Output, RunError};

        pub(super) fn run(
            command: &super::super::wit::process::Command,
        ) -> Result<Output, RunError> {
            let started = Instant::now();
            let mut child = std::process::Command::new(&command.program);
            child
                .args(&command.args)
                .current_dir(command.cwd.as_deref().unwrap_or("."))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = child.spawn().map_err(|e| {
                RunError::CannotStart(format!("cannot start `{}`: {e}", command.program))
            })?;
            if let (Some(text), Some(mut stdin)) = (&command.stdin, child.stdin.take()) {
                let _ = stdin.write_all(text.as_bytes());
            }
            let output = child
                .wait_with_output()
                .map_err(|e| RunError::CannotStart(e.to_string()))?;
            Ok(Output {
                exit_code: output.status.code(),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
                truncated: false,
                timed_out: false,
                duration_ms: started.elapsed().as_millis() as u64,
            })
        }
    }
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
