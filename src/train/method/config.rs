//! Method configurations: typed hyper-parameters and their validation.
//!
//! The parameters' names, defaults and ranges live in the registry
//! (`src/lang/registry/methods.rs`) only; a `MethodConfig` is decoded from a
//! planned `method` map by `exec::decode::method_config`.

use crate::train::ConfigError;
use std::str::FromStr;

/// A MoCo version that is neither `v2` nor `v3`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not one of `v2`, `v3`")]
pub struct UnknownMocoVersion(pub String);

/// MoCo flavour: v2 (queue of negatives) or v3 (in-batch keys, predictor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MocoVersion {
    /// MoCo v2 (Chen et al. 2020b): InfoNCE against a FIFO queue of momentum keys.
    V2,
    /// MoCo v3 (Chen et al. 2021): symmetric in-batch InfoNCE, predictor on the query side.
    V3,
}

impl FromStr for MocoVersion {
    type Err = UnknownMocoVersion;

    fn from_str(s: &str) -> Result<Self, UnknownMocoVersion> {
        match s {
            "v2" => Ok(MocoVersion::V2),
            "v3" => Ok(MocoVersion::V3),
            other => Err(UnknownMocoVersion(other.into())),
        }
    }
}

/// One SSL method with its hyper-parameters (names follow the method registry).
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

fn positive(name: &'static str, key: &str, v: f64) -> Result<(), ConfigError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(ConfigError::new(
            name,
            format!("{key} must be a positive number, got {v}"),
        ))
    }
}

fn in_unit(name: &'static str, key: &str, v: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(ConfigError::new(
            name,
            format!("{key} must lie in [0, 1], got {v}"),
        ))
    }
}

fn at_least_one(name: &'static str, key: &str, v: usize) -> Result<(), ConfigError> {
    if v >= 1 {
        Ok(())
    } else {
        Err(ConfigError::new(name, format!("{key} must be at least 1")))
    }
}

impl MethodConfig {
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

    /// Checks ranges (positive temperatures and widths, momenta in [0, 1], ...).
    pub fn validate(&self) -> Result<(), ConfigError> {
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
                    return Err(ConfigError::new(
                        name,
                        "lambda must be a non-negative number",
                    ));
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
                    return Err(ConfigError::new(
                        name,
                        "clip_grad must be a non-negative number",
                    ));
                }
            }
        }
        Ok(())
    }
}
