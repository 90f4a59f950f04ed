//! The canonical formatter behind `sslp fmt`: one style, no options,
//! comments preserved.
//!
//! # Approach
//!
//! The syntax tree is turned into a small Wadler-style document (the
//! private `doc` module): text, optional line breaks, indentation and groups. A group
//! (a call, a list, a `++` chain) is printed on one line when it fits in
//! [`WIDTH`] columns, counting what precedes and follows it on the line,
//! and broken one element per line otherwise. Blocks always break.
//!
//! Comments are not in the tree. [`trivia::comments`] finds them in the
//! source, and the builder places each one by position while it walks the
//! tree in source order:
//!
//! - The *interior* of every bracketed sequence (between `(`/`[`/`{` and its
//!   closing bracket), the file itself, and the gaps between the terms of a
//!   `++` chain are the places that can hold comments. Any sequence whose
//!   interior holds a comment is printed broken.
//! - In a sequence, comments before an element are printed on their own
//!   lines before it; the first comment after an element, if something
//!   precedes it on its line, stays on the element's line (`x = 1  # note`);
//!   comments after the last element go before the closing bracket; a
//!   trailing comment right after an opening bracket stays on its line.
//! - A comment inside an element but at a spot that cannot hold one
//!   (between `policy` and the name, around `@` or `..`, ...) is moved to
//!   just before that element, on its own line.
//!
//! Every comment is emitted exactly once: each is marked when placed, and
//! anything left over (only possible with a hand-built tree whose spans do
//! not match the source) goes at the end of the file.
//!
//! Blank lines: at most one is kept between the entries of a sequence where
//! the source had one or more, never right after an opening bracket. Between
//! top-level items there is also always one when the items are of different
//! kinds (`use`, `set`, or a different declaration keyword) or when either
//! is a block declaration. Every layout decision depends only on the tree,
//! the comments and these blank lines, so formatting is idempotent.
//!
//! Note that the parser's spans may include trailing whitespace and
//! comments (pest consumes trivia before an optional repetition); the
//! builder trims them (see `Builder::end`).

mod doc;

use self::doc::{Doc, render};
use super::ast::*;
use super::diagnostic::Diagnostic;
use super::parser;
use super::span::{FileId, Span};
use super::trivia::{self, Comment};

/// The line width the formatter fills up to.
pub const WIDTH: usize = 100;

/// Formats a source file in the canonical style.
///
/// Returns the syntax diagnostics instead when the source does not parse
/// cleanly (nothing is formatted then).
pub fn format_source(src: &str) -> Result<String, Vec<Diagnostic>> {
    let (module, diags) = parser::parse(FileId(0), src);
    if diags.is_empty() {
        Ok(format_module(src, &module))
    } else {
        Err(diags)
    }
}

/// Formats `module`, which was parsed from `src`, taking comments from `src`.
///
/// Never panics, even when the module's spans do not match `src`; comments
/// that cannot be placed then go at the end.
pub fn format_module(src: &str, module: &Module) -> String {
    let mut builder = Builder::new(src);
    let doc = builder.module(module);
    render(&doc, WIDTH)
}

/// A half-open byte range of the source.
type Region = (usize, usize);

/// Walks the tree, builds the document and places the comments.
struct Builder<'s> {
    src: &'s [u8],
    comments: Vec<Comment>,
    taken: Vec<bool>,
    /// How many comments have been taken so far.
    placed: usize,
}

/// Something printed as one entry of a sequence: an item, a block entry, a
/// call argument or a list element.
trait Node {
    /// Where it was written (possibly with trailing trivia).
    fn span(&self) -> Span;
    /// The regions inside it where its own printer places comments.
    fn holes(&self, b: &Builder) -> Vec<Region>;
    /// Its document.
    fn doc(&self, b: &mut Builder) -> Doc;
    /// Whether a blank line must separate it from the entry before.
    fn forces_blank_after(&self, _prev: &Self) -> bool {
        false
    }
}

impl<'s> Builder<'s> {
    fn new(src: &'s str) -> Self {
        let comments = trivia::comments(FileId(0), src);
        let taken = vec![false; comments.len()];
        Builder {
            src: src.as_bytes(),
            comments,
            taken,
            placed: 0,
        }
    }

    // ------------------------------------------------------------ positions

    /// The end of `span` without trailing whitespace and comments.
    fn end(&self, span: Span) -> usize {
        let start = span.start as usize;
        let mut end = (span.end as usize).min(self.src.len());
        loop {
            while end > start && self.src[end - 1].is_ascii_whitespace() {
                end -= 1;
            }
            match self.comment_covering(end) {
                Some(c) if c >= start && c < end => end = c,
                _ => return end.max(start),
            }
        }
    }

