//! A file's text, and printing diagnostics against it.
//!
//! Rendering is bounded whatever the file: line starts are indexed once,
//! each printed source line is cut to a window around its caret, and only
//! the first [`MAX_RENDERED`] diagnostics are printed, followed by a count
//! of the rest (as compilers do).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::diagnostic::{Diagnostics, Severity};

/// Diagnostics printed in full; the rest are counted.
pub const MAX_RENDERED: usize = 50;

#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
        }
    }

    /// Read a file of at most `max_bytes`, refusing a larger one before
    /// reading it, and text that is not UTF-8 with where decoding failed.
    pub fn read(path: &Path, max_bytes: usize) -> std::io::Result<Self> {
        let size = std::fs::metadata(path)?.len();
        if size > max_bytes as u64 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!("the file is {size} bytes; the limit is {max_bytes} bytes"),
            ));
        }
        // Read at most one byte past the limit: a file that grew, or a
        // device whose size says nothing (`/dev/zero`), is refused too.
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(max_bytes));
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::fs::File::open(path)?, max_bytes as u64 + 1),
            &mut bytes,
        )?;
        if bytes.len() > max_bytes {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!("the file is over the limit of {max_bytes} bytes"),
            ));
        }
        let text = String::from_utf8(bytes).map_err(|error| {
            let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
            // `valid` is UTF-8 by construction.
            let before = std::str::from_utf8(valid).unwrap_or_default();
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "not UTF-8 text: an invalid byte at line {line}, column {col} (byte offset {})",
                    valid.len()
                ),
            )
        })?;
        Ok(Self::new(path, text))
    }

    /// The directory relative module paths resolve against.
    pub fn base_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The diagnostics rendered with their source lines, in file order: the
    /// first [`MAX_RENDERED`] in full, then how many more there are.
    pub fn render(&self, diagnostics: &Diagnostics) -> String {
        let file = self.path.display().to_string();
        let lines = LineIndex::new(&self.text);
        let mut rendered: Vec<String> = diagnostics
            .iter()
            .take(MAX_RENDERED)
            .map(|d| d.render(&file, lines.line(&self.text, d.span.line)))
            .collect();
        let rest: Vec<_> = diagnostics.iter().skip(MAX_RENDERED).collect();
        if !rest.is_empty() {
            let errors = rest
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            let warnings = rest.len() - errors;
            let mut more = format!("{file}: … and");
            match (errors, warnings) {
                (e, 0) => {
                    let _ = write!(more, " {e} more {}", plural(e, "error"));
                }
                (0, w) => {
                    let _ = write!(more, " {w} more {}", plural(w, "warning"));
                }
                (e, w) => {
                    let _ = write!(
                        more,
                        " {e} more {} and {w} {}",
                        plural(e, "error"),
                        plural(w, "warning")
                    );
                }
            }
            more.push_str(" not shown; fix these first\n");
            rendered.push(more);
        }
        rendered.join("\n")
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// Byte offsets where each line starts: any line in O(1).
#[derive(Debug, Clone, Default)]
pub struct LineIndex(Vec<usize>);

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        Self(starts)
    }

    /// Line `number` (1-based), without its line break.
    pub fn line<'t>(&self, text: &'t str, number: u32) -> Option<&'t str> {
        let index = (number as usize).checked_sub(1)?;
        let start = *self.0.get(index)?;
        let end = self.0.get(index + 1).map_or(text.len(), |next| next - 1);
        let line = text.get(start..end)?;
        Some(line.strip_suffix('\r').unwrap_or(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::{Diagnostic, Span};

    #[test]
    fn lines_are_found_by_number() {
        let text = "a\nbc\r\n\nd";
        let index = LineIndex::new(text);
        assert_eq!(index.line(text, 1), Some("a"));
        assert_eq!(index.line(text, 2), Some("bc"));
        assert_eq!(index.line(text, 3), Some(""));
        assert_eq!(index.line(text, 4), Some("d"));
        assert_eq!(index.line(text, 5), None);
        assert_eq!(index.line(text, 0), None);
    }

    #[test]
    fn many_diagnostics_are_counted_not_printed() {
        let text = "x\n".repeat(200);
        let source = Source::new("f.yaml", text);
        let mut diagnostics = Diagnostics::default();
        for line in 1..=120 {
            diagnostics.push(Diagnostic::error(Span::new(line, 1, 1), "bad"));
        }
        diagnostics.push(Diagnostic::warning(Span::new(150, 1, 1), "odd"));
        let rendered = source.render(&diagnostics.sorted());
        assert_eq!(rendered.matches(": error: bad").count(), MAX_RENDERED);
        assert!(
            rendered.ends_with(
                "f.yaml: … and 70 more errors and 1 warning not shown; fix these first\n"
            ),
            "{rendered}"
        );
    }

    #[test]
    fn invalid_utf8_names_its_line_and_column() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bad.yaml");
        std::fs::write(&path, b"name: x\nsteps: \xc3\x28\n").expect("write");
        let error = Source::read(&path, 1 << 20).expect_err("not UTF-8");
        assert_eq!(
            error.to_string(),
            "not UTF-8 text: an invalid byte at line 2, column 8 (byte offset 15)"
        );
    }
}
