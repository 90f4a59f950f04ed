//! Completion. The text before the cursor is usually not a whole program (the item being
//! typed does not parse yet), so this reads it with a small bracket-aware scan to learn the
//! context — top level, a block's fields, a call's arguments, a list, a `use` — and the
//! type expected there (from the registry's schemas). The names it offers come from the
//! registry and from the document's last parse (its declarations and imports).
//! This is an approximation of the grammar, good enough to offer; the checker decides.

use super::document::Document;
use super::hover::param_line;
use super::syntax::{block_schema, decl_type};
use crate::lang::ast::{DeclBody, DeclKind, ExprKind, Item};
use crate::lang::modules::STDLIB;
use crate::lang::registry::{self, Category, Default, Kind, Ty};
use crate::lang::{FileId, parser};
use lsp_types as lsp;

/// A token of the scan.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Punct(&'static str),
    Literal,
}

/// Tokens of `text` (comments and strings skipped as literals).
fn lex(text: &str) -> Vec<Tok> {
    let b = text.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' => {
                i += 1;
                while i < b.len() && b[i] != c && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push(Tok::Literal);
            }
            b'0'..=b'9' | b'-' if c != b'-' || b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i += 1;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || (b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
                        || ((b[i] == b'-' || b[i] == b'+') && matches!(b[i - 1], b'e' | b'E')))
                {
                    i += 1;
                }
                out.push(Tok::Literal);
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push(Tok::Word(text[start..i].to_string()));
            }
            _ => {
                let two = text.get(i..i + 2).unwrap_or("");
                let p = match two {
                    "++" => Some("++"),
                    ".." => Some(".."),
                    "::" => Some("::"),
                    _ => None,
                };
                if let Some(p) = p {
                    out.push(Tok::Punct(p));
                    i += 2;
                    continue;
                }
                let p = match c {
                    b'(' => "(",
                    b')' => ")",
                    b'[' => "[",
                    b']' => "]",
                    b'{' => "{",
                    b'}' => "}",
                    b',' => ",",
                    b':' => ":",
                    b'=' => "=",
                    b'@' => "@",
                    b'.' => ".",
                    _ => "?",
                };
                out.push(Tok::Punct(p));
                // Step over a whole character.
                i += text[i..].chars().next().map_or(1, char::len_utf8);
            }
        }
    }
    out
}

/// An open bracket and what is being written inside it.
#[derive(Debug, Clone)]
enum Frame {
    /// `split x {` / `pretrain x {`: the block's schema, the field being written.
    Block {
        schema: Option<&'static Kind>,
        field: Option<String>,
        eq: bool,
    },
    /// `kind(`: the called kind, the argument being written, and those written so far.
    Call {
        kind: Option<&'static Kind>,
        positional: usize,
        arg: Option<String>,
        started: bool,
        written: Vec<String>,
    },
    /// `[` with the type of its elements.
    List(Ty),
    /// `{` of a `use`, or any other bracket.
    Other,
}

