//! Training health (issue 12): every pretraining epoch records its loss,
//! learning rate, embedding std, alignment and uniformity and (when due) a
//! kNN monitor; none of it changes what is trained. The monitor's
//! parameters are execution-only: same step key, byte-identical weights.

mod common;
use common::*;
use sslp::exec::decode::{self, Params};
use sslp::exec::store::{Output, Store};
use sslp::plan::{self, Plan, Step};
use sslp::train::backbone::Backbone;
use sslp::train::device::DeviceChoice;
use sslp::train::trainer::{self, BatchSource, Monitor, NoCheckpoints, Probes, TrainSpec};

use burn::tensor::{Device, Tensor, TensorData};

fn program(extra: &str) -> String {
    format!(
        r#"
set seed = 7
dataset shapes = synthetic_shapes(count: 64, size: 16, classes: 4)
split parts {{
  data = shapes
  train = 0.75
  test = 0.25
}}
pretrain ssl {{
  data = parts.train
  backbone = tiny_convnet(width: 8, depth: 2)
  method = simclr(proj_hidden: 32, proj_dim: 16)
  policy = [random_resized_crop(scale: 0.5..1.0), horizontal_flip() @ 0.5]
  epochs = 2
  batch = 16
  {extra}
}}
"#
    )
}

fn pretrain(plan: &Plan) -> &Step {
    plan.steps.iter().find(|s| s.kind == "pretrain").unwrap()
}

fn blob_hash(store: &Store, key: &plan::Key, output: &str) -> String {
    match store.get(key).unwrap().expect("record").outputs.get(output) {
        Some(Output::Blob { blob }) => blob.hash.clone(),
        other => panic!("no blob `{output}`: {other:?}"),
    }
}

#[test]
fn the_monitor_changes_neither_the_key_nor_the_weights() {
    let on = plan_of(&program("monitor_every = 1\n  monitor_fraction = 0.3"));
    let off = plan_of(&program("monitor_every = 0"));
    let default = plan_of(&program(""));
    let (a, b) = (pretrain(&on), pretrain(&off));
    assert_eq!(a.key, b.key, "the monitor entered the step key");
    assert_eq!(a.key, pretrain(&default).key);
    assert!(!a.params.contains_key("monitor_every"));
    assert_eq!(a.exec["monitor_every"], plan::Value::Int(1));
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (sa, ra) = run_plan(&on, da.path(), 1);
    let (sb, rb) = run_plan(&off, db.path(), 1);
    assert!(ra.complete() && rb.complete(), "{ra:?} {rb:?}");
    for output in ["backbone", "backbone.safetensors"] {
        assert_eq!(
            blob_hash(&sa, &a.key, output),
            blob_hash(&sb, &b.key, output),
            "{output} differs with the monitor on"
        );
    }
    let ma = sa.get(&a.key).unwrap().unwrap().metrics;
    let mb = sb.get(&b.key).unwrap().unwrap().metrics;
    let top1 = ma["monitor_top1"];
    assert!((0.0..=1.0).contains(&top1), "{top1}");
    assert!(!mb.contains_key("monitor_top1"));
    // The health figures are there either way, and equal.
    for m in [
        "loss",
        "embedding_std",
        "alignment",
        "uniformity",
        "collapsed",
    ] {
        assert_eq!(ma[m].to_bits(), mb[m].to_bits(), "{m}");
    }
}

/// Deterministic noise batches: two views of `b` 3×16×16 images.
struct Noise {
    b: usize,
}

impl BatchSource for Noise {
    fn batches_per_epoch(&self) -> usize {
        3
    }
    fn batch_images(&self) -> usize {
        self.b
    }
    fn batch(
        &self,
        epoch: usize,
        index: usize,
    ) -> Result<Vec<TensorData>, sslp::augment::ImageError> {
        Ok((0..2)
            .map(|view| {
                let n = self.b * 3 * 16 * 16;
                let data: Vec<f32> = (0..n)
                    .map(|i| {
                        let h = blake3::hash(
                            &[epoch as u64, index as u64, view as u64, i as u64]
                                .map(u64::to_le_bytes)
                                .concat(),
                        );
                        h.as_bytes()[0] as f32 / 128.0 - 1.0
                    })
                    .collect();
                TensorData::new(data, [self.b, 3, 16, 16])
            })
            .collect())
    }
}

/// A monitor that runs the backbone on every epoch.
struct Busy;

