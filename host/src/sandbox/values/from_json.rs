//! JSON → WIT: build a [`Val`] of a given [`Type`] from a JSON value, or say
//! exactly where and why the JSON does not fit.

use serde_json::{Map, Value};
use wasmtime::component::Val;
use wasmtime::component::types::Type;

use super::type_name::type_name;

/// Input that does not fit the action's WIT signature.
///
/// Displays as `input.point.x: expected u32, found string`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct InputError {
    /// Where in the input: `input.a`, `input.items[2].name`.
    pub path: String,
    /// What is wrong there.
    pub problem: String,
}

impl InputError {
    pub(crate) fn new(path: &str, problem: impl Into<String>) -> Self {
        Self {
            path: path.to_string(),
            problem: problem.into(),
        }
    }

    fn mismatch(path: &str, ty: &Type, found: &Value) -> Self {
        Self::new(
            path,
            format!("expected {}, found {}", type_name(ty), json_kind(found)),
        )
    }
}

/// A short description of a JSON value's kind for messages.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Convert `json` to a value of type `ty`; `path` names `json` in messages.
pub fn json_to_val(json: &Value, ty: &Type, path: &str) -> Result<Val, InputError> {
    let mismatch = || InputError::mismatch(path, ty, json);
    match ty {
        Type::Bool => json.as_bool().map(Val::Bool).ok_or_else(mismatch),
        Type::S8 => {
            signed(json, ty, path, i8::MIN.into(), i8::MAX.into()).map(|n| Val::S8(n as i8))
        }
        Type::S16 => {
            signed(json, ty, path, i16::MIN.into(), i16::MAX.into()).map(|n| Val::S16(n as i16))
        }
        Type::S32 => {
            signed(json, ty, path, i32::MIN.into(), i32::MAX.into()).map(|n| Val::S32(n as i32))
        }
        Type::S64 => signed(json, ty, path, i64::MIN, i64::MAX).map(Val::S64),
        Type::U8 => unsigned(json, ty, path, u8::MAX.into()).map(|n| Val::U8(n as u8)),
        Type::U16 => unsigned(json, ty, path, u16::MAX.into()).map(|n| Val::U16(n as u16)),
        Type::U32 => unsigned(json, ty, path, u32::MAX.into()).map(|n| Val::U32(n as u32)),
        Type::U64 => unsigned(json, ty, path, u64::MAX).map(Val::U64),
        Type::Float32 => {
            let n = float(json, ty, path)?;
            if n.is_finite() && n.abs() > f64::from(f32::MAX) {
                return Err(InputError::new(
                    path,
                    format!("{n} is out of range for f32"),
                ));
            }
            Ok(Val::Float32(n as f32))
        }
        Type::Float64 => float(json, ty, path).map(Val::Float64),
        Type::Char => {
            let text = json.as_str().ok_or_else(mismatch)?;
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(Val::Char(c)),
                _ => Err(InputError::new(
                    path,
                    format!(
                        "expected char (a string of exactly one character), found a string of {} characters",
                        text.chars().count()
                    ),
                )),
            }
        }
        Type::String => json
            .as_str()
            .map(|s| Val::String(s.to_string()))
            .ok_or_else(mismatch),
        Type::List(list) => {
            let items = json.as_array().ok_or_else(mismatch)?;
            items_to_vals(items, &list.ty(), path).map(Val::List)
        }
        Type::FixedLengthList(list) => {
            let items = json.as_array().ok_or_else(mismatch)?;
            if items.len() != list.len() as usize {
                return Err(InputError::new(
                    path,
                    format!(
                        "expected {} with exactly {} items, found {}",
                        type_name(ty),
                        list.len(),
                        items.len()
                    ),
                ));
            }
            items_to_vals(items, &list.ty(), path).map(Val::FixedLengthList)
        }
        Type::Map(map) => map_to_val(json, ty, &map.key(), &map.value(), path),
        Type::Record(record) => {
            let object = json.as_object().ok_or_else(mismatch)?;
            let fields: Vec<(&str, Type)> = record.fields().map(|f| (f.name, f.ty)).collect();
            let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
            reject_unknown_keys(object, &names, path, "field")?;
            fields
                .iter()
                .map(|(name, field_ty)| {
                    let field_path = format!("{path}.{name}");
                    let value = match object.get(*name) {
                        Some(value) => json_to_val(value, field_ty, &field_path)?,
                        None if matches!(field_ty, Type::Option(_)) => Val::Option(None),
                        None => {
                            return Err(InputError::new(
                                &field_path,
                                format!("missing field `{name}` ({})", type_name(field_ty)),
                            ));
                        }
                    };
                    Ok((name.to_string(), value))
                })
                .collect::<Result<_, _>>()
                .map(Val::Record)
        }
        Type::Tuple(tuple) => {
            let items = json.as_array().ok_or_else(mismatch)?;
            let types: Vec<Type> = tuple.types().collect();
            if items.len() != types.len() {
                return Err(InputError::new(
                    path,
                    format!(
                        "expected {} (an array of {} items), found an array of {}",
                        type_name(ty),
                        types.len(),
                        items.len()
                    ),
                ));
            }
            items
                .iter()
                .zip(&types)
                .enumerate()
                .map(|(i, (item, item_ty))| json_to_val(item, item_ty, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()
                .map(Val::Tuple)
        }
        Type::Variant(variant) => {
            let cases: Vec<(&str, Option<Type>)> =
                variant.cases().map(|c| (c.name, c.ty)).collect();
            let (name, payload) = case_of(json, ty, path)?;
            let Some((_, payload_ty)) = cases.iter().find(|(case, _)| *case == name) else {
                let names: Vec<&str> = cases.iter().map(|(case, _)| *case).collect();
                return Err(unknown_name(path, "case", name, &names));
            };
            let payload = payload_val(payload, payload_ty.as_ref(), &format!("{path}.{name}"))?;
            Ok(Val::Variant(name.to_string(), payload))
        }
        Type::Enum(enum_) => {
            let name = json.as_str().ok_or_else(mismatch)?;
            let names: Vec<&str> = enum_.names().collect();
            if names.contains(&name) {
                Ok(Val::Enum(name.to_string()))
            } else {
                Err(unknown_name(path, "case", name, &names))
            }
        }
        Type::Option(option) => {
            let inner = option.ty();
            if json.is_null() {
                return Ok(Val::Option(None));
            }
            if matches!(inner, Type::Option(_)) {
                // `option<option<T>>`: `some(x)` must be spelled `{"some": x}` to tell
                // `some(none)` apart from `none`.
                let object = json
                    .as_object()
                    .filter(|o| o.len() == 1 && o.contains_key("some"));
                let Some(object) = object else {
                    return Err(InputError::new(
                        path,
                        format!(
                            "expected null or {{\"some\": …}} for nested {}, found {}",
                            type_name(ty),
                            json_kind(json)
                        ),
                    ));
                };
                let value = json_to_val(&object["some"], &inner, &format!("{path}.some"))?;
                return Ok(Val::Option(Some(Box::new(value))));
            }
            json_to_val(json, &inner, path).map(|value| Val::Option(Some(Box::new(value))))
        }
        Type::Result(result) => {
            let (name, payload) = case_of(json, ty, path)?;
            let inner_path = format!("{path}.{name}");
            match name {
                "ok" => Ok(Val::Result(Ok(payload_val(
                    payload,
                    result.ok().as_ref(),
                    &inner_path,
                )?))),
                "err" => Ok(Val::Result(Err(payload_val(
                    payload,
                    result.err().as_ref(),
                    &inner_path,
                )?))),
                other => Err(unknown_name(path, "case", other, &["ok", "err"])),
            }
        }
        Type::Flags(flags) => {
            let items = json.as_array().ok_or_else(mismatch)?;
            let names: Vec<&str> = flags.names().collect();
            let mut set = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                let name = item.as_str().ok_or_else(|| {
                    InputError::new(
                        &item_path,
                        format!("expected a flag name, found {}", json_kind(item)),
                    )
                })?;
                if !names.contains(&name) {
                    return Err(unknown_name(&item_path, "flag", name, &names));
                }
                if !set.iter().any(|s: &String| s == name) {
                    set.push(name.to_string());
                }
            }
            Ok(Val::Flags(set))
        }
        Type::Own(_) | Type::Borrow(_) => Err(InputError::new(
            path,
            "resource handles cannot be passed as workflow input; the action must take plain data",
        )),
        Type::Future(_) | Type::Stream(_) | Type::ErrorContext => Err(InputError::new(
            path,
            format!(
                "{} values cannot be passed as workflow input",
                type_name(ty)
            ),
        )),
    }
}

