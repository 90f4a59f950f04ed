//! Supervised fine-tuning: a backbone and a linear head trained end to end
//! with cross-entropy on labelled batches. The `finetune` evaluation uses it
//! from a pretraining run's weights, or from a random initialisation (the
//! supervised baseline).
//!
//! Everything but the loss is the pretraining loop's: batches come from a
//! [`BatchSource`] (the engine's augmented, seeded views), the optimiser from
//! [`OptimizerSpec::build`], the rate from [`Schedule::lr_at`], and failures
//! are [`TrainError`]s (a NaN loss, a batch that does not fit). No checkpoints:
//! an interrupted fine-tune starts again.

use super::backbone::Backbone;
use super::optim::{OptimizerSpec, Schedule};
use super::trainer::{self, BatchSource, EpochReport, TrainError, finite_loss};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// A [`BatchSource`] whose batches have labels: one view per image, and its class.
pub trait LabelledSource: BatchSource {
    /// The class of each image of batch `index` of `epoch`, in the batch's order.
    fn labels(&self, epoch: usize, index: usize) -> Vec<u32>;
}

/// A backbone with a linear classification head on its features.
#[derive(Module, Debug)]
pub struct Classifier {
    /// Feature extractor.
    pub backbone: Backbone,
    /// Features to class logits.
    pub head: Linear,
}

impl Classifier {
    /// A head of `classes` outputs on `backbone`, its weights drawn from `seed`.
    pub fn new(backbone: Backbone, classes: usize, device: &Device, seed: u64) -> Classifier {
        let dim = backbone.feature_dim();
        let head = trainer::seeded(device, seed, || {
            LinearConfig::new(dim, classes.max(1)).init(device)
        });
        Classifier { backbone, head }
    }

    /// Class logits `[B, classes]` of a batch.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.backbone.forward(x))
    }
}

/// How to fine-tune.
#[derive(Clone, Debug, PartialEq)]
pub struct FinetuneSpec {
    /// Passes over the labelled data.
    pub epochs: usize,
    /// The optimiser; its learning rate is used as written.
    pub optimizer: OptimizerSpec,
    /// The learning-rate schedule, per step.
    pub schedule: Schedule,
}

/// The trained classifier and its mean loss per epoch.
pub struct Finetuned {
    /// Backbone and head.
    pub model: Classifier,
    /// Mean cross-entropy per epoch, from epoch 1.
    pub losses: Vec<f64>,
}

