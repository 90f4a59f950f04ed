//! G-SimCLR's first two steps (Chakraborty et al. 2020): a denoising
//! autoencoder on the training images, then k-means over its codes into
//! pseudo-labels. The pretraining step reads the labels to build batches
//! whose images come from different clusters.

use super::decode::{self, Params};
use super::engine::{Engine, data_part, input};
use super::error::StepError;
use super::events::Epoch;
use super::executor::{OutValue, StepCtx, StepOutput};
use super::store::Output;
use super::train_steps::{Normalization, device_choice, rgb, stack};
use crate::eval::matrix::Matrix;
use crate::plan::Step;
use crate::train::autoencoder::Autoencoder;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// Images per autoencoder batch.
const AE_BATCH: usize = 128;

/// A standard-normal sample (Box–Muller), from the step's own stream.
fn gaussian(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// Trains the denoising autoencoder on a data part.
pub fn autoencoder(engine: &Engine, step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
    let data = input(step, "data")?;
    let (images, indices) = engine.data(ctx, &data, data_part(step)?)?;
    if indices.is_empty() {
        return Err(StepError::EmptyPart {
            part: "data".into(),
            what: "images",
        });
    }
    let decode::AutoencoderConfig {
        epochs,
        latent,
        noise_std,
        seed,
    } = decode::autoencoder_config(&Params::step(step))?;
    let noise_std = noise_std as f32;
    // Trains on the run's device, initialised there from the seed (as `pretrain` is).
    let device = device_choice(engine, step)?.training_device()?;
    let norm = Normalization::of(&images, &indices);
    let mut ae = crate::train::trainer::seeded(&device, seed, || Autoencoder::new(latent, &device));
    let mut optim = AdamConfig::new().init();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6165_5f6e_6f69_7365);
    let mut order: Vec<usize> = indices.clone();
    let mut losses = Vec::new();
    for epoch in 0..epochs {
        order.shuffle(&mut rng);
        let mut sum = 0.0;
        let mut batches = 0;
        for chunk in order.chunks(AE_BATCH) {
            if ctx.cancel.load(Ordering::Relaxed) {
                return Err(StepError::Interrupted);
            }
            let batch: Vec<_> = chunk
                .iter()
                .map(|&i| rgb(&images, i))
                .collect::<Result<_, _>>()?;
            let clean = Autoencoder::fit_input(stack(&batch, norm, &device));
            let dims = clean.dims();
            let noise: Vec<f32> = (0..dims.iter().product::<usize>())
                .map(|_| gaussian(&mut rng) * noise_std)
                .collect();
            let noisy =
                clean.clone() + Tensor::<4>::from_data(TensorData::new(noise, dims), &device);
            let loss = ae.loss(noisy, clean);
            let value = loss.clone().into_scalar::<f32>() as f64;
            if !value.is_finite() {
                return Err(StepError::Diverged {
                    what: "the autoencoder's loss",
                    value,
                    epoch: epoch + 1,
                });
            }
            sum += value;
            batches += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &ae);
            ae = optim.step(1e-3, ae, grads);
        }
        let mean = sum / batches.max(1) as f64;
        ctx.epoch(
            step,
            &Epoch::loss_only("autoencoder", epoch + 1, epochs, mean, None),
        );
        losses.push(mean);
    }
    let mut out = StepOutput::default();
    out.outputs.insert(
        "autoencoder".into(),
        OutValue::Bytes(crate::train::bytes::module_to_output_bytes(&ae)?),
    );
    out.outputs.insert(
        "summary".into(),
        OutValue::Inline(serde_json::json!({
            "latent": latent,
            "normalization": norm.to_json(),
            "losses": losses,
        })),
    );
    if let Some(l) = losses.last() {
        out.metrics.insert("loss".into(), *l);
    }
    Ok(out)
}

/// Clusters the autoencoder's codes of a data part into pseudo-labels.
pub fn pseudo_labels(engine: &Engine, step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
    let data = input(step, "data")?;
    let ae_key = input(step, "autoencoder")?;
    let record = ctx
        .store
        .get(&ae_key)?
        .ok_or(StepError::NotStored { key: ae_key })?;
    let summary = match record.outputs.get("summary") {
        Some(Output::Inline { value }) => value.clone(),
        _ => serde_json::Value::Null,
    };
    let stored = super::engine::stored_output(ctx, &ae_key, "autoencoder")?;
    let latent = summary
        .get("latent")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| StepError::bad_input("the autoencoder", "no latent width recorded"))?
        as usize;
    let device: Device = device_choice(engine, step)?.plain_device()?;
    let ae = stored.module(|| Ok(Autoencoder::new(latent, &device)))?;
    let config = decode::pseudo_labels_config(&Params::step(step))?;
    // The autoencoder was trained on the same part of the same data.
    let part = match data_part(step)? {
        Some(p) => Some(p.to_string()),
        None => record
            .params
            .get("data_part")
            .and_then(|v| v.as_str())
            .map(str::to_string),
    };
    let (images, indices) = engine.data(ctx, &data, part.as_deref())?;
    let norm = summary
        .get("normalization")
        .and_then(Normalization::from_json)
        .unwrap_or_else(|| Normalization::of(&images, &indices));
    let mut codes = Vec::with_capacity(indices.len() * latent);
    for chunk in indices.chunks(256) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|&i| rgb(&images, i))
            .collect::<Result<_, _>>()?;
        let x = Autoencoder::fit_input(stack(&batch, norm, &device));
        let c: Vec<f32> =
            ae.encode(x)
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| StepError::Readback {
                    what: "codes",
                    reason: format!("{e:?}"),
                })?;
        codes.extend(c);
    }
    let x = Matrix::new(indices.len(), latent, codes)?;
    let k = config.clusters.min(indices.len());
    let result = crate::eval::kmeans::kmeans(&x, k, 4, 300, config.seed)?;
    let labels: BTreeMap<usize, u32> = indices
        .iter()
        .copied()
        .zip(result.labels.iter().copied())
        .collect();
    let mut out = StepOutput::default();
    out.metrics.insert("inertia".into(), result.inertia);
    // How well the clusters agree with the true classes, for information only.
    let known: Vec<usize> = (0..indices.len())
        .filter(|&r| images.labels[indices[r]] >= 0)
        .collect();
    if !known.is_empty() {
        let truth: Vec<u32> = known
            .iter()
            .map(|&r| images.labels[indices[r]] as u32)
            .collect();
        let pred: Vec<u32> = known.iter().map(|&r| result.labels[r]).collect();
        if let Ok(v) = crate::eval::metrics::nmi(&truth, &pred) {
            out.metrics.insert("nmi_to_classes".into(), v);
        }
    }
    out.outputs.insert(
        "labels".into(),
        OutValue::Bytes(serde_json::to_vec(&labels)?),
    );
    Ok(out)
}
