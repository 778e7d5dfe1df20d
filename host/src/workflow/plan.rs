//! A validated workflow, resolved for the engine: step ids are indices,
//! modules are loaded, limits and retry policies are filled in.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::capabilities::StepPermissions;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;

use super::failure_kind::StepFailureKind;
use super::model::{
    Backoff, Catchup, InputSpec, InputType, OnLimit, Overlap, WaitFor, WebhookScheme,
};
use super::schedule::Schedule;
use super::template::{Compiled, Expression};
use crate::sandbox::values::Shape;
use crate::sandbox::{FailureKind, Limits, Module};

/// Index of a step in [`Plan::steps`].
pub type StepIndex = usize;

#[derive(Debug)]
pub struct Plan {
    pub name: String,
    /// The workflow file.
    pub file: PathBuf,
    pub inputs: IndexMap<String, InputSpec>,
    /// `context`: an object whose values may read the inputs, evaluated
    /// when the run starts.
    pub context: Compiled,
    /// Run variables: their types and first values, by index.
    pub vars: Vec<PlannedVar>,
    pub steps: Vec<PlannedStep>,
    pub by_id: HashMap<String, StepIndex>,
    /// Steps that start when the run starts.
    pub roots: Vec<StepIndex>,
    /// The workflow's error handler.
    pub on_failure: Option<StepIndex>,
    pub finally: Vec<StepIndex>,
    pub max_concurrent_steps: usize,
    pub workflow_timeout: Option<Duration>,
    /// Cron schedules that start the workflow under `wfhost serve`.
    pub triggers: Vec<PlannedTrigger>,
    /// HTTP endpoints that start it under `wfhost serve`.
    pub webhooks: Vec<PlannedWebhook>,
    /// How many runs of one key may run at once.
    pub concurrency: Option<PlannedConcurrency>,
    /// `outputs:`: what a run gives back (an object), evaluated when it
    /// succeeds; `None` when the workflow declares none.
    pub outputs: Option<Compiled>,
    /// The shape of each output, as far as its template shows it.
    pub output_shapes: Vec<(String, Shape)>,
}

/// A checked `workflow:` step's child: its file, pinned by sha256 when the
/// parent was planned, and its own plan.
#[derive(Debug)]
pub struct PlannedChild {
    /// The path as the step writes it (`./build.yaml`).
    pub written: String,
    /// The file's text, as planned (a child run records it).
    pub text: Arc<str>,
    /// Its sha256 (hex).
    pub digest: String,
    pub plan: Arc<Plan>,
    /// How many workflows deep it nests, itself included (1 without children).
    pub height: usize,
    /// Its plan's [`Plan::module_digests`], computed once: what a child run
    /// is pinned to, and its share of its parent's pins.
    pub modules: Vec<(String, String)>,
    /// Its file and every sub-workflow file below it.
    pub files: Vec<PathBuf>,
}

/// A run variable.
#[derive(Debug)]
pub struct PlannedVar {
    pub name: String,
    pub ty: InputType,
    pub value: Value,
}

/// A checked `concurrency:`.
#[derive(Debug)]
pub struct PlannedConcurrency {
    /// The key, over the run's inputs.
    pub key: Compiled,
    pub limit: u32,
    pub on_limit: OnLimit,
    pub max_queued: u32,
}

/// A checked webhook trigger.
#[derive(Debug)]
pub struct PlannedWebhook {
    /// Its position in `triggers:`.
    pub index: usize,
    /// The path it answers, as written.
    pub path: String,
    pub scheme: WebhookScheme,
    /// The environment variables holding its secrets.
    pub secret_env: Vec<String>,
    /// What identifies a delivery (over `body` and `headers`).
    pub dedupe: Option<Compiled>,
    /// The run's inputs (an object; templates over `body` and `headers`).
    pub inputs: Compiled,
}

/// A checked `triggers:` entry.
#[derive(Debug, Clone)]
pub struct PlannedTrigger {
    /// Its position in `triggers:`.
    pub index: usize,
    pub schedule: Schedule,
    pub catchup: Catchup,
    pub catchup_window: Duration,
    pub overlap: Overlap,
    /// The run's inputs (checked against the workflow's).
    pub inputs: serde_json::Map<String, Value>,
}

