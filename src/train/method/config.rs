//! Method configurations: the registry's user-facing parameters, defaults and validation.

/// MoCo flavour: v2 (queue of negatives) or v3 (in-batch keys, predictor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MocoVersion {
    /// MoCo v2 (Chen et al. 2020b): InfoNCE against a FIFO queue of momentum keys.
    V2,
    /// MoCo v3 (Chen et al. 2021): symmetric in-batch InfoNCE, predictor on the query side.
    V3,
}

/// A user-supplied parameter value, as the pipeline language hands it over.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    /// `true` / `false`.
    Bool(bool),
    /// Integer literal.
    Int(i64),
    /// Real literal.
    Float(f64),
    /// Word or string (e.g. MoCo `version`).
    Str(String),
}

/// One SSL method with its hyper-parameters; names and defaults follow the method registry.
#[derive(Clone, Debug, PartialEq)]
pub enum MethodConfig {
    /// SimCLR (Chen et al. 2020): NT-Xent over two views.
    SimClr {
        /// NT-Xent temperature τ.
        temperature: f64,
        /// Projector hidden width.
        proj_hidden: usize,
        /// Projector output width.
        proj_dim: usize,
        /// Projector depth (linear layers).
        proj_layers: usize,
    },
    /// MoCo v2 / v3.
    Moco {
        /// v2 (queue) or v3 (in-batch keys, predictor).
        version: MocoVersion,
        /// InfoNCE temperature τ.
        temperature: f64,
        /// Queue length K (v2).
        queue: usize,
        /// EMA momentum at the start.
        momentum: f64,
        /// EMA momentum at the end (cosine schedule).
        momentum_end: f64,
        /// Projector hidden width.
        proj_hidden: usize,
        /// Projector output width.
        proj_dim: usize,
        /// Predictor hidden width (v3).
        pred_hidden: usize,
        /// Symmetrised v2 loss with one queue per view (solo-learn v2+).
        symmetric: bool,
    },
    /// SimSiam (Chen & He 2021).
    SimSiam {
        /// Projector hidden width.
        proj_hidden: usize,
        /// Projector output width.
        proj_dim: usize,
        /// Projector depth.
        proj_layers: usize,
        /// Predictor bottleneck width.
        pred_hidden: usize,
    },
    /// BYOL (Grill et al. 2020).
    Byol {
        /// Target EMA momentum at the start.
        tau_base: f64,
        /// Target EMA momentum at the end (cosine).
        tau_end: f64,
        /// Projector hidden width.
        proj_hidden: usize,
        /// Projector output width.
        proj_dim: usize,
        /// Predictor hidden width.
        pred_hidden: usize,
    },
    /// SwAV (Caron et al. 2020).
    Swav {
        /// Softmax temperature over prototypes.
        temperature: f64,
        /// Number of prototypes K.
        prototypes: usize,
        /// Sinkhorn-Knopp iterations.
        sinkhorn_iters: usize,
        /// Sinkhorn entropy regularisation ε.
        epsilon: f64,
        /// Feature queue length per global crop (0 = none).
        queue: usize,
        /// Epoch from which the queue is filled and used.
        queue_start_epoch: usize,
        /// Steps during which the prototypes get no update.
        freeze_prototypes_iters: usize,
        /// Projector hidden width.
        proj_hidden: usize,
        /// Projector output width.
        proj_dim: usize,
    },
    /// Barlow Twins (Zbontar et al. 2021).
    BarlowTwins {
        /// Weight λ of the off-diagonal term.
        lambda: f64,
        /// Overall loss scale (early official code).
        scale_loss: f64,
        /// Projector hidden width.
        proj_hidden: usize,
        /// Projector output width.
        proj_dim: usize,
        /// Projector depth.
        proj_layers: usize,
    },
    /// DINO (Caron et al. 2021).
    Dino {
        /// Head output width K.
        out_dim: usize,
        /// Head MLP hidden width.
        hidden: usize,
        /// Head bottleneck width.
        bottleneck: usize,
        /// Student temperature.
        student_temp: f64,
        /// Teacher temperature at the start of the warm-up.
        teacher_temp_start: f64,
        /// Teacher temperature after the warm-up.
        teacher_temp: f64,
        /// Epochs of linear teacher-temperature warm-up.
        teacher_temp_warmup_epochs: usize,
        /// Centre EMA momentum.
        center_momentum: f64,
        /// Teacher EMA momentum at the start.
        tau_base: f64,
        /// Teacher EMA momentum at the end (cosine).
        tau_end: f64,
        /// Fix the weight-norm gain of the last layer to 1.
        norm_last_layer: bool,
        /// Epochs during which the last layer gets no update.
        freeze_last_layer_epochs: usize,
        /// Per-parameter gradient-norm clip (0 = off).
        clip_grad: f64,
    },
}

