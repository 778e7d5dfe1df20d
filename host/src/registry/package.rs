//! What `wfhost module install` takes: a component file, a directory with a
//! `wfmodule.toml`, or a `.tar.gz` made by `wfhost module pack`.

use std::path::{Path, PathBuf};

use super::COMPONENT_FILE;
use super::archive::{self, ArchiveError, ArchiveLimits};
use crate::diagnostics::Source;
use crate::manifest::{self, MAX_MANIFEST_BYTES, Manifest};
use crate::module_source;
use crate::sandbox::WitFile;

/// A module ready to install: its identity, component bytes and manifest.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: semver::Version,
    pub component: Vec<u8>,
    pub manifest: Option<Manifest>,
    /// The manifest's text, kept as the author wrote it.
    pub manifest_text: Option<String>,
    /// Where it came from, for the install record.
    pub source: String,
    /// Its WIT sources (`wit/…`, dependencies first), for action docs.
    pub wit: Vec<WitFile>,
}

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{}: {error}", .path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{0}")]
    Source(#[from] module_source::ModuleSourceError),
    /// Rendered diagnostics of an invalid manifest.
    #[error("invalid manifest:\n{0}")]
    Manifest(String),
    #[error("{}: no {} here; install a component file directly, or create a module with `wfhost module new`", .0.display(), manifest::FILE_NAME)]
    NoManifest(PathBuf),
    #[error("the component {} does not exist; build it first with `wfhost module build {}`", .component.display(), .dir.display())]
    NotBuilt { dir: PathBuf, component: PathBuf },
    #[error("{path}: {error}")]
    Archive { path: String, error: ArchiveError },
    #[error("{path}: the archive has no `{missing}`; make archives with `wfhost module pack`")]
    Incomplete { path: String, missing: &'static str },
    #[error("`{0}` is not a module name: use lowercase letters, digits and `-` (pass --name)")]
    BadName(String),
    #[error("`{0}` is not a semantic version such as 1.0.0")]
    BadVersion(String),
    #[error("--{flag} applies to bare components; this module's wfmodule.toml sets it")]
    Overridden { flag: &'static str },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PackageError + '_ {
    move |error| PackageError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Whether `path` names a module archive.
pub fn is_archive(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

impl Package {
    /// Read what `path` names. `name` and `version` apply to a bare component
    /// (default: the file's stem and 0.0.0).
    pub fn from_path(
        path: &Path,
        name: Option<&str>,
        version: Option<&str>,
    ) -> Result<Self, PackageError> {
        if path.is_dir() {
            refuse_overrides(name, version)?;
            return Self::from_dir(path);
        }
        if is_archive(path) {
            refuse_overrides(name, version)?;
            let bytes = std::fs::read(path).map_err(io(path))?;
            return Self::from_archive(&path.display().to_string(), &bytes);
        }
        let source = module_source::from_file(path)?;
        let name = name.map_or(source.name, str::to_string);
        if !manifest::is_module_name(&name) {
            return Err(PackageError::BadName(name));
        }
        let version = version.unwrap_or("0.0.0");
        let version = semver::Version::parse(version)
            .map_err(|_| PackageError::BadVersion(version.into()))?;
        Ok(Self {
            name,
            version,
            component: source.bytes.into_owned(),
            manifest: None,
            manifest_text: None,
            source: path.display().to_string(),
            wit: Vec::new(),
        })
    }

    /// A directory with a manifest and its built component.
    pub fn from_dir(dir: &Path) -> Result<Self, PackageError> {
        let (manifest, text) = read_manifest(dir)?;
        let component_path = dir.join(&manifest.component);
        if !component_path.exists() {
            return Err(PackageError::NotBuilt {
                dir: dir.to_path_buf(),
                component: component_path,
            });
        }
        let component = module_source::from_file(&component_path)?
            .bytes
            .into_owned();
        Ok(Self {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            component,
            manifest: Some(manifest),
            manifest_text: Some(text),
            source: dir.display().to_string(),
            wit: wit_in(dir),
        })
    }

    /// An archive made by [`Package::pack`].
    pub fn from_archive(shown: &str, bytes: &[u8]) -> Result<Self, PackageError> {
        let mut files = archive::unpack(bytes, ArchiveLimits::default()).map_err(|error| {
            PackageError::Archive {
                path: shown.to_string(),
                error,
            }
        })?;
        let incomplete = |missing| PackageError::Incomplete {
            path: shown.to_string(),
            missing,
        };
        let text = files
            .remove(manifest::FILE_NAME)
            .ok_or_else(|| incomplete(manifest::FILE_NAME))?;
        let component = files
            .remove(COMPONENT_FILE)
            .ok_or_else(|| incomplete(COMPONENT_FILE))?;
        let wit = in_dependency_order(
            files
                .iter()
                .filter(|(path, _)| path.starts_with("wit/") && path.ends_with(".wit"))
                .filter_map(|(path, bytes)| {
                    let text = String::from_utf8(bytes.clone()).ok()?;
                    Some(WitFile {
                        path: path.clone(),
                        text,
                    })
                })
                .collect(),
        );
        let text = String::from_utf8(text).map_err(|_| {
            PackageError::Manifest(format!("{shown}: {} is not UTF-8", manifest::FILE_NAME))
        })?;
        let source = Source::new(format!("{shown}/{}", manifest::FILE_NAME), text);
        let manifest = Manifest::parse(&source)
            .map_err(|problems| PackageError::Manifest(source.render(&problems)))?;
        Ok(Self {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            component,
            manifest: Some(manifest),
            manifest_text: Some(source.text),
            source: shown.to_string(),
            wit,
        })
    }

    /// Pack a module directory: `(file name, .tar.gz bytes)` holding its
    /// manifest, its component as `component.wasm`, and its README.
    pub fn pack(dir: &Path) -> Result<(String, Vec<u8>), PackageError> {
        let package = Self::from_dir(dir)?;
        let text = package.manifest_text.as_deref().unwrap_or_default();
        let mut files: Vec<(&str, &[u8])> = vec![
            (manifest::FILE_NAME, text.as_bytes()),
            (COMPONENT_FILE, &package.component),
        ];
        for file in &package.wit {
            files.push((file.path.as_str(), file.text.as_bytes()));
        }
        let readme_path = dir.join("README.md");
        let readme = std::fs::read(&readme_path).ok();
        if let Some(readme) = &readme {
            files.push(("README.md", readme));
        }
        let bytes = archive::pack(&files).map_err(io(dir))?;
        Ok((
            format!("{}-{}.tar.gz", package.name, package.version),
            bytes,
        ))
    }
}

/// The manifest in `dir`, checked, with its text.
pub fn read_manifest(dir: &Path) -> Result<(Manifest, String), PackageError> {
    let path = dir.join(manifest::FILE_NAME);
    if !path.exists() {
        return Err(PackageError::NoManifest(dir.to_path_buf()));
    }
    let source = Source::read(&path, MAX_MANIFEST_BYTES).map_err(io(&path))?;
    let manifest = Manifest::parse(&source)
        .map_err(|problems| PackageError::Manifest(source.render(&problems)))?;
    Ok((manifest, source.text))
}

fn refuse_overrides(name: Option<&str>, version: Option<&str>) -> Result<(), PackageError> {
    if name.is_some() {
        return Err(PackageError::Overridden { flag: "name" });
    }
    if version.is_some() {
        return Err(PackageError::Overridden { flag: "version" });
    }
    Ok(())
}

/// The `.wit` files under `dir/wit`, as `wit/…` paths, dependencies first.
pub(super) fn wit_in(dir: &Path) -> Vec<WitFile> {
    let mut found = Vec::new();
    let mut pending = vec![dir.join("wit")];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file()
                && path.extension().is_some_and(|ext| ext == "wit")
                && let (Ok(text), Ok(relative)) =
                    (std::fs::read_to_string(&path), path.strip_prefix(dir))
            {
                let relative = relative
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                found.push(WitFile {
                    path: relative,
                    text,
                });
            }
        }
    }
    in_dependency_order(found)
}

/// WIT files with `wit/deps/…` first (they define what the module's own
/// files use), each group by path.
pub fn in_dependency_order(mut files: Vec<WitFile>) -> Vec<WitFile> {
    files.sort_by(|a, b| {
        let key = |f: &WitFile| (!f.path.starts_with("wit/deps/"), f.path.clone());
        key(a).cmp(&key(b))
    });
    files
}
