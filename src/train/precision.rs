//! Mixed-precision training: the weights stay in f32 (the "master" copy the
//! optimiser updates), while convolutions and linear layers compute in f16 or
//! bf16 inside [`autocast`]; with f16 the loss is scaled before the backward
//! pass and the gradients unscaled after it, with the scale adjusted on
//! overflow ([`LossScaler`]), as in Micikevicius et al. 2018, "Mixed Precision
//! Training", and PyTorch's `torch.amp`. bf16 has f32's exponent range, so it
//! needs no scaling.
//!
//! Simplification against PyTorch's autocast, stated where users look
//! (`sslp explain pretrain`): only convolutions and linear layers run in the low
//! precision, and their outputs are cast back to f32, so normalisation,
//! activations, attention's softmax and the losses all run in f32.

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::conv::Conv2d;
use burn::nn::{Linear, PaddingConfig2d};
use burn::optim::GradientsParams;
use burn::tensor::module::{conv2d, linear};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{FloatDType, Tensor};
use serde::{Deserialize, Serialize};
use std::cell::Cell;

/// The floating-point format training computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Precision {
    /// Everything in f32.
    #[default]
    F32,
    /// Convolutions and linear layers in f16, with dynamic loss scaling.
    F16,
    /// Convolutions and linear layers in bf16, without loss scaling.
    Bf16,
}

impl Precision {
    /// `f32`, `f16` or `bf16` (the empty string is f32, the default).
    pub fn parse(name: &str) -> Option<Precision> {
        match name {
            "" | "f32" => Some(Precision::F32),
            "f16" => Some(Precision::F16),
            "bf16" => Some(Precision::Bf16),
            _ => None,
        }
    }

    /// The name users write: `f32`, `f16` or `bf16`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }

    /// The format layers compute in under [`autocast`], `None` for f32.
    pub fn compute_dtype(self) -> Option<FloatDType> {
        match self {
            Precision::F32 => None,
            Precision::F16 => Some(FloatDType::F16),
            Precision::Bf16 => Some(FloatDType::BF16),
        }
    }

    /// A fresh loss scaler when this precision needs one (f16 only).
    pub fn scaler(self) -> Option<LossScaler> {
        (self == Precision::F16).then(LossScaler::default)
    }
}

thread_local! {
    /// The format [`conv2d_autocast`] and [`linear_autocast`] compute in on this thread.
    static AUTOCAST: Cell<Option<FloatDType>> = const { Cell::new(None) };
}

/// Runs `f` with convolutions and linear layers computing in `precision` on this thread
/// (the forward pass of a training step); the previous setting is restored afterwards.
pub fn autocast<R>(precision: Precision, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<FloatDType>);
    impl Drop for Restore {
        fn drop(&mut self) {
            AUTOCAST.with(|a| a.set(self.0));
        }
    }
    let _restore = Restore(AUTOCAST.with(|a| a.replace(precision.compute_dtype())));
    f()
}

/// The format layers compute in right now (`None`: f32, no autocast).
pub fn active() -> Option<FloatDType> {
    AUTOCAST.with(Cell::get)
}

/// `conv.forward(x)` with input, weight and bias cast to `dtype`, the output cast back to f32.
/// The casts are part of the autodiff graph, so the f32 weight receives an f32 gradient.
pub fn conv2d_autocast(conv: &Conv2d, x: Tensor<4>, dtype: FloatDType) -> Tensor<4> {
    let [_, _, height, width] = x.dims();
    let ((top, bottom), (left, right)) = match &conv.padding {
        PaddingConfig2d::Valid => ((0, 0), (0, 0)),
        PaddingConfig2d::Same => (
            same_padding(conv.kernel_size[0], conv.stride[0], height),
            same_padding(conv.kernel_size[1], conv.stride[1], width),
        ),
        PaddingConfig2d::Explicit(top, left, bottom, right) => ((*top, *bottom), (*left, *right)),
    };
    let options = ConvOptions::new_with_padding(
        conv.stride,
        [(top, bottom), (left, right)],
        conv.dilation,
        conv.groups,
    );
    conv2d(
        x.cast(dtype),
        conv.weight.val().cast(dtype),
        conv.bias.as_ref().map(|b| b.val().cast(dtype)),
        options,
    )
    .cast(FloatDType::F32)
}

