//! The pretraining loop: batches of views in, a trained backbone out.
//!
//! Every epoch ends in a checkpoint (student, optimiser, method state and the
//! loss history) handed to a [`CheckpointSink`]; a run that finds one resumes
//! after its epoch. Batches come from a [`BatchSource`] whose randomness is a
//! function of (seed, step, epoch, index, view), so a resumed run computes
//! exactly what an uninterrupted one would have.
//!
//! After every epoch the loop looks at the network without changing it
//! ([`Probes`]): the health of the backbone's features on the views of the
//! epoch's last batch ([`EpochHealth`]: SimSiam's embedding std, Wang &
//! Isola's alignment and uniformity) and, when due, a kNN [`Monitor`]. Both
//! run the backbone in eval mode on a copy without autodiff (BatchNorm uses
//! its running statistics and updates nothing) and draw no randomness, so
//! the trained weights are the same with or without them.

use super::backbone::{Backbone, BackboneSpec};
use super::feed::Feed;
use super::method::{Method, MethodConfig, Progress, Student};
use super::optim::{LrScaling, OptimizerSpec, Schedule};
use super::precision::{Amp, LossScaler, Precision, autocast};
use crate::augment::ImageError;
use crate::eval::{Matrix, health};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// How to train: everything but the data and the method.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSpec {
    /// Passes over the data.
    pub epochs: usize,
    /// Images per batch.
    pub batch: usize,
    /// The optimiser.
    pub optimizer: OptimizerSpec,
    /// The learning-rate schedule.
    pub schedule: Schedule,
    /// How the base rate grows with the batch.
    pub lr_scaling: LrScaling,
    /// Per-parameter gradient-norm clip (the method's own clip applies otherwise).
    pub grad_clip: Option<f64>,
    /// Seed of the weight initialisation.
    pub seed: u64,
    /// Checkpoint every N epochs (the last epoch always).
    pub checkpoint_every: usize,
    /// What convolutions and linear layers compute in (the weights stay f32).
    pub precision: Precision,
}

/// Supplies multi-view batches; the engine implements it over its datasets and policies.
pub trait BatchSource: Sync {
    /// Batches in one epoch.
    fn batches_per_epoch(&self) -> usize;
    /// Source images in one batch (for throughput).
    fn batch_images(&self) -> usize;
    /// The views of batch `index` of `epoch`: one `[B, C, H, W]` array per
    /// view (global views first). Plain data, not tensors: batches are made on
    /// a helper thread ahead of the step ([`super::feed`]) and put on the device
    /// by the training thread, so the backend (and its autodiff graph, whose node
    /// order likely decides the order of gradient sums) is only touched in step order:
    /// making the tensors on the helper thread broke run-to-run determinism.
    fn batch(&self, epoch: usize, index: usize) -> Result<Vec<TensorData>, ImageError>;
}

/// The batches of the global steps `steps` of `source`, made ahead on a thread of `scope`.
pub(crate) fn batch_feed<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    source: &'scope dyn BatchSource,
    steps: std::ops::Range<usize>,
) -> Feed<Result<Vec<TensorData>, ImageError>> {
    let per_epoch = source.batches_per_epoch().max(1);
    Feed::start(scope, steps, move |step| {
        source.batch(step / per_epoch, step % per_epoch)
    })
}

/// The next batch of a [`batch_feed`] as tensors on `device`, made here, on the training
/// thread (see [`BatchSource::batch`]).
pub(crate) fn next_views(
    feed: &mut Feed<Result<Vec<TensorData>, ImageError>>,
    device: &Device,
) -> Result<Vec<Tensor<4>>, TrainError> {
    let views = feed
        .next()
        .ok_or_else(|| TrainError::Failed("the batch maker stopped".into()))?
        .map_err(TrainError::Image)?;
    Ok(views
        .into_iter()
        .map(|data| Tensor::from_data(data, device))
        .collect())
}

