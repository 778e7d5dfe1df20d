//! Stopping a run from outside the engine: pause (let running attempts
//! finish, start nothing new), cancel, or interrupt (Ctrl-C).

use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::Notify;

use super::event::RunStatus;

/// Why a run stops before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Running attempts finish and are recorded; nothing new starts.
    Pause,
    /// Everything in flight is stopped; the run ends cancelled.
    Cancel,
    /// Everything in flight is stopped (Ctrl-C); the run can be resumed.
    Interrupt,
}

impl Stop {
    pub fn status(self) -> RunStatus {
        match self {
            Stop::Pause => RunStatus::Paused,
            Stop::Cancel => RunStatus::Cancelled,
            Stop::Interrupt => RunStatus::Interrupted,
        }
    }
}

/// Shared between the engine and whoever may stop it.
#[derive(Debug, Default)]
pub struct Control {
    requested: AtomicU8,
    notify: Notify,
}

impl Control {
    pub fn request(&self, stop: Stop) {
        let code = match stop {
            Stop::Pause => 1,
            Stop::Cancel => 2,
            Stop::Interrupt => 3,
        };
        // The first request wins.
        if self
            .requested
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.notify.notify_waiters();
            self.notify.notify_one();
        }
    }

    pub fn requested(&self) -> Option<Stop> {
        match self.requested.load(Ordering::SeqCst) {
            1 => Some(Stop::Pause),
            2 => Some(Stop::Cancel),
            3 => Some(Stop::Interrupt),
            _ => None,
        }
    }

    /// Wait until a stop is requested.
    pub async fn stopped(&self) -> Stop {
        loop {
            let notified = self.notify.notified();
            if let Some(stop) = self.requested() {
                return stop;
            }
            notified.await;
        }
    }
}
