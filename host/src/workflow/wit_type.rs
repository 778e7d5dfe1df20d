//! WIT types written inline in a workflow (`wait: { type: "record {
//! approved: bool, comment: option<string> }" }`): parsed into the
//! [`Shape`] references are checked against, and JSON values checked
//! against it when they arrive. The syntax is how `wfhost` prints a WIT
//! type (`module show`), plus `any` for any JSON.

use serde_json::Value;

use crate::sandbox::values::Shape;

/// How deeply types may nest: a hostile file is judged in bounded time.
const MAX_DEPTH: usize = 32;

const SCALARS: &[&str] = &[
    "bool", "s8", "s16", "s32", "s64", "u8", "u16", "u32", "u64", "f32", "f64", "char", "string",
];

/// Why a type does not parse: the problem, and where in the text (byte
/// offset and length of what is wrong; at least 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeError {
    pub offset: usize,
    pub len: usize,
    pub problem: String,
}

/// Parse a WIT type expression.
pub fn parse(text: &str) -> Result<Shape, TypeError> {
    let mut parser = Parser { text, at: 0 };
    let shape = parser.ty(0)?;
    parser.blank();
    if parser.at < text.len() {
        return Err(parser.fail(format!(
            "unexpected `{}` after the type",
            parser.rest().chars().next().unwrap_or(' ')
        )));
    }
    Ok(shape)
}

struct Parser<'t> {
    text: &'t str,
    at: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn fail(&self, problem: String) -> TypeError {
        TypeError {
            offset: self.at,
            len: 1,
            problem,
        }
    }

    fn blank(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    /// The next name (`kebab-case` WIT identifier), or an error naming `what`.
    fn name(&mut self, what: &str) -> Result<String, TypeError> {
        self.blank();
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(self.rest().len());
        if len == 0 {
            return Err(self.fail(format!("expected {what}")));
        }
        let name = self.rest()[..len].to_string();
        self.at += len;
        Ok(name)
    }

    fn eat(&mut self, token: char) -> bool {
        self.blank();
        if self.rest().starts_with(token) {
            self.at += token.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: char) -> Result<(), TypeError> {
        if self.eat(token) {
            Ok(())
        } else {
            let found = self
                .rest()
                .chars()
                .next()
                .map_or("the end".to_string(), |c| format!("`{c}`"));
            Err(self.fail(format!("expected `{token}`, found {found}")))
        }
    }

    /// Items separated by commas up to `close` (a trailing comma allowed).
    fn list<T>(
        &mut self,
        close: char,
        mut item: impl FnMut(&mut Self) -> Result<T, TypeError>,
    ) -> Result<Vec<T>, TypeError> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Ok(items);
            }
            items.push(item(self)?);
            if !self.eat(',') {
                self.expect(close)?;
                return Ok(items);
            }
        }
    }

    fn ty(&mut self, depth: usize) -> Result<Shape, TypeError> {
        if depth > MAX_DEPTH {
            return Err(self.fail(format!("types nest more than {MAX_DEPTH} deep")));
        }
        self.blank();
        let start = self.at;
        let name = self.name("a type")?;
        let inner = |parser: &mut Self| parser.ty(depth + 1);
        let shape = match name.as_str() {
            "any" => Shape::Any,
            "float32" => Shape::Scalar("f32".into()),
            "float64" => Shape::Scalar("f64".into()),
            scalar if SCALARS.contains(&scalar) => Shape::Scalar(scalar.to_string()),
            "list" | "option" => {
                self.expect('<')?;
                let item = inner(self)?;
                self.expect('>')?;
                if name == "list" {
                    Shape::List(Box::new(item))
                } else {
                    Shape::Option(Box::new(item))
                }
            }
            "tuple" => {
                self.expect('<')?;
                Shape::Tuple(self.list('>', inner)?)
            }
            "result" => {
                let (ok, err) = if self.eat('<') {
                    let ok = if self.eat('_') {
                        Shape::Null
                    } else {
                        inner(self)?
                    };
                    let err = if self.eat(',') {
                        inner(self)?
                    } else {
                        Shape::Null
                    };
                    self.expect('>')?;
                    (ok, err)
                } else {
                    (Shape::Null, Shape::Null)
                };
                Shape::Result(Box::new(ok), Box::new(err))
            }
            "record" => {
                self.expect('{')?;
                let fields = self.list('}', |parser| {
                    let field = parser.name("a field name")?;
                    parser.expect(':')?;
                    Ok((field, parser.ty(depth + 1)?))
                })?;
                if fields.is_empty() {
                    return Err(self.fail("a record needs at least one field".into()));
                }
                Shape::Record(fields)
            }
            "enum" => {
                self.expect('{')?;
                let cases = self.list('}', |parser| Ok((parser.name("a case name")?, None)))?;
                Shape::Variant(cases)
            }
            "variant" => {
                self.expect('{')?;
                let cases = self.list('}', |parser| {
                    let case = parser.name("a case name")?;
                    let payload = if parser.eat('(') {
                        let payload = parser.ty(depth + 1)?;
                        parser.expect(')')?;
                        Some(payload)
                    } else {
                        None
                    };
                    Ok((case, payload))
                })?;
                Shape::Variant(cases)
            }
            other => {
                self.at = start;
                let hint = crate::suggest::closest(
                    other,
                    SCALARS.iter().copied().chain([
                        "any", "list", "option", "tuple", "result", "record", "enum", "variant",
                    ]),
                )
                .map(|n| format!("; did you mean `{n}`?"))
                .unwrap_or_default();
                return Err(TypeError {
                    len: other.len(),
                    ..self.fail(format!("unknown type `{other}`{hint}"))
                });
            }
        };
        if let Shape::Variant(cases) = &shape
            && cases.is_empty()
        {
            return Err(self.fail(format!("`{name}` needs at least one case")));
        }
        Ok(shape)
    }
}

