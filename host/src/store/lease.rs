//! Ownership of a run by lease: an owner id, an epoch that grows with each
//! new owner, and an expiry the owner keeps pushing forward. A lease is
//! taken over once it expires — or at once when its owner is a process of
//! this machine that no longer exists (a `wfhost run` killed with SIGKILL
//! leaves nothing to wait for).

use std::sync::LazyLock;
use std::time::Duration;

/// How long a lease lasts without renewal. The journal renews it with every
/// commit and, when idle, after a third of this.
pub const LEASE_TTL: Duration = Duration::from_secs(15);

/// Who drives a run: `host:pid:start`, the process's start time telling a
/// reused pid from the process that took the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    id: String,
}

static THIS_PROCESS: LazyLock<Owner> = LazyLock::new(|| {
    let pid = std::process::id();
    Owner {
        id: format!(
            "{}:{pid}:{}",
            host_name(),
            process_start(pid).unwrap_or_default()
        ),
    }
});

impl Owner {
    /// This process.
    pub fn this_process() -> Self {
        THIS_PROCESS.clone()
    }

    /// An owner by id, as stored.
    pub fn from_id(id: impl Into<String>) -> Self {
        Self { id: id.into() }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether this owner is a process of this machine that has ended (so
    /// its lease need not be waited out).
    pub fn is_known_gone(&self) -> bool {
        let mut parts = self.id.rsplitn(3, ':');
        let (Some(start), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            return false;
        };
        if host != host_name() || !cfg!(target_os = "linux") {
            return false;
        }
        process_start(pid).is_none_or(|now| now.to_string() != start)
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.id.rsplit(':').nth(1) {
            Some(pid) if self.id.starts_with(&host_name()) => write!(f, "process {pid}"),
            _ => write!(f, "{}", self.id),
        }
    }
}

/// A run's lease as its owner holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub run_id: String,
    pub owner: Owner,
    /// Grows by one with every claim: a write checks it, so an owner that
    /// lost the run cannot write into it.
    pub epoch: i64,
    /// Seconds since the epoch.
    pub expires_at: f64,
}

impl Lease {
    /// Whether it should be renewed at `now` (a third of its time is gone).
    pub fn due(&self, now: f64) -> bool {
        self.expires_at - now < LEASE_TTL.as_secs_f64() * 2.0 / 3.0
    }
}

/// Whether a lease held by `owner` until `expires_at` still holds at `now`.
pub(crate) fn is_live(owner: Option<&str>, expires_at: Option<f64>, now: f64) -> bool {
    match (owner, expires_at) {
        (Some(owner), Some(expires_at)) => {
            expires_at > now && !Owner::from_id(owner).is_known_gone()
        }
        _ => false,
    }
}

fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .replace(':', "_")
}

/// When process `pid` started (clock ticks since boot), if it is alive; a
/// zombie (Z) or dead (X) process counts as gone.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "PID (name) STATE PPID …": fields after the name; starttime is the
    // 22nd field, the 20th after the name.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_not_gone_and_a_dead_one_is() {
        assert!(!Owner::this_process().is_known_gone());
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id();
        let start = process_start(pid);
        child.wait().expect("wait");
        let dead = Owner::from_id(format!("{}:{pid}:{}", host_name(), start.unwrap_or(1)));
        assert!(dead.is_known_gone());
        // Another machine's owner is never known gone: its lease is waited out.
        assert!(!Owner::from_id(format!("elsewhere:{pid}:1")).is_known_gone());
        // A live pid with another start time is a reused pid.
        let reused = Owner::from_id(format!("{}:{}:1", host_name(), std::process::id()));
        assert!(reused.is_known_gone());
    }

    #[test]
    fn a_lease_is_live_until_it_expires() {
        let me = Owner::this_process();
        assert!(is_live(Some(me.id()), Some(10.0), 9.0));
        assert!(!is_live(Some(me.id()), Some(10.0), 10.5));
        assert!(!is_live(None, None, 0.0));
    }
}
