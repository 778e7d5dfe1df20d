//! API errors: a status and a JSON body `{"kind": …, "message": …}` whose
//! `kind` is stable (clients match on it; the message is for people).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::service::resume::PrepareError;
use crate::service::runner::RunnerError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", message)
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-input", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "kind": self.kind, "message": self.message });
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::UnknownRun(_) => Self::not_found(error.to_string()),
            StoreError::Refused(_) | StoreError::LeaseLost { .. } => {
                Self::conflict(error.to_string())
            }
            StoreError::DuplicateKey { .. } => Self::conflict(error.to_string()),
            StoreError::Sqlite { .. } | StoreError::Postgres { .. } => {
                tracing::error!("{error}");
                Self::internal(error.to_string())
            }
        }
    }
}

impl From<RunnerError> for ApiError {
    fn from(error: RunnerError) -> Self {
        match error {
            RunnerError::Inputs(_) => Self::invalid_input(error.to_string()),
            RunnerError::Grants { .. } => Self::conflict(error.to_string()),
            RunnerError::ShuttingDown => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting-down",
                error.to_string(),
            ),
            RunnerError::Store(error) => error.into(),
            RunnerError::Resume(PrepareError::Store(error)) => error.into(),
            RunnerError::Resume(error) => Self::conflict(error.to_string()),
            RunnerError::Task(_) => Self::internal(error.to_string()),
        }
    }
}
