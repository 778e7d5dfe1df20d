//! Capability grants: the workflow's `permissions` plus the step's, checked
//! (relative paths inside the workspace, `host:port` addresses, variable
//! names) and merged into what the step is granted.

use std::path::{Component, Path};

use super::Checker;
use crate::workflow::diagnostic::Diagnostic;
use crate::workflow::model::{Access, Permissions, Step};
use crate::workflow::plan::StepPermissions;

impl Checker<'_> {
    /// What `step` is granted: the workflow's permissions and its own.
    pub(super) fn permissions(&mut self, step: &Step) -> StepPermissions {
        let mut granted = StepPermissions::default();
        for permissions in [&self.workflow.permissions, &step.permissions] {
            self.add(&mut granted, permissions);
        }
        granted
    }

    fn add(&mut self, granted: &mut StepPermissions, permissions: &Permissions) {
        for grant in &permissions.fs {
            let Some(path) = self.workspace_path(&grant.path.value) else {
                self.error(
                    Diagnostic::error(
                        grant.path.span,
                        format!("`{}` is not a path inside the workspace", grant.path.value),
                    )
                    .with_help("grant a relative path without `..`, such as `data` or `.` for the whole workspace"),
                );
                continue;
            };
            let writable = grant.access == Access::ReadWrite;
            match granted.fs.iter_mut().find(|(p, _)| *p == path) {
                Some((_, existing)) => *existing |= writable,
                None => granted.fs.push((path, writable)),
            }
        }
        for name in &permissions.env {
            let valid = !name.value.is_empty() && !name.value.contains(['=', '\0']);
            if !valid {
                self.error(Diagnostic::error(
                    name.span,
                    format!("`{}` is not an environment variable name", name.value),
                ));
            } else if !granted.env.contains(&name.value) {
                granted.env.push(name.value.clone());
            }
        }
        for address in &permissions.net {
            let port = address
                .value
                .rsplit_once(':')
                .and_then(|(host, port)| (!host.is_empty()).then_some(port))
                .and_then(|port| port.parse::<u16>().ok());
            if port.is_none() {
                self.error(
                    Diagnostic::error(
                        address.span,
                        format!("`{}` is not a `host:port` address", address.value),
                    )
                    .with_help("for example `api.example.com:443` or `127.0.0.1:8080`"),
                );
            } else if !granted.net.contains(&address.value) {
                granted.net.push(address.value.clone());
            }
        }
    }

    /// `path` normalised (`./data/` → `data`, `.` stays), or `None` when it
    /// could leave the workspace (absolute, `..`).
    fn workspace_path(&self, path: &str) -> Option<String> {
        let mut parts = Vec::new();
        for component in Path::new(path).components() {
            match component {
                Component::Normal(part) => parts.push(part.to_str()?.to_string()),
                Component::CurDir => {}
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
            }
        }
        Some(if parts.is_empty() {
            ".".to_string()
        } else {
            parts.join("/")
        })
    }
}
