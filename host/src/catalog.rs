//! Loading the modules a workflow names, each once per process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::module_source;
use crate::sandbox::{Module, Runtime};

/// Resolves module references (`system`, `system@0.1.0`, `./probe.wasm`)
/// to loaded modules, caching each by what it resolved to.
#[derive(Debug)]
pub struct Catalog {
    runtime: Runtime,
    loaded: Mutex<Loaded>,
}

/// Modules by (reference, base directory): loaded, or why not.
type Loaded = HashMap<(String, PathBuf), Result<Arc<Module>, String>>;

/// The version bundled modules carry: the host's.
pub const BUNDLED_VERSION: &str = env!("CARGO_PKG_VERSION");

impl Catalog {
    pub fn new(runtime: Runtime) -> Self {
        Self {
            runtime,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Load `reference`, a path resolved against `base` (the workflow's
    /// directory) or a module name with an optional `@version`.
    pub fn load(&self, reference: &str, base: &Path) -> Result<Arc<Module>, String> {
        let key = (reference.to_string(), base.to_path_buf());
        if let Some(found) = self.lock().get(&key) {
            return found.clone();
        }
        let loaded = self.load_uncached(reference, base);
        self.lock().insert(key, loaded.clone());
        loaded
    }

    fn load_uncached(&self, reference: &str, base: &Path) -> Result<Arc<Module>, String> {
        let name = match reference.split_once('@') {
            Some((name, version)) if !module_source::is_path(reference) => {
                if version != BUNDLED_VERSION {
                    return Err(format!(
                        "module `{name}` is available in version {BUNDLED_VERSION} only, not {version}"
                    ));
                }
                name
            }
            _ => reference,
        };
        let source = module_source::resolve(name, base).map_err(|e| e.to_string())?;
        self.runtime
            .load(&source.name, &source.bytes, &source.wit)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
