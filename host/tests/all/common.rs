//! Shared helpers: fixture paths, a runtime, loading guests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use wfhost::sandbox::{CallReport, Limits, Module, Runtime};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// The path of a fixture under `tests/fixtures/`, as a module reference.
pub fn fixture(relative: &str) -> String {
    let path = repo().join("tests").join("fixtures").join(relative);
    path.to_str().expect("UTF-8 repository path").to_string()
}

/// A test guest built by `build.rs`, e.g. `kitchen-sink`, as a module reference.
pub fn guest(stem: &str) -> String {
    format!("{}/{stem}.wasm", env!("WFHOST_GUEST_DIR"))
}

/// The artifact cache every test shares: each component is compiled once
/// per build of the tests, not once per test (every load still checks the
/// artifact against its record).
pub fn shared_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("wfhost-test-cache")
}

/// A runtime on the shared artifact cache.
pub fn runtime() -> Runtime {
    Runtime::new(Some(&shared_cache())).expect("the runtime starts")
}

/// Load a module reference: a bundled name or a component path (`.wasm`, `.wat`).
pub fn load(runtime: &Runtime, reference: &str) -> Module {
    let source =
        wfhost::module_source::resolve(reference, Path::new(".")).expect("the module resolves");
    runtime
        .load(&source.name, &source.bytes, &source.wit)
        .expect("the fixture loads")
}

/// Call and unwrap the "could not start" layer.
pub async fn call(module: &Module, action: &str, input: Value, limits: Limits) -> CallReport {
    module
        .call(action, &input, &limits)
        .await
        .expect("the call starts")
}

/// The result of one run of the binary, rendered for snapshots.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn render(&self) -> String {
        format!(
            "exit: {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Run `wfhost` with `args` in the repository root, with a private home.
pub fn wfhost(home: &Path, args: &[&str]) -> Run {
    wfhost_with(home, args, &[])
}

/// [`wfhost`] with extra environment variables (`WFHOST_CACHE_DIR` among
/// them replaces the shared artifact cache).
pub fn wfhost_with(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = wfhost_command(home, args);
    command
        .env("WFHOST_CACHE_DIR", shared_cache())
        .envs(env.iter().copied());
    finish(command)
}

/// [`wfhost`] with the artifact cache in the home, as users have it.
pub fn wfhost_without_shared_cache(home: &Path, args: &[&str]) -> Run {
    let mut command = wfhost_command(home, args);
    command.env_remove("WFHOST_CACHE_DIR");
    finish(command)
}

fn wfhost_command(home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wfhost"));
    command
        .args(args)
        .current_dir(repo())
        .env("WFHOST_HOME", home)
        .env_remove("WFHOST_LOG");
    use_store_of(&mut command, home);
    command
}

/// Give `command` the store `home` keeps its runs in.
pub fn use_store_of(command: &mut Command, home: &Path) {
    match std::fs::read_to_string(home.join(DB_MARKER)) {
        Ok(url) => command.env("WFHOST_DB", url),
        Err(_) => command.env_remove("WFHOST_DB"),
    };
}

/// `dir/home`, keeping its runs in the PostgreSQL database `url` names.
pub fn home_on(dir: &Path, url: &str) -> PathBuf {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("the home");
    std::fs::write(home.join(DB_MARKER), url).expect("the home's database");
    home
}

/// `dir/name`, a home of its own that keeps its runs where `home` does
/// (another machine's home sharing one PostgreSQL database).
pub fn home_sharing_store(home: &Path, dir: &Path, name: &str) -> PathBuf {
    let other = dir.join(name);
    std::fs::create_dir_all(&other).expect("the home");
    if let Ok(url) = std::fs::read_to_string(home.join(DB_MARKER)) {
        std::fs::write(other.join(DB_MARKER), url).expect("the home's database");
    }
    other
}

/// The file in a test's home naming the PostgreSQL schema its runs are
/// kept in (given to `wfhost` as `WFHOST_DB`); a home without it keeps
/// them in its SQLite file.
const DB_MARKER: &str = ".test-db";

/// Where a test's home keeps its runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// A fresh schema of the private test server.
    Postgres,
}

impl Backend {
    /// `dir/home`, keeping its runs on this backend.
    pub fn home(self, dir: &Path) -> PathBuf {
        match self {
            Self::Sqlite => {
                let home = dir.join("home");
                std::fs::create_dir_all(&home).expect("the home");
                home
            }
            Self::Postgres => home_on(dir, &crate::test_server::database()),
        }
    }

    /// Field `name` of the JSON text in `column`, as text, in this
    /// backend's dialect.
    pub fn json_field(self, column: &str, name: &str) -> String {
        match self {
            Self::Sqlite => format!("CAST(json_extract({column}, '$.{name}') AS TEXT)"),
            Self::Postgres => format!("({column}::jsonb ->> '{name}')"),
        }
    }

    /// The backend `home` keeps its runs on.
    pub fn of(home: &Path) -> Self {
        if home.join(DB_MARKER).exists() {
            Self::Postgres
        } else {
            Self::Sqlite
        }
    }
}

/// The rows `sql` selects from the store of `home`, each column as text
/// (NULL as empty); `?1`, `?2`, … stand for `params`, quoted.
pub fn stored(home: &Path, sql: &str, params: &[&str]) -> Vec<Vec<String>> {
    try_stored(home, sql, params).unwrap_or_else(|error| panic!("{sql}: {error}"))
}