impl Monitor for Busy {
    fn due(&self, _epoch: usize, _epochs: usize) -> bool {
        true
    }
    fn top1(
        &self,
        backbone: &Backbone,
        device: &Device,
    ) -> Result<Option<f64>, trainer::ProbeError> {
        let x = Tensor::<4>::ones([4, 3, 16, 16], device);
        let f = trainer::features_of(backbone, x)?;
        Ok(Some(f.data.len() as f64 / 1e6))
    }
}

#[test]
fn probes_do_not_change_the_trained_weights() {
    let plan = plan_of(&program(""));
    let step = pretrain(&plan);
    let config = decode::pretrain_config(&Params::step(step), 16).unwrap();
    let spec = TrainSpec {
        epochs: 2,
        batch: 8,
        optimizer: config.optimizer.clone(),
        schedule: config.schedule.clone(),
        lr_scaling: config.lr_scaling,
        grad_clip: None,
        seed: 3,
        checkpoint_every: 1,
        precision: sslp::train::precision::Precision::F32,
    };
    let device = DeviceChoice::Cpu.training_device().unwrap();
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let run = |probes: Probes<'_>| {
        let trained = trainer::train(
            &spec,
            config.method.clone(),
            &config.backbone,
            &Noise { b: 8 },
            &NoCheckpoints,
            &device,
            &cancel,
            probes,
            &mut |_| {},
        )
        .unwrap();
        (
            sslp::train::bytes::module_to_output_bytes(&trained.student.backbone).unwrap(),
            trained.history,
        )
    };
    let (plain, quiet) = run(Probes::default());
    let (probed, history) = run(Probes {
        health: true,
        monitor: Some(&Busy),
    });
    assert!(plain == probed, "the probes changed the weights");
    assert!(
        quiet
            .iter()
            .all(|h| h.health.is_none() && h.monitor_top1.is_none())
    );
    assert_eq!(history.len(), 2);
    for h in &history {
        let x = h.health.as_ref().expect("health figures");
        assert_eq!(x.dim, 16);
        assert!(x.embedding_std > 0.0 && x.embedding_std < 1.0, "{x:?}");
        assert!((0.0..=4.0).contains(&x.alignment), "{x:?}");
        assert!((-4.0..=0.0).contains(&x.uniformity), "{x:?}");
        assert!(h.monitor_top1.is_some());
        assert_eq!(h.loss, quiet[h.epoch - 1].loss);
    }
}

#[test]
fn sslp_run_and_report_show_the_health_of_every_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny.sslp");
    std::fs::write(&file, program("")).unwrap();
    let path = file.to_str().unwrap();
    let out = sslp(&["run", path]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    for epoch in ["epoch 1/2: loss", "epoch 2/2: loss"] {
        let line = err
            .lines()
            .find(|l| l.contains(epoch))
            .unwrap_or_else(|| panic!("no `{epoch}` line in\n{err}"));
        for part in ["lr ", "std ", "(1/√d ", "align ", "uniform ", "knn "] {
            assert!(line.contains(part), "`{part}` missing from `{line}`");
        }
    }
    // The record: one entry per epoch with finite figures.
    let (_, plan) = sslp::project::load_and_plan(&file).unwrap();
    let plan = plan.unwrap();
    let store = Store::open(&dir.path().join(".sslp"), false).unwrap();
    let record = store
        .get(&pretrain(&plan).key)
        .unwrap()
        .expect("pretrained");
    let Some(Output::Inline { value }) = record.outputs.get("summary") else {
        panic!("no summary");
    };
    let epochs = value["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    for (i, e) in epochs.iter().enumerate() {
        assert_eq!(e["epoch"], i + 1);
        for field in [
            "loss",
            "lr",
            "embedding_std",
            "alignment",
            "uniformity",
            "monitor_top1",
        ] {
            let v = e[field].as_f64().unwrap_or(f64::NAN);
            assert!(v.is_finite(), "epoch {}: {field} = {}", i + 1, e[field]);
        }
    }
    let health = &value["health"];
    assert_eq!(health["dim"], 16);
    assert_eq!(health["collapsed"], false);
    assert!(health["collapse_below"].as_f64().unwrap() > 0.0);
    drop(store);
    // The report lists the arm with its final figures.
    let reports = dir.path().join("reports");
    let out = sslp(&["report", path, "-o", reports.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let md = std::fs::read_to_string(reports.join("training.md")).unwrap();
    let line = md.lines().find(|l| l.starts_with("| ssl")).expect(&md);
    assert!(line.ends_with("| healthy |"), "{md}");
    assert!(line.contains('%'), "no monitor figure: {md}");
    let html = std::fs::read_to_string(reports.join("index.html")).unwrap();
    assert!(html.contains("Training health"));
}
