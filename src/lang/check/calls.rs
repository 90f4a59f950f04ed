//! Calls: a callee resolved to a registry kind, its arguments matched to the kind's schema.
//!
//! Emits `UnknownKind` (no kind of that name), `WrongCategory` (a kind of
//! another category than expected here), `TooManyArguments` (a positional
//! argument past the last parameter or after named ones), `UnknownArgument`,
//! `DuplicateArgument` and `MissingArgument`. Defaults written in the
//! registry are checked here too, and never emit anything.

use super::Checker;
use crate::lang::ast::*;
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::lang::parser;
use crate::lang::registry::{self, Bound, Category, Default as Dflt, Kind, Ty};
use crate::lang::span::{FileId, Span};

impl Checker<'_> {
    pub(super) fn check_call(
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
    pub(super) fn check_args(
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

    /// Checks a default written in the registry, at the call's span.
    pub(super) fn default_value(&mut self, src: &'static str, ty: Ty, span: Span) -> HExpr {
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
}

#[cfg(test)]
mod tests {
    use super::super::testing::{BASE, codes, spans};
    use crate::lang::Code;

    #[test]
    fn calls_that_match_their_schema() {
        let text = format!(
            "{BASE}method m = simclr(temperature: 0.2)\nevaluate e = knn(backbone: tiny_convnet(), train: parts.train, test: parts.test)\n"
        );
        assert_eq!(codes(&text), []);
    }

    #[test]
    fn unknown_kinds_and_wrong_categories() {
        assert_eq!(
            spans("method m = simclrr()\n"),
            [(Code::UnknownKind, "1:12".into(), "simclrr".into())]
        );
        assert_eq!(
            spans("method m = sgd()\n"),
            [(Code::WrongCategory, "1:12".into(), "sgd".into())]
        );
    }

    #[test]
    fn too_many_arguments() {
        assert_eq!(
            codes("policy p = [horizontal_flip(1, 2)]\n"),
            [Code::TooManyArguments, Code::TooManyArguments]
        );
        assert_eq!(
            spans("method m = simclr(temperature: 0.2, 0.5)\n"),
            [(Code::TooManyArguments, "1:37".into(), "0.5".into())]
        );
    }

    #[test]
    fn unknown_duplicate_and_missing_arguments() {
        assert_eq!(
            spans("method m = simclr(temp: 0.2)\n"),
            [(Code::UnknownArgument, "1:19".into(), "temp".into())]
        );
        assert_eq!(
            spans("method m = simclr(temperature: 0.2, temperature: 0.3)\n"),
            [(
                Code::DuplicateArgument,
                "1:37".into(),
                "temperature: 0.3".into()
            )]
        );
        assert_eq!(
            spans("evaluate e = knn()\n"),
            [(Code::MissingArgument, "1:14".into(), "knn()".into())]
        );
    }
}
