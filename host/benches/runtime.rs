//! Runtime benchmarks: `cargo bench -p wfhost --bench runtime`.
//!
//! Prints medians (and p90) of:
//! - instantiate + call of a no-op action from the precompiled cache,
//! - loading a precompiled component from the cache,
//! - a compute-bound loop with fuel metering on vs off, as a ratio measured
//!   in the same run,
//! - modules in interpreted languages (Python, JavaScript) scaffolded with
//!   `wfhost module new` and built with their toolchains when those are on
//!   PATH: compiling, loading precompiled, and one call with its fuel.
//!
//! Figures are printed, never asserted: goals live in the issue tracker.

#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wfhost::sandbox::{CacheOutcome, EngineOptions, Limits, Module, Runtime};
use wfhost::scaffold::Lang;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn source(reference: &str) -> wfhost::module_source::ModuleSource {
    wfhost::module_source::resolve(reference, &repo()).expect("bench module resolves")
}

fn load(runtime: &Runtime, reference: &str) -> Module {
    let source = source(reference);
    runtime
        .load(&source.name, &source.bytes, &source.wit)
        .expect("bench module loads")
}

/// Run `f` `iterations` times after a warm-up; return sorted durations.
fn measure(iterations: usize, mut f: impl FnMut()) -> Vec<Duration> {
    for _ in 0..iterations / 10 + 1 {
        f();
    }
    let mut samples: Vec<Duration> = (0..iterations)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    samples.sort();
    samples
}

fn median(samples: &[Duration]) -> Duration {
    samples[samples.len() / 2]
}

fn p90(samples: &[Duration]) -> Duration {
    samples[samples.len() * 9 / 10]
}

fn report(name: &str, samples: &[Duration], goal: &str) {
    println!(
        "{name:<58} median {:>10.1?}  p90 {:>10.1?}  ({} runs; goal {goal})",
        median(samples),
        p90(samples),
        samples.len()
    );
}

fn call(
    tokio: &tokio::runtime::Runtime,
    module: &Module,
    action: &str,
    input: &Value,
    limits: &Limits,
) {
    let report = tokio
        .block_on(module.call(action, input, limits))
        .expect("call starts");
    assert!(
        report.is_success(),
        "bench call failed: {:?}",
        report.failure()
    );
}

fn main() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio");
    let home = tempfile::tempdir().expect("temp dir");
    let cache = home.path().join("cache");
    let limits = Limits::default();

    let runtime = Runtime::new(Some(&cache)).expect("runtime");
    println!(
        "pooling allocator: {}",
        if runtime.is_pooled() {
            "on"
        } else {
            "off (fallback)"
        }
    );
    for reference in ["tests/fixtures/components/checked.wat", "system"] {
        load(&runtime, reference); // compile and store the artifact
    }

    // Instantiate + call of a no-op action, from the precompiled cache.
    let bare = load(&runtime, "tests/fixtures/components/checked.wat");
    assert_eq!(bare.cache_outcome(), CacheOutcome::Hit);
    let input = json!({"a": 1, "b": 2});
    let samples = measure(5_000, || call(&tokio, &bare, "add", &input, &limits));
    report(
        "instantiate + call no-op (bare WAT component)",
        &samples,
        "<= 30 µs",
    );

    let system = load(&runtime, "system");
    assert_eq!(system.cache_outcome(), CacheOutcome::Hit);
    let input = json!({"message": "hi"});
    let samples = measure(5_000, || call(&tokio, &system, "echo", &input, &limits));
    report(
        "instantiate + call no-op (Rust SDK module, WASI linked)",
        &samples,
        "<= 30 µs",
    );

    // Loading a precompiled component: read, verify digest, deserialise, link, reflect.
    let samples = measure(300, || {
        let module = load(&runtime, "system");
        assert_eq!(module.cache_outcome(), CacheOutcome::Hit);
    });
    report(
        "load precompiled component from cache (system, 96 KiB)",
        &samples,
        "fast",
    );

    // Fuel metering overhead: the same calls with metering on and off, both
    // measured in this run.
    let metered = Runtime::new(Some(&cache)).expect("runtime");
    let unmetered = Runtime::with_options(
        Some(&cache),
        &EngineOptions {
            fuel_metering: false,
            ..EngineOptions::default()
        },
    )
    .expect("runtime");
    let engines = (&metered, &unmetered);
    let compute = "tests/fixtures/bench/compute.wat";
    let work = (json!({"n": 20_000_000}), 30);
    fuel_overhead(
        &tokio,
        engines,
        compute,
        "work",
        work,
        "tight 3-instruction loop, 20M iterations (worst case)",
    );
    let guest = repo().join("target/wasm-guests/wasm32-wasip2/release/kitchen-sink.wasm");
    let guest = guest.to_str().expect("UTF-8 path");
    let checksum = (json!({"rounds": 300}), 20);
    fuel_overhead(
        &tokio,
        engines,
        guest,
        "checksum",
        checksum,
        "compiled Rust checksum, 300 × 64 KiB",
    );

    for (lang, tool) in [
        (Lang::Python, "componentize-py"),
        (Lang::Js, "componentize-js"),
    ] {
        interpreted(&tokio, &runtime, lang, tool, home.path());
    }
}

