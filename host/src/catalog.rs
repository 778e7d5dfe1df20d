//! Resolving module references to loaded modules, each once per process.
//!
//! A reference is a path (`./probe.wasm`, relative to the workflow), or a
//! name with an optional version: `greeter`, `greeter@1.2.3` (exactly),
//! `greeter@^1` (a semver range). Names resolve among installed modules
//! (the highest matching version) and then bundled ones; an installed module
//! shadows a bundled one of the same name, with a warning. With a lockfile,
//! each reference loads exactly the locked version and digest.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::bundled;
use crate::lock::{LockedModule, Lockfile, ModuleOrigin};
use crate::manifest::Manifest;
use crate::module_source;
use crate::registry::Registry;
use crate::sandbox::{Module, Runtime};

/// A resolved, loaded module and what is known about it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub module: Arc<Module>,
    /// Its manifest; `None` for a bare component (it gets what is granted).
    pub manifest: Option<Arc<Manifest>>,
    pub origin: ModuleOrigin,
    /// Its version, when it has one (installed or bundled).
    pub version: Option<semver::Version>,
    /// Something the user should know, such as an installed module
    /// shadowing a bundled one.
    pub warning: Option<String>,
}

impl Entry {
    /// The lockfile line for this entry, under `reference`.
    pub fn locked(&self, reference: &str) -> LockedModule {
        LockedModule {
            reference: reference.to_string(),
            name: self.module.name().to_string(),
            version: self.version.as_ref().map(ToString::to_string),
            origin: self.origin,
            sha256: self.module.digest().to_hex(),
        }
    }
}

/// Resolves module references and loads each once.
#[derive(Debug)]
pub struct Catalog {
    runtime: Runtime,
    registry: Option<Registry>,
    lock: Option<(PathBuf, Lockfile)>,
    loaded: Mutex<Loaded>,
}

/// Entries by (reference, base directory): loaded, or why not.
type Loaded = HashMap<(String, PathBuf), Result<Entry, String>>;

/// A module that can be named in a workflow: installed or bundled.
#[derive(Debug, Clone)]
pub struct Available {
    pub name: String,
    pub version: String,
    pub origin: ModuleOrigin,
    pub sha256: String,
    pub size: u64,
    pub description: String,
}

/// Every installed module (each version) and every bundled one.
pub fn available(registry: &Registry) -> Result<Vec<Available>, String> {
    let mut modules: Vec<Available> = registry
        .list()
        .map_err(|error| error.to_string())?
        .into_iter()
        .map(|installed| Available {
            description: installed
                .manifest
                .map(|m| m.description)
                .unwrap_or_default(),
            name: installed.name,
            version: installed.version.to_string(),
            origin: ModuleOrigin::Installed,
            sha256: installed.record.sha256,
            size: installed.record.size,
        })
        .collect();
    for name in bundled::names() {
        let module = bundled::find(name).expect("listed modules exist");
        let description = crate::manifest::bundled(name)?
            .map(|m| m.description)
            .unwrap_or_default();
        modules.push(Available {
            name: name.to_string(),
            version: BUNDLED_VERSION.to_string(),
            origin: ModuleOrigin::Bundled,
            sha256: crate::sandbox::Digest::of(module.component).to_hex(),
            size: module.component.len() as u64,
            description,
        });
    }
    Ok(modules)
}

/// The version bundled modules carry: the host's.
pub const BUNDLED_VERSION: &str = env!("CARGO_PKG_VERSION");

