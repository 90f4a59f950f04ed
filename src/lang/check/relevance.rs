//! Relevance: written parameters that have no effect given a sibling's value.
//!
//! Emits the warning `IgnoredParameter` for a parameter whose registry
//! `applies_when` condition holds for no value its sibling can take.

use super::Checker;
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::lang::registry::{self, Kind};
use crate::lang::span::Span;

impl Checker<'_> {
    /// Warns about written parameters that have no effect given their siblings
    /// (the registry's `applies_when`). A parameter is reported only when no value
    /// its sibling can take (every alternative of a swept sibling) gives it an
    /// effect; where a sweep makes it matter in some arms, the planner leaves it
    /// out of the other arms' keys and nothing is reported.
    pub(super) fn check_relevance(
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
}

/// A checked value as a condition's sibling sees it.
fn sibling_value(h: &HExpr) -> Option<registry::SiblingValue<'_>> {
    match h {
        HExpr::Enum(s) | HExpr::Str(s) => Some(registry::SiblingValue::Word(s)),
        HExpr::Int(v) => Some(registry::SiblingValue::Number(*v as f64)),
        HExpr::Float(v) => Some(registry::SiblingValue::Number(*v)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{checked, spans};
    use crate::lang::Code;

    #[test]
    fn a_parameter_its_sibling_makes_matter() {
        let c = checked("schedule s = cosine(warmup_epochs: 2, warmup_start_lr: 0.1)\n");
        assert_eq!(c.diagnostics, []);
    }

    #[test]
    fn a_parameter_its_sibling_makes_irrelevant() {
        let text = "schedule s = cosine(warmup_epochs: 0, warmup_start_lr: 0.1)\n";
        assert_eq!(
            spans(text),
            [(Code::IgnoredParameter, "1:56".into(), "0.1".into())]
        );
        // A warning: the program is still checked.
        assert!(checked(text).program.is_some());
    }
}
