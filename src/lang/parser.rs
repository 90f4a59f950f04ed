//! Source text to [`ast::Module`](crate::lang::ast::Module), with error recovery.
//!
//! pest stops at the first error, so the driver parses one top-level item at
//! a time: after a syntax error it reports it, skips to the next line that
//! starts with a keyword, and goes on. The result is always a module (maybe
//! partial) plus every syntax error found — parsing never fails.

use super::ast::*;
use super::diagnostic::{Code, Diagnostic};
use super::span::{FileId, Span};
use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest_derive::Parser;

#[derive(Parser)]
#[grammar = "../grammar/sslp.pest"]
struct SslpParser;

/// Parses a module. Never fails: syntax errors come back as diagnostics.
pub fn parse(file: FileId, src: &str) -> (Module, Vec<Diagnostic>) {
    let mut module = Module::default();
    let mut diags = Vec::new();
    if let Some(at) = too_deep(src) {
        // Recursive descent on absurd nesting would exhaust the stack.
        diags.push(
            Diagnostic::error(
                Code::ParseSyntax,
                Span::new(file, at, at + 1),
                format!("brackets are nested more than {MAX_DEPTH} levels deep"),
                "too deep",
            )
            .with_help("flatten the expression, or name parts of it with `let`"),
        );
        return (module, diags);
    }
    let mut pos = 0;
    loop {
        pos = skip_trivia(src, pos);
        if pos >= src.len() {
            break;
        }
        match SslpParser::parse(Rule::item_at, &src[pos..]) {
            Ok(mut pairs) => {
                let Some(pair) = pairs.next() else { break };
                let end = pos + pair.as_span().end();
                let mut b = Builder {
                    file,
                    base: pos,
                    diags: &mut diags,
                };
                if let Some(item) = b.item(pair) {
                    module.items.push(item);
                }
                pos = end;
            }
            Err(err) => {
                diags.push(syntax_error(file, src, pos, &err));
                match next_item_start(src, pos) {
                    Some(next) => pos = next,
                    None => break,
                }
            }
        }
    }
    (module, diags)
}

/// Deepest bracket nesting the parser accepts.
pub const MAX_DEPTH: usize = 64;

/// Walks the source outside strings and comments, calling `f(offset, byte)` on every code byte.
fn scan_code(src: &str, mut f: impl FnMut(usize, u8) -> bool) {
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            q @ (b'"' | b'\'') => {
                if !f(i, q) {
                    return;
                }
                i += 1;
                while i < bytes.len() && bytes[i] != q && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if i < bytes.len() && !f(i, bytes[i]) {
                    return;
                }
            }
            b => {
                if !f(i, b) {
                    return;
                }
            }
        }
        i += 1;
    }
}

/// The offset of the first bracket nested deeper than [`MAX_DEPTH`], if any.
fn too_deep(src: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut found = None;
    scan_code(src, |i, b| {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    found = Some(i);
                    return false;
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        true
    });
    found
}

/// Length of `text` up to the end of its last code byte (trailing whitespace and comments dropped).
fn content_len(text: &str) -> usize {
    let mut end = 0;
    scan_code(text, |i, b| {
        if !b.is_ascii_whitespace() {
            end = i + 1;
        }
        true
    });
    end
}

/// Skips whitespace and `#` comments.
fn skip_trivia(src: &str, mut pos: usize) -> usize {
    let bytes = src.as_bytes();
    while pos < bytes.len() {
        match bytes[pos] {
            b' ' | b'\t' | b'\r' | b'\n' => pos += 1,
            b'#' => {
                while pos < bytes.len() && bytes[pos] != b'\n' {
                    pos += 1;
                }
            }
            _ => break,
        }
    }
    pos
}

const ITEM_KEYWORDS: [&str; 13] = [
    "use",
    "set",
    "dataset",
    "split",
    "policy",
    "backbone",
    "method",
    "optimizer",
    "schedule",
    "pretrain",
    "evaluate",
    "report",
    "let",
];

