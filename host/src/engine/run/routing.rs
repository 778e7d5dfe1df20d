//! Moving a run along: a step's result recorded, its route taken or its path
//! ended, `needs` released, parallel groups joined or cancelled.

use std::sync::Arc;

use serde_json::Value;

use super::{ActId, Engine, FrameId, RunFailure, millis};
use crate::engine::event::{Event, Outcome};
use crate::engine::failure::StepFailure;
use crate::engine::scope::{Local, Record};
use crate::engine::status::StepStatus;
use crate::workflow::StepFailureKind;
use crate::workflow::model::WaitFor;
use crate::workflow::plan::{PlannedRoute, StepIndex};

impl Engine<'_> {
    /// An activation is over: record the step's result and route on it.
    pub(super) fn finish_act(&mut self, act: ActId, result: Result<Arc<Value>, StepFailure>) {
        // Other items of a map still running are no longer needed.
        if let Some(Some(activation)) = self.acts.get(act) {
            let reason = StepFailure::engine(
                StepFailureKind::CANCELLED,
                format!(
                    "cancelled: step `{}` ended without this item",
                    self.plan.steps[activation.step].id
                ),
            );
            self.cancel_tasks(act, &reason);
        }
        let Some(activation) = self.acts.get_mut(act).and_then(Option::take) else {
            return;
        };
        self.finish_step(activation.step, activation.frame, result);
    }

    pub(super) fn finish_step(
        &mut self,
        step: StepIndex,
        frame: Option<FrameId>,
        result: Result<Arc<Value>, StepFailure>,
    ) {
        let mut result = result;
        let mut set = None;
        if let Ok(output) = &result
            && !self.plan.steps[step].set.is_empty()
        {
            // `set` reads the step's own output.
            self.states[step].output = Arc::clone(output);
            self.states[step].status = StepStatus::Succeeded;
            self.update_record(step);
            match self.evaluate_set(step) {
                Ok(values) => set = Some(values),
                Err(failure) => result = Err(failure),
            }
        }
        self.record_finish(step, result.as_ref());
        if let Some(values) = set {
            self.assign(step, values);
        }
        if result.is_ok() {
            self.start_ready_needers(step);
        }
        self.route(step, frame, result);
    }

    pub(super) fn record_finish(
        &mut self,
        step: StepIndex,
        result: Result<&Arc<Value>, &StepFailure>,
    ) {
        let state = &mut self.states[step];
        match result {
            Ok(output) => {
                state.status = StepStatus::Succeeded;
                state.output = output.clone();
                state.failure = None;
            }
            Err(failure) => {
                state.status = if failure.kind == StepFailureKind::CANCELLED {
                    StepStatus::Cancelled
                } else {
                    StepStatus::Failed
                };
                state.output = Arc::new(Value::Null);
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
            memory_peak_bytes: state.memory_peak,
            output: result.ok().cloned(),
            failure: result.err().cloned(),
        });
    }

    pub(super) fn update_record(&self, step: StepIndex) {
        let state = &self.states[step];
        let error = state
            .failure
            .as_ref()
            .map_or(Value::Null, |f| f.to_scope(state.attempts));
        self.scope.steps.set(
            step,
            &Record {
                status: state.status,
                output: &state.output,
                error: &error,
                attempts: state.attempts,
                visits: state.visits,
                duration_ms: millis(state.duration),
            },
        );
    }

    pub(super) fn start_ready_needers(&mut self, step: StepIndex) {
        let plan = self.plan.clone();
        for &needer in &plan.steps[step].needed_by {
            let ready = plan.steps[needer].needs.iter().all(|&need| {
                matches!(
                    self.states[need].status,
                    StepStatus::Succeeded | StepStatus::Skipped
                )
            });
            if ready && self.states[needer].visits == 0 {
                self.enter(needer, None);
            }
        }
    }

    pub(super) fn skip_waiting_needs(&mut self) {
        let plan = self.plan.clone();
        for (index, step) in plan.steps.iter().enumerate() {
            if step.needs.is_empty() || self.states[index].visits > 0 {
                continue;
            }
            let missing: Vec<&str> = step
                .needs
                .iter()
                .filter(|&&need| self.states[need].status != StepStatus::Succeeded)
                .map(|&need| plan.steps[need].id.as_str())
                .collect();
            self.states[index].status = StepStatus::Skipped;
            self.update_record(index);
            self.emit(Event::StepSkipped {
                step: step.id.clone(),
                reason: format!("needs `{}`, which did not succeed", missing.join("`, `")),
            });
        }
    }

    /// Follow the step's route for its outcome, or end its path.
    pub(super) fn route(
        &mut self,
        step: StepIndex,
        frame: Option<FrameId>,
        result: Result<Arc<Value>, StepFailure>,
    ) {
        let plan = self.plan.clone();
        let planned = &plan.steps[step];
        let (route, on) = match &result {
            Ok(_) => (&planned.on_success, Outcome::Success),
            Err(_) => (&planned.on_failure, Outcome::Failure),
        };
        if self.follow(step, route, on, frame) {
            return;
        }
        match result {
            // Recorded as failed; the run goes on as if the step had succeeded.
            Err(_) if planned.continue_on_error => {
                if !self.follow(step, &planned.on_success, Outcome::Success, frame) {
                    self.path_end(frame, Ok((step, Arc::new(Value::Null))));
                }
            }
            Err(failure) => self.path_end(frame, Err((step, failure))),
            Ok(output) => self.path_end(frame, Ok((step, output))),
        }
    }

    /// Take the first branch of `route` that holds. True when the path went
    /// on, or ended because a condition could not be evaluated.
    fn follow(
        &mut self,
        step: StepIndex,
        route: &PlannedRoute,
        on: Outcome,
        frame: Option<FrameId>,
    ) -> bool {
        match self.choose(route) {
            Ok(Some((target, when))) => {
                self.take(step, target, on, when, frame);
                true
            }
            Ok(None) => false,
            Err(problem) => {
                let failure = StepFailure::engine(
                    StepFailureKind::Template,
                    format!("route condition: {problem}"),
                );
                self.path_end(frame, Err((step, failure)));
                true
            }
        }
    }

    pub(super) fn take(
        &mut self,
        from: StepIndex,
        to: StepIndex,
        on: Outcome,
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
    pub(super) fn choose(
        &self,
        route: &PlannedRoute,
    ) -> Result<Option<(StepIndex, Option<String>)>, String> {
        if route.is_empty() {
            return Ok(None);
        }
        // The scope is built only when a condition needs it (not on the hot
        // path of unconditional routes).
        let mut root = None;
        for (condition, target) in &route.branches {
            match condition {
                None => return Ok(Some((*target, None))),
                Some(condition) => {
                    let root = root.get_or_insert_with(|| self.scope.root(Local::default()));
                    if condition.holds(root)? {
                        return Ok(Some((*target, Some(condition.source().to_string()))));
                    }
                }
            }
        }
        Ok(None)
    }

    /// A path of the run ended: at the top level, or in a branch of a group.
    pub(super) fn path_end(
        &mut self,
        frame: Option<FrameId>,
        result: Result<(StepIndex, Arc<Value>), (StepIndex, StepFailure)>,
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
                frame.outputs.insert(
                    self.plan.steps[step].id.clone(),
                    Arc::unwrap_or_clone(output),
                );
                if wait_for == WaitFor::Any || frame.remaining == 0 {
                    Some(Ok(Arc::new(Value::Object(std::mem::take(
                        &mut frame.outputs,
                    )))))
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
    pub(super) fn close_frame(&mut self, frame_id: FrameId) {
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
            let failure = StepFailure::engine(
                StepFailureKind::CANCELLED,
                format!("cancelled: group `{group}` finished without it"),
            );
            self.end_act(act, failure);
        }
    }

    /// Is `frame` the frame `ancestor` or inside it?
    pub(super) fn within(&self, mut frame: Option<FrameId>, ancestor: FrameId) -> bool {
        while let Some(id) = frame {
            if id == ancestor {
                return true;
            }
            frame = self.frames[id].parent;
        }
        false
    }
}