/// Where the cursor is.
#[derive(Debug, Clone, PartialEq)]
enum Context {
    /// The start of a top-level item.
    TopLevel,
    /// After `use`: a module path, or after `use m::` / `use m::{`: names of `m`.
    Use(Option<String>),
    /// After `set`: a setting name.
    Setting,
    /// The start of a field in a block of this schema.
    Field(Option<&'static Kind>),
    /// An argument's name or value, in a call of this kind.
    Argument(&'static Kind, Vec<String>, Ty),
    /// A value of this type.
    Value(Ty),
    /// After `base.`.
    Member(String),
    /// Nothing to offer (a name being declared, a number).
    Nothing,
}

/// The type expected for a value inside `frame` (or at the top level, `item`).
fn expected_in(frame: Option<&Frame>, item: Option<Ty>) -> Option<Ty> {
    match frame {
        None => item,
        Some(Frame::Block {
            schema, field, eq, ..
        }) => {
            if !eq {
                return None;
            }
            let f = field.as_deref()?;
            Some(
                schema
                    .and_then(|k| k.param(f))
                    .map_or(Ty::Any, |(_, p)| p.ty),
            )
        }
        Some(Frame::Call {
            kind,
            positional,
            arg,
            ..
        }) => {
            let k = (*kind)?;
            let p = match arg {
                Some(name) => k.param(name).map(|(_, p)| p),
                None => k.params.get(*positional),
            };
            Some(p.map_or(Ty::Any, |p| p.ty))
        }
        Some(Frame::List(t)) => Some(*t),
        Some(Frame::Other) => None,
    }
}

/// Element type of a list holding values of type `t`.
fn element_of(t: Ty) -> Ty {
    match t {
        Ty::Policy => Ty::Kind(Category::Op),
        Ty::List(inner) => *inner,
        other => other,
    }
}

/// The context at the end of `before` (the text up to the word being typed).
fn context(before: &str) -> Context {
    let toks = lex(before);
    let line_start = before
        .rsplit('\n')
        .next()
        .is_none_or(|l| l.trim().is_empty());
    let mut stack: Vec<Frame> = vec![];
    // The top-level item: its keyword, and the type of its value once `=` is seen.
    let mut item: Option<String> = None;
    let mut item_value: Option<Ty> = None;
    let mut item_kind: Option<DeclKind> = None;
    for (i, t) in toks.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| &toks[j]);
        let next = toks.get(i + 1);
        match t {
            Tok::Word(w) if stack.is_empty() && (w == "use" || w == "set") => {
                item = Some(w.clone());
                item_value = None;
                item_kind = None;
            }
            Tok::Word(w)
                if stack.is_empty()
                    && DeclKind::from_keyword(w).is_some()
                    && !matches!(prev, Some(Tok::Punct("=" | "++" | "@" | "."))) =>
            {
                item = Some(w.clone());
                item_kind = DeclKind::from_keyword(w);
                item_value = None;
            }
            Tok::Punct("=") if stack.is_empty() => {
                item_value = match (item.as_deref(), item_kind) {
                    (Some("set"), _) => {
                        let name = match prev {
                            Some(Tok::Word(n)) => n.as_str(),
                            _ => "",
                        };
                        Some(
                            registry::settings()
                                .param(name)
                                .map_or(Ty::Any, |(_, p)| p.ty),
                        )
                    }
                    (_, Some(k)) => Some(decl_type(k)),
                    _ => None,
                };
            }
            Tok::Punct("{") => {
                let frame = match (stack.is_empty(), item.as_deref(), item_kind) {
                    (true, Some("use"), _) => Frame::Other,
                    (true, _, Some(k)) => Frame::Block {
                        schema: block_schema(k),
                        field: None,
                        eq: false,
                    },
                    _ => Frame::Other,
                };
                stack.push(frame);
            }
            Tok::Punct("(") => {
                let kind = match prev {
                    Some(Tok::Word(w)) => registry::kind_named(w),
                    _ => None,
                };
                if let Some(Frame::Call { started, .. }) = stack.last_mut() {
                    *started = true;
                }
                stack.push(Frame::Call {
                    kind,
                    positional: 0,
                    arg: None,
                    started: false,
                    written: vec![],
                });
            }
            Tok::Punct("[") => {
                let sweep = matches!(prev, Some(Tok::Word(w)) if w == "sweep");
                let outer = expected_in(stack.last(), item_value).unwrap_or(Ty::Any);
                if let Some(Frame::Call { started, .. }) = stack.last_mut() {
                    *started = true;
                }
                stack.push(Frame::List(if sweep { outer } else { element_of(outer) }));
            }
            Tok::Punct(")" | "]" | "}") => {
                stack.pop();
            }
            Tok::Punct(",") => match stack.last_mut() {
                Some(Frame::Call {
                    positional,
                    arg,
                    started,
                    written,
                    ..
                }) => {
                    match arg.take() {
                        Some(a) => written.push(a),
                        None => *positional += 1,
                    }
                    *started = false;
                }
                Some(Frame::Block { field, eq, .. }) => {
                    *field = None;
                    *eq = false;
                }
                _ => {}
            },
            Tok::Word(w) => {
                let names_arg = matches!(next, Some(Tok::Punct(":" | "=")));
                match stack.last_mut() {
                    Some(Frame::Call { arg, started, .. }) if !*started && names_arg => {
                        *arg = Some(w.clone());
                    }
                    Some(Frame::Call { started, .. }) => *started = true,
                    Some(Frame::Block { field, eq, .. })
                        if matches!(next, Some(Tok::Punct("="))) =>
                    {
                        *field = Some(w.clone());
                        *eq = false;
                    }
                    _ => {}
                }
            }
            Tok::Punct("=") => {
                if let Some(Frame::Block { eq, .. }) = stack.last_mut() {
                    *eq = true;
                }
            }
            _ => {
                if let Some(Frame::Call { started, .. }) = stack.last_mut()
                    && !matches!(t, Tok::Punct(":"))
                {
                    *started = true;
                }
            }
        }
    }
    let last = toks.last();
    if let (Some(Tok::Punct(".")), Some(Tok::Word(base))) =
        (last, toks.len().checked_sub(2).map(|i| &toks[i]))
    {
        return Context::Member(base.clone());
    }
    match stack.last() {
        None => {
            if line_start && !matches!(last, Some(Tok::Punct("=" | "++" | "@" | "::" | ","))) {
                return Context::TopLevel;
            }
            match (item.as_deref(), item_value) {
                (Some("use"), _) => {
                    // The module path written so far, when it ends in `::`.
                    let mut path = vec![];
                    for t in toks.iter().rev() {
                        match t {
                            Tok::Word(w) if w == "use" => break,
                            Tok::Word(w) => path.push(w.clone()),
                            _ => {}
                        }
                    }
                    path.reverse();
                    match last {
                        Some(Tok::Punct("::")) => Context::Use(Some(path.join("::"))),
                        _ => Context::Use(None),
                    }
                }
                (Some("set"), None) => Context::Setting,
                (_, Some(t)) => after_operator(last, t),
                _ => Context::Nothing,
            }
        }
        Some(Frame::Other) => {
            // `use m::{` lists the names of `m`.
            let mut path = vec![];
            if item.as_deref() == Some("use") {
                for t in toks
                    .iter()
                    .rev()
                    .skip_while(|t| **t != Tok::Punct("{"))
                    .skip(1)
                {
                    match t {
                        Tok::Word(w) if w == "use" => break,
                        Tok::Word(w) => path.push(w.clone()),
                        _ => {}
                    }
                }
                path.reverse();
                return Context::Use(Some(path.join("::")));
            }
            Context::Nothing
        }
        Some(Frame::Block { schema, eq, field }) => {
            if field.is_none()
                || !eq
                || (line_start
                    && matches!(
                        last,
                        Some(Tok::Word(_) | Tok::Literal | Tok::Punct(")" | "]"))
                    ))
            {
                Context::Field(*schema)
            } else {
                let t = expected_in(stack.last(), item_value).unwrap_or(Ty::Any);
                after_operator(last, t)
            }
        }
        Some(Frame::Call {
            kind,
            arg,
            started,
            written,
            ..
        }) => {
            let t = expected_in(stack.last(), item_value).unwrap_or(Ty::Any);
            match (kind, arg, started) {
                (Some(k), None, false) => Context::Argument(k, written.clone(), t),
                _ => after_operator(last, t),
            }
        }
        Some(Frame::List(t)) => after_operator(last, *t),
    }
}

