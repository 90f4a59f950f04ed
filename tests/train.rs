//! Training, evaluation and reports end to end: every method trains, a
//! killed training run resumes to the same weights, a diverging arm stops
//! alone, results are deterministic, segmentation beats the trivial
//! predictor, and `sslp report` writes one row per arm and decodable plots.

mod common;
use common::*;
use sslp::exec::store::{Output, Store};
use sslp::plan;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn blob_hash(store: &Store, key: &plan::Key, output: &str) -> String {
    let record = store.get(key).unwrap().expect("record");
    match record.outputs.get(output) {
        Some(Output::Blob { blob }) => blob.hash.clone(),
        other => panic!("no blob `{output}`: {other:?}"),
    }
}

const DATA: &str = r#"
set seed = 5
dataset shapes = synthetic_shapes(count: 192, size: 32, classes: 4)
split parts {
  data = shapes
  train = 0.75
  test = 0.25
}
policy light = [
  random_resized_crop(scale: 0.3..1.0) @ 1.0,
  horizontal_flip() @ 0.5,
  color_jitter() @ 0.8,
]
"#;

#[test]
fn all_eight_methods_train_end_to_end() {
    let (_, plan) =
        sslp::project::load_and_plan(&root().join("examples/all_methods.sslp")).unwrap();
    let plan = plan.expect("plans");
    let dir = tempfile::tempdir().unwrap();
    let (store, summary) = run_plan(&plan, dir.path(), 2);
    assert!(summary.complete(), "{summary:?}");
    let mut methods = std::collections::BTreeSet::new();
    for step in plan.steps.iter().filter(|s| s.kind == "pretrain") {
        let record = store.get(&step.key).unwrap().unwrap();
        let loss = record.metrics["loss"];
        assert!(loss.is_finite(), "{}: {loss}", step.decl);
        let method = step.params["method"].as_map().unwrap()["type"]
            .as_str()
            .unwrap()
            .to_string();
        methods.insert(method);
    }
    assert_eq!(
        methods.into_iter().collect::<Vec<_>>(),
        [
            "barlow_twins",
            "byol",
            "dino",
            "g_simclr",
            "moco",
            "simclr",
            "simsiam",
            "swav"
        ]
    );
    // Every kNN evaluation scored its arm.
    for step in plan.steps.iter().filter(|s| s.kind == "knn") {
        let top1 = store.get(&step.key).unwrap().unwrap().metrics["top1"];
        assert!((0.0..=1.0).contains(&top1));
    }
}

const SMALL_RUN: &str = r#"
pretrain ssl {
  data = parts.train
  backbone = tiny_convnet(width: 8, depth: 2)
  method = simclr(proj_hidden: 32, proj_dim: 16)
  policy = light
  epochs = 2
  batch = 32
  optimizer = sgd(lr: 0.05)
  lr_scaling = "none"
}
evaluate nn = knn(backbone: ssl, train: parts.train, test: parts.test, k: 10, label_fraction: sweep [0.5, 1.0])
evaluate lin = linear_probe(backbone: ssl, train: parts.train, test: parts.test)
report acc = table(metrics: [nn.top1, lin.top1])
report curve = plot(metric: nn.top1, x: nn.label_fraction)
"#;

#[test]
fn training_is_deterministic_across_runs_and_job_counts() {
    let plan = plan_of(&format!("{DATA}{SMALL_RUN}"));
    let pretrain = plan
        .steps
        .iter()
        .find(|s| s.kind == "pretrain")
        .unwrap()
        .key;
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (sa, ra) = run_plan(&plan, a.path(), 1);
    let (sb, rb) = run_plan(&plan, b.path(), 2);
    assert!(ra.complete() && rb.complete(), "{ra:?} {rb:?}");
    // Weights are compared through what they compute: the feature banks.
    // (A burn record also holds parameter ids, which differ between runs.)
    let _ = pretrain;
    for step in plan.steps.iter().filter(|s| s.kind == "features") {
        assert_eq!(
            blob_hash(&sa, &step.key, "features"),
            blob_hash(&sb, &step.key, "features")
        );
    }
    for step in plan
        .steps
        .iter()
        .filter(|s| s.kind == "knn" || s.kind == "linear_probe")
    {
        let ma = sa.get(&step.key).unwrap().unwrap().metrics;
        let mb = sb.get(&step.key).unwrap().unwrap().metrics;
        assert_eq!(ma, mb, "{}", step.kind);
    }
}

