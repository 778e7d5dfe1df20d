//! The dashboard: HTML pages `wfhost serve` renders itself — runs at `/`,
//! a run at `/runs/{id}`, workflows at `/workflows` (and each at
//! `/workflows/{name}`), modules at `/modules` — from the same store reads
//! and JSON shapes as the API, with a few kilobytes of script
//! (`assets/app.js`) that follows a run's event stream and recolours its
//! graph without a reload. Everything is compiled into the binary: no CDN,
//! no npm, nothing fetched at run time.
//!
//! Reading needs a signed-in token (or `--open-reads`); acting (cancel,
//! pause, resume, a signal or an approval) needs a signed-in token and the
//! form's CSRF token ([`session`]).

mod actions;
mod drawing;
mod form;
mod pages;
mod session;
mod timeline;

use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::Environment;

use super::api::{ApiError, ApiState};

/// The dashboard's routes.
pub fn router(api: Arc<ApiState>) -> Router {
    Router::new()
        .route("/", get(pages::runs))
        .route("/runs/{id}", get(pages::run))
        .route("/runs/{id}/steps/{step}", get(pages::step))
        .route("/runs/{id}/act", post(actions::act))
        .route("/runs/{id}/signal/{step}", post(actions::signal))
        .route("/workflows", get(pages::workflows))
        .route("/workflows/{name}", get(pages::workflow))
        .route("/modules", get(pages::modules))
        .route("/ui/login", get(pages::login).post(actions::login))
        .route("/ui/logout", post(actions::logout))
        .route("/ui/app.js", get(script))
        .route("/ui/app.css", get(stylesheet))
        .with_state(api)
}

/// The pages' templates, compiled once.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(templates);

/// Each template's name and text.
const SOURCES: [(&str, &str); 11] = [
    ("base.html", include_str!("templates/base.html")),
    ("runs.html", include_str!("templates/runs.html")),
    ("run.html", include_str!("templates/run.html")),
    ("workflows.html", include_str!("templates/workflows.html")),
    ("workflow.html", include_str!("templates/workflow.html")),
    ("modules.html", include_str!("templates/modules.html")),
    ("schedules.html", include_str!("templates/schedules.html")),
    ("login.html", include_str!("templates/login.html")),
    ("error.html", include_str!("templates/error.html")),
    ("step.html", include_str!("templates/step.html")),
    ("deliveries.html", include_str!("templates/deliveries.html")),
];

fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, text) in SOURCES {
        // The templates are part of the binary: one that does not parse
        // fails the dashboard's tests, never a user's server.
        if let Err(error) = env.add_template(name, text) {
            tracing::error!("dashboard template {name}: {error}");
        }
    }
    env.add_filter("ms", crate::units::format_ms);
    env.add_filter("fuel", crate::units::format_fuel);
    env.add_filter("bytes", crate::units::format_bytes);
    env
}

/// Template `name` rendered with `context` (a part of a page).
fn fragment(name: &str, context: minijinja::Value) -> Result<minijinja::Value, PageError> {
    TEMPLATES
        .get_template(name)
        .and_then(|template| template.render(context))
        .map(minijinja::Value::from_safe_string)
        .map_err(|error| {
            tracing::error!("dashboard page {name}: {error:#}");
            PageError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the page could not be rendered: {error}"),
            )
        })
}

/// Page `name`, titled `title`: its template rendered with `context`
/// inside the frame every page shares (`base.html`).
fn render(name: &str, title: &str, context: minijinja::Value) -> Result<Html<String>, PageError> {
    let section = match name {
        "runs.html" | "run.html" | "step.html" => "runs",
        "workflows.html" | "workflow.html" => "workflows",
        "modules.html" => "modules",
        _ => "",
    };
    let body = fragment(name, context.clone())?;
    fragment(
        "base.html",
        minijinja::context! { title, section, body, ..context },
    )
    .map(|page| Html(page.to_string()))
}

/// Why a page is not shown: an HTML page with the reason, or a redirect
/// to sign in.
#[derive(Debug)]
pub enum PageError {
    Page { status: StatusCode, message: String },
    SignIn { next: String },
}

impl PageError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self::Page {
            status,
            message: message.into(),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        Self::new(error.status, error.message)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::SignIn { next } => {
                let next: String = url_escape(&next);
                Redirect::to(&format!("/ui/login?next={next}")).into_response()
            }
            PageError::Page { status, message } => {
                let title = format!("Error {}", status.as_u16());
                let context = minijinja::context! { status => status.as_u16(), message };
                match render("error.html", &title, context) {
                    Ok(page) => (status, page).into_response(),
                    Err(_) => {
                        (status, "the dashboard cannot render its error page").into_response()
                    }
                }
            }
        }
    }
}

/// `text` safe inside a query string.
fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/app.js"),
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/app.css"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route this file declares (read from its source, so a page
    /// added later is checked too) is one no webhook can take.
    #[test]
    fn no_webhook_can_take_a_page_path() {
        let source = include_str!("mod.rs");
        let routes: Vec<&str> = source
            .split(".route(\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert!(routes.len() >= 10, "{routes:?}");
        for route in routes {
            assert!(
                crate::workflow::validate::reserved_by(route).is_some(),
                "{route}"
            );
        }
        assert_eq!(crate::workflow::validate::reserved_by("/hooks/runs"), None);
        assert_eq!(crate::workflow::validate::reserved_by("/runsx"), None);
    }

    #[test]
    fn every_template_parses() {
        let mut env = Environment::new();
        for (name, text) in SOURCES {
            if let Err(error) = env.add_template(name, text) {
                panic!("{name}: {error:#}");
            }
        }
    }

    #[test]
    fn a_next_path_never_leaves_the_server() {
        for (next, kept) in [
            ("/runs/abc", "/runs/abc"),
            ("//evil.example/", "/"),
            ("https://evil.example/", "/"),
            ("/\\evil", "/"),
            ("/runs/a\r\nSet-Cookie: x", "/"),
        ] {
            assert_eq!(actions::local_path(next), kept, "{next:?}");
        }
    }
}
