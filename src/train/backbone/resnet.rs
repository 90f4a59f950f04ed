//! torchvision-layout ResNet-18/34/50 (He et al. 2016) with an optional CIFAR stem.

use super::{batch_norm, conv_kaiming, global_avg_pool};
use crate::train::kernels::{apply_batch_norm, conv2d};
use burn::module::Module;
use burn::nn::BatchNorm;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// 1x1 conv + BN projection shortcut used when shape changes (He et al. 2016, sec. 3.3 option B).
#[derive(Module, Debug)]
pub struct Downsample {
    /// 1x1 strided projection.
    pub conv: Conv2d,
    /// BN after the projection.
    pub bn: BatchNorm,
}

impl Downsample {
    /// Projection `cin -> cout` with `stride`.
    fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv: conv_kaiming(cin, cout, 1, stride, 0, device),
            bn: batch_norm(cout, false, device),
        }
    }

    /// conv -> BN.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        apply_batch_norm(&self.bn, conv2d(&self.conv, x), false)
    }
}

/// Two 3x3 convs with identity/projection shortcut (ResNet-18/34, He et al. 2016 Fig. 5 left).
#[derive(Module, Debug)]
pub struct BasicBlock {
    /// First 3x3 conv (carries the stride).
    pub conv1: Conv2d,
    /// BN after conv1.
    pub bn1: BatchNorm,
    /// Second 3x3 conv.
    pub conv2: Conv2d,
    /// BN after conv2 (zero-initialised gamma with `zero_init_residual`).
    pub bn2: BatchNorm,
    /// Projection shortcut when the shape changes.
    pub downsample: Option<Downsample>,
}

impl BasicBlock {
    /// Channel expansion of the block's output.
    const EXPANSION: usize = 1;

    /// Block `cin -> planes` with `stride`.
    fn new(cin: usize, planes: usize, stride: usize, zero_init: bool, device: &Device) -> Self {
        let cout = planes * Self::EXPANSION;
        Self {
            conv1: conv_kaiming(cin, planes, 3, stride, 1, device),
            bn1: batch_norm(planes, false, device),
            conv2: conv_kaiming(planes, planes, 3, 1, 1, device),
            bn2: batch_norm(planes, zero_init, device),
            downsample: (stride != 1 || cin != cout)
                .then(|| Downsample::new(cin, cout, stride, device)),
        }
    }

    /// relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut(x)).
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => d.forward(x.clone()),
            None => x.clone(),
        };
        let out = apply_batch_norm(&self.bn1, conv2d(&self.conv1, x), true);
        let out = apply_batch_norm(&self.bn2, conv2d(&self.conv2, out), false);
        relu(out + identity)
    }
}

/// 1x1-3x3-1x1 bottleneck, stride on the 3x3 ("ResNet v1.5", torchvision; He et al. 2016 Fig. 5 right).
#[derive(Module, Debug)]
pub struct Bottleneck {
    /// 1x1 reduce.
    pub conv1: Conv2d,
    /// BN after conv1.
    pub bn1: BatchNorm,
    /// 3x3 (carries the stride).
    pub conv2: Conv2d,
    /// BN after conv2.
    pub bn2: BatchNorm,
    /// 1x1 expand (x4).
    pub conv3: Conv2d,
    /// BN after conv3 (zero-initialised gamma with `zero_init_residual`).
    pub bn3: BatchNorm,
    /// Projection shortcut when the shape changes.
    pub downsample: Option<Downsample>,
}

impl Bottleneck {
    /// Channel expansion of the block's output (He et al. 2016, Table 1).
    const EXPANSION: usize = 4;

    /// Block `cin -> 4·planes` with `stride`.
    fn new(cin: usize, planes: usize, stride: usize, zero_init: bool, device: &Device) -> Self {
        let cout = planes * Self::EXPANSION;
        Self {
            conv1: conv_kaiming(cin, planes, 1, 1, 0, device),
            bn1: batch_norm(planes, false, device),
            conv2: conv_kaiming(planes, planes, 3, stride, 1, device),
            bn2: batch_norm(planes, false, device),
            conv3: conv_kaiming(planes, cout, 1, 1, 0, device),
            bn3: batch_norm(cout, zero_init, device),
            downsample: (stride != 1 || cin != cout)
                .then(|| Downsample::new(cin, cout, stride, device)),
        }
    }

    /// Bottleneck residual forward.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => d.forward(x.clone()),
            None => x.clone(),
        };
        let out = apply_batch_norm(&self.bn1, conv2d(&self.conv1, x), true);
        let out = apply_batch_norm(&self.bn2, conv2d(&self.conv2, out), true);
        let out = apply_batch_norm(&self.bn3, conv2d(&self.conv3, out), false);
        relu(out + identity)
    }
}