/// Build the parameter list of an action from a JSON object keyed by parameter name.
///
/// A missing `option` parameter is `none`; `null` or an absent input stands for `{}`.
pub fn params_from_json(input: &Value, params: &[(String, Type)]) -> Result<Vec<Val>, InputError> {
    let empty = Map::new();
    let object = match input {
        Value::Null => &empty,
        Value::Object(object) => object,
        other => {
            return Err(InputError::new(
                "input",
                format!(
                    "expected an object keyed by parameter name, found {}",
                    json_kind(other)
                ),
            ));
        }
    };
    let names: Vec<&str> = params.iter().map(|(name, _)| name.as_str()).collect();
    reject_unknown_keys(object, &names, "input", "parameter")?;
    params
        .iter()
        .map(|(name, ty)| {
            let path = format!("input.{name}");
            match object.get(name) {
                Some(value) => json_to_val(value, ty, &path),
                None if matches!(ty, Type::Option(_)) => Ok(Val::Option(None)),
                None => Err(InputError::new(
                    &path,
                    format!("missing required parameter `{name}` ({})", type_name(ty)),
                )),
            }
        })
        .collect()
}

/// Convert every item of a JSON array to `item_ty`, naming each by index.
fn items_to_vals(items: &[Value], item_ty: &Type, path: &str) -> Result<Vec<Val>, InputError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| json_to_val(item, item_ty, &format!("{path}[{i}]")))
        .collect()
}

