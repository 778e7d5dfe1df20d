//! `--otlp URL` on `run`, `resume` and `serve`: where runs' traces (and
//! `serve`'s metrics) go (`service::otlp`), and the export after a run
//! driven from the CLI.

use std::time::Duration;

use crate::service::otlp::TraceExporter;
use crate::service::shared_store::SharedStore;
use crate::store::{self, Durability};

use super::exit::CliError;

/// How long the CLI waits for the collector after the run ended.
const CLI_EXPORT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, clap::Args)]
pub(super) struct OtlpArgs {
    /// Send each run's trace (and, from `serve`, the metrics) to this
    /// OTLP/HTTP collector (its base URL, e.g. `http://127.0.0.1:4318`).
    /// Default: the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
    /// `..._TRACES_ENDPOINT`, `..._METRICS_ENDPOINT`).
    #[arg(long, value_name = "URL")]
    otlp: Option<String>,
}

impl OtlpArgs {
    /// The URL `--otlp` gave.
    pub fn url(&self) -> Option<&str> {
        self.otlp.as_deref()
    }

    pub fn exporter(&self) -> Result<Option<TraceExporter>, CliError> {
        TraceExporter::configured(self.otlp.as_deref()).map_err(|error| CliError(error.into()))
    }
}

/// Send the traces due in the store (the run just driven, and any a
/// collector refused before), waiting for the collector a few seconds at
/// most; what it did not take stays due, and the user is told.
pub(super) fn export_after_run(
    traces: &TraceExporter,
    tokio: &tokio::runtime::Runtime,
    database: &store::Location,
    durability: Durability,
) {
    let exported = store::open(database, durability).and_then(|store| {
        tokio.block_on(traces.export_due(&SharedStore::new(store), CLI_EXPORT_TIMEOUT))
    });
    match exported {
        Ok(exported) => {
            for (run, why) in exported.refused {
                eprintln!(
                    "warning: the collector at {} refused the trace of run {run} ({why}); it is not sent again",
                    traces.endpoint()
                );
            }
            for (run, why) in exported.failed {
                eprintln!(
                    "warning: the trace of run {run} was not sent to {}: {why}; it stays due, and the next `wfhost run`, `resume` or `serve` with OTLP set sends it",
                    traces.endpoint()
                );
            }
        }
        Err(error) => eprintln!("warning: cannot export traces: {error:#}"),
    }
}