/// Where checkpoints are kept between runs (the engine's store).
pub trait CheckpointSink {
    /// The latest checkpoint, if any.
    fn load(&self) -> Option<Vec<u8>>;
    /// Replaces the checkpoint; must be durable when it returns.
    fn save(&self, bytes: &[u8]) -> Result<(), TrainError>;
    /// Where the checkpoint is kept (a file path), for messages.
    fn location(&self) -> String;
}

/// A sink that keeps nothing (tests, benchmarks).
pub struct NoCheckpoints;

impl CheckpointSink for NoCheckpoints {
    fn load(&self) -> Option<Vec<u8>> {
        None
    }
    fn save(&self, _bytes: &[u8]) -> Result<(), TrainError> {
        Ok(())
    }
    fn location(&self) -> String {
        "nowhere (checkpoints are not kept)".into()
    }
}

/// What one finished epoch looked like.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// The epoch, from 1.
    pub epoch: usize,
    /// All epochs.
    pub epochs: usize,
    /// Mean loss over its batches.
    pub loss: f64,
    /// Learning rate at its last step.
    pub lr: f64,
    /// Source images per second.
    pub images_per_sec: f64,
    /// Wall time.
    pub seconds: f64,
    /// Seconds of `seconds` the step spent waiting for its batch (see [`super::feed`]).
    pub data_wait: f64,
    /// Health of the backbone's features on the epoch's last batch, if probed.
    pub health: Option<EpochHealth>,
    /// kNN monitor top-1 after the epoch, if it ran.
    pub monitor_top1: Option<f64>,
}

/// The health of a backbone's features on the two global views of a batch
/// (see [`crate::eval::health`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochHealth {
    /// Width of the features (`d`: a healthy embedding std is about `1/sqrt(d)`).
    pub dim: usize,
    /// Per-dimension std of the L2-normalised features of both views, averaged over dimensions.
    pub embedding_std: f64,
    /// Mean squared distance of the normalised features of the two views of an image.
    pub alignment: f64,
    /// Log mean Gaussian potential over pairs of images (mean of the two views').
    pub uniformity: f64,
}

/// One finished epoch as recorded with the run (checkpoints keep them across a resume).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The epoch, from 1.
    pub epoch: usize,
    /// Mean loss over its batches.
    pub loss: f64,
    /// Learning rate at its last step.
    pub lr: f64,
    /// Feature health on its last batch.
    pub health: Option<EpochHealth>,
    /// kNN monitor top-1, when the monitor ran after it.
    pub monitor_top1: Option<f64>,
}

/// An online kNN monitor: classifies held-out training images by their
/// neighbours among other training images, with the backbone as it is now.
pub trait Monitor {
    /// Whether to run after epoch `epoch` (from 1) of `epochs`.
    fn due(&self, epoch: usize, epochs: usize) -> bool;
    /// The top-1 accuracy of `backbone` (eval mode, no autodiff, on `device`);
    /// `None` when the data cannot say (no labels).
    fn top1(&self, backbone: &Backbone, device: &Device) -> Result<Option<f64>, ProbeError>;
}

/// What the loop looks at after each epoch. Neither changes what is trained.
#[derive(Clone, Copy, Default)]
pub struct Probes<'a> {
    /// Embedding std, alignment and uniformity on the last batch's views.
    pub health: bool,
    /// The kNN monitor, if any.
    pub monitor: Option<&'a dyn Monitor>,
}

/// Rows of each view the health probe looks at (enough for stable figures, a
/// small fraction of an epoch's work).
pub const HEALTH_ROWS: usize = 256;

/// Why a probe of a backbone (health figures, kNN monitor) could not run.
/// Probes only inform: the loop logs the error and trains on.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ProbeError {
    /// The features could not be read back from the device.
    #[error("reading features: {0}")]
    Readback(String),
    /// The figures could not be computed.
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    /// An image of the probe's data is not valid.
    #[error(transparent)]
    Image(#[from] crate::augment::ImageError),
    /// Fewer than two views.
    #[error("the health probe needs two views")]
    TwoViews,
}

/// Backbone features of a batch as a matrix (eval mode, no autodiff).
pub fn features_of(backbone: &Backbone, x: Tensor<4>) -> Result<Matrix, ProbeError> {
    let f = backbone.forward(x.without_autodiff());
    let [rows, cols] = f.dims();
    let data = f
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| ProbeError::Readback(format!("{e:?}")))?;
    Ok(Matrix::new(rows, cols, data)?)
}