/// The start of the next line (after `pos`) that begins, at column 0, with an item keyword.
fn next_item_start(src: &str, pos: usize) -> Option<usize> {
    let mut line_start = src[pos..].find('\n').map(|i| pos + i + 1)?;
    loop {
        let rest = &src[line_start..];
        let starts = ITEM_KEYWORDS.iter().any(|kw| {
            rest.starts_with(kw)
                && rest[kw.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| !(c.is_ascii_alphanumeric() || c == '_'))
        });
        if starts {
            return Some(line_start);
        }
        line_start = line_start + rest.find('\n')? + 1;
    }
}

fn describe_rule(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::ident => "a name",
        Rule::expr | Rule::term => "an expression",
        Rule::number => "a number",
        Rule::string => "a string",
        Rule::decl_kind | Rule::item_at | Rule::use_decl | Rule::set_decl | Rule::decl => {
            "a declaration (dataset, split, policy, backbone, method, optimizer, schedule, pretrain, evaluate, report, let), `use` or `set`"
        }
        Rule::block => "`{`",
        Rule::field => "a field `name = value`",
        Rule::directive => "`zip(...)` or `exclude(...)`",
        Rule::arg => "an argument",
        Rule::list => "`[`",
        Rule::sweep => "`sweep`",
        Rule::range_step | Rule::range => "a range `lo..hi`",
        Rule::import_list | Rule::import => "an imported name",
        Rule::module_ref | Rule::module_path => "a module path such as `std::policies::`",
        Rule::call => "a call",
        Rule::path => "a name",
        Rule::boolean => "`true` or `false`",
        Rule::concat => "`++`",
        Rule::kw_step => "`step`",
        Rule::kw_as => "`as`",
        Rule::EOI => "end of input",
        _ => return None,
    })
}

fn syntax_error(
    file: FileId,
    src: &str,
    base: usize,
    err: &pest::error::Error<Rule>,
) -> Diagnostic {
    let at = base
        + match err.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
    let at = at.min(src.len());
    let found = found_token(src, at);
    let expected = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().filter_map(|r| describe_rule(*r)).collect();
            names.sort_unstable();
            names.dedup();
            names
        }
        ErrorVariant::CustomError { .. } => vec![],
    };
    let expected_text = match expected.len() {
        0 => "something else".to_string(),
        1 => expected[0].to_string(),
        _ => {
            let (last, rest) = expected.split_last().unwrap_or((&"", &[]));
            format!("{} or {}", rest.join(", "), last)
        }
    };
    let end = (at + found.len().max(1)).min(src.len()).max(at);
    let found_text = if found.is_empty() {
        "end of file".to_string()
    } else {
        format!("`{found}`")
    };
    let mut d = Diagnostic::error(
        Code::ParseSyntax,
        Span::new(file, at, end),
        format!("expected {expected_text}, found {found_text}"),
        format!("expected {expected_text}"),
    );
    if found == "=" && expected.contains(&"an expression") {
        d = d.with_help("call arguments are written `name: value`");
    }
    d
}

/// The token at `at`: a word, a number, or one character.
fn found_token(src: &str, at: usize) -> &str {
    let rest = &src[at..];
    let Some(first) = rest.chars().next() else {
        return "";
    };
    let len = if first.is_ascii_alphanumeric() || first == '_' {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len())
    } else {
        first.len_utf8()
    };
    &rest[..len]
}

struct Builder<'d> {
    file: FileId,
    base: usize,
    diags: &'d mut Vec<Diagnostic>,
}

