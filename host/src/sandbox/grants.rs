//! Capability grants: what one call may reach beyond its sandbox. Empty by
//! default; the caller (the engine from a workflow's `permissions`, or
//! `wfhost call --allow-*`) decides, this module only enforces.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// A host directory visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host (absolute).
    pub host: PathBuf,
    /// Where the guest sees it (`data`, or `.` for the workspace root).
    pub guest: String,
    pub writable: bool,
}

/// Everything a call is granted. `Grants::default()` grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

    /// Apply to a WASI context that starts with nothing granted.
    pub(crate) fn apply(&self, builder: &mut WasiCtxBuilder) -> Result<(), String> {
        for dir in &self.dirs {
            let perms = if dir.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            builder
                .preopened_dir(&dir.host, &dir.guest, perms)
                .map_err(|error| {
                    format!(
                        "cannot open granted directory {}: {error}",
                        dir.host.display()
                    )
                })?;
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
