//! Workflow benchmarks: `cargo bench -p wfhost --bench workflow`.
//!
//! Prints:
//! - parse + validate (with the WIT type check) of generated workflows of
//!   1,000, 10,000 and 100,000 steps, and the time to the first step started,
//! - engine time per step of a 1,000-step linear workflow of no-op actions,
//!   with the time spent inside the sandbox taken out, without and with the
//!   journal, and with 10 KiB and 100 KiB passed from step to step (as
//!   ratios to no-op) and the database bytes each step costs,
//! - throughput of a fan-out of 1,000 parallel no-op steps joined by a group,
//! - judging hostile files: a 10,000-step cycle and 4 MiB of invalid steps,
//!   read, validated and rendered (goal ≤ 1 s each).
//!
//! Figures are printed, never asserted: goals live in the issue tracker.

#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Map;
use wfhost::catalog::Catalog;
use wfhost::diagnostics::Source;
use wfhost::engine::{self, Discard, RunOptions, RunSummary};
use wfhost::sandbox::Runtime;
use wfhost::store::{self, Durability, Journal, NewRun, Owner};
use wfhost::workflow::{self, Plan};

/// The allocator the `wfhost` binary uses, so the figures are its figures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const STEPS: usize = 1_000;

fn noop_module() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("tests/fixtures/components/checked.wat")
        .display()
        .to_string()
}

/// A linear workflow of `STEPS` steps: step i adds, then routes to step
/// i + 1. With `templated`, each step reads the previous step's output.
fn linear(templated: bool) -> String {
    linear_of(STEPS, templated)
}

fn linear_of(steps: usize, templated: bool) -> String {
    let module = noop_module();
    let mut text = String::from("name: linear\nlimits: { fuel: 100000 }\nsteps:\n");
    for i in 0..steps {
        let a = if templated && i > 0 {
            format!("\"{{{{ steps.s{}.output }}}}\"", i - 1)
        } else {
            "1".to_string()
        };
        let _ = writeln!(
            text,
            "  - {{ id: s{i}, module: \"{module}\", action: add, inputs: {{ a: {a}, b: 2 }}{} }}",
            if i + 1 < steps {
                format!(", onSuccess: s{}", i + 1)
            } else {
                String::new()
            }
        );
    }
    text
}

/// Validation as the workflow grows: linear workflows whose every input
/// reads the previous step's output (goal: linear growth, 10,000 steps in
/// ≤ 100 ms); and for 10,000 steps, the time from the text to the first
/// step started (goal ≤ 150 ms). 100,000 such steps (16 MB) exceed the 4 MiB
/// a workflow file may have; 25,000 (3.9 MiB) is the largest that fits.
fn validation(tokio: &tokio::runtime::Runtime, catalog: &Catalog) {
    plan(catalog, &linear_of(10, true)); // load the module once
    let mut first = None;
    for steps in [1_000, 10_000, 25_000] {
        let text = linear_of(steps, true);
        let rounds = if steps > 10_000 { 5 } else { 10 };
        let samples = (0..rounds)
            .map(|_| {
                let started = Instant::now();
                let planned = std::hint::black_box(plan(catalog, &text));
                let took = started.elapsed();
                // Freeing the plan is not validating it.
                drop(planned);
                took
            })
            .collect();
        let took = median(samples);
        let per_step = took / steps as u32;
        let growth = first.map_or(String::new(), |base: Duration| {
            format!(
                " ({:.2}× the 1,000-step time per step)",
                per_step.as_secs_f64() / base.as_secs_f64()
            )
        });
        first.get_or_insert(per_step);
        println!(
            "parse + validate + type-check + plan, {steps} steps each reading the previous output ({} KiB): {took:?}, {per_step:?} per step{growth}",
            text.len() / 1024
        );
    }
    let text = linear_of(10_000, true);
    let samples = (0..5)
        .map(|_| {
            let started = Instant::now();
            let plan = Arc::new(plan(catalog, &text));
            let options = RunOptions {
                control: Arc::default(),
                ..RunOptions::default()
            };
            let control = options.control.clone();
            let mut first = FirstStep {
                started,
                at: None,
                control,
            };
            tokio
                .block_on(tokio.spawn(async move {
                    engine::run(plan, Map::new(), options, &mut first).await;
                    first
                }))
                .expect("the engine task completes")
                .at
                .expect("a step started")
        })
        .collect();
    println!(
        "10000 steps from text to the first step started: {:?}",
        median(samples)
    );
}

