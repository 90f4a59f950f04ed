//! Name resolution, type and range checks, cycles and sweep directives.
//!
//! The checker reads every module of a [`Loaded`] program and produces the
//! [`Program`] the planner consumes, together with **all** diagnostics it
//! finds (it never stops at the first). A program with errors yields no
//! `Program`.

use super::ast::*;
use super::diagnostic::{Code, Diagnostic};
use super::hir::*;
use super::modules::Loaded;
use super::number::format_float;
use super::parser;
use super::registry::{self, Bound, Category, Default as Dflt, Kind, Ty};
use super::span::{FileId, Span};
use std::collections::{BTreeSet, HashMap};

/// A registry default (`Default::Src`) checked exactly as the checker fills
/// it into a call that leaves the parameter out; `None` for required and
/// optional parameters, and for a default that does not check (a registry
/// bug the registry's own tests catch).
pub fn registry_default(param: &registry::Param) -> Option<HExpr> {
    let Dflt::Src(src) = param.default else {
        return None;
    };
    let loaded = super::modules::load(
        "<registry>",
        "<registry>",
        "",
        &mut super::modules::NoImports,
    );
    let mut c = Checker::new(&loaded);
    let value = c.default_value(src, param.ty, Span::default());
    c.diags.is_empty().then_some(value)
}

/// Checks a loaded program.
pub fn check(loaded: &Loaded) -> (Option<Program>, Vec<Diagnostic>) {
    let mut c = Checker::new(loaded);
    c.collect_decls();
    c.resolve_imports();
    let settings = c.check_settings();
    for id in 0..c.slots.len() {
        c.check_decl(id);
    }
    c.find_cycles();
    c.resolve_directives();
    c.check_trainable();
    let mut diags = std::mem::take(&mut c.diags);
    diags.extend(loaded.diagnostics.iter().cloned());
    super::diagnostic::sort(&mut diags);
    if diags.iter().any(Diagnostic::is_error) {
        return (None, diags);
    }
    let root = loaded.modules.first().map_or(FileId(0), |m| m.file);
    let program = Program {
        decls: c
            .hdecls
            .into_iter()
            .map(|d| d.expect("every declaration is checked"))
            .collect(),
        sweeps: c.sweeps,
        settings,
        root,
    };
    (Some(program), diags)
}

struct Slot<'a> {
    decl: &'a Decl,
    module: usize,
}

/// A shape inferred from the syntax of a `let`, to type-check its uses.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Int,
    Float,
    Bool,
    Str,
    Range,
    List,
    Word,
    Call(Category),
    Policy,
    Unknown,
}

struct Checker<'a> {
    loaded: &'a Loaded,
    slots: Vec<Slot<'a>>,
    /// Per module: name -> (decl, where it was bound).
    scopes: Vec<HashMap<String, (DeclId, Span)>>,
    /// Per module: its own declarations by name.
    own: Vec<HashMap<String, DeclId>>,
    hdecls: Vec<Option<HDecl>>,
    sweeps: Vec<HSweep>,
    diags: Vec<Diagnostic>,
    defaults: HashMap<&'static str, Expr>,
    // Context of the declaration being checked.
    cur: DeclId,
    module: usize,
    path: Vec<String>,
    refs: BTreeSet<DeclId>,
    sweeps_allowed: bool,
}

impl<'a> Checker<'a> {
    fn new(loaded: &'a Loaded) -> Self {
        Checker {
            loaded,
            slots: vec![],
            scopes: vec![HashMap::new(); loaded.modules.len()],
            own: vec![HashMap::new(); loaded.modules.len()],
            hdecls: vec![],
            sweeps: vec![],
            diags: vec![],
            defaults: HashMap::new(),
            cur: 0,
            module: 0,
            path: vec![],
            refs: BTreeSet::new(),
            sweeps_allowed: true,
        }
    }

    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    // ------------------------------------------------------------ names

    fn collect_decls(&mut self) {
        for (m, module) in self.loaded.modules.iter().enumerate() {
            for item in &module.ast.items {
                if let Item::Decl(decl) = item {
                    let id = self.slots.len();
                    self.slots.push(Slot { decl, module: m });
                    self.hdecls.push(None);
                    self.bind(m, &decl.name, id);
                    self.own[m].entry(decl.name.name.clone()).or_insert(id);
                }
            }
        }
    }

    fn bind(&mut self, module: usize, name: &Ident, id: DeclId) {
        if let Some(&(_, first)) = self.scopes[module].get(&name.name) {
            self.err(
                Diagnostic::error(
                    Code::DuplicateName,
                    name.span,
                    format!("`{}` is declared twice", name.name),
                    "declared again here",
                )
                .with_label(first, "first declared here")
                .with_help("rename one of them"),
            );
            return;
        }
        self.scopes[module].insert(name.name.clone(), (id, name.span));
    }

