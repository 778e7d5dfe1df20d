//! The host side of `wfhost:module/process`: granted programs, run outside
//! the sandbox, confined to what the grants name.
//!
//! Only a granted program starts (its path resolved when grants were
//! resolved), in a directory inside a granted one (opened beneath the
//! workspace through no link, so a link cannot lead out), with only the granted environment variables, in a
//! process group of its own that is killed when the call's time runs out or
//! the program's own timeout passes. Output is drained continuously and only
//! the last [`OUTPUT_TAIL_BYTES`] of each stream kept.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::grants::{DirGrant, Grants};
use super::host_api::wfhost::module::process::{Command, Host, Output, RunError};
use super::store::StoreState;
use super::workspace::fd_path;
use crate::capabilities::{is_within, workspace_relative};

/// Bytes of a program's stdout and of its stderr kept: the end, where test
/// runners print their summaries.
pub const OUTPUT_TAIL_BYTES: usize = 1 << 20;

impl Host for StoreState {
    async fn run(&mut self, command: Command) -> Result<Output, RunError> {
        run(&self.grants, command).await
    }
}

async fn run(grants: &Grants, command: Command) -> Result<Output, RunError> {
    let Some((_, program)) = grants
        .programs
        .iter()
        .find(|(name, _)| *name == command.program)
    else {
        let granted: Vec<&str> = grants.programs.iter().map(|(n, _)| n.as_str()).collect();
        return Err(RunError::NotGranted(format!(
            "`{}` is not granted to this step (granted: {}); add it to `permissions.run` in the workflow",
            command.program,
            if granted.is_empty() {
                "none".to_string()
            } else {
                granted.join(", ")
            }
        )));
    };
    let cwd = working_dir(&grants.dirs, command.cwd.as_deref().unwrap_or("."))?;
    let mut child = tokio::process::Command::new(program);
    child
        .args(&command.args)
        .current_dir(fd_path(&cwd))
        .env_clear()
        .envs(grants.env.iter().map(|(k, v)| (k, v)))
        .stdin(if command.stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = child.spawn().map_err(|error| {
        RunError::CannotStart(format!(
            "cannot start `{}` ({}): {error}",
            command.program,
            program.display()
        ))
    })?;
    // Killing the group on every way out, including this future being
    // dropped when the step's time is up.
    let group = ProcessGroup(child.id());
    if let (Some(text), Some(mut stdin)) = (command.stdin, child.stdin.take()) {
        tokio::spawn(async move {
            let _ = stdin.write_all(text.as_bytes()).await;
        });
    }
    let stdout = tokio::spawn(tail(child.stdout.take()));
    let stderr = tokio::spawn(tail(child.stderr.take()));
    let limit = command.timeout_ms.map(Duration::from_millis);
    let (status, timed_out) = match limit {
        Some(limit) => match tokio::time::timeout(limit, child.wait()).await {
            Ok(status) => (status.ok(), false),
            Err(_) => (None, true),
        },
        None => (child.wait().await.ok(), false),
    };
    // Whatever the program left running in its group ends with it, so its
    // pipes close and the readers finish.
    drop(group);
    let _ = child.kill().await;
    let (stdout, stdout_cut) = stdout.await.unwrap_or_default();
    let (stderr, stderr_cut) = stderr.await.unwrap_or_default();
    Ok(Output {
        exit_code: status.and_then(|s| s.code()),
        stdout,
        stderr,
        truncated: stdout_cut || stderr_cut,
        timed_out,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// The directory for the guest path `cwd`, inside a granted directory,
/// opened beneath the workspace through no link (the program starts in
/// that open directory, not at a path that could be swapped meanwhile).
fn working_dir(dirs: &[DirGrant], cwd: &str) -> Result<OwnedFd, RunError> {
    let bad = |why: String| RunError::BadCwd(why);
    let path = workspace_relative(cwd).ok_or_else(|| {
        bad(format!(
            "`{cwd}` is not a path inside the workspace (empty, absolute or `..`)"
        ))
    })?;
    let grant = dirs
        .iter()
        .filter(|grant| is_within(&path, &grant.path))
        .max_by_key(|grant| grant.path.len())
        .ok_or_else(|| {
            let granted: Vec<&str> = dirs.iter().map(|d| d.path.as_str()).collect();
            bad(format!(
                "`{cwd}` is not inside a granted directory (granted: {}); grant it with `permissions.fs`",
                if granted.is_empty() { "none".to_string() } else { granted.join(", ") }
            ))
        })?;
    grant
        .workspace
        .open_dir(&path)
        .map_err(|error| bad(error.to_string()))
}

/// The last [`OUTPUT_TAIL_BYTES`] of a stream, read to its end, as text;
/// and whether anything was dropped.
async fn tail(stream: Option<impl AsyncRead + Unpin>) -> (String, bool) {
    let Some(mut stream) = stream else {
        return (String::new(), false);
    };
    let mut kept: Vec<u8> = Vec::new();
    let mut dropped = false;
    let mut chunk = vec![0; 64 * 1024];
    while let Ok(n) = stream.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&chunk[..n]);
        if kept.len() > 2 * OUTPUT_TAIL_BYTES {
            kept.drain(..kept.len() - OUTPUT_TAIL_BYTES);
            dropped = true;
        }
    }
    if kept.len() > OUTPUT_TAIL_BYTES {
        kept.drain(..kept.len() - OUTPUT_TAIL_BYTES);
        dropped = true;
    }
    (String::from_utf8_lossy(&kept).into_owned(), dropped)
}

/// The process group of a started program, killed when dropped.
struct ProcessGroup(Option<u32>);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(pid) = self
            .0
            .and_then(|pid| rustix::process::Pid::from_raw(pid as i32))
        {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}
