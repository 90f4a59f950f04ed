//! Top-level items: `set` settings and the form of each declaration.
//!
//! Emits `UnknownSetting` (an unknown `set` name, or a `set` in an imported
//! module) and `TypeMismatch` (a declaration written in the wrong form: a
//! block where `= value` is expected, or the other way round, or a step
//! declaration that is not a call). A sweep in a setting is a `BadSweep`
//! (reported by [`super::sweeps`]).

use super::{Checker, Slot};
use crate::lang::ast::*;
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::lang::registry::{self, Bound, Category, Ty};
use crate::lang::span::Span;

impl Checker<'_> {
    /// Checks every `set` (only the root file may have them), defaults filled in: the
    /// settings as a call of the settings schema, read by [`Self::settings_of`] once the
    /// declarations are checked.
    pub(super) fn check_settings(&mut self) -> HCall {
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
        call
    }

    /// The settings of the checked `set` call, each value that names a `let` replaced by
    /// the `let`'s value (which must not be swept: a setting has one value).
    pub(super) fn settings_of(&mut self, call: &HCall) -> Settings {
        let mut get = |name: &str| -> HExpr {
            let Some((i, _)) = call.kind.param(name) else {
                return HExpr::None;
            };
            let value = self.follow_lets(&call.args[i]).clone();
            if let Some(span) = call.arg_spans[i]
                && self.has_sweep(&value, 0)
            {
                self.err(
                    Diagnostic::error(
                        Code::BadSweep,
                        span,
                        format!("`{name}` names a swept value"),
                        "swept through a `let`",
                    )
                    .with_help("settings have one value; sweep inside a declaration instead"),
                );
            }
            value
        };
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
            executor: get("executor"),
        }
    }

    /// `h`, or the value of the `let` it names (of the `let` that one names, and so on).
    pub(super) fn follow_lets<'h>(&'h self, mut h: &'h HExpr) -> &'h HExpr {
        // Bounded: a cycle of `let`s is reported by `cycles`.
        for _ in 0..64 {
            match h {
                HExpr::Ref(d) => match self.hdecls.get(*d).and_then(Option::as_ref) {
                    Some(decl) if decl.kind == DeclKind::Let => h = &decl.value,
                    _ => return h,
                },
                _ => return h,
            }
        }
        h
    }

    /// Whether `h` holds a sweep, directly or in a `let` it names.
    pub(super) fn has_sweep(&self, h: &HExpr, depth: usize) -> bool {
        if depth > 64 {
            return false;
        }
        match h {
            HExpr::Sweep(_) => true,
            HExpr::Ref(_) => match self.follow_lets(h) {
                HExpr::Ref(_) => false,
                value => self.has_sweep(value, depth + 1),
            },
            HExpr::List(xs) | HExpr::Policy(xs) => xs.iter().any(|x| self.has_sweep(x, depth + 1)),
            HExpr::Call(c) => c.args.iter().any(|x| self.has_sweep(x, depth + 1)),
            HExpr::Prob(a, b) => self.has_sweep(a, depth + 1) || self.has_sweep(b, depth + 1),
            _ => false,
        }
    }

    /// Checks declaration `id` and stores it, with the declarations it refers to.
    pub(super) fn check_decl(&mut self, id: DeclId) {
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
}

/// The module declaration `id` is written in.
fn slot_module(slots: &[Slot], id: DeclId) -> usize {
    slots[id].module
}

#[cfg(test)]
mod tests {
    use super::super::testing::{BASE, check_files, checked, codes, located, spans};
    use crate::lang::Code;

    #[test]
    fn settings_and_declarations_in_their_forms() {
        let c = checked(&format!(
            "set seed = 3\nset device = \"cuda:1\"\nset precision = f32\n{BASE}"
        ));
        assert_eq!(c.diagnostics, []);
        let settings = c.program.expect("no errors").settings;
        assert_eq!((settings.seed, settings.device.as_str()), (3, "cuda:1"));
    }

    #[test]
    fn unknown_settings() {
        assert_eq!(
            spans("set seeds = 3\n"),
            [(Code::UnknownSetting, "1:5".into(), "seeds".into())]
        );
        // `set` belongs to the file that is run, not to a module it imports.
        let c = check_files(
            "use \"lib.sslp\"::{a}\n",
            &[("lib.sslp", "set seed = 1\nlet a = 1\n")],
        );
        assert_eq!(
            located(&c),
            [(Code::UnknownSetting, "1:1".into(), "set seed = 1".into())]
        );
    }

    #[test]
    fn a_setting_has_one_value() {
        assert_eq!(
            spans("set seed = sweep [1, 2]\n"),
            [(Code::BadSweep, "1:12".into(), "sweep [1, 2]".into())]
        );
    }

    #[test]
    fn declarations_in_the_wrong_form() {
        assert_eq!(
            spans("split s = 1\n"),
            [(Code::TypeMismatch, "1:11".into(), "1".into())]
        );
        assert_eq!(
            spans("method m {\n  temperature = 0.1\n}\n"),
            [(
                Code::TypeMismatch,
                "1:10".into(),
                "{\n  temperature = 0.1\n}".into()
            )]
        );
        assert_eq!(codes("dataset d = 5\n"), [Code::TypeMismatch]);
    }
}
