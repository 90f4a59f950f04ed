//! Steps that train networks: `pretrain` (SSL), `init_backbone` (random-init
//! baselines) and G-SimCLR's `autoencoder` and `pseudo_labels`. This module
//! turns planned parameters into the training library's typed specs, feeds it
//! multi-view batches from the engine's data and policies, and keeps its
//! checkpoints in the store.

use super::augment_steps::{offline_cache, policy_from_value};
use super::executor::{OutValue, StepCtx, StepOutput};
use super::runner::{Engine, seed_of};
use crate::augment::{
    Context, Image, OfflineCache, SampleDraw, ViewSpec, make_views, normalize_into,
};
use crate::data::ImageSet;
use crate::plan::{Key, Step, Value};
use crate::train::backbone::{Backbone, BackboneSpec};
use crate::train::device::DeviceChoice;
use crate::train::method::MethodConfig;
use crate::train::optim::{LrScaling, OptimizerSpec, Schedule};
use crate::train::trainer::{
    self, BatchSource, CheckpointSink, EpochReport, TrainError, TrainSpec,
};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

// ------------------------------------------------------------ parameters

type Params = BTreeMap<String, Value>;

fn map<'a>(p: &'a Params, name: &str) -> Result<&'a Params, String> {
    p.get(name)
        .and_then(Value::as_map)
        .ok_or_else(|| format!("the step has no `{name}`"))
}

fn f(p: &Params, name: &str, default: f64) -> f64 {
    p.get(name).and_then(Value::as_f64).unwrap_or(default)
}

fn u(p: &Params, name: &str, default: usize) -> usize {
    p.get(name)
        .and_then(Value::as_f64)
        .map(|v| v.max(0.0) as usize)
        .unwrap_or(default)
}

fn b(p: &Params, name: &str, default: bool) -> bool {
    match p.get(name) {
        Some(Value::Bool(v)) => *v,
        _ => default,
    }
}

fn s<'a>(p: &'a Params, name: &str) -> &'a str {
    p.get(name).and_then(Value::as_str).unwrap_or("")
}

/// The backbone a planned `backbone` map describes, for images of side `image_side`.
pub fn backbone_spec(m: &Params, image_side: usize) -> Result<BackboneSpec, String> {
    let spec = match s(m, "type") {
        "tiny_convnet" => BackboneSpec::TinyConvNet {
            width: u(m, "width", 32),
            depth: u(m, "depth", 3),
        },
        kind @ ("resnet18" | "resnet34" | "resnet50") => BackboneSpec::ResNet {
            depth: kind[6..].parse().unwrap_or(18),
            cifar_stem: b(m, "cifar_stem", false),
            zero_init_residual: b(m, "zero_init_residual", false),
        },
        "vit_tiny" => BackboneSpec::Vit {
            patch: u(m, "patch", 16),
            depth: u(m, "depth", 12),
            width: u(m, "width", 192),
            heads: u(m, "heads", 3),
            mlp_ratio: f(m, "mlp_ratio", 4.0),
            image_size: image_side,
        },
        other => return Err(format!("unknown backbone `{other}`")),
    };
    spec.validate()?;
    Ok(spec)
}

/// The method a planned `method` map describes (G-SimCLR trains as SimCLR;
/// its own parameters belong to its autoencoder and pseudo-label steps).
pub fn method_config(m: &Params) -> Result<MethodConfig, String> {
    use crate::train::method::ParamValue;
    let (name, skip): (&str, &[&str]) = match s(m, "type") {
        "g_simclr" => (
            "simclr",
            &["clusters", "ae_epochs", "ae_latent", "noise_std"],
        ),
        other => (other, &[]),
    };
    let params = m
        .iter()
        .filter(|(k, _)| k.as_str() != "type" && !skip.contains(&k.as_str()))
        .filter_map(|(k, v)| {
            let v = match v {
                Value::Bool(b) => ParamValue::Bool(*b),
                Value::Int(i) => ParamValue::Int(*i),
                Value::Float(f) => ParamValue::Float(*f),
                Value::Str(w) => ParamValue::Str(w.clone()),
                _ => return None,
            };
            Some((k.as_str(), v))
        });
    MethodConfig::from_params(name, params)
}

