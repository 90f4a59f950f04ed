//! Steps that train networks: `pretrain` (SSL), `init_backbone` (random-init
//! baselines) and G-SimCLR's `autoencoder` and `pseudo_labels`. This module
//! turns planned parameters into the training library's typed specs, feeds it
//! multi-view batches from the engine's data and policies, and keeps its
//! checkpoints in the store.

use super::augment_steps::offline_cache;
use super::decode::{self, Params};
use super::engine::{Engine, data_part, input, seed_of};
use super::error::StepError;
use super::events::{self, Epoch};
use super::executor::{OutValue, StepCtx, StepOutput};
use crate::augment::{
    Context, Image, OfflineCache, SampleDraw, ViewSpec, make_views, normalize_into,
};
use crate::data::ImageSet;
use crate::eval::health::{collapse_floor, is_collapsed};
use crate::eval::{KnnParams, Matrix, knn_accuracy};
use crate::plan::{Key, Step, Value};
use crate::train::backbone::{Backbone, BackboneSpec};
use crate::train::device::{DeviceChoice, DeviceError, training_precision};
use crate::train::trainer::{
    self, BatchSource, CheckpointSink, EpochReport, Monitor, ProbeError, Probes, TrainError,
    TrainSpec,
};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

// ------------------------------------------------------------ parameters

/// The backbone a planned `backbone` map describes, for images of side `image_side`.
pub fn backbone_spec(
    m: &BTreeMap<String, Value>,
    image_side: usize,
) -> decode::Decoded<BackboneSpec> {
    decode::backbone_spec(&Params::call(m, "backbone")?, image_side)
}

/// The device a step trains on: the engine's override, else its `exec.device`, else the CPU.
pub fn device_choice(engine: &Engine, step: &Step) -> Result<DeviceChoice, DeviceError> {
    if let Some(d) = engine.device {
        return Ok(d);
    }
    match step.exec.get("device").and_then(Value::as_str) {
        Some(d) => d.parse(),
        None => Ok(DeviceChoice::Cpu),
    }
}

// ------------------------------------------------------------ normalisation

/// Per-channel mean and std a network's inputs are normalised with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalization {
    /// Channel means, on the 0..1 scale.
    pub mean: [f32; 3],
    /// Channel standard deviations, on the 0..1 scale.
    pub std: [f32; 3],
}

impl Normalization {
    /// The policy's `normalize` op if it has one, else the statistics of the training images.
    pub fn for_training(
        normalize: Option<([f32; 3], [f32; 3])>,
        images: &ImageSet,
        indices: &[usize],
    ) -> Normalization {
        match normalize {
            Some((mean, std)) => Normalization { mean, std },
            None => Normalization::of(images, indices),
        }
    }

    /// Channel statistics of some images (grey images count for all three channels).
    pub fn of(images: &ImageSet, indices: &[usize]) -> Normalization {
        let c = images.channels as usize;
        let mut sum = [0f64; 3];
        let mut sq = [0f64; 3];
        let mut n = 0f64;
        for &i in indices {
            for px in images.image(i).chunks_exact(c) {
                for ch in 0..3 {
                    let v = px[ch.min(c - 1)] as f64 / 255.0;
                    sum[ch] += v;
                    sq[ch] += v * v;
                }
                n += 1.0;
            }
        }
        if n == 0.0 {
            return Normalization {
                mean: [0.5; 3],
                std: [0.25; 3],
            };
        }
        let mean = sum.map(|v| v / n);
        let std = [0, 1, 2].map(|ch| (sq[ch] / n - mean[ch] * mean[ch]).max(1e-6).sqrt());
        Normalization {
            mean: mean.map(|v| v as f32),
            std: std.map(|v| v as f32),
        }
    }

    /// As stored with a trained backbone.
    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({ "mean": self.mean, "std": self.std })
    }

    /// From [`Normalization::to_json`].
    pub fn from_json(v: &serde_json::Value) -> Option<Normalization> {
        let arr = |k: &str| -> Option<[f32; 3]> {
            let xs = v.get(k)?.as_array()?;
            if xs.len() != 3 {
                return None;
            }
            Some([0, 1, 2].map(|i| xs[i].as_f64().unwrap_or(0.0) as f32))
        };
        Some(Normalization {
            mean: arr("mean")?,
            std: arr("std")?,
        })
    }
}

