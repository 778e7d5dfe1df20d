//! `/v1/workflows`: what the server offers, with problems of invalid files.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::error::ApiError;
use super::{ApiState, auth};
use crate::service::library::Listed;
use crate::workflow::model::{InputSpec, WebhookScheme};

/// `GET /v1/workflows`.
pub async fn list(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    auth::reader(&state, &headers).await?;
    let workflows: Vec<Value> = state.library.list().iter().map(workflow_json).collect();
    Ok(Json(json!({ "workflows": workflows })))
}

/// `GET /v1/workflows/{name}`.
pub async fn show(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth::reader(&state, &headers).await?;
    state
        .library
        .list()
        .iter()
        .find(|listed| listed.name == name)
        .map(|listed| Json(workflow_json(listed)))
        .ok_or_else(|| ApiError::not_found(format!("no workflow `{name}` is served")))
}

pub(crate) fn workflow_json(listed: &Listed) -> Value {
    let serving = listed.serving.as_ref();
    json!({
        "name": listed.name,
        "path": listed.path.display().to_string(),
        "serving": serving.is_some(),
        "digest": serving.map(|w| &w.digest),
        "title": serving.map(|w| &w.plan.name),
        "inputs": serving.map(|w| {
            w.plan
                .inputs
                .iter()
                .map(|(name, spec)| (name.clone(), input_json(spec)))
                .collect::<serde_json::Map<_, _>>()
        }),
        "steps": serving.map(|w| w.plan.steps.len()),
        "webhooks": serving.map(|w| {
            w.plan
                .webhooks
                .iter()
                .map(|hook| json!({ "path": hook.path, "scheme": scheme_name(hook.scheme) }))
                .collect::<Vec<_>>()
        }),
        "triggers": serving.map(|w| {
            w.plan
                .triggers
                .iter()
                .map(|trigger| {
                    let next = trigger
                        .schedule
                        .next_after(chrono::Utc::now())
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                    json!({
                        "cron": trigger.schedule.expression(),
                        "timezone": trigger.schedule.zone().name(),
                        "next": next,
                    })
                })
                .collect::<Vec<_>>()
        }),
        "problems": listed.problems,
        "shadowed": listed.shadowed,
    })
}

/// A declared input as `wfhost run --input` takes it.
fn input_json(spec: &InputSpec) -> Value {
    json!({
        "type": spec.ty.name(),
        "required": spec.is_required(),
        "default": spec.default,
        "description": spec.description,
    })
}

fn scheme_name(scheme: WebhookScheme) -> &'static str {
    match scheme {
        WebhookScheme::GithubHmacSha256 => "github-hmac-sha256",
        WebhookScheme::StandardWebhooks => "standard-webhooks",
        WebhookScheme::Bearer => "bearer",
    }
}
