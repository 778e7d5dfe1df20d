//! The wfhost implementing module. See `wit/world.wit` for the actions.

// The glue wit-bindgen generates is `unsafe`; the code written here has none.
#![allow(unsafe_code, clippy::too_many_arguments)]

// The wfhost WIT package first, then this module's own.
wfhost_sdk::generate!(world: "wfhost:implementing/implementing", path: ["../../wit", "wit"]);

pub mod patch;
mod snapshot;

use std::collections::HashMap;
use std::path::{Component, Path};

use wfhost_sdk::{fs_error, log};

struct Implementing;

/// `path` as a workspace-relative path, or an `invalid-path` error.
pub(crate) fn workspace_path(path: &str) -> Result<String, ActionError> {
    let mut parts = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => {
                return Err(ActionError::new(
                    "invalid-path",
                    format!(
                        "`{path}` is not a path inside the workspace; use a relative path without `..`"
                    ),
                ));
            }
        }
    }
    if parts.is_empty() {
        return Ok(".".into());
    }
    Ok(parts.join("/"))
}

pub(crate) fn write(path: &str, bytes: &[u8]) -> Result<(), ActionError> {
    if let Some(parent) = Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| fs_error(path, &e))?;
    }
    std::fs::write(path, bytes).map_err(|e| fs_error(path, &e))
}

/// A change to one file: its content before (None: absent) and after.
struct Change {
    path: String,
    before: Option<String>,
    after: Option<String>,
}

/// Write every change, or none: a failure puts back what was written.
fn commit(changes: &[Change]) -> Result<(), ActionError> {
    for (index, change) in changes.iter().enumerate() {
        let result = match &change.after {
            Some(text) => write(&change.path, text.as_bytes()),
            None => std::fs::remove_file(&change.path).map_err(|e| fs_error(&change.path, &e)),
        };
        if let Err(error) = result {
            for done in changes[..index].iter().rev() {
                let _ = match &done.before {
                    Some(text) => write(&done.path, text.as_bytes()),
                    None => std::fs::remove_file(&done.path).map_err(|e| fs_error(&done.path, &e)),
                };
            }
            return Err(error);
        }
    }
    Ok(())
}

fn conflict(path: &str, why: &str) -> ActionError {
    ActionError::new(
        "patch-conflict",
        format!("{path}: {why}; nothing was changed"),
    )
    .with_details(serde_json::json!({ "file": path }).to_string())
}

