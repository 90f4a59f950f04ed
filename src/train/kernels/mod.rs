//! Training kernels of our own, as burn backend extensions: faster CPU paths for the layers that
//! dominate a training step, each with its backward pass, and with burn's own op as the route on
//! every other device or configuration.
//!
//! Why: burn's flex backend computes a convolution's input gradient as a transposed convolution
//! and its weight gradient through layout swaps, which made convolution backward 2.5× slower
//! than PyTorch's and about 60 % of a ResNet step, and its batch norm is made of generic tensor
//! ops (BENCHMARKS.md, "Training throughput"). The kernels here are plain slice functions
//! ([`conv`], [`batch_norm`]) behind a `#[backend_extension]` trait, the mechanism burn offers
//! for custom ops, so they could move upstream unchanged.

pub mod batch_norm;
pub mod conv;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, backend_extension};
use burn::backend::{AutodiffBackend, TensorMetadata};
use burn::nn::BatchNorm;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::activation;
use burn::tensor::{DType, Device, Tensor, TensorData};

use batch_norm::NormGeometry;
use conv::ConvGeometry;

/// Custom training ops, implemented for flex and for autodiff over flex.
#[backend_extension(Flex, Autodiff)]
pub trait KernelBackend: burn::backend::Backend {
    /// 2-D convolution without bias, groups or dilation; `stride` and symmetric `padding` per
    /// axis. Inputs are f32 (the caller checks).
    fn sslp_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self>;

    /// Per-channel mean and biased variance of `x [batch, channels, h, w]`, as `[2·channels]`
    /// (means, then variances). Not differentiated: [`KernelBackend::sslp_batch_norm`]'s backward
    /// covers the path through the statistics.
    fn sslp_channel_stats(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Training-mode batch norm of `x` with its `stats` (from [`KernelBackend::sslp_channel_stats`]),
    /// followed by a ReLU when `relu`.
    fn sslp_batch_norm(
        x: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> FloatTensor<Self>;
}

/// The batch-norm geometry of a `[batch, channels, h, w]` flex tensor.
fn norm_geometry(x: &FlexTensor) -> NormGeometry {
    let [batch, channels, h, w] = x.shape().dims();
    NormGeometry {
        batch,
        channels,
        pixels: h * w,
    }
}

/// A one-dimensional flex tensor owning `values`.
fn flex_vector(values: Vec<f32>) -> FlexTensor {
    let len = values.len();
    FlexTensor::from_data(TensorData::new(values, [len]))
}

/// The geometry of `x` and `weight` as flex tensors.
fn geometry(
    x: &FlexTensor,
    weight: &FlexTensor,
    stride: [usize; 2],
    padding: [usize; 2],
) -> ConvGeometry {
    let [batch, cin, h, w] = x.shape().dims();
    let [cout, _, kh, kw] = weight.shape().dims();
    ConvGeometry {
        batch,
        cin,
        h,
        w,
        cout,
        kernel: [kh, kw],
        stride,
        padding,
    }
}

/// The tensor's f32 elements in row-major order (a copy only when it is not contiguous).
fn elements(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) if t.is_contiguous() => std::borrow::Cow::Borrowed(s),
        _ => std::borrow::Cow::Owned(t.to_contiguous().storage::<f32>().to_vec()),
    }
}

