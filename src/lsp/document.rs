//! Open documents and what the language core says about them: each change re-reads the
//! text through the same loader, checker and planner as `sslp check`, and keeps the parsed
//! modules (for navigation), the diagnostics, the checked program and the plan.

use super::position::LineIndex;
use super::syntax::Syntax;
use crate::lang::modules::{self, Loaded};
use crate::lang::{self, Diagnostic, FileId, LoadError, LoadedFile, Loader, Program};
use crate::plan::{self, Plan};
use crate::project::FsLoader;
use lsp_types::Url;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// An open document and its latest analysis.
#[derive(Debug)]
pub struct Document {
    /// The editor's name for it.
    pub uri: Url,
    /// Its text, as the editor last sent it.
    pub text: String,
    /// Line starts of `text`.
    pub index: LineIndex,
    /// The editor's version number.
    pub version: i32,
    /// What the checker found.
    pub analysis: Analysis,
}

/// The language core's view of one document.
#[derive(Debug)]
pub struct Analysis {
    /// Every module read (index 0 is the document itself), with their sources.
    pub loaded: Loaded,
    /// Loader identity (canonical path or `std::...`) of every module, by file.
    pub ids: Vec<String>,
    /// Every diagnostic of the checker and the planner, sorted.
    pub diagnostics: Vec<Diagnostic>,
    /// The checked program, when there were no errors.
    pub program: Option<Program>,
    /// The plan, when the program planned.
    pub plan: Option<Plan>,
    /// The words of the document and their roles.
    pub syntax: Syntax,
}

/// The file path behind a `file:` URI (other schemes: a path named after the URI, in the
/// working folder, so relative imports still have a base).
pub fn path_of(uri: &Url) -> PathBuf {
    if uri.scheme() == "file"
        && let Ok(p) = uri.to_file_path()
    {
        return p;
    }
    let name = uri
        .path_segments()
        .and_then(|mut s| s.next_back().map(str::to_string))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "untitled.sslp".into());
    std::env::current_dir().unwrap_or_default().join(name)
}

/// Reads imports from disk like `sslp check` (confined to the project), but hands over the
/// editor's text for files that are open.
struct OverlayLoader<'a> {
    disk: FsLoader,
    open: &'a HashMap<PathBuf, String>,
}

impl Loader for OverlayLoader<'_> {
    fn load(&mut self, from_id: &str, path: &str) -> Result<LoadedFile, LoadError> {
        let mut file = self.disk.load(from_id, path)?;
        if let Some(text) = self.open.get(Path::new(&file.id)) {
            file.text = text.clone();
        }
        Ok(file)
    }
}

impl Analysis {
    /// Checks and plans `text` as the file `path`; `open` maps canonical paths of the other
    /// open documents to their text.
    pub fn of(path: &Path, text: &str, open: &HashMap<PathBuf, String>) -> Analysis {
        let id = path
            .canonicalize()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| path.display().to_string());
        let mut loader = OverlayLoader {
            disk: FsLoader::for_entry(path),
            open,
        };
        let loaded = modules::load(&path.display().to_string(), &id, text, &mut loader);
        let (program, mut diagnostics) = lang::check::check(&loaded);
        let mut planned = None;
        if let Some(p) = &program {
            let (pl, diags) = plan::plan(p);
            diagnostics.extend(diags);
            lang::diagnostic::sort(&mut diagnostics);
            planned = pl;
        }
        let mut ids = vec![String::new(); loaded.sources.len()];
        for m in &loaded.modules {
            if let Some(slot) = ids.get_mut(m.file.0 as usize) {
                *slot = m.id.clone();
            }
        }
        let syntax = loaded
            .modules
            .first()
            .map(|m| Syntax::of(&m.ast))
            .unwrap_or_default();
        Analysis {
            loaded,
            ids,
            diagnostics,
            program,
            plan: planned,
            syntax,
        }
    }

    /// The document's own file.
    pub fn root(&self) -> FileId {
        self.loaded.modules.first().map_or(FileId(0), |m| m.file)
    }

    /// Whether the module with loader identity `id` is read by this analysis.
    pub fn reads(&self, id: &str) -> bool {
        self.ids.iter().skip(1).any(|i| i == id)
    }

    /// The URI of a file this analysis read: the document itself, a file on disk, or the
    /// read-only copy of a stdlib module (see [`stdlib_uri`]).
    pub fn uri_of(&self, file: FileId, doc: &Url) -> Option<Url> {
        if file == self.root() {
            return Some(doc.clone());
        }
        let id = self.ids.get(file.0 as usize)?;
        if id.starts_with("std::") {
            return stdlib_uri(id);
        }
        Url::from_file_path(id).ok()
    }
}

impl Document {
    /// A document analysed for the first time.
    pub fn new(uri: Url, text: String, version: i32, open: &HashMap<PathBuf, String>) -> Self {
        let analysis = Analysis::of(&path_of(&uri), &text, open);
        Document {
            index: LineIndex::new(&text),
            uri,
            text,
            version,
            analysis,
        }
    }

    /// Replaces the text and analyses it again.
    pub fn update(&mut self, text: String, version: i32, open: &HashMap<PathBuf, String>) {
        self.index = LineIndex::new(&text);
        self.analysis = Analysis::of(&path_of(&self.uri), &text, open);
        self.text = text;
        self.version = version;
    }

    /// Analyses the same text again (an import changed).
    pub fn refresh(&mut self, open: &HashMap<PathBuf, String>) {
        self.analysis = Analysis::of(&path_of(&self.uri), &self.text, open);
    }

    /// The canonical path of the document, as imports name it.
    pub fn canonical_path(&self) -> PathBuf {
        let p = path_of(&self.uri);
        p.canonicalize().unwrap_or(p)
    }
}

/// The folder holding read-only copies of the embedded stdlib modules, written once per
/// stdlib content (the folder name carries its hash), so an editor can open them.
fn stdlib_dir() -> Option<&'static Path> {
    static DIR: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let mut hasher = blake3::Hasher::new();
        for (name, text) in modules::STDLIB {
            hasher.update(name.as_bytes());
            hasher.update(text.as_bytes());
        }
        let hash = hasher.finalize().to_hex();
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join("sslp").join(format!("stdlib-{}", &hash[..16]));
        for (name, text) in modules::STDLIB {
            let file = dir.join(stdlib_relative(name));
            if std::fs::read_to_string(&file).is_ok_and(|t| t == *text) {
                continue;
            }
            let parent = file.parent()?;
            std::fs::create_dir_all(parent).ok()?;
            // A read-only copy from an earlier run is replaced whole.
            let _ = std::fs::remove_file(&file);
            std::fs::write(&file, text).ok()?;
            let mut perms = std::fs::metadata(&file).ok()?.permissions();
            perms.set_readonly(true);
            let _ = std::fs::set_permissions(&file, perms);
        }
        Some(dir)
    })
    .as_deref()
}

/// `std::recipes::small_images` → `std/recipes/small_images.sslp`.
fn stdlib_relative(name: &str) -> PathBuf {
    PathBuf::from(format!("{}.sslp", name.replace("::", "/")))
}

/// A `file:` URI of the read-only copy of stdlib module `name` (`std::policies`).
pub fn stdlib_uri(name: &str) -> Option<Url> {
    if !modules::STDLIB.iter().any(|(n, _)| *n == name) {
        return None;
    }
    Url::from_file_path(stdlib_dir()?.join(stdlib_relative(name))).ok()
}
