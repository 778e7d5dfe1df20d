//! The example workflows doing real work on copies of the fixture
//! repositories (`tests/fixtures/repos/`), through the real binary, and the
//! standard modules' typed errors on bad input.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{Run, finished, repo, wfhost};

/// A private copy of fixture repository `name`, and a home for wfhost.
fn fixture_repo(name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let ws = dir.path().join(name);
    copy_dir(&repo().join("tests/fixtures/repos").join(name), &ws);
    let home = dir.path().join("home");
    (dir, ws, home)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for entry in std::fs::read_dir(from).expect("fixture").flatten() {
        let name = entry.file_name();
        if name == "target"
            || name == "Cargo.lock"
            || name == "__pycache__"
            || name == ".pytest_cache"
            || name == "node_modules"
        {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy");
        }
    }
}

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Apply a fixture patch the way a developer would, with `patch -p1`.
fn break_with(ws: &Path, patch: &str) {
    let status = std::process::Command::new("patch")
        .args(["-s", "-p1", "-i", patch])
        .current_dir(ws)
        .status()
        .expect("patch runs");
    assert!(status.success());
}

fn run(home: &Path, workflow: &str, ws: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["run", workflow, "--json", "--workspace", s(ws)];
    args.extend_from_slice(extra);
    wfhost(home, &args)
}

