//! Capability grants: what one call may reach beyond its sandbox. Empty by
//! default; the caller (the engine from a workflow's `permissions`, or
//! `wfhost call --allow-*`) decides, this module only enforces.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use super::workspace::{Workspace, fd_path};

use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// A directory of the workspace visible to the guest, at the same
/// workspace-relative path (`data`, or `.` for the workspace root). It is
/// opened beneath the workspace's open root at every call, never through a
/// link (see [`Workspace`]).
#[derive(Debug, Clone)]
pub struct DirGrant {
    pub workspace: Arc<Workspace>,
    /// Workspace-relative and normalised: no `..`, no leading `/`.
    pub path: String,
    pub writable: bool,
}

/// Everything a call is granted. `Grants::default()` grants nothing.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    pub dirs: Vec<DirGrant>,
    /// Environment variables the guest sees, with their values.
    pub env: Vec<(String, String)>,
    /// Programs the guest may run through `wfhost:module/process`: the
    /// granted name and the executable it resolved to on the host.
    pub programs: Vec<(String, PathBuf)>,
    /// Addresses the guest may connect to over TCP (names resolved by the host).
    pub net: Vec<SocketAddr>,
}

impl Grants {
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
            && self.env.is_empty()
            && self.programs.is_empty()
            && self.net.is_empty()
    }

    /// Apply to a WASI context that starts with nothing granted. Each
    /// granted directory is opened beneath its workspace now, and that open
    /// directory is what the guest gets.
    pub(crate) fn apply(&self, builder: &mut WasiCtxBuilder) -> Result<(), String> {
        for dir in &self.dirs {
            let perms = if dir.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            let refuse = |why: String| {
                format!(
                    "granted directory `{}` cannot be opened beneath the workspace {}: {why}",
                    dir.path,
                    dir.workspace.path().display()
                )
            };
            let opened = dir
                .workspace
                .open_dir(&dir.path)
                .map_err(|error| refuse(error.to_string()))?;
            builder
                .preopened_dir(fd_path(&opened), &dir.path, perms)
                .map_err(|error| refuse(error.to_string()))?;
        }
        for (name, value) in &self.env {
            builder.env(name, value);
        }
        if !self.net.is_empty() {
            let allowed = Arc::new(self.net.clone());
            builder.allow_tcp(true);
            builder.socket_addr_check(move |addr, use_| {
                let ok = match use_ {
                    SocketAddrUse::TcpConnect => allowed.contains(&addr),
                    // The implicit bind of an outbound connection to an
                    // ephemeral local port; nothing else may bind or listen.
                    SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
                    _ => false,
                };
                Box::pin(async move { ok })
            });
        }
        Ok(())
    }
}
