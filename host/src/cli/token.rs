//! `wfhost token create|revoke|list`: API tokens for `wfhost serve`.

use crate::home::Home;
use crate::service::tokens;
use crate::store::{self, Durability};

use super::exit::{CliError, SUCCESS};

#[derive(Debug, clap::Subcommand)]
pub(super) enum TokenCommand {
    /// Create a token and print it, alone, on stdout. It is shown once:
    /// only its sha256 digest is kept.
    Create {
        /// Who uses it: recorded as the actor of every write it makes.
        name: String,
    },
    /// Revoke a token: requests presenting it are refused from now on.
    Revoke { name: String },
    /// List token names and when they were made.
    List,
}

pub(super) fn run(home: &Home, command: &TokenCommand) -> Result<u8, CliError> {
    let mut store = store::open(&home.database(), Durability::Normal)?;
    match command {
        TokenCommand::Create { name } => {
            tokens::check_name(name).map_err(|problem| CliError(anyhow::anyhow!(problem)))?;
            let secret = tokens::generate().map_err(|error| {
                CliError(anyhow::anyhow!(
                    "cannot read random bytes from the operating system: {error}"
                ))
            })?;
            store.add_token(name, &tokens::digest(&secret))?;
            println!("{secret}");
        }
        TokenCommand::Revoke { name } => {
            if !store.remove_token(name)? {
                return Err(CliError(anyhow::anyhow!(
                    "no token named `{name}`; `wfhost token list` shows them"
                )));
            }
            eprintln!("token `{name}` revoked");
        }
        TokenCommand::List => {
            for token in store.tokens()? {
                println!(
                    "{}\tcreated {}",
                    token.name,
                    crate::units::rfc3339(token.created_at)
                );
            }
        }
    }
    Ok(SUCCESS)
}
