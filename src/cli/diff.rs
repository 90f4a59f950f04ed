//! `sslp diff`: the semantic difference of two designs, without reading data;
//! `sslp diff --git`: the same as git's external diff driver.

use super::pipeline::{plan_or_report, store_dir};
use super::{OK, USAGE, emit};
use crate::exec::store::{Status, Store};
use crate::git;
use crate::lang::diagnostic::render;
use crate::plan::Plan;
use crate::plan::diff::{self as plan_diff, Review, StoreFacts, Timing};
use crate::project;
use clap::ValueEnum;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Output format of `sslp diff`.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum DiffFormat {
    /// Review-friendly text.
    Text,
    /// JSON.
    Json,
    /// A pull-request comment: arms, swept values, parameters, steps that
    /// stay cached or run, and the estimated compute from the store's records.
    Markdown,
}

/// `sslp diff OLD NEW`: compares designs without reading data (dataset keys
/// pending). The markdown estimate reads the store of NEW (`store`, else
/// `.sslp` beside it), when there is one.
pub fn diff(old: &Path, new: &Path, format: DiffFormat, store: Option<&Path>) -> u8 {
    let (a, b) = match (plan_or_report(old), plan_or_report(new)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(c), _) | (_, Err(c)) => return c,
    };
    let facts = match format {
        DiffFormat::Markdown => store_facts(&store_dir(new, store), &a, &b),
        _ => None,
    };
    emit(&render(
        &a,
        &b,
        &old.display().to_string(),
        &new.display().to_string(),
        format,
        facts.as_ref(),
    ));
    OK
}

/// The diff of two plans in `format`.
fn render(
    a: &Plan,
    b: &Plan,
    old_name: &str,
    new_name: &str,
    format: DiffFormat,
    facts: Option<&StoreFacts>,
) -> String {
    let d = plan_diff::diff(a, b);
    let pending: BTreeSet<&str> = a
        .pending_datasets()
        .chain(b.pending_datasets())
        .map(|s| s.decl.as_str())
        .collect();
    match format {
        DiffFormat::Text if !pending.is_empty() => format!(
            "{}datasets: keys pending a fingerprint (diff reads no data): {}\n",
            d.text(),
            pending.into_iter().collect::<Vec<_>>().join(", ")
        ),
        DiffFormat::Text => d.text(),
        DiffFormat::Json => format!("{}\n", d.json()),
        DiffFormat::Markdown => plan_diff::markdown(&Review {
            old_name,
            new_name,
            old: a,
            new: b,
            diff: &d,
            store: facts,
        }),
    }
}

/// What the store at `dir` knows for the estimate: the new design's steps it
/// has done, and the wall time of every finished step. `None` without a store.
/// Opened as a worker opens it (files only, no lock): a diff never holds up a run.
fn store_facts(dir: &Path, old: &Plan, new: &Plan) -> Option<StoreFacts> {
    if !dir.join("records").is_dir() {
        return None;
    }
    let store = Store::open_shared(dir).ok()?;
    let records = store.records().ok()?;
    let old_keys: BTreeSet<_> = old.steps.iter().map(|s| s.key).collect();
    let timings = records
        .into_iter()
        .filter(|(_, r)| r.status == Status::Done)
        .map(|(_, r)| Timing {
            kind: r.kind,
            decl: r.decl,
            duration_ms: r.duration_ms,
        })
        .collect();
    // Only steps with new keys can be in the change (the others keep their results).
    let done = new
        .steps
        .iter()
        .map(|s| s.key)
        .filter(|k| !old_keys.contains(k) && store.is_done(k).unwrap_or(false))
        .collect();
    Some(StoreFacts {
        location: dir.display().to_string(),
        done,
        timings,
    })
}

