//! Evaluation steps: feature extraction with a frozen backbone, then linear
//! probes, kNN, k-means and t-SNE on the stored feature banks, and the
//! segmentation fine-tune. Feature banks are steps of their own, so every
//! evaluation of one backbone on one data part shares a single extraction.

use super::decode::{self, ColorBy, FeatureSource, Params, ProbeSolver};
use super::engine::{Engine, data_part, input, record_blob_ref, stored_output};
use super::error::StepError;
use super::executor::{OutValue, StepCtx, StepOutput};
use super::store::Output;
use super::train_steps::{Normalization, backbone_spec, device_choice, rgb, stack};
use crate::augment::normalize_into;
use crate::data::ImageSet;
use crate::eval::knn::{KnnParams, knn_scores_owned};
use crate::eval::linear::{LinearModel, LinearParams, Solver};
use crate::eval::matrix::Matrix;
use crate::eval::metrics::{ari, hungarian_accuracy, nmi, top_k_accuracy};
use crate::plan::{Key, Step, Value};
use crate::train::backbone::Backbone;
use burn::tensor::Device;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read};

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
/// Bytes of the bank header: magic, rows (u64), dim (u64).
const BANK_HEADER: usize = 24;

/// The stored size of a bank of `n` rows of `dim` features, if it fits in memory at all.
fn bank_size(n: usize, dim: usize) -> Option<usize> {
    BANK_HEADER
        .checked_add(n.checked_mul(12)?)?
        .checked_add(n.checked_mul(dim)?.checked_mul(4)?)
}

/// Builds a feature bank's stored bytes row by row (little-endian: magic, rows, dim, indices
/// as u64, labels as i32, features as f32), so the features are never held twice in memory.
pub struct BankWriter {
    bytes: Vec<u8>,
    rows: usize,
    dim: usize,
    finite: bool,
}

impl BankWriter {
    /// Starts a bank of the given rows (dataset indices and labels) with `dim` features each.
    pub fn new(indices: &[usize], labels: &[i32], dim: usize) -> Result<Self, StepError> {
        let n = indices.len();
        if labels.len() != n {
            return Err(StepError::Inconsistent(format!(
                "{} labels for {n} rows",
                labels.len()
            )));
        }
        let size = bank_size(n, dim).ok_or_else(|| {
            StepError::Inconsistent("the feature bank would not fit in memory".into())
        })?;
        let mut bytes = Vec::with_capacity(size);
        bytes.extend_from_slice(BANK_MAGIC);
        bytes.extend_from_slice(&(n as u64).to_le_bytes());
        bytes.extend_from_slice(&(dim as u64).to_le_bytes());
        for &i in indices {
            bytes.extend_from_slice(&(i as u64).to_le_bytes());
        }
        for &l in labels {
            bytes.extend_from_slice(&l.to_le_bytes());
        }
        Ok(BankWriter {
            bytes,
            rows: n,
            dim,
            finite: true,
        })
    }

