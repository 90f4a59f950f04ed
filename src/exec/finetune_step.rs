//! The `finetune` evaluation: a backbone (a pretraining run's weights, or a
//! random initialisation from the evaluation's seed) and a linear head,
//! trained end to end with cross-entropy on the labelled train images, then
//! scored top-1 (and top-5 with more than 5 classes) on the test images.
//!
//! The loop is [`crate::train::finetune`]; batches are the engine's seeded,
//! augmented views ([`super::train_steps::labelled_batches`]); the test images
//! are read as the features step reads them (no augmentation, BatchNorm on its
//! running statistics).

use super::augment_steps::offline_cache;
use super::decode::{self, Params};
use super::engine::{Engine, input};
use super::error::StepError;
use super::eval_steps::{accuracy_output, label_subset, load_backbone};
use super::events::Epoch;
use super::executor::{OutValue, StepCtx, StepOutput};
use super::train_steps::{
    Normalization, backbone_spec, device_choice, labelled_batches, rgb, stack,
};
use crate::data::ImageSet;
use crate::eval::metrics::top_k_accuracy;
use crate::plan::Step;
use crate::train::finetune::{Classifier, FinetuneSpec, finetune as train_classifier};
use crate::train::trainer::{self, TrainError};
use burn::module::Module;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Test images per forward pass.
const EVAL_BATCH: usize = 256;

/// The labelled images of a data input (`train` or `test`), optionally restricted to `keep`.
fn labelled_part(
    engine: &Engine,
    ctx: &StepCtx,
    step: &Step,
    role: &str,
    keep: Option<&BTreeSet<usize>>,
) -> Result<(Arc<ImageSet>, Vec<usize>), StepError> {
    let key = input(step, role)?;
    let port = Params::step(step).opt_str(&format!("{role}_part"))?;
    let (images, mut indices) = engine.data(ctx, &key, port)?;
    indices.retain(|&i| images.labels[i] >= 0 && keep.is_none_or(|k| k.contains(&i)));
    if indices.is_empty() {
        return Err(StepError::EmptyPart {
            part: role.into(),
            what: "labelled images",
        });
    }
    Ok((images, indices))
}

/// Class scores of `indices` under a trained classifier (on the plain CPU device).
fn scores(
    model: &Classifier,
    images: &ImageSet,
    indices: &[usize],
    norm: Normalization,
    device: &burn::tensor::Device,
    ctx: &StepCtx,
) -> Result<Vec<Vec<f64>>, StepError> {
    let mut out = Vec::with_capacity(indices.len());
    for chunk in indices.chunks(EVAL_BATCH) {
        if ctx.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(StepError::Interrupted);
        }
        let batch: Vec<_> = chunk
            .iter()
            .map(|&i| rgb(images, i))
            .collect::<Result<_, _>>()?;
        let logits = model.forward(stack(&batch, norm, device));
        let classes = logits.dims()[1];
        let values: Vec<f32> =
            logits
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| StepError::Readback {
                    what: "logits",
                    reason: format!("{e:?}"),
                })?;
        out.extend(
            values
                .chunks_exact(classes)
                .map(|row| row.iter().map(|&v| f64::from(v)).collect()),
        );
    }
    Ok(out)
}

/// Fine-tunes a backbone and a linear head on the labelled train images; scores the test part.
pub fn finetune(engine: &Engine, step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
    let name = &step.decl;
    let config = decode::finetune_config(&Params::step(step))?;
    let keep = label_subset(ctx, step)?;
    let (train_images, train_idx) = labelled_part(engine, ctx, step, "train", keep.as_ref())?;
    let (test_images, test_idx) = labelled_part(engine, ctx, step, "test", None)?;
    let batch = config.batch;
    if train_idx.len() < batch {
        return Err(StepError::TooFewImages {
            data: "labelled train",
            images: train_idx.len(),
            batch,
        });
    }
    let classes = train_idx
        .iter()
        .map(|&i| train_images.labels[i])
        .chain(test_idx.iter().map(|&i| test_images.labels[i]))
        .max()
        .map_or(0, |m| m as usize + 1);
    let device = device_choice(engine, step)?.training_device()?;
    let seed = config.seed;
    // The backbone: a pretraining run's weights and normalisation, or a fresh one at the
    // data's image side, drawn from the evaluation's seed.
    let (backbone, stored_norm) = match (&config.scratch, step.inputs.get("encoder")) {
        (Some(map), _) => {
            let side = train_images.width.min(train_images.height) as usize;
            let spec = backbone_spec(map, side)?;
            (trainer::init_backbone_seeded(&spec, &device, seed)?, None)
        }
        (None, Some(encoder)) => {
            let loaded = load_backbone(ctx, encoder, &device)?;
            (loaded.backbone, loaded.norm)
        }
        (None, None) => return Err(StepError::missing_input(step, "encoder")),
    };
    // The policy's `normalize` if written, else the pretraining run's, else the labelled
    // train images' statistics.
    let norm = match config.normalize {
        Some(written) => Normalization::for_training(Some(written), &train_images, &train_idx),
        None => stored_norm
            .unwrap_or_else(|| Normalization::for_training(None, &train_images, &train_idx)),
    };
    let model = Classifier::new(backbone, classes, &device, seed.wrapping_add(1));
    let source = labelled_batches(
        Arc::clone(&train_images),
        train_idx.clone(),
        config.policy.clone(),
        seed,
        step.key,
        batch,
        norm,
        offline_cache(ctx),
    );
    let spec = FinetuneSpec {
        epochs: config.epochs,
        optimizer: config.optimizer.clone(),
        schedule: config.schedule.clone(),
    };
    let trained = train_classifier(&spec, model, &source, &device, ctx.cancel, &mut |r| {
        ctx.epoch(
            step,
            &Epoch::loss_only(name, r.epoch, r.epochs, r.loss, Some(r.lr)),
        );
    })
    .map_err(|e| match e {
        TrainError::Interrupted => StepError::Interrupted,
        other => StepError::Train(other),
    })?;
    // Score with BatchNorm on its running statistics, on the training device without autodiff.
    let eval_device = device.clone().without_autodiff();
    let model = trained.model.valid();
    let model = if device == eval_device {
        model
    } else {
        model.fork(&eval_device)
    };
    let test_scores = scores(&model, &test_images, &test_idx, norm, &eval_device, ctx)?;
    if test_scores.iter().flatten().any(|v| !v.is_finite()) {
        return Err(StepError::NonFinite {
            source_: "the trained network",
            output: "scores",
        });
    }
    let test_labels: Vec<u32> = test_idx
        .iter()
        .map(|&i| test_images.labels[i] as u32)
        .collect();
    let mut out = accuracy_output(&test_scores, &test_labels, train_idx.len())?;
    let train_scores = scores(&model, &train_images, &train_idx, norm, &eval_device, ctx)?;
    let train_labels: Vec<u32> = train_idx
        .iter()
        .map(|&i| train_images.labels[i] as u32)
        .collect();
    out.metrics.insert(
        "train_top1".into(),
        top_k_accuracy(&train_scores, &train_labels, 1)?,
    );
    if let Some(last) = trained.losses.last() {
        out.metrics.insert("loss".into(), *last);
    }
    if let Some(first) = trained.losses.first() {
        out.metrics.insert("first_loss".into(), *first);
    }
    out.outputs.insert(
        "summary".into(),
        OutValue::Inline(serde_json::json!({
            "from": if config.scratch.is_some() { "scratch" } else { "pretrain" },
            "classes": classes,
            "normalization": norm.to_json(),
            "losses": trained.losses,
        })),
    );
    Ok(out)
}
