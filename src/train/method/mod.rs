//! SSL methods behind one front: build the student (backbone + heads), compute the loss on a
//! batch of views, drop gradients of frozen parameters, and advance the non-optimiser state
//! (EMA teacher, queues, DINO centre) after each optimiser step. One file per method.

mod barlow_twins;
mod byol;
mod config;
mod dino;
mod moco;
mod simclr;
mod simsiam;
mod swav;

pub use config::{MethodConfig, MocoVersion, UnknownMocoVersion};

/// Why views cannot make a training loss: they do not fit the method, or
/// the method lacks state it should have built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ViewsError {
    /// Fewer than the two global views.
    #[error("{method} needs at least 2 views, got {got}")]
    TooFewViews {
        /// The method.
        method: &'static str,
        /// Views given.
        got: usize,
    },
    /// A batch of one image.
    #[error("{method} needs a batch of at least 2")]
    BatchTooSmall {
        /// The method.
        method: &'static str,
    },
    /// Views with different batch sizes.
    #[error("all views must have the same batch size")]
    UnequalBatches,
    /// Global views of different shapes.
    #[error("the two global views must have the same shape")]
    GlobalShapes,
    /// A teacher, centre or prototypes the method should have made.
    #[error("{method}: missing {part}")]
    MissingState {
        /// The method.
        method: &'static str,
        /// What is missing.
        part: &'static str,
    },
}

fn malformed(message: impl Into<String>) -> BytesError {
    BytesError::Malformed(message.into())
}

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};

use super::ConfigError;
use super::backbone::{Backbone, BackboneSpec};
use super::bytes::BytesError;
use super::bytes::{
    Sections, module_from_bytes, module_to_bytes, tensor_from_bytes, tensor_to_bytes,
};
use super::ema::ema_update;
use super::heads::{DinoHead, Mlp, MlpConfig, Prototypes};

/// Where training is: drives schedules (EMA momentum, teacher temperature) and freezes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Current epoch, 0-based.
    pub epoch: usize,
    /// Total epochs of the run.
    pub epochs: usize,
    /// Global optimiser step, 0-based.
    pub step: usize,
    /// Total optimiser steps of the run.
    pub total_steps: usize,
}

/// The trainable network of a method: backbone plus the method's heads.
#[derive(Module, Debug)]
pub struct Student {
    /// Feature extractor.
    pub backbone: Backbone,
    /// Projection MLP (all methods but DINO).
    pub projector: Option<Mlp>,
    /// Prediction MLP (SimSiam, BYOL, MoCo v3).
    pub predictor: Option<Mlp>,
    /// SwAV prototypes.
    pub prototypes: Option<Prototypes>,
    /// DINO head.
    pub dino_head: Option<DinoHead>,
}

impl Student {
    /// Backbone then projector (or DINO head) of one batch: the method's embedding.
    pub fn embed(&self, x: Tensor<4>) -> Tensor<2> {
        let h = self.backbone.forward(x);
        match (&self.projector, &self.dino_head) {
            (Some(p), _) => p.forward(h),
            (None, Some(d)) => d.forward(h),
            (None, None) => h,
        }
    }

    /// The predictor applied to an embedding, or the embedding itself without one.
    pub fn predict(&self, z: Tensor<2>) -> Tensor<2> {
        match &self.predictor {
            Some(p) => p.forward(z),
            None => z,
        }
    }
}

/// Non-optimiser state of a method and its loss/update logic (see the module doc).
pub struct Method {
    config: MethodConfig,
    device: Device,
    /// EMA teacher (MoCo, BYOL, DINO): backbone + projector/DINO head, no gradients.
    teacher: Option<Student>,
    /// MoCo key queues (one per view when symmetric) or SwAV feature queues (one per global crop).
    queues: Vec<Tensor<2>>,
    /// Next write row of the queues.
    queue_ptr: usize,
    /// Rows written so far (SwAV uses the queue once it is full), capped at the queue length.
    queue_filled: usize,
    /// DINO centre `[out_dim]`.
    center: Option<Tensor<1>>,
    /// Rows for each queue, from the last `loss` call, enqueued by `after_step`.
    pending_queue: Vec<Tensor<2>>,
    /// DINO centre after the last `loss` call, adopted by `after_step`.
    pending_center: Option<Tensor<1>>,
}

