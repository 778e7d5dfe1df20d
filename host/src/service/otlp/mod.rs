//! OTLP export: `serve`'s metrics ([`OtlpMetrics`], pushed periodically)
//! and runs' traces. A run started by a process that exports traces
//! (`--otlp URL`, or `OTEL_EXPORTER_OTLP_ENDPOINT` /
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is recorded as due; once it has
//! ended, an exporter claims it in the store, builds its whole trace from
//! the journal ([`spans`]) and sends it in one OTLP/HTTP request. A run
//! that crashed and resumed, or waited a week, is still one trace, sent
//! once. The journal is the queue: a collector that is down costs the
//! runs nothing; the trace stays due and is sent by a later pass (`serve`
//! retries with backoff; `wfhost run` and `resume` try once, briefly,
//! after the run ended).
//!
//! Where it goes follows OpenTelemetry's exporter variables: `--otlp URL`
//! (a base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` is) or
//! `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`;
//! `OTEL_SDK_DISABLED=true` turns it off.

mod client;
mod metrics;
mod spans;
mod traces;

use opentelemetry_sdk::Resource;

pub use self::metrics::{Buckets, Gauges, OtlpMetrics};
pub use self::spans::trace_spans;
pub use self::traces::{Exported, TraceExporter};

/// Why an exporter cannot be built as configured.
#[derive(Debug, thiserror::Error)]
#[error("cannot export to {endpoint}: {reason}; fix --otlp or the OTEL_EXPORTER_OTLP_* variables")]
pub struct ExporterError {
    endpoint: String,
    reason: String,
}

impl ExporterError {
    fn new(endpoint: &str, reason: impl std::fmt::Display) -> Self {
        Self {
            endpoint: endpoint.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// A variable of the environment, when set and not blank.
fn from_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The URL `signal` (`TRACES`, `METRICS`) is sent to, from `--otlp` or the
/// environment; `None` when export is off.
fn endpoint(flag: Option<&str>, signal: &str, path: &str) -> Option<String> {
    if from_env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return None;
    }
    let base = |base: String| format!("{}/v1/{path}", base.trim_end_matches('/'));
    match flag {
        Some(url) => Some(base(url.to_string())),
        None => from_env(&format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"))
            .or_else(|| from_env("OTEL_EXPORTER_OTLP_ENDPOINT").map(base)),
    }
}

/// Who sends: `service.name` (`OTEL_SERVICE_NAME`, else `wfhost`) and
/// `service.version`.
fn resource() -> Resource {
    Resource::builder()
        .with_service_name(from_env("OTEL_SERVICE_NAME").unwrap_or_else(|| "wfhost".to_string()))
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build()
}