/// The padding before and after one axis that keeps `ceil(size / stride)` outputs (burn's
/// `PaddingConfig2d::Same`, which burn computes the same way but does not export).
fn same_padding(kernel: usize, stride: usize, size: usize) -> (usize, usize) {
    let out = size.div_ceil(stride.max(1));
    let total = if out > 0 {
        ((out - 1) * stride + kernel).saturating_sub(size)
    } else {
        0
    };
    (total / 2, total - total / 2)
}

/// `layer.forward(x)` with input, weight and bias cast to `dtype`, the output cast back to f32.
pub fn linear_autocast<const D: usize>(
    layer: &Linear,
    x: Tensor<D>,
    dtype: FloatDType,
) -> Tensor<D> {
    linear(
        x.cast(dtype),
        layer.weight.val().cast(dtype),
        layer.bias.as_ref().map(|b| b.val().cast(dtype)),
    )
    .cast(FloatDType::F32)
}

/// `layer.forward(x)`, in the low precision inside [`autocast`].
pub fn linear_forward<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    match active() {
        Some(dtype) => linear_autocast(layer, x, dtype),
        None => layer.forward(x),
    }
}

/// What a training step computes in, and (f16 only) its loss scaler.
#[derive(Debug, Clone, PartialEq)]
pub struct Amp {
    /// The precision of convolutions and linear layers.
    pub precision: Precision,
    /// The loss scaler, for f16.
    pub scaler: Option<LossScaler>,
}

impl Amp {
    /// `precision` with a fresh scaler where it needs one.
    pub fn new(precision: Precision) -> Amp {
        Amp {
            precision,
            scaler: precision.scaler(),
        }
    }
}

/// PyTorch `GradScaler`'s defaults (torch.amp.GradScaler: init_scale 2**16,
/// growth_factor 2, backoff_factor 0.5, growth_interval 2000).
const INIT_SCALE: f64 = 65536.0;
const GROWTH_FACTOR: f64 = 2.0;
const BACKOFF_FACTOR: f64 = 0.5;
const GROWTH_INTERVAL: u64 = 2000;

/// Dynamic loss scaling for f16: the loss is multiplied by `scale` before the
/// backward pass so small gradients do not flush to zero in f16; the gradients
/// are divided by it after. A step whose gradients overflow (inf or NaN) is
/// skipped and the scale halved; after 2,000 good steps in a row
/// it doubles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossScaler {
    /// The current scale.
    pub scale: f64,
    /// Good steps since the last change of scale.
    pub good_steps: u64,
    /// Steps skipped because their gradients overflowed, over the whole run.
    pub skipped: u64,
}

impl Default for LossScaler {
    fn default() -> Self {
        LossScaler {
            scale: INIT_SCALE,
            good_steps: 0,
            skipped: 0,
        }
    }
}

impl LossScaler {
    /// Records a step's outcome: `finite` gradients grow the scale in time, others
    /// halve it and count as a skipped step.
    pub fn update(&mut self, finite: bool) {
        if finite {
            self.good_steps += 1;
            if self.good_steps >= GROWTH_INTERVAL {
                self.scale *= GROWTH_FACTOR;
                self.good_steps = 0;
            }
        } else {
            self.scale *= BACKOFF_FACTOR;
            self.good_steps = 0;
            self.skipped += 1;
        }
    }

    /// Divides every gradient of `module`'s parameters by the scale, and says whether
    /// all of them are finite (one read-back for the whole model).
    pub fn unscale<M: Module>(
        &self,
        module: &M,
        grads: GradientsParams,
    ) -> (GradientsParams, bool) {
        let mut visitor = Unscale {
            grads,
            inverse: 1.0 / self.scale,
            total: None,
        };
        module.visit(&mut visitor);
        let finite = visitor
            .total
            .is_none_or(|t| t.into_scalar::<f32>().is_finite());
        (visitor.grads, finite)
    }
}

