//! Name resolution, type and range checks, cycles and sweep directives.
//!
//! The checker reads every module of a [`Loaded`] program and produces the
//! [`Program`] the planner consumes, together with **all** diagnostics it
//! finds (it never stops at the first). A program with errors yields no
//! `Program`.
//!
//! [`check`] runs the phases in order, each in its own (private) module:
//!
//! 1. `names`: declarations and imports bound per module;
//! 2. `decls`: `set` settings, then every declaration's value, through
//!    `calls` (kinds and arguments, with `relevance` warnings), `types`,
//!    `ranges`, `policies`, `sweeps` and `refs` (references to other
//!    declarations);
//! 3. `cycles`: declarations that depend on themselves;
//! 4. `directives`: `zip` and `exclude` resolved to sweeps;
//! 5. `trainable`: untrainable backbones where a network is trained;
//! 6. `decls` again: the settings, `let`s they name followed; then
//!    `resources`: execution resources that cannot be swept, or that have no
//!    effect (the executor is local, a GPU for a step on the CPU).
//!
//! Views (`ViewMismatch`, `MissingPolicy`) are checked by the planner, per arm.

mod calls;
mod cycles;
mod decls;
mod directives;
mod names;
mod policies;
mod ranges;
mod refs;
mod relevance;
mod resources;
mod sweeps;
mod trainable;
mod types;

#[cfg(test)]
mod relevance_tests;
#[cfg(test)]
mod trainable_tests;

use super::ast::*;
use super::diagnostic::{Code, Diagnostic};
use super::hir::*;
use super::modules::Loaded;
use super::registry::{self, Default as Dflt};
use super::span::{FileId, Span};
use std::collections::{BTreeSet, HashMap};

/// A registry default (`Default::Src`) checked exactly as the checker fills
/// it into a call that leaves the parameter out; `None` for required and
/// optional parameters, and for a default that does not check (a registry
/// bug the registry's own tests catch).
pub fn registry_default(param: &registry::Param) -> Option<HExpr> {
    let Dflt::Src(src) = param.default else {
        return None;
    };
    let loaded = super::modules::load(
        "<registry>",
        "<registry>",
        "",
        &mut super::modules::NoImports,
    );
    let mut c = Checker::new(&loaded);
    let value = c.default_value(src, param.ty, Span::default());
    c.diags.is_empty().then_some(value)
}

/// Checks a loaded program.
pub fn check(loaded: &Loaded) -> (Option<Program>, Vec<Diagnostic>) {
    let mut c = Checker::new(loaded);
    c.collect_decls();
    c.resolve_imports();
    let settings_call = c.check_settings();
    for id in 0..c.slots.len() {
        c.check_decl(id);
    }
    c.find_cycles();
    c.resolve_directives();
    c.check_trainable();
    let settings = c.settings_of(&settings_call);
    c.check_resources(&settings);
    let mut diags = std::mem::take(&mut c.diags);
    // A literal the parser could not read stands in as 0: what the checker says about that
    // stand-in is a cascade of the parse error at the same place, not a second problem.
    let unreadable: Vec<_> = loaded
        .diagnostics
        .iter()
        .filter(|d| matches!(d.code, Code::ParseNumber | Code::ParseString))
        .map(|d| d.primary.span)
        .collect();
    diags.retain(|d| !unreadable.contains(&d.primary.span));
    diags.extend(loaded.diagnostics.iter().cloned());
    super::diagnostic::sort(&mut diags);
    if diags.iter().any(Diagnostic::is_error) {
        return (None, diags);
    }
    let root = loaded.modules.first().map_or(FileId(0), |m| m.file);
    let program = Program {
        decls: c
            .hdecls
            .into_iter()
            .map(|d| d.expect("every declaration is checked"))
            .collect(),
        sweeps: c.sweeps,
        settings,
        root,
    };
    (Some(program), diags)
}

/// A declaration and the module it is written in.
struct Slot<'a> {
    decl: &'a Decl,
    module: usize,
}

