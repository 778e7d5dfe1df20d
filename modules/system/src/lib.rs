//! The wfhost system module. See `wit/world.wit` for the actions.

// The glue wit-bindgen generates is `unsafe`; the code written here has none.
#![allow(unsafe_code, clippy::too_many_arguments)]

// The wfhost WIT package first, then this module's own.
wfhost_sdk::generate!(world: "wfhost:system/system", path: ["../../wit", "wit"]);

use wfhost_sdk::log;

struct System;

/// Longest `sleep` accepted: beyond this a step should use a schedule.
const MAX_SLEEP_MS: u64 = 24 * 60 * 60 * 1000;

impl Guest for System {
    fn echo(message: String) -> String {
        message
    }

    fn fail(
        code: String,
        message: String,
        retryable: Option<bool>,
        details: Option<String>,
    ) -> Result<(), ActionError> {
        log::debug(format!("failing on request with code {code}"));
        let error = ActionError {
            code,
            message,
            retryable: retryable.unwrap_or(false),
            details,
        };
        Err(error)
    }

    fn sleep(milliseconds: u64) -> Result<u64, ActionError> {
        if milliseconds > MAX_SLEEP_MS {
            return Err(ActionError::new(
                "invalid-duration",
                format!(
                    "sleep of {milliseconds} ms is longer than the maximum of {MAX_SLEEP_MS} ms (one day)"
                ),
            ));
        }
        let started = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(milliseconds));
        Ok(started.elapsed().as_millis() as u64)
    }

    fn handle_error(
        workflow: String,
        failure: Failure,
        path: Option<String>,
    ) -> Result<String, ActionError> {
        let report = format_failure(&workflow, &failure);
        log::with_fields(
            log::Level::Error,
            &report,
            &[("step", &failure.step), ("kind", &failure.kind)],
        );
        if let Some(path) = path {
            std::fs::write(&path, format!("{report}\n"))
                .map_err(|error| wfhost_sdk::fs_error(&path, &error))?;
        }
        Ok(report)
    }

    fn notify_completion(
        workflow: String,
        status: String,
        summary: Option<String>,
        path: Option<String>,
    ) -> Result<String, ActionError> {
        let notice = match summary {
            Some(summary) if !summary.is_empty() => {
                format!("workflow {workflow} finished: {status} — {summary}")
            }
            _ => format!("workflow {workflow} finished: {status}"),
        };
        log::with_fields(log::Level::Info, &notice, &[("status", &status)]);
        if let Some(path) = path {
            use std::io::Write;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut file| writeln!(file, "{notice}"))
                .map_err(|error| wfhost_sdk::fs_error(&path, &error))?;
        }
        Ok(notice)
    }
}

fn format_failure(workflow: &str, failure: &Failure) -> String {
    let mut report = format!(
        "workflow {workflow}: step {} failed ({})",
        failure.step, failure.kind
    );
    if let Some(code) = &failure.code {
        report.push_str(&format!(" [{code}]"));
    }
    if let Some(attempts) = failure.attempts {
        let plural = if attempts == 1 { "" } else { "s" };
        report.push_str(&format!(" after {attempts} attempt{plural}"));
    }
    report.push_str(": ");
    report.push_str(&failure.message);
    report
}

export!(System);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_report_names_step_kind_code_and_attempts() {
        let failure = Failure {
            step: "build".into(),
            kind: "error".into(),
            message: "cargo exited with 101".into(),
            code: Some("command-failed".into()),
            attempts: Some(3),
        };
        assert_eq!(
            format_failure("release", &failure),
            "workflow release: step build failed (error) [command-failed] after 3 attempts: cargo exited with 101"
        );
    }
}
