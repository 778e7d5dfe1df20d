//! `wfhost module …`: install, inspect, remove, create, build and pack modules.

mod inspect;
mod install;
mod project;

use crate::home::Home;

use super::exit::CliError;

#[derive(Debug, clap::Subcommand)]
pub(super) enum ModuleCommand {
    /// Install a component file, a module directory (with wfmodule.toml) or a
    /// .tar.gz made by `module pack`; prints its actions and what it asks for.
    #[command(disable_version_flag = true)]
    Install(install::InstallArgs),
    /// List installed (and bundled) modules.
    List(inspect::ListArgs),
    /// Show a module: actions with WIT signatures and docs, capabilities, digest.
    Show(inspect::ShowArgs),
    /// Remove an installed module (one version, or all of them).
    Remove(inspect::RemoveArgs),
    /// Create a module project that builds and installs as generated.
    New(project::NewArgs),
    /// Run the build command of a module project's wfmodule.toml.
    Build(project::DirArg),
    /// Pack a built module project into NAME-VERSION.tar.gz for `module install`.
    Pack(project::PackArgs),
}

pub(super) fn run(home: &Home, command: &ModuleCommand) -> Result<u8, CliError> {
    match command {
        ModuleCommand::Install(args) => install::run(home, args),
        ModuleCommand::List(args) => inspect::list(home, args),
        ModuleCommand::Show(args) => inspect::show(home, args),
        ModuleCommand::Remove(args) => inspect::remove(home, args),
        ModuleCommand::New(args) => project::new(args),
        ModuleCommand::Build(args) => project::build(args),
        ModuleCommand::Pack(args) => project::pack(args),
    }
}
