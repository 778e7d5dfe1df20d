//! `wfhost pause RUN`, `wfhost cancel RUN`, `wfhost prune --older-than D`.

use std::time::Duration;

use crate::engine::Stop;
use crate::home::Home;
use crate::store::{self, Durability};
use crate::units::parse_duration;

use super::exit::{CliError, SUCCESS};

#[derive(Debug, clap::Args)]
pub(super) struct RunArg {
    run: String,
}

#[derive(Debug, clap::Args)]
pub(super) struct CancelArgs {
    run: String,
    /// Skip the run's `finally` steps too (as a second cancel does).
    #[arg(long)]
    now: bool,
}

#[derive(Debug, clap::Args)]
pub(super) struct PruneArgs {
    /// Delete ended runs (succeeded, failed, cancelled) older than this, e.g. `7d`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    older_than: Duration,
}

pub(super) fn pause(home: &Home, args: &RunArg) -> Result<u8, CliError> {
    let mut store = store::open(&home.database(), Durability::Normal)?;
    store.request(&args.run, Stop::Pause)?;
    println!(
        "asked the process driving run {0} to pause: running steps finish, nothing new starts; `wfhost resume {0}` continues it",
        args.run
    );
    Ok(SUCCESS)
}

pub(super) fn cancel(home: &Home, args: &CancelArgs) -> Result<u8, CliError> {
    let mut store = store::open(&home.database(), Durability::Normal)?;
    let stop = if args.now {
        Stop::CancelNow
    } else {
        Stop::Cancel
    };
    if store.request(&args.run, stop)? {
        println!(
            "asked the process driving run {0} to cancel it: running steps stop and are recorded cancelled{1}",
            args.run,
            if args.now {
                ", and its `finally` steps are skipped"
            } else {
                "; its `finally` steps run (cancel again, or `--now`, to skip them)"
            }
        );
    } else {
        println!("run {} cancelled", args.run);
    }
    Ok(SUCCESS)
}

pub(super) fn prune(home: &Home, args: &PruneArgs) -> Result<u8, CliError> {
    let mut store = store::open(&home.database(), Durability::Normal)?;
    let cutoff = store::now_seconds() - args.older_than.as_secs_f64();
    let pruned = store.prune(cutoff)?;
    println!("pruned {pruned} run{}", if pruned == 1 { "" } else { "s" });
    Ok(SUCCESS)
}
