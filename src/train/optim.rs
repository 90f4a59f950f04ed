//! Optimisers and learning-rate schedules for pretraining: SGD and LARS with
//! PyTorch semantics (no dampening; optional exclusion of biases and norm
//! parameters), AdamW, linear warm-up + cosine, step decay, and the
//! batch-size scaling rules of the SSL references.

use burn::optim::{AdamWConfig, ModuleOptimizer, Optimizer, RecordState, StateSink, StateSource};
use burn::tensor::{Device, Tensor};

/// An optimiser as a pipeline names it (`sgd(...)`, `lars(...)`, `adamw(...)`).
#[derive(Clone, Debug, PartialEq)]
pub enum OptimizerSpec {
    /// SGD with momentum.
    Sgd {
        /// Base learning rate (before batch scaling).
        lr: f64,
        /// Momentum factor.
        momentum: f64,
        /// L2 weight decay.
        weight_decay: f64,
        /// Nesterov momentum.
        nesterov: bool,
        /// No weight decay on rank-1 parameters (biases, norm scales).
        exclude_bias_bn: bool,
    },
    /// LARS (You et al. 2017) over SGD, as solo-learn implements it.
    Lars {
        /// Base learning rate (before batch scaling).
        lr: f64,
        /// Momentum factor.
        momentum: f64,
        /// L2 weight decay.
        weight_decay: f64,
        /// Trust coefficient eta.
        eta: f64,
        /// No adaptation or decay on rank-1 parameters.
        exclude_bias_bn: bool,
        /// Clip the local rate at the global one.
        clip_lr: bool,
    },
    /// AdamW (Loshchilov & Hutter 2019).
    AdamW {
        /// Base learning rate (before batch scaling).
        lr: f64,
        /// First-moment decay.
        beta1: f64,
        /// Second-moment decay.
        beta2: f64,
        /// Decoupled weight decay.
        weight_decay: f64,
        /// Denominator epsilon.
        eps: f64,
    },
}

impl OptimizerSpec {
    /// The base learning rate, before batch scaling.
    pub fn base_lr(&self) -> f64 {
        match self {
            OptimizerSpec::Sgd { lr, .. }
            | OptimizerSpec::Lars { lr, .. }
            | OptimizerSpec::AdamW { lr, .. } => *lr,
        }
    }

    /// A burn optimiser for a whole module, with per-parameter gradient-norm
    /// clipping when `clip` is set (DINO clips each parameter's gradient).
    pub fn build(&self, clip: Option<f64>) -> ModuleOptimizer {
        let mut optim = match *self {
            OptimizerSpec::Sgd {
                momentum,
                weight_decay,
                nesterov,
                exclude_bias_bn,
                ..
            } => ModuleOptimizer::from(SgdLars {
                momentum,
                weight_decay,
                nesterov,
                exclude_rank1: exclude_bias_bn,
                lars: None,
            }),
            OptimizerSpec::Lars {
                momentum,
                weight_decay,
                eta,
                exclude_bias_bn,
                clip_lr,
                ..
            } => ModuleOptimizer::from(SgdLars {
                momentum,
                weight_decay,
                nesterov: false,
                exclude_rank1: exclude_bias_bn,
                lars: Some(LarsTrust { eta, clip_lr }),
            }),
            OptimizerSpec::AdamW {
                beta1,
                beta2,
                weight_decay,
                eps,
                ..
            } => AdamWConfig::new()
                .with_beta_1(beta1 as f32)
                .with_beta_2(beta2 as f32)
                .with_epsilon(eps as f32)
                .with_weight_decay(weight_decay as f32)
                .init(),
        };
        if let Some(c) = clip.filter(|c| *c > 0.0) {
            optim = optim.with_grad_clipping(burn::grad_clipping::GradientClipping::Norm(c as f32));
        }
        optim
    }
}

/// LARS's layer-wise trust ratio settings.
#[derive(Clone, Copy, Debug, PartialEq)]
struct LarsTrust {
    eta: f64,
    clip_lr: bool,
}

/// SGD with momentum, optionally with LARS trust ratios, per tensor.
///
/// PyTorch semantics (no dampening): `buf = m*buf + d`, `p -= lr*buf`, where
/// `d` is the gradient plus weight decay, scaled by LARS's local rate.
#[derive(Clone, Debug)]
struct SgdLars {
    momentum: f64,
    weight_decay: f64,
    nesterov: bool,
    exclude_rank1: bool,
    lars: Option<LarsTrust>,
}

/// Momentum buffer of one parameter.
#[derive(Clone)]
pub struct MomentumBuffer<const D: usize> {
    velocity: Tensor<D>,
}

impl<const D: usize> RecordState for MomentumBuffer<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, "velocity", self.velocity.to_data());
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let data = src.take_tensor(prefix, "velocity")?;
        Some(MomentumBuffer {
            velocity: Tensor::from_data(data, device),
        })
    }
}

