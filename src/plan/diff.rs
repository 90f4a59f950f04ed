//! Semantic diff of two plans: what a design change means for the experiment.
//!
//! Arms are matched by name; steps by their *site* (declaration, role and
//! the swept values they read). A site whose key changed either had a
//! parameter changed (listed, old -> new) or sits downstream of a change.
//! Keys present in both plans are results that stay valid.
//!
//! Renderings: [`Diff::text`], [`Diff::json`] and, for pull requests,
//! [`markdown()`] (with the compute the change costs, [`Estimate`]).

mod estimate;
mod markdown;

pub use estimate::{Estimate, KindEstimate, StoreFacts, Timing, human_duration};
pub use markdown::{Review, markdown};

use super::{Key, Plan, Site, Step, Value};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One parameter change, aggregated over the steps it affects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ParamChange {
    /// Declaration and step kind, `ssl/pretrain`.
    pub step: String,
    /// Parameter path, `views[0].policy[0:saliency_cut].p`.
    pub path: String,
    /// Old value (`none` when added).
    pub old: String,
    /// New value (`none` when removed).
    pub new: String,
    /// How many steps it changes.
    pub steps: usize,
}

/// Why a step of the new design is (or is not) in the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StepClass {
    /// The old design has its key: a result, once computed, stays valid.
    Kept,
    /// A parameter of its own changed.
    Changed,
    /// It runs again only because a step upstream changed.
    Downstream,
    /// A new site: a new arm or a new declaration.
    New,
}

/// The semantic difference between two designs.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    /// Arms only in the new design.
    pub arms_added: Vec<String>,
    /// Arms only in the old design.
    pub arms_removed: Vec<String>,
    /// Arms in both.
    pub arms_kept: usize,
    /// Arms in both whose result changes (their final step's key differs).
    pub arms_changed: Vec<String>,
    /// Parameter changes.
    pub changes: Vec<ParamChange>,
    /// Steps of the new design whose key the old one has: results reusable.
    pub steps_unchanged: usize,
    /// Steps of the new design that must run.
    pub steps_to_run: usize,
    /// Of those, steps with a changed parameter.
    pub steps_changed_directly: usize,
    /// Of those, steps that run only because something upstream changed.
    pub steps_downstream: usize,
    /// Of those, steps at new sites (new arms or new declarations).
    pub steps_new_sites: usize,
    /// Steps of the old design the new one no longer needs.
    pub steps_dropped: usize,
    /// Every step of the new design by key, with its class (for renderings).
    #[serde(skip)]
    pub classes: BTreeMap<Key, StepClass>,
}

/// Compares two plans.
pub fn diff(old: &Plan, new: &Plan) -> Diff {
    let old_arms: BTreeSet<&str> = old.arms.iter().map(|a| a.name.as_str()).collect();
    let new_arms: BTreeSet<&str> = new.arms.iter().map(|a| a.name.as_str()).collect();
    let old_keys: BTreeSet<_> = old.steps.iter().map(|s| s.key).collect();
    let new_keys: BTreeSet<_> = new.steps.iter().map(|s| s.key).collect();
    let old_sites = sites(old);
    let new_sites = sites(new);

    let mut agg: BTreeMap<(String, String, String, String), BTreeSet<super::Key>> = BTreeMap::new();
    let mut direct = BTreeSet::new();
    let mut downstream = BTreeSet::new();
    let mut new_site_steps = BTreeSet::new();
    for (site, &new_step) in &new_sites {
        if old_keys.contains(&new_step.key) {
            continue;
        }
        match old_sites.get(site) {
            Some(&old_step) => {
                let changes = param_changes(old_step, new_step);
                if changes.is_empty() {
                    downstream.insert(new_step.key);
                } else {
                    direct.insert(new_step.key);
                    for (path, o, n) in changes {
                        let step = format!("{}/{}", new_step.decl, new_step.kind);
                        agg.entry((step, path, o, n))
                            .or_default()
                            .insert(new_step.key);
                    }
                }
            }
            None => {
                new_site_steps.insert(new_step.key);
            }
        }
    }
    // A step reached both directly and through other sites counts once, as direct.
    downstream.retain(|k| !direct.contains(k));
    new_site_steps.retain(|k| !direct.contains(k) && !downstream.contains(k));
    let old_outputs: BTreeMap<&str, Key> = old
        .arms
        .iter()
        .map(|a| (a.name.as_str(), a.output))
        .collect();
    let arms_changed = new
        .arms
        .iter()
        .filter(|a| {
            old_outputs
                .get(a.name.as_str())
                .is_some_and(|k| *k != a.output)
        })
        .map(|a| a.name.clone())
        .collect();
    let classes = new
        .steps
        .iter()
        .map(|s| {
            let class = if old_keys.contains(&s.key) {
                StepClass::Kept
            } else if direct.contains(&s.key) {
                StepClass::Changed
            } else if downstream.contains(&s.key) {
                StepClass::Downstream
            } else {
                StepClass::New
            };
            (s.key, class)
        })
        .collect();
    let changes = agg
        .into_iter()
        .map(|((step, path, old, new), keys)| ParamChange {
            step,
            path,
            old,
            new,
            steps: keys.len(),
        })
        .collect();
    Diff {
        arms_added: new_arms
            .difference(&old_arms)
            .map(|s| s.to_string())
            .collect(),
        arms_removed: old_arms
            .difference(&new_arms)
            .map(|s| s.to_string())
            .collect(),
        arms_kept: new_arms.intersection(&old_arms).count(),
        arms_changed,
        changes,
        steps_unchanged: new_keys.intersection(&old_keys).count(),
        steps_to_run: new_keys.difference(&old_keys).count(),
        steps_changed_directly: direct.len(),
        steps_downstream: downstream.len(),
        steps_new_sites: new_site_steps.len(),
        steps_dropped: old_keys.difference(&new_keys).count(),
        classes,
    }
}