    fn resolve_imports(&mut self) {
        for (m, module) in self.loaded.modules.iter().enumerate() {
            for (i, item) in module.ast.items.iter().enumerate() {
                let Item::Use(u) = item else { continue };
                let Some(&target) = module.imports.get(&i) else {
                    continue;
                };
                for imp in &u.imports {
                    match self.own[target].get(&imp.name.name).copied() {
                        Some(id) => self.bind(m, imp.local(), id),
                        None => {
                            let mut names: Vec<&str> =
                                self.own[target].keys().map(String::as_str).collect();
                            names.sort_unstable();
                            let module_name = self
                                .loaded
                                .sources
                                .get(self.loaded.modules[target].file)
                                .name
                                .clone();
                            let help = registry::suggest(&imp.name.name, names.iter().copied())
                                .map(|s| format!("did you mean `{s}`?"))
                                .unwrap_or_else(|| {
                                    format!("`{module_name}` declares: {}", names.join(", "))
                                });
                            self.err(
                                Diagnostic::error(
                                    Code::ImportUnknownName,
                                    imp.name.span,
                                    format!(
                                        "`{module_name}` has no declaration `{}`",
                                        imp.name.name
                                    ),
                                    "not declared there",
                                )
                                .with_help(help),
                            );
                        }
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------ settings

    fn check_settings(&mut self) -> Settings {
        let schema = registry::settings();
        let mut args: Vec<(Option<&Ident>, &Expr, Span)> = vec![];
        for (m, module) in self.loaded.modules.iter().enumerate() {
            for item in &module.ast.items {
                let Item::Set(s) = item else { continue };
                if m != 0 {
                    self.err(
                        Diagnostic::error(
                            Code::UnknownSetting,
                            s.span,
                            "`set` is only allowed in the pipeline file itself",
                            "in an imported module",
                        )
                        .with_help("move the setting to the file you run"),
                    );
                    continue;
                }
                if schema.param(&s.name.name).is_none() {
                    let names: Vec<&str> = schema.params.iter().map(|p| p.name).collect();
                    let help = registry::suggest(&s.name.name, names.iter().copied())
                        .map(|x| format!("did you mean `{x}`?"))
                        .unwrap_or_else(|| format!("the settings are {}", names.join(", ")));
                    self.err(
                        Diagnostic::error(
                            Code::UnknownSetting,
                            s.name.span,
                            format!("unknown setting `{}`", s.name.name),
                            "not a setting",
                        )
                        .with_help(help),
                    );
                    continue;
                }
                args.push((Some(&s.name), &s.value, s.span));
            }
        }
        self.module = 0;
        self.sweeps_allowed = false;
        let span = Span::default();
        let call = self.check_args(schema, &args, span);
        self.sweeps_allowed = true;
        let get = |name: &str| call.arg(name).cloned().unwrap_or(HExpr::None);
        Settings {
            seed: match get("seed") {
                HExpr::Int(v) => v,
                _ => 0,
            },
            device: match get("device") {
                HExpr::Str(s) => s,
                _ => "cpu".into(),
            },
            precision: match get("precision") {
                HExpr::Enum(s) => s,
                _ => "f32".into(),
            },
            name: match get("name") {
                HExpr::Str(s) => Some(s),
                _ => None,
            },
        }
    }

    // ------------------------------------------------------------ declarations

    fn check_decl(&mut self, id: DeclId) {
        let slot = &self.slots[id];
        let decl = slot.decl;
        self.cur = id;
        self.module = slot.module;
        self.path.clear();
        self.refs.clear();
        let value = match (&decl.kind, &decl.body) {
            (DeclKind::Split | DeclKind::Pretrain, DeclBody::Block(block)) => {
                let schema = if decl.kind == DeclKind::Split {
                    registry::split()
                } else {
                    registry::pretrain()
                };
                let args: Vec<(Option<&Ident>, &Expr, Span)> = block
                    .items
                    .iter()
                    .filter_map(|i| match i {
                        BlockItem::Field(f) => Some((Some(&f.name), &f.value, f.span)),
                        BlockItem::Directive(_) => None,
                    })
                    .collect();
                HExpr::Call(Box::new(self.check_args(schema, &args, decl.name.span)))
            }
            (DeclKind::Split | DeclKind::Pretrain, DeclBody::Expr(e)) => {
                self.err(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        e.span,
                        format!("a `{}` declaration takes a block", decl.kind.keyword()),
                        "expected `{ field = value ... }`",
                    )
                    .with_help(format!(
                        "write `{} {} {{ ... }}`; see `sslp explain {}`",
                        decl.kind.keyword(),
                        decl.name.name,
                        decl.kind.keyword()
                    )),
                );
                HExpr::None
            }
            (_, DeclBody::Block(b)) => {
                self.err(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        b.span,
                        format!(
                            "a `{}` declaration takes `= value`, not a block",
                            decl.kind.keyword()
                        ),
                        "unexpected block",
                    )
                    .with_help("only `split` and `pretrain` declarations are blocks"),
                );
                HExpr::None
            }
            (kind, DeclBody::Expr(e)) => {
                let ty = match kind {
                    DeclKind::Dataset => Ty::Kind(Category::Dataset),
                    DeclKind::Policy => Ty::Policy,
                    DeclKind::Backbone => Ty::Kind(Category::Backbone),
                    DeclKind::Method => Ty::Kind(Category::Method),
                    DeclKind::Optimizer => Ty::Kind(Category::Optimizer),
                    DeclKind::Schedule => Ty::Kind(Category::Schedule),
                    DeclKind::Evaluate => Ty::Kind(Category::Eval),
                    DeclKind::Report => Ty::Kind(Category::Report),
                    _ => Ty::Any,
                };
                let step_decl = matches!(
                    kind,
                    DeclKind::Dataset | DeclKind::Evaluate | DeclKind::Report
                );
                if step_decl && !matches!(e.kind, ExprKind::Call { .. }) {
                    self.err(
                        Diagnostic::error(
                            Code::TypeMismatch,
                            e.span,
                            format!("a `{}` declaration takes a call", kind.keyword()),
                            "expected `kind(...)`",
                        )
                        .with_help(format!(
                            "for example `{} {} = {}(...)`",
                            kind.keyword(),
                            decl.name.name,
                            match kind {
                                DeclKind::Dataset => "synthetic_shapes",
                                DeclKind::Evaluate => "knn",
                                _ => "table",
                            }
                        )),
                    );
                    HExpr::None
                } else {
                    self.check_value(e, ty, Bound::ANY)
                }
            }
        };
        let refs: Vec<DeclId> = self.refs.iter().copied().collect();
        self.hdecls[id] = Some(HDecl {
            name: decl.name.name.clone(),
            kind: decl.kind,
            file: self.loaded.modules[slot_module(&self.slots, id)].file,
            span: decl.span,
            name_span: decl.name.span,
            value,
            zips: vec![],
            excludes: vec![],
            refs,
        });
    }

    // ------------------------------------------------------------ calls

    fn check_call(
        &mut self,
        callee: &Ident,
        args: &[Arg],
        span: Span,
        expected: Option<Category>,
    ) -> HExpr {
        let Some(kind) = registry::kind_named(&callee.name) else {
            let noun = expected.map_or("kind", |c| {
                c.noun().trim_start_matches("a ").trim_start_matches("an ")
            });
            let candidates: Vec<&str> = match expected {
                Some(c) => registry::names_in(c),
                None => registry::all_kinds().map(|k| k.name).collect(),
            };
            let mut help = registry::suggest(&callee.name, candidates.iter().copied())
                .map(|s| format!("did you mean `{s}`?"));
            if help.is_none() && self.lookup(&callee.name).is_some() {
                help = Some(format!(
                    "`{}` is a declared name: refer to it without parentheses",
                    callee.name
                ));
            }
            if help.is_none() && candidates.len() <= 16 {
                help = Some(format!("expected one of: {}", candidates.join(", ")));
            }
            self.err(
                Diagnostic::error(
                    Code::UnknownKind,
                    callee.span,
                    format!("unknown {noun} `{}`", callee.name),
                    format!("not a known {noun}"),
                )
                .with_help_opt(help),
            );
            // Still look inside the arguments for further problems.
            for a in args {
                self.check_value(&a.value, Ty::Any, Bound::ANY);
            }
            return HExpr::None;
        };
        if let Some(c) = expected
            && kind.category != c
        {
            let candidates = registry::names_in(c);
            self.err(
                Diagnostic::error(
                    Code::WrongCategory,
                    callee.span,
                    format!(
                        "`{}` is {}, but {} is expected here",
                        kind.name,
                        kind.category.noun(),
                        c.noun()
                    ),
                    format!("{} here", c.noun()),
                )
                .with_help(format!("expected one of: {}", candidates.join(", "))),
            );
            return HExpr::None;
        }
        let args: Vec<(Option<&Ident>, &Expr, Span)> = args
            .iter()
            .map(|a| (a.name.as_ref(), &a.value, a.span))
            .collect();
        HExpr::Call(Box::new(self.check_args(kind, &args, span)))
    }

    /// Matches arguments to a schema: positional, named, unknown, duplicate, missing, defaults.
    fn check_args(
        &mut self,
        kind: &'static Kind,
        args: &[(Option<&Ident>, &Expr, Span)],
        span: Span,
    ) -> HCall {
        let n = kind.params.len();
        let mut values: Vec<Option<HExpr>> = vec![None; n];
        let mut spans: Vec<Option<Span>> = vec![None; n];
        let mut seen_named = false;
        let mut next_positional = 0;
        for &(name, value, arg_span) in args {
            let index = match name {
                None => {
                    if seen_named {
                        self.err(
                            Diagnostic::error(
                                Code::TooManyArguments,
                                arg_span,
                                "positional argument after named arguments",
                                "name this argument",
                            )
                            .with_help("write positional arguments first, or name them all"),
                        );
                        continue;
                    }
                    if next_positional >= n {
                        self.err(Diagnostic::error(
                            Code::TooManyArguments,
                            arg_span,
                            format!(
                                "`{}` takes {} argument{}",
                                kind.name,
                                n,
                                if n == 1 { "" } else { "s" }
                            ),
                            "one too many",
                        ));
                        continue;
                    }
                    next_positional += 1;
                    next_positional - 1
                }
                Some(ident) => {
                    seen_named = true;
                    match kind.param(&ident.name) {
                        Some((i, _)) => i,
                        None => {
                            let names: Vec<&str> = kind.params.iter().map(|p| p.name).collect();
                            let help = registry::suggest(&ident.name, names.iter().copied())
                                .map(|s| format!("did you mean `{s}`?"))
                                .unwrap_or_else(|| {
                                    if names.is_empty() {
                                        format!("`{}` takes no arguments", kind.name)
                                    } else {
                                        format!("`{}` takes: {}", kind.name, names.join(", "))
                                    }
                                });
                            self.err(
                                Diagnostic::error(
                                    Code::UnknownArgument,
                                    ident.span,
                                    format!("`{}` has no parameter `{}`", kind.name, ident.name),
                                    "unknown parameter",
                                )
                                .with_help(help),
                            );
                            // Check the value anyway, for nested mistakes.
                            self.check_value(value, Ty::Any, Bound::ANY);
                            continue;
                        }
                    }
                }
            };
            let param = &kind.params[index];
            if let Some(first) = spans[index] {
                self.err(
                    Diagnostic::error(
                        Code::DuplicateArgument,
                        arg_span,
                        format!("`{}` is given twice", param.name),
                        "given again here",
                    )
                    .with_label(first, "first given here"),
                );
                continue;
            }
            self.path.push(param.name.to_string());
            values[index] = Some(self.check_value(value, param.ty, param.bound));
            self.path.pop();
            spans[index] = Some(value.span);
        }
        let mut missing = vec![];
        let explicit: Vec<bool> = values.iter().map(Option::is_some).collect();
        for (i, param) in kind.params.iter().enumerate() {
            if values[i].is_some() {
                continue;
            }
            values[i] = Some(match param.default {
                Dflt::Required => {
                    missing.push(param.name);
                    HExpr::None
                }
                Dflt::Optional => HExpr::None,
                Dflt::Src(src) => self.default_value(src, param.ty, span),
            });
        }
        self.check_relevance(kind, &values, &explicit, &spans, span);
        if !missing.is_empty() {
            let list = missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let example = missing
                .iter()
                .map(|m| format!("{m}: ..."))
                .collect::<Vec<_>>()
                .join(", ");
            self.err(
                Diagnostic::error(
                    Code::MissingArgument,
                    span,
                    format!("`{}` needs {list}", kind.name),
                    format!("missing {list}"),
                )
                .with_help(format!("add {example}; see `sslp explain {}`", kind.name)),
            );
        }
        HCall {
            kind,
            args: values
                .into_iter()
                .map(|v| v.unwrap_or(HExpr::None))
                .collect(),
            explicit,
            span,
            arg_spans: spans,
        }
    }

    /// Warns about written parameters that have no effect given their siblings
    /// (the registry's `applies_when`). A parameter is reported only when no value
    /// its sibling can take (every alternative of a swept sibling) gives it an
    /// effect; where a sweep makes it matter in some arms, the planner leaves it
    /// out of the other arms' keys and nothing is reported.
    fn check_relevance(
        &mut self,
        kind: &'static Kind,
        values: &[Option<HExpr>],
        explicit: &[bool],
        spans: &[Option<Span>],
        call_span: Span,
    ) {
        for (i, param) in kind.params.iter().enumerate() {
            let (Some(cond), true) = (param.applies_when, explicit[i]) else {
                continue;
            };
            let Some((si, sib)) = kind.param(cond.sibling()) else {
                continue;
            };
            let Some(alts) = values[si].as_ref().and_then(|v| self.possible_values(v)) else {
                continue;
            };
            let verdicts: Option<Vec<bool>> = alts
                .iter()
                .map(|a| sibling_value(a).and_then(|v| cond.holds(v)))
                .collect();
            let Some(verdicts) = verdicts else { continue };
            if verdicts.iter().any(|&b| b) || verdicts.is_empty() {
                continue;
            }
            let shown: Vec<String> = alts.iter().map(|a| self.label(a, false)).collect();
            let mut shown_unique = shown.clone();
            shown_unique.dedup();
            let sib_text = if alts.len() > 1 {
                format!(
                    "`{}` is {} in every arm",
                    sib.name,
                    shown_unique.join(" or ")
                )
            } else {
                format!("`{}` is {}", sib.name, shown.join(""))
            };
            let mut message = format!("`{}` has no effect: {}", param.name, sib_text);
            if let Some(HExpr::Sweep(id)) = &values[i] {
                let n = self.sweeps[*id].alts.len();
                message.push_str(&format!(" (its {n} swept values give the same result)"));
            }
            let span = spans[i].unwrap_or(call_span);
            let mut d = Diagnostic::warning(
                Code::IgnoredParameter,
                span,
                message,
                format!("ignored ({})", cond.describe()),
            );
            d = match spans[si] {
                Some(s) => d.with_label(
                    s,
                    format!("`{}` makes `{}` irrelevant", sib.name, param.name),
                ),
                None => d,
            };
            let fix = match cond {
                registry::When::Eq(_, words) => format!("`{}: {}`", sib.name, words.join("` or `")),
                registry::When::Positive(_) => format!("`{}` > 0", sib.name),
            };
            let default_note = if spans[si].is_none() {
                format!(
                    " (`{}` is left at its default, {})",
                    sib.name,
                    shown.join("")
                )
            } else {
                String::new()
            };
            d = d.with_help(format!(
                "remove `{}`, or write {fix} for it to take effect{default_note}; see `sslp explain {}`",
                param.name, kind.name
            ));
            self.err(d);
        }
    }

    /// The values a checked argument can take: its alternatives when swept, `None` when unknown here.
    fn possible_values(&self, h: &HExpr) -> Option<Vec<HExpr>> {
        match h {
            HExpr::Sweep(id) => self.sweeps.get(*id).map(|s| s.alts.clone()),
            HExpr::Ref(_) | HExpr::Member(..) | HExpr::None => None,
            other => Some(vec![other.clone()]),
        }
    }

    /// Checks a default written in the registry, at the call's span.
    fn default_value(&mut self, src: &'static str, ty: Ty, span: Span) -> HExpr {
        let mut expr = match self.defaults.get(src) {
            Some(e) => e.clone(),
            None => {
                let (module, _) = parser::parse(FileId(u32::MAX), &format!("let default = {src}"));
                let expr = match module.items.into_iter().next() {
                    Some(Item::Decl(Decl {
                        body: DeclBody::Expr(e),
                        ..
                    })) => e,
                    _ => Expr {
                        kind: ExprKind::Bool(false),
                        span,
                    },
                };
                self.defaults.insert(src, expr.clone());
                expr
            }
        };
        expr.set_spans(span);
        let before = self.diags.len();
        let value = self.check_value(&expr, ty, Bound::ANY);
        debug_assert_eq!(
            before,
            self.diags.len(),
            "registry default `{src}` does not check"
        );
        value
    }

    // ------------------------------------------------------------ values

    fn check_value(&mut self, e: &Expr, ty: Ty, bound: Bound) -> HExpr {
        if let ExprKind::Sweep(s) = &e.kind {
            return self.check_sweep(e, s, ty, bound);
        }
        if let ExprKind::Path(path) = &e.kind
            && !matches!(ty, Ty::Enum(_) | Ty::Device)
        {
            return self.check_path(e, path, ty);
        }
        match ty {
            Ty::Int => match e.kind {
                ExprKind::Int(v) => self.in_bound(e, v as f64, bound, HExpr::Int(v)),
                ExprKind::Float(_) => {
                    self.mismatch(
                        e,
                        "an integer",
                        Some("write it without a decimal point".into()),
                    );
                    HExpr::None
                }
                _ => self.mismatch(e, "an integer", None),
            },
            Ty::Float => match e.kind {
                ExprKind::Int(v) => self.in_bound(e, v as f64, bound, HExpr::Float(v as f64)),
                ExprKind::Float(v) => self.in_bound(e, v, bound, HExpr::Float(v)),
                _ => self.mismatch(e, "a number", None),
            },
            Ty::Bool => match e.kind {
                ExprKind::Bool(b) => HExpr::Bool(b),
                _ => self.mismatch(e, "`true` or `false`", None),
            },
            Ty::Str => match &e.kind {
                ExprKind::Str(s) => HExpr::Str(s.clone()),
                _ => self.mismatch(e, "a string", Some("put it in double quotes".into())),
            },
            Ty::Range => self.check_range(e, bound),
            Ty::Enum(options) => self.check_enum(e, options),
            Ty::Device => self.check_device(e),
            Ty::Amount => match e.kind {
                ExprKind::Int(v) if v >= 1 => HExpr::Int(v),
                ExprKind::Float(v) if Bound::FRACTION.contains(v) => HExpr::Float(v),
                ExprKind::Int(_) | ExprKind::Float(_) => {
                    self.err(
                        Diagnostic::error(
                            Code::OutOfRange,
                            e.span,
                            "a size must be a count >= 1 or a fraction in (0, 1]",
                            "out of range",
                        )
                        .with_help("for example `500` images or `0.8` of them"),
                    );
                    HExpr::None
                }
                _ => self.mismatch(e, "a count or a fraction", None),
            },
            Ty::List(inner) => match &e.kind {
                ExprKind::List(xs) => HExpr::List(
                    xs.iter()
                        .map(|x| self.check_value(x, *inner, bound))
                        .collect(),
                ),
                _ => self.mismatch(
                    e,
                    &format!("a list of {}", inner.describe()),
                    Some("write `[a, b]`".into()),
                ),
            },
            Ty::Kind(cat) => match &e.kind {
                ExprKind::Call { callee, args } => self.check_call(callee, args, e.span, Some(cat)),
                _ => self.mismatch(
                    e,
                    cat.noun(),
                    Some(format!("for example `{}()`", example_of(cat))),
                ),
            },
            Ty::Policy => self.check_policy(e),
            Ty::Data => match &e.kind {
                ExprKind::Call { callee, args } => {
                    self.check_call(callee, args, e.span, Some(Category::Dataset))
                }
                _ => self.mismatch(
                    e,
                    "data: a dataset or a split part such as `pv.train`",
                    None,
                ),
            },
            Ty::Encoder => match &e.kind {
                ExprKind::Call { callee, args } => {
                    self.check_call(callee, args, e.span, Some(Category::Backbone))
                }
                _ => self.mismatch(e, "a pretraining run or a backbone", None),
            },
            Ty::Metric | Ty::Axis => match &e.kind {
                ExprKind::List(xs) => {
                    HExpr::List(xs.iter().map(|x| self.check_value(x, ty, bound)).collect())
                }
                _ => self.mismatch(
                    e,
                    if ty == Ty::Metric {
                        "a metric such as `lin.top1`"
                    } else {
                        "a swept parameter such as `ssl.method`"
                    },
                    None,
                ),
            },
            Ty::Views => match &e.kind {
                ExprKind::Call { callee, args } => {
                    self.check_call(callee, args, e.span, Some(Category::View))
                }
                ExprKind::List(xs) => HExpr::List(
                    xs.iter()
                        .map(|x| self.check_value(x, Ty::Views, bound))
                        .collect(),
                ),
                _ => self.mismatch(
                    e,
                    "view specs",
                    Some("for example `[view(count: 2)]` or `multicrop()`".into()),
                ),
            },
            Ty::Any => self.check_any(e),
        }
    }

    fn check_any(&mut self, e: &Expr) -> HExpr {
        match &e.kind {
            ExprKind::Int(v) => HExpr::Int(*v),
            ExprKind::Float(v) => HExpr::Float(*v),
            ExprKind::Bool(b) => HExpr::Bool(*b),
            ExprKind::Str(s) => HExpr::Str(s.clone()),
            ExprKind::Range(..) => self.check_range(e, Bound::ANY),
            ExprKind::List(xs) if xs.iter().any(|x| matches!(x.kind, ExprKind::Prob { .. })) => {
                self.check_policy(e)
            }
            ExprKind::List(xs) => HExpr::List(
                xs.iter()
                    .map(|x| self.check_value(x, Ty::Any, Bound::ANY))
                    .collect(),
            ),
            ExprKind::Call { callee, args } => self.check_call(callee, args, e.span, None),
            ExprKind::Path(p) => self.check_path(e, p, Ty::Any),
            ExprKind::Sweep(s) => self.check_sweep(e, s, Ty::Any, Bound::ANY),
            ExprKind::Prob { .. } | ExprKind::Concat(_) => self.check_policy(e),
        }
    }

    /// ` for `name`` naming the parameter being checked, or nothing at top level.
    fn param_suffix(&self) -> String {
        self.path
            .last()
            .map(|p| format!(" for `{p}`"))
            .unwrap_or_default()
    }

    fn in_bound(&mut self, e: &Expr, v: f64, bound: Bound, ok: HExpr) -> HExpr {
        if bound.contains(v) {
            return ok;
        }
        let what = match self.path.last().map(String::as_str) {
            Some("p") => "a probability".to_string(),
            Some(name) => format!("`{name}`"),
            None => "this value".to_string(),
        };
        let shown = match e.kind {
            ExprKind::Int(i) => i.to_string(),
            _ => format_float(v),
        };
        self.err(Diagnostic::error(
            Code::OutOfRange,
            e.span,
            format!("{what} must be {}, but is {shown}", describe_bound(bound)),
            format!("not {}", describe_bound(bound)),
        ));
        HExpr::None
    }

    fn mismatch(&mut self, e: &Expr, expected: &str, help: Option<String>) -> HExpr {
        let found = describe_expr(&e.kind);
        let param = self.param_suffix();
        self.err(
            Diagnostic::error(
                Code::TypeMismatch,
                e.span,
                format!("expected {expected}{param}, found {found}"),
                format!("expected {expected}"),
            )
            .with_help_opt(help),
        );
        HExpr::None
    }

    fn number_of(&mut self, e: &Expr) -> Option<f64> {
        match e.kind {
            ExprKind::Int(v) => Some(v as f64),
            ExprKind::Float(v) => Some(v),
            _ => {
                self.mismatch(e, "a number", None);
                None
            }
        }
    }

    fn check_range(&mut self, e: &Expr, bound: Bound) -> HExpr {
        let ExprKind::Range(lo, hi) = &e.kind else {
            return self.mismatch(
                e,
                "a range `lo..hi`",
                Some("for example `0.08..1.0`".into()),
            );
        };
        let (Some(a), Some(b)) = (self.number_of(lo), self.number_of(hi)) else {
            return HExpr::None;
        };
        if a > b {
            self.err(
                Diagnostic::error(
                    Code::BadRange,
                    e.span,
                    format!(
                        "the range {}..{} is empty: its low end is above its high end",
                        fmt_num(a),
                        fmt_num(b)
                    ),
                    "low > high",
                )
                .with_help(format!("write `{}..{}`", fmt_num(b), fmt_num(a))),
            );
            return HExpr::None;
        }
        for (end, v) in [(lo, a), (hi, b)] {
            if !bound.contains(v) {
                self.err(Diagnostic::error(
                    Code::OutOfRange,
                    end.span,
                    format!(
                        "range ends must be {}, but one is {}",
                        describe_bound(bound),
                        fmt_num(v)
                    ),
                    format!("not {}", describe_bound(bound)),
                ));
                return HExpr::None;
            }
        }
        HExpr::Range(a, b)
    }

    fn check_enum(&mut self, e: &Expr, options: &'static [&'static str]) -> HExpr {
        let word = match &e.kind {
            ExprKind::Path(p) if p.len() == 1 => p[0].name.as_str(),
            ExprKind::Str(s) => s.as_str(),
            _ => return self.mismatch(e, &format!("one of {}", options.join(", ")), None),
        };
        if options.contains(&word) {
            return HExpr::Enum(word.to_string());
        }
        let param = self.param_suffix();
        let help = registry::suggest(word, options.iter().copied())
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| format!("expected one of: {}", options.join(", ")));
        self.err(
            Diagnostic::error(
                Code::TypeMismatch,
                e.span,
                format!("`{word}` is not a valid value{param}"),
                format!("expected one of {}", options.join(", ")),
            )
            .with_help(help),
        );
        HExpr::None
    }

    fn check_device(&mut self, e: &Expr) -> HExpr {
        let word = match &e.kind {
            ExprKind::Path(p) if p.len() == 1 => p[0].name.clone(),
            ExprKind::Str(s) => s.clone(),
            _ => return self.mismatch(e, "a device", Some("`cpu`, `cuda` or \"cuda:1\"".into())),
        };
        let ok = word == "cpu"
            || word == "cuda"
            || word
                .strip_prefix("cuda:")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if ok {
            HExpr::Str(word)
        } else {
            self.err(
                Diagnostic::error(
                    Code::TypeMismatch,
                    e.span,
                    format!("`{word}` is not a device"),
                    "expected cpu, cuda or \"cuda:N\"",
                )
                .with_help("devices are `cpu`, `cuda` and \"cuda:N\""),
            );
            HExpr::None
        }
    }

    // ------------------------------------------------------------ policies

    fn check_policy(&mut self, e: &Expr) -> HExpr {
        let mut items = vec![];
        self.policy_into(e, &mut items);
        HExpr::Policy(items)
    }

    fn policy_into(&mut self, e: &Expr, items: &mut Vec<HExpr>) {
        match &e.kind {
            ExprKind::List(xs) => {
                for x in xs {
                    self.policy_item(x, items);
                }
            }
            ExprKind::Concat(parts) => {
                for part in parts {
                    self.policy_into(part, items);
                }
            }
            ExprKind::Path(_) if self.is_named_op(e) => {
                let op = self.check_value(e, Ty::Kind(Category::Op), Bound::ANY);
                items.push(HExpr::Prob(Box::new(op), Box::new(HExpr::Float(1.0))));
            }
            ExprKind::Path(p) => items.push(self.check_path(e, p, Ty::Policy)),
            ExprKind::Sweep(s) => items.push(self.check_sweep(e, s, Ty::Policy, Bound::ANY)),
            ExprKind::Call { .. } | ExprKind::Prob { .. } => self.policy_item(e, items),
            _ => {
                self.mismatch(
                    e,
                    "a policy",
                    Some(
                        "a policy is a list of ops with probabilities: `[grayscale() @ 0.2]`"
                            .into(),
                    ),
                );
            }
        }
    }

    fn policy_item(&mut self, e: &Expr, items: &mut Vec<HExpr>) {
        match &e.kind {
            ExprKind::Prob { op, p } => {
                let named_op = self.is_named_op(op);
                if !named_op
                    && matches!(
                        op.kind,
                        ExprKind::Path(_) | ExprKind::List(_) | ExprKind::Concat(_)
                    )
                {
                    self.err(
                        Diagnostic::error(
                            Code::TypeMismatch,
                            op.span,
                            "a probability applies to one op, not to a policy",
                            "a policy here",
                        )
                        .with_help(
                            "use `one_of(choices: [...]) @ p`, or give each op its own probability",
                        ),
                    );
                    return;
                }
                let name = op_name(op);
                self.path.push(name);
                let op = self.check_value(op, Ty::Kind(Category::Op), Bound::ANY);
                self.path.push("p".into());
                let p_span = p.span;
                let p = self.check_value(p, Ty::Float, Bound::PROB);
                self.path.pop();
                self.path.pop();
                if let HExpr::Call(c) = &op
                    && matches!(
                        c.kind.info,
                        registry::Info::Op {
                            model_input: true,
                            ..
                        }
                    )
                {
                    self.err(
                        Diagnostic::warning(
                            Code::IgnoredParameter,
                            p_span,
                            format!("`@ p` has no effect on `{}`", c.kind.name),
                            "ignored",
                        )
                        .with_label(c.span, "applied to every image as it enters the network")
                        .with_help(format!(
                            "`{}` is model-input normalisation, not a random policy step; remove `@ ...`",
                            c.kind.name
                        )),
                    );
                }
                items.push(HExpr::Prob(Box::new(op), Box::new(p)));
            }
            ExprKind::Call { .. } => {
                self.path.push(op_name(e));
                let op = self.check_value(e, Ty::Kind(Category::Op), Bound::ANY);
                self.path.pop();
                items.push(HExpr::Prob(Box::new(op), Box::new(HExpr::Float(1.0))));
            }
            _ => self.policy_into(e, items),
        }
    }

    /// Whether `e` names a `let` holding one augmentation op (`let jitter = color_jitter()`).
    fn is_named_op(&self, e: &Expr) -> bool {
        let ExprKind::Path(p) = &e.kind else {
            return false;
        };
        p.len() == 1
            && self.lookup(&p[0].name).is_some_and(|id| {
                self.slots[id].decl.kind == DeclKind::Let
                    && self.let_shape(id, 0) == Shape::Call(Category::Op)
            })
    }

    // ------------------------------------------------------------ sweeps

    fn check_sweep(&mut self, e: &Expr, s: &Sweep, ty: Ty, bound: Bound) -> HExpr {
        if !self.sweeps_allowed {
            self.err(
                Diagnostic::error(
                    Code::BadSweep,
                    e.span,
                    "a sweep is not allowed here",
                    "no sweep here",
                )
                .with_help("settings have one value; sweep inside a declaration instead"),
            );
            return HExpr::None;
        }
        let alts: Vec<HExpr> = match s {
            Sweep::List(xs) => {
                if xs.is_empty() {
                    self.err(Diagnostic::error(
                        Code::BadSweep,
                        e.span,
                        "a sweep needs at least one value",
                        "empty",
                    ));
                    return HExpr::None;
                }
                xs.iter().map(|x| self.check_value(x, ty, bound)).collect()
            }
            Sweep::Range { lo, hi, step } => {
                match self.range_values(e, lo, hi, step.as_deref(), ty) {
                    Some(values) => values
                        .into_iter()
                        .map(|(v, int)| {
                            let h = if int {
                                HExpr::Int(v as i64)
                            } else {
                                HExpr::Float(v)
                            };
                            if bound.contains(v) {
                                h
                            } else {
                                self.in_bound(e, v, bound, HExpr::None)
                            }
                        })
                        .collect(),
                    None => return HExpr::None,
                }
            }
        };
        let name = self.axis_name();
        let labels = self.labels(&alts);
        let id = self.sweeps.len();
        self.sweeps.push(HSweep {
            decl: self.cur,
            name,
            alts,
            labels,
            span: e.span,
        });
        HExpr::Sweep(id)
    }

    /// The values of `sweep lo..hi step s`, inclusive of `hi` (with a tolerance for float steps).
    fn range_values(
        &mut self,
        e: &Expr,
        lo: &Expr,
        hi: &Expr,
        step: Option<&Expr>,
        ty: Ty,
    ) -> Option<Vec<(f64, bool)>> {
        let ints = matches!((&lo.kind, &hi.kind), (ExprKind::Int(_), ExprKind::Int(_)))
            && step.is_none_or(|s| matches!(s.kind, ExprKind::Int(_)));
        if !matches!(ty, Ty::Int | Ty::Float | Ty::Amount | Ty::Any) {
            self.mismatch(
                e,
                &ty.describe(),
                Some("a range sweep makes numbers; use `sweep [a, b]`".into()),
            );
            return None;
        }
        if ty == Ty::Int && !ints {
            self.mismatch(
                e,
                "integers",
                Some("use integer ends and an integer step".into()),
            );
            return None;
        }
        let a = self.number_of(lo)?;
        let b = self.number_of(hi)?;
        let s = match step {
            Some(s) => self.number_of(s)?,
            None => 1.0,
        };
        if s <= 0.0 {
            self.err(Diagnostic::error(
                Code::BadSweep,
                e.span,
                "a sweep step must be positive",
                "step <= 0",
            ));
            return None;
        }
        if a > b {
            self.err(
                Diagnostic::error(
                    Code::BadRange,
                    e.span,
                    format!(
                        "the sweep {}..{} is empty: its low end is above its high end",
                        fmt_num(a),
                        fmt_num(b)
                    ),
                    "low > high",
                )
                .with_help(format!("write `sweep {}..{}`", fmt_num(b), fmt_num(a))),
            );
            return None;
        }
        let count = ((b - a) / s + 1e-9).floor() + 1.0;
        if count > 100_000.0 {
            self.err(Diagnostic::error(
                Code::BadSweep,
                e.span,
                format!("this sweep has {count} values; the limit is 100000"),
                "too many values",
            ));
            return None;
        }
        let float_ty = matches!(ty, Ty::Float | Ty::Amount) || !ints;
        Some(
            (0..count as usize)
                .map(|i| {
                    let v = a + s * i as f64;
                    // Round away binary noise: 0.1 + 0.1*2 prints as 0.3.
                    let v = if float_ty {
                        (v * 1e12).round() / 1e12
                    } else {
                        v
                    };
                    (v, !float_ty)
                })
                .collect(),
        )
    }

    fn axis_name(&self) -> String {
        let decl = &self.slots[self.cur].decl;
        let path = self.path.join(".");
        match decl.kind {
            DeclKind::Pretrain
            | DeclKind::Split
            | DeclKind::Evaluate
            | DeclKind::Dataset
            | DeclKind::Report => {
                if path.is_empty() {
                    decl.name.name.clone()
                } else {
                    path
                }
            }
            _ => {
                if path.is_empty() {
                    decl.name.name.clone()
                } else {
                    format!("{}.{}", decl.name.name, path)
                }
            }
        }
    }

    /// The labels of a sweep's alternatives: short (a call's kind) where that tells
    /// them apart; otherwise the call with the written arguments that differ among the
    /// alternatives sharing the short label (`simclr(temperature=0.1)`), or, failing
    /// that, with every written argument.
    fn labels(&self, alts: &[HExpr]) -> Vec<String> {
        let short: Vec<String> = alts.iter().map(|a| self.label(a, false)).collect();
        let mut labels = short.clone();
        for (i, l) in short.iter().enumerate() {
            let twins: Vec<usize> = (0..alts.len()).filter(|&j| short[j] == *l).collect();
            if twins.len() > 1 {
                labels[i] = self
                    .differing_args_label(alts, &twins, i)
                    .unwrap_or_else(|| self.label(&alts[i], true));
            }
        }
        if labels
            .iter()
            .enumerate()
            .any(|(i, l)| labels[..i].contains(l))
        {
            return alts.iter().map(|a| self.label(a, true)).collect();
        }
        labels
    }

    /// `kind(arg=value,...)` of call `alts[i]` with only the written arguments that
    /// are not written alike in every call of `twins`; `None` unless all are calls.
    fn differing_args_label(&self, alts: &[HExpr], twins: &[usize], i: usize) -> Option<String> {
        let written = |h: &HExpr| -> Option<Vec<String>> {
            let HExpr::Call(c) = h else { return None };
            Some(self.written_args(c))
        };
        let all: Vec<Vec<String>> = twins
            .iter()
            .map(|&j| written(&alts[j]))
            .collect::<Option<_>>()?;
        let HExpr::Call(c) = &alts[i] else {
            return None;
        };
        let own = written(&alts[i])?;
        let differing: Vec<String> = own
            .into_iter()
            .filter(|a| !all.iter().all(|w| w.contains(a)))
            .collect();
        Some(format!("{}({})", c.kind.name, differing.join(",")))
    }

    /// The arguments a call writes, as `name=value` labels in parameter order.
    fn written_args(&self, c: &HCall) -> Vec<String> {
        c.kind
            .params
            .iter()
            .zip(&c.args)
            .zip(&c.explicit)
            .filter(|(_, e)| **e)
            .map(|((p, v), _)| format!("{}={}", p.name, self.label(v, true)))
            .collect()
    }

    /// A readable label of a value; `long` spells out a call's written arguments.
    fn label(&self, h: &HExpr, long: bool) -> String {
        match h {
            HExpr::None => "none".into(),
            HExpr::Int(v) => v.to_string(),
            HExpr::Float(v) => format_float(*v),
            HExpr::Bool(b) => b.to_string(),
            HExpr::Str(s) | HExpr::Enum(s) => s.clone(),
            HExpr::Range(a, b) => format!("{}..{}", format_float(*a), format_float(*b)),
            HExpr::List(xs) => format!(
                "[{}]",
                xs.iter()
                    .map(|x| self.label(x, long))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            HExpr::Call(c) => {
                if !long {
                    return c.kind.name.to_string();
                }
                format!("{}({})", c.kind.name, self.written_args(c).join(","))
            }
            HExpr::Ref(d) => self.slots[*d].decl.name.name.clone(),
            HExpr::Member(d, m) => format!("{}.{m}", self.slots[*d].decl.name.name),
            HExpr::Sweep(s) => format!("sweep{s}"),
            HExpr::Prob(op, p) => format!("{}@{}", self.label(op, long), self.label(p, long)),
            HExpr::Policy(items) => {
                format!(
                    "[{}]",
                    items
                        .iter()
                        .map(|x| self.label(x, long))
                        .collect::<Vec<_>>()
                        .join(",")
                )
            }
        }
    }

    // ------------------------------------------------------------ references

    fn lookup(&self, name: &str) -> Option<DeclId> {
        self.scopes[self.module].get(name).map(|(id, _)| *id)
    }

    fn check_path(&mut self, e: &Expr, path: &[Ident], ty: Ty) -> HExpr {
        let Some(first) = path.first() else {
            return HExpr::None;
        };
        let Some(target) = self.lookup(&first.name) else {
            return self.undefined(first, ty);
        };
        self.refs.insert(target);
        let target_decl = self.slots[target].decl;
        let target_kind = target_decl.kind;
        if path.len() > 2 && ty == Ty::Axis {
            // A nested swept argument: `ssl.method.temperature`.
            return match self.check_member(e, target, &path[1], ty) {
                HExpr::Member(d, m) => {
                    let rest: Vec<&str> = path[2..].iter().map(|i| i.name.as_str()).collect();
                    HExpr::Member(d, format!("{m}.{}", rest.join(".")))
                }
                other => other,
            };
        }
        if path.len() > 2 {
            self.err(Diagnostic::error(
                Code::UnknownMember,
                path[2].span,
                "a reference has at most one `.member`",
                "unexpected",
            ));
            return HExpr::None;
        }
        if let Some(member) = path.get(1) {
            return self.check_member(e, target, member, ty);
        }
        if ty == Ty::Axis && target_kind == DeclKind::Let {
            // A swept `let` names an axis to group by, not a dependency.
            return HExpr::Str(first.name.clone());
        }
        let ok = match ty {
            Ty::Any => true,
            Ty::Kind(c) => {
                decl_category(target_kind) == Some(c)
                    || (target_kind == DeclKind::Let && self.let_shape(target, 0) == Shape::Call(c))
            }
            Ty::Policy => {
                target_kind == DeclKind::Policy
                    || (target_kind == DeclKind::Let
                        && matches!(self.let_shape(target, 0), Shape::Policy | Shape::List))
            }
            Ty::Data => target_kind == DeclKind::Dataset,
            Ty::Encoder => {
                matches!(target_kind, DeclKind::Pretrain | DeclKind::Backbone)
                    || (target_kind == DeclKind::Let
                        && self.let_shape(target, 0) == Shape::Call(Category::Backbone))
            }
            Ty::Axis => target_kind == DeclKind::Let,
            _ => target_kind == DeclKind::Let && shape_fits(self.let_shape(target, 0), ty),
        };
        if ok {
            return HExpr::Ref(target);
        }
        let what = decl_noun(target_kind);
        let help = match (ty, target_kind) {
            (Ty::Data, DeclKind::Split) => Some(format!(
                "a split has parts: write `{0}.train` or `{0}.test`",
                first.name
            )),
            (Ty::Metric, DeclKind::Evaluate) => {
                let metrics = self.eval_metrics(target);
                Some(format!(
                    "name a metric: {}",
                    metrics
                        .iter()
                        .map(|m| format!("`{}.{m}`", first.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
            _ => None,
        };
        let param = self.param_suffix();
        self.err(
            Diagnostic::error(
                Code::TypeMismatch,
                e.span,
                format!(
                    "`{}` is {what}, but {} is expected{param}",
                    first.name,
                    ty_noun(ty)
                ),
                what.clone(),
            )
            .with_label(target_decl.name.span, "declared here")
            .with_help_opt(help),
        );
        HExpr::None
    }

    fn undefined(&mut self, name: &Ident, ty: Ty) -> HExpr {
        let mut names: Vec<&str> = self.scopes[self.module]
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        let mut help = registry::suggest(&name.name, names.iter().copied())
            .map(|s| format!("did you mean `{s}`?"));
        if help.is_none()
            && let Some(k) = registry::kind_named(&name.name)
        {
            help = Some(format!(
                "`{0}` is {1}: call it, `{0}()`",
                k.name,
                k.category.noun()
            ));
        }
        if help.is_none() && matches!(ty, Ty::Policy) {
            help = Some("stdlib policies are imported with `use std::policies::NAME`".into());
        }
        self.err(
            Diagnostic::error(
                Code::UndefinedName,
                name.span,
                format!("`{}` is not declared", name.name),
                "not found in this file or its imports",
            )
            .with_help_opt(help),
        );
        HExpr::None
    }

    fn eval_metrics(&self, id: DeclId) -> &'static [&'static str] {
        match &self.slots[id].decl.body {
            DeclBody::Expr(Expr {
                kind: ExprKind::Call { callee, .. },
                ..
            }) => registry::kind_named(&callee.name).map_or(&[], |k| k.metrics()),
            _ => &[],
        }
    }

    fn check_member(&mut self, e: &Expr, target: DeclId, member: &Ident, ty: Ty) -> HExpr {
        let decl = self.slots[target].decl;
        let kind = decl.kind;
        match (kind, ty) {
            (DeclKind::Split, Ty::Data | Ty::Any) => {
                if registry::SPLIT_MEMBERS.contains(&member.name.as_str()) {
                    return HExpr::Member(target, member.name.clone());
                }
                self.unknown_member(member, decl, &registry::SPLIT_MEMBERS)
            }
            (DeclKind::Evaluate, Ty::Metric) => {
                let metrics = self.eval_metrics(target);
                if metrics.contains(&member.name.as_str()) {
                    return HExpr::Member(target, member.name.clone());
                }
                self.unknown_member(member, decl, metrics)
            }
            (_, Ty::Axis) => {
                let fields = self.field_names(target);
                if fields.iter().any(|f| f == &member.name) {
                    return HExpr::Member(target, member.name.clone());
                }
                let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
                self.unknown_member(member, decl, &fields)
            }
            _ => {
                let param = self.param_suffix();
                self.err(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        e.span,
                        format!(
                            "`{}.{}` is not {}{param}",
                            decl.name.name,
                            member.name,
                            ty_noun(ty)
                        ),
                        format!("expected {}", ty_noun(ty)),
                    )
                    .with_label(decl.name.span, "declared here"),
                );
                HExpr::None
            }
        }
    }

    fn field_names(&self, id: DeclId) -> Vec<String> {
        let decl = self.slots[id].decl;
        let schema = match (&decl.kind, &decl.body) {
            (DeclKind::Pretrain, _) => Some(registry::pretrain()),
            (DeclKind::Split, _) => Some(registry::split()),
            (
                _,
                DeclBody::Expr(Expr {
                    kind: ExprKind::Call { callee, .. },
                    ..
                }),
            ) => registry::kind_named(&callee.name),
            _ => None,
        };
        schema.map_or(vec![], |k| {
            k.params.iter().map(|p| p.name.to_string()).collect()
        })
    }

    fn unknown_member(&mut self, member: &Ident, decl: &Decl, options: &[&str]) -> HExpr {
        let help = registry::suggest(&member.name, options.iter().copied())
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| format!("`{}` has: {}", decl.name.name, options.join(", ")));
        self.err(
            Diagnostic::error(
                Code::UnknownMember,
                member.span,
                format!("`{}` has no member `{}`", decl.name.name, member.name),
                "unknown member",
            )
            .with_label(decl.name.span, "declared here")
            .with_help(help),
        );
        HExpr::None
    }

    fn let_shape(&self, id: DeclId, depth: usize) -> Shape {
        let DeclBody::Expr(e) = &self.slots[id].decl.body else {
            return Shape::Unknown;
        };
        self.expr_shape(e, self.slots[id].module, depth)
    }

    fn expr_shape(&self, e: &Expr, module: usize, depth: usize) -> Shape {
        if depth > 32 {
            return Shape::Unknown;
        }
        match &e.kind {
            ExprKind::Int(_) => Shape::Int,
            ExprKind::Float(_) => Shape::Float,
            ExprKind::Bool(_) => Shape::Bool,
            ExprKind::Str(_) => Shape::Str,
            ExprKind::Range(..) => Shape::Range,
            ExprKind::List(_) => Shape::List,
            ExprKind::Call { callee, .. } => registry::kind_named(&callee.name)
                .map_or(Shape::Unknown, |k| Shape::Call(k.category)),
            ExprKind::Prob { .. } | ExprKind::Concat(_) => Shape::Policy,
            ExprKind::Sweep(Sweep::List(xs)) => xs
                .first()
                .map_or(Shape::Unknown, |x| self.expr_shape(x, module, depth + 1)),
            ExprKind::Sweep(Sweep::Range { lo, .. }) => self.expr_shape(lo, module, depth + 1),
            ExprKind::Path(p) if p.len() == 1 => match self.scopes[module].get(&p[0].name) {
                Some(&(id, _)) => match self.slots[id].decl.kind {
                    DeclKind::Let => self.let_shape(id, depth + 1),
                    DeclKind::Policy => Shape::Policy,
                    k => decl_category(k).map_or(Shape::Unknown, Shape::Call),
                },
                None => Shape::Word,
            },
            ExprKind::Path(_) => Shape::Unknown,
        }
    }

    // ------------------------------------------------------------ cycles

    // ------------------------------------------------------------ trainable backbones

    /// A backbone with nothing to train (`raw_pixels`) may only stand where frozen features
    /// are read: a pretraining run's `backbone`, and the `backbone` of an evaluation that
    /// trains the network (`segmentation`, `finetune`), are errors, through names, `let`s and
    /// sweeps alike.
    fn check_trainable(&mut self) {
        let mut found = vec![];
        for decl in self.hdecls.iter().flatten() {
            let Some(call) = decl.call() else { continue };
            let trains = match decl.kind {
                DeclKind::Pretrain => true,
                DeclKind::Evaluate => {
                    matches!(
                        call.kind.info,
                        registry::Info::Eval {
                            features: false,
                            ..
                        }
                    )
                }
                _ => false,
            };
            let Some(value) = call.arg("backbone").filter(|_| trains) else {
                continue;
            };
            let mut fixed = vec![];
            let mut seen = BTreeSet::new();
            self.fixed_backbones(value, &mut fixed, &mut seen);
            for (name, at) in fixed {
                found.push((call.arg_span("backbone"), call.kind.name, name, at));
            }
        }
        for (span, user, name, at) in found {
            let what = if user == "pretrain" {
                "a pretraining run".to_string()
            } else {
                format!("`{user}`")
            };
            let mut d = Diagnostic::error(
                Code::UntrainableBackbone,
                span,
                format!(
                    "`{name}` is not a network: {what} trains its backbone, and `{name}` has nothing to train"
                ),
                "needs a trainable network",
            );
            if at.file == span.file && at != span {
                d = d.with_label(at, format!("`{name}` here"));
            }
            let trainable: Vec<&str> = registry::names_in(Category::Backbone)
                .into_iter()
                .filter(|n| registry::kind_named(n).is_some_and(Kind::is_trainable))
                .collect();
            self.err(d.with_help(format!(
                "`{name}` is a baseline for evaluations on frozen features (knn, linear_probe, kmeans, tsne); here use a network: {}",
                trainable.join(", ")
            )));
        }
    }

    /// The untrainable backbone calls a value can be, with where each is written.
    fn fixed_backbones(
        &self,
        h: &HExpr,
        out: &mut Vec<(&'static str, Span)>,
        seen: &mut BTreeSet<DeclId>,
    ) {
        match h {
            HExpr::Call(c) if c.kind.category == Category::Backbone && !c.kind.is_trainable() => {
                out.push((c.kind.name, c.span));
            }
            HExpr::Ref(d) if seen.insert(*d) => {
                if let Some(decl) = &self.hdecls[*d]
                    && matches!(decl.kind, DeclKind::Backbone | DeclKind::Let)
                {
                    self.fixed_backbones(&decl.value, out, seen);
                }
            }
            HExpr::Sweep(s) => {
                for alt in &self.sweeps[*s].alts {
                    self.fixed_backbones(alt, out, seen);
                }
            }
            _ => {}
        }
    }

    fn find_cycles(&mut self) {
        use petgraph::graph::DiGraph;
        let mut g = DiGraph::<DeclId, ()>::new();
        let nodes: Vec<_> = (0..self.slots.len()).map(|i| g.add_node(i)).collect();
        for (i, d) in self.hdecls.iter().enumerate() {
            if let Some(d) = d {
                for &r in &d.refs {
                    g.add_edge(nodes[i], nodes[r], ());
                }
            }
        }
        for scc in petgraph::algo::tarjan_scc(&g) {
            let self_loop = scc.len() == 1 && g.contains_edge(scc[0], scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let mut members: Vec<DeclId> = scc.iter().map(|n| g[*n]).collect();
            members.sort_by_key(|&m| (self.slots[m].decl.span.file, self.slots[m].decl.span.start));
            let first = self.slots[members[0]].decl;
            let names: Vec<String> = members
                .iter()
                .map(|&m| format!("`{}`", self.slots[m].decl.name.name))
                .collect();
            let message = if self_loop {
                format!("`{}` refers to itself", first.name.name)
            } else {
                format!(
                    "declarations refer to each other in a cycle: {}",
                    names.join(" -> ")
                )
            };
            let mut d = Diagnostic::error(Code::Cycle, first.name.span, message, "part of a cycle")
                .with_help("a declaration cannot depend on itself; break the cycle");
            for &m in &members[1..] {
                d = d.with_label(self.slots[m].decl.name.span, "part of the cycle");
            }
            self.err(d);
            // Leave cyclic declarations out of directive resolution.
            for &m in &members {
                if let Some(h) = &mut self.hdecls[m] {
                    h.refs.clear();
                }
            }
        }
    }

    // ------------------------------------------------------------ directives

    /// Sweeps reachable from a declaration (its own, then those of what it refers to).
    fn reachable_sweeps(&self, id: DeclId) -> Vec<SweepId> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![id];
        let mut decls = vec![];
        while let Some(d) = stack.pop() {
            if !seen.insert(d) {
                continue;
            }
            decls.push(d);
            if let Some(h) = &self.hdecls[d] {
                stack.extend(h.refs.iter().copied());
            }
        }
        let mut out: Vec<SweepId> = (0..self.sweeps.len())
            .filter(|&s| self.sweeps[s].decl == id)
            .collect();
        out.extend(
            (0..self.sweeps.len())
                .filter(|&s| self.sweeps[s].decl != id && seen.contains(&self.sweeps[s].decl)),
        );
        out
    }

    fn find_axis(&mut self, id: DeclId, name: &Ident) -> Option<SweepId> {
        let reachable = self.reachable_sweeps(id);
        if let Some(&s) = reachable
            .iter()
            .find(|&&s| self.sweeps[s].name == name.name)
        {
            return Some(s);
        }
        // A nested sweep is named by its path (`method.temperature`), which a
        // directive argument cannot spell: its last segment names it when unique.
        let last = |s: SweepId| {
            let n = self.sweeps[s].name.as_str();
            n.rsplit('.').next().unwrap_or(n)
        };
        let by_last: Vec<SweepId> = reachable
            .iter()
            .copied()
            .filter(|&s| self.sweeps[s].name.contains('.') && last(s) == name.name)
            .collect();
        if let [s] = by_last[..] {
            return Some(s);
        }
        if by_last.len() > 1 {
            let mut paths: Vec<&str> = by_last
                .iter()
                .map(|&s| self.sweeps[s].name.as_str())
                .collect();
            paths.sort_unstable();
            paths.dedup();
            self.err(
                Diagnostic::error(
                    Code::BadDirective,
                    name.span,
                    format!("`{}` names several sweeps here", name.name),
                    "ambiguous",
                )
                .with_help(format!(
                    "it is the last part of {}; give the sweeps different parameter names",
                    paths.join(", ")
                )),
            );
            return None;
        }
        let mut names: Vec<&str> = reachable.iter().map(|&s| last(s)).collect();
        names.sort_unstable();
        names.dedup();
        let help = registry::suggest(&name.name, names.iter().copied())
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| {
                if names.is_empty() {
                    "this declaration sweeps nothing".to_string()
                } else {
                    format!("the swept parameters are: {}", names.join(", "))
                }
            });
        self.err(
            Diagnostic::error(
                Code::BadDirective,
                name.span,
                format!("`{}` is not a swept parameter here", name.name),
                "no such sweep",
            )
            .with_help(help),
        );
        None
    }

    fn resolve_directives(&mut self) {
        for id in 0..self.slots.len() {
            let DeclBody::Block(block) = &self.slots[id].decl.body else {
                continue;
            };
            if self.hdecls[id].is_none() {
                continue;
            }
            for item in &block.items {
                let BlockItem::Directive(dir) = item else {
                    continue;
                };
                match dir.kind {
                    DirectiveKind::Zip => {
                        if let Some(group) = self.zip_group(id, dir)
                            && let Some(h) = &mut self.hdecls[id]
                        {
                            h.zips.push(group);
                        }
                    }
                    DirectiveKind::Exclude => {
                        if let Some(rule) = self.exclude_rule(id, dir)
                            && let Some(h) = &mut self.hdecls[id]
                        {
                            h.excludes.push(rule);
                        }
                    }
                }
            }
        }
    }

    fn zip_group(&mut self, id: DeclId, dir: &Directive) -> Option<Vec<SweepId>> {
        let mut group = vec![];
        for arg in &dir.args {
            let ident = match (&arg.name, &arg.value.kind) {
                (None, ExprKind::Path(p)) if p.len() == 1 => &p[0],
                _ => {
                    self.err(
                        Diagnostic::error(
                            Code::BadDirective,
                            arg.span,
                            "`zip` takes the names of swept parameters",
                            "not a name",
                        )
                        .with_help("for example `zip(batch, size)`"),
                    );
                    return None;
                }
            };
            group.push((self.find_axis(id, ident)?, ident.span));
        }
        if group.len() < 2 {
            self.err(Diagnostic::error(
                Code::BadDirective,
                dir.span,
                "`zip` needs at least two swept parameters",
                "too few",
            ));
            return None;
        }
        let (first, _) = group[0];
        let n = self.sweeps[first].alts.len();
        for &(s, span) in &group[1..] {
            let m = self.sweeps[s].alts.len();
            if m != n {
                self.err(
                    Diagnostic::error(
                        Code::BadDirective,
                        span,
                        format!(
                            "`zip` pairs sweeps of different lengths: `{}` has {n} values, `{}` has {m}",
                            self.sweeps[first].name, self.sweeps[s].name
                        ),
                        format!("{m} values"),
                    )
                    .with_label(self.sweeps[s].span, "this sweep")
                    .with_label(self.sweeps[first].span, format!("{n} values")),
                );
                return None;
            }
        }
        Some(group.into_iter().map(|(s, _)| s).collect())
    }

    fn exclude_rule(&mut self, id: DeclId, dir: &Directive) -> Option<Vec<(SweepId, usize)>> {
        let mut rule = vec![];
        for arg in &dir.args {
            let Some(name) = &arg.name else {
                self.err(
                    Diagnostic::error(
                        Code::BadDirective,
                        arg.span,
                        "`exclude` takes `parameter: value` pairs",
                        "not named",
                    )
                    .with_help("for example `exclude(method: byol, batch: 16)`"),
                );
                return None;
            };
            let sweep = self.find_axis(id, name)?;
            let label = ast_label(&arg.value);
            // The value as labelled, or as a call with every written argument.
            let found = self.sweeps[sweep]
                .labels
                .iter()
                .position(|l| *l == label)
                .or_else(|| {
                    let alts = &self.sweeps[sweep].alts;
                    alts.iter().position(|a| self.label(a, true) == label)
                });
            let labels = &self.sweeps[sweep].labels;
            match found {
                Some(i) => rule.push((sweep, i)),
                None => {
                    let help = registry::suggest(&label, labels.iter().map(String::as_str))
                        .map(|s| format!("did you mean `{s}`?"))
                        .unwrap_or_else(|| format!("its values are: {}", labels.join(", ")));
                    self.err(
                        Diagnostic::error(
                            Code::BadDirective,
                            arg.value.span,
                            format!("`{label}` is not a value of `{}`", name.name),
                            "not among the swept values",
                        )
                        .with_help(help),
                    );
                    return None;
                }
            }
        }
        if rule.is_empty() {
            self.err(Diagnostic::error(
                Code::BadDirective,
                dir.span,
                "`exclude` needs at least one `parameter: value`",
                "empty",
            ));
            return None;
        }
        Some(rule)
    }
}

fn slot_module(slots: &[Slot], id: DeclId) -> usize {
    slots[id].module
}

/// The label of a value written in an `exclude`, comparable with sweep labels.
/// A checked value as a condition's sibling sees it.
fn sibling_value(h: &HExpr) -> Option<registry::SiblingValue<'_>> {
    match h {
        HExpr::Enum(s) | HExpr::Str(s) => Some(registry::SiblingValue::Word(s)),
        HExpr::Int(v) => Some(registry::SiblingValue::Number(*v as f64)),
        HExpr::Float(v) => Some(registry::SiblingValue::Number(*v)),
        _ => None,
    }
}

fn ast_label(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Float(v) => format_float(*v),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Str(s) => s.clone(),
        ExprKind::Path(p) => p
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join("."),
        ExprKind::Call { callee, args } if args.is_empty() => callee.name.clone(),
        ExprKind::Call { callee, args } => {
            let parts: Vec<String> = args
                .iter()
                .map(|a| match &a.name {
                    Some(n) => format!("{}={}", n.name, ast_label(&a.value)),
                    None => ast_label(&a.value),
                })
                .collect();
            format!("{}({})", callee.name, parts.join(","))
        }
        ExprKind::Range(a, b) => format!("{}..{}", ast_label(a), ast_label(b)),
        _ => String::from("?"),
    }
}

fn op_name(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Call { callee, .. } => callee.name.clone(),
        _ => "op".into(),
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format_float(v)
    }
}

fn describe_bound(b: Bound) -> String {
    if b == Bound::PROB {
        "within [0, 1]".into()
    } else if b == Bound::POS {
        "positive".into()
    } else if b == Bound::NONNEG {
        "zero or more".into()
    } else if b == Bound::ONE_PLUS {
        "at least 1".into()
    } else {
        format!("in {}", b.describe())
    }
}

fn describe_expr(k: &ExprKind) -> &'static str {
    match k {
        ExprKind::Int(_) => "an integer",
        ExprKind::Float(_) => "a number with a fraction",
        ExprKind::Str(_) => "a string",
        ExprKind::Bool(_) => "a boolean",
        ExprKind::Range(..) => "a range",
        ExprKind::List(_) => "a list",
        ExprKind::Call { .. } => "a call",
        ExprKind::Path(_) => "a name",
        ExprKind::Sweep(_) => "a sweep",
        ExprKind::Prob { .. } => "an op with a probability",
        ExprKind::Concat(_) => "a policy concatenation",
    }
}