/// Either residual block kind.
// Variants differ by ~0.5 kB of handles and blocks sit in a Vec once per model: no boxing needed.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum ResBlock {
    /// ResNet-18/34 block.
    Basic(BasicBlock),
    /// ResNet-50 block.
    Bottleneck(Bottleneck),
}

impl ResBlock {
    /// Residual forward.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            ResBlock::Basic(b) => b.forward(x),
            ResBlock::Bottleneck(b) => b.forward(x),
        }
    }
}

/// ResNet trunk without `fc` (field names follow torchvision for weight import).
#[derive(Module, Debug)]
pub struct ResNet {
    /// Stem conv: 7x7/2 pad 3, or 3x3/1 pad 1 with the CIFAR stem.
    pub conv1: Conv2d,
    /// Stem BN.
    pub bn1: BatchNorm,
    /// 3x3/2 max-pool (absent with the CIFAR stem).
    pub maxpool: Option<MaxPool2d>,
    /// Stage 1 (64 planes, stride 1).
    pub layer1: Vec<ResBlock>,
    /// Stage 2 (128 planes, stride 2).
    pub layer2: Vec<ResBlock>,
    /// Stage 3 (256 planes, stride 2).
    pub layer3: Vec<ResBlock>,
    /// Stage 4 (512 planes, stride 2).
    pub layer4: Vec<ResBlock>,
    /// Output channels of layer4.
    pub out_channels: usize,
}

impl ResNet {
    /// Builds ResNet-`depth` (18/34/50; validated by `BackboneSpec::validate`, others fall back to 50).
    pub(super) fn new(
        depth: usize,
        cifar_stem: bool,
        zero_init_residual: bool,
        device: &Device,
    ) -> Self {
        // Blocks per stage: He et al. 2016, Table 1.
        let (bottleneck, counts) = match depth {
            18 => (false, [2, 2, 2, 2]),
            34 => (false, [3, 4, 6, 3]),
            _ => (true, [3, 4, 6, 3]),
        };
        let expansion = if bottleneck {
            Bottleneck::EXPANSION
        } else {
            BasicBlock::EXPANSION
        };
        let (conv1, maxpool) = if cifar_stem {
            // CIFAR stem: 3x3/1 pad 1 conv, no max-pool (lightly; solo-learn pads 2).
            (conv_kaiming(3, 64, 3, 1, 1, device), None)
        } else {
            // ImageNet stem: 7x7/2 pad 3 conv + 3x3/2 pad 1 max-pool (He et al. 2016, Table 1).
            let pool = MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init();
            (conv_kaiming(3, 64, 7, 2, 3, device), Some(pool))
        };
        let mut cin = 64;
        let mut stages: Vec<Vec<ResBlock>> = Vec::with_capacity(4);
        for (i, &n) in counts.iter().enumerate() {
            let planes = 64 << i;
            let mut blocks = Vec::with_capacity(n);
            for j in 0..n {
                let stride = if i > 0 && j == 0 { 2 } else { 1 };
                blocks.push(if bottleneck {
                    ResBlock::Bottleneck(Bottleneck::new(
                        cin,
                        planes,
                        stride,
                        zero_init_residual,
                        device,
                    ))
                } else {
                    ResBlock::Basic(BasicBlock::new(
                        cin,
                        planes,
                        stride,
                        zero_init_residual,
                        device,
                    ))
                });
                cin = planes * expansion;
            }
            stages.push(blocks);
        }
        let mut it = stages.into_iter();
        let mut next = || it.next().unwrap_or_default();
        Self {
            conv1,
            bn1: batch_norm(64, false, device),
            maxpool,
            layer1: next(),
            layer2: next(),
            layer3: next(),
            layer4: next(),
            out_channels: cin,
        }
    }

    /// Output of layer4 `[B, C, H/8, W/8]` (CIFAR stem) or `[B, C, H/32, W/32]`.
    pub fn feature_map(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = apply_batch_norm(&self.bn1, conv2d(&self.conv1, x), true);
        if let Some(pool) = &self.maxpool {
            x = pool.forward(x);
        }
        [&self.layer1, &self.layer2, &self.layer3, &self.layer4]
            .into_iter()
            .flatten()
            .fold(x, |x, b| b.forward(x))
    }

    /// Global-average-pooled features `[B, C]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        global_avg_pool(self.feature_map(x))
    }

    /// 512 (ResNet-18/34) or 2048 (ResNet-50).
    pub fn feature_dim(&self) -> usize {
        self.out_channels
    }
}
