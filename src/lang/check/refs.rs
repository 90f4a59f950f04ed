//! References: declared names used as values, `decl.member`, and the shape of `let`s.
//!
//! Emits `TypeMismatch` (a name of the wrong sort of declaration for the
//! expected type), `UnknownMember` (a member the declaration does not have,
//! or more than one `.member`) and, through [`super::names`], `UndefinedName`.

use super::Checker;
use crate::lang::ast::*;
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::lang::registry::{self, Category, Ty};

/// A shape inferred from the syntax of a `let`, to type-check its uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Shape {
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

impl Checker<'_> {
    /// A name used as a value (`name` or `name.member`) where `ty` is expected.
    pub(super) fn check_path(&mut self, e: &Expr, path: &[Ident], ty: Ty) -> HExpr {
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
            // A memory size or a duration named by a `let`: the string is checked where it is
            // written (the `let` alone is checked as any value).
            if matches!(ty, Ty::Memory | Ty::Duration)
                && let DeclBody::Expr(value) = &target_decl.body
                && let ExprKind::Str(s) = &value.kind
            {
                self.check_quantity(value, s, ty);
            }
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

    /// The metrics evaluation `id` reports.
    fn eval_metrics(&self, id: DeclId) -> &'static [&'static str] {
        match &self.slots[id].decl.body {
            DeclBody::Expr(Expr {
                kind: ExprKind::Call { callee, .. },
                ..
            }) => registry::kind_named(&callee.name).map_or(&[], |k| k.metrics()),
            _ => &[],
        }
    }

    /// `target.member` where `ty` is expected: a split part, a metric or a field.
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

    /// The parameters a declaration's kind has, its members as a sweep axis.
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

    /// Reports `member` as not a member of `decl`, with the `options` it has.
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

    /// The shape of declaration `id`'s value, as written.
    pub(super) fn let_shape(&self, id: DeclId, depth: usize) -> Shape {
        let DeclBody::Expr(e) = &self.slots[id].decl.body else {
            return Shape::Unknown;
        };
        self.expr_shape(e, self.slots[id].module, depth)
    }

    /// The shape of `e` as written in `module`, following names up to a depth.
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
}

/// The registry category a declaration keyword stands for.
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

/// What a declaration is, in words (`a split`, `a value`).
fn decl_noun(k: DeclKind) -> String {
    match k {
        DeclKind::Policy => "a policy".into(),
        DeclKind::Let => "a value".into(),
        k => decl_category(k)
            .map_or("a declaration", Category::noun)
            .to_string(),
    }
}

/// What a type expects, in words, for messages.
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

/// Whether a `let` of shape `shape` can stand where `ty` is expected.
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
        Ty::Memory | Ty::Duration => shape == Shape::Str,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{BASE, codes, spans};
    use crate::lang::Code;

    const KNN: &str =
        "evaluate e = knn(backbone: tiny_convnet(), train: parts.train, test: parts.test)\n";

    #[test]
    fn references_of_the_expected_sorts() {
        assert_eq!(
            codes(&format!("{BASE}{KNN}report r = table(metrics: e.top1)\n")),
            []
        );
    }

    #[test]
    fn a_reference_of_another_sort() {
        let text = format!("{BASE}{}", KNN.replace("tiny_convnet()", "shapes"));
        assert_eq!(
            spans(&text),
            [(Code::TypeMismatch, "6:28".into(), "shapes".into())]
        );
        let text = format!("{BASE}{}", KNN.replace("parts.train", "parts"));
        assert_eq!(codes(&text), [Code::TypeMismatch]);
        let text = format!("{BASE}{KNN}report r = table(metrics: e)\n");
        assert_eq!(codes(&text), [Code::TypeMismatch]);
    }

    #[test]
    fn unknown_members() {
        let text = format!("{BASE}{}", KNN.replace("parts.train", "parts.valid"));
        assert_eq!(
            spans(&text),
            [(Code::UnknownMember, "6:57".into(), "valid".into())]
        );
        let text = format!("{BASE}{}", KNN.replace("parts.train", "parts.train.x"));
        assert_eq!(codes(&text), [Code::UnknownMember]);
    }

    #[test]
    fn an_undefined_reference() {
        let text = format!("{BASE}{}", KNN.replace("tiny_convnet()", "net"));
        assert_eq!(
            spans(&text),
            [(Code::UndefinedName, "6:28".into(), "net".into())]
        );
    }
}
