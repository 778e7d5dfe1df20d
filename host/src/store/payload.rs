//! How values (inputs, outputs) are kept in the journal: written once,
//! whatever refers to them. Any part of a value whose JSON takes
//! [`BLOB_MIN_BYTES`] or more is stored apart, by its sha256, and replaced by
//! `{"$blob": "<hex>"}` — a long string as its raw text (no JSON escaping),
//! `{"$text": "<hex>"}`. The same part seen again (a step's output in its
//! `step_succeeded` and `step_finished`, then inside the next step's input)
//! costs a reference, not another copy; a part equal to one of the last few
//! blobs is recognised by comparing bytes, not hashed again. A value's own
//! object that looks like a reference is wrapped as `{"$literal": …}`, so
//! decoding is exact.
//!
//! Backend-agnostic: a backend stores the [`Encoded`] text and its blobs,
//! and gives [`decode`] a way to look a blob up.

use std::io::Write as _;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::sandbox::Digest;

/// Parts of a value this large (as JSON) or larger are stored apart.
pub const BLOB_MIN_BYTES: usize = 1024;
const BLOB: &str = "$blob";
const TEXT: &str = "$text";
const LITERAL: &str = "$literal";

/// A value as stored: its JSON with large parts replaced by references,
/// and the parts themselves.
#[derive(Debug, Default)]
pub struct Encoded {
    pub text: String,
    pub blobs: Vec<(Digest, Arc<str>)>,
}

/// Encode `value`, or say it is larger than `cap` bytes of JSON (then
/// nothing is kept). `recent` are blobs seen lately: a part equal to one
/// of them takes its digest without hashing.
pub fn encode(value: &Value, cap: usize, recent: &[(Digest, Arc<str>)]) -> Result<Encoded, usize> {
    let mut encoder = Encoder {
        out: Vec::new(),
        blobs: Vec::new(),
        json_len: 0,
        cap,
        recent,
    };
    encoder.value(value)?;
    Ok(Encoded {
        // Only JSON was written: valid UTF-8.
        text: String::from_utf8(encoder.out).unwrap_or_default(),
        blobs: encoder.blobs,
    })
}

struct Encoder<'r> {
    out: Vec<u8>,
    blobs: Vec<(Digest, Arc<str>)>,
    /// Bytes of JSON the value takes in full (references expanded; long
    /// strings counted unescaped).
    json_len: usize,
    cap: usize,
    recent: &'r [(Digest, Arc<str>)],
}

impl Encoder<'_> {
    /// Keep `body` apart and write a reference to it as `kind`. A body
    /// seen lately is shared, neither hashed nor copied again.
    fn blob(&mut self, kind: &str, body: &str) {
        let blob = self
            .recent
            .iter()
            .chain(&self.blobs)
            .find(|(_, seen)| seen.len() == body.len() && **seen == *body)
            .map_or_else(
                || (Digest::of(body.as_bytes()), Arc::from(body)),
                |(digest, seen)| (*digest, Arc::clone(seen)),
            );
        let _ = write!(self.out, "{{\"{kind}\":\"{}\"}}", blob.0.to_hex());
        self.blobs.push(blob);
    }

    fn value(&mut self, value: &Value) -> Result<(), usize> {
        let start = self.out.len();
        match value {
            Value::String(text) if text.len() >= BLOB_MIN_BYTES => {
                self.json_len += text.len() + 2;
                if self.json_len > self.cap {
                    return Err(self.json_len);
                }
                self.blob(TEXT, text);
                return Ok(());
            }
            Value::Array(items) => {
                self.raw(b"[");
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        self.raw(b",");
                    }
                    self.value(item)?;
                }
                self.raw(b"]");
            }
            Value::Object(map) => {
                let wrapped = looks_like_reference(map);
                if wrapped {
                    let _ = write!(self.out, "{{\"{LITERAL}\":");
                }
                self.raw(b"{");
                for (index, (key, item)) in map.iter().enumerate() {
                    if index > 0 {
                        self.raw(b",");
                    }
                    self.scalar(key);
                    self.raw(b":");
                    self.value(item)?;
                }
                self.raw(b"}");
                if wrapped {
                    self.out.push(b'}');
                }
            }
            scalar => self.scalar(scalar),
        }
        if self.json_len > self.cap {
            return Err(self.json_len);
        }
        // What this part takes as written (its own large parts already
        // replaced by references).
        if self.out.len() - start >= BLOB_MIN_BYTES {
            let part = String::from_utf8(self.out.split_off(start)).unwrap_or_default();
            self.blob(BLOB, &part);
        }
        Ok(())
    }

    fn scalar(&mut self, value: &impl serde::Serialize) {
        let before = self.out.len();
        // Writing JSON to memory cannot fail.
        let _ = serde_json::to_writer(&mut self.out, value);
        self.json_len += self.out.len() - before;
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
        self.json_len += bytes.len();
    }
}

