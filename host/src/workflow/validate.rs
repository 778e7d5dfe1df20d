//! Validation: every problem in a workflow, each at its line — structure,
//! routes, cycles, modules and actions, and the static type check of
//! literal inputs and template references against the actions' WIT types.
//! A valid workflow becomes a [`Plan`].

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::diagnostic::{Diagnostic, Diagnostics};
use super::graph::{cycle_through, strongly_connected};
use super::model::{InputType, Route, Step, Workflow};
use super::plan::{Plan, PlannedRoute, PlannedStep, RetryPolicy, StepIndex, StepKind};
use super::source::Source;
use super::span::{Span, Spanned};
use super::template::{self, Kind};
use crate::catalog::Catalog;
use crate::sandbox::values::Shape;
use crate::sandbox::{Action, CallError, FailureKind, Limits, Module};
use crate::suggest::closest;

/// Failure kinds the engine adds to the sandbox's.
pub const ENGINE_FAILURE_KINDS: &[&str] = &[
    "template",
    "max-visits",
    "max-iterations",
    "cancelled",
    "workflow-timeout",
];

/// Every failure kind a route or a retry policy can name.
pub fn failure_kinds() -> Vec<&'static str> {
    let mut kinds: Vec<&str> = [
        FailureKind::Error,
        FailureKind::Trap,
        FailureKind::FuelExhausted,
        FailureKind::MemoryLimit,
        FailureKind::Timeout,
        FailureKind::StackOverflow,
        FailureKind::InvalidInput,
    ]
    .iter()
    .map(|kind| kind.as_str())
    .collect();
    kinds.extend(ENGINE_FAILURE_KINDS);
    kinds
}

/// Names a template may start with.
const SCOPE_ROOTS: &[&str] = &[
    "inputs",
    "context",
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
const WORKFLOW_FIELDS: &[&str] = &["id", "name", "status", "error"];
/// What `workflow.error` holds (the system module's `failure` record).
const WORKFLOW_ERROR_FIELDS: &[&str] = &["step", "kind", "message", "code", "attempts"];

/// The most attempts a retry policy may ask for.
pub const MAX_ATTEMPTS: u32 = 100;
/// Default items of a `foreach` running at once.
pub const DEFAULT_MAP_CONCURRENCY: usize = 4;

/// What validation found, and the plan when there were no errors.
#[derive(Debug)]
pub struct Checked {
    pub plan: Option<Plan>,
    pub diagnostics: Diagnostics,
}

/// What a step is, once its module and action are resolved.
struct Resolved {
    module: Arc<Module>,
    action: Action,
}

/// Where a template is, for the names it may use.
#[derive(Clone, Copy)]
struct Place {
    span: Span,
    in_foreach: bool,
}

struct Checker<'a> {
    workflow: &'a Workflow,
    /// The file's text, to point at a reference inside a template.
    text: &'a str,
    problems: Diagnostics,
    ids: HashMap<&'a str, StepIndex>,
    resolved: Vec<Option<Resolved>>,
}

