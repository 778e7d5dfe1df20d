//! `wfhost schema`: the JSON Schema of the workflow format.

use crate::workflow::model::Workflow;

use super::exit::{CliError, SUCCESS};

pub(super) fn run() -> Result<u8, CliError> {
    let schema = schemars::schema_for!(Workflow);
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(SUCCESS)
}
