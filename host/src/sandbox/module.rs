//! A loaded module and the call of one of its actions in a fresh sandbox.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::component::{ComponentExportIndex, InstancePre, Val};
use wasmtime::{Engine, Store, Trap, UpdateDeadline, WasmBacktrace};

use super::cache::CacheOutcome;
use super::context::CallContext;
use super::digest::Digest;
use super::engine::{EPOCH_TICK, EpochTicker};
use super::error::CallError;
use super::limits::{Limits, MemoryLimitExceeded};
use super::outcome::{CallReport, Failure, FailureKind, Outcome, guest_error};
use super::reflect::Action;
use super::store::StoreState;
use super::values::{params_from_json, val_to_json};

/// Fuel handed to a call at a time: what the fuel figure of a call stopped
/// mid-loop (timeout, cancel, trap) may miss, about a millisecond of
/// compute; each slice costs one yield to the host.
const FUEL_SLICE: u64 = 1_000_000;

/// A compiled, linked component, ready to call any number of times.
///
/// Every call instantiates it afresh in a new store: no state survives from
/// one call to the next.
#[derive(Clone)]
pub struct Module {
    pub(crate) name: String,
    pub(crate) digest: Digest,
    pub(crate) engine: Engine,
    pub(crate) pre: InstancePre<StoreState>,
    pub(crate) actions: Vec<(Action, ComponentExportIndex)>,
    pub(crate) cache: CacheOutcome,
    pub(crate) fuel_metering: bool,
    pub(crate) _ticker: Arc<EpochTicker>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.name)
            .field("digest", &self.digest)
            .field(
                "actions",
                &self
                    .actions
                    .iter()
                    .map(|(a, _)| &a.name)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Module {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The sha256 of the component's bytes.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Whether it came from the precompiled cache.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache
    }

    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter().map(|(action, _)| action)
    }

    /// Find an action by its qualified name (`math.add`), its fully
    /// qualified name (`acme:calc/math.add`, with or without `@version`) or,
    /// when only one action has it, by its function name (`add`).
    pub fn action(&self, name: &str) -> Result<&Action, CallError> {
        self.find(name).map(|index| &self.actions[index].0)
    }

    fn find(&self, name: &str) -> Result<usize, CallError> {
        if let Some(index) = self
            .actions
            .iter()
            .position(|(action, _)| action.name == name || action.is_fully_named(name))
        {
            return Ok(index);
        }
        let matches: Vec<usize> = self
            .actions
            .iter()
            .enumerate()
            .filter(|(_, (action, _))| action.function == name)
            .map(|(index, _)| index)
            .collect();
        match matches.as_slice() {
            [index] => Ok(*index),
            [] => {
                let available: Vec<String> =
                    self.actions().map(|action| action.name.clone()).collect();
                Err(CallError::UnknownAction {
                    module: self.name.clone(),
                    action: name.to_string(),
                    suggestion: self.suggest(name),
                    available,
                })
            }
            many => Err(CallError::AmbiguousAction {
                module: self.name.clone(),
                action: name.to_string(),
                candidates: many
                    .iter()
                    .map(|index| self.actions[*index].0.name.clone())
                    .collect(),
            }),
        }
    }

    /// The qualified name of the action closest to a misspelt `name`,
    /// matching against both qualified and function names.
    fn suggest(&self, name: &str) -> Option<String> {
        let spellings = self
            .actions()
            .flat_map(|action| [action.name.as_str(), action.function.as_str()]);
        let closest = crate::suggest::closest(name, spellings)?;
        self.actions()
            .find(|action| action.name == closest || action.function == closest)
            .map(|action| action.name.clone())
    }

    /// Call `action` with `input` (a JSON object keyed by parameter name) under
    /// `limits`, in a fresh sandbox with nothing granted.
    ///
    /// Every way the guest can fail is an [`Outcome::Failure`] in the report;
    /// `Err` means the call could not start (unknown action, bad limits).
    pub async fn call(
        &self,
        action: &str,
        input: &Value,
        limits: &Limits,
    ) -> Result<CallReport, CallError> {
        self.call_with(action, input, limits, &CallContext::default())
            .await
    }

    /// [`call`](Self::call), telling the guest what `context` holds.
    pub async fn call_with(
        &self,
        action: &str,
        input: &Value,
        limits: &Limits,
        context: &CallContext,
    ) -> Result<CallReport, CallError> {
        limits.check().map_err(CallError::Limits)?;
        let index = self.find(action)?;
        let (action, export) = &self.actions[index];
        let params = match params_from_json(input, &action.params) {
            Ok(params) => params,
            Err(error) => {
                return Ok(not_run(Failure::new(
                    FailureKind::InvalidInput,
                    error.to_string(),
                )));
            }
        };

        let started = Instant::now();
        let state = match StoreState::deny_by_default(limits.memory_bytes, started, context) {
            Ok(state) => state,
            Err(problem) => return Ok(not_run(Failure::new(FailureKind::Grant, problem))),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.meter);
        if self.fuel_metering {
            store
                .set_fuel(limits.fuel)
                .expect("fuel metering is enabled on this engine");
            // Compiled code keeps its fuel count in a register and writes it
            // back only at calls and returns: a call stopped inside a tight
            // loop (timeout, cancel) would report none used. Handing fuel out
            // in slices makes the host account for each slice as it goes.
            store
                .fuel_async_yield_interval(Some(FUEL_SLICE))
                .expect("fuel metering is enabled on this engine");
        }
        let deadline = started + limits.timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                // Yield at every tick so concurrent calls and timers make progress.
                Ok(UpdateDeadline::Yield(1))
            }
        });

        let result_count = usize::from(action.result.is_some());
        let run = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            let func = instance.get_func(&mut store, export).ok_or_else(|| {
                wasmtime::Error::msg(format!(
                    "export `{}` vanished after instantiation",
                    action.name
                ))
            })?;
            let mut results = vec![Val::Bool(false); result_count];
            func.call_async(&mut store, &params, &mut results).await?;
            wasmtime::Result::Ok(results)
        };
        // Epochs stop guest code at the deadline; this outer timeout also stops
        // a guest blocked inside a host call, where epochs are not checked.
        // A cancel drops the call (the guest yields at every epoch tick), and
        // the store is still here to measure what it used.
        let cancelled = async {
            match context.cancel.clone() {
                Some(signal) => signal.cancelled().await,
                None => std::future::pending().await,
            }
        };
        let finished = tokio::select! {
            finished = tokio::time::timeout(limits.timeout + 2 * EPOCH_TICK, run) => Ok(finished),
            reason = cancelled => Err(reason),
        };
        let duration = started.elapsed();

        let outcome = match finished {
            Err(reason) => Outcome::Failure(Failure::new(FailureKind::Cancelled, reason)),
            Ok(Ok(Ok(results))) => Self::outcome_of(results.into_iter().next()),
            Ok(Ok(Err(error))) => {
                Outcome::Failure(classify(&error, store.data().meter.refused(), limits))
            }
            Ok(Err(_elapsed)) => Outcome::Failure(Failure::new(
                FailureKind::Timeout,
                format!(
                    "the call did not finish within its {} time limit (it was blocked in a host call)",
                    humantime::format_duration(limits.timeout)
                ),
            )),
        };
        let fuel_consumed = if self.fuel_metering {
            limits.fuel - store.get_fuel().unwrap_or(0)
        } else {
            0
        };
        let state = store.into_data();
        let mut report = CallReport {
            outcome,
            fuel_consumed,
            memory_peak_bytes: state.meter.peak(),
            duration,
            logs: state.reports.logs,
            dropped_logs: state.reports.dropped_logs,
            progress: state.reports.progress,
            stdout: state.stdout.captured(),
            stderr: state.stderr.captured(),
        };
        add_panic_message(&mut report);
        Ok(report)
    }

    /// `ok`/`err` of a top-level `result` decide the outcome; any other
    /// value (or none) is success.
    fn outcome_of(result: Option<Val>) -> Outcome {
        match result {
            None => Outcome::Success(Value::Null),
            Some(Val::Result(Ok(payload))) => {
                Outcome::Success(payload.as_deref().map_or(Value::Null, val_to_json))
            }
            Some(Val::Result(Err(payload))) => Outcome::Failure(guest_error(
                payload.as_deref().map_or(Value::Null, val_to_json),
            )),
            Some(value) => Outcome::Success(val_to_json(&value)),
        }
    }
}

