//! Validation: every problem in a workflow, each at its line — structure,
//! routes, cycles, modules and actions, and the static type check of
//! literal inputs and template references against the actions' WIT types.
//! A valid workflow becomes a [`Plan`].

mod children;
mod circuits;
mod limits;
mod permissions;
mod references;
mod routing;
mod triggers;
mod vars;
mod waits;

pub use children::{MAX_DEPTH, MAX_FILES, Nesting};
pub use triggers::reserved_by;
pub use waits::valid_signal_name;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::model::{Route, Step, Workflow};
use super::plan::{Inputs, Plan, PlannedChild, PlannedRoute, PlannedStep, StepIndex, StepKind};
use super::template::{self, Compiled, Kind};
use crate::catalog::Catalog;
use crate::diagnostics::{Diagnostic, Diagnostics, LineIndex, Source, Span, Spanned};
use crate::manifest::Manifest;
use crate::sandbox::values::Shape;
use crate::sandbox::{Action, CallError, Digest, Module};
use crate::suggest::closest;

/// Names a template may start with.
const SCOPE_ROOTS: &[&str] = &[
    "inputs",
    "vars",
    "context",
    "trigger",
    "steps",
    "workflow",
    "item",
    "index",
    "attempt",
    "iteration",
];
/// What `steps.<id>` holds.
pub const STEP_FIELDS: &[&str] = &[
    "output",
    "error",
    "status",
    "attempts",
    "visits",
    "duration_ms",
];
/// What `steps.<id>.error` holds.
pub const ERROR_FIELDS: &[&str] = &["kind", "message", "code", "retryable", "value", "attempts"];
/// What `workflow` holds.
pub const WORKFLOW_FIELDS: &[&str] = &["id", "name", "status", "error"];
/// What a webhook's templates read.
pub const REQUEST_ROOTS: &[&str] = &["body", "headers"];
/// What `trigger` holds: how the run was started (`cli`, `api`, `cron`,
/// `webhook`), by whom (a token's name), for a cron run its schedule and
/// the tick it was started for (RFC 3339), for a webhook run its path
/// (`null` where they do not apply).
pub const TRIGGER_FIELDS: &[&str] = &["kind", "by", "schedule", "scheduled_time", "path"];
/// What `workflow.error` holds (the system module's `failure` record).
pub const WORKFLOW_ERROR_FIELDS: &[&str] = &["step", "kind", "message", "code", "attempts"];

/// The most attempts a retry policy may ask for.
pub const MAX_ATTEMPTS: u32 = 100;
/// Default items of a `foreach` running at once.
pub const DEFAULT_MAP_CONCURRENCY: usize = 4;

/// Whether `id` can name a step: letters, digits, `_` and `-`, starting
/// with a letter or `_`.
pub fn is_valid_step_id(id: &str) -> bool {
    id.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// What validation found, and the plan when there were no errors.
#[derive(Debug)]
pub struct Checked {
    pub plan: Option<Plan>,
    pub diagnostics: Diagnostics,
}

/// What a step is, once its module and action are resolved.
struct Resolved {
    module: Arc<Module>,
    /// Shared by every step that calls the same action.
    action: Arc<Action>,
    /// The module's manifest: its default limits and the capabilities it asks for.
    manifest: Option<Arc<Manifest>>,
}

/// Where a template is, for the names it may use.
#[derive(Clone, Copy)]
struct Place {
    span: Span,
    in_foreach: bool,
    reads: Reads,
}

/// What a template may read, by where it is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// A step's template: the run's whole scope.
    Run,
    /// Evaluated when the run starts, so inputs only: what it is (a
    /// context value, the concurrency key), for messages.
    Inputs(&'static str),
    /// A webhook's `dedupe` and `inputs`: the request (`body`, `headers`).
    Request,
}

struct Checker<'a> {
    workflow: &'a Workflow,
    /// The file's text, to point at a reference inside a template.
    text: &'a str,
    /// Where its lines start.
    lines: LineIndex,
    problems: Diagnostics,
    ids: HashMap<&'a str, StepIndex>,
    resolved: Vec<Option<Resolved>>,
    /// Actions resolved so far, by module (its sha256) and name as written.
    actions: HashMap<(Digest, String), Arc<Action>>,
    /// The payload type of each wait step, by step index.
    waits: Vec<Option<Shape>>,
    /// Where modules and sub-workflows are loaded from.
    catalog: &'a Catalog,
    /// The directory sub-workflow paths are relative to.
    base_dir: &'a Path,
    /// The sub-workflow files met so far (cycles, each planned once).
    nesting: &'a Nesting,
    /// The child of each `workflow:` step, by step index.
    children: Vec<Option<Arc<PlannedChild>>>,
}

