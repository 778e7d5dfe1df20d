//! The one integration-test binary of the `wfhost` crate.

mod cache;
mod cli;
mod common;
mod hostile;
mod sandbox;
mod values;
