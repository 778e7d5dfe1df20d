//! The precompiled-artifact cache.
//!
//! Compiling a component takes from milliseconds (Rust) to seconds (Python);
//! loading a precompiled artifact takes about a millisecond. Artifacts live in
//! `<home>/cache/components/<engine>/<component-sha256>.cwasm`, where `<engine>`
//! is wasmtime's compatibility hash for this engine's configuration.
//!
//! Loading an artifact runs the machine code inside it, so a tampered artifact
//! is arbitrary code. Beside each artifact a record names the component's
//! digest, the artifact's own sha256, the artifact's [`FilePin`] taken when it
//! was written, and the component's reflected signatures and docs. A load
//! whose pin still holds maps the artifact without reading the component or
//! rehashing the artifact (a 37 MiB Python artifact: milliseconds instead of
//! ~90 ms); otherwise the artifact is deserialised only from bytes whose
//! digest matches the record. Anything that does not check out — missing,
//! corrupt, tampered, from another engine — is compiled afresh from the
//! component and rewritten, never loaded and never a crash.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::digest::Digest;
use super::pin::FilePin;
use super::reflect::{Described, DescribedFunction, described_from_list, described_to_list};

/// Where a loaded component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheOutcome {
    /// A verified precompiled artifact was loaded.
    Hit,
    /// No artifact existed; compiled and stored.
    Compiled,
    /// An artifact existed but failed verification; compiled afresh and replaced.
    Replaced,
    /// No cache directory in use; compiled in memory.
    Uncached,
}

#[derive(Debug, Serialize, Deserialize)]
struct ArtifactRecord {
    component_sha256: String,
    artifact_sha256: String,
    /// The artifact file as written; `None` where pins are unavailable.
    #[serde(default)]
    pin: Option<FilePin>,
    /// The component's signatures and docs, so a pinned load needs neither
    /// the component's bytes nor its WIT.
    #[serde(default)]
    described: Option<Vec<DescribedFunction>>,
    /// Which [`DESCRIBED_FORMAT`] `described` was written in.
    #[serde(default)]
    described_format: u32,
}

/// What a record's `described` holds; a record of another format is
/// described again (once) when it is loaded.
const DESCRIBED_FORMAT: u32 = 2;

impl ArtifactRecord {
    /// The stored descriptions, when they are of the current format.
    fn current_described(&mut self) -> Option<Vec<DescribedFunction>> {
        self.described
            .take()
            .filter(|_| self.described_format == DESCRIBED_FORMAT)
    }
}

/// The cache for one engine configuration.
#[derive(Debug, Clone)]
pub(crate) struct ArtifactCache {
    dir: Option<PathBuf>,
}

impl ArtifactCache {
    /// A cache under `root` (usually `<home>/cache/components`), or none.
    pub(crate) fn new(root: Option<&Path>, engine: &Engine) -> Self {
        let dir = root.map(|root| {
            let mut hasher = DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut hasher);
            root.join(format!("{:016x}", hasher.finish()))
        });
        Self { dir }
    }

    /// The path of the artifact for a component, if caching is on.
    pub(crate) fn artifact_path(&self, component: Digest) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|dir| dir.join(format!("{}.cwasm", component.to_hex())))
    }

    fn record_path(&self, component: Digest) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|dir| dir.join(format!("{}.json", component.to_hex())))
    }

    /// The component with digest `digest` from its artifact, when the
    /// artifact's pin still holds (before and after mapping it), with its
    /// recorded signatures and docs. `None`: load it the checked way.
    pub(crate) fn load_pinned(
        &self,
        engine: &Engine,
        digest: Digest,
    ) -> Option<(Component, Described)> {
        let artifact_path = self.artifact_path(digest)?;
        let mut record = read_record(&self.record_path(digest)?).ok()?;
        let described = record.current_described()?;
        let pin = record.pin?;
        if record.component_sha256 != digest.to_hex() || !pin.holds(&artifact_path) {
            return None;
        }
        let component = deserialize_pinned(engine, &artifact_path).ok()?;
        // A file swapped in while it was mapped changes the pin.
        pin.holds(&artifact_path)
            .then(|| (component, described_from_list(described)))
    }

    /// Load the component with digest `digest`, from a verified artifact when
    /// there is one, otherwise by compiling `bytes` (and storing the artifact).
    /// `describe` reflects the component's signatures and docs when the
    /// record does not hold them yet.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: Digest,
        describe: impl FnOnce() -> Described,
    ) -> wasmtime::Result<(Component, CacheOutcome, Described)> {
        let (Some(artifact_path), Some(record_path)) =
            (self.artifact_path(digest), self.record_path(digest))
        else {
            return Ok((
                Component::new(engine, bytes)?,
                CacheOutcome::Uncached,
                describe(),
            ));
        };
        let existed = artifact_path.exists() || record_path.exists();
        if existed {
            match verified_artifact(&artifact_path, &record_path, digest) {
                Ok((artifact, mut record)) => match deserialize(engine, &artifact) {
                    Ok(component) => {
                        let described = match record.current_described() {
                            Some(list) => described_from_list(list),
                            None => describe(),
                        };
                        // Verified by its hash: pin it so the next load is quick.
                        let record = ArtifactRecord {
                            pin: FilePin::of(&artifact_path),
                            described: Some(described_to_list(&described)),
                            described_format: DESCRIBED_FORMAT,
                            ..record
                        };
                        if let Err(error) = write_record(&record_path, &record) {
                            tracing::warn!(path = %record_path.display(), %error, "could not update the artifact record");
                        }
                        return Ok((component, CacheOutcome::Hit, described));
                    }
                    Err(error) => tracing::warn!(
                        path = %artifact_path.display(),
                        error = %format!("{error:#}"),
                        "cached artifact does not load; recompiling"
                    ),
                },
                Err(reason) => tracing::warn!(
                    path = %artifact_path.display(),
                    %reason,
                    "refusing cached artifact; recompiling"
                ),
            }
        }
        let artifact = engine.precompile_component(bytes)?;
        // The artifact we just compiled is trusted; load it from memory.
        let component = deserialize(engine, &artifact)?;
        let described = describe();
        if let Err(error) = store(&artifact_path, &record_path, digest, &artifact, &described) {
            tracing::warn!(path = %artifact_path.display(), %error, "could not write the artifact cache; continuing without it");
        }
        let outcome = if existed {
            CacheOutcome::Replaced
        } else {
            CacheOutcome::Compiled
        };
        Ok((component, outcome, described))
    }
}

