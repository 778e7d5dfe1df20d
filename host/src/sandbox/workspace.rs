//! The workspace that directory grants live beneath, held open.
//!
//! A grant names a workspace-relative directory. The root is opened once,
//! when grants are resolved; every call then opens each granted directory
//! from that handle one component at a time, never following a symbolic
//! link, and preopens *that open directory* (through `/proc/self/fd`), not
//! its path. Whatever happens on disk between two calls — a module renaming
//! a granted directory away and planting a link in its place, a parent
//! swapped for a link — a grant is a real directory beneath the root, or the
//! call fails with [`BeneathError`] before the guest runs.
//!
//! Inside a preopen, wasmtime-wasi resolves every guest path beneath the
//! preopened directory, so a link a guest finds or creates there can never
//! lead out of it either.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, openat, statat};

/// An open workspace root.
pub struct Workspace {
    path: PathBuf,
    root: OwnedFd,
}

impl fmt::Debug for Workspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workspace")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Why a granted directory cannot be opened beneath the workspace.
#[derive(Debug, thiserror::Error)]
pub enum BeneathError {
    #[error(
        "`{path}` passes through `{component}`, which is a symbolic link; grants are never followed through links"
    )]
    Link { path: String, component: String },
    #[error("`{path}` passes through `{component}`, which is not a directory")]
    NotDirectory { path: String, component: String },
    #[error("`{path}` does not exist (no `{component}`)")]
    Missing { path: String, component: String },
    #[error("`{path}` cannot be opened: {error}")]
    Io { path: String, error: io::Error },
}

impl Workspace {
    /// Open the workspace at `path` (links in `path` itself are resolved:
    /// the user chose it).
    pub fn open(path: &Path) -> io::Result<Self> {
        let path = path.canonicalize()?;
        let root = openat(
            rustix::fs::CWD,
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self { path, root })
    }

    /// The root's path on the host, as it was when opened (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Open the workspace-relative directory `relative` (`.`, `data`,
    /// `a/b`: already normalised, no `..`) beneath the root, refusing any
    /// component that is a link or not a directory.
    pub fn open_dir(&self, relative: &str) -> Result<OwnedFd, BeneathError> {
        let mut current: Option<OwnedFd> = None;
        for component in relative.split('/').filter(|c| !c.is_empty() && *c != ".") {
            if component == ".." {
                return Err(BeneathError::Io {
                    path: relative.to_string(),
                    error: io::Error::new(io::ErrorKind::InvalidInput, "`..` is not allowed"),
                });
            }
            let parent = current.as_ref().map_or(self.root.as_fd(), AsFd::as_fd);
            let opened = openat(
                parent,
                component,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|errno| explain(parent, relative, component, errno.into()))?;
            current = Some(opened);
        }
        match current {
            Some(fd) => Ok(fd),
            None => self.root.try_clone().map_err(|error| BeneathError::Io {
                path: relative.to_string(),
                error,
            }),
        }
    }
}

/// The path through which an open directory can be reopened as exactly
/// itself (a magic link: the kernel follows the open file, not a name).
pub(crate) fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Why opening `component` of `path` beneath `parent` failed, in words.
fn explain(
    parent: std::os::fd::BorrowedFd<'_>,
    path: &str,
    component: &str,
    error: io::Error,
) -> BeneathError {
    let (path, component) = (path.to_string(), component.to_string());
    match statat(parent, component.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => match FileType::from_raw_mode(stat.st_mode) {
            FileType::Symlink => BeneathError::Link { path, component },
            FileType::Directory => BeneathError::Io { path, error },
            _ => BeneathError::NotDirectory { path, component },
        },
        Err(rustix::io::Errno::NOENT) => BeneathError::Missing { path, component },
        Err(_) => BeneathError::Io { path, error },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_real_directories_and_refuses_links_anywhere_on_the_way() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("ws/a/b")).expect("dirs");
        std::fs::create_dir_all(root.join("outside")).expect("dirs");
        std::fs::write(root.join("ws/file"), "x").expect("file");
        std::os::unix::fs::symlink("../outside", root.join("ws/up")).expect("link");
        std::os::unix::fs::symlink("a", root.join("ws/inside")).expect("link");
        let workspace = Workspace::open(&root.join("ws")).expect("open");
        assert!(workspace.open_dir(".").is_ok());
        assert!(workspace.open_dir("a/b").is_ok());
        for (path, expected) in [
            ("up", "symbolic link"),
            ("inside/b", "symbolic link"),
            ("file", "not a directory"),
            ("missing/x", "does not exist"),
            ("a/../..", "not allowed"),
        ] {
            let error = workspace.open_dir(path).expect_err(path).to_string();
            assert!(error.contains(expected), "{path}: {error}");
        }
    }
}
