//! wfhost: a local-first workflow engine for sandboxed WebAssembly components.
//!
//! Data flows one way: a module reference is resolved to component bytes
//! ([`module_source`]), loaded and called in the [`sandbox`] (the only code
//! that touches wasmtime), and the [`cli`] (the only code that prints or
//! exits) shows the result. See `ARCHITECTURE.md`.

pub mod bundled;
pub mod capabilities;
pub mod catalog;
pub mod cli;
pub mod diagnostics;
pub mod engine;
pub mod home;
pub mod lock;
pub mod manifest;
pub mod module_source;
pub mod registry;
pub mod sandbox;
pub mod scaffold;
pub mod service;
pub mod store;
pub mod suggest;
pub mod trace;
pub mod units;
pub mod user;
pub mod workflow;
