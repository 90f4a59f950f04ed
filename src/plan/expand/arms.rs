//! Arms: which sweeps a declaration reaches, and the combinations of their values it runs.
//!
//! The arms of a declaration are the cross product of the sweeps reachable
//! from it, with `zip`ped sweeps advancing together (one group, found by
//! union-find) and `exclude`d combinations dropped, enumerated by an odometer
//! over the groups. Each combination is lowered; two that agree on every sweep
//! the lowering actually read are one arm. This module also names arms
//! (`lin[method=byol]`) and the sites of steps (`lin[method=byol]/knn`), since
//! both are spelled from the same sweeps. It decides nothing about what a step
//! holds: that is [`super::lowering`] and the modules it calls.

use super::{ArmOut, Ctx, Planner};
use crate::lang::ast::DeclKind;
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::plan::SiteBase;
use crate::plan::value::Value;
use rustc_hash::FxHashMap as HashMap;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

/// Arms per declaration beyond which planning stops with a diagnostic.
const MAX_ARMS: usize = 1_000_000;

impl Planner<'_> {
    /// Sweeps reachable from a declaration, in the order a reader meets them.
    /// Shared: this is asked once per arm and per declaration the arm reads.
    pub(super) fn reachable(&mut self, id: DeclId) -> Rc<[SweepId]> {
        if let Some(r) = self.reach.get(&id) {
            return r.clone();
        }
        let mut out = vec![];
        let mut seen_decls = BTreeSet::new();
        self.collect_sweeps(&self.prog.decls[id].value, &mut out, &mut seen_decls, id);
        let out: Rc<[SweepId]> = out.into();
        self.reach.insert(id, out.clone());
        out
    }

    fn collect_sweeps(
        &self,
        h: &HExpr,
        out: &mut Vec<SweepId>,
        seen: &mut BTreeSet<DeclId>,
        owner: DeclId,
    ) {
        seen.insert(owner);
        match h {
            HExpr::Sweep(s) => {
                if !out.contains(s) {
                    out.push(*s);
                }
                for a in &self.prog.sweeps[*s].alts {
                    self.collect_sweeps(a, out, seen, owner);
                }
            }
            // A metric (`lin.top1`) or an axis (`ssl.method`) names results to collect,
            // not a dependency whose sweeps multiply the arms; a split part does depend.
            HExpr::Member(d, _) if self.prog.decls[*d].kind != DeclKind::Split => {}
            HExpr::Ref(d) | HExpr::Member(d, _) if seen.insert(*d) => {
                self.collect_sweeps(&self.prog.decls[*d].value, out, seen, *d);
            }
            HExpr::Call(c) => c
                .args
                .iter()
                .for_each(|a| self.collect_sweeps(a, out, seen, owner)),
            HExpr::List(xs) | HExpr::Policy(xs) => xs
                .iter()
                .for_each(|a| self.collect_sweeps(a, out, seen, owner)),
            HExpr::Prob(a, b) => {
                self.collect_sweeps(a, out, seen, owner);
                self.collect_sweeps(b, out, seen, owner);
            }
            _ => {}
        }
    }

    /// Declarations reachable from `id` (itself included).
    fn reachable_decls(&self, id: DeclId) -> BTreeSet<DeclId> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![id];
        while let Some(d) = stack.pop() {
            if seen.insert(d) {
                stack.extend(self.prog.decls[d].refs.iter().copied());
            }
        }
        seen
    }

    pub(super) fn arms_of(&mut self, id: DeclId) -> Option<Rc<Vec<ArmOut>>> {
        if let Some(a) = self.arms_memo.get(&id) {
            return a.clone();
        }
        let result = self.enumerate(id).map(Rc::new);
        self.arms_memo.insert(id, result.clone());
        result
    }

    pub(super) fn enumerate(&mut self, id: DeclId) -> Option<Vec<ArmOut>> {
        let prog = self.prog;
        let decl = &prog.decls[id];
        let axes = self.reachable(id);
        let decls = self.reachable_decls(id);
        // Zip groups via union-find over axis positions.
        let mut parent: Vec<usize> = (0..axes.len()).collect();
        fn find(p: &mut [usize], x: usize) -> usize {
            let mut r = x;
            while p[r] != r {
                r = p[r];
            }
            p[x] = r;
            r
        }
        let pos = |s: SweepId| axes.iter().position(|&a| a == s);
        let mut excludes = vec![];
        for &d in &decls {
            for zip in &prog.decls[d].zips {
                let members: Vec<usize> = zip.iter().filter_map(|&s| pos(s)).collect();
                for w in members.windows(2) {
                    let (a, b) = (find(&mut parent, w[0]), find(&mut parent, w[1]));
                    parent[b] = a;
                }
            }
            excludes.extend(prog.decls[d].excludes.iter().cloned());
        }
        let mut groups: Vec<Vec<SweepId>> = vec![];
        let mut group_of_root: HashMap<usize, usize> = HashMap::default();
        let mut group_of_axis = Vec::with_capacity(axes.len());
        for (i, &axis) in axes.iter().enumerate() {
            let r = find(&mut parent, i);
            let g = *group_of_root.entry(r).or_insert_with(|| {
                groups.push(vec![]);
                groups.len() - 1
            });
            groups[g].push(axis);
            group_of_axis.push(g);
        }
        let lens: Vec<usize> = groups
            .iter()
            .map(|g| prog.sweeps[g[0]].alts.len())
            .collect();
        let total: f64 = lens.iter().map(|&l| l as f64).product();
        if total > MAX_ARMS as f64 {
            self.report(
                Diagnostic::error(
                    Code::PlanEmpty,
                    decl.name_span,
                    format!(
                        "`{}` expands to {total} arms; the limit is {MAX_ARMS}",
                        decl.name
                    ),
                    "too many arms",
                )
                .with_help("zip related sweeps or exclude combinations"),
                "too_many",
            );
            return None;
        }
        let names = axis_names(prog, &axes);
        let mut seen_arms: BTreeSet<Vec<(usize, usize)>> = BTreeSet::new();
        let mut out = Vec::with_capacity(total as usize);
        let mut any_excluded = false;
        let mut idx = vec![0usize; groups.len()];
        let mut assign: HashMap<SweepId, usize> = HashMap::default();
        loop {
            assign.clear();
            for (g, &i) in groups.iter().zip(&idx) {
                for &s in g {
                    assign.insert(s, i);
                }
            }
            let excluded = excludes
                .iter()
                .any(|rule| rule.iter().all(|(s, i)| assign.get(s) == Some(i)));
            any_excluded |= excluded;
            if !excluded {
                let ctx = Ctx {
                    assign: &assign,
                    used: RefCell::new(BTreeSet::new()),
                };
                // Each assignment is met once here. An evaluation's output is not memoised:
                // nothing but a report (which reads the arms) names it, and a later reference
                // would lower it again to the same key. Pretraining runs are named by the
                // evaluations of them, so theirs is.
                let memoise = decl.kind != DeclKind::Evaluate;
                let output = self.step_decl_with(id, &ctx, memoise);
                let used = ctx.used.into_inner();
                let used_groups: Vec<(usize, usize)> = groups
                    .iter()
                    .enumerate()
                    .filter(|(_, g)| g.iter().any(|s| used.contains(s)))
                    .map(|(gi, _)| (gi, idx[gi]))
                    .collect();
                // `None`: `step_decl` has reported why this arm could not be lowered.
                // An assignment that reads every group is met once by the odometer: it needs
                // no entry in `seen_arms` (and a sweep of 10,000 arms spares 10,000 of them).
                if let Some(Value::Step(key, _)) = output
                    && (used_groups.len() == groups.len() || seen_arms.insert(used_groups.clone()))
                {
                    // Axis order: as met in the declaration.
                    let arm_axes: Vec<(String, String)> = axes
                        .iter()
                        .zip(&group_of_axis)
                        .filter(|&(_, &g)| used_groups.iter().any(|&(gi, _)| gi == g))
                        .map(|(&s, &g)| (names[&s].clone(), prog.sweeps[s].labels[idx[g]].clone()))
                        .collect();
                    let name = arm_name(&decl.name, &arm_axes);
                    out.push(ArmOut {
                        name,
                        decl: decl.name.clone(),
                        axes: arm_axes,
                        output: key,
                    });
                }
            }
            // Odometer over groups.
            let mut g = groups.len();
            loop {
                if g == 0 {
                    if out.is_empty() && !self.diags.iter().any(Diagnostic::is_error) {
                        // Every combination lowered or was excluded, and none lowered.
                        debug_assert!(any_excluded);
                        self.report(
                            Diagnostic::error(
                                Code::PlanEmpty,
                                decl.name_span,
                                format!(
                                    "`{}` has no arms left: every combination is excluded",
                                    decl.name
                                ),
                                "no arms",
                            )
                            .with_help("remove an `exclude`"),
                            "empty",
                        );
                    }
                    return Some(out);
                }
                g -= 1;
                idx[g] += 1;
                if idx[g] < lens[g] {
                    break;
                }
                idx[g] = 0;
            }
        }
    }

    /// `decl[name=label,...]` for the sweeps read, sorted by `name=label`, written without
    /// an intermediate string per axis (this runs once per arm).
    pub(super) fn site(
        &self,
        decl: &str,
        used: &BTreeSet<SweepId>,
        assign: &HashMap<SweepId, usize>,
    ) -> SiteBase {
        let sweeps = &self.prog.sweeps;
        let name_of = |s: SweepId| -> (&str, &str) {
            let plain = sweeps[s].name.as_str();
            let shared = used
                .iter()
                .any(|&o| o != s && sweeps[o].name == sweeps[s].name);
            if shared {
                (self.prog.decls[sweeps[s].decl].name.as_str(), plain)
            } else {
                ("", plain)
            }
        };
        // Each `qualifier.name=label` written once into one buffer, then sorted as text.
        let mut texts = String::with_capacity(24 * used.len());
        let mut parts: Vec<(usize, usize)> = Vec::with_capacity(used.len());
        for &s in used {
            let start = texts.len();
            let (q, name) = name_of(s);
            if !q.is_empty() {
                texts.push_str(q);
                texts.push('.');
            }
            texts.push_str(name);
            texts.push('=');
            let i = assign.get(&s).copied().unwrap_or(0);
            texts.push_str(&sweeps[s].labels[i]);
            parts.push((start, texts.len()));
        }
        parts.sort_by(|a, b| texts[a.0..a.1].cmp(&texts[b.0..b.1]));
        let mut out = String::with_capacity(decl.len() + 2 + texts.len() + parts.len());
        out.push_str(decl);
        out.push('[');
        for (n, &(start, end)) in parts.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(&texts[start..end]);
        }
        out.push(']');
        SiteBase::new(out)
    }
}

/// Display names of sweeps: their own name, qualified by declaration when two share one.
fn axis_names(prog: &Program, axes: &[SweepId]) -> HashMap<SweepId, String> {
    let mut count: HashMap<&str, usize> = HashMap::default();
    for &s in axes {
        *count.entry(prog.sweeps[s].name.as_str()).or_insert(0) += 1;
    }
    axes.iter()
        .map(|&s| {
            let sw = &prog.sweeps[s];
            let name = if count[sw.name.as_str()] > 1 {
                format!("{}.{}", prog.decls[sw.decl].name, sw.name)
            } else {
                sw.name.clone()
            };
            (s, name)
        })
        .collect()
}

fn arm_name(decl: &str, axes: &[(String, String)]) -> String {
    if axes.is_empty() {
        return decl.to_string();
    }
    let mut out = String::with_capacity(decl.len() + 2 + 24 * axes.len());
    out.push_str(decl);
    for (i, (n, v)) in axes.iter().enumerate() {
        out.push(if i == 0 { '[' } else { ',' });
        out.push_str(n);
        out.push('=');
        out.push_str(v);
    }
    out.push(']');
    out
}