/// [`EpochHealth`] of `backbone` (eval mode) on the first two views of a batch.
pub fn view_health(backbone: &Backbone, views: &[Tensor<4>]) -> Result<EpochHealth, ProbeError> {
    if views.len() < 2 {
        return Err(ProbeError::TwoViews);
    }
    let rows = views[0].dims()[0].min(HEALTH_ROWS);
    let x = features_of(backbone, views[0].clone().narrow(0, 0, rows))?;
    let y = features_of(backbone, views[1].clone().narrow(0, 0, rows))?;
    let both = Matrix::new(
        x.rows + y.rows,
        x.cols,
        x.data.iter().chain(&y.data).copied().collect(),
    )?;
    Ok(EpochHealth {
        dim: x.cols,
        embedding_std: health::embedding_std(&both)?,
        alignment: health::alignment(&x, &y)?,
        uniformity: (health::uniformity(&x)? + health::uniformity(&y)?) / 2.0,
    })
}

/// Why training stopped.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainError {
    /// The loss became NaN or infinite.
    NonFinite {
        /// Epoch, from 1.
        epoch: usize,
        /// Batch within the epoch, from 0.
        batch: usize,
        /// The loss value.
        loss: f64,
    },
    /// A batch did not fit the method (too few views or images, mismatched shapes).
    Batch {
        /// Epoch, from 1.
        epoch: usize,
        /// Batch within the epoch, from 0.
        batch: usize,
        /// What did not fit.
        reason: String,
    },
    /// The user interrupted; the last checkpoint stands.
    Interrupted,
    /// An invalid model or method setting.
    Config(super::ConfigError),
    /// A checkpoint that cannot be written or read back: what part, and why.
    Checkpoint {
        /// The part (`checkpoint`, `checkpoint optimiser state`, `saving the optimiser`, ...).
        part: &'static str,
        /// What failed.
        reason: String,
    },
    /// A source image that could not be made into views.
    Image(ImageError),
    /// Module or method state that could not be serialised for a checkpoint.
    State(super::bytes::BytesError),
    /// The stored training checkpoint does not parse.
    CheckpointDamaged,
    /// A stored checkpoint that training cannot resume from: where it is, and why.
    Unresumable {
        /// The checkpoint's file.
        location: String,
        /// What failed.
        reason: Box<TrainError>,
    },
    /// Anything else (bad data, a batch that could not be made, too little data).
    Failed(String),
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::NonFinite { epoch, batch, loss } => write!(
                f,
                "the loss became {loss} at epoch {epoch}, batch {batch}: training diverged \
                 (lower the learning rate, or check the inputs); this arm stops here"
            ),
            TrainError::Batch {
                epoch,
                batch,
                reason,
            } => write!(
                f,
                "batch {batch} of epoch {epoch} does not fit the method: {reason}; this arm stops here"
            ),
            TrainError::Interrupted => write!(f, "interrupted"),
            TrainError::Config(e) => write!(f, "{e}"),
            TrainError::Checkpoint { part, reason } => write!(f, "{part}: {reason}"),
            TrainError::State(e) => write!(f, "{e}"),
            TrainError::Image(e) => write!(f, "{e}"),
            TrainError::CheckpointDamaged => write!(f, "the training checkpoint is damaged"),
            TrainError::Unresumable { location, reason } => write!(
                f,
                "cannot resume from the checkpoint {location}: {reason}; delete that file to \
                 train this step from the start"
            ),
            TrainError::Failed(m) => write!(f, "{m}"),
        }
    }
}

/// `value`, the loss of batch `batch` of epoch `epoch` (from 0), or
/// [`TrainError::NonFinite`] when it is NaN or infinite: a diverged run stops its arm.
pub fn finite_loss(value: f64, epoch: usize, batch: usize) -> Result<f64, TrainError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(TrainError::NonFinite {
            epoch: epoch + 1,
            batch,
            loss: value,
        })
    }
}

