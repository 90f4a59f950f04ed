//! `sslp lsp`: a language server over stdio, built on the language core — the same parser,
//! checker, planner, registry and formatter as `sslp check`, `sslp explain` and `sslp fmt`.
//!
//! One module per concern:
//!
//! - `server`: the JSON-RPC loop, the handshake and dispatch;
//! - `document` and `position`: open documents, their analysis, byte offsets ↔ LSP
//!   positions (UTF-16 columns);
//! - `syntax`: what each word of the parsed document is (declaration, reference, kind,
//!   parameter, ...);
//! - `diagnostics`: checker diagnostics as LSP diagnostics, "did you mean" quick fixes;
//! - `hover`, `completion`, `navigation` (definition, rename of an import alias),
//!   `workspace` (references and rename across the files that import a declaration),
//!   `formatting` (formatting and the outline), `tokens` (semantic tokens).
//!
//! Unlike the language core, this module does IO: it reads imported files through the
//! project's loader (preferring the editor's text of open files) and writes read-only copies
//! of the stdlib modules for go-to-definition.

mod completion;
mod diagnostics;
mod document;
mod formatting;
mod hover;
mod navigation;
mod position;
mod server;
mod syntax;
mod tokens;
mod workspace;

pub use position::LineIndex;
pub use server::{Ending, run};

/// Times the work behind one edit of `text` as the server does it (analysis — parse, check,
/// plan — then the diagnostics conversion), then a hover and a completion at `offset`;
/// `runs` repetitions each, returning the median durations (analysis + diagnostics,
/// hover, completion). For `sslp lsp --bench`.
pub fn bench(
    path: &std::path::Path,
    text: &str,
    offset: usize,
    runs: usize,
) -> [std::time::Duration; 3] {
    use std::time::Instant;
    let open = std::collections::HashMap::new();
    let uri = lsp_types::Url::from_file_path(
        std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    )
    .unwrap_or_else(|_| lsp_types::Url::parse("untitled:bench.sslp").expect("a valid URI"));
    let mut times = [vec![], vec![], vec![]];
    let mut doc = document::Document::new(uri, text.to_string(), 0, &open);
    let index = LineIndex::new(text);
    let pos = index.position(text, offset);
    for i in 0..runs.max(1) {
        let t = Instant::now();
        doc.update(text.to_string(), i as i32, &open);
        let d = diagnostics::of(&doc);
        times[0].push(t.elapsed());
        std::hint::black_box(d);
        let t = Instant::now();
        std::hint::black_box(hover::hover(&doc, pos));
        times[1].push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(completion::complete(&doc, pos, true));
        times[2].push(t.elapsed());
    }
    times.map(|mut v| {
        v.sort();
        v[v.len() / 2]
    })
}
