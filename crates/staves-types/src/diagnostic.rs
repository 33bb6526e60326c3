//! A problem at a place in a file: the file, its text, the span, what is wrong and what to
//! do. Specs, recipes and the archive's configuration report their mistakes as these, and the
//! command line renders them all one way.

use std::ops::Range;
use std::path::{Path, PathBuf};

/// A problem at a place in a file: what is wrong there and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file.
    pub path: PathBuf,
    /// Its full text.
    pub source: String,
    /// Byte range of the offending text.
    pub span: Range<usize>,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at `span` of `source`.
    pub fn new(
        path: &Path,
        source: &str,
        span: Range<usize>,
        message: String,
        help: Option<String>,
    ) -> Self {
        let end = span.end.min(source.len());
        let start = span.start.min(end);
        Diagnostic {
            path: path.to_owned(),
            source: source.to_owned(),
            span: start..end,
            message,
            help,
        }
    }

    /// 1-based line and column (in characters) of the span's start.
    pub fn line_column(&self) -> (usize, usize) {
        line_column(&self.source, self.span.start)
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (line, column) = self.line_column();
        write!(
            f,
            "{}:{line}:{column}: {}",
            self.path.display(),
            self.message
        )?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of byte `offset` of `source`.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |n| n + 1);
    let column = source[line_start..offset].chars().count() + 1;
    (line, column)
}
