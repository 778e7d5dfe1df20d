//! The dashboard over real HTTP on 127.0.0.1 (the browser tests are in
//! `browser.rs`): sign-in, the pages and what they show, and forms that act
//! only with the session's CSRF token, from the server's own pages, and
//! with payloads the wait's type accepts.

use std::time::Duration;

use serde_json::Value;

use crate::common::{wfhost, write};
use crate::serve::{Server, call, eventually, setup, start};

/// A wait whose payload has a number, so a form can be ill-typed.
pub(crate) const GATE: &str = r#"name: gate
steps:
  - id: build
    module: system
    action: echo
    inputs: { message: "built" }
    onSuccess: approve
  - id: approve
    wait:
      signal: go
      type: "record { approved: bool, count: u8, note: option<string> }"
      timeout: 1h
    onSuccess: ship
  - id: ship
    module: system
    action: echo
    inputs: { message: "shipped {{ steps.approve.output.count }}" }
"#;

fn no_redirects() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// A page: status, body and the `Location` it redirects to, if any.
pub(crate) struct Page {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
}

fn page_of(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Page {
    let mut response = response.expect("the server answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (location, set_cookie) = (header("location"), header("set-cookie"));
    Page {
        status: response.status().as_u16(),
        body: response.body_mut().read_to_string().expect("a body"),
        location,
        set_cookie,
    }
}

pub(crate) fn get(url: &str, cookie: Option<&str>) -> Page {
    let mut request = no_redirects().get(url);
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    page_of(request.call())
}

fn post_form(
    url: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    form: &[(&str, &str)],
) -> Page {
    let mut request = no_redirects().post(url);
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    page_of(request.send_form(form.iter().copied()))
}

/// Sign in with `token`: the session cookie to send back.
pub(crate) fn sign_in(server: &Server, token: &str) -> String {
    let signed = post_form(
        &server.url("/ui/login"),
        None,
        &[],
        &[("token", token), ("next", "/")],
    );
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_eq!(signed.location.as_deref(), Some("/"));
    let cookie = signed.set_cookie.expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    cookie.split(';').next().expect("name=value").to_string()
}

/// The CSRF token a page's forms carry.
fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token");
    page[at + 19..at + 19 + 64].to_string()
}

fn run_json(server: &Server, token: &str, run: &str) -> Value {
    call(
        "GET",
        &server.url(&format!("/v1/runs/{run}")),
        Some(token),
        None,
    )
    .1
}

fn step_status(run: &Value, step: &str) -> String {
    run["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == step))
        .and_then(|s| s["status"].as_str())
        .unwrap_or("pending")
        .to_string()
}

fn waiting(server: &Server, token: &str, run: &str) {
    eventually(
        "the run waits",
        || run_json(server, token, run),
        |run| step_status(run, "approve") == "waiting",
    );
}

#[test]
fn pages_need_a_sign_in_and_show_runs_their_graphs_workflows_and_modules() {
    let (_dir, home, workflows, alice) = setup("gate.yaml", GATE);
    let server = Server::start(&home, &workflows, &[]);
    let run = start(&server, &alice, "gate", &serde_json::json!({}));
    waiting(&server, &alice, &run);

    let anonymous = get(&server.url("/runs/x"), None);
    assert_eq!(anonymous.status, 303);
    assert_eq!(
        anonymous.location.as_deref(),
        Some("/ui/login?next=/runs/x")
    );
    let wrong = post_form(
        &server.url("/ui/login"),
        None,
        &[],
        &[("token", "wfh_nope")],
    );
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.body.contains("unknown or revoked token"),
        "{}",
        wrong.body
    );

    let cookie = sign_in(&server, &alice);
    let runs = get(&server.url("/"), Some(&cookie));
    assert_eq!(runs.status, 200);
    assert!(
        runs.body.contains(&format!("href=\"/runs/{run}\"")),
        "{}",
        runs.body
    );
    assert!(
        runs.body
            .contains("<span class=\"badge s-waiting\">waiting</span>")
    );
    assert!(runs.body.contains("signed in as <strong>alice</strong>"));
    for (query, shown) in [
        ("status=failed", false),
        ("trigger=cli", false),
        ("trigger=api&workflow=gate", true),
        ("workflow=other", false),
    ] {
        let filtered = get(&server.url(&format!("/?{query}")), Some(&cookie));
        assert_eq!(
            filtered.body.contains(&format!("href=\"/runs/{run}\"")),
            shown,
            "{query}"
        );
    }
    assert_eq!(
        get(&server.url("/?trigger=nope"), Some(&cookie)).status,
        400
    );

    let page = get(&server.url(&format!("/runs/{run}")), Some(&cookie));
    assert_eq!(page.status, 200);
    let body = &page.body;
    // The graph: each step a node with its state; the steps table says it
    // in words too.
    for (step, state) in [
        ("build", "succeeded"),
        ("approve", "waiting"),
        ("ship", "pending"),
    ] {
        assert!(
            body.contains(&format!("data-step=\"{step}\" data-state=\"{state}\"")),
            "{step} {state}"
        );
    }
    assert!(body.contains("<svg"), "a laid-out graph");
    // The wait's form, generated from its type.
    assert!(body.contains("type=\"checkbox\" name=\"field.approved\" value=\"true\""));
    assert!(body.contains("name=\"field.count\" type=\"text\" inputmode=\"decimal\""));
    assert!(body.contains("note: option&lt;string&gt; (optional)"));
    assert!(body.contains("class=\"timeline\""));
    assert!(body.contains("<strong>step_waiting</strong>"));

    // A step's panel: a page of its own, or the panel alone for the script.
    let panel = get(
        &server.url(&format!("/runs/{run}/steps/build")),
        Some(&cookie),
    );
    assert_eq!(panel.status, 200);
    assert!(
        panel.body.contains("<pre>&quot;built&quot;</pre>"),
        "{}",
        panel.body
    );
    assert!(panel.body.contains("none (a sealed sandbox)"));
    let missing = get(
        &server.url(&format!("/runs/{run}/steps/nope")),
        Some(&cookie),
    );
    assert_eq!(missing.status, 404);

    let unknown = get(&server.url("/runs/nosuchrun"), Some(&cookie));
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("nosuchrun"), "{}", unknown.body);

    let listed = get(&server.url("/workflows"), Some(&cookie));
    assert!(
        listed.body.contains("href=\"/workflows/gate\""),
        "{}",
        listed.body
    );
    let one = get(&server.url("/workflows/gate"), Some(&cookie));
    assert!(
        one.body
            .contains("data-step=\"approve\" data-state=\"pending\"")
    );
    let modules = get(&server.url("/modules"), Some(&cookie));
    assert!(modules.body.contains("id=\"m-system\""), "{}", modules.body);
    assert!(modules.body.contains("<code>echo</code>"));
    // The event stream takes the cookie (the page's script cannot send a
    // header); the API's writes do not.
    let events = no_redirects()
        .get(&server.url(&format!("/v1/runs/{run}/events")))
        .header("Cookie", &cookie)
        .call()
        .expect("the stream starts");
    assert_eq!(events.status(), 200);
    drop(events);
    let api_write = post_form(
        &server.url(&format!("/v1/runs/{run}/cancel")),
        Some(&cookie),
        &[],
        &[],
    );
    assert_eq!(api_write.status, 401, "{}", api_write.body);
}

