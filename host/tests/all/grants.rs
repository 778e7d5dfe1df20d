//! Capability grants: deny by default, exactly what is granted works, and
//! nothing reaches past a grant.

use std::path::Path;

use serde_json::{Value, json};
use std::sync::Arc;

use wfhost::sandbox::{CallContext, DirGrant, Grants, Limits, Module, Outcome, Workspace};

use crate::common::{guest, load, runtime, wfhost};

async fn probe(
    module: &Module,
    action: &str,
    input: Value,
    grants: &Grants,
) -> Result<Value, String> {
    let context = CallContext {
        cancel: None,
        idempotency_key: None,
        grants: Arc::new(grants.clone()),
    };
    let report = module
        .call_with(action, &input, &Limits::default(), &context)
        .await
        .expect("the call starts");
    match report.outcome {
        Outcome::Success(output) => Ok(output),
        Outcome::Failure(failure) => Err(failure.message),
    }
}

/// A workspace with `data/` (read-only grant), `out/` (read-write grant), a
/// secret outside it, and links that try to leave.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("ws/data/inner")).expect("dirs");
    std::fs::create_dir_all(root.join("ws/out")).expect("dirs");
    std::fs::write(root.join("ws/data/a.txt"), "granted").expect("file");
    std::fs::write(root.join("ws/data/inner/b.txt"), "nested").expect("file");
    std::fs::write(root.join("secret.txt"), "secret").expect("file");
    std::os::unix::fs::symlink("/", root.join("ws/data/to-root")).expect("link");
    std::os::unix::fs::symlink(root.join("secret.txt"), root.join("ws/data/to-secret"))
        .expect("link");
    std::os::unix::fs::symlink("loop", root.join("ws/data/loop")).expect("link");
    std::os::unix::fs::symlink("missing", root.join("ws/data/dangling")).expect("link");
    std::os::unix::fs::symlink("inner/b.txt", root.join("ws/data/inside-link")).expect("link");
    dir
}

fn grants(ws: &Path) -> Grants {
    let workspace = Arc::new(Workspace::open(ws).expect("the workspace opens"));
    Grants {
        dirs: vec![
            DirGrant {
                workspace: Arc::clone(&workspace),
                path: "data".into(),
                writable: false,
            },
            DirGrant {
                workspace,
                path: "out".into(),
                writable: true,
            },
        ],
        ..Grants::default()
    }
}

#[tokio::test]
async fn granted_paths_work_and_nothing_escapes() {
    let dir = workspace();
    let ws = dir.path().join("ws");
    let runtime = runtime();
    let sink = load(&runtime, &guest("kitchen-sink"));
    let grants = grants(&ws);
    // (path, what reading it must give)
    let reads: &[(&str, Option<&str>)] = &[
        ("data/a.txt", Some("granted")),
        ("data/inner/b.txt", Some("nested")),
        ("data/inside-link", Some("nested")),
        ("a.txt", None),
        ("../secret.txt", None),
        ("data/../../secret.txt", None),
        ("data/../data/../../secret.txt", None),
        ("/etc/passwd", None),
        ("/proc/self/environ", None),
        ("data/to-root/etc/passwd", None),
        ("data/to-secret", None),
        ("data/loop", None),
        ("data/dangling", None),
    ];
    for (path, expected) in reads {
        let found = probe(&sink, "read-file", json!({"path": path}), &grants).await;
        match expected {
            Some(text) => assert_eq!(found, Ok(json!(text)), "{path} is granted"),
            None => assert!(found.is_err(), "{path} escaped: {found:?}"),
        }
    }
    let written = probe(
        &sink,
        "write-file",
        json!({"path": "data/new.txt", "contents": "x"}),
        &grants,
    )
    .await;
    assert!(
        written.is_err(),
        "a read-only grant was written: {written:?}"
    );
    assert!(!ws.join("data/new.txt").exists());
    let escaped = probe(
        &sink,
        "write-file",
        json!({"path": "out/../../escape.txt", "contents": "x"}),
        &grants,
    )
    .await;
    assert!(
        escaped.is_err() && !dir.path().join("escape.txt").exists(),
        "{escaped:?}"
    );
    let written = probe(
        &sink,
        "write-file",
        json!({"path": "out/new.txt", "contents": "x"}),
        &grants,
    )
    .await;
    assert_eq!(written, Ok(Value::Null));
    assert_eq!(
        std::fs::read_to_string(ws.join("out/new.txt"))
            .ok()
            .as_deref(),
        Some("x")
    );
    let denied = probe(
        &sink,
        "read-file",
        json!({"path": "data/a.txt"}),
        &Grants::default(),
    )
    .await;
    assert!(denied.is_err(), "nothing is granted by default: {denied:?}");
}

