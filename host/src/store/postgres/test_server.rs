//! A private PostgreSQL server for the tests: `initdb` into a folder of
//! the temporary directory, `postgres` listening on 127.0.0.1 on a free
//! port, started once per test process and killed with it (its parent-
//! death signal), each test given a schema of its own. As root (CI), the
//! server runs as `nobody`, as PostgreSQL requires. The binaries come from
//! `WFHOST_TEST_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`
//! (Debian's `postgresql` package, which `.ci/toolchains` installs), else
//! `PATH`. Shared by the library's tests and the integration tests.
#![allow(dead_code)] // each of the two uses a part

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The user the server runs as when the tests run as root.
const NOBODY: u32 = 65534;

/// The server's superuser (trusted on loopback: a private server).
const USER: &str = "wfhost";

struct Server {
    port: u16,
    bin: PathBuf,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static SCHEMAS: AtomicUsize = AtomicUsize::new(0);

/// The URL of a new, empty schema of the test server (started on first
/// use): what `--db` takes. Panics, saying what to install, when no
/// PostgreSQL is found.
pub fn database() -> String {
    let server = match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(error) => panic!("the test PostgreSQL server: {error}"),
    };
    let schema = format!(
        "t{}_{}",
        std::process::id(),
        SCHEMAS.fetch_add(1, Ordering::Relaxed)
    );
    let created = psql(&server.bin, server.port, &format!("CREATE SCHEMA {schema}"))
        .unwrap_or_else(|error| panic!("a schema of the test PostgreSQL server: {error}"));
    assert!(created, "a schema of the test PostgreSQL server");
    format!(
        "postgres://{USER}@127.0.0.1:{}/postgres?options=-c%20search_path%3D{schema}",
        server.port
    )
}

/// The rows `sql` selects from the database (and schema) `url` names,
/// each column as text (NULL as empty): for tests that look at the rows.
pub fn rows(url: &str, sql: &str) -> Vec<Vec<String>> {
    try_rows(url, sql).unwrap_or_else(|error| panic!("{sql}: {error}"))
}

/// [`rows`], or what `psql` said when the query failed.
pub fn try_rows(url: &str, sql: &str) -> Result<Vec<Vec<String>>, String> {
    let output = Command::new(binaries()?.join("psql"))
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-qAt", "-F", "\u{1f}", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .expect("psql runs");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.split('\u{1f}').map(str::to_string).collect())
        .collect())
}

/// Run `sql` with `psql` on the server at `port`; whether it succeeded.
fn psql(bin: &Path, port: u16, sql: &str) -> Result<bool, String> {
    let output = Command::new(bin.join("psql"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", USER])
        .args(["-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start psql of {}: {e}", bin.display()))?;
    Ok(output.status.success())
}

fn binaries() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("WFHOST_TEST_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("postgres").is_file())
        .collect();
    debian.sort_by_key(|bin| {
        bin.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str()?.parse::<u32>().ok())
    });
    if let Some(newest) = debian.pop() {
        return Ok(newest);
    }
    which::which("postgres")
        .ok()
        .and_then(|path| path.parent().map(Path::to_path_buf))
        .ok_or_else(|| {
            "no PostgreSQL found: install Debian's `postgresql` package (`bash .ci/toolchains` does) or set WFHOST_TEST_PG_BIN to the folder holding `initdb` and `postgres`".to_string()
        })
}

/// `program` of `bin`, run as `nobody` when this process is root, and
/// killed when the thread that starts it ends.
fn command(bin: &Path, program: &str, as_nobody: bool) -> Command {
    let mut command = Command::new("setpriv");
    if as_nobody {
        command.args([
            format!("--reuid={NOBODY}"),
            format!("--regid={NOBODY}"),
            "--clear-groups".to_string(),
        ]);
    }
    command
        .args(["--pdeathsig", "KILL", "--"])
        .arg(bin.join(program));
    command
}

/// A data folder `initdb` made, and how to start a server on it.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    as_nobody: bool,
}

