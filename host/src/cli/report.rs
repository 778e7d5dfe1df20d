//! Showing a run as it happens: human lines (with symbols on a terminal),
//! or JSON lines with `--json`; and the summary table at the end.

use serde_json::Value;
use std::fmt::Write as _;
use std::io::Write as _;

use crate::engine::{AttemptKey, Event, Observer, RunSummary};

/// How many log lines, and lines of each captured stream, are shown per attempt.
const OUTPUT_LINES: usize = 20;

#[derive(Debug)]
pub(super) enum Reporter {
    /// One line per event; `fancy` adds symbols for a terminal.
    Human { fancy: bool },
    /// One JSON object per event.
    Json,
}

impl Observer for Reporter {
    fn event(&mut self, event: &Event) {
        let text = match self {
            Reporter::Json => serde_json::to_string(event).unwrap_or_default() + "\n",
            Reporter::Human { fancy } => human(event, *fancy),
        };
        show(&text);
    }

    /// Recorded results a resumed run reuses: shown marked, not run again.
    fn replayed(&mut self, event: &Event) {
        let text = match self {
            Reporter::Json => {
                let mut value = serde_json::to_value(event).unwrap_or_default();
                value["replayed"] = true.into();
                value.to_string() + "\n"
            }
            Reporter::Human { fancy } => match event {
                Event::StepSucceeded { .. } | Event::StepFailed { .. } => human(event, *fancy)
                    .lines()
                    .map(|line| format!("{line}  (recorded)\n"))
                    .collect(),
                _ => String::new(),
            },
        };
        show(&text);
    }
}

fn show(text: &str) {
    if !text.is_empty() {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }
}

fn human(event: &Event, fancy: bool) -> String {
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
        Event::RunFinished { .. } => {}
    }
    out
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

fn format_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2}s", ms / 1000.0)
    } else {
        format!("{ms:.1}ms")
    }
}

fn format_fuel(fuel: u64) -> String {
    match fuel {
        0..1_000 => fuel.to_string(),
        1_000..1_000_000 => format!("{:.1}k", fuel as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}M", fuel as f64 / 1e6),
        _ => format!("{:.1}G", fuel as f64 / 1e9),
    }
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
        "\n{:<width$}  {:<9}  {:>8}  {:>9}  {:>7}  OUTCOME",
        "STEP", "STATUS", "ATTEMPTS", "DURATION", "FUEL"
    );
    for step in &summary.steps {
        let _ = writeln!(
            out,
            "{:<width$}  {:<9}  {:>8}  {:>9}  {:>7}  {}",
            step.id,
            step.status,
            step.attempts,
            format_ms(step.duration.as_secs_f64() * 1000.0),
            format_fuel(step.fuel),
            step.failure.as_deref().unwrap_or("-")
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

/// A step's output on its line when it is short: `  → "all 3 tests passed"`.
/// Serialises at most `MAX` bytes, so a large output costs nothing here.
fn short_output(output: &Value) -> String {
    const MAX: usize = 160;
    /// A writer that refuses to grow past `MAX`.
    struct Bounded(Vec<u8>);
    impl std::io::Write for Bounded {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if self.0.len() + bytes.len() > MAX {
                return Err(std::io::Error::other("too long to show"));
            }
            self.0.extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    if output.is_null() {
        return String::new();
    }
    let mut text = Bounded(Vec::new());
    match serde_json::to_writer(&mut text, output) {
        Ok(()) if !text.0.windows(2).any(|w| w == b"\\n") => {
            format!("  → {}", String::from_utf8_lossy(&text.0))
        }
        _ => String::new(),
    }
}
