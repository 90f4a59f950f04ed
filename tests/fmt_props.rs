//! Property tests for `sslp fmt`.
//!
//! Random well-formed programs are generated as token lists (so only
//! grammatical shapes come out) and rendered with random layout: spaces,
//! newlines, blank lines, CRLF, and `#` comments at line ends and on their
//! own lines between any two tokens. For each program the formatter must
//! succeed, keep the meaning (`parse(fmt(x)) == parse(x)` modulo spans),
//! be idempotent and keep every comment. Formatting a tree with the text
//! of another program (spans that do not match) must still keep the tree
//! and every comment. Arbitrary bytes, random token soup and programs with
//! random edits must never make the parser or the formatter panic, and when
//! they format, the same promises hold.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use sslp::lang::fmt::{format_module, format_source};
use sslp::lang::{FileId, parser, trivia};

type Toks = Vec<String>;

const KEYWORDS: [&str; 9] = [
    "use", "as", "set", "sweep", "step", "zip", "exclude", "true", "false",
];

const DECL_KINDS: [&str; 11] = [
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

// ------------------------------------------------------------------ atoms

fn ident() -> BoxedStrategy<String> {
    prop_oneof![
        select(vec![
            "a",
            "x1",
            "_tmp",
            "policy",
            "let",
            "data",
            "user",
            "settings",
            "sweeper",
            "true_x",
            "stepper",
            "zipper",
            "as_",
            "uses",
            "Method",
            "ssl_default",
            "b_2",
            "falsey",
        ])
        .prop_map(String::from),
        "[a-zA-Z_][a-zA-Z0-9_]{0,8}"
            .prop_filter("not a keyword", |s| !KEYWORDS.contains(&s.as_str())),
    ]
    .boxed()
}

fn number() -> BoxedStrategy<String> {
    let finite = || any::<f64>().prop_filter("finite", |v| v.is_finite());
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        (-1000i64..1000).prop_map(|v| v.to_string()),
        finite().prop_map(|v| format!("{v:e}")),
        finite().prop_map(|v| format!("{v:?}")),
        (-1e6..1e6f64).prop_map(|v| format!("{v}")),
        select(vec![
            "0.50",
            "5e-4",
            "1E3",
            "1e-6",
            "100.0",
            "2.5E+20",
            "-0.0",
            "0.0001",
            "1e16",
            "-3.25e-3",
            "007",
            "1.0e0",
            "9999999999999999.0",
            "1e-4",
            "0.00009999",
        ])
        .prop_map(String::from),
    ]
    .boxed()
}