impl Guest for Implementing {
    fn apply_patch(patch: String, strip: Option<u32>) -> Result<PatchReport, ActionError> {
        let files = patch::parse(&patch, strip).map_err(|problem| {
            ActionError::new(
                "invalid-patch",
                format!("{problem}; pass a unified diff such as `git diff` prints"),
            )
        })?;
        // Current contents as the patch proceeds (a file may appear twice).
        let mut current: HashMap<String, Option<String>> = HashMap::new();
        let mut originals: Vec<(String, Option<String>)> = Vec::new();
        let mut read = |path: &str,
                        current: &mut HashMap<String, Option<String>>|
         -> Result<Option<String>, ActionError> {
            if let Some(text) = current.get(path) {
                return Ok(text.clone());
            }
            let text = match std::fs::read_to_string(path) {
                Ok(text) => Some(text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(fs_error(path, &e)),
            };
            current.insert(path.to_string(), text.clone());
            originals.push((path.to_string(), text.clone()));
            Ok(text)
        };
        let (mut hunks, mut offsets) = (0, 0);
        let mut touched = Vec::new();
        for file in &files {
            let target = file
                .new_path
                .as_ref()
                .or(file.old_path.as_ref())
                .expect("a file patch names a path");
            let old_text = match &file.old_path {
                Some(old) => read(old, &mut current)?
                    .ok_or_else(|| conflict(old, "the file does not exist"))?,
                None => {
                    if read(target, &mut current)?.is_some() {
                        return Err(conflict(
                            target,
                            "the patch creates it, but it exists already",
                        ));
                    }
                    String::new()
                }
            };
            let (new_text, offset) = patch::apply(&old_text, &file.hunks).map_err(|hunk| {
                let number = file
                    .hunks
                    .iter()
                    .position(|h| h.header == hunk)
                    .map_or(0, |i| i + 1);
                conflict(
                    target,
                    &format!(
                        "hunk {number} (`{hunk}`) does not apply: its context is not in the file"
                    ),
                )
            })?;
            hunks += file.hunks.len() as u32;
            offsets += offset;
            match (&file.old_path, &file.new_path) {
                (_, None) => {
                    current.insert(target.clone(), None);
                }
                (Some(old), Some(new)) if old != new => {
                    read(new, &mut current)?;
                    current.insert(old.clone(), None);
                    current.insert(new.clone(), Some(new_text));
                    touched.push(old.clone());
                }
                _ => {
                    current.insert(target.clone(), Some(new_text));
                }
            }
            touched.push(target.clone());
        }
        let changes: Vec<Change> = originals
            .into_iter()
            .filter_map(|(path, before)| {
                let after = current.get(&path).cloned().flatten();
                (after != before).then_some(Change {
                    path,
                    before,
                    after,
                })
            })
            .collect();
        commit(&changes)?;
        touched.dedup();
        log::info(format!(
            "applied {hunks} hunks to {} files ({offsets} at an offset)",
            touched.len()
        ));
        Ok(PatchReport {
            files_changed: touched,
            hunks,
            hunks_offset: offsets,
        })
    }

    fn write_files(files: Vec<FileContent>) -> Result<Vec<String>, ActionError> {
        let mut changes = Vec::new();
        for file in &files {
            let path = workspace_path(&file.path)?;
            let before = std::fs::read_to_string(&path).ok();
            changes.push(Change {
                path,
                before,
                after: Some(file.content.clone()),
            });
        }
        commit(&changes)?;
        Ok(changes.into_iter().map(|c| c.path).collect())
    }

    fn scaffold(
        template_dir: String,
        destination: String,
        variables: Vec<(String, String)>,
    ) -> Result<Vec<String>, ActionError> {
        let template_dir = workspace_path(&template_dir)?;
        let destination = workspace_path(&destination)?;
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        // Files keep their last newline.
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        let context: HashMap<String, String> = variables.into_iter().collect();
        let render = |what: &str, text: &str| {
            env.render_str(text, &context).map_err(|e| {
                ActionError::new(
                    "template-error",
                    format!("{what}: {e}; pass every variable it uses"),
                )
            })
        };
        let mut changes = Vec::new();
        let mut pending = vec![template_dir.clone()];
        while let Some(dir) = pending.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| fs_error(&dir, &e))?;
            for entry in entries.flatten() {
                let path = format!("{dir}/{}", entry.file_name().to_string_lossy());
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    pending.push(path);
                    continue;
                }
                let relative = path
                    .strip_prefix(&template_dir)
                    .unwrap_or(&path)
                    .trim_start_matches('/');
                let target =
                    workspace_path(&format!("{destination}/{}", render(relative, relative)?))?;
                if Path::new(&target).exists() {
                    return Err(ActionError::new(
                        "exists",
                        format!(
                            "{target} exists already; scaffold never overwrites, remove it or choose another destination"
                        ),
                    ));
                }
                let text = std::fs::read_to_string(&path).map_err(|e| fs_error(&path, &e))?;
                changes.push(Change {
                    path: target,
                    before: None,
                    after: Some(render(&path, &text)?),
                });
            }
        }
        if changes.is_empty() {
            return Err(ActionError::new(
                "empty-template",
                format!("{template_dir} holds no files"),
            ));
        }
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        commit(&changes)?;
        Ok(changes.into_iter().map(|c| c.path).collect())
    }

    fn snapshot(paths: Vec<String>) -> Result<String, ActionError> {
        snapshot::take(&paths)
    }

    fn restore(id: String) -> Result<Vec<String>, ActionError> {
        snapshot::restore(&id)
    }
}

export!(Implementing);
