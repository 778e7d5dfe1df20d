//! Stopping attempts from outside their step: a cancelled run, a parallel
//! group that no longer needs a branch, a workflow timeout, the other items
//! of a map whose item failed. Timers (a retry's backoff) are aborted; a
//! call is asked to stop through its canceller and reports back within an
//! epoch tick, with what it used, and its attempt is recorded `cancelled`:
//! no attempt is left `running`, and a cancelled step's duration and fuel
//! include the attempt it was cancelled in.

use tokio::task::AbortHandle;

use super::{ActId, Engine, TaskKey};
use crate::engine::attempt::{AttemptKey, AttemptResult};
use crate::engine::event::Event;
use crate::engine::failure::StepFailure;
use crate::sandbox::Canceller;
use crate::workflow::plan::StepIndex;

/// A task in flight.
pub(super) struct InFlight {
    pub(super) handle: AbortHandle,
    /// A call (it holds a slot), and how to stop it; `None` for a timer
    /// or a wait.
    pub(super) call: Option<Canceller>,
    /// For a wait: when it began (a cancelled wait records how long it waited).
    pub(super) waiting_since: Option<std::time::Instant>,
}

impl InFlight {
    /// A task that holds no slot and records nothing when stopped: a
    /// timer, or a result already there.
    pub(super) fn timer(handle: AbortHandle) -> Self {
        Self {
            handle,
            call: None,
            waiting_since: None,
        }
    }
}

/// A call asked to stop, recorded when it reports back.
pub(super) struct Cancelling {
    attempt: AttemptKey,
    failure: StepFailure,
}

/// An activation that ends as `failure` once `pending` calls have reported.
pub(super) struct Ending {
    step: StepIndex,
    failure: StepFailure,
    pending: usize,
}

impl Engine<'_> {
    /// Stop the tasks of activation `act`: timers at once, calls through
    /// their cancellers (each reports back, see [`Self::on_cancelled`]).
    /// Returns how many calls are to report.
    pub(super) fn cancel_tasks(&mut self, act: ActId, failure: &StepFailure) -> usize {
        let keys: Vec<TaskKey> = self
            .in_flight
            .keys()
            .filter(|(a, _)| *a == act)
            .copied()
            .collect();
        let mut calls = 0;
        for key in keys {
            let Some(task) = self.in_flight.get(&key) else {
                continue;
            };
            match &task.call {
                None => {
                    if let Some(task) = self.in_flight.remove(&key) {
                        task.handle.abort();
                        if let Some(since) = task.waiting_since {
                            // A wait's attempt ends here, recorded with how long it waited.
                            let result = AttemptResult::measured(
                                Err(failure.clone()),
                                since.elapsed().as_secs_f64() * 1000.0,
                                0,
                                0,
                            );
                            if let Some(Some(activation)) = self.acts.get(act) {
                                self.states[activation.step].add(&result);
                            }
                            self.emit(Event::StepFailed {
                                key: self.attempt_key(key),
                                duration_ms: result.duration_ms,
                                fuel: 0,
                                memory_peak_bytes: 0,
                                failure: failure.clone(),
                                will_retry: false,
                            });
                        }
                    }
                }
                Some(canceller) => {
                    calls += 1;
                    if self.cancelling.contains_key(&key) {
                        continue;
                    }
                    canceller.cancel(failure.message.clone());
                    let attempt = self.attempt_key(key);
                    self.cancelling.insert(
                        key,
                        Cancelling {
                            attempt,
                            failure: failure.clone(),
                        },
                    );
                }
            }
        }
        calls
    }

    /// End activation `act` as `failure` (a step cancelled or timed out from
    /// outside): at once when nothing of it is running, otherwise when its
    /// cancelled calls have reported, so the step's measurements include
    /// them. Nothing is routed: the path ends here.
    pub(super) fn end_act(&mut self, act: ActId, failure: StepFailure) {
        let pending = self.cancel_tasks(act, &failure);
        let Some(activation) = self.acts.get_mut(act).and_then(Option::take) else {
            return;
        };
        if pending == 0 {
            self.record_finish(activation.step, Err(&failure));
        } else {
            self.ending.insert(
                act,
                Ending {
                    step: activation.step,
                    failure,
                    pending,
                },
            );
        }
    }

    /// A cancelled call reported: record its attempt as cancelled, with what
    /// it used, and end its activation if that was waiting for it. A
    /// replayed attempt is already recorded as it happened: left alone.
    pub(super) fn on_cancelled(
        &mut self,
        key: TaskKey,
        result: &mut AttemptResult,
        replayed: bool,
    ) {
        let Some(cancelling) = self.cancelling.remove(&key) else {
            return;
        };
        if !replayed {
            self.emit(Event::StepFailed {
                key: cancelling.attempt.clone(),
                duration_ms: result.duration_ms,
                fuel: result.fuel,
                memory_peak_bytes: result.memory_peak_bytes,
                failure: cancelling.failure,
                will_retry: false,
            });
            self.emit_output(cancelling.attempt, result);
        }
        let Some(ending) = self.ending.get_mut(&key.0) else {
            return;
        };
        let state = &mut self.states[ending.step];
        state.add(result);
        ending.pending -= 1;
        if ending.pending == 0
            && let Some(ending) = self.ending.remove(&key.0)
        {
            self.record_finish(ending.step, Err(&ending.failure));
        }
    }

    /// Abort every task without recording anything (Ctrl-C: what was in
    /// flight runs again on resume), or only the timers (pause: calls
    /// finish and are recorded).
    pub(super) fn abort_tasks(&mut self, calls_too: bool) {
        let keys: Vec<TaskKey> = self
            .in_flight
            .iter()
            .filter(|(_, task)| calls_too || task.call.is_none())
            .map(|(key, _)| *key)
            .collect();
        for key in keys {
            if let Some(task) = self.in_flight.remove(&key) {
                task.handle.abort();
                if task.call.is_some() {
                    self.running -= 1;
                }
            }
        }
        if calls_too {
            self.cancelling.clear();
            self.ending.clear();
        }
    }
}
