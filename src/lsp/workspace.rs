//! References and rename across files: a declaration of file A is found wherever it is
//! imported — in every open document and every `.sslp` file under the workspace folders
//! (read from disk when not open) — by parsing each file and resolving its `use` items
//! through the same loader as `sslp check`.
//!
//! An aliased import (`use "a.sslp"::{x as y}`) refers to `x`, but its uses are spelled `y`:
//! they are references of `x`, yet renaming `x` changes only the imported word and keeps
//! the alias. Stdlib declarations are read-only and are not renamed.

use super::document::Document;
use super::navigation;
use super::position::LineIndex;
use super::syntax::{Role, Syntax};
use crate::lang::ast::{Item, Module, ModuleRef};
use crate::lang::{FileId, Loader, parser};
use crate::project::FsLoader;
use lsp_types as lsp;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Most `.sslp` files read from the workspace folders for one request.
const MAX_FILES: usize = 5_000;
/// Largest file read from disk (bytes).
const MAX_BYTES: u64 = 4 << 20;

/// A declaration: the loader identity of its module (canonical path or `std::...`) and its
/// name there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The declaring module.
    pub module: String,
    /// The declared name.
    pub name: String,
}

/// What an occurrence of a target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hit {
    /// The declaration's name.
    Decl,
    /// A use of the name, spelled as declared (renamed with it).
    Ref,
    /// The imported word of an unaliased `use` (renamed with it; binds the name there).
    Import,
    /// The imported word of an aliased `use` (renamed with it; binds nothing there).
    AliasedImport,
    /// The alias of an aliased import, or a use of the alias (kept by a rename).
    AliasUse,
}

/// A file that may mention a target.
struct Source {
    uri: lsp::Url,
    path: PathBuf,
    text: String,
}

/// The declaration the name under `pos` stands for.
pub fn target_at(doc: &Document, pos: lsp::Position) -> Option<Target> {
    let occ = navigation::occurrence_at(doc, pos)?;
    let binding = match &occ.role {
        Role::DeclName(_) | Role::NameRef | Role::ImportAlias { .. } => {
            navigation::resolve(doc, &occ.name)?
        }
        Role::ImportName { item, .. } => navigation::imported(doc, *item, &occ.name)?,
        _ => return None,
    };
    let module = doc.analysis.loaded.modules.get(binding.module)?;
    Some(Target {
        module: module.id.clone(),
        name: binding.decl.name.name.clone(),
    })
}

/// Every `.sslp` file under `dir` (no hidden folders, no `target`), up to `MAX_FILES`.
fn sslp_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if out.len() >= MAX_FILES {
                return;
            }
            let name = e.file_name();
            let name = name.to_string_lossy();
            // `file_type` does not follow symlinks: a linked folder is not walked.
            let Ok(ty) = e.file_type() else { continue };
            if ty.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    stack.push(e.path());
                }
            } else if name.ends_with(".sslp") {
                out.push(e.path());
            }
        }
    }
}

/// The open documents, then the files under `roots` and the file `extra` read from disk.
fn sources(docs: &HashMap<lsp::Url, Document>, roots: &[PathBuf], extra: &Path) -> Vec<Source> {
    let mut by_path: BTreeMap<PathBuf, Source> = BTreeMap::new();
    for d in docs.values() {
        let path = d.canonical_path();
        by_path.insert(
            path.clone(),
            Source {
                uri: d.uri.clone(),
                path,
                text: d.text.clone(),
            },
        );
    }
    let mut files = vec![extra.to_path_buf()];
    for r in roots {
        sslp_files(r, &mut files);
    }
    for f in files {
        let Ok(path) = f.canonicalize() else { continue };
        if by_path.contains_key(&path)
            || std::fs::metadata(&path).map_or(true, |m| !m.is_file() || m.len() > MAX_BYTES)
        {
            continue;
        }
        let (Ok(text), Ok(uri)) = (
            std::fs::read_to_string(&path),
            lsp::Url::from_file_path(&path),
        ) else {
            continue;
        };
        by_path.insert(path.clone(), Source { uri, path, text });
    }
    by_path.into_values().collect()
}

/// The loader identity of the module a `use` of the file `path` reads.
fn use_target(path: &Path, module: &ModuleRef) -> Option<String> {
    match module {
        ModuleRef::Path(p) => Some(
            p.iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join("::"),
        ),
        ModuleRef::File { path: rel, .. } => FsLoader::for_entry(path)
            .load(&path.display().to_string(), rel)
            .ok()
            .map(|f| f.id),
    }
}

/// One parsed source and where it mentions the target.
struct Found {
    source: Source,
    module: Module,
    hits: Vec<(Range<usize>, Hit)>,
}

/// Where `source` mentions `target`.
fn scan(source: Source, target: &Target) -> Found {
    let (module, _) = parser::parse(FileId(0), &source.text);
    let syntax = Syntax::of(&module);
    let refs = |name: &str, hit: Hit| -> Vec<(Range<usize>, Hit)> {
        syntax
            .uses_of(name)
            .into_iter()
            .filter(|o| o.role == Role::NameRef)
            .map(|o| (o.range.clone(), hit))
            .collect()
    };
    let mut hits = vec![];
    if source.path.display().to_string() == target.module {
        for o in syntax.uses_of(&target.name) {
            match o.role {
                Role::DeclName(_) => hits.push((o.range.clone(), Hit::Decl)),
                Role::NameRef => hits.push((o.range.clone(), Hit::Ref)),
                _ => {}
            }
        }
    }
    for item in &module.items {
        let Item::Use(u) = item else { continue };
        if !u.imports.iter().any(|i| i.name.name == target.name)
            || use_target(&source.path, &u.module).as_deref() != Some(target.module.as_str())
        {
            continue;
        }
        for imp in u.imports.iter().filter(|i| i.name.name == target.name) {
            match &imp.alias {
                Some(a) => {
                    hits.push((imp.name.span.range(), Hit::AliasedImport));
                    hits.push((a.span.range(), Hit::AliasUse));
                    hits.extend(refs(&a.name, Hit::AliasUse));
                }
                None => {
                    hits.push((imp.name.span.range(), Hit::Import));
                    hits.extend(refs(&target.name, Hit::Ref));
                }
            }
        }
    }
    hits.sort_by_key(|h| (h.0.start, h.0.end));
    hits.dedup();
    Found {
        source,
        module,
        hits,
    }
}

