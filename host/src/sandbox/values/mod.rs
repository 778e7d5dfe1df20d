//! The JSON ⇄ WIT value mapping (documented in `wit/README.md`).
//!
//! Inputs are checked against the action's parameter types *before* the guest
//! runs; every mismatch names the JSON path and the expected WIT type.

mod from_json;
mod shape;
mod to_json;
mod type_name;

pub use from_json::{InputError, json_kind, json_to_val, params_from_json};
pub use shape::Shape;
pub use to_json::val_to_json;
pub use type_name::type_name;
