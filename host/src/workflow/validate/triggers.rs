//! `triggers:`: each cron expression and time zone parsed, each webhook's
//! path, auth and templates checked (they read only the request), and each
//! trigger's inputs checked against the workflow's declared inputs (with
//! defaults filling in, every required input must be given).

use std::time::Duration;

use serde_json::{Map, Value};

use super::{Checker, Place, Reads};
use crate::diagnostics::{Diagnostic, Span, Spanned};
use crate::suggest::closest;
use crate::workflow::model::Trigger;
use crate::workflow::plan::{PlannedTrigger, PlannedWebhook};
use crate::workflow::schedule::{Schedule, ScheduleError, zone_names};
use crate::workflow::template::Compiled;

/// How far back `catchup: all` reaches unless told.
const DEFAULT_CATCHUP_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// The longest webhook path.
const MAX_PATH: usize = 200;

/// Paths `wfhost serve` answers itself, and whose they are: a webhook may
/// not take one (nor a path below one).
const RESERVED: [(&str, &str); 6] = [
    (
        "/v1",
        "`/v1` is the API's; choose another path for a webhook",
    ),
    (
        "/metrics",
        "`/metrics` is where the server's metrics are scraped; choose another path for a webhook",
    ),
    (
        "/runs",
        "`/runs` is the dashboard's; choose another path for a webhook",
    ),
    (
        "/workflows",
        "`/workflows` is the dashboard's; choose another path for a webhook",
    ),
    (
        "/modules",
        "`/modules` is the dashboard's; choose another path for a webhook",
    ),
    (
        "/ui",
        "`/ui` is the dashboard's; choose another path for a webhook",
    ),
];

/// Why `path` cannot be a webhook's: the server answers it itself.
pub fn reserved_by(path: &str) -> Option<&'static str> {
    if path == "/" {
        return Some("`/` is the dashboard's runs page; choose another path for a webhook");
    }
    RESERVED
        .iter()
        .find(|(prefix, _)| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .map(|(_, why)| *why)
}

