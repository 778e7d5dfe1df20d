//! Sub-workflows through the real binary: a child is a run of its own
//! whose outputs are the step's output; a failing child is routed as
//! `child-failed`; cancelling a parent cancels its children; a parent killed
//! while its children run resumes them without starting any twice; a child
//! waiting for a signal is answered from a second process; validation
//! refuses cycles, deep nesting, ill-typed inputs and grants beyond the
//! parent step's.

use std::path::Path;

use crate::common::{children_of, run_status, spawn, step_of, top_run, until, wfhost, write};

/// A child: say its number (after `pause` ms), output it doubled.
const CHILD: &str = r#"
name: child
inputs:
  n: { type: integer }
  pause: { type: integer, default: 0 }
outputs:
  said: "{{ steps.say.output }}"
  doubled: "{{ inputs.n * 2 }}"
steps:
  - id: say
    module: system
    action: echo
    inputs: { message: "item {{ inputs.n }}" }
    onSuccess: linger
  - id: linger
    module: system
    action: sleep
    inputs: { milliseconds: "{{ inputs.pause }}" }
"#;

/// A parent mapping the child over `items`, then reading its outputs.
const PARENT: &str = r#"
name: parent
inputs:
  items: { type: array, default: [1, 2, 3] }
  pause: { type: integer, default: 0 }
steps:
  - id: build
    workflow: ./child.yaml
    foreach: "{{ inputs.items }}"
    inputs: { n: "{{ item }}", pause: "{{ inputs.pause }}" }
    onSuccess: report
  - id: report
    module: system
    action: echo
    inputs: { message: "{{ steps.build.output | map(attribute='doubled') | join(',') }} / {{ steps.build.output[0].said }}" }
"#;

/// A temporary directory with `files` written into it, and a home inside.
fn setup(files: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        write(dir.path(), name, text);
    }
    let home = dir.path().join("home");
    (dir, home)
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().expect("UTF-8").to_string()
}

#[test]
fn a_child_is_a_run_of_its_own_and_its_outputs_are_the_steps_output() {
    let (dir, home) = setup(&[("child.yaml", CHILD), ("parent.yaml", PARENT)]);
    let ran = wfhost(&home, &["run", &path(dir.path(), "parent.yaml")]);
    assert_eq!(ran.code, 0, "{}", ran.render());
    assert!(
        ran.stdout.contains("(sub-workflow of step `build[1]`)"),
        "{}",
        ran.render()
    );
    let parent = top_run(&home).expect("the parent run");
    let status = run_status(&home, &parent);
    assert_eq!(step_of(&status, "report")["output"], "2,4,6 / item 1");
    let children = status["children"].as_array().expect("children");
    assert_eq!(children.len(), 3, "{status}");
    let mut steps: Vec<&str> = children
        .iter()
        .map(|c| c["step"].as_str().unwrap_or_default())
        .collect();
    steps.sort_unstable();
    assert_eq!(steps, ["build[0]", "build[1]", "build[2]"]);
    for child in children {
        assert_eq!(child["status"], "succeeded", "{child}");
        let own = run_status(&home, child["id"].as_str().expect("an id"));
        assert_eq!(own["parent"]["run"], parent.as_str());
        assert_eq!(
            own["trace_id"], status["trace_id"],
            "a child joins its parent's trace"
        );
        assert_eq!(
            own["outputs"]["doubled"],
            own["inputs"]["n"].as_i64().unwrap_or(0) * 2
        );
    }
    let tree = wfhost(&home, &["list", "--tree"]);
    assert_eq!(tree.code, 0, "{}", tree.render());
    let lines: Vec<&str> = tree.stdout.lines().collect();
    assert!(lines[1].starts_with(&parent), "{}", tree.stdout);
    assert!(
        lines[2..5].iter().all(|line| line.starts_with("└ ")),
        "{}",
        tree.stdout
    );
    let logs = wfhost(&home, &["logs", &parent]);
    assert!(
        logs.stdout
            .contains("(sub-workflow of step `build[2]`): succeeded"),
        "{}",
        logs.stdout
    );
}

