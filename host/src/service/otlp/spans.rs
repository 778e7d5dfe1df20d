//! A run's trace, built from its journal after the run ended: a root span
//! for each run (a sub-workflow's run is a child of the parent's attempt
//! that started it), a span per step attempt (a parallel group's branches
//! inside the group's span), a span per wait, a zero-length span per
//! skipped step. Times are the journal's; span ids are derived from the
//! run and attempt, so building a trace twice gives the same spans.
//!
//! An attempt a crash cut short (its start journaled, no end) ends, failed
//! as `interrupted`, where the run was resumed; the attempt that ran again
//! is a span of its own.

use std::borrow::Cow;
use std::collections::HashMap;

use opentelemetry::trace::{
    Event as SpanEvent, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use serde_json::Value;

use crate::diagnostics::Source;
use crate::engine::{
    AttemptKey, Event, RunStatus, StepFailure, StepStatus, child_key, idempotency_key,
};
use crate::module_source;
use crate::sandbox::FailureKind;
use crate::store::{RunRecord, RunStore, StoreError};
use crate::units::system_time as time;
use crate::workflow::StepFailureKind;

/// The most spans one trace is sent with (about 3 MB of OTLP): a run of
/// more attempts keeps every run's span and its earliest attempts, and
/// its root span says how many were left out (`wfhost.spans.dropped`).
pub const MAX_SPANS: usize = 10_000;

/// Every span of the trace of run `root` and its sub-workflows' runs (at
/// most [`MAX_SPANS`]).
pub fn trace_spans(store: &dyn RunStore, root: &str) -> Result<Vec<SpanData>, StoreError> {
    let scope = InstrumentationScope::builder("wfhost")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    let mut spans = Vec::new();
    let mut runs = Vec::new();
    // Parents before children: a child's root span needs its parent's
    // attempt span.
    let mut pending = vec![(store.run(root)?, None)];
    while let Some((run, parent)) = pending.pop() {
        let built = RunSpans::new(store, &run, parent, &scope)?.build(store)?;
        runs.push(built.root);
        for child in store.children(&run.id)? {
            let parent = child
                .idempotency_key
                .as_deref()
                .and_then(|key| built.child_parents.get(key))
                .copied()
                .unwrap_or(built.root);
            pending.push((child, Some(parent)));
        }
        spans.extend(built.spans);
    }
    nest(&mut spans);
    Ok(within(spans, &runs, MAX_SPANS))
}

/// Keep every span within its parent's time. The journal's times are when
/// a batch of events was committed, so a child run created while its
/// parent's `step_started` still waited for its commit can seem to start
/// (by a commit) before the step that started it.
fn nest(spans: &mut [SpanData]) {
    let index: HashMap<SpanId, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, span)| (span.span_context.span_id(), i))
        .collect();
    // Parents first: a span's depth bounds the passes needed (runs nest at
    // most 8 deep, each with groups and attempts inside).
    for _ in 0..64 {
        let mut moved = false;
        for i in 0..spans.len() {
            let Some(&parent) = index.get(&spans[i].parent_span_id) else {
                continue;
            };
            let (first, last) = (spans[parent].start_time, spans[parent].end_time);
            let last = last.max(first);
            let span = &mut spans[i];
            let start = span.start_time.clamp(first, last);
            let end = span.end_time.clamp(start, last);
            if (start, end) != (span.start_time, span.end_time) {
                span.start_time = start;
                span.end_time = end;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
}

/// `spans` cut to `cap`: every run's span (`runs`, the first the trace's
/// root) and the earliest others; the trace's root counts what was left out.
fn within(mut spans: Vec<SpanData>, runs: &[SpanId], cap: usize) -> Vec<SpanData> {
    if spans.len() <= cap {
        return spans;
    }
    let dropped = spans.len() - cap.max(runs.len());
    let is_run = |span: &SpanData| runs.contains(&span.span_context.span_id());
    spans.sort_by_key(|span| (!is_run(span), span.start_time));
    spans.truncate(cap.max(runs.len()));
    if let Some(root) = spans
        .iter_mut()
        .find(|span| Some(&span.span_context.span_id()) == runs.first())
    {
        root.attributes.push(KeyValue::new(
            "wfhost.spans.dropped",
            i64::try_from(dropped).unwrap_or(i64::MAX),
        ));
    }
    spans
}

fn span_id(seed: &str) -> SpanId {
    SpanId::from_bytes(crate::trace::span_id_of(seed))
}

/// What the workflow says about a step: its module, action or child file,
/// and the parallel group it is a branch of.
#[derive(Default)]
struct StepInfo {
    module: Option<String>,
    action: Option<String>,
    workflow: Option<String>,
    group: Option<String>,
    is_group: bool,
}

fn step_infos(run: &RunRecord, text: &str) -> HashMap<String, StepInfo> {
    let Ok(workflow) = crate::workflow::parse(&Source::new(&run.path, text)) else {
        tracing::warn!(
            "run {}: its recorded workflow no longer parses; its trace's spans name no modules or groups",
            run.id
        );
        return HashMap::new();
    };
    let mut infos: HashMap<String, StepInfo> = HashMap::new();
    for step in &workflow.steps {
        let info = infos.entry(step.id.value.clone()).or_default();
        info.module = step.module.as_ref().map(|m| m.value.clone());
        info.action = step.action.as_ref().map(|a| a.value.clone());
        info.workflow = step.workflow.as_ref().map(|w| w.value.clone());
        if let Some(parallel) = &step.parallel {
            info.is_group = true;
            for branch in &parallel.branches {
                infos.entry(branch.value.clone()).or_default().group = Some(step.id.value.clone());
            }
        }
    }
    infos
}

/// The spans of one run, built event by event.
struct RunSpans<'a> {
    run: &'a RunRecord,
    trace_id: TraceId,
    root: SpanId,
    parent: Option<SpanId>,
    remote_parent: bool,
    scope: &'a InstrumentationScope,
    steps: HashMap<String, StepInfo>,
    /// Module name → sha256, as the run pinned them.
    digests: HashMap<String, String>,
    spans: Vec<SpanData>,
    /// Attempts started and not ended: index into `spans`.
    open: HashMap<AttemptKey, usize>,
    /// Waits begun and not ended.
    waiting: HashMap<AttemptKey, usize>,
    /// Parallel groups started and not finished: their span's index.
    groups: HashMap<String, usize>,
    /// How often each attempt started (a crash makes it start again).
    starts: HashMap<AttemptKey, u32>,
    /// The last attempt that failed and will be retried, by step and item.
    retried: HashMap<(String, Option<usize>), usize>,
    /// A child run's idempotency key → the attempt span that started it.
    child_parents: HashMap<String, SpanId>,
}

struct Built {
    root: SpanId,
    spans: Vec<SpanData>,
    child_parents: HashMap<String, SpanId>,
}

impl<'a> RunSpans<'a> {
    fn new(
        store: &dyn RunStore,
        run: &'a RunRecord,
        parent: Option<SpanId>,
        scope: &'a InstrumentationScope,
    ) -> Result<Self, StoreError> {
        let text = store.workflow_text(&run.workflow_digest)?;
        let (parent, remote_parent) = match parent {
            Some(parent) => (Some(parent), false),
            None => (
                run.trace_parent
                    .as_deref()
                    .and_then(|hex| SpanId::from_hex(hex).ok()),
                true,
            ),
        };
        Ok(Self {
            run,
            trace_id: TraceId::from_hex(&run.trace_id).unwrap_or(TraceId::INVALID),
            root: span_id(&format!("run:{}", run.id)),
            parent,
            remote_parent,
            scope,
            steps: step_infos(run, &text),
            digests: store.run_modules(&run.id)?.into_iter().collect(),
            spans: Vec::new(),
            open: HashMap::new(),
            waiting: HashMap::new(),
            groups: HashMap::new(),
            starts: HashMap::new(),
            retried: HashMap::new(),
            child_parents: HashMap::new(),
        })
    }

    fn build(mut self, store: &dyn RunStore) -> Result<Built, StoreError> {
        let run = self.run;
        let mut run_starts = 0;
        let mut resumes = Vec::new();
        let mut ended: Option<(f64, RunStatus, Option<String>)> = None;
        let mut last = run.created_at;
        for record in store.events(&run.id, None, 0)? {
            let at = record.at;
            last = last.max(at);
            let event = match serde_json::from_value::<Event>(record.body) {
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(
                        "run {}: event {} is left out of its trace: {error}",
                        run.id,
                        record.seq
                    );
                    continue;
                }
            };
            match event {
                Event::RunStarted { .. } => {
                    run_starts += 1;
                    if run_starts > 1 {
                        self.cut_short(at);
                        resumes.push(SpanEvent::new("resumed", time(at), Vec::new(), 0));
                    }
                }
                Event::StepStarted { key, .. } => self.start(key, at),
                Event::StepSucceeded {
                    key,
                    fuel,
                    memory_peak_bytes,
                    ..
                } => {
                    self.end(&key, at, fuel, memory_peak_bytes, None);
                }
                Event::StepFailed {
                    key,
                    fuel,
                    memory_peak_bytes,
                    failure,
                    will_retry,
                    ..
                } => {
                    let index = self.end(&key, at, fuel, memory_peak_bytes, Some(&failure));
                    if let (true, Some(index)) = (will_retry, index) {
                        self.retried.insert((key.step.clone(), key.item), index);
                    }
                }
                Event::StepRetrying {
                    step,
                    item,
                    delay_ms,
                    ..
                } => {
                    if let Some(index) = self.retried.remove(&(step, item)) {
                        self.spans[index].attributes.push(KeyValue::new(
                            "wfhost.retry.delay_ms",
                            i64::try_from(delay_ms).unwrap_or(i64::MAX),
                        ));
                    }
                }
                Event::StepFinished { step, status, .. } => {
                    if let Some(index) = self.groups.remove(&step) {
                        self.end_group(index, at, status);
                    }
                }
                Event::StepSkipped { step, reason } => self.skipped(&step, &reason, at),
                Event::StepWaiting { key, signal, .. } => self.wait(key, signal, at),
                Event::SignalReceived {
                    key, seq, sent_by, ..
                } => {
                    if let Some(index) = self.waiting.remove(&key) {
                        let span = &mut self.spans[index];
                        span.end_time = time(at);
                        span.attributes.extend([
                            KeyValue::new("wfhost.signal.seq", seq),
                            KeyValue::new("wfhost.signal.sent_by", sent_by),
                        ]);
                    }
                }
                Event::RunFinished { status, error, .. } => {
                    let message = error.as_ref().map(error_message);
                    ended = Some((at, status, message));
                }
                Event::StepOutput { .. }
                | Event::VarsSet { .. }
                | Event::RunWaiting { .. }
                | Event::RunContinued
                | Event::RouteTaken { .. } => {}
            }
        }
        let end = ended.as_ref().map_or(last, |(at, ..)| *at);
        for (_, index) in self.waiting.drain() {
            self.spans[index].end_time = time(end);
        }
        self.cut_short(end);
        let (status, message) = match ended {
            Some((_, status, message)) => (status, message),
            None => (run.status, None),
        };
        let root = self.root_span(end, status, message, resumes);
        self.spans.push(root);
        Ok(Built {
            root: self.root,
            spans: self.spans,
            child_parents: self.child_parents,
        })
    }

    fn span(
        &self,
        id: SpanId,
        parent: SpanId,
        name: String,
        at: f64,
        attributes: Vec<KeyValue>,
    ) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                self.trace_id,
                id,
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: parent,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Owned(name),
            start_time: time(at),
            end_time: time(at),
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: self.scope.clone(),
        }
    }

    /// The span a step's span belongs to: its group's, or the run's.
    fn parent_of(&self, step: &str) -> SpanId {
        self.steps
            .get(step)
            .and_then(|info| info.group.as_ref())
            .and_then(|group| self.groups.get(group))
            .map_or(self.root, |&index| self.spans[index].span_context.span_id())
    }

    fn start(&mut self, key: AttemptKey, at: f64) {
        if self.waiting.contains_key(&key) {
            // A wait resumed by a later process: the same attempt goes on.
            return;
        }
        let starts = self.starts.entry(key.clone()).or_insert(0);
        *starts += 1;
        let starts = *starts;
        let step_key = idempotency_key(&self.run.id, &key);
        let id = span_id(&format!("attempt:{step_key}#{}/{starts}", key.attempt));
        let info = self.steps.get(&key.step);
        let mut attributes = vec![
            KeyValue::new("cicd.pipeline.task.name", key.step.clone()),
            KeyValue::new(
                "cicd.pipeline.task.run.id",
                format!("{step_key}#{}", key.attempt),
            ),
            KeyValue::new("wfhost.step.id", key.step.clone()),
            KeyValue::new("wfhost.attempt", i64::from(key.attempt)),
            KeyValue::new("wfhost.visit", i64::from(key.visit)),
        ];
        if let Some(item) = key.item {
            attributes.push(KeyValue::new(
                "wfhost.item",
                i64::try_from(item).unwrap_or(i64::MAX),
            ));
        }
        if key.iteration > 0 {
            attributes.push(KeyValue::new("wfhost.iteration", i64::from(key.iteration)));
        }
        if let Some(info) = info {
            if let Some(module) = &info.module {
                let name = module_source::name_of(module);
                if let Some(digest) = self.digests.get(name.as_ref()) {
                    attributes.push(KeyValue::new("wfhost.module.digest", digest.clone()));
                }
                attributes.push(KeyValue::new("wfhost.module.name", name.into_owned()));
            }
            if let Some(action) = &info.action {
                attributes.push(KeyValue::new("wfhost.action", action.clone()));
            }
            if let Some(workflow) = &info.workflow {
                attributes.push(KeyValue::new("wfhost.workflow", workflow.clone()));
            }
        }
        let is_group = info.is_some_and(|info| info.is_group);
        let span = self.span(
            id,
            self.parent_of(&key.step),
            key.step.clone(),
            at,
            attributes,
        );
        if is_group {
            self.groups.insert(key.step.clone(), self.spans.len());
        } else {
            self.child_parents.insert(child_key(&step_key, &key), id);
        }
        self.open.insert(key, self.spans.len());
        self.spans.push(span);
    }

    /// End attempt `key` at `at`; its span's index.
    fn end(
        &mut self,
        key: &AttemptKey,
        at: f64,
        fuel: u64,
        memory_peak_bytes: u64,
        failure: Option<&StepFailure>,
    ) -> Option<usize> {
        let index = self.open.remove(key)?;
        if let Some(wait) = self.waiting.remove(key) {
            self.spans[wait].end_time = time(at);
        }
        let span = &mut self.spans[index];
        span.end_time = time(at);
        span.attributes.extend([
            KeyValue::new("wfhost.fuel", i64::try_from(fuel).unwrap_or(i64::MAX)),
            KeyValue::new(
                "wfhost.memory.peak_bytes",
                i64::try_from(memory_peak_bytes).unwrap_or(i64::MAX),
            ),
        ]);
        match failure {
            None => {
                span.attributes
                    .push(KeyValue::new("cicd.pipeline.task.run.result", "success"));
                span.status = Status::Ok;
            }
            Some(failure) => {
                let kind = failure.kind.as_str();
                span.attributes.extend([
                    KeyValue::new("cicd.pipeline.task.run.result", task_result(failure.kind)),
                    KeyValue::new("wfhost.failure.kind", kind),
                    KeyValue::new("error.type", kind),
                ]);
                span.status = Status::error(failure.message.clone());
            }
        }
        Some(index)
    }

    fn end_group(&mut self, index: usize, at: f64, status: StepStatus) {
        self.open.retain(|_, open| *open != index);
        let span = &mut self.spans[index];
        span.end_time = time(at);
        let (result, ok) = match status {
            StepStatus::Succeeded => ("success", true),
            StepStatus::Cancelled => ("cancellation", false),
            _ => ("failure", false),
        };
        span.attributes
            .push(KeyValue::new("cicd.pipeline.task.run.result", result));
        span.status = if ok {
            Status::Ok
        } else {
            Status::error(format!("the group {}", status.as_str()))
        };
    }

    fn skipped(&mut self, step: &str, reason: &str, at: f64) {
        let n = self.spans.len();
        let id = span_id(&format!("skipped:{}:{step}/{n}", self.run.id));
        let span = self.span(
            id,
            self.parent_of(step),
            step.to_string(),
            at,
            vec![
                KeyValue::new("cicd.pipeline.task.name", step.to_string()),
                KeyValue::new("cicd.pipeline.task.run.result", "skip"),
                KeyValue::new("wfhost.step.id", step.to_string()),
                KeyValue::new("wfhost.skipped.reason", reason.to_string()),
            ],
        );
        self.spans.push(span);
    }

    fn wait(&mut self, key: AttemptKey, signal: Option<String>, at: f64) {
        let Some(&attempt) = self.open.get(&key) else {
            return;
        };
        if self.waiting.contains_key(&key) {
            return;
        }
        let parent = self.spans[attempt].span_context.span_id();
        let id = span_id(&format!("wait:{parent}"));
        let (name, attributes) = match signal {
            Some(signal) => (
                format!("wait {signal}"),
                vec![KeyValue::new("wfhost.signal", signal)],
            ),
            None => ("sleep".to_string(), Vec::new()),
        };
        let span = self.span(id, parent, name, at, attributes);
        self.waiting.insert(key, self.spans.len());
        self.spans.push(span);
    }

    /// End every attempt still open at `at` but those waiting (a wait
    /// outlives the process that began it): the process driving the run
    /// stopped (a crash, an interrupt) before they ended.
    fn cut_short(&mut self, at: f64) {
        let waiting = &self.waiting;
        let open: Vec<usize> = self
            .open
            .extract_if(|key, _| !waiting.contains_key(key))
            .map(|(_, index)| index)
            .collect();
        for index in open {
            let span = &mut self.spans[index];
            span.end_time = time(at);
            let interrupted = RunStatus::Interrupted.as_str();
            span.attributes.extend([
                KeyValue::new("cicd.pipeline.task.run.result", "error"),
                KeyValue::new("wfhost.failure.kind", interrupted),
                KeyValue::new("error.type", interrupted),
            ]);
            span.status = Status::error(
                "interrupted: the process driving the run stopped before the attempt ended",
            );
        }
        self.groups.clear();
    }

    fn root_span(
        &self,
        end: f64,
        status: RunStatus,
        message: Option<String>,
        resumes: Vec<SpanEvent>,
    ) -> SpanData {
        let run = self.run;
        let result = match status {
            RunStatus::Succeeded => "success",
            RunStatus::Cancelled => "cancellation",
            RunStatus::Failed => "failure",
            _ => "error",
        };
        let mut span = self.span(
            self.root,
            self.parent.unwrap_or(SpanId::INVALID),
            format!("RUN {}", run.name),
            run.created_at,
            vec![
                KeyValue::new("cicd.pipeline.name", run.name.clone()),
                KeyValue::new("cicd.pipeline.action.name", "RUN"),
                KeyValue::new("cicd.pipeline.run.id", run.id.clone()),
                KeyValue::new("cicd.pipeline.result", result),
                KeyValue::new("wfhost.run.id", run.id.clone()),
                KeyValue::new("wfhost.run.status", status.as_str()),
                KeyValue::new("wfhost.workflow.digest", run.workflow_digest.clone()),
                KeyValue::new("wfhost.trigger", run.trigger.kind.as_str()),
                KeyValue::new("wfhost.started_by", run.started_by.clone()),
            ],
        );
        span.end_time = time(end);
        span.parent_span_is_remote = self.remote_parent && self.parent.is_some();
        span.span_kind = if span.parent_span_is_remote {
            SpanKind::Server
        } else {
            SpanKind::Internal
        };
        span.events.events = resumes;
        span.status = match status {
            RunStatus::Succeeded => Status::Ok,
            _ => Status::error(message.unwrap_or_else(|| format!("the run {}", status.as_str()))),
        };
        span
    }
}