impl std::error::Error for TrainError {}

impl From<super::ConfigError> for TrainError {
    fn from(e: super::ConfigError) -> Self {
        TrainError::Config(e)
    }
}

/// The result of training.
pub struct Trained {
    /// The trained student (backbone and heads).
    pub student: Student,
    /// Mean loss per epoch, from epoch 1.
    pub losses: Vec<f64>,
    /// Every epoch's record, from epoch 1 (also those before a resume).
    pub history: Vec<EpochRecord>,
    /// The epoch a checkpoint let training start after, if any.
    pub resumed_after: Option<usize>,
    /// The f16 loss scaler at the end (its scale and the steps it skipped).
    pub loss_scaler: Option<LossScaler>,
}

/// burn seeds one global generator: initialise models one at a time so
/// concurrent steps get the weights their own seed gives.
///
/// Every draw from that generator must happen under this lock, seeded or not (see
/// [`init_lock`]): an unlocked draw (a module built only to have weights loaded into
/// it, a test's random input) can fall between another thread's `device.seed(..)` and
/// that thread's draws, and changes the weights its seed gives.
pub static INIT: Mutex<()> = Mutex::new(());

/// Holds [`INIT`] (a poisoned lock is still a lock): take it around any draw from burn's
/// generator that does not go through [`seeded`], [`init_seeded`] or
/// [`init_backbone_seeded`]. Not reentrant: never call those (or
/// [`super::bytes::module_from_bytes`]) while holding it.
pub fn init_lock() -> MutexGuard<'static, ()> {
    INIT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Draws every lazily initialised parameter now: burn 0.22 initialises a
/// parameter at its first use, from the global generator, which must happen
/// while [`INIT`] is held for the weights to depend on the seed alone.
pub fn materialize<M: Module>(m: &M) {
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    m.visit(&mut Touch);
}

/// Builds a module from `seed`: seeds burn's generator and draws every weight under [`INIT`].
pub fn seeded<M: Module>(device: &Device, seed: u64, build: impl FnOnce() -> M) -> M {
    let _guard = init_lock();
    device.seed(seed);
    let m = build();
    materialize(&m);
    m
}

/// Builds the student and method with weights drawn from `seed`.
pub fn init_seeded(
    config: MethodConfig,
    backbone: &BackboneSpec,
    device: &Device,
    seed: u64,
) -> Result<(Student, Method), super::ConfigError> {
    let _guard = init_lock();
    device.seed(seed);
    let (student, method) = Method::new(config, backbone, device)?;
    materialize(&student);
    Ok((student, method))
}

/// Initialises a bare backbone from `seed` (random-init baselines); an invalid spec (e.g. a
/// ViT patch that does not divide the image side) is an error, not a panic.
pub fn init_backbone_seeded(
    backbone: &BackboneSpec,
    device: &Device,
    seed: u64,
) -> Result<super::backbone::Backbone, super::ConfigError> {
    let _guard = init_lock();
    device.seed(seed);
    let b = backbone.try_init(device)?;
    materialize(&b);
    Ok(b)
}

/// [`init_seeded`] with the weights drawn on the CPU and then moved to `device`: the same seed
/// gives the same weights on every device (each backend's generator draws its own numbers), so
/// a run on a GPU can be compared with the same run on the CPU.
pub fn init_seeded_on_cpu(
    config: MethodConfig,
    backbone: &BackboneSpec,
    device: &Device,
    seed: u64,
) -> Result<(Student, Method), super::ConfigError> {
    let cpu = Device::flex().autodiff();
    let (student, method) = init_seeded(config, backbone, &cpu, seed)?;
    if *device == cpu {
        return Ok((student, method));
    }
    Ok((student.fork(device), method.fork(device)))
}

