//! Evaluation steps: feature extraction with a frozen backbone, then linear
//! probes, kNN, k-means and t-SNE on the stored feature banks, and the
//! segmentation fine-tune. Feature banks are steps of their own, so every
//! evaluation of one backbone on one data part shares a single extraction.

use super::decode::{self, ColorBy, FeatureSource, Params, ProbeSolver};
use super::executor::{OutValue, StepCtx, StepOutput};
use super::runner::{Engine, data_part};
use super::store::Output;
use super::train_steps::{Normalization, backbone_spec, rgb, stack};
use crate::augment::normalize_into;
use crate::data::ImageSet;
use crate::eval::knn::{KnnParams, knn_scores};
use crate::eval::linear::{LinearModel, LinearParams, Solver};
use crate::eval::matrix::Matrix;
use crate::eval::metrics::{ari, hungarian_accuracy, nmi, top_k_accuracy};
use crate::plan::{Key, Step, Value};
use crate::train::backbone::Backbone;
use crate::train::device::DeviceChoice;
use burn::tensor::Device;
use std::collections::{BTreeMap, BTreeSet};

/// Images per forward pass when extracting features.
const EXTRACT_BATCH: usize = 256;

/// Frozen-backbone features of a data part, with the images' indices and labels.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureBank {
    /// Dataset index of each row.
    pub indices: Vec<usize>,
    /// Label of each row (-1: unlabelled).
    pub labels: Vec<i32>,
    /// Features, row-major `indices.len() x dim`.
    pub features: Matrix,
}

const BANK_MAGIC: &[u8; 8] = b"SSLPFEA1";