impl Checker<'_> {
    /// The cron schedules and the webhooks of the workflow.
    pub(super) fn check_triggers(&mut self) -> (Vec<PlannedTrigger>, Vec<PlannedWebhook>) {
        let workflow = self.workflow;
        let mut schedules = Vec::new();
        let mut webhooks = Vec::new();
        for (index, trigger) in workflow.triggers.iter().enumerate() {
            match (&trigger.cron, &trigger.webhook) {
                (Some(cron), _) => schedules.extend(self.check_cron(index, cron, trigger)),
                (None, Some(path)) => webhooks.extend(self.check_webhook(index, path, trigger)),
                // Reported when the file was read.
                (None, None) => {}
            }
        }
        (schedules, webhooks)
    }

    fn check_cron(
        &mut self,
        index: usize,
        cron: &Spanned<String>,
        trigger: &Trigger,
    ) -> Option<PlannedTrigger> {
        let zone = trigger.timezone.as_ref();
        let schedule = Schedule::parse(&cron.value, zone.map(|z| z.value.as_str()));
        let inputs = self.check_trigger_inputs(trigger, false);
        let schedule = match schedule {
            Ok(schedule) => schedule,
            Err(ScheduleError::Cron(problem)) => {
                self.error(
                    Diagnostic::error(
                        cron.span,
                        format!(
                            "`{}` is not a cron expression ({})",
                            cron.value,
                            problem.trim_end_matches('.').to_lowercase()
                        ),
                    )
                    .with_help(
                        "five fields `minute hour day-of-month month day-of-week` (e.g. `0 3 * * 1-5`), or six with seconds first",
                    ),
                );
                return None;
            }
            Err(error @ ScheduleError::Zone(_)) => {
                let zone = zone.expect("only a named zone can be unknown");
                self.error(
                    Diagnostic::error(zone.span, error.to_string())
                        .suggest(closest(&zone.value, zone_names()))
                        .with_help_if_none(
                            "write a name like Europe/Berlin or America/New_York".into(),
                        ),
                );
                return None;
            }
        };
        Some(PlannedTrigger {
            index,
            schedule,
            catchup: trigger.catchup.unwrap_or_default(),
            catchup_window: trigger
                .catchup_window
                .as_ref()
                .map_or(DEFAULT_CATCHUP_WINDOW, |w| w.value.0),
            overlap: trigger.overlap.unwrap_or_default(),
            inputs: inputs?,
        })
    }

    fn check_webhook(
        &mut self,
        index: usize,
        path: &Spanned<String>,
        trigger: &Trigger,
    ) -> Option<PlannedWebhook> {
        let mut ok = self.check_webhook_path(path);
        let auth = trigger.auth.as_ref();
        for name in auth.into_iter().flat_map(|auth| &auth.secret_env) {
            let valid = !name.value.is_empty()
                && name
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                ok = false;
                self.error(Diagnostic::error(
                    name.span,
                    format!("`{}` is not an environment variable name", name.value),
                ));
            }
        }
        let place = Place {
            span: trigger.span,
            in_foreach: false,
            reads: Reads::Request,
        };
        let dedupe = trigger.dedupe.as_ref().map(|dedupe| {
            self.templates_in(
                &Value::String(dedupe.value.clone()),
                Place {
                    span: dedupe.span,
                    ..place
                },
            )
        });
        let checked = self.check_trigger_inputs(trigger, true);
        // Each value compiled at its own position, for precise diagnostics.
        let compiled: Option<Vec<(String, Compiled)>> = trigger
            .inputs
            .iter()
            .map(|(name, value)| {
                let place = Place {
                    span: value.span,
                    ..place
                };
                Some((name.clone(), self.templates_in(&value.value, place)?))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .collect();
        let compiled = checked
            .and(compiled)
            .map(|inputs| Compiled::Object(inputs.into_iter().collect()));
        let auth = auth?;
        Some(PlannedWebhook {
            index,
            path: path.value.clone(),
            scheme: auth.scheme.value,
            secret_env: auth.secret_env.iter().map(|n| n.value.clone()).collect(),
            dedupe: match dedupe {
                Some(compiled) => Some(compiled?),
                None => None,
            },
            inputs: compiled?,
        })
        .filter(|_| ok)
    }

    fn check_webhook_path(&mut self, path: &Spanned<String>) -> bool {
        let text = &path.value;
        let problem = if !text.starts_with('/') {
            Some("a webhook path starts with `/`")
        } else if let Some(owner) = reserved_by(text) {
            Some(owner)
        } else if text.len() > MAX_PATH {
            Some("a webhook path has at most 200 characters")
        } else if !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_.~".contains(c))
        {
            Some("a webhook path uses letters, digits and `/ - _ . ~`")
        } else {
            None
        };
        if let Some(problem) = problem {
            self.error(Diagnostic::error(path.span, format!("`{text}`: {problem}")));
        }
        problem.is_none()
    }

    /// The trigger's inputs, when every name is declared, every literal
    /// value has its input's type (`templated`: a template is checked when
    /// a request comes) and every required input is given.
    fn check_trigger_inputs(
        &mut self,
        trigger: &Trigger,
        templated: bool,
    ) -> Option<Map<String, Value>> {
        let declared = &self.workflow.inputs;
        let mut ok = true;
        for (name, value) in &trigger.inputs {
            let is_template =
                templated && value.value.as_str().is_some_and(|text| text.contains("{{"));
            match declared.get(name) {
                None => {
                    ok = false;
                    self.error(
                        Diagnostic::error(
                            value.span,
                            format!("the workflow has no input `{name}`"),
                        )
                        .suggest(closest(name, declared.keys().map(String::as_str))),
                    );
                }
                Some(spec) if !is_template && !spec.ty.accepts(&value.value) => {
                    ok = false;
                    self.error(Diagnostic::error(
                        value.span,
                        format!(
                            "input `{name}` takes {}, not {}",
                            spec.ty.name(),
                            value.value
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        let missing: Vec<String> = declared
            .iter()
            .filter(|(name, spec)| spec.is_required() && !trigger.inputs.contains_key(*name))
            .map(|(name, _)| format!("`{name}`"))
            .collect();
        if !missing.is_empty() {
            ok = false;
            let at: Span = trigger
                .cron
                .as_ref()
                .or(trigger.webhook.as_ref())
                .map_or(trigger.span, |key| key.span);
            self.error(
                Diagnostic::error(
                    at,
                    format!(
                        "this trigger gives no value for the required input{} {}",
                        if missing.len() == 1 { "" } else { "s" },
                        missing.join(", ")
                    ),
                )
                .with_help("give each under the trigger's `inputs:`"),
            );
        }
        ok.then(|| {
            trigger
                .inputs
                .iter()
                .map(|(name, value)| (name.clone(), value.value.clone()))
                .collect()
        })
    }
}
