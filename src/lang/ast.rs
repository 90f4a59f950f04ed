//! The syntax tree of one `.sslp` module, independent of pest.
//!
//! Every node carries its [`Span`]. Comments are not in the tree: the
//! formatter reads them from the source by position (see `trivia`).
//! [`Module::clear_spans`] zeroes every span so two trees can be compared
//! for meaning alone (`parse(fmt(x)) == parse(x)` modulo spans).

use super::span::Span;

/// One parsed source file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Module {
    /// Top-level items in source order.
    pub items: Vec<Item>,
}

/// A top-level item.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `use std::policies::{a, b}`
    Use(UseDecl),
    /// `set seed = 42`
    Set(SetDecl),
    /// `policy p = [...]`, `pretrain ssl { ... }`
    Decl(Decl),
}

impl Item {
    /// The span of the whole item.
    pub fn span(&self) -> Span {
        match self {
            Item::Use(u) => u.span,
            Item::Set(s) => s.span,
            Item::Decl(d) => d.span,
        }
    }
}

/// A name with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    /// The text of the name.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// An import of names from another module.
#[derive(Debug, Clone, PartialEq)]
pub struct UseDecl {
    /// Which module.
    pub module: ModuleRef,
    /// Whether the names were written in braces (kept for the formatter).
    pub braced: bool,
    /// The imported names.
    pub imports: Vec<Import>,
    /// The whole item.
    pub span: Span,
}

/// Where a `use` points.
#[derive(Debug, Clone, PartialEq)]
pub enum ModuleRef {
    /// A module path such as `std::policies`.
    Path(Vec<Ident>),
    /// A file path relative to the importing file: `"lib/common.sslp"`.
    File {
        /// The path as written (unescaped).
        path: String,
        /// Where it was written.
        span: Span,
    },
}

/// One imported name, optionally renamed.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    /// The name in the other module.
    pub name: Ident,
    /// The local name, if renamed with `as`.
    pub alias: Option<Ident>,
}

impl Import {
    /// The name this import binds locally.
    pub fn local(&self) -> &Ident {
        self.alias.as_ref().unwrap_or(&self.name)
    }
}

/// A pipeline-wide setting.
#[derive(Debug, Clone, PartialEq)]
pub struct SetDecl {
    /// Setting name (`seed`, `device`, ...).
    pub name: Ident,
    /// Its value.
    pub value: Expr,
    /// The whole item.
    pub span: Span,
}

/// The keyword that starts a declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeclKind {
    /// `dataset`
    Dataset,
    /// `split`
    Split,
    /// `policy`
    Policy,
    /// `backbone`
    Backbone,
    /// `method`
    Method,
    /// `optimizer`
    Optimizer,
    /// `schedule`
    Schedule,
    /// `pretrain`
    Pretrain,
    /// `evaluate`
    Evaluate,
    /// `report`
    Report,
    /// `let`
    Let,
}

impl DeclKind {
    /// Every kind, in keyword order.
    pub const ALL: [DeclKind; 11] = [
        DeclKind::Dataset,
        DeclKind::Split,
        DeclKind::Policy,
        DeclKind::Backbone,
        DeclKind::Method,
        DeclKind::Optimizer,
        DeclKind::Schedule,
        DeclKind::Pretrain,
        DeclKind::Evaluate,
        DeclKind::Report,
        DeclKind::Let,
    ];

    /// The keyword as written.
    pub fn keyword(self) -> &'static str {
        match self {
            DeclKind::Dataset => "dataset",
            DeclKind::Split => "split",
            DeclKind::Policy => "policy",
            DeclKind::Backbone => "backbone",
            DeclKind::Method => "method",
            DeclKind::Optimizer => "optimizer",
            DeclKind::Schedule => "schedule",
            DeclKind::Pretrain => "pretrain",
            DeclKind::Evaluate => "evaluate",
            DeclKind::Report => "report",
            DeclKind::Let => "let",
        }
    }

    /// The kind for a keyword.
    pub fn from_keyword(word: &str) -> Option<DeclKind> {
        DeclKind::ALL.into_iter().find(|k| k.keyword() == word)
    }
}

/// A named declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct Decl {
    /// The keyword.
    pub kind: DeclKind,
    /// The declared name.
    pub name: Ident,
    /// `= expr` or `{ ... }`.
    pub body: DeclBody,
    /// The whole item.
    pub span: Span,
}

/// The right-hand side of a declaration.
#[derive(Debug, Clone, PartialEq)]
pub enum DeclBody {
    /// `= expr`
    Expr(Expr),
    /// `{ field = expr ... }`
    Block(Block),
}

/// A braced list of fields and sweep directives.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Fields and directives in source order.
    pub items: Vec<BlockItem>,
    /// From `{` to `}`.
    pub span: Span,
}

/// One entry of a block.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockItem {
    /// `name = expr`
    Field(Field),
    /// `zip(a, b)` or `exclude(a: x, b: y)`
    Directive(Directive),
}

impl BlockItem {
    /// The span of the entry.
    pub fn span(&self) -> Span {
        match self {
            BlockItem::Field(f) => f.span,
            BlockItem::Directive(d) => d.span,
        }
    }
}

/// `name = expr` inside a block.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Field name.
    pub name: Ident,
    /// Its value.
    pub value: Expr,
    /// The whole field.
    pub span: Span,
}

