//! Pipeline files as git holds them, for the git drivers (`sslp diff --git`,
//! `sslp textconv`).
//!
//! Git hands a driver temporary copies of a file's two versions, so the
//! copies' own folder says nothing about where relative `use` imports live.
//! This module finds, for one version of a file (its path in the repository
//! and its blob hash, or only its content), the revision it belongs to, the
//! working tree, the index or a commit, and reads its imports there: from
//! disk for the working tree ([`crate::project`]), through `git cat-file`
//! otherwise ([`RevLoader`]), confined to the project as on disk.
//!
//! Git does not say which commits it compares, so the revision is inferred:
//!
//! 1. an all-zero hash is the working tree (git has not hashed it);
//! 2. a commit of the file's history that turned the old blob into the new
//!    one gives both sides exactly (what `git log -p`, `git show` and
//!    `git diff C^ C` compare);
//! 3. otherwise each side on its own: the index when it holds that content,
//!    `HEAD` when it has it, the working tree when the file on disk has it,
//!    else the newest commit that wrote it (the file given by its working-tree
//!    path, as git gives a working-tree version to textconv, is the working tree).
//!
//! Rule 3 can pick a revision whose imported files differ from the ones the
//! user compares (when an imported file changed while the importing file did
//! not); the README's git section says so.

use crate::lang::{self, Checked, LoadError, LoadedFile, Loader};
use crate::plan::{self, Plan};
use crate::project;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// Where one version of a file lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revision {
    /// The files on disk.
    Worktree,
    /// The index (staged content).
    Index,
    /// A commit, by full hash.
    Commit(String),
}

impl Revision {
    /// How `git cat-file` names `path` at this revision (`None`: on disk).
    fn object(&self, path: &str) -> Option<String> {
        match self {
            Revision::Worktree => None,
            Revision::Index => Some(format!(":{path}")),
            Revision::Commit(c) => Some(format!("{c}:{path}")),
        }
    }

    /// A short label for diagnostics: `@index`, `@1a2b3c4`, or nothing on disk.
    pub fn label(&self) -> String {
        match self {
            Revision::Worktree => String::new(),
            Revision::Index => "@index".into(),
            Revision::Commit(c) => format!("@{}", &c[..c.len().min(7)]),
        }
    }
}

/// A git repository's working tree.
#[derive(Debug, Clone)]
pub struct Repo {
    top: PathBuf,
}

/// Largest module read from git (bytes), as on disk.
const MAX_MODULE_BYTES: usize = 4 << 20;

/// One change of one path in `git log --raw`.
#[derive(Debug, Clone)]
struct Change {
    commit: String,
    first_parent: Option<String>,
    path: String,
    old: String,
    new: String,
}

fn is_null_hash(hex: &str) -> bool {
    !hex.is_empty() && hex.bytes().all(|b| b == b'0')
}

impl Repo {
    /// The repository whose working tree holds `dir` (`git rev-parse --show-toplevel`).
    pub fn discover(dir: &Path) -> Option<Repo> {
        let out = Command::new("git")
            .args(["rev-parse", "--show-toplevel"])
            .current_dir(dir)
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let top = String::from_utf8(out.stdout).ok()?;
        let top = PathBuf::from(top.trim_end_matches(['\n', '\r']));
        Some(Repo {
            top: top.canonicalize().unwrap_or(top),
        })
    }

    /// The working tree's top folder.
    pub fn top(&self) -> &Path {
        &self.top
    }

    /// Runs git in the working tree; stdout when it succeeds.
    fn git(&self, args: &[&str]) -> Option<Vec<u8>> {
        let out = Command::new("git")
            // Paths as they are, not C-quoted, in `log --raw` and `ls-files`.
            .args(["-c", "core.quotePath=false"])
            .args(args)
            .current_dir(&self.top)
            .output()
            .ok()?;
        out.status.success().then_some(out.stdout)
    }

