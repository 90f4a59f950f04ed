//! Loading a program: the root file, the stdlib modules it uses, and the
//! files it imports relatively.
//!
//! The language core does no IO itself: relative imports go through the
//! caller's [`Loader`]; stdlib modules are embedded in the binary.

use super::ast::{Item, Module, ModuleRef};
use super::diagnostic::{Code, Diagnostic};
use super::parser;
use super::span::{FileId, SourceMap};
use std::collections::HashMap;

/// A file handed over by a [`Loader`].
#[derive(Debug, Clone)]
pub struct LoadedFile {
    /// Name shown in diagnostics.
    pub name: String,
    /// Identity used to load each file once (e.g. its canonical path).
    pub id: String,
    /// Its text.
    pub text: String,
}

/// Why a [`Loader`] did not hand over a file. Neither variant may carry the file's content:
/// the message is shown in a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The file could not be read, or is not a `.sslp` text file.
    Read(String),
    /// The path resolves outside the project root (the loader decides where that is).
    OutsideProject {
        /// Where the path leads (resolved), as shown to the user.
        resolved: String,
        /// The project root.
        root: String,
    },
}

impl From<String> for LoadError {
    fn from(why: String) -> Self {
        LoadError::Read(why)
    }
}

/// Reads the files a program imports relatively.
pub trait Loader {
    /// Reads `path` as written in a `use` of the file identified by `from_id`.
    fn load(&mut self, from_id: &str, path: &str) -> Result<LoadedFile, LoadError>;
}

/// A loader that refuses relative imports (for programs held in memory).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoImports;

impl Loader for NoImports {
    fn load(&mut self, _from_id: &str, path: &str) -> Result<LoadedFile, LoadError> {
        Err(LoadError::Read(format!(
            "cannot read `{path}`: this program was not loaded from a file"
        )))
    }
}

/// The stdlib modules, embedded: `std::policies`, `std::methods`, and the
/// small-scale recipes `std::recipes::small_images`.
pub const STDLIB: &[(&str, &str)] = &[
    ("std::policies", include_str!("../../stdlib/policies.sslp")),
    ("std::methods", include_str!("../../stdlib/methods.sslp")),
    (
        "std::recipes::small_images",
        include_str!("../../stdlib/recipes/small_images.sslp"),
    ),
];

/// One parsed module of a program.
#[derive(Debug, Clone)]
pub struct ParsedModule {
    /// Its file.
    pub file: FileId,
    /// Its syntax tree.
    pub ast: Module,
    /// Loader identity (or `std::...`), for relative imports from it.
    pub id: String,
    /// For each `use` item (by item index), the module index it resolved to.
    pub imports: HashMap<usize, usize>,
}

/// Every module of a program, parsed, with the problems found so far.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Source text of every file, for diagnostics.
    pub sources: SourceMap,
    /// Modules; index 0 is the root.
    pub modules: Vec<ParsedModule>,
    /// Syntax and import errors.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses the root file and everything it imports, each file once.
pub fn load(root_name: &str, root_id: &str, root_text: &str, loader: &mut dyn Loader) -> Loaded {
    let mut loaded = Loaded {
        sources: SourceMap::new(),
        modules: vec![],
        diagnostics: vec![],
    };
    let mut by_id: HashMap<String, usize> = HashMap::new();
    add_module(&mut loaded, &mut by_id, root_name, root_id, root_text);
    let mut next = 0;
    while next < loaded.modules.len() {
        let uses: Vec<(usize, ModuleRef)> = loaded.modules[next]
            .ast
            .items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item {
                Item::Use(u) => Some((i, u.module.clone())),
                _ => None,
            })
            .collect();
        let from_id = loaded.modules[next].id.clone();
        for (item_index, module_ref) in uses {
            let target = match &module_ref {
                ModuleRef::Path(path) => {
                    let name = path
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join("::");
                    match STDLIB.iter().find(|(n, _)| *n == name) {
                        Some((n, text)) => Some(add_module(&mut loaded, &mut by_id, n, n, text)),
                        None => {
                            let span = path
                                .first()
                                .map(|f| f.span.to(path.last().map_or(f.span, |l| l.span)))
                                .unwrap_or_default();
                            let known: Vec<&str> = STDLIB.iter().map(|(n, _)| *n).collect();
                            loaded.diagnostics.push(
                                Diagnostic::error(
                                    Code::ImportUnknownModule,
                                    span,
                                    format!("there is no module `{name}`"),
                                    "unknown module",
                                )
                                .with_help(format!(
                                    "the stdlib modules are {}; import your own files with `use \"path.sslp\"::name`",
                                    known.join(", ")
                                )),
                            );
                            None
                        }
                    }
                }
                ModuleRef::File { path, span } => match loader.load(&from_id, path) {
                    Ok(file) => Some(add_module(
                        &mut loaded,
                        &mut by_id,
                        &file.name,
                        &file.id,
                        &file.text,
                    )),
                    Err(LoadError::Read(why)) => {
                        loaded.diagnostics.push(Diagnostic::error(
                            Code::ImportRead,
                            *span,
                            format!("cannot import `{path}`"),
                            why,
                        ));
                        None
                    }
                    Err(LoadError::OutsideProject { resolved, root }) => {
                        loaded.diagnostics.push(
                            Diagnostic::error(
                                Code::ImportOutsideProject,
                                *span,
                                format!(
                                    "cannot import `{path}`: it resolves to {resolved}, outside the project root {root}"
                                ),
                                "outside the project",
                            )
                            .with_help(
                                "imports must stay inside the project: the nearest folder above the \
                                 entry file that holds `sslp.toml` or `.git` (else the entry file's \
                                 folder); copy the module into the project, or mark a higher folder \
                                 as the root with an `sslp.toml`",
                            ),
                        );
                        None
                    }
                },
            };
            if let Some(t) = target {
                loaded.modules[next].imports.insert(item_index, t);
            }
        }
        next += 1;
    }
    loaded
}

fn add_module(
    loaded: &mut Loaded,
    by_id: &mut HashMap<String, usize>,
    name: &str,
    id: &str,
    text: &str,
) -> usize {
    if let Some(&i) = by_id.get(id) {
        return i;
    }
    let file = loaded.sources.add(name, text);
    let (ast, diags) = parser::parse(file, text);
    loaded.diagnostics.extend(diags);
    loaded.modules.push(ParsedModule {
        file,
        ast,
        id: id.to_string(),
        imports: HashMap::new(),
    });
    let index = loaded.modules.len() - 1;
    by_id.insert(id.to_string(), index);
    index
}
