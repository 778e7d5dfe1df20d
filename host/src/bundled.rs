//! Modules compiled into the `wfhost` binary, usable with nothing installed.
//!
//! `build.rs` compiles every crate under `modules/` for wasm32-wasip2 and
//! embeds the components here.

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// A module compiled into the binary.
#[derive(Debug, Clone, Copy)]
pub struct Bundled {
    pub component: &'static [u8],
    /// Its WIT sources as (path, text), dependencies first, for docs.
    pub wit: &'static [(&'static str, &'static str)],
    /// Its `wfmodule.toml`, when it has one.
    pub manifest: Option<&'static str>,
}

/// The bundled module `name`.
pub fn find(name: &str) -> Option<Bundled> {
    BUNDLED
        .iter()
        .find(|(bundled, ..)| *bundled == name)
        .map(|&(_, component, wit, manifest)| Bundled {
            component,
            wit,
            manifest,
        })
}

/// Names of all bundled modules.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUNDLED.iter().map(|(name, ..)| *name)
}
