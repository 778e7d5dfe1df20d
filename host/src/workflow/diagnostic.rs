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

    /// The diagnostic with its source line and caret, ready to print.
    pub fn render(&self, file: &str, text: &str) -> String {
        let mut out = String::new();
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{file}:{}: {label}: {}", self.span, self.message);
        if let Some(line) = text.lines().nth(self.span.line as usize - 1) {
            let number = self.span.line.to_string();
            let pad = " ".repeat(number.len());
            let indent: String = line
                .chars()
                .take(self.span.col as usize - 1)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let available = line.chars().count().saturating_sub(indent.chars().count());
            let carets = "^".repeat((self.span.len as usize).min(available).max(1));
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{number} | {line}");
            let _ = writeln!(out, "{pad} | {indent}{carets}");
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        out
    }
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