impl Cluster {
    /// A new cluster in `<temp>/wfhost-test-postgres/<pid><suffix>`.
    fn init(suffix: &str) -> Result<Self, String> {
        let bin = binaries()?;
        let as_nobody = rustix::process::geteuid().is_root();
        let root = std::env::temp_dir().join("wfhost-test-postgres");
        std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        forget_stale(&root);
        let data = root.join(format!("{}{suffix}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir(&data).map_err(|e| format!("{}: {e}", data.display()))?;
        if as_nobody {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755));
            std::os::unix::fs::chown(&data, Some(NOBODY), Some(NOBODY))
                .map_err(|e| format!("{}: {e}", data.display()))?;
        }
        let initdb = command(&bin, "initdb", as_nobody)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .stdout(Stdio::null())
            .output()
            .map_err(|e| format!("cannot start initdb of {}: {e}", bin.display()))?;
        if !initdb.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&initdb.stderr)
            ));
        }
        Ok(Self {
            bin,
            data,
            as_nobody,
        })
    }

    /// The server on this cluster, listening on 127.0.0.1:`port`.
    fn postgres(&self, port: u16) -> Command {
        let mut server = command(&self.bin, "postgres", self.as_nobody);
        server
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.data.display()))
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "max_connections=300", "-c", "shared_buffers=32MB"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        server
    }

    /// Wait until the server on `port` answers.
    fn ready(&self, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if psql(&self.bin, port, "SELECT 1")? {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "it did not accept connections on 127.0.0.1:{port} within a minute"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn free_port() -> Result<u16, String> {
    Ok(TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port())
}

fn start() -> Result<Server, String> {
    let cluster = Cluster::init("")?;
    let port = free_port()?;
    let mut server = cluster.postgres(port);
    // Started from a thread that never ends: the server's parent-death
    // signal fires when the thread that started it ends, not the process.
    let (started, outcome) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("test-postgres".into())
        .spawn(move || {
            let child = server.spawn();
            let failed = child.is_err();
            let _ = started.send(child.map(drop).map_err(|e| e.to_string()));
            if !failed {
                loop {
                    std::thread::park();
                }
            }
        })
        .map_err(|e| e.to_string())?;
    outcome
        .recv()
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot start postgres: {e}"))?;
    cluster.ready(port)?;
    Ok(Server {
        port,
        bin: cluster.bin,
    })
}

/// A server of one test's own, which it may restart; stopped when dropped
/// (and killed if the test's thread ends first).
pub struct PrivateServer {
    cluster: Cluster,
    port: u16,
    child: std::process::Child,
}

impl PrivateServer {
    pub fn start(name: &str) -> Self {
        let started = Cluster::init(&format!("-{name}")).and_then(|cluster| {
            let port = free_port()?;
            let child = cluster
                .postgres(port)
                .spawn()
                .map_err(|e| format!("cannot start postgres: {e}"))?;
            cluster.ready(port)?;
            Ok(Self {
                cluster,
                port,
                child,
            })
        });
        started.unwrap_or_else(|error| panic!("a private PostgreSQL server: {error}"))
    }

    /// What `--db` takes.
    pub fn url(&self) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/postgres", self.port)
    }

    /// Stop the server (a fast shutdown: every session is ended), start it
    /// again on the same data and port, and wait until it answers.
    pub fn restart(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        self.child = self
            .cluster
            .postgres(self.port)
            .spawn()
            .expect("postgres starts again");
        self.cluster
            .ready(self.port)
            .unwrap_or_else(|error| panic!("the restarted server: {error}"));
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.cluster.data);
    }
}

/// Remove the data folders of test processes that have ended.
fn forget_stale(root: &Path) {
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let gone = entry
            .file_name()
            .to_str()
            .and_then(|name| name.split('-').next()?.parse::<u32>().ok())
            .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
