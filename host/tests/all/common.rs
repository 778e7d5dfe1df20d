//! Shared helpers: fixture paths, a runtime, loading guests.

use std::path::{Path, PathBuf};

use serde_json::Value;
use wfhost::sandbox::{CallReport, Limits, Module, Runtime};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// The path of a fixture under `tests/fixtures/`, as a module reference.
pub fn fixture(relative: &str) -> String {
    let path = repo().join("tests").join("fixtures").join(relative);
    path.to_str().expect("UTF-8 repository path").to_string()
}

/// A test guest built by `build.rs`, e.g. `kitchen-sink`, as a module reference.
pub fn guest(stem: &str) -> String {
    format!("{}/{stem}.wasm", env!("WFHOST_GUEST_DIR"))
}

/// A runtime with no artifact cache.
pub fn runtime() -> Runtime {
    Runtime::new(None).expect("the runtime starts")
}

/// Load a module reference: a bundled name or a component path (`.wasm`, `.wat`).
pub fn load(runtime: &Runtime, reference: &str) -> Module {
    let source =
        wfhost::module_source::resolve(reference, Path::new(".")).expect("the module resolves");
    runtime
        .load(&source.name, &source.bytes, &source.wit)
        .expect("the fixture loads")
}

/// Call and unwrap the "could not start" layer.
pub async fn call(module: &Module, action: &str, input: Value, limits: Limits) -> CallReport {
    module
        .call(action, &input, &limits)
        .await
        .expect("the call starts")
}
