//! Training kernels of our own, as burn backend extensions: faster CPU paths for the layers that
//! dominate a training step, each with its backward pass, and with burn's own op as the route on
//! every other device or configuration.
//!
//! Why: burn's flex backend computes a convolution's input gradient as a transposed convolution
//! and its weight gradient through layout swaps, which made convolution backward 2.5× slower
//! than PyTorch's and about 60 % of a ResNet step (BENCHMARKS.md, "Training throughput"). The
//! kernels here are plain slice functions ([`conv`]) behind a `#[backend_extension]` trait, the
//! mechanism burn offers for custom ops, so they could move upstream unchanged.

pub mod conv;

use burn::backend::TensorMetadata;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::{DType, Device, Tensor, TensorData};

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
}

/// Whether tensors on `device` run on flex, with or without autodiff.
fn is_flex(device: &Device) -> bool {
    let flex = Device::flex();
    *device == flex || *device == flex.clone().autodiff()
}

/// `conv.forward(x)`, through [`KernelBackend::sslp_conv2d`] when the layer and the input allow it
/// (flex, f32, no bias, one group, no dilation, symmetric padding), and through burn otherwise.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
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
        let device = Device::flex().autodiff();
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

    /// A layer the kernels do not cover (here: with a bias) takes burn's path with the same result.
    #[test]
    fn layers_outside_the_kernels_use_burn() {
        let device = Device::flex();
        let conv = Conv2dConfig::new([2, 3], [3, 3]).init(&device);
        let x = Tensor::<4>::random([1, 2, 5, 5], Distribution::Normal(0.0, 1.0), &device);
        assert_close(conv2d(&conv, x.clone()), conv.forward(x), "with bias");
    }
}
