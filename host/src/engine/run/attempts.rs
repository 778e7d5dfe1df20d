//! Attempts: starting them (inputs evaluated, a free slot), and what their
//! results mean — retry, next item of a map, next loop iteration, or done.

use serde_json::Value;

use super::{ActId, Engine, MapState, TaskDone, TaskKey, millis};
use crate::engine::event::Event;
use crate::engine::failure::StepFailure;
use crate::engine::scope::Local;
use crate::sandbox::{CallReport, Outcome};
use crate::workflow::plan::{StepIndex, StepKind};
use crate::workflow::template;

impl Engine<'_> {
    pub(super) fn start_map(&mut self, act: ActId, expr: &str, concurrency: usize) {
        let root = self.scope.root(Local::default());
        let items = match template::eval_str(expr, &root) {
            Ok(Value::Array(items)) => items,
            Ok(other) => {
                let failure =
                    StepFailure::engine("template", format!("`foreach` gave {other}, not a list"));
                return self.finish_act(act, Err(failure));
            }
            Err(problem) => {
                return self.finish_act(act, Err(StepFailure::engine("template", problem)));
            }
        };
        if items.is_empty() {
            return self.finish_act(act, Ok(Value::Array(Vec::new())));
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
        let StepKind::Action { module, action } = &planned.kind else {
            return;
        };
        let input = if planned.templated {
            let item_value =
                item.and_then(|i| activation.map.as_ref().map(|map| (i, map.items[i].clone())));
            let local = Local {
                attempt,
                iteration: iteration + 1,
                item: item_value.as_ref().map(|(i, v)| (*i, v)),
            };
            let root = self.scope.root(local);
            match template::eval_value(&Value::Object(planned.inputs.clone()), &root) {
                Ok(input) => input,
                Err(problem) => {
                    let failure = StepFailure::engine(
                        "template",
                        format!("cannot evaluate the inputs: {problem}"),
                    );
                    self.emit(Event::StepFailed {
                        step: planned.id.clone(),
                        attempt,
                        item,
                        duration_ms: 0.0,
                        fuel: 0,
                        failure: failure.clone(),
                        will_retry: false,
                    });
                    return self.finish_act(act, Err(failure));
                }
            }
        } else {
            Value::Object(planned.inputs.clone())
        };
        let state = &mut self.states[step];
        state.status = "running";
        state.attempts += 1;
        self.update_record(step);
        self.emit(Event::StepStarted {
            step: planned.id.clone(),
            attempt,
            item,
            iteration: planned.repeat.as_ref().map(|_| iteration + 1),
        });
        let module = module.clone();
        let action = action.clone();
        let limits = planned.limits;
        let handle = self.tasks.spawn(async move {
            let report = module
                .call(&action, &input, &limits)
                .await
                .map_err(|error| error.to_string());
            TaskDone::Call {
                key,
                report: Box::new(report),
            }
        });
        self.in_flight.insert(key, (handle, true));
        self.running += 1;
    }

    pub(super) fn on_done(&mut self, done: TaskDone) {
        match done {
            TaskDone::Wake { key } => {
                self.in_flight.remove(&key);
                if self.acts.get(key.0).is_some_and(Option::is_some) {
                    self.launch(key);
                }
            }
            TaskDone::Call { key, report } => {
                self.in_flight.remove(&key);
                self.running -= 1;
                self.fill_slots();
                if self.acts.get(key.0).is_some_and(Option::is_some) {
                    self.on_attempt(key, *report);
                }
            }
        }
    }

    pub(super) fn on_attempt(&mut self, key: TaskKey, report: Result<CallReport, String>) {
        let (act, item) = key;
        let Some(Some(activation)) = self.acts.get(act) else {
            return;
        };
        let step = activation.step;
        let attempt = activation.attempts[item.unwrap_or(0)];
        let plan = self.plan.clone();
        let planned = &plan.steps[step];
        let report = match report {
            Ok(report) => report,
            Err(problem) => {
                let failure = StepFailure::engine("invalid-input", problem);
                return self.attempt_failed(key, step, attempt, failure, None);
            }
        };
        let state = &mut self.states[step];
        state.duration += report.duration;
        state.fuel += report.fuel_consumed;
        let duration_ms = millis(report.duration);
        match &report.outcome {
            Outcome::Success(output) => {
                let output = output.clone();
                self.emit(Event::StepSucceeded {
                    step: planned.id.clone(),
                    attempt,
                    item,
                    duration_ms,
                    fuel: report.fuel_consumed,
                    memory_peak_bytes: report.memory_peak_bytes,
                    output: output.clone(),
                });
                self.emit_output(&planned.id, attempt, &report);
                self.attempt_succeeded(key, step, output);
            }
            Outcome::Failure(failure) => {
                let failure = StepFailure::from_sandbox(failure);
                self.attempt_failed(key, step, attempt, failure, Some(&report));
            }
        }
    }

    pub(super) fn emit_output(&mut self, step: &str, attempt: u32, report: &CallReport) {
        if report.logs.is_empty() && report.stdout.text.is_empty() && report.stderr.text.is_empty()
        {
            return;
        }
        self.emit(Event::StepOutput {
            step: step.to_string(),
            attempt,
            logs: report
                .logs
                .iter()
                .filter_map(|log| serde_json::to_value(log).ok())
                .collect(),
            stdout: report.stdout.text.clone(),
            stderr: report.stderr.text.clone(),
        });
    }

    pub(super) fn attempt_succeeded(
        &mut self,
        (act, item): TaskKey,
        step: StepIndex,
        output: Value,
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
            map.outputs[item] = output;
            map.done += 1;
            if map.done == map.items.len() {
                let outputs = std::mem::take(&mut map.outputs);
                return self.finish_act(act, Ok(Value::Array(outputs)));
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
        match template::eval_condition(until, &root) {
            Ok(true) => self.finish_act(act, Ok(output)),
            Ok(false) if iteration + 1 >= *max_iterations => {
                let failure = StepFailure::engine(
                    "max-iterations",
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
                        "template",
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
        attempt: u32,
        failure: StepFailure,
        report: Option<&CallReport>,
    ) {
        let plan = self.plan.clone();
        let planned = &plan.steps[step];
        let will_retry = attempt < planned.retry.max_attempts
            && planned
                .retry
                .retries(&failure.kind, failure.guest_retryable());
        self.emit(Event::StepFailed {
            step: planned.id.clone(),
            attempt,
            item: key.1,
            duration_ms: report.map_or(0.0, |r| millis(r.duration)),
            fuel: report.map_or(0, |r| r.fuel_consumed),
            failure: failure.clone(),
            will_retry,
        });
        if let Some(report) = report {
            self.emit_output(&planned.id, attempt, report);
        }
        if !will_retry {
            return self.finish_act(key.0, Err(failure));
        }
        let next = attempt + 1;
        if let Some(Some(activation)) = self.acts.get_mut(key.0) {
            activation.attempts[key.1.unwrap_or(0)] = next;
        }
        let delay = planned.retry.delay(next);
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
        self.in_flight.insert(key, (handle, false));
    }

    /// Stop every task of an activation.
    pub(super) fn abort_act(&mut self, act: ActId) {
        let keys: Vec<TaskKey> = self
            .in_flight
            .keys()
            .filter(|(a, _)| *a == act)
            .copied()
            .collect();
        for key in keys {
            if let Some((handle, is_call)) = self.in_flight.remove(&key) {
                handle.abort();
                if is_call {
                    self.running -= 1;
                }
            }
        }
        self.fill_slots();
    }
}
