//! File pins: what identifies a file's content without reading it.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// A file's device, inode, size and status-change time. Writing to the
/// file, renaming it or replacing it changes at least one of them, and no
/// unprivileged process can set a change time back: a file whose pin still
/// matches has not been modified since the pin was taken. Pins let large
/// artifacts be trusted without rehashing them on every load; when a pin
/// does not match (the file changed, or the home was copied elsewhere), the
/// caller falls back to the full sha256 check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePin {
    dev: u64,
    ino: u64,
    size: u64,
    ctime: i64,
    ctime_nsec: i64,
}

impl FilePin {
    /// The pin of the file at `path` now; `None` where the platform has no
    /// inode and change time (the full check is used there).
    pub fn of(path: &Path) -> Option<Self> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(path).ok()?;
            Some(Self {
                dev: meta.dev(),
                ino: meta.ino(),
                size: meta.size(),
                ctime: meta.ctime(),
                ctime_nsec: meta.ctime_nsec(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }

    /// Whether the file at `path` still has this pin.
    pub fn holds(self, path: &Path) -> bool {
        Self::of(path) == Some(self)
    }
}