/// `sslp diff --git PATH OLD-FILE OLD-HEX OLD-MODE NEW-FILE NEW-HEX NEW-MODE
/// [NEW-PATH INFO]`: git's external diff driver (nine arguments for a rename).
///
/// Each version is planned with its imports read at its own revision
/// ([`crate::git`]). A version that does not check is reported, with its
/// diagnostics, in the output: the exit status is 0 whenever the arguments
/// are git's, so one broken revision never stops `git log -p`.
pub fn diff_git(args: &[PathBuf], format: DiffFormat, store: Option<&Path>) -> u8 {
    let args: Vec<String> = args.iter().map(|a| a.display().to_string()).collect();
    if args.len() != 7 && args.len() != 9 {
        eprintln!(
            "error: `sslp diff --git` takes git's 7 external-diff arguments (PATH OLD-FILE OLD-HEX OLD-MODE NEW-FILE NEW-HEX NEW-MODE, 9 for a rename), not {}; see the README's \"Review in git\"",
            args.len()
        );
        return USAGE;
    }
    let path = args[0].as_str();
    let new_path = args.get(7).map_or(path, String::as_str);
    let side =
        |file: &str, hex: &str| (file != "/dev/null").then(|| (file.to_string(), hex.to_string()));
    let (old_side, new_side) = (side(&args[1], &args[2]), side(&args[4], &args[5]));
    let repo = git::Repo::discover(Path::new("."));
    let (old_hex, new_hex) = (
        old_side.as_ref().map(|(_, h)| h.as_str()),
        new_side.as_ref().map(|(_, h)| h.as_str()),
    );
    let (old_rev, new_rev) = match &repo {
        Some(r) if new_path == path => r.locate_pair(path, old_hex, new_hex),
        // A rename: each side at its own path.
        Some(r) => (
            old_hex.map(|h| r.locate(path, h)),
            new_hex.map(|h| r.locate(new_path, h)),
        ),
        None => (
            old_side.as_ref().map(|_| git::Revision::Worktree),
            new_side.as_ref().map(|_| git::Revision::Worktree),
        ),
    };
    let shown = |p: &str, rev: &Option<git::Revision>| match rev {
        None => "absent".to_string(),
        Some(git::Revision::Worktree) => format!("{p} (working tree)"),
        Some(r) => format!("{p}{}", r.label()),
    };
    let (old_name, new_name) = (shown(path, &old_rev), shown(new_path, &new_rev));
    let mut out = String::new();
    if format == DiffFormat::Text {
        out.push_str(&format!("sslp diff {old_name} -> {new_name}\n"));
    }
    let old_plan = plan_side(
        repo.as_ref(),
        path,
        old_side.as_ref(),
        old_rev.as_ref(),
        &old_name,
        &mut out,
    );
    let new_plan = plan_side(
        repo.as_ref(),
        new_path,
        new_side.as_ref(),
        new_rev.as_ref(),
        &new_name,
        &mut out,
    );
    let (Some(a), Some(b)) = (old_plan, new_plan) else {
        emit(&out);
        return OK;
    };
    let facts = match format {
        DiffFormat::Markdown => {
            let top = repo.as_ref().map_or(Path::new("."), |r| r.top());
            store_facts(&store_dir(&top.join(new_path), store), &a, &b)
        }
        _ => None,
    };
    out.push_str(&render(
        &a,
        &b,
        &old_name,
        &new_name,
        format,
        facts.as_ref(),
    ));
    emit(&out);
    OK
}

/// One version's plan (empty for an absent side); `None`, with the reason
/// and diagnostics written to `out`, when it cannot be planned.
fn plan_side(
    repo: Option<&git::Repo>,
    path: &str,
    side: Option<&(String, String)>,
    rev: Option<&git::Revision>,
    name: &str,
    out: &mut String,
) -> Option<Plan> {
    let (Some((file, _)), Some(rev)) = (side, rev) else {
        return Some(Plan::from_parts(vec![], vec![], String::new(), 0, None));
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            out.push_str(&format!("{name}: cannot read git's copy {file}: {e}\n"));
            return None;
        }
    };
    let (checked, plan) = match repo {
        Some(r) => r.check_and_plan(path, rev, &text),
        None => project::check_and_plan_text(Path::new(path), &text),
    };
    let errors = checked.diagnostics.iter().filter(|d| d.is_error()).count();
    match plan {
        Some(p) if errors == 0 => Some(p),
        _ => {
            out.push_str(&format!(
                "{name} does not check ({}), so there is no semantic diff:\n{}",
                if errors == 1 {
                    "1 error".to_string()
                } else {
                    format!("{errors} errors")
                },
                render::short(&checked.diagnostics, &checked.sources)
            ));
            None
        }
    }
}