/// A report for a call whose guest never ran.
fn not_run(failure: Failure) -> CallReport {
    CallReport {
        outcome: Outcome::Failure(failure),
        fuel_consumed: 0,
        memory_peak_bytes: 0,
        duration: Duration::ZERO,
        logs: Vec::new(),
        dropped_logs: 0,
        progress: None,
        stdout: Default::default(),
        stderr: Default::default(),
    }
}

/// Map a wasmtime error to a failure kind. The top-level message of a trap is
/// only "error while executing at wasm backtrace", so look inside.
fn classify(
    error: &wasmtime::Error,
    memory_refused: Option<MemoryLimitExceeded>,
    limits: &Limits,
) -> Failure {
    let backtrace = error
        .downcast_ref::<WasmBacktrace>()
        .map(|bt| bt.to_string());
    // The meter, not the error, is the source of truth: however wasmtime
    // wraps the limiter's error, a refused growth is a memory-limit failure.
    let (kind, message) = if let Some(refused) = memory_refused {
        (FailureKind::MemoryLimit, refused.to_string())
    } else {
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => (
                FailureKind::FuelExhausted,
                format!("the call used all of its {} fuel", limits.fuel),
            ),
            Some(Trap::Interrupt) => (
                FailureKind::Timeout,
                format!(
                    "the call ran past its {} time limit",
                    humantime::format_duration(limits.timeout)
                ),
            ),
            Some(Trap::StackOverflow) => (
                FailureKind::StackOverflow,
                "the guest's call stack grew past the maximum depth (unbounded recursion?)"
                    .to_string(),
            ),
            Some(trap) => (FailureKind::Trap, format!("the guest trapped: {trap}")),
            None => (FailureKind::Trap, format!("{error:#}")),
        }
    };
    Failure {
        kind,
        message,
        error: None,
        backtrace,
    }
}

/// A Rust guest prints its panic message to stderr and then hits
/// `unreachable`; put that message where people look first.
fn add_panic_message(report: &mut CallReport) {
    let stderr = &report.stderr.text;
    let Outcome::Failure(failure) = &mut report.outcome else {
        return;
    };
    if failure.kind != FailureKind::Trap {
        return;
    }
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let panic_line = lines.iter().position(|line| line.contains("panicked at"));
    let chosen = match panic_line {
        Some(at) => lines.get(at + 1).copied(),
        None => lines
            .iter()
            .rev()
            .find(|line| !line.starts_with("note:"))
            .copied(),
    };
    if let Some(line) = chosen {
        failure.message = format!("{} (guest stderr: {line})", failure.message);
    }
}
