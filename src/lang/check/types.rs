//! Types: a written value checked against the type its parameter expects.
//!
//! Emits `TypeMismatch` (wrong kind of value, an unknown enum word, a bad
//! device) and `OutOfRange` (a size that is neither a count >= 1 nor a
//! fraction in (0, 1]). Numbers and ranges are bounded in [`super::ranges`].

use super::Checker;
use crate::lang::ast::*;
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::lang::registry::{self, Bound, Category, Ty};

impl Checker<'_> {
    /// Checks `e` as a value of type `ty` within `bound`.
    pub(super) fn check_value(&mut self, e: &Expr, ty: Ty, bound: Bound) -> HExpr {
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
            Ty::Memory | Ty::Duration => match &e.kind {
                ExprKind::Str(s) => {
                    self.check_quantity(e, s, ty);
                    HExpr::Str(s.clone())
                }
                ExprKind::Int(v) => self.mismatch(
                    e,
                    &format!("a {}", ty.describe()),
                    Some(if ty == Ty::Memory {
                        format!("write it as a string with its unit, such as `\"{v}G\"` (a bare `\"{v}\"` is megabytes)")
                    } else {
                        format!("write it as a string with its unit, such as `\"{v}h\"` (a bare `\"{v}\"` is minutes)")
                    }),
                ),
                _ => self.mismatch(e, &format!("a {}", ty.describe()), None),
            },
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

    /// Checks `e` where any value fits, by what it is written as.
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
    pub(super) fn param_suffix(&self) -> String {
        self.path
            .last()
            .map(|p| format!(" for `{p}`"))
            .unwrap_or_default()
    }

    /// Reports that `e` is not `expected` (for the current parameter).
    pub(super) fn mismatch(&mut self, e: &Expr, expected: &str, help: Option<String>) -> HExpr {
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

    /// One of `options`, written as a word or a string.
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

    /// Reports a memory size or a duration string that does not read, at `e` (once per place).
    pub(super) fn check_quantity(&mut self, e: &Expr, s: &str, ty: Ty) {
        use crate::lang::quantity::{parse_duration, parse_memory};
        let result = match ty {
            Ty::Memory => parse_memory(s).map(drop),
            _ => parse_duration(s).map(drop),
        };
        let Err(why) = result else { return };
        let code = if why.zero {
            Code::OutOfRange
        } else {
            Code::TypeMismatch
        };
        if self
            .diags
            .iter()
            .any(|d| d.code == code && d.primary.span == e.span)
        {
            return;
        }
        let (label, noun) = if ty == Ty::Memory {
            ("expected a memory size", "a memory size")
        } else {
            ("expected a duration", "a duration")
        };
        let message = if why.zero {
            match self.path.last() {
                Some(p) => format!("`{p}` must be more than 0"),
                None => format!("{noun} must be more than 0"),
            }
        } else {
            let detail = why.detail.map(|d| format!(": {d}")).unwrap_or_default();
            format!("{}{}{detail}", why.message, self.param_suffix())
        };
        let label = if why.zero { "0" } else { label };
        self.err(Diagnostic::error(code, e.span, message, label).with_help(why.help));
    }

    /// A device: `cpu`, `cuda` or `"cuda:N"`.
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
}

/// What an expression is, in words, for messages.
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

/// A kind of category `c`, for examples in help.
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
mod tests {
    use super::super::testing::{BASE, codes, spans};
    use crate::lang::Code;

    #[test]
    fn values_of_their_types() {
        let text = format!(
            "{BASE}set precision = f32\nset device = cuda\nmethod m = simclr(temperature: 0.2)\nevaluate e = knn(backbone: tiny_convnet(), train: parts.train, test: parts.test, distance: euclidean)\n"
        );
        assert_eq!(codes(&text), []);
    }

    #[test]
    fn values_of_other_types() {
        assert_eq!(
            spans("method m = simclr(temperature: \"hot\")\n"),
            [(Code::TypeMismatch, "1:32".into(), "\"hot\"".into())]
        );
        for text in [
            "dataset d = synthetic_shapes(count: 6.5)\n",
            "set precision = f33\n",
            "set device = tpu\n",
            "method m = 5\n",
            "policy p = [random_resized_crop(scale: 5)]\n",
        ] {
            assert_eq!(codes(text), [Code::TypeMismatch], "{text}");
        }
    }

    #[test]
    fn a_size_is_a_count_or_a_fraction() {
        let text =
            "dataset d = synthetic_shapes(count: 8)\nsplit s {\n  data = d\n  train = 0\n}\n";
        assert_eq!(spans(text), [(Code::OutOfRange, "4:11".into(), "0".into())]);
    }
}
