//! Sub-workflow steps: the engine hands each attempt to a [`Children`]
//! driver (the store-backed one lives in `service::children`), which runs
//! the child as a run of its own and reports how it ended. The engine never
//! touches the store; the driver never touches the parent's state.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use super::attempt::{AttemptKey, AttemptResult};
use super::control::{Control, Stop};
use crate::sandbox::CancelSignal;
use crate::workflow::plan::PlannedChild;

/// One attempt of a `workflow:` step.
#[derive(Debug)]
pub struct ChildCall {
    /// The parent run and the attempt that starts the child.
    pub parent_run: String,
    pub key: AttemptKey,
    /// The same for every resume of this attempt and different for a retry:
    /// the child run is found by it, so a resumed parent never starts a
    /// child twice.
    pub idempotency_key: String,
    pub child: Arc<PlannedChild>,
    /// The child's inputs (an object), templates evaluated.
    pub inputs: Arc<Value>,
    /// Fires when the parent cancels the step (the child is cancelled).
    pub cancel: CancelSignal,
    /// The parent's control: a pause (or a drain, or leaving it waiting)
    /// asked of the parent is asked of the child too.
    pub parent_control: Arc<Control>,
}

/// How a child run ended, for its parent.
#[derive(Debug)]
pub enum ChildEnd {
    /// It ended: its outputs, or its failure as kind `child-failed`.
    Ended(Box<AttemptResult>),
    /// It stopped without ending (paused, interrupted, left waiting): the
    /// parent stops the same way, and resuming the parent resumes it.
    Stopped(Stop),
}

/// Runs child workflows for the engine.
pub trait Children: Send + Sync + std::fmt::Debug {
    fn run(
        self: Arc<Self>,
        call: ChildCall,
    ) -> Pin<Box<dyn Future<Output = ChildEnd> + Send + 'static>>;
}

/// The idempotency key of the child run started by attempt `key` of run
/// `run_id`: the step's key (see `run::attempts::idempotency_key`) and the
/// attempt.
pub(crate) fn child_key(step_key: &str, key: &AttemptKey) -> String {
    format!("child:{step_key}#{}", key.attempt)
}
