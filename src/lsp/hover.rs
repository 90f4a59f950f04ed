//! Hover: the registry's documentation of a kind or parameter (the text `sslp explain`
//! prints), and for a declared name its kind, where it is declared and its sweep axes.

use super::document::Document;
use super::navigation::{Binding, occurrence_at, resolve};
use super::syntax::Role;
use crate::lang::ast::{DeclBody, ExprKind};
use crate::lang::registry::{self, Default, Kind, Param};
use lsp_types as lsp;

/// The hover text for the word under `pos`.
pub fn hover(doc: &Document, pos: lsp::Position) -> Option<lsp::Hover> {
    let occ = occurrence_at(doc, pos)?;
    let text = match &occ.role {
        Role::Callee => kind_doc(registry::schema_named(&occ.name)?),
        Role::ArgName { kind } => param_doc(registry::schema_named(kind)?, &occ.name)?,
        Role::FieldName { schema } => param_doc(registry::schema_named(schema)?, &occ.name)?,
        Role::Setting => param_doc(registry::settings(), &occ.name)?,
        Role::DeclName(_) | Role::NameRef | Role::ImportAlias { .. } => {
            match resolve(doc, &occ.name) {
                Some(b) => decl_doc(doc, &occ.name, b),
                None => kind_doc(registry::kind_named(&occ.name)?),
            }
        }
        Role::ImportName { aliased: false, .. } => {
            decl_doc(doc, &occ.name, resolve(doc, &occ.name)?)
        }
        Role::Member { base } => member_doc(doc, base, &occ.name)?,
        _ => return None,
    };
    Some(lsp::Hover {
        contents: lsp::HoverContents::Markup(lsp::MarkupContent {
            kind: lsp::MarkupKind::Markdown,
            value: text,
        }),
        range: Some(doc.index.range(&doc.text, occ.range.clone())),
    })
}

/// `sslp explain NAME`, as a block of text.
pub fn kind_doc(k: &Kind) -> String {
    format!("```text\n{}```", registry::explain(k))
}

/// A parameter's line of documentation: type, default, range and doc.
pub fn param_line(p: &Param) -> String {
    let default = match p.default {
        Default::Required => "required".to_string(),
        Default::Optional => "optional".to_string(),
        Default::Src(s) => format!("default `{s}`"),
    };
    let mut out = format!("{} — {default}", p.ty.describe());
    if !p.bound.is_any() {
        out.push_str(&format!(", range {}", p.bound.describe()));
    }
    out
}

/// The documentation of parameter `name` of kind `k`.
fn param_doc(k: &Kind, name: &str) -> Option<String> {
    let (_, p) = k.param(name)?;
    let mut out = format!(
        "`{}` — parameter of `{}` ({})\n\n{}\n\n{}",
        p.name,
        k.name,
        k.category.noun(),
        param_line(p),
        p.doc
    );
    if let Some(cond) = p.applies_when {
        out.push_str(&format!(" ({})", cond.describe()));
    }
    if !p.in_key {
        out.push_str(" (not part of the cache key)");
    }
    Some(out)
}

/// A declared name: its keyword, where it is declared, what it calls, and its sweeps.
fn decl_doc(doc: &Document, name: &str, b: Binding<'_>) -> String {
    let a = &doc.analysis;
    let decl = b.decl;
    let mut out = format!("```sslp\n{} {}\n```\n", decl.kind.keyword(), decl.name.name);
    if b.module != 0
        && let Some(m) = a.loaded.modules.get(b.module)
    {
        let file = a.loaded.sources.get(m.file);
        let (line, _) = file.line_col(decl.name.span.start);
        out.push_str(&format!("\nimported from `{}` (line {line})", file.name));
        if decl.name.name != name {
            out.push_str(&format!(" as `{name}`"));
        }
        out.push('\n');
    }
    if let DeclBody::Expr(e) = &decl.body
        && let ExprKind::Call { callee, .. } = &e.kind
        && let Some(k) = registry::kind_named(&callee.name)
    {
        out.push_str(&format!(
            "\n`{}`: {} — {}\n",
            k.name,
            k.category.noun(),
            k.doc
        ));
    }
    out.push_str(&sweep_summary(doc, b));
    out
}

/// The sweep axes written in a declaration and, from the plan, its arms.
fn sweep_summary(doc: &Document, b: Binding<'_>) -> String {
    let a = &doc.analysis;
    let (Some(program), Some(module)) = (&a.program, a.loaded.modules.get(b.module)) else {
        return String::new();
    };
    let Some(id) = program
        .decls
        .iter()
        .position(|d| d.file == module.file && d.name == b.decl.name.name)
    else {
        return String::new();
    };
    let mut out = String::new();
    let own: Vec<String> = program
        .sweeps
        .iter()
        .filter(|s| s.decl == id)
        .map(|s| format!("`{}` ({})", s.name, s.labels.join(", ")))
        .collect();
    if !own.is_empty() {
        out.push_str(&format!("\nsweeps: {}\n", own.join("; ")));
    }
    if b.module == 0
        && let Some(plan) = &a.plan
    {
        let arms: Vec<_> = plan
            .arms
            .iter()
            .filter(|arm| arm.decl == b.decl.name.name)
            .collect();
        if !arms.is_empty() {
            let axes: Vec<&str> = arms[0].axes.iter().map(|(k, _)| k.as_str()).collect();
            out.push_str(&format!(
                "\n{} arm{}",
                arms.len(),
                if arms.len() == 1 { "" } else { "s" }
            ));
            if !axes.is_empty() {
                out.push_str(&format!(" over {}", axes.join(", ")));
            }
            out.push('\n');
        }
    }
    out
}

/// `base.member`: a split part, a metric, or a field.
fn member_doc(doc: &Document, base: &str, member: &str) -> Option<String> {
    let b = resolve(doc, base)?;
    let what = match &b.decl.body {
        DeclBody::Expr(e) => match &e.kind {
            ExprKind::Call { callee, .. } => {
                let k = registry::kind_named(&callee.name)?;
                if k.metrics().contains(&member) {
                    format!("metric `{member}` of {} `{base}`", k.name)
                } else {
                    return param_doc(k, member);
                }
            }
            _ => format!("member `{member}` of `{base}`"),
        },
        DeclBody::Block(_) => match b.decl.kind {
            crate::lang::ast::DeclKind::Split => format!("part `{member}` of split `{base}`"),
            kind => {
                let schema = super::syntax::block_schema(kind)?;
                return param_doc(schema, member);
            }
        },
    };
    Some(what)
}
