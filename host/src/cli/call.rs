//! `wfhost call MODULE ACTION`: run one action in a fresh sandbox.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::capabilities::{Ask, AskKind, intersect, is_env_name, is_host_port, workspace_relative};
use crate::catalog::Entry;
use crate::engine;
use crate::home::Home;
use crate::manifest::ModuleLimits;
use crate::sandbox::{CallContext, CallReport, Grants, Outcome};
use crate::units::{parse_duration, parse_size};
use crate::workflow::plan::StepPermissions;

use super::exit::{CliError, FAILURE, SUCCESS};
use super::load;

#[derive(Debug, clap::Args)]
pub(super) struct CallArgs {
    /// A module: `name`, `name@1.2.3`, `name@^1`, or a component's path (`.wasm`, `.wat`).
    module: String,
    /// The action: its WIT name (`add`), or `interface.add`.
    action: String,
    /// The input: a JSON object keyed by parameter name, `@FILE` to read it
    /// from a file, or `-` for stdin.
    #[arg(long, short, value_name = "JSON", default_value = "{}")]
    input: String,
    /// Fuel for the call (about one unit per WebAssembly instruction).
    /// Default: the module's manifest, else 10,000,000,000.
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Total linear memory the guest may use, e.g. `64MiB`. Default: the
    /// module's manifest, else 512MiB.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory: Option<u64>,
    /// Wall-clock limit for the call, e.g. `500ms`, `2s`, `5m`. Default: the
    /// module's manifest, else 60s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Print one JSON object with the status, output or error, and measurements.
    #[arg(long)]
    json: bool,
    /// Let the guest read this directory (relative to --workspace). Repeatable.
    #[arg(long, value_name = "PATH")]
    allow_read: Vec<String>,
    /// Let the guest read and write this directory (relative to --workspace). Repeatable.
    #[arg(long, value_name = "PATH")]
    allow_write: Vec<String>,
    /// Let the guest read this environment variable. Repeatable.
    #[arg(long, value_name = "NAME")]
    allow_env: Vec<String>,
    /// Let the guest run this host program (outside the sandbox, as you) through
    /// the `process` import. Repeatable.
    #[arg(long, value_name = "PROGRAM")]
    allow_run: Vec<String>,
    /// Let the guest connect to this `host:port` over TCP. Repeatable.
    #[arg(long, value_name = "HOST:PORT")]
    allow_net: Vec<String>,
    /// The root that --allow-read/--allow-write paths are relative to.
    #[arg(long, value_name = "DIR", default_value = ".")]
    workspace: PathBuf,
}

pub(super) fn run(home: &Home, args: &CallArgs) -> Result<u8, CliError> {
    let input = read_input(&args.input)?;
    let catalog = load::catalog(home)?;
    let entry = load::entry(&catalog, &args.module)?;
    let module = &entry.module;
    let limits = entry
        .manifest
        .as_ref()
        .map(|manifest| manifest.limits)
        .unwrap_or_default()
        .resolve(&ModuleLimits {
            fuel: args.fuel,
            memory_bytes: args.memory,
            timeout: args.timeout,
        });
    let action = module.action(&args.action)?.name.clone();
    let context = CallContext {
        cancel: None,
        idempotency_key: None,
        grants: Arc::new(grants(args, &entry, &action)?),
    };
    let tokio = super::tokio_runtime()?;
    let report = tokio.block_on(module.call_with(&args.action, &input, &limits, &context))?;

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print_human(&report)?;
    }
    Ok(if report.is_success() {
        SUCCESS
    } else {
        FAILURE
    })
}