/// Notes when the first step starts, then stops the run.
struct FirstStep {
    started: Instant,
    at: Option<Duration>,
    control: Arc<engine::Control>,
}

impl engine::Observer for FirstStep {
    fn event(&mut self, event: &engine::Event) {
        if self.at.is_none() && matches!(event, engine::Event::StepStarted { .. }) {
            self.at = Some(self.started.elapsed());
            self.control.request(engine::Stop::CancelNow);
        }
    }
}

/// A parallel group of 1,000 branches, each one no-op step, then a join.
fn fan_out() -> String {
    let module = noop_module();
    let branches: Vec<String> = (0..STEPS).map(|i| format!("b{i}")).collect();
    let mut text = format!(
        "name: fan-out\nlimits: {{ fuel: 100000 }}\nsteps:\n  - {{ id: group, parallel: {{ branches: [{}] }}, onSuccess: join }}\n  - {{ id: join, module: \"{module}\", action: add, inputs: {{ a: 1, b: 1 }} }}\n",
        branches.join(", ")
    );
    for branch in &branches {
        let _ = writeln!(
            text,
            "  - {{ id: {branch}, module: \"{module}\", action: add, inputs: {{ a: 1, b: 2 }} }}"
        );
    }
    text
}

fn plan(catalog: &Catalog, text: &str) -> Plan {
    let source = Source::new("bench.yaml", text);
    let checked = workflow::check(&source, catalog);
    checked
        .plan
        .unwrap_or_else(|| panic!("{}", source.render(&checked.diagnostics)))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Run the engine as a task on a worker thread, as the CLI does.
fn run(tokio: &tokio::runtime::Runtime, plan: &Arc<Plan>) -> RunSummary {
    let plan = plan.clone();
    tokio
        .block_on(tokio.spawn(async move {
            engine::run(plan, Map::new(), RunOptions::default(), &mut Discard).await
        }))
        .expect("the engine task completes")
}

/// A linear workflow passing a string of `bytes` bytes from step to step:
/// each step echoes `"{{ steps.<previous>.output }}"`.
fn chain(bytes: usize) -> String {
    let module = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("tests/fixtures/components/pass.wat")
        .display()
        .to_string();
    let mut text = String::from("name: chain\nlimits: { fuel: 1000000 }\nsteps:\n");
    for i in 0..STEPS {
        let input = if i == 0 {
            format!("\"{}\"", "x".repeat(bytes))
        } else {
            format!("\"{{{{ steps.s{}.output }}}}\"", i - 1)
        };
        let _ = writeln!(
            text,
            "  - {{ id: s{i}, module: \"{module}\", action: echo, inputs: {{ text: {input} }}{} }}",
            if i + 1 < STEPS {
                format!(", onSuccess: s{}", i + 1)
            } else {
                String::new()
            }
        );
    }
    text
}

/// Per step: time in all, time outside the sandbox, database bytes.
struct Durable {
    per_step: Duration,
    overhead: Duration,
    bytes: u64,
}

/// Run `plan` with the journal on, as `wfhost run` does (the run ends when
/// the journal has committed); medians of five runs.
fn durable(tokio: &tokio::runtime::Runtime, plan: &Arc<Plan>, durability: Durability) -> Durable {
    let mut per_step = Vec::new();
    let mut overheads = Vec::new();
    let mut bytes = 0;
    for round in 0..5 {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("wfhost.db");
        let run_id = format!("r{round}");
        let mut store =
            store::open(&store::Location::Sqlite(path.clone()), durability).expect("store");
        let lease = store
            .create_run(
                &NewRun {
                    id: &run_id,
                    name: "linear",
                    path: "bench.yaml",
                    workspace: ".",
                    workflow_digest: "bench",
                    workflow_text: "",
                    inputs: &serde_json::Value::Null,
                    modules: &[],
                    started_by: "bench",
                    trigger: &engine::Trigger::cli(),
                    slot: None,
                    hold: false,
                    idempotency_key: None,
                    parent: None,
                    trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
                    trace_parent: None,
                    export_trace: false,
                },
                &Owner::this_process(),
            )
            .expect("run recorded")
            .running()
            .expect("no concurrency limit");
        let plan = plan.clone();
        let started = Instant::now();
        let journal = Journal::start(store, lease, Arc::default()).expect("journal");
        let (summary, journal) = tokio
            .block_on(tokio.spawn(async move {
                let mut journal = journal;
                let options = RunOptions {
                    run_id,
                    ..RunOptions::default()
                };
                let summary = engine::run(plan, Map::new(), options, &mut journal).await;
                (summary, journal)
            }))
            .expect("the engine task completes");
        journal.finish().expect("journal committed");
        let total = started.elapsed();
        assert!(summary.succeeded(), "{:?}", summary.error);
        let in_sandbox: Duration = summary.steps.iter().map(|s| s.duration).sum();
        per_step.push(total / STEPS as u32);
        overheads.push(total.saturating_sub(in_sandbox) / STEPS as u32);
        bytes = ["wfhost.db", "wfhost.db-wal"]
            .iter()
            .map(|f| std::fs::metadata(dir.path().join(f)).map_or(0, |m| m.len()))
            .sum::<u64>();
    }
    Durable {
        per_step: median(per_step),
        overhead: median(overheads),
        bytes: bytes / STEPS as u64,
    }
}

/// The journal on: per-step overhead of no-op steps (NORMAL and FULL,
/// against a bare SQLite FULL commit measured in the same run), of steps
/// passing 10 KB and 100 KB on by template (as ratios to no-op), and the
/// database bytes each step costs.
fn journal(tokio: &tokio::runtime::Runtime, catalog: &Catalog) {
    let bare = {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = rusqlite::Connection::open(dir.path().join("bare.db")).expect("open");
        db.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (x INTEGER);",
        )
        .expect("configure");
        let samples = (0..50)
            .map(|i| {
                let started = Instant::now();
                db.execute("INSERT INTO t (x) VALUES (?1)", [i])
                    .expect("insert");
                started.elapsed()
            })
            .collect();
        median(samples)
    };
    println!("bare SQLite commit, WAL, synchronous=FULL: {bare:?}");
    let noop = Arc::new(plan(catalog, &linear(false)));
    let full = durable(tokio, &noop, Durability::Full);
    let normal = durable(tokio, &noop, Durability::Normal);
    for (name, figures) in [("Normal", &normal), ("Full", &full)] {
        println!(
            "linear {STEPS} no-op steps, journal {name}: {:?} per step in all, {:?} outside the sandbox, {} bytes of database per step",
            figures.per_step, figures.overhead, figures.bytes
        );
    }
    for bytes in [10 * 1024, 100 * 1024] {
        let plan = Arc::new(plan(catalog, &chain(bytes)));
        let figures = durable(tokio, &plan, Durability::Normal);
        println!(
            "linear {STEPS} steps passing {} KiB on, journal Normal: {:?} per step in all, {:?} outside the sandbox ({:.1}× no-op), {} bytes of database per step ({:.2}× the output)",
            bytes / 1024,
            figures.per_step,
            figures.overhead,
            figures.overhead.as_secs_f64() / normal.overhead.as_secs_f64(),
            figures.bytes,
            figures.bytes as f64 / bytes as f64
        );
    }
}