    fn git_text(&self, args: &[&str]) -> Option<String> {
        String::from_utf8(self.git(args)?).ok()
    }

    /// The blob hash git gives `file`'s content.
    pub fn hash_file(&self, file: &Path) -> Option<String> {
        let file = file.to_str()?;
        let text = self.git_text(&["hash-object", "--no-filters", "--", file])?;
        Some(text.trim().to_string())
    }

    /// `file`'s path relative to the top, when it is inside the working tree.
    pub fn relative(&self, file: &Path) -> Option<String> {
        let abs = file.canonicalize().ok()?;
        let rel = abs.strip_prefix(&self.top).ok()?;
        let rel = rel.to_str()?.replace('\\', "/");
        (!rel.is_empty()).then_some(rel)
    }

    /// The blob hash of `path` at a revision (`rev:path`), if it has one.
    fn blob_at(&self, object: &str) -> Option<String> {
        let text =
            self.git_text(&["rev-parse", "-q", "--verify", &format!("{object}^{{blob}}")])?;
        Some(text.trim().to_string())
    }

    /// Whether the working tree's `path` has content `hex`.
    fn worktree_has(&self, path: &str, hex: &str) -> bool {
        let file = self.top.join(path);
        file.is_file() && self.hash_file(&file).is_some_and(|h| h == hex)
    }

    /// Every change of the paths matching `pathspec` in all history, newest first.
    fn changes(&self, pathspec: &str) -> Vec<Change> {
        let Some(log) = self.git_text(&[
            "log",
            "--all",
            "--no-renames",
            "--raw",
            "--no-abbrev",
            "--format=%x01%H %P",
            "--",
            pathspec,
        ]) else {
            return vec![];
        };
        let mut out = vec![];
        let (mut commit, mut parent) = (String::new(), None);
        for line in log.lines() {
            if let Some(header) = line.strip_prefix('\u{1}') {
                let mut words = header.split_whitespace();
                commit = words.next().unwrap_or_default().to_string();
                parent = words.next().map(str::to_string);
            } else if let Some(raw) = line.strip_prefix(':') {
                // `100644 100644 OLD NEW M\tPATH`
                let Some((meta, path)) = raw.split_once('\t') else {
                    continue;
                };
                let fields: Vec<&str> = meta.split_whitespace().collect();
                if fields.len() >= 4 {
                    out.push(Change {
                        commit: commit.clone(),
                        first_parent: parent.clone(),
                        path: path.to_string(),
                        old: fields[2].to_string(),
                        new: fields[3].to_string(),
                    });
                }
            }
        }
        out
    }

    /// The revisions of the two versions of `path` git compares (`None`: absent side).
    pub fn locate_pair(
        &self,
        path: &str,
        old_hex: Option<&str>,
        new_hex: Option<&str>,
    ) -> (Option<Revision>, Option<Revision>) {
        if let (Some(old), Some(new)) = (old_hex, new_hex)
            && !is_null_hash(old)
            && !is_null_hash(new)
            && let Some(c) = self
                .changes(&literal(path))
                .into_iter()
                .find(|c| c.path == path && c.old == old && c.new == new)
            && let Some(parent) = c.first_parent
        {
            return (
                Some(Revision::Commit(parent)),
                Some(Revision::Commit(c.commit)),
            );
        }
        (
            old_hex.map(|h| self.locate(path, h)),
            new_hex.map(|h| self.locate(path, h)),
        )
    }

