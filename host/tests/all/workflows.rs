//! Workflow validation: a corpus of invalid workflows, one file per class of
//! error, each rendered as the user sees it (golden files), plus the
//! examples in `workflows/`, which must all be valid.

use std::path::Path;

use wfhost::catalog::Catalog;
use wfhost::diagnostics::Source;
use wfhost::workflow;

use crate::common::{guest, repo, runtime};

/// Read a workflow fixture, pointing `$KITCHEN_SINK` at the built test guest.
pub fn source(path: &Path, shown_as: &str) -> Source {
    let text = std::fs::read_to_string(path).expect("fixture readable");
    Source::new(
        shown_as,
        text.replace("$KITCHEN_SINK", &guest("kitchen-sink")),
    )
}

fn render(source: &Source) -> String {
    let catalog = Catalog::new(runtime());
    let checked = workflow::check(source, &catalog);
    let verdict = match (&checked.plan, checked.diagnostics.error_count()) {
        (Some(_), _) => "valid".to_string(),
        (None, 1) => "invalid: 1 error".to_string(),
        (None, errors) => format!("invalid: {errors} errors"),
    };
    format!("{verdict}\n{}", source.render(&checked.diagnostics))
}

/// The diagnostics of one corpus file, against its golden file.
fn check_corpus_file(name: &str) {
    let path = repo().join("tests/fixtures/workflows/invalid").join(name);
    let rendered = render(&source(&path, &format!("invalid/{name}")));
    insta::with_settings!({
        filters => vec![(regex_escape(env!("WFHOST_GUEST_DIR")).as_str(), "[guests]")],
        prepend_module_to_snapshot => false,
        snapshot_suffix => name,
    }, {
        insta::assert_snapshot!("invalid_workflow", rendered);
    });
}

/// One test per file of `tests/fixtures/workflows/invalid/` (one class of
/// problem each), so one failing file does not hide the others.
macro_rules! corpus {
    ($($test:ident: $file:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_corpus_file($file);
            }
        )*

        /// Every file of the corpus has its test above.
        #[test]
        fn every_corpus_file_has_a_test() {
            let listed = [$($file),*];
            let dir = repo().join("tests/fixtures/workflows/invalid");
            let mut missing: Vec<String> = std::fs::read_dir(&dir)
                .expect("corpus dir")
                .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
                .filter(|name| !listed.contains(&name.as_str()))
                .collect();
            missing.sort();
            assert!(missing.is_empty(), "add these to `corpus!` in workflows.rs: {missing:?}");
        }
    };
}

mod corpus {
    use super::check_corpus_file;
    use crate::common::repo;

    corpus! {
        circuits: "circuits.yaml",
        concurrency: "concurrency.yaml",
        context: "context.yaml",
        duplicate_id: "duplicate-id.yaml",
        hostile: "hostile.yaml",
        input_types: "input-types.yaml",
        json_errors: "json-errors.json",
        limits: "limits.yaml",
        needs_cycle: "needs-cycle.yaml",
        output_reference: "output-reference.yaml",
        parallel: "parallel.yaml",
        passed_types: "passed-types.yaml",
        permissions: "permissions.yaml",
        retry: "retry.yaml",
        run_concurrency: "run-concurrency.yaml",
        subscripts: "subscripts.yaml",
        syntax: "syntax.yaml",
        template_syntax: "template-syntax.yaml",
        timers: "timers.yaml",
        triggers: "triggers.yaml",
        unbounded_cycle: "unbounded-cycle.yaml",
        unknown_action: "unknown-action.yaml",
        unknown_key: "unknown-key.yaml",
        unknown_module: "unknown-module.yaml",
        unknown_route: "unknown-route.yaml",
        unreachable: "unreachable.yaml",
        vars: "vars.yaml",
        vars_parallel: "vars-parallel.yaml",
        waits: "waits.yaml",
    }
}