/// One optimiser step of `method` on the views of batch `batch` at `at`: the loss (an error
/// when the views do not fit or it is not finite), its gradients (less those the method
/// freezes), the optimiser's update at rate `lr` and the method's own update after it. Returns
/// the updated student and the loss. `amp` says what the forward pass computes in; with f16
/// the loss is scaled for the backward pass, and a step whose gradients overflow makes no
/// update (its loss is still returned). The step of [`train`], for whoever needs it alone.
#[allow(clippy::too_many_arguments)]
pub fn train_step(
    student: Student,
    method: &mut Method,
    optim: &mut burn::optim::ModuleOptimizer,
    views: &[Tensor<4>],
    at: Progress,
    batch: usize,
    lr: f64,
    amp: &mut Amp,
) -> Result<(Student, f64), TrainError> {
    let loss =
        autocast(amp.precision, || method.try_loss(&student, views, at)).map_err(|reason| {
            TrainError::Batch {
                epoch: at.epoch + 1,
                batch,
                reason: reason.to_string(),
            }
        })?;
    let value = finite_loss(loss.clone().into_scalar::<f32>() as f64, at.epoch, batch)?;
    let grads = match &mut amp.scaler {
        None => GradientsParams::from_grads(loss.backward(), &student),
        Some(scaler) => {
            let scaled = loss.mul_scalar(scaler.scale).backward();
            let (grads, finite) =
                scaler.unscale(&student, GradientsParams::from_grads(scaled, &student));
            scaler.update(finite);
            if !finite {
                // Overflowed in f16: no update this step (the scale is halved).
                return Ok((student, value));
            }
            grads
        }
    };
    let grads = method.filter_grads(&student, grads, at);
    let student = optim.step(lr, student, grads);
    Ok((method.after_step(student, at), value))
}

