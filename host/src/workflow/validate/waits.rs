//! `wait:` steps: the signal's name, the payload's WIT type, the timeout
//! and what happens after it; one type per signal name. Timers (`sleep:`,
//! `until:`): a duration, or one expression giving the time.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::{Checker, Place, Reads};
use crate::diagnostics::{Diagnostic, Span};
use crate::sandbox::values::Shape;
use crate::workflow::model::{OnTimeout, Step, Wait};
use crate::workflow::plan::{PlannedSignal, PlannedWait, StepKind};
use crate::workflow::template::{self, Compiled, Kind};
use crate::workflow::wit_type;

/// The keys of `step` that configure an action call (refused on a wait
/// or a timer), and whether each is there.
pub(super) fn action_keys(step: &Step) -> [(&'static str, bool); 10] {
    let limits =
        step.limits.fuel.is_some() || step.limits.memory.is_some() || step.limits.timeout.is_some();
    [
        ("module", step.module.is_some()),
        ("action", step.action.is_some()),
        ("inputs", !step.inputs.is_empty()),
        ("foreach", step.foreach.is_some()),
        ("loop", step.repeat.is_some()),
        ("retry", step.retry.is_some()),
        ("parallel", step.parallel.is_some()),
        ("limits", limits),
        ("timeout", step.timeout.is_some()),
        ("concurrency", step.concurrency.is_some()),
    ]
}

/// What a step that waits for approvals outputs.
pub(super) fn approvals_output() -> Shape {
    wit_type::parse(Wait::APPROVALS_OUTPUT).unwrap_or(Shape::Any)
}

/// Whether `name` may name a signal (it appears in URLs and commands).
pub fn valid_signal_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Checker<'_> {
    /// Refuse the keys of an action call on a step that is `what`.
    fn refuse_action_keys(&mut self, step: &Step, what: &str) {
        for (key, present) in action_keys(step) {
            if present {
                let help = if key == "timeout" && step.wait.is_some() {
                    "a wait's timeout is `wait.timeout`".to_string()
                } else {
                    format!("{what}; call actions in steps of their own")
                };
                self.error(
                    Diagnostic::error(
                        step.id.span,
                        format!("step `{}` cannot have `{key}`", step.id),
                    )
                    .with_help(help),
                );
            }
        }
    }

    /// A timer step (`sleep:` or `until:`).
    pub(super) fn check_timer(&mut self, step: &Step) -> Option<StepKind> {
        self.refuse_action_keys(step, "a timer waits until its time");
        if step.sleep.is_some() && step.until.is_some() {
            self.error(
                Diagnostic::error(
                    step.id.span,
                    format!("step `{}` has both `sleep` and `until`", step.id),
                )
                .with_help("sleep a duration, or until a time"),
            );
        }
        let until = match &step.until {
            None => None,
            Some(text) => {
                if !matches!(template::kind(text), Kind::Expression(_)) {
                    self.error(
                        Diagnostic::error(
                            text.span,
                            "`until` must be one `{{ expression }}` giving a time",
                        )
                        .with_help(
                            "for example `until: \"{{ inputs.release_time }}\"` (RFC 3339, or seconds since the epoch)",
                        ),
                    );
                    return None;
                }
                let place = Place {
                    span: text.span,
                    in_foreach: false,
                    reads: Reads::Run,
                };
                match self.templates_in(&Value::String(text.value.clone()), place)? {
                    Compiled::Expression(expression) => Some(expression),
                    _ => return None,
                }
            }
        };
        Some(StepKind::Wait(Arc::new(PlannedWait {
            signal: None,
            until,
            timeout: step.sleep.as_ref().map(|s| s.value.0),
            on_timeout: None,
        })))
    }

    /// The payload shape of every wait step (by index), each type parsed
    /// and reported once; a signal name given two types is an error.
    pub(super) fn wait_shapes(&mut self) -> Vec<Option<Shape>> {
        let mut types: HashMap<&str, (&str, &str)> = HashMap::new();
        let workflow = self.workflow;
        workflow
            .steps
            .iter()
            .map(|step| {
                let wait = step.wait.as_ref()?;
                let text = wait.type_text();
                let name = wait.signal_name(&step.id.value);
                // Where to point: the type, else the signal, else the step.
                let span = wait
                    .ty
                    .as_ref()
                    .map(|t| t.span)
                    .or(wait.signal.as_ref().map(|s| s.span))
                    .unwrap_or(step.id.span);
                if let Some((first_step, first_type)) =
                    types.insert(name, (&step.id.value, text))
                    && first_type != text
                {
                    self.error(
                        Diagnostic::error(
                            span,
                            format!(
                                "signal `{name}` has type `{first_type}` at step `{first_step}`, `{text}` here"
                            ),
                        )
                        .with_help("a signal name has one payload type: use another name, or the same type"),
                    );
                }
                match wit_type::parse(text) {
                    Ok(shape) => Some(shape),
                    Err(error) => {
                        let at = self.type_error_span(span, text, &error);
                        self.error(
                            Diagnostic::error(
                                at,
                                format!("`wait.type`: {}", error.problem),
                            )
                            .with_help(
                                "a WIT type: bool, u32, string, list<T>, option<T>, record { name: T, … }, enum { a, b }, …",
                            ),
                        );
                        None
                    }
                }
            })
            .collect()
    }

    /// Where in a `type` written at `span` the parse `error` is: the
    /// offending token when the type is found on its line, else the span.
    fn type_error_span(&self, span: Span, text: &str, error: &wit_type::TypeError) -> Span {
        let whole = self.narrow(span, text);
        if whole == span {
            return span;
        }
        let before = text[..error.offset].chars().count();
        let len = text[error.offset..]
            .get(..error.len)
            .map_or(1, |s| s.chars().count());
        Span::new(whole.line as usize, whole.col as usize + before, len)
    }

    /// A wait step's kind; `payload` its payload type (`None` when invalid,
    /// already reported).
    pub(super) fn check_wait(
        &mut self,
        step: &Step,
        wait: &Wait,
        payload: Option<&Shape>,
    ) -> Option<StepKind> {
        self.refuse_action_keys(step, "a wait step waits for a signal");
        if step.sleep.is_some() || step.until.is_some() {
            self.error(
                Diagnostic::error(
                    step.id.span,
                    format!(
                        "step `{}` has `wait` and a timer (`sleep`/`until`)",
                        step.id
                    ),
                )
                .with_help("a wait's own deadline is `wait.timeout`"),
            );
        }
        if let Some(signal) = &wait.signal
            && !valid_signal_name(&signal.value)
        {
            self.error(
                Diagnostic::error(
                    signal.span,
                    format!("invalid signal name `{}`", signal.value),
                )
                .with_help("use up to 64 letters, digits, `_` and `-`"),
            );
        }
        let approvals_required = wait.approvals.as_ref().map(|approvals| {
            if let Some(ty) = &wait.ty {
                self.error(
                    Diagnostic::error(ty.span, "a wait for approvals has no `type`")
                        .with_help(format!("an approval's payload is {}", Wait::APPROVAL_TYPE)),
                );
            }
            let required = approvals.required.as_ref();
            if let Some(required) = required {
                self.at_least_one(required, "`required`");
                if !approvals.from.is_empty() && required.value as usize > approvals.from.len() {
                    self.error(Diagnostic::error(
                        required.span,
                        format!(
                            "{} approvals required, but only {} people may approve",
                            required.value,
                            approvals.from.len()
                        ),
                    ));
                }
            }
            required.map_or(1, |r| r.value)
        });
        // The on_timeout value is what the step outputs.
        let output = approvals_required.map(|_| approvals_output());
        let shape = output.as_ref().or(payload);
        let on_timeout = match &wait.on_timeout {
            Some(OnTimeout::Value(value)) => {
                if wait.timeout.is_none() {
                    self.error(
                        Diagnostic::warning(
                            value.span,
                            "`on_timeout` without `timeout`: the wait never times out",
                        )
                        .with_help("add `timeout: 72h` (or how long to wait)"),
                    );
                }
                if let Some(shape) = shape
                    && let Err(problem) = wit_type::check(shape, &value.value, "on_timeout.value")
                {
                    self.error(Diagnostic::error(value.span, problem));
                }
                let mut value = value.value.clone();
                if let Some(shape) = shape {
                    wit_type::complete(shape, &mut value);
                }
                Some(Arc::new(value))
            }
            Some(OnTimeout::Fail) | None => None,
        };
        // An invalid type was reported; no plan.
        payload?;
        Some(StepKind::Wait(Arc::new(PlannedWait {
            signal: Some(PlannedSignal {
                name: wait.signal_name(&step.id.value).to_string(),
                type_text: wait.type_text().to_string(),
                approvals_required,
            }),
            until: None,
            timeout: wait.timeout.as_ref().map(|t| t.value.0),
            on_timeout,
        })))
    }
}
