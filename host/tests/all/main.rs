//! The one integration-test binary of the `wfhost` crate.

mod architecture;
mod browser;
mod cache;
mod children;
mod circuits;
mod cli;
mod collector;
mod common;
mod conditions;
mod dashboard;
mod engine;
mod escape;
mod examples;
mod faults;
mod grants;
mod hostile;
mod journal;
mod modules;
mod postgres;
mod sandbox;
mod serve;
#[path = "../../src/store/postgres/test_server.rs"]
mod test_server;
mod traces;
mod values;
mod waits;
mod wizard;
mod workflows;
