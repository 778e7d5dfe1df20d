//! The precompiled-artifact cache: compiled once, verified on every load,
//! tampering refused.

use serde_json::json;
use wfhost::sandbox::{CacheOutcome, Limits, Outcome, Runtime};

use crate::common::{call, fixture};

fn load(runtime: &Runtime) -> wfhost::sandbox::Module {
    let source =
        wfhost::module_source::from_file(std::path::Path::new(&fixture("components/checked.wat")))
            .expect("reads");
    runtime
        .load(&source.name, &source.bytes, &[])
        .expect("loads")
}

/// A runtime caching under a fresh home, the fixture loaded once, and the
/// path of its artifact.
fn cached() -> (
    tempfile::TempDir,
    Runtime,
    wfhost::sandbox::Module,
    std::path::PathBuf,
) {
    let home = tempfile::tempdir().expect("temp dir");
    let runtime = Runtime::new(Some(home.path())).expect("runtime");
    let module = load(&runtime);
    let artifact = runtime
        .artifact_path(module.digest())
        .expect("caching is on");
    (home, runtime, module, artifact)
}

#[tokio::test]
async fn compiled_once_then_loaded_from_the_cache() {
    let home = tempfile::tempdir().expect("temp dir");
    let runtime = Runtime::new(Some(home.path())).expect("runtime");
    assert_eq!(load(&runtime).cache_outcome(), CacheOutcome::Compiled);
    let module = load(&runtime);
    assert_eq!(module.cache_outcome(), CacheOutcome::Hit);
    let report = call(&module, "add", json!({"a": 40, "b": 2}), Limits::default()).await;
    assert_eq!(report.outcome, Outcome::Success(json!(42)));
}

#[tokio::test]
async fn a_tampered_artifact_is_refused_and_recompiled() {
    let (_home, runtime, _module, artifact) = cached();
    let original = std::fs::read(&artifact).expect("artifact written");

    // Flip bytes in the middle of the machine code, as an attacker would.
    let mut tampered = original.clone();
    let middle = tampered.len() / 2;
    for byte in &mut tampered[middle..middle + 64] {
        *byte ^= 0xff;
    }
    std::fs::write(&artifact, &tampered).expect("artifact writable");

    let reloaded = load(&runtime);
    assert_eq!(
        reloaded.cache_outcome(),
        CacheOutcome::Replaced,
        "the tampered artifact is not loaded"
    );
    assert_eq!(
        std::fs::read(&artifact).expect("rewritten"),
        original,
        "a good artifact replaces it"
    );
    let report = call(&reloaded, "add", json!({"a": 1, "b": 1}), Limits::default()).await;
    assert_eq!(report.outcome, Outcome::Success(json!(2)));
}

#[test]
fn a_corrupt_record_or_truncated_artifact_is_recompiled_not_a_crash() {
    let (_home, runtime, _module, artifact) = cached();
    let record = artifact.with_extension("json");

    std::fs::write(&record, b"{ not json").expect("record writable");
    assert_eq!(load(&runtime).cache_outcome(), CacheOutcome::Replaced);

    std::fs::write(&artifact, b"\0asm garbage").expect("artifact writable");
    assert_eq!(load(&runtime).cache_outcome(), CacheOutcome::Replaced);

    std::fs::remove_file(&artifact).expect("artifact removable");
    assert_eq!(load(&runtime).cache_outcome(), CacheOutcome::Replaced);
    assert_eq!(load(&runtime).cache_outcome(), CacheOutcome::Hit);
}
