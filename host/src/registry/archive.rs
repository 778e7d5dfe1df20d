//! Module archives (`.tar.gz`) read safely into memory.
//!
//! Nothing from an archive touches the filesystem: entries are read into
//! memory under limits, and anything an honest `wfhost module pack` never
//! writes is refused: paths with `..` or a root, links, devices, the same
//! path twice, more entries or more bytes than a module needs.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path};
use std::rc::Rc;

/// How much an archive may hold once decompressed.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveLimits {
    pub max_entries: usize,
    pub max_bytes: u64,
}

impl Default for ArchiveLimits {
    /// Room for an 18 MB Python component several times over.
    fn default() -> Self {
        Self {
            max_entries: 256,
            max_bytes: 256 << 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the archive is not a readable .tar.gz: {0}")]
    Corrupt(String),
    #[error("the archive entry `{0}` would be written outside the module (absolute or `..`)")]
    Escapes(String),
    #[error("the archive entry `{0}` is a link; module archives hold plain files only")]
    Link(String),
    #[error("the archive entry `{path}` is a {kind}; module archives hold plain files only")]
    Unsupported { path: String, kind: String },
    #[error("the archive holds `{0}` twice")]
    Duplicate(String),
    #[error("the archive has more than {0} entries")]
    TooManyEntries(usize),
    #[error("the archive unpacks to more than {0} bytes")]
    TooLarge(u64),
}

/// The regular files of a `.tar.gz`, by normalised relative path.
pub fn unpack(
    bytes: &[u8],
    limits: ArchiveLimits,
) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
    let decoder = flate2::read::GzDecoder::new(bytes);
    // The limit applies to the decompressed stream itself (headers and
    // data), whatever the headers claim: a gzip bomb stops at the limit.
    let exceeded = Rc::new(Cell::new(false));
    let mut archive = tar::Archive::new(Limited {
        inner: decoder,
        left: limits.max_bytes,
        exceeded: Rc::clone(&exceeded),
    });
    let too_large_or = |error: std::io::Error| {
        if exceeded.get() {
            ArchiveError::TooLarge(limits.max_bytes)
        } else {
            ArchiveError::Corrupt(error.to_string())
        }
    };
    let corrupt = |error: std::io::Error| ArchiveError::Corrupt(error.to_string());
    let mut files = BTreeMap::new();
    let mut total: u64 = 0;
    for (index, entry) in archive.entries().map_err(corrupt)?.enumerate() {
        if index >= limits.max_entries {
            return Err(ArchiveError::TooManyEntries(limits.max_entries));
        }
        let mut entry = entry.map_err(too_large_or)?;
        let raw_path = entry.path().map_err(corrupt)?.into_owned();
        let shown = raw_path.display().to_string();
        let path = relative(&raw_path).ok_or_else(|| ArchiveError::Escapes(shown.clone()))?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(ArchiveError::Link(shown));
        }
        if !kind.is_file() {
            return Err(ArchiveError::Unsupported {
                path: shown,
                kind: format!("{kind:?}").to_lowercase(),
            });
        }
        let size = entry.header().size().map_err(corrupt)?;
        total = total.saturating_add(size);
        if total > limits.max_bytes {
            return Err(ArchiveError::TooLarge(limits.max_bytes));
        }
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 20));
        entry.read_to_end(&mut data).map_err(too_large_or)?;
        if files.insert(path.clone(), data).is_some() {
            return Err(ArchiveError::Duplicate(path));
        }
    }
    if exceeded.get() {
        return Err(ArchiveError::TooLarge(limits.max_bytes));
    }
    Ok(files)
}

/// A reader that fails, and says so, once more than its limit is read.
struct Limited<R> {
    inner: R,
    left: u64,
    exceeded: Rc<Cell<bool>>,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            self.exceeded.set(true);
            return Err(std::io::Error::other("the archive is larger than allowed"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// `path` as `a/b` when it stays inside the archive's root.
fn relative(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// A `.tar.gz` of `files` (path, bytes), with fixed metadata so the same
/// files always pack to the same bytes.
pub fn pack(files: &[(&str, &[u8])]) -> std::io::Result<Vec<u8>> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut builder = tar::Builder::new(encoder);
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append_data(&mut header, path, *bytes)?;
    }
    builder.into_inner()?.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let packed = pack(&[
            ("wfmodule.toml", b"name = \"x\""),
            ("component.wasm", b"\0asm"),
        ])
        .expect("pack");
        let files = unpack(&packed, ArchiveLimits::default()).expect("unpack");
        assert_eq!(files["component.wasm"], b"\0asm");
        assert_eq!(files.len(), 2);
    }

    #[test]
    fn limits_hold() {
        let many: Vec<(String, Vec<u8>)> =
            (0..10).map(|i| (format!("f{i}"), vec![0; 100])).collect();
        let refs: Vec<(&str, &[u8])> = many
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice()))
            .collect();
        let packed = pack(&refs).expect("pack");
        let few = ArchiveLimits {
            max_entries: 5,
            max_bytes: 1 << 20,
        };
        assert!(matches!(
            unpack(&packed, few),
            Err(ArchiveError::TooManyEntries(5))
        ));
        let small = ArchiveLimits {
            max_entries: 100,
            max_bytes: 500,
        };
        assert!(matches!(
            unpack(&packed, small),
            Err(ArchiveError::TooLarge(500))
        ));
    }
}