/// FIFO write of `keys` into a circular `queue` at `ptr` (MoCo §3.1); returns `(queue, next_ptr)`.
/// More keys than slots keep only the newest; writes wrap around the end.
pub fn enqueue(queue: Tensor<2>, ptr: usize, keys: Tensor<2>) -> (Tensor<2>, usize) {
    let [k, d] = queue.dims();
    let [b, _] = keys.dims();
    if k == 0 || b == 0 {
        return (queue, ptr);
    }
    let (keys, b) = if b > k {
        (keys.narrow(0, b - k, k), k)
    } else {
        (keys, b)
    };
    let keys = keys.detach();
    let ptr = ptr % k;
    let first = b.min(k - ptr);
    let mut queue = queue
        .detach()
        .slice_assign([ptr..ptr + first, 0..d], keys.clone().narrow(0, 0, first));
    if first < b {
        queue = queue.slice_assign([0..b - first, 0..d], keys.narrow(0, first, b - first));
    }
    (queue, (ptr + b) % k)
}

/// Runs `f` on each view, batching consecutive views of equal shape into one call (the
/// multi-crop wrapper of SwAV/DINO), and returns one output per view in order.
fn forward_grouped(views: &[Tensor<4>], f: impl Fn(Tensor<4>) -> Tensor<2>) -> Vec<Tensor<2>> {
    let mut out = Vec::with_capacity(views.len());
    let mut i = 0;
    while i < views.len() {
        let dims = views[i].dims();
        let mut j = i + 1;
        while j < views.len() && views[j].dims() == dims {
            j += 1;
        }
        let b = dims[0];
        let y = if j - i == 1 {
            f(views[i].clone())
        } else {
            f(Tensor::cat(views[i..j].to_vec(), 0))
        };
        for g in 0..j - i {
            out.push(y.clone().narrow(0, g * b, b));
        }
        i = j;
    }
    out
}

/// Forces lazily initialised parameters to be drawn (burn.md §6.1: before any clone).
fn materialize<M: Module>(m: &M) {
    struct V;
    impl ModuleVisitor for V {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    m.visit(&mut V);
}

/// Removes the gradients of every float parameter of a module.
fn drop_grads<M: Module>(m: &M, grads: &mut GradientsParams) {
    struct V<'a> {
        grads: &'a mut GradientsParams,
    }
    impl ModuleVisitor for V<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = self.grads.remove::<D>(param.id);
        }
    }
    m.visit(&mut V { grads });
}

/// A deep, gradient-free copy of the student's backbone and projector/DINO head: the EMA
/// teacher. `valid()` gives it its own BatchNorm running-stat buffers (clones share them) and
/// `train()` puts it back in train-mode BN on the autodiff device.
fn make_teacher(student: &Student, device: &Device) -> Student {
    let copy = deep_copy(student, device).no_grad();
    Student {
        backbone: copy.backbone,
        projector: copy.projector,
        predictor: None,
        prototypes: None,
        dino_head: copy.dino_head,
    }
}

/// A copy with its own BatchNorm running-stat buffers (plain clones share them), same
/// gradient settings and training flags.
fn deep_copy(m: &Student, device: &Device) -> Student {
    if device.is_autodiff() {
        m.valid().train()
    } else {
        m.valid()
    }
}

/// EMA of each teacher component towards the student's (`τ·teacher + (1−τ)·student`).
fn ema_teacher(teacher: Student, student: &Student, tau: f64) -> Student {
    let pair = |t: Option<Mlp>, s: &Option<Mlp>| match (t, s) {
        (Some(t), Some(s)) => Some(ema_update(t, s, tau)),
        (t, _) => t,
    };
    Student {
        backbone: ema_update(teacher.backbone, &student.backbone, tau),
        projector: pair(teacher.projector, &student.projector),
        predictor: None,
        prototypes: None,
        dino_head: match (teacher.dino_head, &student.dino_head) {
            (Some(t), Some(s)) => Some(ema_update(t, s, tau)),
            (t, _) => t,
        },
    }
}

/// Random unit-norm rows `[k, d]` (MoCo's initial queue: `randn` normalised).
fn random_unit_rows(k: usize, d: usize, device: &Device) -> Tensor<2> {
    let x = Tensor::<2>::random([k, d], burn::tensor::Distribution::Normal(0.0, 1.0), device);
    super::loss::l2_normalize(x, 1e-12)
}