/// A flex tensor owning `values` with the given shape.
fn flex_tensor(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl KernelBackend for Flex {
    fn sslp_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FlexTensor {
        let g = geometry(&x, &weight, stride, padding);
        let [ho, wo] = g.output_size().unwrap_or([0, 0]);
        let out = conv::conv2d_forward(&g, &elements(&x), &elements(&weight));
        flex_tensor(out, [g.batch, g.cout, ho, wo])
    }

    fn sslp_channel_stats(x: FlexTensor) -> FlexTensor {
        flex_vector(batch_norm::channel_stats(&norm_geometry(&x), &elements(&x)))
    }

    fn sslp_batch_norm(
        x: FlexTensor,
        stats: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> FlexTensor {
        let y = batch_norm::forward(
            &norm_geometry(&x),
            &elements(&x),
            &elements(&stats),
            [&elements(&gamma), &elements(&beta)],
            epsilon,
            relu,
        );
        FlexTensor::from_data(TensorData::new(y, x.shape()))
    }
}

/// Backward of [`KernelBackend::sslp_batch_norm`]: gradients of the input, γ and β.
#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    type State = (NodeId, NodeId, NodeId, FlexTensor, f64, bool);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x_state, gamma_state, beta_state, stats, epsilon, relu) = ops.state;
        let x = checkpointer.retrieve_node_output::<FlexTensor>(x_state);
        let gamma = checkpointer.retrieve_node_output::<FlexTensor>(gamma_state);
        let beta = checkpointer.retrieve_node_output::<FlexTensor>(beta_state);
        let (dx, dgamma, dbeta) = batch_norm::backward(
            &norm_geometry(&x),
            &elements(&x),
            &elements(&stats),
            [&elements(&gamma), &elements(&beta)],
            epsilon,
            relu,
            &elements(&dy),
        );
        if let Some(node) = node_x {
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(dx, x.shape())),
            );
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, flex_vector(dgamma));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, flex_vector(dbeta));
        }
    }
}

/// Backward of [`KernelBackend::sslp_conv2d`]: input and weight gradients by im2col + GEMM.
#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 2> for ConvBackward {
    type State = (NodeId, NodeId, [usize; 2], [usize; 2]);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x_state, weight_state, stride, padding) = ops.state;
        let x = checkpointer.retrieve_node_output::<FlexTensor>(x_state);
        let weight = checkpointer.retrieve_node_output::<FlexTensor>(weight_state);
        let g = geometry(&x, &weight, stride, padding);
        let grad = elements(&grad);
        if let Some(node) = node_x {
            let dx = conv::conv2d_input_grad(&g, &elements(&weight), &grad);
            grads.register::<Flex>(node.id, flex_tensor(dx, [g.batch, g.cin, g.h, g.w]));
        }
        if let Some(node) = node_weight {
            let dw = conv::conv2d_weight_grad(&g, &elements(&x), &grad);
            let shape = [g.cout, g.cin, g.kernel[0], g.kernel[1]];
            grads.register::<Flex>(node.id, flex_tensor(dw, shape));
        }
    }
}

impl<C: CheckpointStrategy> KernelBackend for Autodiff<Flex, C> {
    fn sslp_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        match ConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let out =
                    Flex::sslp_conv2d(x.into_primitive(), weight.into_primitive(), stride, padding);
                prep.finish((x_state, weight_state, stride, padding), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::sslp_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                stride,
                padding,
            )),
        }
    }

    fn sslp_channel_stats(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::from_inner(Flex::sslp_channel_stats(x.into_primitive()))
    }

    fn sslp_batch_norm(
        x: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> FloatTensor<Self> {
        let stats = stats.into_primitive();
        match BatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let gamma_state = prep.checkpoint(&gamma);
                let beta_state = prep.checkpoint(&beta);
                let out = Flex::sslp_batch_norm(
                    x.into_primitive(),
                    stats.clone(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                    relu,
                );
                prep.finish(
                    (x_state, gamma_state, beta_state, stats, epsilon, relu),
                    out,
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::sslp_batch_norm(
                x.into_primitive(),
                stats,
                gamma.into_primitive(),
                beta.into_primitive(),
                epsilon,
                relu,
            )),
        }
    }
}

/// Whether tensors on `device` run on flex, with or without autodiff (whatever its gradient
/// checkpointing).
fn is_flex(device: &Device) -> bool {
    device.clone().without_autodiff() == Device::flex()
}

