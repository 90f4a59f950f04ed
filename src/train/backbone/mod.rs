//! Image backbones (tiny convnet, torchvision-layout ResNet, DINO-style ViT) behind one spec/enum.

mod resnet;
mod tiny;
mod vit;

pub use resnet::{BasicBlock, Bottleneck, ResBlock, ResNet};
pub use tiny::TinyConvNet;
pub use vit::{Vit, VitBlock};

use super::ConfigError;
use burn::module::{Initializer, Module, ModuleVisitor, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};

/// Architecture description of a backbone; plain data so it can live in experiment configs.
#[derive(Debug, Clone, PartialEq)]
pub enum BackboneSpec {
    /// `depth` conv3x3+BN+ReLU blocks, channels `width·2^i`, stride 2 from the 2nd block, GAP.
    TinyConvNet {
        /// Channels of the first block.
        width: usize,
        /// Number of conv blocks.
        depth: usize,
    },
    /// torchvision ResNet (He et al. 2016) without the classifier.
    ResNet {
        /// 18, 34 or 50.
        depth: usize,
        /// 3x3 stride-1 pad-1 stem conv and no max-pool (lightly's CIFAR variant).
        cifar_stem: bool,
        /// Zero-init the last BN gamma of every residual block (Goyal et al. 2017, sec. 5.1).
        zero_init_residual: bool,
    },
    /// Pre-norm ViT with class token and learned position embedding (Dosovitskiy et al. 2021; DINO).
    Vit {
        /// Patch side in pixels.
        patch: usize,
        /// Number of transformer blocks.
        depth: usize,
        /// Token width (embedding dim).
        width: usize,
        /// Attention heads; must divide `width`.
        heads: usize,
        /// MLP hidden width as a multiple of `width`.
        mlp_ratio: f64,
        /// Side of the images the position embedding is laid out for.
        image_size: usize,
    },
}

impl BackboneSpec {
    /// Checks the spec so `init` never panics on user-supplied values.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            BackboneSpec::TinyConvNet { width, depth } => {
                if width == 0 {
                    return Err(ConfigError::new("tiny convnet", "width must be > 0"));
                }
                if depth == 0 || depth > 8 {
                    return Err(ConfigError::new(
                        "tiny convnet",
                        format!("depth must be in 1..=8, got {depth}"),
                    ));
                }
                Ok(())
            }
            BackboneSpec::ResNet { depth, .. } => match depth {
                18 | 34 | 50 => Ok(()),
                _ => Err(ConfigError::new(
                    "resnet",
                    format!("depth must be 18, 34 or 50, got {depth}"),
                )),
            },
            BackboneSpec::Vit {
                patch,
                depth,
                width,
                heads,
                mlp_ratio,
                image_size,
            } => {
                if patch == 0 || depth == 0 || width == 0 || heads == 0 || image_size == 0 {
                    return Err(ConfigError::new(
                        "vit",
                        "patch, depth, width, heads and image_size must be > 0",
                    ));
                }
                if width % heads != 0 {
                    return Err(ConfigError::new(
                        "vit",
                        format!("width {width} not divisible by heads {heads}"),
                    ));
                }
                if image_size % patch != 0 {
                    return Err(ConfigError::new(
                        "vit",
                        format!("image_size {image_size} not divisible by patch {patch}"),
                    ));
                }
                if !(mlp_ratio.is_finite() && mlp_ratio > 0.0)
                    || (width as f64 * mlp_ratio).round() < 1.0
                {
                    return Err(ConfigError::new(
                        "vit",
                        format!("invalid mlp_ratio {mlp_ratio}"),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Width of the pooled feature vector returned by `Backbone::forward`.
    pub fn feature_dim(&self) -> usize {
        match *self {
            BackboneSpec::TinyConvNet { width, depth } => width << depth.saturating_sub(1),
            BackboneSpec::ResNet { depth, .. } => {
                if depth >= 50 {
                    2048
                } else {
                    512
                }
            }
            BackboneSpec::Vit { width, .. } => width,
        }
    }

    /// Builds the backbone (see `try_init`); panics on an invalid spec, so `validate()` first.
    pub fn init(&self, device: &Device) -> Backbone {
        match self.try_init(device) {
            Ok(b) => b,
            Err(e) => panic!("invalid BackboneSpec (call validate() first): {e}"),
        }
    }

    /// Validates and builds the backbone with torchvision/DINO init; all params are drawn here in
    /// a fixed order, so results are deterministic after `device.seed(..)` and clones are safe.
    pub fn try_init(&self, device: &Device) -> Result<Backbone, ConfigError> {
        self.validate()?;
        let backbone = match *self {
            BackboneSpec::TinyConvNet { width, depth } => {
                Backbone::Tiny(TinyConvNet::new(width, depth, device))
            }
            BackboneSpec::ResNet {
                depth,
                cifar_stem,
                zero_init_residual,
            } => Backbone::ResNet(ResNet::new(depth, cifar_stem, zero_init_residual, device)),
            BackboneSpec::Vit {
                patch,
                depth,
                width,
                heads,
                mlp_ratio,
                image_size,
            } => Backbone::Vit(Vit::new(
                patch, depth, width, heads, mlp_ratio, image_size, device,
            )),
        };
        materialize(&backbone);
        Ok(backbone)
    }
}

/// A backbone of any supported architecture; `forward` gives pooled features.
#[derive(Module, Debug)]
pub enum Backbone {
    /// Small convnet for tests and quick experiments.
    Tiny(TinyConvNet),
    /// torchvision-layout ResNet.
    ResNet(ResNet),
    /// Vision transformer.
    Vit(Vit),
}

impl Backbone {
    /// `[B,3,H,W] -> [B, feature_dim]`: global-average-pooled features (ViT: final-LN class token).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Backbone::Tiny(m) => m.forward(x),
            Backbone::ResNet(m) => m.forward(x),
            Backbone::Vit(m) => m.forward(x),
        }
    }

    /// Last spatial feature map `[B,C,h,w]` (ViT: final-LN patch tokens), for dense heads.
    pub fn feature_map(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Backbone::Tiny(m) => m.feature_map(x),
            Backbone::ResNet(m) => m.feature_map(x),
            Backbone::Vit(m) => m.feature_map(x),
        }
    }

    /// Width of the pooled features (= channels of `feature_map`).
    pub fn feature_dim(&self) -> usize {
        match self {
            Backbone::Tiny(m) => m.feature_dim(),
            Backbone::ResNet(m) => m.feature_dim(),
            Backbone::Vit(m) => m.feature_dim(),
        }
    }

    /// Number of trainable scalars (excludes BN running statistics, like torch's `parameters()`).
    pub fn num_trainable_params(&self) -> usize {
        count_trainable(self)
    }
}