impl Method {
    /// Validates `config`, builds the student on `device` (the autodiff device for training)
    /// and the method state (teacher, queues, centre).
    pub fn new(
        config: MethodConfig,
        backbone: &BackboneSpec,
        device: &Device,
    ) -> Result<(Student, Method), ConfigError> {
        config.validate()?;
        let feat = backbone.feature_dim();
        let backbone = backbone.try_init(device)?;
        let mut student = Student {
            backbone,
            projector: None,
            predictor: None,
            prototypes: None,
            dino_head: None,
        };
        let mut method = Method {
            config: config.clone(),
            device: device.clone(),
            teacher: None,
            queues: Vec::new(),
            queue_ptr: 0,
            queue_filled: 0,
            center: None,
            pending_queue: Vec::new(),
            pending_center: None,
        };
        let mlp = |input, hidden, output, layers, hidden_bn, last_bn| {
            MlpConfig {
                input,
                hidden,
                output,
                layers,
                hidden_bn,
                last_bn,
            }
            .init(device)
        };
        let mut wants_teacher = false;
        match config {
            MethodConfig::SimClr {
                proj_hidden,
                proj_dim,
                proj_layers,
                ..
            } => {
                student.projector = Some(simclr::projector(
                    feat,
                    proj_hidden,
                    proj_dim,
                    proj_layers,
                    device,
                )?);
            }
            MethodConfig::Moco {
                version,
                queue,
                proj_hidden,
                proj_dim,
                pred_hidden,
                symmetric,
                ..
            } => {
                wants_teacher = true;
                match version {
                    MocoVersion::V2 => {
                        // MoCo v2 head: 2-layer MLP, no BN (Chen et al. 2020b, §2).
                        student.projector =
                            Some(mlp(feat, proj_hidden, proj_dim, 2, false, false)?);
                        let n = if symmetric { 2 } else { 1 };
                        method.queues = (0..n)
                            .map(|_| random_unit_rows(queue, proj_dim, device))
                            .collect();
                    }
                    MocoVersion::V3 => {
                        // MoCo v3 ResNet heads: projector 2 layers + last BN w/o affine,
                        // predictor 2 layers (Chen et al. 2021, §4 and `_build_mlp`).
                        student.projector = Some(mlp(feat, proj_hidden, proj_dim, 2, true, true)?);
                        student.predictor =
                            Some(mlp(proj_dim, pred_hidden, proj_dim, 2, true, false)?);
                    }
                }
            }
            MethodConfig::SimSiam {
                proj_hidden,
                proj_dim,
                proj_layers,
                pred_hidden,
            } => {
                let (p, q) = simsiam::heads(
                    feat,
                    proj_hidden,
                    proj_dim,
                    proj_layers,
                    pred_hidden,
                    device,
                )?;
                student.projector = Some(p);
                student.predictor = Some(q);
            }
            MethodConfig::Byol {
                proj_hidden,
                proj_dim,
                pred_hidden,
                ..
            } => {
                wants_teacher = true;
                let (p, q) = byol::heads(feat, proj_hidden, proj_dim, pred_hidden, device)?;
                student.projector = Some(p);
                student.predictor = Some(q);
            }
            MethodConfig::Swav {
                prototypes,
                queue,
                proj_hidden,
                proj_dim,
                ..
            } => {
                let (p, c) = swav::heads(feat, proj_hidden, proj_dim, prototypes, device)?;
                student.projector = Some(p);
                student.prototypes = Some(c);
                if queue > 0 {
                    method.queues = (0..2)
                        .map(|_| Tensor::zeros([queue, proj_dim], device))
                        .collect();
                }
            }
            MethodConfig::BarlowTwins {
                proj_hidden,
                proj_dim,
                proj_layers,
                ..
            } => {
                student.projector = Some(barlow_twins::projector(
                    feat,
                    proj_hidden,
                    proj_dim,
                    proj_layers,
                    device,
                )?);
            }
            MethodConfig::Dino {
                out_dim,
                hidden,
                bottleneck,
                norm_last_layer,
                ..
            } => {
                wants_teacher = true;
                student.dino_head = Some(dino::head(
                    feat,
                    hidden,
                    bottleneck,
                    out_dim,
                    norm_last_layer,
                    device,
                )?);
                method.center = Some(Tensor::zeros([out_dim], device));
            }
        }
        materialize(&student);
        if wants_teacher {
            method.teacher = Some(make_teacher(&student, device));
        }
        Ok((student, method))
    }

