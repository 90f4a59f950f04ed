//! Tiny convnet: a stack of conv3x3+BN+ReLU blocks, for tests and quick CPU experiments.

use super::{batch_norm, conv_kaiming, global_avg_pool};
use crate::train::kernels::{apply_batch_norm, conv2d};
use burn::module::Module;
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Tensor};

/// One conv3x3 (no bias) + BN + ReLU block.
#[derive(Module, Debug)]
pub struct ConvBnRelu {
    /// 3x3 convolution, padding 1.
    pub conv: Conv2d,
    /// Batch norm after the convolution.
    pub bn: BatchNorm,
}

impl ConvBnRelu {
    /// Builds a block `cin -> cout` with the given stride.
    fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        Self {
            conv: conv_kaiming(cin, cout, 3, stride, 1, device),
            bn: batch_norm(cout, false, device),
        }
    }

    /// conv -> BN -> ReLU.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        apply_batch_norm(&self.bn, conv2d(&self.conv, x), true)
    }
}

/// `depth` blocks with channels `width·2^i`, stride 2 from the second block on, then GAP.
#[derive(Module, Debug)]
pub struct TinyConvNet {
    /// The conv blocks in order.
    pub blocks: Vec<ConvBnRelu>,
}

impl TinyConvNet {
    /// Builds the net; `width > 0`, `depth >= 1` (checked by `BackboneSpec::validate`).
    pub(super) fn new(width: usize, depth: usize, device: &Device) -> Self {
        let mut blocks = Vec::with_capacity(depth);
        let mut cin = 3;
        for i in 0..depth {
            let cout = width << i;
            let stride = if i == 0 { 1 } else { 2 };
            blocks.push(ConvBnRelu::new(cin, cout, stride, device));
            cin = cout;
        }
        Self { blocks }
    }

    /// Last feature map `[B, width·2^(depth-1), h, w]`.
    pub fn feature_map(&self, x: Tensor<4>) -> Tensor<4> {
        self.blocks.iter().fold(x, |x, b| b.forward(x))
    }

    /// Pooled features `[B, feature_dim]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        global_avg_pool(self.feature_map(x))
    }

    /// Channels of the last block.
    pub fn feature_dim(&self) -> usize {
        self.blocks
            .last()
            .map(|b| b.conv.weight.lazy_shape().dims::<4>()[0])
            .unwrap_or(3)
    }
}
