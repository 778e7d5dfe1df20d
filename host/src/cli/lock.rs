//! `wfhost lock FILE`: pin the version and sha256 of every module a workflow
//! uses in `FILE.lock`, which `run` then honours.

use std::path::PathBuf;

use anyhow::Context;

use crate::diagnostics::Source;
use crate::home::Home;
use crate::lock::Lockfile;
use crate::workflow::tree::MAX_FILE_BYTES;

use super::exit::{CliError, SUCCESS};
use super::workflow_file;

#[derive(Debug, clap::Args)]
pub(super) struct LockArgs {
    /// The workflow file (YAML or JSON).
    file: PathBuf,
}

pub(super) fn run(home: &Home, args: &LockArgs) -> Result<u8, CliError> {
    let source = Source::read(&args.file, MAX_FILE_BYTES)
        .with_context(|| format!("cannot read workflow file {}", args.file.display()))?;
    let (_, catalog) = workflow_file::plan_unlocked(home, &source)?;
    let lock = Lockfile {
        version: Lockfile::FORMAT,
        modules: catalog
            .loaded()
            .iter()
            .map(|(reference, entry)| entry.locked(reference))
            .collect(),
    };
    let path = Lockfile::path_for(&args.file);
    std::fs::write(&path, lock.to_text())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {} ({} modules)", path.display(), lock.modules.len());
    for module in &lock.modules {
        let version = module
            .version
            .as_deref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default();
        println!(
            "  {} → {}{version} ({}) sha256:{}",
            module.reference,
            module.name,
            module.origin,
            &module.sha256[..16]
        );
    }
    Ok(SUCCESS)
}
