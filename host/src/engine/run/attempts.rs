//! Attempts: starting them (inputs evaluated, a free slot), and what their
//! results mean — retry, next item of a map, next loop iteration, or done.

use std::sync::Arc;

use serde_json::Value;
use tokio::task::AbortHandle;

use super::cancel::InFlight;
use super::{ActId, Engine, MapState, TaskDone, TaskKey};
use crate::engine::attempt::{AttemptKey, AttemptResult};
use crate::engine::breaker::{Admit, Breakers};
use crate::engine::child::{ChildCall, ChildEnd, child_key};
use crate::engine::control::Stop;
use crate::engine::event::Event;
use crate::engine::failure::StepFailure;
use crate::engine::scope::Local;
use crate::engine::status::StepStatus;
use crate::sandbox::{CallContext, CancelSignal, Limits, Module, cancellation};
use crate::workflow::StepFailureKind;
use crate::workflow::plan::{Inputs, PlannedChild, PlannedCircuit, StepIndex, StepKind};
use crate::workflow::template::Expression;

impl Engine<'_> {
    pub(super) fn start_map(&mut self, act: ActId, expr: &Expression, concurrency: usize) {
        let root = self.scope.root(Local::default());
        let items = match expr.eval_json(&root) {
            Ok(Value::Array(items)) => items,
            Ok(other) => {
                let failure = StepFailure::engine(
                    StepFailureKind::Template,
                    format!("`foreach` gave {other}, not a list"),
                );
                return self.finish_act(act, Err(failure));
            }
            Err(problem) => {
                return self.finish_act(
                    act,
                    Err(StepFailure::engine(StepFailureKind::Template, problem)),
                );
            }
        };
        if items.is_empty() {
            return self.finish_act(act, Ok(Arc::new(Value::Array(Vec::new()))));
        }
        let count = items.len();
        if let Some(Some(activation)) = self.acts.get_mut(act) {
            activation.attempts = vec![1; count];
            activation.map = Some(MapState {
                next: concurrency.min(count),
                done: 0,
                outputs: vec![Value::Null; count],
                items,
            });
        }
        for item in 0..concurrency.min(count) {
            self.launch((act, Some(item)));
        }
    }

    /// Start an attempt now, or queue it until a slot frees.
    pub(super) fn launch(&mut self, key: TaskKey) {
        // After a cancel, only the `finally` steps start.
        if self.stop.is_some() && !(self.finalizing && self.stop == Some(Stop::Cancel)) {
            return;
        }
        if self.running < self.plan.max_concurrent_steps {
            self.start(key);
        } else {
            self.queue.push_back(key);
        }
    }

    pub(super) fn fill_slots(&mut self) {
        while self.running < self.plan.max_concurrent_steps {
            let Some(key) = self.queue.pop_front() else {
                break;
            };
            if self.acts.get(key.0).is_some_and(Option::is_some) {
                self.start(key);
            }
        }
    }

    pub(super) fn start(&mut self, key: TaskKey) {
        let (act, item) = key;
        let Some(Some(activation)) = self.acts.get(act) else {
            return;
        };
        let step = activation.step;
        let attempt = activation.attempts[item.unwrap_or(0)];
        let iteration = activation.iteration;
        let plan = self.plan.clone();
        let planned = &plan.steps[step];
        if let StepKind::Wait(wait) = &planned.kind {
            return self.start_wait(key, step, wait);
        }
        if !matches!(
            planned.kind,
            StepKind::Action { .. } | StepKind::Workflow(_)
        ) {
            return;
        }
        // Counted before the inputs are evaluated: `steps.<id>.attempts` and
        // `.visits` in the step's own templates include this attempt.
        let state = &mut self.states[step];
        state.status = StepStatus::Running;
        state.attempts += 1;
        self.update_record(step);
        let input = match &planned.inputs {
            Inputs::Constant(inputs) => Arc::clone(inputs),
            Inputs::Templated(compiled) => {
                let item_value =
                    item.and_then(|i| activation.map.as_ref().map(|map| (i, map.items[i].clone())));
                let local = Local {
                    attempt,
                    iteration: iteration + 1,
                    item: item_value.as_ref().map(|(i, v)| (*i, v)),
                };
                let root = self.scope.root(local);
                match compiled.eval(&root) {
                    Ok(input) => Arc::new(input),
                    Err(problem) => {
                        let failure = StepFailure::engine(
                            StepFailureKind::Template,
                            format!("cannot evaluate the inputs: {problem}"),
                        );
                        self.emit(Event::StepFailed {
                            key: self.attempt_key(key),
                            duration_ms: 0.0,
                            fuel: 0,
                            memory_peak_bytes: 0,
                            failure: failure.clone(),
                            will_retry: false,
                        });
                        return self.finish_act(act, Err(failure));
                    }
                }
            }
        };
        let attempt_key = self.attempt_key(key);
        let recorded = self.replay.take(&attempt_key);
        let idempotency = recorded
            .is_none()
            .then(|| idempotency_key(&self.run_id, &attempt_key));
        let was_replaying = std::mem::replace(&mut self.replaying, recorded.is_some());
        self.emit(Event::StepStarted {
            key: attempt_key,
            input: Some(input.clone()),
        });
        self.replaying = was_replaying;
        let (canceller, cancel) = cancellation();
        let handle = match (recorded, &planned.kind) {
            (Some(result), _) => self.tasks.spawn(async move {
                TaskDone::Call {
                    key,
                    result: Box::new(result),
                    replayed: true,
                }
            }),
            (None, StepKind::Workflow(child)) => self.spawn_child(
                key,
                Arc::clone(child),
                input,
                cancel,
                idempotency.as_deref(),
            ),
            (None, StepKind::Action { module, action }) => {
                let context = CallContext {
                    idempotency_key: idempotency,
                    grants: self.grants.get(step).cloned().unwrap_or_default(),
                    cancel: Some(cancel),
                };
                let call = Call {
                    module: Arc::clone(module),
                    action: action.clone(),
                    input,
                    limits: planned.limits,
                    context,
                };
                let guard = planned.circuit.clone().zip(self.breakers.clone());
                self.tasks.spawn(async move {
                    let result = match guard {
                        None => call.run().await,
                        Some((circuit, breakers)) => call.guarded(circuit, breakers).await,
                    };
                    TaskDone::Call {
                        key,
                        result: Box::new(result),
                        replayed: false,
                    }
                })
            }
            (None, StepKind::Parallel { .. } | StepKind::Wait(_)) => return,
        };
        self.in_flight.insert(
            key,
            InFlight {
                handle,
                call: Some(canceller),
                waiting_since: None,
            },
        );
        self.running += 1;
    }

    /// A `workflow:` step's attempt: its child run, through the driver.
    fn spawn_child(
        &mut self,
        key: TaskKey,
        child: Arc<PlannedChild>,
        input: Arc<Value>,
        cancel: CancelSignal,
        idempotency: Option<&str>,
    ) -> AbortHandle {
        let attempt = self.attempt_key(key);
        let call = ChildCall {
            parent_run: self.run_id.clone(),
            idempotency_key: child_key(idempotency.unwrap_or_default(), &attempt),
            key: attempt,
            child,
            inputs: input,
            cancel,
            parent_control: Arc::clone(&self.control),
        };
        let children = self.children.clone();
        self.tasks.spawn(async move {
            let end = match children {
                Some(children) => children.run(call).await,
                None => ChildEnd::Ended(Box::new(AttemptResult::failed(StepFailure::engine(
                    StepFailureKind::ChildFailed,
                    "this driver cannot run sub-workflows",
                )))),
            };
            match end {
                ChildEnd::Ended(result) => TaskDone::Call {
                    key,
                    result,
                    replayed: false,
                },
                ChildEnd::Stopped(stop) => TaskDone::ChildStopped { key, stop },
            }
        })
    }

    /// The stable key of the attempt `key` is about to run or ran.
    pub(super) fn attempt_key(&self, (act, item): TaskKey) -> AttemptKey {
        let activation = self.acts[act].as_ref();
        let step = activation.map_or(0, |a| a.step);
        let planned = &self.plan.steps[step];
        AttemptKey {
            step: planned.id.clone(),
            visit: activation.map_or(0, |a| a.visit),
            item,
            iteration: match (&planned.repeat, activation) {
                (Some(_), Some(a)) => a.iteration + 1,
                _ => 0,
            },
            attempt: activation.map_or(1, |a| a.attempts[item.unwrap_or(0)]),
        }
    }

    pub(super) fn on_done(&mut self, done: TaskDone) {
        match done {
            TaskDone::Signal {
                key,
                signals,
                timed_out,
            } => self.on_signal(key, signals, timed_out),
            TaskDone::ChildStopped { key, stop } => {
                // Not recorded: resuming the parent resumes the child.
                self.in_flight.remove(&key);
                self.running -= 1;
                if self.stop.is_none() {
                    self.control.request(stop);
                    self.stop_requested(stop);
                }
            }
            TaskDone::Wake { key } => {
                self.in_flight.remove(&key);
                if self.acts.get(key.0).is_some_and(Option::is_some) {
                    self.launch(key);
                }
            }
            TaskDone::Call {
                key,
                mut result,
                replayed,
            } => {
                self.in_flight.remove(&key);
                self.running -= 1;
                self.fill_slots();
                if self.cancelling.contains_key(&key) {
                    self.on_cancelled(key, &mut result, replayed);
                } else if self.acts.get(key.0).is_some_and(Option::is_some) {
                    self.replaying = replayed;
                    self.on_attempt(key, &mut result);
                    self.replaying = false;
                }
            }
        }
    }

    pub(super) fn on_attempt(&mut self, key: TaskKey, result: &mut AttemptResult) {
        let Some(Some(activation)) = self.acts.get(key.0) else {
            return;
        };
        let step = activation.step;
        self.states[step].add(result);
        let attempt_key = self.attempt_key(key);
        match &result.outcome {
            Ok(output) => {
                let output = Arc::clone(output);
                self.emit(Event::StepSucceeded {
                    key: attempt_key.clone(),
                    duration_ms: result.duration_ms,
                    fuel: result.fuel,
                    memory_peak_bytes: result.memory_peak_bytes,
                    output: output.clone(),
                });
                self.emit_output(attempt_key, result);
                self.attempt_succeeded(key, step, output);
            }
            Err(failure) => {
                let failure = failure.clone();
                self.attempt_failed(key, step, failure, result);
            }
        }
    }

    /// The attempt's guest logs and output, moved into their event.
    pub(super) fn emit_output(&mut self, key: AttemptKey, result: &mut AttemptResult) {
        if result.logs.is_empty() && result.stdout.is_empty() && result.stderr.is_empty() {
            return;
        }
        self.emit(Event::StepOutput {
            key,
            logs: std::mem::take(&mut result.logs),
            stdout: std::mem::take(&mut result.stdout),
            stderr: std::mem::take(&mut result.stderr),
        });
    }

    pub(super) fn attempt_succeeded(
        &mut self,
        (act, item): TaskKey,
        step: StepIndex,
        output: Arc<Value>,
    ) {
        let plan = self.plan.clone();
        let planned = &plan.steps[step];
        if let Some(item) = item {
            let Some(Some(activation)) = self.acts.get_mut(act) else {
                return;
            };
            let Some(map) = activation.map.as_mut() else {
                return;
            };
            map.outputs[item] = Arc::unwrap_or_clone(output);
            map.done += 1;
            if map.done == map.items.len() {
                let outputs = std::mem::take(&mut map.outputs);
                return self.finish_act(act, Ok(Arc::new(Value::Array(outputs))));
            }
            if map.next < map.items.len() {
                let next = map.next;
                map.next += 1;
                self.launch((act, Some(next)));
            }
            return;
        }
        let Some((until, max_iterations)) = &planned.repeat else {
            return self.finish_act(act, Ok(output));
        };
        // The condition sees this iteration's output as `steps.<id>.output`.
        self.states[step].output = output.clone();
        self.update_record(step);
        let iteration = self.acts[act].as_ref().map_or(0, |a| a.iteration);
        let root = self.scope.root(Local {
            attempt: 1,
            iteration: iteration + 1,
            item: None,
        });
        match until.holds(&root) {
            Ok(true) => self.finish_act(act, Ok(output)),
            Ok(false) if iteration + 1 >= *max_iterations => {
                let failure = StepFailure::engine(
                    StepFailureKind::MaxIterations,
                    format!("`until` was still false after {max_iterations} iterations"),
                );
                self.finish_act(act, Err(failure));
            }
            Ok(false) => {
                if let Some(Some(activation)) = self.acts.get_mut(act) {
                    activation.iteration += 1;
                    activation.attempts[0] = 1;
                }
                self.launch((act, None));
            }
            Err(problem) => {
                self.finish_act(
                    act,
                    Err(StepFailure::engine(
                        StepFailureKind::Template,
                        format!("`until`: {problem}"),
                    )),
                );
            }
        }
    }

    pub(super) fn attempt_failed(
        &mut self,
        key: TaskKey,
        step: StepIndex,
        failure: StepFailure,
        result: &mut AttemptResult,
    ) {
        let plan = self.plan.clone();
        let planned = &plan.steps[step];
        let attempt_key = self.attempt_key(key);
        let attempt = attempt_key.attempt;
        // An open breaker is not knocked on again at once.
        let will_retry = attempt < planned.retry.max_attempts
            && failure.kind != StepFailureKind::CircuitOpen
            && planned
                .retry
                .retries(failure.kind, failure.guest_retryable());
        self.emit(Event::StepFailed {
            key: attempt_key.clone(),
            duration_ms: result.duration_ms,
            fuel: result.fuel,
            memory_peak_bytes: result.memory_peak_bytes,
            failure: failure.clone(),
            will_retry,
        });
        self.emit_output(attempt_key, result);
        if !will_retry {
            return self.finish_act(key.0, Err(failure));
        }
        let next = attempt + 1;
        if let Some(Some(activation)) = self.acts.get_mut(key.0) {
            activation.attempts[key.1.unwrap_or(0)] = next;
        }
        // Replaying recorded failures does not wait out their backoff again.
        let delay = if self.replaying {
            std::time::Duration::ZERO
        } else {
            planned.retry.delay(next)
        };
        self.emit(Event::StepRetrying {
            step: planned.id.clone(),
            item: key.1,
            next_attempt: next,
            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        });
        let handle = self.tasks.spawn(async move {
            tokio::time::sleep(delay).await;
            TaskDone::Wake { key }
        });
        self.in_flight.insert(key, InFlight::timer(handle));
    }
}

