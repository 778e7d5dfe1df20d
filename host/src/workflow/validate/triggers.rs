//! `triggers:`: each cron expression and time zone parsed, and each
//! trigger's inputs checked against the workflow's declared inputs (with
//! the defaults filling in, every required input must be given).

use std::time::Duration;

use serde_json::Map;

use super::Checker;
use crate::diagnostics::Diagnostic;
use crate::suggest::closest;
use crate::workflow::model::Trigger;
use crate::workflow::plan::PlannedTrigger;
use crate::workflow::schedule::{Schedule, ScheduleError, zone_names};

/// How far back `catchup: all` reaches unless told.
const DEFAULT_CATCHUP_WINDOW: Duration = Duration::from_secs(24 * 3600);

impl Checker<'_> {
    pub(super) fn check_triggers(&mut self) -> Vec<PlannedTrigger> {
        let workflow = self.workflow;
        workflow
            .triggers
            .iter()
            .enumerate()
            .filter_map(|(index, trigger)| self.check_trigger(index, trigger))
            .collect()
    }

    fn check_trigger(&mut self, index: usize, trigger: &Trigger) -> Option<PlannedTrigger> {
        let zone = trigger.timezone.as_ref();
        let schedule = Schedule::parse(&trigger.cron.value, zone.map(|z| z.value.as_str()));
        let inputs = self.check_trigger_inputs(trigger);
        let schedule = match schedule {
            Ok(schedule) => schedule,
            Err(ScheduleError::Cron(problem)) => {
                self.error(
                    Diagnostic::error(
                        trigger.cron.span,
                        format!(
                            "`{}` is not a cron expression ({})",
                            trigger.cron.value,
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

    fn check_trigger_inputs(
        &mut self,
        trigger: &Trigger,
    ) -> Option<Map<String, serde_json::Value>> {
        let declared = &self.workflow.inputs;
        let mut ok = true;
        for (name, value) in &trigger.inputs {
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
                Some(spec) if !spec.ty.accepts(&value.value) => {
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
        let missing: Vec<&str> = declared
            .iter()
            .filter(|(name, spec)| {
                spec.required.unwrap_or(spec.default.is_none())
                    && !trigger.inputs.contains_key(*name)
            })
            .map(|(name, _)| name.as_str())
            .collect();
        if !missing.is_empty() {
            ok = false;
            self.error(
                Diagnostic::error(
                    trigger.cron.span,
                    format!(
                        "this trigger gives no value for the required input{} {}",
                        if missing.len() == 1 { "" } else { "s" },
                        missing
                            .iter()
                            .map(|m| format!("`{m}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
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
