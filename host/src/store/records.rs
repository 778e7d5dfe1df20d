//! What the store keeps about runs, as every backend returns it.

use serde_json::Value;

use super::lease::{Lease, Owner, is_live};
use super::now_seconds;
use crate::engine::{RunStatus, StepStatus, Stop, Trigger};

/// What `wfhost run` records before the first step starts.
#[derive(Debug)]
pub struct NewRun<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// The workflow file, absolute.
    pub path: &'a str,
    /// The workspace root grants resolve against, absolute.
    pub workspace: &'a str,
    pub workflow_digest: &'a str,
    pub workflow_text: &'a str,
    pub inputs: &'a Value,
    /// (module reference, sha256) of every module the run uses.
    pub modules: &'a [(String, String)],
    /// Who or what starts it: `cli`, `api:TOKEN-NAME`, …
    pub started_by: &'a str,
    /// What its templates see as `trigger` (kept for resume).
    pub trigger: &'a Trigger,
    /// The concurrency slot it needs, if its workflow limits runs at once.
    pub slot: Option<Slot<'a>>,
    /// Queue it whatever its slot says: the server starting it drives as
    /// many runs as it may (`serve --max-runs`); a server with room admits
    /// it, oldest first.
    pub hold: bool,
    /// A key the starter chose: a second run with the same key is refused
    /// with [`StoreError::DuplicateKey`](super::StoreError::DuplicateKey)
    /// naming the first.
    pub idempotency_key: Option<&'a str>,
    /// The run and step that started it, for a sub-workflow's run.
    pub parent: Option<ParentRef<'a>>,
    /// The W3C trace it belongs to (32 hex digits).
    pub trace_id: &'a str,
    /// The caller's span, when a `traceparent` named one.
    pub trace_parent: Option<&'a str>,
    /// Export its trace over OTLP once it ends (the starting process
    /// exports traces); see [`RunStore::traces_due`](super::RunStore::traces_due).
    pub export_trace: bool,
}

/// A child run's parent, as [`NewRun`] names it.
#[derive(Debug, Clone, Copy)]
pub struct ParentRef<'a> {
    pub run: &'a str,
    /// The step, with its item in a map (`build[2]`).
    pub step: &'a str,
}

/// A child run's parent: the run and the step (`build[2]` in a map) that
/// started it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parent {
    pub run: String,
    pub step: String,
}

#[derive(Debug, Clone)]
pub struct RunRecord {
    pub id: String,
    pub name: String,
    pub path: String,
    pub workspace: String,
    pub workflow_digest: String,
    pub inputs: Value,
    pub status: RunStatus,
    pub error: Option<Value>,
    /// A stop another process asked for.
    pub requested: Option<Stop>,
    /// Who holds the run's lease, and until when (seconds since the epoch).
    pub owner: Option<String>,
    pub lease_expires: Option<f64>,
    pub created_at: f64,
    pub updated_at: f64,
    /// Who or what started it (`cli`, `api:NAME`, …).
    pub started_by: String,
    pub trigger: Trigger,
    /// The concurrency key whose slot it takes, if any.
    pub concurrency_key: Option<String>,
    /// For a sub-workflow's run: the run and step that started it.
    pub parent: Option<Parent>,
    /// The workflow's `outputs:` it ended with (a run that succeeded).
    pub outputs: Option<Value>,
    /// The W3C trace it belongs to (derived from its id for runs recorded
    /// before traces were).
    pub trace_id: String,
    /// The caller's span, when a `traceparent` named one.
    pub trace_parent: Option<String>,
    /// The key its starter gave it (a sub-workflow's run: `child:` and the
    /// parent's attempt).
    pub idempotency_key: Option<String>,
}

impl RunRecord {
    /// Is an owner driving this run (its lease live)?
    pub fn is_driven(&self) -> bool {
        self.status.is_active() && is_live(self.owner.as_deref(), self.lease_expires, now_seconds())
    }

    /// Who drives it, for messages (`process 4242`).
    pub fn driver(&self) -> String {
        self.owner
            .as_deref()
            .map_or_else(|| "nobody".to_string(), |id| Owner::from_id(id).to_string())
    }
}

#[derive(Debug, Clone)]
pub struct StepRecord {
    pub step: String,
    pub status: StepStatus,
    pub attempts: u32,
    pub duration_ms: f64,
    pub fuel: u64,
    /// The most linear memory any of its attempts used.
    pub memory_peak_bytes: u64,
    pub kind: Option<String>,
    pub output: Option<Value>,
    pub failure: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct EventRecord {
    pub seq: i64,
    pub step: Option<String>,
    pub kind: String,
    pub body: Value,
    pub at: f64,
}

/// A run's share of a concurrency limit: at most `limit` runs with `key`
/// run at once (slots belong to runs in the store: taken when a run
/// starts, freed when it stops running).
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    pub key: &'a str,
    pub limit: u32,
    pub when_full: WhenFull,
    /// The most runs waiting for the key.
    pub max_queued: u32,
}

/// What a run that finds every slot taken does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait (`queued`), oldest first.
    Queue,
    /// It is recorded cancelled.
    CancelNewest,
    /// The runs holding the slots are asked to cancel; it waits.
    CancelRunning,
}

/// How a new run was let in.
#[derive(Debug)]
pub enum Admission {
    /// Running, owned by the creator's lease.
    Running(Lease),
    /// Waiting for a slot held by these runs (`admit` starts it later).
    Queued { held_by: Vec<String> },
    /// Recorded cancelled: every slot was taken (`cancel-newest`).
    Cancelled { held_by: Vec<String> },
}

impl Admission {
    /// The lease, when the run may start now.
    pub fn running(self) -> Option<Lease> {
        match self {
            Admission::Running(lease) => Some(lease),
            _ => None,
        }
    }
}