/// `cicd.pipeline.task.run.result` of a failure kind.
fn task_result(kind: StepFailureKind) -> &'static str {
    match kind {
        StepFailureKind::Call(FailureKind::Timeout)
        | StepFailureKind::WorkflowTimeout
        | StepFailureKind::WaitTimeout => "timeout",
        StepFailureKind::CANCELLED => "cancellation",
        _ => "failure",
    }
}

fn error_message(error: &Value) -> String {
    error
        .get("message")
        .and_then(Value::as_str)
        .map_or_else(|| error.to_string(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: u8, start: f64) -> SpanData {
        let scope = InstrumentationScope::builder("test").build();
        let mut bytes = [0; 8];
        bytes[7] = id;
        SpanData {
            span_context: SpanContext::new(
                TraceId::from_bytes([1; 16]),
                SpanId::from_bytes(bytes),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Borrowed("s"),
            start_time: time(start),
            end_time: time(start),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: scope,
        }
    }

    #[test]
    fn a_trace_over_the_cap_keeps_every_run_and_the_earliest_attempts() {
        // Two runs (ids 1 and 9, the child's starting late) and seven attempts.
        let spans: Vec<SpanData> = [(1, 0.0), (2, 1.0), (3, 2.0), (4, 3.0), (5, 4.0)]
            .into_iter()
            .chain([(6, 5.0), (7, 6.0), (8, 7.0), (9, 8.0)])
            .map(|(id, at)| span(id, at))
            .collect();
        let runs = [
            spans[0].span_context.span_id(),
            spans[8].span_context.span_id(),
        ];
        let kept = within(spans.clone(), &runs, 4);
        let ids: Vec<u8> = kept
            .iter()
            .map(|s| s.span_context.span_id().to_bytes()[7])
            .collect();
        assert_eq!(ids, [1, 9, 2, 3]);
        let dropped = kept[0]
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == "wfhost.spans.dropped")
            .map(|kv| kv.value.to_string());
        assert_eq!(dropped.as_deref(), Some("5"));
        assert_eq!(within(spans, &runs, 9).len(), 9, "at the cap: all kept");
    }
}