    /// The same state on `device` (the teacher with its own autodiff graph there, the queues
    /// and the centre moved), for a student forked to `device` alongside.
    pub fn fork(self, device: &Device) -> Method {
        Method {
            config: self.config,
            device: device.clone(),
            teacher: self.teacher.map(|t| t.fork(device)),
            queues: self
                .queues
                .into_iter()
                .map(|q| q.to_device(device))
                .collect(),
            queue_ptr: self.queue_ptr,
            queue_filled: self.queue_filled,
            center: self.center.map(|c| c.to_device(device)),
            pending_queue: self
                .pending_queue
                .into_iter()
                .map(|q| q.to_device(device))
                .collect(),
            pending_center: self.pending_center.map(|c| c.to_device(device)),
        }
    }

    /// The configuration this method was built with.
    pub fn config(&self) -> &MethodConfig {
        &self.config
    }

    /// The EMA teacher, for methods that have one (MoCo, BYOL, DINO).
    pub fn teacher(&self) -> Option<&Student> {
        self.teacher.as_ref()
    }

    /// The DINO centre, if any.
    pub fn center(&self) -> Option<&Tensor<1>> {
        self.center.as_ref()
    }

    /// The queues (MoCo keys per view, SwAV features per global crop) and the write pointer.
    pub fn queues(&self) -> (&[Tensor<2>], usize) {
        (&self.queues, self.queue_ptr)
    }

    /// EMA momentum τ used by `after_step` at `at`, for teacher methods.
    pub fn momentum(&self, at: Progress) -> Option<f64> {
        let (start, end) = match self.config {
            MethodConfig::Moco {
                momentum,
                momentum_end,
                ..
            } => (momentum, momentum_end),
            MethodConfig::Byol {
                tau_base, tau_end, ..
            }
            | MethodConfig::Dino {
                tau_base, tau_end, ..
            } => (tau_base, tau_end),
            _ => return None,
        };
        Some(super::ema::cosine_momentum(
            at.step,
            at.total_steps,
            start,
            end,
        ))
    }

    /// `(global, local)` views the loss expects: 2 global; SwAV/DINO accept any number of local
    /// crops after them, other methods ignore extra views.
    pub fn check_views(&self, views: &[Tensor<4>]) -> Result<(), ViewsError> {
        if views.len() < 2 {
            return Err(ViewsError::TooFewViews {
                method: self.config.name(),
                got: views.len(),
            });
        }
        let b = views[0].dims()[0];
        if b < 2 {
            return Err(ViewsError::BatchTooSmall {
                method: self.config.name(),
            });
        }
        if views.iter().any(|v| v.dims()[0] != b) {
            return Err(ViewsError::UnequalBatches);
        }
        if views[1].dims() != views[0].dims() {
            return Err(ViewsError::GlobalShapes);
        }
        Ok(())
    }