/// Every file's mentions of `target`, files without any left out.
fn find(docs: &HashMap<lsp::Url, Document>, roots: &[PathBuf], target: &Target) -> Vec<Found> {
    sources(docs, roots, Path::new(&target.module))
        .into_iter()
        .map(|s| scan(s, target))
        .filter(|f| !f.hits.is_empty())
        .collect()
}

/// Every reference of the declaration under `pos`, in every file that sees it.
pub fn references(
    docs: &HashMap<lsp::Url, Document>,
    roots: &[PathBuf],
    doc: &Document,
    pos: lsp::Position,
    include_decl: bool,
) -> Vec<lsp::Location> {
    let Some(target) = target_at(doc, pos) else {
        return vec![];
    };
    let mut out = vec![];
    for f in find(docs, roots, &target) {
        let index = LineIndex::new(&f.source.text);
        for (range, hit) in f.hits {
            if include_decl || hit != Hit::Decl {
                out.push(lsp::Location::new(
                    f.source.uri.clone(),
                    index.range(&f.source.text, range),
                ));
            }
        }
    }
    out
}

/// Whether the name under `pos` is a local alias (`y` of `use m::{x as y}`, or a use of
/// it): renamed in the file alone.
fn is_alias(doc: &Document, pos: lsp::Position) -> bool {
    navigation::occurrence_at(doc, pos).is_some_and(|occ| {
        matches!(occ.role, Role::ImportAlias { .. } | Role::NameRef)
            && doc
                .analysis
                .syntax
                .uses_of(&occ.name)
                .iter()
                .any(|o| matches!(o.role, Role::ImportAlias { .. }))
    })
}

/// Why the stdlib declaration `target` cannot be renamed.
fn read_only(target: &Target) -> String {
    format!(
        "`{}` is declared in the stdlib module `{}`, which is read-only; to name it differently \
         here, import it with an alias: `use {}::{{{} as NEW_NAME}}`",
        target.name, target.module, target.module, target.name
    )
}

/// The range of the name under `pos` when it can be renamed; an error for a stdlib name.
pub fn prepare_rename(
    doc: &Document,
    pos: lsp::Position,
) -> Result<Option<lsp::PrepareRenameResponse>, String> {
    if is_alias(doc, pos) {
        return Ok(navigation::prepare_rename(doc, pos));
    }
    let Some(target) = target_at(doc, pos) else {
        return Ok(None);
    };
    if target.module.starts_with("std::") {
        return Err(read_only(&target));
    }
    Ok(navigation::occurrence_at(doc, pos).map(|occ| {
        lsp::PrepareRenameResponse::Range(doc.index.range(&doc.text, occ.range.clone()))
    }))
}

/// The top-level names `module` binds: its declarations and local import names.
fn bound(module: &Module) -> impl Iterator<Item = &str> {
    module.items.iter().flat_map(|item| match item {
        Item::Decl(d) => vec![d.name.name.as_str()],
        Item::Use(u) => u.imports.iter().map(|i| i.local().name.as_str()).collect(),
        Item::Set(_) => vec![],
    })
}

/// Renames the declaration under `pos` everywhere it is seen: the declaration, the words
/// importing it and every use spelled as declared (aliases and their uses are kept). A
/// local alias is renamed in its file alone. Refused for stdlib declarations, names that
/// are not names, and names already bound in a file the rename touches.
pub fn rename(
    docs: &HashMap<lsp::Url, Document>,
    roots: &[PathBuf],
    doc: &Document,
    pos: lsp::Position,
    new_name: &str,
) -> Result<Option<lsp::WorkspaceEdit>, String> {
    if is_alias(doc, pos) {
        return navigation::rename(doc, pos, new_name);
    }
    if !navigation::is_identifier(new_name) {
        return Err(format!("`{new_name}` is not a name"));
    }
    let Some(target) = target_at(doc, pos) else {
        return Ok(None);
    };
    if target.module.starts_with("std::") {
        return Err(read_only(&target));
    }
    let mut changes = HashMap::new();
    for f in find(docs, roots, &target) {
        let binds_here = f
            .hits
            .iter()
            .any(|h| matches!(h.1, Hit::Decl | Hit::Ref | Hit::Import))
            || f.source.path.display().to_string() == target.module;
        if new_name != target.name && binds_here && bound(&f.module).any(|n| n == new_name) {
            return Err(format!(
                "`{new_name}` is already declared or imported in {}",
                f.source.path.display()
            ));
        }
        let index = LineIndex::new(&f.source.text);
        let edits: Vec<lsp::TextEdit> = f
            .hits
            .into_iter()
            .filter(|(_, hit)| *hit != Hit::AliasUse)
            .map(|(range, _)| {
                lsp::TextEdit::new(index.range(&f.source.text, range), new_name.to_string())
            })
            .collect();
        if !edits.is_empty() {
            changes.insert(f.source.uri, edits);
        }
    }
    Ok(Some(lsp::WorkspaceEdit {
        changes: Some(changes),
        ..Default::default()
    }))
}
