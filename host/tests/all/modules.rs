//! Installing modules and what they ask for, through the real binary:
//! every source form, digests checked on every load, hostile archives,
//! resolution and lockfiles, asks met with grants, and the scaffold.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{Run, finished, guest, walk, wfhost, wfhost_with};

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A module project in `dir` around the kitchen-sink component.
fn module_dir(dir: &Path, manifest: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("module dir");
    std::fs::copy(guest("kitchen-sink"), dir.join("sink.wasm")).expect("component");
    std::fs::write(dir.join("wfmodule.toml"), manifest).expect("manifest");
    dir.to_path_buf()
}

/// `wfhost module install COMPONENT --name NAME --version VERSION`.
fn install_bare(home: &Path, component: &str, name: &str, version: &str) -> Run {
    wfhost(
        home,
        &[
            "module",
            "install",
            component,
            "--name",
            name,
            "--version",
            version,
        ],
    )
}

fn ok(run: &Run) {
    assert_eq!(run.code, 0, "{}", run.render());
}

fn refused(run: &Run, expected: &str) {
    assert_eq!(run.code, 2, "{}", run.render());
    assert!(
        run.stderr.contains(expected),
        "expected `{expected}` in:\n{}",
        run.render()
    );
}

fn installed_names(home: &Path) -> Vec<String> {
    let listed = wfhost(home, &["module", "list", "--json"]);
    ok(&listed);
    let rows: Vec<Value> = serde_json::from_str(&listed.stdout).expect("JSON list");
    rows.iter()
        .filter(|row| row["origin"] == "installed")
        .map(|row| {
            format!(
                "{}@{}",
                row["name"].as_str().unwrap_or(""),
                row["version"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn install_from_every_source_form() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let sink = guest("kitchen-sink");

    // A bare component: named by flags, asks for nothing in particular.
    let bare = install_bare(&home, &sink, "sink", "1.0.0");
    ok(&bare);
    assert!(
        bare.stdout.contains("installed sink 1.0.0"),
        "{}",
        bare.stdout
    );
    assert!(
        bare.stdout
            .contains("echo-string: func(v: string) -> string"),
        "{}",
        bare.stdout
    );
    assert!(bare.stdout.contains("no wfmodule.toml"), "{}", bare.stdout);

    // A directory with a manifest: the permission screen shows each reason.
    let project = module_dir(
        &dir.path().join("probe"),
        "name = \"probe\"\nversion = \"2.0.0\"\ndescription = \"Probes.\"\ncomponent = \"sink.wasm\"\n\
         [[capabilities.env]]\nname = \"PROBE_TOKEN\"\nreason = \"authenticates to the probe service\"\n",
    );
    let from_dir = wfhost(&home, &["module", "install", path(&project)]);
    ok(&from_dir);
    assert!(
        from_dir
            .stdout
            .contains("read the environment variable `PROBE_TOKEN`"),
        "{}",
        from_dir.stdout
    );
    assert!(
        from_dir
            .stdout
            .contains("why: authenticates to the probe service"),
        "{}",
        from_dir.stdout
    );
    refused(
        &wfhost(
            &home,
            &["module", "install", path(&project), "--name", "other"],
        ),
        "--name applies to bare components",
    );

    // A packed archive.
    let packed_dir = module_dir(
        &dir.path().join("packed"),
        "name = \"packed\"\nversion = \"0.3.0\"\ncomponent = \"sink.wasm\"\n",
    );
    let archive = dir.path().join("packed.tar.gz");
    ok(&wfhost(
        &home,
        &["module", "pack", path(&packed_dir), "-o", path(&archive)],
    ));
    let from_archive = wfhost(&home, &["module", "install", path(&archive)]);
    ok(&from_archive);
    assert!(
        from_archive.stdout.contains("installed packed 0.3.0"),
        "{}",
        from_archive.stdout
    );

    assert_eq!(
        installed_names(&home),
        ["packed@0.3.0", "probe@2.0.0", "sink@1.0.0"]
    );
    let called = wfhost(
        &home,
        &[
            "call",
            "packed@0.3.0",
            "echo-string",
            "--input",
            r#"{"v": "hi"}"#,
        ],
    );
    ok(&called);
    assert_eq!(called.stdout.trim(), "\"hi\"");
    let shown = wfhost(&home, &["module", "show", "probe", "--json"]);
    ok(&shown);
    let shown: Value = serde_json::from_str(&shown.stdout).expect("JSON");
    assert_eq!(shown["version"], "2.0.0");
    assert_eq!(shown["capabilities"][0]["capability"], "env");

    // The same content again changes nothing; other content needs --force.
    ok(&install_bare(&home, &sink, "sink", "1.0.0"));
    let other = guest("greeter");
    refused(
        &install_bare(&home, &other, "sink", "1.0.0"),
        "already installed with different content",
    );
    let forced = wfhost(
        &home,
        &[
            "module",
            "install",
            &other,
            "--name",
            "sink",
            "--version",
            "1.0.0",
            "--force",
        ],
    );
    ok(&forced);
    assert!(
        forced.stdout.contains("replaced sink 1.0.0"),
        "{}",
        forced.stdout
    );

    ok(&wfhost(&home, &["module", "remove", "sink@1.0.0"]));
    assert_eq!(installed_names(&home), ["packed@0.3.0", "probe@2.0.0"]);
    refused(
        &wfhost(&home, &["call", "sink", "echo-string"]),
        "no module named `sink`",
    );
    refused(
        &wfhost(&home, &["module", "remove", "sink"]),
        "no module `sink` is installed",
    );
}

#[test]
fn tampered_components_and_artifacts_never_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let sink = guest("kitchen-sink");
    // A cache of its own: this test tampers with it.
    let cache = home.join("cache/components");
    let cache = cache.to_str().expect("UTF-8");
    let private = |args: &[&str], env: &[(&str, &str)]| {
        let mut env = env.to_vec();
        env.push(("WFHOST_CACHE_DIR", cache));
        wfhost_with(&home, args, &env)
    };
    ok(&private(
        &[
            "module",
            "install",
            &sink,
            "--name",
            "sink",
            "--version",
            "1.0.0",
        ],
        &[],
    ));
    let input = ["call", "sink", "echo-string", "--input", r#"{"v": "hi"}"#];

    // The installed component changed after install: refused before loading.
    let component = home.join("modules/sink/1.0.0/component.wasm");
    let original = std::fs::read(&component).expect("installed component");
    let mut tampered = original.clone();
    tampered.extend_from_slice(b"\0\0");
    std::fs::write(&component, &tampered).expect("tamper");
    let run = private(&input, &[]);
    refused(&run, "was modified after it was installed");
    assert!(run.stdout.is_empty(), "nothing ran: {}", run.render());
    std::fs::write(&component, &original).expect("restore");
    ok(&private(&input, &[]));

    // The precompiled artifact changed: never deserialised; compiled afresh.
    let artifact = walk(&home.join("cache"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("install precompiled the component");
    let mut bytes = std::fs::read(&artifact).expect("artifact");
    let middle = bytes.len() / 2;
    for byte in &mut bytes[middle..middle + 64] {
        *byte ^= 0xff;
    }
    std::fs::write(&artifact, &bytes).expect("tamper artifact");
    let run = private(&input, &[("WFHOST_LOG", "warn")]);
    ok(&run);
    assert!(
        run.stderr.contains("refusing cached artifact"),
        "{}",
        run.render()
    );
    assert_ne!(
        std::fs::read(&artifact).expect("artifact"),
        bytes,
        "the tampered artifact was replaced"
    );
}

/// A tar entry written byte for byte, bypassing the checks of `tar`'s builder.
fn raw_entry(builder: &mut tar::Builder<Vec<u8>>, name: &str, kind: tar::EntryType, data: &[u8]) {
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    if kind.is_symlink() || kind.is_hard_link() {
        header.as_old_mut().linkname[..1].copy_from_slice(b"/");
    }
    header.set_cksum();
    builder.append(&header, data).expect("append");
}

fn gzip(tar: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(tar).expect("gzip");
    encoder.finish().expect("gzip")
}

fn archive(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, kind, data) in entries {
        raw_entry(&mut builder, name, *kind, data);
    }
    gzip(&builder.into_inner().expect("tar"))
}

#[test]
fn hostile_archives_are_refused_and_install_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let manifest = b"name = \"evil\"\nversion = \"1.0.0\"\n".as_slice();
    let component = std::fs::read(guest("kitchen-sink")).expect("component");
    let regular = tar::EntryType::Regular;
    let many: Vec<(String, Vec<u8>)> = (0..300).map(|i| (format!("f{i}"), Vec::new())).collect();
    let mut many_entries: Vec<(&str, tar::EntryType, &[u8])> = many
        .iter()
        .map(|(n, d)| (n.as_str(), regular, d.as_slice()))
        .collect();
    many_entries.push(("wfmodule.toml", regular, manifest));
    // 300 MiB of zeros: a few hundred KiB compressed.
    let bomb = {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(300 << 20);
        header.set_entry_type(regular);
        header.set_cksum();
        builder
            .append_data(
                &mut header,
                "component.wasm",
                std::io::repeat(0).take(300 << 20),
            )
            .expect("bomb");
        gzip(&builder.into_inner().expect("tar"))
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "parent",
            archive(&[
                ("wfmodule.toml", regular, manifest),
                ("../component.wasm", regular, &component),
            ]),
            "outside the module",
        ),
        (
            "absolute",
            archive(&[("/etc/wfmodule.toml", regular, manifest)]),
            "outside the module",
        ),
        (
            "symlink",
            archive(&[
                ("wfmodule.toml", regular, manifest),
                ("component.wasm", tar::EntryType::Symlink, b""),
            ]),
            "is a link",
        ),
        (
            "hard link",
            archive(&[("component.wasm", tar::EntryType::Link, b"")]),
            "is a link",
        ),
        (
            "device",
            archive(&[("dev", tar::EntryType::Char, b"")]),
            "plain files only",
        ),
        (
            "duplicate",
            archive(&[
                ("wfmodule.toml", regular, manifest),
                ("wfmodule.toml", regular, manifest),
            ]),
            "holds `wfmodule.toml` twice",
        ),
        ("entries", archive(&many_entries), "more than 256 entries"),
        ("bomb", bomb, "unpacks to more than"),
        (
            "not gzip",
            b"definitely not an archive".to_vec(),
            "not a readable .tar.gz",
        ),
        (
            "incomplete",
            archive(&[("wfmodule.toml", regular, manifest)]),
            "has no `component.wasm`",
        ),
    ];
    for (name, bytes, expected) in cases {
        let file = dir
            .path()
            .join(format!("{}.tar.gz", name.replace(' ', "-")));
        std::fs::write(&file, bytes).expect("archive");
        let run = wfhost(&home, &["module", "install", path(&file)]);
        assert_eq!(run.code, 2, "{name}: {}", run.render());
        assert!(
            run.stderr.contains(expected),
            "{name}: expected `{expected}` in {}",
            run.stderr
        );
    }
    assert!(installed_names(&home).is_empty());
    assert!(!dir.path().join("component.wasm").exists());
}

#[test]
fn references_resolve_by_range_and_lockfiles_pin_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let sink = guest("kitchen-sink");
    for version in ["1.0.0", "1.2.0", "2.0.0"] {
        ok(&install_bare(&home, &sink, "sink", version));
    }
    let shown = wfhost(&home, &["module", "show", "sink@^1"]);
    ok(&shown);
    assert!(
        shown.stdout.starts_with("sink 1.2.0 (installed)"),
        "{}",
        shown.stdout
    );
    ok(&wfhost(&home, &["module", "show", "sink@1.0.0"]));
    refused(
        &wfhost(&home, &["module", "show", "sink@^3"]),
        "no version of `sink` matches `^3`; available: 1.0.0, 1.2.0, 2.0.0",
    );

    let flow = dir.path().join("flow.yaml");
    std::fs::write(
        &flow,
        "name: pinned\nsteps:\n  - { id: echo, module: \"sink@^1\", action: echo-string, inputs: { v: hi } }\n",
    )
    .expect("workflow");
    let locked = wfhost(&home, &["lock", path(&flow)]);
    ok(&locked);
    assert!(
        locked.stdout.contains("sink@^1 → sink 1.2.0 (installed)"),
        "{}",
        locked.stdout
    );
    let lock_text = std::fs::read_to_string(dir.path().join("flow.yaml.lock")).expect("lockfile");
    assert!(lock_text.contains("version = \"1.2.0\""), "{lock_text}");

    // A newer match does not move a locked workflow.
    ok(&install_bare(&home, &sink, "sink", "1.5.0"));
    ok(&wfhost(&home, &["run", path(&flow)]));
    ok(&wfhost(&home, &["module", "remove", "sink@1.2.0"]));
    refused(&wfhost(&home, &["run", path(&flow)]), "matches `=1.2.0`");
    // The pinned version with other content: refused, naming both digests.
    ok(&install_bare(&home, &guest("greeter"), "sink", "1.2.0"));
    refused(&wfhost(&home, &["run", path(&flow)]), "but the lockfile");
    // Locking again accepts what is installed now.
    std::fs::remove_file(dir.path().join("flow.yaml.lock")).expect("unlock");
    ok(&wfhost(&home, &["run", path(&flow)]));

    // An installed module shadows the bundled one of its name, with a warning.
    ok(&wfhost(
        &home,
        &["module", "install", &sink, "--name", "system"],
    ));
    let shadowed = wfhost(&home, &["module", "show", "system"]);
    ok(&shadowed);
    assert!(
        shadowed
            .stderr
            .contains("the installed module system@0.0.0 shadows the bundled `system`"),
        "{}",
        shadowed.render()
    );
}

#[test]
fn a_step_gets_what_its_module_asks_for_and_is_granted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("docs")).expect("docs");
    std::fs::create_dir_all(ws.join("src")).expect("src");
    let project = module_dir(
        &dir.path().join("scribe"),
        "name = \"scribe\"\nversion = \"1.0.0\"\ncomponent = \"sink.wasm\"\n\
         [[capabilities.fs]]\npath = \"docs\"\naccess = \"read-write\"\nreason = \"keeps the docs up to date\"\n\
         [[capabilities.env]]\nname = \"SCRIBE_VISIBLE\"\nreason = \"signs its entries\"\n",
    );
    ok(&wfhost(&home, &["module", "install", path(&project)]));

    let ungranted = ws.join("ungranted.yaml");
    std::fs::write(
        &ungranted,
        "name: ungranted\nsteps:\n  - { id: write, module: scribe, action: write-file, inputs: { path: docs/a.md, contents: hi } }\n",
    )
    .expect("workflow");
    let run = wfhost(&home, &["validate", path(&ungranted)]);
    refused(
        &run,
        "module `scribe` asks to read-write `docs` (its reason: \"keeps the docs up to date\"), which step `write` is not granted",
    );
    assert!(
        run.stderr.contains(
            "add `permissions: { fs: [{ path: docs, access: read-write }] }` to the step"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("read the environment variable `SCRIBE_VISIBLE`"),
        "{}",
        run.stderr
    );

    let granted = ws.join("granted.yaml");
    std::fs::write(
        &granted,
        "name: granted\npermissions:\n  fs: [{ path: ., access: read-write }]\n  env: [SCRIBE_VISIBLE, SCRIBE_SECRET]\nsteps:\n\
         \x20 - { id: docs, module: scribe, action: write-file, inputs: { path: docs/a.md, contents: hi }, onSuccess: src }\n\
         \x20 - { id: src, module: scribe, action: write-file, inputs: { path: src/x.rs, contents: no }, continue_on_error: true, onSuccess: visible }\n\
         \x20 - { id: visible, module: scribe, action: env-var, inputs: { name: SCRIBE_VISIBLE }, onSuccess: secret }\n\
         \x20 - { id: secret, module: scribe, action: env-var, inputs: { name: SCRIBE_SECRET } }\n",
    )
    .expect("workflow");
    let validated = wfhost(&home, &["validate", path(&granted)]);
    ok(&validated);
    assert!(
        validated
            .stdout
            .contains("  docs: read-write docs; env SCRIBE_VISIBLE"),
        "{}",
        validated.stdout
    );
    let env = [("SCRIBE_VISIBLE", "visible"), ("SCRIBE_SECRET", "secret")];
    let run = wfhost_with(
        &home,
        &["run", path(&granted), "--json", "--workspace", path(&ws)],
        &env,
    );
    ok(&run);
    assert_eq!(
        std::fs::read_to_string(ws.join("docs/a.md"))
            .ok()
            .as_deref(),
        Some("hi")
    );
    assert!(
        !ws.join("src/x.rs").exists(),
        "`.` is granted, but the module asked for `docs` only"
    );
    assert_eq!(
        finished(&run.stdout, "src").expect("src ran")["failure"]["kind"],
        "error"
    );
    assert_eq!(
        finished(&run.stdout, "visible").expect("visible ran")["output"],
        "visible"
    );
    assert_eq!(
        finished(&run.stdout, "secret").expect("secret ran")["output"],
        Value::Null
    );

    // `wfhost call` meets the same asks with its flags, normalised alike.
    let input = r#"{"path": "docs/b.md", "contents": "b"}"#;
    let call = [
        "call",
        "scribe",
        "write-file",
        "--input",
        input,
        "--workspace",
        path(&ws),
    ];
    let ungranted = wfhost(&home, &call);
    refused(&ungranted, "grant it with --allow-write docs");
    assert!(
        ungranted
            .stderr
            .contains("grant it with --allow-env SCRIBE_VISIBLE"),
        "{}",
        ungranted.stderr
    );
    let mut granted = call.to_vec();
    granted.extend(["--allow-write", "./docs/", "--allow-env", "SCRIBE_VISIBLE"]);
    ok(&wfhost(&home, &granted));
    assert_eq!(
        std::fs::read_to_string(ws.join("docs/b.md"))
            .ok()
            .as_deref(),
        Some("b")
    );
}

#[test]
fn granted_programs_run_confined_to_their_grants() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("sub")).expect("ws");
    let sink = guest("kitchen-sink");
    let env = [("RUN_VISIBLE", "yes"), ("RUN_SECRET", "no")];
    let call = |input: &str, grants: &[&str]| {
        let mut args = vec![
            "call",
            sink.as_str(),
            "run",
            "--input",
            input,
            "--workspace",
            path(&ws),
            "--json",
        ];
        args.extend_from_slice(grants);
        let run = wfhost_with(&home, &args, &env);
        let report: Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|_| panic!("JSON report: {}", run.render()));
        report
    };
    let output = |report: &Value| -> Value {
        assert_eq!(report["status"], "success", "{report}");
        serde_json::from_str(report["output"].as_str().expect("text output")).expect("output JSON")
    };
    let base = [
        "--allow-read",
        ".",
        "--allow-run",
        "env",
        "--allow-env",
        "RUN_VISIBLE",
    ];

    // Not on the list: refused, and the message says how to grant it.
    let denied = call(r#"{"program": "env", "args": []}"#, &[]);
    assert_eq!(denied["error"]["code"], "not-granted", "{denied}");
    let other = call(r#"{"program": "sh", "args": ["-c", "echo hi"]}"#, &base);
    assert_eq!(other["error"]["code"], "not-granted", "{other}");

    // Listed: runs with only the granted variables.
    let ran = output(&call(r#"{"program": "env", "args": []}"#, &base));
    assert_eq!(ran["exit_code"], 0);
    assert_eq!(
        ran["stdout"], "RUN_VISIBLE=yes\n",
        "only granted variables: {ran}"
    );

    // The working directory must be inside a granted directory.
    let sub = output(&call(
        r#"{"program": "pwd", "args": [], "cwd": "sub"}"#,
        &["--allow-read", ".", "--allow-run", "pwd"],
    ));
    assert!(
        sub["stdout"]
            .as_str()
            .unwrap_or("")
            .trim_end()
            .ends_with("/ws/sub"),
        "{sub}"
    );
    for cwd in ["..", "/tmp", "missing"] {
        let input = format!(r#"{{"program": "env", "args": [], "cwd": "{cwd}"}}"#);
        assert_eq!(call(&input, &base)["error"]["code"], "bad-cwd", "cwd {cwd}");
    }
    let no_fs = call(r#"{"program": "env", "args": []}"#, &["--allow-run", "env"]);
    assert_eq!(no_fs["error"]["code"], "bad-cwd", "{no_fs}");

    // A timeout kills it; output is capped to its last MiB; what it leaves
    // running in the background is killed with it, so the call returns.
    let sh = ["--allow-read", ".", "--allow-run", "sh", "--timeout", "20s"];
    let slow = output(&call(
        r#"{"program": "sh", "args": ["-c", "sleep 30"], "timeout-ms": 300}"#,
        &sh,
    ));
    assert_eq!(slow["timed_out"], true, "{slow}");
    assert_eq!(slow["exit_code"], Value::Null);
    let flood = output(&call(
        r#"{"program": "sh", "args": ["-c", "head -c 3000000 /dev/zero | tr '\\0' x"]}"#,
        &sh,
    ));
    assert_eq!(
        (flood["truncated"].clone(), flood["stdout_len"].clone()),
        (Value::Bool(true), Value::from(1 << 20))
    );
    let background = output(&call(
        r#"{"program": "sh", "args": ["-c", "sleep 30 & echo started"]}"#,
        &sh,
    ));
    assert_eq!(background["stdout"], "started\n", "{background}");
}

/// `module new --lang LANG` → `module build` → `module install` → a
/// workflow with a typed input that routes on the module's typed error.
fn scaffold_build_install_run(lang: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let project = dir.path().join("greet-mod");
    let created = wfhost(
        &home,
        &[
            "module",
            "new",
            "greet-mod",
            "--lang",
            lang,
            "--dir",
            path(&project),
        ],
    );
    ok(&created);
    assert!(
        created.stdout.contains("wfmodule.toml"),
        "{}",
        created.stdout
    );
    refused(
        &wfhost(
            &home,
            &["module", "new", "greet-mod", "--dir", path(&project)],
        ),
        "exists already",
    );
    refused(
        &wfhost(&home, &["module", "install", path(&project)]),
        "build it first with `wfhost module build",
    );
    let built = wfhost(&home, &["module", "build", path(&project)]);
    ok(&built);
    assert!(built.stdout.contains("built "), "{}", built.render());
    let installed = wfhost(&home, &["module", "install", path(&project)]);
    ok(&installed);
    assert!(
        installed.stdout.contains(
            "hello: func(name: string) -> result<string, action-error>\n      Greet someone by name."
        ),
        "{}",
        installed.stdout
    );
    // Toolchain-added exports (componentize-py's `exports.init`, …) are not actions.
    let actions = installed
        .stdout
        .lines()
        .filter(|l| l.contains(": func("))
        .count();
    assert_eq!(actions, 1, "{}", installed.stdout);
    let flow = dir.path().join("greet.yaml");
    std::fs::write(
        &flow,
        "name: greet\ninputs:\n  who: { type: string }\nsteps:\n\
         \x20 - { id: greet, module: greet-mod, action: hello, inputs: { name: \"{{ inputs.who }}\" }, onFailure: sorry }\n\
         \x20 - { id: sorry, module: system, action: echo, inputs: { message: \"no greeting: {{ steps.greet.error.code }}\" } }\n",
    )
    .expect("workflow");
    let greeted = wfhost(&home, &["run", path(&flow), "--input", "who=Ada", "--json"]);
    ok(&greeted);
    assert_eq!(
        finished(&greeted.stdout, "greet").expect("greet")["output"],
        "Hello, Ada!"
    );
    let routed = wfhost(&home, &["run", path(&flow), "--input", "who=", "--json"]);
    assert_eq!(
        finished(&routed.stdout, "sorry").expect("routed on the typed error")["output"],
        "no greeting: empty-name",
        "{}",
        routed.render()
    );
}

#[test]
fn module_new_rust_builds_installs_and_runs_in_a_workflow() {
    scaffold_build_install_run("rust");
}

/// Needs clang-19, wasi-libc, wit-bindgen-cli and wasm-tools (`.ci/run` installs them).
#[test]
fn module_new_c_builds_installs_and_runs_in_a_workflow() {
    scaffold_build_install_run("c");
}

/// Needs `componentize-py` on PATH (`.ci/run` installs it).
#[test]
fn module_new_python_builds_installs_and_runs_in_a_workflow() {
    scaffold_build_install_run("python");
}

/// Needs `componentize-js` on PATH (`.ci/run` installs it).
#[test]
fn module_new_js_builds_installs_and_runs_in_a_workflow() {
    scaffold_build_install_run("js");
}

/// Each bundled action asks for what it needs, no more: checking links
/// needs a read grant, editing a table of contents a read-write one.
#[test]
fn bundled_actions_ask_only_for_what_they_need() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let flow = dir.path().join("links.yaml");
    std::fs::write(
        &flow,
        "name: links\npermissions: { fs: [{ path: ., access: read }] }\nsteps:\n  - { id: links, module: docs, action: check-links, inputs: { globs: [\"*.md\"] }, onSuccess: toc }\n  - { id: toc, module: docs, action: toc, inputs: { path: README.md, max-depth: 3 } }\n",
    )
    .expect("workflow");
    let run = wfhost(&home, &["validate", path(&flow)]);
    assert_eq!(run.code, 2, "{}", run.render());
    assert!(
        !run.stderr.contains("step `links` is not granted"),
        "check-links runs with a read grant:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("which step `toc` is not granted"),
        "toc needs read-write:\n{}",
        run.stderr
    );
}