fn read_record(record_path: &Path) -> Result<ArtifactRecord, String> {
    let record = std::fs::read(record_path).map_err(|e| format!("cannot read its record: {e}"))?;
    serde_json::from_slice(&record).map_err(|e| format!("its record is corrupt: {e}"))
}

/// Read the artifact and check it against its record. Returns the bytes that
/// were verified, so nothing can change between the check and the load.
fn verified_artifact(
    artifact_path: &Path,
    record_path: &Path,
    digest: Digest,
) -> Result<(Vec<u8>, ArtifactRecord), String> {
    let record = read_record(record_path)?;
    if record.component_sha256 != digest.to_hex() {
        return Err("its record names a different component".into());
    }
    let artifact = std::fs::read(artifact_path).map_err(|e| format!("cannot read it: {e}"))?;
    let actual = Digest::of(&artifact).to_hex();
    if actual != record.artifact_sha256 {
        return Err(format!(
            "its sha256 {actual} does not match the recorded {}; it was modified after it was written",
            record.artifact_sha256
        ));
    }
    Ok((artifact, record))
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `artifact` is either bytes this process just produced with
    // `Engine::precompile_component`, or bytes whose sha256 matches the record
    // written when this host produced them (see `verified_artifact`). wasmtime
    // itself checks the header and the engine compatibility of the bytes.
    unsafe { Component::deserialize(engine, artifact) }
}

#[allow(unsafe_code)]
fn deserialize_pinned(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file at `path` has the pin recorded right after this host
    // wrote it with `Engine::precompile_component` and hashed it: it has not
    // been written to, renamed or replaced since (the caller checks the pin
    // again after mapping, so a swap during the mapping is refused too).
    // wasmtime itself checks the header and the engine compatibility.
    unsafe { Component::deserialize_file(engine, path) }
}

/// Write artifact then record, each atomically (temporary file + rename), so
/// a crash leaves either nothing or a complete, verifiable entry.
fn store(
    artifact_path: &Path,
    record_path: &Path,
    digest: Digest,
    artifact: &[u8],
    described: &Described,
) -> std::io::Result<()> {
    let dir = artifact_path
        .parent()
        .expect("artifact paths have a parent");
    std::fs::create_dir_all(dir)?;
    write_atomically(dir, artifact_path, artifact)?;
    let record = ArtifactRecord {
        component_sha256: digest.to_hex(),
        artifact_sha256: Digest::of(artifact).to_hex(),
        pin: FilePin::of(artifact_path),
        described: Some(described_to_list(described)),
        described_format: DESCRIBED_FORMAT,
    };
    write_record(record_path, &record)
}

fn write_record(record_path: &Path, record: &ArtifactRecord) -> std::io::Result<()> {
    let dir = record_path.parent().expect("record paths have a parent");
    let record = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
    write_atomically(dir, record_path, &record)
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
