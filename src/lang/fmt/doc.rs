//! A small Wadler-style document and its printer.
//!
//! A [`Doc`] describes text with optional line breaks. A [`Doc::Group`] is
//! printed flat (every [`Doc::Line`] as its flat text) when its flat form,
//! plus whatever follows it up to the next line break, fits in the width;
//! otherwise its lines become newlines. A group marked `broken` always
//! breaks (a comment inside, or a policy list). Trailing comments are
//! [`Doc::Suffix`]: printed, but not measured, so a long comment never
//! changes the layout of the code before it.

/// A layout-independent description of output text.
#[derive(Debug, Clone)]
pub(crate) enum Doc {
    /// Literal text without newlines.
    Text(String),
    /// Literal text that does not count toward the width (a trailing comment).
    Suffix(String),
    /// `flat` when the enclosing group is flat; otherwise a newline (two when
    /// `blank`) followed by the current indentation.
    Line {
        /// The text printed in flat mode.
        flat: &'static str,
        /// Leave an empty line before the next one when breaking.
        blank: bool,
    },
    /// Text printed only when the enclosing group is broken.
    IfBreak(&'static str),
    /// The inner document, indented one level deeper after line breaks.
    Nest(Box<Doc>),
    /// Like [`Doc::Nest`] when the enclosing group is broken; no extra
    /// indentation when it is flat (so a `++` operand that breaks inside a
    /// flat chain is indented like the chain's first operand).
    NestIfBreak(Box<Doc>),
    /// A unit that is printed flat or broken as a whole.
    Group {
        /// The contents.
        doc: Box<Doc>,
        /// Always break, whatever the width.
        broken: bool,
    },
    /// Documents one after another.
    Seq(Vec<Doc>),
}

/// Spaces per indentation level.
const INDENT: usize = 2;

impl Doc {
    /// Literal text.
    pub(crate) fn text(s: impl Into<String>) -> Doc {
        Doc::Text(s.into())
    }

    /// A line that is a space when flat.
    pub(crate) fn line(blank: bool) -> Doc {
        Doc::Line { flat: " ", blank }
    }

    /// A line that is nothing when flat.
    pub(crate) fn softline(blank: bool) -> Doc {
        Doc::Line { flat: "", blank }
    }

    /// The documents indented one level.
    pub(crate) fn nest(docs: Vec<Doc>) -> Doc {
        Doc::Nest(Box::new(Doc::Seq(docs)))
    }

    /// The documents as a group, forced broken when `broken`.
    pub(crate) fn group(docs: Vec<Doc>, broken: bool) -> Doc {
        Doc::Group {
            doc: Box::new(Doc::Seq(docs)),
            broken,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Flat,
    Break,
}

/// One pending piece of work: a document at an indentation, in a mode.
type Cmd<'d> = (usize, Mode, &'d Doc);

/// Prints `doc` in at most `width` columns where possible.
///
/// Lines carry no trailing whitespace, there is never more than one empty
/// line in a row, and non-empty output ends with exactly one newline.
pub(crate) fn render(doc: &Doc, width: usize) -> String {
    let mut out = Output::default();
    let mut stack: Vec<Cmd> = vec![(0, Mode::Break, doc)];
    while let Some((indent, mode, doc)) = stack.pop() {
        match doc {
            Doc::Text(s) | Doc::Suffix(s) => out.write(s),
            Doc::Line { flat, blank } => match mode {
                Mode::Flat => out.write(flat),
                Mode::Break => out.newline(indent, *blank),
            },
            Doc::IfBreak(s) => {
                if mode == Mode::Break {
                    out.write(s);
                }
            }
            Doc::Nest(inner) => stack.push((indent + INDENT, mode, inner)),
            Doc::NestIfBreak(inner) => {
                let extra = if mode == Mode::Break { INDENT } else { 0 };
                stack.push((indent + extra, mode, inner));
            }
            Doc::Group { doc: inner, broken } => {
                let chosen = if *broken {
                    Mode::Break
                } else if mode == Mode::Flat
                    || fits(width, out.col, (indent, Mode::Flat, inner), &stack)
                {
                    Mode::Flat
                } else {
                    Mode::Break
                };
                stack.push((indent, chosen, inner));
            }
            Doc::Seq(docs) => stack.extend(docs.iter().rev().map(|d| (indent, mode, d))),
        }
    }
    out.finish()
}

/// True when the group `cmd`, printed flat, and the rest of the line after
/// it fit in `width` columns, starting at column `col`.
///
/// The rest is read from the printer's stack up to its first line break.
/// Groups inside `cmd` that are forced broken start new lines: each of those
/// lines must fit too.
fn fits(width: usize, col: usize, cmd: Cmd, rest: &[Cmd]) -> bool {
    let width = width as isize;
    let mut remaining = width - col as isize;
    let mut todo: Vec<(Cmd, bool)> = vec![(cmd, false)];
    let mut rest = rest.iter().rev();
    loop {
        let ((indent, mode, doc), in_rest) = match todo.pop() {
            Some(next) => next,
            None => match rest.next() {
                Some(&next) => (next, true),
                None => return true,
            },
        };
        match doc {
            Doc::Text(s) => remaining -= width_of(s),
            Doc::Suffix(_) => {}
            Doc::Line { flat, .. } => match mode {
                Mode::Flat => remaining -= width_of(flat),
                Mode::Break if in_rest => return true,
                Mode::Break => remaining = width - indent as isize,
            },
            Doc::IfBreak(s) => {
                if mode == Mode::Break {
                    remaining -= width_of(s);
                }
            }
            Doc::Nest(inner) => todo.push(((indent + INDENT, mode, inner), in_rest)),
            Doc::NestIfBreak(inner) => {
                let extra = if mode == Mode::Break { INDENT } else { 0 };
                todo.push(((indent + extra, mode, inner), in_rest));
            }
            Doc::Group { doc: inner, broken } => {
                let mode = if *broken { Mode::Break } else { mode };
                todo.push(((indent, mode, inner), in_rest));
            }
            Doc::Seq(docs) => todo.extend(docs.iter().rev().map(|d| ((indent, mode, d), in_rest))),
        }
        if remaining < 0 {
            return false;
        }
    }
}

fn width_of(s: &str) -> isize {
    s.chars().count() as isize
}

/// The text being printed, with deferred indentation so that empty lines
/// and line ends never carry spaces.
#[derive(Default)]
struct Output {
    text: String,
    col: usize,
    pending_indent: Option<usize>,
}

impl Output {
    fn write(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        if let Some(n) = self.pending_indent.take() {
            self.text.extend(std::iter::repeat_n(' ', n));
        }
        self.text.push_str(s);
        self.col += s.chars().count();
    }

