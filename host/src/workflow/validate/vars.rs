//! Run variables: `vars:` (types and first values), `set:` on steps (known
//! names, values of the variable's type), and no variable set by two steps
//! that may run at once.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{Checker, Place};
use crate::diagnostics::Diagnostic;
use crate::suggest::closest;
use crate::workflow::model::{Route, Step};
use crate::workflow::plan::PlannedVar;
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

    /// No variable is set by two steps that may run at once: in different
    /// branches of a parallel group, or on paths from different roots.
    pub(super) fn check_parallel_writers(&mut self) {
        let workflow = self.workflow;
        let writers: Vec<usize> = (0..workflow.steps.len())
            .filter(|&i| !workflow.steps[i].set.is_empty())
            .collect();
        if writers.len() < 2 {
            return;
        }
        let successors = self.successors();
        // Handlers (`onFailure`, `finally`) run after the rest: not roots.
        let mut targeted: HashSet<usize> = successors.iter().flatten().copied().collect();
        targeted.extend(
            workflow
                .on_failure
                .iter()
                .chain(&workflow.finally)
                .filter_map(|id| self.ids.get(id.value.as_str()).copied()),
        );
        let roots: Vec<usize> = (0..workflow.steps.len())
            .filter(|i| !targeted.contains(i))
            .collect();
        let mut groups: Vec<(String, Vec<usize>)> = vec![("the run's roots".into(), roots)];
        for step in &workflow.steps {
            if let Some(parallel) = &step.parallel {
                let branches = parallel
                    .branches
                    .iter()
                    .filter_map(|b| self.ids.get(b.value.as_str()).copied())
                    .collect();
                groups.push((format!("parallel group `{}`", step.id), branches));
            }
        }
        let mut reported: HashSet<(String, usize)> = HashSet::new();
        for (group, starts) in groups {
            // Which start each writer is reachable from.
            let mut seen: HashMap<&str, (usize, usize)> = HashMap::new();
            for (branch, &start) in starts.iter().enumerate() {
                for step in reachable(start, &successors) {
                    if !writers.contains(&step) {
                        continue;
                    }
                    for name in workflow.steps[step].set.keys() {
                        match seen.get(name.as_str()) {
                            Some(&(other_branch, other))
                                if other_branch != branch && other != step =>
                            {
                                if reported.insert((name.clone(), step)) {
                                    let span = workflow.steps[step].set[name].span;
                                    self.error(
                                        Diagnostic::error(
                                            span,
                                            format!(
                                                "`vars.{name}` is set by `{}` and by `{}`, which may run at once ({group})",
                                                workflow.steps[other].id, workflow.steps[step].id
                                            ),
                                        )
                                        .with_help("set it in one of them, or after they join"),
                                    );
                                }
                            }
                            Some(_) => {}
                            None => {
                                seen.insert(name, (branch, step));
                            }
                        }
                    }
                }
            }
        }
    }

    /// Where each step's routes lead (`needs` and group branches too).
    fn successors(&self) -> Vec<Vec<usize>> {
        let workflow = self.workflow;
        let mut successors = vec![Vec::new(); workflow.steps.len()];
        for (index, step) in workflow.steps.iter().enumerate() {
            for route in [&step.on_success, &step.on_failure].into_iter().flatten() {
                let targets: Vec<&str> = match route {
                    Route::Goto(id) => vec![id.value.as_str()],
                    Route::Branches(branches) => {
                        branches.iter().map(|b| b.goto.value.as_str()).collect()
                    }
                    Route::Conditional(c) => c
                        .then
                        .iter()
                        .chain(&c.otherwise)
                        .map(|id| id.value.as_str())
                        .collect(),
                };
                successors[index].extend(targets.iter().filter_map(|id| self.ids.get(id).copied()));
            }
            if let Some(parallel) = &step.parallel {
                successors[index].extend(
                    parallel
                        .branches
                        .iter()
                        .filter_map(|b| self.ids.get(b.value.as_str()).copied()),
                );
            }
            for need in &step.needs {
                if let Some(&needed) = self.ids.get(need.value.as_str()) {
                    successors[needed].push(index);
                }
            }
        }
        successors
    }
}

/// Every step reachable from `start` (itself included).
fn reachable(start: usize, successors: &[Vec<usize>]) -> Vec<usize> {
    let mut seen = vec![false; successors.len()];
    let mut stack = vec![start];
    let mut found = Vec::new();
    while let Some(step) = stack.pop() {
        if std::mem::replace(&mut seen[step], true) {
            continue;
        }
        found.push(step);
        stack.extend(&successors[step]);
    }
    found
}
