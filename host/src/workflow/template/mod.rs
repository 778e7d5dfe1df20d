//! `{{ }}` templates and conditions, evaluated by minijinja in a sandbox of
//! its own: no file loading, strict undefined values, expressions only (no
//! `{% %}` blocks), a fuel budget per evaluation so a template cannot loop
//! for long, and a budget of new values so it cannot build a large one
//! ([`budget`]).
//!
//! A string that is exactly one `{{ expression }}` keeps its JSON type
//! (`"{{ steps.a.output }}"` is the number 42, not "42"); any other string
//! with `{{` renders to a string. Values coming *out* of steps are data and
//! are never rendered again.

mod budget;
mod compiled;
mod harden;
mod paths;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use minijinja::{Environment, UndefinedBehavior, Value as Jinja};
use serde_json::Value;

pub use budget::VALUE_BUDGET_BYTES;
pub use compiled::{Compiled, Expression};

/// Instructions one template evaluation may execute.
pub const TEMPLATE_FUEL: u64 = 100_000;

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_recursion_limit(64);
    // Rendered values are data for actions, not HTML.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    budget::install(&mut env);
    env
});

/// What a string in a workflow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// No template: used as written.
    Literal,
    /// Exactly one `{{ expression }}`: the expression's value, typed.
    Expression(&'a str),
    /// Text with templates inside: a string.
    Text,
}

pub fn kind(text: &str) -> Kind<'_> {
    if !text.contains("{{") && !text.contains("{%") && !text.contains("{#") {
        return Kind::Literal;
    }
    let trimmed = text.trim();
    if let Some(inner) = trimmed
        .strip_prefix("{{")
        .and_then(|rest| rest.strip_suffix("}}"))
        && !inner.contains("{{")
        && !inner.contains("}}")
    {
        return Kind::Expression(inner.trim());
    }
    Kind::Text
}

/// The expression of a condition: `{{ expr }}` or a bare `expr`.
pub fn condition_expression(text: &str) -> Result<&str, String> {
    match kind(text) {
        Kind::Expression(expr) => Ok(expr),
        Kind::Literal => Ok(text.trim()),
        Kind::Text => Err("a condition must be one `{{ expression }}`, not text around it".into()),
    }
}

/// The data a template reads, as dotted paths (`steps.build.output.n`;
/// subscripts too: `steps['my-step'].output[0]` reads
/// `steps.my-step.output.0`), each with how it is written; or its syntax
/// error.
pub fn references(text: &str) -> Result<BTreeMap<String, String>, String> {
    compile_with_references(&Value::String(text.to_string())).map(|(_, found)| found)
}

/// `value` compiled, with the data its templates read (see [`references`]).
pub fn compile_with_references(
    value: &Value,
) -> Result<(Compiled, BTreeMap<String, String>), String> {
    with_references(|mut visit| Compiled::compile_with(value, &mut visit))
}

/// A condition compiled, with the dotted paths it reads; or its syntax error.
pub fn compile_condition(text: &str) -> Result<(Expression, BTreeMap<String, String>), String> {
    let expr = condition_expression(text)?;
    with_references(|visit| Expression::compile_with(expr, text, visit))
}

