//! A run's mailbox: signals sent to it (`wfhost signal`, the API) that its
//! waiting steps take, oldest first by name. Whoever journals the run
//! delivers what the store holds; a signal is used up only when the step
//! that took it is journaled (`signal_received`), so one taken by a step
//! that never got recorded is delivered again when the run resumes.

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use tokio::sync::Notify;

/// A signal sent to a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// Its place in the store: delivered in this order, once.
    pub seq: i64,
    pub name: String,
    pub payload: Arc<Value>,
    /// Who sent it (`cli:USER`, `api:TOKEN-NAME`).
    pub sent_by: String,
}

#[derive(Debug, Default)]
pub struct Mailbox {
    state: Mutex<State>,
    arrived: Notify,
}

#[derive(Debug, Default)]
struct State {
    pending: Vec<Signal>,
    /// The highest `seq` delivered so far.
    seen: i64,
}

impl Mailbox {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Add signals not delivered before (by `seq`).
    pub fn deliver(&self, signals: impl IntoIterator<Item = Signal>) {
        let mut state = self.state();
        let mut any = false;
        for signal in signals {
            if signal.seq > state.seen {
                state.seen = signal.seq;
                state.pending.push(signal);
                any = true;
            }
        }
        drop(state);
        if any {
            self.arrived.notify_waiters();
        }
    }

    /// The oldest pending signal named `name`, if one is there now.
    pub fn try_take(&self, name: &str) -> Option<Signal> {
        let mut state = self.state();
        let index = state.pending.iter().position(|s| s.name == name)?;
        Some(state.pending.remove(index))
    }

    /// The oldest pending signal named `name`, once one is there.
    pub async fn take(&self, name: &str) -> Signal {
        loop {
            let arrived = self.arrived.notified();
            if let Some(signal) = self.try_take(name) {
                return signal;
            }
            arrived.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn signal(seq: i64, name: &str) -> Signal {
        Signal {
            seq,
            name: name.into(),
            payload: Arc::new(json!(seq)),
            sent_by: "test".into(),
        }
    }

    #[tokio::test]
    async fn signals_are_taken_oldest_first_by_name_and_delivered_once() {
        let mailbox = Arc::new(Mailbox::default());
        mailbox.deliver([signal(1, "a"), signal(2, "b"), signal(3, "a")]);
        mailbox.deliver([signal(3, "a")]);
        assert_eq!(mailbox.take("a").await.seq, 1);
        assert_eq!(mailbox.take("a").await.seq, 3);
        assert_eq!(mailbox.try_take("a"), None);
        // A step waiting when the signal arrives is woken.
        let waiter = tokio::spawn({
            let mailbox = Arc::clone(&mailbox);
            async move { mailbox.take("a").await.seq }
        });
        tokio::task::yield_now().await;
        mailbox.deliver([signal(4, "a"), signal(2, "a")]);
        assert_eq!(waiter.await.expect("joined"), 4);
        assert_eq!(
            mailbox.try_take("a"),
            None,
            "seq 2 was delivered before: dropped"
        );
        assert_eq!(mailbox.take("b").await.seq, 2);
    }
}
