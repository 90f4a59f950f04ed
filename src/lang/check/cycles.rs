//! Cycles: declarations that refer to themselves, directly or through others.
//!
//! Emits `Cycle` once per strongly connected group of declarations, at its
//! first declaration, and drops the group's references so that directives
//! do not follow them.

use super::Checker;
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;

impl Checker<'_> {
    pub(super) fn find_cycles(&mut self) {
        use petgraph::graph::DiGraph;
        let mut g = DiGraph::<DeclId, ()>::new();
        let nodes: Vec<_> = (0..self.slots.len()).map(|i| g.add_node(i)).collect();
        for (i, d) in self.hdecls.iter().enumerate() {
            if let Some(d) = d {
                for &r in &d.refs {
                    g.add_edge(nodes[i], nodes[r], ());
                }
            }
        }
        for scc in petgraph::algo::tarjan_scc(&g) {
            let self_loop = scc.len() == 1 && g.contains_edge(scc[0], scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let mut members: Vec<DeclId> = scc.iter().map(|n| g[*n]).collect();
            members.sort_by_key(|&m| (self.slots[m].decl.span.file, self.slots[m].decl.span.start));
            let first = self.slots[members[0]].decl;
            let names: Vec<String> = members
                .iter()
                .map(|&m| format!("`{}`", self.slots[m].decl.name.name))
                .collect();
            let message = if self_loop {
                format!("`{}` refers to itself", first.name.name)
            } else {
                format!(
                    "declarations refer to each other in a cycle: {}",
                    names.join(" -> ")
                )
            };
            let mut d = Diagnostic::error(Code::Cycle, first.name.span, message, "part of a cycle")
                .with_help("a declaration cannot depend on itself; break the cycle");
            for &m in &members[1..] {
                d = d.with_label(self.slots[m].decl.name.span, "part of the cycle");
            }
            self.err(d);
            // Leave cyclic declarations out of directive resolution.
            for &m in &members {
                if let Some(h) = &mut self.hdecls[m] {
                    h.refs.clear();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{checked, codes, spans};
    use crate::lang::Code;

    #[test]
    fn references_without_a_cycle() {
        assert_eq!(codes("let a = 1\nlet b = a\n"), []);
    }

    #[test]
    fn declarations_in_a_cycle() {
        assert_eq!(
            spans("let a = b\nlet b = a\n"),
            [(Code::Cycle, "1:5".into(), "a".into())]
        );
        let c = checked("let a = [a]\n");
        assert_eq!(c.diagnostics[0].code, Code::Cycle);
        assert_eq!(c.diagnostics[0].message, "`a` refers to itself");
    }
}