    /// Appends features of the next rows (a whole number of `dim`-wide rows).
    pub fn push(&mut self, values: &[f32]) {
        for &v in values {
            self.finite &= v.is_finite();
            self.bytes.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// The stored bytes; an error when rows are missing or a value is NaN or infinite.
    pub fn finish(self) -> Result<Vec<u8>, StepError> {
        if !self.finite {
            return Err(StepError::NonFinite {
                source_: "the backbone",
                output: "features",
            });
        }
        if Some(self.bytes.len()) != bank_size(self.rows, self.dim) {
            return Err(StepError::Inconsistent(format!(
                "the feature bank is incomplete: {} bytes for {} rows of {}",
                self.bytes.len(),
                self.rows,
                self.dim
            )));
        }
        Ok(self.bytes)
    }
}

impl FeatureBank {
    /// Reads a bank of `size` stored bytes from a stream, converting the features in chunks
    /// (peak memory: the bank itself, not its bytes besides).
    pub fn read_from(r: &mut dyn Read, size: u64) -> std::io::Result<FeatureBank> {
        let bad = || std::io::Error::new(ErrorKind::InvalidData, "the feature bank is damaged");
        let mut head = [0u8; BANK_HEADER];
        r.read_exact(&mut head).map_err(|_| bad())?;
        if &head[..8] != BANK_MAGIC {
            return Err(bad());
        }
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&head[at..at + 8]);
            usize::try_from(u64::from_le_bytes(w)).ok()
        };
        let (n, d) = word(8).zip(word(16)).ok_or_else(bad)?;
        // Check the claimed shape against the real size before allocating anything.
        if bank_size(n, d).map(|s| s as u64) != Some(size) {
            return Err(bad());
        }
        let mut indices = Vec::with_capacity(n);
        read_words(r, n, 8, |c| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            indices.push(u64::from_le_bytes(w) as usize);
        })?;
        let mut labels = Vec::with_capacity(n);
        read_words(r, n, 4, |c| {
            labels.push(i32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        })?;
        let mut data = Vec::with_capacity(n * d);
        read_words(r, n * d, 4, |c| {
            data.push(f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        })?;
        Ok(FeatureBank {
            indices,
            labels,
            features: Matrix::new(n, d, data)
                .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e.to_string()))?,
        })
    }

    /// The rows whose dataset index is in `keep` and whose label is known (the bank itself,
    /// without a copy, when that is every row).
    fn labelled(self, keep: Option<&BTreeSet<usize>>) -> (Matrix, Vec<u32>) {
        let rows: Vec<usize> = (0..self.indices.len())
            .filter(|&r| self.labels[r] >= 0 && keep.is_none_or(|k| k.contains(&self.indices[r])))
            .collect();
        let labels = rows.iter().map(|&r| self.labels[r] as u32).collect();
        if rows.len() == self.indices.len() {
            return (self.features, labels);
        }
        (self.features.select_rows(&rows), labels)
    }
}

/// Reads `count` little-endian words of `width` bytes, in chunks, handing each to `take`.
fn read_words(
    r: &mut dyn Read,
    count: usize,
    width: usize,
    mut take: impl FnMut(&[u8]),
) -> std::io::Result<()> {
    let mut buf = vec![0u8; (1 << 16) * width];
    let mut left = count;
    while left > 0 {
        let now = left.min(1 << 16);
        let chunk = &mut buf[..now * width];
        r.read_exact(chunk)?;
        chunk.chunks_exact(width).for_each(&mut take);
        left -= now;
    }
    Ok(())
}

// ------------------------------------------------------------ loading backbones

/// A trained (or freshly initialised) backbone from the store, with how its inputs are normalised.
pub struct LoadedBackbone {
    /// The network.
    pub backbone: Backbone,
    /// Its input normalisation; `None` for random-init baselines (use the data's).
    pub norm: Option<Normalization>,
}

/// The inline `summary` output of an input step (`null` when it has none).
pub(super) fn record_summary(ctx: &StepCtx, key: &Key) -> Result<serde_json::Value, StepError> {
    let record = ctx
        .store
        .get(key)?
        .ok_or(StepError::NotStored { key: *key })?;
    match record.outputs.get("summary") {
        Some(Output::Inline { value }) => Ok(value.clone()),
        _ => Ok(serde_json::Value::Null),
    }
}

fn planned_step<'a>(ctx: &'a StepCtx, key: &Key) -> Result<&'a Step, StepError> {
    ctx.plan
        .steps
        .iter()
        .find(|s| s.key == *key)
        .ok_or(StepError::NotPlanned { key: *key })
}

