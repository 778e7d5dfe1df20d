//! Sandbox escapes through the filesystem, tried as an attacker would: a
//! matrix of hostile paths against every grant and operation, and the
//! rename-and-link attacks a module granted the workspace can mount against
//! the steps after it (or beside it) through the real binary.
//!
//! Every check here looks for what must never be seen — content and names
//! from outside the grant, files written outside it — whatever the call
//! returned, and positive controls show the grants still work.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use wfhost::sandbox::{CallContext, DirGrant, Grants, Limits, Module, Outcome, Workspace};

use crate::common::{guest, load, runtime, wfhost};

/// Text that exists only outside the granted directory.
const OUTSIDE: &str = "OUTSIDE-SECRET";
/// Text in the workspace, but in a directory no grant names.
const UNGRANTED: &str = "UNGRANTED-SECRET";

/// `root/outside/` (a secret and a marker file), `root/ws/data/` (the grant,
/// full of hostile links), `root/ws/other/` (in the workspace, never granted).
fn layout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    for sub in ["outside/b", "ws/data/inner", "ws/other"] {
        std::fs::create_dir_all(root.join(sub)).expect("dirs");
    }
    std::fs::write(root.join("outside/secret.txt"), OUTSIDE).expect("file");
    std::fs::write(root.join("outside/a.txt"), OUTSIDE).expect("file");
    std::fs::write(root.join("outside/b/secret.txt"), OUTSIDE).expect("file");
    std::fs::write(root.join("outside/OUTSIDE-MARKER"), OUTSIDE).expect("file");
    std::fs::write(root.join("ws/other/c.txt"), UNGRANTED).expect("file");
    std::fs::write(root.join("ws/data/a.txt"), "granted").expect("file");
    std::fs::write(root.join("ws/data/inner/b.txt"), "nested").expect("file");
    let data = root.join("ws/data");
    for (link, target) in [
        ("up", "../../outside".to_string()),
        ("abs", root.join("outside").display().to_string()),
        ("root", "/".to_string()),
        ("loop", "loop".to_string()),
        ("loop-a", "loop-b".to_string()),
        ("loop-b", "loop-a".to_string()),
        ("dangling", "nowhere".to_string()),
        ("to-other", "../other".to_string()),
        ("inside", "inner".to_string()),
        ("inner/dotdot", "..".to_string()),
        ("inner/upup", "../..".to_string()),
    ] {
        std::os::unix::fs::symlink(target, data.join(link)).expect("link");
    }
    dir
}

/// Names a listing inside the grant may show.
const GRANTED_NAMES: &[&str] = &[
    "a.txt",
    "inner",
    "b.txt",
    "up",
    "abs",
    "root",
    "loop",
    "loop-a",
    "loop-b",
    "dangling",
    "to-other",
    "inside",
    "dotdot",
    "upup",
    "pwned.txt",
];

/// Guest paths: positive controls first (inside the grant), then escapes.
const CONTROLS: &[&str] = &[
    "data/a.txt",
    "data/inner/b.txt",
    "data/inside/b.txt",
    "data",
    "data/",
    "data/.",
    "data/inner",
    "data/inner/..",
    "data/inner/../a.txt",
    "data/inner/dotdot/a.txt",
];
const HOSTILE: &[&str] = &[
    "..",
    "../..",
    "/",
    "/etc/passwd",
    "/proc/self/environ",
    "/proc/self/cwd",
    "/proc/self/root/etc/passwd",
    "../outside/secret.txt",
    "../../outside/secret.txt",
    "data/..",
    "data/../..",
    "data/../../outside/secret.txt",
    "data/../other/c.txt",
    "data/./../other",
    "data//..//..//outside",
    "data/inner/../../other/c.txt",
    "data/inner/../../../outside/secret.txt",
    "data/inner/upup/other/c.txt",
    "data/inner/upup/../outside/secret.txt",
    "data/inner/dotdot/../other",
    "data/up",
    "data/up/",
    "data/up/.",
    "data/up/secret.txt",
    "data/up/b/secret.txt",
    "data/inner/../up/secret.txt",
    "data/abs",
    "data/abs/secret.txt",
    "data/root",
    "data/root/etc/passwd",
    "data/loop",
    "data/loop/x",
    "data/loop-a",
    "data/dangling",
    "data/dangling/x",
    "data/to-other",
    "data/to-other/c.txt",
    "data/to-other/../outside",
    "data/a.txt/..",
    "other",
    "other/c.txt",
    "./other/c.txt",
    "outside/secret.txt",
    "/outside/secret.txt",
    "../ws/other/c.txt",
    "ws/other/c.txt",
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Grant {
    None,
    Read,
    ReadWrite,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Read,
    Write,
    List,
}

async fn fs_op(
    module: &Module,
    grants: &Arc<Grants>,
    op: &str,
    path: &str,
    arg: Option<&str>,
) -> Result<String, String> {
    let context = CallContext {
        cancel: None,
        idempotency_key: None,
        grants: Arc::clone(grants),
    };
    let report = module
        .call_with(
            "fs-op",
            &json!({"op": op, "path": path, "arg": arg}),
            &Limits::default(),
            &context,
        )
        .await
        .expect("the call starts");
    match report.outcome {
        Outcome::Success(Value::String(text)) => Ok(text),
        Outcome::Success(other) => Ok(other.to_string()),
        Outcome::Failure(failure) => Err(failure.message),
    }
}

/// Every file below `dir`, never following a link (the layout has links to
/// `/` and loops).
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(path),
                _ => found.push(path),
            }
        }
    }
    found
}

