//! The host side of `wit/wfhost.wit`: the logging and progress imports,
//! bound to the call's store (what they keep is in `reports.rs`; the
//! `process` interface is implemented in `process.rs`).

use super::store::StoreState;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "wfhost:module/imports",
    imports: { "wfhost:module/process.run": async },
});

use self::wfhost::module::{log as log_api, progress as progress_api, types as types_api};
use log_api::Level;

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

impl types_api::Host for StoreState {}

impl log_api::Host for StoreState {
    fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        self.reports.log(level_name(level), message, fields);
    }
}

impl progress_api::Host for StoreState {
    fn report(&mut self, done: u64, total: Option<u64>, message: String) {
        tracing::debug!(done, ?total, %message, "guest progress");
        self.reports.progress(done, total, message);
    }
}