/// One image of a set as an RGB augmentation image.
pub fn rgb(images: &ImageSet, i: usize) -> Result<Image, crate::augment::ImageError> {
    Image::from_hwc(
        images.width,
        images.height,
        images.channels,
        images.image(i),
    )
}

/// Stacks same-sized images into a normalised `[B, 3, H, W]` tensor.
pub fn stack(views: &[Image], norm: Normalization, device: &Device) -> Tensor<4> {
    Tensor::from_data(stack_data(views, norm), device)
}

/// [`stack`] as plain data (`[N, 3, H, W]`), for batches made off the training thread.
pub fn stack_data(views: &[Image], norm: Normalization) -> TensorData {
    let (w, h) = (views[0].width() as usize, views[0].height() as usize);
    let per = 3 * w * h;
    let mut data = vec![0f32; per * views.len()];
    data.par_chunks_mut(per)
        .zip(views.par_iter())
        .for_each(|(out, img)| normalize_into(img, norm.mean, norm.std, out));
    TensorData::new(data, [views.len(), 3, h, w])
}

// ------------------------------------------------------------ batches

/// Multi-view batches of a data part, drawn per (seed, step, epoch, index, view).
struct ViewBatches {
    images: Arc<ImageSet>,
    indices: Vec<usize>,
    specs: Vec<ViewSpec>,
    seed: u64,
    key: Key,
    batch: usize,
    norm: Normalization,
    cache: OfflineCache,
    /// G-SimCLR: pseudo-labels by position in `indices`.
    pseudo: Option<Vec<u32>>,
    order: Mutex<Option<(usize, Arc<Vec<usize>>)>>,
}

impl ViewBatches {
    /// Positions into `indices` in the order epoch `epoch` visits them.
    fn order(&self, epoch: usize) -> Arc<Vec<usize>> {
        let mut slot = self.order.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((e, o)) = slot.as_ref()
            && *e == epoch
        {
            return Arc::clone(o);
        }
        let mut seed_bytes = [0u8; 32];
        let mut h = blake3::Hasher::new();
        h.update(b"sslp/shuffle");
        h.update(&self.seed.to_le_bytes());
        h.update(&self.key.0);
        h.update(&(epoch as u64).to_le_bytes());
        seed_bytes.copy_from_slice(h.finalize().as_bytes());
        let mut rng = ChaCha8Rng::from_seed(seed_bytes);
        let mut order: Vec<usize> = (0..self.indices.len()).collect();
        order.shuffle(&mut rng);
        if let Some(labels) = &self.pseudo {
            order = spread_labels(&order, labels, self.batch);
        }
        let order = Arc::new(order);
        *slot = Some((epoch, Arc::clone(&order)));
        order
    }
}

/// G-SimCLR's batches (Chakraborty et al. 2020, §3): reorders a shuffled
/// order batch by batch so that each batch takes its images from as many
/// different pseudo-labels as it can: all different while the batch is no
/// larger than the number of labels with images left, the fullest labels
/// first, ties in shuffled order.
fn spread_labels(order: &[usize], labels: &[u32], batch: usize) -> Vec<usize> {
    let mut queues: BTreeMap<u32, std::collections::VecDeque<usize>> = BTreeMap::new();
    let mut rank = vec![0; labels.len()];
    for (r, &p) in order.iter().enumerate() {
        queues.entry(labels[p]).or_default().push_back(p);
        rank[p] = r;
    }
    let mut out = Vec::with_capacity(order.len());
    while out.len() < order.len() {
        let mut live: Vec<(usize, usize, u32)> = queues
            .iter()
            .filter_map(|(&l, q)| q.front().map(|&p| (usize::MAX - q.len(), rank[p], l)))
            .collect();
        live.sort_unstable();
        let take = batch.max(1).min(order.len() - out.len());
        let mut taken = 0;
        while taken < take {
            for &(_, _, l) in &live {
                if taken == take {
                    break;
                }
                if let Some(p) = queues.get_mut(&l).and_then(|q| q.pop_front()) {
                    out.push(p);
                    taken += 1;
                }
            }
        }
    }
    out
}