/// Files under `root` that were written by a guest (`pwned` in the name),
/// outside `allowed`.
fn written_outside(root: &Path, allowed: Option<&Path>) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = files_below(root)
        .into_iter()
        .filter(|path| path.to_string_lossy().contains("pwned"))
        .filter(|path| allowed.is_none_or(|allowed| !path.starts_with(allowed)))
        .collect();
    for system in [
        "/pwned.txt",
        "/etc/pwned.txt",
        "/tmp/pwned.txt",
        "/proc/pwned.txt",
    ] {
        if Path::new(system).exists() {
            found.push(PathBuf::from(system));
        }
    }
    found
}

#[tokio::test]
async fn no_hostile_path_reaches_past_a_grant() {
    let dir = layout();
    let root = dir.path();
    let ws = root.join("ws");
    let runtime = runtime();
    let sink = load(&runtime, &guest("kitchen-sink"));
    let workspace = Arc::new(Workspace::open(&ws).expect("workspace"));
    let grant_of = |grant: Grant| {
        Arc::new(Grants {
            dirs: match grant {
                Grant::None => Vec::new(),
                Grant::Read | Grant::ReadWrite => vec![DirGrant {
                    workspace: Arc::clone(&workspace),
                    path: "data".into(),
                    writable: grant == Grant::ReadWrite,
                }],
            },
            ..Grants::default()
        })
    };
    let mut cases = 0;
    let mut escapes = Vec::new();
    let mut controls_failed = Vec::new();
    for (path, control) in CONTROLS
        .iter()
        .map(|p| (*p, true))
        .chain(HOSTILE.iter().map(|p| (*p, false)))
    {
        for grant in [Grant::None, Grant::Read, Grant::ReadWrite] {
            let grants = grant_of(grant);
            for op in [Op::Read, Op::Write, Op::List] {
                cases += 1;
                let case = format!("{op:?} `{path}` with grant {grant:?}");
                let result = match op {
                    Op::Read => fs_op(&sink, &grants, "read", path, None).await,
                    Op::List => fs_op(&sink, &grants, "list", path, None).await,
                    Op::Write => {
                        let target = if path.ends_with(".txt") {
                            path.to_string()
                        } else {
                            format!("{}/pwned.txt", path.trim_end_matches('/'))
                        };
                        fs_op(&sink, &grants, "append", &target, Some("pwned")).await
                    }
                };
                // What must never be seen, whatever the call returned.
                if let Ok(text) = &result {
                    if text.contains(OUTSIDE) || text.contains(UNGRANTED) || text.contains("root:")
                    {
                        escapes.push(format!("{case}: read {text:?}"));
                    }
                    if op == Op::List {
                        let strangers: Vec<&str> = text
                            .lines()
                            .filter(|name| !name.is_empty() && !GRANTED_NAMES.contains(name))
                            .collect();
                        if !strangers.is_empty() {
                            escapes.push(format!("{case}: listed {strangers:?}"));
                        }
                    }
                }
                let allowed = (grant == Grant::ReadWrite).then(|| ws.join("data"));
                let stray = written_outside(root, allowed.as_deref());
                if !stray.is_empty() {
                    escapes.push(format!("{case}: wrote {stray:?}"));
                }
                // Each case starts clean, whatever the last one wrote.
                for path in written_outside(root, None) {
                    let _ = std::fs::remove_file(path);
                }
                // Positive controls: a grant gives exactly what it says.
                if control {
                    let is_file = path.ends_with(".txt");
                    let expected_ok = match (grant, op) {
                        (Grant::None, _) => false,
                        (_, Op::Read) => is_file,
                        (_, Op::List) => !is_file,
                        (Grant::ReadWrite, Op::Write) => true,
                        (_, Op::Write) => false,
                    };
                    if result.is_ok() != expected_ok {
                        controls_failed.push(format!("{case}: {result:?}"));
                    }
                }
            }
        }
    }
    assert!(cases >= 200, "only {cases} cases");
    assert!(
        escapes.is_empty(),
        "{} escapes in {cases} cases:\n{}",
        escapes.len(),
        escapes.join("\n")
    );
    assert!(
        controls_failed.is_empty(),
        "positive controls failed:\n{}",
        controls_failed.join("\n")
    );
    // Nothing the guests did changed what lies outside the workspace.
    assert_eq!(
        std::fs::read_to_string(root.join("outside/secret.txt"))
            .ok()
            .as_deref(),
        Some(OUTSIDE)
    );
}