    /// The revision of one version of `path`, on its own (rule 3 of the module docs).
    pub fn locate(&self, path: &str, hex: &str) -> Revision {
        if is_null_hash(hex) {
            return Revision::Worktree;
        }
        if self.blob_at(&format!(":{path}")).is_some_and(|h| h == hex) {
            return Revision::Index;
        }
        if self
            .blob_at(&format!("HEAD:{path}"))
            .is_some_and(|h| h == hex)
        {
            return self
                .git_text(&["rev-parse", "HEAD"])
                .map(|c| Revision::Commit(c.trim().to_string()))
                .unwrap_or(Revision::Worktree);
        }
        if self.worktree_has(path, hex) {
            return Revision::Worktree;
        }
        self.changes(&literal(path))
            .into_iter()
            .find(|c| c.path == path && c.new == hex)
            .map(|c| Revision::Commit(c.commit))
            .unwrap_or(Revision::Worktree)
    }

    /// Where a file git handed over by content only (textconv) lives: its path
    /// in the repository and revision, found by its blob hash (rule 3 of the
    /// module docs). Paths whose name is `name` (the copy's own name) win.
    pub fn find_content(&self, file: &Path, name: &str) -> Option<(String, Revision)> {
        if let Some(rel) = self.relative(file) {
            return Some((rel, Revision::Worktree));
        }
        let hex = self.hash_file(file)?;
        let named = |p: &str| p == name || p.ends_with(&format!("/{name}"));
        let pick = |mut paths: Vec<String>| {
            paths.sort();
            let first = paths.first().cloned();
            paths.into_iter().find(|p| named(p.as_str())).or(first)
        };
        // The index, then HEAD, then the working tree, then history.
        let staged = self
            .git_text(&["ls-files", "-s", "--", "*.sslp"])
            .unwrap_or_default();
        let mut on_disk = vec![];
        let mut in_index = vec![];
        for line in staged.lines() {
            // `100644 HASH 0\tPATH`
            let Some((meta, path)) = line.split_once('\t') else {
                continue;
            };
            if named(path) && self.worktree_has(path, &hex) {
                on_disk.push(path.to_string());
            }
            if meta.split_whitespace().nth(1) == Some(hex.as_str()) {
                in_index.push(path.to_string());
            }
        }
        if let Some(p) = pick(in_index) {
            return Some((p, Revision::Index));
        }
        let tree = self
            .git_text(&["ls-tree", "-r", "HEAD", "--", "."])
            .unwrap_or_default();
        let at_head: Vec<String> = tree
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .filter(|(meta, _)| meta.split_whitespace().nth(2) == Some(hex.as_str()))
            .map(|(_, p)| p.to_string())
            .collect();
        if let Some(p) = pick(at_head) {
            let head = self.git_text(&["rev-parse", "HEAD"])?;
            return Some((p, Revision::Commit(head.trim().to_string())));
        }
        if let Some(p) = pick(on_disk) {
            return Some((p, Revision::Worktree));
        }
        let changes: Vec<Change> = self
            .changes("*.sslp")
            .into_iter()
            .filter(|c| c.new == hex)
            .collect();
        let best = changes
            .iter()
            .find(|c| named(c.path.as_str()))
            .or(changes.first())?;
        Some((best.path.clone(), Revision::Commit(best.commit.clone())))
    }

    /// The project root of `path` at `rev`, relative to the top: the nearest
    /// folder above it that holds `sslp.toml`, else the top (where `.git` is).
    fn project_root(&self, path: &str, rev: &Revision) -> String {
        let mut dir = parent(path);
        loop {
            let marker = join(&dir, "sslp.toml");
            if rev.object(&marker).and_then(|o| self.blob_at(&o)).is_some() {
                return dir;
            }
            if dir.is_empty() {
                return dir;
            }
            dir = parent(&dir);
        }
    }

