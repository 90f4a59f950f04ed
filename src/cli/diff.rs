//! `sslp diff`: the semantic difference of two designs, without reading data.

use super::pipeline::{plan_or_report, store_dir};
use super::{OK, emit};
use crate::exec::store::{Status, Store};
use crate::plan::Plan;
use crate::plan::diff::{self as plan_diff, Review, StoreFacts, Timing};
use clap::ValueEnum;
use std::collections::BTreeSet;
use std::path::Path;

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
