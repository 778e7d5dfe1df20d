//! Workflow templates are expressions, not programs. Before a template is
//! compiled, its syntax tree is checked and rewritten:
//!
//! - text may hold `{{ expression }}` only: `{% … %}` blocks (loops, `set`,
//!   macros, includes) are refused;
//! - every operator able to build a value much larger than its operands
//!   becomes a call to a function that charges the evaluation's budget
//!   before building (`a * b` → `__wf_mul(a, b)`, `a ~ b` → `__wf_concat`,
//!   `a + b` → `__wf_add`). minijinja's own operators (and its compile-time
//!   folding of constants) would build `'a' * 100000000` first.
//!
//! The rewrite splices the original text: a node without rewritten
//! descendants is copied as written.

use std::ops::Range;

use minijinja::machinery::ast::{BinOpKind, CallArg, Expr, Stmt};
use minijinja::machinery::{Span, Token, parse, parse_expr, tokenize};
use minijinja::syntax::SyntaxConfig;

/// The functions the rewritten operators call (see `budget`).
pub(super) const MUL: &str = "__wf_mul";
pub(super) const ADD: &str = "__wf_add";
pub(super) const CONCAT: &str = "__wf_concat";

/// Whether `name` is one of the functions the rewrite calls.
pub(super) fn is_internal(name: &str) -> bool {
    name.starts_with("__wf_")
}

/// How deeply expressions may nest (`a + b + c` nests once per operator).
pub(super) const MAX_DEPTH: usize = 64;

/// The most tokens one expression may have. Checked on the token stream
/// before anything is parsed: a syntax tree is as deep as its longest
/// operator chain, and deep trees overflow the stack of whatever walks them
/// (minijinja's compiler, even dropping the tree).
pub(super) const MAX_TOKENS: usize = 500;

/// An expression (the inside of `{{ }}`), checked and rewritten.
#[cfg(test)]
pub(super) fn expression(source: &str) -> Result<String, String> {
    expression_with(source, |_, _| {})
}