fn decl_category(k: DeclKind) -> Option<Category> {
    Some(match k {
        DeclKind::Dataset => Category::Dataset,
        DeclKind::Split => Category::Split,
        DeclKind::Backbone => Category::Backbone,
        DeclKind::Method => Category::Method,
        DeclKind::Optimizer => Category::Optimizer,
        DeclKind::Schedule => Category::Schedule,
        DeclKind::Pretrain => Category::Pretrain,
        DeclKind::Evaluate => Category::Eval,
        DeclKind::Report => Category::Report,
        DeclKind::Policy | DeclKind::Let => return None,
    })
}

fn decl_noun(k: DeclKind) -> String {
    match k {
        DeclKind::Policy => "a policy".into(),
        DeclKind::Let => "a value".into(),
        k => decl_category(k)
            .map_or("a declaration", Category::noun)
            .to_string(),
    }
}

fn ty_noun(ty: Ty) -> String {
    match ty {
        Ty::Kind(c) => c.noun().to_string(),
        Ty::Policy => "a policy".into(),
        Ty::Data => "data (a dataset or a split part)".into(),
        Ty::Encoder => "a pretraining run or a backbone".into(),
        Ty::Metric => "a metric".into(),
        Ty::Axis => "a swept parameter".into(),
        other => format!("a {}", other.describe()),
    }
}