#[test]
fn a_diverging_arm_stops_with_a_message_while_the_others_finish() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{DATA}\npretrain ssl {{\n  data = parts.train\n  backbone = tiny_convnet(width: 8, depth: 2)\n  method = simclr(proj_hidden: 32, proj_dim: 16)\n  policy = light\n  epochs = 2\n  batch = 32\n  optimizer = sweep [sgd(lr: 0.05), sgd(lr: 1e30, weight_decay: 0.0)]\n  lr_scaling = \"none\"\n  schedule = constant()\n}}\nevaluate nn = knn(backbone: ssl, train: parts.train, test: parts.test, k: 10)\n"
    );
    let file = dir.path().join("p.sslp");
    std::fs::write(&file, text).unwrap();
    let out = sslp(&["run", file.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the loss became"), "{err}");
    assert!(err.contains("1 failed"), "{err}");
    // The healthy arm's evaluation ran.
    assert!(err.contains("knn nn"), "{err}");
}

#[test]
fn a_killed_training_run_resumes_to_the_same_weights() {
    let text = format!(
        "{DATA}\npretrain ssl {{\n  data = parts.train\n  backbone = tiny_convnet(width: 8, depth: 2)\n  method = byol(proj_hidden: 32, proj_dim: 16, pred_hidden: 32)\n  policy = light\n  epochs = 5\n  batch = 16\n  optimizer = sgd(lr: 0.05)\n  lr_scaling = \"none\"\n}}\nevaluate nn = knn(backbone: ssl, train: parts.train, test: parts.test, k: 10)\n"
    );
    // Uninterrupted reference.
    let plan = plan_of(&text);
    let key = plan
        .steps
        .iter()
        .find(|s| s.kind == "pretrain")
        .unwrap()
        .key;
    let features: Vec<_> = plan
        .steps
        .iter()
        .filter(|s| s.kind == "features")
        .map(|s| s.key)
        .collect();
    let reference = tempfile::tempdir().unwrap();
    let (rs, summary) = run_plan(&plan, reference.path(), 1);
    assert!(summary.complete());
    let want: Vec<String> = features
        .iter()
        .map(|k| blob_hash(&rs, k, "features"))
        .collect();
    drop(rs);

    // Killed during its third epoch, then resumed.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.sslp");
    std::fs::write(&file, &text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sslp"))
        .args(["run", file.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pipe = child.stderr.take().unwrap();
    let mut saw = false;
    for line in BufReader::new(pipe).lines() {
        if line.unwrap().contains("epoch 2/5") {
            saw = true;
            break;
        }
    }
    // The checkpoint of epoch 2 is written right after its progress line.
    std::thread::sleep(std::time::Duration::from_millis(150));
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    assert!(saw, "the run ended before it could be killed");

    let out = sslp(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let store = Store::open(&dir.path().join(".sslp"), false).unwrap();
    let record = store.get(&key).unwrap().expect("finished");
    let Some(Output::Inline { value }) = record.outputs.get("summary") else {
        panic!("no summary");
    };
    let resumed = value["resumed_after_epoch"].as_u64();
    assert!(
        matches!(resumed, Some(1..=4)),
        "the rerun should resume from a checkpoint: {value}"
    );
    let got: Vec<String> = features
        .iter()
        .map(|k| blob_hash(&store, k, "features"))
        .collect();
    assert_eq!(got, want, "the resumed run computes other features");
    assert!(store.verify().unwrap().damaged.is_empty());
}

#[test]
fn segmentation_beats_the_all_background_predictor() {
    let text = format!(
        "{DATA}\nevaluate seg = segmentation(backbone: tiny_convnet(width: 16, depth: 2), train: parts.train, test: parts.test, epochs: 8, batch: 16, lr: 0.05)\n"
    );
    let plan = plan_of(&text);
    let dir = tempfile::tempdir().unwrap();
    let (store, summary) = run_plan(&plan, dir.path(), 1);
    assert!(summary.complete(), "{summary:?}");
    let seg = plan
        .steps
        .iter()
        .find(|s| s.kind == "segmentation")
        .unwrap();
    let m = store.get(&seg.key).unwrap().unwrap().metrics;
    assert!(
        m["miou"] > m["background_miou"] + 0.1,
        "mIoU {} vs all-background {}",
        m["miou"],
        m["background_miou"]
    );
}

#[test]
fn report_writes_one_row_per_arm_and_plots_that_decode() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.sslp");
    std::fs::write(&file, format!("{DATA}{SMALL_RUN}")).unwrap();
    let f = file.to_str().unwrap();
    let out = sslp(&["run", f]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = dir.path().join("out");
    let out = sslp(&["report", f, "-o", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // 2 kNN arms (label fractions) + 1 linear probe.
    let csv = std::fs::read_to_string(report.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3, "{csv}");
    let md = std::fs::read_to_string(report.join("acc.md")).unwrap();
    assert!(md.contains("nn.top1"), "{md}");
    let img = image::open(report.join("curve.png")).expect("the plot decodes");
    assert!(img.width() > 100 && img.height() > 100);
    let svg = std::fs::read_to_string(report.join("curve.svg")).unwrap();
    assert!(svg.contains("<svg"));
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("curve.png"), "{html}");
    // A second run is all cache.
    let out = sslp(&["run", f]);
    assert!(stderr(&out).contains("0 ran"), "{}", stderr(&out));
}

#[test]
fn cuda_without_the_feature_is_a_clear_error() {
    if cfg!(feature = "cuda") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.sslp");
    std::fs::write(&file, format!("{DATA}{SMALL_RUN}")).unwrap();
    let out = sslp(&["run", file.to_str().unwrap(), "--device", "cuda"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--features cuda"), "{}", stderr(&out));
}

#[test]
fn the_quickstart_runs_and_reports_every_arm() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    let out = sslp(&["run", "examples/quickstart.sslp", "--store", store]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report = dir.path().join("report");
    let out = sslp(&[
        "report",
        "examples/quickstart.sslp",
        "--store",
        store,
        "-o",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Linear probe, kNN, untrained network and raw pixels, each at 10 % and 100 %.
    let csv = std::fs::read_to_string(report.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 8, "{csv}");
    // The quickstart's point: at 10 % labels SSL + linear beats both baselines
    // under the same probe (44.6 % against 28.4 and 30.0 % on the reference
    // machine; a clear margin is asserted, not the exact figures).
    let top1 = |arm: &str, column: &str| metric_in_csv(&csv, arm, column);
    let ssl = top1("lin[fraction=0.1]", "lin.top1");
    let untrained = top1("untrained[fraction=0.1]", "untrained.top1");
    let pixels = top1("pixels[fraction=0.1]", "pixels.top1");
    assert!(
        ssl > untrained.max(pixels) + 0.05,
        "SSL {ssl} against untrained {untrained} and pixels {pixels}\n{csv}"
    );
    let table = std::fs::read_to_string(report.join("accuracy.md")).unwrap();
    for column in ["lin.top1", "nn.top1", "untrained.top1", "pixels.top1"] {
        assert!(table.contains(column), "{column}: {table}");
    }
    let plot = image::open(report.join("fractions.png")).expect("the plot decodes");
    assert!(plot.width() > 100 && plot.height() > 100);
}

/// The value of `column` on the row of `arm` in a report's `results.csv`
/// (no quoted commas precede the metric columns' values in those rows).
fn metric_in_csv(csv: &str, arm: &str, column: &str) -> f64 {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let index = header
        .iter()
        .position(|h| *h == column)
        .expect("the column");
    let from_end = header.len() - index;
    let row = lines
        .find(|l| l.starts_with(&format!("{arm},")))
        .unwrap_or_else(|| panic!("no row {arm} in\n{csv}"));
    let cells: Vec<&str> = row.split(',').collect();
    cells[cells.len() - from_end]
        .parse()
        .unwrap_or_else(|_| panic!("{arm}.{column} is not a number in\n{csv}"))
}

#[test]
fn a_checkpoint_that_does_not_parse_is_named_with_its_file_and_can_be_removed() {
    let text = format!(
        "{DATA}\npretrain ssl {{\n  data = parts.train\n  backbone = tiny_convnet(width: 8, depth: 2)\n  method = simclr(proj_hidden: 32, proj_dim: 16)\n  policy = light\n  epochs = 1\n  batch = 16\n  optimizer = sgd(lr: 0.05)\n  lr_scaling = \"none\"\n}}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.sslp");
    std::fs::write(&file, &text).unwrap();
    let key = plan_of(&text)
        .steps
        .iter()
        .find(|s| s.kind == "pretrain")
        .unwrap()
        .key;
    // A checkpoint whose blob is intact (its hash matches) but is not a checkpoint:
    // what another sslp version could leave behind.
    let checkpoint = {
        let store = Store::open(&dir.path().join(".sslp"), false).unwrap();
        store.checkpoint_put(&key, b"not a checkpoint").unwrap();
        store.checkpoint_file(&key)
    };
    let out = sslp(&["run", file.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(
        err.contains("cannot resume from the checkpoint")
            && err.contains(&format!("checkpoints/{}", key.hex()))
            && err.contains("delete that file"),
        "{err}"
    );
    std::fs::remove_file(&checkpoint).unwrap();
    let out = sslp(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_stored_output_that_does_not_decode_names_its_step_and_file() {
    let first = format!(
        "{DATA}\nevaluate a = knn(backbone: raw_pixels(), train: parts.train, test: parts.test, k: 3)\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.sslp");
    std::fs::write(&file, &first).unwrap();
    let out = sslp(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The split's record now points at an intact blob (its hash matches) that is not
    // a split: what another sslp version, or a bug, could leave behind.
    let split = plan_of(&first)
        .steps
        .iter()
        .find(|s| s.kind == "split")
        .unwrap()
        .key;
    let blob_file = {
        let store = Store::open(&dir.path().join(".sslp"), false).unwrap();
        let mut record = store.get(&split).unwrap().unwrap();
        let blob = store.put_blob(b"[1, 2").unwrap();
        record
            .outputs
            .insert("parts".into(), Output::Blob { blob: blob.clone() });
        store.put(&split, &record).unwrap();
        store.blob_file(&blob)
    };
    // New features read the split again.
    let second = format!(
        "{DATA}\nevaluate b = knn(backbone: tiny_convnet(width: 8, depth: 2), train: parts.train, test: parts.test, k: 3)\n"
    );
    std::fs::write(&file, &second).unwrap();
    let out = sslp(&["run", file.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    let relative = blob_file.strip_prefix(dir.path()).unwrap();
    assert!(
        err.contains(&format!("output `parts` of step {}", split.short()))
            && err.contains(relative.to_str().unwrap())
            && err.contains("sslp::step::undecodable"),
        "{err}"
    );
}

#[test]
fn reduced_precision_trains_f32_weights_reproducibly() {
    for precision in ["f16", "bf16"] {
        let text = format!(
            "{DATA}\npretrain ssl {{\n  data = parts.train\n  backbone = tiny_convnet(width: 8, depth: 2)\n  method = simclr(proj_hidden: 32, proj_dim: 16)\n  policy = light\n  epochs = 1\n  batch = 16\n  precision = \"{precision}\"\n}}\n"
        );
        let plan = plan_of(&text);
        let key = plan
            .steps
            .iter()
            .find(|s| s.kind == "pretrain")
            .unwrap()
            .key;
        let mut hashes = vec![];
        for _ in 0..2 {
            let dir = tempfile::tempdir().unwrap();
            let (store, summary) = run_plan(&plan, dir.path(), 1);
            assert!(summary.complete(), "{precision}: {summary:?}");
            let record = store.get(&key).unwrap().unwrap();
            let Some(Output::Inline { value }) = record.outputs.get("summary") else {
                panic!("no summary");
            };
            assert_eq!(value["precision"]["compute"], precision, "{value}");
            assert_eq!(value["precision"]["weights"], "f32", "{value}");
            assert_eq!(
                value["precision"]["loss_scale"].is_number(),
                precision == "f16",
                "{value}"
            );
            let loss = record.metrics["first_loss"];
            assert!(loss.is_finite() && loss > 0.0, "{precision}: {loss}");
            // The exported weights are the f32 master copy.
            let Some(Output::Blob { blob }) = record.outputs.get("backbone.safetensors") else {
                panic!("no safetensors");
            };
            let bytes = store.get_blob(blob).unwrap();
            let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
            let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
            assert!(
                header.contains("\"F32\"")
                    && !header.contains("\"F16\"")
                    && !header.contains("\"BF16\""),
                "{header}"
            );
            hashes.push(blob_hash(&store, &key, "backbone"));
        }
        assert_eq!(
            hashes[0], hashes[1],
            "{precision}: two runs trained different weights"
        );
    }
}
