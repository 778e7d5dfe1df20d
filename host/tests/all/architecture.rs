//! ARCHITECTURE.md's invariants, checked by reading the sources so they
//! cannot rot: only `sandbox` touches wasmtime, only `store` touches SQLite
//! (and only `store/postgres` PostgreSQL),
//! only `cli` prints or exits, and neither the top-level modules of
//! `host/src` nor the files of `sandbox/` import one another in a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::common::repo;

/// Every `.rs` file below `host/src`, as (path relative to it, code lines
/// without comments).
fn sources() -> Vec<(String, Vec<(usize, String)>)> {
    let root = repo().join("host/src");
    let mut found = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path
                    .strip_prefix(&root)
                    .expect("below the root")
                    .to_string_lossy()
                    .replace('\\', "/");
                let text = std::fs::read_to_string(&path).expect("UTF-8");
                let code = text
                    .lines()
                    .enumerate()
                    .map(|(i, line)| (i + 1, line.split("//").next().unwrap_or("").to_string()))
                    .collect();
                found.push((relative, code));
            }
        }
    }
    found.sort();
    found
}

/// The top-level module a file belongs to (`sandbox/module.rs` → `sandbox`).
fn top_level(path: &str) -> &str {
    let first = path.split('/').next().unwrap_or(path);
    first.strip_suffix(".rs").unwrap_or(first)
}

/// Places where `needle` appears outside the files `allowed` accepts.
fn used_outside(needles: &[&str], allowed: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for (path, lines) in sources() {
        if allowed(&path) {
            continue;
        }
        for (number, line) in &lines {
            if needles.iter().any(|needle| line.contains(needle)) {
                found.push(format!("host/src/{path}:{number}: {}", line.trim()));
            }
        }
    }
    found
}

#[test]
fn only_the_sandbox_touches_wasmtime() {
    let found = used_outside(
        &[
            "wasmtime::",
            "wasmtime_wasi::",
            "wit_parser::",
            "use wasmtime",
        ],
        |path| top_level(path) == "sandbox",
    );
    assert!(
        found.is_empty(),
        "wasmtime outside sandbox/:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_store_touches_sqlite() {
    let found = used_outside(&["rusqlite"], |path| top_level(path) == "store");
    assert!(
        found.is_empty(),
        "rusqlite outside store/:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_postgres_backend_touches_postgresql() {
    let found = used_outside(&["tokio_postgres"], |path| {
        path.starts_with("store/postgres/") || path == "store/mod.rs"
    });
    assert!(
        found.is_empty(),
        "tokio_postgres outside store/postgres/:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_api_speaks_http() {
    let found = used_outside(&["axum"], |path| path.starts_with("service/"));
    assert!(
        found.is_empty(),
        "axum outside service/:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_otlp_exporter_speaks_opentelemetry() {
    let found = used_outside(&["opentelemetry"], |path| path.starts_with("service/otlp/"));
    assert!(
        found.is_empty(),
        "opentelemetry outside service/otlp/:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_cli_prints_or_exits() {
    let found = used_outside(
        &[
            "println!",
            "print!(",
            "eprintln!",
            "eprint!(",
            "process::exit",
            "dbg!(",
        ],
        |path| top_level(path) == "cli" || path == "main.rs",
    );
    assert!(
        found.is_empty(),
        "printing outside cli/:\n{}",
        found.join("\n")
    );
}

/// Edges between the modules `module_of` names, from `use`-like paths
/// `prefix` + name in each file.
fn graph(
    prefix: &str,
    module_of: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, lines) in sources() {
        let Some(from) = module_of(&path) else {
            continue;
        };
        let entry = edges.entry(from.clone()).or_default();
        for (_, line) in &lines {
            for (at, _) in line.match_indices(prefix) {
                let name: String = line[at + prefix.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != from {
                    entry.insert(name);
                }
            }
        }
    }
    edges
}

/// A circle in `edges`, if there is one, as `a → b → a`.
fn circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<String> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<String> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle.join(" → "));
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, edges, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

#[test]
fn top_level_modules_import_each_other_without_a_circle() {
    let edges = graph("crate::", |path| {
        let module = top_level(path);
        (module != "lib" && module != "main").then(|| module.to_string())
    });
    assert!(edges.len() > 10, "the sources were read: {edges:?}");
    assert_eq!(circle(&edges), None, "{edges:#?}");
}

#[test]
fn sandbox_files_import_each_other_without_a_circle() {
    let edges = graph("super::", |path| {
        let file = path.strip_prefix("sandbox/")?;
        (!file.contains('/') && file != "mod.rs")
            .then(|| Path::new(file).file_stem()?.to_str().map(String::from))
            .flatten()
    });
    assert!(edges.len() > 10, "the sources were read: {edges:?}");
    assert_eq!(circle(&edges), None, "{edges:#?}");
}

#[test]
fn the_circle_finder_finds_circles() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert_eq!(circle(&edges), None);
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(circle(&edges).as_deref(), Some("a → b → c → a"));
}
