//! The scheduler: one task owns the state of a run and decides everything —
//! which step starts, routes, retries, joins — while step attempts run
//! concurrently in the sandbox. Every state change is an [`Event`] to the
//! observer, emitted from this one task, in order.
//!
//! `attempts.rs` starts attempts and takes their results (retries, items,
//! loop iterations); `routing.rs` records results and moves the run along
//! routes, `needs` and parallel groups.

mod attempts;

pub(crate) use attempts::idempotency_key;
mod cancel;
mod routing;
mod vars;
mod waits;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::task::JoinSet;

use self::cancel::{Cancelling, Ending, InFlight};
use super::attempt::{AttemptKey, AttemptResult, Replay};
use super::breaker::Breakers;
use super::child::Children;
use super::control::{Control, Stop};
use super::event::{Event, Observer};
use super::failure::StepFailure;
use super::mailbox::Signal;
use super::scope::{self, RunScope, StepRecords, workflow_value};
use super::status::{RunStatus, StepStatus};
use super::summary::{RunSummary, StepSummary};
use super::trigger::Trigger;
use crate::sandbox::Grants;
use crate::workflow::StepFailureKind;
use crate::workflow::model::WaitFor;
use crate::workflow::plan::{Plan, StepIndex, StepKind};
use crate::workflow::template;

type ActId = usize;
type FrameId = usize;
/// An attempt in flight: the activation and, in a `foreach`, the item.
type TaskKey = (ActId, Option<usize>);

/// How to run: the run's id, results to replay (a resumed run), and the
/// handle that can stop it.
#[derive(Debug, Default)]
pub struct RunOptions {
    pub run_id: String,
    pub replay: Replay,
    pub control: Arc<Control>,
    /// What each step (by index) is granted; missing: nothing.
    pub grants: Vec<Arc<Grants>>,
    /// What started the run, as templates read it (`{{ trigger.kind }}`).
    pub trigger: Trigger,
    /// Runs the children of `workflow:` steps; without it such a step fails.
    pub children: Option<Arc<dyn Children>>,
    /// The circuit breakers guarded calls go through; without it they are
    /// not guarded.
    pub breakers: Option<Arc<dyn Breakers>>,
}

/// Run `plan` with resolved `inputs` to the end, reporting to `observer`.
///
/// Call it from a task spawned on the runtime (not directly in `block_on`):
/// the attempts it spawns then start on the same worker, which keeps the
/// per-step overhead low (see `benches/workflow.rs`).
pub async fn run(
    plan: Arc<Plan>,
    inputs: Map<String, Value>,
    options: RunOptions,
    observer: &mut dyn Observer,
) -> RunSummary {
    let RunOptions {
        run_id,
        replay,
        control,
        grants,
        trigger,
        children,
        breakers,
    } = options;
    let ids: Vec<String> = plan.steps.iter().map(|s| s.id.clone()).collect();
    let inputs = Value::Object(inputs);
    // Context values may read the inputs: evaluated once, now.
    let (context, context_failure) = match plan
        .context
        .eval(&template::jinja(&json!({ "inputs": &inputs })))
    {
        Ok(context) => (context, None),
        Err(problem) => (
            Value::Null,
            Some(RunFailure {
                step: String::new(),
                failure: StepFailure::engine(
                    StepFailureKind::Template,
                    format!("cannot evaluate the workflow's context: {problem}"),
                ),
                attempts: 0,
            }),
        ),
    };
    let scope = RunScope::new(
        &inputs,
        &context,
        &trigger.to_value(),
        StepRecords::new(ids),
        &workflow_value(&run_id, &plan.name, RunStatus::Running, None),
    );
    let mut engine = Engine {
        states: plan.steps.iter().map(|_| StepState::default()).collect(),
        plan,
        observer,
        scope,
        acts: Vec::new(),
        frames: Vec::new(),
        tasks: JoinSet::new(),
        in_flight: HashMap::new(),
        cancelling: HashMap::new(),
        ending: HashMap::new(),
        finalizing: false,
        running: 0,
        queue: VecDeque::new(),
        failure: context_failure,
        run_id,
        started: Instant::now(),
        replay,
        replaying: false,
        control,
        stop: None,
        grants,
        waiting: false,
        vars: Map::new(),
        children,
        breakers,
        workflow_outputs: None,
    };
    engine.vars = engine
        .plan
        .vars
        .iter()
        .map(|var| (var.name.clone(), var.value.clone()))
        .collect();
    engine.scope.set_vars(&Value::Object(engine.vars.clone()));
    engine.execute().await
}

