//! W3C trace context for runs: every run belongs to a trace — the one an
//! incoming `traceparent` names (an API call, a webhook delivery,
//! `TRACEPARENT` for `wfhost run`), or one of its own derived from its run
//! id; a sub-workflow's run joins its parent's. Events printed with
//! `--json` carry the trace id, so logs and traces can be joined.

use sha2::{Digest, Sha256};

/// A parsed `traceparent`: the trace and the caller's span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    /// 32 lower-case hex digits.
    pub trace_id: String,
    /// 16 lower-case hex digits.
    pub span_id: String,
}

/// `00-<trace id>-<span id>-<flags>` (W3C Trace Context level 1); `None`
/// for anything else, including the all-zero ids the standard forbids.
pub fn parse_traceparent(header: &str) -> Option<TraceParent> {
    let parts: Vec<&str> = header.trim().split('-').collect();
    let [version, trace_id, span_id, flags] = parts[..] else {
        return None;
    };
    let hex = |text: &str, len: usize| {
        text.len() == len
            && text
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    };
    let valid = hex(version, 2)
        && version != "ff"
        && hex(trace_id, 32)
        && hex(span_id, 16)
        && hex(flags, 2)
        && trace_id.chars().any(|c| c != '0')
        && span_id.chars().any(|c| c != '0');
    valid.then(|| TraceParent {
        trace_id: trace_id.to_string(),
        span_id: span_id.to_string(),
    })
}

/// The trace of a run started with no `traceparent`: derived from its id,
/// so every process that knows the run knows its trace.
pub fn trace_id_of_run(run_id: &str) -> String {
    let digest = Sha256::digest(format!("wfhost-trace:{run_id}").as_bytes());
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_are_read_as_the_standard_says() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            parse_traceparent(good),
            Some(TraceParent {
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                span_id: "00f067aa0ba902b7".into(),
            })
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
        let derived = trace_id_of_run("3e61e890");
        assert_eq!(derived.len(), 32);
        assert_eq!(derived, trace_id_of_run("3e61e890"));
        assert_ne!(derived, trace_id_of_run("3e61e891"));
    }
}
