//! The pages: each reads what it shows from the store and the library in
//! one go (off the async executor) and renders one template.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Html;
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::drawing::{self, NodeState};
use super::session::{self, Viewer};
use super::timeline::{self, Timeline};
use super::{PageError, form, fragment, render};
use crate::engine::{RunStatus, StepStatus};
use crate::service::api::{ApiState, modules, runs, schedules, workflows};
use crate::store::{EventRecord, RunRecord, StepRecord};
use crate::workflow::Plan;
use crate::workflow::plan::{PlannedSignal, StepKind};
use crate::workflow::wit_type;

/// The most runs the runs page lists.
const MAX_RUNS: usize = 200;
/// The most events a run page lists (the newest).
const MAX_EVENTS: usize = 300;
/// The longest text shown of one value (an input, an output, a log).
const MAX_VALUE_CHARS: usize = 4_000;

#[derive(Debug, Default, Deserialize)]
pub struct RunsQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    workflow: String,
    #[serde(default)]
    trigger: String,
}

/// `/`: runs, newest first, filtered; counts per status.
pub async fn runs(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Query(query): Query<RunsQuery>,
) -> Result<Html<String>, PageError> {
    let viewer = session::viewer(&state, &headers, "/").await?;
    let status = (!query.status.is_empty())
        .then(|| {
            RunStatus::parse(&query.status).ok_or_else(|| {
                PageError::new(
                    StatusCode::BAD_REQUEST,
                    format!("unknown status `{}`", query.status),
                )
            })
        })
        .transpose()?;
    let (records, counts) = state
        .read(move |store| {
            let counts = RunStatus::ALL
                .iter()
                .map(|s| Ok((s.as_str(), store.count_runs(*s)?)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((store.runs(status)?, counts))
        })
        .await?;
    let mut workflows: Vec<&str> = records.iter().map(|r| r.name.as_str()).collect();
    workflows.sort_unstable();
    workflows.dedup();
    let shown: Vec<Value> = records
        .iter()
        .filter(|run| query.workflow.is_empty() || run.name == query.workflow)
        .filter(|run| query.trigger.is_empty() || run.trigger.kind.as_str() == query.trigger)
        .take(MAX_RUNS)
        .map(run_row)
        .collect();
    render(
        "runs.html",
        "Runs",
        context! {
            viewer => Serde(viewer), counts => Serde(counts), workflows => Serde(workflows), runs => Serde(shown),
            filter => context! { status => query.status, workflow => query.workflow, trigger => query.trigger },
            triggers => Serde(["cli", "api", "cron", "webhook", "child"]),
            statuses => Serde(RunStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
            max => MAX_RUNS,
        },
    )
}

fn run_row(run: &RunRecord) -> Value {
    let mut row = runs::run_json(run);
    row["trigger"] = json!(run.trigger.kind.as_str());
    row["seconds"] = json!(((run.updated_at - run.created_at) * 10.0).round() / 10.0);
    row
}

/// Everything a run page shows, read in one go.
struct RunRead {
    run: RunRecord,
    steps: Vec<StepRecord>,
    children: Vec<RunRecord>,
    events: Vec<EventRecord>,
    text: Option<String>,
}

/// `/runs/{id}`: the run's graph coloured by state, its steps with what
/// each did, a timeline of attempts, the waits it can be answered on, its
/// events, and what may be done with it.
pub async fn run(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    let viewer = session::viewer(&state, &headers, &format!("/runs/{id}")).await?;
    let read = state
        .read(move |store| {
            let run = store.run(&id)?;
            let text = store.workflow_text(&run.workflow_digest).ok();
            Ok(RunRead {
                steps: store.steps(&id)?,
                children: store.children(&id)?,
                events: store.events(&id, None, 0)?,
                text,
                run,
            })
        })
        .await?;
    let plan = plan_of(&state, &read.run, read.text.as_deref()).await;
    let page = tokio::task::spawn_blocking(move || run_page(&read, plan.as_deref(), viewer))
        .await
        .map_err(|error| {
            PageError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the page task failed: {error}"),
            )
        })?;
    page.and_then(|(title, context)| render("run.html", &title, context))
}

/// The plan a run was started with: the served one when its digest is the
/// run's, else its recorded text planned again (`None` when that no longer
/// plans, e.g. a module is gone: the page shows no graph).
pub(super) async fn plan_of(
    state: &Arc<ApiState>,
    run: &RunRecord,
    text: Option<&str>,
) -> Option<Arc<Plan>> {
    if let Some(served) = state.library.get(&run.name)
        && served.digest == run.workflow_digest
    {
        return Some(Arc::clone(&served.plan));
    }
    let source = crate::diagnostics::Source::new(&run.path, text?.to_string());
    let library = Arc::clone(&state.library);
    tokio::task::spawn_blocking(move || library.plan_source(&source).ok().map(Arc::new))
        .await
        .ok()
        .flatten()
}

fn run_page(
    read: &RunRead,
    plan: Option<&Plan>,
    viewer: Viewer,
) -> Result<(String, minijinja::Value), PageError> {
    let RunRead {
        run,
        steps,
        children,
        events,
        ..
    } = read;
    let by_id: HashMap<&str, &StepRecord> = steps.iter().map(|s| (s.step.as_str(), s)).collect();
    let details = step_details(events);
    // Every step of the plan, in the file's order, with what the journal
    // says of it (a step not reached is pending).
    let ids: Vec<&str> = match plan {
        Some(plan) => plan.steps.iter().map(|s| s.id.as_str()).collect(),
        None => steps.iter().map(|s| s.step.as_str()).collect(),
    };
    let rows: Vec<Value> = ids
        .iter()
        .map(|id| step_row(id, by_id.get(id).copied(), details.get(id), plan))
        .collect();
    let state_of = |id: &str| by_id.get(id).map_or(StepStatus::Pending, |s| s.status);
    let graph = plan.and_then(|plan| {
        drawing::svg(plan, |id| NodeState {
            state: state_of(id).as_str(),
            note: details.get(id).and_then(|d| d.items_note()),
        })
    });
    let mut grouped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    if graph.is_none() {
        for id in &ids {
            grouped.entry(state_of(id).as_str()).or_default().push(id);
        }
    }
    let waits: Vec<Value> = plan
        .map(|plan| waits_of(plan, steps, viewer.name.is_some()))
        .unwrap_or_default();
    let timeline: Timeline = timeline::timeline(events, crate::units::now_seconds());
    let shown_events: Vec<Value> = events
        .iter()
        .skip(events.len().saturating_sub(MAX_EVENTS))
        .map(|e| {
            json!({
                "seq": e.seq,
                "kind": e.kind,
                "step": e.step,
                "at": crate::units::rfc3339(e.at),
                "body": clip(&e.body.to_string()),
            })
        })
        .collect();
    let mut run_value = runs::run_json(run);
    run_value["inputs"] = json!(clip(&run.inputs.to_string()));
    run_value["trigger"] = json!(run.trigger.kind.as_str());
    let title = format!("Run {} ({})", run.id, run.status);
    Ok((
        title,
        context! {
            viewer => Serde(viewer),
            run => Serde(run_value),
            steps => Serde(rows),
            children => Serde(children.iter().map(runs::run_json).collect::<Vec<_>>()),
            graph => graph.map(minijinja::Value::from_safe_string),
            grouped => Serde(grouped),
            waits => Serde(waits),
            timeline => Serde(timeline),
            events => Serde(shown_events),
            events_left_out => events.len().saturating_sub(MAX_EVENTS),
            can => context! {
                cancel => !run.status.is_ended(),
                pause => run.status.is_active(),
                resume => matches!(run.status, RunStatus::Paused | RunStatus::Interrupted | RunStatus::Failed),
            },
        },
    ))
}

/// What the journal says of one step beyond its record: its last input,
/// its last guest output, and how many map items started and ended.
#[derive(Debug, Default)]
struct StepDetail {
    input: Option<String>,
    logs: Vec<String>,
    stdout: String,
    stderr: String,
    items: std::collections::HashSet<u64>,
    items_ended: std::collections::HashSet<u64>,
}

impl StepDetail {
    fn items_note(&self) -> Option<String> {
        (!self.items.is_empty()).then(|| {
            format!(
                "{} of {} items done",
                self.items_ended.len(),
                self.items.len()
            )
        })
    }
}

fn step_details(events: &[EventRecord]) -> HashMap<&str, StepDetail> {
    let mut details: HashMap<&str, StepDetail> = HashMap::new();
    for event in events {
        let Some(step) = event.step.as_deref() else {
            continue;
        };
        let detail = details.entry(step).or_default();
        let item = event.body.get("item").and_then(Value::as_u64);
        match event.kind.as_str() {
            "step_started" => {
                if let Some(input) = event.body.get("input").filter(|v| !v.is_null()) {
                    detail.input = Some(clip(&input.to_string()));
                }
                detail.items.extend(item);
            }
            "step_succeeded" | "step_failed" => {
                let will_retry = event.body.get("will_retry") == Some(&Value::Bool(true));
                if !will_retry {
                    detail.items_ended.extend(item);
                }
            }
            "step_output" => {
                let body = &event.body;
                detail.logs = body
                    .get("logs")
                    .and_then(Value::as_array)
                    .map(|logs| logs.iter().map(|l| clip(&l.to_string())).collect())
                    .unwrap_or_default();
                detail.stdout = tail(body.get("stdout").and_then(Value::as_str).unwrap_or(""));
                detail.stderr = tail(body.get("stderr").and_then(Value::as_str).unwrap_or(""));
            }
            _ => {}
        }
    }
    details
}

#[derive(Serialize)]
struct Grants {
    fs: Vec<String>,
    env: Vec<String>,
    run: Vec<String>,
    net: Vec<String>,
}

fn step_row(
    id: &str,
    record: Option<&StepRecord>,
    detail: Option<&StepDetail>,
    plan: Option<&Plan>,
) -> Value {
    let planned = plan.and_then(|p| p.steps.iter().find(|s| s.id == id));
    let what = planned.map(|step| match &step.kind {
        StepKind::Action { module, action } => format!("{}.{action}", module.name()),
        StepKind::Parallel { .. } => "parallel group".into(),
        StepKind::Workflow(child) => format!("workflow {}", child.written),
        StepKind::Wait(wait) => match &wait.signal {
            Some(signal) => format!("waits for signal {}", signal.name),
            None => "timer".into(),
        },
    });
    let grants = planned.map(|step| {
        let p = &step.permissions;
        Grants {
            fs: p
                .fs
                .iter()
                .map(|(path, rw)| format!("{path} ({})", if *rw { "read-write" } else { "read" }))
                .collect(),
            env: p.env.clone(),
            run: p.run.clone(),
            net: p.net.clone(),
        }
    });
    let mut row = match record {
        Some(record) => runs::step_json(record),
        None => json!({ "id": id, "status": "pending", "attempts": 0 }),
    };
    row["what"] = json!(what);
    row["grants"] = json!(grants);
    if let Some(output) = row.get("output").filter(|v| !v.is_null()) {
        row["output"] = json!(clip(&output.to_string()));
    }
    if let Some(failure) = row.get("failure").filter(|v| !v.is_null()) {
        row["failure"] = json!(clip(&failure.to_string()));
    }
    if let Some(detail) = detail {
        row["input"] = json!(detail.input);
        row["logs"] = json!(detail.logs);
        row["stdout"] = json!(detail.stdout);
        row["stderr"] = json!(detail.stderr);
        row["items"] = json!(detail.items_note());
    }
    row
}

/// The steps waiting now that a person can answer here: a signal's form
/// generated from its type, or an approval's approve / reject.
fn waits_of(plan: &Plan, steps: &[StepRecord], signed_in: bool) -> Vec<Value> {
    steps
        .iter()
        .filter(|record| record.status == StepStatus::Waiting)
        .filter_map(|record| {
            let step = plan.steps.iter().find(|s| s.id == record.step)?;
            let StepKind::Wait(wait) = &step.kind else {
                return None;
            };
            let signal: &PlannedSignal = wait.signal.as_ref()?;
            let fields = match wit_type::parse(&signal.type_text) {
                Ok(shape) => form::fields(&shape),
                Err(_) => Vec::new(),
            };
            Some(json!({
                "step": record.step,
                "signal": signal.name,
                "type": signal.type_text,
                "approvals": signal.approvals_required,
                "fields": fields,
                "signed_in": signed_in,
            }))
        })
        .collect()
}

fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_VALUE_CHARS {
        text.to_string()
    } else {
        let cut: String = text.chars().take(MAX_VALUE_CHARS).collect();
        format!("{cut}… (cut)")
    }
}

/// The end of a guest's output.
fn tail(text: &str) -> String {
    let count = text.chars().count();
    if count <= MAX_VALUE_CHARS {
        text.to_string()
    } else {
        let kept: String = text.chars().skip(count - MAX_VALUE_CHARS).collect();
        format!("(…) {kept}")
    }
}

/// `/workflows`: every workflow file, what triggers it (cron with the next
/// fire and recent ticks, missed ones included; webhook paths), and why a
/// file is not served.
pub async fn workflows(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Html<String>, PageError> {
    let viewer = session::viewer(&state, &headers, "/workflows").await?;
    let listed: Vec<Value> = state
        .library
        .list()
        .iter()
        .map(workflows::workflow_json)
        .collect();
    let schedules = schedules::all(&state).await?;
    let schedules_table = fragment("schedules.html", context! { schedules => Serde(schedules) })?;
    render(
        "workflows.html",
        "Workflows",
        context! { viewer => Serde(viewer), workflows => Serde(listed), schedules_table },
    )
}

/// `/workflows/{name}`: one workflow, its graph and triggers.
pub async fn workflow(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Html<String>, PageError> {
    let viewer = session::viewer(&state, &headers, &format!("/workflows/{name}")).await?;
    let listed = state
        .library
        .list()
        .into_iter()
        .find(|listed| listed.name == name)
        .ok_or_else(|| {
            PageError::new(
                StatusCode::NOT_FOUND,
                format!("no workflow `{name}` is served"),
            )
        })?;
    let schedules: Vec<Value> = schedules::all(&state)
        .await?
        .into_iter()
        .filter(|s| s["workflow"] == json!(name))
        .collect();
    let graph = listed.serving.as_ref().and_then(|served| {
        drawing::svg(&served.plan, |_| NodeState {
            state: "pending",
            note: None,
        })
    });
    let schedules_table = fragment("schedules.html", context! { schedules => Serde(schedules) })?;
    render(
        "workflow.html",
        &name,
        context! {
            viewer => Serde(viewer),
            workflow => Serde(workflows::workflow_json(&listed)),
            problems => listed.problems,
            text => listed.serving.as_ref().map(|w| w.text.clone()),
            graph => graph.map(minijinja::Value::from_safe_string),
            schedules_table,
        },
    )
}

/// `/modules`: every module a workflow can name, its actions with their
/// WIT signatures and docs, and what it asks for.
pub async fn modules(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Html<String>, PageError> {
    let viewer = session::viewer(&state, &headers, "/modules").await?;
    let modules = modules::all(&state).await?;
    render(
        "modules.html",
        "Modules",
        context! { viewer => Serde(viewer), modules => Serde(modules) },
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
}

/// `/ui/login`: sign in with an API token.
pub async fn login(Query(query): Query<LoginQuery>) -> Result<Html<String>, PageError> {
    render(
        "login.html",
        "Sign in",
        context! { next => super::actions::local_path(&query.next), error => None::<String> },
    )
}