fn signed(json: &Value, ty: &Type, path: &str, min: i64, max: i64) -> Result<i64, InputError> {
    match json.as_i64() {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(n) => Err(out_of_range(path, n, ty, min, max)),
        None if json.is_u64() => Err(out_of_range(path, json, ty, min, max)),
        None => Err(not_an_integer(path, ty, json)),
    }
}

fn unsigned(json: &Value, ty: &Type, path: &str, max: u64) -> Result<u64, InputError> {
    match json.as_u64() {
        Some(n) if n <= max => Ok(n),
        Some(n) => Err(out_of_range(path, n, ty, 0, max)),
        None if json.is_i64() => Err(out_of_range(path, json, ty, 0, max)),
        None => Err(not_an_integer(path, ty, json)),
    }
}

fn out_of_range(
    path: &str,
    n: impl std::fmt::Display,
    ty: &Type,
    min: impl std::fmt::Display,
    max: impl std::fmt::Display,
) -> InputError {
    InputError::new(
        path,
        format!("{n} is out of range for {} ({min} to {max})", type_name(ty)),
    )
}

fn not_an_integer(path: &str, ty: &Type, json: &Value) -> InputError {
    if json.is_number() {
        InputError::new(
            path,
            format!(
                "expected {}, found the non-integer number {json}",
                type_name(ty)
            ),
        )
    } else {
        InputError::mismatch(path, ty, json)
    }
}

