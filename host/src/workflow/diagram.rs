//! What a picture of a workflow shows: each step's label and the edges
//! between steps (routes with their conditions, a group's branches,
//! `needs`). `wfhost graph` writes them as Mermaid or DOT; the dashboard
//! lays them out as SVG.

use crate::workflow::Plan;
use crate::workflow::model::WaitFor;
use crate::workflow::plan::{PlannedRoute, StepKind};

/// One edge: from, to, its kind and label.
#[derive(Debug)]
pub struct Edge<'p> {
    pub from: &'p str,
    pub to: &'p str,
    pub kind: EdgeKind,
    pub label: String,
}

/// What an edge stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    Success,
    Failure,
    Branch,
    Needs,
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

/// Every edge of the plan's graph, step by step.
pub fn edges(plan: &Plan) -> Vec<Edge<'_>> {
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

/// A step's label: its id and what it does, one per line.
pub fn node_label(plan: &Plan, index: usize) -> String {
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
