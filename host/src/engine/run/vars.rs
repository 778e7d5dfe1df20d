//! Step conditions (`if:`) and run variables (`vars:`, `set:`): a step
//! whose condition is false is skipped and its path goes on along
//! `onSuccess`; a step that succeeds updates the variables it sets, each
//! checked against its type, before its routes are taken.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Engine, FrameId};
use crate::engine::event::Event;
use crate::engine::failure::StepFailure;
use crate::engine::scope::Local;
use crate::engine::status::StepStatus;
use crate::workflow::StepFailureKind;
use crate::workflow::plan::StepIndex;

impl Engine<'_> {
    /// Whether `step` runs now: its `if` holds (or it has none). A false
    /// condition skips it; one that cannot be evaluated fails it.
    pub(super) fn admitted(&mut self, step: StepIndex, frame: Option<FrameId>) -> bool {
        let plan = Arc::clone(&self.plan);
        let Some(condition) = &plan.steps[step].condition else {
            return true;
        };
        match condition.holds(&self.scope.root(Local::default())) {
            Ok(true) => true,
            Ok(false) => {
                let state = &mut self.states[step];
                state.status = StepStatus::Skipped;
                state.output = Arc::new(Value::Null);
                self.update_record(step);
                self.emit(Event::StepSkipped {
                    step: plan.steps[step].id.clone(),
                    reason: format!("`if` was false: {}", condition.source().trim()),
                });
                self.start_ready_needers(step);
                self.route(step, frame, Ok(Arc::new(Value::Null)));
                false
            }
            Err(problem) => {
                let failure =
                    StepFailure::engine(StepFailureKind::Template, format!("`if`: {problem}"));
                self.finish_step(step, frame, Err(failure));
                false
            }
        }
    }

    /// The variables `step` sets, evaluated now that its output is
    /// recorded (`Err` when one cannot be evaluated or is not of its type).
    pub(super) fn evaluate_set(&self, step: StepIndex) -> Result<Map<String, Value>, StepFailure> {
        let planned = &self.plan.steps[step];
        let root = self.scope.root(Local::default());
        let mut values = Map::new();
        for (index, compiled) in &planned.set {
            let var = &self.plan.vars[*index];
            let fail = |problem: String| {
                StepFailure::engine(
                    StepFailureKind::Template,
                    format!("`set: {}`: {problem}", var.name),
                )
            };
            let value = compiled.eval(&root).map_err(fail)?;
            if !value.is_null() && !var.ty.accepts(&value) {
                return Err(fail(format!("gave {value}, not {}", var.ty.name())));
            }
            values.insert(var.name.clone(), value);
        }
        Ok(values)
    }

    /// Take the values a step set: templates see them from now on.
    pub(super) fn assign(&mut self, step: StepIndex, values: Map<String, Value>) {
        for (name, value) in &values {
            self.vars.insert(name.clone(), value.clone());
        }
        self.scope.set_vars(&Value::Object(self.vars.clone()));
        self.emit(Event::VarsSet {
            step: self.plan.steps[step].id.clone(),
            values,
        });
    }
}