#[test]
fn forms_act_only_with_the_sessions_csrf_token_from_this_site_and_typed_payloads() {
    let (_dir, home, workflows, alice) = setup("gate.yaml", GATE);
    let server = Server::start(&home, &workflows, &[]);
    let run = start(&server, &alice, "gate", &serde_json::json!({}));
    waiting(&server, &alice, &run);
    let cookie = sign_in(&server, &alice);
    let page = get(&server.url(&format!("/runs/{run}")), Some(&cookie));
    let csrf = csrf_of(&page.body);
    let url = server.url(&format!("/runs/{run}/signal/approve"));
    let fetch = ("X-Requested-With", "fetch");

    let forged = post_form(
        &url,
        Some(&cookie),
        &[fetch],
        &[("csrf", "0"), ("field.count", "1")],
    );
    assert_eq!(forged.status, 403, "{}", forged.body);
    let cross_site = post_form(
        &url,
        Some(&cookie),
        &[fetch, ("Origin", "http://evil.example")],
        &[("csrf", &csrf), ("field.count", "1")],
    );
    assert_eq!(cross_site.status, 403, "{}", cross_site.body);
    let no_session = post_form(
        &url,
        None,
        &[fetch],
        &[("csrf", &csrf), ("field.count", "1")],
    );
    assert_eq!(no_session.status, 401);
    let ill_typed = post_form(
        &url,
        Some(&cookie),
        &[fetch],
        &[
            ("csrf", &csrf),
            ("field.approved", "true"),
            ("field.count", "300"),
        ],
    );
    assert_eq!(ill_typed.status, 422, "{}", ill_typed.body);
    let message: Value = serde_json::from_str(&ill_typed.body).expect("JSON for the script");
    assert!(
        message["message"]
            .as_str()
            .is_some_and(|m| m.contains("count")),
        "{message}"
    );
    // Nothing of the refused forms reached the run.
    assert_eq!(
        step_status(&run_json(&server, &alice, &run), "approve"),
        "waiting"
    );

    let sent = post_form(
        &url,
        Some(&cookie),
        &[],
        &[
            ("csrf", &csrf),
            ("field.approved", "true"),
            ("field.count", "3"),
            ("field.note", ""),
        ],
    );
    assert_eq!(sent.status, 303, "{}", sent.body);
    assert_eq!(
        sent.location.as_deref(),
        Some(format!("/runs/{run}").as_str())
    );
    let ended = eventually(
        "the run ends",
        || run_json(&server, &alice, &run),
        |run| run["status"] == "succeeded",
    );
    let ship = ended["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == "ship"))
        .expect("ship ran");
    assert_eq!(ship["output"], "shipped 3");

    // Cancel through the page's form.
    let second = start(&server, &alice, "gate", &serde_json::json!({}));
    waiting(&server, &alice, &second);
    let cancelled = post_form(
        &server.url(&format!("/runs/{second}/act")),
        Some(&cookie),
        &[],
        &[("csrf", &csrf), ("action", "cancel")],
    );
    assert_eq!(cancelled.status, 303, "{}", cancelled.body);
    eventually(
        "the run is cancelled",
        || run_json(&server, &alice, &second),
        |run| run["status"] == "cancelled",
    );
}

#[test]
fn open_reads_are_for_loopback_only_and_webhooks_cannot_take_page_paths() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let refused = wfhost(
        &home,
        &[
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--open-reads",
            "--workflows",
            ".",
        ],
    );
    assert_eq!(refused.code, 2, "{}", refused.render());
    assert!(
        refused
            .stderr
            .contains("allowed on a loopback address only"),
        "{}",
        refused.render()
    );
    let hook = write(
        dir.path(),
        "hook.yaml",
        "name: hook\ntriggers:\n  - webhook: /runs/deploy\n    auth: { scheme: bearer, secret_env: HOOK_TOKEN }\nsteps:\n  - { id: a, module: system, action: echo, inputs: { message: hi } }\n",
    );
    let checked = wfhost(&home, &["validate", hook.to_str().expect("utf-8 path")]);
    assert_eq!(checked.code, 2, "{}", checked.render());
    assert!(
        checked.stdout.contains("`/runs` is the dashboard's")
            || checked.stderr.contains("`/runs` is the dashboard's"),
        "{}",
        checked.render()
    );
}