    /// The start of the comment containing the byte just before `end`.
    fn comment_covering(&self, end: usize) -> Option<usize> {
        let i = self
            .comments
            .partition_point(|c| (c.span.start as usize) < end);
        let c = self.comments.get(i.checked_sub(1)?)?;
        (end <= c.span.end as usize).then_some(c.span.start as usize)
    }

    /// The tight region of a span.
    fn region(&self, span: Span) -> Region {
        (span.start as usize, self.end(span))
    }

    /// The position of `ch` after `pos`, skipping whitespace and comments.
    fn open_after(&self, mut pos: usize, ch: u8) -> Option<usize> {
        while let Some(&b) = self.src.get(pos) {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => pos += 1,
                b'#' => {
                    while self.src.get(pos).is_some_and(|&b| b != b'\n') {
                        pos += 1;
                    }
                }
                _ => break,
            }
        }
        (self.src.get(pos) == Some(&ch)).then_some(pos)
    }

    /// The interior of a bracketed span: `[`..`]`, `{`..`}`.
    fn interior(&self, span: Span, open: u8, close: u8) -> Option<Region> {
        let (start, end) = self.region(span);
        self.interior_from(start, end, open, close)
    }

    /// The interior between the `open` at `start` and the `close` just before `end`.
    fn interior_from(&self, start: usize, end: usize, open: u8, close: u8) -> Option<Region> {
        let ok = end >= start + 2
            && self.src.get(start) == Some(&open)
            && self.src.get(end - 1) == Some(&close);
        ok.then(|| (start + 1, end - 1))
    }

    /// The interior of the parentheses that follow position `after` in `span`.
    fn parens_after(&self, after: usize, span: Span) -> Option<Region> {
        let open = self.open_after(after, b'(')?;
        self.interior_from(open, self.end(span), b'(', b')')
    }

    /// True when a line between `a` and `b` is empty or whitespace only.
    fn blank_between(&self, a: usize, b: usize) -> bool {
        let Some(bytes) = self.src.get(a..b) else {
            return false;
        };
        let mut lines: Vec<&[u8]> = bytes.split(|&c| c == b'\n').collect();
        lines.pop(); // the line `b` is on
        lines
            .iter()
            .skip(1) // the line `a` is on
            .any(|l| l.iter().all(u8::is_ascii_whitespace))
    }

    // ------------------------------------------------------------- comments

    /// Indices of the comments starting in `r`.
    fn comments_in(&self, (lo, hi): Region) -> std::ops::Range<usize> {
        let first = self
            .comments
            .partition_point(|c| (c.span.start as usize) < lo);
        let last = self
            .comments
            .partition_point(|c| (c.span.start as usize) < hi);
        first..last.max(first)
    }

    /// True when any comment starts in `r`.
    fn any_comment_in(&self, r: Region) -> bool {
        !self.comments_in(r).is_empty()
    }

    /// Takes the comments in `r` not placed yet.
    fn take_in(&mut self, r: Region) -> Vec<usize> {
        let found: Vec<usize> = self.comments_in(r).filter(|&i| !self.taken[i]).collect();
        found.iter().for_each(|&i| self.mark(i));
        found
    }

    /// Marks a comment as placed.
    fn mark(&mut self, i: usize) {
        self.taken[i] = true;
        self.placed += 1;
    }

    /// Takes the first unplaced comment in `r` if it trails code on its line.
    fn take_trailing(&mut self, r: Region) -> Option<usize> {
        let i = self.comments_in(r).find(|&i| !self.taken[i])?;
        if self.comments[i].own_line {
            return None;
        }
        self.mark(i);
        Some(i)
    }

    /// Takes the unplaced comments in `r` outside every hole.
    fn take_outside(&mut self, r: Region, holes: &[Region]) -> Vec<usize> {
        let found: Vec<usize> = self
            .comments_in(r)
            .filter(|&i| !self.taken[i])
            .filter(|&i| {
                let at = self.comments[i].span.start as usize;
                !holes.iter().any(|&(lo, hi)| lo <= at && at < hi)
            })
            .collect();
        found.iter().for_each(|&i| self.mark(i));
        found
    }

    fn comment_text(&self, i: usize) -> Doc {
        Doc::text(self.comments[i].text.clone())
    }

    fn comment_suffix(&self, i: usize) -> Doc {
        Doc::Suffix(format!("  {}", self.comments[i].text))
    }

    fn comment_start(&self, i: usize) -> usize {
        self.comments[i].span.start as usize
    }

    fn comment_end(&self, i: usize) -> usize {
        self.comments[i].span.end as usize
    }

    // ------------------------------------------------------------ sequences

    /// The entries of a sequence whose interior is `inner`, each preceded by
    /// a line break, with their comments; separated by commas when `commas`.
    fn entries<T: Node>(&mut self, elems: &[T], inner: Region, commas: bool) -> Vec<Doc> {
        let mut out = Entries::new(inner.0);
        for (i, elem) in elems.iter().enumerate() {
            let (start, end) = self.region(elem.span());
            let force_blank = i > 0 && elem.forces_blank_after(&elems[i - 1]);
            let blank = self.own_line_comments(&mut out, (inner.0, start), force_blank);
            let blank = self.hoisted_comments(&mut out, elem, (start, end), blank);
            let mut doc = vec![elem.doc(self)];
            if commas {
                let last = i + 1 == elems.len();
                doc.push(if last {
                    Doc::IfBreak(",")
                } else {
                    Doc::text(",")
                });
            }
            out.push(blank, Doc::Seq(doc), end);
            let next = elems
                .get(i + 1)
                .map_or(inner.1, |n| n.span().start as usize);
            if let Some(c) = self.take_trailing((end, next)) {
                out.docs.push(self.comment_suffix(c));
                out.prev_end = self.comment_end(c);
            }
        }
        self.own_line_comments(&mut out, inner, false);
        out.docs
    }

    /// Emits the unplaced comments in `r` as entries of their own. Returns
    /// whether a blank line goes before the entry at the end of `r`.
    fn own_line_comments(&mut self, out: &mut Entries, r: Region, force_blank: bool) -> bool {
        let mut force_blank = force_blank;
        for c in self.take_in(r) {
            let blank = force_blank || self.blank_between(out.prev_end, self.comment_start(c));
            out.push(blank, self.comment_text(c), self.comment_end(c));
            force_blank = false;
        }
        force_blank || self.blank_between(out.prev_end, r.1)
    }

    /// Emits the comments inside `elem` (spanning `r`) that its printer
    /// cannot place, as entries before it. Returns whether a blank line goes
    /// before the element itself.
    fn hoisted_comments<T: Node>(
        &mut self,
        out: &mut Entries,
        elem: &T,
        r: Region,
        blank: bool,
    ) -> bool {
        let holes = elem.holes(self);
        let mut blank = blank;
        for c in self.take_outside(r, &holes) {
            out.push(blank, self.comment_text(c), r.0);
            blank = false;
        }
        blank
    }

    /// `open entries close`, flat when it fits and holds no comment.
    ///
    /// Broken when `force`d, or when a comment was written inside (or, with
    /// spans that do not match the source, was placed inside anyway).
    fn bracketed<T: Node>(
        &mut self,
        delims: [&str; 2],
        inner: Option<Region>,
        elems: &[T],
        force: bool,
    ) -> Doc {
        let [open, close] = delims;
        let commas = open != "{";
        let inner = inner.unwrap_or_default();
        let has_comments = self.any_comment_in(inner);
        if elems.is_empty() && !has_comments {
            return Doc::text(format!("{open}{close}"));
        }
        let placed_before = self.placed;
        let first = elems.first().map_or(inner.1, |e| e.span().start as usize);
        let mut docs = vec![Doc::text(open)];
        if let Some(c) = self.take_trailing((inner.0, first)) {
            docs.push(self.comment_suffix(c));
        }
        let body = self.entries(elems, inner, commas);
        docs.extend([Doc::nest(body), Doc::softline(false), Doc::text(close)]);
        let broken = force || has_comments || self.placed != placed_before;
        Doc::group(docs, broken)
    }

    // ---------------------------------------------------------------- items

    fn module(&mut self, module: &Module) -> Doc {
        let mut docs = self.entries(&module.items, (0, self.src.len()), false);
        // Only with spans that do not match the source: never drop a comment.
        for c in self.take_in((0, usize::MAX)) {
            docs.push(Doc::softline(false));
            docs.push(self.comment_text(c));
        }
        Doc::Seq(docs)
    }

    fn item_doc(&mut self, item: &Item) -> Doc {
        match item {
            Item::Use(u) => use_doc(u),
            Item::Set(s) => Doc::Seq(vec![
                Doc::text(format!("set {} = ", s.name.name)),
                self.expr_doc(&s.value),
            ]),
            Item::Decl(d) => self.decl_doc(d),
        }
    }

    fn decl_doc(&mut self, d: &Decl) -> Doc {
        let head = format!("{} {}", d.kind.keyword(), d.name.name);
        match &d.body {
            DeclBody::Expr(e) if d.kind == DeclKind::Policy => {
                Doc::Seq(vec![Doc::text(head + " = "), self.policy_doc(e)])
            }
            DeclBody::Expr(e) => Doc::Seq(vec![Doc::text(head + " = "), self.expr_doc(e)]),
            DeclBody::Block(b) => {
                let inner = self.interior(b.span, b'{', b'}');
                let block = self.bracketed(["{", "}"], inner, &b.items, true);
                Doc::Seq(vec![Doc::text(head + " "), block])
            }
        }
    }

    /// The right-hand side of a policy: its lists (whole, or `++` operands)
    /// always break when they have two or more elements.
    fn policy_doc(&mut self, e: &Expr) -> Doc {
        match &e.kind {
            ExprKind::List(xs) => self.list_doc(e.span, xs, xs.len() >= 2),
            ExprKind::Concat(terms) => self.concat_doc(terms, true),
            _ => self.expr_doc(e),
        }
    }

    fn block_item_doc(&mut self, item: &BlockItem) -> Doc {
        match item {
            BlockItem::Field(f) => Doc::Seq(vec![
                Doc::text(format!("{} = ", f.name.name)),
                self.expr_doc(&f.value),
            ]),
            BlockItem::Directive(d) => {
                let keyword = directive_keyword(d.kind);
                let inner = self.parens_after(d.span.start as usize + keyword.len(), d.span);
                let args = self.bracketed(["(", ")"], inner, &d.args, false);
                Doc::Seq(vec![Doc::text(keyword), args])
            }
        }
    }

    fn arg_doc(&mut self, arg: &Arg) -> Doc {
        let value = self.expr_doc(&arg.value);
        match &arg.name {
            Some(name) => Doc::Seq(vec![Doc::text(format!("{}: ", name.name)), value]),
            None => value,
        }
    }

    // ---------------------------------------------------------- expressions

    fn expr_doc(&mut self, e: &Expr) -> Doc {
        match &e.kind {
            ExprKind::Int(v) => Doc::text(v.to_string()),
            ExprKind::Float(v) => Doc::text(float_text(*v)),
            ExprKind::Str(s) => Doc::text(quote(s)),
            ExprKind::Bool(v) => Doc::text(v.to_string()),
            ExprKind::Range(lo, hi) => {
                Doc::Seq(vec![self.expr_doc(lo), Doc::text(".."), self.expr_doc(hi)])
            }
            ExprKind::List(xs) => self.list_doc(e.span, xs, false),
            ExprKind::Call { callee, args } => {
                let inner = self.parens_after(callee.span.end as usize, e.span);
                let args = self.bracketed(["(", ")"], inner, args, false);
                Doc::Seq(vec![Doc::text(callee.name.clone()), args])
            }
            ExprKind::Path(ids) => Doc::text(join_names(ids, ".")),
            ExprKind::Sweep(Sweep::List(xs)) => {
                let inner = self.sweep_interior(e.span);
                let list = self.bracketed(["[", "]"], inner, xs, false);
                Doc::Seq(vec![Doc::text("sweep "), list])
            }
            ExprKind::Sweep(Sweep::Range { lo, hi, step }) => {
                let mut docs = vec![
                    Doc::text("sweep "),
                    self.expr_doc(lo),
                    Doc::text(".."),
                    self.expr_doc(hi),
                ];
                if let Some(step) = step {
                    docs.extend([Doc::text(" step "), self.expr_doc(step)]);
                }
                Doc::Seq(docs)
            }
            ExprKind::Prob { op, p } => {
                Doc::Seq(vec![self.expr_doc(op), Doc::text(" @ "), self.expr_doc(p)])
            }
            ExprKind::Concat(terms) => self.concat_doc(terms, false),
        }
    }

    fn list_doc(&mut self, span: Span, xs: &[Expr], force: bool) -> Doc {
        let inner = self.interior(span, b'[', b']');
        self.bracketed(["[", "]"], inner, xs, force)
    }

    /// The interior of the list in `sweep [...]`.
    fn sweep_interior(&self, span: Span) -> Option<Region> {
        let open = self.open_after(span.start as usize + "sweep".len(), b'[')?;
        self.interior_from(open, self.end(span), b'[', b']')
    }

    /// The gaps between the terms of a `++` chain, where comments may go.
    fn concat_gaps(&self, terms: &[Expr]) -> Vec<Region> {
        terms
            .windows(2)
            .map(|w| (self.end(w[0].span), w[1].span.start as usize))
            .collect()
    }

    /// `a ++ b ++ c`; when broken, each `++` starts a line one level deeper.
    fn concat_doc(&mut self, terms: &[Expr], policy: bool) -> Doc {
        let gaps = self.concat_gaps(terms);
        let mut broken = false;
        let mut head = Vec::new();
        let mut rest = Vec::new();
        for (i, term) in terms.iter().enumerate() {
            let doc = match &term.kind {
                ExprKind::List(xs) if policy => self.list_doc(term.span, xs, xs.len() >= 2),
                _ => self.expr_doc(term),
            };
            let Some(&gap) = i.checked_sub(1).and_then(|g| gaps.get(g)) else {
                head.push(doc);
                continue;
            };
            if let Some(c) = self.take_trailing(gap) {
                rest.push(self.comment_suffix(c));
                broken = true;
            }
            for c in self.take_in(gap) {
                rest.extend([Doc::line(false), self.comment_text(c)]);
                broken = true;
            }
            rest.extend([Doc::line(false), Doc::text("++ "), doc]);
        }
        head.push(Doc::NestIfBreak(Box::new(Doc::Seq(rest))));
        Doc::group(head, broken)
    }

    /// The regions inside `e` where its printer places comments.
    fn expr_holes(&self, e: &Expr) -> Vec<Region> {
        match &e.kind {
            ExprKind::List(_) => self.interior(e.span, b'[', b']').into_iter().collect(),
            ExprKind::Call { callee, .. } => self
                .parens_after(callee.span.end as usize, e.span)
                .into_iter()
                .collect(),
            ExprKind::Sweep(Sweep::List(_)) => self.sweep_interior(e.span).into_iter().collect(),
            ExprKind::Prob { op, p } => {
                let mut holes = self.expr_holes(op);
                holes.extend(self.expr_holes(p));
                holes
            }
            ExprKind::Concat(terms) => {
                let mut holes = self.concat_gaps(terms);
                for t in terms {
                    holes.extend(self.expr_holes(t));
                }
                holes
            }
            _ => Vec::new(),
        }
    }
}

