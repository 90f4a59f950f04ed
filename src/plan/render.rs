//! Renderings of a plan: text, JSON, YAML (the fully resolved design), DOT,
//! Mermaid, and one line per arm for git's textconv ([`arm_lines`]).
//!
//! Every rendering is deterministic: steps in topological order, maps with
//! sorted keys, arms in plan order (YAML: sorted by name), so two runs on
//! the same design print the same bytes and designs can be diffed as text.

mod arms;
mod json;

pub use arms::arm_lines;

use super::{Executor, Fingerprint, Plan, Step, Value};
use serde::Serialize;
use std::collections::BTreeMap;

/// Cache status shown for each step until the engine's store answers.
pub const STATUS_UNKNOWN: &str = "unknown";

/// A human summary: counts, then one line per step, then the arms.
pub fn text(plan: &Plan, title: &str) -> String {
    let mut out = format!(
        "plan {title}: {} arm{}, {} step{}\n",
        plan.arms.len(),
        if plan.arms.len() == 1 { "" } else { "s" },
        plan.steps.len(),
        if plan.steps.len() == 1 { "" } else { "s" }
    );
    let counts: Vec<String> = plan
        .counts_by_kind()
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    out.push_str(&format!("  by kind: {}\n", counts.join(", ")));
    if !plan.executor.is_local() {
        out.push_str(&format!(
            "  executor: {}\n",
            executor_summary(&plan.executor)
        ));
    }
    out.push('\n');
    let kind_w = plan
        .steps
        .iter()
        .map(|s| s.kind.as_str().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let decl_w = plan
        .steps
        .iter()
        .map(|s| s.decl.len())
        .max()
        .unwrap_or(4)
        .max(4);
    out.push_str(&format!(
        "  {:12}  {:kind_w$}  {:decl_w$}  {:>5}  {:7}  INPUTS\n",
        "KEY", "KIND", "DECL", "ARMS", "CACHE"
    ));
    for s in &plan.steps {
        let inputs: Vec<String> = if s.fingerprint != Fingerprint::None {
            vec![format!("fingerprint={}", s.fingerprint.short())]
        } else if s.inputs.len() > 4 {
            vec![format!("({} inputs)", s.inputs.len())]
        } else {
            s.inputs
                .iter()
                .map(|(n, k)| format!("{n}={}", k.short()))
                .collect()
        };
        out.push_str(&format!(
            "  {}  {:kind_w$}  {:decl_w$}  {:>5}  {:7}  {}\n",
            s.key.short(),
            s.kind,
            s.decl,
            s.arms.len(),
            STATUS_UNKNOWN,
            inputs.join(" ")
        ));
    }
    out.push_str("\narms:\n");
    for a in &plan.arms {
        out.push_str(&format!(
            "  {}  {} ({} steps)\n",
            a.output.short(),
            a.name,
            a.lineage.len()
        ));
    }
    out
}

/// A non-local executor in one line: `slurm, partition gpu, account lab, at most 100 jobs`.
fn executor_summary(e: &Executor) -> String {
    let mut parts = vec![e.kind.as_str().to_string()];
    if let Some(p) = &e.partition {
        parts.push(format!("partition {p}"));
    }
    if let Some(a) = &e.account {
        parts.push(format!("account {a}"));
    }
    if let Some(n) = e.max_jobs {
        parts.push(format!("at most {n} jobs"));
    }
    if !e.sbatch_args.is_empty() {
        parts.push(format!("sbatch {}", e.sbatch_args.join(" ")));
    }
    parts.join(", ")
}

/// The plan as pretty JSON.
pub fn json(plan: &Plan) -> String {
    let mut out = Vec::new();
    match write_json(plan, &mut out) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Writes the plan as pretty JSON (what [`json`] returns), streamed: a
/// 10,000-arm plan is tens of megabytes of text, never held whole. No
/// trailing newline. The document: `seed`, `device`, `executor` (only when it
/// is not the local one: `kind`, `partition`, `account`, `max_jobs`,
/// `sbatch_args`, as [`super::Executor`] serialises), `arm_count`,
/// `step_count`, `steps_by_kind`, then every arm (`name`, `decl`, `axes`,
/// `output`, `steps`: the lineage's length) and every step (`key`, `short`,
/// `kind`, `decl`, `version`, `params`, `exec`, `inputs`, `sites`, `arms`:
/// how many, `status`, and `fingerprint` for datasets that read files),
/// laid out as serde_json's pretty printer lays it out ([`json`] module).
pub fn write_json(plan: &Plan, out: impl std::io::Write) -> std::io::Result<()> {
    json::write(plan, out)
}

#[derive(Serialize)]
struct YamlStep<'a> {
    kind: &'a str,
    decl: &'a str,
    key: String,
    params: &'a BTreeMap<String, Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    exec: &'a BTreeMap<String, Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    inputs: BTreeMap<&'a str, String>,
}

#[derive(Serialize)]
struct YamlArm<'a> {
    decl: &'a str,
    axes: BTreeMap<&'a str, &'a str>,
    steps: Vec<YamlStep<'a>>,
}

#[derive(Serialize)]
struct YamlPlan<'a> {
    seed: i64,
    device: &'a str,
    #[serde(skip_serializing_if = "Executor::is_local")]
    executor: &'a Executor,
    arms: BTreeMap<&'a str, YamlArm<'a>>,
}

/// The fully resolved design: every arm with every effective parameter of every step it needs.
pub fn yaml(plan: &Plan) -> String {
    let arms = plan
        .arms
        .iter()
        .map(|a| {
            let steps = a
                .lineage
                .iter()
                .filter_map(|k| plan.step(k))
                .map(|s| YamlStep {
                    kind: s.kind.as_str(),
                    decl: &s.decl,
                    key: s.key.short(),
                    params: &s.params,
                    exec: &s.exec,
                    inputs: s
                        .inputs
                        .iter()
                        .map(|(n, k)| (n.as_str(), k.short()))
                        .collect(),
                })
                .collect();
            (
                a.name.as_str(),
                YamlArm {
                    decl: &a.decl,
                    axes: a
                        .axes
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect(),
                    steps,
                },
            )
        })
        .collect();
    let doc = YamlPlan {
        seed: plan.seed,
        device: &plan.device,
        executor: &plan.executor,
        arms,
    };
    serde_yaml::to_string(&doc).unwrap_or_default()
}

fn node_label(s: &Step) -> String {
    format!("{} {}\\n{}", s.kind, s.decl, s.key.short())
}

/// Graphviz DOT.
pub fn dot(plan: &Plan) -> String {
    let mut out = String::from(
        "digraph sslp {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for s in &plan.steps {
        out.push_str(&format!(
            "  \"{}\" [label=\"{}\"];\n",
            s.key.short(),
            node_label(s)
        ));
    }
    for s in &plan.steps {
        for (name, k) in &s.inputs {
            out.push_str(&format!(
                "  \"{}\" -> \"{}\" [label=\"{name}\"];\n",
                k.short(),
                s.key.short()
            ));
        }
    }
    out.push_str("}\n");
    out
}

/// A Mermaid flowchart.
pub fn mermaid(plan: &Plan) -> String {
    let mut out = String::from("flowchart LR\n");
    for s in &plan.steps {
        out.push_str(&format!(
            "  s{}[\"{} {}<br/>{}\"]\n",
            s.key.short(),
            s.kind,
            s.decl,
            s.key.short()
        ));
    }
    for s in &plan.steps {
        for (name, k) in &s.inputs {
            out.push_str(&format!(
                "  s{} -->|{name}| s{}\n",
                k.short(),
                s.key.short()
            ));
        }
    }
    out
}
