//! WIT → JSON: the inverse of `from_json`, so every value round-trips.

use serde_json::{Map, Number, Value};
use wasmtime::component::Val;

/// Convert a guest value to JSON following the mapping in `wit/README.md`.
pub fn val_to_json(val: &Val) -> Value {
    match val {
        Val::Bool(b) => Value::Bool(*b),
        Val::S8(n) => Value::from(*n),
        Val::U8(n) => Value::from(*n),
        Val::S16(n) => Value::from(*n),
        Val::U16(n) => Value::from(*n),
        Val::S32(n) => Value::from(*n),
        Val::U32(n) => Value::from(*n),
        Val::S64(n) => Value::from(*n),
        Val::U64(n) => Value::from(*n),
        Val::Float32(n) => float(f64::from(*n)),
        Val::Float64(n) => float(*n),
        Val::Char(c) => Value::String(c.to_string()),
        Val::String(s) => Value::String(s.clone()),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            Value::Array(items.iter().map(val_to_json).collect())
        }
        Val::Map(entries) => {
            if entries.iter().all(|(key, _)| matches!(key, Val::String(_))) {
                let mut object = Map::new();
                for (key, value) in entries {
                    if let Val::String(key) = key {
                        object.insert(key.clone(), val_to_json(value));
                    }
                }
                Value::Object(object)
            } else {
                Value::Array(
                    entries
                        .iter()
                        .map(|(key, value)| {
                            Value::Array(vec![val_to_json(key), val_to_json(value)])
                        })
                        .collect(),
                )
            }
        }
        Val::Record(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, value)| (name.clone(), val_to_json(value)))
                .collect(),
        ),
        Val::Variant(name, None) | Val::Enum(name) => Value::String(name.clone()),
        Val::Variant(name, Some(payload)) => single(name, val_to_json(payload)),
        Val::Option(None) => Value::Null,
        Val::Option(Some(inner)) => match inner.as_ref() {
            // `some(none)` and `some(some(x))` keep their nesting visible.
            nested @ Val::Option(_) => single("some", val_to_json(nested)),
            other => val_to_json(other),
        },
        Val::Result(Ok(payload)) => {
            single("ok", payload.as_deref().map_or(Value::Null, val_to_json))
        }
        Val::Result(Err(payload)) => {
            single("err", payload.as_deref().map_or(Value::Null, val_to_json))
        }
        Val::Flags(names) => Value::Array(names.iter().cloned().map(Value::String).collect()),
        Val::Resource(_) => Value::String("<resource>".into()),
        Val::Future(_) => Value::String("<future>".into()),
        Val::Stream(_) => Value::String("<stream>".into()),
        Val::ErrorContext(_) => Value::String("<error-context>".into()),
    }
}

fn single(key: &str, value: Value) -> Value {
    let mut object = Map::new();
    object.insert(key.to_string(), value);
    Value::Object(object)
}

fn float(n: f64) -> Value {
    match Number::from_f64(n) {
        Some(number) => Value::Number(number),
        None if n.is_nan() => Value::String("NaN".into()),
        None if n > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}