/// One call of an action in the sandbox, ready to run.
struct Call {
    module: Arc<Module>,
    action: String,
    input: Arc<Value>,
    limits: Limits,
    context: CallContext,
}

impl Call {
    async fn run(&self) -> AttemptResult {
        let report = self
            .module
            .call_with(&self.action, &self.input, &self.limits, &self.context)
            .await
            .map_err(|error| error.to_string());
        AttemptResult::from_call(report)
    }

    /// The call through its circuit breaker: refused while it is open, its
    /// end recorded with the breaker.
    async fn guarded(
        &self,
        circuit: Arc<PlannedCircuit>,
        breakers: Arc<dyn Breakers>,
    ) -> AttemptResult {
        let probe = match Arc::clone(&breakers).admit(Arc::clone(&circuit)).await {
            Admit::Call { probe } => probe,
            Admit::Open { until } => return AttemptResult::failed(circuit_open(&circuit, until)),
        };
        let result = self.run().await;
        let failure = result.outcome.as_ref().err().cloned();
        breakers.record(circuit, probe, failure).await;
        result
    }
}

/// The failure of a call its open breaker refused.
fn circuit_open(circuit: &PlannedCircuit, until: f64) -> StepFailure {
    StepFailure::engine(
        StepFailureKind::CircuitOpen,
        format!(
            "the circuit breaker of `{}` is open until {} ({} failures within {}); the call was not made (`wfhost circuit reset {}` closes it)",
            circuit.key,
            crate::units::rfc3339(until),
            circuit.failures,
            humantime::format_duration(circuit.within),
            circuit.key
        ),
    )
}

/// `run-id:step-id`, plus `#visit` after the first visit, `[item]` in a
/// map and `@iteration` in a loop: the same for every retry and resume of
/// one logical operation, different for different ones.
pub(crate) fn idempotency_key(run_id: &str, key: &AttemptKey) -> String {
    let mut text = format!("{run_id}:{}", key.step);
    if key.visit > 1 {
        text.push_str(&format!("#{}", key.visit));
    }
    if let Some(item) = key.item {
        text.push_str(&format!("[{item}]"));
    }
    if key.iteration > 0 {
        text.push_str(&format!("@{}", key.iteration));
    }
    text
}
