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
    /// Steps waiting right now.
    waiting: usize,
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

    /// The highest `seq` delivered so far: ask the store for what follows.
    pub fn seen(&self) -> i64 {
        self.state().seen
    }

    /// Whether a step waits now (the journal only looks for signals then).
    pub fn wanted(&self) -> bool {
        self.state().waiting > 0
    }

    /// The oldest pending signal named `name`, if one is there now.
    pub fn try_take(&self, name: &str) -> Option<Signal> {
        let mut state = self.state();
        let index = state.pending.iter().position(|s| s.name == name)?;
        Some(state.pending.remove(index))
    }

    /// The oldest pending signal named `name`, once one is there.
    pub async fn take(&self, name: &str) -> Signal {
        let _waiting = Waiting::new(self);
        loop {
            let arrived = self.arrived.notified();
            if let Some(signal) = self.try_take(name) {
                return signal;
            }
            arrived.await;
        }
    }
}

/// Counts a waiting step for as long as it waits.
struct Waiting<'m>(&'m Mailbox);

impl<'m> Waiting<'m> {
    fn new(mailbox: &'m Mailbox) -> Self {
        mailbox.state().waiting += 1;
        Self(mailbox)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.state().waiting -= 1;
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
        assert_eq!(mailbox.seen(), 3);
        assert_eq!(mailbox.take("a").await.seq, 1);
        assert_eq!(mailbox.take("a").await.seq, 3);
        assert!(!mailbox.wanted());
        let waiter = tokio::spawn({
            let mailbox = Arc::clone(&mailbox);
            async move { mailbox.take("a").await.seq }
        });
        while !mailbox.wanted() {
            tokio::task::yield_now().await;
        }
        mailbox.deliver([signal(4, "a")]);
        assert_eq!(waiter.await.expect("joined"), 4);
        assert!(!mailbox.wanted());
        assert_eq!(mailbox.take("b").await.seq, 2);
    }
}
