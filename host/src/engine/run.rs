//! The scheduler: one task owns the state of a run and decides everything —
//! which step starts, routes, retries, joins — while step attempts run
//! concurrently in the sandbox. Every state change is an [`Event`] to the
//! observer, emitted from this one task, in order.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::task::{AbortHandle, JoinSet};

use super::event::{Event, Observer, RunStatus};
use super::failure::StepFailure;
use super::scope::{Local, RunScope, StepRecords, record};
use super::summary::{RunSummary, StepSummary};
use crate::sandbox::{CallReport, Outcome};
use crate::workflow::model::WaitFor;
use crate::workflow::plan::{Plan, PlannedRoute, StepIndex, StepKind};
use crate::workflow::template::{self, jinja};

type ActId = usize;
type FrameId = usize;
/// An attempt in flight: the activation and, in a `foreach`, the item.
type TaskKey = (ActId, Option<usize>);

/// Run `plan` with resolved `inputs` to the end, reporting to `observer`.
///
/// Call it from a task spawned on the runtime (not directly in `block_on`):
/// the attempts it spawns then start on the same worker, which keeps the
/// per-step overhead low (see `benches/workflow.rs`).
pub async fn run(
    plan: Arc<Plan>,
    inputs: Map<String, Value>,
    run_id: String,
    observer: &mut dyn Observer,
) -> RunSummary {
    let ids: Vec<String> = plan.steps.iter().map(|s| s.id.clone()).collect();
    let scope = RunScope {
        inputs: jinja(&Value::Object(inputs)),
        context: jinja(&plan.context),
        steps: StepRecords::new(ids),
        workflow: json!({"id": run_id, "name": plan.name, "status": "running", "error": null}),
    };
    let mut engine = Engine {
        states: plan.steps.iter().map(|_| StepState::default()).collect(),
        plan,
        observer,
        scope,
        acts: Vec::new(),
        frames: Vec::new(),
        tasks: JoinSet::new(),
        in_flight: HashMap::new(),
        running: 0,
        queue: VecDeque::new(),
        failure: None,
        run_id,
        started: Instant::now(),
    };
    engine.execute().await
}

#[derive(Debug, Default)]
struct StepState {
    status: &'static str,
    output: Value,
    failure: Option<StepFailure>,
    attempts: u32,
    visits: u32,
    duration: Duration,
    fuel: u64,
}

struct Activation {
    step: StepIndex,
    frame: Option<FrameId>,
    iteration: u32,
    /// The current attempt, per item (one entry without `foreach`).
    attempts: Vec<u32>,
    map: Option<MapState>,
}

struct MapState {
    items: Vec<Value>,
    next: usize,
    done: usize,
    outputs: Vec<Value>,
}

/// A parallel group waiting for its branches.
struct Frame {
    group: StepIndex,
    parent: Option<FrameId>,
    wait_for: WaitFor,
    remaining: usize,
    outputs: Map<String, Value>,
    closed: bool,
}

enum TaskDone {
    Call {
        key: TaskKey,
        report: Box<Result<CallReport, String>>,
    },
    Wake {
        key: TaskKey,
    },
}

/// The first unhandled failure: the run's `workflow.error`.
struct RunFailure {
    step: String,
    failure: StepFailure,
    attempts: u32,
}

struct Engine<'o> {
    plan: Arc<Plan>,
    observer: &'o mut dyn Observer,
    scope: RunScope,
    states: Vec<StepState>,
    acts: Vec<Option<Activation>>,
    frames: Vec<Frame>,
    tasks: JoinSet<TaskDone>,
    /// Tasks that can be aborted, and whether each is a call (holds a slot).
    in_flight: HashMap<TaskKey, (AbortHandle, bool)>,
    running: usize,
    /// Attempts waiting for a free slot.
    queue: VecDeque<TaskKey>,
    failure: Option<RunFailure>,
    run_id: String,
    started: Instant,
}

