//! Disk faults: the home on a full filesystem and on a read-only one. Each
//! scenario runs the real binary in a private mount namespace
//! (`unshare --user --map-root-user --mount`), on a small tmpfs mounted
//! there, so nothing is mounted on the machine and no privilege is needed.

use std::path::Path;
use std::process::Command;

use crate::common::{guest, repo};

/// Run `script` with `sh` in a private mount namespace; `$WFHOST` is the
/// binary, `$HOME_DIR` an empty directory for a tmpfs, `$WS` a workspace.
fn in_namespace(dir: &Path, script: &str) -> (i32, String) {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("home dir");
    let output = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", script])
        .current_dir(repo())
        .env("WFHOST", env!("CARGO_BIN_EXE_wfhost"))
        .env("HOME_DIR", &home)
        .env("WS", dir.join("ws"))
        .env("WFHOST_HOME", &home)
        .env_remove("WFHOST_LOG")
        .output()
        .expect("unshare runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// A workspace whose second step reads a 900 KiB file: its output is the
/// journal's one large write.
fn workspace(dir: &Path) -> String {
    let ws = dir.join("ws");
    std::fs::create_dir_all(ws.join("data")).expect("dirs");
    std::fs::write(ws.join("data/big.txt"), "x".repeat(900 << 10)).expect("file");
    let flow = ws.join("flow.yaml");
    std::fs::write(
        &flow,
        format!(
            "name: big\npermissions: {{ fs: [{{ path: data, access: read }}] }}\nsteps:\n  - {{ id: small, module: system, action: echo, inputs: {{ message: hi }}, onSuccess: big }}\n  - {{ id: big, module: {}, action: read-file, inputs: {{ path: data/big.txt }}, onSuccess: after }}\n  - {{ id: after, module: system, action: echo, inputs: {{ message: \"{{{{ steps.small.output }}}}\" }} }}\n",
            guest("kitchen-sink")
        ),
    )
    .expect("workflow");
    flow.to_str().expect("UTF-8").to_string()
}

#[test]
fn a_full_disk_fails_the_run_clearly_and_it_resumes_once_space_is_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let flow = workspace(dir.path());
    // 1. A 24 MiB tmpfs home; a first run fills the artifact cache.
    // 2. A filler leaves about 256 KiB: the next run starts, and fails
    //    when the journal cannot write the 900 KiB output (new content: a
    //    value the journal holds already would be stored by reference).
    // 3. The filler goes; `resume` finishes the run.
    let script = format!(
        r#"set -u
mount -t tmpfs -o size=24m tmpfs "$HOME_DIR" || exit 90
"$WFHOST" run {flow} --workspace "$WS" >/dev/null 2>&1 || exit 91
free=$(df -k --output=avail "$HOME_DIR" | tail -1)
dd if=/dev/zero of="$HOME_DIR/filler" bs=1k count=$((free - 256)) 2>/dev/null
head -c 680000 /dev/urandom | base64 -w0 > "$WS/data/big.txt"
"$WFHOST" run {flow} --workspace "$WS"
echo "run-exit=$?"
run=$("$WFHOST" list --json | sed -n 's/.*"id": *"\([^"]*\)".*/\1/p' | head -1)
echo "run-id=$run"
echo "status-while-full=$("$WFHOST" status "$run" --json | sed -n 's/^  "status": *"\([^"]*\)".*/\1/p')"
rm "$HOME_DIR/filler"
"$WFHOST" resume "$run" >/dev/null 2>&1
echo "resume-exit=$?"
echo "status-after=$("$WFHOST" status "$run" --json | sed -n 's/^  "status": *"\([^"]*\)".*/\1/p')"
"#
    );
    let (code, output) = in_namespace(dir.path(), &script);
    assert_eq!(code, 0, "{output}");
    assert_eq!(
        value(&output, "run-exit"),
        "4",
        "a journal that cannot be written ends the run with the environment's exit code:\n{output}"
    );
    assert!(
        output.contains("wfhost.db") && output.contains("full"),
        "the error names the database and says the disk is full:\n{output}"
    );
    let run = value(&output, "run-id");
    assert!(
        output.contains(&format!("wfhost resume {run}")),
        "the error says how to continue:\n{output}"
    );
    assert_eq!(value(&output, "resume-exit"), "0", "{output}");
    assert_eq!(value(&output, "status-after"), "succeeded", "{output}");
}

#[test]
fn a_read_only_home_is_refused_with_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let flow = workspace(dir.path());
    let script = format!(
        r#"mount -t tmpfs -o size=8m tmpfs "$HOME_DIR" || exit 90
"$WFHOST" run {flow} --workspace "$WS" >/dev/null 2>&1 || exit 91
mount -o remount,ro "$HOME_DIR" || exit 92
"$WFHOST" run {flow} --workspace "$WS"
echo "run-exit=$?"
"#
    );
    let (code, output) = in_namespace(dir.path(), &script);
    assert_eq!(code, 0, "{output}");
    assert_eq!(value(&output, "run-exit"), "4", "{output}");
    assert!(
        output.contains("wfhost.db") && output.contains("read"),
        "the error names the database and says it is read-only:\n{output}"
    );
}

/// The value after `key=` on its own line of `output`.
fn value<'a>(output: &'a str, key: &str) -> &'a str {
    output
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or("")
}