/// Trains `config` on `source` per `spec`, resuming from `checkpoints` if they hold an epoch.
#[allow(clippy::too_many_arguments)]
pub fn train(
    spec: &TrainSpec,
    config: MethodConfig,
    backbone: &BackboneSpec,
    source: &dyn BatchSource,
    checkpoints: &dyn CheckpointSink,
    device: &Device,
    cancel: &AtomicBool,
    probes: Probes<'_>,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<Trained, TrainError> {
    let (mut student, mut method) = init_seeded(config, backbone, device, spec.seed)?;
    let clip = spec.grad_clip.or(method.grad_clip());
    let mut optim = spec.optimizer.build(clip);
    let per_epoch = source.batches_per_epoch();
    if per_epoch == 0 {
        return Err(TrainError::Failed(format!(
            "the data has fewer images than one batch ({}); lower `batch`",
            spec.batch
        )));
    }
    let total = per_epoch * spec.epochs;
    let base_lr = spec.lr_scaling.apply(spec.optimizer.base_lr(), spec.batch);
    let mut losses = Vec::new();
    let mut history: Vec<EpochRecord> = Vec::new();
    let mut start = 0;
    let mut resumed_after = None;
    let mut amp = Amp::new(spec.precision);
    if let Some(bytes) = checkpoints.load() {
        let unresumable = |e: TrainError| TrainError::Unresumable {
            location: checkpoints.location(),
            reason: Box::new(e),
        };
        let ck = Checkpoint::decode(&bytes).map_err(unresumable)?;
        student = super::bytes::module_from_bytes(student, &ck.student).map_err(|e| {
            unresumable(TrainError::Checkpoint {
                part: "checkpoint",
                reason: e.to_string(),
            })
        })?;
        optim = optim
            .from_bytes(burn::tensor::Bytes::from_bytes_vec(ck.optimizer))
            .map_err(|e| {
                unresumable(TrainError::Checkpoint {
                    part: "checkpoint optimiser state",
                    reason: format!("{e:?}"),
                })
            })?;
        method.load_state(&ck.method).map_err(|e| {
            unresumable(TrainError::Checkpoint {
                part: "checkpoint method state",
                reason: e.to_string(),
            })
        })?;
        history = ck.history;
        if history.len() != ck.losses.len() {
            // A checkpoint written before epochs were recorded: keep what it knows.
            history = (ck.losses.iter().enumerate())
                .map(|(i, &loss)| EpochRecord {
                    epoch: i + 1,
                    loss,
                    lr: spec
                        .schedule
                        .lr_at(base_lr, (i + 1) * per_epoch - 1, per_epoch, total),
                    health: None,
                    monitor_top1: None,
                })
                .collect();
        }
        if amp.scaler.is_some() {
            amp.scaler = ck.loss_scaler;
            if amp.scaler.is_none() {
                return Err(unresumable(TrainError::Checkpoint {
                    part: "checkpoint loss scaler",
                    reason: "an f16 run's checkpoint without its loss scale".into(),
                }));
            }
        }
        losses = ck.losses;
        start = ck.epoch;
        resumed_after = Some(ck.epoch);
    }
    // Batches are made ahead, on a helper thread, in step order.
    std::thread::scope(|scope| {
        let mut feed = batch_feed(scope, source, start * per_epoch..total);
        for epoch in start..spec.epochs {
            let began = Instant::now();
            let mut sum = 0.0;
            let mut lr = base_lr;
            let mut last_views = None;
            for b in 0..per_epoch {
                if cancel.load(Ordering::Relaxed) {
                    return Err(TrainError::Interrupted);
                }
                let step = epoch * per_epoch + b;
                let at = Progress {
                    epoch,
                    epochs: spec.epochs,
                    step,
                    total_steps: total,
                };
                lr = spec.schedule.lr_at(base_lr, step, per_epoch, total);
                let views = next_views(&mut feed, device)?;
                let value;
                (student, value) = train_step(
                    student,
                    &mut method,
                    &mut optim,
                    &views,
                    at,
                    b,
                    lr,
                    &mut amp,
                )?;
                sum += value;
                if b + 1 == per_epoch {
                    last_views = Some(views);
                }
            }
            let seconds = began.elapsed().as_secs_f64();
            let data_wait = feed.take_waited().as_secs_f64();
            let mean = sum / per_epoch as f64;
            losses.push(mean);
            let (health, monitor_top1) =
                probe(&student, last_views, probes, epoch + 1, spec.epochs, device);
            history.push(EpochRecord {
                epoch: epoch + 1,
                loss: mean,
                lr,
                health: health.clone(),
                monitor_top1,
            });
            on_epoch(&EpochReport {
                epoch: epoch + 1,
                epochs: spec.epochs,
                loss: mean,
                lr,
                images_per_sec: (per_epoch * source.batch_images()) as f64 / seconds.max(1e-9),
                seconds,
                data_wait,
                health,
                monitor_top1,
            });
            let last = epoch + 1 == spec.epochs;
            if !last && (epoch + 1) % spec.checkpoint_every.max(1) == 0 {
                let ck = Checkpoint {
                    epoch: epoch + 1,
                    losses: losses.clone(),
                    history: history.clone(),
                    student: super::bytes::module_to_bytes(&student).map_err(TrainError::State)?,
                    optimizer: optim
                        .into_bytes()
                        .map_err(|e| TrainError::Checkpoint {
                            part: "saving the optimiser",
                            reason: format!("{e:?}"),
                        })?
                        .to_vec(),
                    method: method.save_state().map_err(TrainError::State)?,
                    loss_scaler: amp.scaler.clone(),
                };
                checkpoints.save(&ck.encode())?;
            }
        }
        Ok(Trained {
            student,
            losses,
            history,
            resumed_after,
            loss_scaler: amp.scaler,
        })
    })
}

/// Runs the probes after epoch `epoch` (from 1) on an eval-mode copy of the
/// backbone. A probe that fails records nothing: it must never stop training.
fn probe(
    student: &Student,
    last_views: Option<Vec<Tensor<4>>>,
    probes: Probes<'_>,
    epoch: usize,
    epochs: usize,
    device: &Device,
) -> (Option<EpochHealth>, Option<f64>) {
    let monitor = probes.monitor.filter(|m| m.due(epoch, epochs));
    if !probes.health && monitor.is_none() {
        return (None, None);
    }
    // `valid()`: a copy without autodiff and with its own BatchNorm buffers,
    // which eval-mode forwards only read.
    let backbone = student.backbone.valid();
    let health = match last_views {
        Some(views) if probes.health => view_health(&backbone, &views)
            .map_err(|e| tracing::warn!("epoch {epoch}: no health figures: {e}"))
            .ok(),
        _ => None,
    };
    let top1 = monitor.and_then(|m| {
        m.top1(&backbone, &device.clone().without_autodiff())
            .map_err(|e| tracing::warn!("epoch {epoch}: the kNN monitor failed: {e}"))
            .ok()
            .flatten()
    });
    (health, top1)
}

