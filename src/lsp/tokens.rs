//! Semantic tokens: every word the syntax walk classified, plus comments, as LSP's
//! relative token encoding.

use super::document::Document;
use super::syntax::Role;
use crate::lang::trivia;
use lsp_types as lsp;

/// Token types, in legend order.
const TYPES: [lsp::SemanticTokenType; 9] = [
    lsp::SemanticTokenType::KEYWORD,
    lsp::SemanticTokenType::VARIABLE,
    lsp::SemanticTokenType::FUNCTION,
    lsp::SemanticTokenType::PARAMETER,
    lsp::SemanticTokenType::PROPERTY,
    lsp::SemanticTokenType::ENUM_MEMBER,
    lsp::SemanticTokenType::NAMESPACE,
    lsp::SemanticTokenType::NUMBER,
    lsp::SemanticTokenType::STRING,
];
/// The one modifier: a declaration.
const DECLARATION: u32 = 1;
const COMMENT: u32 = 9;

/// The legend the server announces.
pub fn legend() -> lsp::SemanticTokensLegend {
    let mut token_types = TYPES.to_vec();
    token_types.push(lsp::SemanticTokenType::COMMENT);
    lsp::SemanticTokensLegend {
        token_types,
        token_modifiers: vec![lsp::SemanticTokenModifier::DECLARATION],
    }
}

fn classify(role: &Role) -> (u32, u32) {
    match role {
        Role::Keyword => (0, 0),
        Role::DeclName(_) => (1, DECLARATION),
        Role::ImportAlias { .. } | Role::ImportName { .. } => (1, DECLARATION),
        Role::NameRef => (1, 0),
        Role::Callee => (2, 0),
        Role::ArgName { .. } | Role::Setting | Role::DirectiveAxis => (3, 0),
        Role::FieldName { .. } | Role::Member { .. } => (4, 0),
        Role::EnumWord => (5, 0),
        Role::ModulePath { .. } => (6, 0),
        Role::Number => (7, 0),
        Role::Str | Role::ModuleFile { .. } => (8, 0),
    }
}

/// Every token of the document.
pub fn full(doc: &Document) -> lsp::SemanticTokens {
    let mut spans: Vec<(usize, usize, u32, u32)> = doc
        .analysis
        .syntax
        .occurrences
        .iter()
        .map(|o| {
            let (ty, m) = classify(&o.role);
            (o.range.start, o.range.end, ty, m)
        })
        .collect();
    for c in trivia::comments(doc.analysis.root(), &doc.text) {
        spans.push((c.span.start as usize, c.span.end as usize, COMMENT, 0));
    }
    spans.sort_by_key(|s| (s.0, s.1));
    let mut data = vec![];
    let (mut line, mut col) = (0u32, 0u32);
    let mut last_end = 0usize;
    for (start, end, ty, m) in spans {
        // Tokens may not overlap or span lines.
        if start < last_end || end <= start {
            continue;
        }
        let a = doc.index.position(&doc.text, start);
        let b = doc.index.position(&doc.text, end);
        if a.line != b.line {
            continue;
        }
        let delta_line = a.line - line;
        let delta_start = if delta_line == 0 {
            a.character - col
        } else {
            a.character
        };
        data.push(lsp::SemanticToken {
            delta_line,
            delta_start,
            length: b.character - a.character,
            token_type: ty,
            token_modifiers_bitset: m,
        });
        line = a.line;
        col = a.character;
        last_end = end;
    }
    lsp::SemanticTokens {
        result_id: None,
        data,
    }
}
