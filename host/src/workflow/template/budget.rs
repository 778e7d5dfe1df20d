//! What one template evaluation may build: [`VALUE_BUDGET_BYTES`] of new
//! values (string bytes, and [`ITEM_BYTES`] per item of a new sequence or
//! map), counted across the evaluation. Reading data (step outputs,
//! inputs) is free; building is charged, before anything is built wherever
//! the size can be known first — string and list repetition, `join`,
//! `replace`, `indent`, `chain`, `batch` — and right after otherwise. With
//! the fuel minijinja counts, a template costs bounded time and memory
//! whatever it says.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::LazyLock;

use minijinja::value::{Kwargs, Rest, StringInput, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, Expression, State, Value, filters};

use super::harden::{ADD, CONCAT, MUL};

/// New values one evaluation may build.
pub const VALUE_BUDGET_BYTES: usize = 8 * 1024 * 1024;
/// What an item of a new sequence or map is charged.
const ITEM_BYTES: usize = 32;
/// The widest `format` field or `tojson` indent a template may ask for.
const MAX_WIDTH: usize = 1000;

thread_local! {
    static SPENT: Cell<usize> = const { Cell::new(0) };
}

/// Start counting a new evaluation (on this thread).
pub(super) fn start() {
    SPENT.set(0);
}

/// Whether the last evaluation on this thread stopped at the budget.
pub(super) fn exhausted() -> bool {
    SPENT.get() > VALUE_BUDGET_BYTES
}

/// The message a template gets when it builds too much.
pub(super) fn limit_message() -> String {
    format!(
        "the template builds more than {} MiB of new values (the limit per evaluation); pass large values by reference (`{{{{ steps.x.output }}}}`) instead of building them",
        VALUE_BUDGET_BYTES >> 20
    )
}

/// Charge `bytes` to this evaluation, or fail when that passes the budget.
pub(super) fn charge(bytes: usize) -> Result<(), Error> {
    let total = SPENT.get().saturating_add(bytes);
    SPENT.set(total);
    if total > VALUE_BUDGET_BYTES {
        Err(Error::new(ErrorKind::InvalidOperation, limit_message()))
    } else {
        Ok(())
    }
}

/// What `value`, newly built, costs: its bytes or its items.
fn size(value: &Value) -> usize {
    match value.kind() {
        ValueKind::String | ValueKind::Bytes => value
            .as_str()
            .map_or_else(|| value.as_bytes().map_or(0, <[u8]>::len), str::len),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => {
            value.len().unwrap_or(0).saturating_mul(ITEM_BYTES)
        }
        _ => 0,
    }
}

/// Charge a value just built.
fn built(value: Value) -> Result<Value, Error> {
    charge(size(&value))?;
    Ok(value)
}

/// The length of `value` as text, without building the text.
fn text_len(value: &Value) -> usize {
    if let Some(text) = value.as_str() {
        return text.len();
    }
    struct Count(usize);
    impl std::fmt::Write for Count {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0 += s.len();
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = write!(count, "{value}");
    count.0
}

fn repeat_count(value: &Value) -> Option<usize> {
    (value.kind() == ValueKind::Number)
        .then(|| value.as_usize())
        .flatten()
}

fn is_sequence(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable)
}

/// minijinja's own binary operator `op` on two values, for the cases that
/// build nothing large (numbers); evaluated by a compiled expression.
fn native(
    op: &'static LazyLock<Expression<'static, 'static>>,
    left: Value,
    right: Value,
) -> Result<Value, Error> {
    op.eval(minijinja::context! { l => left, r => right })
}

static NATIVE_ENV: LazyLock<Environment<'static>> = LazyLock::new(Environment::new);
static NATIVE_MUL: LazyLock<Expression<'static, 'static>> = LazyLock::new(|| {
    NATIVE_ENV
        .compile_expression("l * r")
        .expect("a valid expression")
});
static NATIVE_ADD: LazyLock<Expression<'static, 'static>> = LazyLock::new(|| {
    NATIVE_ENV
        .compile_expression("l + r")
        .expect("a valid expression")
});