/// Names accepted by [`MethodConfig::defaults`].
pub const METHOD_NAMES: &[&str] = &[
    "simclr",
    "moco",
    "simsiam",
    "byol",
    "swav",
    "barlow_twins",
    "dino",
];

fn num(key: &str, v: &ParamValue) -> Result<f64, String> {
    match v {
        ParamValue::Float(x) => Ok(*x),
        ParamValue::Int(i) => Ok(*i as f64),
        other => Err(format!("{key}: expected a number, got {other:?}")),
    }
}

fn count(key: &str, v: &ParamValue) -> Result<usize, String> {
    match v {
        ParamValue::Int(i) if *i >= 0 => Ok(*i as usize),
        ParamValue::Float(x) if *x >= 0.0 && x.fract() == 0.0 && *x < 1e15 => Ok(*x as usize),
        other => Err(format!(
            "{key}: expected a non-negative integer, got {other:?}"
        )),
    }
}

fn flag(key: &str, v: &ParamValue) -> Result<bool, String> {
    match v {
        ParamValue::Bool(b) => Ok(*b),
        other => Err(format!("{key}: expected true or false, got {other:?}")),
    }
}

fn positive(name: &str, key: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!("{name}: {key} must be a positive number, got {v}"))
    }
}

fn in_unit(name: &str, key: &str, v: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(format!("{name}: {key} must lie in [0, 1], got {v}"))
    }
}

fn at_least_one(name: &str, key: &str, v: usize) -> Result<(), String> {
    if v >= 1 {
        Ok(())
    } else {
        Err(format!("{name}: {key} must be at least 1"))
    }
}

impl MethodConfig {
    /// The registry defaults of method `name` (`simclr`, `moco`, ..., see [`METHOD_NAMES`]).
    pub fn defaults(name: &str) -> Result<Self, String> {
        Ok(match name {
            // SimCLR official CIFAR τ = 0.5 (Chen et al. 2020, App. B.9).
            "simclr" => MethodConfig::SimClr {
                temperature: 0.5,
                proj_hidden: 2048,
                proj_dim: 128,
                proj_layers: 2,
            },
            // MoCo v2: τ 0.2, K 65536, m 0.999, MLP 2048→128 (Chen et al. 2020b, §2).
            "moco" => MethodConfig::Moco {
                version: MocoVersion::V2,
                temperature: 0.2,
                queue: 65536,
                momentum: 0.999,
                momentum_end: 0.999,
                proj_hidden: 2048,
                proj_dim: 128,
                pred_hidden: 4096,
                symmetric: false,
            },
            // SimSiam: 3-layer 2048 projector, 512 predictor bottleneck (Chen & He 2021, §3).
            "simsiam" => MethodConfig::SimSiam {
                proj_hidden: 2048,
                proj_dim: 2048,
                proj_layers: 3,
                pred_hidden: 512,
            },
            // BYOL: τ_base 0.996, 4096→256 projector/predictor (Grill et al. 2020, §3.3).
            "byol" => MethodConfig::Byol {
                tau_base: 0.996,
                tau_end: 1.0,
                proj_hidden: 4096,
                proj_dim: 256,
                pred_hidden: 4096,
            },
            // SwAV: τ 0.1, 3000 prototypes, 3 SK iterations, ε 0.05 (Caron et al. 2020, App. A).
            "swav" => MethodConfig::Swav {
                temperature: 0.1,
                prototypes: 3000,
                sinkhorn_iters: 3,
                epsilon: 0.05,
                queue: 0,
                queue_start_epoch: 15,
                freeze_prototypes_iters: 313,
                proj_hidden: 2048,
                proj_dim: 128,
            },
            // Barlow Twins: λ 0.0051, 8192-wide 3-layer projector (Zbontar et al. 2021, §4).
            "barlow_twins" => MethodConfig::BarlowTwins {
                lambda: 0.0051,
                scale_loss: 0.024,
                proj_hidden: 8192,
                proj_dim: 8192,
                proj_layers: 3,
            },
            // DINO: K 65536, τ_s 0.1, τ_t 0.04→0.07 over 30 ep, m 0.9 (Caron et al. 2021, §3, App.).
            "dino" => MethodConfig::Dino {
                out_dim: 65536,
                hidden: 2048,
                bottleneck: 256,
                student_temp: 0.1,
                teacher_temp_start: 0.04,
                teacher_temp: 0.07,
                teacher_temp_warmup_epochs: 30,
                center_momentum: 0.9,
                tau_base: 0.996,
                tau_end: 1.0,
                norm_last_layer: true,
                freeze_last_layer_epochs: 1,
                clip_grad: 3.0,
            },
            other => {
                return Err(format!(
                    "unknown SSL method `{other}` (known: {})",
                    METHOD_NAMES.join(", ")
                ));
            }
        })
    }

