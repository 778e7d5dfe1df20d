//! Where wfhost keeps its state: `--home`, else `$WFHOST_HOME`, else the XDG
//! data directory (`~/.local/share/wfhost` on Linux).

use std::path::PathBuf;

/// The state directory and the paths inside it.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
    cache: Option<PathBuf>,
}

impl Home {
    /// Resolve the home directory; `explicit` comes from `--home`/`WFHOST_HOME`,
    /// `cache` from `--cache-dir`/`WFHOST_CACHE_DIR`.
    pub fn resolve(explicit: Option<PathBuf>, cache: Option<PathBuf>) -> Self {
        let root = explicit
            .or_else(|| dirs::data_dir().map(|dir| dir.join("wfhost")))
            .unwrap_or_else(|| PathBuf::from(".wfhost"));
        Self { root, cache }
    }

    /// The state database: runs, their steps and events.
    pub fn database(&self) -> PathBuf {
        self.root.join("wfhost.db")
    }

    /// Installed modules: `<name>/<version>/`.
    pub fn modules(&self) -> PathBuf {
        self.root.join("modules")
    }

    /// Precompiled components, keyed by engine and component digest.
    pub fn component_cache(&self) -> PathBuf {
        self.cache
            .clone()
            .unwrap_or_else(|| self.root.join("cache").join("components"))
    }
}
