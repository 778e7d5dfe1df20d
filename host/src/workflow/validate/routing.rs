//! The routing graph: unbounded cycles, `needs` cycles, steps never
//! reached, and the steps that start the run: those no route leads to and
//! without `needs`, or, when every step is a route target (a cycle back to
//! the first step), the first step.

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::workflow::graph::{cycle_through, strongly_connected};
use crate::workflow::model::Workflow;
use crate::workflow::plan::{PlannedStep, StepIndex, StepKind};

/// Check the routing graph — unbounded cycles, `needs` cycles, steps that
/// are never reached — and return the steps that start the run.
pub(super) fn check_graph(
    workflow: &Workflow,
    steps: &mut [PlannedStep],
    handlers: &[StepIndex],
    diagnostics: &mut Diagnostics,
) -> Vec<StepIndex> {
    let count = steps.len();
    let span = |index: StepIndex| workflow.steps[index].id.span;
    let edges = edges(steps);
    let mut targeted = vec![false; count];
    for &target in edges.iter().flatten() {
        targeted[target] = true;
    }
    for &handler in handlers {
        targeted[handler] = true;
    }
    for component in strongly_connected(&edges) {
        let is_cycle = component.len() > 1 || edges[component[0]].contains(&component[0]);
        if is_cycle && !component.iter().any(|&i| steps[i].max_visits.is_some()) {
            let first = *component.iter().min().unwrap_or(&component[0]);
            let path = cycle_through(&edges, &component, first);
            diagnostics.push(
                Diagnostic::error(
                    span(first),
                    format!("unbounded cycle: {}", names(steps, &path)),
                )
                .with_help("add `max_visits: N` to a step of the cycle to bound it"),
            );
        }
    }
    let needs: Vec<Vec<StepIndex>> = steps.iter().map(|s| s.needs.clone()).collect();
    let mut in_needs_cycle = vec![false; count];
    for component in strongly_connected(&needs) {
        if component.len() > 1 || needs[component[0]].contains(&component[0]) {
            for &index in &component {
                in_needs_cycle[index] = true;
            }
            let first = *component.iter().min().unwrap_or(&component[0]);
            let path = cycle_through(&needs, &component, first);
            diagnostics.push(Diagnostic::error(
                span(first),
                format!("`needs` cycle: {}", names(steps, &path)),
            ));
        }
    }
    for (index, step) in steps.iter().enumerate() {
        if !step.needs.is_empty() && targeted[index] {
            diagnostics.push(
                Diagnostic::error(
                    span(index),
                    format!(
                        "step `{}` has `needs` and is also the target of a route or handler",
                        step.id
                    ),
                )
                .with_help(
                    "a step starts either when its `needs` succeed or when a route leads to it",
                ),
            );
        }
    }
    for index in 0..count {
        for need in steps[index].needs.clone() {
            steps[need].needed_by.push(index);
        }
    }
    if count == 0 {
        diagnostics.push(Diagnostic::warning(
            workflow.name.span,
            "the workflow has no steps: a run does nothing",
        ));
    }
    let mut roots: Vec<StepIndex> = (0..count)
        .filter(|&i| !targeted[i] && steps[i].needs.is_empty())
        .collect();
    // Every step is a route target (a cycle leads back to the first step):
    // the first step starts the run.
    if roots.is_empty() && count > 0 && steps[0].needs.is_empty() {
        roots.push(0);
    }
    if roots.is_empty() {
        // A `needs` cycle already said why nothing can start: one cause,
        // one diagnostic.
        if count > 0 && !in_needs_cycle.contains(&true) {
            diagnostics.push(Diagnostic::error(
                workflow.name.span,
                "no step starts the run: every step has `needs`",
            ));
        }
        return roots;
    }
    let mut reached = vec![false; count];
    let mut queue: Vec<StepIndex> = roots.iter().chain(handlers).copied().collect();
    while let Some(index) = queue.pop() {
        if std::mem::replace(&mut reached[index], true) {
            continue;
        }
        queue.extend(&edges[index]);
        queue.extend(&steps[index].needed_by);
    }
    // Steps in a `needs` cycle, and those that need them, are reported as
    // the cycle, not again as unreached.
    let mut blocked = in_needs_cycle;
    let mut queue: Vec<StepIndex> = (0..count).filter(|&i| blocked[i]).collect();
    while let Some(index) = queue.pop() {
        for &next in &steps[index].needed_by {
            if !std::mem::replace(&mut blocked[next], true) {
                queue.push(next);
            }
        }
    }
    for index in (0..count).filter(|&i| !reached[i] && !blocked[i]) {
        diagnostics.push(Diagnostic::warning(
            span(index),
            format!(
                "step `{}` is never reached: no route leads to it",
                steps[index].id
            ),
        ));
    }
    roots
}

/// Where each step leads: its routes' targets and, for a group, its branches.
pub(super) fn edges(steps: &[PlannedStep]) -> Vec<Vec<StepIndex>> {
    steps
        .iter()
        .map(|step| {
            let mut next: Vec<StepIndex> = step
                .on_success
                .targets()
                .chain(step.on_failure.targets())
                .collect();
            if let StepKind::Parallel { branches, .. } = &step.kind {
                next.extend(branches);
            }
            next
        })
        .collect()
}

/// Every step reachable from `start` (itself included) along `edges` and
/// `needs`.
pub(super) fn reachable(
    start: StepIndex,
    edges: &[Vec<StepIndex>],
    steps: &[PlannedStep],
) -> Vec<StepIndex> {
    let mut seen = vec![false; edges.len()];
    let mut stack = vec![start];
    let mut found = Vec::new();
    while let Some(step) = stack.pop() {
        if std::mem::replace(&mut seen[step], true) {
            continue;
        }
        found.push(step);
        stack.extend(&edges[step]);
        stack.extend(&steps[step].needed_by);
    }
    found
}

/// A path of steps for a message: `a → b → a`, with the middle of a long
/// one elided.
fn names(steps: &[PlannedStep], path: &[StepIndex]) -> String {
    const SHOWN: usize = 8;
    let name = |i: &StepIndex| steps[*i].id.as_str();
    if path.len() <= 2 * SHOWN {
        return path.iter().map(name).collect::<Vec<_>>().join(" → ");
    }
    let head: Vec<&str> = path[..SHOWN].iter().map(name).collect();
    let tail: Vec<&str> = path[path.len() - SHOWN..].iter().map(name).collect();
    format!(
        "{} → … {} more steps … → {}",
        head.join(" → "),
        path.len() - 2 * SHOWN,
        tail.join(" → ")
    )
}
