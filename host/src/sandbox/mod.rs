//! The sandbox: the only code that touches wasmtime.
//!
//! [`Runtime`] owns the engine; [`Runtime::load`] turns component bytes into a
//! [`Module`]; [`Module::call`] runs one action in a fresh store under
//! [`Limits`], with nothing granted, and returns a [`CallReport`].

mod cache;
mod cancel;
mod capture;
mod context;
mod digest;
mod engine;
mod error;
mod grants;
mod host_api;
mod limits;
mod module;
mod outcome;
mod pin;
mod process;
mod reflect;
mod reports;
mod runtime;
mod store;
pub mod values;
mod workspace;

pub use cache::CacheOutcome;
pub use cancel::{CancelSignal, Canceller, cancellation};
pub use capture::Captured;
pub use context::{CallContext, IDEMPOTENCY_KEY_VAR};
pub use digest::Digest;
pub use engine::EngineOptions;
pub use error::{CallError, LoadError, RuntimeError};
pub use grants::{DirGrant, Grants};
pub use limits::{Limits, maximum};
pub use module::Module;
pub use outcome::{CallReport, Failure, FailureKind, Outcome, says_retryable};
pub use pin::FilePin;
pub use reflect::{Action, WitFile};
pub use reports::{LogRecord, Progress};
pub use runtime::Runtime;
pub use workspace::{BeneathError, Workspace};