/// A workflow whose first steps are granted the whole workspace and rework
/// it, and whose last step is granted only `target`.
fn attack_flow(
    ws: &Path,
    setup: &[(&str, &str, Option<&str>)],
    last: (&str, &str, Option<&str>),
    target: &str,
    access: &str,
) -> PathBuf {
    let sink = guest("kitchen-sink");
    let mut steps = String::new();
    for (index, (op, path, arg)) in setup.iter().enumerate() {
        steps.push_str(&format!(
            "  - id: setup{index}\n    module: {sink}\n    action: fs-op\n    inputs: {}\n    permissions: {{ fs: [{{ path: ., access: read-write }}] }}\n    onSuccess: {}\n",
            json!({"op": op, "path": path, "arg": arg}),
            if index + 1 == setup.len() { "victim".to_string() } else { format!("setup{}", index + 1) }
        ));
    }
    let (op, path, arg) = last;
    steps.push_str(&format!(
        "  - id: victim\n    module: {sink}\n    action: fs-op\n    inputs: {}\n    permissions: {{ fs: [{{ path: {target}, access: {access} }}] }}\n",
        json!({"op": op, "path": path, "arg": arg}),
    ));
    let flow = ws.join("attack.yaml");
    std::fs::write(&flow, format!("name: attack\nsteps:\n{steps}")).expect("workflow");
    flow
}

/// Run `flow` in `ws` and return its JSON events and exit code.
fn run_json(home: &Path, flow: &Path, ws: &Path) -> (i32, String, String) {
    let ran = wfhost(
        home,
        &[
            "run",
            flow.to_str().expect("UTF-8"),
            "--workspace",
            ws.to_str().expect("UTF-8"),
            "--json",
        ],
    );
    (ran.code, ran.stdout, ran.stderr)
}