impl Plan {
    /// The step with id `id`.
    pub fn step(&self, id: &str) -> Option<&PlannedStep> {
        self.by_id.get(id).map(|&index| &self.steps[index])
    }

    /// (module name, sha256) of every module the plan uses, and (`workflow
    /// PATH`, sha256) of every sub-workflow file with their modules, sorted:
    /// what a run is pinned to. A child's are taken from its
    /// [`PlannedChild::modules`], so files named on many paths cost once.
    pub fn module_digests(&self) -> Vec<(String, String)> {
        let mut modules = Vec::new();
        for step in &self.steps {
            match &step.kind {
                StepKind::Action { module, .. } => {
                    modules.push((module.name().to_string(), module.digest().to_hex()));
                }
                StepKind::Workflow(child) => {
                    modules.push((format!("workflow {}", child.written), child.digest.clone()));
                    modules.extend(child.modules.iter().cloned());
                }
                StepKind::Parallel { .. } | StepKind::Wait(_) => {}
            }
        }
        modules.sort();
        modules.dedup();
        modules
    }

    /// Every sub-workflow file the plan runs, at any depth, sorted.
    pub fn child_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = self
            .steps
            .iter()
            .filter_map(|step| match &step.kind {
                StepKind::Workflow(child) => Some(child.files.iter().cloned()),
                _ => None,
            })
            .flatten()
            .collect();
        files.sort();
        files.dedup();
        files
    }
}

#[derive(Debug)]
pub struct PlannedStep {
    pub id: String,
    pub kind: StepKind,
    pub inputs: Inputs,
    pub on_success: PlannedRoute,
    pub on_failure: PlannedRoute,
    pub limits: Limits,
    pub retry: RetryPolicy,
    pub continue_on_error: bool,
    /// Steps that must succeed first.
    pub needs: Vec<StepIndex>,
    /// Steps waiting for this one.
    pub needed_by: Vec<StepIndex>,
    pub max_visits: Option<u32>,
    /// `foreach` expression and how many items run at once.
    pub foreach: Option<(Expression, usize)>,
    /// `loop`: the `until` condition and the most iterations.
    pub repeat: Option<(Expression, u32)>,
    /// `if`: entered only when it holds (skipped otherwise).
    pub condition: Option<Expression>,
    /// `set`: run variables (by index in [`Plan::vars`]) updated after the
    /// step succeeds.
    pub set: Vec<(usize, Compiled)>,
    /// What the step may reach beyond its sandbox.
    pub permissions: StepPermissions,
    /// The circuit breaker its action's calls go through.
    pub circuit: Option<Arc<PlannedCircuit>>,
}

/// A checked circuit breaker for one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCircuit {
    /// The action it guards, `module.action`: one breaker per action,
    /// shared by every run on the home.
    pub key: String,
    pub failures: u32,
    pub within: Duration,
    pub open_for: Duration,
}

/// A step's parameters by name (a JSON object).
#[derive(Debug)]
pub enum Inputs {
    /// No template inside: every attempt shares them as they are.
    Constant(Arc<Value>),
    /// Templates compiled, evaluated per attempt.
    Templated(Compiled),
}

#[derive(Debug)]
pub enum StepKind {
    Action {
        module: Arc<Module>,
        /// The action's qualified name.
        action: String,
    },
    Parallel {
        branches: Vec<StepIndex>,
        wait_for: WaitFor,
    },
    Wait(Arc<PlannedWait>),
    /// A sub-workflow: a child run whose outputs are the step's output.
    Workflow(Arc<PlannedChild>),
}

