//! Showing a run as it happens: human lines (with symbols on a terminal),
//! or JSON lines with `--json`; and the summary table at the end.

use serde_json::Value;
use std::fmt::Write as _;
use std::io::Write as _;

use crate::engine::{AttemptKey, Event, Observer, RunSummary};
use crate::units::{format_bytes, format_fuel, format_ms, rfc3339};
use crate::workflow::{StepFailureKind, wit_type};

/// How many log lines, and lines of each captured stream, are shown per attempt.
const OUTPUT_LINES: usize = 20;

#[derive(Debug)]
pub(super) enum Reporter {
    /// One line per event; `fancy` adds symbols for a terminal. `run` is
    /// the run's id, once it started (for the commands a wait prints).
    Human { fancy: bool, run: String },
    /// One JSON object per event, with the run's trace id.
    Json { trace_id: String },
}

impl Observer for Reporter {
    fn event(&mut self, event: &Event) {
        let text = match self {
            Reporter::Json { trace_id } => json_line(event, false, trace_id),
            Reporter::Human { fancy, run } => {
                if let Event::RunStarted { run_id, .. } = event {
                    run.clone_from(run_id);
                }
                human(event, *fancy, run)
            }
        };
        show(&text);
    }

    /// Recorded results a resumed run reuses: shown marked, not run again.
    fn replayed(&mut self, event: &Event) {
        let text = match self {
            Reporter::Json { trace_id } => json_line(event, true, trace_id),
            Reporter::Human { fancy, run } => match event {
                Event::StepSucceeded { .. } | Event::StepFailed { .. } => human(event, *fancy, run)
                    .lines()
                    .map(|line| format!("{line}  (recorded)\n"))
                    .collect(),
                _ => String::new(),
            },
        };
        show(&text);
    }
}

/// A child run's events among its parent's: indented under the parent's
/// lines, its first line naming the step that started it.
#[derive(Debug)]
pub(super) struct ChildReporter {
    pub fancy: bool,
    pub run: String,
    pub step: String,
}

impl Observer for ChildReporter {
    fn event(&mut self, event: &Event) {
        let text = match event {
            Event::RunStarted {
                run_id, workflow, ..
            } => format!(
                "run {run_id}: {workflow} (sub-workflow of step `{}`)\n",
                self.step
            ),
            _ => human(event, self.fancy, &self.run),
        };
        show(&indent(&text));
    }

    fn replayed(&mut self, event: &Event) {
        if let Event::StepSucceeded { .. } | Event::StepFailed { .. } = event {
            let text: String = human(event, self.fancy, &self.run)
                .lines()
                .map(|line| format!("{line}  (recorded)\n"))
                .collect();
            show(&indent(&text));
        }
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("    {line}\n")).collect()
}

/// One event as a JSON line, with the time it is shown (RFC 3339), the
/// run's trace id, and whether it re-enacts a recorded result.
fn json_line(event: &Event, replayed: bool, trace_id: &str) -> String {
    let body = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    let now = rfc3339(crate::units::now_seconds());
    let replayed = if replayed { "\"replayed\":true," } else { "" };
    // The body is an object: the fields go in front of its own.
    format!(
        "{{\"time\":\"{now}\",\"trace_id\":\"{trace_id}\",{replayed}{}\n",
        &body[1..]
    )
}

fn show(text: &str) {
    if !text.is_empty() {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }
}

pub(super) fn human(event: &Event, fancy: bool, run: &str) -> String {
    let (ok, fail, arrow, retry) = if fancy {
        ("✓", "✗", "→", "↻")
    } else {
        ("ok", "FAILED", "->", "retry")
    };
    let mut out = String::new();
    match event {
        Event::RunStarted {
            run_id,
            workflow,
            steps,
            replaying,
        } => {
            let _ = writeln!(out, "run {run_id}: {workflow} ({steps} steps)");
            if *replaying > 0 {
                let _ = writeln!(out, "  reusing {replaying} recorded attempt results");
            }
        }
        Event::StepStarted { .. } | Event::StepFinished { .. } => {}
        Event::StepSucceeded {
            key,
            duration_ms,
            fuel,
            output,
            ..
        } => {
            let _ = writeln!(
                out,
                "  {ok} {}  {}  fuel {}{}",
                label(key),
                format_ms(*duration_ms),
                format_fuel(*fuel),
                short_output(output)
            );
        }
        Event::StepFailed {
            key,
            duration_ms,
            failure,
            ..
        } => {
            let _ = writeln!(
                out,
                "  {fail} {}  {}  {}: {}",
                label(key),
                format_ms(*duration_ms),
                failure.kind,
                failure.message
            );
        }
        Event::StepRetrying {
            step,
            next_attempt,
            delay_ms,
            ..
        } => {
            let _ = writeln!(
                out,
                "  {retry} {step}: attempt {next_attempt} in {delay_ms}ms"
            );
        }
        Event::StepSkipped { step, reason } => {
            let _ = writeln!(out, "  - {step} skipped: {reason}");
        }
        Event::StepOutput {
            logs,
            stdout,
            stderr,
            ..
        } => {
            for log in logs {
                let level = log.get("level").and_then(|v| v.as_str()).unwrap_or("info");
                let message = log.get("message").and_then(|v| v.as_str()).unwrap_or("");
                let _ = writeln!(out, "      [{level}] {message}");
            }
            for text in [stdout, stderr] {
                let lines: Vec<&str> = text.lines().collect();
                let hidden = lines.len().saturating_sub(OUTPUT_LINES);
                if hidden > 0 {
                    let _ = writeln!(out, "      … {hidden} earlier output lines");
                }
                for line in &lines[hidden..] {
                    let _ = writeln!(out, "      | {line}");
                }
            }
        }
        Event::RouteTaken { from, to, on, when } => {
            let condition = when
                .as_ref()
                .map(|w| format!(" when {}", w.trim()))
                .unwrap_or_default();
            let _ = writeln!(out, "    {from} {arrow} {to} (on {on}{condition})");
        }
        Event::StepWaiting {
            key,
            signal,
            ty,
            approvals,
            deadline,
        } => {
            let until = deadline
                .as_ref()
                .map(|d| format!(" until {d}"))
                .unwrap_or_default();
            match (signal, ty) {
                (Some(_), _) if approvals.is_some() => {
                    let required = approvals.unwrap_or(1);
                    let _ = writeln!(
                        out,
                        "  … {step} waits for {required} approval{}{until}\n      answer with: wfhost approve {run} {step} [--comment TEXT]  (or: wfhost reject …)",
                        if required == 1 { "" } else { "s" },
                        step = key.step
                    );
                }
                (Some(signal), Some(ty)) => {
                    let data = wit_type::parse(ty).map_or_else(
                        |_| "JSON".to_string(),
                        |shape| shell_quote(&wit_type::example(&shape).to_string()),
                    );
                    let _ = writeln!(
                        out,
                        "  … {} waits for signal `{signal}` ({ty}){until}\n      send it with: wfhost signal {run} {signal} --data {data}",
                        label(key)
                    );
                }
                _ => {
                    let _ = writeln!(out, "  … {} sleeps{until}", label(key));
                }
            }
        }
        Event::SignalReceived {
            key,
            signal,
            seq,
            sent_by,
        } => {
            let _ = writeln!(
                out,
                "  {arrow} {} took signal `{signal}` #{seq} from {sent_by}",
                label(key)
            );
        }
        Event::VarsSet { step, values } => {
            let values: Vec<String> = values
                .iter()
                .map(|(name, value)| format!("{name} = {value}"))
                .collect();
            let _ = writeln!(out, "    {step} set {}", values.join(", "));
        }
        Event::RunWaiting { steps } => {
            let _ = writeln!(out, "  run {run} is waiting ({})", steps.join(", "));
        }
        Event::RunFinished { .. } | Event::RunContinued => {}
    }
    out
}

