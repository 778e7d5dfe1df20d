//! Webhook endpoints: a POST to a path a served workflow declares
//! (`webhook: /hooks/github`) is verified over its raw body, its `dedupe`
//! and `inputs` templates are evaluated over the request, and a run starts:
//! 202 with its id; 200 with the first run's id for a repeated delivery;
//! 401 for a bad signature (nothing starts); 413 over 1 MiB; 422 when the
//! inputs do not fit the workflow's. Any other path is 404. Every delivery
//! to a served path is recorded with its answer (the newest 100 per path:
//! the dashboard shows them, refusals with their reason).

use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::runs::started_response;
use super::{ApiState, read_body};
use crate::engine::Trigger;
use crate::service::library::Workflow;
use crate::service::runner::{RunnerError, StartRequest, Started};
use crate::service::webhook;
use crate::store::Delivery;
use crate::workflow::template;

pub async fn receive(
    State(state): State<Arc<ApiState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let path = uri.path();
    let answer = match state.library.webhook(path) {
        None => Err(ApiError::not_found(
            "no such endpoint; GET /v1/openapi.json lists the API, and webhooks are the paths workflows declare",
        )),
        Some((workflow, index)) => {
            let started = deliver(&state, method, path, &headers, body, &workflow, index).await;
            record(&state, path, &workflow.name, &started).await;
            started.and_then(|started| started_response(&started))
        }
    };
    if let Err(error) = &answer {
        state.runner.metrics().webhook_rejected(error.kind);
    }
    answer
}

/// Keep what a delivery to a served path came to (a failure to keep it is
/// logged: the delivery itself was answered).
async fn record(state: &ApiState, path: &str, workflow: &str, started: &Result<Started, ApiError>) {
    let (status, outcome, reason, run_id) = match started {
        Ok(Started::New(run)) => (StatusCode::ACCEPTED, "started", None, Some(run.clone())),
        Ok(Started::Existing(run)) => (StatusCode::OK, "duplicate", None, Some(run.clone())),
        Ok(Started::Queued(run, _)) => (StatusCode::ACCEPTED, "queued", None, Some(run.clone())),
        Ok(Started::Cancelled(run, _)) => {
            (StatusCode::CONFLICT, "cancelled", None, Some(run.clone()))
        }
        Err(error) => (error.status, error.kind, Some(error.message.clone()), None),
    };
    let (path, workflow) = (path.to_string(), workflow.to_string());
    let recorded = state
        .read(move |store| {
            store.record_delivery(&Delivery {
                path: &path,
                workflow: &workflow,
                status: status.as_u16(),
                outcome,
                reason: reason.as_deref(),
                run_id: run_id.as_deref(),
            })
        })
        .await;
    if let Err(error) = recorded {
        tracing::warn!("webhook delivery not recorded: {}", error.message);
    }
}

/// A request to webhook `index` of `workflow` (at `path`): the run it
/// started (or found, or queued), or why not.
async fn deliver(
    state: &Arc<ApiState>,
    method: Method,
    path: &str,
    headers: &HeaderMap,
    body: Body,
    workflow: &Arc<Workflow>,
    index: usize,
) -> Result<Started, ApiError> {
    if method != Method::POST {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            format!("{path} is a webhook: POST to it"),
        ));
    }
    let bytes = read_body(body).await?;
    let traceparent = super::runs::traceparent(headers);
    let hook = &workflow.plan.webhooks[index];
    let secrets: Vec<String> = hook
        .secret_env
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .filter(|secret| !secret.is_empty())
        .collect();
    if secrets.is_empty() {
        tracing::error!(
            "webhook {path}: none of its secret variables ({}) is set in the server's environment",
            hook.secret_env.join(", ")
        );
        return Err(ApiError::internal(format!(
            "webhook {path} is not configured on this server (its secret is not set)"
        )));
    }
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Err(refusal) = webhook::verify(hook.scheme, &secrets, header, &bytes, SystemTime::now())
    {
        tracing::warn!("webhook {path}: refused: {refusal}");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            refusal.to_string(),
        ));
    }
    let body: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    let headers: Map<String, Value> = headers
        .iter()
        .map(|(name, value)| {
            let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), Value::String(text))
        })
        .collect();
    let scope = template::jinja(&json!({ "body": body, "headers": headers }));
    let dedupe = match &hook.dedupe {
        None => None,
        Some(dedupe) => match dedupe.eval(&scope) {
            Ok(Value::String(key)) => Some(key),
            Ok(Value::Null) => None,
            Ok(other) => Some(other.to_string()),
            Err(problem) => {
                return Err(ApiError::invalid_input(format!(
                    "webhook {path}: `dedupe`: {problem}"
                )));
            }
        },
    };
    let inputs = match hook.inputs.eval(&scope) {
        Ok(Value::Object(inputs)) => inputs,
        Ok(other) => {
            return Err(ApiError::internal(format!(
                "webhook {path}: its inputs evaluated to {other}, not an object"
            )));
        }
        Err(problem) => {
            return Err(ApiError::invalid_input(format!(
                "webhook {path}: `inputs`: {problem}"
            )));
        }
    };
    let started_by = format!("webhook:{path}");
    let key = dedupe.map(|key| format!("webhook:{path}:{key}"));
    state
        .runner
        .start(StartRequest {
            workflow: Arc::clone(workflow),
            inputs,
            started_by: &started_by,
            trigger: Trigger::webhook(path),
            idempotency_key: key.as_deref(),
            traceparent,
        })
        .await
        .map_err(|error| match error {
            RunnerError::Inputs(_) => ApiError::invalid_input(format!("webhook {path}: {error}")),
            other => other.into(),
        })
}