/// Loads the backbone an `encoder` input names onto `device`.
pub fn load_backbone(
    ctx: &StepCtx,
    key: &Key,
    device: &Device,
) -> Result<LoadedBackbone, StepError> {
    let encoder = planned_step(ctx, key)?;
    let summary = record_summary(ctx, key)?;
    let side = summary
        .get("image_side")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| {
            StepError::bad_input(
                format!("the encoder {}", key.short()),
                "no image side recorded",
            )
        })? as usize;
    let params = encoder
        .params
        .get("backbone")
        .and_then(Value::as_map)
        .ok_or_else(|| {
            StepError::bad_input(format!("the encoder {}", key.short()), "no backbone")
        })?;
    let spec = backbone_spec(params, side)?;
    let backbone = stored_output(ctx, key, "backbone")?
        .module(|| spec.try_init(device).map_err(StepError::from))?;
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
pub fn features(engine: &Engine, step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
    let source = decode::features_config(&Params::step(step))?;
    let data = input(step, "data")?;
    let (images, indices) = engine.data(ctx, &data, data_part(step)?)?;
    if indices.is_empty() {
        return Err(StepError::EmptyPart {
            part: "data".into(),
            what: "images",
        });
    }
    if source == FeatureSource::RawPixels {
        return raw_pixel_features(&images, indices);
    }
    let encoder = input(step, "encoder")?;
    // The run's device (`--device`, else the pipeline's), without autodiff:
    // BatchNorm uses its running statistics.
    let device = device_choice(engine, step)?.plain_device()?;
    let loaded = load_backbone(ctx, &encoder, &device)?;
    let norm = loaded
        .norm
        .unwrap_or_else(|| Normalization::of(&images, &indices));
    let dim = loaded.backbone.feature_dim();
    let mut bank = bank_writer(&images, &indices, dim)?;
    for chunk in indices.chunks(EXTRACT_BATCH) {
        if ctx.cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(StepError::Interrupted);
        }
        let batch: Vec<_> = chunk
            .iter()
            .map(|&i| rgb(&images, i))
            .collect::<Result<_, _>>()?;
        let x = stack(&batch, norm, &device);
        let f = loaded.backbone.forward(x);
        let values: Vec<f32> =
            f.into_data()
                .try_to_vec::<f32>()
                .map_err(|e| StepError::Readback {
                    what: "features",
                    reason: format!("{e:?}"),
                })?;
        if values.len() != chunk.len() * dim {
            return Err(StepError::Inconsistent(format!(
                "the backbone gave {} values for {} images of {dim} features",
                values.len(),
                chunk.len()
            )));
        }
        bank.push(&values);
    }
    bank_output(bank, indices.len(), dim)
}

/// A bank writer for the rows `indices` of `images`, with their labels.
fn bank_writer(images: &ImageSet, indices: &[usize], dim: usize) -> Result<BankWriter, StepError> {
    let labels: Vec<i32> = indices.iter().map(|&i| images.labels[i]).collect();
    BankWriter::new(indices, &labels, dim)
}

/// The output of a features step: the finished bank of `rows` rows of `dim` features.
fn bank_output(bank: BankWriter, rows: usize, dim: usize) -> Result<StepOutput, StepError> {
    let mut out = StepOutput::default();
    out.metrics.insert("rows".into(), rows as f64);
    out.metrics.insert("dim".into(), dim as f64);
    out.outputs
        .insert("features".into(), OutValue::Bytes(bank.finish()?));
    Ok(out)
}

/// `raw_pixels`: each image normalised per channel with the statistics of the part (as the
/// features step normalises for a backbone that stores no normalisation), flattened
/// channel-major (`3 x H x W`, the layout a network reads).
fn raw_pixel_features(images: &ImageSet, indices: Vec<usize>) -> Result<StepOutput, StepError> {
    let norm = Normalization::of(images, &indices);
    let dim = 3 * images.width as usize * images.height as usize;
    let mut bank = bank_writer(images, &indices, dim)?;
    let mut row = vec![0f32; dim];
    for &i in &indices {
        normalize_into(&rgb(images, i)?, norm.mean, norm.std, &mut row);
        bank.push(&row);
    }
    bank_output(bank, indices.len(), dim)
}