fn shape_fits(shape: Shape, ty: Ty) -> bool {
    match ty {
        Ty::Int => shape == Shape::Int,
        Ty::Float => matches!(shape, Shape::Int | Shape::Float),
        Ty::Amount => matches!(shape, Shape::Int | Shape::Float),
        Ty::Bool => shape == Shape::Bool,
        Ty::Str => shape == Shape::Str,
        Ty::Range => shape == Shape::Range,
        Ty::List(_) => shape == Shape::List,
        Ty::Views => matches!(shape, Shape::List | Shape::Call(Category::View)),
        Ty::Enum(_) | Ty::Device => shape == Shape::Word || shape == Shape::Str,
        _ => false,
    }
}

fn example_of(c: Category) -> &'static str {
    match c {
        Category::Dataset => "synthetic_shapes",
        Category::Op => "grayscale",
        Category::View => "view",
        Category::Method => "simclr",
        Category::Backbone => "resnet18",
        Category::Optimizer => "sgd",
        Category::Schedule => "cosine",
        Category::Eval => "knn",
        Category::Report => "table",
        _ => "kind",
    }
}

#[cfg(test)]
mod relevance_tests {
    use crate::lang::diagnostic::render;
    use crate::lang::{Checked, Code, NoImports, check_source};

    pub(super) const BASE: &str = r#"
dataset shapes = synthetic_shapes(count: 64, classes: 4)
split parts {
  data = shapes
  train = 0.5
}
"#;

