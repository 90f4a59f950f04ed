//! What each word of a parsed module is: a walk over the checker's syntax tree (the one
//! the parser built, no second parser) that records every name with its role — a
//! declaration, a reference, a called kind, a parameter, an enum word — and each literal.
//! Hover, navigation, references, rename and semantic tokens all read this list.

use crate::lang::ast::*;
use crate::lang::registry::{self, Category, Kind, Ty};
use std::ops::Range;

/// What a word in the source is.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// A keyword: `dataset`, `use`, `set`, `sweep`, ...
    Keyword,
    /// The name a declaration binds.
    DeclName(DeclKind),
    /// A bare name (first segment of a path) that may refer to a declaration or an import.
    NameRef,
    /// `base.member`: a later segment of a path.
    Member {
        /// The path's first segment.
        base: String,
    },
    /// The kind named by a call (`simclr` in `simclr(...)`).
    Callee,
    /// A keyword argument's name; `kind` is the called kind's name.
    ArgName {
        /// The called kind.
        kind: &'static str,
    },
    /// A field of a `split { }` / `pretrain { }` block.
    FieldName {
        /// The block's schema.
        schema: &'static str,
    },
    /// The name of a `set` setting.
    Setting,
    /// A bare word where an enum value stands (`cosine` in `solver: cosine`).
    EnumWord,
    /// An imported name as the other module declares it.
    ImportName {
        /// Index of the `use` item in the module.
        item: usize,
        /// Whether `as` renames it locally (then this word binds nothing here).
        aliased: bool,
    },
    /// The local name of `use m::x as y` (`y`).
    ImportAlias {
        /// Index of the `use` item in the module.
        item: usize,
    },
    /// A stdlib module path (`std::policies`) of a `use`.
    ModulePath {
        /// Index of the `use` item in the module.
        item: usize,
    },
    /// A relative file path (`"lib.sslp"`) of a `use`.
    ModuleFile {
        /// Index of the `use` item in the module.
        item: usize,
    },
    /// A sweep axis named in `zip(...)` or `exclude(...)`.
    DirectiveAxis,
    /// A number literal.
    Number,
    /// A string literal.
    Str,
}

/// One word of the source and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    /// Byte range in the module's text.
    pub range: Range<usize>,
    /// The word as written (a string's value for literals).
    pub name: String,
    /// What it is.
    pub role: Role,
}

/// Every word of one module, in source order.
#[derive(Debug, Clone, Default)]
pub struct Syntax {
    /// The occurrences, sorted by start.
    pub occurrences: Vec<Occurrence>,
}

impl Syntax {
    /// Walks `module`.
    pub fn of(module: &Module) -> Syntax {
        let mut w = Walker { out: vec![] };
        for (i, item) in module.items.iter().enumerate() {
            w.item(i, item);
        }
        w.out.sort_by_key(|o| (o.range.start, o.range.end));
        Syntax { occurrences: w.out }
    }

    /// The occurrence under byte `offset` (a cursor just after a word still finds it).
    pub fn at(&self, offset: usize) -> Option<&Occurrence> {
        let inside = self
            .occurrences
            .iter()
            .filter(|o| o.range.start <= offset && offset < o.range.end)
            .min_by_key(|o| o.range.len());
        inside.or_else(|| {
            self.occurrences
                .iter()
                .find(|o| o.range.end == offset && o.range.start < offset)
        })
    }

    /// Every place the top-level name `name` is bound or referred to: declarations, import
    /// aliases and local import names (an unaliased import), and bare references.
    pub fn uses_of(&self, name: &str) -> Vec<&Occurrence> {
        self.occurrences
            .iter()
            .filter(|o| o.name == name)
            .filter(|o| match &o.role {
                Role::DeclName(_) | Role::NameRef | Role::ImportAlias { .. } => true,
                // An unaliased import binds the name it imports.
                Role::ImportName { aliased, .. } => !aliased,
                _ => false,
            })
            .collect()
    }
}