fn optimizer_spec(m: &Params) -> Result<OptimizerSpec, String> {
    Ok(match s(m, "type") {
        "sgd" => OptimizerSpec::Sgd {
            lr: f(m, "lr", 0.05),
            momentum: f(m, "momentum", 0.9),
            weight_decay: f(m, "weight_decay", 1e-4),
            nesterov: b(m, "nesterov", false),
            exclude_bias_bn: b(m, "exclude_bias_bn", false),
        },
        "lars" => OptimizerSpec::Lars {
            lr: f(m, "lr", 0.3),
            momentum: f(m, "momentum", 0.9),
            weight_decay: f(m, "weight_decay", 1e-6),
            eta: f(m, "eta", 0.02),
            exclude_bias_bn: b(m, "exclude_bias_bn", true),
            clip_lr: b(m, "clip_lr", true),
        },
        "adamw" => OptimizerSpec::AdamW {
            lr: f(m, "lr", 5e-4),
            beta1: f(m, "beta1", 0.9),
            beta2: f(m, "beta2", 0.999),
            weight_decay: f(m, "weight_decay", 0.04),
            eps: f(m, "eps", 1e-8),
        },
        other => return Err(format!("unknown optimizer `{other}`")),
    })
}

fn schedule(m: Option<&Params>) -> Schedule {
    let Some(m) = m else {
        return Schedule::Constant;
    };
    match s(m, "type") {
        "cosine" => Schedule::Cosine {
            warmup_epochs: u(m, "warmup_epochs", 10),
            warmup_start_lr: f(m, "warmup_start_lr", 3e-5),
            min_lr: f(m, "min_lr", 0.0),
        },
        "step" => Schedule::Step {
            milestones: match m.get("milestones") {
                Some(Value::List(xs)) => xs
                    .iter()
                    .filter_map(Value::as_f64)
                    .map(|v| v as usize)
                    .collect(),
                _ => vec![],
            },
            gamma: f(m, "gamma", 0.1),
        },
        _ => Schedule::Constant,
    }
}