/// Validate `workflow` (read from `source`), loading its modules from
/// `catalog`; `nesting` holds the sub-workflow files met so far.
pub fn validate(
    source: &Source,
    workflow: &Workflow,
    catalog: &Catalog,
    nesting: &Nesting,
) -> Checked {
    let mut checker = Checker {
        workflow,
        text: &source.text,
        lines: LineIndex::new(&source.text),
        problems: Diagnostics::default(),
        ids: HashMap::new(),
        resolved: Vec::new(),
        actions: HashMap::new(),
        waits: Vec::new(),
        catalog,
        base_dir: source.base_dir(),
        nesting,
        children: Vec::new(),
    };
    checker.check_ids();
    checker.waits = checker.wait_shapes();
    checker.children = checker.plan_children();
    checker.resolved = workflow
        .steps
        .iter()
        .map(|step| checker.resolve_action(step, source, catalog))
        .collect();
    checker.check_inputs_spec();
    let context: Vec<Option<(String, Compiled)>> = workflow
        .context
        .iter()
        .map(|(name, value)| {
            let place = Place {
                span: value.span,
                in_foreach: false,
                reads: Reads::Inputs("a context value"),
            };
            Some((name.clone(), checker.templates_in(&value.value, place)?))
        })
        .collect();
    // Every step checked, each problem reported; the planned ones kept in
    // place (a plan exists only when every step was planned).
    let mut steps: Vec<PlannedStep> = Vec::with_capacity(workflow.steps.len());
    for (index, step) in workflow.steps.iter().enumerate() {
        if let Some(planned) = checker.check_step(index, step) {
            steps.push(planned);
        }
    }
    let on_failure = workflow
        .on_failure
        .as_ref()
        .and_then(|id| checker.target(id, "the workflow's `onFailure`"));
    let finally: Vec<StepIndex> = workflow
        .finally
        .iter()
        .filter_map(|id| checker.target(id, "`finally`"))
        .collect();
    let vars = checker.check_vars();
    let (outputs, output_shapes) = checker.check_outputs();
    let limits = checker.check_workflow_limits();
    let (triggers, webhooks) = checker.check_triggers();
    let concurrency = checker.check_concurrency();
    checker.check_circuit_modules();
    let mut diagnostics = std::mem::take(&mut checker.problems);
    if diagnostics.has_errors() {
        return Checked {
            plan: None,
            diagnostics: diagnostics.sorted(),
        };
    }
    let handlers: Vec<StepIndex> = on_failure.iter().chain(&finally).copied().collect();
    let roots = routing::check_graph(workflow, &mut steps, &handlers, &mut diagnostics);
    vars::check_parallel_writers(workflow, &steps, &roots, &mut diagnostics);
    let plan = (!diagnostics.has_errors()).then(|| Plan {
        name: workflow.name.value.clone(),
        file: source.path.clone(),
        inputs: workflow.inputs.clone(),
        // Every context value compiled: no errors were found.
        context: Compiled::Object(context.into_iter().flatten().collect()),
        vars,
        by_id: checker
            .ids
            .iter()
            .map(|(id, index)| (id.to_string(), *index))
            .collect(),
        steps,
        roots,
        on_failure,
        finally,
        max_concurrent_steps: limits.0,
        workflow_timeout: limits.1,
        triggers,
        webhooks,
        concurrency,
        outputs,
        output_shapes,
    });
    Checked {
        plan,
        diagnostics: diagnostics.sorted(),
    }
}

impl<'a> Checker<'a> {
    fn error(&mut self, diagnostic: Diagnostic) {
        self.problems.push(diagnostic);
    }

