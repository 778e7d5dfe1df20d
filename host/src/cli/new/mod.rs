//! `wfhost new FILE`: write a workflow by answering questions on a terminal
//! (`wizard.rs`), or `--from-template NAME`: one of the example workflows.
//! Either way the file is validated before it is written: `wfhost new`
//! never leaves a file that `wfhost validate` refuses.

mod draft;
mod wizard;

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::anyhow;
use include_dir::{Dir, include_dir};

use crate::diagnostics::Source;
use crate::home::Home;
use crate::workflow;

use super::exit::{CliError, SUCCESS};
use super::load;

/// The example workflows (`workflows/`), offered as templates.
static EXAMPLES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../workflows");

#[derive(Debug, clap::Args)]
pub(super) struct NewArgs {
    /// The workflow file to write.
    file: PathBuf,
    /// Write one of the example workflows instead of asking (`--from-template
    /// list` lists them).
    #[arg(long, value_name = "NAME")]
    from_template: Option<String>,
    /// Replace FILE when it exists.
    #[arg(long)]
    force: bool,
}

/// The templates: example workflows that stand alone (no sub-workflow
/// files beside them), by name, with their first comment line.
fn templates() -> Vec<(&'static str, &'static str, &'static str)> {
    let mut found: Vec<_> = EXAMPLES
        .files()
        .filter(|file| file.path().extension().is_some_and(|e| e == "yaml"))
        .filter_map(|file| {
            let name = file.path().file_stem()?.to_str()?;
            let text = file.contents_utf8()?;
            if text.contains("workflow: ./") {
                return None;
            }
            let about = text
                .lines()
                .find_map(|line| line.strip_prefix("# "))
                .unwrap_or("");
            Some((name, about, text))
        })
        .collect();
    found.sort_by_key(|(name, _, _)| *name);
    found
}

fn template_list() -> String {
    templates()
        .iter()
        .map(|(name, about, _)| format!("  {name:<20} {about}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(super) fn run(home: &Home, args: &NewArgs) -> Result<u8, CliError> {
    if args.from_template.as_deref() == Some("list") {
        println!("{}", template_list());
        return Ok(SUCCESS);
    }
    if args.file.exists() && !args.force {
        return Err(CliError(anyhow!(
            "{} exists; pass --force to replace it",
            args.file.display()
        )));
    }
    let catalog = load::catalog(home)?;
    let text = match &args.from_template {
        Some(name) => match templates().into_iter().find(|(n, _, _)| n == name) {
            Some((_, _, text)) => text.to_string(),
            None => {
                return Err(CliError(anyhow!(
                    "no template `{name}`; the templates:\n{}",
                    template_list()
                )));
            }
        },
        None => {
            if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
                return Err(CliError(anyhow!(
                    "wfhost new asks questions, so it needs a terminal; without one, write an example to start from: wfhost new {} --from-template NAME\n{}",
                    args.file.display(),
                    template_list()
                )));
            }
            let default_name = args
                .file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("workflow");
            wizard::ask(&catalog, &load::registry(home), default_name)?.to_yaml()
        }
    };
    let source = Source::new(&args.file, text);
    let checked = workflow::check(&source, &catalog);
    if checked.plan.is_none() {
        eprint!("{}", source.render(&checked.diagnostics));
        return Err(CliError(anyhow!(
            "the workflow is not valid, so {} was not written",
            args.file.display()
        )));
    }
    std::fs::write(&args.file, &source.text)
        .map_err(|e| CliError(anyhow!("cannot write {}: {e}", args.file.display())))?;
    println!(
        "wrote {}; run it with: wfhost run {}",
        args.file.display(),
        args.file.display()
    );
    Ok(SUCCESS)
}