#[derive(Debug, Default)]
struct StepState {
    status: StepStatus,
    output: Arc<Value>,
    failure: Option<StepFailure>,
    attempts: u32,
    visits: u32,
    duration: Duration,
    fuel: u64,
    /// The most linear memory any attempt used.
    memory_peak: u64,
}

impl StepState {
    /// Count what an attempt used, however it ended.
    fn add(&mut self, result: &AttemptResult) {
        self.duration += result.duration();
        self.fuel += result.fuel;
        self.memory_peak = self.memory_peak.max(result.memory_peak_bytes);
    }
}

struct Activation {
    step: StepIndex,
    /// Which entry into the step this is.
    visit: u32,
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
        result: Box<AttemptResult>,
        replayed: bool,
    },
    Wake {
        key: TaskKey,
    },
    /// A child run stopped without ending: the parent stops the same way.
    ChildStopped {
        key: TaskKey,
        stop: Stop,
    },
    /// A wait ended: it took its signal (or its approvals), or its
    /// deadline passed (`timed_out`, with the approvals given by then).
    Signal {
        key: TaskKey,
        signals: Vec<Signal>,
        timed_out: bool,
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
    /// Tasks in flight: calls (each holds a slot) and timers.
    in_flight: HashMap<TaskKey, InFlight>,
    /// Calls asked to stop: recorded `cancelled` when they report back.
    cancelling: HashMap<TaskKey, Cancelling>,
    /// Activations that end once their cancelled calls have reported.
    ending: HashMap<ActId, Ending>,
    /// The `finally` steps of a cancelled run are running.
    finalizing: bool,
    running: usize,
    /// Attempts waiting for a free slot.
    queue: VecDeque<TaskKey>,
    failure: Option<RunFailure>,
    run_id: String,
    started: Instant,
    /// Recorded results still to replay.
    replay: Replay,
    /// Whether the events being emitted re-enact recorded results.
    replaying: bool,
    control: Arc<Control>,
    /// Set once a stop was requested: nothing new starts.
    stop: Option<Stop>,
    grants: Vec<Arc<Grants>>,
    /// Whether the run was last reported waiting (see `note_waiting`).
    waiting: bool,
    /// The run variables now.
    vars: Map<String, Value>,
    children: Option<Arc<dyn Children>>,
    breakers: Option<Arc<dyn Breakers>>,
    /// `outputs:`, evaluated once the run's steps are done.
    workflow_outputs: Option<Value>,
}

