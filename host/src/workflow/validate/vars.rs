//! Run variables: `vars:` (types and first values), `set:` on steps (known
//! names, values of the variable's type), and no variable set by two steps
//! that may run at once.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{Checker, Place, routing};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::suggest::closest;
use crate::workflow::model::{Step, Workflow};
use crate::workflow::plan::{PlannedStep, PlannedVar, StepIndex, StepKind};
use crate::workflow::template::Compiled;

impl Checker<'_> {
    /// Each variable's first value against its type.
    pub(super) fn check_vars(&mut self) -> Vec<PlannedVar> {
        let workflow = self.workflow;
        workflow
            .vars
            .iter()
            .map(|(name, spec)| {
                let value = spec.value.as_ref().map_or(Value::Null, |v| v.value.clone());
                if let Some(given) = &spec.value
                    && !value.is_null()
                    && !spec.ty.accepts(&value)
                {
                    self.error(Diagnostic::error(
                        given.span,
                        format!(
                            "variable `{name}` is {}, but its value is {value}",
                            spec.ty.name()
                        ),
                    ));
                }
                PlannedVar {
                    name: name.clone(),
                    ty: spec.ty,
                    value,
                }
            })
            .collect()
    }

    /// A step's `set:`: (variable index, compiled value) pairs.
    pub(super) fn check_set(
        &mut self,
        step: &Step,
        place: Place,
    ) -> Option<Vec<(usize, Compiled)>> {
        let workflow = self.workflow;
        let mut set = Vec::new();
        let mut valid = true;
        for (name, value) in &step.set {
            let Some(index) = workflow.vars.get_index_of(name) else {
                self.error(
                    Diagnostic::error(
                        value.span,
                        format!(
                            "step `{}` sets `{name}`, which `vars:` does not declare",
                            step.id
                        ),
                    )
                    .suggest(closest(name, workflow.vars.keys().map(String::as_str)))
                    .with_help_if_none(
                        "declare it: `vars: { NAME: { type: integer, value: 0 } }`".into(),
                    ),
                );
                valid = false;
                continue;
            };
            let ty = workflow.vars[index].ty;
            let compiled = self.templates_in(
                &value.value,
                Place {
                    span: value.span,
                    ..place
                },
            );
            match compiled {
                Some(Compiled::Constant(constant))
                    if !constant.is_null() && !ty.accepts(&constant) =>
                {
                    self.error(Diagnostic::error(
                        value.span,
                        format!(
                            "variable `{name}` is {}, but `set` gives it {constant}",
                            ty.name()
                        ),
                    ));
                    valid = false;
                }
                Some(compiled) => set.push((index, compiled)),
                None => valid = false,
            }
        }
        valid.then_some(set)
    }
}

/// No variable is set by two steps that may run at once: on paths from
/// different roots, or in different branches of a parallel group. Runs on
/// the planned graph (`needed_by` filled in).
pub(super) fn check_parallel_writers(
    workflow: &Workflow,
    steps: &[PlannedStep],
    roots: &[StepIndex],
    diagnostics: &mut Diagnostics,
) {
    if steps.iter().filter(|step| !step.set.is_empty()).count() < 2 {
        return;
    }
    let edges = routing::edges(steps);
    let mut groups: Vec<(String, Vec<StepIndex>)> =
        vec![("the run's roots".into(), roots.to_vec())];
    groups.extend(steps.iter().filter_map(|step| match &step.kind {
        StepKind::Parallel { branches, .. } => {
            Some((format!("parallel group `{}`", step.id), branches.clone()))
        }
        _ => None,
    }));
    let mut reported: HashSet<(usize, StepIndex)> = HashSet::new();
    for (group, starts) in groups {
        // The first writer of each variable seen, and from which start.
        let mut seen: HashMap<usize, (usize, StepIndex)> = HashMap::new();
        for (branch, &start) in starts.iter().enumerate() {
            for step in routing::reachable(start, &edges, steps) {
                for &(var, _) in &steps[step].set {
                    match seen.get(&var) {
                        None => {
                            seen.insert(var, (branch, step));
                        }
                        Some(&(first_branch, first))
                            if first_branch != branch
                                && first != step
                                && reported.insert((var, step)) =>
                        {
                            let name = workflow.vars.get_index(var).map_or("", |(n, _)| n.as_str());
                            let span = workflow.steps[step]
                                .set
                                .get(name)
                                .map_or(workflow.steps[step].id.span, |value| value.span);
                            diagnostics.push(
                                Diagnostic::error(
                                    span,
                                    format!(
                                        "`vars.{name}` is set by `{}` and by `{}`, which may run at once ({group})",
                                        steps[first].id, steps[step].id
                                    ),
                                )
                                .with_help("set it in one of them, or after they join"),
                            );
                        }
                        Some(_) => {}
                    }
                }
            }
        }
    }
}
