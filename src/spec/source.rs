//! A source file held in memory, with what error messages need from it:
//! line and column of an offset, and the text of a line.

use std::ops::Range;

/// The text of a file that diagnostics point into.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as the user named it (shown in messages).
    pub name: String,
    /// The whole text.
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Holds `text`, shown in messages as `name`.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// The 0-based line holding byte `offset` (clamped to the text).
    fn line_index(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.line_starts.partition_point(|&start| start <= offset) - 1
    }

    /// 1-based line and column (in characters) of byte `offset`.
    pub fn location(&self, offset: usize) -> (usize, usize) {
        let offset = self.floor_char_boundary(offset.min(self.text.len()));
        let line = self.line_index(offset);
        let column = self.text[self.line_starts[line]..offset].chars().count() + 1;
        (line + 1, column)
    }

    /// The text of the 1-based `line`, without its line ending.
    pub fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts[line - 1];
        let end = self
            .line_starts
            .get(line)
            .map(|&next| next - 1)
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches('\r')
    }

    /// The byte offset of the start of 1-based `line` plus `column - 1`
    /// characters, for tools that report line and column only.
    pub fn offset_of(&self, line: usize, column: usize) -> usize {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        let line_text = &self.text[start..];
        start
            + line_text
                .char_indices()
                .nth(column.saturating_sub(1))
                .map(|(i, _)| i)
                .unwrap_or(line_text.len())
    }

    /// The source text a span covers (clamped to the text).
    pub fn slice(&self, span: &Range<usize>) -> &str {
        let start = self.floor_char_boundary(span.start.min(self.text.len()));
        let end = self.floor_char_boundary(span.end.clamp(start, self.text.len()));
        &self.text[start..end]
    }

    fn floor_char_boundary(&self, mut offset: usize) -> usize {
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_offsets_in_lines_and_columns() {
        let file = SourceFile::new("f", "ab\ncdé f\n\nx");
        assert_eq!(file.location(0), (1, 1));
        assert_eq!(file.location(3), (2, 1));
        assert_eq!(file.location(7), (2, 4));
        assert_eq!(file.location(8), (2, 5));
        assert_eq!(file.location(9), (2, 6));
        assert_eq!(file.location(10), (3, 1));
        assert_eq!(file.location(11), (4, 1));
        assert_eq!(file.location(99), (4, 2));
        assert_eq!(file.line_text(2), "cdé f");
        assert_eq!(file.line_text(3), "");
        assert_eq!(file.offset_of(2, 4), 7);
    }
}