/// A string literal over awkward characters, in either quote style.
fn string_lit() -> BoxedStrategy<String> {
    let chars = vec(
        select(vec![
            'a', 'Z', ' ', '#', '"', '\'', '\\', '\n', '\t', '\r', 'é', '✓', '{', '.',
        ]),
        0..8,
    );
    (chars, any::<bool>())
        .prop_map(|(chars, double)| {
            let quote = if double { '"' } else { '\'' };
            let mut out = String::from(quote);
            for c in chars {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
            out
        })
        .boxed()
}

fn leaf() -> BoxedStrategy<Toks> {
    let range_op = || select(vec!["..", "..="]).prop_map(String::from);
    prop_oneof![
        3 => number().prop_map(|n| vec![n]),
        2 => string_lit().prop_map(|s| vec![s]),
        1 => any::<bool>().prop_map(|b| vec![b.to_string()]),
        3 => vec(ident(), 1..4).prop_map(|ids| join(ids.into_iter().map(|i| vec![i]).collect(), ".")),
        1 => (number(), range_op(), number()).prop_map(|(a, op, b)| vec![a, op, b]),
        1 => (number(), range_op(), number(), proptest::option::of(number())).prop_map(
            |(a, op, b, step)| {
                let mut t = vec!["sweep".to_string(), a, op, b];
                if let Some(s) = step {
                    t.extend(["step".to_string(), s]);
                }
                t
            }
        ),
    ]
    .boxed()
}

// ------------------------------------------------------------ compositions

fn join(parts: Vec<Toks>, sep: &str) -> Toks {
    let mut out = Vec::new();
    for (i, p) in parts.into_iter().enumerate() {
        if i > 0 {
            out.push(sep.to_string());
        }
        out.extend(p);
    }
    out
}

/// `open a, b, c close`, with an optional trailing comma when not empty.
fn delimited(open: &str, parts: Vec<Toks>, trailing: bool, close: &str) -> Toks {
    let nonempty = !parts.is_empty();
    let mut out = vec![open.to_string()];
    out.extend(join(parts, ","));
    if trailing && nonempty {
        out.push(",".into());
    }
    out.push(close.into());
    out
}

fn arg(expr: BoxedStrategy<Toks>) -> BoxedStrategy<Toks> {
    let name = (ident(), select(vec![":", "="]));
    (proptest::option::of(name), expr)
        .prop_map(|(name, value)| match name {
            Some((n, sep)) => [vec![n, sep.to_string()], value].concat(),
            None => value,
        })
        .boxed()
}

fn args(expr: BoxedStrategy<Toks>) -> BoxedStrategy<(Vec<Toks>, bool)> {
    (vec(arg(expr), 0..4), any::<bool>()).boxed()
}

fn expr() -> BoxedStrategy<Toks> {
    leaf().prop_recursive(4, 48, 4, |inner| {
        let atom = prop_oneof![
            2 => leaf(),
            2 => (ident(), args(inner.clone()))
                .prop_map(|(f, (a, t))| [vec![f], delimited("(", a, t, ")")].concat()),
            1 => (vec(inner.clone(), 0..4), any::<bool>()).prop_map(|(xs, t)| delimited("[", xs, t, "]")),
            1 => (vec(inner.clone(), 0..4), any::<bool>())
                .prop_map(|(xs, t)| [vec!["sweep".to_string()], delimited("[", xs, t, "]")].concat()),
        ];
        let term = prop_oneof![
            3 => atom.clone(),
            1 => (atom.clone(), atom).prop_map(|(op, p)| [op, vec!["@".to_string()], p].concat()),
        ];
        prop_oneof![3 => term.clone(), 1 => vec(term, 2..4).prop_map(|ts| join(ts, "++"))]
    })
    .boxed()
}

fn block() -> BoxedStrategy<Toks> {
    let field = (ident(), expr()).prop_map(|(n, e)| [vec![n, "=".to_string()], e].concat());
    let directive = (select(vec!["zip", "exclude"]), args(expr()))
        .prop_map(|(k, (a, t))| [vec![k.to_string()], delimited("(", a, t, ")")].concat());
    let entry =
        (prop_oneof![3 => field, 1 => directive], any::<bool>()).prop_map(|(mut e, comma)| {
            if comma {
                e.push(",".into());
            }
            e
        });
    vec(entry, 0..5)
        .prop_map(|entries| {
            let mut out = vec!["{".to_string()];
            out.extend(entries.into_iter().flatten());
            out.push("}".into());
            out
        })
        .boxed()
}

fn use_item() -> BoxedStrategy<Toks> {
    let module = prop_oneof![
        vec(ident(), 1..3).prop_map(|ids| ids
            .into_iter()
            .flat_map(|i| [i, "::".to_string()])
            .collect::<Toks>()),
        string_lit().prop_map(|s| vec![s, "::".to_string()]),
    ];
    let import = (ident(), proptest::option::of(ident()))
        .prop_map(|(n, alias)| match alias {
            Some(a) => vec![n, "as".to_string(), a],
            None => vec![n],
        })
        .boxed();
    let imports = prop_oneof![
        import.clone(),
        (vec(import, 1..4), any::<bool>()).prop_map(|(is, t)| delimited("{", is, t, "}")),
    ];
    (module, imports)
        .prop_map(|(m, i)| [vec!["use".to_string()], m, i].concat())
        .boxed()
}

fn item() -> BoxedStrategy<Toks> {
    let set = (ident(), expr())
        .prop_map(|(n, e)| [vec!["set".to_string(), n, "=".to_string()], e].concat());
    let decl_expr = (select(DECL_KINDS.to_vec()), ident(), expr())
        .prop_map(|(k, n, e)| [vec![k.to_string(), n, "=".to_string()], e].concat());
    let decl_block = (select(DECL_KINDS.to_vec()), ident(), block())
        .prop_map(|(k, n, b)| [vec![k.to_string(), n], b].concat());
    prop_oneof![1 => use_item(), 1 => set, 3 => decl_expr, 2 => decl_block].boxed()
}

// ------------------------------------------------------------------ layout

/// Separators between tokens; index 2 glues tokens where that is safe.
const SEPARATORS: [&str; 14] = [
    " ",
    " ",
    "",
    "\n",
    "\n    ",
    "  # trailing comment\n",
    "\n# own line\n",
    "\n\n",
    " #\n",
    "\n  # indented \"q\" 'x' # h ✓   \n\n",
    "\t",
    "\r\n",
    " # crlf comment\r\n",
    "\n# one\n# two\n\n# three\n",
];

fn is_word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Joins tokens, choosing each separator from `seps` in turn.
fn layout(tokens: &[String], seps: &[usize]) -> String {
    let mut out = String::new();
    let mut sep = seps.iter().cycle();
    out.push_str(SEPARATORS[sep.next().copied().unwrap_or(0) % 3 + 3]);
    for (i, tok) in tokens.iter().enumerate() {
        if i > 0 {
            let mut s = SEPARATORS[sep.next().copied().unwrap_or(0)];
            let glued = is_word(out.chars().last()) && is_word(tok.chars().next());
            if s.is_empty() && glued {
                s = " ";
            }
            out.push_str(s);
        }
        out.push_str(tok);
    }
    out.push_str(SEPARATORS[sep.next().copied().unwrap_or(0) % 7 + 5]);
    out
}

/// Separator choices: sometimes only whitespace, sometimes comments too.
fn separators(len: std::ops::Range<usize>) -> BoxedStrategy<Vec<usize>> {
    let plain = vec(select(vec![0, 1, 2, 3, 4, 7, 10, 11]), len.clone());
    let any_sep = vec(prop_oneof![4 => 0..3usize, 1 => 0..SEPARATORS.len()], len);
    prop_oneof![plain, any_sep].boxed()
}

fn program_tokens() -> BoxedStrategy<Toks> {
    vec(item(), 0..6)
        .prop_map(|items| items.into_iter().flatten().collect())
        .boxed()
}

fn program() -> BoxedStrategy<String> {
    (program_tokens(), separators(1..48))
        .prop_map(|(tokens, seps)| layout(&tokens, &seps))
        .boxed()
}

/// One edit to a token list: delete, duplicate, or insert a soup token.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Insert(usize, &'static str),
}

