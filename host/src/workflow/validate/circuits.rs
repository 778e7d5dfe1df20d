//! Circuit breakers: a step's `circuit`, or the workflow's `circuits`
//! entry for the module the step calls; only on action steps; the
//! workflow's entries must each name a module some step calls.

use std::sync::Arc;

use super::Checker;
use crate::diagnostics::Diagnostic;
use crate::suggest::closest;
use crate::workflow::model::{Circuit, Step};
use crate::workflow::plan::{PlannedCircuit, StepIndex};

impl Checker<'_> {
    /// Every `circuits:` entry names a module reference a step uses.
    pub(super) fn check_circuit_modules(&mut self) {
        let used: Vec<&str> = self
            .workflow
            .steps
            .iter()
            .filter_map(|step| step.module.as_ref().map(|m| m.value.as_str()))
            .collect();
        for (reference, circuit) in &self.workflow.circuits {
            if !used.contains(&reference.as_str()) {
                self.error(
                    Diagnostic::error(
                        circuit.failures.span,
                        format!("`circuits` names module `{reference}`, which no step calls"),
                    )
                    .suggest(closest(reference, used.iter().copied()))
                    .with_help_if_none(
                        "key it by the module reference as steps write it (`flaky` or `flaky@1`)"
                            .to_string(),
                    ),
                );
            }
        }
    }

    /// The breaker step `index` calls its action through, if any.
    pub(super) fn circuit(&mut self, index: StepIndex, step: &Step) -> Option<Arc<PlannedCircuit>> {
        let from_module = step
            .module
            .as_ref()
            .and_then(|m| self.workflow.circuits.get(&m.value));
        let circuit = step.circuit.as_ref().or(from_module)?;
        let Some(resolved) = &self.resolved[index] else {
            if step.circuit.is_some() && step.module.is_none() {
                self.error(
                    Diagnostic::error(
                        circuit.failures.span,
                        format!(
                            "step `{}` calls no action, so it cannot have a `circuit`",
                            step.id
                        ),
                    )
                    .with_help("a circuit breaker guards an action's calls"),
                );
            }
            return None;
        };
        let key = format!("{}.{}", resolved.module.name(), resolved.action.name);
        let planned = self.checked_circuit(circuit)?;
        Some(Arc::new(PlannedCircuit { key, ..planned }))
    }

    fn checked_circuit(&mut self, circuit: &Circuit) -> Option<PlannedCircuit> {
        self.at_least_one(&circuit.failures, "`failures`");
        let mut valid = circuit.failures.value >= 1;
        for (what, duration) in [("within", &circuit.within), ("open_for", &circuit.open_for)] {
            if duration.value.0.is_zero() {
                self.error(Diagnostic::error(
                    duration.span,
                    format!("`{what}` must be longer than zero"),
                ));
                valid = false;
            }
        }
        valid.then(|| PlannedCircuit {
            key: String::new(),
            failures: circuit.failures.value,
            within: circuit.within.value.0,
            open_for: circuit.open_for.value.0,
        })
    }
}