/// Counts trainable parameters of any module, skipping BN running statistics.
fn count_trainable<M: Module>(module: &M) -> usize {
    module.num_params() - running_state_elems(module)
}

/// Elements held in `BatchNorm` running-statistics buffers (visited like float params).
fn running_state_elems<M: Module>(module: &M) -> usize {
    struct V {
        stack: Vec<bool>,
        n: usize,
    }
    impl ModuleVisitor for V {
        fn enter_module(&mut self, name: &str, container_type: &str) {
            // Fields are entered with the *parent's* container type.
            self.stack
                .push(container_type == "Struct:BatchNorm" && name.starts_with("running_"));
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.stack.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.stack.last().copied().unwrap_or(false) {
                self.n += param.lazy_shape().num_elements();
            }
        }
    }
    let mut v = V {
        stack: Vec::new(),
        n: 0,
    };
    module.visit(&mut v);
    v.n
}

/// Forces every lazily-initialised parameter to be drawn now, in visit order.
fn materialize<M: Module>(module: &M) {
    struct V;
    impl ModuleVisitor for V {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut V);
}

/// conv k×k with torchvision init: kaiming_normal(fan_out, relu), no bias (He et al. 2015).
pub(super) fn conv_kaiming(
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
    device: &Device,
) -> Conv2d {
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .with_initializer(Initializer::KaimingNormal {
            gain: std::f64::consts::SQRT_2,
            fan_out_only: true,
        })
        .init(device)
}

/// BatchNorm2d with torch defaults (momentum 0.1, eps 1e-5); `zero_gamma` for zero-init residual.
pub(super) fn batch_norm(channels: usize, zero_gamma: bool, device: &Device) -> BatchNorm {
    let mut bn = BatchNormConfig::new(channels).init(device);
    if zero_gamma {
        bn.gamma = Initializer::Zeros.init([channels], device);
    }
    bn
}

