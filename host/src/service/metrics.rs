//! What `wfhost serve` counts, in Prometheus' text format at `/metrics`
//! (prometheus-client): runs started and ended, step attempts' duration and
//! fuel by module and action, failures by kind, missed cron ticks, webhook
//! rejections, lost leases; queued and waiting runs read from the store
//! when scraped. Counters are this process's since it started, as
//! Prometheus expects; an observer beside each run's journal counts its
//! events as they happen (replayed ones are not counted again).

use std::collections::HashMap;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

use super::otlp::{Buckets, OtlpMetrics};
use crate::engine::{Event, Observer, RunStatus};
use crate::store::{RunStore, StoreError};
use crate::workflow::Plan;
use crate::workflow::plan::StepKind;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkflowLabels {
    workflow: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunEndLabels {
    workflow: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    module: String,
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    module: String,
    action: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

type Histograms = Family<ActionLabels, Histogram, fn() -> Histogram>;

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    runs_started: Family<WorkflowLabels, Counter>,
    runs_ended: Family<RunEndLabels, Counter>,
    step_duration: Histograms,
    step_fuel: Histograms,
    step_failures: Family<FailureLabels, Counter>,
    ticks_missed: Family<WorkflowLabels, Counter>,
    webhook_rejections: Family<ReasonLabels, Counter>,
    lease_losses: Counter,
    trace_exports: Family<ResultLabels, Counter>,
    runs_queued: Gauge,
    runs_waiting: Gauge,
    /// The same, pushed to a collector (`serve --otlp`).
    otlp: Option<OtlpMetrics>,
}

/// The histograms' bucket bounds: attempts' seconds from 1 ms to about
/// 4.4 hours; fuel from 1,000 to about 4·10^12 units.
pub fn buckets() -> Buckets {
    Buckets {
        seconds: exponential_buckets(0.001, 4.0, 12).collect(),
        fuel: exponential_buckets(1_000.0, 8.0, 14).collect(),
    }
}

fn seconds() -> Histogram {
    Histogram::new(buckets().seconds)
}

fn fuel() -> Histogram {
    Histogram::new(buckets().fuel)
}

/// `metric`, registered in `registry` under `name` (a clone shares its
/// values).
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

impl Metrics {
    /// The metrics `/metrics` shows, pushed to a collector too when `otlp`.
    pub fn new(otlp: Option<OtlpMetrics>) -> Self {
        let mut r = Registry::default();
        Self {
            runs_started: registered(
                &mut r,
                "wfhost_runs_started",
                "Runs this server started (new, or admitted from the queue)",
                Family::default(),
            ),
            runs_ended: registered(
                &mut r,
                "wfhost_runs_ended",
                "Runs driven here that ended, by status (interrupted and waiting runs continue later)",
                Family::default(),
            ),
            step_duration: registered(
                &mut r,
                "wfhost_step_duration_seconds",
                "Wall-clock time of step attempts, by module and action",
                Family::new_with_constructor(seconds as fn() -> Histogram),
            ),
            step_fuel: registered(
                &mut r,
                "wfhost_step_fuel",
                "Fuel step attempts consumed, by module and action",
                Family::new_with_constructor(fuel as fn() -> Histogram),
            ),
            step_failures: registered(
                &mut r,
                "wfhost_step_failures",
                "Failed step attempts, by module, action and failure kind",
                Family::default(),
            ),
            ticks_missed: registered(
                &mut r,
                "wfhost_cron_ticks_missed",
                "Cron ticks recorded missed (no server ran, or catch-up left them out)",
                Family::default(),
            ),
            webhook_rejections: registered(
                &mut r,
                "wfhost_webhook_rejections",
                "Webhook requests refused, by reason (the error kind answered)",
                Family::default(),
            ),
            lease_losses: registered(
                &mut r,
                "wfhost_lease_losses",
                "Runs whose lease another owner took while this server drove them",
                Counter::default(),
            ),
            trace_exports: registered(
                &mut r,
                "wfhost_trace_exports",
                "Runs' traces sent over OTLP, and sends the collector refused or left unanswered (those stay due and are sent again)",
                Family::default(),
            ),
            runs_queued: registered(
                &mut r,
                "wfhost_runs_queued",
                "Runs waiting for a concurrency slot or room under --max-runs (on this home)",
                Gauge::default(),
            ),
            runs_waiting: registered(
                &mut r,
                "wfhost_runs_waiting",
                "Runs waiting for a signal, an approval or a timer (on this home)",
                Gauge::default(),
            ),
            registry: r,
            otlp,
        }
    }
}

/// One more in `family` for `workflow`.
fn count_for(family: &Family<WorkflowLabels, Counter>, workflow: &str) {
    family
        .get_or_create(&WorkflowLabels {
            workflow: workflow.to_string(),
        })
        .inc();
}

impl Metrics {
    /// The collector metrics are pushed to, if any.
    pub fn otlp(&self) -> Option<&OtlpMetrics> {
        self.otlp.as_ref()
    }

    pub fn run_started(&self, workflow: &str) {
        count_for(&self.runs_started, workflow);
        if let Some(otlp) = self.otlp() {
            otlp.run_started(workflow);
        }
    }

    pub fn tick_missed(&self, workflow: &str) {
        count_for(&self.ticks_missed, workflow);
        if let Some(otlp) = self.otlp() {
            otlp.tick_missed(workflow);
        }
    }

    pub fn webhook_rejected(&self, reason: &str) {
        self.webhook_rejections
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
        if let Some(otlp) = self.otlp() {
            otlp.webhook_rejected(reason);
        }
    }

    pub fn lease_lost(&self) {
        self.lease_losses.inc();
        if let Some(otlp) = self.otlp() {
            otlp.lease_lost();
        }
    }

    /// Traces sent and sends that failed in one export pass.
    pub fn traces_exported(&self, sent: usize, failed: usize) {
        let (sent, failed) = (sent as u64, failed as u64);
        for (result, n) in [("sent", sent), ("failed", failed)] {
            self.trace_exports
                .get_or_create(&ResultLabels { result })
                .inc_by(n);
        }
        if let Some(otlp) = self.otlp() {
            otlp.traces_exported(sent, failed);
        }
    }

    /// The text Prometheus scrapes, the gauges read from `store` first.
    pub fn render(&self, store: &dyn RunStore) -> Result<String, StoreError> {
        let count = |status| -> Result<i64, StoreError> {
            Ok(i64::try_from(store.count_runs(status)?).unwrap_or(i64::MAX))
        };
        self.runs_queued.set(count(RunStatus::Queued)?);
        self.runs_waiting.set(count(RunStatus::Waiting)?);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .map_err(|error| StoreError::Refused(format!("cannot encode the metrics: {error}")))?;
        Ok(text)
    }

    /// An observer counting the events of one run of `plan`.
    pub fn observer(self: &Arc<Self>, plan: &Plan) -> RunMetrics {
        let actions = plan
            .steps
            .iter()
            .filter_map(|step| match &step.kind {
                StepKind::Action { module, action } => Some((
                    step.id.clone(),
                    ActionLabels {
                        module: module.name().to_string(),
                        action: action.clone(),
                    },
                )),
                StepKind::Workflow(child) => Some((
                    step.id.clone(),
                    ActionLabels {
                        module: "workflow".to_string(),
                        action: child.written.clone(),
                    },
                )),
                StepKind::Parallel { .. } | StepKind::Wait(_) => None,
            })
            .collect();
        RunMetrics {
            metrics: Arc::clone(self),
            workflow: plan.name.clone(),
            actions,
        }
    }
}

/// Counts one run's events into [`Metrics`].
#[derive(Debug)]
pub struct RunMetrics {
    metrics: Arc<Metrics>,
    workflow: String,
    /// Each action step's module and action.
    actions: HashMap<String, ActionLabels>,
}

impl Observer for RunMetrics {
    fn event(&mut self, event: &Event) {
        match event {
            Event::StepSucceeded {
                key,
                duration_ms,
                fuel,
                ..
            }
            | Event::StepFailed {
                key,
                duration_ms,
                fuel,
                ..
            } => {
                let Some(labels) = self.actions.get(&key.step) else {
                    return;
                };
                let metrics = &self.metrics;
                metrics
                    .step_duration
                    .get_or_create(labels)
                    .observe(duration_ms / 1000.0);
                metrics
                    .step_fuel
                    .get_or_create(labels)
                    .observe(*fuel as f64);
                let failure = match event {
                    Event::StepFailed { failure, .. } => Some(failure.kind.as_str()),
                    _ => None,
                };
                if let Some(kind) = failure {
                    metrics
                        .step_failures
                        .get_or_create(&FailureLabels {
                            module: labels.module.clone(),
                            action: labels.action.clone(),
                            kind: kind.to_string(),
                        })
                        .inc();
                }
                if let Some(otlp) = metrics.otlp() {
                    otlp.attempt(
                        &labels.module,
                        &labels.action,
                        duration_ms / 1000.0,
                        *fuel,
                        failure,
                    );
                }
            }
            Event::RunFinished { status, .. } => {
                self.metrics
                    .runs_ended
                    .get_or_create(&RunEndLabels {
                        workflow: self.workflow.clone(),
                        status: status.to_string(),
                    })
                    .inc();
                if let Some(otlp) = self.metrics.otlp() {
                    otlp.run_ended(&self.workflow, status.as_str());
                }
            }
            _ => {}
        }
    }
}
