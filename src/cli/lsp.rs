//! `sslp lsp`: starts the language server on stdin/stdout (see `crate::lsp`), or, with
//! `--bench FILE`, times what it does per edit on that file.

use super::{OK, PROBLEMS, USAGE, emit, read};
use std::path::Path;

/// `sslp lsp`: serves until `exit`; exit 0 after `shutdown` then `exit`, 1 otherwise.
pub fn lsp(bench: Option<&Path>) -> u8 {
    if let Some(file) = bench {
        return timing(file);
    }
    match crate::lsp::run() {
        crate::lsp::Ending::Clean => OK,
        crate::lsp::Ending::Abrupt => PROBLEMS,
    }
}

/// `sslp lsp --bench FILE`: median time of re-analysing FILE after an edit (with the
/// diagnostics), of a hover and of a completion in the middle of it.
fn timing(file: &Path) -> u8 {
    let text = match read(file) {
        Ok(t) => t,
        Err(code) => return code,
    };
    if text.is_empty() {
        eprintln!("error: {} is empty", file.display());
        return USAGE;
    }
    // A word in the middle of the file: the hover and completion point.
    let mut mid = text.len() / 2;
    while !text.is_char_boundary(mid) {
        mid -= 1;
    }
    let at = text[mid..]
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or(mid, |i| mid + i + 1);
    let runs = 21;
    let [edit, hover, complete] = crate::lsp::bench(file, &text, at, runs);
    emit(&format!(
        "{}: {} lines, median of {runs} runs\n  edit → diagnostics: {:.2} ms\n  hover:               {:.3} ms\n  completion:          {:.3} ms\n",
        file.display(),
        text.lines().count(),
        edit.as_secs_f64() * 1e3,
        hover.as_secs_f64() * 1e3,
        complete.as_secs_f64() * 1e3,
    ));
    OK
}
