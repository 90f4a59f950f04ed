//! `sslp plan --format json` is written by hand (`plan::render::json`); its bytes must be
//! those serde_json's pretty printer writes for the same document, for every plan of
//! `examples/` and `pipelines/`.

use serde::Serialize;
use sslp::plan::render::{STATUS_UNKNOWN, json};
use sslp::plan::{Executor, ExecutorKind, Fingerprint, Inputs, Key, Plan, Site, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

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
    #[serde(skip_serializing_if = "Option::is_none")]
    executor: Option<&'a Executor>,
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
        executor: (!plan.executor.is_local()).then_some(&plan.executor),
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

/// A pipeline with sweeps, a shared pretraining run, label subsets and a report, planned
/// from text.
const PIPELINE: &str = "
dataset shapes = synthetic_shapes(count: 256, size: 32)
split parts {
  data = shapes
  train = 0.75
}
let seed = sweep [1, 2, 3]
pretrain ssl {
  data = parts.train
  backbone = tiny_convnet()
  method = simclr(temperature: sweep [0.1, 0.2, 0.5])
  policy = [random_resized_crop(scale: 0.2..1.0) @ 1.0, horizontal_flip() @ 0.5]
  batch = sweep [64, 128]
  seed = seed
  epochs = 5
}
evaluate lin = linear_probe(
  backbone: ssl,
  train: parts.train,
  test: parts.test,
  label_fraction: sweep 0.25..1.0 step 0.25,
)
report by_fraction = plot(metric: lin.top1, x: lin.label_fraction, series: ssl.batch)
";

fn planned() -> Plan {
    let checked =
        sslp::lang::check_source("t.sslp", "t.sslp", PIPELINE, &mut sslp::lang::NoImports);
    let program = checked.program.expect("the pipeline checks");
    sslp::plan::plan(&program).0.expect("the pipeline plans")
}

#[test]
fn equals_serde_json_on_a_sweep() {
    let plan = planned();
    assert!(plan.arms.len() > 10);
    assert_eq!(json(&plan), reference(&plan));
}

#[test]
fn equals_serde_json_on_escapes_numbers_and_shared_maps() {
    let mut plan = planned();
    let odd = [
        Value::Str("quote \" backslash \\ newline \n tab \t bell \u{7} é ✓".into()),
        Value::Float(3e-5),
        Value::Float(-0.0),
        Value::Float(1e300),
        Value::Float(f64::NAN),
        Value::Float(f64::INFINITY),
        Value::Float(0.1 + 0.2),
        Value::Int(i64::MIN),
        Value::Int(i64::MAX),
        Value::Int(0),
        Value::Null,
        Value::Bool(true),
        Value::List(vec![]),
        Value::Map(BTreeMap::new()),
        Value::List(vec![
            Value::List(vec![Value::Int(-3)]),
            Value::Map(BTreeMap::new()),
        ]),
        Value::Step(Key([9; 32]), Some("train".into())),
    ];
    let mut nested = BTreeMap::new();
    for (i, v) in odd.iter().enumerate() {
        nested.insert(format!("k{i:02} \"\n"), v.clone());
    }
    let s = &mut plan.steps[0];
    s.exec.insert("odd".into(), Value::Map(nested.clone()));
    s.exec.insert("list".into(), Value::List(odd.to_vec()));
    s.fingerprint = Fingerprint::Pending;
    // Two steps sharing one parameter map: rendered once, copied.
    let shared = Arc::new(nested);
    plan.steps[0].params = shared.clone();
    if plan.steps.len() > 1 {
        plan.steps[1].params = shared;
        plan.steps[1].fingerprint = Fingerprint::Content {
            hash: Key([3; 32]),
            pending: Key([4; 32]),
        };
    }
    plan.device = "c\"p\\u".into();
    plan.seed = -7;
    plan.executor = Executor {
        kind: ExecutorKind::Slurm,
        partition: Some("gpu \"a\"\n".into()),
        account: None,
        max_jobs: Some(u64::MAX),
        sbatch_args: vec!["--qos=high".into(), "--comment=\u{1}\\".into()],
    };
    plan.arms[0].name.push_str("\u{1}\"");
    plan.arms[0].axes.push(("dup".into(), "a".into()));
    plan.arms[0].axes.push(("dup".into(), "b".into()));
    assert_eq!(json(&plan), reference(&plan));
    // A Slurm executor with nothing but its kind.
    plan.executor = Executor {
        kind: ExecutorKind::Slurm,
        ..Executor::default()
    };
    assert_eq!(json(&plan), reference(&plan));
    // An empty plan.
    plan.steps.clear();
    plan.arms.clear();
    assert_eq!(json(&plan), reference(&plan));
}
