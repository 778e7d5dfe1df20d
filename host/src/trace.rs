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
    hex::encode(derived::<16>("trace", run_id))
}

/// A new run's trace id and the caller's span: the `traceparent`'s, or
/// the run's own trace with no parent.
pub fn trace_of_new_run(run_id: &str, parent: Option<TraceParent>) -> (String, Option<String>) {
    match parent {
        Some(parent) => (parent.trace_id, Some(parent.span_id)),
        None => (trace_id_of_run(run_id), None),
    }
}

/// A span id derived from `seed` (a run, an attempt): the same for the
/// same seed, never all zero.
pub fn span_id_of(seed: &str) -> [u8; 8] {
    let mut id = derived::<8>("span", seed);
    if id == [0; 8] {
        id[7] = 1;
    }
    id
}

/// The first `N` bytes of the sha256 of `seed` in `domain`.
fn derived<const N: usize>(domain: &str, seed: &str) -> [u8; N] {
    let digest = Sha256::digest(format!("wfhost-{domain}:{seed}").as_bytes());
    let mut bytes = [0; N];
    bytes.copy_from_slice(&digest[..N]);
    bytes
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