impl BatchSource for ViewBatches {
    fn batches_per_epoch(&self) -> usize {
        self.indices.len() / self.batch.max(1)
    }

    fn batch_images(&self) -> usize {
        self.batch
    }

    fn batch(
        &self,
        epoch: usize,
        index: usize,
    ) -> Result<Vec<TensorData>, crate::augment::ImageError> {
        let order = self.order(epoch);
        let chosen = &order[index * self.batch..(index + 1) * self.batch];
        let tally = crate::notes::current();
        let per_sample: Vec<Vec<Image>> = chosen
            .par_iter()
            .map_init(
                || Context::new(Some(&self.cache)),
                |cx, &p| -> Result<Vec<Image>, crate::augment::ImageError> {
                    crate::notes::within(&tally, || {
                        let i = self.indices[p];
                        let img = rgb(&self.images, i)?;
                        let draw = SampleDraw {
                            seed: self.seed,
                            step_key: self.key.0,
                            epoch: epoch as u32,
                            index: i as u64,
                        };
                        Ok(make_views(&img, &self.specs, &draw, cx))
                    })
                },
            )
            .collect::<Result<_, _>>()?;
        let n_views = per_sample.first().map_or(0, Vec::len);
        let mut out = Vec::with_capacity(n_views);
        for v in 0..n_views {
            let views: Vec<Image> = per_sample.iter().map(|s| s[v].clone()).collect();
            out.push(stack_data(&views, self.norm));
        }
        Ok(out)
    }
}

/// The multi-view batches a `pretrain` step with key `key` trains on: the images `indices`
/// through `specs`, shuffled and drawn per (seed, step key, epoch, image, view), normalised
/// with `norm`; the last partial batch of an epoch is dropped. For a caller that drives the
/// steps itself (`sslp device-check`).
#[allow(clippy::too_many_arguments)]
pub fn view_batches(
    images: Arc<ImageSet>,
    indices: Vec<usize>,
    specs: Vec<ViewSpec>,
    seed: u64,
    key: Key,
    batch: usize,
    norm: Normalization,
    cache: OfflineCache,
) -> impl BatchSource {
    ViewBatches {
        images,
        indices,
        specs,
        seed,
        key,
        batch,
        norm,
        cache,
        pseudo: None,
        order: Mutex::new(None),
    }
}

/// Labelled single-view batches of `indices` (every image labelled): each image through
/// `policy` (no crop of its own), shuffled and drawn per (seed, step key, epoch, image) as
/// pretraining's views are; the last partial batch of an epoch is dropped. The batches of a
/// supervised fine-tune.
#[allow(clippy::too_many_arguments)]
pub fn labelled_batches(
    images: Arc<ImageSet>,
    indices: Vec<usize>,
    policy: crate::augment::Policy,
    seed: u64,
    key: Key,
    batch: usize,
    norm: Normalization,
    cache: OfflineCache,
) -> impl crate::train::finetune::LabelledSource {
    ViewBatches {
        images,
        indices,
        specs: vec![ViewSpec::new(1, policy)],
        seed,
        key,
        batch,
        norm,
        cache,
        pseudo: None,
        order: Mutex::new(None),
    }
}

impl crate::train::finetune::LabelledSource for ViewBatches {
    fn labels(&self, epoch: usize, index: usize) -> Vec<u32> {
        let order = self.order(epoch);
        order[index * self.batch..(index + 1) * self.batch]
            .iter()
            .map(|&p| self.images.labels[self.indices[p]].max(0) as u32)
            .collect()
    }
}

// ------------------------------------------------------------ the kNN monitor

/// At most this many training images enter the kNN monitor (held-out queries
/// and bank together), so it costs a bounded forward pass however large the data.
pub const MONITOR_MAX_IMAGES: usize = 1024;

/// Images per forward pass of the monitor.
const MONITOR_BATCH: usize = 128;

/// solo-learn-style online kNN: a fixed, held-out slice of the (labelled)
/// training images classified against the rest of a slice, unaugmented,
/// with the training normalisation; cosine weighted kNN (DINO's k = 20,
/// T = 0.07, `k` clamped to the bank). The slice is chosen by position, so
/// it draws no randomness at all.
pub struct KnnMonitor {
    images: Arc<ImageSet>,
    bank: Vec<usize>,
    queries: Vec<usize>,
    norm: Normalization,
    every: usize,
}

