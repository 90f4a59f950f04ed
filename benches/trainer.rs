//! Training throughput through the shipped trainer (`sslp::train::trainer::train`, the code path
//! of `sslp run`'s `pretrain` step), step only: the batches are made once, before timing, so
//! augmentation and decoding are left out, as in the PyTorch step-only peers.
//!
//! `cargo bench --bench trainer -- [--net tiny|resnet18] [--method simclr|supervised] [--batch B] [--size S] [--steps N]`
//!
//! `--method supervised` runs `sslp::train::finetune::finetune` instead (the code path of a
//! `finetune` evaluation, here from a fresh backbone: supervised from scratch) on one view and
//! 10 classes: backbone + linear head, cross-entropy, the same optimiser. Its PyTorch peers are
//! `benches/peers/tiny_supervised_step.py` and `benches/peers/simclr_step.py --only supervised`.
//!
//! - `tiny`: `tiny_convnet(width: 32, depth: 3)`, SimCLR (projector 128 → 256 → 128, τ 0.2),
//!   batch 256 of 28×28: the workload of `../shared/peers/tiny_simclr_step.py`.
//! - `resnet18`: ResNet-18 with the CIFAR stem, SimCLR (τ 0.5), batch 64 of 32×32: the workload
//!   of `benches/peers/simclr_step.py` (whose projector is 512 → 2048 → 128).
//!
//! Epoch 1 is the warm-up; epoch 2 is timed. Prints images/s (pairs of views) and the peak
//! resident memory of the process.

use std::sync::atomic::AtomicBool;

use burn::tensor::TensorData;
use sslp::exec::decode::{self, Params};
use sslp::exec::memory;
use sslp::train::device::DeviceChoice;
use sslp::train::finetune::{self, Classifier, FinetuneSpec, LabelledSource};
use sslp::train::trainer::{self, BatchSource, NoCheckpoints, Probes, TrainSpec};

/// Classes of the supervised workload.
const CLASSES: u32 = 10;

/// The same two views for every step: fixed noise, made once.
struct Fixed {
    views: Vec<TensorData>,
    batch: usize,
    steps: usize,
}

impl BatchSource for Fixed {
    fn batches_per_epoch(&self) -> usize {
        self.steps
    }
    fn batch_images(&self) -> usize {
        self.batch
    }
    fn batch(
        &self,
        _epoch: usize,
        _index: usize,
    ) -> Result<Vec<TensorData>, sslp::augment::ImageError> {
        Ok(self.views.clone())
    }
}

impl LabelledSource for Fixed {
    fn labels(&self, _epoch: usize, _index: usize) -> Vec<u32> {
        (0..self.batch as u32).map(|i| i % CLASSES).collect()
    }
}

/// Deterministic noise in [-1, 1) of `shape`.
fn noise(shape: [usize; 4], salt: u64) -> TensorData {
    let n: usize = shape.iter().product();
    let mut s = salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data: Vec<f32> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect();
    TensorData::new(data, shape)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let net = flag("--net").unwrap_or_else(|| "tiny".into());
    let (backbone, method, default_batch, default_size) = match net.as_str() {
        "tiny" => (
            "tiny_convnet(width: 32, depth: 3)",
            "simclr(proj_hidden: 256, proj_dim: 128, temperature: 0.2)",
            256,
            28,
        ),
        "resnet18" => (
            "resnet18(cifar_stem: true)",
            "simclr(proj_hidden: 2048, proj_dim: 128, temperature: 0.5)",
            64,
            32,
        ),
        other => {
            eprintln!("unknown --net {other}: tiny or resnet18");
            std::process::exit(2);
        }
    };
    let supervised = match flag("--method").as_deref() {
        None | Some("simclr") => false,
        Some("supervised") => true,
        Some(other) => {
            eprintln!("unknown --method {other}: simclr or supervised");
            std::process::exit(2);
        }
    };
    let number =
        |name: &str, default: usize| flag(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let batch = number("--batch", default_batch);
    let size = number("--size", default_size);
    let steps = number("--steps", 5);
    let program = format!(
        r#"
set seed = 0
dataset shapes = synthetic_shapes(count: {count}, size: {size}, classes: 4)
pretrain ssl {{
  data = shapes
  backbone = {backbone}
  method = {method}
  policy = [horizontal_flip() @ 0.5]
  epochs = 2
  batch = {batch}
  optimizer = sgd(lr: 0.3, weight_decay: 0.0005)
  lr_scaling = "none"
}}
"#,
        count = batch * steps,
    );
    let checked = sslp::lang::check_source(
        "bench.sslp",
        "bench.sslp",
        &program,
        &mut sslp::lang::NoImports,
    );
    let plan = sslp::plan::plan(&checked.program.expect("the bench program checks"))
        .0
        .expect("the bench program plans");
    let step = plan
        .steps
        .iter()
        .find(|s| s.kind == "pretrain")
        .expect("a pretrain step");
    let config = decode::pretrain_config(&Params::step(step), size).expect("decodes");
    let spec = TrainSpec {
        epochs: 2,
        batch,
        optimizer: config.optimizer.clone(),
        schedule: config.schedule.clone(),
        lr_scaling: config.lr_scaling,
        grad_clip: None,
        seed: 0,
        checkpoint_every: 2,
        precision: sslp::train::precision::Precision::F32,
    };
    let views = if supervised { 1 } else { 2 };
    let source = Fixed {
        views: (0..views)
            .map(|v| noise([batch, 3, size, size], v as u64 + 1))
            .collect(),
        batch,
        steps,
    };
    let device = DeviceChoice::Cpu.training_device().expect("CPU device");
    let cancel = AtomicBool::new(false);
    let mut epochs = Vec::new();
    if supervised {
        let spec = FinetuneSpec {
            epochs: 2,
            optimizer: config.optimizer.clone(),
            schedule: config.schedule.clone(),
        };
        let model = Classifier::new(config.backbone.init(&device), CLASSES as usize, &device, 1);
        finetune::finetune(&spec, model, &source, &device, &cancel, &mut |report| {
            epochs.push(report.clone())
        })
        .expect("trains");
    } else {
        trainer::train(
            &spec,
            config.method.clone(),
            &config.backbone,
            &source,
            &NoCheckpoints,
            &device,
            &cancel,
            Probes::default(),
            &mut |report| epochs.push(report.clone()),
        )
        .expect("trains");
    }
    let timed = epochs.last().expect("two epochs");
    println!(
        "{net} {}, batch {batch}, {size}x{size}, {steps} timed steps: {:.1} img/s ({:.3} s/step), loss {:.4}, peak RSS {}",
        if supervised { "supervised" } else { "simclr" },
        timed.images_per_sec,
        timed.seconds / steps as f64,
        timed.loss,
        memory::human(memory::peak_bytes().unwrap_or(0)),
    );
}
