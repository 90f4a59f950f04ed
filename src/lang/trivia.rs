//! Finding `#` comments in source text.
//!
//! The grammar treats comments as silent trivia, so they never reach the
//! syntax tree. The formatter needs them back: this module scans the raw
//! text once and returns every comment with its position, skipping `#`
//! characters inside string literals (`"..."` or `'...'`, with backslash
//! escapes, as the grammar reads them). The scan works on any text, valid or
//! not, and never panics.

use super::span::{FileId, Span};

/// One `#` comment, up to (not including) the end of its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// From the `#` to the end of the line (a `\r` before the `\n` included).
    pub span: Span,
    /// The comment text, starting with `#`, trailing whitespace removed.
    pub text: String,
    /// True when only whitespace precedes the comment on its line.
    pub own_line: bool,
}

/// Every comment in `src`, in source order.
pub fn comments(file: FileId, src: &str) -> Vec<Comment> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                let end = line_end(bytes, i);
                out.push(Comment {
                    span: Span::new(file, i, end),
                    // `i` is at `#` and `end` at `\n` or the end: both char boundaries.
                    text: src.get(i..end).unwrap_or("#").trim_end().to_string(),
                    own_line: only_blanks_before(bytes, i),
                });
                i = end;
            }
            quote @ (b'"' | b'\'') => i = string_end(bytes, i, quote),
            _ => i += 1,
        }
    }
    out
}

/// The index of the `\n` ending the line that contains `from`, or the length.
fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |n| from + n)
}

/// True when only spaces and tabs precede `at` on its line.
fn only_blanks_before(bytes: &[u8], at: usize) -> bool {
    bytes[..at]
        .iter()
        .rev()
        .take_while(|&&b| b != b'\n')
        .all(|&b| matches!(b, b' ' | b'\t' | b'\r'))
}

/// The index just past the string literal opening at `start`.
///
/// Follows the grammar: a backslash escapes any next character, and an
/// unescaped newline ends an (unterminated) literal.
fn string_end(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' => return i,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<(String, bool)> {
        comments(FileId(0), src)
            .into_iter()
            .map(|c| (c.text, c.own_line))
            .collect()
    }

    #[test]
    fn finds_own_line_and_trailing_comments() {
        let src = "# head\nlet a = 1  # tail   \n  # indented\r\nlet b = 2";
        assert_eq!(
            texts(src),
            vec![
                ("# head".to_string(), true),
                ("# tail".to_string(), false),
                ("# indented".to_string(), true),
            ]
        );
    }

    #[test]
    fn skips_hashes_in_strings() {
        let src = r#"let a = "x # y" # real
let b = 'it\'s # not' #also
let c = "esc \" # still string" # last"#;
        let found: Vec<String> = texts(src).into_iter().map(|(t, _)| t).collect();
        assert_eq!(found, vec!["# real", "#also", "# last"]);
    }

    #[test]
    fn spans_cover_the_raw_comment() {
        let src = "x # c \r\ny";
        let cs = comments(FileId(0), src);
        assert_eq!(cs.len(), 1);
        assert_eq!(&src[cs[0].span.range()], "# c \r");
        assert_eq!(cs[0].text, "# c");
    }

    #[test]
    fn unterminated_strings_and_odd_input_do_not_panic() {
        for src in ["\"abc", "'a\\", "\\", "#", "\"\\\u{e9}\" #x", "'\n#c"] {
            let _ = comments(FileId(0), src);
        }
        assert_eq!(texts("'\n# c"), vec![("# c".to_string(), true)]);
    }
}
