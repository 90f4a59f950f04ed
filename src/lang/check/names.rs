//! Names: declarations and imports bound in each module's scope, and names looked up there.
//!
//! Emits `DuplicateName` (two declarations or imports bind one name),
//! `ImportUnknownName` (`use m::{x}` where `m` declares no `x`) and
//! `UndefinedName` (a name used but bound nowhere in the module).

use super::{Checker, Slot};
use crate::lang::ast::*;
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::lang::registry::{self, Ty};

impl Checker<'_> {
    /// Gives every declaration of every module its id, bound in its module.
    pub(super) fn collect_decls(&mut self) {
        for (m, module) in self.loaded.modules.iter().enumerate() {
            for item in &module.ast.items {
                if let Item::Decl(decl) = item {
                    let id = self.slots.len();
                    self.slots.push(Slot { decl, module: m });
                    self.hdecls.push(None);
                    self.bind(m, &decl.name, id);
                    self.own[m].entry(decl.name.name.clone()).or_insert(id);
                }
            }
        }
    }

    /// Binds `name` to declaration `id` in `module`, unless it is bound already.
    fn bind(&mut self, module: usize, name: &Ident, id: DeclId) {
        if let Some(&(_, bound)) = self.scopes[module].get(&name.name) {
            // Declarations are bound before imports: label by position in the text, so
            // "first declared" is the one a reader meets first.
            let (first, again) = if (bound.file, bound.start) <= (name.span.file, name.span.start) {
                (bound, name.span)
            } else {
                (name.span, bound)
            };
            self.err(
                Diagnostic::error(
                    Code::DuplicateName,
                    again,
                    format!("`{}` is declared twice", name.name),
                    "declared again here",
                )
                .with_label(first, "first declared here")
                .with_help("rename one of them"),
            );
            return;
        }
        self.scopes[module].insert(name.name.clone(), (id, name.span));
    }

    /// Binds every imported name to the declaration it names.
    pub(super) fn resolve_imports(&mut self) {
        for (m, module) in self.loaded.modules.iter().enumerate() {
            for (i, item) in module.ast.items.iter().enumerate() {
                let Item::Use(u) = item else { continue };
                let Some(&target) = module.imports.get(&i) else {
                    continue;
                };
                for imp in &u.imports {
                    match self.own[target].get(&imp.name.name).copied() {
                        Some(id) => self.bind(m, imp.local(), id),
                        None => {
                            let mut names: Vec<&str> =
                                self.own[target].keys().map(String::as_str).collect();
                            names.sort_unstable();
                            let module_name = self
                                .loaded
                                .sources
                                .get(self.loaded.modules[target].file)
                                .name
                                .clone();
                            let help = registry::suggest(&imp.name.name, names.iter().copied())
                                .map(|s| format!("did you mean `{s}`?"))
                                .unwrap_or_else(|| {
                                    format!("`{module_name}` declares: {}", names.join(", "))
                                });
                            self.err(
                                Diagnostic::error(
                                    Code::ImportUnknownName,
                                    imp.name.span,
                                    format!(
                                        "`{module_name}` has no declaration `{}`",
                                        imp.name.name
                                    ),
                                    "not declared there",
                                )
                                .with_help(help),
                            );
                        }
                    }
                }
            }
        }
    }

    /// The declaration `name` is bound to in the current module.
    pub(super) fn lookup(&self, name: &str) -> Option<DeclId> {
        self.scopes[self.module].get(name).map(|(id, _)| *id)
    }

    /// Reports `name` as not declared, with a hint where one fits.
    pub(super) fn undefined(&mut self, name: &Ident, ty: Ty) -> HExpr {
        let mut names: Vec<&str> = self.scopes[self.module]
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        let mut help = registry::suggest(&name.name, names.iter().copied())
            .map(|s| format!("did you mean `{s}`?"));
        if help.is_none()
            && let Some(k) = registry::kind_named(&name.name)
        {
            help = Some(format!(
                "`{0}` is {1}: call it, `{0}()`",
                k.name,
                k.category.noun()
            ));
        }
        if help.is_none() && matches!(ty, Ty::Policy) {
            help = Some("stdlib policies are imported with `use std::policies::NAME`".into());
        }
        self.err(
            Diagnostic::error(
                Code::UndefinedName,
                name.span,
                format!("`{}` is not declared", name.name),
                "not found in this file or its imports",
            )
            .with_help_opt(help),
        );
        HExpr::None
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check_files, codes, located, spans};
    use crate::lang::Code;

    #[test]
    fn declarations_and_imports_resolve() {
        let text = "use std::methods::{simclr_ref as reference}\nlet x = 1\nlet y = x\nmethod m = reference\n";
        assert_eq!(codes(text), []);
    }

    #[test]
    fn a_name_declared_twice() {
        assert_eq!(
            spans("let a = 1\nlet a = 2\n"),
            [(Code::DuplicateName, "2:5".into(), "a".into())]
        );
        // An import binds a name too: the later binding in the text is the duplicate,
        // though declarations are bound first.
        assert_eq!(
            spans("use std::methods::{simclr_ref}\nlet simclr_ref = 1\n"),
            [(Code::DuplicateName, "2:5".into(), "simclr_ref".into())]
        );
    }

    #[test]
    fn an_import_the_module_does_not_declare() {
        assert_eq!(
            spans("use std::methods::{simclr_rf}\n"),
            [(Code::ImportUnknownName, "1:20".into(), "simclr_rf".into())]
        );
        let checked = check_files("use \"lib.sslp\"::{b}\n", &[("lib.sslp", "let a = 1\n")]);
        assert_eq!(
            located(&checked),
            [(Code::ImportUnknownName, "1:18".into(), "b".into())]
        );
        assert_eq!(
            checked.diagnostics[0].message,
            "`lib.sslp` has no declaration `b`"
        );
    }

    #[test]
    fn a_name_declared_nowhere() {
        assert_eq!(
            spans("method m = simclr(temperature: t)\n"),
            [(Code::UndefinedName, "1:32".into(), "t".into())]
        );
    }
}
