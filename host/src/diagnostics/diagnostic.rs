//! Problems found in a workflow file, printed like a compiler's:
//! `FILE:LINE:COL: error: message`, the source line, a caret, and help.

use std::fmt::{self, Write as _};

use super::span::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem, located in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub span: Span,
    pub message: String,
    /// "did you mean `build`?" or what to do instead.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            span,
            message: message.into(),
            help: None,
        }
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(span, message)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds "did you mean `x`?" when there is a close candidate.
    pub fn suggest(self, suggestion: Option<&str>) -> Self {
        match suggestion {
            Some(candidate) => self.with_help(format!("did you mean `{candidate}`?")),
            None => self,
        }
    }

    /// Adds `help` unless there is help already (a suggestion is better).
    pub fn with_help_if_none(self, help: String) -> Self {
        if self.help.is_some() {
            self
        } else {
            self.with_help(help)
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The diagnostic with its source line (`line`, when the file has it)
    /// and a caret, ready to print. A long line is cut to a window around
    /// the caret.
    pub fn render(&self, file: &str, line: Option<&str>) -> String {
        let mut out = String::new();
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{file}:{}: {label}: {}", self.span, self.message);
        if let Some(line) = line {
            let number = self.span.line.to_string();
            let pad = " ".repeat(number.len());
            let (shown, col) = window(line, self.span.col as usize - 1);
            let indent: String = shown
                .chars()
                .take(col)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let available = shown.chars().count().saturating_sub(col);
            let carets = "^".repeat((self.span.len as usize).min(available).max(1));
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{number} | {shown}");
            let _ = writeln!(out, "{pad} | {indent}{carets}");
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        out
    }
}

/// Characters of a line shown around a caret.
const WINDOW_CHARS: usize = 160;

/// `line`, or the part of it around the 0-based character `col` when it is
/// long (marked with `…` where cut), and the caret's column in what is shown.
fn window(line: &str, col: usize) -> (std::borrow::Cow<'_, str>, usize) {
    let count = line.chars().take(WINDOW_CHARS + 1).count();
    if count <= WINDOW_CHARS {
        return (line.into(), col);
    }
    let start = col.saturating_sub(WINDOW_CHARS / 3);
    let mut shown: String = line.chars().skip(start).take(WINDOW_CHARS).collect();
    let cut_end = line.chars().nth(start + WINDOW_CHARS).is_some();
    let mut col = col - start;
    if start > 0 {
        shown.insert(0, '…');
        col += 1;
    }
    if cut_end {
        shown.push('…');
    }
    (shown.into(), col)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.span, self.message)
    }
}

/// Every diagnostic found, errors and warnings, in file order.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    /// Sorted by position so the output reads top to bottom.
    pub fn sorted(mut self) -> Self {
        self.0
            .sort_by(|a, b| a.span.cmp(&b.span).then(a.severity.cmp(&b.severity)));
        self.0.dedup();
        self
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_cut_around_the_caret() {
        let line = format!("{}ERR{}", "a".repeat(10_000), "b".repeat(10_000));
        let diagnostic = Diagnostic::error(Span::new(1, 10_001, 3), "here");
        let rendered = diagnostic.render("f.json", Some(&line));
        let lines: Vec<&str> = rendered.lines().collect();
        assert!(
            lines[2].starts_with("1 | …") && lines[2].ends_with('…'),
            "{rendered}"
        );
        assert!(lines[2].chars().count() < 200, "{rendered}");
        let caret = lines[3].chars().position(|c| c == '^').expect("a caret");
        let under: String = lines[2].chars().skip(caret).take(3).collect();
        assert_eq!(under, "ERR", "{rendered}");
    }
}
