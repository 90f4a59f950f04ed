//! Ranges: numbers within their parameter's bounds, and `lo..hi` ranges.
//!
//! Emits `OutOfRange` (a number, or a range end, outside its bound),
//! `BadRange` (a range whose low end is above its high end) and
//! `TypeMismatch` (a range end that is not a number).

use super::Checker;
use crate::lang::ast::*;
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::lang::number::format_float;
use crate::lang::registry::Bound;

impl Checker<'_> {
    /// `ok` when `v` is within `bound`; otherwise reports `e` as out of range.
    pub(super) fn in_bound(&mut self, e: &Expr, v: f64, bound: Bound, ok: HExpr) -> HExpr {
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

    /// The number `e` is, or a type mismatch.
    pub(super) fn number_of(&mut self, e: &Expr) -> Option<f64> {
        match e.kind {
            ExprKind::Int(v) => Some(v as f64),
            ExprKind::Float(v) => Some(v),
            _ => {
                self.mismatch(e, "a number", None);
                None
            }
        }
    }

    /// A range `lo..hi`, not empty and with ends within `bound`.
    pub(super) fn check_range(&mut self, e: &Expr, bound: Bound) -> HExpr {
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
}

/// A number as written in messages: integers without a fraction.
pub(super) fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format_float(v)
    }
}

/// A bound in words, for messages (`within [0, 1]`, `positive`).
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

#[cfg(test)]
mod tests {
    use super::super::testing::{checked, codes, spans};
    use crate::lang::Code;

    #[test]
    fn numbers_and_ranges_within_bounds() {
        assert_eq!(
            codes("policy p = [random_resized_crop(scale: 0.2..1.0) @ 0.5]\n"),
            []
        );
    }

    #[test]
    fn numbers_out_of_bounds() {
        let c = checked("method m = simclr(temperature: -1)\n");
        assert_eq!(c.diagnostics[0].code, Code::OutOfRange);
        assert_eq!(
            c.diagnostics[0].message,
            "`temperature` must be positive, but is -1"
        );
        assert_eq!(
            spans("policy p = [grayscale() @ 1.5]\n"),
            [(Code::OutOfRange, "1:27".into(), "1.5".into())]
        );
        assert_eq!(
            spans("policy p = [random_resized_crop(scale: 0.2..2.0)]\n"),
            [(Code::OutOfRange, "1:45".into(), "2.0".into())]
        );
    }

    #[test]
    fn an_empty_range() {
        assert_eq!(
            spans("policy p = [random_resized_crop(scale: 1.0..0.2)]\n"),
            [(Code::BadRange, "1:40".into(), "1.0..0.2".into())]
        );
    }
}
