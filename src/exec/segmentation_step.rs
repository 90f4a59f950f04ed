//! The segmentation downstream task: an FCN-style decoder (Long et al. 2015)
//! on the backbone's last feature map, fine-tuned on images with masks and
//! scored by mIoU and pixel accuracy on the test part. (The thesis used
//! Detectron2's Mask R-CNN; instance segmentation is out of scope here.)

use super::decode::{self, Params, SegDecoder};
use super::engine::{Engine, input};
use super::error::StepError;
use super::eval_steps::load_backbone;
use super::events::Epoch;
use super::executor::{StepCtx, StepOutput};
use super::train_steps::{Normalization, device_choice, rgb, stack};
use crate::augment::Image;
use crate::data::ImageSet;
use crate::plan::{Key, Step};
use crate::train::backbone::Backbone;
use crate::train::decoder::FcnDecoder;
use crate::train::optim::OptimizerSpec;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

/// Mask classes: background and foreground.
const CLASSES: usize = 2;

/// Backbone and decoder, trained together (or the decoder alone).
#[derive(Module, Debug)]
struct SegModel {
    backbone: Backbone,
    decoder: FcnDecoder,
}

impl SegModel {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        self.decoder.forward(self.backbone.feature_map(x), [h, w])
    }
}

/// Images and masks of a data part, optionally restricted to a label subset.
fn part(
    engine: &Engine,
    ctx: &StepCtx,
    step: &Step,
    role: &str,
    keep: Option<&BTreeSet<usize>>,
) -> Result<(std::sync::Arc<ImageSet>, Vec<usize>), StepError> {
    let key = input(step, role)?;
    let port = Params::step(step).opt_str(&format!("{role}_part"))?;
    let (images, mut indices) = engine.data(ctx, &key, port)?;
    if images.masks.is_none() {
        return Err(StepError::NoMasks { part: role.into() });
    }
    if let Some(keep) = keep {
        indices.retain(|i| keep.contains(i));
    }
    if indices.is_empty() {
        return Err(StepError::EmptyPart {
            part: role.into(),
            what: "images",
        });
    }
    Ok((images, indices))
}

/// One batch: normalised images (optionally flipped) and their masks as class indices.
fn batch(
    images: &ImageSet,
    chosen: &[usize],
    flips: &[bool],
    norm: Normalization,
    device: &Device,
) -> Result<(Tensor<4>, Tensor<3, Int>), StepError> {
    let (w, h) = (images.width as usize, images.height as usize);
    let mut views: Vec<Image> = Vec::with_capacity(chosen.len());
    let mut targets: Vec<i64> = Vec::with_capacity(chosen.len() * w * h);
    for (&i, &flip) in chosen.iter().zip(flips) {
        let mut img = rgb(images, i)?;
        let mask = images
            .mask(i)
            .ok_or_else(|| StepError::Inconsistent("an image has no mask".into()))?;
        if flip {
            let data = img.data_mut();
            for row in data.chunks_exact_mut(w * 3) {
                for x in 0..w / 2 {
                    for c in 0..3 {
                        row.swap(x * 3 + c, (w - 1 - x) * 3 + c);
                    }
                }
            }
        }
        views.push(img);
        for y in 0..h {
            for x in 0..w {
                let sx = if flip { w - 1 - x } else { x };
                targets.push(i64::from(mask[y * w + sx] > 0));
            }
        }
    }
    let x = stack(&views, norm, device);
    let t = Tensor::<3, Int>::from_data(TensorData::new(targets, [chosen.len(), h, w]), device);
    Ok((x, t))
}

/// Per-class confusion counts: `[truth][prediction]`.
fn confusion(pred: &[i64], truth: &[i64]) -> [[u64; CLASSES]; CLASSES] {
    let mut m = [[0u64; CLASSES]; CLASSES];
    for (&p, &t) in pred.iter().zip(truth) {
        m[t.clamp(0, 1) as usize][p.clamp(0, 1) as usize] += 1;
    }
    m
}

/// Mean IoU over the classes present in truth or prediction, and pixel accuracy.
pub fn miou_and_accuracy(m: &[[u64; CLASSES]; CLASSES]) -> (f64, f64) {
    let total: u64 = m.iter().flatten().sum();
    let correct: u64 = (0..CLASSES).map(|c| m[c][c]).sum();
    let mut ious = Vec::new();
    for (c, row) in m.iter().enumerate() {
        let tp = row[c];
        let fn_: u64 = row.iter().sum::<u64>() - tp;
        let fp: u64 = m.iter().map(|r| r[c]).sum::<u64>() - tp;
        if tp + fn_ + fp > 0 {
            ious.push(tp as f64 / (tp + fn_ + fp) as f64);
        }
    }
    let miou = if ious.is_empty() {
        0.0
    } else {
        ious.iter().sum::<f64>() / ious.len() as f64
    };
    (miou, correct as f64 / total.max(1) as f64)
}

fn label_subset(ctx: &StepCtx, key: Option<&Key>) -> Result<Option<BTreeSet<usize>>, StepError> {
    let Some(key) = key else { return Ok(None) };
    let chosen: Vec<usize> = super::engine::stored_output(ctx, key, "indices")?.json()?;
    Ok(Some(chosen.into_iter().collect()))
}