    fn check_ids(&mut self) {
        for (index, step) in self.workflow.steps.iter().enumerate() {
            let id = step.id.value.as_str();
            if !is_valid_step_id(id) {
                self.error(
                    Diagnostic::error(step.id.span, format!("invalid step id `{id}`"))
                        .with_help("use letters, digits, `_` and `-`, starting with a letter"),
                );
            }
            if let Some(first) = self.ids.get(id) {
                let line = self.workflow.steps[*first].id.span.line;
                self.error(
                    Diagnostic::error(step.id.span, format!("duplicate step id `{id}`"))
                        .with_help(format!("`{id}` is first defined at line {line}")),
                );
            } else {
                self.ids.insert(id, index);
            }
        }
    }

    /// The step `id` names, or an error naming where it was used.
    fn target(&mut self, id: &Spanned<String>, used_in: &str) -> Option<StepIndex> {
        if let Some(index) = self.ids.get(id.value.as_str()) {
            return Some(*index);
        }
        let suggestion = closest(&id.value, self.ids.keys().copied());
        self.error(
            Diagnostic::error(
                id.span,
                format!("{used_in} names unknown step `{}`", id.value),
            )
            .suggest(suggestion),
        );
        None
    }

    fn resolve_action(
        &mut self,
        step: &Step,
        source: &Source,
        catalog: &Catalog,
    ) -> Option<Resolved> {
        if step.parallel.is_some()
            || step.workflow.is_some()
            || step.wait.is_some()
            || step.sleep.is_some()
            || step.until.is_some()
        {
            return None;
        }
        let (Some(module_ref), Some(action_name)) = (&step.module, &step.action) else {
            let missing = if step.module.is_none() {
                "`module`"
            } else {
                "`action`"
            };
            self.error(
                Diagnostic::error(step.id.span, format!("step `{}` has no {missing}", step.id))
                    .with_help(
                        "an action step names a `module` and an `action`; a sub-workflow step has `workflow`; a group has `parallel`; a wait has `wait`; a timer has `sleep` or `until`",
                    ),
            );
            return None;
        };
        let entry = match catalog.load(&module_ref.value, source.base_dir()) {
            Ok(entry) => entry,
            Err(problem) => {
                self.error(Diagnostic::error(
                    module_ref.span,
                    format!("cannot load module: {problem}"),
                ));
                return None;
            }
        };
        if let Some(warning) = &entry.warning {
            self.error(Diagnostic::warning(module_ref.span, warning.clone()));
        }
        let key = (entry.module.digest(), action_name.value.clone());
        let found = match self.actions.get(&key) {
            Some(action) => Ok(Arc::clone(action)),
            None => entry.module.action(&action_name.value).map(|action| {
                let action = Arc::new(action.clone());
                self.actions.insert(key, Arc::clone(&action));
                action
            }),
        };
        match found {
            Ok(action) => Some(Resolved {
                action,
                module: entry.module,
                manifest: entry.manifest,
            }),
            Err(CallError::UnknownAction {
                module,
                action,
                suggestion,
                available,
            }) => {
                self.error(
                    Diagnostic::error(
                        action_name.span,
                        format!("module `{module}` has no action `{action}`"),
                    )
                    .suggest(suggestion.as_deref())
                    .with_help_if_none(format!("its actions: {}", available.join(", "))),
                );
                None
            }
            Err(error) => {
                self.error(Diagnostic::error(action_name.span, error.to_string()));
                None
            }
        }
    }

    fn check_inputs_spec(&mut self) {
        for (name, spec) in &self.workflow.inputs {
            if let Some(default) = &spec.default
                && !spec.ty.accepts(default)
            {
                self.error(Diagnostic::error(
                    self.workflow.name.span,
                    format!(
                        "the default of input `{name}` is not of its type {}",
                        spec.ty.name()
                    ),
                ));
            }
        }
    }

