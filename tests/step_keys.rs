//! Golden step keys: a fixed program whose every step key is pinned.
//!
//! A key is a promise that a cached result is still valid. It must change
//! when a step's outputs change, and only then. If this test fails, read its
//! message: it says which steps changed and what to do.

use sslp::lang::{self, NoImports};
use sslp::plan::{self, Plan, StepKind};
use std::collections::BTreeSet;

/// A small program that reaches every step kind, with a file-free dataset.
const PROGRAM: &str = r#"
set seed = 0

dataset shapes = synthetic_shapes(count: 64, size: 16, classes: 4)

split parts {
  data = shapes
  train = 0.75
  test = 0.25
}

policy light = [saliency_cut() @ 0.5, horizontal_flip() @ 0.5]

pretrain ssl {
  data = parts.train
  backbone = tiny_convnet(width: 8)
  method = simclr(proj_hidden: 32, proj_dim: 16)
  policy = light
  epochs = 1
  batch = 16
}

pretrain gs {
  data = parts.train
  backbone = tiny_convnet(width: 8)
  method = g_simclr(clusters: 4, ae_epochs: 1, ae_latent: 16)
  policy = light
  epochs = 1
  batch = 16
}

evaluate lin = linear_probe(
  backbone: ssl,
  train: parts.train,
  test: parts.test,
  label_fraction: sweep [0.5, 1.0],
)
evaluate nn = knn(backbone: tiny_convnet(width: 8), train: parts.train, test: parts.test, k: 5)
evaluate clusters = kmeans(backbone: ssl, data: parts.test, clusters: 4)
evaluate embedding = tsne(backbone: gs, data: parts.test)
evaluate seg = segmentation(backbone: ssl, train: parts.train, test: parts.test, epochs: 1)

report look = preview(data: parts.train, policy: light)
report results = table(metrics: [lin.top1, nn.top1])
report curve = plot(metric: lin.top1, x: lin.label_fraction)

evaluate pixels = knn(backbone: raw_pixels(), train: parts.train, test: parts.test, k: 5)
evaluate ft = finetune(
  backbone: sweep [ssl, tiny_convnet(width: 8)],
  train: parts.train,
  test: parts.test,
  epochs: 1,
  batch: 16,
  policy: [horizontal_flip() @ 0.5],
)
"#;

/// `kind decl site short-key`, in plan order.
const GOLDEN: &[&str] = &[
    "dataset shapes shapes[]/dataset e352ff7f2766",
    "split parts parts[]/split 70aaec4ce5a1",
    "offline_augment ssl gs[]/offline_augment:saliency_cut 142edc8b3aba",
    "pretrain ssl ssl[]/pretrain b531d454db3f",
    "autoencoder gs gs[]/autoencoder 2a9630730acd",
    "pseudo_labels gs gs[]/pseudo_labels 23d4ac7074e0",
    "pretrain gs gs[]/pretrain 306698f8c6d7",
    "label_subset lin lin[label_fraction=0.5]/label_subset 3455579160ed",
    "features lin lin[label_fraction=0.5]/features(train) a3667cee771e",
    "features lin clusters[]/features(data) 5b47c9d901d9",
    "linear_probe lin lin[label_fraction=0.5]/linear_probe 7509e55ed005",
    "linear_probe lin lin[label_fraction=1.0]/linear_probe ac058a44aada",
    "init_backbone nn nn[]/init_backbone 355ad707daea",
    "features nn nn[]/features(train) fd32c4dd7e7b",
    "features nn nn[]/features(test) e7ea0c4c185e",
    "knn nn nn[]/knn b21aee09bc8d",
    "kmeans clusters clusters[]/kmeans b207006e0fbe",
    "features embedding embedding[]/features(data) 277c3841df12",
    "tsne embedding embedding[]/tsne 93270ec9aaa8",
    "segmentation seg seg[]/segmentation e0d00c392245",
    "preview look look[]/preview 819bd5254eaa",
    "table results results[]/table fa5354c61021",
    "plot curve curve[]/plot 9db5359b39da",
    "features pixels pixels[]/features(train) b5cf099a459c",
    "features pixels pixels[]/features(test) ebe5d6666ea8",
    "knn pixels pixels[]/knn 219ace9350f5",
    "finetune ft ft[backbone=ssl]/finetune dce9344ac7db",
    "finetune ft ft[backbone=tiny_convnet]/finetune ba8308dc0182",
];

fn plan_of(text: &str) -> Plan {
    let checked = lang::check_source("golden.sslp", "golden.sslp", text, &mut NoImports);
    assert!(
        checked.diagnostics.iter().all(|d| !d.is_error()),
        "{:#?}",
        checked.diagnostics
    );
    let (plan, diags) = plan::plan(&checked.program.expect("a checked program"));
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    plan.expect("a plan")
}

fn lines(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .map(|s| {
            format!(
                "{} {} {} {}",
                s.kind,
                s.decl,
                s.sites.first().map_or("-".to_string(), ToString::to_string),
                s.key.short()
            )
        })
        .collect()
}

#[test]
fn the_golden_program_reaches_every_step_kind() {
    let plan = plan_of(PROGRAM);
    let kinds: BTreeSet<StepKind> = plan.steps.iter().map(|s| s.kind).collect();
    let missing: Vec<StepKind> = StepKind::ALL
        .into_iter()
        .filter(|k| !kinds.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "extend PROGRAM so that it plans {missing:?}"
    );
}

#[test]
fn step_keys_are_pinned() {
    let actual = lines(&plan_of(PROGRAM));
    if actual.iter().map(String::as_str).eq(GOLDEN.iter().copied()) {
        return;
    }
    let golden: BTreeSet<&str> = GOLDEN.iter().copied().collect();
    let now: BTreeSet<&str> = actual.iter().map(String::as_str).collect();
    let gone: Vec<&str> = golden.difference(&now).copied().collect();
    let new: Vec<&str> = now.difference(&golden).copied().collect();
    let kinds: BTreeSet<&str> = gone
        .iter()
        .chain(&new)
        .filter_map(|l| l.split(' ').next())
        .collect();
    let bumps: Vec<String> = kinds
        .iter()
        .filter_map(|k| k.parse::<StepKind>().ok())
        .map(|k| format!("`StepKind::{k:?}` (version::{})", k.as_str().to_uppercase()))
        .collect();
    panic!(
        "\n\
         A step key changed.\n\
         \n\
         - If the step's outputs changed (new numerics, a fix, a different output layout),\n\
           bump the version of its kind in src/plan/kind.rs: {bumps}.\n\
           If the change is in a registry kind (a method, an op, a backbone...), bump that\n\
           kind's `version` in src/lang/registry/ instead.\n\
         - If only the key scheme changed (how keys are computed, not what steps produce),\n\
           bump the key salt `KEY_SALT` in src/plan/value.rs.\n\
         - If neither (a key changed although nothing a step produces did), the change\n\
           broke key stability: every cached result would be recomputed. Undo it.\n\
         \n\
         Then pin the new keys: replace GOLDEN in tests/step_keys.rs with the list below.\n\
         \n\
         Keys no longer produced:\n  {}\n\
         Keys now produced:\n  {}\n\
         \n\
         New GOLDEN:\n{}\n",
        if gone.is_empty() {
            "(none)".to_string()
        } else {
            gone.join("\n  ")
        },
        if new.is_empty() {
            "(none)".to_string()
        } else {
            new.join("\n  ")
        },
        actual
            .iter()
            .map(|l| format!("    \"{l}\","))
            .collect::<Vec<_>>()
            .join("\n"),
        bumps = bumps.join(", "),
    );
}