impl KnnMonitor {
    /// The monitor over the training images `indices`: up to
    /// [`MONITOR_MAX_IMAGES`] labelled ones evenly spaced over the part, of
    /// which a `fraction` (evenly spaced, at least one) are the queries and
    /// the rest the bank. `None` when `every` is 0 or fewer than two images
    /// have labels.
    pub fn new(
        images: Arc<ImageSet>,
        indices: &[usize],
        fraction: f64,
        every: usize,
        norm: Normalization,
    ) -> Option<KnnMonitor> {
        let labelled: Vec<usize> = indices
            .iter()
            .copied()
            .filter(|&i| images.labels.get(i).is_some_and(|&l| l >= 0))
            .collect();
        let n = labelled.len();
        if every == 0 || n < 2 {
            return None;
        }
        let m = n.min(MONITOR_MAX_IMAGES);
        let pool: Vec<usize> = (0..m).map(|i| labelled[i * n / m]).collect();
        let q = ((m as f64 * fraction).round() as usize).clamp(1, m - 1);
        let mut is_query = vec![false; m];
        for j in 0..q {
            is_query[j * m / q] = true;
        }
        let queries: Vec<usize> = (0..m).filter(|&p| is_query[p]).map(|p| pool[p]).collect();
        let bank: Vec<usize> = (0..m).filter(|&p| !is_query[p]).map(|p| pool[p]).collect();
        Some(KnnMonitor {
            images,
            bank,
            queries,
            norm,
            every,
        })
    }

    /// Held-out images classified, and bank images they are classified against.
    pub fn sizes(&self) -> (usize, usize) {
        (self.queries.len(), self.bank.len())
    }

    fn features(
        &self,
        backbone: &Backbone,
        which: &[usize],
        device: &Device,
    ) -> Result<Matrix, ProbeError> {
        let mut data = Vec::new();
        let mut cols = 0;
        for chunk in which.chunks(MONITOR_BATCH) {
            let batch: Vec<Image> = chunk
                .iter()
                .map(|&i| rgb(&self.images, i))
                .collect::<Result<_, _>>()?;
            let f = trainer::features_of(backbone, stack(&batch, self.norm, device))?;
            cols = f.cols;
            data.extend(f.data);
        }
        Ok(Matrix::new(which.len(), cols, data)?)
    }

    fn labels(&self, which: &[usize]) -> Vec<u32> {
        which
            .iter()
            .map(|&i| self.images.labels[i] as u32)
            .collect()
    }
}

impl Monitor for KnnMonitor {
    fn due(&self, epoch: usize, epochs: usize) -> bool {
        self.every > 0 && (epoch.is_multiple_of(self.every) || epoch == epochs)
    }

    fn top1(&self, backbone: &Backbone, device: &Device) -> Result<Option<f64>, ProbeError> {
        let bank = self.features(backbone, &self.bank, device)?;
        let queries = self.features(backbone, &self.queries, device)?;
        let (bank_labels, query_labels) = (self.labels(&self.bank), self.labels(&self.queries));
        let classes = bank_labels
            .iter()
            .chain(&query_labels)
            .max()
            .map_or(1, |&l| l as usize + 1);
        let params = KnnParams {
            k: KnnParams::default().k.min(self.bank.len()),
            ..KnnParams::default()
        };
        knn_accuracy(
            &bank,
            &bank_labels,
            &queries,
            &query_labels,
            classes,
            &params,
        )
        .map(|a| Some(a.top1))
        .map_err(ProbeError::from)
    }
}

/// The store as the trainer's checkpoint sink.
struct StoreCheckpoints<'a> {
    ctx: &'a StepCtx<'a>,
    key: Key,
}

impl CheckpointSink for StoreCheckpoints<'_> {
    fn load(&self) -> Option<Vec<u8>> {
        self.ctx.store.checkpoint_get(&self.key)
    }

    fn save(&self, bytes: &[u8]) -> Result<(), TrainError> {
        self.ctx
            .store
            .checkpoint_put(&self.key, bytes)
            .map_err(|e| TrainError::Checkpoint {
                part: "saving the checkpoint",
                reason: e.to_string(),
            })
    }

    fn location(&self) -> String {
        self.ctx
            .store
            .checkpoint_file(&self.key)
            .display()
            .to_string()
    }
}