/// [`expression`], showing its syntax tree to `visit` once it is checked.
pub(super) fn expression_with(
    source: &str,
    mut visit: impl FnMut(&str, &Expr<'_>),
) -> Result<String, String> {
    check_tokens(source, true)?;
    let expr = parse_expr(source).map_err(|e| super::describe(&e))?;
    check_depth(&expr)?;
    visit(source, &expr);
    Splicer { source }.within(&expr, 0..source.len())
}

/// Refuse `{% %}` blocks and expressions of more than [`MAX_TOKENS`]
/// tokens, from the token stream alone. Syntax errors are left to the
/// parser, which describes them better.
fn check_tokens(source: &str, in_expr: bool) -> Result<(), String> {
    let mut count = 0;
    for token in tokenize(source, in_expr, SyntaxConfig::default()) {
        let Ok((token, _)) = token else {
            return Ok(());
        };
        match token {
            Token::VariableStart | Token::VariableEnd | Token::TemplateData(_) => count = 0,
            Token::BlockStart => {
                return Err(
                    "`{% %}` blocks are not part of workflow templates: write an expression, such as `{{ a if condition else b }}` or a filter".into(),
                );
            }
            _ => {
                count += 1;
                if count > MAX_TOKENS {
                    return Err(format!(
                        "an expression is longer than {MAX_TOKENS} tokens; split it over several steps"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Refuse an expression nested deeper than [`MAX_DEPTH`], without
/// recursion (what follows, and minijinja's compiler, recurse).
fn check_depth(expr: &Expr<'_>) -> Result<(), String> {
    let mut stack = vec![(expr, 1)];
    while let Some((node, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(format!(
                "the expression nests deeper than {MAX_DEPTH} levels; split it over several steps or variables"
            ));
        }
        stack.extend(children(node).into_iter().map(|child| (child, depth + 1)));
    }
    Ok(())
}

/// A part of a text template: raw text, or an expression (checked and
/// rewritten) whose value is written in its place.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum TextPart {
    Raw(String),
    Expr { written: String, rewritten: String },
}

/// The most `{{ }}` one string may hold.
pub(super) const MAX_EXPRESSIONS: usize = 64;

/// Text with `{{ }}` expressions, checked and split into its parts.
#[cfg(test)]
pub(super) fn text_parts(source: &str) -> Result<Vec<TextPart>, String> {
    text_parts_with(source, |_, _| {})
}

/// [`text_parts`], showing each expression's syntax tree to `visit` once
/// it is checked.
pub(super) fn text_parts_with(
    source: &str,
    mut visit: impl FnMut(&str, &Expr<'_>),
) -> Result<Vec<TextPart>, String> {
    check_tokens(source, false)?;
    let tree =
        parse(source, "<template>", SyntaxConfig::default()).map_err(|e| super::describe(&e))?;
    let Stmt::Template(template) = &tree else {
        return Err("not a template".into());
    };
    let splicer = Splicer { source };
    let mut parts = Vec::with_capacity(template.children.len());
    let mut expressions = 0;
    for child in &template.children {
        match child {
            Stmt::EmitRaw(raw) => parts.push(TextPart::Raw(raw.raw.to_string())),
            Stmt::EmitExpr(emit) => {
                expressions += 1;
                if expressions > MAX_EXPRESSIONS {
                    return Err(format!(
                        "a string may hold at most {MAX_EXPRESSIONS} `{{{{ }}}}` expressions; build the text in fewer"
                    ));
                }
                check_depth(&emit.expr)?;
                visit(source, &emit.expr);
                let mut range = splicer.extent(&emit.expr)?;
                // Some nodes' spans (`a if b else c`) start at the `{{`.
                let written = &source[range.clone()];
                if let Some(inner) = written.strip_prefix("{{") {
                    let inner = inner.trim_start_matches(['-', '+']).trim_start();
                    range.start = range.end - inner.len();
                }
                parts.push(TextPart::Expr {
                    written: source[range.clone()].to_string(),
                    rewritten: splicer.within(&emit.expr, range)?,
                });
            }
            other => {
                return Err(format!(
                    "`{{% {} %}}` blocks are not part of workflow templates: write an expression, such as `{{{{ a if condition else b }}}}` or a filter",
                    block_name(other)
                ));
            }
        }
    }
    Ok(parts)
}

const UNSUPPORTED: &str =
    "this template cannot be checked (an unexpected syntax tree); simplify the expression";

struct Splicer<'s> {
    source: &'s str,
}

impl Splicer<'_> {
    fn range(&self, span: Span) -> Result<Range<usize>, String> {
        let range = span.start_offset as usize..span.end_offset as usize;
        if range.start <= range.end && self.source.get(range.clone()).is_some() {
            Ok(range)
        } else {
            Err(UNSUPPORTED.into())
        }
    }

    /// Where `expr` is written: its own span (which for postfix nodes such
    /// as `.name`, `[i]`, `(args)` and `| filter` starts at the operator)
    /// joined with its sub-expressions'.
    fn extent(&self, expr: &Expr<'_>) -> Result<Range<usize>, String> {
        let mut range = self.range(span_of(expr))?;
        for child in children(expr) {
            let inner = self.extent(child)?;
            range.start = range.start.min(inner.start);
            range.end = range.end.max(inner.end);
        }
        Ok(range)
    }

    /// The text of `expr`, written within `range` (its extent, and maybe
    /// parentheses around it), with its amplifying operators rewritten.
    /// Text between sub-expressions (operators, parentheses) is copied as
    /// written.
    fn within(&self, expr: &Expr<'_>, range: Range<usize>) -> Result<String, String> {
        if let Expr::BinOp(binop) = expr
            && let Some((function, symbol)) = rewritten(binop.op)
        {
            // A binary operator's span runs from its left operand's first
            // token (an opening parenthesis included) to its right
            // operand's end; the operator sits between the operands.
            let own = self.range(binop.span())?;
            let gap = self.extent(&binop.left)?.end..self.extent(&binop.right)?.start;
            let at = self
                .source
                .get(gap.clone())
                .and_then(|between| between.find(symbol))
                .map(|offset| gap.start + offset)
                .ok_or(UNSUPPORTED)?;
            let left = own.start.min(gap.start)..at;
            let right = at + symbol.len()..own.end.max(gap.end);
            return Ok(format!(
                "{function}({}, {})",
                self.within(&binop.left, left)?.trim(),
                self.within(&binop.right, right)?.trim()
            ));
        }
        if !needs_rewrite(expr) {
            return Ok(self.source[range].to_string());
        }
        let mut children = children(expr)
            .into_iter()
            .map(|child| Ok((self.extent(child)?, child)))
            .collect::<Result<Vec<_>, String>>()?;
        children.sort_by_key(|(extent, _)| extent.start);
        let mut out = String::new();
        let mut at = range.start;
        for (inner, child) in children {
            if inner.start < at || inner.end > range.end {
                return Err(UNSUPPORTED.into());
            }
            out.push_str(&self.source[at..inner.start]);
            out.push_str(&self.within(child, inner.clone())?);
            at = inner.end;
        }
        out.push_str(&self.source[at..range.end]);
        Ok(out)
    }
}

/// The function an operator becomes, and how the operator is written.
fn rewritten(op: BinOpKind) -> Option<(&'static str, &'static str)> {
    match op {
        BinOpKind::Mul => Some((MUL, "*")),
        BinOpKind::Add => Some((ADD, "+")),
        BinOpKind::Concat => Some((CONCAT, "~")),
        _ => None,
    }
}

fn needs_rewrite(expr: &Expr<'_>) -> bool {
    match expr {
        Expr::BinOp(binop) if rewritten(binop.op).is_some() => true,
        _ => children(expr).into_iter().any(needs_rewrite),
    }
}

fn span_of(expr: &Expr<'_>) -> Span {
    match expr {
        Expr::Var(e) => e.span(),
        Expr::Const(e) => e.span(),
        Expr::Slice(e) => e.span(),
        Expr::UnaryOp(e) => e.span(),
        Expr::BinOp(e) => e.span(),
        Expr::Compare(e) => e.span(),
        Expr::IfExpr(e) => e.span(),
        Expr::Filter(e) => e.span(),
        Expr::Test(e) => e.span(),
        Expr::GetAttr(e) => e.span(),
        Expr::GetItem(e) => e.span(),
        Expr::Call(e) => e.span(),
        Expr::List(e) => e.span(),
        Expr::Tuple(e) => e.span(),
        Expr::Map(e) => e.span(),
    }
}

/// The text `expr` is written as in `source` (the text it was parsed from).
pub(super) fn written<'s>(source: &'s str, expr: &Expr<'_>) -> Option<&'s str> {
    let range = Splicer { source }.extent(expr).ok()?;
    source.get(range)
}

/// The direct sub-expressions of `expr`.
pub(super) fn children<'e, 'a>(expr: &'e Expr<'a>) -> Vec<&'e Expr<'a>> {
    let args = |args: &'e [CallArg<'a>]| {
        args.iter().map(|arg| match arg {
            CallArg::Pos(e)
            | CallArg::Kwarg(_, e)
            | CallArg::PosSplat(e)
            | CallArg::KwargSplat(e) => e,
        })
    };
    match expr {
        Expr::Var(_) | Expr::Const(_) => Vec::new(),
        Expr::Slice(e) => [
            Some(&e.expr),
            e.start.as_ref(),
            e.stop.as_ref(),
            e.step.as_ref(),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Expr::UnaryOp(e) => vec![&e.expr],
        Expr::BinOp(e) => vec![&e.left, &e.right],
        Expr::Compare(e) => std::iter::once(&e.expr)
            .chain(e.ops.iter().map(|op| &op.expr))
            .collect(),
        Expr::IfExpr(e) => [
            Some(&e.test_expr),
            Some(&e.true_expr),
            e.false_expr.as_ref(),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Expr::Filter(e) => e.expr.iter().chain(args(&e.args)).collect(),
        Expr::Test(e) => std::iter::once(&e.expr).chain(args(&e.args)).collect(),
        Expr::GetAttr(e) => vec![&e.expr],
        Expr::GetItem(e) => vec![&e.expr, &e.subscript_expr],
        Expr::Call(e) => std::iter::once(&e.expr).chain(args(&e.args)).collect(),
        Expr::List(e) => e.items.iter().collect(),
        Expr::Tuple(e) => e.items.iter().collect(),
        Expr::Map(e) => e.keys.iter().chain(&e.values).collect(),
    }
}

fn block_name(stmt: &Stmt<'_>) -> &'static str {
    match stmt {
        Stmt::ForLoop(_) => "for",
        Stmt::IfCond(_) => "if",
        Stmt::WithBlock(_) => "with",
        Stmt::Set(_) | Stmt::SetBlock(_) => "set",
        Stmt::AutoEscape(_) => "autoescape",
        Stmt::FilterBlock(_) => "filter",
        Stmt::Do(_) => "do",
        _ => "…",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amplifying_operators_become_calls_and_the_rest_is_kept() {
        for (source, expected) in [
            ("steps.a.output", "steps.a.output"),
            ("'a' * 100000000", "__wf_mul('a', 100000000)"),
            ("(a ~ b) | upper", "(__wf_concat(a, b)) | upper"),
            ("x + y * 2 - 1", "__wf_add(x, __wf_mul(y, 2)) - 1"),
            (
                "f(a ~ 'x', k=b * 3)[0].n",
                "f(__wf_concat(a, 'x'), k=__wf_mul(b, 3))[0].n",
            ),
            (
                "'y' if a ~ b else [c * 2, {'k': d + 1}]",
                "'y' if __wf_concat(a, b) else [__wf_mul(c, 2), {'k': __wf_add(d, 1)}]",
            ),
            (
                "steps['my-step'].output ~ '!'",
                "__wf_concat(steps['my-step'].output, '!')",
            ),
            (
                "('a' * 2) | upper ~ (x)",
                "__wf_concat((__wf_mul('a', 2)) | upper, (x))",
            ),
            ("((a)) * ((b + c))", "__wf_mul(((a)), __wf_add(b, c))"),
            ("-a * -(b)", "__wf_mul(-a, -(b))"),
        ] {
            assert_eq!(expression(source).as_deref(), Ok(expected), "{source}");
        }
    }

    #[test]
    fn text_keeps_its_raw_parts_and_refuses_blocks() {
        let expr = |written: &str, rewritten: &str| TextPart::Expr {
            written: written.into(),
            rewritten: rewritten.into(),
        };
        assert_eq!(
            text_parts("a {{ x * 2 }} b {{- y }}!"),
            Ok(vec![
                TextPart::Raw("a ".into()),
                expr("x * 2", "__wf_mul(x, 2)"),
                TextPart::Raw(" b".into()),
                expr("y", "y"),
                TextPart::Raw("!".into()),
            ])
        );
        assert_eq!(
            text_parts("a{{- 'x' if y else z }}")
                .ok()
                .and_then(|parts| parts.into_iter().nth(1)),
            Some(expr("'x' if y else z", "'x' if y else z"))
        );
        let many = "{{ 1 }}".repeat(MAX_EXPRESSIONS + 1);
        assert!(text_parts(&many).is_err_and(|e| e.contains("at most 64")));
        for source in [
            "{% for i in range(9) %}{{ i }}{% endfor %}",
            "{% set x = 1 %}",
            "{% if a %}b{% endif %}",
            "{% with a = 1 %}{{ a }}{% endwith %}",
        ] {
            let error = text_parts(source).expect_err(source);
            assert!(
                error.contains("blocks are not part of workflow templates"),
                "{error}"
            );
        }
    }
}
