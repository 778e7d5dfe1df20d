//! Positions in a file, problems found there, and the file's text to print
//! them against: the bottom layer that the workflow reader, the manifest
//! reader and the registry all report through. It depends on nothing else
//! in the crate.

mod diagnostic;
mod source;
mod span;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use source::{LineIndex, MAX_RENDERED, Source};
pub use span::{Span, Spanned};
