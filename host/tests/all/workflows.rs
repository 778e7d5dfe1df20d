//! Workflow validation: a corpus of invalid workflows, one file per class of
//! error, each rendered as the user sees it (golden files), plus the
//! examples in `workflows/`, which must all be valid.

use std::path::Path;

use wfhost::catalog::Catalog;
use wfhost::workflow::{self, Source};

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
        (None, errors) => format!("invalid: {errors} errors"),
    };
    format!("{verdict}\n{}", source.render(&checked.diagnostics))
}

#[test]
fn invalid_workflows_are_reported_at_their_lines() {
    let dir = repo().join("tests/fixtures/workflows/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 15, "the corpus has one file per error class");
    for path in files {
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        let rendered = render(&source(&path, &format!("invalid/{name}")));
        insta::with_settings!({
            filters => vec![(regex_escape(env!("WFHOST_GUEST_DIR")).as_str(), "[guests]")],
            prepend_module_to_snapshot => false,
            snapshot_suffix => name,
        }, {
            insta::assert_snapshot!("invalid_workflow", rendered);
        });
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
        let source = Source::read(&path).expect("readable");
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
    let error = Source::read(&path).expect_err("refused");
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