/// A checked `wait:`, or a timer (`sleep:`, `until:`: no signal).
#[derive(Debug)]
pub struct PlannedWait {
    /// The signal it takes; `None` for a timer, which succeeds (with
    /// `null`) when its deadline passes.
    pub signal: Option<PlannedSignal>,
    /// A timer's deadline (`until:`), evaluated when the step begins.
    pub until: Option<Expression>,
    /// How long to wait (`wait.timeout`, `sleep:`).
    pub timeout: Option<Duration>,
    /// What the step succeeds with when the timeout passes; `None`: it
    /// fails with kind `wait-timeout` (a timer succeeds with `null`).
    pub on_timeout: Option<Arc<Value>>,
}

/// The signal a wait takes (its payload is checked when it is sent).
#[derive(Debug)]
pub struct PlannedSignal {
    pub name: String,
    /// The payload's type, as written (`any` when not given).
    pub type_text: String,
    /// How many different people must approve (a wait for approvals).
    pub approvals_required: Option<u32>,
}

/// Where an outcome leads: the first branch whose condition holds (a branch
/// without one always does); no branch, or none holding, ends the path.
#[derive(Debug, Default)]
pub struct PlannedRoute {
    pub branches: Vec<(Option<Expression>, StepIndex)>,
}

impl PlannedRoute {
    pub fn is_empty(&self) -> bool {
        self.branches.is_empty()
    }

    pub fn targets(&self) -> impl Iterator<Item = StepIndex> + '_ {
        self.branches.iter().map(|(_, target)| *target)
    }
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all; 1 means no retry.
    pub max_attempts: u32,
    pub backoff: Backoff,
    pub initial: Duration,
    pub max: Duration,
    pub jitter: bool,
    /// `None`: the default rule (trap, timeout, retryable guest errors).
    pub on: Option<Vec<StepFailureKind>>,
}

impl RetryPolicy {
    pub const NONE: RetryPolicy = RetryPolicy {
        max_attempts: 1,
        backoff: Backoff::Exponential,
        initial: Duration::from_secs(1),
        max: Duration::from_secs(60),
        jitter: false,
        on: None,
    };

    /// Should a failure of `kind` (retryable as the guest says) be tried again?
    pub fn retries(&self, kind: StepFailureKind, guest_retryable: bool) -> bool {
        match &self.on {
            Some(kinds) => kinds.contains(&kind),
            None => match kind {
                StepFailureKind::Call(FailureKind::Trap | FailureKind::Timeout) => true,
                StepFailureKind::Call(FailureKind::Error) => guest_retryable,
                _ => false,
            },
        }
    }

    /// The delay before attempt `next` (2 for the first retry).
    pub fn delay(&self, next: u32) -> Duration {
        let base = match self.backoff {
            Backoff::Fixed => self.initial,
            Backoff::Exponential => {
                let factor = 2u32.saturating_pow(next.saturating_sub(2));
                self.initial.saturating_mul(factor)
            }
        }
        .min(self.max);
        if self.jitter {
            base.mul_f64(fastrand::f64())
        } else {
            base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 6,
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
            ..RetryPolicy::NONE
        };
        let delays: Vec<u128> = (2..=6).map(|n| policy.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        let fixed = RetryPolicy {
            backoff: Backoff::Fixed,
            ..policy.clone()
        };
        assert_eq!(fixed.delay(5), Duration::from_millis(100));
        let jittered = RetryPolicy {
            jitter: true,
            ..policy
        };
        assert!((2..=6).all(|n| jittered.delay(n) <= Duration::from_millis(500)));
    }

    #[test]
    fn default_rule_retries_stops_and_retryable_errors() {
        let kind = |name| StepFailureKind::parse(name).expect("a kind");
        let policy = RetryPolicy::NONE;
        assert!(policy.retries(kind("trap"), false));
        assert!(policy.retries(kind("timeout"), false));
        assert!(policy.retries(kind("error"), true));
        assert!(!policy.retries(kind("error"), false));
        assert!(!policy.retries(kind("fuel-exhausted"), false));
        assert!(!policy.retries(kind("cancelled"), false));
        let only_errors = RetryPolicy {
            on: Some(vec![kind("error")]),
            ..RetryPolicy::NONE
        };
        assert!(only_errors.retries(kind("error"), false));
        assert!(!only_errors.retries(kind("trap"), false));
    }
}
