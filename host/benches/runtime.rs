//! Runtime benchmarks: `cargo bench -p wfhost --bench runtime`.
//!
//! Prints medians (and p90) of:
//! - instantiate + call of a no-op action from the precompiled cache,
//! - loading a precompiled component from the cache,
//! - a compute-bound loop with fuel metering on vs off, as a ratio measured
//!   in the same run.
//!
//! Figures are printed, never asserted: goals live in the issue tracker.

#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wfhost::sandbox::{CacheOutcome, EngineOptions, Limits, Module, Runtime};

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

    // Fuel metering overhead on a compute-bound loop, both measured here.
    let metered = Runtime::new(Some(&cache)).expect("runtime");
    let unmetered = Runtime::with_options(
        Some(&cache),
        &EngineOptions {
            fuel_metering: false,
            ..EngineOptions::default()
        },
    )
    .expect("runtime");
    let compute = "tests/fixtures/bench/compute.wat";
    let (metered, unmetered) = (load(&metered, compute), load(&unmetered, compute));
    let input = json!({"n": 20_000_000});
    let on = measure(30, || call(&tokio, &metered, "work", &input, &limits));
    let off = measure(30, || call(&tokio, &unmetered, "work", &input, &limits));
    report("compute loop, 20M iterations, fuel on", &on, "-");
    report("compute loop, 20M iterations, fuel off", &off, "-");
    println!(
        "{:<58} {:.2}×  (goal <= 1.3×)",
        "fuel overhead, tight 3-instruction loop (worst case)",
        median(&on).as_secs_f64() / median(&off).as_secs_f64()
    );

    // The same comparison on compiled Rust: a hash over a buffer.
    let guest = repo().join("target/wasm-guests/wasm32-wasip2/release/kitchen-sink.wasm");
    let guest = guest.to_str().expect("UTF-8 path");
    let metered = load(&Runtime::new(Some(&cache)).expect("runtime"), guest);
    let unmetered = load(
        &Runtime::with_options(
            Some(&cache),
            &EngineOptions {
                fuel_metering: false,
                ..EngineOptions::default()
            },
        )
        .expect("runtime"),
        guest,
    );
    let input = json!({"rounds": 300});
    let on = measure(20, || call(&tokio, &metered, "checksum", &input, &limits));
    let off = measure(20, || call(&tokio, &unmetered, "checksum", &input, &limits));
    report("Rust checksum, 300 × 64 KiB, fuel on", &on, "-");
    report("Rust checksum, 300 × 64 KiB, fuel off", &off, "-");
    println!(
        "{:<58} {:.2}×  (goal <= 1.3×)",
        "fuel overhead, compiled Rust workload",
        median(&on).as_secs_f64() / median(&off).as_secs_f64()
    );
}