/// The device a step trains on: the engine's override, else its `exec.device`, else the CPU.
pub fn device_choice(engine: &Engine, step: &Step) -> Result<DeviceChoice, String> {
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
    fn for_training(views: &[Value], images: &ImageSet, indices: &[usize]) -> Normalization {
        for v in views {
            let Some(Value::List(ops)) = v.as_map().and_then(|m| m.get("policy")) else {
                continue;
            };
            for op in ops {
                let Some(m) = op.as_map() else { continue };
                if s(m, "type") == "normalize"
                    && let (Some(Value::List(mean)), Some(Value::List(std))) =
                        (m.get("mean"), m.get("std"))
                    && mean.len() == 3
                    && std.len() == 3
                {
                    let arr =
                        |xs: &[Value]| [0, 1, 2].map(|i| xs[i].as_f64().unwrap_or(0.5) as f32);
                    return Normalization {
                        mean: arr(mean),
                        std: arr(std),
                    };
                }
            }
        }
        Normalization::of(images, indices)
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
pub fn rgb(images: &ImageSet, i: usize) -> Result<Image, String> {
    Image::from_hwc(
        images.width,
        images.height,
        images.channels,
        images.image(i),
    )
    .map_err(|e| e.to_string())
}

/// Stacks same-sized images into a normalised `[B, 3, H, W]` tensor.
pub fn stack(views: &[Image], norm: Normalization, device: &Device) -> Tensor<4> {
    let (w, h) = (views[0].width() as usize, views[0].height() as usize);
    let per = 3 * w * h;
    let mut data = vec![0f32; per * views.len()];
    data.par_chunks_mut(per)
        .zip(views.par_iter())
        .for_each(|(out, img)| normalize_into(img, norm.mean, norm.std, out));
    Tensor::from_data(TensorData::new(data, [views.len(), 3, h, w]), device)
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

    fn batch(&self, epoch: usize, index: usize, device: &Device) -> Result<Vec<Tensor<4>>, String> {
        let order = self.order(epoch);
        let chosen = &order[index * self.batch..(index + 1) * self.batch];
        let tally = crate::notes::current();
        let per_sample: Vec<Vec<Image>> = chosen
            .par_iter()
            .map_init(
                || Context::new(Some(&self.cache)),
                |cx, &p| -> Result<Vec<Image>, String> {
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
            out.push(stack(&views, self.norm, device));
        }
        Ok(out)
    }
}

fn view_specs(views: &[Value]) -> Result<Vec<ViewSpec>, String> {
    views
        .iter()
        .map(|v| {
            let m = v.as_map().ok_or("a view is not a map")?;
            let policy = policy_from_value(m.get("policy").unwrap_or(&Value::Null))?;
            let scale = match m.get("scale") {
                Some(Value::List(xs)) if xs.len() == 2 => Some((
                    xs[0].as_f64().unwrap_or(0.08),
                    xs[1].as_f64().unwrap_or(1.0),
                )),
                _ => None,
            };
            let spec = ViewSpec {
                count: u(m, "count", 1) as u32,
                size: m.get("size").and_then(Value::as_f64).map(|v| v as u32),
                scale,
                local: b(m, "local", false),
                policy,
            };
            spec.validate().map_err(|e| e.to_string())?;
            Ok(spec)
        })
        .collect()
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

    fn save(&self, bytes: &[u8]) -> Result<(), String> {
        self.ctx
            .store
            .checkpoint_put(&self.key, bytes)
            .map_err(|e| e.to_string())
    }
}

// ------------------------------------------------------------ steps

/// Self-supervised pretraining of a backbone.
pub fn pretrain(engine: &Engine, step: &Step, ctx: &StepCtx) -> Result<StepOutput, String> {
    let data = *step.inputs.get("data").ok_or("pretraining needs `data`")?;
    let (images, indices) = engine.data(
        ctx,
        &data,
        step.params.get("data_part").and_then(Value::as_str),
    )?;
    let side = images.width.min(images.height) as usize;
    let backbone = backbone_spec(map(&step.params, "backbone")?, side)?;
    let method = method_config(map(&step.params, "method")?)?;
    let views = match step.params.get("views") {
        Some(Value::List(xs)) => xs.clone(),
        _ => vec![],
    };
    let specs = view_specs(&views)?;
    let batch = u(&step.params, "batch", 256).max(1);
    let spec = TrainSpec {
        epochs: u(&step.params, "epochs", 100).max(1),
        batch,
        optimizer: optimizer_spec(map(&step.params, "optimizer")?)?,
        schedule: schedule(step.params.get("schedule").and_then(Value::as_map)),
        lr_scaling: match s(&step.params, "lr_scaling") {
            "sqrt" => LrScaling::Sqrt,
            "none" => LrScaling::None,
            _ => LrScaling::Linear,
        },
        grad_clip: step.params.get("grad_clip").and_then(Value::as_f64),
        seed: seed_of(step),
        checkpoint_every: step
            .exec
            .get("checkpoint_every")
            .and_then(Value::as_f64)
            .map_or(1, |v| v.max(1.0) as usize),
    };
    if indices.len() < batch {
        return Err(format!(
            "the training data has {} images, fewer than one batch of {batch}; lower `batch`",
            indices.len()
        ));
    }
    let pseudo = match step.inputs.get("pseudo_labels") {
        Some(k) => Some(pseudo_labels_of(ctx, k, &indices)?),
        None => None,
    };
    if let Some(Value::Map(m)) = step.params.get("method")
        && s(m, "type") == "moco"
        && s(m, "version") == "v2"
        && m.get("queue")
            .and_then(Value::as_f64)
            .is_some_and(|q| q > indices.len() as f64)
    {
        crate::notes::clamped(
            crate::notes::NoteCode::QueueLongerThanData,
            indices.len() as u64,
        );
    }
    let norm = Normalization::for_training(&views, &images, &indices);
    let source = ViewBatches {
        images,
        indices,
        specs,
        seed: seed_of(step),
        key: step.key,
        batch,
        norm,
        cache: offline_cache(ctx),
        pseudo,
        order: Mutex::new(None),
    };
    let choice = device_choice(engine, step)?;
    let mut device = choice.training_device()?;
    crate::train::device::apply_precision(&mut device, choice, s(&step.params, "precision"))?;
    let sink = StoreCheckpoints { ctx, key: step.key };
    let mut reports: Vec<EpochReport> = Vec::new();
    let label = format!("{} {}", step.decl, step.key.short());
    let trained = trainer::train(
        &spec,
        method,
        &backbone,
        &source,
        &sink,
        &device,
        ctx.cancel,
        &mut |r| {
            tracing::info!(
                "{label}: epoch {}/{} loss {:.4} lr {:.4} {:.0} img/s",
                r.epoch,
                r.epochs,
                r.loss,
                r.lr,
                r.images_per_sec
            );
            ctx.note(
                step,
                &format!(
                    "{} epoch {}/{}: loss {:.4}, lr {:.3e}, {:.0} img/s",
                    step.decl, r.epoch, r.epochs, r.loss, r.lr, r.images_per_sec
                ),
            );
            reports.push(r.clone());
        },
    )
    .map_err(|e| match e {
        TrainError::Interrupted => "interrupted".to_string(),
        other => other.to_string(),
    })?;
    let backbone_bytes = crate::train::bytes::module_to_bytes(&trained.student.backbone)?;
    let safetensors = crate::train::export::module_to_safetensors(&trained.student.backbone)?;
    ctx.store.checkpoint_clear(&step.key);
    let mut out = StepOutput::default();
    out.outputs
        .insert("backbone".into(), OutValue::Bytes(backbone_bytes));
    out.outputs
        .insert("backbone.safetensors".into(), OutValue::Bytes(safetensors));
    out.outputs.insert(
        "summary".into(),
        OutValue::Inline(serde_json::json!({
            "backbone": serde_json::to_value(map(&step.params, "backbone")?).unwrap_or_default(),
            "image_side": side,
            "normalization": norm.to_json(),
            "losses": trained.losses,
            "resumed_after_epoch": trained.resumed_after,
            "epochs": reports.iter().map(|r| serde_json::json!({
                "epoch": r.epoch, "loss": r.loss, "lr": r.lr,
                "images_per_sec": r.images_per_sec, "seconds": r.seconds,
            })).collect::<Vec<_>>(),
        })),
    );
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

/// A backbone at its random initialisation (the baseline of every evaluation).
pub fn init_backbone(engine: &Engine, step: &Step, ctx: &StepCtx) -> Result<StepOutput, String> {
    let _ = (engine, ctx);
    // The image side matters only for ViTs' position embeddings; evaluations
    // interpolate them to the data, so the registry's 32 is a fine default.
    let spec = backbone_spec(map(&step.params, "backbone")?, 32)?;
    let device = DeviceChoice::Cpu.plain_device()?;
    let backbone: Backbone = trainer::init_backbone_seeded(&spec, &device, seed_of(step));
    let mut out = StepOutput::default();
    out.outputs.insert(
        "backbone".into(),
        OutValue::Bytes(crate::train::bytes::module_to_bytes(&backbone)?),
    );
    out.outputs.insert(
        "summary".into(),
        OutValue::Inline(serde_json::json!({
            "backbone": serde_json::to_value(map(&step.params, "backbone")?).unwrap_or_default(),
            "image_side": 32,
            "normalization": null,
        })),
    );
    Ok(out)
}

/// Reads a `pseudo_labels` step's labels for the given dataset indices.
fn pseudo_labels_of(ctx: &StepCtx, key: &Key, indices: &[usize]) -> Result<Vec<u32>, String> {
    let record = ctx
        .store
        .get(key)
        .map_err(|e| e.to_string())?
        .ok_or("the pseudo-labels are not in the store")?;
    let blob = match record.outputs.get("labels") {
        Some(super::store::Output::Blob { blob }) => {
            ctx.store.get_blob(blob).map_err(|e| e.to_string())?
        }
        _ => return Err("the pseudo-label step has no labels".into()),
    };
    let by_index: BTreeMap<usize, u32> =
        serde_json::from_slice(&blob).map_err(|e| format!("pseudo-labels: {e}"))?;
    indices
        .iter()
        .map(|i| {
            by_index
                .get(i)
                .copied()
                .ok_or_else(|| format!("image {i} has no pseudo-label"))
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