// ------------------------------------------------------------ steps

/// What a run computed in, for its summary: the format, and with f16 the final loss scale
/// and the optimiser steps skipped on overflow.
fn precision_summary(
    precision: crate::train::precision::Precision,
    scaler: Option<&crate::train::precision::LossScaler>,
) -> serde_json::Value {
    let name = precision.name();
    match scaler {
        Some(s) => serde_json::json!({
            "compute": name,
            "weights": "f32",
            "loss_scale": s.scale,
            "skipped_steps": s.skipped,
        }),
        None => serde_json::json!({ "compute": name, "weights": "f32" }),
    }
}

/// Self-supervised pretraining of a backbone.
pub fn pretrain(engine: &Engine, step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
    let data = input(step, "data")?;
    let (images, indices) = engine.data(ctx, &data, data_part(step)?)?;
    let side = images.width.min(images.height) as usize;
    let config = decode::pretrain_config(&Params::step(step), side)?;
    let batch = config.batch;
    let choice = device_choice(engine, step)?;
    let device = choice.training_device()?;
    let spec = TrainSpec {
        epochs: config.epochs,
        batch,
        optimizer: config.optimizer.clone(),
        schedule: config.schedule.clone(),
        lr_scaling: config.lr_scaling,
        grad_clip: config.grad_clip,
        seed: config.seed,
        checkpoint_every: decode::checkpoint_every(&Params::exec(step))?,
        precision: training_precision(&device, choice, &config.precision)?,
    };
    if indices.len() < batch {
        return Err(StepError::TooFewImages {
            data: "training",
            images: indices.len(),
            batch,
        });
    }
    let pseudo = match step.inputs.get("pseudo_labels") {
        Some(k) => Some(pseudo_labels_of(ctx, k, &indices)?),
        None => None,
    };
    if let crate::train::method::MethodConfig::Moco {
        version: crate::train::method::MocoVersion::V2,
        queue,
        ..
    } = config.method
        && queue > indices.len()
    {
        crate::notes::clamped(
            crate::notes::NoteCode::QueueLongerThanData,
            indices.len() as u64,
        );
    }
    let norm = Normalization::for_training(config.normalize, &images, &indices);
    let exec = Params::exec(step);
    let monitor = KnnMonitor::new(
        Arc::clone(&images),
        &indices,
        decode::monitor_fraction(&exec)?,
        decode::monitor_every(&exec)?,
        norm,
    );
    let source = ViewBatches {
        images,
        indices,
        specs: config.views.clone(),
        seed: config.seed,
        key: step.key,
        batch,
        norm,
        cache: offline_cache(ctx),
        pseudo,
        order: Mutex::new(None),
    };

    let sink = StoreCheckpoints { ctx, key: step.key };
    let mut reports: Vec<EpochReport> = Vec::new();
    let label = format!("{} {}", step.decl, step.key.short());
    let trained = trainer::train(
        &spec,
        config.method.clone(),
        &config.backbone,
        &source,
        &sink,
        &device,
        ctx.cancel,
        Probes {
            health: true,
            monitor: monitor.as_ref().map(|m| m as &dyn Monitor),
        },
        &mut |r| {
            let epoch = epoch_event(&step.decl, r);
            tracing::info!("{label}: {epoch:?}");
            ctx.epoch(step, &epoch);
            reports.push(r.clone());
        },
    )
    .map_err(|e| match e {
        TrainError::Interrupted => StepError::Interrupted,
        other => StepError::Train(other),
    })?;
    let backbone_bytes = crate::train::bytes::module_to_output_bytes(&trained.student.backbone)?;
    let safetensors = crate::train::export::module_to_safetensors(&trained.student.backbone)?;
    ctx.store.checkpoint_clear(&step.key);
    let mut out = StepOutput::default();
    out.outputs
        .insert("backbone".into(), OutValue::Bytes(backbone_bytes));
    out.outputs
        .insert("backbone.safetensors".into(), OutValue::Bytes(safetensors));
    // Every epoch, also those before a resume; wall-clock figures only for
    // the epochs this process ran.
    let epochs: Vec<serde_json::Value> = trained
        .history
        .iter()
        .map(|h| {
            let timing = reports.iter().find(|r| r.epoch == h.epoch);
            serde_json::json!({
                "epoch": h.epoch,
                "loss": h.loss,
                "lr": h.lr,
                "embedding_std": h.health.as_ref().map(|x| x.embedding_std),
                "alignment": h.health.as_ref().map(|x| x.alignment),
                "uniformity": h.health.as_ref().map(|x| x.uniformity),
                "monitor_top1": h.monitor_top1,
                "images_per_sec": timing.map(|r| r.images_per_sec),
                "seconds": timing.map(|r| r.seconds),
                "data_wait_seconds": timing.map(|r| r.data_wait),
            })
        })
        .collect();
    let verdict = health_verdict(&trained.history);
    if let Some(scaler) = trained.loss_scaler.as_ref().filter(|s| s.skipped > 0)
        && let Some(tally) = crate::notes::current()
    {
        tally.add(crate::notes::NoteCode::LossScaleSkipped, scaler.skipped);
    }
    out.outputs.insert(
        "summary".into(),
        OutValue::Inline(serde_json::json!({
            "backbone": serde_json::to_value(backbone_map(step)?).unwrap_or_default(),
            "image_side": side,
            "precision": precision_summary(spec.precision, trained.loss_scaler.as_ref()),
            "normalization": norm.to_json(),
            "losses": trained.losses,
            "resumed_after_epoch": trained.resumed_after,
            "epochs": epochs,
            "health": verdict.to_json(),
            "monitor": monitor.as_ref().map(|m| {
                let (queries, bank) = m.sizes();
                serde_json::json!({ "every": m.every, "queries": queries, "bank": bank })
            }),
        })),
    );
    for (name, value) in verdict.metrics() {
        out.metrics.insert(name.into(), value);
    }
    if let Some(last) = trained.losses.last() {
        out.metrics.insert("loss".into(), *last);
    }
    if let Some(first) = trained.losses.first() {
        out.metrics.insert("first_loss".into(), *first);
    }
    if !reports.is_empty() {
        let ips = reports.iter().map(|r| r.images_per_sec).sum::<f64>() / reports.len() as f64;
        out.metrics.insert("images_per_sec".into(), ips);
    }
    Ok(out)
}

