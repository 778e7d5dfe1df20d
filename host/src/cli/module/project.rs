//! `wfhost module new`, `build` and `pack`: working on a module project.

use std::path::PathBuf;

use anyhow::{Context, anyhow};

use crate::registry::{Package, read_manifest};
use crate::sandbox::Digest;
use crate::scaffold::{self, Lang};

use super::super::exit::{CliError, FAILURE, SUCCESS};

#[derive(Debug, clap::Args)]
pub(crate) struct NewArgs {
    /// The module's name: lowercase letters, digits and `-`.
    name: String,
    /// The language of the project.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// Where to create it (default: ./NAME).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct DirArg {
    /// The module project (the directory holding wfmodule.toml).
    #[arg(default_value = ".")]
    dir: PathBuf,
}

#[derive(Debug, clap::Args)]
pub(crate) struct PackArgs {
    /// The module project (the directory holding wfmodule.toml).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where to write the archive (default: NAME-VERSION.tar.gz in the project).
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub(super) fn new(args: &NewArgs) -> Result<u8, CliError> {
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    let files = scaffold::new_module(&args.name, args.lang, &dir)?;
    println!("created module `{}` in {}:", args.name, dir.display());
    for file in files {
        println!("  {}", file.display());
    }
    println!();
    println!("next:");
    println!("  cd {}", dir.display());
    println!("  wfhost module build");
    println!("  wfhost module install .");
    Ok(SUCCESS)
}

pub(super) fn build(args: &DirArg) -> Result<u8, CliError> {
    let (manifest, _) = read_manifest(&args.dir)?;
    let Some(command) = &manifest.build else {
        return Err(CliError(anyhow!(
            "{}: wfmodule.toml has no [build] command; add one (`[build]` `command = \"...\"`) or build the component yourself",
            args.dir.display()
        )));
    };
    eprintln!("building {} {}: {command}", manifest.name, manifest.version);
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(&args.dir)
        .status()
        .with_context(|| format!("cannot run the build command `{command}`"))?;
    if !status.success() {
        eprintln!("error: the build command failed ({status})");
        return Ok(FAILURE);
    }
    let component = args.dir.join(&manifest.component);
    let size = std::fs::metadata(&component)
        .map_err(|error| {
            anyhow!(
                "the build succeeded but the component {} named in wfmodule.toml is missing ({error}); fix `component` or the build command",
                component.display()
            )
        })?
        .len();
    println!(
        "built {} ({})",
        component.display(),
        bytesize::ByteSize(size).display().iec()
    );
    Ok(SUCCESS)
}

pub(super) fn pack(args: &PackArgs) -> Result<u8, CliError> {
    let (file_name, bytes) = Package::pack(&args.dir)?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| args.dir.join(&file_name));
    std::fs::write(&output, &bytes)
        .with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "packed {} ({})",
        output.display(),
        bytesize::ByteSize(bytes.len() as u64).display().iec()
    );
    println!("  sha256: {}", Digest::of(&bytes).to_hex());
    Ok(SUCCESS)
}
