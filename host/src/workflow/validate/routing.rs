//! The routing graph: unbounded cycles, `needs` cycles, steps never
//! reached, and the steps that start the run.

use crate::workflow::diagnostic::{Diagnostic, Diagnostics};
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
    let mut edges: Vec<Vec<StepIndex>> = vec![Vec::new(); count];
    let mut targeted = vec![false; count];
    for (index, step) in steps.iter().enumerate() {
        let mut next: Vec<StepIndex> = step
            .on_success
            .targets()
            .chain(step.on_failure.targets())
            .collect();
        if let StepKind::Parallel { branches, .. } = &step.kind {
            next.extend(branches);
        }
        for &target in &next {
            targeted[target] = true;
        }
        edges[index] = next;
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
    for component in strongly_connected(&needs) {
        if component.len() > 1 || needs[component[0]].contains(&component[0]) {
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
    let roots: Vec<StepIndex> = (0..count)
        .filter(|&i| !targeted[i] && steps[i].needs.is_empty())
        .collect();
    if roots.is_empty() && count > 0 {
        diagnostics.push(Diagnostic::error(
            workflow.name.span,
            "no step starts the run: every step is the target of a route or has `needs`",
        ));
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
    for index in (0..count).filter(|&i| !reached[i]) {
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

fn names(steps: &[PlannedStep], path: &[StepIndex]) -> String {
    path.iter()
        .map(|&i| steps[i].id.as_str())
        .collect::<Vec<_>>()
        .join(" → ")
}
