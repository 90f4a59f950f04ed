//! Projection/prediction heads of the SSL methods: a configurable MLP, SwAV prototypes and the
//! DINO head with its weight-normalised last layer.

use super::ConfigError;
use super::precision::linear_forward;
use burn::module::{Flag, Initializer, Module, Param, RunningState};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, relu};
use burn::tensor::module::{batch_norm, batch_norm_train};
use burn::tensor::{Device, Tensor};

use super::loss::l2_normalize;

/// BatchNorm1d defaults (PyTorch): running-stat momentum.
const BN_MOMENTUM: f64 = 0.1;
/// BatchNorm1d defaults (PyTorch): variance epsilon.
const BN_EPS: f64 = 1e-5;
/// `F.normalize` epsilon used for the DINO bottleneck and weight-norm rows.
const NORM_EPS: f64 = 1e-12;
/// DINO head init: truncated normal with std 0.02 (Caron et al. 2021, `DINOHead._init_weights`);
/// the truncation at ±2σ is dropped.
const DINO_INIT_STD: f64 = 0.02;

/// Batch normalisation without learnable scale/shift, the output layer of the SimSiam and
/// MoCo v3 projectors (`BatchNorm1d(affine=False)`); keeps running stats like `BatchNorm`.
#[derive(Module, Debug)]
pub struct BatchNormNoAffine {
    /// Running mean, updated in training mode.
    pub running_mean: RunningState<Tensor<1>>,
    /// Running (unbiased, as burn's BatchNorm) variance, updated in training mode.
    pub running_var: RunningState<Tensor<1>>,
    /// Training flag: batch statistics on autodiff devices while enabled.
    pub training: Param<Flag>,
}

impl BatchNormNoAffine {
    /// A layer over `features` channels with zero mean / unit variance running stats.
    pub fn new(features: usize, device: &Device) -> Self {
        Self {
            running_mean: RunningState::new(Tensor::zeros([features], device)),
            running_var: RunningState::new(Tensor::ones([features], device)),
            training: Param::from_bool(true),
        }
    }

    /// Normalises `[B, C]` per channel: batch stats while training, running stats otherwise.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [_, c] = x.dims();
        let device = x.device();
        let gamma = Tensor::ones([c], (&device, x.dtype()));
        let beta = Tensor::zeros([c], (&device, x.dtype()));
        if device.is_autodiff() && self.training.is_enabled() {
            let out = batch_norm_train(x, gamma, beta, BN_EPS);
            let mean = self
                .running_mean
                .value_sync()
                .to_device(&device)
                .mul_scalar(1.0 - BN_MOMENTUM)
                .add(out.mean.detach().mul_scalar(BN_MOMENTUM));
            let var = self
                .running_var
                .value_sync()
                .to_device(&device)
                .mul_scalar(1.0 - BN_MOMENTUM)
                .add(out.variance.detach().mul_scalar(BN_MOMENTUM));
            self.running_mean.update(mean.detach());
            self.running_var.update(var.detach());
            out.output
        } else {
            let mean = self.running_mean.value().to_device(&device);
            let var = self.running_var.value().to_device(&device);
            batch_norm(x, gamma, beta, mean, var, BN_EPS)
        }
    }
}

/// Shape of an MLP head: `layers` linear layers, ReLU between them, optional BatchNorm after
/// every hidden linear and an optional affine-free BatchNorm after the last one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MlpConfig {
    /// Input width.
    pub input: usize,
    /// Width of every hidden layer.
    pub hidden: usize,
    /// Output width.
    pub output: usize,
    /// Number of linear layers (1 = a single linear map).
    pub layers: usize,
    /// BatchNorm after each hidden linear (its bias is then dropped as redundant).
    pub hidden_bn: bool,
    /// `BatchNorm1d(affine=False)` after the last linear (SimSiam, MoCo v3 projector).
    pub last_bn: bool,
}

impl MlpConfig {
    /// Rejects zero widths or depth, with a message naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, v) in [
            ("input", self.input),
            ("hidden", self.hidden),
            ("output", self.output),
            ("layers", self.layers),
        ] {
            if v == 0 {
                return Err(ConfigError::new(
                    "MLP head",
                    format!("{name} must be at least 1"),
                ));
            }
        }
        Ok(())
    }

    /// Builds the head on `device`.
    pub fn init(&self, device: &Device) -> Result<Mlp, ConfigError> {
        self.validate()?;
        let mut hidden = Vec::new();
        let mut width = self.input;
        for _ in 1..self.layers {
            hidden.push(MlpBlock {
                linear: LinearConfig::new(width, self.hidden)
                    .with_bias(!self.hidden_bn)
                    .init(device),
                bn: self
                    .hidden_bn
                    .then(|| BatchNormConfig::new(self.hidden).init(device)),
            });
            width = self.hidden;
        }
        Ok(Mlp {
            hidden,
            last: LinearConfig::new(width, self.output)
                .with_bias(!self.last_bn)
                .init(device),
            last_bn: self
                .last_bn
                .then(|| BatchNormNoAffine::new(self.output, device)),
        })
    }
}

/// One hidden layer of [`Mlp`]: linear, optional BatchNorm, then ReLU.
#[derive(Module, Debug)]
pub struct MlpBlock {
    /// The linear map.
    pub linear: Linear,
    /// Optional BatchNorm before the ReLU.
    pub bn: Option<BatchNorm>,
}

/// Projector / predictor MLP built by [`MlpConfig::init`].
#[derive(Module, Debug)]
pub struct Mlp {
    /// Hidden layers (linear → BN? → ReLU).
    pub hidden: Vec<MlpBlock>,
    /// Output linear.
    pub last: Linear,
    /// Optional affine-free BatchNorm on the output.
    pub last_bn: Option<BatchNormNoAffine>,
}

