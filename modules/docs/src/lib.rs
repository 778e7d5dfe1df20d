//! The wfhost docs module. See `wit/world.wit` for the actions.

// The glue wit-bindgen generates is `unsafe`; the code written here has none.
#![allow(unsafe_code, clippy::too_many_arguments)]

// The wfhost WIT package first, then this module's own.
wfhost_sdk::generate!(world: "wfhost:docs/docs", path: ["../../wit", "wit"]);

pub mod changelog;
pub mod markdown;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Component, Path};

use wfhost_sdk::{files, fs_error, log};

struct Docs;

fn read(path: &str) -> Result<String, ActionError> {
    std::fs::read_to_string(path).map_err(|error| fs_error(path, &error))
}

fn write(path: &str, text: &str) -> Result<(), ActionError> {
    if let Some(parent) = Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|error| fs_error(path, &error))?;
    }
    std::fs::write(path, text).map_err(|error| fs_error(path, &error))
}

impl Guest for Docs {
    fn changelog_add(
        path: String,
        section: String,
        entry: String,
        version: Option<String>,
    ) -> Result<ChangelogChange, ActionError> {
        let section_name = changelog::section_name(&section).ok_or_else(|| {
            ActionError::new(
                "invalid-section",
                format!(
                    "`{section}` is not a Keep a Changelog section; use one of {}",
                    changelog::SECTIONS.join(", ")
                ),
            )
        })?;
        if entry.trim().is_empty() {
            return Err(ActionError::new(
                "invalid-entry",
                "the entry is empty; pass one line describing the change",
            ));
        }
        let (text, created) = match std::fs::read_to_string(&path) {
            Ok(text) => (text, false),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                (changelog::HEADER.to_string(), true)
            }
            Err(error) => return Err(fs_error(&path, &error)),
        };
        let release = version.unwrap_or_else(|| "Unreleased".to_string());
        let (out, added) = changelog::add(&text, &release, section_name, &entry);
        if added {
            write(&path, &out)?;
            log::info(format!("{path}: added to {release} / {section_name}"));
        }
        Ok(ChangelogChange {
            path,
            release,
            section: section_name.to_string(),
            added,
            created: created && added,
        })
    }

    fn toc(path: String, max_depth: u32) -> Result<TocChange, ActionError> {
        if !(2..=6).contains(&max_depth) {
            return Err(ActionError::new(
                "invalid-depth",
                format!("max-depth {max_depth} is not from 2 to 6"),
            ));
        }
        let text = read(&path)?;
        let (out, entries) = markdown::with_toc(&text, max_depth as usize).ok_or_else(|| {
            ActionError::new(
                "no-toc-markers",
                format!(
                    "{path} has no `{}` … `{}` markers; put them on their own lines where the table of contents goes",
                    markdown::TOC_START,
                    markdown::TOC_END
                ),
            )
        })?;
        let changed = out != text;
        if changed {
            write(&path, &out)?;
        }
        Ok(TocChange {
            path,
            entries: entries as u32,
            changed,
        })
    }

    fn check_links(globs: Vec<String>) -> Result<Vec<BrokenLink>, ActionError> {
        let mut anchors: HashMap<String, Vec<String>> = HashMap::new();
        let mut broken = Vec::new();
        for file in files::matching(&globs)? {
            let text = read(&file)?;
            for (line, target) in markdown::links(&text) {
                if target.contains("://")
                    || target.starts_with("mailto:")
                    || target.starts_with("tel:")
                    || target.starts_with("data:")
                {
                    continue;
                }
                let (link_path, anchor) = match target.split_once('#') {
                    Some((path, anchor)) => (path, Some(anchor)),
                    None => (target.as_str(), None),
                };
                let resolved = if link_path.is_empty() {
                    Some(file.clone())
                } else {
                    resolve(&file, link_path)
                };
                let reason = match &resolved {
                    None => Some("outside-workspace"),
                    Some(path) if std::fs::metadata(path).is_err() => Some("missing-file"),
                    Some(path) => anchor.filter(|_| path.ends_with(".md")).and_then(|anchor| {
                        let known = anchors.entry(path.clone()).or_insert_with(|| {
                            std::fs::read_to_string(path)
                                .map(|t| {
                                    markdown::headings(&t)
                                        .into_iter()
                                        .map(|h| h.anchor)
                                        .collect()
                                })
                                .unwrap_or_default()
                        });
                        (!known.iter().any(|a| a == anchor)).then_some("missing-anchor")
                    }),
                };
                if let Some(reason) = reason {
                    broken.push(BrokenLink {
                        file: file.clone(),
                        line: line as u32,
                        target: target.clone(),
                        reason: reason.to_string(),
                    });
                }
            }
        }
        log::info(format!("{} broken links", broken.len()));
        Ok(broken)
    }

    fn report(
        title: String,
        tests: Option<TestReport>,
        outputs: Option<String>,
        path: Option<String>,
    ) -> Result<String, ActionError> {
        let mut md = format!("# {title}\n");
        if let Some(tests) = &tests {
            render_tests(&mut md, tests);
        }
        if let Some(outputs) = &outputs {
            render_outputs(&mut md, outputs);
        }
        if let Some(path) = &path {
            write(path, &md)?;
            log::info(format!("report written to {path}"));
        }
        Ok(md)
    }
}