/// `a * b`: repetition of a string or sequence is charged before it is built.
fn mul(left: Value, right: Value) -> Result<Value, Error> {
    for (item, count) in [(&left, &right), (&right, &left)] {
        let Some(n) = repeat_count(count) else {
            continue;
        };
        if let Some(text) = item.as_str() {
            charge(text.len().saturating_mul(n))?;
            return Ok(Value::from(text.repeat(n)));
        }
        if is_sequence(item) {
            let items: Vec<Value> = item.try_iter()?.collect();
            charge(items.len().saturating_mul(n).saturating_mul(ITEM_BYTES))?;
            let mut repeated = Vec::with_capacity(items.len() * n);
            for _ in 0..n {
                repeated.extend(items.iter().cloned());
            }
            return Ok(Value::from(repeated));
        }
    }
    native(&NATIVE_MUL, left, right)
}

/// `a ~ b`: both as text (see [`as_text`]), charged before they are joined.
fn concat(left: &Value, right: &Value) -> Result<Value, Error> {
    let (left, right) = (as_text(left)?, as_text(right)?);
    charge(left.len().saturating_add(right.len()))?;
    Ok(Value::from(format!("{left}{right}")))
}

/// A value as it reads inside text: a string as itself, anything else as
/// JSON (`false`, `null`, `[1, 2]`, `{"a": 1}`), never Python's `False`,
/// `None` or `{'a': 1}`.
pub(super) fn as_text(value: &Value) -> Result<std::borrow::Cow<'_, str>, Error> {
    if let Some(text) = value.as_str() {
        return Ok(text.into());
    }
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "an undefined value cannot be text",
        ));
    }
    serde_json::to_string(value).map(Into::into).map_err(|e| {
        Error::new(
            ErrorKind::BadSerialization,
            format!("the value cannot become JSON: {e}"),
        )
    })
}

/// `a + b`: strings and sequences joined are charged; numbers add.
fn add(left: Value, right: Value) -> Result<Value, Error> {
    if let (Some(a), Some(b)) = (left.as_str(), right.as_str()) {
        charge(a.len().saturating_add(b.len()))?;
        return Ok(Value::from(format!("{a}{b}")));
    }
    if is_sequence(&left) && is_sequence(&right) {
        let joined: Vec<Value> = left.try_iter()?.chain(right.try_iter()?).collect();
        charge(joined.len().saturating_mul(ITEM_BYTES))?;
        return Ok(Value::from(joined));
    }
    native(&NATIVE_ADD, left, right)
}