impl Engine<'_> {
    async fn execute(&mut self) -> RunSummary {
        self.emit(Event::RunStarted {
            run_id: self.run_id.clone(),
            workflow: self.plan.name.clone(),
            steps: self.plan.steps.len(),
        });
        for root in self.plan.roots.clone() {
            self.enter(root, None);
        }
        let deadline = self
            .plan
            .workflow_timeout
            .map(|timeout| tokio::time::Instant::now() + timeout);
        self.drain(deadline).await;
        self.skip_waiting_needs();
        if self.failure.is_some()
            && let Some(handler) = self.plan.on_failure
        {
            self.set_workflow_status();
            self.enter(handler, None);
            self.drain(None).await;
        }
        for step in self.plan.finally.clone() {
            self.set_workflow_status();
            self.enter(step, None);
            self.drain(None).await;
        }
        self.finish()
    }

    #[allow(clippy::needless_pass_by_value)] // events are built at the call site
    fn emit(&mut self, event: Event) {
        self.observer.event(&event);
    }

    fn status(&self) -> RunStatus {
        if self.failure.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        }
    }

    fn workflow_error(&self) -> Option<Value> {
        self.failure
            .as_ref()
            .map(|f| f.failure.to_workflow_error(&f.step, f.attempts))
    }

    fn set_workflow_status(&mut self) {
        self.scope.workflow["status"] = self.status().as_str().into();
        self.scope.workflow["error"] = self.workflow_error().unwrap_or(Value::Null);
    }

    fn finish(&mut self) -> RunSummary {
        let status = self.status();
        let error = self.workflow_error();
        let duration = self.started.elapsed();
        self.emit(Event::RunFinished {
            run_id: self.run_id.clone(),
            status,
            duration_ms: millis(duration),
            error: error.clone(),
        });
        let steps = self
            .plan
            .steps
            .iter()
            .zip(&self.states)
            .filter(|(_, state)| !state.status.is_empty())
            .map(|(step, state)| StepSummary {
                id: step.id.clone(),
                status: state.status,
                attempts: state.attempts,
                visits: state.visits,
                duration: state.duration,
                fuel: state.fuel,
                failure: state.failure.as_ref().map(|f| f.kind.clone()),
            })
            .collect();
        RunSummary {
            run_id: self.run_id.clone(),
            workflow: self.plan.name.clone(),
            status,
            duration,
            steps,
            error,
            outputs: self
                .plan
                .steps
                .iter()
                .zip(&self.states)
                .filter(|(_, state)| state.status == "succeeded")
                .map(|(step, state)| (step.id.clone(), state.output.clone()))
                .collect(),
        }
    }

    /// Run tasks until nothing is in flight (or the workflow deadline passes).
    async fn drain(&mut self, deadline: Option<tokio::time::Instant>) {
        while !self.tasks.is_empty() {
            let next = match deadline {
                Some(deadline) => {
                    match tokio::time::timeout_at(deadline, self.tasks.join_next()).await {
                        Ok(next) => next,
                        Err(_) => {
                            self.workflow_timeout();
                            continue;
                        }
                    }
                }
                None => self.tasks.join_next().await,
            };
            // Aborted tasks (an `Err`) were accounted for when they were aborted.
            if let Some(Ok(done)) = next {
                self.on_done(done);
            }
        }
    }

    fn workflow_timeout(&mut self) {
        let timeout = self.plan.workflow_timeout.unwrap_or_default();
        let failure = StepFailure::engine(
            "workflow-timeout",
            format!(
                "the run passed its workflow timeout of {}",
                humantime::format_duration(timeout)
            ),
        );
        self.queue.clear();
        let live: Vec<ActId> = (0..self.acts.len())
            .filter(|&a| self.acts[a].is_some())
            .collect();
        for act in live {
            let step = self.acts[act].as_ref().map_or(0, |a| a.step);
            self.abort_act(act);
            self.acts[act] = None;
            self.record_finish(step, Err(&failure));
            if self.failure.is_none() {
                self.failure = Some(RunFailure {
                    step: self.plan.steps[step].id.clone(),
                    failure: failure.clone(),
                    attempts: self.states[step].attempts,
                });
            }
        }
        // Groups still waiting for branches end with the run.
        for id in 0..self.frames.len() {
            if !std::mem::replace(&mut self.frames[id].closed, true) {
                let group = self.frames[id].group;
                self.record_finish(group, Err(&failure));
            }
        }
        self.failure.get_or_insert_with(|| RunFailure {
            step: String::new(),
            failure,
            attempts: 0,
        });
    }

    /// A route (or the start of the run) enters `step`.
    fn enter(&mut self, step: StepIndex, frame: Option<FrameId>) {
        let plan = self.plan.clone();
        let planned = &plan.steps[step];
        self.states[step].visits += 1;
        self.update_record(step);
        if let Some(max) = planned.max_visits
            && self.states[step].visits > max
        {
            let failure = StepFailure::engine(
                "max-visits",
                format!(
                    "step `{}` was entered more than its max_visits of {max}",
                    planned.id
                ),
            );
            self.record_finish(step, Err(&failure));
            // Not routable: routing on it would re-enter the cycle it bounds.
            self.path_end(frame, Err((step, failure)));
            return;
        }
        match &planned.kind {
            StepKind::Parallel { branches, wait_for } => {
                self.states[step].status = "running";
                self.emit(Event::StepStarted {
                    step: planned.id.clone(),
                    attempt: 1,
                    item: None,
                    iteration: None,
                });
                let id = self.frames.len();
                self.frames.push(Frame {
                    group: step,
                    parent: frame,
                    wait_for: *wait_for,
                    remaining: branches.len(),
                    outputs: Map::new(),
                    closed: false,
                });
                for &branch in branches {
                    if self.frames[id].closed {
                        break;
                    }
                    self.enter(branch, Some(id));
                }
            }
            StepKind::Action { .. } => {
                let act = self.acts.len();
                self.acts.push(Some(Activation {
                    step,
                    frame,
                    iteration: 0,
                    attempts: vec![1],
                    map: None,
                }));
                match &planned.foreach {
                    None => self.launch((act, None)),
                    Some((expr, concurrency)) => self.start_map(act, expr, *concurrency),
                }
            }
        }
    }

    fn start_map(&mut self, act: ActId, expr: &str, concurrency: usize) {
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
    fn launch(&mut self, key: TaskKey) {
        if self.running < self.plan.max_concurrent_steps {
            self.start(key);
        } else {
            self.queue.push_back(key);
        }
    }

    fn fill_slots(&mut self) {
        while self.running < self.plan.max_concurrent_steps {
            let Some(key) = self.queue.pop_front() else {
                break;
            };
            if self.acts.get(key.0).is_some_and(Option::is_some) {
                self.start(key);
            }
        }
    }

    fn start(&mut self, key: TaskKey) {
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

    fn on_done(&mut self, done: TaskDone) {
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

    fn on_attempt(&mut self, key: TaskKey, report: Result<CallReport, String>) {
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

    fn emit_output(&mut self, step: &str, attempt: u32, report: &CallReport) {
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

    fn attempt_succeeded(&mut self, (act, item): TaskKey, step: StepIndex, output: Value) {
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

    fn attempt_failed(
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

    /// An activation is over: record the step's result and route on it.
    fn finish_act(&mut self, act: ActId, result: Result<Value, StepFailure>) {
        self.abort_act(act);
        let Some(activation) = self.acts.get_mut(act).and_then(Option::take) else {
            return;
        };
        self.finish_step(activation.step, activation.frame, result);
    }

    fn finish_step(
        &mut self,
        step: StepIndex,
        frame: Option<FrameId>,
        result: Result<Value, StepFailure>,
    ) {
        self.record_finish(step, result.as_ref());
        if result.is_ok() {
            self.start_ready_needers(step);
        }
        self.route(step, frame, result);
    }

    fn record_finish(&mut self, step: StepIndex, result: Result<&Value, &StepFailure>) {
        let state = &mut self.states[step];
        match result {
            Ok(output) => {
                state.status = "succeeded";
                state.output = output.clone();
                state.failure = None;
            }
            Err(failure) => {
                state.status = if failure.kind == "cancelled" {
                    "cancelled"
                } else {
                    "failed"
                };
                state.output = Value::Null;
                state.failure = Some(failure.clone());
            }
        }
        self.update_record(step);
        let state = &self.states[step];
        self.emit(Event::StepFinished {
            step: self.plan.steps[step].id.clone(),
            status: state.status,
            attempts: state.attempts,
            duration_ms: millis(state.duration),
            fuel: state.fuel,
            output: result.ok().cloned(),
            failure: result.err().cloned(),
        });
    }

    fn update_record(&self, step: StepIndex) {
        let state = &self.states[step];
        let error = state
            .failure
            .as_ref()
            .map_or(Value::Null, |f| f.to_scope(state.attempts));
        self.scope.steps.set(
            step,
            &record(
                state.status,
                &state.output,
                &error,
                state.attempts,
                state.visits,
                millis(state.duration),
            ),
        );
    }

    fn start_ready_needers(&mut self, step: StepIndex) {
        let plan = self.plan.clone();
        for &needer in &plan.steps[step].needed_by {
            let ready = plan.steps[needer]
                .needs
                .iter()
                .all(|&need| self.states[need].status == "succeeded");
            if ready && self.states[needer].visits == 0 {
                self.enter(needer, None);
            }
        }
    }

    fn skip_waiting_needs(&mut self) {
        let plan = self.plan.clone();
        for (index, step) in plan.steps.iter().enumerate() {
            if step.needs.is_empty() || self.states[index].visits > 0 {
                continue;
            }
            let missing: Vec<&str> = step
                .needs
                .iter()
                .filter(|&&need| self.states[need].status != "succeeded")
                .map(|&need| plan.steps[need].id.as_str())
                .collect();
            self.states[index].status = "skipped";
            self.update_record(index);
            self.emit(Event::StepSkipped {
                step: step.id.clone(),
                reason: format!("needs `{}`, which did not succeed", missing.join("`, `")),
            });
        }
    }

    /// Follow the step's route for its outcome, or end its path.
    fn route(
        &mut self,
        step: StepIndex,
        frame: Option<FrameId>,
        result: Result<Value, StepFailure>,
    ) {
        let plan = self.plan.clone();
        let planned = &plan.steps[step];
        let (route, on) = match &result {
            Ok(_) => (&planned.on_success, "success"),
            Err(_) => (&planned.on_failure, "failure"),
        };
        match self.choose(route) {
            Ok(Some((target, when))) => return self.take(step, target, on, when, frame),
            Ok(None) => {}
            Err(problem) => {
                let failure =
                    StepFailure::engine("template", format!("route condition: {problem}"));
                return self.path_end(frame, Err((step, failure)));
            }
        }
        match result {
            Err(_) if planned.continue_on_error => match self.choose(&planned.on_success) {
                Ok(Some((target, when))) => self.take(step, target, "success", when, frame),
                Ok(None) => self.path_end(frame, Ok((step, Value::Null))),
                Err(problem) => {
                    let failure =
                        StepFailure::engine("template", format!("route condition: {problem}"));
                    self.path_end(frame, Err((step, failure)));
                }
            },
            Err(failure) => self.path_end(frame, Err((step, failure))),
            Ok(output) => self.path_end(frame, Ok((step, output))),
        }
    }

    fn take(
        &mut self,
        from: StepIndex,
        to: StepIndex,
        on: &'static str,
        when: Option<String>,
        frame: Option<FrameId>,
    ) {
        self.emit(Event::RouteTaken {
            from: self.plan.steps[from].id.clone(),
            to: self.plan.steps[to].id.clone(),
            on,
            when,
        });
        self.enter(to, frame);
    }

    /// The first branch of `route` whose condition holds.
    fn choose(&self, route: &PlannedRoute) -> Result<Option<(StepIndex, Option<String>)>, String> {
        if route.is_empty() {
            return Ok(None);
        }
        let root = self.scope.root(Local::default());
        for (condition, target) in &route.branches {
            match condition {
                None => return Ok(Some((*target, None))),
                Some(condition) => {
                    if template::eval_condition(condition, &root)? {
                        return Ok(Some((*target, Some(condition.clone()))));
                    }
                }
            }
        }
        Ok(None)
    }

    /// A path of the run ended: at the top level, or in a branch of a group.
    fn path_end(
        &mut self,
        frame: Option<FrameId>,
        result: Result<(StepIndex, Value), (StepIndex, StepFailure)>,
    ) {
        let Some(frame_id) = frame else {
            if let Err((step, failure)) = result
                && self.failure.is_none()
            {
                self.failure = Some(RunFailure {
                    step: self.plan.steps[step].id.clone(),
                    attempts: self.states[step].attempts,
                    failure,
                });
            }
            return;
        };
        let frame = &mut self.frames[frame_id];
        if frame.closed {
            return;
        }
        frame.remaining -= 1;
        let group = frame.group;
        let parent = frame.parent;
        let outcome = match (result, frame.wait_for) {
            (Ok((step, output)), wait_for) => {
                frame
                    .outputs
                    .insert(self.plan.steps[step].id.clone(), output);
                if wait_for == WaitFor::Any || frame.remaining == 0 {
                    Some(Ok(Value::Object(std::mem::take(&mut frame.outputs))))
                } else {
                    None
                }
            }
            (Err((step, failure)), WaitFor::All) => Some(Err(StepFailure {
                message: format!(
                    "branch step `{}` failed: {}",
                    self.plan.steps[step].id, failure.message
                ),
                ..failure
            })),
            (Err((step, failure)), WaitFor::Any) => (frame.remaining == 0).then(|| {
                Err(StepFailure {
                    message: format!(
                        "every branch failed; the last, `{}`: {}",
                        self.plan.steps[step].id, failure.message
                    ),
                    ..failure
                })
            }),
        };
        if let Some(outcome) = outcome {
            self.close_frame(frame_id);
            self.finish_step(group, parent, outcome);
        }
    }

    /// Close a group: branches still running are cancelled.
    fn close_frame(&mut self, frame_id: FrameId) {
        self.frames[frame_id].closed = true;
        for id in 0..self.frames.len() {
            if self.within(Some(id), frame_id) {
                self.frames[id].closed = true;
            }
        }
        let group = self.plan.steps[self.frames[frame_id].group].id.clone();
        for act in 0..self.acts.len() {
            let Some(activation) = &self.acts[act] else {
                continue;
            };
            if !self.within(activation.frame, frame_id) {
                continue;
            }
            let step = activation.step;
            self.abort_act(act);
            self.acts[act] = None;
            let failure = StepFailure::engine(
                "cancelled",
                format!("cancelled: group `{group}` finished without it"),
            );
            self.record_finish(step, Err(&failure));
        }
    }

    /// Is `frame` the frame `ancestor` or inside it?
    fn within(&self, mut frame: Option<FrameId>, ancestor: FrameId) -> bool {
        while let Some(id) = frame {
            if id == ancestor {
                return true;
            }
            frame = self.frames[id].parent;
        }
        false
    }

    /// Stop every task of an activation.
    fn abort_act(&mut self, act: ActId) {
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

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
