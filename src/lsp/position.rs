//! Byte offsets ↔ LSP positions. LSP counts lines by `\n`, `\r\n` or `\r` and columns in
//! UTF-16 code units (the protocol's default encoding, the only one this server offers);
//! the language core counts bytes.

use lsp_types::{Position, Range};

/// The line starts of one text, for converting between byte offsets and LSP positions.
#[derive(Debug, Clone)]
pub struct LineIndex {
    /// Byte offset of the start of every line (the first is 0).
    starts: Vec<usize>,
    /// The text's length in bytes.
    len: usize,
}

impl LineIndex {
    /// Indexes `text`'s lines.
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => starts.push(i + 1),
                b'\r' if bytes.get(i + 1) != Some(&b'\n') => starts.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        LineIndex {
            starts,
            len: text.len(),
        }
    }

    /// The end of a line's content (before its terminator), in bytes.
    fn line_end(&self, text: &str, line: usize) -> usize {
        let next = self.starts.get(line + 1).copied().unwrap_or(self.len);
        let mut end = next;
        let b = text.as_bytes();
        if end > self.starts[line] && b.get(end - 1) == Some(&b'\n') {
            end -= 1;
        }
        if end > self.starts[line] && b.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        end
    }

    /// The LSP position of a byte offset of `text` (clamped to the text; an offset inside a
    /// character counts from that character's start).
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let mut offset = offset.min(self.len);
        while offset > 0 && !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let col: usize = text[start..offset].chars().map(char::len_utf16).sum();
        Position::new(line as u32, col as u32)
    }

    /// The LSP range of a byte range of `text`.
    pub fn range(&self, text: &str, range: std::ops::Range<usize>) -> Range {
        Range::new(
            self.position(text, range.start),
            self.position(text, range.end),
        )
    }

    /// The byte offset of an LSP position in `text`: a line past the end gives the text's
    /// end, a column past the line's end gives the line's end, and a column inside a
    /// surrogate pair gives the start of its character.
    pub fn offset(&self, text: &str, pos: Position) -> usize {
        let line = pos.line as usize;
        if line >= self.starts.len() {
            return self.len;
        }
        let start = self.starts[line];
        let end = self.line_end(text, line);
        let mut units = 0usize;
        for (i, c) in text[start..end].char_indices() {
            let next = units + c.len_utf16();
            if next > pos.character as usize {
                return start + i;
            }
            units = next;
        }
        end
    }

    /// The byte range of an LSP range (see [`LineIndex::offset`]); never reversed.
    pub fn byte_range(&self, text: &str, range: Range) -> std::ops::Range<usize> {
        let a = self.offset(text, range.start);
        let b = self.offset(text, range.end);
        a.min(b)..a.max(b)
    }

    /// The range covering the whole of `text`.
    pub fn whole(&self, text: &str) -> Range {
        self.range(text, 0..self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) {
        let index = LineIndex::new(text);
        for (i, _) in text.char_indices().chain([(text.len(), ' ')]) {
            // The `\n` of a `\r\n` is inside a line terminator: no position names it.
            if i > 0 && text[..i].ends_with('\r') && text[i..].starts_with('\n') {
                continue;
            }
            let pos = index.position(text, i);
            assert_eq!(index.offset(text, pos), i, "{text:?} at {i}: {pos:?}");
        }
    }

    #[test]
    fn ascii_lines_and_columns() {
        let text = "ab\ncd\n";
        let index = LineIndex::new(text);
        assert_eq!(index.position(text, 0), Position::new(0, 0));
        assert_eq!(index.position(text, 2), Position::new(0, 2));
        assert_eq!(index.position(text, 3), Position::new(1, 0));
        assert_eq!(index.position(text, 6), Position::new(2, 0));
        round_trip(text);
    }

    #[test]
    fn columns_count_utf16_code_units() {
        // `é` is 2 bytes and 1 unit; `😀` is 4 bytes and 2 units (a surrogate pair).
        let text = "# é😀x\nlet a = 1";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap();
        assert_eq!(x, 2 + 2 + 4);
        assert_eq!(index.position(text, x), Position::new(0, 5));
        assert_eq!(index.offset(text, Position::new(0, 5)), x);
        // Inside the surrogate pair: the emoji's start.
        let emoji = text.find('😀').unwrap();
        assert_eq!(index.offset(text, Position::new(0, 4)), emoji);
        // An offset inside a multi-byte character counts from its start.
        assert_eq!(index.position(text, emoji + 1), Position::new(0, 3));
        round_trip(text);
    }

    #[test]
    fn crlf_and_lone_cr_end_lines() {
        let text = "a\r\nb\rc";
        let index = LineIndex::new(text);
        assert_eq!(index.position(text, 3), Position::new(1, 0));
        assert_eq!(index.position(text, 5), Position::new(2, 0));
        // A column past the end of a CRLF line stops before the `\r`.
        assert_eq!(index.offset(text, Position::new(0, 99)), 1);
        round_trip(text);
    }

    #[test]
    fn out_of_range_positions_clamp() {
        let text = "ab\ncd";
        let index = LineIndex::new(text);
        assert_eq!(index.offset(text, Position::new(9, 0)), text.len());
        assert_eq!(index.offset(text, Position::new(0, 9)), 2);
        assert_eq!(index.position(text, 999), Position::new(1, 2));
        let r = index.byte_range(text, Range::new(Position::new(1, 1), Position::new(0, 1)));
        assert_eq!(r, 1..4);
        assert_eq!(index.whole(text).end, Position::new(1, 2));
        round_trip("");
    }
}