    fn check_step(&mut self, index: StepIndex, step: &Step) -> Option<PlannedStep> {
        let kind = self.check_kind(index, step);
        let place = Place {
            span: step.id.span,
            in_foreach: step.foreach.is_some(),
            reads: Reads::Run,
        };
        let inputs = self.check_step_inputs(index, step, place);
        let on_success = self.route(step.on_success.as_ref(), "`onSuccess`", place);
        let on_failure = self.route(step.on_failure.as_ref(), "`onFailure`", place);
        let needs: Vec<StepIndex> = step
            .needs
            .iter()
            .filter_map(|id| self.target(id, "`needs`"))
            .collect();
        let limits = self.step_limits(index, step);
        let retry = self.retry(step);
        let foreach = step.foreach.as_ref().map(|expr| {
            if !matches!(template::kind(expr), Kind::Expression(_)) {
                self.error(
                    Diagnostic::error(
                        expr.span,
                        "`foreach` must be one `{{ expression }}` giving a list",
                    )
                    .with_help("for example `foreach: \"{{ inputs.files }}\"`"),
                );
            }
            let compiled = self.templates_in(
                &Value::String(expr.value.clone()),
                Place {
                    in_foreach: false,
                    reads: Reads::Run,
                    span: expr.span,
                },
            );
            let concurrency = step
                .concurrency
                .as_ref()
                .map_or(DEFAULT_MAP_CONCURRENCY, |c| {
                    self.at_least_one(c, "`concurrency`");
                    c.value as usize
                });
            match compiled {
                Some(Compiled::Expression(expr)) => Some((expr, concurrency)),
                _ => None,
            }
        });
        let repeat = step.repeat.as_ref().map(|repeat| {
            let until = self.condition(
                &repeat.until,
                Place {
                    span: repeat.until.span,
                    ..place
                },
            );
            self.at_least_one(&repeat.max_iterations, "`max_iterations`");
            until.map(|until| (until, repeat.max_iterations.value))
        });
        let condition = step.condition.as_ref().map(|condition| {
            self.condition(
                condition,
                Place {
                    span: condition.span,
                    ..place
                },
            )
        });
        let set = self.check_set(step, place);
        if let Some(visits) = &step.max_visits {
            self.at_least_one(visits, "`max_visits`");
        }
        let permissions = self.permissions(index, step);
        self.check_child_grants(index, step, &permissions);
        let circuit = self.circuit(index, step);
        if step.foreach.is_some() && step.repeat.is_some() {
            self.error(
                Diagnostic::error(
                    step.id.span,
                    format!("step `{}` has both `foreach` and `loop`", step.id),
                )
                .with_help(
                    "loop inside a step of its own and map over that step, or the other way round",
                ),
            );
        }
        Some(PlannedStep {
            id: step.id.value.clone(),
            kind: kind?,
            inputs: inputs?,
            on_success,
            on_failure,
            limits,
            retry,
            continue_on_error: step.continue_on_error,
            needs,
            needed_by: Vec::new(),
            max_visits: step.max_visits.as_ref().map(|v| v.value),
            foreach: foreach.map_or(Some(None), |f| f.map(Some))?,
            repeat: repeat.map_or(Some(None), |r| r.map(Some))?,
            condition: condition.map_or(Some(None), |c| c.map(Some))?,
            set: set?,
            permissions,
            circuit,
        })
    }

    fn check_kind(&mut self, index: StepIndex, step: &Step) -> Option<StepKind> {
        if let Some(wait) = &step.wait {
            let shape = self.waits[index].clone();
            return self.check_wait(step, wait, shape.as_ref());
        }
        if step.sleep.is_some() || step.until.is_some() {
            return self.check_timer(step);
        }
        if step.workflow.is_some() {
            return self.check_child(index, step);
        }
        let Some(parallel) = &step.parallel else {
            let resolved = self.resolved[index].as_ref()?;
            return Some(StepKind::Action {
                module: resolved.module.clone(),
                action: resolved.action.name.clone(),
            });
        };
        // The keys of an action call, up to `retry` (a group's limits apply to its branches).
        for (key, present) in waits::action_keys(step).into_iter().take(6) {
            if present {
                self.error(
                    Diagnostic::error(
                        step.id.span,
                        format!("parallel group `{}` cannot have `{key}`", step.id),
                    )
                    .with_help("put the action in a step of its own and name it in `branches`"),
                );
            }
        }
        if parallel.branches.is_empty() {
            self.error(Diagnostic::error(
                step.id.span,
                "a parallel group needs at least one branch",
            ));
        }
        let branches: Vec<StepIndex> = parallel
            .branches
            .iter()
            .filter_map(|id| self.target(id, "`branches`"))
            .collect();
        if branches.contains(&index) {
            self.error(Diagnostic::error(
                step.id.span,
                format!("parallel group `{}` lists itself as a branch", step.id),
            ));
        }
        Some(StepKind::Parallel {
            branches,
            wait_for: parallel.wait_for,
        })
    }