/// Which sweep directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectiveKind {
    /// `zip(a, b)`: advance the named axes together.
    Zip,
    /// `exclude(a: x, b: y)`: drop the arms matching all the given axis values.
    Exclude,
}

/// A sweep directive inside a block.
#[derive(Debug, Clone, PartialEq)]
pub struct Directive {
    /// Zip or exclude.
    pub kind: DirectiveKind,
    /// Its arguments.
    pub args: Vec<Arg>,
    /// The whole directive.
    pub span: Span,
}

/// An expression with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it was written.
    pub span: Span,
}

/// The expression forms.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// `42`, `-3`
    Int(i64),
    /// `0.5`, `5e-4`
    Float(f64),
    /// `"text"`
    Str(String),
    /// `true`, `false`
    Bool(bool),
    /// `0.08..1.0` (a closed interval)
    Range(Box<Expr>, Box<Expr>),
    /// `[a, b]`
    List(Vec<Expr>),
    /// `name(arg, key: value)`
    Call {
        /// The called kind.
        callee: Ident,
        /// Its arguments.
        args: Vec<Arg>,
    },
    /// `name`, `decl.member`
    Path(Vec<Ident>),
    /// `sweep [a, b]`, `sweep 0.1..1.0 step 0.1`
    Sweep(Sweep),
    /// `op @ p`: an augmentation op with its probability.
    Prob {
        /// The op.
        op: Box<Expr>,
        /// The probability.
        p: Box<Expr>,
    },
    /// `a ++ b ++ c`: policy concatenation.
    Concat(Vec<Expr>),
}

/// The values a sweep ranges over.
#[derive(Debug, Clone, PartialEq)]
pub enum Sweep {
    /// `sweep [a, b, c]`
    List(Vec<Expr>),
    /// `sweep lo..hi step s` (inclusive of `hi`; step 1 when omitted).
    Range {
        /// Low end.
        lo: Box<Expr>,
        /// High end.
        hi: Box<Expr>,
        /// Increment.
        step: Option<Box<Expr>>,
    },
}

/// A call argument, positional or named.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// The keyword, when named.
    pub name: Option<Ident>,
    /// The value.
    pub value: Expr,
    /// The whole argument.
    pub span: Span,
}

// ------------------------------------------------------------------ span clearing

impl Module {
    /// Zeroes every span in the tree, so trees compare by meaning only.
    pub fn clear_spans(&mut self) {
        for item in &mut self.items {
            match item {
                Item::Use(u) => {
                    u.span = Span::default();
                    match &mut u.module {
                        ModuleRef::Path(p) => p.iter_mut().for_each(Ident::clear_span),
                        ModuleRef::File { span, .. } => *span = Span::default(),
                    }
                    for i in &mut u.imports {
                        i.name.clear_span();
                        if let Some(a) = &mut i.alias {
                            a.clear_span();
                        }
                    }
                }
                Item::Set(s) => {
                    s.span = Span::default();
                    s.name.clear_span();
                    s.value.clear_spans();
                }
                Item::Decl(d) => {
                    d.span = Span::default();
                    d.name.clear_span();
                    match &mut d.body {
                        DeclBody::Expr(e) => e.clear_spans(),
                        DeclBody::Block(b) => {
                            b.span = Span::default();
                            for bi in &mut b.items {
                                match bi {
                                    BlockItem::Field(f) => {
                                        f.span = Span::default();
                                        f.name.clear_span();
                                        f.value.clear_spans();
                                    }
                                    BlockItem::Directive(dir) => {
                                        dir.span = Span::default();
                                        dir.args.iter_mut().for_each(Arg::clear_spans);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

impl Ident {
    fn clear_span(&mut self) {
        self.span = Span::default();
    }
}

impl Arg {
    fn clear_spans(&mut self) {
        self.span = Span::default();
        if let Some(n) = &mut self.name {
            n.clear_span();
        }
        self.value.clear_spans();
    }
}

impl Expr {
    /// Zeroes every span in this expression.
    pub fn clear_spans(&mut self) {
        self.set_spans(Span::default());
    }

    /// Sets every span in this expression to `span` (for defaults written in the registry).
    pub fn set_spans(&mut self, span: Span) {
        self.span = span;
        match &mut self.kind {
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) | ExprKind::Bool(_) => {}
            ExprKind::Range(a, b) => {
                a.set_spans(span);
                b.set_spans(span);
            }
            ExprKind::List(xs) | ExprKind::Concat(xs) => {
                xs.iter_mut().for_each(|x| x.set_spans(span))
            }
            ExprKind::Call { callee, args } => {
                callee.span = span;
                for a in args.iter_mut() {
                    a.span = span;
                    if let Some(n) = &mut a.name {
                        n.span = span;
                    }
                    a.value.set_spans(span);
                }
            }
            ExprKind::Path(p) => p.iter_mut().for_each(|i| i.span = span),
            ExprKind::Sweep(Sweep::List(xs)) => xs.iter_mut().for_each(|x| x.set_spans(span)),
            ExprKind::Sweep(Sweep::Range { lo, hi, step }) => {
                lo.set_spans(span);
                hi.set_spans(span);
                if let Some(s) = step {
                    s.set_spans(span);
                }
            }
            ExprKind::Prob { op, p } => {
                op.set_spans(span);
                p.set_spans(span);
            }
        }
    }
}