impl Builder<'_> {
    /// The pair's span without the whitespace and comments pest skips after it.
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        let end = s.start() + content_len(s.as_str());
        Span::new(self.file, self.base + s.start(), self.base + end)
    }

    fn ident(&self, pair: Pair<Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn item(&mut self, pair: Pair<Rule>) -> Option<Item> {
        match pair.as_rule() {
            Rule::use_decl => Some(Item::Use(self.use_decl(pair))),
            Rule::set_decl => {
                let span = self.span(&pair);
                let mut inner = pair.into_inner();
                inner.next(); // kw_set
                let name = self.ident(inner.next()?);
                let value = self.expr(inner.next()?);
                Some(Item::Set(SetDecl { name, value, span }))
            }
            Rule::decl => self.decl(pair).map(Item::Decl),
            _ => None,
        }
    }

    fn use_decl(&mut self, pair: Pair<Rule>) -> UseDecl {
        let span = self.span(&pair);
        let mut module = ModuleRef::Path(vec![]);
        let mut imports = vec![];
        let mut braced = false;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::module_ref => {
                    let inner = p.into_inner().next();
                    if let Some(inner) = inner {
                        module = match inner.as_rule() {
                            Rule::string => {
                                let span = self.span(&inner);
                                ModuleRef::File {
                                    path: self.string(inner),
                                    span,
                                }
                            }
                            _ => {
                                ModuleRef::Path(inner.into_inner().map(|i| self.ident(i)).collect())
                            }
                        };
                    }
                }
                Rule::import_list => {
                    braced = p.as_str().trim_start().starts_with('{');
                    for imp in p.into_inner() {
                        let mut parts = imp.into_inner();
                        let Some(name) = parts.next() else { continue };
                        let name = self.ident(name);
                        let alias = parts
                            .find(|q| q.as_rule() == Rule::ident)
                            .map(|a| self.ident(a));
                        imports.push(Import { name, alias });
                    }
                }
                _ => {}
            }
        }
        UseDecl {
            module,
            braced,
            imports,
            span,
        }
    }

    fn decl(&mut self, pair: Pair<Rule>) -> Option<Decl> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let kind = DeclKind::from_keyword(inner.next()?.as_str())?;
        let name = self.ident(inner.next()?);
        let body = inner.next()?;
        let body = match body.as_rule() {
            Rule::block => DeclBody::Block(self.block(body)),
            _ => DeclBody::Expr(self.expr(body)),
        };
        Some(Decl {
            kind,
            name,
            body,
            span,
        })
    }

    fn block(&mut self, pair: Pair<Rule>) -> Block {
        let span = self.span(&pair);
        let mut items = vec![];
        for p in pair.into_inner() {
            let item_span = self.span(&p);
            match p.as_rule() {
                Rule::field => {
                    let mut inner = p.into_inner();
                    let (Some(name), Some(value)) = (inner.next(), inner.next()) else {
                        continue;
                    };
                    let name = self.ident(name);
                    let value = self.expr(value);
                    items.push(BlockItem::Field(Field {
                        name,
                        value,
                        span: item_span,
                    }));
                }
                Rule::directive => {
                    let mut inner = p.into_inner();
                    let kind = match inner.next().map(|k| k.as_rule()) {
                        Some(Rule::kw_zip) => DirectiveKind::Zip,
                        _ => DirectiveKind::Exclude,
                    };
                    let args: Vec<Arg> = inner.map(|a| self.arg(a)).collect();
                    items.push(BlockItem::Directive(Directive {
                        kind,
                        args,
                        span: item_span,
                    }));
                }
                _ => {}
            }
        }
        Block { items, span }
    }

    fn arg(&mut self, pair: Pair<Rule>) -> Arg {
        let span = self.span(&pair);
        let mut name = None;
        let mut value = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => name = Some(self.ident(p)),
                _ => value = Some(self.expr(p)),
            }
        }
        let value = value.unwrap_or(Expr {
            kind: ExprKind::Bool(false),
            span,
        });
        Arg { name, value, span }
    }

    fn expr(&mut self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::expr => {
                let terms: Vec<Expr> = pair
                    .into_inner()
                    .filter(|p| p.as_rule() != Rule::concat)
                    .map(|p| self.expr(p))
                    .collect();
                if terms.len() == 1 {
                    terms.into_iter().next().unwrap_or(Expr {
                        kind: ExprKind::List(vec![]),
                        span,
                    })
                } else {
                    Expr {
                        kind: ExprKind::Concat(terms),
                        span,
                    }
                }
            }
            Rule::term => {
                let mut inner = pair.into_inner();
                let Some(first) = inner.next() else {
                    return Expr {
                        kind: ExprKind::List(vec![]),
                        span,
                    };
                };
                let op = self.expr(first);
                match inner.next() {
                    Some(p) => Expr {
                        kind: ExprKind::Prob {
                            op: Box::new(op),
                            p: Box::new(self.expr(p)),
                        },
                        span,
                    },
                    None => op,
                }
            }
            Rule::number => self.number(pair),
            Rule::string => {
                let value = self.string(pair);
                Expr {
                    kind: ExprKind::Str(value),
                    span,
                }
            }
            Rule::boolean => Expr {
                kind: ExprKind::Bool(pair.as_str() == "true"),
                span,
            },
            Rule::path => Expr {
                kind: ExprKind::Path(pair.into_inner().map(|i| self.ident(i)).collect()),
                span,
            },
            Rule::list => Expr {
                kind: ExprKind::List(pair.into_inner().map(|p| self.expr(p)).collect()),
                span,
            },
            Rule::range => {
                let mut inner = pair.into_inner();
                let lo = inner.next().map(|p| self.expr(p));
                let hi = inner.next().map(|p| self.expr(p));
                match (lo, hi) {
                    (Some(lo), Some(hi)) => Expr {
                        kind: ExprKind::Range(Box::new(lo), Box::new(hi)),
                        span,
                    },
                    _ => Expr {
                        kind: ExprKind::List(vec![]),
                        span,
                    },
                }
            }
            Rule::call => {
                let mut inner = pair.into_inner();
                let callee = inner.next().map(|p| self.ident(p)).unwrap_or(Ident {
                    name: String::new(),
                    span,
                });
                let args = inner.map(|a| self.arg(a)).collect();
                Expr {
                    kind: ExprKind::Call { callee, args },
                    span,
                }
            }
            Rule::sweep => {
                let mut inner = pair.into_inner();
                inner.next(); // kw_sweep
                let Some(body) = inner.next() else {
                    return Expr {
                        kind: ExprKind::Sweep(Sweep::List(vec![])),
                        span,
                    };
                };
                let sweep = match body.as_rule() {
                    Rule::list => Sweep::List(body.into_inner().map(|p| self.expr(p)).collect()),
                    _ => {
                        let mut nums = body.into_inner().filter(|p| p.as_rule() == Rule::number);
                        let lo = nums.next().map(|p| self.number(p));
                        let hi = nums.next().map(|p| self.number(p));
                        let step = nums.next().map(|p| Box::new(self.number(p)));
                        match (lo, hi) {
                            (Some(lo), Some(hi)) => Sweep::Range {
                                lo: Box::new(lo),
                                hi: Box::new(hi),
                                step,
                            },
                            _ => Sweep::List(vec![]),
                        }
                    }
                };
                Expr {
                    kind: ExprKind::Sweep(sweep),
                    span,
                }
            }
            _ => Expr {
                kind: ExprKind::List(vec![]),
                span,
            },
        }
    }

    fn number(&mut self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        let text = pair.as_str();
        let is_float = text.contains(['.', 'e', 'E']);
        let kind = if is_float {
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => ExprKind::Float(v),
                _ => {
                    self.diags.push(Diagnostic::error(
                        Code::ParseNumber,
                        span,
                        format!("the number `{text}` is too large"),
                        "not a finite number",
                    ));
                    ExprKind::Float(0.0)
                }
            }
        } else {
            match text.parse::<i64>() {
                Ok(v) => ExprKind::Int(v),
                Err(_) => {
                    self.diags.push(
                        Diagnostic::error(
                            Code::ParseNumber,
                            span,
                            format!("the integer `{text}` does not fit in 64 bits"),
                            "too large",
                        )
                        .with_help("write it as a float, e.g. `1e20`"),
                    );
                    ExprKind::Int(0)
                }
            }
        };
        Expr { kind, span }
    }

    /// Unescapes a string literal (`\"`, `\\`, `\n`, `\t`, `\'`).
    fn string(&mut self, pair: Pair<Rule>) -> String {
        let span = self.span(&pair);
        let raw = pair.into_inner().next().map(|p| p.as_str()).unwrap_or("");
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some('\'') => out.push('\''),
                other => {
                    let shown = other.map(|c| c.to_string()).unwrap_or_default();
                    self.diags.push(
                        Diagnostic::error(
                            Code::ParseString,
                            span,
                            format!("unknown escape `\\{shown}` in a string"),
                            "bad escape",
                        )
                        .with_help("the escapes are \\n, \\t, \\\\, \\\" and \\'"),
                    );
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(src: &str) -> Module {
        let (m, d) = parse(FileId(0), src);
        assert!(d.is_empty(), "unexpected diagnostics: {d:#?}");
        m
    }

    #[test]
    fn parses_each_item_form() {
        let m = parse_ok(
            r#"
use std::policies::{ssl_default, byol_v1 as v1}
use "lib/common.sslp"::shared
set seed = 42
dataset pv = image_folder("data/pv", masks: "masks", size: 256)
policy p = [saliency_cut() @ 0.5, color_jitter(0.4, 0.4, 0.4, 0.1) @ 0.8] ++ ssl_default
pretrain ssl {
  data = pv
  batch = sweep [16, 128]
  scale = sweep 0.1..1.0 step 0.1
  zip(batch, scale)
  exclude(batch: 16, scale: 0.5)
}
"#,
        );
        assert_eq!(m.items.len(), 6);
        let Item::Decl(d) = &m.items[4] else { panic!() };
        let DeclBody::Expr(Expr {
            kind: ExprKind::Concat(parts),
            ..
        }) = &d.body
        else {
            panic!("{:?}", d.body)
        };
        assert_eq!(parts.len(), 2);
        let Item::Decl(d) = &m.items[5] else { panic!() };
        let DeclBody::Block(b) = &d.body else {
            panic!()
        };
        assert_eq!(b.items.len(), 5);
    }

    #[test]
    fn numbers_are_typed() {
        let m = parse_ok("let a = [1, -2, 0.5, 5e-4, 1E3]");
        let Item::Decl(d) = &m.items[0] else { panic!() };
        let DeclBody::Expr(Expr {
            kind: ExprKind::List(xs),
            ..
        }) = &d.body
        else {
            panic!()
        };
        let kinds: Vec<_> = xs.iter().map(|e| e.kind.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                ExprKind::Int(1),
                ExprKind::Int(-2),
                ExprKind::Float(0.5),
                ExprKind::Float(5e-4),
                ExprKind::Float(1e3)
            ]
        );
    }

    #[test]
    fn recovers_after_a_syntax_error() {
        let src = "policy p = [blur( @ 0.5]\nlet ok = 1\nlet bad = = 2\nlet also_ok = 3\n";
        let (m, d) = parse(FileId(0), src);
        assert_eq!(d.len(), 2, "{d:#?}");
        assert_eq!(m.items.len(), 2);
        assert!(d.iter().all(|d| d.code == Code::ParseSyntax));
        // The first error points into line 1, the second into line 3.
        assert!(d[0].primary.span.start < 24);
        assert!(d[1].primary.span.start as usize > src.find("let bad").unwrap());
    }

    #[test]
    fn keywords_are_not_names() {
        let (_, d) = parse(FileId(0), "let sweep = 1");
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn step_is_a_keyword_only_inside_a_sweep_range() {
        // `step` is also the name of a learning-rate schedule.
        parse_ok("schedule s = step(milestones: [30, 60], gamma: 0.1)");
        parse_ok("let lr = sweep 0.1..0.3 step 0.1");
    }

    #[test]
    fn string_escapes() {
        let m = parse_ok(r#"let s = "a\"b\\c""#);
        let Item::Decl(d) = &m.items[0] else { panic!() };
        let DeclBody::Expr(e) = &d.body else { panic!() };
        assert_eq!(e.kind, ExprKind::Str("a\"b\\c".into()));
    }

    #[test]
    fn spans_stop_at_the_last_token() {
        let src = "let a = b   # c\nlet x = [1, 2]  # d\n";
        let m = parse_ok(src);
        let Item::Decl(d) = &m.items[0] else { panic!() };
        assert_eq!(&src[d.span.range()], "let a = b");
        let Item::Decl(d) = &m.items[1] else { panic!() };
        let DeclBody::Expr(e) = &d.body else { panic!() };
        assert_eq!(&src[e.span.range()], "[1, 2]");
    }

    #[test]
    fn absurd_nesting_is_a_diagnostic_not_a_crash() {
        let src = format!("let a = {}1{}", "[".repeat(5000), "]".repeat(5000));
        let (_, d) = parse(FileId(0), &src);
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("nested"));
        let ok = format!(
            "let a = {}1{}",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert!(parse(FileId(0), &ok).1.is_empty());
    }

    #[test]
    fn huge_integer_is_a_diagnostic() {
        let (_, d) = parse(FileId(0), "let x = 99999999999999999999999");
        assert_eq!(d[0].code, Code::ParseNumber);
    }
}