#[test]
fn the_workflows_page_shows_webhook_deliveries_and_why_one_was_refused() {
    const HOOKED: &str = "name: hooked\ntriggers:\n  - webhook: /hooks/deploy\n    auth: { scheme: bearer, secret_env: HOOK_SECRET }\nsteps:\n  - { id: a, module: system, action: echo, inputs: { message: hi } }\n";
    let (_dir, home, workflows, alice) = setup("hooked.yaml", HOOKED);
    let server = Server::start_with(&home, &workflows, &[], &[("HOOK_SECRET", "s3cret")]);
    let deliver = |secret: &str| {
        let response = no_redirects()
            .post(&server.url("/hooks/deploy"))
            .header("Authorization", &format!("Bearer {secret}"))
            .send_json(serde_json::json!({}))
            .expect("answered");
        response.status().as_u16()
    };
    assert_eq!(deliver("forged"), 401);
    assert_eq!(deliver("s3cret"), 202);
    let cookie = sign_in(&server, &alice);
    let page = get(&server.url("/workflows"), Some(&cookie));
    let table = &page.body[page
        .body
        .find("class=\"deliveries\"")
        .expect("a deliveries table")..];
    let started = table
        .find(">started</span>")
        .expect("the accepted delivery");
    let refused = table
        .find(">unauthorized</span>")
        .expect("the refused delivery");
    assert!(started < refused, "newest first: {table}");
    assert!(table.contains("<td>401</td>"), "{table}");
    assert!(
        table[refused..].contains("<span class=\"error\">"),
        "the reason: {table}"
    );
    let one = get(&server.url("/workflows/hooked"), Some(&cookie));
    assert!(one.body.contains(">unauthorized</span>"), "{}", one.body);
}