/// `target` (relative to the directory of `file`) as a workspace path, or
/// `None` when it leaves the workspace.
fn resolve(file: &str, target: &str) -> Option<String> {
    let base = Path::new(file).parent().unwrap_or(Path::new(""));
    let mut parts: Vec<String> = Vec::new();
    for component in base.join(target).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

fn render_tests(md: &mut String, tests: &TestReport) {
    let verdict = if tests.success { "passed" } else { "failed" };
    let _ = write!(
        md,
        "\n## Tests {verdict}\n\n| runner | passed | failed | skipped | total | duration |\n|---|---:|---:|---:|---:|---:|\n| {} | {} | {} | {} | {} | {:.1} s |\n",
        tests.runner,
        tests.passed,
        tests.failed,
        tests.skipped,
        tests.total,
        tests.duration_ms as f64 / 1000.0
    );
    for (heading, listed) in [
        ("Failures", &tests.failures),
        ("Errors (could not run)", &tests.errors),
    ] {
        if listed.is_empty() {
            continue;
        }
        let _ = writeln!(md, "\n### {heading}");
        for failure in listed {
            let _ = write!(md, "\n- `{}`\n", failure.name);
            if !failure.message.is_empty() {
                let _ = write!(md, "\n  ```text\n{}\n  ```\n", indent(&failure.message));
            }
        }
    }
    if !tests.success && !tests.output_tail.trim().is_empty() {
        let _ = write!(
            md,
            "\n<details><summary>Output (last lines)</summary>\n\n```text\n{}\n```\n\n</details>\n",
            tests.output_tail.trim_end()
        );
    }
}

fn render_outputs(md: &mut String, outputs: &str) {
    md.push_str("\n## Outputs\n");
    match serde_json::from_str::<serde_json::Value>(outputs) {
        Ok(serde_json::Value::Object(map)) => {
            for (name, value) in map {
                let text = serde_json::to_string_pretty(&value).unwrap_or_default();
                let _ = write!(md, "\n### {name}\n\n```json\n{text}\n```\n");
            }
        }
        Ok(value) => {
            let text = serde_json::to_string_pretty(&value).unwrap_or_default();
            let _ = write!(md, "\n```json\n{text}\n```\n");
        }
        Err(_) => {
            let _ = write!(md, "\n```text\n{}\n```\n", outputs.trim_end());
        }
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

export!(Docs);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_targets() {
        assert_eq!(
            resolve("docs/guide.md", "../README.md").as_deref(),
            Some("README.md")
        );
        assert_eq!(
            resolve("docs/guide.md", "img/a.png").as_deref(),
            Some("docs/img/a.png")
        );
        assert_eq!(resolve("README.md", "../outside.md"), None);
    }

    #[test]
    fn a_report_of_failing_tests() {
        let tests = TestReport {
            runner: "cargo".into(),
            passed: 1,
            failed: 1,
            skipped: 0,
            total: 2,
            success: false,
            failures: vec![TestFailure {
                name: "tests::subtracts".into(),
                message: "left: 1\nright: 2".into(),
            }],
            errors: vec![TestFailure {
                name: "tests/it.rs".into(),
                message: "cannot find crate".into(),
            }],
            duration_ms: 1500,
            exit_code: Some(101),
            output_tail: "test result: FAILED".into(),
        };
        let md = Docs::report(
            "Nightly".into(),
            Some(tests),
            Some(r#"{"build": {"ok": true}}"#.into()),
            None,
        )
        .expect("report");
        assert!(md.starts_with("# Nightly\n\n## Tests failed\n"), "{md}");
        assert!(md.contains("| cargo | 1 | 1 | 0 | 2 | 1.5 s |"), "{md}");
        assert!(
            md.contains("- `tests::subtracts`\n\n  ```text\n  left: 1\n  right: 2\n  ```"),
            "{md}"
        );
        assert!(
            md.contains("### Errors (could not run)\n\n- `tests/it.rs`\n\n  ```text\n  cannot find crate\n  ```"),
            "{md}"
        );
        assert!(
            md.contains("### build\n\n```json\n{\n  \"ok\": true\n}\n```"),
            "{md}"
        );
    }
}