/// Fine-tunes a decoder (and the backbone unless frozen) on masks; scores the test part.
pub fn segmentation(engine: &Engine, step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
    let encoder = input(step, "encoder")?;
    let config = decode::segmentation_config(&Params::step(step))?;
    let keep = label_subset(ctx, step.inputs.get("labels"))?;
    let (train_images, train_idx) = part(engine, ctx, step, "train", keep.as_ref())?;
    let (test_images, test_idx) = part(engine, ctx, step, "test", None)?;
    let device = device_choice(engine, step)?.training_device()?;
    let seed = config.seed;
    let loaded = load_backbone(ctx, &encoder, &device)?;
    let norm = loaded
        .norm
        .unwrap_or_else(|| Normalization::of(&train_images, &train_idx));
    let channels = loaded.backbone.feature_dim();
    let decoder = {
        let _guard = crate::train::trainer::init_lock();
        device.seed(seed);
        let decoder = match config.decoder {
            SegDecoder::Fcn => FcnDecoder::new(channels, CLASSES, &device)?,
        };
        crate::train::trainer::materialize(&decoder);
        decoder
    };
    let backbone = if config.freeze_backbone {
        loaded.backbone.no_grad()
    } else {
        loaded.backbone
    };
    let mut model = SegModel { backbone, decoder };
    let epochs = config.epochs;
    let asked = config.batch;
    let batch_size = asked.min(train_idx.len());
    if batch_size < asked {
        crate::notes::clamped(crate::notes::NoteCode::BatchClamped, batch_size as u64);
    }
    let lr = config.lr;
    let mut optim = OptimizerSpec::Sgd {
        lr,
        momentum: 0.9,
        weight_decay: 1e-4,
        nesterov: false,
        exclude_bias_bn: true,
    }
    .build(None);
    let ce = CrossEntropyLossConfig::new().init(&device);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7365_676d);
    let mut order = train_idx.clone();
    let steps_per_epoch = train_idx.len().div_ceil(batch_size);
    let total = epochs * steps_per_epoch;
    let mut last_loss = f64::NAN;
    for epoch in 0..epochs {
        order.shuffle(&mut rng);
        let mut sum = 0.0;
        for (b, chosen) in order.chunks(batch_size).enumerate() {
            if ctx.cancel.load(Ordering::Relaxed) {
                return Err(StepError::Interrupted);
            }
            let flips: Vec<bool> = chosen.iter().map(|_| rng.random_bool(0.5)).collect();
            let (x, t) = batch(&train_images, chosen, &flips, norm, &device)?;
            let logits = model.forward(x);
            let [bsz, k, h, w] = logits.dims();
            let flat = logits.permute([0, 2, 3, 1]).reshape([bsz * h * w, k]);
            let loss = ce.forward(flat, t.reshape([bsz * h * w]));
            let value = loss.clone().into_scalar::<f32>() as f64;
            if !value.is_finite() {
                return Err(StepError::Diverged {
                    what: "the segmentation loss",
                    value,
                    epoch: epoch + 1,
                });
            }
            sum += value;
            // Cosine decay over all steps (no warm-up).
            let at = (epoch * steps_per_epoch + b) as f64 / total.max(1) as f64;
            let step_lr = lr * 0.5 * (1.0 + (std::f64::consts::PI * at).cos());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(step_lr, model, grads);
        }
        last_loss = sum / steps_per_epoch as f64;
        ctx.epoch(
            step,
            &Epoch::loss_only("segmentation", epoch + 1, epochs, last_loss, None),
        );
    }
    // Score on the test part, BatchNorm on running statistics.
    let eval_device = device.clone().without_autodiff();
    let model = model.valid();
    let model = if device == eval_device {
        model
    } else {
        model.fork(&eval_device)
    };
    let mut m = [[0u64; CLASSES]; CLASSES];
    let mut background = [[0u64; CLASSES]; CLASSES];
    for chosen in test_idx.chunks(64) {
        let flips = vec![false; chosen.len()];
        let (x, t) = batch(&test_images, chosen, &flips, norm, &eval_device)?;
        let pred: Vec<i64> = model
            .forward(x)
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .map_err(|e| StepError::Readback {
                what: "predictions",
                reason: format!("{e:?}"),
            })?;
        let truth: Vec<i64> = t
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .map_err(|e| StepError::Readback {
                what: "masks",
                reason: format!("{e:?}"),
            })?;
        let c = confusion(&pred, &truth);
        let z = confusion(&vec![0; truth.len()], &truth);
        for a in 0..CLASSES {
            for b in 0..CLASSES {
                m[a][b] += c[a][b];
                background[a][b] += z[a][b];
            }
        }
    }
    let (miou, acc) = miou_and_accuracy(&m);
    let (bg_miou, bg_acc) = miou_and_accuracy(&background);
    let mut out = StepOutput::default();
    out.metrics.insert("miou".into(), miou);
    out.metrics.insert("pixel_accuracy".into(), acc);
    out.metrics.insert("background_miou".into(), bg_miou);
    out.metrics
        .insert("background_pixel_accuracy".into(), bg_acc);
    out.metrics.insert("loss".into(), last_loss);
    out.metrics
        .insert("train_images".into(), train_idx.len() as f64);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn miou_of_perfect_and_trivial_predictions() {
        let truth = [0, 0, 1, 1];
        let (miou, acc) = miou_and_accuracy(&confusion(&truth, &truth));
        assert_eq!((miou, acc), (1.0, 1.0));
        let (miou, acc) = miou_and_accuracy(&confusion(&[0, 0, 0, 0], &truth));
        // Background IoU 2/4, foreground 0: mean 0.25; half the pixels right.
        assert_eq!((miou, acc), (0.25, 0.5));
    }
}