impl Optimizer for SgdLars {
    type State<const D: usize> = MomentumBuffer<D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let excluded = self.exclude_rank1 && D == 1;
        let mut d = grad;
        match self.lars {
            // solo-learn's LARS: decay and trust ratio only on adapted tensors.
            Some(trust) if !excluded => {
                let p_norm = l2_norm(tensor.clone());
                let g_norm = l2_norm(d.clone());
                // eta * |p| / (|g| + wd |p| + eps), 1 where either norm is 0 (You et al. 2017, eq. 6).
                let ratio = p_norm
                    .clone()
                    .div(g_norm.clone() + p_norm.clone().mul_scalar(self.weight_decay) + 1e-8)
                    .mul_scalar(trust.eta);
                let mut ratio = ratio;
                if trust.clip_lr {
                    ratio = ratio.div_scalar(lr).clamp_max(1.0);
                }
                let degenerate = p_norm.equal_elem(0.0).bool_or(g_norm.equal_elem(0.0));
                let ratio = ratio.mask_fill(degenerate, 1.0);
                if self.weight_decay != 0.0 {
                    d = d + tensor.clone().mul_scalar(self.weight_decay);
                }
                d = d * ratio.unsqueeze::<D>();
            }
            _ => {
                if self.weight_decay != 0.0 && !excluded && self.lars.is_none() {
                    d = d + tensor.clone().mul_scalar(self.weight_decay);
                }
            }
        }
        let (update, velocity) = if self.momentum != 0.0 {
            let velocity = match state {
                Some(s) => s.velocity.mul_scalar(self.momentum) + d.clone(),
                None => d.clone(),
            };
            let update = if self.nesterov {
                d + velocity.clone().mul_scalar(self.momentum)
            } else {
                velocity.clone()
            };
            (update, Some(velocity))
        } else {
            (d, None)
        };
        let next = tensor - update.mul_scalar(lr);
        (next, velocity.map(|velocity| MomentumBuffer { velocity }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        MomentumBuffer {
            velocity: state.velocity.to_device(device),
        }
    }
}

fn l2_norm<const D: usize>(t: Tensor<D>) -> Tensor<1> {
    t.flatten::<1>(0, D - 1).powf_scalar(2.0).sum().sqrt()
}

/// How the base learning rate grows with the batch (Goyal et al. 2017).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LrScaling {
    /// `lr * batch / 256`.
    Linear,
    /// `lr * sqrt(batch / 256)` (SimCLR's square-root rule, appendix B.1).
    Sqrt,
    /// `lr` as written.
    None,
}

impl LrScaling {
    /// The scaled learning rate for `batch`.
    pub fn apply(self, lr: f64, batch: usize) -> f64 {
        let r = batch as f64 / 256.0;
        match self {
            LrScaling::Linear => lr * r,
            LrScaling::Sqrt => lr * r.sqrt(),
            LrScaling::None => lr,
        }
    }
}

/// A learning-rate schedule over steps.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// Linear warm-up from `warmup_start_lr`, then cosine to `min_lr`, per step
    /// (Loshchilov & Hutter 2017 without restarts; solo-learn's `warmup_cosine`).
    Cosine {
        /// Warm-up epochs.
        warmup_epochs: usize,
        /// Rate at step 0.
        warmup_start_lr: f64,
        /// Rate at the end.
        min_lr: f64,
    },
    /// The base rate throughout.
    Constant,
    /// The base rate times `gamma` per milestone epoch passed.
    Step {
        /// Epochs at which to decay.
        milestones: Vec<usize>,
        /// Decay factor.
        gamma: f64,
    },
}

