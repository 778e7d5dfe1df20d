//! The data a template reads, as dotted paths, from its syntax tree: every
//! chain of attribute and constant subscript lookups from a name, whatever
//! form it is written in. `steps['my-step'].output[0].name` reads
//! `steps.my-step.output.0.name`; a lookup with a computed subscript
//! (`steps.x.output[item]`) reads the path up to it.

use std::collections::BTreeMap;

use minijinja::machinery::ast::Expr;

use super::harden::{children, written};

/// Every path `expr` (parsed from `source`) reads, with how the first
/// lookup of it is written.
pub(super) fn read_by(source: &str, expr: &Expr<'_>, found: &mut BTreeMap<String, String>) {
    let mut pending = vec![expr];
    while let Some(expr) = pending.pop() {
        if let Some((path, rest)) = chain(expr) {
            let as_written = written(source, expr).unwrap_or(&path).to_string();
            found.entry(path).or_insert(as_written);
            pending.extend(rest);
        } else {
            pending.extend(children(expr));
        }
    }
}

/// The path a lookup chain rooted at a name reads, and the sub-expressions
/// left to walk (computed subscripts); `None` when `expr` is no such chain.
fn chain<'e, 'a>(expr: &'e Expr<'a>) -> Option<(String, Vec<&'e Expr<'a>>)> {
    let mut segments: Vec<String> = Vec::new();
    let mut rest: Vec<&Expr<'_>> = Vec::new();
    let mut at = expr;
    loop {
        match at {
            Expr::Var(var) => {
                segments.push(var.id.to_string());
                break;
            }
            Expr::GetAttr(attr) => {
                segments.push(attr.name.to_string());
                at = &attr.expr;
            }
            Expr::GetItem(item) => {
                match constant_key(&item.subscript_expr) {
                    Some(key) => segments.push(key),
                    // `a.b[x].c` reads `a.b` (and whatever `x` reads).
                    None => {
                        segments.clear();
                        rest.push(&item.subscript_expr);
                    }
                }
                at = &item.expr;
            }
            _ => return None,
        }
    }
    segments.reverse();
    Some((segments.join("."), rest))
}

/// A subscript written as a constant string or non-negative integer.
fn constant_key(expr: &Expr<'_>) -> Option<String> {
    let Expr::Const(constant) = expr else {
        return None;
    };
    let value = &constant.value;
    value
        .as_str()
        .map(str::to_string)
        .or_else(|| value.as_usize().map(|n| n.to_string()))
}

#[cfg(test)]
mod tests {
    use minijinja::machinery::parse_expr;

    use super::*;

    fn paths(source: &str) -> Vec<String> {
        let expr = parse_expr(source).expect("parses");
        let mut found = BTreeMap::new();
        read_by(source, &expr, &mut found);
        found.into_keys().collect()
    }

    #[test]
    fn paths_remember_how_they_are_written() {
        let source = "steps['my-step'].output[0] ~ inputs.x";
        let expr = parse_expr(source).expect("parses");
        let mut found = BTreeMap::new();
        read_by(source, &expr, &mut found);
        assert_eq!(
            found["steps.my-step.output.0"],
            "steps['my-step'].output[0]"
        );
        assert_eq!(found["inputs.x"], "inputs.x");
    }

    #[test]
    fn every_lookup_form_is_a_path() {
        for (source, expected) in [
            ("steps.a.output", vec!["steps.a.output"]),
            ("steps['my-step'].outptu", vec!["steps.my-step.outptu"]),
            ("steps[\"my-stp\"]", vec!["steps.my-stp"]),
            ("steps.x.output[0].foo", vec!["steps.x.output.0.foo"]),
            (
                "steps.t.output.failures[0].nam",
                vec!["steps.t.output.failures.0.nam"],
            ),
            ("steps.x.output[item].y", vec!["item", "steps.x.output"]),
            (
                "inputs.n + steps['b'].output | length",
                vec!["inputs.n", "steps.b.output"],
            ),
            ("range(3) | join(inputs.sep)", vec!["inputs.sep", "range"]),
        ] {
            assert_eq!(paths(source), expected, "{source}");
        }
    }
}