/// Whether `value` is a JSON value of `shape` (as `wit/README.md` maps WIT
/// to JSON); the problem names where it is, from `path` (`payload.items[2]`).
pub fn check(shape: &Shape, value: &Value, path: &str) -> Result<(), String> {
    let wrong = |expected: &str| {
        Err(format!(
            "{path}: expected {expected}, found {}",
            kind_of(value)
        ))
    };
    match shape {
        Shape::Any => Ok(()),
        Shape::Null => match value {
            Value::Null => Ok(()),
            _ => wrong("null"),
        },
        Shape::Scalar(name) => check_scalar(name, value, path),
        Shape::Option(inner) => match value {
            Value::Null => Ok(()),
            _ => check(inner, value, path),
        },
        Shape::List(item) => {
            let Value::Array(items) = value else {
                return wrong("a list");
            };
            items
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| check(item, v, &format!("{path}[{i}]")))
        }
        Shape::Tuple(types) => {
            let Value::Array(items) = value else {
                return wrong(&format!("a tuple of {} items", types.len()));
            };
            if items.len() != types.len() {
                return Err(format!(
                    "{path}: expected a tuple of {} items, found {}",
                    types.len(),
                    items.len()
                ));
            }
            types
                .iter()
                .zip(items)
                .enumerate()
                .try_for_each(|(i, (t, v))| check(t, v, &format!("{path}[{i}]")))
        }
        Shape::Record(fields) => {
            let Value::Object(object) = value else {
                return wrong("a record (an object)");
            };
            if let Some(unknown) = object
                .keys()
                .find(|key| !fields.iter().any(|(name, _)| name == *key))
            {
                let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
                return Err(format!(
                    "{path}: unknown field `{unknown}` (its fields: {})",
                    names.join(", ")
                ));
            }
            for (name, field) in fields {
                let at = format!("{path}.{name}");
                match object.get(name) {
                    Some(v) => check(field, v, &at)?,
                    None if matches!(field, Shape::Option(_) | Shape::Any) => {}
                    None => return Err(format!("{at}: missing")),
                }
            }
            Ok(())
        }
        Shape::Variant(cases) => {
            let names = || {
                cases
                    .iter()
                    .map(|(c, _)| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let (case, payload) = match value {
                Value::String(case) => (case.as_str(), None),
                Value::Object(object) if object.len() == 1 => {
                    let (case, payload) = object.iter().next().expect("one entry");
                    (case.as_str(), Some(payload))
                }
                _ => return wrong(&format!("one of the cases {}", names())),
            };
            let Some((_, expected)) = cases.iter().find(|(c, _)| c == case) else {
                return Err(format!(
                    "{path}: `{case}` is not one of the cases {}",
                    names()
                ));
            };
            match (expected, payload) {
                (None, None) => Ok(()),
                (Some(shape), Some(payload)) => check(shape, payload, &format!("{path}.{case}")),
                (None, Some(_)) => Err(format!("{path}: case `{case}` has no payload")),
                (Some(_), None) => Err(format!(
                    "{path}: case `{case}` needs a payload: {{\"{case}\": …}}"
                )),
            }
        }
        Shape::Result(ok, err) => match value {
            Value::Object(object) if object.len() == 1 => {
                let (case, payload) = object.iter().next().expect("one entry");
                match case.as_str() {
                    "ok" => check(ok, payload, &format!("{path}.ok")),
                    "err" => check(err, payload, &format!("{path}.err")),
                    _ => wrong("{\"ok\": …} or {\"err\": …}"),
                }
            }
            _ => wrong("{\"ok\": …} or {\"err\": …}"),
        },
        Shape::Map(item) => {
            let Value::Object(object) = value else {
                return wrong("an object");
            };
            object
                .iter()
                .try_for_each(|(key, v)| check(item, v, &format!("{path}.{key}")))
        }
    }
}

/// Fill in what a sender may leave out of a value [`check`] accepted: an
/// absent `option` field of a record is `null`, as a WIT value read back
/// as JSON has it (templates reading it then get `null`, not undefined).
pub fn complete(shape: &Shape, value: &mut Value) {
    match (shape, value) {
        (Shape::Record(fields), Value::Object(object)) => {
            for (name, field) in fields {
                let entry = object.entry(name.clone()).or_insert(Value::Null);
                complete(field, entry);
            }
        }
        (Shape::Option(inner), value) if !value.is_null() => complete(inner, value),
        (Shape::List(item), Value::Array(items)) => {
            items.iter_mut().for_each(|v| complete(item, v));
        }
        (Shape::Tuple(types), Value::Array(items)) => {
            types.iter().zip(items).for_each(|(t, v)| complete(t, v));
        }
        (Shape::Map(item), Value::Object(object)) => {
            object.values_mut().for_each(|v| complete(item, v));
        }
        (Shape::Variant(cases), Value::Object(object)) => {
            for (case, payload) in object.iter_mut() {
                if let Some((_, Some(shape))) = cases.iter().find(|(c, _)| c == case) {
                    complete(shape, payload);
                }
            }
        }
        (Shape::Result(ok, err), Value::Object(object)) => {
            if let Some(v) = object.get_mut("ok") {
                complete(ok, v);
            }
            if let Some(v) = object.get_mut("err") {
                complete(err, v);
            }
        }
        _ => {}
    }
}

/// A value of `shape`, to show how to send one (`wfhost run` prints the
/// command that answers a wait with it).
pub fn example(shape: &Shape) -> Value {
    match shape {
        Shape::Any | Shape::Null => Value::Null,
        Shape::Scalar(name) => match name.as_str() {
            "bool" => Value::Bool(true),
            "string" => Value::String("text".into()),
            "char" => Value::String("a".into()),
            "f32" | "f64" => serde_json::json!(1.5),
            _ => serde_json::json!(1),
        },
        Shape::Option(inner) => example(inner),
        Shape::List(item) => Value::Array(vec![example(item)]),
        Shape::Tuple(items) => Value::Array(items.iter().map(example).collect()),
        Shape::Record(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, field)| (name.clone(), example(field)))
                .collect(),
        ),
        Shape::Variant(cases) => match cases.first() {
            Some((case, None)) => Value::String(case.clone()),
            Some((case, Some(payload))) => serde_json::json!({ case.as_str(): example(payload) }),
            None => Value::Null,
        },
        Shape::Result(ok, _) => serde_json::json!({ "ok": example(ok) }),
        Shape::Map(_) => serde_json::json!({}),
    }
}

