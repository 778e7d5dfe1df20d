//! Who is looking, and whether they may act. Signing in takes an API token
//! (`wfhost token create NAME`) and keeps its secret in an `HttpOnly`,
//! `SameSite=Strict` cookie; every form that changes something carries a
//! CSRF token derived from that secret (sha256 of a fixed prefix and the
//! secret: another site can neither read the cookie nor compute it), and a
//! request whose `Origin` names another host is refused. Reads need the
//! cookie unless the server runs with `--open-reads`.

use axum::http::{HeaderMap, StatusCode, header};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::PageError;
use crate::service::api::ApiState;
use crate::service::api::auth::{self, Actor};

/// The person a page is for.
#[derive(Debug, Clone, Serialize)]
pub struct Viewer {
    /// The signed-in token's name; `None` when reading without one.
    pub name: Option<String>,
    /// The CSRF token the page's forms carry (signed in only).
    pub csrf: Option<String>,
}

/// The CSRF token of the session whose secret is `secret`.
pub fn csrf_of(secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"wfhost dashboard csrf\0");
    hasher.update(secret.as_bytes());
    hex::encode(hasher.finalize())
}

/// Who reads the page at `path`: the signed-in token, or nobody when
/// reads are open; otherwise a redirect to sign in.
pub async fn viewer(
    state: &ApiState,
    headers: &HeaderMap,
    path: &str,
) -> Result<Viewer, PageError> {
    if let Some(secret) = auth::session_secret(headers)
        && let Ok(Actor(name)) = auth::lookup(state, secret.clone()).await
    {
        return Ok(Viewer {
            name: Some(name),
            csrf: Some(csrf_of(&secret)),
        });
    }
    if state.open_reads {
        return Ok(Viewer {
            name: None,
            csrf: None,
        });
    }
    Err(PageError::SignIn {
        next: path.to_string(),
    })
}

/// Who acts through a form: a signed-in token whose CSRF token the form
/// carries, from a page of this server.
pub async fn actor(state: &ApiState, headers: &HeaderMap, csrf: &str) -> Result<Actor, PageError> {
    let forbidden = |message: &str| PageError::new(StatusCode::FORBIDDEN, message);
    if let (Some(origin), Some(host)) = (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) && origin.split_once("://").map(|(_, rest)| rest) != Some(host)
    {
        return Err(forbidden(
            "this form was sent from another site; act from the dashboard's own pages",
        ));
    }
    let Some(secret) = auth::session_secret(headers) else {
        return Err(PageError::new(
            StatusCode::UNAUTHORIZED,
            "sign in to act: /ui/login asks for an API token (`wfhost token create NAME`)",
        ));
    };
    let actor = auth::lookup(state, secret.clone()).await?;
    if !bool::from(csrf_of(&secret).as_bytes().ct_eq(csrf.as_bytes())) {
        return Err(forbidden(
            "the form's CSRF token does not match your session; reload the page and try again",
        ));
    }
    Ok(actor)
}

/// The `Set-Cookie` value that signs `secret` in (for this browser
/// session) or, with `None`, signs out.
pub fn cookie(secret: Option<&str>) -> String {
    match secret {
        Some(secret) => format!(
            "{}={secret}; Path=/; HttpOnly; SameSite=Strict",
            auth::SESSION_COOKIE
        ),
        None => format!(
            "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
            auth::SESSION_COOKIE
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_is_tied_to_the_secret() {
        assert_eq!(csrf_of("wfh_a"), csrf_of("wfh_a"));
        assert_ne!(csrf_of("wfh_a"), csrf_of("wfh_b"));
        assert_eq!(csrf_of("wfh_a").len(), 64);
    }
}
