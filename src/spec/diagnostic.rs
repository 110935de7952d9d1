//! Validation problems with the place in a file they come from, and how they
//! print: `error: <file>:<line>:<col>: <message>`, the source line with a
//! caret under the offending text, then `N errors`.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use super::source::SourceFile;

/// One problem found in a spec or a file it references.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// The file it is in.
    pub source: Arc<SourceFile>,
    /// The bytes it points at.
    pub span: Range<usize>,
    /// What is wrong, in one line.
    pub message: String,
}

impl Diagnostic {
    /// A problem at `span` of `source`.
    pub fn new(source: &Arc<SourceFile>, span: Range<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            source: Arc::clone(source),
            span,
            message: message.into(),
        }
    }

    /// `file:line:col: message`, the first line of the printed form.
    pub fn headline(&self) -> String {
        let (line, column) = self.source.location(self.span.start);
        format!("{}:{line}:{column}: {}", self.source.name, self.message)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, column) = self.source.location(self.span.start);
        writeln!(f, "error: {}", self.headline())?;
        let text = self.source.line_text(line);
        let gutter = line.to_string();
        let pad = " ".repeat(gutter.len());
        // The caret runs to the end of the span or of the line, whichever comes first.
        let rest = text.chars().count().saturating_sub(column - 1);
        let width = self
            .source
            .slice(&self.span)
            .chars()
            .take_while(|&c| c != '\n')
            .count();
        let carets = width.clamp(1, rest.max(1));
        writeln!(f, "{pad} |")?;
        writeln!(f, "{gutter} | {text}")?;
        write!(
            f,
            "{pad} | {}{}",
            " ".repeat(column - 1),
            "^".repeat(carets)
        )
    }
}

/// Every problem found in one validation, in file order.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// Adds a problem.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The problems, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    /// Puts the problems in file order: the spec first, then the files it
    /// references in the order they were read, each by position.
    pub(crate) fn sort(&mut self, file_order: &[Arc<SourceFile>]) {
        let rank = |d: &Diagnostic| {
            file_order
                .iter()
                .position(|s| Arc::ptr_eq(s, &d.source))
                .unwrap_or(usize::MAX)
        };
        self.0.sort_by_key(|d| (rank(d), d.span.start));
        self.0.dedup_by(|a, b| {
            Arc::ptr_eq(&a.source, &b.source) && a.span == b.span && a.message == b.message
        });
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for diagnostic in &self.0 {
            writeln!(f, "{diagnostic}")?;
            writeln!(f)?;
        }
        match self.0.len() {
            1 => write!(f, "1 error"),
            n => write!(f, "{n} errors"),
        }
    }
}
