//! Trainings in threads of one process give the weights a single-threaded run gives.
//!
//! burn draws weights from one process-wide generator, seeded by `device.seed(..)`:
//! every draw, seeded or not, must happen under `trainer::INIT`, or it can fall between
//! another thread's seeding and its initialisation. Loading a backbone for an evaluation
//! step built its skeleton (drawing weights) unlocked, which changed the weights of a
//! pretraining initialised at the same time in another thread.

use burn::tensor::TensorData;
use sslp::train::backbone::BackboneSpec;
use sslp::train::bytes;
use sslp::train::device::DeviceChoice;
use sslp::train::finetune::{Classifier, FinetuneSpec, LabelledSource, finetune};
use sslp::train::optim::{OptimizerSpec, Schedule};
use sslp::train::trainer::{self, BatchSource};
use std::sync::atomic::{AtomicBool, Ordering};

const SPEC: BackboneSpec = BackboneSpec::TinyConvNet { width: 4, depth: 2 };

struct Toy;

impl BatchSource for Toy {
    fn batches_per_epoch(&self) -> usize {
        2
    }
    fn batch_images(&self) -> usize {
        4
    }
    fn batch(
        &self,
        epoch: usize,
        index: usize,
    ) -> Result<Vec<TensorData>, sslp::augment::ImageError> {
        let per = 3 * 8 * 8;
        let data: Vec<f32> = (0..4 * per)
            .map(|i| (((i * 7 + epoch * 3 + index * 5) % 11) as f32 - 5.0) / 5.0)
            .collect();
        Ok(vec![TensorData::new(data, [4, 3, 8, 8])])
    }
}

impl LabelledSource for Toy {
    fn labels(&self, _epoch: usize, _index: usize) -> Vec<u32> {
        vec![0, 1, 0, 1]
    }
}

/// The weights of a short fine-tuning from `seed`.
fn train(seed: u64) -> Vec<u8> {
    let device = DeviceChoice::Cpu.training_device().expect("cpu");
    let backbone = trainer::init_backbone_seeded(&SPEC, &device, seed).expect("a backbone");
    let model = Classifier::new(backbone, 2, &device, seed);
    let spec = FinetuneSpec {
        epochs: 1,
        optimizer: OptimizerSpec::Sgd {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.0,
            nesterov: false,
            exclude_bias_bn: false,
        },
        schedule: Schedule::Constant,
    };
    let cancel = AtomicBool::new(false);
    let trained = finetune(&spec, model, &Toy, &device, &cancel, &mut |_| {}).expect("trains");
    bytes::module_to_output_bytes(&trained.model).expect("serialises")
}

/// Loads a backbone the way the engine's evaluation steps do (`load_backbone`).
fn load(saved: &[u8]) {
    let device = DeviceChoice::Cpu.plain_device().expect("cpu");
    bytes::load_module(
        || SPEC.try_init(&device).map_err(sslp::exec::StepError::from),
        saved,
    )
    .expect("loads");
}

/// Trains seeds 1 and 2 in two threads, beside `other` looping in a third until they finish.
fn concurrently(other: impl Fn() + Sync) -> [Vec<u8>; 2] {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let side = s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                other();
            }
        });
        let a = s.spawn(|| train(1));
        let b = s.spawn(|| train(2));
        let got = [a.join().unwrap(), b.join().unwrap()];
        done.store(true, Ordering::Relaxed);
        side.join().unwrap();
        got
    })
}

#[test]
fn trainings_beside_a_backbone_loader_match_the_single_threaded_run() {
    let reference = [train(1), train(2)];
    let device = DeviceChoice::Cpu.plain_device().expect("cpu");
    let saved = bytes::module_to_bytes(&trainer::init_backbone_seeded(&SPEC, &device, 9).unwrap())
        .expect("serialises");
    // Before the fix, about one round in fifteen differed.
    let differing: Vec<usize> = (0..80)
        .filter(|_| concurrently(|| load(&saved)) != reference)
        .collect();
    assert!(differing.is_empty(), "rounds that differ: {differing:?}");
}

#[test]
fn trainings_in_threads_match_the_single_threaded_run() {
    let reference = [train(1), train(2)];
    let differing: Vec<usize> = (0..30)
        .filter(|_| concurrently(std::thread::yield_now) != reference)
        .collect();
    assert!(differing.is_empty(), "rounds that differ: {differing:?}");
}