    fn check_step_inputs(&mut self, index: StepIndex, step: &Step, place: Place) -> Option<Inputs> {
        let compiled: Vec<Option<Compiled>> = step
            .inputs
            .values()
            .map(|value| {
                let place = Place {
                    span: value.span,
                    ..place
                };
                self.templates_in(&value.value, place)
            })
            .collect();
        if let Some(resolved) = &self.resolved[index] {
            let action = Arc::clone(&resolved.action);
            self.check_params(&action, step, &compiled);
        }
        let fields = step
            .inputs
            .keys()
            .cloned()
            .zip(compiled)
            .map(|(name, input)| Some((name, input?)))
            .collect::<Option<Vec<_>>>()?;
        Some(if fields.iter().all(|(_, input)| input.is_constant()) {
            Inputs::Constant(Arc::new(Value::Object(
                fields
                    .into_iter()
                    .filter_map(|(name, input)| match input {
                        Compiled::Constant(value) => Some((name, value)),
                        _ => None,
                    })
                    .collect(),
            )))
        } else {
            Inputs::Templated(Compiled::Object(fields))
        })
    }

    /// The step's inputs against `action`'s parameters: unknown names,
    /// missing ones, literal values against their WIT types, and lone
    /// references against the type they read. `compiled` are the inputs in
    /// order (`None` where a template is invalid, already reported).
    fn check_params(&mut self, action: &Action, step: &Step, compiled: &[Option<Compiled>]) {
        let params: Vec<&str> = action.param_names().collect();
        for ((name, value), input) in step.inputs.iter().zip(compiled) {
            if !params.contains(&name.as_str()) {
                self.error(
                    Diagnostic::error(
                        value.span,
                        format!("action `{}` has no parameter `{name}`", action.name),
                    )
                    .suggest(closest(name, params.iter().copied()))
                    .with_help_if_none(format!("its signature: {}", action.signature)),
                );
                continue;
            }
            match input {
                Some(Compiled::Expression(expr)) => {
                    self.check_passed_reference(action, name, expr.expression(), value.span);
                }
                Some(Compiled::Constant(literal)) => {
                    if let Err(error) = action.check_param(name, literal) {
                        self.error(Diagnostic::error(
                            value.span,
                            format!("{}: {}", error.path, error.problem),
                        ));
                    }
                }
                _ => {}
            }
        }
        for param in &params {
            if !step.inputs.contains_key(*param) && !action.param_is_optional(param) {
                let ty = action.param_type(param).unwrap_or_default();
                self.error(
                    Diagnostic::error(
                        step.action.as_ref().map_or(step.id.span, |a| a.span),
                        format!(
                            "missing input `{param}` ({ty}) for action `{}`",
                            action.name
                        ),
                    )
                    .with_help(format!("its signature: {}", action.signature)),
                );
            }
        }
    }

    fn route(&mut self, route: Option<&Route>, what: &str, place: Place) -> PlannedRoute {
        let mut branches = Vec::new();
        match route {
            None => {}
            Some(Route::Goto(id)) => branches.extend(self.target(id, what).map(|t| (None, t))),
            Some(Route::Branches(list)) => {
                for branch in list {
                    let when = branch.when.as_ref().map(|when| {
                        self.condition(
                            when,
                            Place {
                                span: when.span,
                                ..place
                            },
                        )
                    });
                    if let Some(target) = self.target(&branch.goto, what) {
                        match when {
                            None => branches.push((None, target)),
                            Some(Some(when)) => branches.push((Some(when), target)),
                            Some(None) => {}
                        }
                    }
                }
            }
            Some(Route::Conditional(conditional)) => {
                let condition = &conditional.condition;
                let compiled = self.condition(
                    condition,
                    Place {
                        span: condition.span,
                        ..place
                    },
                );
                if let Some(then) = &conditional.then
                    && let Some(target) = self.target(then, what)
                    && let Some(compiled) = compiled
                {
                    branches.push((Some(compiled), target));
                }
                if let Some(otherwise) = &conditional.otherwise
                    && let Some(target) = self.target(otherwise, what)
                {
                    branches.push((None, target));
                }
            }
        }
        PlannedRoute { branches }
    }
}