fn output(run: &Run, step: &str) -> Value {
    finished(&run.stdout, step)
        .unwrap_or_else(|| panic!("step `{step}` did not finish:\n{}", run.render()))["output"]
        .clone()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn test_and_report_routes_on_the_typed_report() {
    let (_dir, ws, home) = fixture_repo("rust-calc");
    let passed = run(&home, "workflows/test-and-report.yaml", &ws, &[]);
    assert_eq!(passed.code, 0, "{}", passed.render());
    let report = output(&passed, "test");
    assert_eq!(
        (
            report["runner"].as_str(),
            report["passed"].as_u64(),
            report["success"].as_bool()
        ),
        (Some("cargo"), Some(3), Some(true))
    );
    assert!(
        output(&passed, "passed")
            .as_str()
            .unwrap_or("")
            .starts_with("all 3 tests passed")
    );

    break_with(&ws, "patches/break-subtract.diff");
    let failed = run(&home, "workflows/test-and-report.yaml", &ws, &[]);
    assert_eq!(failed.code, 1, "{}", failed.render());
    let report = output(&failed, "test");
    assert_eq!(report["failures"][0]["name"], "tests::subtracts");
    assert_eq!(
        finished(&failed.stdout, "fail").expect("fail step")["failure"]["value"]["code"],
        "tests-failed"
    );
    let markdown = read(&ws.join("test-report.md"));
    assert!(markdown.starts_with("# Tests failed: 1 of 3"), "{markdown}");
    assert!(markdown.contains("- `tests::subtracts`"), "{markdown}");

    // The fix loop runs only the failing cargo test between patches
    // (`cargo test -- --exact tests::subtracts`), then the whole suite.
    let fixed = fix_subtract(&home, &ws, serde_json::json!({}));
    let retest = output(&fixed, "retest");
    assert_eq!(
        (
            retest["runner"].as_str(),
            retest["passed"].as_u64(),
            retest["total"].as_u64()
        ),
        (Some("cargo"), Some(1), Some(1)),
        "{retest}"
    );
    assert_eq!(output(&fixed, "test")["passed"], 3);
}

#[test]
fn test_and_report_reads_pytest() {
    let (_dir, ws, home) = fixture_repo("py-calc");
    let python = [
        "-i",
        "command=python3",
        "-i",
        r#"args=["-B", "-m", "pytest"]"#,
    ];
    let passed = run(&home, "workflows/test-and-report.yaml", &ws, &python);
    assert_eq!(passed.code, 0, "{}", passed.render());
    assert_eq!(output(&passed, "test")["runner"], "pytest");
    break_with(&ws, "patches/break-subtract.diff");
    let failed = run(&home, "workflows/test-and-report.yaml", &ws, &python);
    assert_eq!(failed.code, 1, "{}", failed.render());
    let report = output(&failed, "test");
    assert_eq!(
        (report["passed"].as_u64(), report["failed"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        report["failures"][0]["name"],
        "tests/test_calc.py::test_subtract"
    );
    assert!(
        report["failures"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("assert")),
        "a failure says why: {report}"
    );
    // A test module that cannot be imported is an error with its reason,
    // not a failure named after the file.
    std::fs::write(ws.join("tests/test_io.py"), "import not_installed\n").expect("test file");
    let broken = run(&home, "workflows/test-and-report.yaml", &ws, &python);
    assert_eq!(broken.code, 1, "{}", broken.render());
    let report = output(&broken, "test");
    assert_eq!(report["errors"][0]["name"], "tests/test_io.py", "{report}");
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("No module named 'not_installed'")),
        "{report}"
    );
    // pytest stops at a collection error: nothing ran, nothing failed.
    assert_eq!(
        (report["failed"].as_u64(), report["success"].as_bool()),
        (Some(0), Some(false)),
        "{report}"
    );
    assert!(read(&ws.join("test-report.md")).contains("### Errors (could not run)"));
}

/// The fix loop on `ws` with the fixture's `fix-subtract.diff` as the only
/// patch and `inputs` (the test command); it must succeed.
fn fix_subtract(home: &Path, ws: &Path, mut inputs: Value) -> Run {
    inputs["patches"] = serde_json::json!([read(&ws.join("patches/fix-subtract.diff"))]);
    let file = ws.join("fixes.json");
    std::fs::write(&file, inputs.to_string()).expect("inputs");
    let fixed = run(
        home,
        "workflows/fix-loop.yaml",
        ws,
        &["--inputs-file", s(&file)],
    );
    assert_eq!(fixed.code, 0, "{}", fixed.render());
    fixed
}

/// test-and-report on a copy of JavaScript fixture `fixture` with `node
/// ARGS`: 3 tests pass; after breaking `subtract`, `failure` fails with a
/// message holding `why` and `at`. The workspace and home, for more.
fn node_runner_live(
    fixture: &str,
    args: &str,
    runner: &str,
    failure: &str,
    why: &str,
    at: &str,
) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (dir, ws, home) = fixture_repo(fixture);
    let installed = repo()
        .join("tests/fixtures/repos")
        .join(fixture)
        .join("node_modules");
    if installed.is_dir() {
        std::os::unix::fs::symlink(&installed, ws.join("node_modules")).expect("link node_modules");
    }
    let node = ["-i", "command=node", "-i", args];
    let passed = run(&home, "workflows/test-and-report.yaml", &ws, &node);
    assert_eq!(passed.code, 0, "{}", passed.render());
    let report = output(&passed, "test");
    assert_eq!(
        (report["runner"].as_str(), report["passed"].as_u64()),
        (Some(runner), Some(3)),
        "{report}"
    );
    break_with(&ws, "patches/break-subtract.diff");
    let failed = run(&home, "workflows/test-and-report.yaml", &ws, &node);
    assert_eq!(failed.code, 1, "{}", failed.render());
    let report = output(&failed, "test");
    assert_eq!(
        (report["passed"].as_u64(), report["failed"].as_u64()),
        (Some(2), Some(1)),
        "{report}"
    );
    assert_eq!(report["failures"][0]["name"], failure);
    let message = report["failures"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains(why) && message.contains(at),
        "the failure says why and where: {message}"
    );
    assert!(read(&ws.join("test-report.md")).contains(&format!("- `{failure}`")));
    (dir, ws, home)
}

#[test]
fn test_and_report_reads_node_test_live() {
    node_runner_live(
        "js-calc",
        r#"args=["--test"]"#,
        "node",
        "subtracts",
        "10 !== 6",
        "calc.test.js:9",
    );
}

