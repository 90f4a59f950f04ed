//! Directives: `zip(...)` and `exclude(...)` in block declarations, resolved to sweeps.
//!
//! Emits `BadDirective`: a name that is no swept parameter reachable from the
//! declaration (or is ambiguous), a `zip` of fewer than two sweeps or of sweeps
//! of different lengths, an `exclude` argument that is not `name: value` or
//! whose value is not among the swept values, an empty `exclude`.

use super::Checker;
use crate::lang::ast::*;
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::lang::number::format_float;
use crate::lang::registry;
use std::collections::BTreeSet;

impl Checker<'_> {
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

    /// The sweep that `name` names in a directive of declaration `id`.
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

    /// Resolves every block declaration's `zip` and `exclude` to sweeps.
    pub(super) fn resolve_directives(&mut self) {
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

    /// The sweeps a `zip` pairs, of equal lengths.
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

    /// The (sweep, alternative) pairs an `exclude` leaves out together.
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

/// The label of a value written in an `exclude`, comparable with sweep labels.
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

#[cfg(test)]
mod tests {
    use super::super::testing::{BASE, checked, codes, spans};
    use crate::lang::Code;

    /// A pretraining run (lines 6 to 12) with `extra` lines before its end.
    fn pretrain(method: &str, extra: &str) -> String {
        format!(
            "{BASE}pretrain ssl {{\n  data = parts.train\n  backbone = tiny_convnet()\n  method = {method}\n  batch = sweep [32, 64]\n  policy = [horizontal_flip()]\n{extra}}}\n"
        )
    }

    #[test]
    fn zip_and_exclude_resolve_to_sweeps() {
        let text = pretrain(
            "sweep [simclr(), byol()]",
            "  epochs = sweep [1, 2]\n  zip(batch, epochs)\n  exclude(method: byol, batch: 32)\n",
        );
        let c = checked(&text);
        assert_eq!(c.diagnostics, []);
        let program = c.program.expect("no errors");
        let ssl = program.decls.iter().find(|d| d.name == "ssl").unwrap();
        assert_eq!((ssl.zips.len(), ssl.excludes.len()), (1, 1));
        // A nested sweep is named by its last part when that is unique.
        let text = pretrain(
            "simclr(temperature: sweep [0.1, 0.2])",
            "  zip(batch, temperature)\n",
        );
        assert_eq!(codes(&text), []);
    }

    #[test]
    fn names_that_are_no_sweep() {
        assert_eq!(
            spans(&pretrain("simclr()", "  zip(batch, lr)\n")),
            [(Code::BadDirective, "12:14".into(), "lr".into())]
        );
        let text = format!(
            "{BASE}let t1 = simclr(temperature: sweep [0.1, 0.2])\n{}",
            pretrain(
                "sweep [t1, simclr(temperature: sweep [0.3, 0.4])]",
                "  zip(batch, temperature)\n"
            )
            .trim_start_matches(BASE)
        );
        assert_eq!(
            spans(&text),
            [(Code::BadDirective, "13:14".into(), "temperature".into())]
        );
    }

    #[test]
    fn bad_zips() {
        let cases = [
            "  epochs = sweep [1, 2, 3]\n  zip(batch, epochs)\n",
            "  zip(batch)\n",
            "  zip(batch: 1, batch)\n",
        ];
        for extra in cases {
            assert_eq!(
                codes(&pretrain("simclr()", extra)),
                [Code::BadDirective],
                "{extra}"
            );
        }
    }

    #[test]
    fn bad_excludes() {
        assert_eq!(
            spans(&pretrain("simclr()", "  exclude(batch: 48)\n")),
            [(Code::BadDirective, "12:18".into(), "48".into())]
        );
        for extra in ["  exclude(32)\n", "  exclude()\n"] {
            assert_eq!(
                codes(&pretrain("simclr()", extra)),
                [Code::BadDirective],
                "{extra}"
            );
        }
    }
}