    /// Checks `text`, the content of `path` (relative to the top) at `rev`,
    /// with its imports read at the same revision, and plans it when it checks.
    pub fn check_and_plan(
        &self,
        path: &str,
        rev: &Revision,
        text: &str,
    ) -> (Checked, Option<Plan>) {
        if *rev == Revision::Worktree {
            return project::check_and_plan_text(&self.top.join(path), text);
        }
        let mut loader = RevLoader {
            repo: self.clone(),
            rev: rev.clone(),
            root: self.project_root(path, rev),
        };
        let name = format!("{path}{}", rev.label());
        let mut checked = lang::check_source(&name, path, text, &mut loader);
        let mut planned = None;
        if let Some(program) = &checked.program {
            let (p, diags) = plan::plan(program);
            checked.diagnostics.extend(diags);
            lang::diagnostic::sort(&mut checked.diagnostics);
            planned = p;
        }
        (checked, planned)
    }
}

/// A pathspec that matches `path` itself, whatever characters it holds.
fn literal(path: &str) -> String {
    format!(":(literal){path}")
}

/// The folder part of a `/`-separated path (`""` at the top).
fn parent(path: &str) -> String {
    path.rsplit_once('/')
        .map(|(d, _)| d.to_string())
        .unwrap_or_default()
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// `a/b/../c` -> `a/c`; `None` when it climbs above the top.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<String> = vec![];
    for c in Path::new(path).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(p) => parts.push(p.to_str()?.to_string()),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

/// Reads relative imports at a revision through git, confined to the project
/// root at that revision. Loader ids are paths relative to the top.
#[derive(Debug, Clone)]
pub struct RevLoader {
    repo: Repo,
    rev: Revision,
    /// The project root, relative to the top (`""`: the top).
    root: String,
}

impl Loader for RevLoader {
    fn load(&mut self, from_id: &str, path: &str) -> Result<LoadedFile, LoadError> {
        let joined = join(&parent(from_id), path);
        let outside = || LoadError::OutsideProject {
            resolved: joined.clone(),
            root: if self.root.is_empty() {
                "the repository's top".to_string()
            } else {
                self.root.clone()
            },
        };
        let resolved = normalize(&joined).ok_or_else(&outside)?;
        if !(self.root.is_empty() || resolved.starts_with(&format!("{}/", self.root))) {
            return Err(outside());
        }
        let shown = format!("{resolved}{}", self.rev.label());
        if !resolved.ends_with(".sslp") {
            return Err(LoadError::Read(format!(
                "{shown} is not a `.sslp` file; only pipeline sources can be imported"
            )));
        }
        let object = self
            .rev
            .object(&resolved)
            .ok_or_else(|| LoadError::Read(format!("cannot read {shown}")))?;
        let bytes = self
            .repo
            .git(&["cat-file", "blob", &object])
            .ok_or_else(|| {
                LoadError::Read(format!("cannot read {shown}: not in git at that revision"))
            })?;
        if bytes.len() > MAX_MODULE_BYTES {
            return Err(LoadError::Read(format!(
                "{shown} is {} bytes, too large for a pipeline source (at most {MAX_MODULE_BYTES})",
                bytes.len()
            )));
        }
        let text = project::source_text(&shown, bytes)?;
        Ok(LoadedFile {
            name: shown,
            id: resolved,
            text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_inside_the_top_only() {
        assert_eq!(normalize("a/b/../c.sslp").as_deref(), Some("a/c.sslp"));
        assert_eq!(normalize("./a.sslp").as_deref(), Some("a.sslp"));
        assert_eq!(normalize("../a.sslp"), None);
        assert_eq!(normalize("/etc/a.sslp"), None);
        assert_eq!(parent("a/b/c.sslp"), "a/b");
        assert_eq!(parent("c.sslp"), "");
        assert_eq!(join("", "x"), "x");
    }

    #[test]
    fn revisions_label_themselves() {
        assert_eq!(Revision::Worktree.label(), "");
        assert_eq!(Revision::Index.label(), "@index");
        assert_eq!(
            Revision::Commit("0123456789abcdef".into()).label(),
            "@0123456"
        );
        assert_eq!(Revision::Index.object("a.sslp").as_deref(), Some(":a.sslp"));
        assert!(is_null_hash("0000000"));
        assert!(!is_null_hash("0000001"));
    }
}
