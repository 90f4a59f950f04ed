//! Policies: augmentation policies, lists of ops with probabilities.
//!
//! Emits `TypeMismatch` (something that is not a policy, or `@ p` applied to
//! a whole policy) and the warning `IgnoredParameter` (`@ p` on a
//! model-input op such as `normalize`, which always applies).

use super::Checker;
use super::refs::Shape;
use crate::lang::ast::*;
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::lang::registry::{self, Bound, Category, Ty};

impl Checker<'_> {
    /// A policy: its items, each an op with a probability.
    pub(super) fn check_policy(&mut self, e: &Expr) -> HExpr {
        let mut items = vec![];
        self.policy_into(e, &mut items);
        HExpr::Policy(items)
    }

    /// Appends the items of policy `e` (a list, a concatenation, a name, a sweep).
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

    /// Appends one item of a policy list: `op @ p`, `op`, or a nested policy.
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
}

/// The name of a called op, for messages about its `@ p`.
fn op_name(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Call { callee, .. } => callee.name.clone(),
        _ => "op".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{codes, spans};
    use crate::lang::Code;

    #[test]
    fn policies_of_ops_names_and_concatenations() {
        let text = "let jitter = color_jitter()\npolicy p = [grayscale() @ 0.2, horizontal_flip(), jitter @ 0.5]\npolicy q = p ++ [grayscale()]\n";
        assert_eq!(codes(text), []);
    }

    #[test]
    fn what_is_not_a_policy() {
        assert_eq!(codes("policy p = 5\n"), [Code::TypeMismatch]);
        // A probability applies to one op.
        assert_eq!(
            spans("policy q = [grayscale()]\npolicy p = [q @ 0.5]\n"),
            [(Code::TypeMismatch, "2:13".into(), "q".into())]
        );
    }

    #[test]
    fn a_probability_on_a_model_input_op() {
        assert_eq!(
            spans("policy p = [normalize() @ 0.5]\n"),
            [(Code::IgnoredParameter, "1:27".into(), "0.5".into())]
        );
    }
}
