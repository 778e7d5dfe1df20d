//! Lockfiles: `wfhost lock FILE` pins the exact version and sha256 of every
//! module a workflow uses in `FILE.lock`, beside it; `wfhost run` then loads
//! exactly those, or refuses with what changed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where a module was resolved from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModuleOrigin {
    Bundled,
    Installed,
    File,
}

impl std::fmt::Display for ModuleOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Bundled => "bundled",
            Self::Installed => "installed",
            Self::File => "file",
        })
    }
}

/// One pinned module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedModule {
    /// The reference as the workflow writes it (`greeter@^1`, `./x.wasm`).
    pub reference: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub origin: ModuleOrigin,
    pub sha256: String,
}

/// A workflow's lockfile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockfile {
    /// The format's version.
    pub version: u32,
    #[serde(default, rename = "module")]
    pub modules: Vec<LockedModule>,
}

const HEADER: &str = "# Written by `wfhost lock`: the modules this workflow runs, pinned.\n\
                      # `wfhost run` loads exactly these; run `wfhost lock` again to update.\n";

impl Lockfile {
    pub const FORMAT: u32 = 1;

    /// The lockfile of the workflow at `workflow`: `hello.yaml.lock`.
    pub fn path_for(workflow: &Path) -> PathBuf {
        let mut name = workflow.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        workflow.with_file_name(name)
    }

    /// The entry for `reference`.
    pub fn find(&self, reference: &str) -> Option<&LockedModule> {
        self.modules.iter().find(|m| m.reference == reference)
    }

    /// Read the lockfile at `path`, if there is one.
    pub fn read(path: &Path) -> Result<Option<Self>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
        };
        let lock: Self = toml::from_str(&text).map_err(|error| {
            format!(
                "{} is not a valid lockfile: {}; delete it and run `wfhost lock` again",
                path.display(),
                error.message()
            )
        })?;
        if lock.version != Self::FORMAT {
            return Err(format!(
                "{} has format version {}, this wfhost reads {}; run `wfhost lock` again",
                path.display(),
                lock.version,
                Self::FORMAT
            ));
        }
        Ok(Some(lock))
    }

    /// The lockfile's text.
    pub fn to_text(&self) -> String {
        let body = toml::to_string(self).expect("a lockfile serialises");
        format!("{HEADER}{body}")
    }
}