    /// Checks `rest` after a small dataset and split (shared with `trainable_tests`).
    pub(super) fn check(rest: &str) -> Checked {
        let text = format!("{BASE}{rest}");
        check_source("t.sslp", "t.sslp", &text, &mut NoImports)
    }

    fn ignored(rest: &str) -> Vec<String> {
        let c = check(rest);
        assert!(
            c.diagnostics.iter().all(|d| !d.is_error()),
            "{:#?}",
            c.diagnostics
        );
        c.diagnostics
            .iter()
            .filter(|d| d.code == Code::IgnoredParameter)
            .map(|d| d.message.clone())
            .collect()
    }

    fn rendered(rest: &str) -> String {
        let c = check(rest);
        render::graphical_all(&c.diagnostics, &c.sources, false)
    }

    const PROBE: &str = "backbone: tiny_convnet(), train: parts.train, test: parts.test";

    #[test]
    fn probe_epochs_under_lbfgs_are_ignored() {
        let found = ignored(&format!(
            "evaluate lin = linear_probe({PROBE}, epochs: 10, lr: 0.5)"
        ));
        assert_eq!(
            found,
            [
                "`epochs` has no effect: `solver` is lbfgs",
                "`lr` has no effect: `solver` is lbfgs"
            ]
        );
        // The solver that uses them: nothing to say.
        assert!(
            ignored(&format!(
                "evaluate lin = linear_probe({PROBE}, solver: sgd, epochs: 10)"
            ))
            .is_empty()
        );
        // Defaults are not "written": nothing to say.
        assert!(ignored(&format!("evaluate lin = linear_probe({PROBE})")).is_empty());
    }