/// Whether a value's own object would read back as a reference.
fn looks_like_reference(map: &Map<String, Value>) -> bool {
    map.len() == 1
        && [BLOB, TEXT, LITERAL]
            .iter()
            .any(|key| map.contains_key(*key))
}

/// A stored value back, its references resolved through `blob`; a blob
/// that cannot be found reads as `{"$missing": "<hex>"}`.
pub fn decode(text: &str, blob: &mut impl FnMut(&Digest) -> Option<String>) -> Value {
    let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    resolve(value, blob)
}

fn resolve(value: Value, blob: &mut impl FnMut(&Digest) -> Option<String>) -> Value {
    match value {
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|item| resolve(item, blob)).collect())
        }
        Value::Object(mut map) if map.len() == 1 => {
            if let Some(Value::String(hex)) = map.get(BLOB) {
                return match Digest::from_hex(hex).and_then(|d| blob(&d)) {
                    Some(text) => decode(&text, blob),
                    None => serde_json::json!({ "$missing": hex }),
                };
            }
            if let Some(Value::String(hex)) = map.get(TEXT) {
                return match Digest::from_hex(hex).and_then(|d| blob(&d)) {
                    Some(text) => Value::String(text),
                    None => serde_json::json!({ "$missing": hex }),
                };
            }
            if let Some(Value::Object(inner)) = map.remove(LITERAL) {
                return Value::Object(
                    inner
                        .into_iter()
                        .map(|(key, item)| (key, resolve(item, blob)))
                        .collect(),
                );
            }
            Value::Object(
                map.into_iter()
                    .map(|(key, item)| (key, resolve(item, blob)))
                    .collect(),
            )
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, item)| (key, resolve(item, blob)))
                .collect(),
        ),
        scalar => scalar,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;

    fn round_trip(value: &Value) -> (Value, Encoded) {
        let encoded = encode(value, usize::MAX, &[]).expect("under the cap");
        let blobs: HashMap<Digest, Arc<str>> = encoded.blobs.iter().cloned().collect();
        let decoded = decode(&encoded.text, &mut |d| blobs.get(d).map(|b| b.to_string()));
        (decoded, encoded)
    }

    #[test]
    fn values_round_trip_exactly() {
        let big = "x".repeat(5000);
        for value in [
            json!(null),
            json!(1.5),
            json!("small"),
            json!({"a": [1, 2, {"b": "c"}]}),
            json!(big),
            json!({"message": big, "n": 1}),
            json!([big, big, {"k": big}]),
            json!({"$blob": "not a reference"}),
            json!({"$literal": {"$blob": big}}),
            json!({"$blob": big}),
            json!({"$text": "x"}),
            json!([{"$blob": 1}, {"$literal": 2}, {"$blob": 1, "other": 2}]),
            json!([big.repeat(2), {"n": [1, 2, 3]}, "[1,2,3]".repeat(200)]),
            json!(vec![json!({"k": 1, "v": "s"}); 200]),
            json!("quote \" and \\ and \u{1F600} and \n"),
        ] {
            let (decoded, encoded) = round_trip(&value);
            assert_eq!(decoded, value, "{}", encoded.text);
        }
    }

    #[test]
    fn a_large_part_is_kept_once_whatever_holds_it() {
        let big = "y".repeat(10_000);
        let output = encode(&json!(big), usize::MAX, &[]).expect("encoded");
        let input = encode(&json!({"text": big}), usize::MAX, &[]).expect("encoded");
        assert_eq!(output.blobs.len(), 1);
        assert_eq!(input.blobs.len(), 1);
        assert_eq!(
            output.blobs[0].0, input.blobs[0].0,
            "the same part, the same blob"
        );
        assert!(input.text.len() < 100, "{}", input.text);
        // Small values are stored inline.
        assert!(
            encode(&json!({"a": 1}), usize::MAX, &[])
                .expect("encoded")
                .blobs
                .is_empty()
        );
    }

    #[test]
    fn a_value_over_the_cap_is_refused() {
        let big = json!(["z".repeat(600), "z".repeat(600)]);
        let size = big.to_string().len();
        assert_eq!(encode(&big, size - 1, &[]).err(), Some(size));
        assert!(encode(&big, size, &[]).is_ok());
        let long = json!("w".repeat(5000));
        assert!(encode(&long, 4000, &[]).is_err());
    }
}