#[test]
fn a_failing_child_fails_its_step_as_child_failed_and_the_parent_routes_it() {
    let failing = r#"
name: failing
steps:
  - { id: boom, module: system, action: fail, inputs: { code: broken, message: "it broke" } }
"#;
    let parent = r#"
name: routed
steps:
  - id: build
    workflow: ./failing.yaml
    retry: { max_attempts: 2, initial: 10ms, on: [child-failed] }
    onFailure: explain
  - id: explain
    module: system
    action: echo
    inputs: { message: "{{ steps.build.error.kind }} {{ steps.build.error.value.run }}: {{ steps.build.error.message }}" }
"#;
    let (dir, home) = setup(&[("failing.yaml", failing), ("routed.yaml", parent)]);
    let ran = wfhost(&home, &["run", &path(dir.path(), "routed.yaml")]);
    assert_eq!(ran.code, 0, "{}", ran.render());
    let parent = top_run(&home).expect("the parent run");
    // A retry starts a new child; the step's error names the last.
    let child = children_of(&home, &parent);
    assert_eq!(child.len(), 2, "{child:?}");
    assert!(child.iter().all(|c| c["status"] == "failed"));
    let child_id = child[0]["id"].as_str().expect("an id");
    let explained = step_of(&run_status(&home, &parent), "explain")["output"].clone();
    let text = explained.as_str().expect("a message");
    assert!(
        text.starts_with(&format!(
            "child-failed {child_id}: child run {child_id} failed"
        )),
        "{text}"
    );
    assert!(text.contains("it broke"), "{text}");
}

/// Start [`PARENT`] in the background with children lingering `pause` ms,
/// once each of its three children's step `step` has `status`: the
/// directory to keep, the home, the driving process and the parent's id.
fn start_parent(
    pause: u32,
    step: &str,
    status: &str,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::process::Child,
    String,
) {
    let (dir, home) = setup(&[("child.yaml", CHILD), ("parent.yaml", PARENT)]);
    let workflow = path(dir.path(), "parent.yaml");
    let pause = format!("pause={pause}");
    let driver = spawn(&home, &["run", &workflow, "-i", &pause]);
    let parent = until("the parent runs", || top_run(&home));
    until("three children reach the step", || {
        let children = children_of(&home, &parent);
        (children.len() == 3
            && children.iter().all(|c| {
                let run = run_status(&home, c["id"].as_str().unwrap_or_default());
                step_of(&run, step)["status"] == status
            }))
        .then_some(())
    });
    (dir, home, driver, parent)
}

#[test]
fn cancelling_a_parent_cancels_its_running_children() {
    let (_dir, home, mut driver, parent) = start_parent(30_000, "linger", "running");
    let cancelled = wfhost(&home, &["cancel", &parent]);
    assert_eq!(cancelled.code, 0, "{}", cancelled.render());
    exited(&mut driver);
    assert_eq!(run_status(&home, &parent)["status"], "cancelled");
    for child in children_of(&home, &parent) {
        assert_eq!(child["status"], "cancelled", "{child}");
        let status = run_status(&home, child["id"].as_str().unwrap_or_default());
        assert_eq!(
            step_of(&status, "linger")["status"],
            "cancelled",
            "{status}"
        );
    }
}

#[test]
fn a_parent_killed_while_its_children_run_resumes_them_without_starting_any_twice() {
    let (_dir, home, mut driver, parent) = start_parent(1500, "say", "succeeded");
    driver.kill().expect("SIGKILL");
    let _ = driver.wait();
    // The dead process's leases lapse; resume then continues each child.
    let resumed = until("the parent resumes", || {
        let resumed = wfhost(&home, &["resume", &parent]);
        (!resumed.stderr.contains("is being driven")).then_some(resumed)
    });
    assert_eq!(resumed.code, 0, "{}", resumed.render());
    let status = run_status(&home, &parent);
    assert_eq!(status["status"], "succeeded", "{status}");
    assert_eq!(step_of(&status, "report")["output"], "2,4,6 / item 1");
    let children = children_of(&home, &parent);
    assert_eq!(children.len(), 3, "a child was started twice: {children:?}");
    for child in &children {
        assert_eq!(child["status"], "succeeded", "{child}");
        let own = run_status(&home, child["id"].as_str().unwrap_or_default());
        assert_eq!(
            step_of(&own, "say")["attempts"],
            1,
            "`say` ran again: {own}"
        );
    }
}

/// A child that waits for an answer, and a parent that passes it on.
const ASKING: &str = r#"
name: asking
outputs:
  answer: "{{ steps.ask.output.answer }}"
steps:
  - id: ask
    wait: { signal: answer, type: "record { answer: string }", timeout: 5m }
"#;
const ASKS: &str = r#"
name: asks-a-child
steps:
  - id: question
    workflow: ./asking.yaml
    onSuccess: tell
  - { id: tell, module: system, action: echo, inputs: { message: "told: {{ steps.question.output.answer }}" } }
