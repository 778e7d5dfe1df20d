//! `/v1/schedules`: every cron trigger of the served workflows, named
//! `WORKFLOW/N` (N: its position in `triggers:`, from 1), with its next
//! fire time, whether it is paused, and what its recent ticks did; pause,
//! resume, or start a run now.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::error::ApiError;
use super::{ApiState, auth};
use crate::service::library::Workflow;
use crate::service::scheduler::{self, schedule_key};
use crate::units::rfc3339;
use crate::workflow::plan::PlannedTrigger;

/// `GET /v1/schedules`.
pub async fn list(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    auth::reader(&state, &headers).await?;
    Ok(Json(json!({ "schedules": all(&state).await? })))
}

/// Every cron trigger of the served workflows, described.
pub(crate) async fn all(state: &ApiState) -> Result<Vec<Value>, ApiError> {
    let mut schedules = Vec::new();
    for listed in state.library.list() {
        let Some(workflow) = listed.serving else {
            continue;
        };
        for trigger in &workflow.plan.triggers {
            schedules.push(describe(state, &workflow, trigger).await?);
        }
    }
    Ok(schedules)
}

async fn describe(
    state: &ApiState,
    workflow: &Workflow,
    trigger: &PlannedTrigger,
) -> Result<Value, ApiError> {
    let key = schedule_key(&workflow.name, trigger);
    let (ticks, paused) = state
        .read(move |store| {
            let paused = store.paused_schedules()?.contains(&key);
            Ok((store.ticks(&key, 10)?, paused))
        })
        .await?;
    let next = trigger
        .schedule
        .next_after(chrono::Utc::now())
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    Ok(json!({
        "id": format!("{}/{}", workflow.name, trigger.index + 1),
        "workflow": workflow.name,
        "cron": trigger.schedule.expression(),
        "timezone": trigger.schedule.zone().name(),
        "paused": paused,
        "next": next,
        "recent": ticks
            .iter()
            .map(|tick| json!({
                "at": rfc3339(tick.at),
                "outcome": tick.outcome.as_str(),
                "run_id": tick.run_id,
            }))
            .collect::<Vec<_>>(),
    }))
}

/// The serving workflow `name` and its cron trigger `number`.
fn schedule(
    state: &ApiState,
    name: &str,
    number: &str,
) -> Result<(Arc<Workflow>, usize), ApiError> {
    let number: usize = number.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "`{number}` is not a trigger number: schedules are WORKFLOW/N, N from 1"
        ))
    })?;
    let workflow = state
        .library
        .get(name)
        .ok_or_else(|| ApiError::not_found(format!("no workflow `{name}` is served")))?;
    let position = scheduler::find(&workflow, number)
        .map(|trigger| trigger.index)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "workflow `{name}` has no cron trigger {number}; GET /v1/schedules lists them"
            ))
        })?;
    let index = workflow
        .plan
        .triggers
        .iter()
        .position(|t| t.index == position)
        .expect("found above");
    Ok((workflow, index))
}

/// `POST /v1/schedules/{workflow}/{n}/pause`: its ticks are recorded
/// `paused` and start nothing until it is resumed.
pub async fn pause(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path((name, number)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    set_paused(&state, &headers, &name, number, true).await
}

/// `POST /v1/schedules/{workflow}/{n}/resume`.
pub async fn resume(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path((name, number)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    set_paused(&state, &headers, &name, number, false).await
}

async fn set_paused(
    state: &ApiState,
    headers: &HeaderMap,
    name: &str,
    number: String,
    paused: bool,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actor = auth::writer(state, headers).await?;
    let (workflow, index) = schedule(state, name, &number)?;
    let key = schedule_key(&workflow.name, &workflow.plan.triggers[index]);
    let by = actor.0.clone();
    state
        .read(move |store| store.set_schedule_paused(&key, paused, &by))
        .await?;
    let action = if paused {
        "pause-schedule"
    } else {
        "resume-schedule"
    };
    state
        .audit(&actor.0, action, None, Some(format!("{name}/{number}")))
        .await;
    Ok((
        StatusCode::OK,
        Json(json!({ "id": format!("{name}/{number}"), "paused": paused })),
    ))
}

/// `POST /v1/schedules/{workflow}/{n}/trigger`: a run now, with the
/// schedule's inputs (`trigger.scheduled_time` is now).
pub async fn trigger(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path((name, number)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actor = auth::writer(&state, &headers).await?;
    let (workflow, index) = schedule(&state, &name, &number)?;
    let started = scheduler::run_now(
        &state.runner,
        &workflow,
        &workflow.plan.triggers[index],
        &actor.0,
        chrono::Utc::now(),
    )
    .await?;
    let run = started.run_id().to_string();
    state
        .audit(
            &actor.0,
            "trigger-schedule",
            Some(&run),
            Some(format!("{name}/{number}")),
        )
        .await;
    Ok((StatusCode::ACCEPTED, Json(json!({ "run_id": run }))))
}