    /// The training loss on `views` (2 global first, then local crops) at `at`, or an error
    /// when the views do not fit ([`Method::check_views`]): never a panic. Records what
    /// `after_step` needs (keys to enqueue, DINO centre); teacher outputs are detached.
    pub fn try_loss(
        &mut self,
        student: &Student,
        views: &[Tensor<4>],
        at: Progress,
    ) -> Result<Tensor<1>, ViewsError> {
        self.check_views(views)?;
        self.pending_queue.clear();
        self.pending_center = None;
        let loss = match self.config.clone() {
            MethodConfig::SimClr { temperature, .. } => simclr::loss(student, views, temperature),
            MethodConfig::Moco {
                version,
                temperature,
                symmetric,
                ..
            } => {
                let teacher = self.teacher.as_ref().ok_or(ViewsError::MissingState {
                    method: "moco",
                    part: "teacher",
                })?;
                match version {
                    MocoVersion::V2 => {
                        let (loss, pending) = moco::loss_v2(
                            student,
                            teacher,
                            views,
                            &self.queues,
                            temperature,
                            symmetric,
                        );
                        self.pending_queue = pending;
                        loss
                    }
                    MocoVersion::V3 => moco::loss_v3(student, teacher, views, temperature),
                }
            }
            MethodConfig::SimSiam { .. } => simsiam::loss(student, views),
            MethodConfig::Byol { .. } => {
                let teacher = self.teacher.as_ref().ok_or(ViewsError::MissingState {
                    method: "byol",
                    part: "teacher",
                })?;
                byol::loss(student, teacher, views)
            }
            MethodConfig::Swav {
                temperature,
                sinkhorn_iters,
                epsilon,
                queue,
                queue_start_epoch,
                ..
            } => {
                let use_queue = queue > 0
                    && at.epoch >= queue_start_epoch
                    && self.queue_filled >= queue
                    && self.queues.len() == 2;
                let queues = if use_queue {
                    Some(&self.queues[..])
                } else {
                    None
                };
                let (loss, embeddings) =
                    swav::loss(student, views, queues, temperature, sinkhorn_iters, epsilon)?;
                if queue > 0 && at.epoch >= queue_start_epoch {
                    self.pending_queue = embeddings;
                }
                loss
            }
            MethodConfig::BarlowTwins {
                lambda, scale_loss, ..
            } => barlow_twins::loss(student, views, lambda, scale_loss),
            MethodConfig::Dino {
                student_temp,
                teacher_temp_start,
                teacher_temp,
                teacher_temp_warmup_epochs,
                center_momentum,
                ..
            } => {
                let teacher = self.teacher.as_ref().ok_or(ViewsError::MissingState {
                    method: "dino",
                    part: "teacher",
                })?;
                let center = self.center.clone().ok_or(ViewsError::MissingState {
                    method: "dino",
                    part: "centre",
                })?;
                let tt = dino::teacher_temp(
                    at.epoch,
                    teacher_temp_start,
                    teacher_temp,
                    teacher_temp_warmup_epochs,
                );
                let (loss, center_after) = dino::loss(
                    student,
                    teacher,
                    views,
                    center,
                    tt,
                    student_temp,
                    center_momentum,
                );
                self.pending_center = Some(center_after);
                loss
            }
        };
        Ok(loss)
    }

    /// Drops gradients of parameters frozen at `at`: SwAV prototypes during the first
    /// `freeze_prototypes_iters` steps, the DINO last layer during `freeze_last_layer_epochs`.
    pub fn filter_grads(
        &self,
        student: &Student,
        grads: GradientsParams,
        at: Progress,
    ) -> GradientsParams {
        let mut grads = grads;
        match self.config {
            MethodConfig::Swav {
                freeze_prototypes_iters,
                ..
            } if at.step < freeze_prototypes_iters => {
                if let Some(p) = &student.prototypes {
                    drop_grads(p, &mut grads);
                }
            }
            MethodConfig::Dino {
                freeze_last_layer_epochs,
                ..
            } if at.epoch < freeze_last_layer_epochs => {
                if let Some(h) = &student.dino_head {
                    drop_grads(&h.last_v, &mut grads);
                    if let Some(g) = &h.last_g {
                        drop_grads(g, &mut grads);
                    }
                }
            }
            _ => {}
        }
        grads
    }

    /// After the optimiser step: EMA teacher update (momentum from the cosine schedule over
    /// `total_steps`), enqueue this step's keys/features, adopt the DINO centre, renormalise
    /// SwAV prototypes.
    pub fn after_step(&mut self, student: Student, at: Progress) -> Student {
        let mut student = student;
        if let (Some(tau), Some(teacher)) = (self.momentum(at), self.teacher.take()) {
            self.teacher = Some(ema_teacher(teacher, &student, tau));
        }
        let pending = std::mem::take(&mut self.pending_queue);
        if !pending.is_empty() && pending.len() == self.queues.len() {
            let mut next_ptr = self.queue_ptr;
            let mut rows = 0;
            let queues = std::mem::take(&mut self.queues);
            self.queues = queues
                .into_iter()
                .zip(pending)
                .map(|(q, keys)| {
                    rows = keys.dims()[0];
                    let (q, p) = enqueue(q, self.queue_ptr, keys);
                    next_ptr = p;
                    q
                })
                .collect();
            let len = self.queues[0].dims()[0];
            self.queue_ptr = next_ptr;
            self.queue_filled = (self.queue_filled + rows).min(len);
        }
        if let Some(c) = self.pending_center.take() {
            self.center = Some(c);
        }
        if let Some(p) = student.prototypes.take() {
            student.prototypes = Some(p.normalized());
        }
        student
    }