fn check_scalar(name: &str, value: &Value, path: &str) -> Result<(), String> {
    let fits = match name {
        "bool" => value.is_boolean(),
        "string" => value.is_string(),
        "char" => value.as_str().is_some_and(|s| s.chars().count() == 1),
        "f32" | "f64" => value.is_number(),
        "u8" => in_range(value, 0, u8::MAX.into()),
        "u16" => in_range(value, 0, u16::MAX.into()),
        "u32" => in_range(value, 0, u32::MAX.into()),
        "u64" => value.is_u64(),
        "s8" => in_range(value, i8::MIN.into(), i8::MAX.into()),
        "s16" => in_range(value, i16::MIN.into(), i16::MAX.into()),
        "s32" => in_range(value, i32::MIN.into(), i32::MAX.into()),
        "s64" => value.is_i64(),
        _ => true,
    };
    if fits {
        Ok(())
    } else {
        Err(format!("{path}: expected {name}, found {}", kind_of(value)))
    }
}

fn in_range(value: &Value, low: i64, high: i64) -> bool {
    value.as_i64().is_some_and(|n| (low..=high).contains(&n))
}

/// How a value is described in a message: its kind and, when short, itself.
fn kind_of(value: &Value) -> String {
    let kind = match value {
        Value::Null => return "null".into(),
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => return "a list".into(),
        Value::Object(_) => return "an object".into(),
    };
    let text = value.to_string();
    if text.len() <= 40 {
        format!("{kind} ({text})")
    } else {
        kind.to_string()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[allow(clippy::needless_pass_by_value)] // called with json!(…)
    fn ok(ty: &str, value: Value) {
        let shape = parse(ty).unwrap_or_else(|e| panic!("{ty}: {e:?}"));
        assert_eq!(check(&shape, &value, "payload"), Ok(()), "{ty} {value}");
    }

    #[allow(clippy::needless_pass_by_value)] // called with json!(…)
    fn refused(ty: &str, value: Value, problem: &str) {
        let shape = parse(ty).unwrap_or_else(|e| panic!("{ty}: {e:?}"));
        assert_eq!(
            check(&shape, &value, "payload"),
            Err(problem.to_string()),
            "{ty}"
        );
    }

    #[test]
    fn the_printed_syntax_parses_and_checks_values() {
        let approval = "record { approved: bool, comment: option<string> }";
        ok(approval, json!({"approved": true}));
        let mut sent = json!([{"approved": true}]);
        complete(
            &parse(&format!("list<{approval}>")).expect("parses"),
            &mut sent,
        );
        assert_eq!(sent, json!([{"approved": true, "comment": null}]));
        ok(approval, json!({"approved": false, "comment": "no"}));
        refused(
            approval,
            json!({"approved": "yes"}),
            "payload.approved: expected bool, found a string (\"yes\")",
        );
        refused(approval, json!({}), "payload.approved: missing");
        refused(
            approval,
            json!({"approved": true, "coment": "x"}),
            "payload: unknown field `coment` (its fields: approved, comment)",
        );
        ok("list<tuple<u8, string>>", json!([[1, "a"], [255, "b"]]));
        refused(
            "list<u8>",
            json!([1, 256]),
            "payload[1]: expected u8, found a number (256)",
        );
        ok("enum { low, high }", json!("high"));
        refused(
            "enum { low, high }",
            json!("mid"),
            "payload: `mid` is not one of the cases low, high",
        );
        ok("variant { none, some(s32) }", json!({"some": -3}));
        ok("result<string, u32>", json!({"err": 4}));
        ok("result<_, string>", json!({"ok": null}));
        ok("any", json!({"anything": [1, 2]}));
        ok("char", json!("é"));
        for ty in [
            approval,
            "list<tuple<u8, string>>",
            "variant { none, some(s32) }",
            "result<_, string>",
        ] {
            let shape = parse(ty).expect("parses");
            assert_eq!(check(&shape, &example(&shape), "example"), Ok(()), "{ty}");
        }
        assert_eq!(
            example(&parse(approval).expect("parses")),
            json!({"approved": true, "comment": "text"})
        );
        refused(
            "char",
            json!("ab"),
            "payload: expected char, found a string (\"ab\")",
        );
    }

    #[test]
    fn bad_types_name_the_place_and_the_problem() {
        let err = |ty: &str| parse(ty).expect_err(ty);
        assert_eq!(
            err("record { approved: boool }"),
            TypeError {
                offset: 19,
                len: 5,
                problem: "unknown type `boool`; did you mean `bool`?".into()
            }
        );
        assert_eq!(err("list<u8").problem, "expected `>`, found the end");
        assert_eq!(err("u8 u8").problem, "unexpected `u` after the type");
        assert_eq!(
            err("record { }").problem,
            "a record needs at least one field"
        );
        let deep = format!("{}u8{}", "list<".repeat(40), ">".repeat(40));
        assert_eq!(err(&deep).problem, "types nest more than 32 deep");
    }
}
