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

pub fn fixture(relative: &str) -> PathBuf {
    repo().join("tests").join("fixtures").join(relative)
}

/// A test guest built by `build.rs`, e.g. `kitchen-sink`.
pub fn guest(stem: &str) -> PathBuf {
    Path::new(env!("WFHOST_GUEST_DIR")).join(format!("{stem}.wasm"))
}

/// A runtime with no artifact cache.
pub fn runtime() -> Runtime {
    Runtime::new(None).expect("the runtime starts")
}

/// Load a component file (`.wasm` or `.wat`).
pub fn load(runtime: &Runtime, path: &Path) -> Module {
    let source = wfhost::module_source::from_file(path).expect("the fixture reads");
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