    #[test]
    fn swept_parameters_and_swept_siblings() {
        // Every swept value is ignored.
        let found = ignored(&format!(
            "evaluate lin = linear_probe({PROBE}, epochs: sweep [10, 20])"
        ));
        assert_eq!(
            found,
            ["`epochs` has no effect: `solver` is lbfgs (its 2 swept values give the same result)"]
        );
        // A swept solver that uses it in some arms: not reported (the planner drops it
        // from the lbfgs arms' keys).
        assert!(
            ignored(&format!(
                "evaluate lin = linear_probe({PROBE}, solver: sweep [lbfgs, sgd], epochs: 10)"
            ))
            .is_empty()
        );
        // A swept solver that never uses it.
        let found = ignored(&format!(
            "evaluate lin = linear_probe({PROBE}, solver: sweep [lbfgs, lbfgs], batch: 64)"
        ));
        assert_eq!(
            found,
            ["`batch` has no effect: `solver` is lbfgs in every arm"]
        );
    }

    #[test]
    fn knn_temperature_needs_cosine() {
        let knn = "backbone: tiny_convnet(), train: parts.train, test: parts.test";
        assert_eq!(
            ignored(&format!(
                "evaluate nn = knn({knn}, distance: euclidean, temperature: 0.07)"
            )),
            ["`temperature` has no effect: `distance` is euclidean"]
        );
        assert!(ignored(&format!("evaluate nn = knn({knn}, temperature: 0.07)")).is_empty());
    }

