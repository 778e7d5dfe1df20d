//! `wfhost worker`: drive the runs others record in a shared database (see
//! `service::worker`) until SIGTERM/SIGINT.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::home::Home;
use crate::service::worker::{Worker, WorkerConfig};
use crate::store::Durability;

use super::exit::{CliError, SUCCESS};
use super::load;

#[derive(Debug, clap::Args)]
pub(super) struct WorkerArgs {
    /// The most runs this worker drives at once; beyond, it leaves queued
    /// runs to other workers.
    #[arg(long, value_name = "N", default_value = "16", value_parser = clap::value_parser!(u32).range(1..))]
    slots: u32,
    /// The root that `permissions` paths are relative to.
    #[arg(long, value_name = "DIR", default_value = ".")]
    workspace: PathBuf,
    /// How long running steps get to finish when the worker stops; the
    /// rest is interrupted, and another worker continues it.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::units::parse_duration)]
    grace: Duration,
    /// How often to look for queued runs and for runs whose driver went
    /// silent, besides being woken by the database (PostgreSQL notifies
    /// workers when a run is queued or ends).
    #[arg(long, value_name = "DURATION", default_value = "250ms", value_parser = crate::units::parse_duration)]
    poll: Duration,
    #[arg(long, value_enum, default_value = "normal")]
    durability: Durability,
}

pub(super) fn run(home: &Home, args: &WorkerArgs) -> Result<u8, CliError> {
    let workspace = args
        .workspace
        .canonicalize()
        .with_context(|| format!("cannot use workspace {}", args.workspace.display()))?;
    let database = home.database();
    let config = WorkerConfig {
        database: database.clone(),
        durability: args.durability,
        workspace,
        slots: args.slots,
        grace: args.grace,
        poll: args.poll,
        runtime: load::runtime(home)?,
        registry: load::registry(home),
    };
    let tokio = super::tokio_runtime()?;
    tokio.block_on(async {
        let worker = Worker::start(config).await?;
        println!(
            "wfhost worker: taking runs from {database}, {} at once",
            args.slots
        );
        worker.work(super::serve::stop_signal()).await;
        println!(
            "wfhost worker: stopped; its unfinished runs are interrupted, and another worker continues them"
        );
        Ok::<_, CliError>(SUCCESS)
    })
}
