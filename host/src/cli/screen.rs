//! What a module can do and what it asks for, shown before anyone grants it
//! anything: the permission screen of `module install` and `module show`.

use crate::capabilities::Ask;
use crate::manifest::Manifest;
use crate::sandbox::Module;

/// The actions of `module`, each with its WIT signature and docs; then the
/// named types they use, with their fields, so inputs can be written from
/// this page alone.
pub(super) fn actions(module: &Module) {
    println!("actions:");
    if module.actions().next().is_none() {
        println!("  (none: the component exports no functions)");
    }
    let mut types: Vec<&(String, String)> = Vec::new();
    for action in module.actions() {
        println!("  {}: {}", action.name, action.signature);
        if let Some(docs) = &action.docs {
            for line in docs.lines() {
                println!("      {line}");
            }
        }
        for named in &action.types {
            if !types.iter().any(|(name, _)| *name == named.0) {
                types.push(named);
            }
        }
    }
    if !types.is_empty() {
        println!("types:");
        for (name, definition) in types {
            println!("  {name}: {definition}");
        }
    }
}

/// What the module asks for, with the author's reasons.
pub(super) fn capabilities(manifest: Option<&Manifest>) {
    let Some(manifest) = manifest else {
        println!("capabilities: no wfmodule.toml, so it asks for nothing in particular;");
        println!("  it gets exactly what a workflow grants it (`permissions:`), nothing else.");
        return;
    };
    if manifest.capabilities.is_empty() {
        println!(
            "capabilities: none; it runs with nothing beyond its sandbox, whatever is granted."
        );
        return;
    }
    println!("capabilities it asks for (a workflow must grant each; it gets no more):");
    for ask in &manifest.capabilities {
        println!("  - {}{}", ask.describe(), qualifiers(ask));
        println!("      why: {}", ask.reason);
    }
}

fn qualifiers(ask: &Ask) -> String {
    let mut parts = Vec::new();
    if ask.optional {
        parts.push("optional".to_string());
    }
    if !ask.actions.is_empty() {
        parts.push(format!("for {}", ask.actions.join(", ")));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}
