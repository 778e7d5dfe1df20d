//! `wfhost serve` through the real binary and real HTTP on 127.0.0.1: the
//! API with tokens, event streams, many runs at once, stops, shutdown with
//! drain and adoption, and reloading the workflows folder.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{children_of, repo, shared_cache, until, wfhost, write};

/// A `wfhost serve` child on a free loopback port.
pub(crate) struct Server {
    child: Child,
    base: String,
    /// The rest of its stdout, for lines after "listening".
    stdout: BufReader<ChildStdout>,
    /// Lines it printed before "listening".
    banner: Vec<String>,
}

impl Server {
    pub(crate) fn start(home: &Path, workflows: &Path, extra: &[&str]) -> Self {
        Self::start_with(home, workflows, extra, &[])
    }

    /// With the scheduler's clock starting at `clock` (RFC 3339).
    fn start_at(home: &Path, workflows: &Path, extra: &[&str], clock: Option<&str>) -> Self {
        let env: Vec<(&str, &str)> = clock
            .map(|c| ("WFHOST_TEST_CLOCK", c))
            .into_iter()
            .collect();
        Self::start_with(home, workflows, extra, &env)
    }

    /// With extra environment variables.
    #[allow(clippy::zombie_processes)] // `Drop` kills and waits for it
    pub(crate) fn start_with(
        home: &Path,
        workflows: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wfhost"));
        command.envs(env.iter().copied());
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--workflows"])
            .arg(workflows)
            .args(extra)
            .current_dir(repo())
            .env("WFHOST_HOME", home)
            .env("WFHOST_CACHE_DIR", shared_cache())
            .env_remove("WFHOST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        crate::common::use_store_of(&mut command, home);
        let mut child = command.spawn().expect("wfhost serve starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut banner = Vec::new();
        loop {
            let mut line = String::new();
            let read = stdout.read_line(&mut line).expect("read serve's stdout");
            assert!(read > 0, "serve exited before listening: {banner:?}");
            if let Some(address) = line.trim().strip_prefix("wfhost serve: listening on ") {
                return Self {
                    child,
                    base: address.to_string(),
                    stdout,
                    banner,
                };
            }
            banner.push(line.trim().to_string());
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGTERM, then its exit code and the rest of its stdout.
    fn terminate(mut self) -> (i32, String) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut self.stdout, &mut rest);
        let status = self.child.wait().expect("serve exits");
        (status.code().unwrap_or(-1), rest)
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// A request's status and JSON body.
pub(crate) fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let agent = agent();
    let auth = token.map(|t| format!("Bearer {t}"));
    let response = match (method, body) {
        ("GET", _) => {
            let mut request = agent.get(url);
            if let Some(auth) = &auth {
                request = request.header("Authorization", auth);
            }
            request.call()
        }
        (_, body) => {
            let mut request = agent.post(url);
            if let Some(auth) = &auth {
                request = request.header("Authorization", auth);
            }
            match body {
                Some(body) => request.send_json(body),
                None => request.send_empty(),
            }
        }
    };
    let mut response = response.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `POST /v1/runs/{run}/{action}` as `token`.
fn act(
    server: &Server,
    token: &str,
    run: &str,
    action: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    call(
        "POST",
        &server.url(&format!("/v1/runs/{run}/{action}")),
        Some(token),
        body,
    )
}

pub(crate) fn token(home: &Path, name: &str) -> String {
    let created = wfhost(home, &["token", "create", name]);
    assert_eq!(created.code, 0, "{}", created.render());
    let secret = created.stdout.trim_end().to_string();
    assert_eq!(
        created.stdout,
        format!("{secret}\n"),
        "the token alone on stdout"
    );
    assert!(secret.starts_with("wfh_") && secret.len() == 68, "{secret}");
    secret
}

/// A home with token `alice` and a workflows folder holding one file:
/// (the temporary directory to keep, home, workflows folder, token).
pub(crate) fn setup(name: &str, text: &str) -> (tempfile::TempDir, PathBuf, PathBuf, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (home, workflows) = (dir.path().join("home"), dir.path().join("workflows"));
    write(&workflows, name, text);
    let alice = token(&home, "alice");
    (dir, home, workflows, alice)
}

const HELLO: &str = "name: hello\ninputs:\n  who: { type: string, default: world }\nsteps:\n  - { id: greet, module: system, action: echo, inputs: { message: \"hello {{ inputs.who }}\" } }\n";

/// Start `workflow` and return its run id.
pub(crate) fn start(server: &Server, token: &str, workflow: &str, inputs: &Value) -> String {
    let (status, body) = call(
        "POST",
        &server.url("/v1/runs"),
        Some(token),
        Some(&json!({ "workflow": workflow, "inputs": inputs })),
    );
    assert_eq!(status, 202, "{body}");
    body["run_id"].as_str().expect("a run id").to_string()
}

/// Read with `read` until `done` holds (at most 30 s); the last reading.
pub(crate) fn eventually<T: std::fmt::Debug>(
    what: &str,
    mut read: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let started = Instant::now();
    loop {
        let value = read();
        if done(&value) {
            return value;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never {what}: {value:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Poll run `id` until `done` holds for it.
pub(crate) fn wait_for(
    server: &Server,
    token: &str,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    eventually(
        &format!("run {id}: {what}"),
        || {
            let (status, run) = call(
                "GET",
                &server.url(&format!("/v1/runs/{id}")),
                Some(token),
                None,
            );
            assert_eq!(status, 200, "{run}");
            run
        },
        done,
    )
}

pub(crate) fn ended(run: &Value) -> bool {
    !matches!(
        run["status"].as_str(),
        Some("running" | "waiting" | "queued")
    )
}

/// The events of run `id` as (id, event name, data), reading the stream to
/// its end; `last` is sent as `Last-Event-ID`.
fn events(
    server: &Server,
    token: &str,
    id: &str,
    last: Option<&str>,
) -> Vec<(String, String, Value)> {
    let mut request = agent()
        .get(server.url(&format!("/v1/runs/{id}/events")))
        .header("Authorization", &format!("Bearer {token}"));
    if let Some(last) = last {
        request = request.header("Last-Event-ID", last);
    }
    let response = request.call().expect("the stream opens");
    assert_eq!(response.status().as_u16(), 200);
    let reader = BufReader::new(response.into_body().into_reader());
    let mut events = Vec::new();
    let (mut id, mut name) = (String::new(), String::new());
    for line in reader.lines() {
        let line = line.expect("a line");
        if let Some(value) = line.strip_prefix("id: ") {
            id = value.to_string();
        } else if let Some(value) = line.strip_prefix("event: ") {
            name = value.to_string();
        } else if let Some(value) = line.strip_prefix("data: ") {
            let data = serde_json::from_str(value).expect("JSON data");
            events.push((id.clone(), name.clone(), data));
        }
    }
    events
}

#[test]
fn runs_start_over_http_with_a_token_and_stream_their_events() {
    let (_dir, home, workflows, alice) = setup("hello.yaml", HELLO);
    let server = Server::start(&home, &workflows, &[]);
    assert!(
        server.banner.iter().any(|l| l.contains("1 workflow from")),
        "{:?}",
        server.banner
    );

    // No token, a forged one: refused, nothing started.
    let body = json!({ "workflow": "hello" });
    let (status, error) = call("POST", &server.url("/v1/runs"), None, Some(&body));
    assert_eq!(
        (status, error["kind"].as_str()),
        (401, Some("unauthorized")),
        "{error}"
    );
    let forged = format!("wfh_{}", "0".repeat(64));
    let (status, _) = call("POST", &server.url("/v1/runs"), Some(&forged), Some(&body));
    assert_eq!(status, 401);
    let (status, _) = call("GET", &server.url("/v1/runs"), None, None);
    assert_eq!(status, 401, "reads need a token without --open-reads");
    let (status, listed) = call("GET", &server.url("/v1/runs"), Some(&alice), None);
    assert_eq!(
        (status, listed["runs"].as_array().map(Vec::len)),
        (200, Some(0))
    );

    let id = start(&server, &alice, "hello", &json!({ "who": "bob" }));
    let events = events(&server, &alice, &id, None);
    let names: Vec<&str> = events.iter().map(|(_, name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "run_started",
            "step_started",
            "step_succeeded",
            "step_finished",
            "run_finished"
        ]
    );
    let ids: Vec<i64> = events
        .iter()
        .map(|(id, _, _)| id.parse().expect("numeric id"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(events[2].2["output"], "hello bob");
    // Reconnecting after the second event gives the rest, once.
    let rest = crate::serve::events(&server, &alice, &id, Some(&events[1].0));
    assert_eq!(rest.len(), 3);
    assert_eq!(rest[0].1, "step_succeeded");

    let run = wait_for(&server, &alice, &id, "an end", ended);
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["started_by"], "api:alice");
    assert_eq!(run["inputs"], json!({ "who": "bob" }));
    assert_eq!(run["steps"][0]["output"], "hello bob");
    // The command line reads the same home while the server runs.
    let listed = wfhost(&home, &["list"]);
    assert!(listed.stdout.contains(&id), "{}", listed.render());
}

#[test]
fn bad_requests_get_typed_errors_and_start_nothing() {
    let (_dir, home, workflows, alice) = setup("hello.yaml", HELLO);
    let server = Server::start(&home, &workflows, &[]);
    let url = server.url("/v1/runs");
    let cases = [
        (
            json!({ "workflow": "hello", "inputs": { "who": 3 } }),
            422,
            "invalid-input",
        ),
        (json!({ "workflow": "nosuch" }), 404, "not-found"),
        (
            json!({ "workflow": "hello", "bogus": 1 }),
            400,
            "bad-request",
        ),
        (
            json!({ "workflow": "hello", "inputs": { "who": "x".repeat(2 << 20) } }),
            413,
            "too-large",
        ),
    ];
    for (body, status, kind) in cases {
        let (got, error) = call("POST", &url, Some(&alice), Some(&body));
        assert_eq!(
            (got, error["kind"].as_str()),
            (status, Some(kind)),
            "{error}"
        );
    }
    let (status, error) = call("GET", &server.url("/v1/runs/nosuch"), Some(&alice), None);
    assert_eq!((status, error["kind"].as_str()), (404, Some("not-found")));
    let (status, error) = call(
        "GET",
        &server.url("/v1/runs?status=bogus"),
        Some(&alice),
        None,
    );
    assert_eq!((status, error["kind"].as_str()), (400, Some("bad-request")));
    let (status, listed) = call("GET", &url, Some(&alice), None);
    assert_eq!(
        (status, listed["runs"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{listed}"
    );
}

#[test]
fn an_idempotency_key_starts_one_run_and_a_revoked_token_is_refused() {
    let (_dir, home, workflows, alice) = setup("hello.yaml", HELLO);
    let server = Server::start(&home, &workflows, &["--open-reads"]);
    let post = || {
        let mut response = agent()
            .post(server.url("/v1/runs"))
            .header("Authorization", &format!("Bearer {alice}"))
            .header("Idempotency-Key", "delivery-1")
            .send_json(json!({ "workflow": "hello" }))
            .expect("answered");
        let status = response.status().as_u16();
        let body: Value = response.body_mut().read_json().expect("JSON");
        (status, body["run_id"].as_str().expect("run id").to_string())
    };
    let (first_status, first) = post();
    let (second_status, second) = post();
    assert_eq!((first_status, second_status), (202, 200));
    assert_eq!(first, second);
    // Reads are open with --open-reads; writes still need a token.
    let (status, listed) = call("GET", &server.url("/v1/runs"), None, None);
    assert_eq!(
        (status, listed["runs"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let (status, _) = call(
        "POST",
        &server.url(&format!("/v1/runs/{first}/cancel")),
        None,
        None,
    );
    assert_eq!(status, 401);
    let revoked = wfhost(&home, &["token", "revoke", "alice"]);
    assert_eq!(revoked.code, 0, "{}", revoked.render());
    let (status, _) = call(
        "POST",
        &server.url("/v1/runs"),
        Some(&alice),
        Some(&json!({ "workflow": "hello" })),
    );
    assert_eq!(status, 401, "a revoked token is refused at once");
}

#[test]
fn many_runs_are_driven_at_once() {
    let (_dir, home, workflows, alice) = setup(
        "nap.yaml",
        "name: nap\nsteps:\n  - { id: nap, module: system, action: sleep, inputs: { milliseconds: 300 } }\n",
    );
    let server = Server::start(&home, &workflows, &[]);
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|_| scope.spawn(|| start(&server, &alice, "nap", &json!({}))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client"))
            .collect()
    });
    let runs: Vec<Value> = ids
        .iter()
        .map(|id| wait_for(&server, &alice, id, "an end", ended))
        .collect();
    assert!(
        runs.iter().all(|run| run["status"] == "succeeded"),
        "{runs:?}"
    );
    // They overlapped: at some moment more than one was running.
    let mut moments: Vec<(String, i32)> = runs
        .iter()
        .flat_map(|run| {
            let time = |field: &str| run[field].as_str().expect("a time").to_string();
            [(time("created_at"), 1), (time("updated_at"), -1)]
        })
        .collect();
    moments.sort();
    let most = moments
        .iter()
        .scan(0, |running, (_, change)| {
            *running += change;
            Some(*running)
        })
        .max();
    assert!(most > Some(1), "runs ran one after another: {moments:?}");
}

const SLOW_LOOP: &str = "name: spin\nsteps:\n  - id: tick\n    module: system\n    action: sleep\n    inputs: { milliseconds: 50 }\n    loop: { until: \"{{ false }}\", max_iterations: 400 }\n";

#[test]
fn runs_are_cancelled_paused_and_resumed_over_http() {
    let (_dir, home, workflows, alice) = setup("spin.yaml", SLOW_LOOP);
    let server = Server::start(&home, &workflows, &[]);
    let running = |run: &Value| run["steps"].as_array().is_some_and(|s| !s.is_empty());

    let cancelled = start(&server, &alice, "spin", &json!({}));
    wait_for(&server, &alice, &cancelled, "a step", running);
    let (status, body) = act(&server, &alice, &cancelled, "cancel", None);
    assert_eq!(
        (status, body["owner_asked"].as_bool()),
        (202, Some(true)),
        "{body}"
    );
    let run = wait_for(&server, &alice, &cancelled, "an end", ended);
    assert_eq!(run["status"], "cancelled", "{run}");

    let paused = start(&server, &alice, "spin", &json!({}));
    wait_for(&server, &alice, &paused, "a step", running);
    let (status, _) = act(&server, &alice, &paused, "pause", None);
    assert_eq!(status, 202);
    let run = wait_for(&server, &alice, &paused, "an end", ended);
    assert_eq!(run["status"], "paused", "{run}");
    let (status, body) = act(&server, &alice, &paused, "resume", None);
    assert_eq!(status, 202, "{body}");
    let run = wait_for(&server, &alice, &paused, "running again", |run| {
        run["status"] == "running"
    });
    assert_eq!(run["driven"], true, "{run}");
    let (status, _) = act(
        &server,
        &alice,
        &paused,
        "cancel",
        Some(&json!({ "now": true })),
    );
    assert_eq!(status, 202);
    let run = wait_for(&server, &alice, &paused, "an end", ended);
    assert_eq!(run["status"], "cancelled", "{run}");
    // Resuming a cancelled run needs a step to resume from: 409.
    let (status, error) = act(&server, &alice, &paused, "resume", None);
    assert_eq!(
        (status, error["kind"].as_str()),
        (409, Some("conflict")),
        "{error}"
    );
}

pub(crate) const APPROVAL: &str = r#"
name: approval
steps:
  - id: approve
    wait: { signal: go, type: "record { approved: bool }" }
    onSuccess: { condition: "{{ steps.approve.output.approved }}", then: ship }
  - { id: ship, module: system, action: echo, inputs: { message: shipped } }
"#;

#[test]
fn a_waiting_run_takes_a_signal_sent_over_http() {
    let (_dir, home, workflows, alice) = setup("approval.yaml", APPROVAL);
    let server = Server::start(&home, &workflows, &[]);
    let id = start(&server, &alice, "approval", &json!({}));
    let run = wait_for(&server, &alice, &id, "waiting", |run| {
        run["status"] == "waiting"
    });
    assert_eq!(step_status(&run, "approve").as_deref(), Some("waiting"));
    let url = server.url(&format!("/v1/runs/{id}/signals/go"));
    let (status, error) = call("POST", &url, Some(&alice), Some(&json!({ "approved": 1 })));
    assert_eq!(
        (status, error["kind"].as_str()),
        (422, Some("invalid-input")),
        "{error}"
    );
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("payload.approved: expected bool")),
        "{error}"
    );
    let (status, error) = call("POST", &url, None, Some(&json!({ "approved": true })));
    assert_eq!(status, 401, "{error}");
    let unknown = server.url(&format!("/v1/runs/{id}/signals/stop"));
    let (status, error) = call("POST", &unknown, Some(&alice), Some(&json!(null)));
    assert_eq!(status, 422, "{error}");
    let send = || {
        agent()
            .post(&url)
            .header("Authorization", &format!("Bearer {alice}"))
            .header("Idempotency-Key", "once")
            .send_json(json!({ "approved": true }))
            .expect("a response")
            .into_body()
            .read_json::<Value>()
            .expect("JSON")
    };
    let first = send();
    let second = send();
    assert_eq!(
        (&first["duplicate"], &second["duplicate"], &first["seq"]),
        (&json!(false), &json!(true), &second["seq"]),
        "{first} {second}"
    );
    let run = wait_for(&server, &alice, &id, "an end", ended);
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(step_status(&run, "ship").as_deref(), Some("succeeded"));
    let names: Vec<String> = events(&server, &alice, &id, None)
        .into_iter()
        .map(|(_, name, _)| name)
        .collect();
    for expected in [
        "step_waiting",
        "run_waiting",
        "signal_received",
        "run_continued",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
    }
    let (status, error) = call(
        "POST",
        &url,
        Some(&alice),
        Some(&json!({ "approved": true })),
    );
    assert_eq!(
        (status, error["kind"].as_str()),
        (409, Some("conflict")),
        "{error}"
    );
}

#[test]
fn a_signal_from_the_command_line_reaches_a_run_the_server_drives() {
    let (_dir, home, workflows, alice) = setup("approval.yaml", APPROVAL);
    let server = Server::start(&home, &workflows, &[]);
    let id = start(&server, &alice, "approval", &json!({}));
    wait_for(&server, &alice, &id, "waiting", |run| {
        run["status"] == "waiting"
    });
    let sent = wfhost(
        &home,
        &["signal", &id, "go", "--data", r#"{"approved": true}"#],
    );
    assert_eq!(sent.code, 0, "{}", sent.render());
    let run = wait_for(&server, &alice, &id, "an end", ended);
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(step_status(&run, "ship").as_deref(), Some("succeeded"));
}

const SIGN_OFF: &str = r#"
name: sign-off
steps:
  - id: sign-off
    wait: { approvals: { from: [alice] } }
    onSuccess: ship
  - { id: ship, module: system, action: echo, inputs: { message: "{{ steps['sign-off'].output.approvals[0].comment }}" } }
"#;

#[test]
fn an_approval_over_http_is_given_as_the_token_and_checked_against_the_approvers() {
    let (_dir, home, workflows, alice) = setup("sign-off.yaml", SIGN_OFF);
    let mallory = token(&home, "mallory");
    let server = Server::start(&home, &workflows, &[]);
    let id = start(&server, &alice, "sign-off", &json!({}));
    wait_for(&server, &alice, &id, "waiting", |run| {
        run["status"] == "waiting"
    });
    let url = server.url(&format!("/v1/runs/{id}/approvals/sign-off"));
    let body = json!({ "approved": true, "comment": "ok by me" });
    let (status, error) = call("POST", &url, Some(&mallory), Some(&body));
    assert_eq!(
        (status, error["kind"].as_str()),
        (403, Some("forbidden")),
        "{error}"
    );
    let elsewhere = server.url(&format!("/v1/runs/{id}/approvals/ship"));
    let (status, error) = call("POST", &elsewhere, Some(&alice), Some(&body));
    assert_eq!(status, 422, "{error}");
    let (status, sent) = call("POST", &url, Some(&alice), Some(&body));
    assert_eq!(status, 202, "{sent}");
    let run = wait_for(&server, &alice, &id, "an end", ended);
    assert_eq!(run["status"], "succeeded", "{run}");
    let ship = run["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == "ship"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(ship["output"], "ok by me", "{run}");
}

const TWO_STEPS: &str = "name: two\nsteps:\n  - { id: first, module: system, action: sleep, inputs: { milliseconds: 1500 }, onSuccess: second }\n  - { id: second, module: system, action: echo, inputs: { message: done } }\n";

fn step_status(run: &Value, step: &str) -> Option<String> {
    run["steps"]
        .as_array()?
        .iter()
        .find(|s| s["id"] == step)
        .and_then(|s| s["status"].as_str().map(str::to_string))
}

#[test]
fn stopping_drains_running_steps_and_the_next_start_resumes_the_run() {
    let (_dir, home, workflows, alice) = setup("two.yaml", TWO_STEPS);
    let server = Server::start(&home, &workflows, &["--grace", "20s"]);
    let id = start(&server, &alice, "two", &json!({}));
    wait_for(&server, &alice, &id, "its first step", |run| {
        step_status(run, "first").as_deref() == Some("running")
    });
    let (code, rest) = server.terminate();
    assert_eq!(code, 0, "{rest}");
    assert!(rest.contains("stopped"), "{rest}");
    // The running step was let finish; nothing after it started.
    let status = wfhost(&home, &["status", &id, "--json"]);
    let recorded: Value = serde_json::from_str(&status.stdout).expect("status JSON");
    assert_eq!(recorded["status"], "interrupted", "{recorded}");

    let run = adopted_to_the_end(&home, &workflows, &alice, &id);
    let first = &run["steps"][0];
    assert_eq!(
        (first["id"].as_str(), first["attempts"].as_u64()),
        (Some("first"), Some(1)),
        "the step that finished while draining is not run again: {run}"
    );
}

/// Start a server on `home`: it says it adopted run `id`, which then
/// succeeds past its second step; the run as the API shows it.
fn adopted_to_the_end(home: &Path, workflows: &Path, token: &str, id: &str) -> Value {
    let server = Server::start(home, workflows, &[]);
    assert!(
        server
            .banner
            .iter()
            .any(|l| l.contains(&format!("adopted run {id}"))),
        "{:?}",
        server.banner
    );
    let run = wait_for(&server, token, id, "an end", ended);
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["steps"][1]["output"], "done");
    run
}

/// Two children that each say a word, then linger a second.
const SLEEPY_PARENT: &str = r#"
name: sleepy-parent
steps:
  - id: each
    workflow: ./parts/sleepy.yaml
    foreach: "{{ ['a', 'b'] }}"
    inputs: { word: "{{ item }}" }
"#;
const SLEEPY_CHILD: &str = r#"
name: sleepy
inputs:
  word: { type: string }
outputs:
  said: "{{ steps.say.output }}"
steps:
  - { id: say, module: system, action: echo, inputs: { message: "{{ inputs.word }}" }, onSuccess: linger }
  - { id: linger, module: system, action: sleep, inputs: { milliseconds: 1000 } }
"#;

#[test]
fn a_killed_servers_parent_is_adopted_and_continues_its_children_once() {
    let (_dir, home, workflows, alice) = setup("parent.yaml", SLEEPY_PARENT);
    write(&workflows.join("parts"), "sleepy.yaml", SLEEPY_CHILD);
    let server = Server::start(&home, &workflows, &[]);
    let id = start(&server, &alice, "parent", &json!({}));
    eventually(
        "both children linger",
        || children_of(&home, &id),
        |found| found.len() == 2 && found.iter().all(|c| c["status"] == "running"),
    );
    server.kill();
    let server = Server::start(&home, &workflows, &[]);
    let adopted: Vec<&String> = server
        .banner
        .iter()
        .filter(|line| line.contains("adopted run"))
        .collect();
    assert_eq!(adopted.len(), 1, "only the parent is adopted: {adopted:?}");
    assert!(adopted[0].contains(&id), "{adopted:?}");
    let run = wait_for(&server, &alice, &id, "an end", ended);
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        run["steps"][0]["output"],
        json!([{ "said": "a" }, { "said": "b" }])
    );
    let found = children_of(&home, &id);
    assert_eq!(found.len(), 2, "no child started twice: {found:?}");
    for child in found {
        let status = wfhost(
            &home,
            &["status", child["id"].as_str().unwrap_or_default(), "--json"],
        );
        let status: Value = serde_json::from_str(&status.stdout).expect("status JSON");
        assert_eq!(status["status"], "succeeded", "{status}");
        assert_eq!(
            status["steps"][0]["attempts"], 1,
            "`say` ran again: {status}"
        );
    }
    // A changed sub-workflow file is picked up like a changed workflow.
    let changed = SLEEPY_CHILD
        .replace("\"{{ inputs.word }}\"", "\"{{ inputs.word }}!\"")
        .replace("1000", "0");
    write(&workflows.join("parts"), "sleepy.yaml", &changed);
    eventually(
        "the changed child is used",
        || {
            let id = start(&server, &alice, "parent", &json!({}));
            wait_for(&server, &alice, &id, "an end", ended)["steps"][0]["output"].clone()
        },
        |output| *output == json!([{ "said": "a!" }, { "said": "b!" }]),
    );
}

#[test]
fn a_run_of_a_killed_server_is_adopted_by_the_next() {
    let (_dir, home, workflows, alice) = setup("two.yaml", TWO_STEPS);
    let server = Server::start(&home, &workflows, &[]);
    let id = start(&server, &alice, "two", &json!({}));
    wait_for(&server, &alice, &id, "its first step", |run| {
        step_status(run, "first").as_deref() == Some("running")
    });
    server.kill();
    adopted_to_the_end(&home, &workflows, &alice, &id);
}

#[test]
fn changed_files_are_picked_up_and_an_invalid_change_keeps_the_last_valid_version() {
    let (_dir, home, workflows, alice) = setup("hello.yaml", HELLO);
    let server = Server::start(&home, &workflows, &[]);
    let listed = |name: &str| {
        let (_, body) = call("GET", &server.url("/v1/workflows"), Some(&alice), None);
        body["workflows"]
            .as_array()
            .expect("workflows")
            .iter()
            .find(|w| w["name"] == name)
            .cloned()
    };
    write(
        &workflows,
        "hello.yaml",
        "name: hello\nsteps:\n  - { id: greet, module: system, action: ech }\n",
    );
    eventually(
        "the invalid change reported",
        || listed("hello"),
        |w| w.as_ref().is_some_and(|w| w["problems"].is_string()),
    );
    let hello = listed("hello").expect("still listed");
    assert_eq!(hello["serving"], true, "{hello}");
    assert!(
        hello["problems"]
            .as_str()
            .expect("problems")
            .contains("ech"),
        "{hello}"
    );
    let id = start(&server, &alice, "hello", &json!({ "who": "still" }));
    let run = wait_for(&server, &alice, &id, "an end", ended);
    assert_eq!(
        run["steps"][0]["output"], "hello still",
        "the last valid version served"
    );

    write(&workflows, "extra.yml", HELLO);
    eventually(
        "a new file served",
        || listed("extra"),
        |w| w.as_ref().is_some_and(|w| w["serving"] == true),
    );
    std::fs::remove_file(workflows.join("extra.yml")).expect("remove");
    eventually(
        "a removed file forgotten",
        || listed("extra"),
        Option::is_none,
    );
}

#[test]
fn the_openapi_document_describes_the_served_endpoints() {
    let (_dir, home, workflows, alice) = setup("hello.yaml", HELLO);
    let server = Server::start(&home, &workflows, &[]);
    let (status, doc) = call("GET", &server.url("/v1/openapi.json"), None, None);
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let id = start(&server, &alice, "hello", &json!({}));
    wait_for(&server, &alice, &id, "an end", ended);
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 10, "{paths:?}");
    for (path, operations) in paths {
        let concrete = path
            .replace("{id}", &id)
            .replace("{name}", "hello")
            .replace("{workflow}", "hello")
            .replace("{number}", "1");
        for method in operations.as_object().expect("operations").keys() {
            let (status, body) = call(
                &method.to_uppercase(),
                &server.url(&concrete),
                Some(&alice),
                None,
            );
            let declared = &operations[method]["responses"][status.to_string()];
            assert!(
                !declared.is_null(),
                "{method} {path} answered {status}, which the document does not declare: {body}"
            );
        }
    }
    let (status, body) = call("GET", &server.url("/v1/nosuch"), Some(&alice), None);
    assert_eq!((status, body["kind"].as_str()), (404, Some("not-found")));
}

/// (scheduled time, outcome, run) of every tick recorded, oldest first.
fn ticks(home: &Path) -> Vec<(String, String, Option<String>)> {
    let db = rusqlite::Connection::open(home.join("wfhost.db")).expect("open the database");
    let mut query = db
        .prepare(
            "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', at, 'unixepoch'), outcome, run_id FROM schedule_ticks ORDER BY at",
        )
        .expect("query");
    query
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .expect("ticks")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// Poll until `check` holds for the recorded ticks.
fn ticks_until(
    home: &Path,
    what: &str,
    check: impl Fn(&[(String, String, Option<String>)]) -> bool,
) -> Vec<(String, String, Option<String>)> {
    eventually(what, || ticks(home), |ticks| check(ticks))
}

/// An hourly schedule registered at 10:30, then the server is down until
/// 13:30: three ticks (11:00, 12:00, 13:00) passed; `catchup` says which
/// start runs. Each is recorded.
fn catch_up(catchup: &str) -> Vec<(String, String, Option<String>)> {
    let workflow = format!(
        "name: hourly\ntriggers:\n  - {{ cron: \"0 * * * *\", catchup: {catchup}, catchup_window: 6h }}\nsteps:\n  - {{ id: say, module: system, action: echo, inputs: {{ message: \"{{{{ trigger.scheduled_time }}}}\" }} }}\n"
    );
    let (_dir, home, workflows, alice) = setup("hourly.yaml", &workflow);
    let server = Server::start_at(&home, &workflows, &[], Some("2026-03-01T10:30:00Z"));
    ticks_until(&home, "registered", |t| !t.is_empty());
    server.terminate();
    let server = Server::start_at(&home, &workflows, &[], Some("2026-03-01T13:30:00Z"));
    let ticks = ticks_until(&home, "three ticks recorded", |t| t.len() == 4);
    assert_eq!(ticks[0].1, "registered");
    let times: Vec<&str> = ticks[1..].iter().map(|t| t.0.as_str()).collect();
    assert_eq!(
        times,
        [
            "2026-03-01T11:00:00Z",
            "2026-03-01T12:00:00Z",
            "2026-03-01T13:00:00Z"
        ]
    );
    // Every run started sees the tick it was started for.
    for (time, _, run) in &ticks[1..] {
        if let Some(run) = run {
            let run = wait_for(&server, &alice, run, "an end", ended);
            assert_eq!(run["status"], "succeeded", "{run}");
            assert_eq!(run["started_by"], "cron:hourly#1");
            assert_eq!(run["steps"][0]["output"], time.replace('Z', ".000Z"));
        }
    }
    let listed = wfhost(
        &home,
        &[
            "schedules",
            "--json",
            "--workflows",
            workflows.to_str().expect("UTF-8"),
        ],
    );
    let schedules: Value = serde_json::from_str(&listed.stdout).expect("JSON");
    assert_eq!(schedules[0]["cron"], "0 * * * *", "{schedules}");
    assert_eq!(schedules[0]["next"].as_array().map(Vec::len), Some(3));
    assert_eq!(schedules[0]["recent"][0]["at"], "2026-03-01T13:00:00.000Z");
    ticks[1..].to_vec()
}

fn outcomes(ticks: &[(String, String, Option<String>)]) -> Vec<&str> {
    ticks.iter().map(|t| t.1.as_str()).collect()
}

#[test]
fn missed_ticks_catch_up_latest() {
    let ticks = catch_up("latest");
    assert_eq!(outcomes(&ticks), ["missed", "missed", "started"]);
}

#[test]
fn missed_ticks_catch_up_all() {
    let ticks = catch_up("all");
    assert_eq!(outcomes(&ticks), ["started", "started", "started"]);
    let runs: std::collections::HashSet<_> = ticks.iter().map(|t| t.2.clone()).collect();
    assert_eq!(runs.len(), 3, "one run per tick: {ticks:?}");
}

#[test]
fn missed_ticks_catch_up_none() {
    let ticks = catch_up("none");
    assert_eq!(outcomes(&ticks), ["missed", "missed", "missed"]);
}

#[test]
fn a_tick_starts_one_run_even_when_the_server_dies_before_recording_it() {
    let (_dir, home, workflows, alice) = setup(
        "minutely.yaml",
        "name: minutely\ntriggers:\n  - cron: \"* * * * *\"\nsteps:\n  - { id: nap, module: system, action: sleep, inputs: { milliseconds: 1000 } }\n",
    );
    let server = Server::start_at(&home, &workflows, &[], Some("2026-03-01T10:00:58Z"));
    let ticks = ticks_until(&home, "the 10:01 tick started", |t| {
        t.iter().any(|t| t.1 == "started")
    });
    let run = ticks[1].2.clone().expect("a run");
    server.kill();
    // As if killed after the run was created but before its tick was recorded.
    let db = rusqlite::Connection::open(home.join("wfhost.db")).expect("open");
    db.execute("DELETE FROM schedule_ticks WHERE outcome = 'started'", [])
        .expect("forget the tick");
    drop(db);
    let server = Server::start_at(&home, &workflows, &[], Some("2026-03-01T10:01:10Z"));
    let ticks = ticks_until(&home, "the tick recorded again", |t| {
        t.iter().any(|t| t.1 == "started")
    });
    assert_eq!(
        ticks[1].2.as_deref(),
        Some(run.as_str()),
        "the same run: {ticks:?}"
    );
    let finished = wait_for(&server, &alice, &run, "an end", ended);
    assert_eq!(
        finished["status"], "succeeded",
        "adopted and finished: {finished}"
    );
    let (_, listed) = call("GET", &server.url("/v1/runs"), Some(&alice), None);
    assert_eq!(listed["runs"].as_array().map(Vec::len), Some(1), "{listed}");
}

#[test]
fn a_tick_while_the_previous_run_runs_is_skipped() {
    let (_dir, home, workflows, _) = setup(
        "busy.yaml",
        "name: busy\ntriggers:\n  - { cron: \"* * * * * *\", overlap: skip }\nsteps:\n  - { id: nap, module: system, action: sleep, inputs: { milliseconds: 2500 } }\n",
    );
    let _server = Server::start(&home, &workflows, &[]);
    let ticks = ticks_until(&home, "a tick skipped", |t| {
        t.iter().any(|t| t.1 == "skipped")
    });
    let started = ticks.iter().filter(|t| t.1 == "started").count();
    assert_eq!(started, 1, "{ticks:?}");
}

const GITHUB_HOOK: &str = "name: gh\ninputs:\n  sha: { type: string }\ntriggers:\n  - webhook: /hooks/github\n    auth: { scheme: github-hmac-sha256, secret_env: [GH_OLD_SECRET, GH_HOOK_SECRET] }\n    dedupe: \"{{ headers['x-github-delivery'] }}\"\n    inputs: { sha: \"{{ body.after }}\" }\nsteps:\n  - { id: say, module: system, action: echo, inputs: { message: \"{{ inputs.sha }} via {{ trigger.path }}\" } }\n";

/// The secret of GitHub's documented example.
const GITHUB_SECRET: &str = "It's a Secret to Everybody";

fn github_signature(body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(GITHUB_SECRET.as_bytes()).expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POST `body` to `path` with `headers`: status and JSON.
fn deliver(server: &Server, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
    let mut request = agent().post(server.url(path));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let mut response = request.send(body).expect("answered");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn webhooks_verify_signatures_dedupe_deliveries_and_type_check_inputs() {
    let (_dir, home, workflows, alice) = setup("gh.yaml", GITHUB_HOOK);
    // A second workflow claiming the same path is told it does not get it.
    write(
        &workflows,
        "gh-copy.yaml",
        &GITHUB_HOOK.replace("name: gh", "name: gh-copy"),
    );
    let server = Server::start_with(&home, &workflows, &[], &[("GH_HOOK_SECRET", GITHUB_SECRET)]);
    let (_, copy) = call(
        "GET",
        &server.url("/v1/workflows/gh-copy"),
        Some(&alice),
        None,
    );
    assert!(
        copy["shadowed"]
            .as_str()
            .is_some_and(|s| s.contains("/hooks/github is served by workflow `gh`")),
        "{copy}"
    );
    let push = br#"{"after": "abc123", "ref": "refs/heads/main"}"#;
    let signed = |body: &[u8], delivery: &str| {
        vec![
            ("X-Hub-Signature-256", github_signature(body)),
            ("X-GitHub-Delivery", delivery.to_string()),
            ("Content-Type", "application/json".to_string()),
        ]
    };
    let (status, accepted) = deliver(&server, "/hooks/github", &signed(push, "d-1"), push);
    assert_eq!(status, 202, "{accepted}");
    let run = accepted["run_id"].as_str().expect("a run id").to_string();
    let finished = wait_for(&server, &alice, &run, "an end", ended);
    assert_eq!(
        finished["steps"][0]["output"], "abc123 via /hooks/github",
        "{finished}"
    );
    assert_eq!(finished["started_by"], "webhook:/hooks/github");

    // The same delivery again: the same run, nothing new.
    let (status, again) = deliver(&server, "/hooks/github", &signed(push, "d-1"), push);
    assert_eq!(
        (status, again["run_id"].as_str()),
        (200, Some(run.as_str())),
        "{again}"
    );

    let mut refused = Vec::new();
    // A tampered body, no signature, a GET: refused, nothing started.
    let mut tampered = signed(push, "d-2");
    tampered[0].1 = github_signature(b"something else");
    refused.push(deliver(&server, "/hooks/github", &tampered, push));
    refused.push(deliver(
        &server,
        "/hooks/github",
        &signed(push, "d-3")[1..],
        push,
    ));
    // GitHub's documented example verifies, but "Hello, World!" has no `after`.
    refused.push(deliver(
        &server,
        "/hooks/github",
        &signed(b"Hello, World!", "d-4"),
        b"Hello, World!",
    ));
    // The wrong type for `sha`, and a body over 1 MiB.
    let ill_typed = br#"{"after": 42}"#;
    refused.push(deliver(
        &server,
        "/hooks/github",
        &signed(ill_typed, "d-5"),
        ill_typed,
    ));
    let huge = vec![b' '; 2 << 20];
    refused.push(deliver(
        &server,
        "/hooks/github",
        &signed(&huge, "d-6"),
        &huge,
    ));
    refused.push(deliver(
        &server,
        "/hooks/nosuch",
        &signed(push, "d-7"),
        push,
    ));
    let got: Vec<(u16, Option<&str>)> = refused
        .iter()
        .map(|(status, body)| (*status, body["kind"].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (401, Some("unauthorized")),
            (401, Some("unauthorized")),
            (422, Some("invalid-input")),
            (422, Some("invalid-input")),
            (413, Some("too-large")),
            (404, Some("not-found")),
        ],
        "{refused:?}"
    );
    assert!(
        refused[3].1["message"]
            .as_str()
            .is_some_and(|m| m.contains("sha")),
        "{refused:?}"
    );
    let (_, listed) = call("GET", &server.url("/v1/runs"), Some(&alice), None);
    assert_eq!(
        listed["runs"].as_array().map(Vec::len),
        Some(1),
        "only the accepted delivery ran: {listed}"
    );
}

#[test]
fn a_standard_webhook_with_a_stale_timestamp_is_refused() {
    use base64::Engine as _;
    use hmac::Mac;
    let key = b"standard webhooks key";
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    let (_dir, home, workflows, _) = setup(
        "std.yaml",
        "name: std\ntriggers:\n  - webhook: /hooks/std\n    auth: { scheme: standard-webhooks, secret_env: STD_SECRET }\nsteps:\n  - { id: say, module: system, action: echo, inputs: { message: hi } }\n",
    );
    let server = Server::start_with(&home, &workflows, &[], &[("STD_SECRET", &secret)]);
    let body = br#"{"type":"ping"}"#;
    let sign = |timestamp: u64| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("key");
        mac.update(format!("msg_1.{timestamp}.").as_bytes());
        mac.update(body);
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        vec![
            ("webhook-id", "msg_1".to_string()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", format!("v1,{signature}")),
        ]
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let (status, error) = deliver(&server, "/hooks/std", &sign(now - 600), body);
    assert_eq!(
        (status, error["kind"].as_str()),
        (401, Some("unauthorized")),
        "{error}"
    );
    let (status, accepted) = deliver(&server, "/hooks/std", &sign(now), body);
    assert_eq!(status, 202, "{accepted}");
}

#[test]
fn the_example_folder_serves_a_schedule_and_a_webhook() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let alice = token(&home, "alice");
    let examples = repo().join("workflows");
    let server = Server::start_with(&home, &examples, &[], &[("GH_HOOK_SECRET", GITHUB_SECRET)]);
    let (status, listed) = call(
        "GET",
        &server.url("/v1/workflows/heartbeat"),
        Some(&alice),
        None,
    );
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        listed["triggers"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
    let (_, listed) = call(
        "GET",
        &server.url("/v1/workflows/on-push"),
        Some(&alice),
        None,
    );
    assert_eq!(listed["webhooks"][0]["path"], "/hooks/github", "{listed}");
    let push = br#"{"after": "0123abc", "ref": "refs/heads/release"}"#;
    let headers = [
        ("X-Hub-Signature-256", github_signature(push)),
        ("X-GitHub-Delivery", "example-1".to_string()),
    ];
    let (status, accepted) = deliver(&server, "/hooks/github", &headers, push);
    assert_eq!(status, 202, "{accepted}");
    let run = accepted["run_id"].as_str().expect("run id");
    let finished = wait_for(&server, &alice, run, "an end", ended);
    assert_eq!(
        finished["steps"][0]["output"],
        "push of 0123abc to refs/heads/release (webhook /hooks/github)",
        "{finished}"
    );
}

const LOAD_HOOK: &str = "name: load\ninputs:\n  n: { type: integer }\ntriggers:\n  - webhook: /hooks/load\n    auth: { scheme: bearer, secret_env: LOAD_SECRET }\n    dedupe: \"{{ body.n }}\"\n    inputs: { n: \"{{ body.n }}\" }\nsteps:\n  - { id: nap, module: system, action: sleep, inputs: { milliseconds: 300 }, onSuccess: say }\n  - { id: say, module: system, action: echo, inputs: { message: \"n={{ inputs.n }}\" } }\n";

/// Deliveries from 8 clients while the server is killed (kill -9) halfway
/// and started again: a client retries what got no answer (with the same
/// delivery id), and in the end every delivery has exactly one run, and
/// every run completed.
#[test]
fn webhook_load_survives_a_killed_server_without_losing_or_repeating_a_run() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, RwLock};
    const DELIVERIES: usize = 160;
    const CLIENTS: usize = 8;
    let (_dir, home, workflows, alice) = setup("load.yaml", LOAD_HOOK);
    let env = [("LOAD_SECRET", "load-secret")];
    let first = Server::start_with(&home, &workflows, &[], &env);
    let base = Arc::new(RwLock::new(first.base.clone()));
    let answered = Arc::new(AtomicUsize::new(0));
    let runs: Vec<(u64, String)> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let (base, answered) = (Arc::clone(&base), Arc::clone(&answered));
                scope.spawn(move || {
                    let agent = agent();
                    let mut runs = Vec::new();
                    for n in (client..DELIVERIES).step_by(CLIENTS) {
                        let started = Instant::now();
                        let run = loop {
                            let url = format!("{}/hooks/load", base.read().expect("base").clone());
                            let sent = agent
                                .post(&url)
                                .header("Authorization", "Bearer load-secret")
                                .send_json(json!({ "n": n }));
                            // No answer (the server is down): try again.
                            if let Ok(mut response) = sent {
                                let status = response.status().as_u16();
                                let body: Value = response.body_mut().read_json().expect("JSON");
                                assert!(
                                    matches!(status, 200 | 202),
                                    "delivery {n}: {status} {body}"
                                );
                                break body["run_id"].as_str().expect("run id").to_string();
                            }
                            assert!(
                                started.elapsed() < Duration::from_secs(60),
                                "delivery {n} never accepted"
                            );
                            std::thread::sleep(Duration::from_millis(50));
                        };
                        answered.fetch_add(1, Ordering::SeqCst);
                        runs.push((n as u64, run));
                    }
                    runs
                })
            })
            .collect();
        // Halfway, kill the server and start another on the same home.
        let started = Instant::now();
        while answered.load(Ordering::SeqCst) < DELIVERIES / 2 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "half the deliveries never answered"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        first.kill();
        let second = Server::start_with(&home, &workflows, &[], &env);
        let adopted = second
            .banner
            .iter()
            .filter(|l| l.contains("adopted run"))
            .count();
        assert!(
            adopted > 0,
            "the kill left runs in flight: {:?}",
            second.banner
        );
        *base.write().expect("base") = second.base.clone();
        let runs: Vec<(u64, String)> = clients
            .into_iter()
            .flat_map(|client| client.join().expect("client"))
            .collect();
        // Every run completes, the adopted ones included.
        let listed = eventually(
            "every run ended",
            || {
                call(
                    "GET",
                    &second.url("/v1/runs?limit=1000"),
                    Some(&alice),
                    None,
                )
                .1
            },
            |listed| {
                listed["runs"]
                    .as_array()
                    .is_some_and(|runs| runs.len() >= DELIVERIES && runs.iter().all(ended))
            },
        );
        let all = listed["runs"].as_array().expect("runs");
        assert_eq!(all.len(), DELIVERIES, "one run per delivery, none repeated");
        assert!(
            all.iter().all(|run| run["status"] == "succeeded"),
            "{listed}"
        );
        drop(second);
        runs
    });
    let ids: std::collections::HashSet<&str> = runs.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids.len(), DELIVERIES, "each delivery its own run");
    // Each run echoed its own delivery.
    let db = rusqlite::Connection::open(home.join("wfhost.db")).expect("open");
    for (n, run) in &runs {
        let output: String = db
            .query_row(
                "SELECT output FROM steps WHERE run_id = ?1 AND step = 'say'",
                [run],
                |row| row.get(0),
            )
            .expect("the step is recorded");
        assert_eq!(output, format!("\"n={n}\""), "run {run}");
    }
}

#[test]
fn modules_are_listed_with_their_actions_and_asks() {
    let (_dir, home, workflows, alice) = setup("hello.yaml", HELLO);
    let server = Server::start(&home, &workflows, &[]);
    let (status, body) = call("GET", &server.url("/v1/modules"), Some(&alice), None);
    assert_eq!(status, 200, "{body}");
    let modules = body["modules"].as_array().expect("modules");
    let named = |name: &str| {
        modules
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no module {name}: {body}"))
    };
    let system = named("system");
    assert!(
        system["actions"].as_array().is_some_and(|a| a
            .iter()
            .any(|a| a["name"] == "echo" && a["signature"].is_string())),
        "{system}"
    );
    let testing = named("testing");
    assert!(testing["asks"].to_string().contains("run"), "{testing}");
}

#[test]
fn schedules_are_listed_paused_triggered_and_resumed_over_http() {
    let (_dir, home, workflows, alice) = setup(
        "every.yaml",
        "name: every\ntriggers:\n  - { cron: \"* * * * * *\", overlap: allow }\nsteps:\n  - { id: say, module: system, action: echo, inputs: { message: \"{{ trigger.by }}\" } }\n",
    );
    let server = Server::start(&home, &workflows, &[]);
    let schedule = |path: &str| {
        call(
            "POST",
            &server.url(&format!("/v1/schedules/every/1/{path}")),
            Some(&alice),
            None,
        )
    };
    let (status, body) = schedule("pause");
    assert_eq!(
        (status, body["paused"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    ticks_until(&home, "a paused tick", |t| {
        t.iter().any(|t| t.1 == "paused")
    });
    let (_, listed) = call("GET", &server.url("/v1/schedules"), Some(&alice), None);
    assert_eq!(listed["schedules"][0]["id"], "every/1", "{listed}");
    assert_eq!(listed["schedules"][0]["paused"], true, "{listed}");
    // Paused, it starts nothing by itself; triggered, it starts one run now.
    let (status, started) = schedule("trigger");
    assert_eq!(status, 202, "{started}");
    let run = started["run_id"].as_str().expect("run id");
    let finished = wait_for(&server, &alice, run, "an end", ended);
    assert_eq!(finished["started_by"], "api:alice", "{finished}");
    assert_eq!(finished["steps"][0]["output"], "alice", "{finished}");
    let (status, _) = schedule("resume");
    assert_eq!(status, 200);
    let ticks = ticks_until(&home, "a tick started after resuming", |t| {
        t.last().is_some_and(|t| t.1 == "started")
    });
    assert!(
        ticks
            .iter()
            .all(|t| t.1 != "started" || t.2.as_deref() != Some(run))
    );
    let (status, error) = call(
        "POST",
        &server.url("/v1/schedules/every/x/pause"),
        Some(&alice),
        None,
    );
    assert_eq!(
        (status, error["kind"].as_str()),
        (400, Some("bad-request")),
        "{error}"
    );
    let (status, _) = call(
        "POST",
        &server.url("/v1/schedules/every/2/pause"),
        Some(&alice),
        None,
    );
    assert_eq!(status, 404);
}

/// (created, first step started, ended) of every run, from the journal.
fn run_spans(home: &Path) -> Vec<(f64, f64, f64)> {
    let db = rusqlite::Connection::open(home.join("wfhost.db")).expect("open");
    let mut query = db
        .prepare(
            "SELECT r.created_at,
                    (SELECT min(at) FROM events WHERE run_id = r.id AND kind = 'step_started'),
                    (SELECT max(at) FROM events WHERE run_id = r.id AND kind = 'run_finished')
             FROM runs r ORDER BY r.created_at, r.rowid",
        )
        .expect("query");
    query
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .expect("spans")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn a_concurrency_limit_holds_across_runs_and_queues_them_in_order() {
    const RUNS: usize = 50;
    let (_dir, home, workflows, alice) = setup(
        "deploy.yaml",
        "name: deploy\ninputs:\n  env: { type: string }\nconcurrency: { key: \"deploy-{{ inputs.env }}\", limit: 2 }\nsteps:\n  - { id: work, module: system, action: sleep, inputs: { milliseconds: 80 } }\n",
    );
    let server = Server::start(&home, &workflows, &[]);
    let (ids, queued) = start_many(
        &server,
        &alice,
        RUNS,
        &json!({ "workflow": "deploy", "inputs": { "env": "prod" } }),
    );
    assert!(
        queued >= RUNS - 2,
        "runs beyond the limit are queued: {queued}"
    );
    // A run of another key is not held back.
    let other = start(&server, &alice, "deploy", &json!({ "env": "staging" }));
    let other = wait_for(&server, &alice, &other, "an end", ended);
    assert_eq!(other["status"], "succeeded");
    for id in &ids {
        let run = wait_for(&server, &alice, id, "an end", ended);
        assert_eq!(run["status"], "succeeded", "{run}");
    }
    let spans: Vec<(f64, f64, f64)> = run_spans(&home).into_iter().take(RUNS).collect();
    // Never more than two running at once, from the journal.
    assert_eq!(most_at_once(&spans), Some(2), "{spans:?}");
    // First in, first admitted: two runs admitted together (when both
    // slots free) start their steps in either order, but a run never
    // starts before one queued two places ahead of it.
    let starts: Vec<f64> = spans.iter().map(|(_, started, _)| *started).collect();
    assert!(starts.windows(3).all(|w| w[0] <= w[2]), "FIFO: {spans:?}");
}

/// Start `count` runs with `body`: their ids, and how many were queued.
fn start_many(server: &Server, token: &str, count: usize, body: &Value) -> (Vec<String>, usize) {
    let mut queued = 0;
    let ids = (0..count)
        .map(|_| {
            let (status, answer) = call("POST", &server.url("/v1/runs"), Some(token), Some(body));
            assert_eq!(status, 202, "{answer}");
            queued += usize::from(answer["queued"] == true);
            answer["run_id"].as_str().expect("run id").to_string()
        })
        .collect();
    (ids, queued)
}

/// The most runs of `spans` running at one moment, from the journal.
fn most_at_once(spans: &[(f64, f64, f64)]) -> Option<i32> {
    let mut moments: Vec<(f64, i32)> = spans
        .iter()
        .flat_map(|(_, started, ended)| [(*started, 1), (*ended, -1)])
        .collect();
    moments.sort_by(|a, b| a.partial_cmp(b).expect("times"));
    moments
        .iter()
        .scan(0, |running, (_, change)| {
            *running += change;
            Some(*running)
        })
        .max()
}

#[test]
fn a_server_drives_at_most_max_runs_and_queues_the_rest_in_order() {
    const RUNS: usize = 6;
    let (_dir, home, workflows, alice) = setup(
        "nap.yaml",
        "name: nap\nsteps:\n  - { id: work, module: system, action: sleep, inputs: { milliseconds: 200 } }\n",
    );
    let server = Server::start(&home, &workflows, &["--max-runs", "2"]);
    let (ids, queued) = start_many(&server, &alice, RUNS, &json!({ "workflow": "nap" }));
    assert!(
        queued >= RUNS - 2,
        "runs beyond --max-runs are queued: {queued}"
    );
    for id in &ids {
        let run = wait_for(&server, &alice, id, "an end", ended);
        assert_eq!(run["status"], "succeeded", "{run}");
    }
    let spans = run_spans(&home);
    assert_eq!(most_at_once(&spans), Some(2), "{spans:?}");
}

#[test]
fn wfhost_run_waits_for_a_slot_held_by_another_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let file = write(
        dir.path(),
        "limited.yaml",
        "name: limited\nconcurrency: { key: only-one, limit: 1 }\nsteps:\n  - { id: work, module: system, action: sleep, inputs: { milliseconds: 2500 } }\n",
    );
    let file = file.to_str().expect("UTF-8");
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_wfhost"))
            .args(["run", file])
            .current_dir(repo())
            .env("WFHOST_HOME", &home)
            .env("WFHOST_CACHE_DIR", shared_cache())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wfhost run starts")
    };
    let first = spawn();
    let running = |status: &str| {
        let listed = wfhost(&home, &["list"]);
        listed.stdout.lines().filter(|l| l.contains(status)).count()
    };
    eventually("the first run running", || running("running"), |n| *n == 1);
    let second = spawn();
    let shown = eventually(
        "the second run queued",
        || wfhost(&home, &["list"]).stdout,
        |list| list.contains("queued (only-one held by"),
    );
    assert!(shown.contains("queued"), "{shown}");
    // A queued run has not started: nothing to resume.
    let listed: Value =
        serde_json::from_str(&wfhost(&home, &["list", "--json", "--status", "queued"]).stdout)
            .expect("JSON");
    let queued = listed[0]["id"].as_str().expect("a queued run");
    let resumed = wfhost(&home, &["resume", queued]);
    assert_eq!(resumed.code, 2, "{}", resumed.render());
    assert!(
        resumed.stderr.contains("has not started"),
        "{}",
        resumed.render()
    );
    let first = first.wait_with_output().expect("first ends");
    let second = second.wait_with_output().expect("second ends");
    assert!(first.status.success() && second.status.success());
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(said.contains("is queued: `only-one` is held by"), "{said}");
    let spans = run_spans(&home);
    assert_eq!(spans.len(), 2);
    assert!(
        spans[1].1 >= spans[0].2,
        "the second started after the first ended: {spans:?}"
    );
}

/// A step that fails twice (a retry), then a handler: the run succeeds.
const COUNTED: &str = r#"
name: counted
steps:
  - id: flaky
    module: system
    action: fail
    inputs: { code: down, message: "not yet", retryable: true }
    retry: { max_attempts: 2, initial: 10ms }
    onFailure: note
  - { id: note, module: system, action: echo, inputs: { message: handled } }
"#;

/// One sample of `scrape`, by name and labels.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => f64::NAN,
        })
}

#[test]
fn metrics_count_what_the_journal_holds_and_parse_as_prometheus_text() {
    let (_dir, home, workflows, alice) = setup("counted.yaml", COUNTED);
    write(&workflows, "hello.yaml", HELLO);
    let server = Server::start(&home, &workflows, &[]);
    let runs: Vec<String> = ["counted", "counted", "hello"]
        .iter()
        .map(|workflow| start(&server, &alice, workflow, &json!({})))
        .collect();
    for id in &runs {
        let run = wait_for(&server, &alice, id, "an end", ended);
        assert_eq!(run["status"], "succeeded", "{run}");
    }
    let (status, _) = call("POST", &server.url("/hooks/nobody"), None, Some(&json!({})));
    assert_eq!(status, 404);
    let (status, _) = call("GET", &server.url("/metrics"), None, None);
    assert_eq!(status, 401, "metrics are read with a token");
    let (status, text) = call("GET", &server.url("/metrics"), Some(&alice), None);
    assert_eq!(status, 200, "{text}");
    let text = text.as_str().expect("text").to_string();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text");
    // What the journal holds: failed attempts of the flaky step.
    let failed_attempts: usize = runs
        .iter()
        .map(|id| {
            let logs = wfhost(&home, &["logs", id, "--json"]);
            logs.stdout
                .lines()
                .filter(|line| line.contains(r#""event":"step_failed""#))
                .count()
        })
        .sum();
    assert_eq!(failed_attempts, 4);
    let fail = [("module", "system"), ("action", "fail")];
    let counts = (
        sample(
            &scrape,
            "wfhost_runs_started_total",
            &[("workflow", "counted")],
        ),
        sample(
            &scrape,
            "wfhost_runs_started_total",
            &[("workflow", "hello")],
        ),
        sample(
            &scrape,
            "wfhost_runs_ended_total",
            &[("workflow", "counted"), ("status", "succeeded")],
        ),
        sample(
            &scrape,
            "wfhost_step_failures_total",
            &[("module", "system"), ("action", "fail"), ("kind", "error")],
        ),
        sample(&scrape, "wfhost_step_duration_seconds_count", &fail)
            .or_else(|| sample(&scrape, "wfhost_step_duration_seconds", &fail)),
        sample(
            &scrape,
            "wfhost_webhook_rejections_total",
            &[("reason", "not-found")],
        ),
        sample(&scrape, "wfhost_runs_waiting", &[]),
        sample(&scrape, "wfhost_runs_queued", &[]),
    );
    assert_eq!(
        counts,
        (
            Some(2.0),
            Some(1.0),
            Some(2.0),
            Some(failed_attempts as f64),
            Some(failed_attempts as f64),
            Some(1.0),
            Some(0.0),
            Some(0.0)
        ),
        "{text}"
    );
}

#[test]
fn a_collector_that_is_down_leaves_runs_alone_and_the_failed_sends_are_counted() {
    let (_dir, home, workflows, alice) = setup("hello.yaml", HELLO);
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    let server = Server::start(&home, &workflows, &["--otlp", &down]);
    let id = start(&server, &alice, "hello", &json!({}));
    let run = wait_for(&server, &alice, &id, "an end", ended);
    assert_eq!(run["status"], "succeeded", "{run}");
    let failed = until("a failed send is counted", || {
        let (_, text) = call("GET", &server.url("/metrics"), Some(&alice), None);
        let text = text.as_str().unwrap_or_default().to_string();
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .expect("Prometheus text");
        sample(
            &scrape,
            "wfhost_trace_exports_total",
            &[("result", "failed")],
        )
        .filter(|n| *n >= 1.0)
    });
    assert!(failed >= 1.0);
}

#[test]
fn metrics_pushed_over_otlp_are_the_ones_scraped() {
    let (_dir, home, workflows, alice) = setup("counted.yaml", COUNTED);
    write(&workflows, "hello.yaml", HELLO);
    let collector = crate::collector::Collector::start();
    let server = Server::start_with(
        &home,
        &workflows,
        &["--otlp", &collector.url],
        &[("OTEL_METRIC_EXPORT_INTERVAL", "200")],
    );
    let pushing = format!("pushing metrics to {}/v1/metrics", collector.url);
    assert!(
        server.banner.iter().any(|line| line.contains(&pushing)),
        "{:?}",
        server.banner
    );
    for workflow in ["counted", "counted", "hello"] {
        let id = start(&server, &alice, workflow, &json!({}));
        wait_for(&server, &alice, &id, "an end", ended);
    }
    let (_, text) = call("GET", &server.url("/metrics"), Some(&alice), None);
    let text = text.as_str().expect("text").to_string();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text");
    // (name pushed, name scraped, labels)
    type Labels<'a> = &'a [(&'a str, &'a str)];
    let fail = [("module", "system"), ("action", "fail")];
    let pairs: [(&str, &str, Labels<'_>); 6] = [
        (
            "wfhost_runs_started",
            "wfhost_runs_started_total",
            &[("workflow", "counted")],
        ),
        (
            "wfhost_runs_started",
            "wfhost_runs_started_total",
            &[("workflow", "hello")],
        ),
        (
            "wfhost_runs_ended",
            "wfhost_runs_ended_total",
            &[("workflow", "counted"), ("status", "succeeded")],
        ),
        (
            "wfhost_step_failures",
            "wfhost_step_failures_total",
            &[("module", "system"), ("action", "fail"), ("kind", "error")],
        ),
        (
            "wfhost_step_duration_seconds",
            "wfhost_step_duration_seconds_count",
            &fail,
        ),
        ("wfhost_runs_waiting", "wfhost_runs_waiting", &[]),
    ];
    for (pushed, scraped, labels) in pairs {
        let want = sample(&scrape, scraped, labels)
            .or_else(|| sample(&scrape, pushed, labels))
            .unwrap_or_else(|| panic!("{scraped} {labels:?} in {text}"));
        let got = until(&format!("{pushed} {labels:?} is pushed as {want}"), || {
            collector
                .metric(pushed, labels)
                .filter(|got| (got - want).abs() < f64::EPSILON)
        });
        assert_eq!(got, want);
    }
    assert_eq!(
        collector.metric("wfhost_runs_started", &[("workflow", "counted")]),
        Some(2.0)
    );
}

#[test]
fn a_traceparent_on_the_api_or_a_webhook_makes_the_run_part_of_that_trace() {
    let (_dir, home, workflows, alice) = setup("hello.yaml", HELLO);
    write(
        &workflows,
        "hooked.yaml",
        "name: hooked\ntriggers:\n  - webhook: /hooks/traced\n    auth: { scheme: bearer, secret_env: TRACED_SECRET }\nsteps:\n  - { id: say, module: system, action: echo, inputs: { message: hi } }\n",
    );
    let collector = crate::collector::Collector::start();
    let server = Server::start_with(
        &home,
        &workflows,
        &[],
        &[
            ("TRACED_SECRET", "s3cret"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.url),
        ],
    );
    assert!(
        server.banner.iter().any(|line| line.contains(&format!(
            "sending runs' traces to {}/v1/traces",
            collector.url
        ))),
        "{:?}",
        server.banner
    );
    let traced = |url: &str, auth: &str, trace: &str, body: Value| -> String {
        let mut response = agent()
            .post(&server.url(url))
            .header("Authorization", auth)
            .header("traceparent", &format!("00-{trace}-b7ad6b7169203331-01"))
            .send_json(body)
            .expect("the server answers");
        assert_eq!(response.status().as_u16(), 202);
        let body: Value = response.body_mut().read_json().expect("JSON");
        body["run_id"].as_str().expect("a run id").to_string()
    };
    for (id, trace) in [
        (
            traced(
                "/v1/runs",
                &format!("Bearer {alice}"),
                "0af7651916cd43dd8448eb211c80319c",
                json!({ "workflow": "hello" }),
            ),
            "0af7651916cd43dd8448eb211c80319c",
        ),
        (
            traced(
                "/hooks/traced",
                "Bearer s3cret",
                "1bf7651916cd43dd8448eb211c80319d",
                json!({}),
            ),
            "1bf7651916cd43dd8448eb211c80319d",
        ),
    ] {
        let run = wait_for(&server, &alice, &id, "an end", ended);
        assert_eq!(run["trace_id"], trace, "{run}");
        // Its trace went to the collector, its root a child of the caller's span.
        let spans = collector.wait_for(trace, 2);
        assert_eq!(spans.len(), 2, "{spans:#?}");
        let root = spans
            .iter()
            .find(|s| s.span.name.starts_with("RUN "))
            .expect("the run's span");
        assert_eq!(root.parent_id(), "b7ad6b7169203331");
        // SERVER, with a remote parent (OTLP span flags 0x100 | 0x200).
        assert_eq!(root.span.kind, 2);
        assert_eq!(root.span.flags & 0x300, 0x300, "{root:#?}");
    }
    let (_, text) = call("GET", &server.url("/metrics"), Some(&alice), None);
    let text = text.as_str().expect("text").to_string();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text");
    assert_eq!(
        sample(&scrape, "wfhost_trace_exports_total", &[("result", "sent")]),
        Some(2.0),
        "{text}"
    );
}
