//! Stopping a run from outside the engine: pause (let running attempts
//! finish, start nothing new), cancel (stop what runs, then run the
//! `finally` steps), cancel at once (a second cancel: skip them too),
//! interrupt (Ctrl-C), or drain (a server shutting down: let running
//! attempts finish, then end resumable). A later request only counts when
//! it goes further.

use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::Notify;

use super::mailbox::Mailbox;
use super::status::RunStatus;

/// Why a run stops before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Running attempts finish and are recorded; nothing new starts.
    Pause,
    /// Every path waits and the driver leaves (`wfhost run
    /// --detach-on-wait`): the waits are given up unrecorded and the run
    /// stays `waiting`, with no owner, for `wfhost resume` or `wfhost serve`.
    Detach,
    /// As a pause, but the run ends `interrupted`: the owner is going away
    /// (`wfhost serve` shutting down) and whoever serves next resumes it.
    Drain,
    /// Everything in flight is stopped and recorded `cancelled`; the
    /// `finally` steps run; the run ends cancelled.
    Cancel,
    /// Everything in flight is stopped (Ctrl-C); the run can be resumed.
    Interrupt,
    /// A cancel that skips the `finally` steps too (or stops them).
    CancelNow,
}

impl Stop {
    pub fn status(self) -> RunStatus {
        match self {
            Stop::Pause => RunStatus::Paused,
            Stop::Detach => RunStatus::Waiting,
            Stop::Drain => RunStatus::Interrupted,
            Stop::Cancel | Stop::CancelNow => RunStatus::Cancelled,
            Stop::Interrupt => RunStatus::Interrupted,
        }
    }

    /// Its name, as stored when another process asks for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Stop::Pause => "pause",
            Stop::Detach => "detach",
            Stop::Drain => "drain",
            Stop::Cancel => "cancel",
            Stop::Interrupt => "interrupt",
            Stop::CancelNow => "cancel-now",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Stop::Pause,
            Stop::Detach,
            Stop::Drain,
            Stop::Cancel,
            Stop::Interrupt,
            Stop::CancelNow,
        ]
        .into_iter()
        .find(|stop| stop.as_str() == text)
    }

    /// How far a stop goes; a request only counts when it goes further.
    fn code(self) -> u8 {
        match self {
            Stop::Pause => 1,
            Stop::Detach => 2,
            Stop::Drain => 3,
            Stop::Cancel => 4,
            Stop::Interrupt => 5,
            Stop::CancelNow => 6,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Stop::Pause),
            2 => Some(Stop::Detach),
            3 => Some(Stop::Drain),
            4 => Some(Stop::Cancel),
            5 => Some(Stop::Interrupt),
            6 => Some(Stop::CancelNow),
            _ => None,
        }
    }
}

/// Shared between the engine and whoever steers it from outside: stops,
/// and signals for its waiting steps.
#[derive(Debug, Default)]
pub struct Control {
    requested: AtomicU8,
    notify: Notify,
    signals: Mailbox,
}

impl Control {
    /// Signals sent to the run, for its waiting steps.
    pub fn signals(&self) -> &Mailbox {
        &self.signals
    }

    pub fn request(&self, stop: Stop) {
        if self.requested.fetch_max(stop.code(), Ordering::SeqCst) < stop.code() {
            self.notify.notify_waiters();
            self.notify.notify_one();
        }
    }

    /// The furthest stop requested so far.
    pub fn requested(&self) -> Option<Stop> {
        Stop::from_code(self.requested.load(Ordering::SeqCst))
    }

    /// Wait until a stop further than `current` is requested.
    pub async fn escalated(&self, current: Option<Stop>) -> Stop {
        let floor = current.map_or(0, Stop::code);
        loop {
            let notified = self.notify.notified();
            if let Some(stop) = self.requested().filter(|stop| stop.code() > floor) {
                return stop;
            }
            notified.await;
        }
    }
}
