//! Exit codes a script can rely on.

use std::process::ExitCode;

/// The run, call or check succeeded.
pub const SUCCESS: u8 = 0;
/// The call or run failed (the guest failed or the sandbox stopped it).
pub const FAILURE: u8 = 1;
/// Bad usage: invalid arguments or input syntax, a module that cannot be loaded.
pub const USAGE: u8 = 2;

/// The run was interrupted (Ctrl-C); `wfhost resume` continues it.
pub const INTERRUPTED: u8 = 130;

/// An error that ends the command with exit code 2 after printing it.
#[derive(Debug)]
pub struct UsageError(pub anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for UsageError {
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

pub(crate) fn code(code: u8) -> ExitCode {
    ExitCode::from(code)
}
