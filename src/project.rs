//! Pipeline files on disk: the project root, the confined loader for relative
//! imports, and reading, checking and planning an entry file.
//!
//! This is the one place the language tools read source files; the language
//! core itself ([`crate::lang`]) sees text only through the [`Loader`] given
//! to it. Nothing here prints: callers decide how to show a [`SourceError`].

use crate::lang::{self, Checked, LoadedFile, Loader};
use crate::plan::{self, Plan};
use std::path::{Path, PathBuf};

/// An entry file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {source}", path.display())]
pub struct SourceError {
    /// The file asked for.
    pub path: PathBuf,
    /// Why it could not be read.
    pub source: std::io::Error,
}

/// Reads relative imports from disk, relative to the importing file, confined to the project
/// root (see [`project_root`]): a path that leads outside it, through `..` or a symlink, is
/// refused before anything is read. Only `.sslp` text files are handed over, so a diagnostic
/// can never print the bytes of some other file.
#[derive(Debug, Clone)]
pub struct FsLoader {
    /// Canonical project root.
    root: PathBuf,
}

/// Largest module the loader reads (bytes); bigger files are not pipeline sources.
const MAX_MODULE_BYTES: u64 = 4 << 20;

/// The project root of an entry file: the nearest folder above it (its own folder first) that
/// holds `sslp.toml` or `.git`, else the entry file's folder. Canonical when the file exists.
pub fn project_root(entry: &Path) -> PathBuf {
    let entry = entry
        .canonicalize()
        .unwrap_or_else(|_| std::path::absolute(entry).unwrap_or_else(|_| entry.to_path_buf()));
    let folder = entry.parent().unwrap_or(Path::new("/")).to_path_buf();
    folder
        .ancestors()
        .find(|d| d.join("sslp.toml").exists() || d.join(".git").exists())
        .map(Path::to_path_buf)
        .unwrap_or(folder)
}