/// The context after the last token, for a value of type `t`.
fn after_operator(last: Option<&Tok>, t: Ty) -> Context {
    match last {
        Some(Tok::Punct("@")) => Context::Nothing,
        Some(Tok::Punct("++")) => Context::Value(Ty::Policy),
        Some(Tok::Punct("=" | ":" | "," | "(" | "[" | "{")) | None => Context::Value(t),
        Some(Tok::Word(w)) if w == "sweep" => Context::Value(t),
        _ => Context::Nothing,
    }
}

/// A declared or imported name of the document, with the keyword it was declared with.
struct Named {
    name: String,
    kind: DeclKind,
    /// The called kind, when the value is a call.
    callee: Option<String>,
    /// Where it comes from, for imports.
    from: Option<String>,
}

/// Every top-level name of the document (declarations and imports).
fn names(doc: &Document) -> Vec<Named> {
    let a = &doc.analysis;
    let mut out = vec![];
    let Some(root) = a.loaded.modules.first() else {
        return out;
    };
    let describe = |d: &crate::lang::ast::Decl| match &d.body {
        DeclBody::Expr(e) => match &e.kind {
            ExprKind::Call { callee, .. } => Some(callee.name.clone()),
            _ => None,
        },
        DeclBody::Block(_) => None,
    };
    for (i, item) in root.ast.items.iter().enumerate() {
        match item {
            Item::Decl(d) => out.push(Named {
                name: d.name.name.clone(),
                kind: d.kind,
                callee: describe(d),
                from: None,
            }),
            Item::Use(u) => {
                let Some(target) = root.imports.get(&i).and_then(|&t| a.loaded.modules.get(t))
                else {
                    continue;
                };
                let module = a.loaded.sources.get(target.file).name.clone();
                for imp in &u.imports {
                    let decl = target.ast.items.iter().find_map(|it| match it {
                        Item::Decl(d) if d.name.name == imp.name.name => Some(d),
                        _ => None,
                    });
                    if let Some(d) = decl {
                        out.push(Named {
                            name: imp.local().name.clone(),
                            kind: d.kind,
                            callee: describe(d),
                            from: Some(module.clone()),
                        });
                    }
                }
            }
            Item::Set(_) => {}
        }
    }
    out
}