#[tokio::test]
async fn only_granted_variables_are_visible() {
    let runtime = runtime();
    let sink = load(&runtime, &guest("kitchen-sink"));
    let canary = json!({"name": "WFHOST_TEST_CANARY"});
    let none = probe(&sink, "env-var", canary.clone(), &Grants::default()).await;
    assert_eq!(none, Ok(Value::Null));
    let granted = Grants {
        env: vec![("WFHOST_TEST_CANARY".into(), "tweet".into())],
        ..Grants::default()
    };
    assert_eq!(
        probe(&sink, "env-var", canary, &granted).await,
        Ok(json!("tweet"))
    );
    let other = probe(&sink, "env-var", json!({"name": "PATH"}), &granted).await;
    assert_eq!(
        other,
        Ok(Value::Null),
        "granting one variable grants only it"
    );
}

#[tokio::test]
async fn network_is_refused_unless_the_address_is_granted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let address = listener.local_addr().expect("address");
    let other = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let runtime = runtime();
    let sink = load(&runtime, &guest("kitchen-sink"));
    let input = json!({"address": address.to_string()});
    let denied = probe(&sink, "connect", input.clone(), &Grants::default()).await;
    assert!(
        matches!(&denied, Err(e) if e.contains("access-denied")),
        "{denied:?}"
    );
    let granted = Grants {
        net: vec![address],
        ..Grants::default()
    };
    assert_eq!(
        probe(&sink, "connect", input, &granted).await,
        Ok(Value::Null)
    );
    let elsewhere = json!({"address": other.local_addr().expect("address").to_string()});
    let denied = probe(&sink, "connect", elsewhere, &granted).await;
    assert!(
        matches!(&denied, Err(e) if e.contains("access-denied")),
        "only the granted port: {denied:?}"
    );
}

#[test]
fn workflow_permissions_are_shown_resolved_and_enforced() {
    let dir = workspace();
    let ws = dir.path().join("ws");
    let home = dir.path().join("home");
    let flow = ws.join("flow.yaml");
    std::fs::write(
        &flow,
        format!(
            "name: granted\npermissions:\n  fs: [{{ path: data, access: read }}]\nsteps:\n  - {{ id: read, module: {sink}, action: read-file, inputs: {{ path: data/a.txt }}, onSuccess: write }}\n  - id: write\n    module: {sink}\n    action: write-file\n    inputs: {{ path: out/result.txt, contents: \"{{{{ steps.read.output }}}}\" }}\n    permissions: {{ fs: [{{ path: out, access: read-write }}] }}\n    onSuccess: sneaky\n  - {{ id: sneaky, module: {sink}, action: write-file, inputs: {{ path: data/x.txt, contents: no }} }}\n",
            sink = guest("kitchen-sink")
        ),
    )
    .expect("workflow");
    let flow = flow.to_str().expect("UTF-8");
    let validated = wfhost(&home, &["validate", flow]);
    assert_eq!(validated.code, 0, "{}", validated.render());
    assert!(
        validated.stdout.contains("  read: read data"),
        "{}",
        validated.stdout
    );
    assert!(
        validated
            .stdout
            .contains("  write: read data; read-write out"),
        "{}",
        validated.stdout
    );
    let ran = wfhost(
        &home,
        &["run", flow, "--workspace", ws.to_str().expect("UTF-8")],
    );
    assert_eq!(
        ran.code,
        1,
        "the last step writes where it may only read: {}",
        ran.render()
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("out/result.txt"))
            .ok()
            .as_deref(),
        Some("granted")
    );
    assert!(!ws.join("data/x.txt").exists());
    let missing = wfhost(
        &home,
        &[
            "run",
            flow,
            "--workspace",
            dir.path().to_str().expect("UTF-8"),
        ],
    );
    assert_eq!(
        missing.code,
        2,
        "a granted directory missing from the workspace: {}",
        missing.render()
    );
    assert!(
        missing.stderr.contains("granted directory `data`"),
        "{}",
        missing.render()
    );
}