/// Everything needed to continue after an epoch.
struct Checkpoint {
    epoch: usize,
    losses: Vec<f64>,
    history: Vec<EpochRecord>,
    student: Vec<u8>,
    optimizer: Vec<u8>,
    method: Vec<u8>,
    /// The f16 loss scaler (none in f32 and bf16 runs).
    loss_scaler: Option<LossScaler>,
}

const MAGIC: &[u8; 8] = b"SSLPCKP1";

impl Checkpoint {
    /// `MAGIC`, a JSON header (epoch, losses, part lengths) with its length, then the parts.
    fn encode(&self) -> Vec<u8> {
        let header = serde_json::json!({
            "epoch": self.epoch,
            "losses": self.losses,
            "history": self.history,
            "parts": [self.student.len(), self.optimizer.len(), self.method.len()],
            "loss_scaler": self.loss_scaler,
        })
        .to_string();
        let mut out = Vec::with_capacity(
            16 + header.len() + self.student.len() + self.optimizer.len() + self.method.len(),
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&self.student);
        out.extend_from_slice(&self.optimizer);
        out.extend_from_slice(&self.method);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Checkpoint, TrainError> {
        let bad = || TrainError::CheckpointDamaged;
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(bad());
        }
        let n = u64::from_le_bytes(bytes[8..16].try_into().map_err(|_| bad())?) as usize;
        let header: serde_json::Value =
            serde_json::from_slice(bytes.get(16..16 + n).ok_or_else(bad)?).map_err(|_| bad())?;
        let parts: Vec<usize> =
            serde_json::from_value(header["parts"].clone()).map_err(|_| bad())?;
        if parts.len() != 3 {
            return Err(bad());
        }
        let mut at = 16 + n;
        let mut take = |len: usize| -> Result<Vec<u8>, TrainError> {
            let part = bytes.get(at..at + len).ok_or_else(bad)?.to_vec();
            at += len;
            Ok(part)
        };
        Ok(Checkpoint {
            epoch: header["epoch"].as_u64().ok_or_else(bad)? as usize,
            losses: serde_json::from_value(header["losses"].clone()).map_err(|_| bad())?,
            history: match header.get("history") {
                None => Vec::new(),
                Some(h) => serde_json::from_value(h.clone()).map_err(|_| bad())?,
            },
            student: take(parts[0])?,
            optimizer: take(parts[1])?,
            method: take(parts[2])?,
            loss_scaler: match header.get("loss_scaler") {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(serde_json::from_value(v.clone()).map_err(|_| bad())?),
            },
        })
    }
}

