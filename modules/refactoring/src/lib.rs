//! The wfhost refactoring module. See `wit/world.wit` for the actions.

// The glue wit-bindgen generates is `unsafe`; the code written here has none.
#![allow(unsafe_code, clippy::too_many_arguments)]

// The wfhost WIT package first, then this module's own.
wfhost_sdk::generate!(world: "wfhost:refactoring/refactoring", path: ["../../wit", "wit"]);

pub mod rename;

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use wfhost_sdk::{files, fs_error, log, process};

struct Refactoring;

/// Apply `edit` to every file matching `globs`; unless `dry_run`, write
/// once `accept` has seen the whole report.
fn edit_files(
    globs: &[String],
    dry_run: bool,
    edit: impl Fn(&str, &str) -> rename::Renamed,
    accept: impl Fn(&EditReport) -> Result<(), ActionError>,
) -> Result<EditReport, ActionError> {
    let mut report = EditReport {
        files_changed: Vec::new(),
        replacements: 0,
        diff: String::new(),
        definitions: Vec::new(),
    };
    let mut writes = Vec::new();
    for path in files::matching(globs)? {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // binary files are not edited
        };
        let rename::Renamed {
            text: out,
            count,
            definitions,
        } = edit(&path, &text);
        report
            .definitions
            .extend(definitions.into_iter().map(|(kind, line)| Definition {
                kind: kind.name().to_string(),
                file: path.clone(),
                line,
            }));
        if count == 0 || out == text {
            continue;
        }
        report.replacements += count;
        report.diff.push_str(
            &similar::TextDiff::from_lines(&text, &out)
                .unified_diff()
                .context_radius(2)
                .header(&format!("a/{path}"), &format!("b/{path}"))
                .to_string(),
        );
        report.files_changed.push(path.clone());
        writes.push((path, out));
    }
    accept(&report)?;
    if !dry_run {
        for (path, out) in &writes {
            std::fs::write(path, out).map_err(|e| fs_error(path, &e))?;
        }
    }
    log::info(format!(
        "{}{} replacements in {} files\n{}",
        if dry_run { "dry run: " } else { "" },
        report.replacements,
        report.files_changed.len(),
        report.diff
    ));
    Ok(report)
}

/// A rename limited to kind `kind`, of which `from` has no definition.
fn unknown_kind(from: &str, kind: &str, definitions: &[Definition]) -> ActionError {
    let found: Vec<String> = definitions
        .iter()
        .map(|d| format!("{} ({}:{})", d.kind, d.file, d.line))
        .collect();
    ActionError::new(
        "unknown-kind",
        format!(
            "no {kind} named `{from}` is defined in the files matched; nothing was changed. Its definitions: {}",
            if found.is_empty() {
                "none".to_string()
            } else {
                found.join(", ")
            }
        ),
    )
}

/// A fingerprint of every file under the workspace root.
fn fingerprints() -> Result<BTreeMap<String, u64>, ActionError> {
    let mut found = BTreeMap::new();
    for path in files::walk(".")? {
        if let Ok(bytes) = std::fs::read(&path) {
            let mut hasher = DefaultHasher::new();
            bytes.hash(&mut hasher);
            found.insert(path, hasher.finish());
        }
    }
    Ok(found)
}

impl Guest for Refactoring {
    fn rename_symbol(
        from: String,
        to: String,
        globs: Vec<String>,
        dry_run: Option<bool>,
        kind: Option<String>,
    ) -> Result<EditReport, ActionError> {
        for name in [&from, &to] {
            if !rename::is_identifier(name) {
                return Err(ActionError::new(
                    "invalid-identifier",
                    format!(
                        "`{name}` is not an identifier (letters, digits and `_`, not starting with a digit)"
                    ),
                ));
            }
        }
        let only = match kind.as_deref() {
            None => None,
            Some(name) => Some(rename::Kind::parse(name).ok_or_else(|| {
                let kinds: Vec<&str> = rename::Kind::ALL.iter().map(|k| k.name()).collect();
                ActionError::new(
                    "invalid-kind",
                    format!("`{name}` is not a kind; one of: {}", kinds.join(", ")),
                )
            })?),
        };
        let report = edit_files(
            &globs,
            dry_run.unwrap_or(false),
            |path, text| rename::rename(text, rename::Lang::of(path), &from, &to, only),
            |report| match (only, &kind) {
                (Some(_), Some(name)) if !report.definitions.iter().any(|d| d.kind == *name) => {
                    Err(unknown_kind(&from, name, &report.definitions))
                }
                _ => Ok(()),
            },
        )?;
        let mut kinds: Vec<&str> = report.definitions.iter().map(|d| d.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        if kinds.len() > 1 && kind.is_none() {
            log::warn(format!(
                "`{from}` names {} kinds of definitions ({}); all were renamed — pass `kind` to rename one",
                kinds.len(),
                kinds.join(", ")
            ));
        }
        Ok(report)
    }

    fn replace(
        pattern: String,
        replacement: String,
        globs: Vec<String>,
        dry_run: Option<bool>,
    ) -> Result<EditReport, ActionError> {
        let regex = regex::Regex::new(&pattern).map_err(|e| {
            ActionError::new(
                "invalid-pattern",
                format!("`{pattern}` is not a regular expression: {e}"),
            )
        })?;
        edit_files(
            &globs,
            dry_run.unwrap_or(false),
            |_, text| rename::Renamed {
                count: regex.find_iter(text).count() as u32,
                text: regex.replace_all(text, replacement.as_str()).into_owned(),
                definitions: Vec::new(),
            },
            |_| Ok(()),
        )
    }

    fn format(command: String, args: Vec<String>) -> Result<FormatReport, ActionError> {
        let before = fingerprints()?;
        let output = process::Command::new(&command)
            .args(args)
            .run()
            .map_err(|e| e.to_action_error())?;
        if output.exit_code != Some(0) {
            let tail: String = output
                .stderr
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            return Err(ActionError::new(
                "formatter-failed",
                format!(
                    "`{command}` exited with {:?}: {}",
                    output.exit_code,
                    tail.trim()
                ),
            ));
        }
        let after = fingerprints()?;
        let files_changed: Vec<String> = after
            .iter()
            .filter(|(path, hash)| before.get(*path) != Some(hash))
            .map(|(path, _)| path.clone())
            .chain(
                before
                    .keys()
                    .filter(|path| !after.contains_key(*path))
                    .cloned(),
            )
            .collect();
        log::info(format!("`{command}` changed {} files", files_changed.len()));
        Ok(FormatReport {
            files_changed,
            exit_code: output.exit_code,
        })
    }
}

export!(Refactoring);