/// Read, validate and render the diagnostics of `text`: what `wfhost
/// validate` spends on a file.
fn judge(catalog: &Catalog, text: &str) -> (Duration, usize) {
    let started = Instant::now();
    let source = Source::new("hostile.yaml", text);
    let checked = workflow::check(&source, catalog);
    let rendered = source.render(&checked.diagnostics);
    (started.elapsed(), rendered.len())
}

fn hostile(catalog: &Catalog) {
    let steps = 10_000;
    let cycle: String = (0..steps)
        .map(|i| {
            format!(
                "  - {{ id: s{i}, module: system, action: echo, inputs: {{ message: \"{{{{ steps.s{}.output }}}}\" }}, onSuccess: s{} }}\n",
                (i + steps - 1) % steps,
                (i + 1) % steps
            )
        })
        .collect();
    let cycle = format!("name: cycle\nsteps:\n{cycle}");
    let mut invalid = String::from("name: bad\nsteps:\n");
    let mut i = 0;
    while invalid.len() < 4 * 1024 * 1024 - 100 {
        let _ = writeln!(
            invalid,
            "  - {{ id: s{i}, module: nosuch, action: x, inputs: {{ a: 1 }}, bogus: 1 }}"
        );
        i += 1;
    }
    for (name, text) in [
        (format!("a {steps}-step cycle"), cycle),
        (format!("4 MiB of {i} invalid steps"), invalid),
    ] {
        judge(catalog, &text);
        let (time, bytes) = (0..5)
            .map(|_| judge(catalog, &text))
            .min()
            .expect("samples");
        println!(
            "judge {name} ({} KiB): {time:?} (best of 5), {bytes} bytes of diagnostics",
            text.len() / 1024
        );
    }
}

