//! The workflows `wfhost serve` offers: every `*.yaml`, `*.yml` and
//! `*.json` file directly inside one folder, named by its file name without
//! the extension (`deploy.yaml` is `deploy`). Files are validated when they
//! appear or change; an invalid version is reported and the previous valid
//! one keeps serving. [`Library::reload`] looks again (the server calls it
//! every second): no restart is needed to add, change or remove a workflow.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::catalog::Catalog;
use crate::diagnostics::Source;
use crate::registry::Registry;
use crate::sandbox::{Digest, Runtime};
use crate::workflow::tree::MAX_FILE_BYTES;
use crate::workflow::{self, Plan};

/// One valid version of a workflow file, planned.
#[derive(Debug)]
pub struct Workflow {
    /// The file name without its extension.
    pub name: String,
    /// The file, absolute.
    pub path: PathBuf,
    pub text: String,
    /// sha256 of `text`, as runs record it.
    pub digest: String,
    pub plan: Arc<Plan>,
    /// (module, sha256) the plan uses: what a run is pinned to.
    pub modules: Vec<(String, String)>,
    /// Warnings of the validation, rendered.
    pub warnings: Option<String>,
    /// The sub-workflow files it runs, as they were when it was planned:
    /// a change to one reloads it.
    pub children: Vec<(PathBuf, Stamp)>,
}

/// A workflow file as the library knows it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub name: String,
    pub path: PathBuf,
    /// The newest valid version, serving.
    pub serving: Option<Arc<Workflow>>,
    /// Why the file as it is now is not served (rendered diagnostics), if it is not.
    pub problems: Option<String>,
    /// Webhook paths it declares that another workflow (first by name)
    /// serves instead.
    pub shadowed: Option<String>,
}

/// What a reload found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Loaded(String),
    /// The file is invalid now: its diagnostics, rendered; an earlier valid
    /// version (if any) keeps serving.
    Invalid(String, String),
    Removed(String),
    /// It declares a webhook path another workflow serves.
    Shadowed(String, String),
}

/// A webhook path declared by several workflows is served by the first
/// by name; the others are told so (and said in `changes` when that is new).
fn shadow_clashing_webhooks(
    files: &mut BTreeMap<String, (Listed, Stamp)>,
    changes: &mut Vec<Change>,
) {
    let mut owners: HashMap<String, String> = HashMap::new();
    for (name, (listed, _)) in files.iter_mut() {
        let mut clashes = Vec::new();
        for hook in listed.serving.iter().flat_map(|w| &w.plan.webhooks) {
            match owners.get(&hook.path) {
                Some(owner) => clashes.push(format!(
                    "webhook {} is served by workflow `{owner}`, which declares it too",
                    hook.path
                )),
                None => {
                    owners.insert(hook.path.clone(), name.clone());
                }
            }
        }
        let shadowed = (!clashes.is_empty()).then(|| clashes.join("; "));
        if shadowed.is_some() && shadowed != listed.shadowed {
            changes.push(Change::Shadowed(
                name.clone(),
                shadowed.clone().unwrap_or_default(),
            ));
        }
        listed.shadowed = shadowed;
    }
}

/// When a file was last seen as it is: its size and modification time.
pub type Stamp = (u64, Option<SystemTime>);

fn stamp_of(metadata: &std::fs::Metadata) -> Stamp {
    (metadata.len(), metadata.modified().ok())
}

fn file_stamp(path: &Path) -> Option<Stamp> {
    std::fs::metadata(path).ok().map(|m| stamp_of(&m))
}

/// The workflows of one folder.
#[derive(Debug)]
pub struct Library {
    dir: PathBuf,
    runtime: Runtime,
    registry: Registry,
    files: RwLock<BTreeMap<String, (Listed, Stamp)>>,
    /// One catalog for describing modules: each loaded once per process.
    modules: Catalog,
}

impl Library {
    /// A library of the workflows in `dir`, loading modules with `runtime`
    /// from `registry` (and the bundled ones). Call [`reload`](Self::reload)
    /// to read them.
    pub fn new(dir: &Path, runtime: Runtime, registry: Registry) -> std::io::Result<Self> {
        Ok(Self {
            dir: std::path::absolute(dir)?,
            ..Self::for_recorded_runs(runtime, registry)
        })
    }

