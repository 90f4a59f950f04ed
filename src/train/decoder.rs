//! Light FCN-style segmentation head on a backbone feature map (Long et al. 2015).

use super::ConfigError;
use crate::train::kernels::{apply_batch_norm, conv2d};
use burn::module::{Initializer, Module};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};

/// Hidden channels of the 3x3 conv (torchvision `FCNHead`: in_channels/4; fixed 256 here as in light FCN heads).
const HIDDEN: usize = 256;

/// conv3x3(C→256)+BN+ReLU, conv1x1(256→classes), bilinear upsample to the requested size.
#[derive(Module, Debug)]
pub struct FcnDecoder {
    /// 3x3 conv, padding 1, no bias (followed by BN).
    pub conv: Conv2d,
    /// BN after the 3x3 conv.
    pub bn: BatchNorm,
    /// 1x1 classifier with bias.
    pub classifier: Conv2d,
}

impl FcnDecoder {
    /// Builds the head for `in_channels`-channel feature maps and `classes` outputs.
    pub fn new(in_channels: usize, classes: usize, device: &Device) -> Result<Self, ConfigError> {
        if in_channels == 0 || classes == 0 {
            return Err(ConfigError::new(
                "fcn decoder",
                format!("in_channels ({in_channels}) and classes ({classes}) must be > 0"),
            ));
        }
        // kaiming_normal fan_out for the ReLU conv, as torchvision segmentation models.
        let conv = Conv2dConfig::new([in_channels, HIDDEN], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_bias(false)
            .with_initializer(Initializer::KaimingNormal {
                gain: std::f64::consts::SQRT_2,
                fan_out_only: true,
            })
            .init(device);
        Ok(Self {
            conv,
            bn: BatchNormConfig::new(HIDDEN).init(device),
            classifier: Conv2dConfig::new([HIDDEN, classes], [1, 1]).init(device),
        })
    }

    /// `[B,C,h,w]` feature map -> logits `[B, classes, out_hw[0], out_hw[1]]`.
    pub fn forward(&self, feature_map: Tensor<4>, out_hw: [usize; 2]) -> Tensor<4> {
        let x = apply_batch_norm(&self.bn, conv2d(&self.conv, feature_map), true);
        let x = self.classifier.forward(x);
        let [_, _, h, w] = x.dims();
        if [h, w] == out_hw {
            return x;
        }
        let mut opts = InterpolateOptions::new(InterpolateMode::Bilinear);
        // align_corners=False, as torchvision's FCN (`F.interpolate(..., mode="bilinear", align_corners=False)`).
        opts.align_corners = false;
        opts.output_size = Some(out_hw);
        interpolate(x, opts)
    }

    /// Number of output classes.
    pub fn classes(&self) -> usize {
        self.classifier.weight.lazy_shape().dims::<4>()[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::loss::CrossEntropyLossConfig;
    use burn::optim::{GradientsParams, SgdConfig, momentum::MomentumConfig};
    use burn::tensor::{Distribution, Int};

    /// Mean per-pixel cross-entropy of `[B,K,H,W]` logits against `[B,H,W]` labels.
    fn pixel_ce(logits: Tensor<4>, labels: Tensor<3, Int>) -> Tensor<1> {
        let [b, k, h, w] = logits.dims();
        let flat = logits.permute([0, 2, 3, 1]).reshape([b * h * w, k]);
        CrossEntropyLossConfig::new()
            .init(&flat.device())
            .forward(flat, labels.reshape([b * h * w]))
    }

    #[test]
    fn rejects_zero_sizes() {
        let dev = Device::flex();
        for (channels, classes) in [(0, 3), (8, 0)] {
            let err = FcnDecoder::new(channels, classes, &dev).unwrap_err();
            assert_eq!(err.part, "fcn decoder", "{err}");
        }
    }

    #[test]
    fn output_shapes() {
        let _rng = crate::train::trainer::init_lock(); // draws from burn's generator
        let dev = Device::flex();
        let dec = FcnDecoder::new(16, 5, &dev).expect("decoder");
        assert_eq!(dec.classes(), 5);
        let fmap = Tensor::<4>::random([2, 16, 4, 4], Distribution::Normal(0.0, 1.0), &dev);
        assert_eq!(dec.forward(fmap.clone(), [32, 32]).dims(), [2, 5, 32, 32]);
        assert_eq!(dec.forward(fmap.clone(), [4, 4]).dims(), [2, 5, 4, 4]);
        assert_eq!(dec.forward(fmap, [20, 12]).dims(), [2, 5, 20, 12]);
    }

    #[test]
    fn sgd_steps_reduce_pixel_cross_entropy() {
        let _rng = crate::train::trainer::init_lock(); // draws from burn's generator
        let dev = Device::flex().autodiff();
        let mut dec = FcnDecoder::new(8, 3, &dev).expect("decoder");
        let fmap = Tensor::<4>::random([2, 8, 4, 4], Distribution::Normal(0.0, 1.0), &dev);
        // Labels: left half class 0, right-top class 1, right-bottom class 2 (a learnable layout).
        let labels: Vec<i64> = (0..2 * 16 * 16)
            .map(|i| {
                let (y, x) = ((i / 16) % 16, i % 16);
                if x < 8 {
                    0
                } else if y < 8 {
                    1
                } else {
                    2
                }
            })
            .collect();
        let labels = Tensor::<1, Int>::from_ints(labels.as_slice(), &dev).reshape([2, 16, 16]);
        let mut optim = SgdConfig::new()
            .with_momentum(Some(MomentumConfig::new().with_momentum(0.9)))
            .init();
        let mut losses = Vec::new();
        for _ in 0..6 {
            let loss = pixel_ce(dec.forward(fmap.clone(), [16, 16]), labels.clone());
            losses.push(loss.clone().into_scalar::<f32>());
            let grads = GradientsParams::from_grads(loss.backward(), &dec);
            dec = optim.step(0.05, dec, grads);
        }
        assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
        assert!(losses[5] < 0.8 * losses[0], "loss did not drop: {losses:?}");
    }
}
