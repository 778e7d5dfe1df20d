//! What templates see during a run: `inputs`, `vars`, `context`, `steps.<id>`,
//! `workflow`, and per evaluation `attempt`, `iteration`, `item`, `index`.
//!
//! `steps` is a live view of the run's step records (not a copy per
//! evaluation), so evaluating a template costs the same at step 1 and at
//! step 1,000.

use super::status::{RunStatus, StepStatus};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use minijinja::Value as Jinja;
use minijinja::value::{Enumerator, Object};
use serde::Serialize;
use serde_json::Value;

use crate::workflow::template::jinja;

/// The step records templates read, one per step, shared with the engine.
#[derive(Debug, Clone)]
pub struct StepRecords {
    by_id: Arc<HashMap<String, usize>>,
    ids: Arc<Vec<String>>,
    records: Arc<RwLock<Vec<Jinja>>>,
}

impl StepRecords {
    pub fn new(ids: Vec<String>) -> Self {
        let pending = Record {
            status: StepStatus::Pending,
            output: &Value::Null,
            error: &Value::Null,
            attempts: 0,
            visits: 0,
            duration_ms: 0.0,
        }
        .to_jinja();
        Self {
            by_id: Arc::new(
                ids.iter()
                    .enumerate()
                    .map(|(i, id)| (id.clone(), i))
                    .collect(),
            ),
            records: Arc::new(RwLock::new(vec![pending; ids.len()])),
            ids: Arc::new(ids),
        }
    }

    pub fn set(&self, index: usize, record: &Record<'_>) {
        let value = record.to_jinja();
        self.records.write().unwrap_or_else(PoisonError::into_inner)[index] = value;
    }

    fn get(&self, index: usize) -> Jinja {
        self.records.read().unwrap_or_else(PoisonError::into_inner)[index].clone()
    }
}

/// `steps.<id>`: status, output, error, attempts, visits, duration —
/// borrowed, so updating it does not copy the step's output twice.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    pub status: StepStatus,
    pub output: &'a Value,
    pub error: &'a Value,
    pub attempts: u32,
    pub visits: u32,
    pub duration_ms: f64,
}

impl Record<'_> {
    fn to_jinja(&self) -> Jinja {
        Jinja::from(minijinja::value::Serde(self))
    }
}

/// `workflow` in templates.
pub fn workflow_value(run_id: &str, name: &str, status: RunStatus, error: Option<&Value>) -> Value {
    serde_json::json!({"id": run_id, "name": name, "status": status, "error": error})
}

#[derive(Debug)]
struct StepsView(StepRecords);

impl Object for StepsView {
    fn get_value(self: &Arc<Self>, key: &Jinja) -> Option<Jinja> {
        let index = self.0.by_id.get(key.as_str()?)?;
        Some(self.0.get(*index))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.0
                .ids
                .iter()
                .map(|id| Jinja::from(id.as_str()))
                .collect(),
        )
    }
}

/// The values every template of a run shares.
#[derive(Debug, Clone)]
pub struct RunScope {
    pub inputs: Jinja,
    /// `vars`, converted once per change.
    vars: Jinja,
    pub context: Jinja,
    pub trigger: Jinja,
    pub steps: StepRecords,
    /// `workflow`, converted once per change rather than per evaluation.
    workflow: Jinja,
}

/// Per-evaluation values.
#[derive(Debug, Clone, Copy, Default)]
pub struct Local<'a> {
    pub attempt: u32,
    pub iteration: u32,
    pub item: Option<(usize, &'a Value)>,
}

impl RunScope {
    pub fn new(
        inputs: &Value,
        context: &Value,
        trigger: &Value,
        steps: StepRecords,
        workflow: &Value,
    ) -> Self {
        Self {
            inputs: jinja(inputs),
            vars: Jinja::from(()),
            context: jinja(context),
            trigger: jinja(trigger),
            steps,
            workflow: jinja(workflow),
        }
    }

    /// Replace what templates see as `vars`.
    pub fn set_vars(&mut self, vars: &Value) {
        self.vars = jinja(vars);
    }

    /// Replace what templates see as `workflow`.
    pub fn set_workflow(&mut self, workflow: &Value) {
        self.workflow = jinja(workflow);
    }

    /// The root value a template is evaluated against.
    pub fn root(&self, local: Local<'_>) -> Jinja {
        let mut entries: Vec<(&str, Jinja)> = vec![
            ("inputs", self.inputs.clone()),
            ("vars", self.vars.clone()),
            ("context", self.context.clone()),
            ("trigger", self.trigger.clone()),
            ("steps", Jinja::from_object(StepsView(self.steps.clone()))),
            ("workflow", self.workflow.clone()),
            ("attempt", Jinja::from(local.attempt)),
            ("iteration", Jinja::from(local.iteration)),
        ];
        if let Some((index, item)) = local.item {
            entries.push(("item", jinja(item)));
            entries.push(("index", Jinja::from(index)));
        }
        Jinja::from_pairs(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::StepFailure;
    use crate::workflow::validate::{
        ERROR_FIELDS, STEP_FIELDS, WORKFLOW_ERROR_FIELDS, WORKFLOW_FIELDS,
    };

    fn keys(value: &Value) -> Vec<String> {
        let mut keys: Vec<String> = value
            .as_object()
            .map(|object| object.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        names.sort();
        names
    }

    /// What the engine puts in scope is exactly what validation lets a
    /// template name (the two are written in different modules).
    #[test]
    fn scope_fields_are_the_ones_validation_accepts() {
        let record = Record {
            status: StepStatus::Succeeded,
            output: &Value::Null,
            error: &Value::Null,
            attempts: 1,
            visits: 1,
            duration_ms: 0.0,
        };
        let record = serde_json::to_value(&record).expect("a record is JSON");
        assert_eq!(keys(&record), sorted(STEP_FIELDS));
        let failure = StepFailure::engine(crate::workflow::StepFailureKind::Template, "broken");
        assert_eq!(keys(&failure.to_scope(1)), sorted(ERROR_FIELDS));
        let error = failure.to_workflow_error("step", 1);
        assert_eq!(keys(&error), sorted(WORKFLOW_ERROR_FIELDS));
        let workflow = workflow_value("run", "name", RunStatus::Failed, Some(&error));
        assert_eq!(keys(&workflow), sorted(WORKFLOW_FIELDS));
    }
}
