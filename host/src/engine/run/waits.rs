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
use crate::units::{now_seconds, parse_rfc3339, rfc3339};
use crate::workflow::StepFailureKind;
use crate::workflow::plan::{PlannedWait, StepKind};

impl Engine<'_> {
    /// Begin the wait (or timer) `key` of step `step`.
    pub(super) fn start_wait(&mut self, key: TaskKey, step: usize, wait: &Arc<PlannedWait>) {
        let state = &mut self.states[step];
        state.attempts += 1;
        let attempt_key = self.attempt_key(key);
        let input = Arc::new(json!({ "signal": wait.signal.as_ref().map(|s| &s.name) }));
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
        // What was sent before the wait began is taken now: a wait it
        // completes never waits.
        let mut taken = Vec::new();
        let required = wait.signal.as_ref().and_then(|s| s.approvals_required);
        if let Some(expected) = &wait.signal {
            while let Some(signal) = self.control.signals().try_take(&expected.name) {
                if gathered(&mut taken, signal, required) {
                    self.replaying = was;
                    let handle = self.tasks.spawn(async move {
                        TaskDone::Signal {
                            key,
                            signals: taken,
                            timed_out: false,
                        }
                    });
                    self.in_flight.insert(key, InFlight::timer(handle));
                    return;
                }
            }
        }
        self.emit(Event::StepWaiting {
            key: attempt_key,
            signal: wait.signal.as_ref().map(|s| s.name.clone()),
            ty: wait.signal.as_ref().map(|s| s.type_text.clone()),
            approvals: required,
            deadline: deadline.map(rfc3339),
        });
        self.replaying = was;
        let control = Arc::clone(&self.control);
        let name = wait.signal.as_ref().map(|s| s.name.clone());
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
            let mut signals = taken;
            let arrived = async {
                let Some(name) = &name else {
                    return std::future::pending().await;
                };
                loop {
                    let signal = control.signals().take(name).await;
                    if gathered(&mut signals, signal, required) {
                        return;
                    }
                }
            };
            let timed_out = tokio::select! {
                () = arrived => false,
                () = passed => true,
            };
            TaskDone::Signal {
                key,
                signals,
                timed_out,
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

    /// The wait `key` ended: it took `signals`, or its deadline passed.
    pub(super) fn on_signal(&mut self, key: TaskKey, signals: Vec<Signal>, timed_out: bool) {
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
        for signal in &signals {
            self.emit(Event::SignalReceived {
                key: self.attempt_key(key),
                signal: signal.name.clone(),
                seq: signal.seq,
                sent_by: signal.sent_by.clone(),
            });
        }
        let outcome = match &wait.signal {
            // A timer's time came.
            None => Ok(Arc::new(Value::Null)),
            Some(expected) => match expected.approvals_required {
                Some(required) => approvals_outcome(&signals, required, timed_out, wait),
                None => match signals.into_iter().next() {
                    Some(signal) if !timed_out => Ok(signal.payload),
                    _ => timeout(wait, &format!("no signal `{}` arrived", expected.name)),
                },
            },
        };
        let mut result = AttemptResult::measured(outcome, waited, 0, 0);
        self.on_attempt(key, &mut result);
    }

    /// Say when the run starts or stops waiting: every task in flight is
    /// a wait (and nothing is queued for a slot). Called once per task
    /// that ends: the check stops at the first task that is not a wait.
    pub(super) fn note_waiting(&mut self) {
        let waiting = self.stop.is_none()
            && self.queue.is_empty()
            && !self.in_flight.is_empty()
            && self
                .in_flight
                .values()
                .all(|task| task.waiting_since.is_some());
        if waiting == self.waiting {
            return;
        }
        self.waiting = waiting;
        if !waiting {
            return self.emit(Event::RunContinued);
        }
        let mut steps: Vec<String> = self
            .in_flight
            .keys()
            .filter_map(|(act, _)| self.acts.get(*act)?.as_ref())
            .map(|activation| self.plan.steps[activation.step].id.clone())
            .collect();
        steps.sort();
        steps.dedup();
        self.emit(Event::RunWaiting { steps });
    }
}

/// Add `signal` to what a wait gathered; whether the wait is over: its
/// signal came, or (a wait for `required` approvals) enough different
/// people approved, or one rejected.
fn gathered(gathered: &mut Vec<Signal>, signal: Signal, required: Option<u32>) -> bool {
    let Some(required) = required else {
        gathered.push(signal);
        return true;
    };
    let rejected = signal.payload["approved"] == Value::Bool(false);
    gathered.push(signal);
    rejected || approvers(gathered).len() >= required as usize
}

/// The different people who approved, in the order they did, with their
/// comments (a person's first answer counts).
fn approvers(signals: &[Signal]) -> Vec<(&str, &Value)> {
    let mut people: Vec<(&str, &Value)> = Vec::new();
    for signal in signals {
        let who = crate::user::person(&signal.sent_by);
        if signal.payload["approved"] == Value::Bool(true) && !people.iter().any(|(p, _)| *p == who)
        {
            people.push((who, &signal.payload["comment"]));
        }
    }
    people
}

/// How a wait for `required` approvals ended.
fn approvals_outcome(
    signals: &[Signal],
    required: u32,
    timed_out: bool,
    wait: &PlannedWait,
) -> Result<Arc<Value>, StepFailure> {
    if let Some(rejection) = signals
        .iter()
        .find(|s| s.payload["approved"] == Value::Bool(false))
    {
        let who = crate::user::person(&rejection.sent_by);
        let comment = &rejection.payload["comment"];
        let mut failure = StepFailure::engine(
            StepFailureKind::Rejected,
            match comment.as_str() {
                Some(comment) => format!("rejected by {who}: {comment}"),
                None => format!("rejected by {who}"),
            },
        );
        failure.value = Some(json!({ "by": who, "comment": comment }));
        return Err(failure);
    }
    let people = approvers(signals);
    if timed_out {
        let names: Vec<&str> = people.iter().map(|(who, _)| *who).collect();
        return timeout(
            wait,
            &format!(
                "{required} approvals required, {} given{}",
                people.len(),
                if names.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", names.join(", "))
                }
            ),
        );
    }
    let approvals: Vec<Value> = people
        .iter()
        .map(|(who, comment)| json!({ "by": who, "comment": comment }))
        .collect();
    Ok(Arc::new(
        json!({ "approved": true, "approvals": approvals }),
    ))
}

/// A wait's timeout passed: its `on_timeout` value, or a `wait-timeout`
/// failure saying what was missing.
fn timeout(wait: &PlannedWait, missing: &str) -> Result<Arc<Value>, StepFailure> {
    match &wait.on_timeout {
        Some(value) => Ok(Arc::clone(value)),
        None => Err(StepFailure::engine(
            StepFailureKind::WaitTimeout,
            format!(
                "{missing} within {}",
                humantime::format_duration(wait.timeout.unwrap_or_default())
            ),
        )),
    }
}
