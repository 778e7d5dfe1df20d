//! Turning a plan's grants into what the sandbox enforces: directories
//! beneath the workspace root (opened once here; each must be a real
//! directory beneath it, reached through no link), variables read from the
//! host's environment, programs found on the host's `PATH`, `host:port`
//! names resolved to addresses.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;

use crate::sandbox::{DirGrant, Grants, Workspace};
use crate::workflow::Plan;
use crate::workflow::plan::StepPermissions;

/// Each step's grants, by step index, or every grant that cannot be honoured.
pub fn resolve(plan: &Plan, workspace: &Path) -> Result<Vec<Arc<Grants>>, Vec<String>> {
    let workspace = open_workspace(workspace).map_err(|problem| vec![problem])?;
    let mut problems = Vec::new();
    let mut resolved: HashMap<&StepPermissions, Arc<Grants>> = HashMap::new();
    let grants = plan
        .steps
        .iter()
        .map(|step| {
            if let Some(grants) = resolved.get(&step.permissions) {
                return Arc::clone(grants);
            }
            let grants = resolve_one(&step.permissions, &workspace).unwrap_or_else(|mut found| {
                for problem in &mut found {
                    *problem = format!("step `{}`: {problem}", step.id);
                }
                problems.extend(found);
                Grants::default()
            });
            let grants = Arc::new(grants);
            resolved.insert(&step.permissions, Arc::clone(&grants));
            grants
        })
        .collect();
    if problems.is_empty() {
        Ok(grants)
    } else {
        problems.dedup();
        Err(problems)
    }
}

/// The workspace root, opened: every directory grant of a run lives
/// beneath this handle.
pub fn open_workspace(workspace: &Path) -> Result<Arc<Workspace>, String> {
    Workspace::open(workspace).map(Arc::new).map_err(|error| {
        format!(
            "the workspace {} cannot be used: {error}",
            workspace.display()
        )
    })
}

/// Grants for one set of permissions (also `wfhost call --allow-*`).
pub fn resolve_one(
    permissions: &StepPermissions,
    workspace: &Arc<Workspace>,
) -> Result<Grants, Vec<String>> {
    let mut problems = Vec::new();
    let mut grants = Grants::default();
    for (path, writable) in &permissions.fs {
        // Checked now for a clear error before anything runs; opened again,
        // the same way, at every call.
        match workspace.open_dir(path) {
            Ok(_) => grants.dirs.push(DirGrant {
                workspace: Arc::clone(workspace),
                path: path.clone(),
                writable: *writable,
            }),
            Err(error) => problems.push(format!("granted directory {error}")),
        }
    }
    for name in &permissions.env {
        if let Ok(value) = std::env::var(name) {
            grants.env.push((name.clone(), value));
        }
    }
    for program in &permissions.run {
        match which::which(program) {
            Ok(path) => grants.programs.push((program.clone(), path)),
            Err(error) => problems.push(format!(
                "granted program `{program}` cannot be found on this host's PATH: {error}"
            )),
        }
    }
    for address in &permissions.net {
        match address.to_socket_addrs() {
            Ok(addresses) => grants.net.extend(addresses.collect::<Vec<SocketAddr>>()),
            Err(error) => problems.push(format!(
                "cannot resolve granted address `{address}`: {error}"
            )),
        }
    }
    if problems.is_empty() {
        Ok(grants)
    } else {
        Err(problems)
    }
}
