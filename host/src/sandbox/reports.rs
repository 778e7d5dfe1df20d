//! What a guest reports while it runs, through `wfhost:module/log` and
//! `wfhost:module/progress`: kept per call, capped so a chatty guest cannot
//! exhaust the host. (The imports themselves are bound in `host_api.rs`.)

use std::time::Instant;

/// How many log lines one call may keep, and how long each may be.
pub(crate) const MAX_LOG_RECORDS: usize = 10_000;
pub(crate) const MAX_LOG_MESSAGE_BYTES: usize = 16 * 1024;
const MAX_LOG_FIELDS: usize = 64;

/// One log line a guest wrote through `wfhost:module/log`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LogRecord {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    pub message: String,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "fields_as_object"
    )]
    pub fields: Vec<(String, String)>,
    /// Milliseconds since the call started.
    pub at_ms: u64,
}

/// Fields serialise as a JSON object in the order the guest gave them.
fn fields_as_object<S: serde::Serializer>(
    fields: &[(String, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(fields.len()))?;
    for (key, value) in fields {
        map.serialize_entry(key, value)?;
    }
    map.end()
}

/// The latest progress a guest reported through `wfhost:module/progress`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    pub done: u64,
    pub total: Option<u64>,
    pub message: String,
}

/// Logs and progress of one call, capped so a chatty guest cannot exhaust the host.
#[derive(Debug)]
pub(crate) struct GuestReports {
    started: Instant,
    pub(crate) logs: Vec<LogRecord>,
    pub(crate) dropped_logs: u64,
    pub(crate) progress: Option<Progress>,
}

impl GuestReports {
    pub(crate) fn new(started: Instant) -> Self {
        Self {
            started,
            logs: Vec::new(),
            dropped_logs: 0,
            progress: None,
        }
    }

    /// Keep a log line (`level` by name), or count it as dropped past the cap.
    pub(crate) fn log(
        &mut self,
        level: &'static str,
        message: String,
        fields: Vec<(String, String)>,
    ) {
        if self.logs.len() >= MAX_LOG_RECORDS {
            self.dropped_logs += 1;
            return;
        }
        let fields = fields
            .into_iter()
            .take(MAX_LOG_FIELDS)
            .map(|(key, value)| (truncate(key, 256), truncate(value, MAX_LOG_MESSAGE_BYTES)))
            .collect();
        self.logs.push(LogRecord {
            level,
            message: truncate(message, MAX_LOG_MESSAGE_BYTES),
            fields,
            at_ms: self.started.elapsed().as_millis() as u64,
        });
    }

    /// Keep the latest progress.
    pub(crate) fn progress(&mut self, done: u64, total: Option<u64>, message: String) {
        self.progress = Some(Progress {
            done,
            total,
            message: truncate(message, 1024),
        });
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let dropped = text.len() - end;
        text.truncate(end);
        text.push_str(&format!("… [{dropped} bytes truncated]"));
    }
    text
}
