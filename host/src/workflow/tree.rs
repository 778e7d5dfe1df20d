//! A workflow file's text → a tree of [`Node`]s, each with its position.
//!
//! YAML and JSON share this parser (JSON is YAML's flow syntax), so both get
//! the same positions and the same refusals of hostile input: files over
//! [`MAX_FILE_BYTES`], nesting deeper than [`MAX_DEPTH`], anchors and aliases
//! (alias bombs), custom tags, several documents, and duplicate keys.

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError};
use serde_json::{Map, Number, Value};

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::diagnostics::{Span, Spanned};

/// The largest workflow file accepted.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// The deepest nesting of lists and maps accepted.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    /// A number, with its text as written (so `version: 1.10` can be a string).
    Number(Number, String),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<(Spanned<String>, Node)>),
}

impl Node {
    /// What kind of value this is, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Number(..) => "a number",
            NodeKind::String(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a map",
        }
    }

    /// The value as plain JSON, positions dropped.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Number(n, _) => Value::Number(n.clone()),
            NodeKind::String(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(key, value)| (key.value.clone(), value.to_json()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
}

enum Frame {
    Seq(Span, Vec<Node>),
    Map(Span, Vec<(Spanned<String>, Node)>, Option<Spanned<String>>),
}

/// Parse `text` into one tree, or every problem that prevents it.
pub fn parse(text: &str) -> Result<Node, Diagnostics> {
    let mut problems = Diagnostics::default();
    if text.len() > MAX_FILE_BYTES {
        problems.push(
            Diagnostic::error(
                Span::new(1, 1, 1),
                format!(
                    "the file is {} bytes; workflow files are limited to {MAX_FILE_BYTES} bytes",
                    text.len()
                ),
            )
            .with_help("split the workflow or move large data into a file a step reads"),
        );
        return Err(problems);
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = match event {
            Ok(event) => event,
            Err(error) => {
                problems.push(scan_error(&error));
                return Err(problems);
            }
        };
        let at = Span::new(
            span.start.line(),
            span.start.col() + 1,
            if span.end.line() == span.start.line() {
                span.end.col().saturating_sub(span.start.col())
            } else {
                1
            },
        );
        let node = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    problems.push(
                        Diagnostic::error(at, "a workflow file holds one document").with_help(
                            "remove the second `---` document or move it to its own file",
                        ),
                    );
                    return Err(problems);
                }
                continue;
            }
            Event::Alias(_) => {
                problems.push(
                    Diagnostic::error(at, "YAML aliases (`*name`) are not allowed in workflows")
                        .with_help("write the value out where it is used"),
                );
                Node {
                    span: at,
                    kind: NodeKind::Null,
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                refuse_anchor(anchor, at, &mut problems);
                if let Some(tag) = tag {
                    problems.push(Diagnostic::error(
                        at,
                        format!(
                            "YAML tags (`{}{}`) are not allowed in workflows",
                            tag.handle, tag.suffix
                        ),
                    ));
                }
                Node {
                    span: at,
                    kind: scalar(&text, style),
                }
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                refuse_anchor(anchor, at, &mut problems);
                if tag.is_some() {
                    problems.push(Diagnostic::error(
                        at,
                        "YAML tags are not allowed in workflows",
                    ));
                }
                if stack.len() >= MAX_DEPTH {
                    problems.push(Diagnostic::error(
                        at,
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                    ));
                    return Err(problems);
                }
                if let Some(Frame::Map(_, _, None)) = stack.last() {
                    problems.push(Diagnostic::error(at, "map keys must be strings"));
                    return Err(problems);
                }
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq(at, Vec::new())
                } else {
                    Frame::Map(at, Vec::new(), None)
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Frame::Seq(span, items)) => Node {
                    span,
                    kind: NodeKind::Seq(items),
                },
                Some(Frame::Map(span, entries, _)) => Node {
                    span,
                    kind: NodeKind::Map(entries),
                },
                None => continue,
            },
        };
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map(_, entries, pending)) => match pending.take() {
                Some(key) => entries.push((key, node)),
                None => {
                    let key = match node.kind {
                        NodeKind::String(s) | NodeKind::Number(_, s) => s,
                        NodeKind::Bool(b) => b.to_string(),
                        NodeKind::Null => "null".to_string(),
                        NodeKind::Seq(_) | NodeKind::Map(_) => {
                            problems.push(Diagnostic::error(node.span, "map keys must be strings"));
                            return Err(problems);
                        }
                    };
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.value == key) {
                        problems.push(
                            Diagnostic::error(node.span, format!("duplicate key `{key}`"))
                                .with_help(format!(
                                    "`{key}` is first set at line {}",
                                    first.span.line
                                )),
                        );
                    }
                    *pending = Some(Spanned::new(node.span, key));
                }
            },
        }
    }
    if problems.has_errors() {
        return Err(problems);
    }
    root.ok_or_else(|| {
        let mut problems = Diagnostics::default();
        problems.push(Diagnostic::error(Span::new(1, 1, 1), "the file is empty"));
        problems
    })
}

