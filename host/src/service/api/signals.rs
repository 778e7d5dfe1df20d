//! `POST /v1/runs/{id}/signals/{name}`: the body (JSON; empty is `null`)
//! is the payload, checked against the type the run's workflow declares.
//! `POST /v1/runs/{id}/approvals/{step}`: `{"approved": bool, "comment"}`
//! answers a wait for approvals as the token's name.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::runs::idempotency_key;
use super::{ApiState, auth, json_body, read_body};
use crate::service::signal::{self, Answer, SignalError};
use crate::store::{NewSignal, RunStore, SignalSent};

pub async fn send(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path((id, name)): Path<(String, String)>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actor = auth::writer(&state, &headers).await?;
    let key = idempotency_key(&headers)?;
    let bytes = read_body(body).await?;
    let payload: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).map_err(|error| {
            ApiError::bad_request(format!(
                "the body (the signal's payload) is not JSON: {error}"
            ))
        })?
    };
    let sent_by = format!("api:{}", actor.0);
    let (run, signal_name) = (id.clone(), name.clone());
    let sent = recorded(&state, move |store| {
        signal::send(
            store,
            &NewSignal {
                run_id: &run,
                name: &signal_name,
                payload: &payload,
                sent_by: &sent_by,
                idempotency_key: key.as_deref(),
            },
        )
    })
    .await?;
    state
        .audit(
            &actor.0,
            "signal",
            Some(&id),
            Some(format!("{name} #{}", sent.seq)),
        )
        .await;
    Ok(accepted(&id, &name, sent))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    approved: bool,
    #[serde(default)]
    comment: Option<String>,
}

pub async fn answer(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path((id, step)): Path<(String, String)>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actor = auth::writer(&state, &headers).await?;
    let key = idempotency_key(&headers)?;
    let body: AnswerBody = json_body(body).await?;
    let sent_by = format!("api:{}", actor.0);
    let (run, answered) = (id.clone(), step.clone());
    let approved = body.approved;
    let sent = recorded(&state, move |store| {
        signal::answer(
            store,
            &Answer {
                run_id: &run,
                step: &answered,
                approved: body.approved,
                comment: body.comment.as_deref(),
                sent_by: &sent_by,
                idempotency_key: key.as_deref(),
            },
        )
    })
    .await?;
    let action = if approved { "approve" } else { "reject" };
    state
        .audit(
            &actor.0,
            action,
            Some(&id),
            Some(format!("{step} #{}", sent.seq)),
        )
        .await;
    Ok(accepted(&id, &step, sent))
}

/// Run `work` on the store, its refusals as API errors.
pub(crate) async fn recorded(
    state: &ApiState,
    work: impl FnOnce(&mut dyn RunStore) -> Result<SignalSent, SignalError> + Send + 'static,
) -> Result<SignalSent, ApiError> {
    state
        .store
        .with(move |store| Ok(work(store)))
        .await?
        .map_err(|error| match error {
            SignalError::Store(error) => ApiError::from(error),
            SignalError::TooLarge(_) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                error.to_string(),
            ),
            SignalError::InvalidName(_) => ApiError::bad_request(error.to_string()),
            SignalError::UnknownSignal { .. }
            | SignalError::NotAnApproval { .. }
            | SignalError::IllTyped { .. } => ApiError::invalid_input(error.to_string()),
            SignalError::NotAnApprover { .. } | SignalError::Starter { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", error.to_string())
            }
            SignalError::AlreadyAnswered { .. } | SignalError::Definition { .. } => {
                ApiError::conflict(error.to_string())
            }
        })
}

fn accepted(id: &str, signal: &str, sent: SignalSent) -> (StatusCode, Json<Value>) {
    (
        StatusCode::ACCEPTED,
        Json(
            json!({ "run_id": id, "signal": signal, "seq": sent.seq, "duplicate": sent.duplicate }),
        ),
    )
}
