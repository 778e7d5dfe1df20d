//! Who is asking: `Authorization: Bearer wfh_…`, looked up by its sha256
//! digest. Every write needs a token; reads too, unless the server was
//! started with `--open-reads`. A read may also present the dashboard's
//! sign-in cookie (the page's event stream cannot send a header); writes
//! never take the cookie here (the dashboard's forms check it with their
//! CSRF token).

use axum::http::{HeaderMap, StatusCode, header};

use super::ApiState;
use super::error::ApiError;
use crate::service::tokens;

/// The name of the token a request presented.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

impl Actor {
    /// How runs it starts record it.
    pub fn started_by(&self) -> String {
        format!("api:{}", self.0)
    }
}

/// A write: a valid token is required.
pub async fn writer(state: &ApiState, headers: &HeaderMap) -> Result<Actor, ApiError> {
    match presented(headers)? {
        Some(secret) => lookup(state, secret).await,
        None => Err(unauthorized(
            "this request needs a token: `Authorization: Bearer TOKEN` (create one with `wfhost token create NAME`)",
        )),
    }
}

/// The cookie the dashboard keeps a signed-in token's secret in.
pub const SESSION_COOKIE: &str = "wfhost_session";

/// The secret in the dashboard's sign-in cookie, if the request has one.
pub fn session_secret(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, secret)| secret.trim().to_string())
        .filter(|secret| !secret.is_empty())
}

/// A read: a valid token (or the dashboard's cookie), or none when reads
/// are open.
pub async fn reader(state: &ApiState, headers: &HeaderMap) -> Result<Option<Actor>, ApiError> {
    match presented(headers)?.or_else(|| session_secret(headers)) {
        Some(secret) => lookup(state, secret).await.map(Some),
        None if state.open_reads => Ok(None),
        None => Err(unauthorized(
            "reading needs a token: `Authorization: Bearer TOKEN` (or start the server with --open-reads)",
        )),
    }
}

fn presented(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let secret = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|secret| !secret.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer TOKEN`"))?;
    Ok(Some(secret.to_string()))
}

/// The token whose secret is `secret`.
pub async fn lookup(state: &ApiState, secret: String) -> Result<Actor, ApiError> {
    let digest = tokens::digest(&secret);
    let name = state
        .read(move |store| store.token_named_by(&digest))
        .await?;
    name.map(Actor)
        .ok_or_else(|| unauthorized("unknown or revoked token"))
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}
