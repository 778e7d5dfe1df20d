//! What the dashboard's forms do: sign in and out; cancel, pause or resume
//! a run; send a waiting step its signal or an approval. Each write goes
//! through the same code as the API's (the runner, `signal::send` and
//! `signal::answer`, the audit log), as the signed-in token's name. A form
//! sent by the page's script (`X-Requested-With: fetch`) is answered with
//! JSON, so the page shows a refusal in place; a plain form post is
//! answered with a redirect back to the run, or a page saying why not.

use std::sync::Arc;

use axum::Form;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde_json::json;

use super::session::{self, cookie};
use super::{PageError, form, pages, render};
use crate::engine::Stop;
use crate::service::api::auth::{self, Actor};
use crate::service::api::{ApiState, runs, signals};
use crate::service::signal::{self, Answer};
use crate::store::NewSignal;
use crate::workflow::plan::StepKind;
use crate::workflow::wit_type;

/// A form's fields, in the order sent.
type Fields = Vec<(String, String)>;

fn field<'f>(fields: &'f Fields, name: &str) -> &'f str {
    fields
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// `next` when it is a path on this server (never another site), else `/`.
pub fn local_path(next: &str) -> String {
    let visible = next.bytes().all(|b| b.is_ascii_graphic());
    if visible && next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next.to_string()
    } else {
        "/".to_string()
    }
}

/// `POST /ui/login`: the token's secret becomes the session cookie.
pub async fn login(State(state): State<Arc<ApiState>>, Form(fields): Form<Fields>) -> Response {
    let secret = field(&fields, "token").trim().to_string();
    let next = local_path(field(&fields, "next"));
    let well_formed = !secret.is_empty()
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let signed_in = if well_formed {
        auth::lookup(&state, secret.clone()).await.ok()
    } else {
        None
    };
    match signed_in {
        Some(Actor(name)) => {
            state.audit(&name, "sign-in", None, None).await;
            (
                [(header::SET_COOKIE, cookie(Some(&secret)))],
                Redirect::to(&next),
            )
                .into_response()
        }
        None => {
            let page = render(
                "login.html",
                "Sign in",
                context! { next, error => "unknown or revoked token: create one with `wfhost token create NAME`" },
            );
            match page {
                Ok(page) => (StatusCode::UNAUTHORIZED, page).into_response(),
                Err(error) => error.into_response(),
            }
        }
    }
}

