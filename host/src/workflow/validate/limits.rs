//! Limits and retry policies: parsed values within the host's maximums.

use super::{Checker, MAX_ATTEMPTS, Place, Reads};

/// Attempts in the sandbox at once when a workflow does not say: steps
/// often wait on programs, timers or the network rather than compute, and
/// guest code yields to the others at every epoch tick.
pub const DEFAULT_MAX_CONCURRENT_STEPS: usize = 16;
use crate::diagnostics::Diagnostic;
use crate::diagnostics::Spanned;
use crate::manifest::ModuleLimits;
use crate::sandbox::Limits;
use crate::suggest::closest;
use crate::workflow::StepFailureKind;
use crate::workflow::model::Step;
use crate::workflow::plan::{PlannedConcurrency, RetryPolicy, StepIndex};

impl Checker<'_> {
    /// The step's limits: its own, else the workflow's, else the module's
    /// manifest defaults, else the host's defaults.
    pub(super) fn step_limits(&mut self, index: StepIndex, step: &Step) -> Limits {
        let defaults = &self.workflow.limits.step;
        let module = self.resolved[index]
            .as_ref()
            .and_then(|resolved| resolved.manifest.as_ref())
            .map(|manifest| manifest.limits)
            .unwrap_or_default();
        let fuel = step.limits.fuel.as_ref().or(defaults.fuel.as_ref());
        let memory = step.limits.memory.as_ref().or(defaults.memory.as_ref());
        let timeout = step
            .timeout
            .as_ref()
            .or(step.limits.timeout.as_ref())
            .or(defaults.timeout.as_ref());
        if let Some(fuel) = fuel {
            self.at_least_one(
                &Spanned::new(fuel.span, u32::from(fuel.value > 0)),
                "`fuel`",
            );
        }
        let limits = module.resolve(&ModuleLimits {
            fuel: fuel.map(|f| f.value),
            memory_bytes: memory.map(|m| m.value.0),
            timeout: timeout.map(|t| t.value.0),
        });
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

    pub(super) fn retry(&mut self, step: &Step) -> RetryPolicy {
        let Some(retry) = &step.retry else {
            return RetryPolicy::NONE;
        };
        if retry.max_attempts.value == 0 || retry.max_attempts.value > MAX_ATTEMPTS {
            self.error(Diagnostic::error(
                retry.max_attempts.span,
                format!("`max_attempts` must be from 1 to {MAX_ATTEMPTS}"),
            ));
        }
        let mut on = Vec::new();
        for kind in &retry.on {
            match StepFailureKind::parse(&kind.value) {
                Some(parsed) => on.push(parsed),
                None => self.error(
                    Diagnostic::error(kind.span, format!("unknown failure kind `{}`", kind.value))
                        .suggest(closest(&kind.value, StepFailureKind::names()))
                        .with_help_if_none(format!(
                            "failure kinds: {}",
                            StepFailureKind::names().collect::<Vec<_>>().join(", ")
                        )),
                ),
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
            on: (!on.is_empty()).then_some(on),
        }
    }

    pub(super) fn check_workflow_limits(&mut self) -> (usize, Option<std::time::Duration>) {
        let limits = &self.workflow.limits;
        let explicit = limits.max_concurrent_steps.is_some();
        let concurrency = limits
            .max_concurrent_steps
            .as_ref()
            .map_or(DEFAULT_MAX_CONCURRENT_STEPS, |n| {
                self.at_least_one(n, "`max_concurrent_steps`");
                n.value as usize
            })
            .max(1);
        // A default never silently shrinks an explicit setting.
        for step in &self.workflow.steps {
            if let Some(wanted) = &step.concurrency
                && wanted.value as usize > concurrency
            {
                self.problems.push(
                    Diagnostic::warning(
                        wanted.span,
                        format!(
                            "`concurrency: {}` is limited by the workflow's `max_concurrent_steps` of {concurrency}{}",
                            wanted.value,
                            if explicit { "" } else { " (the default)" }
                        ),
                    )
                    .with_help(format!(
                        "raise it with `limits: {{ max_concurrent_steps: {} }}` to run that many at once",
                        wanted.value
                    )),
                );
            }
        }
        let timeout = limits.workflow_timeout.as_ref().map(|t| t.value.0);
        (concurrency, timeout)
    }

    pub(super) fn at_least_one(&mut self, value: &Spanned<u32>, what: &str) {
        if value.value == 0 {
            self.error(Diagnostic::error(
                value.span,
                format!("{what} must be at least 1"),
            ));
        }
    }
}

/// The most runs waiting for one concurrency key unless told.
const DEFAULT_MAX_QUEUED: u32 = 100;

impl Checker<'_> {
    /// `concurrency:`: a key reading only inputs, a limit and a queue bound of at least 1.
    pub(super) fn check_concurrency(&mut self) -> Option<PlannedConcurrency> {
        let concurrency = self.workflow.concurrency.as_ref()?;
        let key = self.templates_in(
            &serde_json::Value::String(concurrency.key.value.clone()),
            Place {
                span: concurrency.key.span,
                in_foreach: false,
                reads: Reads::Inputs("the concurrency key"),
            },
        );
        let mut at_least_one = |value: &Spanned<u32>, what: &str| {
            if value.value == 0 {
                self.error(Diagnostic::error(
                    value.span,
                    format!("`{what}` must be at least 1"),
                ));
            }
        };
        at_least_one(&concurrency.limit, "limit");
        if let Some(max_queued) = &concurrency.max_queued {
            at_least_one(max_queued, "max_queued");
        }
        Some(PlannedConcurrency {
            key: key?,
            limit: concurrency.limit.value,
            on_limit: concurrency.on_limit.unwrap_or_default(),
            max_queued: concurrency
                .max_queued
                .as_ref()
                .map_or(DEFAULT_MAX_QUEUED, |m| m.value),
        })
    }
}
