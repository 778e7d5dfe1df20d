//! `wfhost module list`, `show` and `remove`.

use anyhow::anyhow;
use serde_json::json;

use crate::catalog;
use crate::home::Home;
use crate::lock::ModuleOrigin;

use super::super::exit::{CliError, SUCCESS};
use super::super::load;
use super::super::screen;

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ShowArgs {
    /// `name`, `name@1.2.3`, `name@^1`, or a component's path.
    module: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RemoveArgs {
    /// `name` (every installed version) or `name@1.2.3`.
    module: String,
}

pub(super) fn list(home: &Home, args: &ListArgs) -> Result<u8, CliError> {
    let rows = catalog::available(&load::registry(home)).map_err(|problem| anyhow!(problem))?;
    if args.json {
        let rows: Vec<_> = rows
            .iter()
            .map(|row| {
                json!({
                    "name": row.name,
                    "version": row.version,
                    "origin": row.origin,
                    "sha256": row.sha256,
                    "size": row.size,
                    "description": row.description,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(SUCCESS);
    }
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    println!(
        "{:width$}  {:9}  {:9}  {:12}  DESCRIPTION",
        "NAME", "VERSION", "ORIGIN", "SHA256"
    );
    for row in &rows {
        println!(
            "{:width$}  {:9}  {:9}  {:12}  {}",
            row.name,
            row.version,
            row.origin.to_string(),
            &row.sha256[..12],
            row.description
        );
    }
    Ok(SUCCESS)
}

pub(super) fn show(home: &Home, args: &ShowArgs) -> Result<u8, CliError> {
    let catalog = load::catalog(home)?;
    let entry = load::entry(&catalog, &args.module)?;
    let module = &entry.module;
    let manifest = entry.manifest.as_deref();
    let installed = match (entry.origin, &entry.version) {
        (ModuleOrigin::Installed, Some(version)) => load::registry(home)
            .versions(module.name())?
            .into_iter()
            .find(|i| i.version == *version),
        _ => None,
    };
    if args.json {
        let actions: Vec<_> = module
            .actions()
            .map(|a| json!({ "name": a.name, "signature": a.signature, "docs": a.docs }))
            .collect();
        let value = json!({
            "name": module.name(),
            "version": entry.version.as_ref().map(ToString::to_string),
            "origin": entry.origin,
            "sha256": module.digest().to_hex(),
            "size": installed.as_ref().map(|i| i.record.size),
            "location": installed.as_ref().map(|i| i.dir.display().to_string()),
            "description": manifest.map(|m| m.description.clone()),
            "license": manifest.and_then(|m| m.license.clone()),
            "limits": manifest.map(|m| m.limits),
            "capabilities": manifest.map(|m| &m.capabilities),
            "actions": actions,
            "open_circuits": open_circuits(home, module.name())?
                .iter()
                .map(|c| json!({ "key": c.key, "open_until": c.open_until, "last_error": c.last_error }))
                .collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(SUCCESS);
    }
    let version = entry
        .version
        .as_ref()
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    println!("{}{version} ({})", module.name(), entry.origin);
    if let Some(manifest) = manifest {
        if !manifest.description.is_empty() {
            println!("  {}", manifest.description);
        }
        if let Some(license) = &manifest.license {
            println!("  license: {license}");
        }
        let limits = manifest.limits;
        let mut defaults = Vec::new();
        if let Some(fuel) = limits.fuel {
            defaults.push(format!("fuel {fuel}"));
        }
        if let Some(memory) = limits.memory_bytes {
            defaults.push(format!(
                "memory {}",
                bytesize::ByteSize(memory).display().iec()
            ));
        }
        if let Some(timeout) = limits.timeout {
            defaults.push(format!("timeout {}", humantime::format_duration(timeout)));
        }
        if !defaults.is_empty() {
            println!("  default limits: {}", defaults.join(", "));
        }
    }
    println!("  sha256: {}", module.digest().to_hex());
    if let Some(installed) = &installed {
        println!(
            "  size: {}",
            bytesize::ByteSize(installed.record.size).display().iec()
        );
        println!("  location: {}", installed.dir.display());
        println!("  installed from: {}", installed.record.source);
    }
    println!();
    screen::actions(module);
    println!();
    screen::capabilities(manifest);
    let open = open_circuits(home, module.name())?;
    if !open.is_empty() {
        println!("\nopen circuit breakers (`wfhost circuit reset KEY` closes one):");
        for circuit in &open {
            print!("  {}", super::super::circuit::describe(circuit));
        }
    }
    Ok(SUCCESS)
}

/// The open breakers of `module`'s actions; none when the home has no
/// database yet (showing a module creates nothing).
fn open_circuits(home: &Home, module: &str) -> Result<Vec<crate::store::CircuitRecord>, CliError> {
    if !home.database().exists() {
        return Ok(Vec::new());
    }
    let store = crate::store::open(&home.database(), crate::store::Durability::Normal)?;
    Ok(super::super::circuit::open_of(store.circuits()?, &[module]))
}

pub(super) fn remove(home: &Home, args: &RemoveArgs) -> Result<u8, CliError> {
    let (name, version) = match args.module.split_once('@') {
        Some((name, version)) => {
            let version = semver::Version::parse(version).map_err(|_| {
                anyhow!("`{version}` is not a version; remove one version with NAME@1.2.3, or all with NAME")
            })?;
            (name, Some(version))
        }
        None => (args.module.as_str(), None),
    };
    let removed = load::registry(home).remove(name, version.as_ref())?;
    for installed in removed {
        println!("removed {} {}", installed.name, installed.version);
    }
    Ok(SUCCESS)
}