"#;

/// [`ASKS`] started in the background, once its child waits: the directory
/// to keep, the home, the driving process, the parent's and the child's ids.
fn start_asking() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::process::Child,
    String,
    String,
) {
    let (dir, home) = setup(&[("asking.yaml", ASKING), ("asks.yaml", ASKS)]);
    let driver = spawn(&home, &["run", &path(dir.path(), "asks.yaml")]);
    let parent = until("the parent runs", || top_run(&home));
    let child = until("the child waits", || {
        let children = children_of(&home, &parent);
        let id = children.first()?["id"].as_str()?.to_string();
        (run_status(&home, &id)["status"] == "waiting").then_some(id)
    });
    (dir, home, driver, parent, child)
}

/// Wait (at most 30 s) for `driver` to exit; how it did.
fn exited(driver: &mut std::process::Child) -> std::process::ExitStatus {
    until("the driving process exits", || {
        driver.try_wait().expect("the process")
    })
}

#[test]
fn a_child_waiting_for_a_signal_is_answered_from_a_second_process() {
    let (_dir, home, mut driver, parent, child) = start_asking();
    let sent = wfhost(
        &home,
        &["signal", &child, "answer", "--data", r#"{"answer": "42"}"#],
    );
    assert_eq!(sent.code, 0, "{}", sent.render());
    let status = exited(&mut driver);
    assert!(status.success(), "{status:?}");
    let ended = run_status(&home, &parent);
    assert_eq!(step_of(&ended, "tell")["output"], "told: 42", "{ended}");
}

#[test]
fn a_child_left_waiting_leaves_its_parent_waiting_and_resuming_the_parent_continues_it() {
    let (dir, home) = setup(&[("asking.yaml", ASKING), ("asks.yaml", ASKS)]);
    let detached = wfhost(
        &home,
        &["run", &path(dir.path(), "asks.yaml"), "--detach-on-wait"],
    );
    assert_eq!(detached.code, 3, "{}", detached.render());
    assert!(
        detached.stdout.contains("send it with: wfhost signal"),
        "the child's wait says how to answer it: {}",
        detached.render()
    );
    let parent = top_run(&home).expect("the parent");
    let children = children_of(&home, &parent);
    assert_eq!(children.len(), 1);
    let child = children[0]["id"].as_str().expect("an id").to_string();
    assert_eq!(run_status(&home, &parent)["status"], "waiting");
    assert_eq!(run_status(&home, &child)["status"], "waiting");
    let sent = wfhost(
        &home,
        &["signal", &child, "answer", "--data", r#"{"answer": "yes"}"#],
    );
    assert_eq!(sent.code, 0, "{}", sent.render());
    let resumed = wfhost(&home, &["resume", &parent]);
    assert_eq!(resumed.code, 0, "{}", resumed.render());
    let ended = run_status(&home, &parent);
    assert_eq!(step_of(&ended, "tell")["output"], "told: yes", "{ended}");
    assert_eq!(children_of(&home, &parent).len(), 1, "one child, continued");
}

#[test]
fn the_release_example_builds_in_children_waits_for_a_sign_off_and_publishes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let detached = wfhost(
        &home,
        &["run", "workflows/release.yaml", "--detach-on-wait"],
    );
    assert_eq!(detached.code, 3, "{}", detached.render());
    let run = top_run(&home).expect("the release run");
    assert_eq!(children_of(&home, &run).len(), 3);
    let sent = wfhost(
        &home,
        &[
            "signal",
            &run,
            "sign-off",
            "--data",
            r#"{"approved": true}"#,
        ],
    );
    assert_eq!(sent.code, 0, "{}", sent.render());
    let resumed = wfhost(&home, &["resume", &run]);
    assert_eq!(resumed.code, 0, "{}", resumed.render());
    assert_eq!(
        step_of(&run_status(&home, &run), "publish")["output"],
        "published wfhost-1.0.0-linux.tar.gz, wfhost-1.0.0-macos.tar.gz, wfhost-1.0.0-windows.tar.gz"
    );
}

#[test]
fn validate_refuses_cycles_deep_nesting_bad_inputs_and_grants_beyond_the_step() {
    let (dir, home) = setup(&[
        (
            "a.yaml",
            "name: a\nsteps:\n  - { id: to-b, workflow: ./b.yaml }\n",
        ),
        (
            "b.yaml",
            "name: b\nsteps:\n  - { id: to-a, workflow: ./a.yaml }\n",
        ),
        ("child.yaml", CHILD),
        (
            "inputs.yaml",
            r#"
name: bad-inputs
steps:
  - id: build
    workflow: ./child.yaml
    inputs: { n: "three", colour: red }
  - { id: read, module: system, action: echo, inputs: { message: "{{ steps.build.output.tripled }}" } }
  - id: rebuild
    workflow: ./child.yaml
    inputs: { n: "{{ steps.read.output }}" }
"#,
        ),
        (
            "greedy.yaml",
            r#"
name: greedy
permissions: { fs: [{ path: reports, access: read-write }] }
steps:
  - { id: look, module: system, action: notify-completion, inputs: { workflow: greedy, status: ok, path: reports/n.txt } }
"#,
        ),
        (
            "grants.yaml",
            "name: grants\nsteps:\n  - { id: run-greedy, workflow: ./greedy.yaml }\n",
        ),
        (
            "broken.yaml",
            "name: broken\nsteps:\n  - { id: x, module: system, action: ech }\n",
        ),
        (
            "uses-broken.yaml",
            "name: uses-broken\nsteps:\n  - { id: y, workflow: ./broken.yaml }\n",
        ),
    ]);
    // A chain of ten files, each running the next.
    for level in 0..10 {
        let text = if level == 9 {
            "name: d9\nsteps:\n  - { id: end, module: system, action: echo, inputs: { message: deep } }\n"
                .to_string()
        } else {
            format!(
                "name: d{level}\nsteps:\n  - {{ id: down, workflow: ./d{}.yaml }}\n",
                level + 1
            )
        };
        write(dir.path(), &format!("d{level}.yaml"), &text);
    }
    let check = |file: &str| {
        let checked = wfhost(&home, &["validate", &path(dir.path(), file)]);
        assert_ne!(checked.code, 0, "{file}: {}", checked.render());
        checked.stderr
    };
    let cycle = check("a.yaml");
    assert!(cycle.contains("sub-workflows form a cycle"), "{cycle}");
    assert!(cycle.contains("a.yaml:3:"), "{cycle}");
    let deep = check("d0.yaml");
    assert!(
        deep.contains("would nest workflows 9 deep; the most is 8"),
        "{deep}"
    );
    let inputs = check("inputs.yaml");
    assert!(
        inputs.contains("input `n` of sub-workflow `./child.yaml` is integer, not string"),
        "{inputs}"
    );
    assert!(
        inputs.contains("sub-workflow `./child.yaml` has no input `colour`"),
        "{inputs}"
    );
    assert!(inputs.contains("`steps.build.output.tripled`"), "{inputs}");
    assert!(inputs.contains("outputs: said, doubled"), "{inputs}");
    assert!(
        inputs.contains("`steps.read.output` is a string, but input `n` of sub-workflow `./child.yaml` is integer"),
        "{inputs}"
    );
    let grants = check("grants.yaml");
    assert!(
        grants.contains("step `look` of sub-workflow `./greedy.yaml` is granted read-write reports, beyond what step `run-greedy` is granted (nothing)"),
        "{grants}"
    );
    let broken = check("uses-broken.yaml");
    assert!(
        broken.contains("sub-workflow `./broken.yaml` is invalid (1 error)"),
        "{broken}"
    );
    assert!(broken.contains("broken.yaml:3:"), "{broken}");
    assert!(broken.contains("did you mean `echo`?"), "{broken}");
    // A workflow cannot make `validate` read (and show) files outside the
    // folder of the workflow being run, through `..`, an absolute path or a
    // link, nor block on something that is not a file.
    let inner = dir.path().join("inner");
    write(
        &inner,
        "escapes.yaml",
        "name: escapes\nsteps:\n  - { id: up, workflow: ../child.yaml }\n  - { id: abs, workflow: /etc/passwd }\n  - { id: linked, workflow: ./link.yaml }\n  - { id: device, workflow: ./fifo }\n",
    );
    std::os::unix::fs::symlink(dir.path().join("child.yaml"), inner.join("link.yaml"))
        .expect("a link");
    let made = std::process::Command::new("mkfifo")
        .arg(inner.join("fifo"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let escapes = check("inner/escapes.yaml");
    assert!(escapes.contains("escapes.yaml:3:"), "{escapes}");
    assert!(
        escapes.contains("sub-workflow `../child.yaml` is ")
            && escapes.contains("child.yaml, outside "),
        "{escapes}"
    );
    assert!(
        escapes.contains("sub-workflow `/etc/passwd` is an absolute path"),
        "{escapes}"
    );
    assert!(
        escapes.contains("sub-workflow `./link.yaml` is "),
        "{escapes}"
    );
    assert!(
        escapes.contains("sub-workflow `./fifo` is not a regular file"),
        "{escapes}"
    );
    assert!(
        !escapes.contains("root:"),
        "nothing of /etc/passwd is shown"
    );
    let eight = wfhost(&home, &["validate", &path(dir.path(), "d2.yaml")]);
    assert_eq!(
        eight.code,
        0,
        "eight levels are allowed: {}",
        eight.render()
    );
}

#[test]
fn a_lattice_of_files_naming_each_other_is_checked_once_per_file() {
    // Seven levels of six files, each naming all six of the next level:
    // 6^6 paths through them, 42 files.
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    for level in 0..7 {
        for file in 0..6 {
            let mut text = format!("name: l{level}-{file}\nsteps:\n");
            if level == 6 {
                text.push_str(
                    "  - { id: leaf, module: system, action: echo, inputs: { message: leaf } }\n",
                );
            } else {
                for next in 0..6 {
                    text.push_str(&format!(
                        "  - {{ id: s{next}, workflow: ./l{}-{next}.yaml }}\n",
                        level + 1
                    ));
                }
            }
            write(dir.path(), &format!("l{level}-{file}.yaml"), &text);
        }
    }
    let checked = wfhost(&home, &["validate", &path(dir.path(), "l0-0.yaml")]);
    assert_eq!(checked.code, 0, "{}", checked.render());
    // Each of the six files of the six levels below counted once.
    assert!(
        checked.stdout.contains("(6 steps, 36 sub-workflow files)"),
        "{}",
        checked.render()
    );
}

#[test]
fn a_child_whose_file_changed_while_its_parent_was_down_is_not_continued_silently() {
    let (dir, home, mut driver, parent) = start_parent(1500, "say", "succeeded");
    driver.kill().expect("SIGKILL");
    let _ = driver.wait();
    let child = dir.path().join("child.yaml");
    let text = std::fs::read_to_string(&child).expect("the child");
    std::fs::write(&child, format!("{text}# changed\n")).expect("edit the child");
    let refused = wfhost(&home, &["resume", &parent]);
    assert_ne!(refused.code, 0, "{}", refused.render());
    assert!(
        refused
            .stderr
            .contains("modules or sub-workflows changed since run")
            && refused.stderr.contains("workflow ./child.yaml"),
        "{}",
        refused.render()
    );
    // Allowed: the children started with the old file cannot go on with the
    // new one, and say so; the step fails as `child-failed`.
    let resumed = wfhost(&home, &["resume", &parent, "--allow-changed"]);
    assert_eq!(resumed.code, 1, "{}", resumed.render());
    let status = run_status(&home, &parent);
    let build = step_of(&status, "build");
    assert_eq!(build["status"], "failed", "{status}");
    let failure = build["failure"].to_string();
    assert!(
        failure.contains("child-failed") && failure.contains("changed since"),
        "{failure}"
    );
    assert_eq!(
        children_of(&home, &parent).len(),
        3,
        "no child started anew"
    );
}

#[test]
fn pausing_a_parent_pauses_its_waiting_child_and_resuming_the_parent_continues_both() {
    let (_dir, home, mut driver, parent, child) = start_asking();
    let status = wfhost(&home, &["status", &parent]);
    assert!(
        status
            .stdout
            .contains(&format!("question  {child}  waiting (ask)")),
        "a parent's status says what its child waits for: {}",
        status.stdout
    );
    let paused = wfhost(&home, &["pause", &parent]);
    assert_eq!(paused.code, 0, "{}", paused.render());
    exited(&mut driver);
    assert_eq!(run_status(&home, &parent)["status"], "paused");
    assert_eq!(run_status(&home, &child)["status"], "paused");
    let sent = wfhost(
        &home,
        &[
            "signal",
            &child,
            "answer",
            "--data",
            r#"{"answer": "later"}"#,
        ],
    );
    assert_eq!(sent.code, 0, "{}", sent.render());
    let resumed = wfhost(&home, &["resume", &parent]);
    assert_eq!(resumed.code, 0, "{}", resumed.render());
    let ended = run_status(&home, &parent);
    assert_eq!(step_of(&ended, "tell")["output"], "told: later", "{ended}");
    assert_eq!(children_of(&home, &parent).len(), 1);
}