/// `path` with `.` and `..` removed lexically (for paths that do not exist, so cannot be
/// canonicalised).
fn normalize_lexically(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

impl FsLoader {
    /// A loader confined to the project root of `entry` ([`project_root`]).
    pub fn for_entry(entry: &Path) -> FsLoader {
        FsLoader {
            root: project_root(entry),
        }
    }

    /// The canonical project root imports are confined to.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Loader for FsLoader {
    fn load(&mut self, from_id: &str, path: &str) -> Result<LoadedFile, lang::LoadError> {
        let base = Path::new(from_id).parent().unwrap_or(Path::new("."));
        let full = base.join(path);
        // Where the path leads: through every symlink when it exists, lexically otherwise.
        // Resolving reads only metadata (links, existence); no file outside the root is opened.
        let resolved = full.canonicalize().unwrap_or_else(|_| {
            normalize_lexically(&std::path::absolute(&full).unwrap_or(full.clone()))
        });
        if !resolved.starts_with(&self.root) {
            return Err(lang::LoadError::OutsideProject {
                resolved: resolved.display().to_string(),
                root: self.root.display().to_string(),
            });
        }
        // Named relative to the project root: the same on every machine and checkout.
        let shown = resolved.strip_prefix(&self.root).map_or_else(
            |_| full.display().to_string(),
            |rel| rel.display().to_string(),
        );
        if resolved.extension().is_none_or(|e| e != "sslp") {
            return Err(lang::LoadError::Read(format!(
                "{shown} is not a `.sslp` file; only pipeline sources can be imported"
            )));
        }
        let meta = std::fs::metadata(&resolved).map_err(|e| format!("cannot read {shown}: {e}"))?;
        if !meta.is_file() {
            return Err(format!("cannot read {shown}: not a file").into());
        }
        if meta.len() > MAX_MODULE_BYTES {
            return Err(format!(
                "{shown} is {} bytes, too large for a pipeline source (at most {MAX_MODULE_BYTES})",
                meta.len()
            )
            .into());
        }
        let bytes = std::fs::read(&resolved).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let text = source_text(&shown, bytes)?;
        Ok(LoadedFile {
            name: shown,
            id: resolved.display().to_string(),
            text,
        })
    }
}

/// The bytes of an imported module as text: UTF-8 with no control characters
/// but line ends and tabs, so a diagnostic never prints some other file's bytes.
/// `shown` names the file in the message.
pub fn source_text(shown: &str, bytes: Vec<u8>) -> Result<String, lang::LoadError> {
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "{shown} is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    if let Some(at) = text
        .char_indices()
        .find(|&(_, c)| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        .map(|(i, _)| i)
    {
        return Err(
            format!("{shown} is not a text file (a control character at byte {at})").into(),
        );
    }
    Ok(text)
}

/// Reads an entry pipeline file as text.
pub fn read_source(path: &Path) -> Result<String, SourceError> {
    std::fs::read_to_string(path).map_err(|source| SourceError {
        path: path.to_path_buf(),
        source,
    })
}

/// Checks `text` as the entry file `path` (imports read through an [`FsLoader`] confined to
/// its project) and, when it checks, plans it without reading data; the diagnostics of both
/// phases together, sorted.
pub fn check_and_plan_text(path: &Path, text: &str) -> (Checked, Option<Plan>) {
    let id = path
        .canonicalize()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string());
    let mut checked = lang::check_source(
        &path.display().to_string(),
        &id,
        text,
        &mut FsLoader::for_entry(path),
    );
    let mut planned = None;
    if let Some(program) = &checked.program {
        let (p, diags) = plan::plan(program);
        checked.diagnostics.extend(diags);
        lang::diagnostic::sort(&mut checked.diagnostics);
        planned = p;
    }
    (checked, planned)
}

/// Reads, checks and plans an entry file (see [`check_and_plan_text`]).
pub fn load_and_plan(path: &Path) -> Result<(Checked, Option<Plan>), SourceError> {
    let text = read_source(path)?;
    Ok(check_and_plan_text(path, &text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sslp-project-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn project_root_is_the_nearest_marked_folder() {
        let dir = scratch("root");
        std::fs::write(dir.join("sslp.toml"), "").unwrap();
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("a/b/p.sslp"), "").unwrap();
        let root = project_root(&dir.join("a/b/p.sslp"));
        assert_eq!(root, dir.canonicalize().unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn imports_outside_the_project_are_refused_unread() {
        let dir = scratch("outside");
        std::fs::create_dir_all(dir.join("proj")).unwrap();
        std::fs::write(dir.join("proj/sslp.toml"), "").unwrap();
        std::fs::write(dir.join("secret.sslp"), "let x = 1\n").unwrap();
        let entry = dir.join("proj/p.sslp");
        let mut loader = FsLoader::for_entry(&entry);
        let got = loader.load(&entry.display().to_string(), "../secret.sslp");
        assert!(
            matches!(got, Err(lang::LoadError::OutsideProject { .. })),
            "{got:?}"
        );
        let not_sslp = loader.load(&entry.display().to_string(), "sslp.toml");
        assert!(
            matches!(not_sslp, Err(lang::LoadError::Read(_))),
            "{not_sslp:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_entry_file_is_a_typed_error_with_its_path() {
        let err = load_and_plan(Path::new("/nonexistent/sslp/p.sslp")).unwrap_err();
        assert_eq!(err.path, Path::new("/nonexistent/sslp/p.sslp"));
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/sslp/p.sslp: ")
        );
    }

    #[test]
    fn text_is_checked_and_planned_together() {
        let dir = scratch("plan");
        let entry = dir.join("p.sslp");
        let (checked, plan) = check_and_plan_text(&entry, "let x = 1\n");
        assert!(checked.diagnostics.iter().all(|d| !d.is_error()));
        assert!(checked.program.is_some());
        // A file without evaluations plans to nothing and says so.
        assert!(plan.is_none() || plan.is_some_and(|p| p.arms.is_empty()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