impl Engine<'_> {
    async fn execute(&mut self) -> RunSummary {
        self.emit(Event::RunStarted {
            run_id: self.run_id.clone(),
            workflow: self.plan.name.clone(),
            steps: self.plan.steps.len(),
            replaying: self.replay.len(),
        });
        if self.failure.is_some() {
            // The run could not start (its context).
            return self.finish();
        }
        for root in self.plan.roots.clone() {
            self.enter(root, None);
        }
        let deadline = self
            .plan
            .workflow_timeout
            .map(|timeout| tokio::time::Instant::now() + timeout);
        self.drain(deadline).await;
        if self.stop.is_none() {
            self.skip_waiting_needs();
        }
        if self.stop.is_none()
            && self.failure.is_some()
            && let Some(handler) = self.plan.on_failure
        {
            self.set_workflow_status();
            self.enter(handler, None);
            self.drain(None).await;
        }
        if self.stop.is_none() && self.failure.is_none() {
            self.evaluate_outputs();
        }
        // `finally` steps run after a cancel too (not after a pause, an
        // interrupt or a second cancel).
        self.finalizing = true;
        for step in self.plan.finally.clone() {
            if self.stop.is_some() && self.stop != Some(Stop::Cancel) {
                break;
            }
            self.set_workflow_status();
            self.enter(step, None);
            self.drain(None).await;
        }
        self.finish()
    }

    #[allow(clippy::needless_pass_by_value)] // events are built at the call site
    fn emit(&mut self, event: Event) {
        if self.replaying {
            self.observer.replayed(&event);
        } else {
            self.observer.event(&event);
        }
    }

    fn status(&self) -> RunStatus {
        if let Some(stop) = self.stop {
            stop.status()
        } else if self.failure.is_some() {
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
        let error = self.workflow_error();
        self.scope.set_workflow(&workflow_value(
            &self.run_id,
            &self.plan.name,
            self.status(),
            error.as_ref(),
        ));
    }

    /// The workflow's `outputs:` over the run's final scope; one that
    /// cannot be evaluated fails the run.
    fn evaluate_outputs(&mut self) {
        let Some(outputs) = &self.plan.outputs else {
            return;
        };
        let root = self.scope.root(scope::Local::default());
        match outputs.eval(&root) {
            Ok(value) => self.workflow_outputs = Some(value),
            Err(problem) => {
                self.failure = Some(RunFailure {
                    step: String::new(),
                    failure: StepFailure::engine(
                        StepFailureKind::Template,
                        format!("cannot evaluate the workflow's outputs: {problem}"),
                    ),
                    attempts: 0,
                });
            }
        }
    }

    fn finish(&mut self) -> RunSummary {
        self.replaying = false;
        let status = self.status();
        let error = self.workflow_error();
        let duration = self.started.elapsed();
        let workflow_outputs = if status == RunStatus::Succeeded {
            self.workflow_outputs.take()
        } else {
            None
        };
        self.emit(Event::RunFinished {
            run_id: self.run_id.clone(),
            status,
            duration_ms: millis(duration),
            error: error.clone(),
            outputs: workflow_outputs.clone(),
        });
        let steps = self
            .plan
            .steps
            .iter()
            .zip(&self.states)
            .filter(|(_, state)| state.status != StepStatus::Pending)
            .map(|(step, state)| StepSummary {
                id: step.id.clone(),
                status: state.status,
                attempts: state.attempts,
                visits: state.visits,
                duration: state.duration,
                fuel: state.fuel,
                memory_peak_bytes: state.memory_peak,
                failure: state.failure.as_ref().map(|f| f.kind),
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
                .filter(|(_, state)| state.status == StepStatus::Succeeded)
                .map(|(step, state)| (step.id.clone(), Value::clone(&state.output)))
                .collect(),
            workflow_outputs,
        }
    }

    /// Run tasks until nothing is in flight (or the workflow deadline passes).
    async fn drain(&mut self, mut deadline: Option<tokio::time::Instant>) {
        let control = self.control.clone();
        while !self.tasks.is_empty() {
            self.note_waiting();
            let deadline_passed = async move {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                next = self.tasks.join_next() => {
                    // Aborted tasks (an `Err`) were accounted for when they were aborted.
                    if let Some(Ok(done)) = next {
                        self.on_done(done);
                    }
                }
                () = deadline_passed => {
                    self.workflow_timeout();
                    deadline = None;
                }
                stop = control.escalated(self.stop) => self.stop_requested(stop),
            }
        }
    }

    /// A pause lets calls in flight finish (and be recorded); a cancel stops
    /// them and records every step it stops as `cancelled`; an interrupt
    /// (Ctrl-C) stops them and records nothing, so they run again on resume.
    fn stop_requested(&mut self, stop: Stop) {
        self.stop = Some(stop);
        self.queue.clear();
        match stop {
            Stop::Pause | Stop::Drain | Stop::Detach => self.abort_tasks(false),
            Stop::Interrupt => self.abort_tasks(true),
            Stop::Cancel | Stop::CancelNow => {
                let failure = StepFailure::engine(
                    StepFailureKind::CANCELLED,
                    if stop == Stop::Cancel {
                        "cancelled: the run was cancelled"
                    } else {
                        "cancelled: the run was cancelled at once"
                    },
                );
                let live: Vec<ActId> = (0..self.acts.len())
                    .filter(|&a| self.acts[a].is_some())
                    .collect();
                for act in live {
                    self.end_act(act, failure.clone());
                }
            }
        }
    }

    fn workflow_timeout(&mut self) {
        let timeout = self.plan.workflow_timeout.unwrap_or_default();
        let failure = StepFailure::engine(
            StepFailureKind::WorkflowTimeout,
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
            self.end_act(act, failure.clone());
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
        // The record templates read is updated when the step starts (or
        // finishes): once per step on the hot path, not here as well.
        self.states[step].visits += 1;
        if let Some(max) = planned.max_visits
            && self.states[step].visits > max
        {
            let failure = StepFailure::engine(
                StepFailureKind::MaxVisits,
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
        if !self.admitted(step, frame) {
            return;
        }
        match &planned.kind {
            StepKind::Parallel { branches, wait_for } => {
                self.states[step].status = StepStatus::Running;
                self.update_record(step);
                self.emit(Event::StepStarted {
                    key: AttemptKey {
                        step: planned.id.clone(),
                        visit: self.states[step].visits,
                        item: None,
                        iteration: 0,
                        attempt: 1,
                    },
                    input: None,
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
            StepKind::Action { .. } | StepKind::Wait(_) | StepKind::Workflow(_) => {
                let act = self.acts.len();
                self.acts.push(Some(Activation {
                    step,
                    visit: self.states[step].visits,
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
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