/// Scaffold, build, compile, load precompiled, and call a module of `lang`.
fn interpreted(
    tokio: &tokio::runtime::Runtime,
    runtime: &Runtime,
    lang: Lang,
    tool: &str,
    dir: &Path,
) {
    let found = std::process::Command::new(tool).arg("--version").output();
    if !found.is_ok_and(|o| o.status.success()) {
        println!("{lang:?} module: skipped ({tool} is not on PATH)");
        return;
    }
    let project = dir.join(format!("bench-{lang:?}").to_lowercase());
    let name = format!("bench-{lang:?}").to_lowercase();
    wfhost::scaffold::new_module(&name, lang, &project).expect("scaffold");
    let manifest = wfhost::registry::read_manifest(&project)
        .expect("manifest")
        .0;
    let built = Instant::now();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(
            manifest
                .build
                .as_deref()
                .expect("templates have a build command"),
        )
        .current_dir(&project)
        .output()
        .expect("build runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let build_time = built.elapsed();
    // Installed the way `wfhost module install` does, loaded the way a
    // workflow loads it (install record checked, pinned artifact mapped).
    let package = wfhost::registry::Package::from_dir(&project).expect("package");
    let compiled = Instant::now();
    runtime
        .load(&name, &package.component, &package.wit)
        .expect("compiles");
    let compile_time = compiled.elapsed();
    let registry = wfhost::registry::Registry::new(dir.join("modules"));
    let (installed, _) = registry.install(&package, false).expect("installs");
    let samples = measure(30, || {
        let module = registry.load(runtime, &installed).expect("loads");
        assert_eq!(module.cache_outcome(), CacheOutcome::Hit);
    });
    let bytes = &package.component;
    println!(
        "{lang:?} module: {:.1} MiB, built in {build_time:.1?}, compiled at install in {compile_time:.1?}",
        bytes.len() as f64 / (1 << 20) as f64
    );
    report(
        &format!("load installed precompiled {lang:?} module"),
        &samples,
        if lang == Lang::Python {
            "<= 5 ms"
        } else {
            "fast"
        },
    );
    let module = registry.load(runtime, &installed).expect("loads");
    let input = json!({"name": "Ada"});
    let limits = Limits::default();
    let fuel = tokio
        .block_on(module.call("hello", &input, &limits))
        .expect("call starts")
        .fuel_consumed;
    let samples = measure(50, || call(tokio, &module, "hello", &input, &limits));
    report(
        &format!("instantiate + call hello ({lang:?}, fuel {fuel})"),
        &samples,
        "fast",
    );
}

/// Time `action` on a metered and an unmetered engine and print the ratio.
fn fuel_overhead(
    tokio: &tokio::runtime::Runtime,
    (metered, unmetered): (&Runtime, &Runtime),
    reference: &str,
    action: &str,
    (input, iterations): (Value, usize),
    what: &str,
) {
    let limits = Limits::default();
    let (on_module, off_module) = (load(metered, reference), load(unmetered, reference));
    let on = measure(iterations, || {
        call(tokio, &on_module, action, &input, &limits)
    });
    let off = measure(iterations, || {
        call(tokio, &off_module, action, &input, &limits)
    });
    report(&format!("fuel on:  {what}"), &on, "-");
    report(&format!("fuel off: {what}"), &off, "-");
    println!(
        "{:<58} {:.2}×  (goal <= 1.3×)",
        "  fuel overhead (median on / median off)",
        median(&on).as_secs_f64() / median(&off).as_secs_f64()
    );
}