    #[test]
    fn moco_version_specific_parameters() {
        assert_eq!(
            ignored("method m = moco(version: v3, queue: 4096, symmetric: true)"),
            [
                "`queue` has no effect: `version` is v3",
                "`symmetric` has no effect: `version` is v3"
            ]
        );
        assert_eq!(
            ignored("method m = moco(pred_hidden: 512)"),
            ["`pred_hidden` has no effect: `version` is v2"]
        );
        assert!(ignored("method m = moco(version: v3, pred_hidden: 512)").is_empty());
    }

    #[test]
    fn numeric_conditions() {
        assert_eq!(
            ignored("schedule s = cosine(warmup_epochs: 0, warmup_start_lr: 0.1)"),
            ["`warmup_start_lr` has no effect: `warmup_epochs` is 0"]
        );
        assert_eq!(
            ignored("method s = swav(queue_start_epoch: 3)"),
            ["`queue_start_epoch` has no effect: `queue` is 0"]
        );
        assert!(ignored("method s = swav(queue: 3840, queue_start_epoch: 3)").is_empty());
    }

    #[test]
    fn saliency_variant_needs_rc() {
        assert_eq!(
            ignored("policy p = [saliency_cut(method: hc, variant: cvpr2011)]"),
            ["`variant` has no effect: `method` is hc"]
        );
    }