/// `bn.forward(x)`, followed by a ReLU when `relu`: in training mode on flex (autodiff device,
/// layer not frozen, f32) through [`KernelBackend::sslp_batch_norm`] with the ReLU fused, and
/// through burn otherwise. The running statistics are updated exactly as burn's `BatchNorm` does.
pub fn apply_batch_norm(bn: &BatchNorm, x: Tensor<4>, relu: bool) -> Tensor<4> {
    let device = x.device();
    let fused = device.is_autodiff()
        && bn.training.is_enabled()
        && x.dtype() == DType::F32
        && bn.gamma.val().dtype() == DType::F32
        && is_flex(&device);
    if !fused {
        let y = bn.forward(x);
        return if relu { activation::relu(y) } else { y };
    }
    let [_, channels, _, _] = x.dims();
    let stats: Tensor<1> = Tensor::from_dispatch(<Dispatch as KernelBackend>::sslp_channel_stats(
        x.clone().into_dispatch(),
    ));
    let mean = stats.clone().slice(0..channels);
    let variance = stats.clone().slice(channels..2 * channels);
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    bn.running_mean.update(
        running_mean
            .mul_scalar(1.0 - bn.momentum)
            .add(mean.mul_scalar(bn.momentum))
            .detach(),
    );
    bn.running_var.update(
        running_var
            .mul_scalar(1.0 - bn.momentum)
            .add(variance.mul_scalar(bn.momentum))
            .detach(),
    );
    Tensor::from_dispatch(<Dispatch as KernelBackend>::sslp_batch_norm(
        x.into_dispatch(),
        stats.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
        relu,
    ))
}

