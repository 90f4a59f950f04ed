//! `sslp diff --format markdown`: a design change as a pull-request comment.
//!
//! What a reviewer asks of a change to a `.sslp` file: which arms appear,
//! disappear or change (with their axis values), which swept values moved,
//! which parameters changed, which steps keep their cached results and which
//! run again, and what that costs ([`Estimate`]). Long lists fold into
//! `<details>` blocks; every list is capped, with the count of what is left out.

use super::{Diff, Estimate, StepClass, StoreFacts, human_duration};
use crate::plan::{Arm, Key, Plan, Step};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Rows of a table shown before it folds into `<details>`.
const OPEN_ROWS: usize = 15;
/// Rows of a table (or lines of a list) at most; the rest are counted. Keeps
/// the comment of a 10,000-arm change well under GitHub's 65,536 characters.
const MAX_ROWS: usize = 100;

/// A change to review: the two designs, their diff and what the store knows.
#[derive(Debug, Clone, Copy)]
pub struct Review<'a> {
    /// The old design's name (its path), as shown.
    pub old_name: &'a str,
    /// The new design's name.
    pub new_name: &'a str,
    /// The old design.
    pub old: &'a Plan,
    /// The new design.
    pub new: &'a Plan,
    /// [`super::diff`] of the two.
    pub diff: &'a Diff,
    /// The store's records, when there is a store.
    pub store: Option<&'a StoreFacts>,
}

/// The review as GitHub-flavoured Markdown.
pub fn markdown(r: &Review) -> String {
    let mut out = format!(
        "### sslp diff: {} → {}\n\n",
        code(r.old_name),
        code(r.new_name)
    );
    let estimate = r.store.map(|f| Estimate::new(r.diff, r.new, f));
    summary(&mut out, r, estimate.as_ref());
    if r.diff.is_empty() {
        out.push_str("\nThe designs run the same steps: every result stays valid, nothing runs.\n");
        pending(&mut out, r);
        return out;
    }
    arms(&mut out, r);
    axes(&mut out, r);
    parameters(&mut out, r);
    steps(&mut out, r);
    compute(&mut out, r, estimate.as_ref());
    pending(&mut out, r);
    out
}

