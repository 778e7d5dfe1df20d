//! The scheduler's clock: the system's, or (for tests, through the
//! `WFHOST_TEST_CLOCK` environment variable of `wfhost serve`) one that
//! starts at a given time and runs at the system's pace from there.

use chrono::{DateTime, TimeDelta, Utc};

#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    offset: TimeDelta,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that reads `start` now.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            offset: start - Utc::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }
}
