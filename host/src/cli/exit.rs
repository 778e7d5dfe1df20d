//! Exit codes a script can rely on.

use std::process::ExitCode;

/// The run, call or check succeeded.
pub const SUCCESS: u8 = 0;
/// The call or run failed (the guest failed or the sandbox stopped it).
pub const FAILURE: u8 = 1;
/// Bad usage: invalid arguments or input syntax, a module that cannot be loaded.
pub const USAGE: u8 = 2;
/// `--detach-on-wait`: every path of the run waits for a signal; the run is
/// left `waiting` for `wfhost resume` (or `wfhost serve`) to continue.
pub const DETACHED: u8 = 3;
/// wfhost could not do its own part: the state database cannot be opened
/// or written (disk full, read-only home), the engine cannot start. Fix the
/// environment and try again; a run stopped so resumes.
pub const ENVIRONMENT: u8 = 4;

/// The run was interrupted (Ctrl-C); `wfhost resume` continues it.
pub const INTERRUPTED: u8 = 130;

/// An error that ends the command: printed, then its exit code.
#[derive(Debug)]
pub struct CliError(pub anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for CliError {
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

impl CliError {
    /// [`ENVIRONMENT`] when wfhost's own machinery failed (its database, its
    /// engine), [`USAGE`] otherwise.
    pub fn code(&self) -> u8 {
        let environment = self.0.chain().any(|cause| {
            matches!(
                cause.downcast_ref::<crate::store::StoreError>(),
                Some(
                    crate::store::StoreError::Sqlite { .. }
                        | crate::store::StoreError::Postgres { .. }
                )
            ) || cause.is::<crate::sandbox::RuntimeError>()
                || cause.is::<EnvironmentError>()
        });
        if environment { ENVIRONMENT } else { USAGE }
    }
}

/// A failure of wfhost's own machinery, already worded with what to do:
/// exit code [`ENVIRONMENT`].
#[derive(Debug)]
pub struct EnvironmentError(pub String);

impl std::fmt::Display for EnvironmentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EnvironmentError {}

pub(crate) fn code(code: u8) -> ExitCode {
    ExitCode::from(code)
}