impl Mlp {
    /// `[B, input] → [B, output]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut x = x;
        for block in &self.hidden {
            x = linear_forward(&block.linear, x);
            if let Some(bn) = &block.bn {
                x = bn.forward(x);
            }
            x = relu(x);
        }
        x = linear_forward(&self.last, x);
        match &self.last_bn {
            Some(bn) => bn.forward(x),
            None => x,
        }
    }
}

/// SwAV prototypes `C` (Caron et al. 2020, §3.1): a bias-free linear map whose `K` rows are kept
/// unit-norm, so scores `z·Cᵀ` of unit-norm `z` are cosines.
#[derive(Module, Debug)]
pub struct Prototypes {
    /// `[K, D]` prototype vectors, one per row.
    pub weight: Param<Tensor<2>>,
}

impl Prototypes {
    /// `count` random prototypes of width `dim` (PyTorch Linear init), already normalised.
    pub fn new(dim: usize, count: usize, device: &Device) -> Result<Self, ConfigError> {
        if dim == 0 || count == 0 {
            return Err(ConfigError::new(
                "SwAV prototypes",
                "width and count must be at least 1",
            ));
        }
        let bound = 1.0 / (dim as f64).sqrt();
        let weight = Initializer::Uniform {
            min: -bound,
            max: bound,
        }
        .init([count, dim], device);
        Ok(Self { weight }.normalized())
    }

    /// Prototype scores `[B, D] → [B, K]`.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        z.matmul(self.weight.val().transpose())
    }

    /// L2-normalises every prototype row (no gradient), as SwAV does before each step.
    pub fn normalized(self) -> Self {
        let weight = self.weight.map(|w| {
            let require_grad = w.is_require_grad();
            let autodiff = w.is_autodiff();
            // Normalise off the autodiff graph: the result must be a fresh leaf to be trainable.
            let n = l2_normalize(w.without_autodiff(), NORM_EPS);
            let n = if autodiff { n.autodiff() } else { n };
            n.set_require_grad(require_grad)
        });
        Self { weight }
    }
}

/// Shape of the DINO head (Caron et al. 2021, App. "projection head").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DinoHeadConfig {
    /// Input (backbone feature) width.
    pub input: usize,
    /// Hidden width of the MLP (2048 in the paper).
    pub hidden: usize,
    /// Bottleneck width before L2 normalisation (256 in the paper).
    pub bottleneck: usize,
    /// Output width K (65536 in the paper).
    pub out_dim: usize,
    /// Number of MLP linear layers before the bottleneck normalisation (3 in the paper).
    pub layers: usize,
    /// Fix the weight-norm gain of the last layer to 1 (no trainable `g`).
    pub norm_last_layer: bool,
}

impl DinoHeadConfig {
    /// Rejects zero widths or depth.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, v) in [
            ("input", self.input),
            ("hidden", self.hidden),
            ("bottleneck", self.bottleneck),
            ("out_dim", self.out_dim),
            ("layers", self.layers),
        ] {
            if v == 0 {
                return Err(ConfigError::new(
                    "DINO head",
                    format!("{name} must be at least 1"),
                ));
            }
        }
        Ok(())
    }

    /// Builds the head on `device`.
    pub fn init(&self, device: &Device) -> Result<DinoHead, ConfigError> {
        self.validate()?;
        let init = Initializer::Normal {
            mean: 0.0,
            std: DINO_INIT_STD,
        };
        let mut layers = Vec::new();
        let mut width = self.input;
        for i in 0..self.layers {
            let out = if i + 1 == self.layers {
                self.bottleneck
            } else {
                self.hidden
            };
            let mut linear = LinearConfig::new(width, out)
                .with_initializer(init.clone())
                .init(device);
            linear.bias = Some(Initializer::Zeros.init([out], device));
            layers.push(linear);
            width = out;
        }
        // The last layer keeps PyTorch's default Linear init (weight_norm is applied after
        // `_init_weights` in DINO); only its direction matters.
        let bound = 1.0 / (self.bottleneck as f64).sqrt();
        let last_v = Initializer::Uniform {
            min: -bound,
            max: bound,
        }
        .init([self.out_dim, self.bottleneck], device);
        let last_g =
            (!self.norm_last_layer).then(|| Initializer::Ones.init([self.out_dim], device));
        Ok(DinoHead {
            layers,
            last_v,
            last_g,
        })
    }
}

/// DINO projection head: MLP with GELU → bottleneck → L2-normalise → weight-normalised linear.
#[derive(Module, Debug)]
pub struct DinoHead {
    /// MLP layers; GELU between them, the last one outputs the bottleneck.
    pub layers: Vec<Linear>,
    /// Direction `v` of the weight-normalised last layer, `[out_dim, bottleneck]`.
    pub last_v: Param<Tensor<2>>,
    /// Trainable gain `g` (`[out_dim]`), absent when `norm_last_layer` fixes it to 1.
    pub last_g: Option<Param<Tensor<1>>>,
}

impl DinoHead {
    /// `[B, input] → [B, out_dim]` logits.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut x = x;
        let n = self.layers.len();
        for (i, layer) in self.layers.iter().enumerate() {
            x = linear_forward(layer, x);
            if i + 1 < n {
                x = gelu(x);
            }
        }
        let x = l2_normalize(x, NORM_EPS);
        let mut w = l2_normalize(self.last_v.val(), NORM_EPS);
        if let Some(g) = &self.last_g {
            let [k] = g.dims();
            w = w.mul(g.val().reshape([k, 1]));
        }
        x.matmul(w.transpose())
    }
}
