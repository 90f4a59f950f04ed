//! The language front end: spans, syntax tree, parser, diagnostics, schema
//! registry, checker and formatter. Pure: no IO, no tensors.

pub mod ast;
pub mod diagnostic;
pub mod parser;
pub mod span;

pub use diagnostic::{Code, Diagnostic, Severity};
pub use span::{FileId, SourceMap, Span};