#[test]
fn every_example_workflow_is_valid() {
    let dir = repo().join("workflows");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("workflows/") {
        let path = entry.expect("entry").path();
        let is_workflow = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        );
        if !is_workflow {
            continue;
        }
        let source = Source::read(&path, workflow::tree::MAX_FILE_BYTES).expect("readable");
        let rendered = render(&source);
        assert!(
            rendered.starts_with("valid\n"),
            "{}:\n{rendered}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 3, "the examples are checked");
}

#[test]
fn the_schema_describes_the_format() {
    let schema = serde_json::to_value(schemars::schema_for!(workflow::model::Workflow))
        .expect("schema is JSON");
    let step = &schema["$defs"]["Step"]["properties"];
    for key in [
        "id",
        "module",
        "action",
        "onSuccess",
        "onFailure",
        "retry",
        "needs",
        "foreach",
        "parallel",
        "loop",
        "max_visits",
    ] {
        assert!(
            step.get(key).is_some(),
            "Step has `{key}` in the schema: {step}"
        );
    }
    // The schema's keys are exactly the keys the reader accepts.
    let mut keys: Vec<&str> = step
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .collect();
    let mut accepted = workflow::read::STEP_KEYS.to_vec();
    keys.sort_unstable();
    accepted.sort_unstable();
    assert_eq!(keys, accepted);
}

#[test]
fn a_file_too_large_to_be_a_workflow_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("huge.yaml");
    let size = workflow::tree::MAX_FILE_BYTES + 1;
    std::fs::write(&path, "#".repeat(size)).expect("write");
    let error = Source::read(&path, workflow::tree::MAX_FILE_BYTES).expect_err("refused");
    assert_eq!(error.kind(), std::io::ErrorKind::FileTooLarge);
    assert!(error.to_string().contains(&size.to_string()), "{error}");
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                format!("\\{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Generated hostile files: each is judged with bounded output (the time
/// each takes is printed by `cargo bench --bench workflow`).
#[test]
fn hostile_files_get_bounded_diagnostics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.to_str().expect("UTF-8").to_string()
    };
    // A 10,000-step cycle: one error, its path elided, no false warnings.
    let steps = 10_000;
    let cycle: String = (0..steps)
        .map(|i| format!("  - {{ id: s{i}, module: system, action: echo, inputs: {{ message: \"{{{{ steps.s{}.output }}}}\" }}, onSuccess: s{} }}\n", (i + steps - 1) % steps, (i + 1) % steps))
        .collect();
    let cycle = write("cycle.yaml", &format!("name: cycle\nsteps:\n{cycle}"));
    let judged = crate::common::wfhost(&home, &["validate", &cycle]);
    assert_eq!(
        judged.code,
        2,
        "{}",
        judged.stderr.chars().take(2000).collect::<String>()
    );
    assert_eq!(
        judged.stderr.matches(": error:").count(),
        1,
        "{}",
        judged.stderr.chars().take(2000).collect::<String>()
    );
    assert!(!judged.stderr.contains("warning"), "no false warnings");
    assert!(
        judged.stderr.contains("… 9985 more steps …"),
        "{}",
        judged.stderr.chars().take(2000).collect::<String>()
    );
    assert!(
        judged.stderr.len() < 4096,
        "{} bytes of diagnostics",
        judged.stderr.len()
    );

    // Nearly 4 MiB of invalid steps: the first diagnostics, then a count.
    let bad: String = (0..55_000)
        .map(|i| format!("  - {{ id: s{i}, module: nosuch, action: x, bogus: 1 }}\n"))
        .collect();
    let invalid = write("invalid.yaml", &format!("name: bad\nsteps:\n{bad}"));
    let judged = crate::common::wfhost(&home, &["validate", &invalid]);
    assert_eq!(judged.code, 2);
    assert_eq!(
        judged.stderr.matches(": error:").count(),
        wfhost::diagnostics::MAX_RENDERED
    );
    assert!(
        judged.stderr.contains("more errors not shown"),
        "{}",
        &judged.stderr[judged.stderr.len().saturating_sub(500)..]
    );
    assert!(
        judged.stderr.len() < 64 * 1024,
        "{} bytes of diagnostics",
        judged.stderr.len()
    );

    // One line of JSON, 2 MiB long: carets in a window around the column.
    let line: String = (0..40_000)
        .map(|i| {
            format!(
                "{{\"id\": \"s{i}\", \"module\": \"system\", \"action\": \"echo\", \"bogus\": 1}},"
            )
        })
        .collect();
    let json = write(
        "wide.json",
        &format!(
            "{{\"name\": \"wide\", \"steps\": [{}]}}",
            line.trim_end_matches(',')
        ),
    );
    let judged = crate::common::wfhost(&home, &["validate", &json]);
    assert_eq!(judged.code, 2);
    assert!(
        judged.stderr.len() < 64 * 1024,
        "{} bytes of diagnostics",
        judged.stderr.len()
    );

    // Not UTF-8: where decoding failed.
    let binary = dir.path().join("binary.yaml");
    std::fs::write(&binary, b"name: x\nsteps:\n  - id: \xff\xfe\n").expect("write");
    let judged = crate::common::wfhost(&home, &["validate", binary.to_str().expect("UTF-8")]);
    assert_eq!(judged.code, 2);
    assert!(
        judged.stderr.contains("line 3, column 9"),
        "{}",
        judged.stderr
    );
}