/// The entries of one sequence, as they are emitted.
struct Entries {
    docs: Vec<Doc>,
    /// Whether an entry was emitted yet (no blank line before the first).
    started: bool,
    /// Where the last emitted entry ended in the source, for blank lines.
    prev_end: usize,
}

impl Entries {
    fn new(start: usize) -> Self {
        Entries {
            docs: Vec::new(),
            started: false,
            prev_end: start,
        }
    }

    /// Adds an entry on a line of its own, after an empty line if `blank`.
    fn push(&mut self, blank: bool, doc: Doc, source_end: usize) {
        self.docs.push(entry_line(self.started, blank));
        self.docs.push(doc);
        self.started = true;
        self.prev_end = source_end;
    }
}

/// The line break before an entry of a sequence (nothing when flat).
fn entry_line(started: bool, blank: bool) -> Doc {
    if started {
        Doc::line(blank)
    } else {
        Doc::softline(false)
    }
}

// --------------------------------------------------------------------- nodes

/// What kind of top-level item, for the blank-line rule.
#[derive(PartialEq)]
enum ItemClass {
    Use,
    Set,
    Decl(DeclKind),
}

fn item_class(item: &Item) -> ItemClass {
    match item {
        Item::Use(_) => ItemClass::Use,
        Item::Set(_) => ItemClass::Set,
        Item::Decl(d) => ItemClass::Decl(d.kind),
    }
}