/// The `--allow-*` flags as grants, checked like a workflow's `permissions`
/// and met with what the module asks for (a required ask not granted is a
/// usage error naming the flag to add).
fn grants(args: &CallArgs, entry: &Entry, action: &str) -> Result<Grants, CliError> {
    let mut permissions = StepPermissions::default();
    let refuse = |message: String| CliError(anyhow::anyhow!(message));
    // The same normalisation and checks as a workflow's `permissions`, so
    // `./docs/` and `docs` are one grant and meet a module's asks alike.
    for (paths, writable) in [(&args.allow_read, false), (&args.allow_write, true)] {
        for path in paths {
            let path = workspace_relative(path).ok_or_else(|| {
                refuse(format!(
                    "`{path}` is not a path inside the workspace; grant a non-empty relative path without `..` (`.` for the whole workspace)"
                ))
            })?;
            permissions.add_dir(path, writable);
        }
    }
    for name in &args.allow_env {
        if !is_env_name(name) {
            return Err(refuse(format!(
                "`{name}` is not an environment variable name"
            )));
        }
        StepPermissions::add_name(&mut permissions.env, name);
    }
    for program in &args.allow_run {
        StepPermissions::add_name(&mut permissions.run, program);
    }
    for address in &args.allow_net {
        if !is_host_port(address) {
            return Err(refuse(format!(
                "`{address}` is not a `host:port` address, such as 127.0.0.1:8080"
            )));
        }
        StepPermissions::add_name(&mut permissions.net, address);
    }
    let asks = entry.manifest.as_ref().map(|m| m.capabilities.as_slice());
    let met = intersect(asks, &permissions, action);
    if !met.missing.is_empty() {
        let lines: Vec<String> = met
            .missing
            .iter()
            .map(|ask| {
                format!(
                    "module `{}` asks to {} (its reason: \"{}\"); grant it with {}",
                    entry.module.name(),
                    ask.describe(),
                    ask.reason,
                    flag_for(ask)
                )
            })
            .collect();
        return Err(refuse(lines.join("\n")));
    }
    let workspace = engine::grants::open_workspace(&args.workspace).map_err(refuse)?;
    engine::grants::resolve_one(&met.effective, &workspace)
        .map_err(|problems| CliError(anyhow::anyhow!("{}", problems.join("; "))))
}

/// The `wfhost call` flag that grants `ask`.
fn flag_for(ask: &Ask) -> String {
    match &ask.kind {
        AskKind::Fs { path, writable } => format!(
            "--allow-{} {}",
            if *writable { "write" } else { "read" },
            if path == "*" { "DIR" } else { path }
        ),
        AskKind::Env { name } => format!("--allow-env {}", if name == "*" { "NAME" } else { name }),
        AskKind::Run { program } => {
            format!(
                "--allow-run {}",
                if program == "*" { "PROGRAM" } else { program }
            )
        }
        AskKind::Net { host } => {
            format!(
                "--allow-net {}",
                if host == "*" { "HOST:PORT" } else { host }
            )
        }
    }
}

fn read_input(text: &str) -> Result<Value, CliError> {
    let (source, text) = match text {
        "-" => (
            "stdin".to_string(),
            std::io::read_to_string(std::io::stdin()).context("cannot read --input from stdin")?,
        ),
        file if file.starts_with('@') => {
            let path = &file[1..];
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --input file {path}"))?;
            (path.to_string(), text)
        }
        inline => ("--input".to_string(), inline.to_string()),
    };
    serde_json::from_str(&text).map_err(|error| {
        CliError(anyhow::anyhow!(
            "{source} is not valid JSON: {error}; pass an object such as '{{\"name\": \"world\"}}'"
        ))
    })
}

fn print_human(report: &CallReport) -> anyhow::Result<()> {
    for record in &report.logs {
        let fields: String = record
            .fields
            .iter()
            .map(|(key, value)| format!(" {key}={value}"))
            .collect();
        eprintln!("[{}] {}{fields}", record.level, record.message);
    }
    if report.dropped_logs > 0 {
        eprintln!("[wfhost] {} more log lines dropped", report.dropped_logs);
    }
    match &report.outcome {
        Outcome::Success(output) => {
            println!("{}", serde_json::to_string_pretty(output)?);
        }
        Outcome::Failure(failure) => {
            eprintln!("failed ({}): {}", failure.kind, failure.message);
            if let Some(error) = &failure.error
                && (error.is_object() || error.is_array())
            {
                eprintln!("{}", serde_json::to_string_pretty(error)?);
            }
            for (name, captured) in [("stdout", &report.stdout), ("stderr", &report.stderr)] {
                if !captured.text.is_empty() {
                    eprintln!("--- guest {name} ---\n{}", captured.display().trim_end());
                }
            }
        }
    }
    if std::io::stderr().is_terminal() {
        eprintln!(
            "{} in {:.1?}, fuel {}, memory peak {}",
            if report.is_success() { "ok" } else { "failed" },
            report.duration,
            report.fuel_consumed,
            bytesize::ByteSize(report.memory_peak_bytes).display().iec()
        );
    }
    Ok(())
}
