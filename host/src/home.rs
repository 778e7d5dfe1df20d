//! Where wfhost keeps its state: `--home`, else `$WFHOST_HOME`, else the XDG
//! data directory (`~/.local/share/wfhost` on Linux).

use std::path::PathBuf;

use crate::store::Location;

/// The state directory and the paths inside it.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
    cache: Option<PathBuf>,
    database: Option<Location>,
}

impl Home {
    /// Resolve the home directory; `explicit` comes from `--home`/`WFHOST_HOME`,
    /// `cache` from `--cache-dir`/`WFHOST_CACHE_DIR`, `database` from
    /// `--db`/`WFHOST_DB`.
    pub fn resolve(
        explicit: Option<PathBuf>,
        cache: Option<PathBuf>,
        database: Option<Location>,
    ) -> Self {
        let root = explicit
            .or_else(|| dirs::data_dir().map(|dir| dir.join("wfhost")))
            .unwrap_or_else(|| PathBuf::from(".wfhost"));
        Self {
            root,
            cache,
            database,
        }
    }

    /// The state database: runs, their steps and events. `wfhost.db` in
    /// the home unless `--db` names another (a file or a PostgreSQL URL).
    pub fn database(&self) -> Location {
        self.database
            .clone()
            .unwrap_or_else(|| Location::Sqlite(self.root.join("wfhost.db")))
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
