//! `wfhost graph FILE --format mermaid|dot`: the routing graph.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::home::Home;
use crate::workflow::Plan;
use crate::workflow::model::WaitFor;
use crate::workflow::plan::{PlannedRoute, StepKind};

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

/// One edge: from, to, its kind and label.
struct Edge<'p> {
    from: &'p str,
    to: &'p str,
    kind: EdgeKind,
    label: String,
}

#[derive(Clone, Copy, PartialEq)]
enum EdgeKind {
    Success,
    Failure,
    Branch,
    Needs,
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

fn route_edges<'p>(
    edges: &mut Vec<Edge<'p>>,
    plan: &'p Plan,
    from: &'p str,
    route: &PlannedRoute,
    kind: EdgeKind,
) {
    let on = if kind == EdgeKind::Success {
        "success"
    } else {
        "failure"
    };
    for (when, to) in &route.branches {
        let label = match when {
            Some(when) => format!("{on} when {}", when.source().trim()),
            None => on.to_string(),
        };
        edges.push(Edge {
            from,
            to: &plan.steps[*to].id,
            kind,
            label,
        });
    }
}

fn edges(plan: &Plan) -> Vec<Edge<'_>> {
    let mut edges = Vec::new();
    for step in &plan.steps {
        route_edges(
            &mut edges,
            plan,
            &step.id,
            &step.on_success,
            EdgeKind::Success,
        );
        route_edges(
            &mut edges,
            plan,
            &step.id,
            &step.on_failure,
            EdgeKind::Failure,
        );
        if let StepKind::Parallel { branches, wait_for } = &step.kind {
            let wait = match wait_for {
                WaitFor::All => "all",
                WaitFor::Any => "any",
            };
            for &branch in branches {
                edges.push(Edge {
                    from: &step.id,
                    to: &plan.steps[branch].id,
                    kind: EdgeKind::Branch,
                    label: format!("branch, wait for {wait}"),
                });
            }
        }
        for &need in &step.needs {
            edges.push(Edge {
                from: &plan.steps[need].id,
                to: &step.id,
                kind: EdgeKind::Needs,
                label: "needs".into(),
            });
        }
    }
    edges
}

fn node_label(plan: &Plan, index: usize) -> String {
    let step = &plan.steps[index];
    match &step.kind {
        StepKind::Action { module, action } => match &step.circuit {
            Some(circuit) => format!(
                "{}\n{}.{action}\ncircuit: {} in {}",
                step.id,
                module.name(),
                circuit.failures,
                humantime::format_duration(circuit.within)
            ),
            None => format!("{}\n{}.{action}", step.id, module.name()),
        },
        StepKind::Parallel { .. } => format!("{}\nparallel", step.id),
        StepKind::Workflow(child) => format!("{}\nworkflow {}", step.id, child.written),
        StepKind::Wait(wait) => match &wait.signal {
            Some(signal) => format!("{}\nwaits for {}", step.id, signal.name),
            None => format!("{}\ntimer", step.id),
        },
    }
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