/// The kind of value a declaration's right-hand side is.
pub fn decl_type(kind: DeclKind) -> Ty {
    match kind {
        DeclKind::Dataset => Ty::Kind(Category::Dataset),
        DeclKind::Policy => Ty::Policy,
        DeclKind::Backbone => Ty::Kind(Category::Backbone),
        DeclKind::Method => Ty::Kind(Category::Method),
        DeclKind::Optimizer => Ty::Kind(Category::Optimizer),
        DeclKind::Schedule => Ty::Kind(Category::Schedule),
        DeclKind::Evaluate => Ty::Kind(Category::Eval),
        DeclKind::Report => Ty::Kind(Category::Report),
        DeclKind::Split | DeclKind::Pretrain | DeclKind::Let => Ty::Any,
    }
}

/// The schema of a block declaration (`split { }`, `pretrain { }`).
pub fn block_schema(kind: DeclKind) -> Option<&'static Kind> {
    match kind {
        DeclKind::Split => Some(registry::split()),
        DeclKind::Pretrain => Some(registry::pretrain()),
        _ => None,
    }
}

struct Walker {
    out: Vec<Occurrence>,
}

impl Walker {
    fn push(&mut self, range: Range<usize>, name: &str, role: Role) {
        self.out.push(Occurrence {
            range,
            name: name.to_string(),
            role,
        });
    }

    fn ident(&mut self, id: &Ident, role: Role) {
        self.push(id.span.range(), &id.name, role);
    }

    fn keyword(&mut self, start: u32, word: &str) {
        let s = start as usize;
        self.push(s..s + word.len(), word, Role::Keyword);
    }

