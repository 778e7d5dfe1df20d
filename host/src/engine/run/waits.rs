//! Wait steps: a wait is a task that takes its signal from the run's
//! mailbox or sees its deadline pass; it holds no sandbox and no slot of
//! `max_concurrent_steps`. Its deadline is wall-clock time, journaled when
//! the wait begins (`step_waiting`), so a resumed run keeps it. The run is
//! `waiting` while every task in flight is a wait.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::cancel::InFlight;
use super::{Engine, TaskDone, TaskKey};
use crate::engine::attempt::{AttemptKey, AttemptResult};
use crate::engine::event::Event;
use crate::engine::failure::StepFailure;
use crate::engine::mailbox::Signal;
use crate::engine::scope::Local;
use crate::engine::status::StepStatus;
use crate::workflow::StepFailureKind;
use crate::workflow::plan::{PlannedWait, StepKind};

impl Engine<'_> {
    /// Begin the wait (or timer) `key` of step `step`.
    pub(super) fn start_wait(&mut self, key: TaskKey, step: usize, wait: &Arc<PlannedWait>) {
        let state = &mut self.states[step];
        state.attempts += 1;
        let attempt_key = self.attempt_key(key);
        let input = Arc::new(json!({ "signal": wait.signal }));
        if let Some(result) = self.replay.take(&attempt_key) {
            // A wait an earlier run saw end: its result stands.
            self.states[step].status = StepStatus::Running;
            self.update_record(step);
            let was = std::mem::replace(&mut self.replaying, true);
            self.emit(Event::StepStarted {
                key: attempt_key,
                input: Some(input),
            });
            self.replaying = was;
            let handle = self.tasks.spawn(async move {
                TaskDone::Call {
                    key,
                    result: Box::new(result),
                    replayed: true,
                }
            });
            self.in_flight.insert(key, InFlight::timer(handle));
            self.running += 1;
            return;
        }
        self.states[step].status = StepStatus::Waiting;
        self.update_record(step);
        // A live wait, even when a replayed result led to it.
        let was = std::mem::replace(&mut self.replaying, false);
        self.emit(Event::StepStarted {
            key: attempt_key.clone(),
            input: Some(input),
        });
        let deadline = match self.deadline(&attempt_key, wait) {
            Ok(deadline) => deadline,
            Err(failure) => {
                self.replaying = was;
                let mut result = AttemptResult::failed(failure);
                return self.on_attempt(key, &mut result);
            }
        };
        let taken = wait
            .signal
            .as_deref()
            .and_then(|name| self.control.signals().try_take(name));
        if let Some(signal) = taken {
            // Sent before the wait began: taken now, the step never waits.
            self.replaying = was;
            let handle = self.tasks.spawn(async move {
                TaskDone::Signal {
                    key,
                    signal: Some(signal),
                }
            });
            self.in_flight.insert(key, InFlight::timer(handle));
            return;
        }
        self.emit(Event::StepWaiting {
            key: attempt_key,
            signal: wait.signal.clone(),
            ty: wait.signal.as_ref().map(|_| wait.type_text.clone()),
            deadline: deadline.map(rfc3339),
        });
        self.replaying = was;
        let control = Arc::clone(&self.control);
        let name = wait.signal.clone();
        let handle = self.tasks.spawn(async move {
            let passed = async {
                match deadline {
                    Some(deadline) => {
                        let left = (deadline - now_seconds()).max(0.0);
                        tokio::time::sleep(Duration::from_secs_f64(left)).await;
                    }
                    None => std::future::pending().await,
                }
            };
            let arrived = async {
                match &name {
                    Some(name) => control.signals().take(name).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                signal = arrived => TaskDone::Signal { key, signal: Some(signal) },
                () = passed => TaskDone::Signal { key, signal: None },
            }
        });
        self.in_flight.insert(
            key,
            InFlight {
                handle,
                call: None,
                waiting_since: Some(Instant::now()),
            },
        );
    }

    /// When wait `key` ends (unix seconds): as an earlier run of it
    /// recorded, or its timeout from now, or its `until` time.
    fn deadline(&self, key: &AttemptKey, wait: &PlannedWait) -> Result<Option<f64>, StepFailure> {
        if let Some(recorded) = self.replay.deadline(key) {
            return Ok(Some(recorded));
        }
        if let Some(until) = &wait.until {
            let root = self.scope.root(Local::default());
            let when = until.eval_json(&root).map_err(|problem| {
                StepFailure::engine(StepFailureKind::Template, format!("`until`: {problem}"))
            })?;
            return match &when {
                Value::Number(n) => Ok(n.as_f64()),
                Value::String(text) => parse_rfc3339(text).map(Some).ok_or_else(|| {
                    StepFailure::engine(
                        StepFailureKind::Template,
                        format!("`until` gave {when}, not an RFC 3339 time (2026-12-01T09:00:00Z)"),
                    )
                }),
                _ => Err(StepFailure::engine(
                    StepFailureKind::Template,
                    format!(
                        "`until` gave {when}: expected an RFC 3339 time or seconds since the epoch"
                    ),
                )),
            };
        }
        Ok(wait.timeout.map(|t| now_seconds() + t.as_secs_f64()))
    }

    /// The wait `key` took `signal`, or (`None`) its deadline passed.
    pub(super) fn on_signal(&mut self, key: TaskKey, signal: Option<Signal>) {
        let Some(task) = self.in_flight.remove(&key) else {
            return;
        };
        let Some(Some(activation)) = self.acts.get(key.0) else {
            return;
        };
        let step = activation.step;
        let plan = Arc::clone(&self.plan);
        let StepKind::Wait(wait) = &plan.steps[step].kind else {
            return;
        };
        let waited = task
            .waiting_since
            .map_or(0.0, |since| since.elapsed().as_secs_f64() * 1000.0);
        let outcome = match (signal, &wait.signal) {
            (Some(signal), _) => {
                self.emit(Event::SignalReceived {
                    key: self.attempt_key(key),
                    signal: signal.name,
                    seq: signal.seq,
                    sent_by: signal.sent_by,
                });
                Ok(signal.payload)
            }
            // A timer's time came.
            (None, None) => Ok(Arc::new(Value::Null)),
            (None, Some(name)) => match &wait.on_timeout {
                Some(value) => Ok(Arc::clone(value)),
                None => Err(StepFailure::engine(
                    StepFailureKind::WaitTimeout,
                    format!(
                        "no signal `{name}` arrived within {}",
                        humantime::format_duration(wait.timeout.unwrap_or_default())
                    ),
                )),
            },
        };
        let mut result = AttemptResult::measured(outcome, waited, 0, 0);
        self.on_attempt(key, &mut result);
    }

    /// Say when the run starts or stops waiting: every task in flight is
    /// a wait (and nothing is queued for a slot).
    pub(super) fn note_waiting(&mut self) {
        let waits: Vec<String> = self
            .in_flight
            .iter()
            .filter(|(_, task)| task.waiting_since.is_some())
            .filter_map(|((act, _), _)| self.acts.get(*act)?.as_ref())
            .map(|activation| self.plan.steps[activation.step].id.clone())
            .collect();
        let waiting = self.stop.is_none()
            && !waits.is_empty()
            && waits.len() == self.in_flight.len()
            && self.queue.is_empty();
        if waiting == self.waiting {
            return;
        }
        self.waiting = waiting;
        if waiting {
            let mut steps = waits;
            steps.sort();
            steps.dedup();
            self.emit(Event::RunWaiting { steps });
        } else {
            self.emit(Event::RunContinued);
        }
    }
}

/// Wall-clock time in seconds since the Unix epoch (deadlines outlive the process).
fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Seconds since the Unix epoch as RFC 3339 in UTC, to the millisecond.
pub(crate) fn rfc3339(seconds: f64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_secs_f64(seconds.max(0.0));
    humantime::format_rfc3339_millis(at).to_string()
}

/// The unix seconds an RFC 3339 time (as [`rfc3339`] writes it) stands for.
pub fn parse_rfc3339(text: &str) -> Option<f64> {
    let at = humantime::parse_rfc3339(text).ok()?;
    Some(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs_f64())
}