/// One epoch as `sslp run` prints it.
/// The progress event of a finished pretraining epoch.
fn epoch_event(stage: &str, r: &EpochReport) -> Epoch {
    Epoch {
        stage: stage.to_string(),
        epoch: r.epoch,
        epochs: r.epochs,
        loss: r.loss,
        lr: Some(r.lr),
        health: r.health.as_ref().map(|h| events::EpochHealth {
            dim: h.dim,
            embedding_std: h.embedding_std,
            alignment: h.alignment,
            uniformity: h.uniformity,
            collapsing: is_collapsed(h.embedding_std, h.dim),
        }),
        monitor_top1: r.monitor_top1,
        speed: Some(events::EpochSpeed {
            images_per_sec: r.images_per_sec,
            data_wait_fraction: r.data_wait / r.seconds.max(1e-9),
        }),
    }
}

/// The health of a finished run: its last epoch's figures and whether it collapsed.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthVerdict {
    /// Feature width.
    pub dim: Option<usize>,
    /// Embedding std, alignment and uniformity of the last epoch that has them.
    pub last: Option<trainer::EpochHealth>,
    /// The embedding std of the first epoch that has one.
    pub first_std: Option<f64>,
    /// The last kNN monitor top-1.
    pub monitor_top1: Option<f64>,
    /// The final std is below [`collapse_floor`].
    pub collapsed: bool,
}

/// The verdict of a run's epochs.
pub fn health_verdict(history: &[trainer::EpochRecord]) -> HealthVerdict {
    let last = history.iter().rev().find_map(|h| h.health.clone());
    let first_std = history
        .iter()
        .find_map(|h| h.health.as_ref().map(|x| x.embedding_std));
    let monitor_top1 = history.iter().rev().find_map(|h| h.monitor_top1);
    HealthVerdict {
        dim: last.as_ref().map(|h| h.dim),
        collapsed: last
            .as_ref()
            .is_some_and(|h| is_collapsed(h.embedding_std, h.dim)),
        first_std,
        monitor_top1,
        last,
    }
}

