//! Renderings of a plan: text, JSON, YAML (the fully resolved design), DOT, Mermaid.
//!
//! Every rendering is deterministic: steps in topological order, maps with
//! sorted keys, arms in plan order (YAML: sorted by name), so two runs on
//! the same design print the same bytes and designs can be diffed as text.

use super::{Fingerprint, Inputs, Key, Plan, Site, Step, Value};
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
    out.push_str(&format!("  by kind: {}\n\n", counts.join(", ")));
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

#[derive(Serialize)]
struct JsonStep<'a> {
    key: Key,
    short: ShortKey,
    kind: &'a str,
    decl: &'a str,
    version: u32,
    params: &'a BTreeMap<String, Value>,
    exec: &'a BTreeMap<String, Value>,
    inputs: &'a Inputs,
    sites: &'a [Site],
    arms: usize,
    status: &'static str,
    /// Datasets that read files: the fingerprint of their content, or `pending`.
    #[serde(skip_serializing_if = "is_none")]
    fingerprint: Fingerprint,
}

fn is_none(f: &Fingerprint) -> bool {
    *f == Fingerprint::None
}

#[derive(Serialize)]
struct JsonArm<'a> {
    name: &'a str,
    decl: &'a str,
    axes: BTreeMap<&'a str, &'a str>,
    output: Key,
    steps: usize,
}

#[derive(Serialize)]
#[serde(bound(serialize = "Streamed<A>: Serialize, Streamed<T>: Serialize"))]
struct JsonPlan<'a, A, T> {
    seed: i64,
    device: &'a str,
    arm_count: usize,
    step_count: usize,
    steps_by_kind: BTreeMap<&'a str, usize>,
    arms: Streamed<A>,
    steps: Streamed<T>,
}

/// A sequence serialised from an iterator while it is written, never collected.
struct Streamed<F>(F);

impl<F, I> Serialize for Streamed<F>
where
    F: Fn() -> I,
    I: IntoIterator,
    I::Item: Serialize,
{
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

/// A key's first 12 hex digits, written without an intermediate string.
struct ShortKey(Key);

impl Serialize for ShortKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let digits = self.0.hex_digits();
        match std::str::from_utf8(&digits[..12]) {
            Ok(text) => s.serialize_str(text),
            Err(e) => Err(serde::ser::Error::custom(e)),
        }
    }
}

fn json_step(s: &Step) -> JsonStep<'_> {
    JsonStep {
        key: s.key,
        short: ShortKey(s.key),
        kind: s.kind.as_str(),
        decl: &s.decl,
        version: s.version,
        params: &s.params,
        exec: &s.exec,
        inputs: &s.inputs,
        sites: &s.sites,
        arms: s.arms.len(),
        status: STATUS_UNKNOWN,
        fingerprint: s.fingerprint,
    }
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
/// trailing newline.
pub fn write_json(plan: &Plan, out: impl std::io::Write) -> std::io::Result<()> {
    let doc = JsonPlan {
        seed: plan.seed,
        device: &plan.device,
        arm_count: plan.arms.len(),
        step_count: plan.steps.len(),
        steps_by_kind: plan.counts_by_kind(),
        arms: Streamed(|| {
            plan.arms.iter().map(|a| JsonArm {
                name: &a.name,
                decl: &a.decl,
                axes: a
                    .axes
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect(),
                output: a.output,
                steps: a.lineage.len(),
            })
        }),
        steps: Streamed(|| plan.steps.iter().map(json_step)),
    };
    serde_json::to_writer_pretty(out, &doc).map_err(std::io::Error::from)
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
