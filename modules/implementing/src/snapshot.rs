//! Snapshots: files recorded under `.wfhost/snapshots/<id>/` and put back.
//! `.wfhost/` holds a `.gitignore` of `*`, so git never shows it, and only
//! the newest [`KEEP`] snapshots are kept.
//!
//! `index.json` lists every recorded path (`files`, the bytes of the n-th
//! stored as `files/<n>`, or `absent`) and every recorded directory;
//! restoring rewrites the files, removes what appeared in place of absent
//! paths, and removes files created since inside recorded directories.
//! Stored by number, not by name: a copy of `calc.test.js` under the
//! workspace would be found by test runners that look for test files
//! everywhere (vitest, jest), and run as if it were the project's.

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Value, json};
use wfhost_sdk::files::walk as files_under;
use wfhost_sdk::{fs_error, log};

use crate::{ActionError, workspace_path, write};

const ROOT: &str = ".wfhost/snapshots";
/// Snapshots kept; taking one more removes the oldest.
pub const KEEP: usize = 20;
/// What makes git ignore `.wfhost/` (itself included).
const IGNORE: (&str, &str) = (
    ".wfhost/.gitignore",
    "# wfhost's snapshots: not part of the project\n*\n",
);

pub fn take(paths: &[String]) -> Result<String, ActionError> {
    if paths.is_empty() {
        return Err(ActionError::new(
            "invalid-paths",
            "no paths given; name the files or directories to record",
        ));
    }
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut absent = Vec::new();
    let mut dirs = Vec::new();
    for path in paths {
        let path = workspace_path(path)?;
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                for file in files_under(&path)? {
                    let bytes = std::fs::read(&file).map_err(|e| fs_error(&file, &e))?;
                    files.push((file, bytes));
                }
                dirs.push(path);
            }
            Ok(_) => {
                let bytes = std::fs::read(&path).map_err(|e| fs_error(&path, &e))?;
                files.push((path, bytes));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => absent.push(path),
            Err(e) => return Err(fs_error(&path, &e)),
        }
    }
    let mut hasher = DefaultHasher::new();
    files.hash(&mut hasher);
    absent.hash(&mut hasher);
    dirs.hash(&mut hasher);
    let id = format!("{:016x}", hasher.finish());
    let dir = format!("{ROOT}/{id}");
    for (number, (_, bytes)) in files.iter().enumerate() {
        write(&format!("{dir}/files/{number}"), bytes)?;
    }
    let index = json!({
        "stored": "numbered",
        "files": files.iter().map(|(p, _)| p).collect::<Vec<_>>(),
        "absent": absent,
        "dirs": dirs,
    });
    write(&format!("{dir}/index.json"), index.to_string().as_bytes())?;
    if std::fs::metadata(IGNORE.0).is_err() {
        write(IGNORE.0, IGNORE.1.as_bytes())?;
    }
    let pruned = prune(&id)?;
    log::info(format!(
        "snapshot {id}: {} files{}",
        files.len(),
        if pruned > 0 {
            format!("; {pruned} older snapshots removed")
        } else {
            String::new()
        }
    ));
    Ok(id)
}

/// Remove the oldest snapshots beyond [`KEEP`] (never `current`); how many.
fn prune(current: &str) -> Result<usize, ActionError> {
    let mut snapshots: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(ROOT)
        .map_err(|e| fs_error(ROOT, &e))?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let modified = entry.metadata().ok()?.modified().ok()?;
            (name != current).then_some((modified, name))
        })
        .collect();
    if snapshots.len() < KEEP {
        return Ok(0);
    }
    snapshots.sort();
    let excess = snapshots.len() + 1 - KEEP;
    for (_, name) in &snapshots[..excess] {
        let dir = format!("{ROOT}/{name}");
        std::fs::remove_dir_all(&dir).map_err(|e| fs_error(&dir, &e))?;
    }
    Ok(excess)
}

pub fn restore(id: &str) -> Result<Vec<String>, ActionError> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ActionError::new(
            "invalid-snapshot",
            format!("`{id}` is not a snapshot id"),
        ));
    }
    let dir = format!("{ROOT}/{id}");
    let index = std::fs::read_to_string(format!("{dir}/index.json")).map_err(|_| {
        ActionError::new(
            "unknown-snapshot",
            format!("no snapshot `{id}` in {ROOT}; take one with `snapshot` first"),
        )
    })?;
    let index: Value = serde_json::from_str(&index)
        .map_err(|e| ActionError::new("invalid-snapshot", format!("{dir}/index.json: {e}")))?;
    let list = |key: &str| -> Vec<String> {
        index[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let recorded = list("files");
    // Snapshots taken before files were stored by number keep them by path.
    let numbered = index["stored"] == "numbered";
    let mut changed = Vec::new();
    for (number, path) in recorded.iter().enumerate() {
        let path = workspace_path(path)?;
        let stored = if numbered {
            format!("{dir}/files/{number}")
        } else {
            format!("{dir}/files/{path}")
        };
        let bytes = std::fs::read(&stored).map_err(|e| fs_error(&path, &e))?;
        if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
            write(&path, &bytes)?;
            changed.push(path);
        }
    }
    let remove = |path: String, changed: &mut Vec<String>| -> Result<(), ActionError> {
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                std::fs::remove_dir_all(&path).map_err(|e| fs_error(&path, &e))?
            }
            Ok(_) => std::fs::remove_file(&path).map_err(|e| fs_error(&path, &e))?,
            Err(_) => return Ok(()),
        }
        changed.push(path);
        Ok(())
    };
    for path in list("absent") {
        remove(workspace_path(&path)?, &mut changed)?;
    }
    for recorded_dir in list("dirs") {
        let recorded_dir = workspace_path(&recorded_dir)?;
        if std::fs::metadata(&recorded_dir).is_err() {
            continue;
        }
        for file in files_under(&recorded_dir)? {
            if !recorded.contains(&file) && !file.starts_with(".wfhost/") {
                remove(file, &mut changed)?;
            }
        }
    }
    log::info(format!(
        "restored snapshot {id}: {} paths changed",
        changed.len()
    ));
    Ok(changed)
}