fn main() {
    let cache = tempfile::tempdir().expect("temp dir");
    let runtime = Runtime::new(Some(cache.path())).expect("runtime");
    let catalog = Catalog::new(runtime);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_time()
        .build()
        .expect("tokio");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("workflow benchmarks ({cores} cores, medians)\n");
    // `cargo bench --bench workflow -- NAME` runs only the sections whose
    // name contains NAME (hostile, validation, engine, journal, fan-out).
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let wanted =
        |section: &str| filter.is_empty() || filter.iter().any(|f| section.contains(f.as_str()));
    if wanted("hostile") {
        hostile(&catalog);
        println!();
    }
    if wanted("validation") {
        validation(&tokio, &catalog);
        println!();
    }
    if wanted("engine") {
        engine_only(&tokio, &catalog);
        println!();
    }
    if wanted("journal") {
        journal(&tokio, &catalog);
        println!();
    }
    if wanted("fan-out") {
        fan_out_throughput(&tokio, &catalog);
    }
}

/// The engine alone (no journal): per-step time of no-op steps, without
/// and with a template reading the previous output.
fn engine_only(tokio: &tokio::runtime::Runtime, catalog: &Catalog) {
    for templated in [false, true] {
        let plan = Arc::new(plan(catalog, &linear(templated)));
        run(tokio, &plan);
        let mut totals = Vec::new();
        let mut overheads = Vec::new();
        for _ in 0..10 {
            let started = Instant::now();
            let summary = run(tokio, &plan);
            let total = started.elapsed();
            assert!(summary.succeeded(), "{:?}", summary.error);
            let in_sandbox: Duration = summary.steps.iter().map(|s| s.duration).sum();
            totals.push(total / STEPS as u32);
            overheads.push(total.saturating_sub(in_sandbox) / STEPS as u32);
        }
        println!(
            "linear {STEPS} no-op steps{}: {:?} per step in all, {:?} per step in the engine (sandbox time taken out)",
            if templated {
                ", each reading the previous output"
            } else {
                ""
            },
            median(totals),
            median(overheads)
        );
    }
}

/// A fan-out of 1,000 parallel no-op steps joined by a group.
fn fan_out_throughput(tokio: &tokio::runtime::Runtime, catalog: &Catalog) {
    let plan = Arc::new(plan(catalog, &fan_out()));
    run(tokio, &plan);
    let samples: Vec<Duration> = (0..10)
        .map(|_| {
            let started = Instant::now();
            let summary = run(tokio, &plan);
            assert!(summary.succeeded(), "{:?}", summary.error);
            started.elapsed()
        })
        .collect();
    let total = median(samples);
    println!(
        "fan-out of {STEPS} parallel no-op steps + join: {total:?}, {:.0} steps/s (max_concurrent_steps = {})",
        (STEPS + 1) as f64 / total.as_secs_f64(),
        plan.max_concurrent_steps
    );
}