/// `text` quoted for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// `build`, `build[2]` (an item), `build (attempt 3)`.
fn label(key: &AttemptKey) -> String {
    let mut text = key.step.clone();
    if let Some(item) = key.item {
        let _ = write!(text, "[{item}]");
    }
    if key.attempt > 1 {
        let _ = write!(text, " (attempt {})", key.attempt);
    }
    text
}

/// The table printed after a human-readable run.
pub(super) fn summary(summary: &RunSummary) -> String {
    let mut out = String::new();
    let width = summary
        .steps
        .iter()
        .map(|s| s.id.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "\n{:<width$}  {:<9}  {:>8}  {:>9}  {:>7}  {:>9}  OUTCOME",
        "STEP", "STATUS", "ATTEMPTS", "DURATION", "FUEL", "MEMORY"
    );
    for step in &summary.steps {
        let _ = writeln!(
            out,
            "{:<width$}  {:<9}  {:>8}  {:>9}  {:>7}  {:>9}  {}",
            step.id,
            step.status,
            step.attempts,
            format_ms(step.duration.as_secs_f64() * 1000.0),
            format_fuel(step.fuel),
            format_bytes(step.memory_peak_bytes),
            step.failure.map_or("-", StepFailureKind::as_str)
        );
    }
    let _ = writeln!(
        out,
        "\nrun {} {} in {}",
        summary.run_id,
        summary.status.as_str(),
        format_ms(summary.duration.as_secs_f64() * 1000.0)
    );
    if let Some(error) = &summary.error {
        let step = error.get("step").and_then(|v| v.as_str()).unwrap_or("?");
        let kind = error.get("kind").and_then(|v| v.as_str()).unwrap_or("?");
        let message = error.get("message").and_then(|v| v.as_str()).unwrap_or("");
        let _ = writeln!(out, "error: step `{step}` failed ({kind}): {message}");
    }
    out
}

/// A step's output on its line: `  → "all 3 tests passed"`, cut at
/// `MAX` bytes with `…` (serialising no more than that, so a large output
/// costs nothing here), and at its first line break.
fn short_output(output: &Value) -> String {
    const MAX: usize = 160;
    /// A writer that keeps `MAX` bytes and says whether more came.
    struct Bounded(Vec<u8>, bool);
    impl std::io::Write for Bounded {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let room = MAX.saturating_sub(self.0.len());
            self.0.extend_from_slice(&bytes[..bytes.len().min(room)]);
            if bytes.len() > room {
                self.1 = true;
                return Err(std::io::Error::other("too long to show"));
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    if output.is_null() {
        return String::new();
    }
    let mut text = Bounded(Vec::new(), false);
    let _ = serde_json::to_writer(&mut text, output);
    let mut shown = String::from_utf8_lossy(&text.0).into_owned();
    let mut cut = text.1;
    if let Some(at) = shown.find("\\n") {
        shown.truncate(at);
        cut = true;
    }
    if cut {
        // Never end inside an escape or a character cut in half.
        shown = shown.trim_end_matches(['\\', '\u{fffd}']).to_string();
        shown.push('…');
    }
    format!("  → {shown}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_and_multiline_outputs_are_cut_with_an_ellipsis() {
        use serde_json::json;
        assert_eq!(super::short_output(&json!("short")), "  → \"short\"");
        assert_eq!(super::short_output(&json!("a\nb")), "  → \"a…");
        let long = super::short_output(&json!("x".repeat(500)));
        assert!(long.ends_with('…') && long.len() < 200, "{long}");
    }
}