    fn item(&mut self, index: usize, item: &Item) {
        match item {
            Item::Use(u) => {
                self.keyword(u.span.start, "use");
                match &u.module {
                    ModuleRef::Path(p) => {
                        for seg in p {
                            self.ident(seg, Role::ModulePath { item: index });
                        }
                    }
                    ModuleRef::File { path, span } => {
                        self.push(span.range(), path, Role::ModuleFile { item: index })
                    }
                }
                for imp in &u.imports {
                    self.ident(
                        &imp.name,
                        Role::ImportName {
                            item: index,
                            aliased: imp.alias.is_some(),
                        },
                    );
                    if let Some(a) = &imp.alias {
                        self.ident(a, Role::ImportAlias { item: index });
                    }
                }
            }
            Item::Set(s) => {
                self.keyword(s.span.start, "set");
                self.ident(&s.name, Role::Setting);
                let ty = registry::settings()
                    .param(&s.name.name)
                    .map_or(Ty::Any, |(_, p)| p.ty);
                self.expr(&s.value, ty);
            }
            Item::Decl(d) => {
                self.keyword(d.span.start, d.kind.keyword());
                self.ident(&d.name, Role::DeclName(d.kind));
                match &d.body {
                    DeclBody::Expr(e) => self.expr(e, decl_type(d.kind)),
                    DeclBody::Block(b) => {
                        let schema = block_schema(d.kind);
                        for bi in &b.items {
                            match bi {
                                BlockItem::Field(f) => {
                                    let param = schema.and_then(|k| k.param(&f.name.name));
                                    match schema {
                                        Some(k) => {
                                            self.ident(&f.name, Role::FieldName { schema: k.name })
                                        }
                                        None => self.ident(&f.name, Role::DirectiveAxis),
                                    }
                                    self.expr(&f.value, param.map_or(Ty::Any, |(_, p)| p.ty));
                                }
                                BlockItem::Directive(dir) => {
                                    let word = match dir.kind {
                                        DirectiveKind::Zip => "zip",
                                        DirectiveKind::Exclude => "exclude",
                                    };
                                    self.keyword(dir.span.start, word);
                                    for a in &dir.args {
                                        match &a.name {
                                            Some(n) => {
                                                self.ident(n, Role::DirectiveAxis);
                                                self.expr(&a.value, Ty::Enum(&[]));
                                            }
                                            None => match &a.value.kind {
                                                ExprKind::Path(p) if p.len() == 1 => {
                                                    self.ident(&p[0], Role::DirectiveAxis)
                                                }
                                                _ => self.expr(&a.value, Ty::Any),
                                            },
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

    fn expr(&mut self, e: &Expr, ty: Ty) {
        match &e.kind {
            ExprKind::Int(_) | ExprKind::Float(_) => self.push(e.span.range(), "", Role::Number),
            ExprKind::Str(s) => self.push(e.span.range(), s, Role::Str),
            ExprKind::Bool(b) => self.push(
                e.span.range(),
                if *b { "true" } else { "false" },
                Role::Keyword,
            ),
            ExprKind::Range(a, b) => {
                self.expr(a, Ty::Float);
                self.expr(b, Ty::Float);
            }
            ExprKind::List(xs) => {
                let inner = match ty {
                    Ty::Policy => Ty::Kind(Category::Op),
                    Ty::List(t) => *t,
                    other => other,
                };
                xs.iter().for_each(|x| self.expr(x, inner));
            }
            ExprKind::Concat(xs) => xs.iter().for_each(|x| self.expr(x, Ty::Policy)),
            ExprKind::Call { callee, args } => {
                self.ident(callee, Role::Callee);
                let kind = registry::kind_named(&callee.name);
                let mut positional = 0;
                for a in args {
                    let param = match (&a.name, kind) {
                        (Some(n), Some(k)) => k.param(&n.name).map(|(_, p)| p),
                        (None, Some(k)) => {
                            positional += 1;
                            k.params.get(positional - 1)
                        }
                        _ => None,
                    };
                    if let Some(n) = &a.name {
                        match kind {
                            Some(k) => self.ident(n, Role::ArgName { kind: k.name }),
                            None => self.ident(n, Role::DirectiveAxis),
                        }
                    }
                    self.expr(&a.value, param.map_or(Ty::Any, |p| p.ty));
                }
            }
            ExprKind::Path(p) => {
                let Some(first) = p.first() else { return };
                let word_type = matches!(ty, Ty::Enum(_) | Ty::Device | Ty::Bool);
                if p.len() == 1 && word_type {
                    self.ident(first, Role::EnumWord);
                    return;
                }
                self.ident(first, Role::NameRef);
                for seg in &p[1..] {
                    self.ident(
                        seg,
                        Role::Member {
                            base: first.name.clone(),
                        },
                    );
                }
            }
            ExprKind::Sweep(s) => {
                self.keyword(e.span.start, "sweep");
                match s {
                    Sweep::List(xs) => xs.iter().for_each(|x| self.expr(x, ty)),
                    Sweep::Range { lo, hi, step } => {
                        self.expr(lo, ty);
                        self.expr(hi, ty);
                        if let Some(s) = step {
                            self.expr(s, ty);
                        }
                    }
                }
            }
            ExprKind::Prob { op, p } => {
                self.expr(op, Ty::Kind(Category::Op));
                self.expr(p, Ty::Float);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::{parser, span::FileId};

    fn syntax(src: &str) -> Syntax {
        let (module, diags) = parser::parse(FileId(0), src);
        assert!(diags.is_empty(), "{diags:?}");
        Syntax::of(&module)
    }

    #[test]
    fn roles_of_words() {
        let src = "use std::policies::{ssl_default as d}\nmethod m = simclr(temperature: 0.5)\nevaluate k = knn(distance: cosine, backbone: m)\n";
        let s = syntax(src);
        let role = |word: &str| s.at(src.find(word).unwrap()).map(|o| o.role.clone());
        assert_eq!(role("simclr"), Some(Role::Callee));
        assert_eq!(role("temperature"), Some(Role::ArgName { kind: "simclr" }));
        assert_eq!(role("cosine"), Some(Role::EnumWord));
        assert_eq!(
            role("ssl_default"),
            Some(Role::ImportName {
                item: 0,
                aliased: true
            })
        );
        assert_eq!(role("d}"), Some(Role::ImportAlias { item: 0 }));
        assert_eq!(role("m = "), Some(Role::DeclName(DeclKind::Method)));
        assert_eq!(s.uses_of("m").len(), 2);
        assert_eq!(s.uses_of("d").len(), 1);
        assert!(s.uses_of("ssl_default").is_empty());
    }
}
