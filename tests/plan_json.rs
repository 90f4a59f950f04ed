//! `sslp plan --format json` is written by hand (`plan::render::json`); its bytes must be
//! those serde_json's pretty printer writes for the same document, for every plan of
//! `examples/` and `pipelines/`.

use serde::Serialize;
use sslp::plan::render::{STATUS_UNKNOWN, json};
use sslp::plan::{Fingerprint, Inputs, Key, Plan, Site, Value};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Serialize)]
struct JsonStep<'a> {
    key: Key,
    short: String,
    kind: &'a str,
    decl: &'a str,
    version: u32,
    params: &'a BTreeMap<String, Value>,
    exec: &'a BTreeMap<String, Value>,
    inputs: &'a Inputs,
    sites: &'a [Site],
    arms: usize,
    status: &'static str,
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
struct JsonPlan<'a> {
    seed: i64,
    device: &'a str,
    arm_count: usize,
    step_count: usize,
    steps_by_kind: BTreeMap<&'a str, usize>,
    arms: Vec<JsonArm<'a>>,
    steps: Vec<JsonStep<'a>>,
}

/// The document as serde_json writes it.
fn reference(plan: &Plan) -> String {
    let doc = JsonPlan {
        seed: plan.seed,
        device: &plan.device,
        arm_count: plan.arms.len(),
        step_count: plan.steps.len(),
        steps_by_kind: plan.counts_by_kind(),
        arms: plan
            .arms
            .iter()
            .map(|a| JsonArm {
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
            .collect(),
        steps: plan
            .steps
            .iter()
            .map(|s| JsonStep {
                key: s.key,
                short: s.key.short(),
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
            })
            .collect(),
    };
    serde_json::to_string_pretty(&doc).unwrap()
}

#[test]
fn equals_serde_json_on_every_example_and_pipeline() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut compared = 0;
    for dir in ["examples", "pipelines"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "sslp"))
            .collect();
        files.sort();
        for f in files {
            let Some(plan) = sslp::project::load_and_plan(&f).ok().and_then(|(_, p)| p) else {
                continue;
            };
            assert_eq!(json(&plan), reference(&plan), "{}", f.display());
            compared += 1;
        }
    }
    assert!(compared >= 10, "only {compared} files planned");
}
