//! Ownership of a run by lease: an owner id, an epoch that grows with each
//! new owner, and an expiry the owner keeps pushing forward. A lease is
//! taken over once it expires — or at once when its owner is a process of
//! this machine that no longer exists (a `wfhost run` killed with SIGKILL
//! leaves nothing to wait for).

use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

/// How long a lease lasts without renewal unless `--lease` says otherwise.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(15);

static LEASE_TTL: OnceLock<Duration> = OnceLock::new();

/// How long a lease lasts without renewal: how long an owner may go silent
/// (paused, partitioned, killed on another machine) before another process
/// takes its run over. The journal renews it with every commit and, when
/// idle, after a third of this.
pub fn lease_ttl() -> Duration {
    LEASE_TTL.get().copied().unwrap_or(DEFAULT_LEASE_TTL)
}

/// Set this process's lease length (`--lease`), once, before any lease.
pub fn set_lease_ttl(ttl: Duration) {
    let _ = LEASE_TTL.set(ttl);
}

/// Who drives a run: `host:pid:start`, the process's start time telling a
/// reused pid from the process that took the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    id: String,
}

/// This machine's name, as owner ids hold it.
static HOST: LazyLock<String> = LazyLock::new(|| {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .replace(':', "_")
});

/// Written for a start time that cannot be read: the owner is then never
/// taken for gone before its lease expires.
const UNKNOWN_START: &str = "?";

static THIS_PROCESS: LazyLock<Owner> = LazyLock::new(|| {
    let pid = std::process::id();
    let start = process_start(pid).map_or_else(|| UNKNOWN_START.to_string(), |s| s.to_string());
    Owner {
        id: format!("{}:{pid}:{start}", *HOST),
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
        is_gone(&self.id)
    }
}

/// A `LIKE` pattern matching the owner ids of this machine's processes.
pub(crate) fn local_owners() -> String {
    format!("{}:%", *HOST)
}

/// (process id, start time) of an owner id of this machine.
fn local_process(id: &str) -> Option<(u32, &str)> {
    let mut parts = id.rsplitn(3, ':');
    let (start, pid, host) = (parts.next()?, parts.next()?, parts.next()?);
    (host == HOST.as_str()).then_some(())?;
    Some((pid.parse().ok()?, start))
}

/// See [`Owner::is_known_gone`].
fn is_gone(id: &str) -> bool {
    match local_process(id) {
        Some((pid, start)) if start != UNKNOWN_START && cfg!(target_os = "linux") => {
            process_start(pid).is_none_or(|now| now.to_string() != start)
        }
        _ => false,
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match local_process(&self.id) {
            Some((pid, _)) => write!(f, "process {pid}"),
            None => write!(f, "{}", self.id),
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
        self.expires_at - now < lease_ttl().as_secs_f64() * 2.0 / 3.0
    }
}

/// Whether a lease held by `owner` until `expires_at` still holds at `now`.
pub(crate) fn is_live(owner: Option<&str>, expires_at: Option<f64>, now: f64) -> bool {
    match (owner, expires_at) {
        (Some(owner), Some(expires_at)) => expires_at > now && !is_gone(owner),
        _ => false,
    }
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
        let dead = Owner::from_id(format!("{}:{pid}:{}", *HOST, start.unwrap_or(1)));
        assert!(dead.is_known_gone());
        // Another machine's owner is never known gone: its lease is waited out.
        assert!(!Owner::from_id(format!("elsewhere:{pid}:1")).is_known_gone());
        // A live pid with another start time is a reused pid.
        let reused = Owner::from_id(format!("{}:{}:1", *HOST, std::process::id()));
        assert!(reused.is_known_gone());
        // A start time that could not be read: waited out, never cut short.
        let unknown = Owner::from_id(format!("{}:{pid}:{UNKNOWN_START}", *HOST));
        assert!(!unknown.is_known_gone());
        // Named by pid only when it is this machine's, not one whose name
        // merely starts the same.
        assert_eq!(
            Owner::this_process().to_string(),
            format!("process {}", std::process::id())
        );
        let similar = format!("{}x:{pid}:1", *HOST);
        assert_eq!(Owner::from_id(similar.clone()).to_string(), similar);
    }

    #[test]
    fn a_lease_is_live_until_it_expires() {
        let me = Owner::this_process();
        assert!(is_live(Some(me.id()), Some(10.0), 9.0));
        assert!(!is_live(Some(me.id()), Some(10.0), 10.5));
        assert!(!is_live(None, None, 0.0));
    }
}
