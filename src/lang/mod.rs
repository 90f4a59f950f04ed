//! The language front end: spans, syntax tree, parser, diagnostics, schema
//! registry, checker and formatter. Pure: no IO, no tensors.

pub mod ast;
pub mod check;
pub mod diagnostic;
pub mod fmt;
pub mod hir;
pub mod modules;
pub mod number;
pub mod parser;
pub mod quantity;
pub mod registry;
pub mod span;
pub mod trivia;

pub use diagnostic::{Code, Diagnostic, Severity};
pub use hir::Program;
pub use modules::{LoadError, LoadedFile, Loader, NoImports};
pub use span::{FileId, SourceMap, Span};

/// The result of reading and checking a program.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Every file read, for rendering diagnostics.
    pub sources: SourceMap,
    /// The checked program, when there were no errors.
    pub program: Option<Program>,
    /// Every problem found, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses and checks a program given as text, reading imports through `loader`.
pub fn check_source(name: &str, id: &str, text: &str, loader: &mut dyn Loader) -> Checked {
    let loaded = modules::load(name, id, text, loader);
    let (program, diagnostics) = check::check(&loaded);
    Checked {
        sources: loaded.sources,
        program,
        diagnostics,
    }
}
