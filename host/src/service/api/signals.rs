//! `POST /v1/runs/{id}/signals/{name}`: the body (JSON; empty is `null`)
//! is the payload, checked against the type the run's workflow declares.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::error::ApiError;
use super::runs::idempotency_key;
use super::{ApiState, auth, read_body};
use crate::service::signal::{self, SignalError};
use crate::store::NewSignal;

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
    let sent = state
        .store
        .with(move |store| {
            Ok(signal::send(
                store,
                &NewSignal {
                    run_id: &run,
                    name: &signal_name,
                    payload: &payload,
                    sent_by: &sent_by,
                    idempotency_key: key.as_deref(),
                },
            ))
        })
        .await?
        .map_err(|error| match error {
            SignalError::Store(error) => ApiError::from(error),
            SignalError::TooLarge(_) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                error.to_string(),
            ),
            SignalError::InvalidName(_) => ApiError::bad_request(error.to_string()),
            SignalError::UnknownSignal { .. } | SignalError::IllTyped { .. } => {
                ApiError::invalid_input(error.to_string())
            }
            SignalError::Definition { .. } => ApiError::conflict(error.to_string()),
        })?;
    state
        .audit(
            &actor.0,
            "signal",
            Some(&id),
            Some(format!("{name} #{}", sent.seq)),
        )
        .await;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "run_id": id, "signal": name, "seq": sent.seq, "duplicate": sent.duplicate })),
    ))
}
