//! `wfhost graph FILE --format mermaid|dot`: the routing graph.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::home::Home;
use crate::workflow::Plan;
use crate::workflow::diagram::{EdgeKind, edges, node_label};

use super::exit::{CliError, SUCCESS};
use super::workflow_file;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Mermaid,
    Dot,
}

#[derive(Debug, clap::Args)]
pub(super) struct GraphArgs {
    /// The workflow file (YAML or JSON).
    file: PathBuf,
    #[arg(long, value_enum, default_value = "mermaid")]
    format: Format,
}

pub(super) fn run(home: &Home, args: &GraphArgs) -> Result<u8, CliError> {
    let (plan, _) = workflow_file::plan(home, &args.file)?;
    let text = match args.format {
        Format::Mermaid => mermaid(&plan),
        Format::Dot => dot(&plan),
    };
    print!("{text}");
    Ok(SUCCESS)
}

fn mermaid(plan: &Plan) -> String {
    let mut out = String::from("flowchart TD\n");
    let id = |name: &str| format!("s_{}", name.replace('-', "_"));
    for (index, step) in plan.steps.iter().enumerate() {
        let label = node_label(plan, index)
            .replace('"', "#quot;")
            .replace('\n', "<br/>");
        let _ = writeln!(out, "    {}[\"{label}\"]", id(&step.id));
    }
    for edge in edges(plan) {
        let arrow = match edge.kind {
            EdgeKind::Success | EdgeKind::Branch => "-->",
            EdgeKind::Failure => "-.->",
            EdgeKind::Needs => "==>",
        };
        let label = edge.label.replace('"', "#quot;");
        let _ = writeln!(
            out,
            "    {} {arrow}|\"{label}\"| {}",
            id(edge.from),
            id(edge.to)
        );
    }
    out
}

fn dot(plan: &Plan) -> String {
    let quote = |text: &str| {
        format!(
            "\"{}\"",
            text.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        )
    };
    let mut out = format!(
        "digraph {} {{\n    rankdir=TB;\n    node [shape=box];\n",
        quote(&plan.name)
    );
    for (index, step) in plan.steps.iter().enumerate() {
        let _ = writeln!(
            out,
            "    {} [label={}];",
            quote(&step.id),
            quote(&node_label(plan, index))
        );
    }
    for edge in edges(plan) {
        let style = match edge.kind {
            EdgeKind::Success => "color=darkgreen",
            EdgeKind::Failure => "color=red, style=dashed",
            EdgeKind::Branch => "color=blue",
            EdgeKind::Needs => "style=bold",
        };
        let _ = writeln!(
            out,
            "    {} -> {} [label={}, {style}];",
            quote(edge.from),
            quote(edge.to),
            quote(&edge.label)
        );
    }
    out.push_str("}\n");
    out
}