/// What a schedule did with one of its ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickOutcome {
    /// Not a tick: when the schedule was first seen (ticks before it are
    /// not owed).
    Registered,
    /// A run was started for it.
    Started,
    /// Waiting for the schedule's previous run to end (`overlap: queue-one`).
    Queued,
    /// Passed while no server ran, and not caught up.
    Missed,
    /// Came while the previous run still ran (`overlap: skip`).
    Skipped,
    /// Came while the schedule was paused.
    Paused,
}

impl TickOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            TickOutcome::Registered => "registered",
            TickOutcome::Started => "started",
            TickOutcome::Queued => "queued",
            TickOutcome::Missed => "missed",
            TickOutcome::Skipped => "skipped",
            TickOutcome::Paused => "paused",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            TickOutcome::Registered,
            TickOutcome::Started,
            TickOutcome::Queued,
            TickOutcome::Missed,
            TickOutcome::Skipped,
            TickOutcome::Paused,
        ]
        .into_iter()
        .find(|outcome| outcome.as_str() == text)
    }
}

/// Which runs a list shows: each field narrows it when set.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunFilter<'a> {
    pub status: Option<RunStatus>,
    /// The workflow's name.
    pub workflow: Option<&'a str>,
    /// What started them (`cli`, `api`, `cron`, `webhook`, `child`).
    pub trigger: Option<&'a str>,
    pub limit: usize,
}

/// A delivery to a webhook path, as the server answered it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery<'a> {
    pub path: &'a str,
    pub workflow: &'a str,
    /// The HTTP status it was answered with.
    pub status: u16,
    /// `started`, `duplicate`, `queued`, or why it was refused (the API
    /// error's kind: `unauthorized`, `invalid-input`, …).
    pub outcome: &'a str,
    /// The refusal's message.
    pub reason: Option<&'a str>,
    pub run_id: Option<&'a str>,
}

/// A delivery as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub at: f64,
    pub workflow: String,
    pub status: u16,
    pub outcome: String,
    pub reason: Option<String>,
    pub run_id: Option<String>,
}

/// One tick of a schedule as recorded.
#[derive(Debug, Clone)]
pub struct TickRecord {
    /// The scheduled time, seconds since the epoch.
    pub at: f64,
    pub outcome: TickOutcome,
    pub run_id: Option<String>,
}

/// An API token as the store keeps it: its name and when it was made (the
/// token itself is kept only as its sha256 digest).
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub name: String,
    pub created_at: f64,
}

/// A `wfhost worker` as the store last saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRecord {
    /// Its owner id (`host:pid:start`).
    pub id: String,
    pub slots: u32,
    /// Seconds since the epoch.
    pub started_at: f64,
    pub seen_at: f64,
}

/// One write made through the API: who, what, on which run.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub run_id: Option<&'a str>,
    pub detail: Option<&'a str>,
}

/// A signal to record for a run's waiting steps.
#[derive(Debug, Clone, Copy)]
pub struct NewSignal<'a> {
    pub run_id: &'a str,
    pub name: &'a str,
    pub payload: &'a Value,
    /// Who sends it (`cli:USER`, `api:TOKEN-NAME`).
    pub sent_by: &'a str,
    /// A second signal with the same key for the same run is not recorded
    /// again: the first one's `seq` is returned.
    pub idempotency_key: Option<&'a str>,
}

/// A signal recorded (or found recorded, for a repeated key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalSent {
    pub seq: i64,
    /// The key was seen before: nothing new was recorded.
    pub duplicate: bool,
}

/// One run's events for [`RunStore::append_many`](super::RunStore::append_many).
#[derive(Debug)]
pub struct Batch<'a> {
    pub lease: &'a mut Lease,
    pub events: &'a [Box<crate::engine::Event>],
    /// Set when this run's part was refused.
    pub result: Result<(), super::StoreError>,
}

impl Batch<'_> {
    /// The leases of the batches that were recorded now last until `expires_at`.
    pub(crate) fn renewed(batches: &mut [Self], expires_at: f64) {
        for batch in batches.iter_mut().filter(|b| b.result.is_ok()) {
            batch.lease.expires_at = expires_at;
        }
    }
}

/// A circuit breaker's rule, as a guarded call's step states it.
#[derive(Debug, Clone, Copy)]
pub struct CircuitRule<'a> {
    /// The action it guards (`module.action`).
    pub key: &'a str,
    /// Failed calls within `within_seconds` that open it.
    pub failures: u32,
    pub within_seconds: f64,
    /// How long it stays open before a probe.
    pub open_for_seconds: f64,
}

/// Whether a guarded call may start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CircuitAdmission {
    /// The breaker is closed: call.
    Closed,
    /// It was open long enough: this call is the probe (one at a time).
    Probe,
    /// It is open (or a probe is in flight) until this time (seconds since
    /// the epoch): fail at once.
    Open { until: f64 },
}

/// What a guarded call's end means for its breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallVerdict {
    Succeeded,
    /// It failed as the action's instability would (error, trap, timeout,
    /// a limit): counted, with its message.
    Failed(String),
    /// It ended for reasons of its own caller (cancelled, bad input): not
    /// counted.
    Neutral,
}

/// A breaker as `wfhost circuit list` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CircuitRecord {
    pub key: String,
    /// When it opened, and until when (`None` while closed).
    pub opened_at: Option<f64>,
    pub open_until: Option<f64>,
    /// A probe call in flight since.
    pub probing_since: Option<f64>,
    /// Failures recorded in the last window it was given.
    pub recent_failures: u32,
    pub last_error: Option<String>,
}

impl CircuitRecord {
    pub fn is_open(&self) -> bool {
        self.opened_at.is_some()
    }
}