    /// Per-parameter gradient-norm clip the optimiser should apply (DINO `clip_grad`, 0 = none).
    pub fn grad_clip(&self) -> Option<f64> {
        match self.config {
            MethodConfig::Dino { clip_grad, .. } if clip_grad > 0.0 => Some(clip_grad),
            _ => None,
        }
    }

    /// Serialises the non-optimiser state (teacher weights, queues, pointer, centre) for an
    /// exact resume. Call between steps (after `after_step`).
    pub fn save_state(&self) -> Result<Vec<u8>, BytesError> {
        let mut s = Sections::new();
        let meta = serde_json::json!({
            "method": self.config.name(),
            "queue_ptr": self.queue_ptr,
            "queue_filled": self.queue_filled,
            "queues": self.queues.len(),
        });
        s.push("meta", meta.to_string().into_bytes());
        if let Some(t) = &self.teacher {
            s.push("teacher", module_to_bytes(t)?);
        }
        for (i, q) in self.queues.iter().enumerate() {
            s.push(&format!("queue{i}"), tensor_to_bytes(q)?);
        }
        if let Some(c) = &self.center {
            s.push("center", tensor_to_bytes(c)?);
        }
        Ok(s.to_bytes())
    }

    /// Restores [`Method::save_state`] output into a method built with the same config.
    pub fn load_state(&mut self, bytes: &[u8]) -> Result<(), BytesError> {
        let s = Sections::from_bytes(bytes)?;
        let meta: serde_json::Value = serde_json::from_slice(
            s.get("meta")
                .ok_or_else(|| malformed("state file: no meta"))?,
        )
        .map_err(|e| malformed(format!("state file: bad meta: {e}")))?;
        let name = meta["method"].as_str().unwrap_or("?");
        if name != self.config.name() {
            return Err(malformed(format!(
                "state file is for method `{name}`, not `{}`",
                self.config.name()
            )));
        }
        let field = |k: &str| {
            meta[k]
                .as_u64()
                .map(|v| v as usize)
                .ok_or_else(|| malformed(format!("state file: bad meta field {k}")))
        };
        let (ptr, filled, n_queues) = (
            field("queue_ptr")?,
            field("queue_filled")?,
            field("queues")?,
        );
        if n_queues != self.queues.len() {
            return Err(malformed(format!(
                "state file has {n_queues} queues, this method has {}",
                self.queues.len()
            )));
        }
        let teacher = match (&self.teacher, s.get("teacher")) {
            (Some(t), Some(b)) => Some(module_from_bytes(deep_copy(t, &self.device), b)?),
            (None, None) => None,
            _ => {
                return Err(malformed(
                    "state file: teacher presence does not match the method",
                ));
            }
        };
        let mut queues = Vec::with_capacity(n_queues);
        for (i, q) in self.queues.iter().enumerate() {
            let b = s
                .get(&format!("queue{i}"))
                .ok_or_else(|| malformed("state file: missing queue"))?;
            let loaded = tensor_from_bytes(b, q)?;
            if loaded.dims() != q.dims() {
                return Err(malformed(format!(
                    "state file: queue {i} has shape {:?}, expected {:?}",
                    loaded.dims(),
                    q.dims()
                )));
            }
            queues.push(loaded);
        }
        let center = match (&self.center, s.get("center")) {
            (Some(c), Some(b)) => {
                let loaded = tensor_from_bytes(b, c)?;
                if loaded.dims() != c.dims() {
                    return Err(malformed("state file: centre has the wrong width"));
                }
                Some(loaded)
            }
            (None, None) => None,
            _ => {
                return Err(malformed(
                    "state file: centre presence does not match the method",
                ));
            }
        };
        let len = queues.first().map(|q| q.dims()[0]).unwrap_or(0);
        if len > 0 && (ptr >= len || filled > len) {
            return Err(malformed("state file: queue pointer out of range"));
        }
        self.teacher = teacher;
        self.queues = queues;
        self.queue_ptr = ptr;
        self.queue_filled = filled;
        self.center = center;
        self.pending_queue.clear();
        self.pending_center = None;
        Ok(())
    }
}