/// `POST /ui/logout`.
pub async fn logout(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> Result<Response, PageError> {
    session::actor(&state, &headers, field(&fields, "csrf")).await?;
    Ok((
        [(header::SET_COOKIE, cookie(None))],
        Redirect::to("/ui/login"),
    )
        .into_response())
}

/// `POST /runs/{id}/act`: `action` is `cancel`, `cancel-now`, `pause` or
/// `resume` (with `from`, a step to re-run from).
pub async fn act(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let done = async {
        let actor = session::actor(&state, &headers, field(&fields, "csrf")).await?;
        let action = field(&fields, "action");
        let stop = match action {
            "cancel" => Some(Stop::Cancel),
            "cancel-now" => Some(Stop::CancelNow),
            "pause" => Some(Stop::Pause),
            "resume" => None,
            other => {
                return Err(PageError::new(
                    StatusCode::BAD_REQUEST,
                    format!("unknown action `{other}`: cancel, cancel-now, pause or resume"),
                ));
            }
        };
        match stop {
            Some(stop) => {
                runs::stop_as(&state, &actor.0, &id, stop).await?;
            }
            None => {
                let from = Some(field(&fields, "from").trim()).filter(|f| !f.is_empty());
                runs::resume_as(&state, &actor.0, &id, from, false).await?;
            }
        }
        Ok(())
    }
    .await;
    answer(&headers, &id, done)
}

/// `POST /runs/{id}/signal/{step}`: the waiting step's signal, its payload
/// read from the form its type generated (`field.NAME`), or an approval
/// (`decision`: `approve` or `reject`, and `comment`).
pub async fn signal(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Path((id, step)): Path<(String, String)>,
    Form(fields): Form<Fields>,
) -> Response {
    let done = send(&state, &headers, &id, &step, &fields).await;
    answer(&headers, &id, done)
}

async fn send(
    state: &Arc<ApiState>,
    headers: &HeaderMap,
    id: &str,
    step: &str,
    fields: &Fields,
) -> Result<(), PageError> {
    let actor = session::actor(state, headers, field(fields, "csrf")).await?;
    let run_id = id.to_string();
    let (run, text) = state
        .read(move |store| {
            let run = store.run(&run_id)?;
            let text = store.workflow_text(&run.workflow_digest).ok();
            Ok((run, text))
        })
        .await?;
    let plan = pages::plan_of(state, &run, text.as_deref())
        .await
        .ok_or_else(|| {
            PageError::new(
                StatusCode::CONFLICT,
                format!("run {id}'s workflow no longer plans; answer it with `wfhost signal`"),
            )
        })?;
    let signal = plan
        .step(step)
        .and_then(|s| match &s.kind {
            StepKind::Wait(wait) => wait.signal.as_ref(),
            _ => None,
        })
        .ok_or_else(|| {
            PageError::new(
                StatusCode::NOT_FOUND,
                format!("run {id} has no step `{step}` that waits for a signal"),
            )
        })?;
    let sent_by = format!("dashboard:{}", actor.0);
    let (run_id, step_id) = (id.to_string(), step.to_string());
    let (audit_action, detail) = if signal.approvals_required.is_some() {
        let approved = match field(fields, "decision") {
            "approve" => true,
            "reject" => false,
            other => {
                return Err(PageError::new(
                    StatusCode::BAD_REQUEST,
                    format!("`decision` is approve or reject, not `{other}`"),
                ));
            }
        };
        let comment = Some(field(fields, "comment").trim().to_string()).filter(|c| !c.is_empty());
        let sent = signals::recorded(state, move |store| {
            signal::answer(
                store,
                &Answer {
                    run_id: &run_id,
                    step: &step_id,
                    approved,
                    comment: comment.as_deref(),
                    sent_by: &sent_by,
                    idempotency_key: None,
                },
            )
        })
        .await?;
        let action = if approved { "approve" } else { "reject" };
        (action, format!("{step} #{}", sent.seq))
    } else {
        let shape = wit_type::parse(&signal.type_text).map_err(|error| {
            PageError::new(
                StatusCode::CONFLICT,
                format!("the wait's type does not parse: {}", error.problem),
            )
        })?;
        let payload = form::payload(&shape, fields)
            .map_err(|message| PageError::new(StatusCode::UNPROCESSABLE_ENTITY, message))?;
        let name = signal.name.clone();
        let sent = signals::recorded(state, move |store| {
            signal::send(
                store,
                &NewSignal {
                    run_id: &run_id,
                    name: &name,
                    payload: &payload,
                    sent_by: &sent_by,
                    idempotency_key: None,
                },
            )
        })
        .await?;
        ("signal", format!("{} #{}", signal.name, sent.seq))
    };
    state
        .audit(&actor.0, audit_action, Some(id), Some(detail))
        .await;
    Ok(())
}

/// How a form is answered: JSON for the page's script, else a redirect
/// back to the run (or the page saying why not).
fn answer(headers: &HeaderMap, id: &str, done: Result<(), PageError>) -> Response {
    let scripted = headers
        .get("x-requested-with")
        .is_some_and(|v| v.as_bytes() == b"fetch");
    match (done, scripted) {
        (Ok(()), true) => (StatusCode::ACCEPTED, Json(json!({ "ok": true }))).into_response(),
        (Ok(()), false) => {
            Redirect::to(&format!("/runs/{}", super::url_escape(id))).into_response()
        }
        (Err(PageError::Page { status, message }), true) => {
            (status, Json(json!({ "ok": false, "message": message }))).into_response()
        }
        (Err(error), _) => error.into_response(),
    }
}
