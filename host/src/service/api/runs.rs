//! `/v1/runs`: start, list, show, cancel, pause, resume (signals: `signals.rs`).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::{ApiState, auth, json_body};
use crate::engine::{RunStatus, Stop, Trigger};
use crate::service::resume::ResumeRequest;
use crate::service::runner::{StartRequest, Started};
use crate::store::{RunFilter, RunRecord, StepRecord};
use crate::units::rfc3339;

/// The most runs one list returns.
const MAX_LIST: usize = 1000;
/// The longest idempotency key taken.
const MAX_KEY_BYTES: usize = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    workflow: String,
    #[serde(default)]
    inputs: Map<String, Value>,
}

/// `POST /v1/runs`: 202 with the new run's id; 200 with the first run's id
/// when the `Idempotency-Key` was used before.
pub async fn start(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actor = auth::writer(&state, &headers).await?;
    let body: StartBody = json_body(body).await?;
    let key = idempotency_key(&headers)?;
    let workflow = state.library.get(&body.workflow).ok_or_else(|| {
        ApiError::not_found(format!(
            "no workflow `{}` is served; GET /v1/workflows lists them",
            body.workflow
        ))
    })?;
    let started_by = actor.started_by();
    let started = state
        .runner
        .start(StartRequest {
            workflow,
            inputs: body.inputs,
            started_by: &started_by,
            trigger: Trigger::api(&actor.0),
            idempotency_key: key.as_deref(),
            traceparent: traceparent(&headers),
        })
        .await?;
    if !matches!(started, Started::Existing(_)) {
        let run_id = started.run_id();
        state
            .audit(&actor.0, "start", Some(run_id), Some(body.workflow))
            .await;
    }
    started_response(&started)
}

/// The caller's trace, from a well-formed `traceparent` header (anything
/// else is ignored, as W3C Trace Context asks).
pub fn traceparent(headers: &HeaderMap) -> Option<crate::trace::TraceParent> {
    headers
        .get("traceparent")
        .and_then(|value| value.to_str().ok())
        .and_then(crate::trace::parse_traceparent)
}

/// How a start is answered: 202 (started or queued), 200 (the run an
/// earlier request with the same key started), 409 (cancelled at once:
/// every concurrency slot was taken).
pub fn started_response(started: &Started) -> Result<(StatusCode, Json<Value>), ApiError> {
    let run_id = started.run_id();
    let url = format!("/v1/runs/{run_id}");
    Ok(match started {
        Started::New(_) => (
            StatusCode::ACCEPTED,
            Json(json!({ "run_id": run_id, "url": url })),
        ),
        Started::Existing(_) => (
            StatusCode::OK,
            Json(json!({ "run_id": run_id, "url": url, "duplicate": true })),
        ),
        Started::Queued(_, held_by) => (
            StatusCode::ACCEPTED,
            Json(json!({ "run_id": run_id, "url": url, "queued": true, "held_by": held_by })),
        ),
        Started::Cancelled(_, held_by) => {
            return Err(ApiError::conflict(format!(
                "run {run_id} was cancelled: every concurrency slot is taken (by {}) and the workflow says on_limit: cancel-newest",
                held_by.join(", ")
            )));
        }
    })
}

pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::bad_request("the Idempotency-Key header must be text"))?;
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(ApiError::bad_request(format!(
            "the Idempotency-Key header must have 1 to {MAX_KEY_BYTES} bytes"
        )));
    }
    Ok(Some(key.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    workflow: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/runs?status=&workflow=&limit=`: newest first.
pub async fn list(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    auth::reader(&state, &headers).await?;
    let Query(query) = query.map_err(|rejection| super::bad_query(&rejection))?;
    let status = query
        .status
        .as_deref()
        .map(|text| {
            RunStatus::parse(text).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown status `{text}`; one of: running, paused, interrupted, succeeded, failed, cancelled"
                ))
            })
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(100);
    if limit > MAX_LIST {
        return Err(ApiError::bad_request(format!(
            "`limit` is at most {MAX_LIST}"
        )));
    }
    let runs = state
        .read(move |store| {
            store.recent_runs(&RunFilter {
                status,
                workflow: query.workflow.as_deref(),
                trigger: None,
                limit,
            })
        })
        .await?;
    let runs: Vec<Value> = runs.iter().map(run_json).collect();
    Ok(Json(json!({ "runs": runs })))
}

/// `GET /v1/runs/{id}`: the run and each of its steps.
pub async fn show(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth::reader(&state, &headers).await?;
    let (run, steps, children) = state
        .read(move |store| Ok((store.run(&id)?, store.steps(&id)?, store.children(&id)?)))
        .await?;
    let mut body = run_json(&run);
    body["inputs"] = run.inputs;
    body["steps"] = steps.iter().map(step_json).collect();
    body["children"] = children.iter().map(run_json).collect();
    Ok(Json(body))
}

pub(crate) fn run_json(run: &RunRecord) -> Value {
    json!({
        "id": run.id,
        "workflow": run.name,
        "status": run.status.as_str(),
        "started_by": run.started_by,
        "created_at": rfc3339(run.created_at),
        "updated_at": rfc3339(run.updated_at),
        "driven": run.is_driven(),
        "error": run.error,
        "parent": run.parent.as_ref().map(|p| json!({ "run": p.run, "step": p.step })),
        "trace_id": run.trace_id,
        "outputs": run.outputs,
    })
}

pub(crate) fn step_json(step: &StepRecord) -> Value {
    json!({
        "id": step.step,
        "status": step.status.as_str(),
        "attempts": step.attempts,
        "duration_ms": step.duration_ms,
        "fuel": step.fuel,
        "memory_peak_bytes": step.memory_peak_bytes,
        "kind": step.kind,
        "output": step.output,
        "failure": step.failure,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Skip the `finally` steps too.
    #[serde(default)]
    now: bool,
}

/// `POST /v1/runs/{id}/cancel` (`{"now": true}` skips `finally`).
pub async fn cancel(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body: CancelBody = json_body(body).await?;
    let stop = if body.now {
        Stop::CancelNow
    } else {
        Stop::Cancel
    };
    request(&state, &headers, id, stop).await
}

/// `POST /v1/runs/{id}/pause`.
pub async fn pause(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    request(&state, &headers, id, Stop::Pause).await
}

async fn request(
    state: &ApiState,
    headers: &HeaderMap,
    id: String,
    stop: Stop,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actor = auth::writer(state, headers).await?;
    let asked = stop_as(state, &actor.0, &id, stop).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "run_id": id, "requested": stop.as_str(), "owner_asked": asked })),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeBody {
    /// Re-run from this step.
    from: Option<String>,
    /// Resume although the workflow file or a module changed.
    #[serde(default)]
    allow_changed: bool,
}

/// `POST /v1/runs/{id}/resume` (`{"from": STEP}` re-runs from a step).
pub async fn resume(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actor = auth::writer(&state, &headers).await?;
    let body: ResumeBody = json_body(body).await?;
    resume_as(
        &state,
        &actor.0,
        &id,
        body.from.as_deref(),
        body.allow_changed,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "run_id": id }))))
}

/// Ask run `id`'s owner to stop it as `actor` asked, recorded in the audit
/// log: whether an owner was asked (or the change was made here).
pub(crate) async fn stop_as(
    state: &ApiState,
    actor: &str,
    id: &str,
    stop: Stop,
) -> Result<bool, ApiError> {
    let asked = state.runner.stop(id, stop).await?;
    state.audit(actor, stop.as_str(), Some(id), None).await;
    Ok(asked)
}

/// Resume run `id` (from step `from`) as `actor` asked, recorded in the
/// audit log.
pub(crate) async fn resume_as(
    state: &ApiState,
    actor: &str,
    id: &str,
    from: Option<&str>,
    allow_changed: bool,
) -> Result<(), ApiError> {
    state
        .runner
        .resume(
            &state.library,
            ResumeRequest {
                run: id,
                from,
                allow_changed,
            },
        )
        .await?;
    state
        .audit(actor, "resume", Some(id), from.map(str::to_string))
        .await;
    Ok(())
}