fn is_block_decl(item: &Item) -> bool {
    matches!(
        item,
        Item::Decl(Decl {
            body: DeclBody::Block(_),
            ..
        })
    )
}

impl Node for Item {
    fn span(&self) -> Span {
        Item::span(self)
    }

    fn holes(&self, b: &Builder) -> Vec<Region> {
        match self {
            Item::Use(_) => Vec::new(),
            Item::Set(s) => b.expr_holes(&s.value),
            Item::Decl(d) => match &d.body {
                DeclBody::Expr(e) => b.expr_holes(e),
                DeclBody::Block(block) => b.interior(block.span, b'{', b'}').into_iter().collect(),
            },
        }
    }

    fn doc(&self, b: &mut Builder) -> Doc {
        b.item_doc(self)
    }

    fn forces_blank_after(&self, prev: &Self) -> bool {
        item_class(prev) != item_class(self) || is_block_decl(prev) || is_block_decl(self)
    }
}

impl Node for BlockItem {
    fn span(&self) -> Span {
        BlockItem::span(self)
    }

    fn holes(&self, b: &Builder) -> Vec<Region> {
        match self {
            BlockItem::Field(f) => b.expr_holes(&f.value),
            BlockItem::Directive(d) => {
                let after = d.span.start as usize + directive_keyword(d.kind).len();
                b.parens_after(after, d.span).into_iter().collect()
            }
        }
    }