fn bank(ctx: &StepCtx, step: &Step, name: &str) -> Result<FeatureBank, StepError> {
    let key = input(step, name)?;
    let blob = record_blob_ref(ctx, &key, "features")?;
    Ok(ctx
        .store
        .read_blob(&blob, |r| FeatureBank::read_from(r, blob.size))?)
}

/// The labelled subset's dataset indices, when the evaluation uses a fraction of the labels.
pub(super) fn label_subset(
    ctx: &StepCtx,
    step: &Step,
) -> Result<Option<BTreeSet<usize>>, StepError> {
    let Some(key) = step.inputs.get("labels") else {
        return Ok(None);
    };
    let chosen: Vec<usize> = stored_output(ctx, key, "indices")?.json()?;
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

fn supervised(ctx: &StepCtx, step: &Step) -> Result<Supervised, StepError> {
    let subset = label_subset(ctx, step)?;
    let (train, train_labels) = bank(ctx, step, "train_features")?.labelled(subset.as_ref());
    let (test, test_labels) = bank(ctx, step, "test_features")?.labelled(None);
    if train_labels.is_empty() {
        return Err(StepError::EmptyPart {
            part: "train".into(),
            what: "labelled images",
        });
    }
    if test_labels.is_empty() {
        return Err(StepError::EmptyPart {
            part: "test".into(),
            what: "labelled images",
        });
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
) -> Result<StepOutput, StepError> {
    let acc = |k| top_k_accuracy(scores, labels, k);
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
pub fn linear_probe(step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
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
    let train_rows = d.train_labels.len();
    let (model, train_scores) =
        LinearModel::fit_scoring_train(d.train, &d.train_labels, d.classes, &params)?;
    if let Solver::Lbfgs { max_iter, .. } = params.solver
        && !model.info.converged
    {
        crate::notes::clamped(crate::notes::NoteCode::LbfgsNotConverged, max_iter as u64);
    }
    let scores = model.scores(&d.test)?;
    let mut out = accuracy_output(&scores, &d.test_labels, train_rows)?;
    out.metrics.insert(
        "train_top1".into(),
        top_k_accuracy(&train_scores, &d.train_labels, 1)?,
    );
    Ok(out)
}

/// Weighted kNN on frozen features.
pub fn knn(step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
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
    let scores = knn_scores_owned(d.train, &d.train_labels, &d.test, d.classes, &params)?;
    let mut out = accuracy_output(&scores, &d.test_labels, d.train_labels.len())?;
    out.metrics.insert("k".into(), params.k as f64);
    Ok(out)
}

/// k-means on frozen features, scored against the labels.
pub fn kmeans(step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
    let config = decode::kmeans_config(&Params::step(step))?;
    let b = bank(ctx, step, "data_features")?;
    let result = crate::eval::kmeans::kmeans(
        &b.features,
        config.clusters,
        config.restarts,
        config.max_iter,
        config.seed,
    )?;
    let scored: Vec<usize> = (0..b.labels.len()).filter(|&r| b.labels[r] >= 0).collect();
    let truth: Vec<u32> = scored.iter().map(|&r| b.labels[r] as u32).collect();
    let pred: Vec<u32> = scored.iter().map(|&r| result.labels[r]).collect();
    let mut out = StepOutput::default();
    out.metrics.insert("inertia".into(), result.inertia);
    if !truth.is_empty() {
        out.metrics.insert("nmi".into(), nmi(&truth, &pred)?);
        out.metrics.insert("ari".into(), ari(&truth, &pred)?);
        out.metrics
            .insert("accuracy".into(), hungarian_accuracy(&truth, &pred)?);
    }
    out.outputs.insert(
        "clusters".into(),
        OutValue::Bytes(serde_json::to_vec(
            &b.indices
                .iter()
                .zip(&result.labels)
                .collect::<BTreeMap<_, _>>(),
        )?),
    );
    Ok(out)
}

/// Most points a t-SNE embeds (exact t-SNE is quadratic); larger parts are subsampled.
const TSNE_MAX_POINTS: usize = 2000;

/// t-SNE of frozen features, with its scatter plot.
pub fn tsne(step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
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
    let result = crate::eval::tsne::tsne(&x, &params)?;
    let colours: Vec<u32> = match config.color_by {
        ColorBy::Cluster => crate::eval::kmeans::kmeans(&x, config.clusters, 4, 300, seed)?.labels,
        ColorBy::Label => rows.iter().map(|&r| b.labels[r].max(0) as u32).collect(),
    };
    let title = format!("t-SNE of {} ({} points)", step.decl, rows.len());
    let figure = crate::report::plot::scatter_2d(&result.points, &colours, &title)?;
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
        OutValue::Bytes(serde_json::to_vec(&points)?),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    impl FeatureBank {
        fn to_bytes(&self) -> Result<Vec<u8>, StepError> {
            let mut w = BankWriter::new(&self.indices, &self.labels, self.features.cols)?;
            w.push(&self.features.data);
            w.finish()
        }

        fn from_bytes(bytes: &[u8]) -> std::io::Result<FeatureBank> {
            Self::read_from(&mut &bytes[..], bytes.len() as u64)
        }
    }

    fn bank() -> FeatureBank {
        FeatureBank {
            indices: vec![4, 0, 7],
            labels: vec![1, -1, 0],
            features: Matrix::new(3, 2, vec![0.5, -1.0, 2.0, 0.0, 1e-3, 3.25]).unwrap(),
        }
    }

    #[test]
    fn banks_round_trip_through_bytes_and_streams() {
        let b = bank();
        let bytes = b.to_bytes().unwrap();
        assert_eq!(FeatureBank::from_bytes(&bytes).unwrap(), b);
        let streamed = FeatureBank::read_from(&mut &bytes[..], bytes.len() as u64).unwrap();
        assert_eq!(streamed, b);
    }

    #[test]
    fn damaged_banks_are_refused_before_allocating() {
        let bytes = bank().to_bytes().unwrap();
        assert!(FeatureBank::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut huge = bytes.clone();
        huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(FeatureBank::from_bytes(&huge).is_err());
        let mut magic = bytes;
        magic[0] = b'X';
        assert!(FeatureBank::from_bytes(&magic).is_err());
    }

    #[test]
    fn the_writer_refuses_missing_rows_and_non_finite_values() {
        let mut w = BankWriter::new(&[0, 1], &[0, 0], 2).unwrap();
        w.push(&[1.0, 2.0]);
        assert!(matches!(w.finish(), Err(StepError::Inconsistent(m)) if m.contains("incomplete")));
        let mut w = BankWriter::new(&[0], &[0], 2).unwrap();
        w.push(&[1.0, f32::NAN]);
        let err = w.finish().unwrap_err();
        assert!(matches!(err, StepError::NonFinite { .. }), "{err}");
        assert!(err.to_string().contains("NaN"), "{err}");
        assert!(BankWriter::new(&[0, 1], &[0], 2).is_err());
    }

    #[test]
    fn a_whole_bank_is_labelled_without_a_copy() {
        let all_labelled = FeatureBank {
            labels: vec![1, 2, 0],
            ..bank()
        };
        let ptr = all_labelled.features.data.as_ptr();
        let (m, labels) = all_labelled.labelled(None);
        assert_eq!((m.data.as_ptr(), labels), (ptr, vec![1, 2, 0]));
        let keep: BTreeSet<usize> = [4, 7].into();
        let (m, labels) = bank().labelled(Some(&keep));
        assert_eq!((m.rows, labels), (2, vec![1, 0]));
    }
}
