//! The wfhost testing module. See `wit/world.wit` for the actions.

// The glue wit-bindgen generates is `unsafe`; the code written here has none.
#![allow(unsafe_code, clippy::too_many_arguments)]

// The wfhost WIT package first, then this module's own.
wfhost_sdk::generate!(world: "wfhost:testing/testing", path: ["../../wit", "wit"]);

pub mod filter;
pub mod junit;
pub mod parse;

use std::collections::BTreeSet;

use wfhost_sdk::{log, process};

use parse::Parsed;

struct Testing;

/// Bytes of output kept in a report.
const TAIL_BYTES: usize = 4096;
/// The largest JUnit report read.
const MAX_JUNIT_BYTES: u64 = 64 << 20;

fn report(parsed: Parsed, duration_ms: u64, exit_code: Option<i32>, output: &str) -> TestReport {
    let failures: Vec<TestFailure> = parsed
        .failures
        .into_iter()
        .map(|(name, message)| TestFailure { name, message })
        .collect();
    let errors: Vec<TestFailure> = parsed
        .errors
        .into_iter()
        .map(|(name, message)| TestFailure { name, message })
        .collect();
    TestReport {
        runner: parsed.runner.to_string(),
        passed: parsed.passed,
        failed: parsed.failed.max(failures.len() as u32),
        skipped: parsed.skipped,
        total: parsed.passed + parsed.failed.max(failures.len() as u32) + parsed.skipped,
        success: parsed.failed == 0
            && failures.is_empty()
            && errors.is_empty()
            && exit_code.is_none_or(|c| c == 0),
        failures,
        errors,
        duration_ms,
        exit_code,
        output_tail: parse::tail(output, TAIL_BYTES),
    }
}

/// Run the test command and parse what it printed.
fn run(command: &str, args: Vec<String>, cwd: Option<String>) -> Result<TestReport, ActionError> {
    let mut run = process::Command::new(command).args(args);
    if let Some(cwd) = cwd {
        run = run.cwd(cwd);
    }
    let output = run.run().map_err(|error| error.to_action_error())?;
    let text = format!("{}\n{}", output.stdout, output.stderr);
    log::info(format!(
        "`{command}` exited with {:?} after {} ms",
        output.exit_code, output.duration_ms
    ));
    let parsed = parse::parse(&text).ok_or_else(|| unparseable(&text, output.exit_code))?;
    Ok(report(parsed, output.duration_ms, output.exit_code, &text))
}

fn unparseable(output: &str, exit_code: Option<i32>) -> ActionError {
    ActionError::new(
        "unparseable-output",
        format!(
            "the output (exit code {}) is in no format this module reads: cargo test, cargo nextest, pytest, \
             go test, node --test, jest, vitest, unittest, or a `N passed, N failed` line; \
             run the tests with one of these, or write a JUnit report and use `parse-junit`",
            exit_code.map_or("none".to_string(), |c| c.to_string())
        ),
    )
    .with_details(serde_json::json!({ "tail": parse::tail(output, 1024) }).to_string())
}

impl Guest for Testing {
    fn run_tests(
        command: String,
        args: Vec<String>,
        cwd: Option<String>,
    ) -> Result<TestReport, ActionError> {
        run(&command, args, cwd)
    }

    fn rerun_failed(
        command: String,
        args: Vec<String>,
        cwd: Option<String>,
        previous: TestReport,
    ) -> Result<TestReport, ActionError> {
        let failed: Vec<String> = previous.failures.iter().map(|f| f.name.clone()).collect();
        if failed.is_empty() && previous.errors.is_empty() {
            log::info("nothing failed in the previous report; nothing to run again");
            return Ok(TestReport {
                runner: previous.runner,
                passed: 0,
                failed: 0,
                skipped: 0,
                total: 0,
                success: true,
                failures: Vec::new(),
                errors: Vec::new(),
                duration_ms: 0,
                exit_code: None,
                output_tail: String::new(),
            });
        }
        // A suite that could not run (collection or compile errors) runs whole.
        let narrowed = if previous.errors.is_empty() {
            filter::narrowed(&previous.runner, &args, &failed)
        } else {
            None
        };
        let args = match narrowed {
            Some(narrowed) => {
                log::info(format!(
                    "running the {} failed tests again ({} runner)",
                    failed.len(),
                    previous.runner
                ));
                narrowed
            }
            None => {
                log::warn(format!(
                    "the {} report names no tests to run again one by one; running the whole suite",
                    previous.runner
                ));
                args
            }
        };
        run(&command, args, cwd)
    }

    fn parse_output(output: String) -> Result<TestReport, ActionError> {
        let parsed = parse::parse(&output).ok_or_else(|| unparseable(&output, None))?;
        Ok(report(parsed, 0, None, &output))
    }

    fn parse_junit(path: String) -> Result<TestReport, ActionError> {
        let size = std::fs::metadata(&path)
            .map_err(|error| wfhost_sdk::fs_error(&path, &error))?
            .len();
        if size > MAX_JUNIT_BYTES {
            return Err(ActionError::new(
                "too-large",
                format!("{path} is {size} bytes; JUnit reports are read up to {MAX_JUNIT_BYTES}"),
            ));
        }
        let xml =
            std::fs::read_to_string(&path).map_err(|error| wfhost_sdk::fs_error(&path, &error))?;
        let (parsed, duration_ms) = junit::parse(&xml)
            .map_err(|problem| ActionError::new("invalid-junit", format!("{path}: {problem}")))?;
        Ok(report(parsed, duration_ms, None, ""))
    }

    fn compare(before: TestReport, after: TestReport) -> Comparison {
        let failing = |report: &TestReport| -> BTreeSet<String> {
            report.failures.iter().map(|f| f.name.clone()).collect()
        };
        let (before, after) = (failing(&before), failing(&after));
        let new_failures: Vec<String> = after.difference(&before).cloned().collect();
        Comparison {
            regressed: !new_failures.is_empty(),
            new_failures,
            fixed: before.difference(&after).cloned().collect(),
            still_failing: before.intersection(&after).cloned().collect(),
        }
    }
}

export!(Testing);