/// Trains `model` on `source` with cross-entropy, per `spec`.
pub fn finetune(
    spec: &FinetuneSpec,
    mut model: Classifier,
    source: &dyn LabelledSource,
    device: &Device,
    cancel: &AtomicBool,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<Finetuned, TrainError> {
    let per_epoch = source.batches_per_epoch();
    if per_epoch == 0 {
        return Err(TrainError::Failed(format!(
            "the labelled data has fewer images than one batch ({}); lower `batch`",
            source.batch_images()
        )));
    }
    let total = per_epoch * spec.epochs;
    let base_lr = spec.optimizer.base_lr();
    let mut optim = spec.optimizer.build(None);
    let ce = CrossEntropyLossConfig::new().init(device);
    let mut losses = Vec::with_capacity(spec.epochs);
    // Batches are made ahead, on a helper thread, in step order.
    std::thread::scope(|scope| {
        let mut feed = trainer::batch_feed(scope, source, 0..total);
        for epoch in 0..spec.epochs {
            let began = Instant::now();
            let mut sum = 0.0;
            let mut lr = base_lr;
            for b in 0..per_epoch {
                if cancel.load(Ordering::Relaxed) {
                    return Err(TrainError::Interrupted);
                }
                let misfit = |reason: String| TrainError::Batch {
                    epoch: epoch + 1,
                    batch: b,
                    reason,
                };
                lr = spec
                    .schedule
                    .lr_at(base_lr, epoch * per_epoch + b, per_epoch, total);
                let x = trainer::next_views(&mut feed, device)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| misfit("the batch has no view".into()))?;
                let labels = source.labels(epoch, b);
                let n = x.dims()[0];
                if labels.len() != n {
                    return Err(misfit(format!("{n} images but {} labels", labels.len())));
                }
                let logits = model.forward(x);
                let classes = logits.dims()[1];
                if let Some(&bad) = labels.iter().find(|&&l| l as usize >= classes) {
                    return Err(misfit(format!(
                        "label {bad} is outside the head's {classes} classes"
                    )));
                }
                let targets = Tensor::<1, Int>::from_data(
                    TensorData::new(labels.iter().map(|&l| i64::from(l)).collect(), [n]),
                    device,
                );
                let loss = ce.forward(logits, targets);
                let value = finite_loss(loss.clone().into_scalar::<f32>() as f64, epoch, b)?;
                sum += value;
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(lr, model, grads);
            }
            let seconds = began.elapsed().as_secs_f64();
            let data_wait = feed.take_waited().as_secs_f64();
            let mean = sum / per_epoch as f64;
            losses.push(mean);
            on_epoch(&EpochReport {
                epoch: epoch + 1,
                epochs: spec.epochs,
                loss: mean,
                lr,
                images_per_sec: (per_epoch * source.batch_images()) as f64 / seconds.max(1e-9),
                seconds,
                data_wait,
                // Supervised: no SSL embedding to probe, no monitor.
                health: None,
                monitor_top1: None,
            });
        }
        Ok(Finetuned { model, losses })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::backbone::BackboneSpec;
    use crate::train::device::DeviceChoice;

    /// Two classes told apart by brightness: a bright and a dark image per batch.
    struct Toy {
        batch: usize,
        scale: f32,
    }

    impl BatchSource for Toy {
        fn batches_per_epoch(&self) -> usize {
            3
        }
        fn batch_images(&self) -> usize {
            self.batch
        }
        fn batch(
            &self,
            _epoch: usize,
            _index: usize,
        ) -> Result<Vec<TensorData>, crate::augment::ImageError> {
            let per = 3 * 8 * 8;
            let data: Vec<f32> = (0..self.batch * per)
                .map(|i| {
                    if (i / per) % 2 == 0 {
                        self.scale
                    } else {
                        -self.scale
                    }
                })
                .collect();
            Ok(vec![TensorData::new(data, [self.batch, 3, 8, 8])])
        }
    }

    impl LabelledSource for Toy {
        fn labels(&self, _epoch: usize, _index: usize) -> Vec<u32> {
            (0..self.batch as u32).map(|i| i % 2).collect()
        }
    }

    fn model(device: &Device) -> Classifier {
        let spec = BackboneSpec::TinyConvNet { width: 4, depth: 1 };
        let backbone = trainer::init_backbone_seeded(&spec, device, 1).expect("a backbone");
        Classifier::new(backbone, 2, device, 2)
    }

    fn spec(lr: f64) -> FinetuneSpec {
        FinetuneSpec {
            epochs: 2,
            optimizer: OptimizerSpec::Sgd {
                lr,
                momentum: 0.9,
                weight_decay: 0.0,
                nesterov: false,
                exclude_bias_bn: false,
            },
            schedule: Schedule::Constant,
        }
    }

    fn run(lr: f64, scale: f32) -> Result<Vec<f64>, TrainError> {
        let device = DeviceChoice::Cpu.training_device().expect("cpu");
        let cancel = AtomicBool::new(false);
        let source = Toy { batch: 4, scale };
        finetune(
            &spec(lr),
            model(&device),
            &source,
            &device,
            &cancel,
            &mut |_| {},
        )
        .map(|t| t.losses)
    }

    #[test]
    fn same_seed_same_losses_and_the_loss_falls() {
        let a = run(0.1, 1.0).expect("trains");
        let b = run(0.1, 1.0).expect("trains");
        assert_eq!(a, b);
        assert_eq!(a.len(), 2);
        assert!(a[1] < a[0], "{a:?}");
    }

    #[test]
    fn a_diverging_loss_is_an_error() {
        // A NaN input makes a NaN loss: an error naming the epoch and batch, not a panic.
        let e = run(0.1, f32::NAN).expect_err("diverges");
        assert!(matches!(e, TrainError::NonFinite { .. }), "{e}");
    }

    #[test]
    fn labels_that_do_not_fit_are_an_error() {
        struct Short(Toy);
        impl BatchSource for Short {
            fn batches_per_epoch(&self) -> usize {
                self.0.batches_per_epoch()
            }
            fn batch_images(&self) -> usize {
                self.0.batch_images()
            }
            fn batch(
                &self,
                e: usize,
                i: usize,
            ) -> Result<Vec<TensorData>, crate::augment::ImageError> {
                self.0.batch(e, i)
            }
        }
        impl LabelledSource for Short {
            fn labels(&self, _e: usize, _i: usize) -> Vec<u32> {
                vec![0]
            }
        }
        let device = DeviceChoice::Cpu.training_device().expect("cpu");
        let cancel = AtomicBool::new(false);
        let source = Short(Toy {
            batch: 4,
            scale: 1.0,
        });
        let e = finetune(
            &spec(0.1),
            model(&device),
            &source,
            &device,
            &cancel,
            &mut |_| {},
        )
        .err()
        .expect("misfit");
        assert!(matches!(e, TrainError::Batch { .. }), "{e}");
    }
}