/// The checker's state: scopes, checked declarations and sweeps so far, and
/// the context of the declaration being checked.
struct Checker<'a> {
    /// The program being checked.
    loaded: &'a Loaded,
    /// Every declaration of every module, by [`DeclId`].
    slots: Vec<Slot<'a>>,
    /// Per module: name -> (decl, where it was bound).
    scopes: Vec<HashMap<String, (DeclId, Span)>>,
    /// Per module: its own declarations by name.
    own: Vec<HashMap<String, DeclId>>,
    /// The checked declarations, by [`DeclId`] (`None` until checked).
    hdecls: Vec<Option<HDecl>>,
    /// Every sweep checked so far, by [`SweepId`].
    sweeps: Vec<HSweep>,
    /// Everything reported so far.
    diags: Vec<Diagnostic>,
    /// Registry defaults parsed so far, by their source text.
    defaults: HashMap<&'static str, Expr>,
    // Context of the declaration being checked.
    /// The declaration being checked.
    cur: DeclId,
    /// The module whose scope names are looked up in.
    module: usize,
    /// The parameter names leading to the value being checked.
    path: Vec<String>,
    /// The declarations the one being checked refers to.
    refs: BTreeSet<DeclId>,
    /// Whether a sweep may stand here (not in settings).
    sweeps_allowed: bool,
}

impl<'a> Checker<'a> {
    /// A checker with empty scopes for every module of `loaded`.
    fn new(loaded: &'a Loaded) -> Self {
        Checker {
            loaded,
            slots: vec![],
            scopes: vec![HashMap::new(); loaded.modules.len()],
            own: vec![HashMap::new(); loaded.modules.len()],
            hdecls: vec![],
            sweeps: vec![],
            diags: vec![],
            defaults: HashMap::new(),
            cur: 0,
            module: 0,
            path: vec![],
            refs: BTreeSet::new(),
            sweeps_allowed: true,
        }
    }

    /// Records a diagnostic (error or warning).
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}

/// Helpers shared by the phase tests: check a source string, list what it reports.
#[cfg(test)]
mod testing {
    use crate::lang::{Checked, Code, LoadError, LoadedFile, Loader, check_source};

    /// A small dataset and split (lines 1 to 5) that many phase tests build on.
    pub(super) const BASE: &str = "dataset shapes = synthetic_shapes(count: 64, classes: 4)
split parts {
  data = shapes
  train = 0.5
}
";

    /// Serves relative imports from files held in memory, by the path written.
    struct Files<'a>(&'a [(&'a str, &'a str)]);

    impl Loader for Files<'_> {
        fn load(&mut self, _from_id: &str, path: &str) -> Result<LoadedFile, LoadError> {
            let (name, text) = self
                .0
                .iter()
                .find(|(name, _)| *name == path)
                .ok_or_else(|| LoadError::Read(format!("no file `{path}`")))?;
            Ok(LoadedFile {
                name: name.to_string(),
                id: name.to_string(),
                text: text.to_string(),
            })
        }
    }

    /// Checks `text` as the file `t.sslp`, whose relative imports read `files`.
    pub(super) fn check_files(text: &str, files: &[(&str, &str)]) -> Checked {
        check_source("t.sslp", "t.sslp", text, &mut Files(files))
    }

    /// Checks `text` as the file `t.sslp` (stdlib imports only).
    pub(super) fn checked(text: &str) -> Checked {
        check_files(text, &[])
    }

    /// The codes of every diagnostic of `text`, in the order reported.
    pub(super) fn codes(text: &str) -> Vec<Code> {
        checked(text).diagnostics.iter().map(|d| d.code).collect()
    }

    /// Every diagnostic of `text` as (code, `line:column` of its primary span,
    /// the text under that span).
    pub(super) fn spans(text: &str) -> Vec<(Code, String, String)> {
        located(&checked(text))
    }

    /// Every diagnostic of `checked` as [`spans`] lists it.
    pub(super) fn located(checked: &Checked) -> Vec<(Code, String, String)> {
        checked
            .diagnostics
            .iter()
            .map(|d| {
                let span = d.primary.span;
                let (line, col) = checked.sources.get(span.file).line_col(span.start);
                let text = checked.sources.snippet(span).to_string();
                (d.code, format!("{line}:{col}"), text)
            })
            .collect()
    }
}
