//! Baselines as first-class values: `raw_pixels()` features for the
//! frozen-feature evaluations, and `finetune(...)` from scratch and from a
//! pretraining run — through the command line (`check`, `run`, `report`),
//! with results in [0, 1], the same numbers on a second run, and a check
//! error where `raw_pixels` would have to be trained.

mod common;
use common::*;
use std::path::Path;

const PIPELINE: &str = r#"set seed = 7

dataset shapes = synthetic_shapes(count: 64, size: 16, classes: 4)

split parts {
  data = shapes
  train = 0.75
  test = 0.25
}

pretrain ssl {
  data = parts.train
  backbone = tiny_convnet(width: 4, depth: 1)
  method = simclr(proj_hidden: 16, proj_dim: 8)
  policy = [random_resized_crop(scale: 0.5..1.0), horizontal_flip() @ 0.5]
  epochs = 1
  batch = 16
}

evaluate nn = knn(backbone: raw_pixels(), train: parts.train, test: parts.test, k: 5)

evaluate lin = linear_probe(backbone: raw_pixels(), train: parts.train, test: parts.test)

evaluate ft = finetune(backbone: sweep [ssl, tiny_convnet(width: 4, depth: 1)], train: parts.train, test: parts.test, epochs: 2, batch: 16, policy: [horizontal_flip() @ 0.5])

report t = table(metrics: [ft.top1, nn.top1, lin.top1], rows: ft.backbone)
"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the pipeline");
    path.display().to_string()
}

/// Every arm's metrics from `sslp report`'s `results.json`: (arm, metric) -> value.
fn results(dir: &Path, file: &str) -> Vec<(String, String, f64)> {
    let out_dir = dir.join("out");
    let out = sslp(&["report", file, "-o", &out_dir.display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("results.json")).expect("results.json"))
            .expect("json");
    let rows = json["lines"].as_array().expect("one line per arm").clone();
    let mut found = vec![];
    for row in rows {
        let arm = row["arm"].as_str().unwrap_or_default().to_string();
        let Some(metrics) = row["metrics"].as_object() else {
            continue;
        };
        for (name, v) in metrics {
            let value = v.as_f64().or_else(|| v["mean"].as_f64());
            if let Some(value) = value {
                found.push((arm.clone(), name.clone(), value));
            }
        }
    }
    found.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    found
}

#[test]
fn raw_pixels_and_finetune_run_end_to_end_and_repeat_exactly() {
    let mut runs = vec![];
    for _ in 0..2 {
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = write(dir.path(), "baselines.sslp", PIPELINE);
        let out = sslp(&["check", "--deny-warnings", &file]);
        assert!(out.status.success(), "{}", stderr(&out));
        let out = sslp(&["run", &file]);
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
        let found = results(dir.path(), &file);
        for (arm, metric) in [
            ("nn", "nn.top1"),
            ("lin", "lin.top1"),
            ("ft[backbone=ssl]", "ft.top1"),
            ("ft[backbone=tiny_convnet]", "ft.top1"),
        ] {
            let top1 = found
                .iter()
                .find(|(a, m, _)| a == arm && m == metric)
                .unwrap_or_else(|| panic!("no {metric} for {arm}: {found:?}"));
            assert!((0.0..=1.0).contains(&top1.2), "{arm}: {}", top1.2);
            // Four classes: top-5 says nothing and is not reported.
            assert!(
                !found
                    .iter()
                    .any(|(a, m, _)| a == arm && m.ends_with("top5")),
                "{arm}: {found:?}"
            );
        }
        let table = std::fs::read_to_string(dir.path().join("out").join("t.md")).expect("t.md");
        assert!(table.contains("ft.top1"), "{table}");
        runs.push(found);
    }
    // Deterministic on the CPU: same seed, same numbers (wall-clock metrics aside).
    let strip = |v: &Vec<(String, String, f64)>| -> Vec<(String, String, u64)> {
        v.iter()
            .filter(|(_, m, _)| !m.contains("per_sec") && !m.contains("seconds"))
            .map(|(a, m, x)| (a.clone(), m.clone(), x.to_bits()))
            .collect()
    };
    assert_eq!(strip(&runs[0]), strip(&runs[1]));
}

#[test]
fn raw_pixels_where_a_network_is_trained_is_a_check_error() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let text = PIPELINE.replace(
        "backbone = tiny_convnet(width: 4, depth: 1)",
        "backbone = raw_pixels()",
    );
    let file = write(dir.path(), "bad.sslp", &text);
    let out = sslp(&["check", "--format", "json", &file]);
    assert_eq!(out.status.code(), Some(1));
    let diags: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json output");
    let codes: Vec<(&str, u64)> = diags
        .as_array()
        .expect("an array")
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default(),
                d["line"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(codes, [("sslp::check::untrainable_backbone", 13)]);
    // `run` refuses it before anything runs.
    let out = sslp(&["run", &file]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("`raw_pixels` is not a network"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn explain_describes_both() {
    let out = sslp(&["explain", "raw_pixels"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("normalised per channel and flattened"),
        "{text}"
    );
    assert!(text.contains("not a network"), "{text}");
    let out = sslp(&["explain", "finetune"]);
    assert!(out.status.success());
    let text = stdout(&out);
    for needle in [
        "optimizer",
        "schedule",
        "policy",
        "label_fraction",
        "top5 only",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}

#[test]
fn finetune_inherits_the_pretraining_policy_unless_it_states_one() {
    let text = PIPELINE.replace(
        "epochs: 2, batch: 16, policy: [horizontal_flip() @ 0.5])",
        "epochs: 2, batch: 16)",
    );
    let plan = plan_of(&text);
    let policy_of = |step: &sslp::plan::Step| step.params.get("policy").cloned();
    let pretrain = plan
        .steps
        .iter()
        .find(|s| s.kind == sslp::plan::StepKind::Pretrain)
        .expect("a pretraining step");
    let sslp::plan::Value::List(views) = &pretrain.params["views"] else {
        panic!("views are a list");
    };
    let pretrain_policy = views[0].as_map().unwrap().get("policy").cloned();
    assert!(pretrain_policy.is_some());
    let finetunes: Vec<_> = plan
        .steps
        .iter()
        .filter(|s| s.kind == sslp::plan::StepKind::Finetune)
        .collect();
    assert_eq!(finetunes.len(), 2);
    for ft in finetunes {
        if ft.inputs.contains_key("encoder") {
            assert_eq!(policy_of(ft), pretrain_policy, "fine-tuning inherits");
        } else {
            assert_eq!(policy_of(ft), None, "from scratch has no policy to inherit");
        }
    }
    // A stated policy wins.
    let stated = plan_of(PIPELINE);
    for ft in stated
        .steps
        .iter()
        .filter(|s| s.kind == sslp::plan::StepKind::Finetune)
    {
        let sslp::plan::Value::List(ops) = &ft.params["policy"] else {
            panic!("a policy list");
        };
        assert_eq!(ops.len(), 1);
    }
}
