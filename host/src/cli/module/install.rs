//! `wfhost module install PATH`: validate, precompile, store, and show what
//! the module does and asks for.

use std::path::PathBuf;

use anyhow::anyhow;

use crate::home::Home;
use crate::registry::{Installation, Package};

use super::super::exit::{CliError, SUCCESS};
use super::super::load;
use super::super::screen;

#[derive(Debug, clap::Args)]
pub(crate) struct InstallArgs {
    /// A component (`.wasm`, `.wat`), a module directory with a wfmodule.toml,
    /// or a `.tar.gz` made by `wfhost module pack`.
    path: PathBuf,
    /// The name of a bare component (default: the file's stem).
    #[arg(long)]
    name: Option<String>,
    /// The version of a bare component (default: 0.0.0).
    #[arg(long)]
    version: Option<String>,
    /// Replace an installed version that has different content.
    #[arg(long)]
    force: bool,
}

pub(super) fn run(home: &Home, args: &InstallArgs) -> Result<u8, CliError> {
    let package = Package::from_path(&args.path, args.name.as_deref(), args.version.as_deref())
        .map_err(|error| anyhow!("cannot install {}: {error}", args.path.display()))?;
    // Loading validates it (a component, every import one the host provides,
    // actions reflectable) and precompiles it into the artifact cache.
    let runtime = load::runtime(home)?;
    let module = runtime
        .load(&package.name, &package.component, &package.wit)
        .map_err(|error| anyhow!("cannot install {}: {error}", args.path.display()))?;
    if let Some(manifest) = &package.manifest {
        for ask in &manifest.capabilities {
            for action in &ask.actions {
                if module.action(action).is_err() {
                    let available: Vec<&str> = module.actions().map(|a| a.name.as_str()).collect();
                    return Err(CliError(anyhow!(
                        "cannot install {}: wfmodule.toml scopes a capability to action `{action}`, \
                         which the component does not export (its actions: {})",
                        args.path.display(),
                        available.join(", ")
                    )));
                }
            }
        }
    }
    let (installed, installation) = load::registry(home).install(&package, args.force)?;
    let verb = match installation {
        Installation::New => "installed",
        Installation::Unchanged => "already installed, unchanged:",
        Installation::Replaced => "replaced",
    };
    println!("{verb} {} {}", installed.name, installed.version);
    println!("  sha256: {}", installed.record.sha256);
    println!(
        "  size: {}",
        bytesize::ByteSize(installed.record.size).display().iec()
    );
    println!("  location: {}", installed.dir.display());
    println!();
    screen::actions(&module);
    println!();
    screen::capabilities(installed.manifest.as_ref());
    println!();
    println!(
        "use it in a workflow as `module: {}` or `module: {}@{}`",
        installed.name, installed.name, installed.version
    );
    Ok(SUCCESS)
}