    fn newline(&mut self, indent: usize, blank: bool) {
        self.trim_trailing_blanks();
        let wanted = if blank { 2 } else { 1 };
        let have = self.text.len() - self.text.trim_end_matches('\n').len();
        if !self.text.is_empty() {
            for _ in have..wanted {
                self.text.push('\n');
            }
        }
        self.pending_indent = Some(indent);
        self.col = indent;
    }

    fn trim_trailing_blanks(&mut self) {
        let kept = self.text.trim_end_matches([' ', '\t']).len();
        self.text.truncate(kept);
    }

    fn finish(mut self) -> String {
        let kept = self.text.trim_end().len();
        self.text.truncate(kept);
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(args: &[&str]) -> Doc {
        let mut inner = Vec::new();
        for (i, a) in args.iter().enumerate() {
            inner.push(Doc::Line {
                flat: if i == 0 { "" } else { " " },
                blank: false,
            });
            inner.push(Doc::text(*a));
            inner.push(if i + 1 == args.len() {
                Doc::IfBreak(",")
            } else {
                Doc::text(",")
            });
        }
        Doc::group(
            vec![
                Doc::text("f("),
                Doc::nest(inner),
                Doc::softline(false),
                Doc::text(")"),
            ],
            false,
        )
    }

    #[test]
    fn flat_when_it_fits() {
        assert_eq!(render(&call(&["a", "b"]), 20), "f(a, b)\n");
    }

    #[test]
    fn breaks_when_too_wide() {
        assert_eq!(
            render(&call(&["aaaa", "bbbb"]), 10),
            "f(\n  aaaa,\n  bbbb,\n)\n"
        );
    }

    #[test]
    fn text_after_a_group_counts_toward_the_width() {
        let doc = Doc::Seq(vec![call(&["a", "b"]), Doc::text(" @ 0.5")]);
        assert_eq!(render(&doc, 10), "f(\n  a,\n  b,\n) @ 0.5\n");
        assert_eq!(render(&doc, 13), "f(a, b) @ 0.5\n");
    }

    #[test]
    fn suffixes_are_not_measured() {
        let doc = Doc::Seq(vec![
            call(&["a", "b"]),
            Doc::Suffix("  # a long comment".into()),
        ]);
        assert_eq!(render(&doc, 10), "f(a, b)  # a long comment\n");
    }

    #[test]
    fn no_trailing_spaces_and_one_blank_line_at_most() {
        let doc = Doc::Seq(vec![
            Doc::text("a "),
            Doc::line(true),
            Doc::line(true),
            Doc::text("b"),
        ]);
        assert_eq!(render(&doc, 80), "a\n\nb\n");
    }
}
