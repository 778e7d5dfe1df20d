//! The runtime: one engine and linker per process, loading modules.

use std::path::Path;
use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::{Component, HasSelf, Linker};

use super::cache::{ArtifactCache, CacheOutcome};
use super::digest::Digest;
use super::engine::{EngineOptions, EpochTicker, build_engine};
use super::error::{LoadError, RuntimeError};
use super::host_api::Imports;
use super::module::Module;
use super::reflect::{Described, WitFile, describe, discover};
use super::store::StoreState;

/// Loads and runs components. Create one per process and share it; a
/// clone is cheap and shares the engine, its ticker and its cache.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Linker<StoreState>,
    cache: ArtifactCache,
    fuel_metering: bool,
    pooled: bool,
    ticker: Arc<EpochTicker>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("cache", &self.cache)
            .field("fuel_metering", &self.fuel_metering)
            .field("pooled", &self.pooled)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime caching compiled artifacts under `cache_root` (none: no cache).
    pub fn new(cache_root: Option<&Path>) -> Result<Self, RuntimeError> {
        Self::with_options(cache_root, &EngineOptions::default())
    }

    pub fn with_options(
        cache_root: Option<&Path>,
        options: &EngineOptions,
    ) -> Result<Self, RuntimeError> {
        let fail = |error: wasmtime::Error| RuntimeError(format!("{error:#}"));
        let (engine, pooled) = build_engine(options).map_err(fail)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(fail)?;
        Imports::add_to_linker::<StoreState, HasSelf<StoreState>>(&mut linker, |state| state)
            .map_err(fail)?;
        let ticker = EpochTicker::start(&engine)
            .map_err(|error| RuntimeError(format!("cannot start the epoch thread: {error}")))?;
        Ok(Self {
            cache: ArtifactCache::new(cache_root, &engine),
            engine,
            linker,
            fuel_metering: options.fuel_metering,
            pooled,
            ticker: Arc::new(ticker),
        })
    }

    /// Whether the pooling allocator is in use.
    pub fn is_pooled(&self) -> bool {
        self.pooled
    }

    /// Load a component from its binary bytes; `name` is used in messages,
    /// `wit` (dependencies first) supplies docs when the module ships its WIT.
    ///
    /// Compiles it (or loads its verified precompiled artifact), checks that
    /// every import is one the host provides, and reflects its actions.
    pub fn load(&self, name: &str, bytes: &[u8], wit: &[WitFile]) -> Result<Module, LoadError> {
        check_component_header(name, bytes)?;
        self.load_checked(name, Digest::of(bytes), bytes, wit)
    }

    /// Load the component whose sha256 is `digest` (recorded when it was
    /// installed): from its pinned precompiled artifact when that is intact,
    /// without reading the component at all; otherwise from `read()`, whose
    /// bytes must have that digest, like [`Runtime::load`].
    pub fn load_pinned(
        &self,
        name: &str,
        digest: Digest,
        wit: &[WitFile],
        read: impl FnOnce() -> Result<Vec<u8>, LoadError>,
    ) -> Result<Module, LoadError> {
        if let Some((component, described)) = self.cache.load_pinned(&self.engine, digest) {
            return self.link(name, digest, &component, &described, CacheOutcome::Hit);
        }
        let bytes = read()?;
        check_component_header(name, &bytes)?;
        if Digest::of(&bytes) != digest {
            return Err(LoadError::Invalid {
                name: name.to_string(),
                reason: format!(
                    "its content does not have the recorded sha256 {}",
                    digest.to_hex()
                ),
            });
        }
        self.load_checked(name, digest, &bytes, wit)
    }

    fn load_checked(
        &self,
        name: &str,
        digest: Digest,
        bytes: &[u8],
        wit: &[WitFile],
    ) -> Result<Module, LoadError> {
        let (component, cache, described) = self
            .cache
            .load(&self.engine, bytes, digest, || describe(bytes, wit))
            .map_err(|error| LoadError::Invalid {
                name: name.to_string(),
                reason: format!("{error:#}"),
            })?;
        self.link(name, digest, &component, &described, cache)
    }

    /// Link `component` against the host's imports and reflect its actions.
    fn link(
        &self,
        name: &str,
        digest: Digest,
        component: &Component,
        described: &Described,
        cache: CacheOutcome,
    ) -> Result<Module, LoadError> {
        let pre = self.linker.instantiate_pre(component).map_err(|error| {
            LoadError::UnsupportedImport {
                name: name.to_string(),
                reason: format!("{error:#}"),
            }
        })?;
        let actions = discover(&self.engine, component, described)
            .into_iter()
            .map(|action| {
                let instance = action
                    .interface
                    .as_ref()
                    .and_then(|interface| component.get_export_index(None, interface));
                let index = component
                    .get_export_index(instance.as_ref(), action.function.as_str())
                    .expect("reflected exports exist");
                (action, index)
            })
            .collect();
        Ok(Module {
            name: name.to_string(),
            digest,
            engine: self.engine.clone(),
            pre,
            actions,
            cache,
            fuel_metering: self.fuel_metering,
            _ticker: Arc::clone(&self.ticker),
        })
    }

    /// Where the precompiled artifact of a component with `digest` lives.
    pub fn artifact_path(&self, digest: Digest) -> Option<std::path::PathBuf> {
        self.cache.artifact_path(digest)
    }
}

/// Components start with `\0asm`, version 0x0d and layer 1; core modules
/// have layer 0. Telling them apart gives a useful message.
fn check_component_header(name: &str, bytes: &[u8]) -> Result<(), LoadError> {
    match bytes {
        [0, b'a', b's', b'm', _, _, 1, 0, ..] => Ok(()),
        [0, b'a', b's', b'm', _, _, 0, 0, ..] => Err(LoadError::CoreModule {
            name: name.to_string(),
        }),
        _ => Err(LoadError::NotWasm {
            name: name.to_string(),
        }),
    }
}
