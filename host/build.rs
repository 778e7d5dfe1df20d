//! Compile the WebAssembly guests in this repository for wasm32-wasip2 and
//! embed the bundled modules in the binary.
//!
//! The pattern of wasmtime's test-programs: a nested `cargo build` for the
//! wasm target with its own target directory (`target/wasm-guests`, shared by
//! every profile so the guests build once).

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Crates under `modules/` embedded in the binary: (module name, package).
const BUNDLED: &[(&str, &str)] = &[
    ("system", "wfhost-module-system"),
    ("testing", "wfhost-module-testing"),
    ("docs", "wfhost-module-docs"),
    ("implementing", "wfhost-module-implementing"),
    ("refactoring", "wfhost-module-refactoring"),
];
/// Guests used only by tests: (file stem, package).
const TEST_GUESTS: &[(&str, &str)] = &[
    ("kitchen-sink", "wfhost-test-kitchen-sink"),
    ("greeter", "wfhost-example-greeter"),
];

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let host_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = host_dir
        .parent()
        .expect("host/ lives in the workspace root")
        .to_path_buf();
    for watched in ["modules", "sdk", "wit", "tests/guests", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=WFHOST_GUEST_PROFILE");

    require_wasm_target();
    let target_dir = root.join("target").join("wasm-guests");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--release", "--target", TARGET])
        .env("CARGO_TARGET_DIR", &target_dir)
        // The outer build's flags and wrappers (clippy, coverage) are for the
        // host, not for the guests.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    for (_, package) in BUNDLED.iter().chain(TEST_GUESTS) {
        command.args(["-p", package]);
    }
    let status = command
        .status()
        .expect("cannot run cargo to build the wasm guests");
    assert!(
        status.success(),
        "building the wasm guests for {TARGET} failed (see the errors above)"
    );

    let wasm_dir = target_dir.join(TARGET).join("release");
    let mut bundled = String::from(
        "/// WIT files as (path, text), dependencies first.\n\
         type WitSources = &'static [(&'static str, &'static str)];\n\
         /// Bundled modules: (name, component bytes, WIT sources, wfmodule.toml).\n\
         pub const BUNDLED: &[(&str, &[u8], WitSources, Option<&str>)] = &[\n",
    );
    for (name, package) in BUNDLED {
        let path = artifact(&wasm_dir, package);
        let mut wit_files = vec![root.join("wit").join("wfhost.wit")];
        wit_files.extend(wit_files_in(&root.join("modules").join(name).join("wit")));
        let wit: Vec<String> = wit_files
            .iter()
            .map(|file| {
                let shown = file
                    .strip_prefix(&root)
                    .unwrap_or(file)
                    .display()
                    .to_string();
                format!(
                    "({shown:?}, include_str!({:?}))",
                    file.display().to_string()
                )
            })
            .collect();
        let manifest_path = root.join("modules").join(name).join("wfmodule.toml");
        let manifest = if manifest_path.exists() {
            format!(
                "Some(include_str!({:?}))",
                manifest_path.display().to_string()
            )
        } else {
            "None".to_string()
        };
        writeln!(
            bundled,
            "    ({name:?}, include_bytes!({:?}), &[{}], {manifest}),",
            path.display().to_string(),
            wit.join(", ")
        )
        .expect("write to string");
    }
    bundled.push_str("];\n");
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out_dir.join("bundled.rs"), bundled).expect("cannot write bundled.rs");

    // Tests find their guests through this directory.
    println!("cargo:rustc-env=WFHOST_GUEST_DIR={}", wasm_dir.display());
    for (stem, package) in TEST_GUESTS {
        let path = artifact(&wasm_dir, package);
        let copy = wasm_dir.join(format!("{stem}.wasm"));
        std::fs::copy(&path, &copy).expect("cannot copy a test guest");
    }
}

/// The `.wit` files directly in `dir`, sorted.
fn wit_files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .collect()
        })
        .unwrap_or_default();
    files.retain(|path| path.extension().is_some_and(|ext| ext == "wit"));
    files.sort();
    files
}

fn artifact(wasm_dir: &Path, package: &str) -> PathBuf {
    let path = wasm_dir.join(format!("{}.wasm", package.replace('-', "_")));
    assert!(
        path.exists(),
        "{} was not produced by the guest build",
        path.display()
    );
    path
}

/// Fail with the fix when the wasm32-wasip2 standard library is missing.
fn require_wasm_target() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    if let Some(sysroot) = sysroot
        && !sysroot.join("lib").join("rustlib").join(TARGET).exists()
    {
        panic!(
            "the {TARGET} target is not installed, and wfhost's bundled modules are built for it.\n\
             Install it with:\n\n    rustup target add {TARGET}\n"
        );
    }
}
