//! Step conditions (`if:`) and run variables (`vars:`, `set:`) through the
//! real binary: a skipped step's path goes on, variables are typed, and a
//! resumed run sees the values it had.

use std::time::{Duration, Instant};

use crate::common::{newest_run, run_status, spawn, step_of, try_newest_run, wfhost, write};

const COUNTING: &str = r#"
name: counting
inputs:
  deploy: { type: boolean, default: false }
  nap: { type: integer, default: 1 }
vars:
  count: { type: integer, value: 0 }
  note: { type: string }
steps:
  - id: first
    module: system
    action: echo
    inputs: { message: "one" }
    set: { count: "{{ vars.count + 1 }}", note: "{{ steps.first.output }}" }
    onSuccess: deploy
  - id: deploy
    if: "{{ inputs.deploy }}"
    module: system
    action: echo
    inputs: { message: "deploying" }
    set: { count: "{{ vars.count + 10 }}" }
    onSuccess: nap
  - { id: nap, module: system, action: sleep, inputs: { milliseconds: "{{ inputs.nap }}" }, onSuccess: report }
  - { id: after, needs: [deploy], module: system, action: echo, inputs: { message: "after {{ steps.deploy.status }}" } }
  - id: report
    module: system
    action: echo
    inputs: { message: "count={{ vars.count }} note={{ vars.note }} deploy={{ steps.deploy.status }}" }
    set: { note: "{{ 42 }}" }
"#;

#[test]
fn a_false_condition_skips_the_step_and_its_path_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let workflow = write(dir.path(), "counting.yaml", COUNTING);
    let workflow = workflow.to_str().expect("UTF-8");
    let mut reports = Vec::new();
    for deploy in ["false", "true"] {
        let run = wfhost(&home, &["run", workflow, "-i", &format!("deploy={deploy}")]);
        // `report` sets a string variable to a number: the step fails.
        assert_eq!(run.code, 1, "{}", run.render());
        let status = run_status(&home, &newest_run(&home));
        reports.push((
            step_of(&status, "deploy")["status"].clone(),
            step_of(&status, "after")["output"].clone(),
            step_of(&status, "report")["status"].clone(),
        ));
        assert!(
            run.stdout.contains("`set: note`: gave 42, not string"),
            "{}",
            run.render()
        );
    }
    assert_eq!(
        reports,
        [
            ("skipped".into(), "after skipped".into(), "failed".into()),
            (
                "succeeded".into(),
                "after succeeded".into(),
                "failed".into()
            ),
        ]
    );
    let logs = wfhost(&home, &["logs", &newest_run(&home)]);
    assert!(
        logs.stdout.contains("first set count = 1, note = \"one\""),
        "{}",
        logs.render()
    );
}

#[test]
fn a_resumed_run_sees_the_variables_it_had() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let text = COUNTING.replace("    set: { note: \"{{ 42 }}\" }\n", "");
    let workflow = write(dir.path(), "counting.yaml", &text);
    let workflow = workflow.to_str().expect("UTF-8");
    let mut child = spawn(
        &home,
        &["run", workflow, "-i", "deploy=true", "-i", "nap=3000"],
    );
    let started = Instant::now();
    let run = loop {
        if let Some(run) = try_newest_run(&home)
            && step_of(&run_status(&home, &run), "nap")["status"] == "running"
        {
            break run;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never napped");
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let resumed = wfhost(&home, &["resume", &run]);
    assert_eq!(resumed.code, 0, "{}", resumed.render());
    let status = run_status(&home, &run);
    assert_eq!(
        step_of(&status, "report")["output"],
        "count=11 note=one deploy=succeeded"
    );
}
