//! The HTTP API under `/v1` (axum), described by `openapi.json` which the
//! server serves at `/v1/openapi.json`. JSON in and out; errors carry a
//! stable `kind` ([`error`]); tokens as in [`auth`].

pub(super) mod auth;
mod error;
mod events;
pub(super) mod modules;
pub(super) mod runs;
pub(super) mod schedules;
pub(super) mod signals;
mod webhooks;
pub(super) mod workflows;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::{get, post};

pub use error::ApiError;

use super::library::Library;
use super::runner::Runner;
use super::shared_store::SharedStore;
use crate::store::{AuditEntry, RunStore, StoreError};

/// The largest request body taken (bigger ones get 413).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How much of an oversized body is read and dropped before answering 413.
const MAX_DRAIN_BYTES: usize = 16 * 1024 * 1024;
/// How long a body may take to arrive.
const MAX_DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What every handler shares.
#[derive(Debug)]
pub struct ApiState {
    pub library: Arc<Library>,
    pub runner: Arc<Runner>,
    /// A connection for reads (and the audit log), used off the executor.
    pub store: SharedStore,
    /// GETs without a token.
    pub open_reads: bool,
}

impl ApiState {
    /// Run `work` on the reading connection, off the async executor.
    pub async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut dyn RunStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.store.with(work).await.map_err(ApiError::from)
    }

    /// Record a write made through the API; a failure to do so is logged,
    /// not returned (the write happened).
    pub async fn audit(
        &self,
        actor: &str,
        action: &'static str,
        run: Option<&str>,
        detail: Option<String>,
    ) {
        let (actor, run) = (actor.to_string(), run.map(str::to_string));
        let recorded = self
            .read(move |store| {
                store.audit(&AuditEntry {
                    actor: &actor,
                    action,
                    run_id: run.as_deref(),
                    detail: detail.as_deref(),
                })
            })
            .await;
        if let Err(error) = recorded {
            tracing::error!("cannot write the audit log: {}", error.message);
        }
    }
}

/// The API's routes.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/workflows", get(workflows::list))
        .route("/v1/workflows/{name}", get(workflows::show))
        .route("/v1/modules", get(modules::list))
        .route("/v1/schedules", get(schedules::list))
        .route(
            "/v1/schedules/{workflow}/{number}/pause",
            post(schedules::pause),
        )
        .route(
            "/v1/schedules/{workflow}/{number}/resume",
            post(schedules::resume),
        )
        .route(
            "/v1/schedules/{workflow}/{number}/trigger",
            post(schedules::trigger),
        )
        .route("/v1/runs", get(runs::list).post(runs::start))
        .route("/v1/runs/{id}", get(runs::show))
        .route("/v1/runs/{id}/events", get(events::stream))
        .route("/v1/runs/{id}/cancel", post(runs::cancel))
        .route("/v1/runs/{id}/pause", post(runs::pause))
        .route("/v1/runs/{id}/resume", post(runs::resume))
        .route("/v1/runs/{id}/signals/{name}", post(signals::send))
        .route("/v1/runs/{id}/approvals/{step}", post(signals::answer))
        .route("/metrics", get(metrics))
        .fallback(webhooks::receive)
        .with_state(state)
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// `GET /metrics`: Prometheus' text format (OpenMetrics), read as any
/// API read is (a token unless `--open-reads`).
async fn metrics(
    axum::extract::State(state): axum::extract::State<Arc<ApiState>>,
    headers: axum::http::HeaderMap,
) -> Result<([(axum::http::HeaderName, &'static str); 1], String), ApiError> {
    auth::reader(&state, &headers).await?;
    let metrics = Arc::clone(state.runner.metrics());
    let text = state.read(move |store| metrics.render(store)).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    ))
}

async fn openapi() -> ([(axum::http::HeaderName, &'static str); 1], &'static str) {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}

/// A request body, at most [`MAX_BODY_BYTES`] (413 beyond). An oversized
/// body is read on and dropped, up to [`MAX_DRAIN_BYTES`] and
/// [`MAX_DRAIN_TIME`], before the 413 is sent: a client still writing when
/// the connection closed would see a broken pipe instead of the answer.
pub(super) async fn read_body(body: Body) -> Result<axum::body::Bytes, ApiError> {
    use futures_util::StreamExt as _;
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut seen = 0_usize;
    let drained = tokio::time::timeout(MAX_DRAIN_TIME, async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| {
                ApiError::bad_request(format!("cannot read the request body: {error}"))
            })?;
            seen += chunk.len();
            if seen <= MAX_BODY_BYTES {
                kept.extend_from_slice(&chunk);
            } else if seen > MAX_DRAIN_BYTES {
                break;
            }
        }
        Ok::<_, ApiError>(())
    })
    .await;
    if let Ok(Err(error)) = drained {
        return Err(error);
    }
    if drained.is_err() && seen <= MAX_BODY_BYTES {
        return Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "too-slow",
            format!("the request body did not arrive within {MAX_DRAIN_TIME:?}"),
        ));
    }
    if seen > MAX_BODY_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
        ));
    }
    Ok(kept.into())
}

/// A query string that does not fit its endpoint: a JSON 400.
fn bad_query(rejection: &axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::bad_request(format!(
        "the query string is not what this endpoint takes: {rejection}"
    ))
}

/// A request body as JSON (`{}` when empty), at most [`MAX_BODY_BYTES`].
async fn json_body<T: serde::de::DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    let bytes = read_body(body).await?;
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    serde_json::from_slice(bytes).map_err(|error| {
        ApiError::bad_request(format!("the body is not the JSON expected: {error}"))
    })
}