/// `text` as a code span that is safe in a table cell.
fn code(text: &str) -> String {
    format!("`{}`", text.replace('`', "'").replace('|', "\\|"))
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// `pretrain 2, knn 4`: steps counted by kind.
fn by_kind<'a>(steps: impl Iterator<Item = &'a Step>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in steps {
        *counts.entry(s.kind.as_str()).or_default() += 1;
    }
    if counts.is_empty() {
        return "—".into();
    }
    counts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A table: the header, then the rows (capped), folded when long.
fn table(out: &mut String, what: &str, header: &[&str], rows: Vec<Vec<String>>) {
    if rows.is_empty() {
        return;
    }
    let fold = rows.len() > OPEN_ROWS;
    if fold {
        let _ = write!(out, "<details><summary>{what}</summary>\n\n");
    }
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        header.iter().map(|_| "---|").collect::<String>()
    );
    let total = rows.len();
    for row in rows.into_iter().take(MAX_ROWS) {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    if total > MAX_ROWS {
        let _ = writeln!(out, "\n… and {} more.", total - MAX_ROWS);
    }
    if fold {
        out.push_str("\n</details>\n");
    }
}

/// Keys of the old design.
fn keys(plan: &Plan) -> BTreeSet<Key> {
    plan.steps.iter().map(|s| s.key).collect()
}

fn summary(out: &mut String, r: &Review, estimate: Option<&Estimate>) {
    let d = r.diff;
    let unchanged = d.arms_kept - d.arms_changed.len();
    let _ = writeln!(
        out,
        "**Arms:** {} → {}: {} added, {} removed, {} changed, {} unchanged.  ",
        r.old.arms.len(),
        r.new.arms.len(),
        d.arms_added.len(),
        d.arms_removed.len(),
        d.arms_changed.len(),
        unchanged
    );
    let _ = writeln!(
        out,
        "**Steps:** {} keep their keys (cached results stay valid), {} run ({} changed, {} downstream of a change, {} new), {} no longer needed.  ",
        d.steps_unchanged,
        d.steps_to_run,
        d.steps_changed_directly,
        d.steps_downstream,
        d.steps_new_sites,
        d.steps_dropped
    );
    let _ = writeln!(out, "**Estimated compute:** {}.", estimate_line(estimate));
}

fn estimate_line(estimate: Option<&Estimate>) -> String {
    let Some(e) = estimate else {
        return "unknown (no store with recorded runs)".into();
    };
    if e.steps == 0 {
        return if e.already_done > 0 {
            format!(
                "none: the store already has all {} new steps",
                e.already_done
            )
        } else {
            "none".into()
        };
    }
    let unknown = e.unknown_steps();
    let mut text = if unknown == e.steps {
        format!(
            "unknown for all {}: the store has no finished step of their kinds",
            plural(e.steps, "step")
        )
    } else {
        format!(
            "≈ {} of step time for {}",
            human_duration(e.known_ms()),
            plural(e.steps - unknown, "step")
        )
    };
    if unknown > 0 && unknown < e.steps {
        let _ = write!(
            text,
            ", plus {} of unknown duration",
            plural(unknown, "step")
        );
    }
    if e.already_done > 0 {
        let _ = write!(
            text,
            " ({} more already in the store)",
            plural(e.already_done, "new step")
        );
    }
    text
}

/// `method=byol` `policy=p1`, or `—` for an arm with no axes.
fn axis_values(arm: &Arm) -> String {
    if arm.axes.is_empty() {
        return "—".into();
    }
    arm.axes
        .iter()
        .map(|(k, v)| code(&format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(" ")
}

fn arms(out: &mut String, r: &Review) {
    let d = r.diff;
    if d.arms_added.is_empty() && d.arms_removed.is_empty() && d.arms_changed.is_empty() {
        return;
    }
    let old_keys = keys(r.old);
    let to_run = |arm: &Arm| {
        let n = arm
            .lineage
            .iter()
            .filter(|k| !old_keys.contains(k))
            .filter(|k| r.store.is_none_or(|f| !f.done.contains(k)))
            .count();
        n.to_string()
    };
    let added: BTreeSet<&str> = d.arms_added.iter().map(String::as_str).collect();
    let removed: BTreeSet<&str> = d.arms_removed.iter().map(String::as_str).collect();
    let changed: BTreeSet<&str> = d.arms_changed.iter().map(String::as_str).collect();
    let mut rows = vec![];
    for arm in &r.new.arms {
        let change = if added.contains(arm.name.as_str()) {
            "added"
        } else if changed.contains(arm.name.as_str()) {
            "changed"
        } else {
            continue;
        };
        rows.push(vec![
            change.to_string(),
            code(&arm.decl),
            axis_values(arm),
            to_run(arm),
        ]);
    }
    for arm in r
        .old
        .arms
        .iter()
        .filter(|a| removed.contains(a.name.as_str()))
    {
        rows.push(vec![
            "removed".into(),
            code(&arm.decl),
            axis_values(arm),
            "—".into(),
        ]);
    }
    out.push_str("\n#### Arms\n\n");
    let what = format!("{} arms added, removed or changed", rows.len());
    table(
        out,
        &what,
        &["", "declaration", "axis values", "steps to run"],
        rows,
    );
}

/// Per declaration and axis, the swept values of one design.
fn swept(plan: &Plan) -> BTreeMap<(&str, &str), BTreeSet<&str>> {
    let mut out: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    for a in &plan.arms {
        for (axis, value) in &a.axes {
            out.entry((a.decl.as_str(), axis.as_str()))
                .or_default()
                .insert(value.as_str());
        }
    }
    out
}

fn axes(out: &mut String, r: &Review) {
    let (old, new) = (swept(r.old), swept(r.new));
    let all: BTreeSet<&(&str, &str)> = old.keys().chain(new.keys()).collect();
    let empty = BTreeSet::new();
    let list = |values: Vec<&&str>| {
        if values.is_empty() {
            "—".to_string()
        } else {
            values.iter().map(|v| code(v)).collect::<Vec<_>>().join(" ")
        }
    };
    let mut rows = vec![];
    for key in all {
        let (a, b) = (
            old.get(key).unwrap_or(&empty),
            new.get(key).unwrap_or(&empty),
        );
        if a == b {
            continue;
        }
        rows.push(vec![
            code(&format!("{}.{}", key.0, key.1)),
            list(a.difference(b).collect()),
            list(b.difference(a).collect()),
        ]);
    }
    if rows.is_empty() {
        return;
    }
    out.push_str("\n#### Swept values\n\n");
    let what = format!("{} axes with values removed or added", rows.len());
    table(out, &what, &["axis", "removed", "added"], rows);
}

fn parameters(out: &mut String, r: &Review) {
    if r.diff.changes.is_empty() {
        return;
    }
    out.push_str("\n#### Parameters\n\n");
    let rows = r
        .diff
        .changes
        .iter()
        .map(|c| {
            vec![
                code(&c.step),
                code(&c.path),
                code(&c.old),
                code(&c.new),
                c.steps.to_string(),
            ]
        })
        .collect();
    let what = format!("{} parameter changes", r.diff.changes.len());
    table(
        out,
        &what,
        &["step", "parameter", "before", "after", "steps"],
        rows,
    );
}

fn steps(out: &mut String, r: &Review) {
    let class_of = |s: &Step| r.diff.classes.get(&s.key).copied();
    let done = |s: &Step| r.store.is_some_and(|f| f.done.contains(&s.key));
    let of = |class: StepClass| {
        r.new
            .steps
            .iter()
            .filter(move |s| class_of(s) == Some(class))
    };
    let new_keys = keys(r.new);
    let dropped = r.old.steps.iter().filter(|s| !new_keys.contains(&s.key));
    let mut rows = vec![];
    let mut row = |label: &str, steps: Vec<&Step>| {
        if !steps.is_empty() {
            rows.push(vec![
                label.to_string(),
                steps.len().to_string(),
                by_kind(steps.into_iter()),
            ]);
        }
    };
    row("stay cached (key unchanged)", of(StepClass::Kept).collect());
    for (class, label) in [
        (StepClass::Changed, "re-run: a parameter changed"),
        (StepClass::Downstream, "re-run: downstream of a change"),
        (StepClass::New, "run: new"),
    ] {
        row(label, of(class).filter(|s| !done(s)).collect());
    }
    row(
        "new key, already in the store",
        r.new
            .steps
            .iter()
            .filter(|s| class_of(s) != Some(StepClass::Kept) && done(s))
            .collect(),
    );
    row("no longer needed", dropped.collect());
    out.push_str("\n#### Steps\n\n");
    table(out, "steps", &["", "steps", "by kind"], rows);

    // Which steps run, by where they sit in the design.
    let mut runs: Vec<String> = vec![];
    for s in &r.new.steps {
        let why = match class_of(s) {
            Some(StepClass::Changed) => "a parameter changed",
            Some(StepClass::Downstream) => "downstream of a change",
            Some(StepClass::New) => "new",
            _ => continue,
        };
        if done(s) {
            continue;
        }
        let site = s
            .sites
            .first()
            .map_or_else(|| s.decl.clone(), |x| x.to_string());
        let more = if s.sites.len() > 1 {
            format!(" (and {} more sites)", s.sites.len() - 1)
        } else {
            String::new()
        };
        runs.push(format!("- {} ({}): {why}{more}", code(&site), s.kind));
    }
    if runs.is_empty() {
        return;
    }
    let total = runs.len();
    let _ = write!(
        out,
        "\n<details><summary>{} to run, by site</summary>\n\n",
        plural(total, "step")
    );
    for line in runs.into_iter().take(MAX_ROWS) {
        let _ = writeln!(out, "{line}");
    }
    if total > MAX_ROWS {
        let _ = writeln!(out, "- … and {} more", total - MAX_ROWS);
    }
    out.push_str("\n</details>\n");
}

fn compute(out: &mut String, r: &Review, estimate: Option<&Estimate>) {
    out.push_str("\n#### Estimated compute\n\n");
    let (Some(e), Some(facts)) = (estimate, r.store) else {
        out.push_str(
            "Unknown: there is no store with recorded runs beside the new design \
             (`sslp run` records how long each step takes).\n",
        );
        return;
    };
    if e.kinds.is_empty() {
        let _ = writeln!(out, "{}.", capitalise(&estimate_line(Some(e))));
        return;
    }
    let rows = e
        .kinds
        .iter()
        .map(|k| {
            let estimated = match (k.known, k.steps) {
                (0, _) => "unknown".to_string(),
                (known, steps) if known == steps => human_duration(k.total_ms),
                (known, steps) => format!(
                    "{} (+{} unknown)",
                    human_duration(k.total_ms),
                    steps - known
                ),
            };
            vec![
                code(&k.kind),
                k.steps.to_string(),
                estimated,
                plural(k.records, "recorded step"),
            ]
        })
        .collect();
    table(
        out,
        "compute by kind",
        &["kind", "steps to run", "estimated", "from"],
        rows,
    );
    let _ = writeln!(
        out,
        "\n{}. Each step is estimated by the median wall time of the finished steps of its declaration and kind in the store ({}), else of its kind; the total is the sum, as if one worker ran them one after another.",
        capitalise(&estimate_line(Some(e))),
        code(&facts.location)
    );
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn pending(out: &mut String, r: &Review) {
    let names: BTreeSet<&str> = r
        .old
        .pending_datasets()
        .chain(r.new.pending_datasets())
        .map(|s| s.decl.as_str())
        .collect();
    if names.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n> The diff reads no data: the keys of {} are pending a fingerprint of their files, so a changed data file does not show here.",
        names.iter().map(|n| code(n)).collect::<Vec<_>>().join(", ")
    );
}