impl Catalog {
    /// A catalog of bundled modules and component files.
    pub fn new(runtime: Runtime) -> Self {
        Self {
            runtime,
            registry: None,
            lock: None,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// Also resolve names among the modules installed in `registry`.
    pub fn with_registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Load exactly what the lockfile at `path` pins.
    pub fn with_lock(mut self, path: PathBuf, lock: Lockfile) -> Self {
        self.lock = Some((path, lock));
        self
    }

    /// This catalog loading exactly what the lockfile beside `workflow`
    /// (`FILE.lock`) pins, when there is one.
    pub fn locked_for(self, workflow: &Path) -> Result<Self, String> {
        let path = Lockfile::path_for(workflow);
        Ok(match Lockfile::read(&path)? {
            Some(lock) => self.with_lock(path, lock),
            None => self,
        })
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Every reference loaded so far, with its entry, sorted by reference.
    pub fn loaded(&self) -> Vec<(String, Entry)> {
        let mut loaded: Vec<(String, Entry)> = self
            .lock()
            .iter()
            .filter_map(|((reference, _), entry)| {
                entry.as_ref().ok().map(|e| (reference.clone(), e.clone()))
            })
            .collect();
        loaded.sort_by(|a, b| a.0.cmp(&b.0));
        loaded.dedup_by(|a, b| a.0 == b.0);
        loaded
    }

    /// Load `reference`: a path resolved against `base` (the workflow's
    /// directory), or a module name with an optional `@version`.
    pub fn load(&self, reference: &str, base: &Path) -> Result<Entry, String> {
        let key = (reference.to_string(), base.to_path_buf());
        if let Some(found) = self.lock().get(&key) {
            return found.clone();
        }
        let loaded = self.load_uncached(reference, base);
        self.lock().insert(key, loaded.clone());
        loaded
    }

    fn load_uncached(&self, reference: &str, base: &Path) -> Result<Entry, String> {
        let pinned = match &self.lock {
            Some((path, lock)) => Some(lock.find(reference).ok_or_else(|| {
                format!(
                    "`{reference}` is not in the lockfile {}; run `wfhost lock` on the workflow to add it",
                    path.display()
                )
            })?),
            None => None,
        };
        let entry = if module_source::is_path(reference) {
            self.load_file(reference, base)?
        } else {
            let (name, requirement) = parse_reference(reference)?;
            let requirement = match pinned.and_then(|p| p.version.as_deref()) {
                Some(version) => exactly(version)?,
                None => requirement,
            };
            let only = pinned.map(|p| p.origin);
            self.load_named(name, &requirement, only)?
        };
        if let (Some(pinned), Some((path, _))) = (pinned, &self.lock) {
            let actual = entry.module.digest().to_hex();
            if actual != pinned.sha256 {
                return Err(format!(
                    "`{reference}` resolves to content with sha256 {actual}, but the lockfile {} pins {}; \
                     restore the pinned module, or run `wfhost lock` to accept the change",
                    path.display(),
                    pinned.sha256
                ));
            }
        }
        Ok(entry)
    }

    fn load_file(&self, reference: &str, base: &Path) -> Result<Entry, String> {
        let source = module_source::resolve(reference, base).map_err(|e| e.to_string())?;
        let module = self
            .runtime
            .load(&source.name, &source.bytes, &source.wit)
            .map_err(|e| e.to_string())?;
        Ok(Entry {
            module: Arc::new(module),
            manifest: None,
            origin: ModuleOrigin::File,
            version: None,
            warning: None,
        })
    }

    fn load_named(
        &self,
        name: &str,
        requirement: &semver::VersionReq,
        only: Option<ModuleOrigin>,
    ) -> Result<Entry, String> {
        let bundled_version =
            semver::Version::parse(BUNDLED_VERSION).expect("the host's version is semver");
        let bundled = bundled::find(name)
            .filter(|_| requirement.matches(&bundled_version))
            .filter(|_| only.is_none_or(|o| o == ModuleOrigin::Bundled));
        let installed = match (&self.registry, only) {
            (Some(registry), None | Some(ModuleOrigin::Installed)) => registry
                .find(name, requirement)
                .map_err(|e| e.to_string())?,
            _ => None,
        };
        if let Some(installed) = installed {
            let registry = self.registry.as_ref().expect("found in the registry");
            let module = registry.load(&self.runtime, &installed)?;
            return Ok(Entry {
                module: Arc::new(module),
                manifest: installed.manifest.map(Arc::new),
                origin: ModuleOrigin::Installed,
                warning: bundled.map(|_| {
                    format!(
                        "the installed module {name}@{} shadows the bundled `{name}`",
                        installed.version
                    )
                }),
                version: Some(installed.version),
            });
        }
        if bundled.is_some() {
            let source = module_source::resolve(name, Path::new(".")).map_err(|e| e.to_string())?;
            let module = self
                .runtime
                .load(name, &source.bytes, &source.wit)
                .map_err(|e| e.to_string())?;
            let manifest = crate::manifest::bundled(name)?;
            return Ok(Entry {
                module: Arc::new(module),
                manifest: manifest.map(Arc::new),
                origin: ModuleOrigin::Bundled,
                version: Some(bundled_version),
                warning: None,
            });
        }
        Err(self.not_found(name, requirement))
    }

    fn not_found(&self, name: &str, requirement: &semver::VersionReq) -> String {
        let installed: Vec<String> = self
            .registry
            .as_ref()
            .and_then(|registry| registry.versions(name).ok())
            .unwrap_or_default()
            .iter()
            .map(|i| i.version.to_string())
            .collect();
        if !installed.is_empty() || bundled::find(name).is_some() {
            let mut versions = installed;
            if bundled::find(name).is_some() {
                versions.push(format!("{BUNDLED_VERSION} (bundled)"));
            }
            return format!(
                "no version of `{name}` matches `{requirement}`; available: {}",
                versions.join(", ")
            );
        }
        let mut names: Vec<String> = bundled::names().map(str::to_string).collect();
        if let Some(registry) = &self.registry
            && let Ok(all) = registry.list()
        {
            names.extend(all.into_iter().map(|i| i.name));
        }
        names.sort();
        names.dedup();
        match crate::suggest::closest(name, names.iter().map(String::as_str)) {
            Some(close) => format!("no module named `{name}`; did you mean `{close}`?"),
            None => format!(
                "no module named `{name}`; modules: {}. Install one with `wfhost module install`, \
                 or give a component's path (./{name}.wasm)",
                names.join(", ")
            ),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `name[@version-or-range]` split into the name and what versions it accepts.
pub fn parse_reference(reference: &str) -> Result<(&str, semver::VersionReq), String> {
    let Some((name, version)) = reference.split_once('@') else {
        return Ok((reference, semver::VersionReq::STAR));
    };
    let requirement = if semver::Version::parse(version).is_ok() {
        exactly(version)?
    } else {
        semver::VersionReq::parse(version).map_err(|error| {
            format!("`{version}` in `{reference}` is neither a version nor a range ({error}); write `{name}@1.2.3` or `{name}@^1`")
        })?
    };
    Ok((name, requirement))
}

fn exactly(version: &str) -> Result<semver::VersionReq, String> {
    semver::VersionReq::parse(&format!("={version}")).map_err(|e| format!("`{version}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bundled module's manifest names it and carries the host's version.
    #[test]
    fn bundled_manifests_match_their_modules() {
        for name in bundled::names() {
            let manifest = crate::manifest::bundled(name)
                .unwrap_or_else(|problems| panic!("{problems}"))
                .unwrap_or_else(|| panic!("bundled module `{name}` has no wfmodule.toml"));
            assert_eq!(manifest.name, name);
            assert_eq!(manifest.version.to_string(), BUNDLED_VERSION, "{name}");
        }
    }

    #[test]
    fn references() {
        let exact = parse_reference("greeter@1.2.3").expect("exact");
        assert!(exact.1.matches(&semver::Version::new(1, 2, 3)));
        assert!(
            !exact.1.matches(&semver::Version::new(1, 2, 4)),
            "1.2.3 means exactly 1.2.3"
        );
        let range = parse_reference("greeter@^1").expect("range");
        assert!(range.1.matches(&semver::Version::new(1, 9, 0)));
        assert!(parse_reference("greeter@latest").is_err());
        assert_eq!(
            parse_reference("greeter").expect("any").1,
            semver::VersionReq::STAR
        );
    }
}