/// Register the charged operators, and replace minijinja's builtins that
/// build values with charged ones of the same name and meaning; values
/// written into text read as JSON.
pub(super) fn install(env: &mut Environment<'static>) {
    env.set_formatter(|out, _state, value| {
        let text = as_text(value)?;
        out.write_str(&text)
            .map_err(|e| Error::new(ErrorKind::WriteFailure, e.to_string()))
    });
    env.add_function(MUL, mul);
    env.add_function(ADD, add);
    env.add_function(CONCAT, concat);
    // Its output is the whole scope: not a workflow's business.
    env.remove_global("debug");

    env.add_filter(
        "join",
        |state: &mut State<'_, '_>,
         value: &Value,
         joiner: Option<StringInput<'_>>,
         attribute: Option<&str>,
         kwargs: Kwargs| {
            let separator = joiner.as_ref().map_or(0, |j| j.as_str().len());
            let mut total = 0_usize;
            if let Some(text) = value.as_str() {
                total = text
                    .len()
                    .saturating_add(text.chars().count().saturating_mul(separator));
            } else if !value.is_undefined() && !value.is_none() {
                for item in value.try_iter()? {
                    total = total
                        .saturating_add(text_len(&item))
                        .saturating_add(separator);
                    if total > VALUE_BUDGET_BYTES {
                        break;
                    }
                }
            }
            charge(total)?;
            filters::join(state, value, joiner, attribute, kwargs)
        },
    );
    env.add_filter(
        "replace",
        |state: &mut State<'_, '_>,
         value: StringInput<'_>,
         from: StringInput<'_>,
         to: StringInput<'_>| {
            let occurrences = if from.as_str().is_empty() {
                value.as_str().chars().count() + 1
            } else {
                value.as_str().matches(from.as_str()).count()
            };
            charge(
                value
                    .as_str()
                    .len()
                    .saturating_add(occurrences.saturating_mul(to.as_str().len())),
            )?;
            filters::replace(state, value, from, to)
        },
    );
    env.add_filter(
        "indent",
        |value: StringInput<'_>,
         width: Option<usize>,
         first: Option<bool>,
         blank: Option<bool>,
         kwargs: Kwargs| {
            let width = match width {
                Some(width) => width,
                None => kwargs.peek::<Option<usize>>("width")?.unwrap_or(4),
            };
            let lines = value.as_str().lines().count() + 1;
            charge(
                value
                    .as_str()
                    .len()
                    .saturating_add(lines.saturating_mul(width)),
            )?;
            filters::indent(value, Some(width), first, blank, kwargs)
        },
    );
    env.add_filter(
        "batch",
        |state: &State<'_, '_>, value: Value, count: usize, fill_with: Option<Value>| {
            // The last batch is filled up to `count` items.
            charge(count.saturating_mul(ITEM_BYTES))?;
            built(filters::batch(state, value, count, fill_with)?)
        },
    );
    env.add_filter(
        "chain",
        |state: &State<'_, '_>, value: Value, others: Rest<Value>| {
            let mut items = 0_usize;
            for part in std::iter::once(&value).chain(&others.0) {
                items = items.saturating_add(match part.len() {
                    Some(len) => len,
                    None => part
                        .try_iter()?
                        .take(VALUE_BUDGET_BYTES / ITEM_BYTES + 1)
                        .count(),
                });
            }
            charge(items.saturating_mul(ITEM_BYTES))?;
            filters::chain(state, value, others)
        },
    );
    env.add_filter(
        "format",
        |state: &mut State<'_, '_>, format: &Value, args: Rest<ValueOrKwargs>| {
            if let Some(text) = format.as_str()
                && widest_number(text) > MAX_WIDTH
            {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("a `format` width or precision over {MAX_WIDTH} is not allowed"),
                ));
            }
            built(filters::format(state, format, args)?)
        },
    );
    env.add_filter(
        "tojson",
        |value: &Value, indent: Option<Value>, kwargs: Kwargs| {
            let wide = |v: &Value| v.as_usize().is_some_and(|n| n > 16);
            if indent.as_ref().is_some_and(wide)
                || kwargs
                    .peek::<Option<Value>>("indent")?
                    .as_ref()
                    .is_some_and(wide)
            {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "a `tojson` indent over 16 is not allowed",
                ));
            }
            built(filters::tojson(value, indent, kwargs)?)
        },
    );
    // Builtins whose result is no larger than what they read (give or
    // take a constant factor): charged after.
    env.add_filter("upper", |v: StringInput<'_>| built(filters::upper(v)));
    env.add_filter("lower", |v: StringInput<'_>| built(filters::lower(v)));
    env.add_filter("title", |v: std::borrow::Cow<'_, str>| {
        built(Value::from(filters::title(v)))
    });
    env.add_filter("capitalize", |v: StringInput<'_>| {
        built(filters::capitalize(v))
    });
    env.add_filter("pprint", |v: &Value| built(Value::from(filters::pprint(v))));
    env.add_filter("string", |state: &State<'_, '_>, v: &Value| {
        let text = filters::string(state, v)?;
        if v.as_str().is_some() {
            Ok(text)
        } else {
            built(text)
        }
    });
    env.add_filter("list", |state: &State<'_, '_>, v: Value| {
        built(filters::list(state, v)?)
    });
    env.add_filter("items", |v: &Value| built(filters::items(v)?));
    env.add_filter("lines", |v: &Value| built(filters::lines(v)?));
    env.add_filter("reverse", |v: &Value| built(filters::reverse(v)?));
    env.add_filter("sort", |state: &State<'_, '_>, v: Value, kwargs: Kwargs| {
        built(filters::sort(state, v, kwargs)?)
    });
    env.add_filter(
        "unique",
        |state: &State<'_, '_>, v: Value, kwargs: Kwargs| built(filters::unique(state, v, kwargs)?),
    );
    env.add_filter("dictsort", |v: &Value, kwargs: Kwargs| {
        built(filters::dictsort(v, kwargs)?)
    });
    env.add_filter(
        "groupby",
        |v: Value, attribute: Option<&str>, kwargs: Kwargs| {
            built(filters::groupby(v, attribute, kwargs)?)
        },
    );
    env.add_filter(
        "zip",
        |state: &State<'_, '_>, v: Value, others: Rest<Value>| {
            built(filters::zip(state, v, others)?)
        },
    );
}

/// The largest number written in `text` (a format string's widths).
fn widest_number(text: &str) -> usize {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|digits| !digits.is_empty())
        .map(|digits| digits.parse::<usize>().unwrap_or(usize::MAX))
        .max()
        .unwrap_or(0)
}
