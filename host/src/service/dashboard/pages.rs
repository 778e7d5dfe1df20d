//! The pages: each reads what it shows from the store and the library in
//! one go (off the async executor) and renders one template.

use std::collections::{BTreeMap, HashMap, HashSet};
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
use crate::engine::{RunStatus, StepStatus, TriggerKind};
use crate::service::api::{ApiState, modules, runs, schedules, workflows};
use crate::store::{EventRecord, RunFilter, RunRecord, StepRecord};
use crate::workflow::Plan;
use crate::workflow::plan::{PlannedSignal, StepKind};
use crate::workflow::wit_type;

/// The most runs the runs page lists.
const MAX_RUNS: usize = 200;
/// The most events a run page lists (the newest).
const MAX_EVENTS: usize = 300;
/// The most rows the steps table of a run page has unless all are asked
/// for (`?steps=all`): a browser lays out a 2,000-row table in about a
/// third of a second, most of a page's budget.
const MAX_ROWS: usize = 300;
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
    let trigger = (!query.trigger.is_empty())
        .then(|| {
            TriggerKind::parse(&query.trigger).ok_or_else(|| {
                PageError::new(
                    StatusCode::BAD_REQUEST,
                    format!("unknown trigger `{}`", query.trigger),
                )
            })
        })
        .transpose()?;
    let workflow = (!query.workflow.is_empty()).then(|| query.workflow.clone());
    let (records, counts) = state
        .read(move |store| {
            let counts = RunStatus::ALL
                .iter()
                .map(|s| Ok((s.as_str(), store.count_runs(*s)?)))
                .collect::<Result<Vec<_>, _>>()?;
            let filter = RunFilter {
                status,
                workflow: workflow.as_deref(),
                trigger: trigger.map(TriggerKind::as_str),
                limit: MAX_RUNS,
            };
            Ok((store.recent_runs(&filter)?, counts))
        })
        .await?;
    // The served workflows, and the one filtered by (a run of `wfhost run`
    // may name a file the server does not serve).
    let mut workflows: Vec<String> = state.library.list().into_iter().map(|l| l.name).collect();
    if !query.workflow.is_empty() && !workflows.contains(&query.workflow) {
        workflows.push(query.workflow.clone());
    }
    let shown: Vec<Value> = records.iter().map(run_row).collect();
    render(
        "runs.html",
        "Runs",
        context! {
            viewer => Serde(viewer), counts => Serde(counts), workflows => Serde(workflows), runs => Serde(shown),
            filter => context! { status => query.status, workflow => query.workflow, trigger => query.trigger },
            triggers => Serde(TriggerKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>()),
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
#[derive(Debug, Default, Deserialize)]
pub struct RunQuery {
    /// `all`: every step's row, however many.
    #[serde(default)]
    steps: String,
}

pub async fn run(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<RunQuery>,
) -> Result<Html<String>, PageError> {
    let viewer = session::viewer(&state, &headers, &format!("/runs/{id}")).await?;
    let all_rows = query.steps == "all";
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
    let page =
        tokio::task::spawn_blocking(move || run_page(&read, plan.as_deref(), viewer, all_rows))
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
    all_rows: bool,
) -> Result<(String, minijinja::Value), PageError> {
    let RunRead {
        run,
        steps,
        children,
        events,
        ..
    } = read;
    let by_id: HashMap<&str, &StepRecord> = steps.iter().map(|s| (s.step.as_str(), s)).collect();
    let items = item_counts(events);
    // Every step of the plan, in the file's order, with what the journal
    // says of it (a step not reached is pending).
    let ids: Vec<&str> = match plan {
        Some(plan) => plan.steps.iter().map(|s| s.id.as_str()).collect(),
        None => steps.iter().map(|s| s.step.as_str()).collect(),
    };
    // Past MAX_ROWS steps, the rows that matter: every step not succeeded
    // nor pending, then the others in order, up to MAX_ROWS.
    let settled = |id: &&str| {
        by_id
            .get(id)
            .is_none_or(|s| matches!(s.status, StepStatus::Succeeded | StepStatus::Pending))
    };
    let shown: Vec<&str> = if all_rows || ids.len() <= MAX_ROWS {
        ids.to_vec()
    } else {
        let unsettled = ids.iter().filter(|id| !settled(id)).count();
        let mut room = MAX_ROWS.saturating_sub(unsettled);
        ids.iter()
            .filter(|id| {
                !settled(id)
                    || (room > 0 && {
                        room -= 1;
                        true
                    })
            })
            .copied()
            .collect()
    };
    let rows_left_out = ids.len() - shown.len();
    let rows: Vec<Value> = shown
        .iter()
        .map(|id| {
            let mut row = step_row(id, by_id.get(id).copied(), plan);
            row["items"] = json!(items.get(id).map(ItemCount::note));
            row
        })
        .collect();
    let state_of = |id: &str| by_id.get(id).map_or(StepStatus::Pending, |s| s.status);
    let graph = plan.and_then(|plan| {
        drawing::svg(plan, |id| NodeState {
            state: state_of(id).as_str(),
            note: items.get(id).map(ItemCount::note),
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
        rows_left_out,
            can => context! {
                cancel => !run.status.is_ended(),
                pause => run.status.is_active(),
                resume => matches!(run.status, RunStatus::Paused | RunStatus::Interrupted | RunStatus::Failed),
            },
        },
    ))
}

/// How many items of a map started and ended.
#[derive(Debug, Default)]
struct ItemCount {
    started: HashSet<u64>,
    ended: HashSet<u64>,
}

impl ItemCount {
    fn note(&self) -> String {
        format!("{} of {} items done", self.ended.len(), self.started.len())
    }
}

/// The item counts of the map steps among `events`.
fn item_counts(events: &[EventRecord]) -> HashMap<&str, ItemCount> {
    let mut counts: HashMap<&str, ItemCount> = HashMap::new();
    for event in events {
        let (Some(step), Some(item)) = (
            event.step.as_deref(),
            event.body.get("item").and_then(Value::as_u64),
        ) else {
            continue;
        };
        let will_retry = event.body.get("will_retry") == Some(&Value::Bool(true));
        match event.kind.as_str() {
            "step_started" => {
                counts.entry(step).or_default().started.insert(item);
            }
            "step_succeeded" | "step_failed" if !will_retry => {
                counts.entry(step).or_default().ended.insert(item);
            }
            _ => {}
        }
    }
    counts
}

/// What the journal says of one step beyond its record: its last input
/// and its last guest output.
#[derive(Debug, Default)]
struct StepDetail {
    input: Option<String>,
    logs: Vec<String>,
    stdout: String,
    stderr: String,
}

/// The details of the step whose events are `events`.
fn step_detail(events: &[EventRecord]) -> StepDetail {
    let mut detail = StepDetail::default();
    for event in events {
        let body = &event.body;
        match event.kind.as_str() {
            "step_started" => {
                if let Some(input) = body.get("input").filter(|v| !v.is_null()) {
                    detail.input = Some(clip(&input.to_string()));
                }
            }
            "step_output" => {
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
    detail
}

#[derive(Serialize)]
struct Grants {
    fs: Vec<String>,
    env: Vec<String>,
    run: Vec<String>,
    net: Vec<String>,
}

/// A step's row in the run's table: its record (pending when the journal
/// has none) and what it does.
fn step_row(id: &str, record: Option<&StepRecord>, plan: Option<&Plan>) -> Value {
    let planned = plan.and_then(|p| p.step(id));
    let what = planned.map(|step| match &step.kind {
        StepKind::Action { module, action } => format!("{}.{action}", module.name()),
        StepKind::Parallel { .. } => "parallel group".into(),
        StepKind::Workflow(child) => format!("workflow {}", child.written),
        StepKind::Wait(wait) => match &wait.signal {
            Some(signal) => format!("waits for signal {}", signal.name),
            None => "timer".into(),
        },
    });
    let mut row = match record {
        Some(record) => runs::step_json(record),
        None => json!({ "id": id, "status": "pending", "attempts": 0 }),
    };
    row["what"] = json!(what);
    row
}

/// A step's panel: its row with its input, output, error, guest output
/// and grants.
fn step_panel(row: &mut Value, detail: StepDetail, plan: Option<&Plan>, id: &str) {
    let grants = plan.and_then(|p| p.step(id)).map(|step| {
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
    row["grants"] = json!(grants);
    for field in ["output", "failure"] {
        if let Some(value) = row.get(field).filter(|v| !v.is_null()) {
            row[field] = json!(clip(&value.to_string()));
        }
    }
    let StepDetail {
        input,
        logs,
        stdout,
        stderr,
    } = detail;
    row["input"] = json!(input);
    row["logs"] = json!(logs);
    row["stdout"] = json!(stdout);
    row["stderr"] = json!(stderr);
}

/// `/runs/{id}/steps/{step}`: one step's panel — a page of its own, or (to
/// the run page's script) the panel alone.
pub async fn step(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path((id, step)): Path<(String, String)>,
) -> Result<Html<String>, PageError> {
    let viewer = session::viewer(&state, &headers, &format!("/runs/{id}/steps/{step}")).await?;
    let (run_id, step_id) = (id.clone(), step.clone());
    let (run, record, events, text, children) = state
        .read(move |store| {
            let run = store.run(&run_id)?;
            let record = store
                .steps(&run_id)?
                .into_iter()
                .find(|s| s.step == step_id);
            let events = store.events(&run_id, Some(&step_id), 0)?;
            let text = store.workflow_text(&run.workflow_digest).ok();
            // A `workflow:` step's child runs (`build`, or `build[2]` in a map).
            let children: Vec<Value> = store
                .children(&run_id)?
                .iter()
                .filter(|child| {
                    child.parent.as_ref().is_some_and(|p| {
                        p.step == step_id
                            || p.step
                                .strip_prefix(step_id.as_str())
                                .is_some_and(|rest| rest.starts_with('['))
                    })
                })
                .map(runs::run_json)
                .collect();
            Ok((run, record, events, text, children))
        })
        .await?;
    let plan = plan_of(&state, &run, text.as_deref()).await;
    let plan = plan.as_deref();
    let known = record.is_some() || plan.is_some_and(|p| p.step(&step).is_some());
    if !known {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            format!("run {id} has no step `{step}`"),
        ));
    }
    let mut row = step_row(&step, record.as_ref(), plan);
    step_panel(&mut row, step_detail(&events), plan, &step);
    let fragment_only = headers
        .get("x-requested-with")
        .is_some_and(|v| v.as_bytes() == b"fetch");
    let context = context! {
        viewer => Serde(viewer), step => Serde(row), run_id => id, fragment => fragment_only,
        children => Serde(children),
    };
    if fragment_only {
        fragment("step.html", context).map(|panel| Html(panel.to_string()))
    } else {
        render("step.html", &format!("Step {step}"), context)
    }
}

/// The steps waiting now that a person can answer here: a signal's form
/// generated from its type, or an approval's approve / reject.
fn waits_of(plan: &Plan, steps: &[StepRecord], signed_in: bool) -> Vec<Value> {
    steps
        .iter()
        .filter(|record| record.status == StepStatus::Waiting)
        .filter_map(|record| {
            let step = plan.step(&record.step)?;
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
    let listed = state.library.list();
    let deliveries = deliveries_table(&state, &listed).await?;
    let listed: Vec<Value> = listed.iter().map(workflows::workflow_json).collect();
    let schedules = schedules::all(&state).await?;
    let schedules_table = fragment("schedules.html", context! { schedules => Serde(schedules) })?;
    render(
        "workflows.html",
        "Workflows",
        context! { viewer => Serde(viewer), workflows => Serde(listed), schedules_table, deliveries },
    )
}

/// The most deliveries shown per webhook path.
const DELIVERIES_SHOWN: usize = 10;

/// The recent deliveries to the webhooks of `listed`, as a table.
async fn deliveries_table(
    state: &Arc<ApiState>,
    listed: &[crate::service::library::Listed],
) -> Result<minijinja::Value, PageError> {
    let paths: Vec<String> = listed
        .iter()
        .filter_map(|l| l.serving.as_ref())
        .flat_map(|w| w.plan.webhooks.iter().map(|h| h.path.clone()))
        .collect();
    let deliveries = state
        .read(move |store| {
            let mut rows = Vec::new();
            for path in &paths {
                for d in store.deliveries(path, DELIVERIES_SHOWN)? {
                    rows.push(json!({
                        "path": path,
                        "workflow": d.workflow,
                        "at": crate::units::rfc3339(d.at),
                        "status": d.status,
                        "outcome": d.outcome,
                        "reason": d.reason,
                        "run_id": d.run_id,
                    }));
                }
            }
            Ok(rows)
        })
        .await?;
    fragment(
        "deliveries.html",
        context! { deliveries => Serde(deliveries) },
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
    let deliveries = deliveries_table(&state, std::slice::from_ref(&listed)).await?;
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
            deliveries,
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