#[test]
fn a_granted_directory_swapped_for_a_link_between_steps_is_refused() {
    // (what the earlier steps do, what the victim step does, its grant)
    type Case<'a> = (
        &'a str,
        Vec<(&'a str, &'a str, Option<&'a str>)>,
        (&'a str, &'a str, Option<&'a str>),
        &'a str,
        &'a str,
    );
    let cases: Vec<Case<'_>> = vec![
        // The reported attack: rename the grant away, link its name outside.
        (
            "read through a relative link",
            vec![
                ("rename", "data", Some("data-real")),
                ("symlink", "data", Some("../outside")),
            ],
            ("read", "data/secret.txt", None),
            "data",
            "read",
        ),
        (
            "write through a relative link",
            vec![
                ("rename", "data", Some("data-real")),
                ("symlink", "data", Some("../outside")),
            ],
            ("write", "data/pwned.txt", Some("pwned")),
            "data",
            "read-write",
        ),
        (
            "a link to /etc",
            vec![
                ("rename", "data", Some("data-real")),
                ("symlink", "data", Some("../../../../../../etc")),
            ],
            ("read", "data/passwd", None),
            "data",
            "read",
        ),
        // A parent of the grant swapped for a link.
        (
            "a link planted in a parent",
            vec![
                ("rename", "a", Some("a-real")),
                ("symlink", "a", Some("../outside")),
            ],
            ("read", "a/b/secret.txt", None),
            "a/b",
            "read",
        ),
        // A link to a directory of the workspace the victim was not granted.
        (
            "a link to an ungranted directory",
            vec![
                ("rename", "data", Some("data-real")),
                ("symlink", "data", Some("other")),
            ],
            ("read", "data/c.txt", None),
            "data",
            "read",
        ),
        (
            "a chain of links",
            vec![
                ("rename", "data", Some("data-real")),
                ("symlink", "hop", Some("../outside")),
                ("symlink", "data", Some("hop")),
            ],
            ("list", "data", None),
            "data",
            "read",
        ),
        (
            "a link loop",
            vec![
                ("rename", "data", Some("data-real")),
                ("symlink", "data", Some("data")),
            ],
            ("read", "data/a.txt", None),
            "data",
            "read",
        ),
        // Links created inside the grant by one step, followed by the next.
        (
            "a link left inside the grant",
            vec![("symlink", "data/escape", Some("../../outside"))],
            ("read", "data/escape/secret.txt", None),
            "data",
            "read",
        ),
        (
            "a link to an ungranted sibling left inside the grant",
            vec![("symlink", "data/side", Some("../other"))],
            ("read", "data/side/c.txt", None),
            "data",
            "read",
        ),
        (
            "an absolute link left inside the grant",
            vec![("symlink", "data/abs", Some("/etc"))],
            ("read", "data/abs/passwd", None),
            "data",
            "read",
        ),
        // Hard links can only name what the linking step could already
        // reach: none to outside the workspace. (A step granted `.` may
        // leave a hard link to any workspace file it could read, as it
        // could leave a copy: that is its grant, documented.)
        (
            "a hard link to a file outside",
            vec![("hardlink", "data/h", Some("../outside/secret.txt"))],
            ("read", "data/h", None),
            "data",
            "read",
        ),
        (
            "a hard link through a link outside",
            vec![
                ("symlink", "data/out", Some("../../outside")),
                ("hardlink", "data/h", Some("data/out/secret.txt")),
            ],
            ("read", "data/h", None),
            "data",
            "read",
        ),
    ];
    let mut report = Vec::new();
    for (name, setup, last, target, access) in cases {
        let dir = layout();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(ws.join("a/b")).expect("dirs");
        let home = dir.path().join("home");
        let flow = attack_flow(&ws, &setup, last, target, access);
        let (code, stdout, stderr) = run_json(&home, &flow, &ws);
        let victim = crate::common::finished(&stdout, "victim");
        let escaped = stdout.contains(OUTSIDE)
            || stdout.contains(UNGRANTED)
            || stdout.contains("root:")
            || !written_outside(dir.path(), None).is_empty();
        if escaped {
            report.push(format!("{name}: ESCAPED\n{stdout}{stderr}"));
        }
        // The attack failed: at the victim, or already when the sandbox
        // refused to set it up (an absolute link, a hard link to what the
        // step cannot reach).
        let setup_refused = stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .any(|event| {
                event["event"] == "step_finished"
                    && event["status"] == "failed"
                    && event["step"] != "victim"
            });
        if code != 1 || (victim.is_none() && !setup_refused) {
            report.push(format!(
                "{name}: exit {code}, victim {victim:?}\n{stdout}{stderr}"
            ));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n\n"));
}

#[test]
fn the_swapped_grant_fails_with_kind_grant_naming_the_link() {
    let dir = layout();
    let ws = dir.path().join("ws");
    let home = dir.path().join("home");
    let flow = attack_flow(
        &ws,
        &[
            ("rename", "data", Some("data-real")),
            ("symlink", "data", Some("../outside")),
        ],
        ("read", "data/secret.txt", None),
        "data",
        "read",
    );
    let (code, stdout, stderr) = run_json(&home, &flow, &ws);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let victim = crate::common::finished(&stdout, "victim").expect("the victim step finished");
    assert_eq!(victim["failure"]["kind"], "grant", "{victim}");
    let message = victim["failure"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`data`") && message.contains("symbolic link"),
        "{message}"
    );
}

#[test]
fn a_grant_swapped_while_steps_run_beside_it_never_leaks() {
    // One branch swaps `data` for a link to the outside and back, again and
    // again; the other reads `data/a.txt` a hundred times meanwhile. Each
    // read gives the granted file or fails with kind `grant` (and is
    // retried): never the outside file of the same name.
    let dir = layout();
    let ws = dir.path().join("ws");
    let home = dir.path().join("home");
    let sink = guest("kitchen-sink");
    let flow = ws.join("race.yaml");
    std::fs::write(
        &flow,
        format!(
            r#"name: race
steps:
  - id: both
    parallel: {{ branches: [swap, read], wait_for: all }}
  - id: swap
    module: {sink}
    action: fs-op
    inputs: {{ op: swap, path: data, arg: ../outside }}
    loop: {{ until: "{{{{ false }}}}", max_iterations: 8 }}
    continue_on_error: true
    permissions: {{ fs: [{{ path: ., access: read-write }}] }}
  - id: read
    module: {sink}
    action: fs-op
    foreach: "{{{{ range(100) | list }}}}"
    concurrency: 2
    inputs: {{ op: read, path: data/a.txt }}
    retry: {{ max_attempts: 100, initial: 2ms, backoff: fixed, on: [grant] }}
    permissions: {{ fs: [{{ path: data, access: read }}] }}
"#
        ),
    )
    .expect("workflow");
    let (_, stdout, stderr) = run_json(&home, &flow, &ws);
    assert!(
        !stdout.contains(OUTSIDE),
        "a read went through the link:\n{stdout}{stderr}"
    );
    let events: Vec<Value> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["step"] == "read")
        .collect();
    let read = events
        .iter()
        .filter(|e| e["event"] == "step_succeeded")
        .count();
    let refused = events
        .iter()
        .filter(|e| e["event"] == "step_failed" && e["kind"] == "grant")
        .count();
    assert_eq!(
        read, 100,
        "every read ended in the granted file:\n{stdout}{stderr}"
    );
    #[allow(clippy::print_stderr)] // the figure, shown with --nocapture
    {
        eprintln!("{read} reads, {refused} refused while `data` was swapped");
    }
    assert_eq!(
        std::fs::read_to_string(ws.join("data/a.txt"))
            .ok()
            .as_deref(),
        Some("granted")
    );
}

#[test]
fn an_empty_grant_path_is_refused_not_the_whole_workspace() {
    let dir = layout();
    let ws = dir.path().join("ws");
    let home = dir.path().join("home");
    let sink = guest("kitchen-sink");
    let called = wfhost(
        &home,
        &[
            "call",
            &sink,
            "fs-op",
            "-i",
            r#"{"op": "read", "path": "other/c.txt"}"#,
            "--allow-read",
            "",
            "--workspace",
            ws.to_str().expect("UTF-8"),
        ],
    );
    assert_eq!(called.code, 2, "{}", called.render());
    assert!(
        called.stderr.contains("not a path inside the workspace"),
        "{}",
        called.render()
    );
    assert!(!called.stdout.contains(UNGRANTED));
    let flow = ws.join("empty.yaml");
    std::fs::write(
        &flow,
        format!("name: empty\npermissions: {{ fs: [{{ path: \"\", access: read }}] }}\nsteps:\n  - {{ id: read, module: {sink}, action: fs-op, inputs: {{ op: read, path: other/c.txt }} }}\n"),
    )
    .expect("workflow");
    let validated = wfhost(&home, &["validate", flow.to_str().expect("UTF-8")]);
    assert_eq!(validated.code, 2, "{}", validated.render());
    assert!(
        validated
            .stderr
            .contains("is not a path inside the workspace"),
        "{}",
        validated.render()
    );
}

#[test]
fn a_granted_directory_that_is_a_link_is_refused_before_anything_runs() {
    let dir = layout();
    let ws = dir.path().join("ws");
    let home = dir.path().join("home");
    std::os::unix::fs::symlink("data", ws.join("alias")).expect("link");
    let called = wfhost(
        &home,
        &[
            "call",
            &guest("kitchen-sink"),
            "fs-op",
            "-i",
            r#"{"op": "list", "path": "alias"}"#,
            "--allow-read",
            "alias",
            "--workspace",
            ws.to_str().expect("UTF-8"),
        ],
    );
    assert_eq!(called.code, 2, "{}", called.render());
    assert!(
        called.stderr.contains("`alias`") && called.stderr.contains("symbolic link"),
        "{}",
        called.render()
    );
}
