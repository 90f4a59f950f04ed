//! Trainable backbones: a backbone with nothing to train where a network is trained.
//!
//! Emits `UntrainableBackbone` for `raw_pixels` (through names, `let`s and
//! sweeps) as the backbone of a pretraining run or of an evaluation that
//! trains the network (`segmentation`, `finetune`).

use super::Checker;
use crate::lang::ast::*;
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::lang::registry::{self, Category, Kind};
use crate::lang::span::Span;
use std::collections::BTreeSet;

impl Checker<'_> {
    /// A backbone with nothing to train (`raw_pixels`) may only stand where frozen features
    /// are read: a pretraining run's `backbone`, and the `backbone` of an evaluation that
    /// trains the network (`segmentation`, `finetune`), are errors, through names, `let`s and
    /// sweeps alike.
    pub(super) fn check_trainable(&mut self) {
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
}

#[cfg(test)]
mod tests {
    use super::super::testing::{BASE, codes, spans};
    use crate::lang::Code;

    const DATA: &str = "train: parts.train, test: parts.test";

    #[test]
    fn raw_pixels_on_frozen_features() {
        let text = format!("{BASE}evaluate e = knn(backbone: raw_pixels(), {DATA})\n");
        assert_eq!(codes(&text), []);
    }

    #[test]
    fn raw_pixels_where_a_network_trains() {
        let text = format!("{BASE}evaluate e = finetune(backbone: raw_pixels(), {DATA})\n");
        assert_eq!(
            spans(&text),
            [(
                Code::UntrainableBackbone,
                "6:33".into(),
                "raw_pixels()".into()
            )]
        );
    }
}
