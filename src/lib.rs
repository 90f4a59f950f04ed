//! `sslp`: a declarative pipeline language for self-supervised learning
//! experiments on images, and its interpreter.
//!
//! The crate is layered in one direction (see `ARCHITECTURE.md`):
//! [`lang`] reads and checks source text, [`plan`] lowers a checked program
//! into a DAG of content-addressed steps, [`exec`] runs the steps through
//! the libraries that do the work: [`data`], [`augment`], [`saliency`],
//! [`train`] (burn), [`eval`] and [`report`]. Nothing in [`lang`] touches
//! the file system except through the [`lang::Loader`] the caller provides.

#[macro_use]
mod multiversion;

pub mod augment;
pub mod cli;
pub mod data;
pub mod eval;
pub mod exec;
pub mod git;
pub mod lang;
pub mod lsp;
pub mod notes;
pub mod plan;
pub mod project;
pub mod report;
pub mod saliency;
pub mod train;