    fn doc(&self, b: &mut Builder) -> Doc {
        b.block_item_doc(self)
    }
}

impl Node for Arg {
    fn span(&self) -> Span {
        self.span
    }

    fn holes(&self, b: &Builder) -> Vec<Region> {
        b.expr_holes(&self.value)
    }

    fn doc(&self, b: &mut Builder) -> Doc {
        b.arg_doc(self)
    }
}

impl Node for Expr {
    fn span(&self) -> Span {
        self.span
    }

    fn holes(&self, b: &Builder) -> Vec<Region> {
        b.expr_holes(self)
    }

    fn doc(&self, b: &mut Builder) -> Doc {
        b.expr_doc(self)
    }
}

// --------------------------------------------------------------------- atoms

fn directive_keyword(kind: DirectiveKind) -> &'static str {
    match kind {
        DirectiveKind::Zip => "zip",
        DirectiveKind::Exclude => "exclude",
    }
}

fn join_names(ids: &[Ident], sep: &str) -> String {
    ids.iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(sep)
}

/// `use std::policies::{a, b as c}` or `use "lib/x.sslp"::name`.
fn use_doc(u: &UseDecl) -> Doc {
    let module = match &u.module {
        ModuleRef::Path(ids) => join_names(ids, "::"),
        ModuleRef::File { path, .. } => quote(path),
    };
    let imports: Vec<String> = u
        .imports
        .iter()
        .map(|i| match &i.alias {
            Some(alias) => format!("{} as {}", i.name.name, alias.name),
            None => i.name.name.clone(),
        })
        .collect();
    let imports = match imports.as_slice() {
        [one] if !u.braced => one.clone(),
        _ => format!("{{{}}}", imports.join(", ")),
    };
    Doc::text(format!("use {module}::{imports}"))
}

