//! `serve`'s metrics over OTLP/HTTP: the same instruments, names and
//! labels as `/metrics` (`service::metrics` records into both), pushed
//! every `OTEL_METRIC_EXPORT_INTERVAL` (default 60 s) by the SDK's
//! periodic reader, cumulative like Prometheus' counters. The queued and
//! waiting gauges are read when the reader collects.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, MeterProvider as _};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};

use super::ExporterError;
use super::client::OnRuntime;
use crate::engine::RunStatus;

/// How long one push may take.
const PUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Histogram bucket bounds, the same as `/metrics` uses.
#[derive(Debug, Clone)]
pub struct Buckets {
    pub seconds: Vec<f64>,
    pub fuel: Vec<f64>,
}

/// Reads a gauge: how many runs have a status (`None` when unknown).
pub type Gauges = Arc<dyn Fn(RunStatus) -> Option<u64> + Send + Sync>;

/// The instruments, pushed to a collector.
#[derive(Debug)]
pub struct OtlpMetrics {
    provider: SdkMeterProvider,
    endpoint: String,
    runs_started: Counter<u64>,
    runs_ended: Counter<u64>,
    step_duration: Histogram<f64>,
    step_fuel: Histogram<f64>,
    step_failures: Counter<u64>,
    ticks_missed: Counter<u64>,
    webhook_rejections: Counter<u64>,
    lease_losses: Counter<u64>,
    trace_exports: Counter<u64>,
}

impl OtlpMetrics {
    /// Push to the collector `--otlp URL` or the environment names; `None`
    /// when neither does. Call it on the tokio runtime the pushes go out on.
    pub fn configured(
        flag: Option<&str>,
        buckets: Buckets,
        gauges: &Gauges,
    ) -> Result<Option<Self>, ExporterError> {
        let Some(endpoint) = super::endpoint(flag, "METRICS", "metrics") else {
            return Ok(None);
        };
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_http_client(OnRuntime::current(PUSH_TIMEOUT))
            .with_endpoint(endpoint.clone())
            .build()
            .map_err(|error| ExporterError::new(&endpoint, error))?;
        let provider = SdkMeterProvider::builder()
            .with_resource(super::resource())
            .with_reader(PeriodicReader::builder(exporter).build())
            .build();
        Ok(Some(Self::instruments(provider, endpoint, buckets, gauges)))
    }

    fn instruments(
        provider: SdkMeterProvider,
        endpoint: String,
        buckets: Buckets,
        gauges: &Gauges,
    ) -> Self {
        let meter = provider.meter("wfhost");
        let counter = |name: &'static str| meter.u64_counter(name).build();
        for (name, status) in [
            ("wfhost_runs_queued", RunStatus::Queued),
            ("wfhost_runs_waiting", RunStatus::Waiting),
        ] {
            let gauges = Arc::clone(gauges);
            meter
                .u64_observable_gauge(name)
                .with_callback(move |observer| {
                    if let Some(count) = gauges(status) {
                        observer.observe(count, &[]);
                    }
                })
                .build();
        }
        Self {
            runs_started: counter("wfhost_runs_started"),
            runs_ended: counter("wfhost_runs_ended"),
            step_duration: meter
                .f64_histogram("wfhost_step_duration_seconds")
                .with_unit("s")
                .with_boundaries(buckets.seconds)
                .build(),
            step_fuel: meter
                .f64_histogram("wfhost_step_fuel")
                .with_boundaries(buckets.fuel)
                .build(),
            step_failures: counter("wfhost_step_failures"),
            ticks_missed: counter("wfhost_cron_ticks_missed"),
            webhook_rejections: counter("wfhost_webhook_rejections"),
            lease_losses: counter("wfhost_lease_losses"),
            trace_exports: counter("wfhost_trace_exports"),
            provider,
            endpoint,
        }
    }

    /// Where the metrics go.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn run_started(&self, workflow: &str) {
        self.runs_started
            .add(1, &[KeyValue::new("workflow", workflow.to_string())]);
    }

    pub fn run_ended(&self, workflow: &str, status: &'static str) {
        self.runs_ended.add(
            1,
            &[
                KeyValue::new("workflow", workflow.to_string()),
                KeyValue::new("status", status),
            ],
        );
    }

    /// One attempt of `module`'s `action`: its time, fuel and failure kind.
    pub fn attempt(
        &self,
        module: &str,
        action: &str,
        seconds: f64,
        fuel: u64,
        failure: Option<&str>,
    ) {
        let labels = [
            KeyValue::new("module", module.to_string()),
            KeyValue::new("action", action.to_string()),
        ];
        self.step_duration.record(seconds, &labels);
        self.step_fuel.record(fuel as f64, &labels);
        if let Some(kind) = failure {
            let [module, action] = labels;
            self.step_failures.add(
                1,
                &[module, action, KeyValue::new("kind", kind.to_string())],
            );
        }
    }

    pub fn tick_missed(&self, workflow: &str) {
        self.ticks_missed
            .add(1, &[KeyValue::new("workflow", workflow.to_string())]);
    }

    pub fn webhook_rejected(&self, reason: &str) {
        self.webhook_rejections
            .add(1, &[KeyValue::new("reason", reason.to_string())]);
    }

    pub fn lease_lost(&self) {
        self.lease_losses.add(1, &[]);
    }

    pub fn traces_exported(&self, sent: u64, failed: u64) {
        self.trace_exports
            .add(sent, &[KeyValue::new("result", "sent")]);
        self.trace_exports
            .add(failed, &[KeyValue::new("result", "failed")]);
    }

    /// Push what was recorded since the last push, and stop (blocks: call
    /// it off the runtime).
    pub fn shut_down(&self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(endpoint = %self.endpoint, "the last metrics were not pushed: {error}");
        }
    }
}