/// `conv.forward(x)`, through [`KernelBackend::sslp_conv2d`] when the layer and the input allow it
/// (flex, f32, no bias, one group, no dilation, symmetric padding), and through burn otherwise;
/// inside [`super::precision::autocast`] in the low precision, through burn.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if let Some(dtype) = super::precision::active() {
        return super::precision::conv2d_autocast(conv, x, dtype);
    }
    let padding = match conv.padding {
        PaddingConfig2d::Valid => Some([0, 0]),
        PaddingConfig2d::Explicit(top, left, bottom, right) => {
            (top == bottom && left == right).then_some([top, left])
        }
        PaddingConfig2d::Same => None,
    };
    let weight = conv.weight.val();
    let eligible = conv.bias.is_none()
        && conv.groups == 1
        && conv.dilation == [1, 1]
        && x.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && is_flex(&x.device());
    let Some(padding) = padding.filter(|_| eligible) else {
        return conv.forward(x);
    };
    let out = <Dispatch as KernelBackend>::sslp_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        conv.stride,
        padding,
    );
    Tensor::from_dispatch(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::Distribution;

    fn assert_close(a: Tensor<4>, b: Tensor<4>, what: &str) {
        let (a, b) = (
            a.into_data().try_to_vec::<f32>().unwrap(),
            b.into_data().try_to_vec::<f32>().unwrap(),
        );
        assert_eq!(a.len(), b.len(), "{what}: length");
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                "{what}[{i}]: {x} vs {y}"
            );
        }
    }

    /// Forward values and both gradients agree with burn's own convolution through autodiff,
    /// for the layer shapes the backbones use (3×3 stride 1 and 2, 1×1 stride 2, a 7×7 stem).
    #[test]
    fn matches_burn_convolution_through_autodiff() {
        let _rng = crate::train::trainer::init_lock(); // draws from burn's generator
        let device = Device::flex().autodiff();
        assert!(is_flex(&device) && is_flex(&Device::flex()));
        device.seed(7);
        for (cin, cout, k, stride, pad, size) in [
            (3, 8, 3, 1, 1, 9),
            (4, 6, 3, 2, 1, 10),
            (5, 7, 1, 2, 0, 8),
            (3, 4, 7, 2, 3, 12),
            (6, 6, 1, 1, 0, 5),
        ] {
            let conv = Conv2dConfig::new([cin, cout], [k, k])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_bias(false)
                .init(&device);
            let x = Tensor::<4>::random(
                [3, cin, size, size + 1],
                Distribution::Normal(0.0, 1.0),
                &device,
            )
            .require_grad();
            let what = format!("{cin}->{cout} k{k} s{stride} p{pad}");
            let theirs = conv.forward(x.clone());
            let ours = conv2d(&conv, x.clone());
            assert_close(ours.clone(), theirs.clone(), &format!("forward {what}"));
            // A non-uniform upstream gradient: weight the outputs before summing.
            let r = Tensor::<4>::random(theirs.dims(), Distribution::Normal(0.0, 1.0), &device);
            let g_theirs = (theirs * r.clone()).sum().backward();
            let g_ours = (ours * r).sum().backward();
            let weight = conv.weight.val();
            assert_close(
                x.grad(&g_ours).unwrap(),
                x.grad(&g_theirs).unwrap(),
                &format!("dx {what}"),
            );
            assert_close(
                weight.grad(&g_ours).unwrap(),
                weight.grad(&g_theirs).unwrap(),
                &format!("dw {what}"),
            );
        }
    }

    /// The fused batch norm (+ ReLU) agrees with burn's `BatchNorm` (+ `relu`) in training mode:
    /// output, the three gradients and the running statistics after the step.
    #[test]
    fn batch_norm_matches_burn_through_autodiff() {
        let _rng = crate::train::trainer::init_lock(); // draws from burn's generator
        use burn::nn::BatchNormConfig;
        let device = Device::flex().autodiff();
        device.seed(3);
        for relu in [false, true] {
            let ours = BatchNormConfig::new(5).init(&device);
            let theirs = BatchNormConfig::new(5).init(&device);
            let gamma = Tensor::<1>::random([5], Distribution::Normal(1.0, 0.5), &device);
            let beta = Tensor::<1>::random([5], Distribution::Normal(0.0, 0.5), &device);
            let (ours, theirs) = {
                let set = |mut bn: BatchNorm| {
                    bn.gamma = burn::module::Param::from_tensor(gamma.clone());
                    bn.beta = burn::module::Param::from_tensor(beta.clone());
                    bn
                };
                (set(ours), set(theirs))
            };
            let x = Tensor::<4>::random([4, 5, 3, 6], Distribution::Normal(0.5, 2.0), &device)
                .require_grad();
            let r = Tensor::<4>::random([4, 5, 3, 6], Distribution::Normal(0.0, 1.0), &device);
            let y_ours = apply_batch_norm(&ours, x.clone(), relu);
            let y_theirs = theirs.forward(x.clone());
            let y_theirs = if relu {
                activation::relu(y_theirs)
            } else {
                y_theirs
            };
            assert_close(
                y_ours.clone(),
                y_theirs.clone(),
                &format!("forward relu={relu}"),
            );
            let g_ours = (y_ours * r.clone()).sum().backward();
            let g_theirs = (y_theirs * r).sum().backward();
            let what = format!("relu={relu}");
            assert_close(
                x.grad(&g_ours).unwrap(),
                x.grad(&g_theirs).unwrap(),
                &format!("dx {what}"),
            );
            let as4 = |t: Tensor<1>| t.reshape([1, 1, 1, 5]);
            for (name, a, b) in [
                (
                    "dgamma",
                    ours.gamma.val().grad(&g_ours),
                    theirs.gamma.val().grad(&g_theirs),
                ),
                (
                    "dbeta",
                    ours.beta.val().grad(&g_ours),
                    theirs.beta.val().grad(&g_theirs),
                ),
            ] {
                assert_close(as4(a.unwrap()), as4(b.unwrap()), &format!("{name} {what}"));
            }
            assert_close(
                as4(ours.running_mean.value()),
                as4(theirs.running_mean.value()),
                "running mean",
            );
            assert_close(
                as4(ours.running_var.value()),
                as4(theirs.running_var.value()),
                "running var",
            );
        }
    }

    /// A layer the kernels do not cover (here: with a bias) takes burn's path with the same result.
    #[test]
    fn layers_outside_the_kernels_use_burn() {
        let _rng = crate::train::trainer::init_lock(); // draws from burn's generator
        let device = Device::flex();
        let conv = Conv2dConfig::new([2, 3], [3, 3]).init(&device);
        let x = Tensor::<4>::random([1, 2, 5, 5], Distribution::Normal(0.0, 1.0), &device);
        assert_close(conv2d(&conv, x.clone()), conv.forward(x), "with bias");
    }
}
