//! Template references: every name a `{{ }}` reads, checked against the
//! workflow (steps, inputs, context) and the WIT types of step outputs.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    Checker, ERROR_FIELDS, Place, REQUEST_ROOTS, Reads, SCOPE_ROOTS, STEP_FIELDS, TRIGGER_FIELDS,
    WORKFLOW_ERROR_FIELDS, WORKFLOW_FIELDS,
};
use crate::diagnostics::Diagnostic;
use crate::diagnostics::{Span, Spanned};
use crate::sandbox::Action;
use crate::sandbox::values::Shape;
use crate::suggest::closest;
use crate::workflow::model::{InputType, Wait};
use crate::workflow::template::{self, Compiled};

impl Checker<'_> {
    /// Check every template inside `value` (its strings, in arrays and
    /// objects too); the value compiled, unless a template is invalid.
    pub(super) fn templates_in(&mut self, value: &Value, place: Place) -> Option<Compiled> {
        self.compiled(template::compile_with_references(value), place)
    }

    /// Check a condition's syntax and every name it reads; the condition
    /// compiled, unless it is invalid.
    pub(super) fn condition(
        &mut self,
        text: &Spanned<String>,
        place: Place,
    ) -> Option<template::Expression> {
        self.compiled(template::compile_condition(&text.value), place)
    }

    /// Check the references of a compiled template, or report why it did
    /// not compile.
    fn compiled<T>(
        &mut self,
        compiled: Result<(T, BTreeMap<String, String>), String>,
        place: Place,
    ) -> Option<T> {
        match compiled {
            Ok((compiled, references)) => {
                for (reference, written) in references {
                    self.reference(&reference, &written, place);
                }
                Some(compiled)
            }
            Err(problem) => {
                self.error(Diagnostic::error(
                    place.span,
                    format!("invalid template: {problem}"),
                ));
                None
            }
        }
    }

    /// Check one dotted reference (`steps.build.output.count`), written as
    /// `written` (`steps['build'].output.count`).
    pub(super) fn reference(&mut self, reference: &str, written: &str, place: Place) {
        let place = Place {
            span: self.narrow(place.span, written),
            ..place
        };
        let segments: Vec<&str> = reference.split('.').collect();
        let at = |problem: String| Diagnostic::error(place.span, problem);
        match place.reads {
            Reads::Inputs(what) if segments[0] != "inputs" => {
                self.error(
                    at(format!(
                        "`{written}`: {what} is evaluated when the run starts, so it can read only `inputs`"
                    ))
                    .with_help("read it from the step that needs it instead"),
                );
                return;
            }
            Reads::Request => {
                if !REQUEST_ROOTS.contains(&segments[0]) {
                    self.error(
                        at(format!(
                            "`{written}`: a webhook's `dedupe` and `inputs` read the request: `body` (its JSON) and `headers` (by lower-case name)"
                        ))
                        .suggest(closest(segments[0], REQUEST_ROOTS.iter().copied())),
                    );
                }
                return;
            }
            Reads::Inputs(_) | Reads::Run => {}
        }
        let result = match segments[0] {
            "inputs" => match segments.get(1) {
                Some(name) if !self.workflow.inputs.contains_key(*name) => {
                    Err(
                        at(format!("`{written}`: the workflow has no input `{name}`")).suggest(
                            closest(name, self.workflow.inputs.keys().map(String::as_str)),
                        ),
                    )
                }
                _ => Ok(()),
            },
            "vars" => match segments.get(1) {
                Some(name) if !self.workflow.vars.contains_key(*name) => Err(at(format!(
                    "`{written}`: the workflow has no variable `{name}`"
                ))
                .suggest(closest(name, self.workflow.vars.keys().map(String::as_str)))),
                _ => Ok(()),
            },
            "context" => match segments.get(1) {
                Some(name) if !self.workflow.context.contains_key(*name) => Err(at(format!(
                    "`{written}`: the workflow has no context value `{name}`"
                ))
                .suggest(closest(
                    name,
                    self.workflow.context.keys().map(String::as_str),
                ))),
                _ => Ok(()),
            },
            "steps" => self
                .step_reference(written, &segments, place.span)
                .map(drop),
            "trigger" => match segments.get(1) {
                Some(field) if !TRIGGER_FIELDS.contains(field) => {
                    Err(at(format!("`{written}`: `trigger` has no `{field}`"))
                        .suggest(closest(field, TRIGGER_FIELDS.iter().copied())))
                }
                _ => Ok(()),
            },
            "workflow" => match (segments.get(1), segments.get(2)) {
                (Some(field), _) if !WORKFLOW_FIELDS.contains(field) => {
                    Err(at(format!("`{written}`: `workflow` has no `{field}`"))
                        .suggest(closest(field, WORKFLOW_FIELDS.iter().copied())))
                }
                (Some(&"error"), Some(field)) if !WORKFLOW_ERROR_FIELDS.contains(field) => Err(at(
                    format!("`{written}`: `workflow.error` has no `{field}`"),
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
    pub(super) fn check_passed_reference(
        &mut self,
        action: &Action,
        param: &str,
        expr: &str,
        span: Span,
    ) {
        let (Some(given), Some(wanted)) =
            (self.reference_shape(expr, span), action.param_shape(param))
        else {
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

    /// The shape of a lone dotted reference (`steps.x.output.y`,
    /// `inputs.n`), when it is one and its shape is known.
    pub(super) fn reference_shape(&self, expr: &str, span: Span) -> Option<Shape> {
        let is_path = expr
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !is_path {
            return None;
        }
        let segments: Vec<&str> = expr.split('.').collect();
        match segments[0] {
            "steps" => self.step_reference(expr, &segments, span).ok(),
            "inputs" if segments.len() == 2 => self
                .workflow
                .inputs
                .get(segments[1])
                .map(|spec| input_shape(spec.ty)),
            _ => None,
        }
    }

    /// The span of `needle` when it is written on the span's line at or
    /// after the span's start; otherwise the span itself. Lines are found
    /// by index; a very long line (a one-line JSON file) is not searched.
    pub(super) fn narrow(&self, span: Span, needle: &str) -> Span {
        const LONGEST_SEARCHED: usize = 4096;
        let Some(line) = self.lines.line(self.text, span.line) else {
            return span;
        };
        if line.len() > LONGEST_SEARCHED {
            return span;
        }
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

    pub(super) fn step_reference(
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
                    None if step.wait.as_ref().is_some_and(|w| w.approvals.is_some()) => {
                        super::waits::approvals_output()
                    }
                    None if step.wait.is_some() => self.waits[index].clone().unwrap_or(Shape::Any),
                    None => match &self.children[index] {
                        Some(child) if step.foreach.is_some() => {
                            Shape::List(Box::new(Shape::Record(child.plan.output_shapes.clone())))
                        }
                        Some(child) => Shape::Record(child.plan.output_shapes.clone()),
                        None => Shape::Any,
                    },
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
                let help = match &step.wait {
                    None if step.workflow.is_some() => {
                        let outputs: Vec<&str> = self.children[index]
                            .iter()
                            .flat_map(|c| c.plan.output_shapes.iter().map(|(n, _)| n.as_str()))
                            .collect();
                        format!(
                            "sub-workflow `{}` outputs: {}",
                            step.workflow.as_ref().map_or("", |w| &w.value),
                            if outputs.is_empty() {
                                "nothing (it declares no `outputs:`)".to_string()
                            } else {
                                outputs.join(", ")
                            }
                        )
                    }
                    Some(wait) if wait.approvals.is_some() => format!(
                        "step `{id}` waits for approvals; it outputs {}",
                        Wait::APPROVALS_OUTPUT
                    ),
                    Some(wait) => format!(
                        "step `{id}` waits for signal `{}` of type {}",
                        wait.signal_name(id),
                        wait.type_text()
                    ),
                    None => format!(
                        "`{}` returns: {signature}",
                        step.action.as_ref().map_or("", |a| &a.value)
                    ),
                };
                at(format!("`{reference}`: `{path}` {problem}")).with_help(help)
            })?;
            path = if segment.parse::<usize>().is_ok() {
                format!("{path}[{segment}]")
            } else {
                format!("{path}.{segment}")
            };
        }
        Ok(shape)
    }
}

/// The JSON shape a workflow input of type `ty` has.
pub(super) fn input_shape(ty: InputType) -> Shape {
    match ty {
        InputType::String => Shape::Scalar("string".into()),
        InputType::Integer | InputType::Number => Shape::Scalar("f64".into()),
        InputType::Boolean => Shape::Scalar("bool".into()),
        InputType::Object => Shape::Map(Box::new(Shape::Any)),
        InputType::Array => Shape::List(Box::new(Shape::Any)),
        InputType::Any => Shape::Any,
    }
}