/// Global average pool `[B,C,h,w] -> [B,C]`.
pub(super) fn global_avg_pool(x: Tensor<4>) -> Tensor<2> {
    let [b, c, _, _] = x.dims();
    burn::tensor::module::adaptive_avg_pool2d(x, [1, 1]).reshape([b, c])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn vec_of<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.try_into_vec_as::<f32>().expect("read tensor")
    }

    fn input(b: usize, side: usize, device: &Device) -> Tensor<4> {
        Tensor::random([b, 3, side, side], Distribution::Normal(0.0, 1.0), device)
    }

    fn vit_spec(image_size: usize) -> BackboneSpec {
        BackboneSpec::Vit {
            patch: 4,
            depth: 2,
            width: 32,
            heads: 4,
            mlp_ratio: 2.0,
            image_size,
        }
    }

    #[test]
    fn validate_rejects_bad_specs() {
        let bad = [
            BackboneSpec::TinyConvNet { width: 0, depth: 2 },
            BackboneSpec::TinyConvNet { width: 8, depth: 0 },
            BackboneSpec::ResNet {
                depth: 101,
                cifar_stem: true,
                zero_init_residual: false,
            },
            BackboneSpec::Vit {
                patch: 4,
                depth: 1,
                width: 30,
                heads: 4,
                mlp_ratio: 4.0,
                image_size: 32,
            },
            BackboneSpec::Vit {
                patch: 5,
                depth: 1,
                width: 32,
                heads: 4,
                mlp_ratio: 4.0,
                image_size: 32,
            },
            BackboneSpec::Vit {
                patch: 4,
                depth: 1,
                width: 32,
                heads: 4,
                mlp_ratio: f64::NAN,
                image_size: 32,
            },
        ];
        for spec in bad {
            assert!(spec.validate().is_err(), "{spec:?} should be rejected");
            assert!(spec.try_init(&Device::flex()).is_err());
        }
        assert!(vit_spec(32).validate().is_ok());
    }

    #[test]
    fn tiny_shapes() {
        let _rng = crate::train::trainer::init_lock(); // draws from burn's generator
        let dev = Device::flex();
        let spec = BackboneSpec::TinyConvNet { width: 8, depth: 3 };
        let net = spec.init(&dev);
        assert_eq!(spec.feature_dim(), 32);
        assert_eq!(net.feature_dim(), 32);
        assert_eq!(net.forward(input(2, 16, &dev)).dims(), [2, 32]);
        assert_eq!(net.feature_map(input(2, 16, &dev)).dims(), [2, 32, 4, 4]);
    }

    #[test]
    fn resnet_shapes() {
        let _rng = crate::train::trainer::init_lock(); // draws from burn's generator
        let dev = Device::flex();
        for (depth, cifar_stem, side, fdim, fmap) in [
            (18, true, 16, 512, 2),
            (34, false, 64, 512, 2),
            (50, false, 64, 2048, 2),
            (50, true, 16, 2048, 2),
        ] {
            let spec = BackboneSpec::ResNet {
                depth,
                cifar_stem,
                zero_init_residual: true,
            };
            let net = spec.init(&dev);
            assert_eq!(spec.feature_dim(), fdim);
            assert_eq!(net.feature_dim(), fdim);
            assert_eq!(net.forward(input(2, side, &dev)).dims(), [2, fdim]);
            assert_eq!(
                net.feature_map(input(1, side, &dev)).dims(),
                [1, fdim, fmap, fmap]
            );
        }
    }

    #[test]
    fn resnet_param_counts_match_torchvision() {
        let _rng = crate::train::trainer::init_lock(); // draws from burn's generator
        let dev = Device::flex();
        let r18 = BackboneSpec::ResNet {
            depth: 18,
            cifar_stem: true,
            zero_init_residual: false,
        }
        .init(&dev);
        // torchvision resnet18 with 3x3 stem and 10-class fc: 11,173,962 - (512*10 + 10).
        assert_eq!(r18.num_trainable_params(), 11_168_832);
        let r50 = BackboneSpec::ResNet {
            depth: 50,
            cifar_stem: false,
            zero_init_residual: false,
        }
        .init(&dev);
        // torchvision resnet50: 25,557,032 - (2048*1000 + 1000).
        assert_eq!(r50.num_trainable_params(), 23_508_032);
    }

    #[test]
    fn vit_shapes_at_two_input_sizes() {
        let _rng = crate::train::trainer::init_lock(); // draws from burn's generator
        let dev = Device::flex();
        let spec = vit_spec(32);
        let net = spec.init(&dev);
        assert_eq!(net.feature_dim(), 32);
        assert_eq!(net.forward(input(2, 32, &dev)).dims(), [2, 32]);
        assert_eq!(net.feature_map(input(2, 32, &dev)).dims(), [2, 32, 8, 8]);
        // DINO local crop: smaller side, position embedding interpolated to a 4x4 grid.
        assert_eq!(net.forward(input(3, 16, &dev)).dims(), [3, 32]);
        assert_eq!(net.feature_map(input(1, 16, &dev)).dims(), [1, 32, 4, 4]);
        // non-square input
        assert_eq!(
            net.feature_map(input(1, 24, &dev).narrow(3, 0, 16)).dims(),
            [1, 32, 6, 4]
        );
    }

    #[test]
    fn vit_interpolated_pos_embed_gets_gradients() {
        let _rng = crate::train::trainer::init_lock(); // draws from burn's generator
        let dev = Device::flex().autodiff();
        let net = vit_spec(16).init(&dev);
        let Backbone::Vit(vit) = &net else {
            unreachable!()
        };
        let loss = net.forward(input(2, 24, &dev)).powf_scalar(2.0).sum();
        let grads = loss.backward();
        let g = vit.pos_embed.val().grad(&grads).expect("pos_embed grad");
        assert!(vec_of(g.abs().sum())[0] > 0.0);
    }

    /// Env var marking the child process of `init_is_deterministic_after_seed`.
    const DET_CHILD: &str = "SSLP_BACKBONE_DETERMINISM_CHILD";

    /// flex's RNG is one process-wide mutex, so any test drawing random numbers in parallel would
    /// interleave with `seed -> init`; the check therefore re-runs itself alone in a child process.
    #[test]
    fn init_is_deterministic_after_seed() {
        if std::env::var_os(DET_CHILD).is_none() {
            let path = module_path!();
            let name = path.split_once("::").map_or(path, |(_, rest)| rest);
            let out = std::process::Command::new(std::env::current_exe().expect("test exe"))
                .args([
                    &format!("{name}::init_is_deterministic_after_seed"),
                    "--exact",
                    "--test-threads=1",
                ])
                .env(DET_CHILD, "1")
                .output()
                .expect("spawn child test");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("1 passed"),
                "child failed: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        let _rng = crate::train::trainer::init_lock(); // draws from burn's generator
        for spec in [
            BackboneSpec::TinyConvNet { width: 4, depth: 2 },
            BackboneSpec::ResNet {
                depth: 18,
                cifar_stem: true,
                zero_init_residual: false,
            },
            vit_spec(16),
        ] {
            let dev = Device::flex();
            let run = || {
                dev.seed(7);
                let net = spec.init(&dev);
                vec_of(net.forward(input(2, 16, &dev)))
            };
            let (a, b) = (run(), run());
            assert_eq!(a, b, "{spec:?}");
        }
    }

    #[test]
    fn tiny_gets_nonzero_gradient_for_every_parameter() {
        let _rng = crate::train::trainer::init_lock(); // draws from burn's generator
        struct Check<'a> {
            grads: &'a burn::tensor::Gradients,
            seen: usize,
            bad: Vec<usize>,
        }
        impl ModuleVisitor for Check<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let t = param.val();
                if t.is_require_grad() {
                    let ok = t
                        .grad(self.grads)
                        .map(|g| vec_of(g.abs().sum())[0] > 0.0)
                        .unwrap_or(false);
                    if !ok {
                        self.bad.push(self.seen);
                    }
                    self.seen += 1;
                }
            }
        }
        let dev = Device::flex().autodiff();
        dev.seed(3);
        let net = BackboneSpec::TinyConvNet { width: 4, depth: 3 }.init(&dev);
        let target = Tensor::<2>::random([4, 16], Distribution::Normal(0.0, 1.0), &dev);
        let loss = (net.forward(input(4, 16, &dev)) - target)
            .powf_scalar(2.0)
            .mean();
        let grads = loss.backward();
        let mut check = Check {
            grads: &grads,
            seen: 0,
            bad: Vec::new(),
        };
        net.visit(&mut check);
        // 3 blocks x (conv weight, BN gamma, BN beta)
        assert_eq!(check.seen, 9);
        assert!(
            check.bad.is_empty(),
            "params without gradient: {:?}",
            check.bad
        );
    }
}