    #[test]
    fn a_probability_on_normalize_is_ignored() {
        assert_eq!(
            ignored("policy p = [normalize() @ 0.5]"),
            ["`@ p` has no effect on `normalize`"]
        );
        assert!(ignored("policy p = [normalize(), grayscale() @ 0.5]").is_empty());
    }

    #[test]
    fn rendered_ignored_parameter() {
        insta::assert_snapshot!(
            "ignored_epochs_under_lbfgs",
            rendered(&format!(
                "evaluate lin = linear_probe({PROBE}, solver: lbfgs, epochs: sweep [10, 20])"
            ))
        );
        insta::assert_snapshot!(
            "ignored_default_sibling",
            rendered(&format!("evaluate lin = linear_probe({PROBE}, batch: 64)"))
        );
        insta::assert_snapshot!(
            "ignored_normalize_probability",
            rendered("policy p = [normalize() @ 0.5]")
        );
    }
}

#[cfg(test)]
mod trainable_tests {
    use crate::lang::Code;
    use crate::lang::diagnostic::render;

    use super::relevance_tests::{BASE, check};

    /// (code, line) of every error.
    fn errors(rest: &str) -> Vec<(Code, usize)> {
        let c = check(rest);
        c.diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| {
                let text = format!("{BASE}{rest}");
                let line = text[..d.primary.span.start as usize].lines().count();
                (d.code, line)
            })
            .collect()
    }

    const DATA: &str = "train: parts.train, test: parts.test";

    #[test]
    fn raw_pixels_is_a_baseline_for_frozen_features() {
        for eval in [
            format!("knn(backbone: raw_pixels(), {DATA})"),
            format!("linear_probe(backbone: raw_pixels(), {DATA})"),
            "kmeans(backbone: raw_pixels(), data: parts.test, clusters: 4)".to_string(),
            "tsne(backbone: raw_pixels(), data: parts.test)".to_string(),
            format!("knn(backbone: sweep [tiny_convnet(), raw_pixels()], {DATA})"),
        ] {
            assert_eq!(errors(&format!("evaluate e = {eval}\n")), [], "{eval}");
        }
    }

    #[test]
    fn raw_pixels_where_a_network_is_trained_is_an_error() {
        let pretrain = |backbone: &str| {
            format!(
                "pretrain ssl {{\n  data = parts.train\n  backbone = {backbone}\n  method = simclr()\n  policy = [horizontal_flip()]\n}}\n"
            )
        };
        let e = Code::UntrainableBackbone;
        // Line 7 is the first line after BASE.
        assert_eq!(errors(&pretrain("raw_pixels()")), [(e, 9)]);
        assert_eq!(
            errors(&pretrain("sweep [tiny_convnet(), raw_pixels()]")),
            [(e, 9)]
        );
        assert_eq!(
            errors(&format!("let b = raw_pixels()\n{}", pretrain("b"))),
            [(e, 10)]
        );
        assert_eq!(
            errors(&format!(
                "evaluate s = segmentation(backbone: raw_pixels(), {DATA})\n"
            )),
            [(e, 7)]
        );
        assert_eq!(
            errors(&format!(
                "evaluate f = finetune(backbone: raw_pixels(), {DATA})\n"
            )),
            [(e, 7)]
        );
        // G-SimCLR is a pretraining run like any other.
        let g = pretrain("raw_pixels()").replace("simclr()", "g_simclr()");
        assert_eq!(errors(&g), [(e, 9)]);
    }

    #[test]
    fn untrainable_backbone_snapshot() {
        let rest =
            format!("backbone px = raw_pixels()\nevaluate f = finetune(backbone: px, {DATA})\n");
        let c = check(&rest);
        insta::assert_snapshot!(render::graphical_all(&c.diagnostics, &c.sources, false));
    }
}
