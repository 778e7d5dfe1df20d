//! `wfhost serve`: the always-on engine (see `service`): the workflows of a
//! folder, the HTTP API, any number of runs at once, until SIGTERM/SIGINT.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::home::Home;
use crate::service::clock::Clock;
use crate::service::library::Change;
use crate::service::{ServeConfig, Service};
use crate::store::Durability;

use super::exit::{CliError, SUCCESS};
use super::load;

#[derive(Debug, clap::Args)]
pub(super) struct ServeArgs {
    /// The folder of workflow files to serve (`*.yaml`, `*.yml`, `*.json`);
    /// each is named by its file name without the extension. Changes are
    /// picked up while serving.
    #[arg(long, value_name = "DIR", default_value = "workflows")]
    workflows: PathBuf,
    /// The address to listen on. The default is loopback only; another
    /// address serves beyond this machine (put TLS in front).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    listen: SocketAddr,
    /// The root that `permissions` paths are relative to.
    #[arg(long, value_name = "DIR", default_value = ".")]
    workspace: PathBuf,
    /// How long running steps get to finish when the server stops; the
    /// rest is interrupted and resumed by the next start.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::units::parse_duration)]
    grace: Duration,
    /// Answer GET requests (API reads, dashboard pages) without a token;
    /// writes always need one. Only with a loopback `--listen` address.
    #[arg(long)]
    open_reads: bool,
    /// The most runs this server starts at once; beyond, runs are recorded
    /// `queued` and start, oldest first, as others end.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_runs: Option<u32>,
    #[arg(long, value_enum, default_value = "normal")]
    durability: Durability,
    #[command(flatten)]
    otlp: super::otlp::OtlpArgs,
    /// Drive no runs here: serve the API, the dashboard, cron and webhooks,
    /// and record every run queued for the `wfhost worker` processes that
    /// share the database (`--db`).
    #[arg(long)]
    no_worker: bool,
}

pub(super) fn run(home: &Home, args: &ServeArgs) -> Result<u8, CliError> {
    if args.open_reads && !args.listen.ip().is_loopback() {
        return Err(anyhow::anyhow!(
            "--open-reads shows every run to anyone who can reach {}; it is allowed on a loopback address only (e.g. --listen 127.0.0.1:7878); create tokens for others with `wfhost token create NAME`",
            args.listen
        )
        .into());
    }
    let workspace = args
        .workspace
        .canonicalize()
        .with_context(|| format!("cannot use workspace {}", args.workspace.display()))?;
    let config = ServeConfig {
        workflows: args.workflows.clone(),
        database: home.database(),
        durability: args.durability,
        workspace,
        grace: args.grace,
        open_reads: args.open_reads,
        max_runs: args.max_runs.map(|n| n as usize),
        clock: clock()?,
        runtime: load::runtime(home)?,
        registry: load::registry(home),
        otlp: args.otlp.url().map(str::to_string),
        no_worker: args.no_worker,
    };
    let tokio = super::tokio_runtime()?;
    tokio.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        let (service, startup) = Service::start(config).await?;
        report(&startup, args);
        if !address.ip().is_loopback() {
            eprintln!(
                "warning: listening on {address}, beyond this machine: every request needs a token, and traffic is plain HTTP (put TLS in front)"
            );
        }
        println!("wfhost serve: listening on http://{address}");
        let _ = std::io::stdout().flush();
        service.serve(listener, stop_signal()).await?;
        println!("wfhost serve: stopped; interrupted runs resume at the next start");
        Ok::<_, CliError>(SUCCESS)
    })
}

fn report(startup: &crate::service::Startup, args: &ServeArgs) {
    let mut serving = 0;
    for change in &startup.changes {
        match change {
            Change::Loaded(_) => serving += 1,
            Change::Invalid(name, problems) => {
                eprint!("warning: workflow `{name}` is not served:\n{problems}");
            }
            Change::Shadowed(name, why) => {
                eprintln!("warning: workflow `{name}`: {why}");
            }
            Change::Removed(_) => {}
        }
    }
    println!(
        "wfhost serve: {serving} workflow{} from {}, {} cron schedule{}",
        if serving == 1 { "" } else { "s" },
        args.workflows.display(),
        startup.schedules,
        if startup.schedules == 1 { "" } else { "s" },
    );
    for run in &startup.adopted {
        println!("wfhost serve: adopted run {run} (its owner was gone); continuing it");
    }
    for (run, why) in &startup.not_adopted {
        eprintln!("warning: run {run} was left by its owner but cannot be continued: {why}");
    }
    if let Some(endpoint) = &startup.traces_to {
        println!("wfhost serve: sending runs' traces to {endpoint}");
    }
    if let Some(endpoint) = &startup.metrics_to {
        println!(
            "wfhost serve: pushing metrics to {endpoint} (every OTEL_METRIC_EXPORT_INTERVAL ms, default 60000)"
        );
    }
    if !startup.has_tokens {
        eprintln!(
            "note: no API tokens yet, so nothing can start or stop runs over HTTP; create one with `wfhost token create NAME`"
        );
    }
}

/// The system clock, or for tests one starting at `WFHOST_TEST_CLOCK`
/// (RFC 3339), so cron ticks can be crossed without waiting for them.
fn clock() -> Result<Clock, CliError> {
    match std::env::var("WFHOST_TEST_CLOCK") {
        Err(_) => Ok(Clock::system()),
        Ok(start) => {
            let start = chrono::DateTime::parse_from_rfc3339(&start).with_context(|| {
                format!("WFHOST_TEST_CLOCK must be an RFC 3339 time, not `{start}`")
            })?;
            Ok(Clock::starting_at(start.with_timezone(&chrono::Utc)))
        }
    }
}

/// SIGTERM or SIGINT (Ctrl-C).
pub(super) async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
