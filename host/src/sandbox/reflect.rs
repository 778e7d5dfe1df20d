//! Reflection: which actions a component exports, with their WIT signatures
//! and docs.
//!
//! Types for calling come from wasmtime (structural); names and docs come
//! from the WIT the component carries (decoded with `wit-parser`), when it
//! carries any — a component written by hand in WAT has none, and its
//! signatures are spelled structurally instead.

use std::collections::HashMap;

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};
use wit_parser::decoding::DecodedWasm;
use wit_parser::{Resolve, TypeDefKind, WorldItem};

use super::values::{InputError, Shape, json_to_val, type_name, val_to_json};

/// One WIT source file a module ships, for names and docs.
#[derive(Debug, Clone)]
pub struct WitFile {
    /// Shown in messages.
    pub path: String,
    pub text: String,
}

/// One action of a module: an exported WIT function.
#[derive(Debug, Clone)]
pub struct Action {
    /// How workflows and the CLI name it: `add`, or `iface.add` inside an
    /// exported interface.
    pub name: String,
    /// The exported interface holding it (`wfhost:calc/math@0.1.0`), if any.
    pub interface: Option<String>,
    /// The function's WIT name.
    pub function: String,
    /// Named parameters in order, with their types.
    pub params: Vec<(String, Type)>,
    /// The result type, if the function returns anything.
    pub result: Option<Type>,
    /// `func(a: u32, b: u32) -> result<u32, action-error>`.
    pub signature: String,
    /// The WIT doc comment, if the component carries it.
    pub docs: Option<String>,
    /// The named types its signature uses, each with its WIT definition
    /// (`file-content`, `record { path: string, contents: string }`).
    pub types: Vec<(String, String)>,
}

impl Action {
    /// Whether `name` is this action's fully qualified name: its exported
    /// interface, with or without its version, then `.function`
    /// (`acme:calc/math@0.1.0.add`, `acme:calc/math.add`).
    pub fn is_fully_named(&self, name: &str) -> bool {
        let Some(interface) = &self.interface else {
            return false;
        };
        let Some(prefix) = name
            .strip_suffix(self.function.as_str())
            .and_then(|rest| rest.strip_suffix('.'))
        else {
            return false;
        };
        let unversioned = interface.split('@').next().unwrap_or(interface);
        prefix == interface || prefix == unversioned
    }

    /// The parameters' names, in order.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|(name, _)| name.as_str())
    }

    /// The parameter's WIT type spelled out, if there is one of that name.
    pub fn param_type(&self, name: &str) -> Option<String> {
        self.param(name).map(type_name)
    }

    /// The JSON shape the parameter takes.
    pub fn param_shape(&self, name: &str) -> Option<Shape> {
        self.param(name).map(Shape::of)
    }

    /// May the parameter be left out (an `option`)?
    pub fn param_is_optional(&self, name: &str) -> bool {
        matches!(self.param(name), Some(Type::Option(_)))
    }

    /// `value` for parameter `name` as the guest receives it, back as JSON
    /// (the JSON ⇄ WIT mapping both ways: optional fields filled, numbers
    /// in their WIT range).
    pub fn round_trip_param(
        &self,
        name: &str,
        value: &serde_json::Value,
    ) -> Result<serde_json::Value, InputError> {
        match self.param(name) {
            Some(ty) => {
                json_to_val(value, ty, &format!("input.{name}")).map(|val| val_to_json(&val))
            }
            None => Err(InputError::new(
                &format!("input.{name}"),
                "no such parameter",
            )),
        }
    }

    /// Check a literal value for parameter `name`, as the call would.
    pub fn check_param(&self, name: &str, value: &serde_json::Value) -> Result<(), InputError> {
        match self.param(name) {
            Some(ty) => json_to_val(value, ty, &format!("input.{name}")).map(drop),
            None => Err(InputError::new(
                &format!("input.{name}"),
                "no such parameter",
            )),
        }
    }

    /// The JSON shape of a successful call's output: the `ok` value of a
    /// `result`, or the plain return value.
    pub fn output_shape(&self) -> Shape {
        match self.result.as_ref().map(Shape::of) {
            None => Shape::Null,
            Some(Shape::Result(ok, _)) => *ok,
            Some(shape) => shape,
        }
    }

    /// The JSON shape of the guest's `err` value, when the action returns a `result`.
    pub fn error_shape(&self) -> Shape {
        match self.result.as_ref().map(Shape::of) {
            Some(Shape::Result(_, err)) => *err,
            _ => Shape::Null,
        }
    }

    fn param(&self, name: &str) -> Option<&Type> {
        self.params
            .iter()
            .find(|(param, _)| param == name)
            .map(|(_, ty)| ty)
    }
}