#[test]
fn test_and_report_reads_vitest_installed_from_npm_live() {
    assert!(
        repo()
            .join("tests/fixtures/repos/vitest-calc/node_modules/vitest")
            .is_dir(),
        "vitest is installed by `bash .ci/toolchains` (npm ci in tests/fixtures/repos/vitest-calc)"
    );
    let (_dir, ws, home) = node_runner_live(
        "vitest-calc",
        r#"args=["node_modules/vitest/vitest.mjs", "run"]"#,
        "vitest",
        "calc.test.js > calc > subtracts",
        "expected 10 to be 6",
        "calc.test.js:10:28",
    );
    // The fix loop re-runs only the failing test (`-t`), then the suite.
    let fixed = fix_subtract(
        &home,
        &ws,
        serde_json::json!({ "command": "node", "args": ["node_modules/vitest/vitest.mjs", "run"] }),
    );
    let retest = output(&fixed, "retest");
    assert_eq!(
        (retest["passed"].as_u64(), retest["skipped"].as_u64()),
        (Some(1), Some(2)),
        "{retest}"
    );
    assert_eq!(output(&fixed, "test")["passed"], 3);
}

#[test]
fn implement_feature_documents_a_good_patch_and_rolls_back_a_bad_one() {
    let (_dir, ws, home) = fixture_repo("rust-calc");
    // A patch that applies but breaks a test: rolled back.
    let before = read(&ws.join("src/lib.rs"));
    let changelog = read(&ws.join("CHANGELOG.md"));
    let patch = format!("patch=@{}", s(&ws.join("patches/break-subtract.diff")));
    let bad = run(
        &home,
        "workflows/implement-feature.yaml",
        &ws,
        &["-i", &patch, "-i", "entry=Broken."],
    );
    assert_eq!(bad.code, 1, "{}", bad.render());
    assert!(
        finished(&bad.stdout, "restore").is_some(),
        "{}",
        bad.render()
    );
    assert_eq!(
        read(&ws.join("src/lib.rs")),
        before,
        "the patch was rolled back"
    );
    assert_eq!(read(&ws.join("CHANGELOG.md")), changelog);
    assert_eq!(
        finished(&bad.stdout, "rejected").expect("rejected")["failure"]["value"]["code"],
        "feature-rejected"
    );
    // A patch that does not apply: rejected, nothing changed.
    let conflicting = format!("patch=@{}", s(&ws.join("patches/fix-subtract.diff")));
    let rejected = run(
        &home,
        "workflows/implement-feature.yaml",
        &ws,
        &["-i", &conflicting, "-i", "entry=Nothing."],
    );
    assert_eq!(rejected.code, 1, "{}", rejected.render());
    assert!(
        finished(&rejected.stdout, "rejected").expect("rejected")["failure"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("the patch does not apply"),
        "{}",
        rejected.render()
    );
    assert_eq!(read(&ws.join("src/lib.rs")), before);

    let patch = format!("patch=@{}", s(&ws.join("patches/multiply.diff")));
    let good = run(
        &home,
        "workflows/implement-feature.yaml",
        &ws,
        &["-i", &patch, "-i", "entry=`multiply`."],
    );
    assert_eq!(good.code, 0, "{}", good.render());
    assert!(read(&ws.join("src/lib.rs")).contains("pub fn multiply"));
    assert_eq!(output(&good, "test")["passed"], 4);
    assert!(
        read(&ws.join("CHANGELOG.md")).contains("## [Unreleased]\n\n### Added\n\n- `multiply`.\n")
    );
    assert!(read(&ws.join("README.md")).contains(
        "<!-- toc -->\n- [Usage](#usage)\n- [Development](#development)\n<!-- tocstop -->"
    ));
    assert_eq!(output(&good, "links"), Value::Array(Vec::new()));
}

#[test]
fn fix_loop_tries_patches_until_the_tests_pass() {
    let (_dir, ws, home) = fixture_repo("py-calc");
    break_with(&ws, "patches/break-subtract.diff");
    let patches = [
        read(&ws.join("patches/break-subtract.diff")),
        read(&ws.join("patches/fix-subtract.diff")),
    ];
    let inputs = ws.join("fixes.json");
    let json = serde_json::json!({ "patches": patches, "command": "python3", "args": ["-B", "-m", "pytest"] });
    std::fs::write(&inputs, json.to_string()).expect("inputs");
    let fixed = run(
        &home,
        "workflows/fix-loop.yaml",
        &ws,
        &["--inputs-file", s(&inputs)],
    );
    assert_eq!(fixed.code, 0, "{}", fixed.render());
    // The first patch does not apply (a typed conflict), the second fixes it.
    let fixes = fixed
        .stdout
        .lines()
        .filter(|line| line.contains(r#""event":"step_finished","step":"fix""#))
        .count();
    assert_eq!(fixes, 2, "{}", fixed.render());
    // Between patches only the failing test ran again; then the whole suite.
    let retest = output(&fixed, "retest");
    assert_eq!(
        (retest["passed"].as_u64(), retest["total"].as_u64()),
        (Some(1), Some(1)),
        "{retest}"
    );
    let full = output(&fixed, "test");
    assert_eq!(full["success"], true);
    assert!(full["total"].as_u64() > Some(1), "{full}");

    // Out of fixes: the repository goes back to how it was.
    break_with(&ws, "patches/break-subtract.diff");
    let broken = read(&ws.join("calc/__init__.py"));
    let json = serde_json::json!({ "patches": [patches[0].clone()], "command": "python3", "args": ["-B", "-m", "pytest"] });
    std::fs::write(&inputs, json.to_string()).expect("inputs");
    let gave_up = run(
        &home,
        "workflows/fix-loop.yaml",
        &ws,
        &["--inputs-file", s(&inputs)],
    );
    assert_eq!(gave_up.code, 1, "{}", gave_up.render());
    assert_eq!(
        finished(&gave_up.stdout, "out-of-fixes").expect("gave up")["failure"]["value"]["code"],
        "out-of-fixes"
    );
    assert_eq!(read(&ws.join("calc/__init__.py")), broken);
}

#[test]
fn rename_formats_tests_and_rolls_back_a_breaking_rename() {
    let (_dir, ws, home) = fixture_repo("rust-calc");
    let renamed = run(
        &home,
        "workflows/rename.yaml",
        &ws,
        &["-i", "from=total", "-i", "to=sum"],
    );
    assert_eq!(renamed.code, 0, "{}", renamed.render());
    let code = read(&ws.join("src/lib.rs"));
    assert!(code.contains("pub fn sum(values: &[i64])"), "{code}");
    assert!(
        code.contains("\"total\" in strings and comments stays"),
        "strings and comments are left alone"
    );
    assert!(code.contains("fn totals()"), "whole words only");
    let report = output(&renamed, "rename");
    assert!(
        report["diff"].as_str().unwrap_or("").contains(
            "-pub fn total(values: &[i64]) -> i64 {\n+pub fn sum(values: &[i64]) -> i64 {"
        ),
        "{report}"
    );

    // Renaming `subtract` to `add` breaks the build: everything is restored.
    let before = read(&ws.join("src/lib.rs"));
    let clash = run(
        &home,
        "workflows/rename.yaml",
        &ws,
        &["-i", "from=subtract", "-i", "to=add"],
    );
    assert_eq!(clash.code, 1, "{}", clash.render());
    assert!(
        finished(&clash.stdout, "restore").is_some(),
        "{}",
        clash.render()
    );
    assert_eq!(read(&ws.join("src/lib.rs")), before);
}

#[test]
fn rename_keeps_a_crate_with_doc_tests_green_and_renames_one_kind() {
    let (_dir, ws, home) = fixture_repo("rust-doc");
    let renamed = run(
        &home,
        "workflows/rename.yaml",
        &ws,
        &["-i", "from=Buffer", "-i", "to=Ring", "-i", "kind=struct"],
    );
    assert_eq!(renamed.code, 0, "{}", renamed.render());
    // Two unit tests and two doc tests, all passing after the rename.
    assert_eq!(output(&renamed, "test")["passed"], 4);
    let code = read(&ws.join("src/lib.rs"));
    for renamed_part in [
        "let mut b = ringbuf_doc::Ring::new(2);",
        "//! A bounded buffer. Start with [`Ring::new`], then [`Ring::push`].",
        "a full [`Ring`] drops the oldest",
        "use ringbuf_doc::Ring;",
        "pub struct Ring {",
        "pub fn new(cap: usize) -> Ring {",
        "fn drain(&self, from: &mut crate::Ring) -> Self::Buffer;",
    ] {
        assert!(code.contains(renamed_part), "{renamed_part}:\n{code}");
    }
    // The private trait's associated type of the same name is another kind.
    assert!(code.contains("    type Buffer;\n"), "{code}");
    assert!(code.contains("type Buffer = Vec<i32>;"), "{code}");
    assert!(
        code.contains("an unrelated `Buffer`"),
        "prose stays: {code}"
    );
    let kinds: Vec<String> = output(&renamed, "rename")["definitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| format!("{}@{}", d["kind"].as_str().unwrap_or(""), d["line"]))
        .collect();
    assert_eq!(
        kinds,
        ["struct@19", "associated-type@57", "associated-type@64"]
    );

    // A kind the name does not have changes nothing and rolls back.
    let before = read(&ws.join("src/lib.rs"));
    let missing = run(
        &home,
        "workflows/rename.yaml",
        &ws,
        &["-i", "from=Ring", "-i", "to=R", "-i", "kind=enum"],
    );
    assert_eq!(missing.code, 1, "{}", missing.render());
    let failure = finished(&missing.stdout, "rename").expect("the rename step")["failure"].clone();
    assert_eq!(failure["value"]["code"], "unknown-kind", "{failure}");
    assert_eq!(read(&ws.join("src/lib.rs")), before);
}

#[test]
fn docs_maintenance_runs_three_branches_and_joins() {
    let (_dir, ws, home) = fixture_repo("rust-calc");
    std::fs::write(
        ws.join("docs/extra.md"),
        "# Extra\n\nSee [nowhere](missing.md) and [the guide](guide.md#no-such-heading).\n",
    )
    .expect("doc");
    let done = run(&home, "workflows/docs-maintenance.yaml", &ws, &[]);
    assert_eq!(done.code, 0, "{}", done.render());
    let links = output(&done, "links");
    let reasons: Vec<(&str, &str)> = links
        .as_array()
        .expect("a list")
        .iter()
        .map(|l| {
            (
                l["target"].as_str().unwrap_or(""),
                l["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("missing.md", "missing-file"),
            ("guide.md#no-such-heading", "missing-anchor")
        ]
    );
    let summary = output(&done, "summary");
    assert_eq!(
        summary,
        "workflow docs-maintenance finished: broken links — table of contents: 2 entries (updated); 2 broken links; changelog entry added"
    );
    assert!(read(&ws.join("CHANGELOG.md")).contains("### Changed\n\n- Documentation refreshed.\n"));
}

/// Bad input to the standard modules: typed errors with a code and advice.
#[test]
fn standard_modules_fail_with_typed_errors() {
    let (_dir, ws, home) = fixture_repo("rust-calc");
    let grant = ["--workspace", s(&ws), "--allow-write", ".", "--json"];
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "implementing",
            "apply-patch",
            r#"{"patch": "not a diff"}"#,
            "invalid-patch",
        ),
        (
            "implementing",
            "apply-patch",
            r#"{"patch": "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,1 +1,1 @@\n-nothing like this\n+x\n"}"#,
            "patch-conflict",
        ),
        (
            "implementing",
            "write-files",
            r#"{"files": [{"path": "../escape.txt", "content": "x"}]}"#,
            "invalid-path",
        ),
        (
            "implementing",
            "restore",
            r#"{"id": "0123456789abcdef"}"#,
            "unknown-snapshot",
        ),
        (
            "refactoring",
            "rename-symbol",
            r#"{"from": "total", "to": "sum", "globs": ["**/*.go"]}"#,
            "no-files",
        ),
        (
            "refactoring",
            "rename-symbol",
            r#"{"from": "total", "to": "not valid", "globs": ["**/*.rs"]}"#,
            "invalid-identifier",
        ),
        (
            "refactoring",
            "replace",
            r#"{"pattern": "(", "replacement": "", "globs": ["**/*.rs"]}"#,
            "invalid-pattern",
        ),
        (
            "testing",
            "parse-output",
            // Coloured, as cargo prints on a terminal.
            r#"{"output": "\u001b[31merror\u001b[0m: could not compile `calc`"}"#,
            "unparseable-output",
        ),
        (
            "testing",
            "parse-junit",
            r#"{"path": "README.md"}"#,
            "invalid-junit",
        ),
        (
            "docs",
            "toc",
            r#"{"path": "CHANGELOG.md", "max-depth": 3}"#,
            "no-toc-markers",
        ),
        (
            "docs",
            "changelog-add",
            r#"{"path": "CHANGELOG.md", "section": "Misc", "entry": "x"}"#,
            "invalid-section",
        ),
        (
            "docs",
            "report",
            r#"{"title": "t", "path": "../report.md"}"#,
            "not-permitted",
        ),
    ];
    for (module, action, input, code) in cases {
        let mut args = vec!["call", module, action, "--input", input];
        args.extend_from_slice(&grant);
        let called = wfhost(&home, &args);
        let report: Value = serde_json::from_str(&called.stdout)
            .unwrap_or_else(|_| panic!("{module}.{action}: {}", called.render()));
        assert_eq!(
            report["error"]["code"], *code,
            "{module}.{action}: {report}"
        );
        assert!(!report["error"]["message"].as_str().unwrap_or("").is_empty());
        // Details are structured JSON, whatever the text inside them.
        if matches!(*code, "patch-conflict" | "unparseable-output") {
            assert!(
                report["error"]["details"].is_object(),
                "{module}.{action}: {report}"
            );
        }
    }
}

/// The actions the example workflows do not use, on their happy paths.
#[test]
fn standard_modules_other_actions() {
    let (_dir, ws, home) = fixture_repo("rust-calc");
    let call = |module: &str, action: &str, input: &str| -> Value {
        let called = wfhost(
            &home,
            &[
                "call",
                module,
                action,
                "--input",
                input,
                "--workspace",
                s(&ws),
                "--allow-write",
                ".",
                "--json",
            ],
        );
        let report: Value = serde_json::from_str(&called.stdout)
            .unwrap_or_else(|_| panic!("{module}.{action}: {}", called.render()));
        assert_eq!(report["status"], "success", "{module}.{action}: {report}");
        report["output"].clone()
    };

    // scaffold renders names and contents; write-files writes.
    std::fs::create_dir_all(ws.join("templates/{{ name }}")).expect("template dir");
    std::fs::write(
        ws.join("templates/{{ name }}/{{ name }}.rs"),
        "pub fn {{ name }}() -> &'static str { \"{{ greeting }}\" }\n",
    )
    .expect("template");
    let written = call(
        "implementing",
        "scaffold",
        r#"{"template-dir": "templates", "destination": "src/gen", "variables": [["name", "hello"], ["greeting", "hi"]]}"#,
    );
    assert_eq!(written, serde_json::json!(["src/gen/hello/hello.rs"]));
    assert_eq!(
        read(&ws.join("src/gen/hello/hello.rs")),
        "pub fn hello() -> &'static str { \"hi\" }\n"
    );
    call(
        "implementing",
        "write-files",
        r#"{"files": [{"path": "notes/a.txt", "content": "a"}]}"#,
    );
    assert_eq!(read(&ws.join("notes/a.txt")), "a");

    // replace in a dry run changes nothing but reports the diff.
    let dry = call(
        "refactoring",
        "replace",
        r#"{"pattern": "fn (\\w+)\\(a: i64", "replacement": "fn ${1}_i64(a: i64", "globs": ["src/*.rs"], "dry-run": true}"#,
    );
    assert_eq!(dry["replacements"], 2);
    assert!(
        dry["diff"]
            .as_str()
            .unwrap_or("")
            .contains("+pub fn add_i64(a: i64, b: i64) -> i64 {"),
        "{dry}"
    );
    assert!(read(&ws.join("src/lib.rs")).contains("pub fn add(a: i64"));

    // JUnit reports and comparisons for regression gates.
    std::fs::write(
        ws.join("junit.xml"),
        r#"<testsuite name="calc"><testcase classname="calc" name="adds" time="0.1"/><testcase classname="calc" name="subtracts" time="0.2"><failure message="boom"/></testcase></testsuite>"#,
    )
    .expect("junit");
    let after = call("testing", "parse-junit", r#"{"path": "junit.xml"}"#);
    assert_eq!(
        (
            after["passed"].as_u64(),
            after["failed"].as_u64(),
            after["duration-ms"].as_u64()
        ),
        (Some(1), Some(1), Some(300))
    );
    let before = call(
        "testing",
        "parse-output",
        r#"{"output": "test a ... FAILED\ntest result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured\n"}"#,
    );
    let input = serde_json::json!({ "before": before, "after": after }).to_string();
    let compared = call("testing", "compare", &input);
    assert_eq!(
        compared,
        serde_json::json!({ "new-failures": ["calc::subtracts"], "fixed": ["a"], "still-failing": [], "regressed": true })
    );
}

/// Snapshots stay out of git (`.wfhost/` ignores itself) and only the
/// newest 20 are kept.
#[test]
fn snapshots_stay_out_of_git_and_old_ones_are_pruned() {
    let (_dir, ws, home) = fixture_repo("rust-calc");
    let git = |args: &[&str]| {
        let output = std::process::Command::new("git")
            .args(args)
            .current_dir(&ws)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("git runs");
        assert!(output.status.success(), "git {args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    git(&["init", "-q"]);
    std::fs::write(ws.join("notes.txt"), "0").expect("notes");
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "fixture"]);
    // Twenty older snapshots: taking one more removes the oldest.
    for n in 0..20 {
        let old = ws.join(format!(".wfhost/snapshots/{n:016x}"));
        std::fs::create_dir_all(&old).expect("an older snapshot");
        std::fs::write(old.join("index.json"), "{}").expect("its index");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::fs::remove_file(ws.join(".wfhost/.gitignore")).ok();
    std::fs::write(ws.join("notes.txt"), "changed").expect("notes");
    let taken = wfhost(
        &home,
        &[
            "call",
            "implementing",
            "snapshot",
            "--input",
            r#"{"paths": ["notes.txt"]}"#,
            "--workspace",
            s(&ws),
            "--allow-write",
            ".",
            "--json",
        ],
    );
    assert_eq!(taken.code, 0, "{}", taken.render());
    let id: Value = serde_json::from_str(&taken.stdout).expect("a report");
    let id = id["output"].as_str().expect("the snapshot id");
    assert_eq!(git(&["status", "--porcelain"]), " M notes.txt\n");
    let mut kept: Vec<String> = std::fs::read_dir(ws.join(".wfhost/snapshots"))
        .expect("snapshots")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    kept.sort();
    assert_eq!(kept.len(), 20, "{kept:?}");
    assert!(
        kept.iter().any(|k| k == id),
        "the new one is kept: {kept:?}"
    );
    assert!(
        !kept.iter().any(|k| k == "0000000000000000"),
        "the oldest went: {kept:?}"
    );
}
