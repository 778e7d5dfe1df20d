//! Stopping a call from outside (a cancelled run, a parallel group that no
//! longer needs a branch, a workflow timeout): the call ends within an
//! epoch tick while guest code runs, at once while it waits in a host call,
//! with kind `cancelled` and its fuel, memory and duration measured like
//! any other ending.

use tokio::sync::watch;

/// Held by whoever may cancel a call.
#[derive(Debug)]
pub struct Canceller(watch::Sender<Option<String>>);

/// Given to a call, in its [`CallContext`](super::CallContext).
#[derive(Debug, Clone)]
pub struct CancelSignal(watch::Receiver<Option<String>>);

/// A linked canceller and signal.
pub fn cancellation() -> (Canceller, CancelSignal) {
    let (sender, receiver) = watch::channel(None);
    (Canceller(sender), CancelSignal(receiver))
}

impl Canceller {
    /// Cancel the call, saying why (the failure's message).
    pub fn cancel(&self, reason: impl Into<String>) {
        self.0.send_replace(Some(reason.into()));
    }
}

impl CancelSignal {
    /// Resolves with the reason once the call is cancelled; never, if the
    /// canceller is dropped without cancelling.
    pub(crate) async fn cancelled(mut self) -> String {
        loop {
            if let Some(reason) = self.0.borrow_and_update().clone() {
                return reason;
            }
            if self.0.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}