fn sites(plan: &Plan) -> BTreeMap<&Site, &Step> {
    let mut out = BTreeMap::new();
    for s in &plan.steps {
        for site in &s.sites {
            out.insert(site, s);
        }
    }
    out
}

/// Parameter paths whose values differ, with old and new values.
fn param_changes(old: &Step, new: &Step) -> Vec<(String, String, String)> {
    let mut a = BTreeMap::new();
    let mut b = BTreeMap::new();
    flatten(&Value::Map((*old.params).clone()), "", &mut a);
    flatten(&Value::Map((*new.params).clone()), "", &mut b);
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let none = "none".to_string();
    keys.into_iter()
        .filter_map(|k| {
            let (o, n) = (a.get(k).unwrap_or(&none), b.get(k).unwrap_or(&none));
            (o != n).then(|| (k.clone(), o.clone(), n.clone()))
        })
        .collect()
}

/// Parameters as `path -> value` lines: nested maps joined with `.`, lists of
/// maps indexed with their type (`views[0:view].policy[1:rotate].p`).
pub(crate) fn flatten_params(params: &BTreeMap<String, Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in params {
        flatten(v, k, &mut out);
    }
    out
}

fn flatten(v: &Value, prefix: &str, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Map(m) => {
            for (k, x) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(x, &path, out);
            }
        }
        Value::List(xs) if xs.iter().any(|x| matches!(x, Value::Map(_))) => {
            for (i, x) in xs.iter().enumerate() {
                let tag = x
                    .as_map()
                    .and_then(|m| m.get("type"))
                    .and_then(Value::as_str)
                    .map(|t| format!("{i}:{t}"))
                    .unwrap_or_else(|| i.to_string());
                flatten(x, &format!("{prefix}[{tag}]"), out);
            }
            out.insert(format!("{prefix}.len"), xs.len().to_string());
        }
        other => {
            out.insert(prefix.to_string(), other.display());
        }
    }
}

impl Diff {
    /// True when the designs run exactly the same steps.
    pub fn is_empty(&self) -> bool {
        self.arms_added.is_empty()
            && self.arms_removed.is_empty()
            && self.steps_to_run == 0
            && self.steps_dropped == 0
    }

    /// Stable, review-friendly text.
    pub fn text(&self) -> String {
        let mut out = format!(
            "arms: {} added, {} removed, {} kept\n",
            self.arms_added.len(),
            self.arms_removed.len(),
            self.arms_kept
        );
        for a in &self.arms_added {
            out.push_str(&format!("  + {a}\n"));
        }
        for a in &self.arms_removed {
            out.push_str(&format!("  - {a}\n"));
        }
        if self.changes.is_empty() {
            out.push_str("parameters: no changes\n");
        } else {
            out.push_str("parameters:\n");
            for c in &self.changes {
                out.push_str(&format!(
                    "  ~ {}: {}: {} -> {}  ({} step{})\n",
                    c.step,
                    c.path,
                    c.old,
                    c.new,
                    c.steps,
                    if c.steps == 1 { "" } else { "s" }
                ));
            }
        }
        out.push_str(&format!(
            "steps: {} keep their keys (cached results reusable), {} must run ({} changed, {} downstream of a change, {} new), {} no longer needed\n",
            self.steps_unchanged,
            self.steps_to_run,
            self.steps_changed_directly,
            self.steps_downstream,
            self.steps_new_sites,
            self.steps_dropped
        ));
        out
    }

    /// JSON for tools.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