/// Escapes text for a snippet.
fn snippet_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('$', "\\$")
        .replace('}', "\\}")
}

struct Items {
    out: Vec<lsp::CompletionItem>,
    snippets: bool,
}

impl Items {
    fn push(
        &mut self,
        label: &str,
        kind: lsp::CompletionItemKind,
        detail: Option<String>,
        doc: Option<String>,
        snippet: Option<String>,
    ) {
        if self.out.iter().any(|i| i.label == label) {
            return;
        }
        let (insert_text, format) = match snippet {
            Some(s) if self.snippets => (Some(s), Some(lsp::InsertTextFormat::SNIPPET)),
            _ => (None, None),
        };
        self.out.push(lsp::CompletionItem {
            label: label.to_string(),
            kind: Some(kind),
            detail,
            documentation: doc.map(|d| {
                lsp::Documentation::MarkupContent(lsp::MarkupContent {
                    kind: lsp::MarkupKind::Markdown,
                    value: d,
                })
            }),
            insert_text,
            insert_text_format: format,
            ..std::default::Default::default()
        });
    }

    fn kind(&mut self, k: &Kind) {
        self.push(
            k.name,
            lsp::CompletionItemKind::FUNCTION,
            Some(k.category.noun().to_string()),
            Some(format!("```text\n{}```", registry::explain(k))),
            Some(format!("{}($0)", k.name)),
        );
    }

    fn category(&mut self, c: Category) {
        for k in registry::all_kinds().filter(|k| k.category == c) {
            self.kind(k);
        }
    }

    fn named(&mut self, n: &Named, label: &str) {
        let mut detail = n.kind.keyword().to_string();
        if let Some(c) = &n.callee {
            detail.push_str(&format!(" = {c}(…)"));
        }
        if let Some(f) = &n.from {
            detail.push_str(&format!(" (from {f})"));
        }
        self.push(
            label,
            lsp::CompletionItemKind::VARIABLE,
            Some(detail),
            None,
            None,
        );
    }

    fn word(&mut self, w: &str, detail: &str) {
        self.push(
            w,
            lsp::CompletionItemKind::ENUM_MEMBER,
            Some(detail.into()),
            None,
            None,
        );
    }
}

/// The declaration keyword a category's kinds are declared with.
fn decl_kind_of(c: Category) -> Option<DeclKind> {
    Some(match c {
        Category::Dataset => DeclKind::Dataset,
        Category::Op => DeclKind::Policy,
        Category::Method => DeclKind::Method,
        Category::Backbone => DeclKind::Backbone,
        Category::Optimizer => DeclKind::Optimizer,
        Category::Schedule => DeclKind::Schedule,
        Category::Eval => DeclKind::Evaluate,
        Category::Report => DeclKind::Report,
        _ => return None,
    })
}

