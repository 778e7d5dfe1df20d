//! A signal's payload as a form: the fields a wait's WIT type asks for
//! (a record's fields one by one; any other type as one field), each with
//! the input that suits it — a checkbox for `bool`, a choice for an enum,
//! text for strings and numbers, JSON for the rest — and the submitted form
//! read back into the JSON value the signal carries. The value is then
//! checked against the type where every signal is (`signal::send`): a form
//! never decides what is well-typed.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::sandbox::values::Shape;

/// The name a lone (non-record) payload's field is posted as.
const LONE: &str = "value";

/// One input of the form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    /// Posted as `field.<name>`.
    pub name: String,
    /// What is shown: the field's name and its WIT type.
    pub label: String,
    pub input: Input,
    /// May be left empty (an `option`): it is then absent (`null`).
    pub optional: bool,
}

/// How a field is entered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Input {
    Checkbox,
    /// One of these cases (an enum, or a variant without payloads).
    Choice {
        cases: Vec<String>,
    },
    /// A number, read as JSON when it parses as one.
    Number,
    Text,
    /// Any other type, written as JSON (`example` shows its shape).
    Json {
        example: String,
    },
}

/// The fields a payload of `shape` (written `type_text`) is entered with.
pub fn fields(shape: &Shape) -> Vec<Field> {
    match shape {
        Shape::Record(fields) => fields
            .iter()
            .map(|(name, shape)| field(name, shape))
            .collect(),
        shape => vec![field(LONE, shape)],
    }
}

fn field(name: &str, shape: &Shape) -> Field {
    let (inner, optional) = match shape {
        Shape::Option(inner) => (inner.as_ref(), true),
        shape => (shape, false),
    };
    Field {
        name: name.to_string(),
        label: format!("{name}: {}", shape_text(shape)),
        input: input_for(inner),
        optional,
    }
}

fn input_for(shape: &Shape) -> Input {
    match shape {
        Shape::Scalar(name) if name == "bool" => Input::Checkbox,
        Shape::Scalar(name) if name == "string" || name == "char" => Input::Text,
        Shape::Scalar(_) => Input::Number,
        Shape::Variant(cases) if cases.iter().all(|(_, payload)| payload.is_none()) => {
            Input::Choice {
                cases: cases.iter().map(|(name, _)| name.clone()).collect(),
            }
        }
        shape => Input::Json {
            example: crate::workflow::wit_type::example(shape).to_string(),
        },
    }
}

/// A type as `wfhost` writes it, for a field's label.
fn shape_text(shape: &Shape) -> String {
    match shape {
        Shape::Any => "any".into(),
        Shape::Null => "null".into(),
        Shape::Scalar(name) => name.clone(),
        Shape::List(inner) => format!("list<{}>", shape_text(inner)),
        Shape::Option(inner) => format!("option<{}>", shape_text(inner)),
        Shape::Map(inner) => format!("map<string, {}>", shape_text(inner)),
        Shape::Tuple(items) => format!(
            "tuple<{}>",
            items.iter().map(shape_text).collect::<Vec<_>>().join(", ")
        ),
        Shape::Result(ok, err) => format!("result<{}, {}>", shape_text(ok), shape_text(err)),
        Shape::Record(_) => "record".into(),
        Shape::Variant(cases) if cases.iter().all(|(_, payload)| payload.is_none()) => format!(
            "enum {{ {} }}",
            cases
                .iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Shape::Variant(_) => "variant".into(),
    }
}

/// The payload a submitted form stands for: `posted` are the form's
/// (name, value) pairs. A field that cannot be read (JSON that does not
/// parse) is an error naming it; a value of the wrong type is left for the
/// type check to refuse.
pub fn payload(shape: &Shape, posted: &[(String, String)]) -> Result<Value, String> {
    let posted_value = |name: &str| {
        let key = format!("field.{name}");
        posted
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    };
    let read = |field: &Field| value_of(field, posted_value(&field.name));
    match shape {
        Shape::Record(_) => {
            let mut object = Map::new();
            for field in fields(shape) {
                let value = read(&field)?;
                if !(field.optional && value.is_null()) {
                    object.insert(field.name.clone(), value);
                }
            }
            Ok(Value::Object(object))
        }
        shape => read(&field(LONE, shape)),
    }
}

fn value_of(field: &Field, posted: Option<&str>) -> Result<Value, String> {
    let text = posted.unwrap_or("").trim();
    match &field.input {
        // An unticked checkbox is not posted at all.
        Input::Checkbox => Ok(Value::Bool(posted.is_some_and(|v| v == "true"))),
        _ if text.is_empty() && field.optional => Ok(Value::Null),
        Input::Text => Ok(Value::String(posted.unwrap_or("").to_string())),
        Input::Choice { .. } => Ok(Value::String(text.to_string())),
        Input::Number => Ok(serde_json::from_str::<serde_json::Number>(text)
            .map_or_else(|_| Value::String(text.to_string()), Value::Number)),
        Input::Json { .. } if text.is_empty() => Ok(Value::Null),
        Input::Json { .. } => serde_json::from_str(text)
            .map_err(|error| format!("`{}` is not JSON: {error}", field.name)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::workflow::wit_type;

    fn shape(text: &str) -> Shape {
        wit_type::parse(text).unwrap_or_else(|e| panic!("{text}: {}", e.problem))
    }

    fn posted(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn a_record_is_one_field_each_with_the_input_its_type_needs() {
        let fields = fields(&shape(
            "record { approved: bool, comment: option<string>, level: enum { low, high }, count: u8, tags: list<string> }",
        ));
        let inputs: Vec<_> = fields
            .iter()
            .map(|f| (&*f.name, &f.input, f.optional))
            .collect();
        assert_eq!(
            inputs,
            [
                ("approved", &Input::Checkbox, false),
                ("comment", &Input::Text, true),
                (
                    "level",
                    &Input::Choice {
                        cases: vec!["low".into(), "high".into()]
                    },
                    false
                ),
                ("count", &Input::Number, false),
                (
                    "tags",
                    &Input::Json {
                        example: "[\"text\"]".into()
                    },
                    false
                ),
            ]
        );
        assert_eq!(fields[1].label, "comment: option<string>");
    }

    #[test]
    fn a_form_reads_back_as_the_payload_and_leaves_type_errors_to_the_check() {
        let record = shape("record { approved: bool, comment: option<string>, count: u8 }");
        let value = payload(
            &record,
            &posted(&[("field.approved", "true"), ("field.count", "3")]),
        );
        assert_eq!(value, Ok(json!({ "approved": true, "count": 3 })));
        // Not a number: sent as text, for the type check to refuse.
        let value = payload(&record, &posted(&[("field.count", "many")]));
        assert_eq!(value, Ok(json!({ "approved": false, "count": "many" })));
        let lone = shape("list<u32>");
        assert_eq!(
            payload(&lone, &posted(&[("field.value", "[1, 2]")])),
            Ok(json!([1, 2]))
        );
        assert!(
            payload(&lone, &posted(&[("field.value", "[1,")]))
                .is_err_and(|e| e.contains("`value` is not JSON"))
        );
    }
}