fn float(json: &Value, ty: &Type, path: &str) -> Result<f64, InputError> {
    match json {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| InputError::mismatch(path, ty, json)),
        // Non-finite floats have no JSON number form; they travel as these strings.
        Value::String(s) if s == "NaN" => Ok(f64::NAN),
        Value::String(s) if s == "Infinity" => Ok(f64::INFINITY),
        Value::String(s) if s == "-Infinity" => Ok(f64::NEG_INFINITY),
        _ => Err(InputError::mismatch(path, ty, json)),
    }
}

/// A case of a variant or result: `"name"`, or `{"name": payload}`.
fn case_of<'a>(
    json: &'a Value,
    ty: &Type,
    path: &str,
) -> Result<(&'a str, Option<&'a Value>), InputError> {
    match json {
        Value::String(name) => Ok((name, None)),
        Value::Object(object) if object.len() == 1 => {
            let (name, payload) = object.iter().next().expect("one entry");
            Ok((name, Some(payload)))
        }
        _ => Err(InputError::new(
            path,
            format!(
                "expected {} as \"case\" or {{\"case\": payload}}, found {}",
                type_name(ty),
                json_kind(json)
            ),
        )),
    }
}

fn payload_val(
    payload: Option<&Value>,
    ty: Option<&Type>,
    path: &str,
) -> Result<Option<Box<Val>>, InputError> {
    match (payload, ty) {
        (None | Some(Value::Null), None) => Ok(None),
        (Some(value), Some(ty)) => json_to_val(value, ty, path).map(|v| Some(Box::new(v))),
        (None, Some(Type::Option(_))) => Ok(Some(Box::new(Val::Option(None)))),
        (None, Some(ty)) => Err(InputError::new(
            path,
            format!("missing payload ({})", type_name(ty)),
        )),
        (Some(value), None) => Err(InputError::new(
            path,
            format!("this case has no payload, found {}", json_kind(value)),
        )),
    }
}

fn map_to_val(
    json: &Value,
    ty: &Type,
    key_ty: &Type,
    value_ty: &Type,
    path: &str,
) -> Result<Val, InputError> {
    let mut entries = Vec::new();
    match json {
        Value::Object(object) if matches!(key_ty, Type::String) => {
            for (key, value) in object {
                let value = json_to_val(value, value_ty, &format!("{path}[{key:?}]"))?;
                entries.push((Val::String(key.clone()), value));
            }
        }
        Value::Array(pairs) => {
            for (i, pair) in pairs.iter().enumerate() {
                let pair_path = format!("{path}[{i}]");
                let Some([key, value]) = pair.as_array().map(Vec::as_slice) else {
                    return Err(InputError::new(
                        &pair_path,
                        format!("expected a [key, value] pair, found {}", json_kind(pair)),
                    ));
                };
                entries.push((
                    json_to_val(key, key_ty, &format!("{pair_path}[0]"))?,
                    json_to_val(value, value_ty, &format!("{pair_path}[1]"))?,
                ));
            }
        }
        _ => return Err(InputError::mismatch(path, ty, json)),
    }
    Ok(Val::Map(entries))
}

fn reject_unknown_keys(
    object: &Map<String, Value>,
    known: &[&str],
    path: &str,
    what: &str,
) -> Result<(), InputError> {
    match object.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(unknown_name(path, what, key, known)),
        None => Ok(()),
    }
}

fn unknown_name(path: &str, what: &str, name: &str, known: &[&str]) -> InputError {
    let kebab = name.replace('_', "-").to_lowercase();
    let hint = if kebab != name && known.contains(&kebab.as_str()) {
        format!(" (did you mean `{kebab}`? WIT names are kebab-case)")
    } else if known.is_empty() {
        format!(" (it takes no {what}s)")
    } else {
        format!("; expected one of: {}", known.join(", "))
    };
    InputError::new(path, format!("unknown {what} `{name}`{hint}"))
}
