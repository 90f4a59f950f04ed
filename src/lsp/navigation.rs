//! Names and where they are declared: go to definition (through `use` into imported files
//! and the stdlib's read-only copies), and rename of a local import alias (references and
//! the rename of declarations cross files: see `workspace`).

use super::diagnostics::span_location;
use super::document::{Document, stdlib_uri};
use super::syntax::{Occurrence, Role};
use crate::lang::ast::{Decl, Item, ModuleRef};
use lsp_types as lsp;
use std::collections::HashMap;

/// A top-level name of the document and the declaration it stands for.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The module that declares it (0: the document itself).
    pub module: usize,
    /// The declaration.
    pub decl: &'a Decl,
}

/// The declaration `name` of module `module` (its own declarations only).
fn own_decl<'a>(doc: &'a Document, module: usize, name: &str) -> Option<&'a Decl> {
    let m = doc.analysis.loaded.modules.get(module)?;
    m.ast.items.iter().find_map(|item| match item {
        Item::Decl(d) if d.name.name == name => Some(d),
        _ => None,
    })
}

/// What the top-level name `name` of the document is bound to: its own declaration, or
/// the declaration an import names in the other module.
pub fn resolve<'a>(doc: &'a Document, name: &str) -> Option<Binding<'a>> {
    if let Some(decl) = own_decl(doc, 0, name) {
        return Some(Binding { module: 0, decl });
    }
    let root = doc.analysis.loaded.modules.first()?;
    for (i, item) in root.ast.items.iter().enumerate() {
        let Item::Use(u) = item else { continue };
        for imp in &u.imports {
            if imp.local().name == name {
                let target = *root.imports.get(&i)?;
                let decl = own_decl(doc, target, &imp.name.name)?;
                return Some(Binding {
                    module: target,
                    decl,
                });
            }
        }
    }
    None
}

/// The imported declaration an import word names (for `use m::{x}`: `x` in `m`).
pub(super) fn imported<'a>(doc: &'a Document, item: usize, name: &str) -> Option<Binding<'a>> {
    let target = *doc.analysis.loaded.modules.first()?.imports.get(&item)?;
    Some(Binding {
        module: target,
        decl: own_decl(doc, target, name)?,
    })
}

/// The occurrence under an LSP position.
pub fn occurrence_at(doc: &Document, pos: lsp::Position) -> Option<&Occurrence> {
    let offset = doc.index.offset(&doc.text, pos);
    doc.analysis.syntax.at(offset)
}

/// Where the thing under `pos` is declared.
pub fn definition(doc: &Document, pos: lsp::Position) -> Option<lsp::Location> {
    let occ = occurrence_at(doc, pos)?;
    let binding = match &occ.role {
        Role::DeclName(_) | Role::NameRef | Role::ImportAlias { .. } => resolve(doc, &occ.name)?,
        Role::ImportName { item, .. } => imported(doc, *item, &occ.name)?,
        Role::ModulePath { item } | Role::ModuleFile { item } => {
            return module_location(doc, *item);
        }
        Role::Member { base } => resolve(doc, base)?,
        _ => return None,
    };
    span_location(doc, binding.decl.name.span)
}

/// The start of the module a `use` item reads.
fn module_location(doc: &Document, item: usize) -> Option<lsp::Location> {
    let a = &doc.analysis;
    let root = a.loaded.modules.first()?;
    let start = lsp::Range::default();
    if let Some(&target) = root.imports.get(&item) {
        let file = a.loaded.modules.get(target)?.file;
        return Some(lsp::Location::new(a.uri_of(file, &doc.uri)?, start));
    }
    // An unresolved stdlib path still has no file; a relative one may not exist.
    match root.ast.items.get(item)? {
        Item::Use(u) => match &u.module {
            ModuleRef::Path(p) => {
                let name: Vec<&str> = p.iter().map(|i| i.name.as_str()).collect();
                Some(lsp::Location::new(stdlib_uri(&name.join("::"))?, start))
            }
            ModuleRef::File { .. } => None,
        },
        _ => None,
    }
}

/// The word under `pos` when it is a top-level name of the document (declared or
/// imported), with the name.
fn name_at(doc: &Document, pos: lsp::Position) -> Option<(&Occurrence, String)> {
    let occ = occurrence_at(doc, pos)?;
    let binds = match &occ.role {
        Role::DeclName(_) | Role::NameRef | Role::ImportAlias { .. } => true,
        Role::ImportName { aliased, .. } => !aliased,
        _ => false,
    };
    let name = occ.name.clone();
    (binds
        && doc.analysis.syntax.uses_of(&name).iter().any(|o| {
            matches!(
                o.role,
                Role::DeclName(_) | Role::ImportAlias { .. } | Role::ImportName { .. }
            )
        }))
    .then_some((occ, name))
}

/// The range of the name under `pos`, when it can be renamed: a declaration of this file or
/// an alias of an import (an imported name is renamed where it is declared).
pub fn prepare_rename(doc: &Document, pos: lsp::Position) -> Option<lsp::PrepareRenameResponse> {
    let (occ, name) = name_at(doc, pos)?;
    let own = resolve(doc, &name).is_some_and(|b| b.module == 0);
    let aliased = doc
        .analysis
        .syntax
        .uses_of(&name)
        .iter()
        .any(|o| matches!(o.role, Role::ImportAlias { .. }));
    (own || aliased)
        .then(|| lsp::PrepareRenameResponse::Range(doc.index.range(&doc.text, occ.range.clone())))
}

/// Whether `name` is a word the language takes as a name.
pub(super) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(
            name,
            "use" | "as" | "set" | "sweep" | "zip" | "exclude" | "true" | "false" | "step"
        )
        && crate::lang::ast::DeclKind::from_keyword(name).is_none()
}

/// Renames the declaration (or import alias) under `pos` and every use of it in the file.
pub fn rename(
    doc: &Document,
    pos: lsp::Position,
    new_name: &str,
) -> Result<Option<lsp::WorkspaceEdit>, String> {
    if !is_identifier(new_name) {
        return Err(format!("`{new_name}` is not a name"));
    }
    if prepare_rename(doc, pos).is_none() {
        return Ok(None);
    }
    let Some((_, name)) = name_at(doc, pos) else {
        return Ok(None);
    };
    if new_name != name && resolve(doc, new_name).is_some() {
        return Err(format!("`{new_name}` is already declared"));
    }
    let edits: Vec<lsp::TextEdit> = doc
        .analysis
        .syntax
        .uses_of(&name)
        .into_iter()
        .map(|o| match o.role {
            // An unaliased import keeps the other module's name and gains an alias.
            Role::ImportName { .. } => lsp::TextEdit::new(
                doc.index.range(&doc.text, o.range.end..o.range.end),
                format!(" as {new_name}"),
            ),
            _ => lsp::TextEdit::new(
                doc.index.range(&doc.text, o.range.clone()),
                new_name.to_string(),
            ),
        })
        .collect();
    Ok(Some(lsp::WorkspaceEdit {
        changes: Some(HashMap::from([(doc.uri.clone(), edits)])),
        ..Default::default()
    }))
}