/// The number of trainable scalars in a module.
pub fn parameter_count<M: Module>(m: &M) -> usize {
    m.num_params()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trips_and_rejects_damage() {
        let ck = Checkpoint {
            epoch: 3,
            losses: vec![1.0, 0.5, 0.25],
            history: vec![EpochRecord {
                epoch: 1,
                loss: 1.0,
                lr: 0.1,
                health: Some(EpochHealth {
                    dim: 8,
                    embedding_std: 0.3,
                    alignment: 0.5,
                    uniformity: -2.0,
                }),
                monitor_top1: Some(0.75),
            }],
            student: vec![1, 2, 3],
            optimizer: vec![],
            method: vec![9; 10],
            loss_scaler: Some(LossScaler {
                scale: 1024.0,
                good_steps: 7,
                skipped: 2,
            }),
        };
        let bytes = ck.encode();
        let back = Checkpoint::decode(&bytes).unwrap();
        assert_eq!(back.epoch, 3);
        assert_eq!(back.losses, vec![1.0, 0.5, 0.25]);
        assert_eq!(back.history, ck.history);
        assert_eq!(back.student, vec![1, 2, 3]);
        assert_eq!(back.method, vec![9; 10]);
        assert_eq!(back.loss_scaler, ck.loss_scaler);
        assert!(matches!(
            Checkpoint::decode(&bytes[..bytes.len() - 1]),
            Err(TrainError::CheckpointDamaged)
        ));
        assert!(matches!(
            Checkpoint::decode(b"garbage"),
            Err(TrainError::CheckpointDamaged)
        ));
    }

    /// A tiny SimCLR student, its method, an SGD optimiser and two views of a random batch.
    fn tiny_step_inputs() -> (
        Student,
        Method,
        burn::optim::ModuleOptimizer,
        Vec<Tensor<4>>,
    ) {
        let device = Device::flex().autodiff();
        let (student, method) = init_seeded(
            MethodConfig::SimClr {
                temperature: 0.5,
                proj_hidden: 16,
                proj_dim: 8,
                proj_layers: 2,
            },
            &BackboneSpec::TinyConvNet { width: 4, depth: 2 },
            &device,
            1,
        )
        .unwrap();
        let optim = OptimizerSpec::Sgd {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.0,
            nesterov: false,
            exclude_bias_bn: false,
        }
        .build(None);
        let views = (0..2)
            .map(|v| {
                let _rng = init_lock();
                device.seed(10 + v);
                Tensor::<4>::random(
                    [8, 3, 8, 8],
                    burn::tensor::Distribution::Normal(0.0, 1.0),
                    &device,
                )
            })
            .collect();
        (student, method, optim, views)
    }

    fn at() -> Progress {
        Progress {
            epoch: 0,
            epochs: 1,
            step: 0,
            total_steps: 1,
        }
    }

    /// The projector's output weights (a parameter the optimiser updates; BatchNorm's
    /// running statistics change in any forward pass, stepped or not).
    fn head_weights(student: &Student) -> Vec<f32> {
        let head = student.projector.as_ref().expect("SimCLR has a projector");
        head.last
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    }

    /// An f16 step whose scaled gradients overflow changes no weight, halves the scale and
    /// counts the skip; with a normal scale the same step updates the weights.
    #[test]
    fn an_overflowing_f16_step_is_skipped_and_halves_the_scale() {
        let (student, mut method, mut optim, views) = tiny_step_inputs();
        let before = head_weights(&student);
        let mut amp = Amp::new(Precision::F16);
        let huge = f64::from(f32::MAX);
        amp.scaler.as_mut().unwrap().scale = huge;
        let (student, loss) = train_step(
            student,
            &mut method,
            &mut optim,
            &views,
            at(),
            0,
            0.1,
            &mut amp,
        )
        .unwrap();
        assert!(loss.is_finite());
        let scaler = amp.scaler.clone().unwrap();
        assert_eq!((scaler.scale, scaler.skipped), (huge / 2.0, 1));
        assert!(
            head_weights(&student) == before,
            "a skipped step changed the weights"
        );

        let mut amp = Amp::new(Precision::F16);
        let (student, _) = train_step(
            student,
            &mut method,
            &mut optim,
            &views,
            at(),
            0,
            0.1,
            &mut amp,
        )
        .unwrap();
        assert_eq!(amp.scaler.unwrap().skipped, 0);
        assert!(
            head_weights(&student) != before,
            "a good step left the weights"
        );
    }

    /// The first loss of a step in f16 or bf16 is the f32 loss to the format's precision.
    #[test]
    fn reduced_precision_losses_track_f32() {
        let mut losses = vec![];
        for precision in [Precision::F32, Precision::F16, Precision::Bf16] {
            let (student, mut method, mut optim, views) = tiny_step_inputs();
            let (_, loss) = train_step(
                student,
                &mut method,
                &mut optim,
                &views,
                at(),
                0,
                0.1,
                &mut Amp::new(precision),
            )
            .unwrap();
            losses.push(loss);
        }
        assert!(
            (losses[1] - losses[0]).abs() <= 1e-2 * losses[0],
            "{losses:?}"
        );
        assert!(
            (losses[2] - losses[0]).abs() <= 5e-2 * losses[0],
            "{losses:?}"
        );
    }
}
