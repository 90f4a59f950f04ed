//! No panic from user input: every method trains at its smallest legal batch, and the
//! planner never panics on checked programs (a property test over the registry's kinds,
//! and the fuzz target's body run on a corpus).

mod common;
use common::*;
use sslp::lang::{self, NoImports, registry};

/// The smallest batch the registry accepts for `pretrain`.
fn smallest_batch() -> usize {
    let (_, p) = registry::pretrain()
        .param("batch")
        .expect("pretrain has a batch");
    let lo = p.bound.lo;
    let lo = if p.bound.lo_incl {
        lo
    } else {
        lo.floor() + 1.0
    };
    assert!(lo >= 1.0, "a batch bound below 1: {lo}");
    lo as usize
}

/// A program that pretrains every method at batch `b` for two steps on 4 images of 16 px.
fn smallest_batch_program(b: usize) -> String {
    format!(
        r#"
set seed = 3
dataset shapes = synthetic_shapes(count: {count}, size: 16, classes: 2)
policy light = [random_resized_crop(scale: 0.5..1.0) @ 1.0, horizontal_flip() @ 0.5]
pretrain pairs {{
  data = shapes
  backbone = tiny_convnet(width: 4, depth: 2)
  method = sweep [
    simclr(proj_hidden: 8, proj_dim: 4),
    moco(version: v2, queue: 4, proj_hidden: 8, proj_dim: 4),
    moco(version: v3, proj_hidden: 8, proj_dim: 4, pred_hidden: 8),
    simsiam(proj_hidden: 8, proj_dim: 8, pred_hidden: 4),
    byol(proj_hidden: 8, proj_dim: 4, pred_hidden: 8),
    barlow_twins(proj_hidden: 8, proj_dim: 8),
    g_simclr(clusters: 2, ae_epochs: 1, ae_latent: 4, proj_hidden: 8, proj_dim: 4),
  ]
  policy = light
  epochs = 1
  batch = {b}
  optimizer = sgd(lr: 0.01)
  lr_scaling = "none"
}}
pretrain crops {{
  data = shapes
  backbone = tiny_convnet(width: 4, depth: 2)
  method = sweep [
    swav(prototypes: 4, proj_hidden: 8, proj_dim: 4, queue: 2, queue_start_epoch: 0, freeze_prototypes_iters: 1),
    dino(out_dim: 8, hidden: 8, bottleneck: 4, teacher_temp_warmup_epochs: 1),
  ]
  views = multicrop(global: 2, global_scale: 0.5..1.0, local: 2, local_size: 8)
  policy = light
  epochs = 1
  batch = {b}
  optimizer = sgd(lr: 0.01)
  lr_scaling = "none"
}}
"#,
        count = 2 * b
    )
}

#[test]
fn every_method_trains_at_its_smallest_legal_batch() {
    let b = smallest_batch();
    assert_eq!(
        b, 2,
        "the registry's smallest batch changed; update this test's fixture"
    );
    // One below the minimum is a check error, not a run-time panic.
    let below = lang::check_source(
        "t.sslp",
        "t.sslp",
        &smallest_batch_program(b - 1),
        &mut NoImports,
    );
    assert!(
        below
            .diagnostics
            .iter()
            .any(|d| d.is_error() && d.message.contains("batch")),
        "{:#?}",
        below.diagnostics
    );
    let text = smallest_batch_program(b);
    let checked = lang::check_source("t.sslp", "t.sslp", &text, &mut NoImports);
    assert!(
        checked.diagnostics.iter().all(|d| !d.is_error()),
        "{:#?}",
        checked.diagnostics
    );
    let plan = sslp::plan::plan(&checked.program.expect("checks"))
        .0
        .expect("plans");
    let dir = tempfile::tempdir().unwrap();
    let (store, summary) = run_plan(&plan, dir.path(), 2);
    assert!(summary.complete(), "{summary:?}");
    let mut methods = std::collections::BTreeSet::new();
    for step in plan.steps.iter().filter(|s| s.kind == "pretrain") {
        let record = store.get(&step.key).unwrap().expect("a record");
        let loss = record.metrics["loss"];
        assert!(loss.is_finite(), "{}: loss {loss}", step.decl);
        let m = step.params["method"].as_map().unwrap();
        let name = m["type"].as_str().unwrap().to_string();
        let version = m.get("version").and_then(|v| v.as_str()).unwrap_or("");
        methods.insert(format!("{name}{version}"));
    }
    assert_eq!(
        methods.into_iter().collect::<Vec<_>>(),
        [
            "barlow_twins",
            "byol",
            "dino",
            "g_simclr",
            "mocov2",
            "mocov3",
            "simclr",
            "simsiam",
            "swav"
        ]
    );
}

/// `sslp explain METHOD` and the README's method table state the same deviations from the
/// reference recipe, for every method.
#[test]
fn explain_and_the_readme_state_each_methods_deviations() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let methods = registry::names_in(registry::Category::Method);
    assert_eq!(methods.len(), 8);
    for m in methods {
        let differs = registry::deviations(m);
        assert!(!differs.is_empty(), "{m}: no deviations stated");
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{m}` |")))
            .unwrap_or_else(|| panic!("README: no method-table row for `{m}`"));
        let out = sslp(&["explain", m]);
        assert_eq!(out.status.code(), Some(0));
        let explained = stdout(&out);
        assert!(
            explained.contains("differs from the reference recipe"),
            "{explained}"
        );
        for d in differs {
            assert!(row.contains(d), "README row of `{m}` lacks: {d}");
            assert!(explained.contains(d), "`sslp explain {m}` lacks: {d}");
        }
        assert_eq!(
            row.matches("<br>").count() + 1,
            differs.len(),
            "README row of `{m}` states other deviations than the registry"
        );
    }
}

/// A batch larger than a synthetic dataset is a plan-time error, not a run-time one.
#[test]
fn a_batch_larger_than_known_data_is_a_plan_error() {
    let text = |batch: usize| {
        format!(
            r#"
dataset d = synthetic_shapes(count: 8, size: 16)
pretrain r {{
  data = d
  backbone = tiny_convnet(width: 4, depth: 2)
  method = simclr(proj_hidden: 8, proj_dim: 4)
  policy = [horizontal_flip() @ 0.5]
  epochs = 1
  batch = {batch}
}}
"#
        )
    };
    let plan_errors = |src: &str| {
        let checked = lang::check_source("t.sslp", "t.sslp", src, &mut NoImports);
        assert!(
            checked.diagnostics.iter().all(|d| !d.is_error()),
            "{:#?}",
            checked.diagnostics
        );
        let (plan, diags) = sslp::plan::plan(&checked.program.expect("checks"));
        let errors: Vec<String> = diags
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.message.clone())
            .collect();
        (plan.is_some(), errors)
    };
    assert_eq!(plan_errors(&text(8)), (true, vec![]));
    let (_, errors) = plan_errors(&text(9));
    assert_eq!(
        errors,
        ["a batch of 9 images cannot be drawn from data of 8 images"]
    );
}