/// Values of type `t`: kinds, declared names and words.
fn values(items: &mut Items, names: &[Named], t: Ty) {
    let lets = || names.iter().filter(|n| n.kind == DeclKind::Let);
    match t {
        Ty::Kind(c) => {
            items.category(c);
            let want = decl_kind_of(c);
            for n in names
                .iter()
                .filter(|n| Some(n.kind) == want || n.kind == DeclKind::Let)
            {
                items.named(n, &n.name);
            }
        }
        Ty::Policy => {
            for n in names
                .iter()
                .filter(|n| n.kind == DeclKind::Policy)
                .chain(lets())
            {
                items.named(n, &n.name);
            }
        }
        Ty::Data => {
            for n in names {
                match n.kind {
                    DeclKind::Dataset => items.named(n, &n.name),
                    DeclKind::Split => {
                        for part in registry::SPLIT_MEMBERS {
                            items.named(n, &format!("{}.{part}", n.name));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ty::Encoder => {
            for n in names
                .iter()
                .filter(|n| matches!(n.kind, DeclKind::Pretrain | DeclKind::Backbone))
            {
                items.named(n, &n.name);
            }
            items.category(Category::Backbone);
        }
        Ty::Metric => {
            for n in names.iter().filter(|n| n.kind == DeclKind::Evaluate) {
                let metrics = n
                    .callee
                    .as_deref()
                    .and_then(registry::kind_named)
                    .map_or(&[][..], |k| k.metrics());
                for m in metrics {
                    items.named(n, &format!("{}.{m}", n.name));
                }
            }
        }
        Ty::Axis => {
            for n in names
                .iter()
                .filter(|n| matches!(n.kind, DeclKind::Pretrain | DeclKind::Evaluate))
            {
                items.named(n, &n.name);
            }
        }
        Ty::Views => items.category(Category::View),
        Ty::Enum(words) => words.iter().for_each(|w| items.word(w, "value")),
        Ty::Bool => ["true", "false"]
            .iter()
            .for_each(|w| items.word(w, "boolean")),
        Ty::Device => ["cpu", "cuda"].iter().for_each(|w| items.word(w, "device")),
        Ty::List(inner) => values(items, names, *inner),
        Ty::Any => {
            for n in names {
                items.named(n, &n.name);
            }
            for k in registry::all_kinds() {
                items.kind(k);
            }
        }
        Ty::Int | Ty::Float | Ty::Str | Ty::Range | Ty::Amount | Ty::Memory | Ty::Duration => {
            for n in lets() {
                items.named(n, &n.name);
            }
        }
    }
}

/// Parameter names of `k` not yet written, as `name: default` snippets.
fn parameters(items: &mut Items, k: &Kind, written: &[String], sep: &str) {
    for p in k.params {
        if written.iter().any(|w| w == p.name) {
            continue;
        }
        let value = match p.default {
            Default::Src(s) => format!("${{1:{}}}", snippet_escape(s)),
            _ => "$1".to_string(),
        };
        let mut doc = p.doc.to_string();
        if let Some(cond) = p.applies_when {
            doc.push_str(&format!(" ({})", cond.describe()));
        }
        items.push(
            p.name,
            lsp::CompletionItemKind::FIELD,
            Some(param_line(p)),
            Some(doc),
            Some(format!("{}{sep}{value}", p.name)),
        );
    }
}

/// The names a stdlib module declares.
fn stdlib_names(module: &str) -> Vec<(String, DeclKind)> {
    let Some((_, text)) = STDLIB.iter().find(|(n, _)| *n == module) else {
        return vec![];
    };
    let (m, _) = parser::parse(FileId(0), text);
    m.items
        .iter()
        .filter_map(|i| match i {
            Item::Decl(d) => Some((d.name.name.clone(), d.kind)),
            _ => None,
        })
        .collect()
}

/// The completions at `pos`.
pub fn complete(doc: &Document, pos: lsp::Position, snippets: bool) -> Vec<lsp::CompletionItem> {
    let offset = doc.index.offset(&doc.text, pos);
    let before = &doc.text[..offset];
    let word_start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let mut items = Items {
        out: vec![],
        snippets,
    };
    let names = names(doc);
    match context(&before[..word_start]) {
        Context::TopLevel => {
            for k in DeclKind::ALL {
                let kw = k.keyword();
                let snippet = if block_schema(k).is_some() {
                    format!("{kw} ${{1:name}} {{\n\t$0\n}}")
                } else {
                    format!("{kw} ${{1:name}} = $0")
                };
                items.push(
                    kw,
                    lsp::CompletionItemKind::KEYWORD,
                    Some("declaration".into()),
                    None,
                    Some(snippet),
                );
            }
            items.push(
                "use",
                lsp::CompletionItemKind::KEYWORD,
                Some("import".into()),
                None,
                Some("use $0".into()),
            );
            items.push(
                "set",
                lsp::CompletionItemKind::KEYWORD,
                Some("setting".into()),
                None,
                Some("set ${1:seed} = $0".into()),
            );
        }
        Context::Use(None) => {
            for (m, _) in STDLIB {
                items.push(
                    m,
                    lsp::CompletionItemKind::MODULE,
                    Some("stdlib module".into()),
                    None,
                    None,
                );
            }
        }
        Context::Use(Some(module)) => {
            for (n, k) in stdlib_names(&module) {
                items.push(
                    &n,
                    lsp::CompletionItemKind::VARIABLE,
                    Some(k.keyword().into()),
                    None,
                    None,
                );
            }
            // `use std::` goes on with the module paths.
            for (m, _) in STDLIB {
                if let Some(rest) = m.strip_prefix(&format!("{module}::")) {
                    items.push(
                        rest,
                        lsp::CompletionItemKind::MODULE,
                        Some("stdlib module".into()),
                        None,
                        None,
                    );
                }
            }
        }
        Context::Setting => parameters(&mut items, registry::settings(), &[], " = "),
        Context::Field(schema) => {
            if let Some(k) = schema {
                parameters(&mut items, k, &[], " = ");
            }
            items.push(
                "zip",
                lsp::CompletionItemKind::KEYWORD,
                Some("advance sweeps together".into()),
                None,
                Some("zip($0)".into()),
            );
            items.push(
                "exclude",
                lsp::CompletionItemKind::KEYWORD,
                Some("drop combinations".into()),
                None,
                Some("exclude($0)".into()),
            );
        }
        Context::Argument(k, written, t) => {
            parameters(&mut items, k, &written, ": ");
            values(&mut items, &names, t);
        }
        Context::Value(t) => values(&mut items, &names, t),
        Context::Member(base) => {
            if let Some(n) = names.iter().find(|n| n.name == base) {
                match n.kind {
                    DeclKind::Split => {
                        for part in registry::SPLIT_MEMBERS {
                            items.word(part, "split part");
                        }
                    }
                    DeclKind::Evaluate => {
                        let k = n.callee.as_deref().and_then(registry::kind_named);
                        for m in k.map_or(&[][..], |k| k.metrics()) {
                            items.word(m, "metric");
                        }
                    }
                    DeclKind::Pretrain => {
                        for p in registry::pretrain().params {
                            items.word(p.name, "field");
                        }
                    }
                    _ => {}
                }
            }
        }
        Context::Nothing => {}
    }
    items.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts() {
        assert_eq!(context(""), Context::TopLevel);
        assert_eq!(context("policy p = [a()]\n"), Context::TopLevel);
        assert_eq!(context("use "), Context::Use(None));
        assert_eq!(
            context("use std::policies::"),
            Context::Use(Some("std::policies".into()))
        );
        assert_eq!(
            context("use std::policies::{a, "),
            Context::Use(Some("std::policies".into()))
        );
        assert_eq!(
            context("policy p = ["),
            Context::Value(Ty::Kind(Category::Op))
        );
        assert_eq!(context("policy p = [rotate() @ "), Context::Nothing);
        assert_eq!(context("set "), Context::Setting);
        assert_eq!(
            context("pretrain s {\n  method = "),
            Context::Value(Ty::Kind(Category::Method))
        );
        assert_eq!(
            context("pretrain s {\n  epochs = 3\n  "),
            Context::Field(Some(registry::pretrain()))
        );
        assert_eq!(
            context("evaluate e = knn(backbone: s, split."),
            Context::Member("split".into())
        );
        match context("method m = simclr(temperature: 0.5, ") {
            Context::Argument(k, written, _) => {
                assert_eq!(k.name, "simclr");
                assert_eq!(written, vec!["temperature".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        match context("evaluate e = knn(distance: ") {
            Context::Value(Ty::Enum(words)) => assert!(words.contains(&"cosine")),
            other => panic!("{other:?}"),
        }
    }
}