/// A function as written in WIT: its signature with named types, its docs,
/// and the definitions of the named types it uses.
#[derive(Debug, Clone, Default)]
pub(crate) struct Description {
    signature: String,
    docs: Option<String>,
    types: Vec<(String, String)>,
}

/// Descriptions of functions, keyed by (interface, function).
pub(crate) type Described = HashMap<(Option<String>, String), Description>;

/// One entry of [`Described`], as the artifact cache stores it (decoding a
/// large component's WIT costs more than loading its precompiled artifact).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct DescribedFunction {
    interface: Option<String>,
    function: String,
    signature: String,
    docs: Option<String>,
    #[serde(default)]
    types: Vec<(String, String)>,
}

pub(crate) fn described_to_list(described: &Described) -> Vec<DescribedFunction> {
    described
        .iter()
        .map(|((interface, function), description)| DescribedFunction {
            interface: interface.clone(),
            function: function.clone(),
            signature: description.signature.clone(),
            docs: description.docs.clone(),
            types: description.types.clone(),
        })
        .collect()
}

pub(crate) fn described_from_list(list: Vec<DescribedFunction>) -> Described {
    list.into_iter()
        .map(|f| {
            (
                (f.interface, f.function),
                Description {
                    signature: f.signature,
                    docs: f.docs,
                    types: f.types,
                },
            )
        })
        .collect()
}

/// Every action `component` exports, in export order, named and documented
/// from `described`.
pub(crate) fn discover(
    engine: &Engine,
    component: &Component,
    described: &Described,
) -> Vec<Action> {
    let mut actions = Vec::new();
    let ty = component.component_type();
    for (export, item) in ty.exports(engine) {
        match item.ty {
            ComponentItem::ComponentFunc(func) if !is_toolchain_hook(None, export, &func) => {
                actions.push(action(None, export, &func, described));
            }
            ComponentItem::ComponentInstance(instance) => {
                if is_toolchain_interface(export) {
                    continue;
                }
                for (name, item) in instance.exports(engine) {
                    if let ComponentItem::ComponentFunc(func) = item.ty
                        && !is_toolchain_hook(Some(export), name, &func)
                    {
                        actions.push(action(Some(export), name, &func, described));
                    }
                }
            }
            _ => {}
        }
    }
    actions
}

fn action(
    interface: Option<&str>,
    function: &str,
    func: &ComponentFunc,
    described: &Described,
) -> Action {
    let params: Vec<(String, Type)> = func
        .params()
        .map(|(name, ty)| (name.to_string(), ty))
        .collect();
    let result = func.results().next();
    let key = (interface.map(str::to_string), function.to_string());
    let (signature, docs, types) = match described.get(&key) {
        Some(description) => (
            description.signature.clone(),
            description.docs.clone(),
            description.types.clone(),
        ),
        None => (
            structural_signature(&params, result.as_ref()),
            None,
            Vec::new(),
        ),
    };
    Action {
        name: match interface {
            Some(interface) => format!("{}.{function}", short_interface_name(interface)),
            None => function.to_string(),
        },
        interface: interface.map(str::to_string),
        function: function.to_string(),
        params,
        result,
        signature,
        docs,
        types,
    }
}

/// `wfhost:calc/math@0.1.0` → `math`; a plain export name stays as it is.
pub(crate) fn short_interface_name(export: &str) -> &str {
    let without_version = export.split('@').next().unwrap_or(export);
    without_version
        .rsplit('/')
        .next()
        .unwrap_or(without_version)
}

/// Interfaces a toolchain or WASI exports on its own: never actions.
fn is_toolchain_interface(export: &str) -> bool {
    export.starts_with("wasi:") || export.starts_with("componentize-py:")
}

/// componentize-py exports an interface `exports` with its own `init`
/// (`init: func(app-name: string, symbols: symbols, stub-wasi: bool)` in
/// 0.25), and componentize-qjs a top-level `init: func()`: initialisation
/// hooks, not actions.
fn is_toolchain_hook(interface: Option<&str>, name: &str, func: &ComponentFunc) -> bool {
    match interface {
        Some(interface) => short_interface_name(interface) == "exports" && name == "init",
        None => name == "init" && func.params().len() == 0 && func.results().len() == 0,
    }
}