/// [`stored`], or why the query failed (no tables before the first run).
pub fn try_stored(home: &Path, sql: &str, params: &[&str]) -> Result<Vec<Vec<String>>, String> {
    let mut sql = sql.to_string();
    for (index, param) in params.iter().enumerate().rev() {
        sql = sql.replace(
            &format!("?{}", index + 1),
            &format!("'{}'", param.replace('\'', "''")),
        );
    }
    match std::fs::read_to_string(home.join(DB_MARKER)) {
        Ok(url) => crate::test_server::try_rows(&url, &sql),
        Err(_) => {
            let db =
                rusqlite::Connection::open(home.join("wfhost.db")).map_err(|e| e.to_string())?;
            let mut statement = db.prepare(&sql).map_err(|e| e.to_string())?;
            let width = statement.column_count();
            statement
                .query_map([], |row| {
                    (0..width)
                        .map(|i| {
                            Ok(match row.get_ref(i)? {
                                rusqlite::types::ValueRef::Null => String::new(),
                                rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                                rusqlite::types::ValueRef::Real(x) => x.to_string(),
                                rusqlite::types::ValueRef::Text(t) => {
                                    String::from_utf8_lossy(t).into_owned()
                                }
                                rusqlite::types::ValueRef::Blob(b) => hex::encode(b),
                            })
                        })
                        .collect()
                })
                .and_then(Iterator::collect)
                .map_err(|e| e.to_string())
        }
    }
}

/// The one number `sql` counts in the store of `home`.
pub fn stored_count(home: &Path, sql: &str, params: &[&str]) -> i64 {
    stored(home, sql, params)
        .first()
        .and_then(|row| row.first())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Attempts of `run` that started (a `step_started` with an input: an
/// action's or a wait's) and whose end was never recorded, in the store of
/// `home`.
pub fn unended_attempts(home: &Path, run: &str) -> i64 {
    let backend = Backend::of(home);
    let field = |name| backend.json_field("e.body", name);
    let sql = format!(
        "SELECT count(*) FROM events e
         WHERE e.run_id = ?1 AND e.kind = 'step_started' AND e.payload IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.run_id = e.run_id AND a.step = e.step
             AND a.visit = CAST({} AS BIGINT) AND a.item = CAST(coalesce({}, '-1') AS BIGINT)
             AND a.iteration = CAST(coalesce({}, '0') AS BIGINT) AND a.attempt = CAST({} AS BIGINT))",
        field("visit"),
        field("item"),
        field("iteration"),
        field("attempt")
    );
    stored_count(home, &sql, &[run])
}

fn finish(mut command: Command) -> Run {
    let output = command.output().expect("the wfhost binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Write `text` to `dir/name` (creating `dir`); its path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("the directory");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the file");
    path
}

/// Start `wfhost` with `args` in the background (stderr piped, stdout dropped).
pub fn spawn(home: &Path, args: &[&str]) -> Child {
    wfhost_command(home, args)
        .env("WFHOST_CACHE_DIR", shared_cache())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wfhost starts")
}

/// Start `wfhost` with `args` in the background, its stderr written to
/// `log` with its diagnostics at `WFHOST_LOG=info` (stdout dropped).
pub fn spawn_logged(home: &Path, args: &[&str], log: &Path) -> Child {
    let file = std::fs::File::create(log).expect("the log file");
    wfhost_command(home, args)
        .env("WFHOST_CACHE_DIR", shared_cache())
        .env("WFHOST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .expect("wfhost starts")
}

/// The JSON `wfhost` prints for `args` (which must succeed).
pub fn json(home: &Path, args: &[&str]) -> Value {
    let run = wfhost(home, args);
    assert_eq!(run.code, 0, "{}", run.render());
    serde_json::from_str(&run.stdout).expect("JSON output")
}

/// The only (or newest) run's id.
pub fn newest_run(home: &Path) -> String {
    try_newest_run(home).expect("a run is recorded")
}

/// The newest run's id, if there is a run.
pub fn try_newest_run(home: &Path) -> Option<String> {
    let list = json(home, &["list", "--json"]);
    list[0]["id"].as_str().map(String::from)
}

/// The newest run that is not a sub-workflow's.
pub fn top_run(home: &Path) -> Option<String> {
    json(home, &["list", "--json"])
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|run| run["parent"].is_null())
        .and_then(|run| run["id"].as_str().map(String::from))
}

/// `wfhost status RUN --json`.
pub fn run_status(home: &Path, run: &str) -> Value {
    json(home, &["status", run, "--json"])
}

/// Step `id` of a `run_status`, or `null` when it never ran.
pub fn step_of<'s>(status: &'s Value, id: &str) -> &'s Value {
    status["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == id))
        .unwrap_or(&Value::Null)
}

/// The last `step_finished` event of `step` in a `run --json` output.
pub fn finished(stdout: &str, step: &str) -> Option<Value> {
    stdout
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["event"] == "step_finished" && event["step"] == step)
}

/// Every file below `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Poll `read` until it gives something (at most 30 s).
pub fn until<T>(what: &str, mut read: impl FnMut() -> Option<T>) -> T {
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = read() {
            return value;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "never: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The runs sub-workflow steps of run `parent` started, as `list --json`
/// gives them.
pub fn children_of(home: &Path, parent: &str) -> Vec<Value> {
    json(home, &["list", "--json"])
        .as_array()
        .into_iter()
        .flatten()
        .filter(|run| run["parent"]["run"] == parent)
        .cloned()
        .collect()
}
