//! Installed modules: `$WFHOST_HOME/modules/<name>/<version>/`.
//!
//! Each version directory holds `component.wasm`, the module's
//! `wfmodule.toml` when it shipped one, and `install.json`, the record
//! written at install time with the component's sha256. Every read of a
//! component checks that digest first: a component changed after it was
//! installed is refused, never compiled or run.

pub mod archive;
mod package;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diagnostics::Source;
use crate::manifest::{self, MAX_MANIFEST_BYTES, Manifest};
use crate::sandbox::{Digest, FilePin, LoadError, Module, Runtime};

pub use archive::{ArchiveError, ArchiveLimits};
pub use package::{Package, PackageError, is_archive, read_manifest};

/// The component's file name inside a version directory (and an archive).
pub const COMPONENT_FILE: &str = "component.wasm";
const RECORD_FILE: &str = "install.json";

/// What `install.json` records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallRecord {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub size: u64,
    /// Seconds since the Unix epoch.
    pub installed_at: u64,
    /// Where it was installed from, as given.
    pub source: String,
    /// `component.wasm` as written, so an unchanged file is trusted without
    /// rehashing it on every load.
    #[serde(default)]
    pub pin: Option<FilePin>,
}

/// One installed version of a module.
#[derive(Debug, Clone)]
pub struct Installed {
    pub name: String,
    pub version: semver::Version,
    pub dir: PathBuf,
    pub record: InstallRecord,
    /// `None`: a bare component, which asks for nothing in particular.
    pub manifest: Option<Manifest>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{}: {error}", .path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "installed module {name}@{version} is damaged: {reason}; reinstall it with `wfhost module install --force`"
    )]
    Damaged {
        name: String,
        version: String,
        reason: String,
    },
    #[error(
        "installed module {name}@{version} was modified after it was installed: its component has sha256 {actual}, \
         the install record says {expected}; it will not be run. Reinstall it from a source you trust \
         (`wfhost module install --force`) or remove it (`wfhost module remove {name}@{version}`)"
    )]
    Tampered {
        name: String,
        version: String,
        expected: String,
        actual: String,
    },
    #[error(
        "{name}@{version} is already installed with different content (sha256 {installed}, new {new}); \
         bump the version, or pass --force to replace it"
    )]
    Exists {
        name: String,
        version: String,
        installed: String,
        new: String,
    },
    #[error("no module `{0}` is installed")]
    NotInstalled(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |error| RegistryError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// The installed modules under one home.
#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
}

/// What an install did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installation {
    New,
    /// The same content was installed already: nothing changed.
    Unchanged,
    /// Different content replaced (with `--force`).
    Replaced,
}

impl Registry {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every installed version of every module, by name then version.
    pub fn list(&self) -> Result<Vec<Installed>, RegistryError> {
        let mut all = Vec::new();
        for name in self.names()? {
            all.extend(self.versions(&name)?);
        }
        Ok(all)
    }

