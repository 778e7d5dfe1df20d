//! The JSON shape of a WIT type, for checking `{{ steps.x.output.a.b }}`
//! references before a run — without wasmtime types leaving the sandbox.

use wasmtime::component::types::Type;

use super::type_name::type_name;
use crate::suggest::closest;

/// What JSON a WIT value becomes (see the mapping in `wit/README.md`).
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Not known before the run.
    Any,
    /// Always `null` (no value).
    Null,
    /// A value with no fields: its WIT type name.
    Scalar(String),
    List(Box<Shape>),
    Tuple(Vec<Shape>),
    Record(Vec<(String, Shape)>),
    /// `{"case": payload}`, or `"case"` without payload.
    Variant(Vec<(String, Option<Shape>)>),
    /// `null` or the inner value.
    Option(Box<Shape>),
    /// `{"ok": …}` / `{"err": …}`.
    Result(Box<Shape>, Box<Shape>),
    /// An object with string keys.
    Map(Box<Shape>),
}

impl Shape {
    pub(crate) fn of(ty: &Type) -> Shape {
        match ty {
            Type::List(list) => Shape::List(Box::new(Shape::of(&list.ty()))),
            Type::FixedLengthList(list) => Shape::List(Box::new(Shape::of(&list.ty()))),
            Type::Tuple(tuple) => Shape::Tuple(tuple.types().map(|t| Shape::of(&t)).collect()),
            Type::Record(record) => Shape::Record(
                record
                    .fields()
                    .map(|f| (f.name.to_string(), Shape::of(&f.ty)))
                    .collect(),
            ),
            Type::Variant(variant) => Shape::Variant(
                variant
                    .cases()
                    .map(|c| (c.name.to_string(), c.ty.as_ref().map(Shape::of)))
                    .collect(),
            ),
            Type::Option(option) => Shape::Option(Box::new(Shape::of(&option.ty()))),
            Type::Result(result) => Shape::Result(
                Box::new(result.ok().as_ref().map_or(Shape::Null, Shape::of)),
                Box::new(result.err().as_ref().map_or(Shape::Null, Shape::of)),
            ),
            Type::Map(map) if matches!(map.key(), Type::String) => {
                Shape::Map(Box::new(Shape::of(&map.value())))
            }
            other => Shape::Scalar(type_name(other)),
        }
    }

    /// The JSON kind every value of this shape has (`string`, `a number`, …),
    /// when there is exactly one.
    pub fn json_kind(&self) -> Option<&'static str> {
        match self {
            Shape::Scalar(name) => match name.as_str() {
                "bool" => Some("a boolean"),
                "string" | "char" => Some("a string"),
                "s8" | "s16" | "s32" | "s64" | "u8" | "u16" | "u32" | "u64" | "f32" | "f64" => {
                    Some("a number")
                }
                name if name.starts_with("enum") => Some("a string"),
                name if name.starts_with("flags") => Some("an array"),
                _ => None,
            },
            Shape::List(_) | Shape::Tuple(_) => Some("an array"),
            Shape::Record(_) | Shape::Map(_) | Shape::Result(..) => Some("an object"),
            Shape::Null => Some("null"),
            Shape::Any | Shape::Variant(_) | Shape::Option(_) => None,
        }
    }

    /// The shape of `.name` on a value of this shape, or why it has none.
    pub fn field(&self, name: &str) -> Result<Shape, String> {
        let index = name.parse::<usize>().ok();
        match self {
            Shape::Any => Ok(Shape::Any),
            Shape::Option(inner) => inner.field(name),
            Shape::Map(value) => Ok((**value).clone()),
            Shape::Record(fields) => match fields.iter().find(|(field, _)| field == name) {
                Some((_, shape)) => Ok(shape.clone()),
                None => {
                    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
                    let hint = closest(name, names.iter().copied())
                        .map(|n| format!("; did you mean `{n}`?"))
                        .unwrap_or_default();
                    Err(format!(
                        "has no field `{name}` (its fields: {}){hint}",
                        names.join(", ")
                    ))
                }
            },
            Shape::Variant(cases) => match cases.iter().find(|(case, _)| case == name) {
                Some((_, payload)) => Ok(payload.clone().unwrap_or(Shape::Null)),
                None => Err(format!(
                    "is a variant with cases {}, not `{name}`",
                    cases
                        .iter()
                        .map(|(c, _)| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            },
            Shape::Result(ok, err) => match name {
                "ok" => Ok((**ok).clone()),
                "err" => Ok((**err).clone()),
                _ => Err(format!("is a result: use `.ok` or `.err`, not `.{name}`")),
            },
            Shape::List(item) => match index {
                Some(_) => Ok((**item).clone()),
                None => Err(format!("is a list; index it with [n], not `.{name}`")),
            },
            Shape::Tuple(items) => match index.and_then(|i| items.get(i)) {
                Some(shape) => Ok(shape.clone()),
                None => Err(format!(
                    "is a tuple of {} items, not `.{name}`",
                    items.len()
                )),
            },
            Shape::Null => Err(format!("is always null, so it has no `.{name}`")),
            Shape::Scalar(ty) => Err(format!("is a {ty}, which has no field `{name}`")),
        }
    }
}
