//! `wfhost actions MODULE`: what a module can do.

use crate::home::Home;

use super::exit::{CliError, SUCCESS};
use super::load;
use super::screen;

#[derive(Debug, clap::Args)]
pub(super) struct ActionsArgs {
    /// A module: `name`, `name@1.2.3`, `name@^1`, or a component's path (`.wasm`, `.wat`).
    module: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(home: &Home, args: &ActionsArgs) -> Result<u8, CliError> {
    let catalog = load::catalog(home)?;
    let module = load::entry(&catalog, &args.module)?.module;
    if args.json {
        let actions: Vec<serde_json::Value> = module
            .actions()
            .map(|action| {
                serde_json::json!({
                    "name": action.name,
                    "signature": action.signature,
                    "params": action.params.iter().map(|(name, ty)| serde_json::json!({
                        "name": name,
                        "type": crate::sandbox::values::type_name(ty),
                    })).collect::<Vec<_>>(),
                    "result": action.result.as_ref().map(crate::sandbox::values::type_name),
                    "docs": action.docs,
                    "types": action.types.iter().map(|(name, definition)| serde_json::json!({
                        "name": name,
                        "definition": definition,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let json = serde_json::json!({
            "module": module.name(),
            "digest": module.digest().to_string(),
            "actions": actions,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(SUCCESS);
    }
    println!("{} ({})", module.name(), module.digest());
    screen::actions(&module);
    Ok(SUCCESS)
}