/// Validate `workflow` (read from `source`), loading its modules from `catalog`.
pub fn validate(source: &Source, workflow: &Workflow, catalog: &Catalog) -> Checked {
    let mut checker = Checker {
        workflow,
        text: &source.text,
        problems: Diagnostics::default(),
        ids: HashMap::new(),
        resolved: Vec::new(),
    };
    checker.check_ids();
    checker.resolved = workflow
        .steps
        .iter()
        .map(|step| checker.resolve_action(step, source, catalog))
        .collect();
    checker.check_inputs_spec();
    let steps: Vec<Option<PlannedStep>> = workflow
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| checker.check_step(index, step))
        .collect();
    let on_failure = workflow
        .on_failure
        .as_ref()
        .and_then(|id| checker.target(id, "the workflow's `onFailure`"));
    let finally: Vec<StepIndex> = workflow
        .finally
        .iter()
        .filter_map(|id| checker.target(id, "`finally`"))
        .collect();
    let limits = checker.check_workflow_limits();
    let mut diagnostics = std::mem::take(&mut checker.problems);
    if diagnostics.has_errors() {
        return Checked {
            plan: None,
            diagnostics: diagnostics.sorted(),
        };
    }
    let mut steps: Vec<PlannedStep> = steps.into_iter().flatten().collect();
    let handlers: Vec<StepIndex> = on_failure.iter().chain(&finally).copied().collect();
    let roots = check_graph(workflow, &mut steps, &handlers, &mut diagnostics);
    let plan = (!diagnostics.has_errors()).then(|| Plan {
        name: workflow.name.value.clone(),
        file: source.path.clone(),
        inputs: workflow.inputs.clone(),
        context: Value::Object(workflow.context.clone().into_iter().collect()),
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
            let valid = id.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
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
        if step.parallel.is_some() {
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
                        "an action step names a `module` and an `action`; a group has `parallel`",
                    ),
            );
            return None;
        };
        let module = match catalog.load(&module_ref.value, source.base_dir()) {
            Ok(module) => module,
            Err(problem) => {
                self.error(Diagnostic::error(
                    module_ref.span,
                    format!("cannot load module: {problem}"),
                ));
                return None;
            }
        };
        match module.action(&action_name.value) {
            Ok(action) => Some(Resolved {
                action: action.clone(),
                module: module.clone(),
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
        };
        self.check_step_inputs(index, step, place);
        let on_success = self.route(step.on_success.as_ref(), "`onSuccess`", place);
        let on_failure = self.route(step.on_failure.as_ref(), "`onFailure`", place);
        let needs: Vec<StepIndex> = step
            .needs
            .iter()
            .filter_map(|id| self.target(id, "`needs`"))
            .collect();
        let limits = self.step_limits(step);
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
            self.template(
                expr,
                Place {
                    in_foreach: false,
                    span: expr.span,
                },
                false,
            );
            let concurrency = step
                .concurrency
                .as_ref()
                .map_or(DEFAULT_MAP_CONCURRENCY, |c| {
                    self.at_least_one(c, "`concurrency`");
                    c.value as usize
                });
            (expr.value.clone(), concurrency)
        });
        let repeat = step.repeat.as_ref().map(|repeat| {
            self.template(
                &repeat.until,
                Place {
                    span: repeat.until.span,
                    ..place
                },
                true,
            );
            self.at_least_one(&repeat.max_iterations, "`max_iterations`");
            (repeat.until.value.clone(), repeat.max_iterations.value)
        });
        if let Some(visits) = &step.max_visits {
            self.at_least_one(visits, "`max_visits`");
        }
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
            templated: step.inputs.values().any(|v| template::has_template(v)),
            inputs: step
                .inputs
                .iter()
                .map(|(name, value)| (name.clone(), value.value.clone()))
                .collect(),
            on_success,
            on_failure,
            limits,
            retry,
            continue_on_error: step.continue_on_error,
            needs,
            needed_by: Vec::new(),
            max_visits: step.max_visits.as_ref().map(|v| v.value),
            foreach,
            repeat,
        })
    }

    fn check_kind(&mut self, index: StepIndex, step: &Step) -> Option<StepKind> {
        let Some(parallel) = &step.parallel else {
            let resolved = self.resolved[index].as_ref()?;
            return Some(StepKind::Action {
                module: resolved.module.clone(),
                action: resolved.action.name.clone(),
            });
        };
        let extra = [
            ("module", step.module.is_some()),
            ("action", step.action.is_some()),
            ("inputs", !step.inputs.is_empty()),
            ("foreach", step.foreach.is_some()),
            ("loop", step.repeat.is_some()),
            ("retry", step.retry.is_some()),
        ];
        for (key, present) in extra {
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

    fn check_step_inputs(&mut self, index: StepIndex, step: &Step, place: Place) {
        for value in step.inputs.values() {
            self.templates_in(
                &value.value,
                Place {
                    span: value.span,
                    ..place
                },
            );
        }
        let Some(resolved) = &self.resolved[index] else {
            return;
        };
        let action = resolved.action.clone();
        let params: Vec<String> = action.param_names().map(String::from).collect();
        for (name, value) in &step.inputs {
            if !params.contains(name) {
                self.error(
                    Diagnostic::error(
                        value.span,
                        format!("action `{}` has no parameter `{name}`", action.name),
                    )
                    .suggest(closest(name, params.iter().map(String::as_str)))
                    .with_help_if_none(format!("its signature: {}", action.signature)),
                );
            } else if let Value::String(text) = &value.value
                && let Kind::Expression(expr) = template::kind(text)
            {
                self.check_passed_reference(&action, name, expr, value.span);
            } else if !template::has_template(&value.value)
                && let Err(error) = action.check_param(name, &value.value)
            {
                self.error(Diagnostic::error(
                    value.span,
                    format!("{}: {}", error.path, error.problem),
                ));
            }
        }
        for param in &params {
            if !step.inputs.contains_key(param) && !action.param_is_optional(param) {
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
                    if let Some(when) = &branch.when {
                        self.template(
                            when,
                            Place {
                                span: when.span,
                                ..place
                            },
                            true,
                        );
                    }
                    if let Some(target) = self.target(&branch.goto, what) {
                        branches.push((branch.when.as_ref().map(|w| w.value.clone()), target));
                    }
                }
            }
            Some(Route::Conditional(conditional)) => {
                let condition = &conditional.condition;
                self.template(
                    condition,
                    Place {
                        span: condition.span,
                        ..place
                    },
                    true,
                );
                if let Some(then) = &conditional.then
                    && let Some(target) = self.target(then, what)
                {
                    branches.push((Some(condition.value.clone()), target));
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

    fn templates_in(&mut self, value: &Value, place: Place) {
        match value {
            Value::String(text) => {
                self.template(&Spanned::new(place.span, text.clone()), place, false);
            }
            Value::Array(items) => items.iter().for_each(|item| self.templates_in(item, place)),
            Value::Object(map) => map.values().for_each(|item| self.templates_in(item, place)),
            _ => {}
        }
    }

    /// Check a template's syntax and every name it reads.
    fn template(&mut self, text: &Spanned<String>, place: Place, condition: bool) {
        let found = if condition {
            template::condition_references(&text.value)
        } else {
            template::references(&text.value)
        };
        match found {
            Ok(references) => {
                for reference in references {
                    self.reference(&reference, place);
                }
            }
            Err(problem) => self.error(Diagnostic::error(
                text.span,
                format!("invalid template: {problem}"),
            )),
        }
    }

    /// Check one dotted reference (`steps.build.output.count`).
    fn reference(&mut self, reference: &str, place: Place) {
        let place = Place {
            span: self.narrow(place.span, reference),
            ..place
        };
        let segments: Vec<&str> = reference.split('.').collect();
        let at = |problem: String| Diagnostic::error(place.span, problem);
        let result = match segments[0] {
            "inputs" => match segments.get(1) {
                Some(name) if !self.workflow.inputs.contains_key(*name) => {
                    Err(
                        at(format!("`{reference}`: the workflow has no input `{name}`")).suggest(
                            closest(name, self.workflow.inputs.keys().map(String::as_str)),
                        ),
                    )
                }
                _ => Ok(()),
            },
            "context" => match segments.get(1) {
                Some(name) if !self.workflow.context.contains_key(*name) => Err(at(format!(
                    "`{reference}`: the workflow has no context value `{name}`"
                ))
                .suggest(closest(
                    name,
                    self.workflow.context.keys().map(String::as_str),
                ))),
                _ => Ok(()),
            },
            "steps" => self
                .step_reference(reference, &segments, place.span)
                .map(drop),
            "workflow" => match (segments.get(1), segments.get(2)) {
                (Some(field), _) if !WORKFLOW_FIELDS.contains(field) => {
                    Err(at(format!("`{reference}`: `workflow` has no `{field}`"))
                        .suggest(closest(field, WORKFLOW_FIELDS.iter().copied())))
                }
                (Some(&"error"), Some(field)) if !WORKFLOW_ERROR_FIELDS.contains(field) => Err(at(
                    format!("`{reference}`: `workflow.error` has no `{field}`"),
                )
                .suggest(closest(field, WORKFLOW_ERROR_FIELDS.iter().copied()))),
                _ => Ok(()),
            },
            "item" | "index" if !place.in_foreach => Err(at(format!(
                "`{}` is only defined in a step with `foreach`",
                segments[0]
            ))),
            root if SCOPE_ROOTS.contains(&root) => Ok(()),
            root => Err(at(format!("unknown name `{root}` in a template"))
                .suggest(closest(root, SCOPE_ROOTS.iter().copied()))
                .with_help_if_none(format!(
                    "templates can read: {}; a step id with `-` is read as `steps[\"my-step\"]`",
                    SCOPE_ROOTS.join(", ")
                ))),
        };
        if let Err(diagnostic) = result {
            self.error(diagnostic);
        }
    }

    /// `param: "{{ steps.x.output.y }}"`: when both the reference's JSON type
    /// and the parameter's are known, they must agree.
    fn check_passed_reference(&mut self, action: &Action, param: &str, expr: &str, span: Span) {
        let is_path = expr
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !is_path {
            return;
        }
        let segments: Vec<&str> = expr.split('.').collect();
        let given = match segments[0] {
            "steps" => self.step_reference(expr, &segments, span).ok(),
            "inputs" if segments.len() == 2 => self
                .workflow
                .inputs
                .get(segments[1])
                .map(|spec| input_shape(spec.ty)),
            _ => None,
        };
        let (Some(given), Some(wanted)) = (given, action.param_shape(param)) else {
            return;
        };
        if let (Some(found), Some(expected)) = (given.json_kind(), wanted.json_kind())
            && found != expected
        {
            let ty = action.param_type(param).unwrap_or_default();
            self.error(Diagnostic::error(
                self.narrow(span, expr),
                format!(
                    "`{expr}` is {found}, but parameter `{param}` of `{}` takes {ty}",
                    action.name
                ),
            ));
        }
    }

    /// The span of `needle` when it is written on the span's line at or
    /// after the span's start; otherwise the span itself.
    fn narrow(&self, span: Span, needle: &str) -> Span {
        let Some(line) = self.text.lines().nth(span.line as usize - 1) else {
            return span;
        };
        let start: usize = line
            .char_indices()
            .nth(span.col as usize - 1)
            .map_or(line.len(), |(i, _)| i);
        match line[start..].find(needle) {
            Some(offset) => Span::new(
                span.line as usize,
                line[..start + offset].chars().count() + 1,
                needle.chars().count(),
            ),
            None => span,
        }
    }

    fn step_reference(
        &self,
        reference: &str,
        segments: &[&str],
        span: Span,
    ) -> Result<Shape, Diagnostic> {
        let at = |problem: String| Diagnostic::error(span, problem);
        let Some(id) = segments.get(1) else {
            return Ok(Shape::Any);
        };
        let Some(&index) = self.ids.get(id) else {
            return Err(at(format!("`{reference}`: there is no step `{id}`"))
                .suggest(closest(id, self.ids.keys().copied())));
        };
        let Some(field) = segments.get(2) else {
            return Ok(Shape::Any);
        };
        if !STEP_FIELDS.contains(field) {
            return Err(at(format!("`{reference}`: a step has no `{field}`"))
                .suggest(closest(field, STEP_FIELDS.iter().copied()))
                .with_help_if_none(format!("a step has: {}", STEP_FIELDS.join(", "))));
        }
        let step = &self.workflow.steps[index];
        let resolved = self.resolved[index].as_ref();
        let (mut shape, rest, described) = match *field {
            "output" => {
                let shape = match resolved {
                    None => Shape::Any,
                    Some(r) if step.foreach.is_some() => {
                        Shape::List(Box::new(r.action.output_shape()))
                    }
                    Some(r) => r.action.output_shape(),
                };
                (shape, &segments[3..], format!("steps.{id}.output"))
            }
            "error" => match segments.get(3) {
                None => return Ok(Shape::Any),
                Some(&"value") => (
                    resolved.map_or(Shape::Any, |r| r.action.error_shape()),
                    &segments[4..],
                    format!("steps.{id}.error.value"),
                ),
                Some(field) if ERROR_FIELDS.contains(field) => return Ok(Shape::Any),
                Some(field) => {
                    return Err(
                        at(format!("`{reference}`: a step's error has no `{field}`"))
                            .suggest(closest(field, ERROR_FIELDS.iter().copied())),
                    );
                }
            },
            "status" => return Ok(Shape::Scalar("string".into())),
            _ => return Ok(Shape::Scalar("u32".into())),
        };
        let mut path = described;
        for segment in rest {
            shape = shape.field(segment).map_err(|problem| {
                let signature = resolved
                    .map(|r| r.action.signature.clone())
                    .unwrap_or_default();
                at(format!("`{reference}`: `{path}` {problem}")).with_help(format!(
                    "`{}` returns: {signature}",
                    step.action.as_ref().map_or("", |a| &a.value)
                ))
            })?;
            path = format!("{path}.{segment}");
        }
        Ok(shape)
    }

    fn step_limits(&mut self, step: &Step) -> Limits {
        let defaults = &self.workflow.limits.step;
        let fuel = step.limits.fuel.as_ref().or(defaults.fuel.as_ref());
        let memory = step.limits.memory.as_ref().or(defaults.memory.as_ref());
        let timeout = step
            .timeout
            .as_ref()
            .or(step.limits.timeout.as_ref())
            .or(defaults.timeout.as_ref());
        let mut limits = Limits::default();
        if let Some(fuel) = fuel {
            self.at_least_one(
                &Spanned::new(fuel.span, u32::from(fuel.value > 0)),
                "`fuel`",
            );
            limits.fuel = fuel.value;
        }
        if let Some(memory) = memory {
            limits.memory_bytes = memory.value.0;
        }
        if let Some(timeout) = timeout {
            limits.timeout = timeout.value.0;
        }
        if let Err(problem) = limits.check() {
            let span = [memory.map(|m| m.span), timeout.map(|t| t.span)]
                .into_iter()
                .flatten()
                .next()
                .unwrap_or(step.id.span);
            self.error(Diagnostic::error(
                span,
                format!("step `{}`: {problem}", step.id),
            ));
        }
        limits
    }

    fn retry(&mut self, step: &Step) -> RetryPolicy {
        let Some(retry) = &step.retry else {
            return RetryPolicy::NONE;
        };
        if retry.max_attempts.value == 0 || retry.max_attempts.value > MAX_ATTEMPTS {
            self.error(Diagnostic::error(
                retry.max_attempts.span,
                format!("`max_attempts` must be from 1 to {MAX_ATTEMPTS}"),
            ));
        }
        let kinds = failure_kinds();
        for kind in &retry.on {
            if !kinds.contains(&kind.value.as_str()) {
                self.error(
                    Diagnostic::error(kind.span, format!("unknown failure kind `{}`", kind.value))
                        .suggest(closest(&kind.value, kinds.iter().copied()))
                        .with_help_if_none(format!("failure kinds: {}", kinds.join(", "))),
                );
            }
        }
        RetryPolicy {
            max_attempts: retry.max_attempts.value.max(1),
            backoff: retry.backoff,
            initial: retry
                .initial
                .as_ref()
                .map_or(RetryPolicy::NONE.initial, |d| d.value.0),
            max: retry
                .max
                .as_ref()
                .map_or(RetryPolicy::NONE.max, |d| d.value.0),
            jitter: retry.jitter,
            on: (!retry.on.is_empty()).then(|| retry.on.iter().map(|k| k.value.clone()).collect()),
        }
    }

    fn check_workflow_limits(&mut self) -> (usize, Option<std::time::Duration>) {
        let limits = &self.workflow.limits;
        let concurrency = limits.max_concurrent_steps.as_ref().map_or_else(
            || std::thread::available_parallelism().map_or(2, usize::from),
            |n| {
                self.at_least_one(n, "`max_concurrent_steps`");
                n.value as usize
            },
        );
        let timeout = limits.workflow_timeout.as_ref().map(|t| t.value.0);
        (concurrency.max(1), timeout)
    }

    fn at_least_one(&mut self, value: &Spanned<u32>, what: &str) {
        if value.value == 0 {
            self.error(Diagnostic::error(
                value.span,
                format!("{what} must be at least 1"),
            ));
        }
    }
}

/// Check the routing graph — unbounded cycles, `needs` cycles, steps that
/// are never reached — and return the steps that start the run.
fn check_graph(
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

/// The JSON shape a workflow input of type `ty` has.
fn input_shape(ty: InputType) -> Shape {
    match ty {
        InputType::String => Shape::Scalar("string".into()),
        InputType::Integer | InputType::Number => Shape::Scalar("f64".into()),
        InputType::Boolean => Shape::Scalar("bool".into()),
        InputType::Object => Shape::Map(Box::new(Shape::Any)),
        InputType::Array => Shape::List(Box::new(Shape::Any)),
        InputType::Any => Shape::Any,
    }
}

fn names(steps: &[PlannedStep], path: &[StepIndex]) -> String {
    path.iter()
        .map(|&i| steps[i].id.as_str())
        .collect::<Vec<_>>()
        .join(" → ")
}