/// What `compile` builds, and the paths its expressions read (functions of
/// the template language left out).
fn with_references<T>(
    compile: impl FnOnce(
        &mut dyn FnMut(&str, &minijinja::machinery::ast::Expr<'_>),
    ) -> Result<T, String>,
) -> Result<(T, BTreeMap<String, String>), String> {
    let mut found = BTreeMap::new();
    let compiled = compile(&mut |source, e| paths::read_by(source, e, &mut found))?;
    found.retain(|name, _| !is_global(name));
    Ok((compiled, found))
}

/// Whether `name` is a function of the template language (`range`, …),
/// not something read from the scope.
fn is_global(name: &str) -> bool {
    let root = name.split('.').next().unwrap_or(name);
    harden::is_internal(root) || ENV.globals().any(|(global, _)| global == root)
}

/// An evaluation's error in one line: the budget's own message when that
/// is what stopped it. `expr` is the expression that failed, `text` the
/// string it is in.
pub(super) fn failure(error: &minijinja::Error, expr: &str, text: &str, scope: &Jinja) -> String {
    if budget::exhausted() {
        return budget::limit_message();
    }
    if error.kind() == minijinja::ErrorKind::UndefinedError
        && let Some(missing) = undefined_reference(expr, scope)
    {
        return format!("`{missing}` is undefined (in `{}`)", text.trim());
    }
    format!("{} (in `{}`)", describe(error), text.trim())
}

/// The first reference of `expr` (the inside of `{{ }}`) that `scope` does
/// not hold, as written.
pub(super) fn undefined_reference(expr: &str, scope: &Jinja) -> Option<String> {
    let found = references(&format!("{{{{ {expr} }}}}")).ok()?;
    found.into_iter().find_map(|(path, written)| {
        let mut value = scope.clone();
        for segment in path.split('.') {
            value = match segment.parse::<usize>() {
                Ok(index) if value.kind() == minijinja::value::ValueKind::Seq => {
                    value.get_item_by_index(index).ok()?
                }
                _ => value.get_attr(segment).ok()?,
            };
            if value.is_undefined() {
                return Some(written);
            }
        }
        None
    })
}

/// Compile and evaluate one string against `scope` (the fuzz target and
/// tests; a plan holds its templates compiled).
pub fn eval_str(text: &str, scope: &Jinja) -> Result<Value, String> {
    Compiled::compile(&Value::String(text.to_string()))?.eval(scope)
}

/// A JSON value for a template scope.
pub fn jinja(value: &Value) -> Jinja {
    Jinja::from(minijinja::value::Serde(value))
}

/// A minijinja value as JSON; undefined and none become null.
pub(super) fn to_json(value: &Jinja) -> Result<Value, String> {
    if value.is_undefined() || value.is_none() {
        return Ok(Value::Null);
    }
    serde_json::to_value(value).map_err(|e| format!("the value cannot become JSON: {e}"))
}

/// A minijinja error in one line, with its detail.
pub(super) fn describe(error: &minijinja::Error) -> String {
    let mut text = error.kind().to_string();
    if let Some(detail) = error.detail() {
        text.push_str(": ");
        text.push_str(detail);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval_value(value: &Value, scope: &Jinja) -> Result<Value, String> {
        Compiled::compile(value)?.eval(scope)
    }

    fn eval_condition(text: &str, scope: &Jinja) -> Result<bool, String> {
        compile_condition(text)?.0.holds(scope)
    }

    fn scope() -> Jinja {
        jinja(&json!({
            "steps": {"a": {"output": 42, "text": "{{ 7*7 }}"}},
            "inputs": {"name": "world", "list": [1, 2]},
        }))
    }

    #[test]
    fn evaluation_keeps_types_and_never_re_renders_data() {
        let cases = [
            (json!("{{ steps.a.output }}"), json!(42)),
            (json!("  {{ steps.a.output + 1 }}  "), json!(43)),
            (json!("n={{ steps.a.output }}"), json!("n=42")),
            (json!("{{ inputs.list }}"), json!([1, 2])),
            (json!("{{ steps.a.text }}"), json!("{{ 7*7 }}")),
            (json!("hello {{ inputs.name }}"), json!("hello world")),
            (json!({"x": ["{{ inputs.name }}"]}), json!({"x": ["world"]})),
            (json!("plain"), json!("plain")),
            (json!(7), json!(7)),
        ];
        for (input, expected) in cases {
            assert_eq!(eval_value(&input, &scope()), Ok(expected), "{input}");
        }
    }

    #[test]
    fn missing_references_and_runaway_templates_fail() {
        let missing = eval_str("{{ steps.b.output }}", &scope());
        assert!(
            matches!(&missing, Err(e) if e.contains("undefined")),
            "{missing:?}"
        );
        let long = format!("{{{{ {}1 }}}}", "1 + ".repeat(100_000));
        let long = eval_str(&long, &scope());
        assert!(
            matches!(&long, Err(e) if e.contains("longer than 500 tokens")),
            "{long:?}"
        );
        let nested = format!("{{{{ {}1 }}}}", "1 + ".repeat(100));
        let nested = eval_str(&nested, &scope());
        assert!(
            matches!(&nested, Err(e) if e.contains("nests deeper")),
            "{nested:?}"
        );
        // One string holds a bounded number of expressions.
        let many = "{{ inputs.list | length }}".repeat(65);
        let refused = eval_str(&many, &scope());
        assert!(
            matches!(&refused, Err(e) if e.contains("at most 64")),
            "{refused:?}"
        );
        assert!(eval_str(&"{{ inputs.list | length }}".repeat(64), &scope()).is_ok());
    }

    #[test]
    fn templates_cannot_build_large_values() {
        for template in [
            "{{ 'a' * 100000000 }}",
            "x{{ 'a' * 100000000 }}",
            "{{ [1] * 100000000 }}",
            "{{ 'a' * 1000000 * 9 }}",
            "{{ 'a' * 4000000 ~ 'a' * 4000000 ~ 'a' * 1000000 }}",
            "{{ 'a' * 4000000 + 'a' * 4000000 + 'a' * 1000000 }}",
            "{{ range(100000) | join('x' * 1000) }}",
            "{{ ('a' * 1000000) | replace('a', 'aaaaaaaaaa') }}",
            "{{ ('a\\n' * 100000) | indent(1000) }}",
            "{{ '%100000000s' | format('x') }}",
            "{{ [1] | batch(100000000, 0) | list }}",
            "{{ range(100000) | chain(range(100000), range(100000)) | list }}",
            "{{ ('a' * 2000000) | upper ~ ('a' * 2000000) | upper ~ ('b' * 2000000) }}",
            "{% for i in range(10) %}x{% endfor %}",
        ] {
            let result = eval_str(template, &scope());
            assert!(
                matches!(&result, Err(e) if e.contains("MiB") || e.contains("not allowed") || e.contains("not part of workflow templates")),
                "{template}: {:?}",
                result.map(|v| v.to_string().len())
            );
        }
        // Ordinary arithmetic and text still work.
        for (template, expected) in [
            ("{{ 6 * 7 }}", json!(42)),
            ("{{ 1.5 * 2 }}", json!(3.0)),
            ("{{ 'ab' * 3 }}", json!("ababab")),
            ("{{ [1, 2] * 2 }}", json!([1, 2, 1, 2])),
            ("{{ 40 + 2 }}", json!(42)),
            ("{{ 'a' + 'b' }}", json!("ab")),
            ("{{ [1] + [2] }}", json!([1, 2])),
            (
                "{{ 1 ~ 'x' ~ none ~ false ~ [1, 'a'] }}",
                json!("1xnullfalse[1,\"a\"]"),
            ),
            (
                "flag={{ false }} nothing={{ none }} map={{ {'a': 1} }}",
                json!("flag=false nothing=null map={\"a\":1}"),
            ),
            ("{{ ['a', 'b'] | join(', ') }}", json!("a, b")),
            ("{{ 'a-b' | replace('-', '+') }}", json!("a+b")),
            ("{{ inputs.list | chain([3]) | list }}", json!([1, 2, 3])),
        ] {
            assert_eq!(eval_str(template, &scope()), Ok(expected), "{template}");
        }
    }

    #[test]
    fn a_failure_names_the_reference_and_the_template() {
        for (template, expected) in [
            (
                "{{ steps.a.outptu }}",
                "`steps.a.outptu` is undefined (in `{{ steps.a.outptu }}`)",
            ),
            (
                "x {{ steps['a'].output.n }}",
                "`steps['a'].output.n` is undefined (in `x {{ steps['a'].output.n }}`)",
            ),
            (
                "{{ inputs.list[5] }}",
                "`inputs.list[5]` is undefined (in `{{ inputs.list[5] }}`)",
            ),
        ] {
            assert_eq!(
                eval_str(template, &scope()),
                Err(expected.to_string()),
                "{template}"
            );
        }
    }

    #[test]
    fn references_are_dotted_paths() {
        let found = references("{{ steps.build.output.count + inputs.n }}")
            .map(|f| f.into_keys().collect::<Vec<_>>());
        assert_eq!(
            found,
            Ok(vec![
                "inputs.n".to_string(),
                "steps.build.output.count".to_string()
            ])
        );
        assert!(references("{{ steps.( }}").is_err());
    }

    #[test]
    fn conditions_are_truthy() {
        assert_eq!(
            eval_condition("{{ steps.a.output == 42 }}", &scope()),
            Ok(true)
        );
        assert_eq!(eval_condition("steps.a.output < 10", &scope()), Ok(false));
        assert!(eval_condition("x {{ 1 }}", &scope()).is_err());
    }
}