fn structural_signature(params: &[(String, Type)], result: Option<&Type>) -> String {
    let params: Vec<String> = params
        .iter()
        .map(|(name, ty)| format!("{name}: {}", type_name(ty)))
        .collect();
    match result {
        Some(result) => format!("func({}) -> {}", params.join(", "), type_name(result)),
        None => format!("func({})", params.join(", ")),
    }
}

/// Signatures with named types, and docs: from the WIT embedded in the
/// component, overridden by the module's WIT sources when it ships them
/// (wit-bindgen leaves doc comments out of the component it builds).
pub(crate) fn describe(bytes: &[u8], wit: &[WitFile]) -> Described {
    let mut described = Described::new();
    if let Ok(DecodedWasm::Component(resolve, world)) = wit_parser::decoding::decode(bytes) {
        describe_world(&resolve, world, &mut described);
    }
    if !wit.is_empty() {
        match parse_wit(wit) {
            Ok((resolve, world)) => describe_world(&resolve, world, &mut described),
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "cannot read the module's WIT; docs unavailable")
            }
        }
    }
    described
}

/// Parse WIT files (dependencies first); the world is the one world of the
/// last package.
fn parse_wit(wit: &[WitFile]) -> anyhow::Result<(Resolve, wit_parser::WorldId)> {
    let mut resolve = Resolve::default();
    let mut last = None;
    for file in wit {
        last = Some(resolve.push_source(&file.path, &file.text)?);
    }
    let package = last.ok_or_else(|| anyhow::anyhow!("no WIT files"))?;
    let world = resolve.select_world(&[package], None)?;
    Ok((resolve, world))
}

fn describe_world(resolve: &Resolve, world: wit_parser::WorldId, described: &mut Described) {
    for (key, item) in &resolve.worlds[world].exports {
        match item {
            WorldItem::Function(func) => {
                described.insert((None, func.name.clone()), description(resolve, func));
            }
            WorldItem::Interface { id, .. } => {
                let interface = resolve.name_world_key(key);
                for (name, func) in &resolve.interfaces[*id].functions {
                    described.insert(
                        (Some(interface.clone()), name.clone()),
                        description(resolve, func),
                    );
                }
            }
            WorldItem::Type { .. } => {}
        }
    }
}

fn description(resolve: &Resolve, func: &wit_parser::Function) -> Description {
    let mut types = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for ty in func.params.iter().map(|p| &p.ty).chain(func.result.iter()) {
        named_types(resolve, ty, &mut seen, &mut types);
    }
    Description {
        signature: wit_signature(resolve, func),
        docs: func.docs.contents.clone(),
        types,
    }
}

/// A WIT definition written on one line: `record { a: u32, b: string }`.
fn listed(keyword: &str, items: impl Iterator<Item = String>) -> String {
    format!("{keyword} {{ {} }}", items.collect::<Vec<_>>().join(", "))
}

/// The named records, variants, enums and flags `ty` uses (itself and
/// within), each with its WIT definition, in the order first met.
fn named_types(
    resolve: &Resolve,
    ty: &wit_parser::Type,
    seen: &mut std::collections::HashSet<wit_parser::TypeId>,
    found: &mut Vec<(String, String)>,
) {
    let wit_parser::Type::Id(id) = ty else {
        return;
    };
    let def = &resolve.types[*id];
    let named = def.name.is_some();
    if named && !seen.insert(*id) {
        return;
    }
    let inner = |ty: &wit_parser::Type| wit_type(resolve, ty);
    let (definition, nested): (Option<String>, Vec<&wit_parser::Type>) = match &def.kind {
        TypeDefKind::Record(record) => (
            Some(listed(
                "record",
                record
                    .fields
                    .iter()
                    .map(|f| format!("{}: {}", f.name, inner(&f.ty))),
            )),
            record.fields.iter().map(|f| &f.ty).collect(),
        ),
        TypeDefKind::Variant(variant) => (
            Some(listed(
                "variant",
                variant.cases.iter().map(|c| match &c.ty {
                    Some(ty) => format!("{}({})", c.name, inner(ty)),
                    None => c.name.clone(),
                }),
            )),
            variant.cases.iter().filter_map(|c| c.ty.as_ref()).collect(),
        ),
        TypeDefKind::Enum(cases) => (
            Some(listed("enum", cases.cases.iter().map(|c| c.name.clone()))),
            Vec::new(),
        ),
        TypeDefKind::Flags(flags) => (
            Some(listed("flags", flags.flags.iter().map(|f| f.name.clone()))),
            Vec::new(),
        ),
        // An alias (`use types.{action-error}`): the definition is its target's.
        TypeDefKind::Type(ty) => {
            if named {
                seen.remove(id);
            }
            return named_types(resolve, ty, seen, found);
        }
        TypeDefKind::List(ty) | TypeDefKind::Option(ty) | TypeDefKind::FixedLengthList(ty, _) => {
            (None, vec![ty])
        }
        TypeDefKind::Result(result) => (None, result.ok.iter().chain(result.err.iter()).collect()),
        TypeDefKind::Tuple(tuple) => (None, tuple.types.iter().collect()),
        TypeDefKind::Map(key, value) => (None, vec![key, value]),
        _ => (None, Vec::new()),
    };
    if let (Some(name), Some(definition)) = (&def.name, definition) {
        found.push((name.clone(), definition));
    }
    for ty in nested {
        named_types(resolve, ty, seen, found);
    }
}