fn refuse_anchor(anchor: usize, at: Span, problems: &mut Diagnostics) {
    if anchor != 0 {
        problems.push(
            Diagnostic::error(at, "YAML anchors (`&name`) are not allowed in workflows")
                .with_help("write the value out where it is used"),
        );
    }
}

fn scan_error(error: &ScanError) -> Diagnostic {
    let mark = error.marker();
    Diagnostic::error(
        Span::new(mark.line(), mark.col() + 1, 1),
        format!("syntax error: {}", error.info()),
    )
}

/// Resolve a scalar by the YAML 1.2 core schema; quoted scalars are strings.
fn scalar(text: &str, style: ScalarStyle) -> NodeKind {
    if style != ScalarStyle::Plain {
        return NodeKind::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
        "true" | "True" | "TRUE" => return NodeKind::Bool(true),
        "false" | "False" | "FALSE" => return NodeKind::Bool(false),
        _ => {}
    }
    let number = |n: Number| NodeKind::Number(n, text.to_string());
    if let Ok(n) = text.parse::<i64>() {
        return number(n.into());
    }
    if let Ok(n) = text.parse::<u64>() {
        return number(n.into());
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(n) = u64::from_str_radix(hex, 16)
    {
        return number(n.into());
    }
    if let Some(octal) = text.strip_prefix("0o")
        && let Ok(n) = u64::from_str_radix(octal, 8)
    {
        return number(n.into());
    }
    let looks_numeric = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        && text.chars().any(|c| c.is_ascii_digit());
    if looks_numeric
        && let Ok(f) = text.parse::<f64>()
        && let Some(n) = Number::from_f64(f)
    {
        return number(n);
    }
    NodeKind::String(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn yaml_and_json_give_the_same_values() {
        let yaml = parse("a: 1\nb: [true, null, x, 2.5]\nc: '3'\n").map(|n| n.to_json());
        let json = parse(r#"{"a": 1, "b": [true, null, "x", 2.5], "c": "3"}"#).map(|n| n.to_json());
        assert_eq!(yaml.ok(), json.ok());
    }

    #[test]
    fn positions_are_one_based() {
        let node = parse("a:\n  b: hello\n").ok();
        let Some(Node {
            kind: NodeKind::Map(entries),
            ..
        }) = node
        else {
            panic!("expected a map");
        };
        let NodeKind::Map(inner) = &entries[0].1.kind else {
            panic!("expected a nested map");
        };
        assert_eq!(inner[0].0.span, Span::new(2, 3, 1));
        assert_eq!(inner[0].1.span, Span::new(2, 6, 5));
    }

    #[test]
    fn hostile_input_is_refused() {
        let cases = [
            ("a: &x [1]\nb: *x\n", "anchors"),
            ("a: 1\na: 2\n", "duplicate key `a`"),
            ("a: !!binary abc\n", "tags"),
            ("a: 1\n---\nb: 2\n", "one document"),
            ("a: [1, 2\n", "syntax error"),
            ("", "empty"),
        ];
        for (text, expected) in cases {
            let found = errors(text);
            assert!(
                found.iter().any(|e| e.contains(expected)),
                "{text:?}: expected {expected:?} in {found:?}"
            );
        }
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(errors(&deep).iter().any(|e| e.contains("nesting deeper")));
    }
}
