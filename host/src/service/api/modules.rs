//! `GET /v1/modules`: the modules a workflow can name (installed and
//! bundled), each with its actions (WIT signatures and docs) and what it
//! asks for.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::error::ApiError;
use super::{ApiState, auth};
use crate::catalog::{self, Available};
use crate::lock::ModuleOrigin;

pub async fn list(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    auth::reader(&state, &headers).await?;
    Ok(Json(json!({ "modules": all(&state).await? })))
}

/// Every module a workflow can name, described.
pub(crate) async fn all(state: &ApiState) -> Result<Vec<Value>, ApiError> {
    let library = Arc::clone(&state.library);
    let modules = tokio::task::spawn_blocking(move || {
        let available = catalog::available(library.registry())?;
        let catalog = library.modules();
        Ok::<_, String>(
            available
                .iter()
                .map(|module| describe(catalog, module))
                .collect::<Vec<Value>>(),
        )
    })
    .await
    .map_err(|error| ApiError::internal(format!("the modules task failed: {error}")))?
    .map_err(ApiError::internal)?;
    Ok(modules)
}

fn describe(catalog: &catalog::Catalog, module: &Available) -> Value {
    let reference = match module.origin {
        ModuleOrigin::Installed => format!("{}@{}", module.name, module.version),
        _ => module.name.clone(),
    };
    let loaded = catalog.load(&reference, std::path::Path::new("."));
    let (actions, capabilities, problem) = match &loaded {
        Ok(entry) => (
            entry
                .module
                .actions()
                .map(|a| json!({ "name": a.name, "signature": a.signature, "docs": a.docs }))
                .collect(),
            entry.manifest.as_ref().map(|m| json!(m.capabilities)),
            None,
        ),
        Err(problem) => (Vec::new(), None, Some(problem.clone())),
    };
    json!({
        "name": module.name,
        "version": module.version,
        "origin": module.origin,
        "sha256": module.sha256,
        "description": module.description,
        "actions": actions,
        "asks": capabilities,
        "problem": problem,
    })
}