    /// Defaults of `name` overridden by `params` (registry names), then validated.
    pub fn from_params<'a>(
        name: &str,
        params: impl IntoIterator<Item = (&'a str, ParamValue)>,
    ) -> Result<Self, String> {
        let mut config = Self::defaults(name)?;
        for (key, value) in params {
            config.set(key, &value)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// The registry name of this method.
    pub fn name(&self) -> &'static str {
        match self {
            MethodConfig::SimClr { .. } => "simclr",
            MethodConfig::Moco { .. } => "moco",
            MethodConfig::SimSiam { .. } => "simsiam",
            MethodConfig::Byol { .. } => "byol",
            MethodConfig::Swav { .. } => "swav",
            MethodConfig::BarlowTwins { .. } => "barlow_twins",
            MethodConfig::Dino { .. } => "dino",
        }
    }

    /// Whether the method uses local crops after the two global views (SwAV, DINO).
    pub fn multicrop(&self) -> bool {
        matches!(self, MethodConfig::Swav { .. } | MethodConfig::Dino { .. })
    }

    /// Sets one registry parameter by name; unknown names and ill-typed values are errors.
    pub fn set(&mut self, key: &str, v: &ParamValue) -> Result<(), String> {
        let name = self.name();
        let unknown = || Err(format!("{name}: unknown parameter `{key}`"));
        match self {
            MethodConfig::SimClr {
                temperature,
                proj_hidden,
                proj_dim,
                proj_layers,
            } => match key {
                "temperature" => *temperature = num(key, v)?,
                "proj_hidden" => *proj_hidden = count(key, v)?,
                "proj_dim" => *proj_dim = count(key, v)?,
                "proj_layers" => *proj_layers = count(key, v)?,
                _ => return unknown(),
            },
            MethodConfig::Moco {
                version,
                temperature,
                queue,
                momentum,
                momentum_end,
                proj_hidden,
                proj_dim,
                pred_hidden,
                symmetric,
            } => match key {
                "version" => {
                    *version = match v {
                        ParamValue::Str(s) if s == "v2" => MocoVersion::V2,
                        ParamValue::Str(s) if s == "v3" => MocoVersion::V3,
                        other => {
                            return Err(format!("moco: version must be v2 or v3, got {other:?}"));
                        }
                    }
                }
                "temperature" => *temperature = num(key, v)?,
                "queue" => *queue = count(key, v)?,
                "momentum" => *momentum = num(key, v)?,
                "momentum_end" => *momentum_end = num(key, v)?,
                "proj_hidden" => *proj_hidden = count(key, v)?,
                "proj_dim" => *proj_dim = count(key, v)?,
                "pred_hidden" => *pred_hidden = count(key, v)?,
                "symmetric" => *symmetric = flag(key, v)?,
                _ => return unknown(),
            },
            MethodConfig::SimSiam {
                proj_hidden,
                proj_dim,
                proj_layers,
                pred_hidden,
            } => match key {
                "proj_hidden" => *proj_hidden = count(key, v)?,
                "proj_dim" => *proj_dim = count(key, v)?,
                "proj_layers" => *proj_layers = count(key, v)?,
                "pred_hidden" => *pred_hidden = count(key, v)?,
                _ => return unknown(),
            },
            MethodConfig::Byol {
                tau_base,
                tau_end,
                proj_hidden,
                proj_dim,
                pred_hidden,
            } => match key {
                "tau_base" => *tau_base = num(key, v)?,
                "tau_end" => *tau_end = num(key, v)?,
                "proj_hidden" => *proj_hidden = count(key, v)?,
                "proj_dim" => *proj_dim = count(key, v)?,
                "pred_hidden" => *pred_hidden = count(key, v)?,
                _ => return unknown(),
            },
            MethodConfig::Swav {
                temperature,
                prototypes,
                sinkhorn_iters,
                epsilon,
                queue,
                queue_start_epoch,
                freeze_prototypes_iters,
                proj_hidden,
                proj_dim,
            } => match key {
                "temperature" => *temperature = num(key, v)?,
                "prototypes" => *prototypes = count(key, v)?,
                "sinkhorn_iters" => *sinkhorn_iters = count(key, v)?,
                "epsilon" => *epsilon = num(key, v)?,
                "queue" => *queue = count(key, v)?,
                "queue_start_epoch" => *queue_start_epoch = count(key, v)?,
                "freeze_prototypes_iters" => *freeze_prototypes_iters = count(key, v)?,
                "proj_hidden" => *proj_hidden = count(key, v)?,
                "proj_dim" => *proj_dim = count(key, v)?,
                _ => return unknown(),
            },
            MethodConfig::BarlowTwins {
                lambda,
                scale_loss,
                proj_hidden,
                proj_dim,
                proj_layers,
            } => match key {
                "lambda" => *lambda = num(key, v)?,
                "scale_loss" => *scale_loss = num(key, v)?,
                "proj_hidden" => *proj_hidden = count(key, v)?,
                "proj_dim" => *proj_dim = count(key, v)?,
                "proj_layers" => *proj_layers = count(key, v)?,
                _ => return unknown(),
            },
            MethodConfig::Dino {
                out_dim,
                hidden,
                bottleneck,
                student_temp,
                teacher_temp_start,
                teacher_temp,
                teacher_temp_warmup_epochs,
                center_momentum,
                tau_base,
                tau_end,
                norm_last_layer,
                freeze_last_layer_epochs,
                clip_grad,
            } => match key {
                "out_dim" => *out_dim = count(key, v)?,
                "hidden" => *hidden = count(key, v)?,
                "bottleneck" => *bottleneck = count(key, v)?,
                "student_temp" => *student_temp = num(key, v)?,
                "teacher_temp_start" => *teacher_temp_start = num(key, v)?,
                "teacher_temp" => *teacher_temp = num(key, v)?,
                "teacher_temp_warmup_epochs" => *teacher_temp_warmup_epochs = count(key, v)?,
                "center_momentum" => *center_momentum = num(key, v)?,
                "tau_base" => *tau_base = num(key, v)?,
                "tau_end" => *tau_end = num(key, v)?,
                "norm_last_layer" => *norm_last_layer = flag(key, v)?,
                "freeze_last_layer_epochs" => *freeze_last_layer_epochs = count(key, v)?,
                "clip_grad" => *clip_grad = num(key, v)?,
                _ => return unknown(),
            },
        }
        Ok(())
    }

    /// Checks ranges (positive temperatures and widths, momenta in [0, 1], ...).
    pub fn validate(&self) -> Result<(), String> {
        let name = self.name();
        match *self {
            MethodConfig::SimClr {
                temperature,
                proj_hidden,
                proj_dim,
                proj_layers,
            } => {
                positive(name, "temperature", temperature)?;
                at_least_one(name, "proj_hidden", proj_hidden)?;
                at_least_one(name, "proj_dim", proj_dim)?;
                at_least_one(name, "proj_layers", proj_layers)?;
            }
            MethodConfig::Moco {
                version,
                temperature,
                queue,
                momentum,
                momentum_end,
                proj_hidden,
                proj_dim,
                pred_hidden,
                ..
            } => {
                positive(name, "temperature", temperature)?;
                in_unit(name, "momentum", momentum)?;
                in_unit(name, "momentum_end", momentum_end)?;
                at_least_one(name, "proj_hidden", proj_hidden)?;
                at_least_one(name, "proj_dim", proj_dim)?;
                at_least_one(name, "pred_hidden", pred_hidden)?;
                if version == MocoVersion::V2 {
                    at_least_one(name, "queue (v2)", queue)?;
                }
            }
            MethodConfig::SimSiam {
                proj_hidden,
                proj_dim,
                proj_layers,
                pred_hidden,
            } => {
                at_least_one(name, "proj_hidden", proj_hidden)?;
                at_least_one(name, "proj_dim", proj_dim)?;
                at_least_one(name, "proj_layers", proj_layers)?;
                at_least_one(name, "pred_hidden", pred_hidden)?;
            }
            MethodConfig::Byol {
                tau_base,
                tau_end,
                proj_hidden,
                proj_dim,
                pred_hidden,
            } => {
                in_unit(name, "tau_base", tau_base)?;
                in_unit(name, "tau_end", tau_end)?;
                at_least_one(name, "proj_hidden", proj_hidden)?;
                at_least_one(name, "proj_dim", proj_dim)?;
                at_least_one(name, "pred_hidden", pred_hidden)?;
            }
            MethodConfig::Swav {
                temperature,
                prototypes,
                sinkhorn_iters,
                epsilon,
                proj_hidden,
                proj_dim,
                ..
            } => {
                positive(name, "temperature", temperature)?;
                positive(name, "epsilon", epsilon)?;
                at_least_one(name, "prototypes", prototypes)?;
                at_least_one(name, "sinkhorn_iters", sinkhorn_iters)?;
                at_least_one(name, "proj_hidden", proj_hidden)?;
                at_least_one(name, "proj_dim", proj_dim)?;
            }
            MethodConfig::BarlowTwins {
                lambda,
                scale_loss,
                proj_hidden,
                proj_dim,
                proj_layers,
            } => {
                if !(lambda.is_finite() && lambda >= 0.0) {
                    return Err(format!("{name}: lambda must be a non-negative number"));
                }
                positive(name, "scale_loss", scale_loss)?;
                at_least_one(name, "proj_hidden", proj_hidden)?;
                at_least_one(name, "proj_dim", proj_dim)?;
                at_least_one(name, "proj_layers", proj_layers)?;
            }
            MethodConfig::Dino {
                out_dim,
                hidden,
                bottleneck,
                student_temp,
                teacher_temp_start,
                teacher_temp,
                center_momentum,
                tau_base,
                tau_end,
                clip_grad,
                ..
            } => {
                at_least_one(name, "out_dim", out_dim)?;
                at_least_one(name, "hidden", hidden)?;
                at_least_one(name, "bottleneck", bottleneck)?;
                positive(name, "student_temp", student_temp)?;
                positive(name, "teacher_temp_start", teacher_temp_start)?;
                positive(name, "teacher_temp", teacher_temp)?;
                in_unit(name, "center_momentum", center_momentum)?;
                in_unit(name, "tau_base", tau_base)?;
                in_unit(name, "tau_end", tau_end)?;
                if !(clip_grad.is_finite() && clip_grad >= 0.0) {
                    return Err(format!("{name}: clip_grad must be a non-negative number"));
                }
            }
        }
        Ok(())
    }
}
