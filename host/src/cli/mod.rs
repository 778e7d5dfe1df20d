//! The command line: the only code that prints or exits.

// Printing is this module's job; the lints forbid it everywhere else.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod actions;
mod call;
mod circuit;
mod control;
mod drive;
mod exit;
mod graph;
mod load;
mod lock;
mod module;
mod new;
mod otlp;
mod report;
mod resume;
mod run;
mod runs;
mod schedules;
mod schema;
mod screen;
mod serve;
mod token;
mod validate;
mod worker;
mod workflow_file;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use exit::CliError;
pub use exit::{FAILURE, SUCCESS, USAGE};

/// wfhost runs workflows of sandboxed WebAssembly components.
///
/// Every action runs in a fresh sandbox under fuel, memory and time limits,
/// with no filesystem, environment, process or network access unless granted.
#[derive(Debug, Parser)]
#[command(name = "wfhost", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// State directory (artifact cache, journal). Default: the XDG data dir.
    #[arg(long, global = true, env = "WFHOST_HOME", value_name = "DIR")]
    home: Option<PathBuf>,

    /// Where precompiled components are kept. Default: `cache/components`
    /// in the home. Several homes may share one (every artifact is checked
    /// against its record), but it must be writable by you alone.
    #[arg(long, global = true, env = "WFHOST_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// Where runs are kept: a SQLite file (default: `wfhost.db` in the
    /// home) or a PostgreSQL database every process shares
    /// (`postgres://USER@HOST/DB`).
    #[arg(long, global = true, env = "WFHOST_DB", value_name = "FILE|URL")]
    db: Option<crate::store::Location>,

    /// How long a run's driver may go silent (paused, partitioned, killed on
    /// another machine) before another process takes the run over; renewed
    /// every third of it. Shorter takes over sooner and writes more often.
    #[arg(long, global = true, env = "WFHOST_LEASE", value_name = "DURATION", value_parser = parse_lease)]
    lease: Option<std::time::Duration>,

    #[command(subcommand)]
    command: Command,
}

fn parse_lease(text: &str) -> Result<std::time::Duration, String> {
    let lease = crate::units::parse_duration(text)?;
    if !(std::time::Duration::from_secs(1)..=std::time::Duration::from_secs(3600)).contains(&lease)
    {
        return Err(format!("a lease of {text} is outside 1s..1h"));
    }
    Ok(lease)
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a workflow: validate it, then execute its steps and report each.
    Run(run::RunArgs),
    /// Write a new workflow by answering questions (or from a template).
    New(new::NewArgs),
    /// Check a workflow and print every problem at its line; exit 0 when valid.
    Validate(validate::ValidateArgs),
    /// Continue a run that crashed, was paused, interrupted or failed.
    Resume(resume::ResumeArgs),
    /// List runs, newest first.
    List(runs::ListArgs),
    /// Show a run and each of its steps.
    Status(runs::StatusArgs),
    /// Show a run's events and its steps' captured output.
    Logs(runs::LogsArgs),
    /// Ask the process driving a run to pause it (resume continues it).
    Pause(control::RunArg),
    /// Cancel a run: running steps stop, then its `finally` steps run
    /// (cancel again, or `--now`, to skip them).
    Cancel(control::CancelArgs),
    /// Send a signal to a run: a step waiting for it (now or later) takes it.
    Signal(control::SignalArgs),
    /// Approve a step that waits for approvals.
    Approve(control::AnswerArgs),
    /// Reject a step that waits for approvals: it fails with kind `rejected`.
    Reject(control::AnswerArgs),
    /// Serve the workflows of a folder: the HTTP API and any number of runs
    /// at once, until SIGTERM or Ctrl-C.
    Serve(serve::ServeArgs),
    /// Drive the runs servers record in a shared database (`--db`): queued
    /// runs, and runs whose driver went silent past its lease.
    Worker(worker::WorkerArgs),
    /// List the cron schedules of a folder's workflows: next fire times and
    /// what recent ticks did.
    Schedules(schedules::SchedulesArgs),
    /// Create, revoke and list API tokens for `wfhost serve`.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// List circuit breakers, or close one.
    #[command(subcommand)]
    Circuit(circuit::CircuitCommand),
    /// Delete ended runs older than a duration.
    Prune(control::PruneArgs),
    /// Print a workflow's routing graph (Mermaid or Graphviz DOT).
    Graph(graph::GraphArgs),
    /// Print the JSON Schema of the workflow format (for editor completion).
    Schema,
    /// Call one action of a module and print its output.
    Call(call::CallArgs),
    /// List a module's actions with their WIT signatures and docs.
    Actions(actions::ActionsArgs),
    /// Install, list, show, remove, create, build and pack modules.
    #[command(subcommand)]
    Module(module::ModuleCommand),
    /// Pin the exact version and sha256 of every module a workflow uses in
    /// FILE.lock beside it; `run` then loads exactly those.
    Lock(lock::LockArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// Parse arguments, run the command, and turn the result into an exit code.
pub fn main() -> ExitCode {
    quiet_on_closed_pipe();
    init_tracing();
    let cli = Cli::parse();
    let home = crate::home::Home::resolve(cli.home, cli.cache_dir, cli.db);
    if let Some(lease) = cli.lease {
        crate::store::set_lease_ttl(lease);
    }
    let result = match cli.command {
        Command::Run(args) => run::run(&home, &args),
        Command::New(args) => new::run(&home, &args),
        Command::Validate(args) => validate::run(&home, &args),
        Command::Resume(args) => resume::run(&home, &args),
        Command::List(args) => runs::list(&home, &args),
        Command::Status(args) => runs::status(&home, &args),
        Command::Logs(args) => runs::logs(&home, &args),
        Command::Pause(args) => control::pause(&home, &args),
        Command::Cancel(args) => control::cancel(&home, &args),
        Command::Signal(args) => control::signal(&home, &args),
        Command::Approve(args) => control::approve(&home, &args),
        Command::Reject(args) => control::reject(&home, &args),
        Command::Prune(args) => control::prune(&home, &args),
        Command::Circuit(command) => circuit::run(&home, &command),
        Command::Serve(args) => serve::run(&home, &args),
        Command::Worker(args) => worker::run(&home, &args),
        Command::Schedules(args) => schedules::run(&home, &args),
        Command::Token(command) => token::run(&home, &command),
        Command::Graph(args) => graph::run(&home, &args),
        Command::Schema => schema::run(),
        Command::Call(args) => call::run(&home, &args),
        Command::Actions(args) => actions::run(&home, &args),
        Command::Module(command) => module::run(&home, &command),
        Command::Lock(args) => lock::run(&home, &args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "wfhost", &mut std::io::stdout());
            Ok(SUCCESS)
        }
    };
    match result {
        Ok(code) => exit::code(code),
        Err(error) => {
            eprintln!("error: {:#}", error.0);
            exit::code(error.code())
        }
    }
}

/// `wfhost list | head` should end quietly when `head` closes the pipe, as
/// Unix tools do, instead of panicking in `println!`: restore the default
/// SIGPIPE disposition the Rust runtime ignores.
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    #[allow(unsafe_code)]
    // SAFETY: called first thing in `main`, before any other thread exists;
    // `signal` with `SIG_DFL` only changes this process's disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Diagnostics go to stderr, filtered by `WFHOST_LOG` (default: warnings).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WFHOST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .try_init();
}

/// A tokio runtime for one command.
fn tokio_runtime() -> Result<tokio::runtime::Runtime, CliError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks over every command (conflicting flags,
    /// such as a `--version` argument beside the global one).
    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
