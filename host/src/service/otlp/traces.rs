//! Runs' traces over OTLP/HTTP: claimed in the store once the run ended,
//! built from the journal ([`trace_spans`](super::trace_spans)), sent in
//! one request, given back when the collector refuses.

use std::time::Duration;

use opentelemetry_otlp::{RetryPolicy, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SpanExporter as _;

use super::ExporterError;
use super::client::Watched;
use super::trace_spans;
use crate::service::shared_store::SharedStore;
use crate::store::StoreError;

/// The longest one request may take (the caller's timeout may be shorter).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// A status that says the same request will never be taken: a client
/// error other than a timeout or "too many requests".
fn refused_for_good(status: u16) -> bool {
    (400..500).contains(&status) && status != 408 && status != 429
}

/// How many due traces one pass sends at most.
const PASS_LIMIT: usize = 64;

/// Sends runs' traces to an OTLP/HTTP collector.
#[derive(Debug)]
pub struct TraceExporter {
    exporter: opentelemetry_otlp::SpanExporter,
    client: Watched,
    endpoint: String,
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct Exported {
    /// Runs whose traces were sent.
    pub runs: usize,
    /// Runs whose traces the collector did not take (still due), and why.
    pub failed: Vec<(String, String)>,
    /// Runs whose traces the collector refused for good (a 4xx answer:
    /// not sent again), and why.
    pub refused: Vec<(String, String)>,
}

impl TraceExporter {
    /// The exporter `--otlp URL` asks for (the collector's base URL, as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is), or the standard environment's;
    /// `None` when neither asks for traces or `OTEL_SDK_DISABLED=true`.
    pub fn configured(flag: Option<&str>) -> Result<Option<Self>, ExporterError> {
        let Some(endpoint) = super::endpoint(flag, "TRACES", "traces") else {
            return Ok(None);
        };
        let client = Watched::new(SEND_TIMEOUT);
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client.clone())
            // The journal is the queue: a trace not taken stays due and the
            // next pass sends it, so one send is one request.
            .with_retry_policy(RetryPolicy::disabled())
            .with_endpoint(endpoint.clone())
            .build()
            .map_err(|error| ExporterError::new(&endpoint, error))?;
        exporter.set_resource(&super::resource());
        Ok(Some(Self {
            exporter,
            client,
            endpoint,
        }))
    }

    /// Where traces go (`http://collector:4318/v1/traces`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Send the traces of ended runs that are due, each claimed first so
    /// that no other process sends it too; one the collector refuses (or
    /// does not answer within `timeout`) is given back, due again, and the
    /// pass stops there.
    pub async fn export_due(
        &self,
        store: &SharedStore,
        timeout: Duration,
    ) -> Result<Exported, StoreError> {
        let mut exported = Exported::default();
        let due = store.with(|store| store.traces_due(PASS_LIMIT)).await?;
        for run in due {
            let claimed = {
                let run = run.clone();
                store
                    .with(move |store| {
                        if !store.claim_trace(&run)? {
                            return Ok(None);
                        }
                        match trace_spans(store, &run) {
                            Ok(spans) => Ok(Some(spans)),
                            Err(error) => {
                                store.release_trace(&run)?;
                                Err(error)
                            }
                        }
                    })
                    .await?
            };
            let Some(spans) = claimed else { continue };
            let count = spans.len();
            let sent = match tokio::time::timeout(timeout, self.exporter.export(spans)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(error.to_string()),
                Err(_) => Err(format!(
                    "no answer within {}",
                    humantime::format_duration(timeout)
                )),
            };
            match sent {
                Ok(()) => {
                    exported.runs += 1;
                    tracing::debug!(run = %run, spans = count, "trace exported");
                }
                Err(why) => {
                    if let Some(status) = self.client.take_status().filter(|s| refused_for_good(*s))
                    {
                        // Sending it again would be refused again: it stays taken.
                        let why = format!("HTTP {status}: {why}");
                        tracing::debug!(run = %run, endpoint = %self.endpoint, "trace refused: {why}");
                        exported.refused.push((run, why));
                        continue;
                    }
                    let back = run.clone();
                    store.with(move |store| store.release_trace(&back)).await?;
                    tracing::debug!(run = %run, endpoint = %self.endpoint, "trace not exported: {why}");
                    exported.failed.push((run, why));
                    // The collector is down or slow: the rest wait for the next pass.
                    break;
                }
            }
        }
        Ok(exported)
    }
}
