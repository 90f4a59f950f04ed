//! The checker's and planner's diagnostics as LSP diagnostics, and their "did you mean"
//! help as quick fixes.

use super::document::{Analysis, Document};
use super::position::LineIndex;
use crate::lang::ast::Item;
use crate::lang::{Diagnostic, FileId, Severity, Span};
use lsp_types as lsp;
use std::collections::HashMap;

/// The LSP range of a span in any file the analysis read (`None` for an unknown file).
pub fn span_range(analysis: &Analysis, doc: &Document, span: Span) -> Option<lsp::Range> {
    if span.file == analysis.root() {
        return Some(doc.index.range(&doc.text, span.range()));
    }
    if span.file.0 as usize >= analysis.loaded.sources.len() {
        return None;
    }
    let text = &analysis.loaded.sources.get(span.file).text;
    Some(LineIndex::new(text).range(text, span.range()))
}

/// A location (URI and range) of a span in any file the analysis read.
pub fn span_location(doc: &Document, span: Span) -> Option<lsp::Location> {
    let a = &doc.analysis;
    Some(lsp::Location::new(
        a.uri_of(span.file, &doc.uri)?,
        span_range(a, doc, span)?,
    ))
}

/// For every module of the analysis, the `use` item of the document through which it is
/// read (the first one, following imports of imports).
fn importing_items(analysis: &Analysis) -> HashMap<FileId, Span> {
    let modules = &analysis.loaded.modules;
    let mut via = HashMap::new();
    let Some(root) = modules.first() else {
        return via;
    };
    let mut items: Vec<_> = root.imports.iter().collect();
    items.sort();
    for (&item, &target) in items {
        let Some(Item::Use(u)) = root.ast.items.get(item) else {
            continue;
        };
        let mut stack = vec![target];
        while let Some(m) = stack.pop() {
            let Some(module) = modules.get(m) else {
                continue;
            };
            if m == 0 || via.contains_key(&module.file) {
                continue;
            }
            via.insert(module.file, u.span);
            stack.extend(module.imports.values().copied());
        }
    }
    via
}

/// One checker diagnostic as the LSP says it.
fn convert(doc: &Document, d: &Diagnostic, at: lsp::Range, prefix: &str) -> lsp::Diagnostic {
    let mut message = format!("{prefix}{}", d.message);
    if !d.primary.message.is_empty() && prefix.is_empty() {
        message.push_str(&format!(" ({})", d.primary.message));
    }
    if let Some(help) = &d.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    let mut related: Vec<lsp::DiagnosticRelatedInformation> = d
        .secondary
        .iter()
        .filter_map(|l| {
            Some(lsp::DiagnosticRelatedInformation {
                location: span_location(doc, l.span)?,
                message: l.message.clone(),
            })
        })
        .collect();
    if !prefix.is_empty()
        && let Some(location) = span_location(doc, d.primary.span)
    {
        related.insert(
            0,
            lsp::DiagnosticRelatedInformation {
                location,
                message: d.primary.message.clone(),
            },
        );
    }
    lsp::Diagnostic {
        range: at,
        severity: Some(match d.severity {
            Severity::Error => lsp::DiagnosticSeverity::ERROR,
            Severity::Warning => lsp::DiagnosticSeverity::WARNING,
        }),
        code: Some(lsp::NumberOrString::String(d.code.as_str().to_string())),
        source: Some("sslp".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..Default::default()
    }
}

/// Every diagnostic of a document. Those found in an imported file are shown on the `use`
/// that imports it, with the place itself as related information.
pub fn of(doc: &Document) -> Vec<lsp::Diagnostic> {
    let a = &doc.analysis;
    let root = a.root();
    let via = importing_items(a);
    let mut out = vec![];
    for d in &a.diagnostics {
        let file = d.primary.span.file;
        if file == root {
            let at = doc.index.range(&doc.text, d.primary.span.range());
            out.push(convert(doc, d, at, ""));
        } else if let Some(use_span) = via.get(&file) {
            let name = &a.loaded.sources.get(file).name;
            let at = doc.index.range(&doc.text, use_span.range());
            out.push(convert(doc, d, at, &format!("in `{name}`: ")));
        }
    }
    out
}

/// Quick fixes for the diagnostics that overlap `range`: replace the misspelled word by the
/// name the checker suggests.
pub fn code_actions(doc: &Document, range: lsp::Range) -> Vec<lsp::CodeActionOrCommand> {
    let a = &doc.analysis;
    let wanted = doc.index.byte_range(&doc.text, range);
    let mut out = vec![];
    for d in &a.diagnostics {
        let span = d.primary.span;
        if span.file != a.root()
            || span.start as usize > wanted.end
            || (span.end as usize) < wanted.start
        {
            continue;
        }
        let Some(fix) = d.suggestion() else { continue };
        let at = doc.index.range(&doc.text, span.range());
        let edit = lsp::TextEdit::new(at, fix.to_string());
        let changes = HashMap::from([(doc.uri.clone(), vec![edit])]);
        let diagnostic = convert(doc, d, at, "");
        out.push(lsp::CodeActionOrCommand::CodeAction(lsp::CodeAction {
            title: format!("Replace with `{fix}`"),
            kind: Some(lsp::CodeActionKind::QUICKFIX),
            diagnostics: Some(vec![diagnostic]),
            edit: Some(lsp::WorkspaceEdit {
                changes: Some(changes),
                ..Default::default()
            }),
            is_preferred: Some(true),
            ..Default::default()
        }));
    }
    out
}
