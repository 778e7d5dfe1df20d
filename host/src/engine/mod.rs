//! The engine: runs a [`Plan`](crate::workflow::Plan) on tokio, one fresh
//! sandbox per attempt, and reports every state change as an [`Event`].
//!
//! It never prints: events go to an [`Observer`] (the CLI's reporter now,
//! the journal next).

mod attempt;
mod breaker;
mod child;
mod control;
mod event;
mod failure;
pub mod grants;
pub mod inputs;
pub mod mailbox;
pub mod resume;
mod run;
mod scope;
mod status;
mod summary;
mod trigger;

pub use attempt::{AttemptKey, AttemptResult, Replay};
pub use breaker::{Admit, Breakers};
pub(crate) use child::child_key;
pub use child::{ChildCall, ChildEnd, Children};
pub use control::{Control, Stop};
pub use event::{DetachOnWait, Discard, Event, Observer, Recorder, Tee};
pub use failure::StepFailure;
pub use mailbox::{Mailbox, Signal};
pub(crate) use run::idempotency_key;
pub use run::{RunOptions, run};
pub use status::{RunStatus, StepStatus};
pub use summary::{RunSummary, StepSummary};
pub use trigger::{Trigger, TriggerKind};

/// A short, copyable run id: 8 hex digits.
pub fn new_run_id() -> String {
    format!("{:08x}", fastrand::u32(..))
}
