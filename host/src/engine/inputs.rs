//! Workflow inputs: given values checked against the declared types,
//! defaults filled in, missing required ones named.

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::suggest::closest;
use crate::workflow::model::{InputSpec, InputType};

/// Resolve `given` against the workflow's declared inputs, or every problem.
pub fn resolve(
    declared: &IndexMap<String, InputSpec>,
    given: &Map<String, Value>,
) -> Result<Map<String, Value>, Vec<String>> {
    let mut problems = Vec::new();
    for name in given.keys() {
        if !declared.contains_key(name) {
            let hint = closest(name, declared.keys().map(String::as_str))
                .map(|n| format!("; did you mean `{n}`?"))
                .unwrap_or_default();
            problems.push(format!("the workflow has no input `{name}`{hint}"));
        }
    }
    let mut resolved = Map::new();
    for (name, spec) in declared {
        match given.get(name).or(spec.default.as_ref()) {
            Some(value) if spec.ty.accepts(value) => {
                resolved.insert(name.clone(), value.clone());
            }
            Some(value) => problems.push(format!(
                "input `{name}` must be {}, not {value}",
                article(spec.ty)
            )),
            None if spec.is_required() => {
                problems.push(format!(
                    "missing required input `{name}` ({}); pass --input {name}=VALUE",
                    spec.ty.name()
                ));
            }
            None => {
                resolved.insert(name.clone(), Value::Null);
            }
        }
    }
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(problems)
    }
}

/// Parse `--input NAME=VALUE`: the value as JSON when it parses and the
/// input is not a string, otherwise as text.
pub fn parse_assignment(
    declared: &IndexMap<String, InputSpec>,
    text: &str,
) -> Result<(String, Value), String> {
    let (name, raw) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not NAME=VALUE"))?;
    let ty = declared.get(name).map_or(InputType::Any, |spec| spec.ty);
    let value = match ty {
        InputType::String => Value::String(raw.to_string()),
        _ => serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string())),
    };
    Ok((name.to_string(), value))
}

fn article(ty: InputType) -> String {
    match ty {
        InputType::Integer | InputType::Object | InputType::Array | InputType::Any => {
            format!("an {}", ty.name())
        }
        _ => format!("a {}", ty.name()),
    }
}
