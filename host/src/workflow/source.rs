//! A workflow file's text, and printing diagnostics against it.

use std::path::{Path, PathBuf};

use super::diagnostic::Diagnostics;
use super::tree::MAX_FILE_BYTES;

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

    /// Read a workflow file, refusing one too large to be a workflow
    /// before reading it.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let size = std::fs::metadata(path)?.len();
        if size > MAX_FILE_BYTES as u64 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!(
                    "the file is {size} bytes; workflow files are limited to {MAX_FILE_BYTES} bytes"
                ),
            ));
        }
        Ok(Self::new(path, std::fs::read_to_string(path)?))
    }

    /// The directory relative module paths resolve against.
    pub fn base_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Every diagnostic rendered with its source line, in file order.
    pub fn render(&self, diagnostics: &Diagnostics) -> String {
        let file = self.path.display().to_string();
        diagnostics
            .iter()
            .map(|d| d.render(&file, &self.text))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