impl Schedule {
    /// The rate at global step `step` of `total` (`per_epoch` steps an epoch).
    pub fn lr_at(&self, base: f64, step: usize, per_epoch: usize, total: usize) -> f64 {
        match self {
            Schedule::Constant => base,
            Schedule::Step { milestones, gamma } => {
                let epoch = step / per_epoch.max(1);
                let passed = milestones.iter().filter(|&&m| epoch >= m).count();
                base * gamma.powi(passed as i32)
            }
            Schedule::Cosine {
                warmup_epochs,
                warmup_start_lr,
                min_lr,
            } => {
                // Warm-up never takes the whole run: at most half of it.
                let warmup = (warmup_epochs * per_epoch).min(total / 2);
                if step < warmup {
                    warmup_start_lr + (base - warmup_start_lr) * step as f64 / warmup as f64
                } else {
                    let span = (total - warmup).max(1) as f64;
                    let t = (step - warmup) as f64 / span;
                    min_lr + (base - min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::tensor::TensorData;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * (1.0 + b.abs())
    }

    #[test]
    fn cosine_schedule_warms_up_then_decays() {
        let s = Schedule::Cosine {
            warmup_epochs: 1,
            warmup_start_lr: 0.0,
            min_lr: 0.0,
        };
        assert!(close(s.lr_at(1.0, 0, 10, 100), 0.0));
        assert!(close(s.lr_at(1.0, 5, 10, 100), 0.5));
        assert!(close(s.lr_at(1.0, 10, 10, 100), 1.0));
        assert!(close(s.lr_at(1.0, 55, 10, 100), 0.5));
        assert!(s.lr_at(1.0, 99, 10, 100) < 0.001);
    }

    #[test]
    fn warmup_is_capped_at_half_the_run() {
        let s = Schedule::Cosine {
            warmup_epochs: 10,
            warmup_start_lr: 0.0,
            min_lr: 0.0,
        };
        // 10 epochs of 10 steps with 10 warm-up epochs: peak at step 50.
        assert!(close(s.lr_at(1.0, 50, 10, 100), 1.0));
    }

    #[test]
    fn step_schedule_and_scaling() {
        let s = Schedule::Step {
            milestones: vec![2, 4],
            gamma: 0.1,
        };
        assert!(close(s.lr_at(1.0, 19, 10, 100), 1.0));
        assert!(close(s.lr_at(1.0, 20, 10, 100), 0.1));
        assert!(close(s.lr_at(1.0, 45, 10, 100), 0.01));
        assert!(close(LrScaling::Linear.apply(0.3, 512), 0.6));
        assert!(close(LrScaling::Sqrt.apply(0.3, 1024), 0.6));
        assert!(close(LrScaling::None.apply(0.3, 1024), 0.3));
    }

    fn one_step(spec: &OptimizerSpec, w: [[f32; 2]; 2], b: [f32; 2]) -> (Vec<f32>, Vec<f32>) {
        let _rng = crate::train::trainer::init_lock(); // draws from burn's generator
        let dev = Device::flex().autodiff();
        let mut layer: Linear = LinearConfig::new(2, 2).init(&dev);
        layer.weight = layer
            .weight
            .map(|_| Tensor::from_data(TensorData::from(w), &dev).require_grad());
        if let Some(bias) = layer.bias.take() {
            layer.bias =
                Some(bias.map(|_| Tensor::from_data(TensorData::from(b), &dev).require_grad()));
        }
        let x = Tensor::<2>::from_data(TensorData::from([[1.0f32, 2.0]]), &dev);
        // loss = sum(x W + b): dL/dW[i][j] = x[i], dL/db = 1.
        let loss = layer.forward(x).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &layer);
        let mut optim = spec.build(None);
        let layer = optim.step(0.1, layer, grads);
        let w = layer.weight.val().into_data().try_to_vec::<f32>().unwrap();
        let b = layer
            .bias
            .unwrap()
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        (w, b)
    }

    #[test]
    fn sgd_matches_pytorch_first_step() {
        // PyTorch: p -= lr * (g + wd * p) on the first step (buffer = d).
        let spec = OptimizerSpec::Sgd {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.5,
            nesterov: false,
            exclude_bias_bn: true,
        };
        let (w, b) = one_step(&spec, [[1.0, 2.0], [3.0, 4.0]], [1.0, 1.0]);
        // grad W = [[1,1],[2,2]]; W - 0.1*(g + 0.5 W)
        let want = [
            1.0 - 0.1 * 1.5,
            2.0 - 0.1 * 2.0,
            3.0 - 0.1 * 3.5,
            4.0 - 0.1 * 4.0,
        ];
        for (a, e) in w.iter().zip(want) {
            assert!((a - e).abs() < 1e-6, "{w:?}");
        }
        // Bias excluded from decay: b - 0.1 * 1.
        assert!(b.iter().all(|v| (v - 0.9).abs() < 1e-6), "{b:?}");
    }

    #[test]
    fn lars_scales_by_the_trust_ratio() {
        let spec = OptimizerSpec::Lars {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.0,
            eta: 0.02,
            exclude_bias_bn: true,
            clip_lr: false,
        };
        let w0 = [[1.0f32, 2.0], [3.0, 4.0]];
        let (w, b) = one_step(&spec, w0, [1.0, 1.0]);
        let p_norm = (1.0f64 + 4.0 + 9.0 + 16.0).sqrt();
        let g_norm = (1.0f64 + 1.0 + 4.0 + 4.0).sqrt();
        let ratio = 0.02 * p_norm / (g_norm + 1e-8);
        let g = [1.0, 1.0, 2.0, 2.0];
        for ((a, p), g) in w.iter().zip(w0.iter().flatten()).zip(g) {
            let e = *p as f64 - 0.1 * ratio * g;
            assert!((*a as f64 - e).abs() < 1e-6, "{w:?}");
        }
        // Biases are not adapted: plain SGD.
        assert!(b.iter().all(|v| (v - 0.9).abs() < 1e-6), "{b:?}");
    }
}