fn wit_signature(resolve: &Resolve, func: &wit_parser::Function) -> String {
    let params: Vec<String> = func
        .params
        .iter()
        .map(|param| format!("{}: {}", param.name, wit_type(resolve, &param.ty)))
        .collect();
    match &func.result {
        Some(result) => format!(
            "func({}) -> {}",
            params.join(", "),
            wit_type(resolve, result)
        ),
        None => format!("func({})", params.join(", ")),
    }
}

fn wit_type(resolve: &Resolve, ty: &wit_parser::Type) -> String {
    use wit_parser::Type as T;
    match ty {
        T::Bool => "bool".into(),
        T::U8 => "u8".into(),
        T::U16 => "u16".into(),
        T::U32 => "u32".into(),
        T::U64 => "u64".into(),
        T::S8 => "s8".into(),
        T::S16 => "s16".into(),
        T::S32 => "s32".into(),
        T::S64 => "s64".into(),
        T::F32 => "f32".into(),
        T::F64 => "f64".into(),
        T::Char => "char".into(),
        T::String => "string".into(),
        T::ErrorContext => "error-context".into(),
        T::Id(id) => {
            let def = &resolve.types[*id];
            if let Some(name) = &def.name {
                return name.clone();
            }
            let inner = |ty: &wit_parser::Type| wit_type(resolve, ty);
            match &def.kind {
                TypeDefKind::List(ty) => format!("list<{}>", inner(ty)),
                TypeDefKind::FixedLengthList(ty, len) => format!("list<{}, {len}>", inner(ty)),
                TypeDefKind::Map(key, value) => format!("map<{}, {}>", inner(key), inner(value)),
                TypeDefKind::Option(ty) => format!("option<{}>", inner(ty)),
                TypeDefKind::Result(result) => match (&result.ok, &result.err) {
                    (None, None) => "result".into(),
                    (Some(ok), None) => format!("result<{}>", inner(ok)),
                    (None, Some(err)) => format!("result<_, {}>", inner(err)),
                    (Some(ok), Some(err)) => format!("result<{}, {}>", inner(ok), inner(err)),
                },
                TypeDefKind::Tuple(tuple) => {
                    format!(
                        "tuple<{}>",
                        tuple.types.iter().map(inner).collect::<Vec<_>>().join(", ")
                    )
                }
                TypeDefKind::Handle(wit_parser::Handle::Own(id)) => resolve.types[*id]
                    .name
                    .clone()
                    .unwrap_or_else(|| "resource".into()),
                TypeDefKind::Handle(wit_parser::Handle::Borrow(id)) => {
                    format!(
                        "borrow<{}>",
                        resolve.types[*id].name.as_deref().unwrap_or("resource")
                    )
                }
                TypeDefKind::Future(ty) => ty
                    .as_ref()
                    .map_or("future".into(), |ty| format!("future<{}>", inner(ty))),
                TypeDefKind::Stream(ty) => ty
                    .as_ref()
                    .map_or("stream".into(), |ty| format!("stream<{}>", inner(ty))),
                TypeDefKind::Type(ty) => inner(ty),
                _ => "<anonymous>".into(),
            }
        }
    }
}