/// A float in the shortest form that reads back as the same `f64` and is
/// always recognisable as a float: plain decimal with a fractional part
/// when `1e-4 <= |x| < 1e16` (or zero), scientific otherwise. (Infinities
/// and NaN, which the parser never produces, print as Rust prints them.)
pub fn float_text(x: f64) -> String {
    let magnitude = x.abs();
    if magnitude == 0.0 || (1e-4..1e16).contains(&magnitude) || !x.is_finite() {
        let plain = format!("{x}");
        if plain.contains(['.', 'i', 'N']) {
            plain
        } else {
            plain + ".0"
        }
    } else {
        format!("{x:e}")
    }
}

/// A string literal in double quotes.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Formats `src`, checking idempotence, meaning and comments on the way.
    fn fmt(src: &str) -> String {
        let out = match format_source(src) {
            Ok(out) => out,
            Err(d) => panic!("does not parse: {d:#?}"),
        };
        assert_eq!(
            format_source(&out).as_deref(),
            Ok(out.as_str()),
            "not idempotent"
        );
        let (mut before, _) = parser::parse(FileId(0), src);
        let (mut after, diags) = parser::parse(FileId(0), &out);
        assert!(diags.is_empty(), "output does not parse: {diags:#?}\n{out}");
        before.clear_spans();
        after.clear_spans();
        assert_eq!(before, after, "meaning changed:\n{out}");
        let texts = |s: &str| {
            let mut t: Vec<String> = trivia::comments(FileId(0), s)
                .into_iter()
                .map(|c| c.text)
                .collect();
            t.sort();
            t
        };
        assert_eq!(texts(src), texts(&out), "comments changed:\n{out}");
        out
    }

    #[test]
    fn every_syntax_form() {
        let src = r#"
use std::policies::{ssl_default,byol_v1 as v1,}
use std::methods::simclr
use   "lib/common.sslp" :: shared
set seed=42
set device = 'cuda:0'
dataset pv=image_folder("data/pv",masks:"masks",size=256, train = true)
split s = random_split(pv, train: 0.80, val: 0.1, test: 0.10, seed: 7, stratify: true, name: "a \"q\" \\ b\tc")
policy p=[saliency_cut()@0.5,color_jitter(0.4,0.4,0.4,0.1)@0.8]++ssl_default
policy one = [blur(3)]
policy q = base ++ [a, b] ++ [c] ++ other @ 0.5
backbone bb = resnet(depth: 50)
let nums = [5e-4, 1E3, 0.50, 1e-6, 100.0, -3, 2.5e20, 1e16, 0.0001, 0.00001, -0.0, 007]
let r = 0.08 ..= 1.0
let neg = -1..-0.5
let s = 'it\'s "quoted"'
let path = pv.train.images
let flags = [true, false]
let empty = []
let empty_call = nothing( )
pretrain ssl {
data=pv.train, batch = sweep [16,128]
  scale = sweep 0.1..1.0 step 0.1
  epochs = sweep 1 ..= 10
  zip(batch,scale)
  exclude(method=byol, policy: sgd_only)
}
evaluate e {}
method m = simclr(temperature: 0.1, projector: mlp(hidden: 2048, out: 128, layers: 3, norm: "batch"), optimizer: lars(lr: 0.3))
"#;
        insta::assert_snapshot!(fmt(src));
    }

    #[test]
    fn comments_in_every_position() {
        let src = r#"# File header comment

# Second header paragraph
use std::policies::{a, # inside braces: moved before the item
  b as c}  # trailing use
use "x"::y
set seed = 1 # seed note
# before set
set device = "cpu"
policy # between keyword and name
  p = # after equals
  [
  # leading first element
  blur(3) @ 0.5, # trailing after comma
  crop(size: 224)   # trailing, no comma

  # after a blank line
  , flip()
  # dangling before close
  ]
policy q = base # trailing base
  # own line before ++
  ++ [x] ++ # after plus
  other
pretrain ssl { # open brace trailing
  data = pv.train   # trailing field

  # leading field after blank
  batch = sweep [16, # inner sweep
     128]
  lr = sweep 0.1 .. # in range: moved before the field
   1.0 step 0.1
  zip(batch, # in zip
    lr)
  exclude(batch: 16, lr: 0.1) # after exclude
  # dangling in block
}
let f = foo(  # open paren trailing
  a, b)
let g = foo # between callee and paren
  (a, b)
let e = []  # empty list
let h = [ # only a comment
]
let i = outer(inner(x  # deep
))
report r {
  # only comment in block
}
# end of file comment
   # another, indented
"#;
        insta::assert_snapshot!(fmt(src));
    }

    #[test]
    fn long_lines_break() {
        let src = r#"
policy chain = first_policy_name ++ second_policy_name ++ third_policy_name ++ fourth_policy_name_xy ++ fifth
let chain2 = first_policy_name ++ second_policy_name ++ third_policy_name ++ fourth_policy_name_x ++ fifth
let nested = outer(inner_one(alpha: 1, beta: 2, gamma: 3), inner_two(delta: "a fairly long string value", epsilon: [1, 2, 3]))
let short = f(g(1), [2, 3], sweep [4])
pretrain p {
  lrs = sweep [0.1, 0.2, 0.30000000000000004, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5]
  zip(first_axis_name, second_axis_name, third_axis_name, fourth_axis_name, fifth_axis_name_xxxxxxx)
  zip(first_axis_name, second_axis_name, third_axis_name, fourth_axis_name, fifth_axis_name_xxxxxxxx)
  exclude(first_axis_name: some_value, second_axis_name: other_value, third_axis_name: 1234567890)
}
policy mixed = [a, b] ++ base ++ [c @ 0.5, d]
policy tail = base ++ [c @ 0.5, d(very_long_argument_name: 1, another_long_argument: 2, third_one: 3)]
policy full = [blur() @ 0.5, flip()] ++ ssl_default_policy_with_long_name ++ another_policy_with_a_long_name_x
let fits = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa(bbbbbbbbbbbbbbbb)
let over = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa(bbbbbbbbbbbbbbbb)
let prob = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa(bbbbbbbbbbbbbbbb) @ 0.5
"#;
        let out = fmt(src);
        assert!(out.lines().all(|l| l.chars().count() <= WIDTH), "{out}");
        insta::assert_snapshot!(out);
    }

    #[test]
    fn blank_lines_between_items() {
        let src = "use a::b\nuse a::c\n\n\n\nuse a::d\nset x = 1\nset y = 2\nlet p = 1\nlet q = 2\n\
                   policy r = s\n# about t\n\n\nlet t = 1\npretrain u {}\npretrain v {}\n";
        let want = "use a::b\nuse a::c\n\nuse a::d\n\nset x = 1\nset y = 2\n\nlet p = 1\nlet q = 2\n\n\
                    policy r = s\n\n# about t\n\nlet t = 1\n\npretrain u {}\n\npretrain v {}\n";
        assert_eq!(fmt(src), want);
    }

    #[test]
    fn floats_are_normalised() {
        let cases = [
            (5e-4, "0.0005"),
            (1e3, "1000.0"),
            (0.5, "0.5"),
            (1e-6, "1e-6"),
            (100.0, "100.0"),
            (2.5e20, "2.5e20"),
            (1e16, "1e16"),
            (9999999999999998.0, "9999999999999998.0"),
            (1e-4, "0.0001"),
            (9.99e-5, "9.99e-5"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (-1.5e-7, "-1.5e-7"),
            (0.1 + 0.2, "0.30000000000000004"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e308"),
        ];
        for (x, want) in cases {
            assert_eq!(float_text(x), want, "{x:?}");
        }
    }

    #[test]
    fn floats_read_back_exactly() {
        // A fixed pseudo-random walk over bit patterns, plus edge cases.
        let mut bits: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut values = vec![f64::MIN_POSITIVE, 1e-4, 1e16, 1e-4 - 1e-20, 1e16 - 2.0];
        for _ in 0..5000 {
            bits ^= bits << 13;
            bits ^= bits >> 7;
            bits ^= bits << 17;
            values.push(f64::from_bits(bits));
        }
        for x in values.into_iter().filter(|x| x.is_finite()) {
            let text = float_text(x);
            let src = format!("let x = {text}");
            let (m, d) = parser::parse(FileId(0), &src);
            assert!(d.is_empty(), "{text}: {d:?}");
            let Some(Item::Decl(Decl {
                body: DeclBody::Expr(e),
                ..
            })) = m.items.first()
            else {
                panic!("{text}")
            };
            assert_eq!(e.kind, ExprKind::Float(x), "{text}");
            assert_eq!(
                text.parse::<f64>().map(f64::to_bits),
                Ok(x.to_bits()),
                "{text}"
            );
        }
    }

    #[test]
    fn strings_are_double_quoted_and_escaped() {
        assert_eq!(quote("plain"), r#""plain""#);
        assert_eq!(quote("a\"b\\c\nd\te'f"), r#""a\"b\\c\nd\te'f""#);
        assert_eq!(fmt("let s = 'it\\'s'\n"), "let s = \"it's\"\n");
    }

    #[test]
    fn crlf_input_gives_lf_output() {
        let src = "# head\r\nlet a = [1, # one\r\n  2]\r\n\r\n\r\nlet b = 2  # tail \r\n";
        assert_eq!(
            fmt(src),
            "# head\nlet a = [\n  1,  # one\n  2,\n]\n\nlet b = 2  # tail\n"
        );
    }

    #[test]
    fn empty_and_comment_only_files() {
        assert_eq!(fmt(""), "");
        assert_eq!(fmt("  \n\n\t\n"), "");
        assert_eq!(fmt("\n\n# a   \n\n\n   # b\n"), "# a\n\n# b\n");
    }

    #[test]
    fn syntax_errors_are_returned() {
        let Err(diags) = format_source("let a = [1,\nlet b = = 2\n") else {
            panic!("formatted a broken file")
        };
        assert!(!diags.is_empty());
        assert!(
            diags
                .iter()
                .all(|d| d.code == crate::lang::Code::ParseSyntax)
        );
    }

    #[test]
    fn calls_and_directives() {
        assert_eq!(fmt("let a = f( x , k = 1 ,)"), "let a = f(x, k: 1)\n");
        assert_eq!(
            fmt("pretrain p { zip ( a , b , ) , exclude(a=1) , }"),
            "pretrain p {\n  zip(a, b)\n  exclude(a: 1)\n}\n"
        );
        assert_eq!(fmt("pretrain p {  }"), "pretrain p {}\n");
    }

    #[test]
    fn policy_lists_break_from_two_elements() {
        assert_eq!(fmt("policy p = [a]"), "policy p = [a]\n");
        assert_eq!(fmt("policy p = [a, b]"), "policy p = [\n  a,\n  b,\n]\n");
        assert_eq!(
            fmt("policy p = [a] ++ [b, c @ 0.5]"),
            "policy p = [a] ++ [\n  b,\n  c @ 0.5,\n]\n"
        );
        // Only in policies, and only the top-level lists.
        assert_eq!(fmt("let p = [a, b]"), "let p = [a, b]\n");
        assert_eq!(fmt("policy p = f([a, b])"), "policy p = f([a, b])\n");
    }

    #[test]
    fn uses_keep_their_braces() {
        assert_eq!(fmt("use std::policies::{a}"), "use std::policies::{a}\n");
        assert_eq!(
            fmt("use std :: policies :: a as b"),
            "use std::policies::a as b\n"
        );
        assert_eq!(
            fmt("use 'lib/x.sslp'::{a,b,}"),
            "use \"lib/x.sslp\"::{a, b}\n"
        );
    }

    #[test]
    fn mismatched_spans_never_panic_or_drop_comments() {
        let src = "# a\nlet x = [1, # b\n 2] # c\npolicy p = q ++ r # d\n";
        let (mut module, _) = parser::parse(FileId(0), src);
        module.clear_spans();
        let out = format_module(src, &module);
        for c in ["# a", "# b", "# c", "# d"] {
            assert_eq!(out.matches(c).count(), 1, "{out}");
        }
        // Comments land where they cannot break the code.
        let (mut again, diags) = parser::parse(FileId(0), &out);
        assert!(diags.is_empty(), "{out}");
        again.clear_spans();
        assert_eq!(again, module, "{out}");
        // Spans pointing past the end of a shorter text.
        let out = format_module("# only", &parser::parse(FileId(0), src).0);
        assert!(
            out.contains("# only") && out.contains("policy p = q ++ r"),
            "{out}"
        );
    }
}