impl FeatureBank {
    /// Little-endian: magic, rows, dim, indices (u64), labels (i32), features (f32).
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.indices.len();
        let mut out = Vec::with_capacity(24 + n * 12 + self.features.data.len() * 4);
        out.extend_from_slice(BANK_MAGIC);
        out.extend_from_slice(&(n as u64).to_le_bytes());
        out.extend_from_slice(&(self.features.cols as u64).to_le_bytes());
        for &i in &self.indices {
            out.extend_from_slice(&(i as u64).to_le_bytes());
        }
        for &l in &self.labels {
            out.extend_from_slice(&l.to_le_bytes());
        }
        for &v in &self.features.data {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Reads [`FeatureBank::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<FeatureBank, String> {
        let bad = || "the feature bank is damaged".to_string();
        if bytes.len() < 24 || &bytes[..8] != BANK_MAGIC {
            return Err(bad());
        }
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
        let (n, d) = (word(8) as usize, word(16) as usize);
        let need = 24usize
            .checked_add(n.checked_mul(12).ok_or_else(bad)?)
            .and_then(|v| v.checked_add(n.checked_mul(d)?.checked_mul(4)?))
            .ok_or_else(bad)?;
        if bytes.len() != need {
            return Err(bad());
        }
        let mut at = 24;
        let indices = (0..n).map(|k| word(at + 8 * k) as usize).collect();
        at += 8 * n;
        let labels = bytes[at..at + 4 * n]
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        at += 4 * n;
        let data = bytes[at..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(FeatureBank {
            indices,
            labels,
            features: Matrix::new(n, d, data).map_err(|e| e.to_string())?,
        })
    }

    /// The rows whose dataset index is in `keep` and whose label is known.
    fn labelled(&self, keep: Option<&BTreeSet<usize>>) -> (Matrix, Vec<u32>) {
        let rows: Vec<usize> = (0..self.indices.len())
            .filter(|&r| self.labels[r] >= 0 && keep.is_none_or(|k| k.contains(&self.indices[r])))
            .collect();
        let labels = rows.iter().map(|&r| self.labels[r] as u32).collect();
        (self.features.select_rows(&rows), labels)
    }
}

// ------------------------------------------------------------ loading backbones

/// A trained (or freshly initialised) backbone from the store, with how its inputs are normalised.
pub struct LoadedBackbone {
    /// The network.
    pub backbone: Backbone,
    /// Its input normalisation; `None` for random-init baselines (use the data's).
    pub norm: Option<Normalization>,
}

fn record_blob(ctx: &StepCtx, key: &Key, name: &str) -> Result<Vec<u8>, String> {
    let record = ctx
        .store
        .get(key)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("input {} is not in the store", key.short()))?;
    match record.outputs.get(name) {
        Some(Output::Blob { blob }) => ctx.store.get_blob(blob).map_err(|e| e.to_string()),
        _ => Err(format!("step {} has no output `{name}`", key.short())),
    }
}

fn record_summary(ctx: &StepCtx, key: &Key) -> Result<serde_json::Value, String> {
    let record = ctx
        .store
        .get(key)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("input {} is not in the store", key.short()))?;
    match record.outputs.get("summary") {
        Some(Output::Inline { value }) => Ok(value.clone()),
        _ => Ok(serde_json::Value::Null),
    }
}

fn planned_step<'a>(ctx: &'a StepCtx, key: &Key) -> Result<&'a Step, String> {
    ctx.plan
        .steps
        .iter()
        .find(|s| s.key == *key)
        .ok_or_else(|| format!("step {} is not in the plan", key.short()))
}

/// Loads the backbone an `encoder` input names onto `device`.
pub fn load_backbone(ctx: &StepCtx, key: &Key, device: &Device) -> Result<LoadedBackbone, String> {
    let encoder = planned_step(ctx, key)?;
    let summary = record_summary(ctx, key)?;
    let side = summary
        .get("image_side")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| format!("the encoder {} records no image side", key.short()))?
        as usize;
    let params = encoder
        .params
        .get("backbone")
        .and_then(Value::as_map)
        .ok_or("the encoder has no backbone")?;
    let spec = backbone_spec(params, side)?;
    let bytes = record_blob(ctx, key, "backbone")?;
    let backbone = crate::train::bytes::module_from_bytes(spec.try_init(device)?, &bytes)?;
    Ok(LoadedBackbone {
        backbone,
        norm: summary
            .get("normalization")
            .and_then(Normalization::from_json),
    })
}

// ------------------------------------------------------------ steps

/// Extracts frozen-backbone features of a data part (BN in eval mode, no augmentation), or
/// the normalised pixels themselves for `raw_pixels`.
pub fn features(engine: &Engine, step: &Step, ctx: &StepCtx) -> Result<StepOutput, String> {
    let source = decode::features_config(&Params::step(step))?;
    let data = *step.inputs.get("data").ok_or("features need `data`")?;
    let (images, indices) = engine.data(ctx, &data, data_part(step)?)?;
    if indices.is_empty() {
        return Err("the data part has no images".into());
    }
    if source == FeatureSource::RawPixels {
        return raw_pixel_features(&images, indices);
    }
    let encoder = *step
        .inputs
        .get("encoder")
        .ok_or("features need an `encoder`")?;
    // A device without autodiff: BatchNorm uses its running statistics.
    let device = DeviceChoice::Cpu.plain_device()?;
    let loaded = load_backbone(ctx, &encoder, &device)?;
    let norm = loaded
        .norm
        .unwrap_or_else(|| Normalization::of(&images, &indices));
    let dim = loaded.backbone.feature_dim();
    let mut data = Vec::with_capacity(indices.len() * dim);
    for chunk in indices.chunks(EXTRACT_BATCH) {
        if ctx.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Err("interrupted".into());
        }
        let batch: Vec<_> = chunk
            .iter()
            .map(|&i| rgb(&images, i))
            .collect::<Result<_, _>>()?;
        let x = stack(&batch, norm, &device);
        let f = loaded.backbone.forward(x);
        let values: Vec<f32> = f
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| format!("reading features: {e:?}"))?;
        data.extend(values);
    }
    if data.iter().any(|v| !v.is_finite()) {
        return Err("the backbone produced NaN or infinite features".into());
    }
    bank_output(&images, indices, dim, data)
}

/// The output of a features step: the bank of `dim`-wide rows `data` of `indices`, with their labels.
fn bank_output(
    images: &ImageSet,
    indices: Vec<usize>,
    dim: usize,
    data: Vec<f32>,
) -> Result<StepOutput, String> {
    let bank = FeatureBank {
        labels: indices.iter().map(|&i| images.labels[i]).collect(),
        features: Matrix::new(indices.len(), dim, data).map_err(|e| e.to_string())?,
        indices,
    };
    let mut out = StepOutput::default();
    out.metrics.insert("rows".into(), bank.indices.len() as f64);
    out.metrics.insert("dim".into(), dim as f64);
    out.outputs
        .insert("features".into(), OutValue::Bytes(bank.to_bytes()));
    Ok(out)
}

/// `raw_pixels`: each image normalised per channel with the statistics of the part (as the
/// features step normalises for a backbone that stores no normalisation), flattened
/// channel-major (`3 x H x W`, the layout a network reads).
fn raw_pixel_features(images: &ImageSet, indices: Vec<usize>) -> Result<StepOutput, String> {
    let norm = Normalization::of(images, &indices);
    let dim = 3 * images.width as usize * images.height as usize;
    let mut data = vec![0f32; indices.len() * dim];
    for (out, &i) in data.chunks_exact_mut(dim).zip(&indices) {
        normalize_into(&rgb(images, i)?, norm.mean, norm.std, out);
    }
    bank_output(images, indices, dim, data)
}

fn bank(ctx: &StepCtx, step: &Step, input: &str) -> Result<FeatureBank, String> {
    let key = step
        .inputs
        .get(input)
        .ok_or_else(|| format!("`{}` needs `{input}`", step.kind))?;
    FeatureBank::from_bytes(&record_blob(ctx, key, "features")?)
}

/// The labelled subset's dataset indices, when the evaluation uses a fraction of the labels.
pub(super) fn label_subset(ctx: &StepCtx, step: &Step) -> Result<Option<BTreeSet<usize>>, String> {
    let Some(key) = step.inputs.get("labels") else {
        return Ok(None);
    };
    let chosen: Vec<usize> = serde_json::from_slice(&record_blob(ctx, key, "indices")?)
        .map_err(|e| format!("label subset: {e}"))?;
    Ok(Some(chosen.into_iter().collect()))
}

/// Train and test features and labels of a supervised evaluation.
struct Supervised {
    train: Matrix,
    train_labels: Vec<u32>,
    test: Matrix,
    test_labels: Vec<u32>,
    classes: usize,
}

fn supervised(ctx: &StepCtx, step: &Step) -> Result<Supervised, String> {
    let subset = label_subset(ctx, step)?;
    let (train, train_labels) = bank(ctx, step, "train_features")?.labelled(subset.as_ref());
    let (test, test_labels) = bank(ctx, step, "test_features")?.labelled(None);
    if train_labels.is_empty() {
        return Err("the train part has no labelled images".into());
    }
    if test_labels.is_empty() {
        return Err("the test part has no labelled images".into());
    }
    let classes = train_labels
        .iter()
        .chain(&test_labels)
        .max()
        .map_or(0, |&m| m as usize + 1);
    Ok(Supervised {
        train,
        train_labels,
        test,
        test_labels,
        classes,
    })
}

/// Top-1 (and top-5 with more than 5 classes) of test scores, with the row counts.
pub(super) fn accuracy_output(
    scores: &[Vec<f64>],
    labels: &[u32],
    train_rows: usize,
) -> Result<StepOutput, String> {
    let acc = |k| top_k_accuracy(scores, labels, k).map_err(|e| e.to_string());
    let mut out = StepOutput::default();
    out.metrics.insert("top1".into(), acc(1)?);
    // With 5 classes or fewer every label is in the top 5: the metric says nothing.
    if scores.first().map_or(0, Vec::len) > 5 {
        out.metrics.insert("top5".into(), acc(5)?);
    }
    out.metrics.insert("train_rows".into(), train_rows as f64);
    out.metrics.insert("test_rows".into(), labels.len() as f64);
    Ok(out)
}

/// Multinomial logistic regression on frozen features.
pub fn linear_probe(step: &Step, ctx: &StepCtx) -> Result<StepOutput, String> {
    let config = decode::linear_probe_config(&Params::step(step))?;
    let d = supervised(ctx, step)?;
    let l2 = config.l2;
    let solver = match config.solver {
        ProbeSolver::Sgd => Solver::Sgd {
            epochs: config.epochs,
            lr: config.lr,
            batch: config.batch,
            momentum: 0.9,
            weight_decay: l2,
            seed: config.seed,
        },
        ProbeSolver::Lbfgs => {
            // Mean CE + l2/2 |W|^2 is C * sum CE + 1/2 |W|^2 with C = 1 / (n l2).
            let n = d.train_labels.len() as f64;
            Solver::Lbfgs {
                c: if l2 > 0.0 { 1.0 / (n * l2) } else { 1e12 },
                max_iter: 1000,
                tol: 1e-6,
            }
        }
    };
    let params = LinearParams {
        solver,
        standardize: true,
    };
    let model = LinearModel::fit(&d.train, &d.train_labels, d.classes, &params)
        .map_err(|e| e.to_string())?;
    if let Solver::Lbfgs { max_iter, .. } = params.solver
        && !model.info.converged
    {
        crate::notes::clamped(crate::notes::NoteCode::LbfgsNotConverged, max_iter as u64);
    }
    let scores = model.scores(&d.test).map_err(|e| e.to_string())?;
    let mut out = accuracy_output(&scores, &d.test_labels, d.train_labels.len())?;
    let train_scores = model.scores(&d.train).map_err(|e| e.to_string())?;
    out.metrics.insert(
        "train_top1".into(),
        top_k_accuracy(&train_scores, &d.train_labels, 1).map_err(|e| e.to_string())?,
    );
    Ok(out)
}

/// Weighted kNN on frozen features.
pub fn knn(step: &Step, ctx: &StepCtx) -> Result<StepOutput, String> {
    let config = decode::knn_config(&Params::step(step))?;
    let d = supervised(ctx, step)?;
    let asked = config.k;
    let k = asked.clamp(1, d.train_labels.len());
    if k < asked {
        crate::notes::clamped(crate::notes::NoteCode::KnnKClamped, k as u64);
    }
    let params = KnnParams {
        k,
        temperature: config.temperature,
        distance: config.distance,
    };
    let scores = knn_scores(&d.train, &d.train_labels, &d.test, d.classes, &params)
        .map_err(|e| e.to_string())?;
    let mut out = accuracy_output(&scores, &d.test_labels, d.train_labels.len())?;
    out.metrics.insert("k".into(), params.k as f64);
    Ok(out)
}

/// k-means on frozen features, scored against the labels.
pub fn kmeans(step: &Step, ctx: &StepCtx) -> Result<StepOutput, String> {
    let config = decode::kmeans_config(&Params::step(step))?;
    let b = bank(ctx, step, "data_features")?;
    let result = crate::eval::kmeans::kmeans(
        &b.features,
        config.clusters,
        config.restarts,
        config.max_iter,
        config.seed,
    )
    .map_err(|e| e.to_string())?;
    let scored: Vec<usize> = (0..b.labels.len()).filter(|&r| b.labels[r] >= 0).collect();
    let truth: Vec<u32> = scored.iter().map(|&r| b.labels[r] as u32).collect();
    let pred: Vec<u32> = scored.iter().map(|&r| result.labels[r]).collect();
    let mut out = StepOutput::default();
    out.metrics.insert("inertia".into(), result.inertia);
    if !truth.is_empty() {
        let err = |e: crate::eval::EvalError| e.to_string();
        out.metrics
            .insert("nmi".into(), nmi(&truth, &pred).map_err(err)?);
        out.metrics
            .insert("ari".into(), ari(&truth, &pred).map_err(err)?);
        out.metrics.insert(
            "accuracy".into(),
            hungarian_accuracy(&truth, &pred).map_err(err)?,
        );
    }
    out.outputs.insert(
        "clusters".into(),
        OutValue::Bytes(
            serde_json::to_vec(
                &b.indices
                    .iter()
                    .zip(&result.labels)
                    .collect::<BTreeMap<_, _>>(),
            )
            .map_err(|e| e.to_string())?,
        ),
    );
    Ok(out)
}

/// Most points a t-SNE embeds (exact t-SNE is quadratic); larger parts are subsampled.
const TSNE_MAX_POINTS: usize = 2000;

/// t-SNE of frozen features, with its scatter plot.
pub fn tsne(step: &Step, ctx: &StepCtx) -> Result<StepOutput, String> {
    use rand::SeedableRng;
    use rand::seq::index::sample;
    let config = decode::tsne_config(&Params::step(step))?;
    let b = bank(ctx, step, "data_features")?;
    let seed = config.seed;
    let n = b.indices.len();
    let mut rows: Vec<usize> = (0..n).collect();
    if n > TSNE_MAX_POINTS {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        rows = sample(&mut rng, n, TSNE_MAX_POINTS).into_vec();
        crate::notes::clamped(
            crate::notes::NoteCode::TsneSubsampled,
            TSNE_MAX_POINTS as u64,
        );
        rows.sort_unstable();
    }
    let x = b.features.select_rows(&rows);
    let params = crate::eval::tsne::TsneParams {
        perplexity: config.perplexity,
        iterations: config.iterations,
        learning_rate: config.learning_rate,
        seed,
    };
    let result = crate::eval::tsne::tsne(&x, &params).map_err(|e| e.to_string())?;
    let colours: Vec<u32> = match config.color_by {
        ColorBy::Cluster => {
            crate::eval::kmeans::kmeans(&x, config.clusters, 4, 300, seed)
                .map_err(|e| e.to_string())?
                .labels
        }
        ColorBy::Label => rows.iter().map(|&r| b.labels[r].max(0) as u32).collect(),
    };
    let title = format!("t-SNE of {} ({} points)", step.decl, rows.len());
    let figure = crate::report::plot::scatter_2d(&result.points, &colours, &title)
        .map_err(|e| e.to_string())?;
    let mut out = StepOutput::default();
    out.metrics
        .insert("kl_divergence".into(), result.kl_divergence);
    out.metrics.insert("points".into(), rows.len() as f64);
    out.outputs
        .insert("plot.png".into(), OutValue::Bytes(figure.png));
    out.outputs
        .insert("plot.svg".into(), OutValue::Bytes(figure.svg.into_bytes()));
    let points: Vec<serde_json::Value> = rows
        .iter()
        .zip(&result.points)
        .zip(&colours)
        .map(|((&r, p), c)| serde_json::json!({"index": b.indices[r], "x": p[0], "y": p[1], "color": c}))
        .collect();
    out.outputs.insert(
        "points".into(),
        OutValue::Bytes(serde_json::to_vec(&points).map_err(|e| e.to_string())?),
    );
    Ok(out)
}
