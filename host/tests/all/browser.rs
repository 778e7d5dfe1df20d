//! The dashboard in a real browser: Debian's headless Chromium driven
//! through chromedriver (WebDriver, `fantoccini`), against `wfhost serve` on
//! 127.0.0.1. Each test writes a screenshot of every page it checks to
//! `target/dashboard-screenshots/` when a check fails (and the run page's
//! always: the README shows it). `.ci/toolchains` installs `chromium` and
//! `chromium-driver`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::common::{repo, wfhost, write};
use crate::dashboard::GATE;
use crate::serve::{Server, call, eventually, setup, start};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A headless Chromium behind its chromedriver, with a profile of its own.
struct Browser {
    driver: Child,
    client: Client,
    _profile: tempfile::TempDir,
    /// Where screenshots go, named by the test.
    shots: PathBuf,
    test: &'static str,
}

impl Browser {
    async fn start(test: &'static str) -> Self {
        assert!(
            Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
            "the browser tests need Debian's chromium and chromium-driver: `bash .ci/toolchains` installs them"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("a profile folder");
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1300,1400",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object")
        };
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(error) if started.elapsed() < Duration::from_secs(20) => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("chromedriver on port {port} took no session: {error}"),
            }
        };
        let shots = repo().join("target/dashboard-screenshots");
        std::fs::create_dir_all(&shots).expect("the screenshots folder");
        Self {
            driver,
            client,
            _profile: profile,
            shots,
            test,
        }
    }

    /// Save what the browser shows as `<test>-<name>.png`.
    async fn screenshot(&self, name: &str) -> PathBuf {
        let path = self.shots.join(format!("{}-{name}.png", self.test));
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(&path, png);
        }
        path
    }

    /// Fail with a screenshot when `holds` is false.
    async fn check(&self, holds: bool, what: &str) {
        if !holds {
            let shot = self.screenshot("failure").await;
            panic!("{what} (screenshot: {})", shot.display());
        }
    }

    /// Wait up to 15 s for `read` to give something `done` accepts; the
    /// last reading (a screenshot and a failure when none did).
    async fn until<T: std::fmt::Debug>(
        &self,
        what: &str,
        mut read: impl AsyncFnMut(&Client) -> T,
        done: impl Fn(&T) -> bool,
    ) -> T {
        let started = Instant::now();
        loop {
            let value = read(&self.client).await;
            if done(&value) {
                return value;
            }
            if started.elapsed() > Duration::from_secs(15) {
                self.check(false, &format!("{what}: last saw {value:?}"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(css)).await.ok()?;
        element.attr(name).await.ok().flatten()
    }

    /// How many elements `css` selects.
    async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map_or(0, |found| found.len())
    }

    async fn text(&self, css: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(css)).await.ok()?;
        element.text().await.ok()
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

async fn state_of(client: &Client, step: &str) -> Option<String> {
    let css = format!("g.node[data-step=\"{step}\"]");
    client
        .find(Locator::Css(&css))
        .await
        .ok()?
        .attr("data-state")
        .await
        .ok()
        .flatten()
}

/// Sign in through the login page the dashboard redirects to.
async fn sign_in(browser: &Browser, server: &Server, token: &str, page: &str) {
    browser
        .client
        .goto(&server.url(page))
        .await
        .expect("the page opens");
    let url = browser.client.current_url().await.expect("a url");
    browser
        .check(
            url.path() == "/ui/login",
            &format!("sent to sign in, not {url}"),
        )
        .await;
    let field = browser
        .client
        .find(Locator::Id("token"))
        .await
        .expect("a token field");
    field.send_keys(token).await.expect("typed");
    let form = browser
        .client
        .form(Locator::Css("form[action='/ui/login']"))
        .await
        .expect("the form");
    form.submit().await.expect("signed in");
    browser
        .until(
            &format!("back on {page} after signing in"),
            async |c| c.current_url().await.map(|u| u.path().to_string()).ok(),
            |path| path.as_deref() == Some(page),
        )
        .await;
}

#[test]
fn a_waiting_run_is_answered_from_its_page_and_turns_green_without_a_reload() {
    let (_dir, home, workflows, alice) = setup("gate.yaml", GATE);
    let server = Server::start(&home, &workflows, &[]);
    let run = start(&server, &alice, "gate", &json!({}));
    eventually(
        "the run waits",
        || {
            call(
                "GET",
                &server.url(&format!("/v1/runs/{run}")),
                Some(&alice),
                None,
            )
            .1
        },
        |body| body["status"] == "waiting",
    );
    tokio().block_on(async {
        let browser = Browser::start("wait").await;
        let page = format!("/runs/{run}");
        sign_in(&browser, &server, &alice, &page).await;
        browser
            .until(
                "the wait is shown",
                async |c| state_of(c, "approve").await,
                |s| s.as_deref() == Some("waiting"),
            )
            .await;
        browser
            .check(
                browser.text("#run-status").await.as_deref() == Some("waiting"),
                "the run's status says waiting",
            )
            .await;
        // A marker a reload would lose.
        browser
            .client
            .execute("window.wfhostMarker = 42; return 1;", vec![])
            .await
            .expect("script runs");

        // Ill-typed: 300 is no u8. The error shows in place.
        let approved = browser
            .client
            .find(Locator::Css("input[name='field.approved']"))
            .await
            .expect("a checkbox");
        approved.click().await.expect("ticked");
        let count = browser
            .client
            .find(Locator::Css("input[name='field.count']"))
            .await
            .expect("a count");
        count.send_keys("300").await.expect("typed");
        let send = browser
            .client
            .find(Locator::Css("form.signal button[type=submit]"))
            .await
            .expect("a button");
        send.click().await.expect("sent");
        let error = browser
            .until(
                "the type error is shown",
                async |c| {
                    let element = c.find(Locator::Css("form.signal .form-error")).await.ok()?;
                    let hidden = element.attr("hidden").await.ok().flatten();
                    let text = element.text().await.ok()?;
                    hidden.is_none().then_some(text)
                },
                |text| text.as_ref().is_some_and(|t| !t.is_empty()),
            )
            .await
            .unwrap_or_default();
        browser
            .check(
                error.contains("count"),
                &format!("the error names the field: {error}"),
            )
            .await;
        browser
            .check(
                state_of(&browser.client, "approve").await.as_deref() == Some("waiting"),
                "still waiting",
            )
            .await;

        // Well-typed: the run goes on, and the page follows it live.
        count.clear().await.expect("cleared");
        count.send_keys("3").await.expect("typed");
        send.click().await.expect("sent");
        for step in ["approve", "ship"] {
            browser
                .until(
                    &format!("{step} turns green"),
                    async |c| state_of(c, step).await,
                    |s| s.as_deref() == Some("succeeded"),
                )
                .await;
        }
        browser
            .until(
                "the run's status says succeeded",
                async |_| browser.text("#run-status").await,
                |s| s.as_deref() == Some("succeeded"),
            )
            .await;
        let marker = browser
            .client
            .execute("return window.wfhostMarker || null;", vec![])
            .await
            .expect("script runs");
        browser
            .check(marker == json!(42), "the page was not reloaded")
            .await;
        let row = browser
            .attribute("tr[data-step='ship'] [data-status]", "class")
            .await
            .unwrap_or_default();
        browser
            .check(
                row.contains("s-succeeded"),
                &format!("the steps table follows: {row}"),
            )
            .await;
        browser.screenshot("run-page").await;
        // A node opens its step, from the keyboard too.
        let node = browser
            .client
            .find(Locator::Css("g.node[data-step='ship']"))
            .await
            .expect("a node");
        node.send_keys("\u{E007}").await.expect("Enter pressed");
        let heading = browser
            .until(
                "the step's page opens",
                async |_| browser.text("main h1").await,
                |h| h.as_deref().is_some_and(|h| h.starts_with("Step ship")),
            )
            .await;
        browser.check(heading.is_some(), "a step page").await;
        browser.close().await;
    });
}

#[test]
fn a_two_thousand_step_run_renders_grouped_and_the_other_pages_open() {
    let (dir, home, workflows, alice) = setup("gate.yaml", GATE);
    let mut text = String::from("name: big\nsteps:\n");
    for i in 0..2000 {
        let next = if i < 1999 {
            format!(", onSuccess: s{}", i + 1)
        } else {
            String::new()
        };
        text.push_str(&format!(
            "  - {{ id: s{i}, module: system, action: echo, inputs: {{ message: \"step {i}\" }}{next} }}\n"
        ));
    }
    let file = write(dir.path(), "big.yaml", &text);
    let ran = wfhost(&home, &["run", file.to_str().expect("utf-8"), "--json"]);
    assert_eq!(ran.code, 0, "{}", ran.render());
    let run = ran
        .stdout
        .lines()
        .find_map(|line| {
            serde_json::from_str::<Value>(line)
                .ok()
                .filter(|e| e["event"] == "run_started")
        })
        .and_then(|e| e["run_id"].as_str().map(str::to_string))
        .expect("the run's id");
    let server = Server::start(&home, &workflows, &[]);
    tokio().block_on(async {
        let browser = Browser::start("big").await;
        sign_in(&browser, &server, &alice, "/").await;
        // How fast it renders is measured by `cargo bench --bench dashboard`.
        browser
            .client
            .goto(&server.url(&format!("/runs/{run}")))
            .await
            .expect("the page opens");
        let rows = browser.count("table.steps tbody tr").await;
        browser
            .check(rows == 300, &format!("300 rows, not {rows}"))
            .await;
        let grouped = browser.text(".grouped summary").await.unwrap_or_default();
        browser
            .check(
                grouped.contains("2000 steps"),
                &format!("grouped instead of drawn: {grouped}"),
            )
            .await;
        let bars = browser.count(".timeline .bar").await;
        browser
            .check(bars == 2000, &format!("a bar per attempt: {bars}"))
            .await;

        let all = browser
            .client
            .find(Locator::Css("a[href$='?steps=all']"))
            .await
            .expect("a link to every row");
        all.click().await.expect("followed");
        let rows = browser.count("table.steps tbody tr").await;
        browser
            .check(rows == 2000, &format!("all 2,000 rows, not {rows}"))
            .await;

        // The other pages, by keyboard-reachable links.
        for (link, heading) in [
            ("Workflows", "Workflows"),
            ("Modules", "Modules"),
            ("Runs", "Runs"),
        ] {
            let anchor = browser
                .client
                .find(Locator::LinkText(link))
                .await
                .expect("a nav link");
            anchor.click().await.expect("followed");
            let shown = browser.text("main h1").await.unwrap_or_default();
            browser
                .check(
                    shown == heading,
                    &format!("{link} opens {heading}, not {shown}"),
                )
                .await;
            browser.screenshot(&heading.to_lowercase()).await;
        }
        browser.close().await;
    });
}