fn mutate(tokens: &mut Toks, m: &Mutation) {
    if tokens.is_empty() {
        return;
    }
    match *m {
        Mutation::Delete(i) => {
            tokens.remove(i % tokens.len());
        }
        Mutation::Duplicate(i) => {
            let t = tokens[i % tokens.len()].clone();
            tokens.insert(i % tokens.len(), t);
        }
        Mutation::Insert(i, t) => tokens.insert(i % tokens.len(), t.to_string()),
    }
}

fn mutation() -> BoxedStrategy<Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Duplicate),
        (any::<usize>(), select(TOKEN_SOUP.to_vec())).prop_map(|(i, t)| Mutation::Insert(i, t)),
    ]
    .boxed()
}

// ------------------------------------------------------------------ checks

fn comment_texts(src: &str) -> Vec<String> {
    let mut texts: Vec<String> = trivia::comments(FileId(0), src)
        .into_iter()
        .map(|c| c.text)
        .collect();
    texts.sort();
    texts
}

/// Everything `sslp fmt` promises about a source that parses.
fn check_formatting(src: &str, out: &str) -> Result<(), TestCaseError> {
    let (mut before, _) = parser::parse(FileId(0), src);
    let (mut after, diags) = parser::parse(FileId(0), out);
    prop_assert!(diags.is_empty(), "output does not parse: {diags:?}\n{out}");
    before.clear_spans();
    after.clear_spans();
    prop_assert_eq!(before, after, "meaning changed:\n{}", out);
    let again = format_source(out).ok();
    prop_assert_eq!(again.as_deref(), Some(out), "not idempotent:\n{}", out);
    prop_assert_eq!(comment_texts(src), comment_texts(out));
    prop_assert!(out.is_empty() || (out.ends_with('\n') && !out.ends_with("\n\n")));
    prop_assert!(
        !out.contains("\n\n\n"),
        "two blank lines in a row:\n{}",
        out
    );
    for line in out.lines() {
        prop_assert_eq!(
            line,
            line.trim_end_matches([' ', '\t']),
            "trailing whitespace:\n{}",
            out
        );
    }
    Ok(())
}