    fn names(&self) -> Result<Vec<String>, RegistryError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io(&self.root)(error)),
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|entry| entry.path().is_dir())
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| manifest::is_module_name(name))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The installed versions of `name`, oldest first.
    pub fn versions(&self, name: &str) -> Result<Vec<Installed>, RegistryError> {
        if !manifest::is_module_name(name) {
            return Ok(Vec::new());
        }
        let dir = self.root.join(name);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io(&dir)(error)),
        };
        let mut versions = Vec::new();
        for entry in entries.filter_map(Result::ok) {
            let Some(version) = entry
                .file_name()
                .to_str()
                .and_then(|v| semver::Version::parse(v).ok())
            else {
                continue;
            };
            versions.push(self.read(name, version)?);
        }
        versions.sort_by(|a, b| a.version.cmp(&b.version));
        Ok(versions)
    }

    /// The highest installed version of `name` that `requirement` accepts.
    pub fn find(
        &self,
        name: &str,
        requirement: &semver::VersionReq,
    ) -> Result<Option<Installed>, RegistryError> {
        Ok(self
            .versions(name)?
            .into_iter()
            .rev()
            .find(|installed| requirement.matches(&installed.version)))
    }

    fn read(&self, name: &str, version: semver::Version) -> Result<Installed, RegistryError> {
        let dir = self.root.join(name).join(version.to_string());
        let damaged = |reason: String| RegistryError::Damaged {
            name: name.to_string(),
            version: version.to_string(),
            reason,
        };
        let record_path = dir.join(RECORD_FILE);
        let record = std::fs::read(&record_path)
            .map_err(|e| damaged(format!("cannot read {}: {e}", record_path.display())))?;
        let record: InstallRecord = serde_json::from_slice(&record)
            .map_err(|e| damaged(format!("{} is not valid: {e}", record_path.display())))?;
        if record.name != name || record.version != version.to_string() {
            return Err(damaged(format!(
                "{} names {}@{}",
                record_path.display(),
                record.name,
                record.version
            )));
        }
        let manifest_path = dir.join(manifest::FILE_NAME);
        let manifest = if manifest_path.exists() {
            let source = Source::read(&manifest_path, MAX_MANIFEST_BYTES)
                .map_err(|e| damaged(format!("cannot read {}: {e}", manifest_path.display())))?;
            Some(Manifest::parse(&source).map_err(|problems| damaged(source.render(&problems)))?)
        } else {
            None
        };
        Ok(Installed {
            name: name.to_string(),
            version,
            dir,
            record,
            manifest,
        })
    }

    /// The component bytes of `installed`, after checking them against the
    /// digest recorded at install time.
    pub fn component(&self, installed: &Installed) -> Result<Vec<u8>, RegistryError> {
        let path = installed.dir.join(COMPONENT_FILE);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let actual = Digest::of(&bytes).to_hex();
        if actual != installed.record.sha256 {
            return Err(RegistryError::Tampered {
                name: installed.name.clone(),
                version: installed.version.to_string(),
                expected: installed.record.sha256.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Check that `installed`'s component is as installed: by its pin when
    /// that holds (no read), else by reading and hashing it.
    pub fn check(&self, installed: &Installed) -> Result<(), RegistryError> {
        let path = installed.dir.join(COMPONENT_FILE);
        if installed.record.pin.is_some_and(|pin| pin.holds(&path)) {
            return Ok(());
        }
        self.component(installed).map(drop)
    }

    /// Load `installed` into `runtime`: its component checked against the
    /// install record, then its pinned precompiled artifact (or compiled
    /// from the checked bytes).
    pub fn load(&self, runtime: &Runtime, installed: &Installed) -> Result<Module, String> {
        self.check(installed).map_err(|e| e.to_string())?;
        let digest = Digest::from_hex(&installed.record.sha256).ok_or_else(|| {
            RegistryError::Damaged {
                name: installed.name.clone(),
                version: installed.version.to_string(),
                reason: "its install record holds no valid sha256".into(),
            }
            .to_string()
        })?;
        runtime
            .load_pinned(&installed.name, digest, &self.wit(installed), || {
                self.component(installed)
                    .map_err(|error| LoadError::Invalid {
                        name: installed.name.clone(),
                        reason: error.to_string(),
                    })
            })
            .map_err(|e| e.to_string())
    }

    /// The WIT sources installed with `installed` (for action docs).
    pub fn wit(&self, installed: &Installed) -> Vec<crate::sandbox::WitFile> {
        package::wit_in(&installed.dir)
    }

    /// Install `package`. The same content again changes nothing; different
    /// content under an installed version needs `force`. The version
    /// directory appears complete or not at all (written aside, renamed).
    pub fn install(
        &self,
        package: &Package,
        force: bool,
    ) -> Result<(Installed, Installation), RegistryError> {
        let sha256 = Digest::of(&package.component).to_hex();
        let version = package.version.to_string();
        let installation = match self
            .versions(&package.name)?
            .into_iter()
            .find(|i| i.version == package.version)
        {
            Some(existing) if existing.record.sha256 == sha256 && !force => {
                return Ok((existing, Installation::Unchanged));
            }
            Some(existing) if !force && existing.record.sha256 != sha256 => {
                return Err(RegistryError::Exists {
                    name: package.name.clone(),
                    version,
                    installed: existing.record.sha256,
                    new: sha256,
                });
            }
            Some(_) => Installation::Replaced,
            None => Installation::New,
        };
        let parent = self.root.join(&package.name);
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        let staging = tempfile::Builder::new()
            .prefix(".installing-")
            .tempdir_in(&parent)
            .map_err(io(&parent))?;
        let write = |file: &str, bytes: &[u8]| {
            let path = staging.path().join(file);
            std::fs::write(&path, bytes).map_err(io(&path))
        };
        write(COMPONENT_FILE, &package.component)?;
        // Renaming the staging directory later leaves the file's inode alone.
        let pin = FilePin::of(&staging.path().join(COMPONENT_FILE));
        if let Some(text) = &package.manifest_text {
            write(manifest::FILE_NAME, text.as_bytes())?;
        }
        for file in &package.wit {
            // Paths come from `wit_in` or an archive entry: relative, no `..`.
            let path = staging.path().join(&file.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            std::fs::write(&path, &file.text).map_err(io(&path))?;
        }
        let record = InstallRecord {
            name: package.name.clone(),
            version: version.clone(),
            sha256,
            size: package.component.len() as u64,
            installed_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            source: package.source.clone(),
            pin,
        };
        let record_json = serde_json::to_vec_pretty(&record).map_err(|e| io(&parent)(e.into()))?;
        write(RECORD_FILE, &record_json)?;
        let target = parent.join(&version);
        if installation == Installation::Replaced {
            let old = tempfile::Builder::new()
                .prefix(".replaced-")
                .tempdir_in(&parent)
                .map_err(io(&parent))?;
            std::fs::rename(&target, old.path().join("old")).map_err(io(&target))?;
        }
        std::fs::rename(staging.keep(), &target).map_err(io(&target))?;
        Ok((
            self.read(&package.name, package.version.clone())?,
            installation,
        ))
    }

    /// Remove one version, or every version of `name`; returns what was removed.
    pub fn remove(
        &self,
        name: &str,
        version: Option<&semver::Version>,
    ) -> Result<Vec<Installed>, RegistryError> {
        let removed: Vec<Installed> = self
            .versions(name)?
            .into_iter()
            .filter(|installed| version.is_none_or(|v| *v == installed.version))
            .collect();
        if removed.is_empty() {
            return Err(RegistryError::NotInstalled(match version {
                Some(version) => format!("{name}@{version}"),
                None => name.to_string(),
            }));
        }
        for installed in &removed {
            std::fs::remove_dir_all(&installed.dir).map_err(io(&installed.dir))?;
        }
        let parent = self.root.join(name);
        if self.versions(name)?.is_empty() {
            let _ = std::fs::remove_dir_all(&parent);
        }
        Ok(removed)
    }
}
