//! Document formatting (the canonical formatter of `sslp fmt`) and the outline of
//! declarations.

use super::document::Document;
use crate::lang::ast::{BlockItem, DeclBody, DeclKind, ExprKind, Item, ModuleRef};
use crate::lang::fmt::format_source;
use lsp_types as lsp;

/// The edit that formats the whole document; none when it is formatted already or does
/// not parse (the formatter formats only what parses cleanly).
pub fn format(doc: &Document) -> Option<Vec<lsp::TextEdit>> {
    let formatted = format_source(&doc.text).ok()?;
    if formatted == doc.text {
        return Some(vec![]);
    }
    Some(vec![lsp::TextEdit::new(
        doc.index.whole(&doc.text),
        formatted,
    )])
}

fn symbol_kind(kind: DeclKind) -> lsp::SymbolKind {
    match kind {
        DeclKind::Dataset | DeclKind::Split => lsp::SymbolKind::STRUCT,
        DeclKind::Policy => lsp::SymbolKind::ARRAY,
        DeclKind::Backbone | DeclKind::Method | DeclKind::Optimizer | DeclKind::Schedule => {
            lsp::SymbolKind::OBJECT
        }
        DeclKind::Pretrain | DeclKind::Evaluate => lsp::SymbolKind::FUNCTION,
        DeclKind::Report => lsp::SymbolKind::EVENT,
        DeclKind::Let => lsp::SymbolKind::CONSTANT,
    }
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must still be written.
fn symbol(
    doc: &Document,
    name: String,
    detail: Option<String>,
    kind: lsp::SymbolKind,
    range: std::ops::Range<usize>,
    selection: std::ops::Range<usize>,
    children: Option<Vec<lsp::DocumentSymbol>>,
) -> lsp::DocumentSymbol {
    let range = range.start.min(selection.start)..range.end.max(selection.end);
    lsp::DocumentSymbol {
        name,
        detail,
        kind,
        tags: None,
        deprecated: None,
        range: doc.index.range(&doc.text, range),
        selection_range: doc.index.range(&doc.text, selection),
        children,
    }
}

/// The outline: imports, settings and declarations (with the fields of blocks).
pub fn symbols(doc: &Document) -> Vec<lsp::DocumentSymbol> {
    let Some(root) = doc.analysis.loaded.modules.first() else {
        return vec![];
    };
    let mut out = vec![];
    for item in &root.ast.items {
        match item {
            Item::Use(u) => {
                let module = match &u.module {
                    ModuleRef::Path(p) => p
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join("::"),
                    ModuleRef::File { path, .. } => format!("\"{path}\""),
                };
                for imp in &u.imports {
                    let local = imp.local();
                    out.push(symbol(
                        doc,
                        local.name.clone(),
                        Some(format!("use {module}")),
                        lsp::SymbolKind::MODULE,
                        u.span.range(),
                        local.span.range(),
                        None,
                    ));
                }
            }
            Item::Set(s) => out.push(symbol(
                doc,
                s.name.name.clone(),
                Some("set".into()),
                lsp::SymbolKind::PROPERTY,
                s.span.range(),
                s.name.span.range(),
                None,
            )),
            Item::Decl(d) => {
                let (detail, children) = match &d.body {
                    DeclBody::Expr(e) => {
                        let detail = match &e.kind {
                            ExprKind::Call { callee, .. } => {
                                format!("{} = {}(…)", d.kind.keyword(), callee.name)
                            }
                            _ => d.kind.keyword().to_string(),
                        };
                        (detail, None)
                    }
                    DeclBody::Block(b) => {
                        let fields = b
                            .items
                            .iter()
                            .filter_map(|bi| match bi {
                                BlockItem::Field(f) => Some(symbol(
                                    doc,
                                    f.name.name.clone(),
                                    None,
                                    lsp::SymbolKind::FIELD,
                                    f.span.range(),
                                    f.name.span.range(),
                                    None,
                                )),
                                BlockItem::Directive(_) => None,
                            })
                            .collect();
                        (d.kind.keyword().to_string(), Some(fields))
                    }
                };
                out.push(symbol(
                    doc,
                    d.name.name.clone(),
                    Some(detail),
                    symbol_kind(d.kind),
                    d.span.range(),
                    d.name.span.range(),
                    children,
                ));
            }
        }
    }
    out
}