/// Unscales gradients in place and sums them: a sum is finite only if every term is.
struct Unscale {
    grads: GradientsParams,
    inverse: f64,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for Unscale {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let id = param.id;
        let Some(grad) = self.grads.remove::<D>(id) else {
            return;
        };
        let grad = grad.mul_scalar(self.inverse);
        // Any inf or NaN makes the sum non-finite (inf − inf is NaN).
        let sum = grad.clone().sum();
        self.total = Some(match self.total.take() {
            Some(t) => t + sum,
            None => sum,
        });
        self.grads.register::<D>(id, grad);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{DType, Device, Distribution};

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    fn close(a: &[f32], b: &[f32], rel: f32, what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= rel * scale, "{what}[{i}]: {x} vs {y}");
        }
    }

    #[test]
    fn names_parse_and_only_f16_scales() {
        assert_eq!(Precision::parse(""), Some(Precision::F32));
        assert_eq!(Precision::parse("bf16"), Some(Precision::Bf16));
        assert_eq!(Precision::parse("f8"), None);
        assert!(Precision::F16.scaler().is_some());
        assert!(Precision::Bf16.scaler().is_none() && Precision::F32.scaler().is_none());
    }

    #[test]
    fn autocast_is_scoped_to_its_closure() {
        assert_eq!(active(), None);
        autocast(Precision::Bf16, || {
            assert_eq!(active(), Some(FloatDType::BF16));
            autocast(Precision::F32, || assert_eq!(active(), None));
            assert_eq!(active(), Some(FloatDType::BF16));
        });
        assert_eq!(active(), None);
    }

    /// Low-precision convolutions and linears agree with f32 to the format's precision, and
    /// the f32 weights get f32 gradients close to the f32 ones.
    #[test]
    fn low_precision_layers_match_f32_with_f32_master_gradients() {
        let _rng = crate::train::trainer::init_lock();
        let device = Device::flex().autodiff();
        device.seed(3);
        let conv = Conv2dConfig::new([3, 5], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&device);
        let lin = LinearConfig::new(6, 4).init(&device);
        let x = Tensor::<4>::random([2, 3, 6, 6], Distribution::Normal(0.0, 1.0), &device);
        let v = Tensor::<2>::random([3, 6], Distribution::Normal(0.0, 1.0), &device);
        for (dtype, rel) in [(FloatDType::F16, 4e-3), (FloatDType::BF16, 3e-2)] {
            let y32 = conv.forward(x.clone());
            let ylo = conv2d_autocast(&conv, x.clone(), dtype);
            assert_eq!(ylo.dtype(), DType::F32);
            close(&values(ylo.clone()), &values(y32.clone()), rel, "conv");
            let g32 = y32.sum().backward();
            let glo = ylo.sum().backward();
            let w32 = conv.weight.grad(&g32).unwrap();
            let wlo = conv.weight.grad(&glo).unwrap();
            assert_eq!(wlo.dtype(), DType::F32, "the master weight's gradient");
            close(&values(wlo), &values(w32), rel, "conv weight grad");

            let z32 = lin.forward(v.clone());
            let zlo = linear_autocast(&lin, v.clone(), dtype);
            close(&values(zlo.clone()), &values(z32.clone()), rel, "linear");
            let g32 = z32.sum().backward();
            let glo = zlo.sum().backward();
            close(
                &values(lin.weight.grad(&glo).unwrap()),
                &values(lin.weight.grad(&g32).unwrap()),
                rel,
                "linear weight grad",
            );
        }
    }

    #[test]
    fn the_scale_halves_on_overflow_and_doubles_after_a_run_of_good_steps() {
        let mut s = LossScaler::default();
        s.update(false);
        assert_eq!((s.scale, s.skipped), (INIT_SCALE / 2.0, 1));
        for _ in 0..GROWTH_INTERVAL {
            s.update(true);
        }
        assert_eq!((s.scale, s.good_steps, s.skipped), (INIT_SCALE, 0, 1));
    }

    #[test]
    fn unscaling_divides_the_gradients_and_sees_an_overflow() {
        let _rng = crate::train::trainer::init_lock();
        let device = Device::flex().autodiff();
        device.seed(5);
        let lin = LinearConfig::new(3, 2).init(&device);
        let x = Tensor::<2>::random([4, 3], Distribution::Normal(0.0, 1.0), &device);
        let scaler = LossScaler::default();
        let plain = GradientsParams::from_grads(lin.forward(x.clone()).sum().backward(), &lin);
        let scaled = GradientsParams::from_grads(
            lin.forward(x.clone())
                .sum()
                .mul_scalar(scaler.scale)
                .backward(),
            &lin,
        );
        let (unscaled, finite) = scaler.unscale(&lin, scaled);
        assert!(finite);
        let id = lin.weight.id;
        // A power of two: scaling and unscaling are exact in f32.
        assert_eq!(
            values(unscaled.get::<2>(id).unwrap()),
            values(plain.get::<2>(id).unwrap())
        );
        let huge =
            GradientsParams::from_grads(lin.forward(x).sum().mul_scalar(f32::MAX).backward(), &lin);
        let (_, finite) = scaler.unscale(&lin, huge);
        assert!(!finite);
    }
}
