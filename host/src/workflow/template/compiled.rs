//! Templates checked and rewritten once, when a workflow is planned, and
//! evaluated many times: the run never parses a template's text again.
//!
//! minijinja's compiled form costs about 8 KiB per expression (its
//! instruction buffers), so an expression is compiled when it is evaluated
//! and kept from its second evaluation on (loops, retries, maps): a
//! 10,000-step plan stays small, and a template evaluated many times is
//! compiled at most twice.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use minijinja::Value as Jinja;
use minijinja::machinery::ast::Expr as Tree;
use serde_json::{Map, Value};

use super::harden::{self, TextPart};
use super::{ENV, budget, describe, failure, to_json, undefined_reference};

/// One `{{ expression }}`, checked, rewritten and compiled.
#[derive(Debug)]
pub struct Expression {
    /// The expression as written (for messages).
    written: String,
    /// The whole string it came from, as the workflow writes it (shared by
    /// the expressions of one text).
    text: Arc<str>,
    /// Checked and rewritten (see `harden`).
    rewritten: String,
    compiled: OnceLock<minijinja::Expression<'static, 'static>>,
    evaluations: AtomicU32,
}

impl Expression {
    /// Compile the inside of `{{ }}`, showing its syntax tree to `visit`.
    /// `text` is the whole string it came from.
    pub(super) fn compile_with(
        source: &str,
        text: &str,
        visit: impl FnMut(&str, &Tree<'_>),
    ) -> Result<Self, String> {
        let rewritten = harden::expression_with(source, visit)?;
        Ok(Self::from_rewritten(
            source.trim(),
            Arc::from(text),
            rewritten,
        ))
    }

    fn from_rewritten(written: &str, text: Arc<str>, rewritten: String) -> Self {
        Self {
            written: written.to_string(),
            text,
            rewritten,
            compiled: OnceLock::new(),
            evaluations: AtomicU32::new(0),
        }
    }

    /// Evaluate the compiled expression in `scope` (see the module's doc
    /// for when it is kept).
    fn run(&self, scope: &Jinja) -> Result<Jinja, String> {
        let evaluate = |compiled: &minijinja::Expression<'static, 'static>| {
            compiled
                .eval(scope.clone())
                .map_err(|e| failure(&e, &self.written, &self.text, scope))
        };
        if let Some(compiled) = self.compiled.get() {
            return evaluate(compiled);
        }
        let compiled = ENV
            .compile_expression_owned(self.rewritten.clone())
            .map_err(|e| format!("{} (in `{}`)", describe(&e), self.text.trim()))?;
        if self.evaluations.fetch_add(1, Ordering::Relaxed) == 0 {
            return evaluate(&compiled);
        }
        evaluate(self.compiled.get_or_init(|| compiled))
    }

    /// Its value in `scope`, charged to the evaluation's budget (started
    /// by the caller). A value that is undefined is an error naming the
    /// reference.
    fn value(&self, scope: &Jinja) -> Result<Jinja, String> {
        let value = self.run(scope)?;
        // Strict undefined fails when an undefined value is used, not when
        // it is the result: a lone `{{ steps.a.outptu }}` would pass `null` on.
        if value.is_undefined() {
            let missing =
                undefined_reference(&self.written, scope).unwrap_or_else(|| self.written.clone());
            return Err(format!(
                "`{missing}` is undefined (in `{}`)",
                self.text.trim()
            ));
        }
        Ok(value)
    }

    /// Evaluate it on its own, under a fresh budget.
    pub fn eval(&self, scope: &Jinja) -> Result<Jinja, String> {
        budget::start();
        self.value(scope)
    }

    /// Its value in `scope` as JSON.
    pub fn eval_json(&self, scope: &Jinja) -> Result<Value, String> {
        to_json(&self.eval(scope)?)
    }

    /// Whether it holds in `scope` (Jinja truthiness): a condition.
    pub fn holds(&self, scope: &Jinja) -> Result<bool, String> {
        self.eval(scope).map(|value| value.is_true())
    }

    /// The string it came from, as the workflow writes it.
    pub fn source(&self) -> &str {
        &self.text
    }

    /// The expression itself, the inside of `{{ }}`, as written.
    pub fn expression(&self) -> &str {
        &self.written
    }
}

/// A JSON value of the workflow whose strings may hold templates, compiled:
/// evaluating it builds the value with every template's result in place.
#[derive(Debug)]
pub enum Compiled {
    /// No template anywhere inside: used as it is.
    Constant(Value),
    /// A string that is exactly one `{{ expression }}`: the value, typed.
    Expression(Expression),
    /// A string with templates inside: text.
    Text(Vec<Part>),
    Array(Vec<Compiled>),
    Object(Vec<(String, Compiled)>),
}

/// A part of a text template.
#[derive(Debug)]
pub enum Part {
    Raw(String),
    Expression(Expression),
}

impl Compiled {
    /// Compile every template inside `value`, showing each expression's
    /// syntax tree to `visit`.
    pub fn compile_with(
        value: &Value,
        visit: &mut impl FnMut(&str, &Tree<'_>),
    ) -> Result<Self, String> {
        Ok(Self::templates(value, visit)?.unwrap_or_else(|| Self::Constant(value.clone())))
    }

    pub fn compile(value: &Value) -> Result<Self, String> {
        Self::compile_with(value, &mut |_, _| {})
    }

    /// `value` compiled, or `None` when it holds no template (each string
    /// is looked at once; the caller keeps the value as it is).
    fn templates(
        value: &Value,
        visit: &mut impl FnMut(&str, &Tree<'_>),
    ) -> Result<Option<Self>, String> {
        Ok(match value {
            Value::String(text) => match super::kind(text) {
                super::Kind::Literal => None,
                super::Kind::Expression(expr) => Some(Self::Expression(Expression::compile_with(
                    expr,
                    text,
                    &mut *visit,
                )?)),
                super::Kind::Text => {
                    let whole: Arc<str> = Arc::from(text.as_str());
                    let parts = harden::text_parts_with(text, &mut *visit)?
                        .into_iter()
                        .map(|part| match part {
                            TextPart::Raw(raw) => Part::Raw(raw),
                            TextPart::Expr { written, rewritten } => Part::Expression(
                                Expression::from_rewritten(&written, Arc::clone(&whole), rewritten),
                            ),
                        })
                        .collect();
                    Some(Self::Text(parts))
                }
            },
            Value::Array(items) => {
                let compiled = items
                    .iter()
                    .map(|item| Self::templates(item, visit))
                    .collect::<Result<Vec<_>, _>>()?;
                compiled.iter().any(Option::is_some).then(|| {
                    Self::Array(
                        compiled
                            .into_iter()
                            .zip(items)
                            .map(|(c, item)| c.unwrap_or_else(|| Self::Constant(item.clone())))
                            .collect(),
                    )
                })
            }
            Value::Object(map) => {
                let compiled = map
                    .values()
                    .map(|item| Self::templates(item, visit))
                    .collect::<Result<Vec<_>, _>>()?;
                compiled.iter().any(Option::is_some).then(|| {
                    Self::Object(
                        compiled
                            .into_iter()
                            .zip(map)
                            .map(|(c, (key, item))| {
                                (
                                    key.clone(),
                                    c.unwrap_or_else(|| Self::Constant(item.clone())),
                                )
                            })
                            .collect(),
                    )
                })
            }
            _ => None,
        })
    }

    /// Whether it holds no template (evaluating it gives it back as it is).
    pub fn is_constant(&self) -> bool {
        matches!(self, Self::Constant(_))
    }

    /// The value in `scope`. Each string is one evaluation with its own
    /// fuel and value budget.
    pub fn eval(&self, scope: &Jinja) -> Result<Value, String> {
        Ok(match self {
            Self::Constant(value) => value.clone(),
            Self::Expression(expression) => expression.eval_json(scope)?,
            Self::Text(parts) => Value::String(render(parts, scope)?),
            Self::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| item.eval(scope))
                    .collect::<Result<_, _>>()?,
            ),
            Self::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(key, item)| Ok((key.clone(), item.eval(scope)?)))
                    .collect::<Result<Map<_, _>, String>>()?,
            ),
        })
    }
}

/// Text with its expressions' values written in (as JSON where they are not
/// strings), all charged to one budget as written.
fn render(parts: &[Part], scope: &Jinja) -> Result<String, String> {
    budget::start();
    let mut out = String::new();
    let mut write = |text: &str| {
        budget::charge(text.len()).map_err(|_| budget::limit_message())?;
        out.push_str(text);
        Ok::<_, String>(())
    };
    for part in parts {
        match part {
            Part::Raw(raw) => write(raw)?,
            Part::Expression(expression) => {
                let value = expression.value(scope)?;
                write(&budget::as_text(&value).map_err(|e| describe(&e))?)?;
            }
        }
    }
    Ok(out)
}
