//! Sweeps: `sweep [a, b]` and `sweep lo..hi step s`, numbered and labelled.
//!
//! Emits `BadSweep` (a sweep in a setting, an empty list, a step <= 0, more
//! than 100000 values), `BadRange` (an empty range sweep) and `TypeMismatch`
//! (a range sweep where numbers do not fit). Each alternative is checked as a
//! value, so a swept number out of its bound is an `OutOfRange`.

use super::Checker;
use super::ranges::fmt_num;
use crate::lang::ast::*;
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::lang::number::format_float;
use crate::lang::registry::{Bound, Ty};

impl Checker<'_> {
    /// A sweep of values of type `ty`, numbered and labelled (not in settings).
    pub(super) fn check_sweep(&mut self, e: &Expr, s: &Sweep, ty: Ty, bound: Bound) -> HExpr {
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

    /// The name of a sweep written at the current path: its axis in reports.
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
    pub(super) fn labels(&self, alts: &[HExpr]) -> Vec<String> {
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
    pub(super) fn label(&self, h: &HExpr, long: bool) -> String {
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
}

#[cfg(test)]
mod tests {
    use super::super::testing::{BASE, checked, codes, spans};
    use crate::lang::Code;

    #[test]
    fn sweeps_are_numbered_named_and_labelled() {
        let c = checked(
            "method m = simclr(temperature: sweep [0.1, 0.2])\nlet lr = sweep 0.1..0.3 step 0.1\n",
        );
        assert_eq!(c.diagnostics, []);
        let sweeps = c.program.expect("no errors").sweeps;
        let named: Vec<(&str, Vec<&str>)> = sweeps
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.labels.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            named,
            [
                ("m.temperature", vec!["0.1", "0.2"]),
                ("lr", vec!["0.1", "0.2", "0.3"])
            ]
        );
    }

    #[test]
    fn bad_sweeps() {
        assert_eq!(
            spans("method m = simclr(temperature: sweep [])\n"),
            [(Code::BadSweep, "1:32".into(), "sweep []".into())]
        );
        assert_eq!(codes("let lr = sweep 1..5 step 0\n"), [Code::BadSweep]);
        assert_eq!(codes("let lr = sweep 0..200000\n"), [Code::BadSweep]);
    }

    #[test]
    fn an_empty_range_sweep() {
        assert_eq!(
            spans("let lr = sweep 5..1\n"),
            [(Code::BadRange, "1:10".into(), "sweep 5..1".into())]
        );
    }

    #[test]
    fn range_sweeps_make_numbers() {
        assert_eq!(
            codes("dataset d = synthetic_shapes(count: sweep 1.0..2.0)\n"),
            [Code::TypeMismatch]
        );
        let text = format!(
            "{BASE}evaluate e = knn(backbone: tiny_convnet(), train: parts.train, test: parts.test, distance: sweep 1..2)\n"
        );
        assert_eq!(codes(&text), [Code::TypeMismatch]);
        // Each swept value out of bounds is reported.
        assert_eq!(
            codes("method m = simclr(temperature: sweep -1..1)\n"),
            [Code::OutOfRange, Code::OutOfRange]
        );
    }
}
