//! Capability grants: the workflow's `permissions` plus the step's, checked
//! (relative paths inside the workspace, `host:port` addresses, variable and
//! program names), merged, and met with what the step's module asks for.

use super::Checker;
use crate::capabilities::{
    StepPermissions, intersect, is_env_name, is_host_port, workspace_relative,
};
use crate::diagnostics::Diagnostic;
use crate::workflow::model::{Access, Permissions, Step};
use crate::workflow::plan::StepIndex;

impl Checker<'_> {
    /// What `step` may reach: the workflow's and the step's grants, met with
    /// its module's asks. A required ask that is not granted is an error
    /// naming the capability, the module's reason and the YAML to add.
    pub(super) fn permissions(&mut self, index: StepIndex, step: &Step) -> StepPermissions {
        let mut granted = StepPermissions::default();
        for permissions in [&self.workflow.permissions, &step.permissions] {
            self.add(&mut granted, permissions);
        }
        let Some(resolved) = &self.resolved[index] else {
            return granted;
        };
        let manifest = resolved.manifest.clone();
        let asks = manifest.as_ref().map(|m| m.capabilities.as_slice());
        let met = intersect(asks, &granted, &resolved.action.name);
        let span = step.module.as_ref().map_or(step.id.span, |m| m.span);
        for ask in met.missing {
            let module = manifest.as_ref().map_or("?", |m| m.name.as_str());
            self.error(
                Diagnostic::error(
                    span,
                    format!(
                        "module `{module}` asks to {} (its reason: \"{}\"), which step `{}` is not granted",
                        ask.describe(),
                        ask.reason,
                        step.id
                    ),
                )
                .with_help(format!(
                    "add `{}` to the step, or to the workflow for every step",
                    ask.yaml_to_add()
                )),
            );
        }
        met.effective
    }

    fn add(&mut self, granted: &mut StepPermissions, permissions: &Permissions) {
        for grant in &permissions.fs {
            let Some(path) = workspace_relative(&grant.path.value) else {
                self.error(
                    Diagnostic::error(
                        grant.path.span,
                        format!("`{}` is not a path inside the workspace", grant.path.value),
                    )
                    .with_help("grant a non-empty relative path without `..`, such as `data` or `.` for the whole workspace"),
                );
                continue;
            };
            granted.add_dir(path, grant.access == Access::ReadWrite);
        }
        for name in &permissions.env {
            if is_env_name(&name.value) {
                StepPermissions::add_name(&mut granted.env, &name.value);
            } else {
                self.error(Diagnostic::error(
                    name.span,
                    format!("`{}` is not an environment variable name", name.value),
                ));
            }
        }
        for program in &permissions.run {
            let valid = !program.value.trim().is_empty() && !program.value.contains('\0');
            if valid {
                StepPermissions::add_name(&mut granted.run, &program.value);
            } else {
                self.error(
                    Diagnostic::error(
                        program.span,
                        format!("`{}` is not a program name", program.value),
                    )
                    .with_help("name a program on the host's PATH, such as `cargo`"),
                );
            }
        }
        for address in &permissions.net {
            if is_host_port(&address.value) {
                StepPermissions::add_name(&mut granted.net, &address.value);
            } else {
                self.error(
                    Diagnostic::error(
                        address.span,
                        format!("`{}` is not a `host:port` address", address.value),
                    )
                    .with_help("for example `api.example.com:443` or `127.0.0.1:8080`"),
                );
            }
        }
    }
}