const TOKEN_SOUP: [&str; 40] = [
    "policy",
    "pretrain",
    "let",
    "use",
    "set",
    "sweep",
    "step",
    "zip",
    "exclude",
    "as",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "::",
    "=",
    "..",
    "..=",
    "@",
    "++",
    ".",
    "1",
    "-2",
    "0.5",
    "5e-4",
    "1e400",
    "99999999999999999999",
    "x",
    "ssl",
    "true",
    "#",
    "# c\n",
    "\"",
    "'",
    "\"s\\q\"",
    "\n",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_programs_format_correctly(src in program()) {
        let (_, diags) = parser::parse(FileId(0), &src);
        prop_assert!(diags.is_empty(), "generator made an invalid program: {diags:?}\n{src}");
        let out = format_source(&src);
        prop_assert!(out.is_ok(), "format failed: {out:?}");
        check_formatting(&src, &out.unwrap_or_default())?;
    }

    #[test]
    fn spans_that_do_not_match_the_text_are_survived(a in program(), b in program()) {
        // The tree of `a`, formatted with the comments of `b` (and with no spans at all).
        let (mut module, _) = parser::parse(FileId(0), &a);
        for tree in [module.clone(), { module.clear_spans(); module }] {
            let out = format_module(&b, &tree);
            let (mut again, diags) = parser::parse(FileId(0), &out);
            prop_assert!(diags.is_empty(), "output does not parse: {diags:?}\n{out}");
            again.clear_spans();
            let mut want = tree;
            want.clear_spans();
            prop_assert_eq!(again, want, "meaning changed:\n{}", out);
            prop_assert_eq!(comment_texts(&b), comment_texts(&out));
        }
    }

    #[test]
    fn mutated_programs_never_panic(
        tokens in program_tokens(),
        edits in vec(mutation(), 1..4),
        seps in separators(1..32),
    ) {
        let mut tokens = tokens;
        edits.iter().for_each(|m| mutate(&mut tokens, m));
        let src = layout(&tokens, &seps);
        let _ = parser::parse(FileId(0), &src);
        if let Ok(out) = format_source(&src) {
            check_formatting(&src, &out)?;
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..200)) {
        let src = String::from_utf8_lossy(&bytes);
        let _ = parser::parse(FileId(0), &src);
        if let Ok(out) = format_source(&src) {
            check_formatting(&src, &out)?;
        }
    }

    #[test]
    fn token_soup_never_panics(
        toks in vec(select(TOKEN_SOUP.to_vec()), 0..40),
        seps in separators(1..16),
    ) {
        let toks: Toks = toks.into_iter().map(String::from).collect();
        let src = layout(&toks, &seps);
        let _ = parser::parse(FileId(0), &src);
        if let Ok(out) = format_source(&src) {
            check_formatting(&src, &out)?;
        }
    }
}