    /// A library serving no folder: it plans the workflow text runs
    /// recorded (`wfhost worker`). Never [`reload`](Self::reload) it.
    pub fn for_recorded_runs(runtime: Runtime, registry: Registry) -> Self {
        Self {
            dir: PathBuf::new(),
            modules: Catalog::new(runtime.clone()).with_registry(registry.clone()),
            runtime,
            registry,
            files: RwLock::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The serving version of workflow `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Workflow>> {
        self.read()
            .get(name)
            .and_then(|(listed, _)| listed.serving.clone())
    }

    /// The serving workflow with a webhook at `path`, and the webhook's
    /// index in its plan (the first by workflow name when several claim it).
    pub fn webhook(&self, path: &str) -> Option<(Arc<Workflow>, usize)> {
        self.read().values().find_map(|(listed, _)| {
            let workflow = listed.serving.as_ref()?;
            let index = workflow.plan.webhooks.iter().position(|w| w.path == path)?;
            Some((Arc::clone(workflow), index))
        })
    }

    /// Every workflow file, by name.
    pub fn list(&self) -> Vec<Listed> {
        self.read()
            .values()
            .map(|(listed, _)| listed.clone())
            .collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, (Listed, Stamp)>> {
        self.files
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Look at the folder again: read new and changed files, forget
    /// removed ones. Blocking (it may compile modules): call it off the
    /// async executor.
    pub fn reload(&self) -> std::io::Result<Vec<Change>> {
        let found = self.scan()?;
        let known: HashMap<String, Stamp> = self
            .read()
            .iter()
            .map(|(name, (_, stamp))| (name.clone(), *stamp))
            .collect();
        let mut changes = Vec::new();
        let mut updated = Vec::new();
        for (name, (path, stamp)) in &found {
            if known.get(name) == Some(stamp) && !self.children_changed(name) {
                continue;
            }
            let previous = self.read().get(name).and_then(|(l, _)| l.serving.clone());
            let listed = match self.load(name, path) {
                Ok(workflow) => {
                    changes.push(Change::Loaded(name.clone()));
                    Listed {
                        name: name.clone(),
                        path: path.clone(),
                        serving: Some(Arc::new(workflow)),
                        problems: None,
                        shadowed: None,
                    }
                }
                Err(problems) => {
                    changes.push(Change::Invalid(name.clone(), problems.clone()));
                    Listed {
                        name: name.clone(),
                        path: path.clone(),
                        serving: previous,
                        problems: Some(problems),
                        shadowed: None,
                    }
                }
            };
            updated.push((name.clone(), (listed, *stamp)));
        }
        let mut files = self
            .files
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        files.retain(|name, _| {
            let kept = found.contains_key(name);
            if !kept {
                changes.push(Change::Removed(name.clone()));
            }
            kept
        });
        files.extend(updated);
        shadow_clashing_webhooks(&mut files, &mut changes);
        Ok(changes)
    }

    /// Whether a sub-workflow file that workflow `name` runs changed since
    /// it was planned.
    fn children_changed(&self, name: &str) -> bool {
        let serving = self.read().get(name).and_then(|(l, _)| l.serving.clone());
        serving.is_some_and(|workflow| {
            workflow
                .children
                .iter()
                .any(|(path, stamp)| file_stamp(path).as_ref() != Some(stamp))
        })
    }

    /// The workflow files directly inside the folder, by name, with their stamps.
    fn scan(&self) -> std::io::Result<BTreeMap<String, (PathBuf, Stamp)>> {
        let mut found = BTreeMap::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let path = entry.path();
            let workflow_file = matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            );
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            if !workflow_file || !metadata.is_file() || name.starts_with('.') {
                continue;
            }
            let stamp = stamp_of(&metadata);
            // Two files with one name (`a.yaml`, `a.json`): the first in
            // name order serves, the other is reported by `load` as a clash.
            found.entry(name.to_string()).or_insert((path, stamp));
        }
        Ok(found)
    }

    /// Plan the workflow in `source` with this library's modules (and the
    /// lockfile beside it); its diagnostics rendered when it is invalid.
    pub fn plan_source(&self, source: &Source) -> Result<Plan, String> {
        self.check(source).map(|(plan, _warnings)| plan)
    }

    /// A catalog of the bundled and installed modules, shared: a module
    /// it loaded once is not loaded again.
    pub fn modules(&self) -> &Catalog {
        &self.modules
    }

    /// The registry of installed modules.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    fn check(&self, source: &Source) -> Result<(Plan, Option<String>), String> {
        let catalog = Catalog::new(self.runtime.clone())
            .with_registry(self.registry.clone())
            .locked_for(&source.path)?;
        let checked = workflow::check(source, &catalog);
        let rendered = (checked.diagnostics.iter().next().is_some())
            .then(|| source.render(&checked.diagnostics));
        match checked.plan {
            Some(plan) => Ok((plan, rendered)),
            None => Err(rendered.unwrap_or_default()),
        }
    }

    /// Read, validate and plan one file; its diagnostics rendered when invalid.
    fn load(&self, name: &str, path: &Path) -> Result<Workflow, String> {
        let source = Source::read(path, MAX_FILE_BYTES)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let (plan, rendered) = self.check(&source)?;
        Ok(Workflow {
            name: name.to_string(),
            path: path.to_path_buf(),
            digest: Digest::of(source.text.as_bytes()).to_hex(),
            modules: plan.module_digests(),
            children: plan
                .child_files()
                .into_iter()
                .filter_map(|file| Some((file_stamp(&file)?, file)))
                .map(|(stamp, file)| (file, stamp))
                .collect(),
            plan: Arc::new(plan),
            text: source.text,
            warnings: rendered,
        })
    }
}