impl HealthVerdict {
    /// As stored in the pretrain summary (`health`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "dim": self.dim,
            "embedding_std": self.last.as_ref().map(|h| h.embedding_std),
            "first_embedding_std": self.first_std,
            "healthy_std": self.dim.map(|d| 1.0 / (d.max(1) as f64).sqrt()),
            "collapse_below": self.dim.map(collapse_floor),
            "alignment": self.last.as_ref().map(|h| h.alignment),
            "uniformity": self.last.as_ref().map(|h| h.uniformity),
            "monitor_top1": self.monitor_top1,
            "collapsed": self.collapsed,
        })
    }

    /// As step metrics (`embedding_std`, `alignment`, `uniformity`, `monitor_top1`, `collapsed`).
    pub fn metrics(&self) -> Vec<(&'static str, f64)> {
        let mut m = vec![];
        if let Some(h) = &self.last {
            m.push(("embedding_std", h.embedding_std));
            m.push(("alignment", h.alignment));
            m.push(("uniformity", h.uniformity));
            m.push(("feature_dim", h.dim as f64));
            m.push(("collapsed", if self.collapsed { 1.0 } else { 0.0 }));
        }
        if let Some(t) = self.monitor_top1 {
            m.push(("monitor_top1", t));
        }
        m
    }
}

/// A backbone at its random initialisation (the baseline of every evaluation).
pub fn init_backbone(engine: &Engine, step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
    let _ = (engine, ctx);
    // The image side matters only for ViTs' position embeddings; evaluations
    // interpolate them to the data, so the registry's 32 is a fine default.
    let spec = decode::backbone_spec(
        &Params::step(step).nested("backbone")?,
        decode::DECODE_IMAGE_SIDE,
    )?;
    let device = DeviceChoice::Cpu.plain_device()?;
    let backbone: Backbone = trainer::init_backbone_seeded(&spec, &device, seed_of(step)?)?;
    let mut out = StepOutput::default();
    out.outputs.insert(
        "backbone".into(),
        OutValue::Bytes(crate::train::bytes::module_to_output_bytes(&backbone)?),
    );
    out.outputs.insert(
        "summary".into(),
        OutValue::Inline(serde_json::json!({
            "backbone": serde_json::to_value(backbone_map(step)?).unwrap_or_default(),
            "image_side": decode::DECODE_IMAGE_SIDE,
            "normalization": null,
        })),
    );
    Ok(out)
}

/// A step's planned `backbone` call, as recorded in its summary.
fn backbone_map(step: &Step) -> decode::Decoded<&BTreeMap<String, Value>> {
    Ok(Params::step(step).nested("backbone")?.map())
}

/// Reads a `pseudo_labels` step's labels for the given dataset indices.
fn pseudo_labels_of(ctx: &StepCtx, key: &Key, indices: &[usize]) -> Result<Vec<u32>, StepError> {
    let by_index: BTreeMap<usize, u32> =
        super::engine::stored_output(ctx, key, "labels")?.json()?;
    indices
        .iter()
        .map(|i| {
            by_index.get(i).copied().ok_or_else(|| {
                StepError::bad_input("pseudo-labels", format!("image {i} has no pseudo-label"))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_simclr_batches_have_distinct_pseudo_labels() {
        // 4 labels x 8 images, shuffled.
        let labels: Vec<u32> = (0..32).map(|i| (i * 7 % 4) as u32).collect();
        let order: Vec<usize> = (0..32).map(|i| (i * 13) % 32).collect();
        let out = spread_labels(&order, &labels, 4);
        let mut sorted = out.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..32).collect::<Vec<_>>(), "a permutation");
        for b in out.chunks(4) {
            let mut l: Vec<u32> = b.iter().map(|&p| labels[p]).collect();
            l.sort_unstable();
            l.dedup();
            assert_eq!(l.len(), 4, "{b:?}");
        }
        // Larger batches than labels spread the labels evenly.
        for b in spread_labels(&order, &labels, 8).chunks(8) {
            for l in 0..4 {
                assert_eq!(b.iter().filter(|&&p| labels[p] == l).count(), 2);
            }
        }
    }
}
