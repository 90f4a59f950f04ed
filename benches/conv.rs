//! Convolution kernels, layer by layer: `sslp::train::kernels::conv` against burn flex's own
//! convolution, forward and backward, on the layer shapes of the shipped backbones.
//!
//! `cargo bench --bench conv -- [--reps N] [--batch B]`. Prints one row per layer: milliseconds
//! for forward, input gradient and weight gradient (ours, directly on slices), GFLOP/s of our
//! three passes together, and forward + backward through autodiff for ours and for flex's
//! `Conv2d::forward` on the same tensors.

use std::time::Instant;

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Distribution, Tensor};
use sslp::train::kernels::conv::{
    ConvGeometry, conv2d_forward, conv2d_input_grad, conv2d_weight_grad,
};
use sslp::train::kernels::conv2d;

/// Median wall time of `reps` runs of `f`, in milliseconds.
fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Forward and backward of one layer through autodiff, with `forward` as the layer.
fn autodiff_ms(
    reps: usize,
    conv: &Conv2d,
    x: &Tensor<4>,
    forward: impl Fn(&Conv2d, Tensor<4>) -> Tensor<4>,
) -> f64 {
    median_ms(reps, || {
        let y = forward(conv, x.clone());
        let grads = y.sum().backward();
        let _ = conv.weight.val().grad(&grads);
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: usize| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let reps = value("--reps", 5);
    let batch = value("--batch", 64);
    let device = Device::flex().autodiff();
    device.seed(0);
    // (name, cin, cout, kernel, stride, pad, input size)
    let layers = [
        ("resnet18 stem 3x3", 3, 64, 3, 1, 1, 32),
        ("resnet18 s1 3x3", 64, 64, 3, 1, 1, 32),
        ("resnet18 s2 3x3/2", 64, 128, 3, 2, 1, 32),
        ("resnet18 s2 3x3", 128, 128, 3, 1, 1, 16),
        ("resnet18 s2 1x1/2", 64, 128, 1, 2, 0, 32),
        ("resnet18 s3 3x3", 256, 256, 3, 1, 1, 8),
        ("resnet18 s4 3x3", 512, 512, 3, 1, 1, 4),
        ("tiny(16) b1 3x3", 3, 16, 3, 1, 1, 32),
        ("tiny(16) b2 3x3/2", 16, 32, 3, 2, 1, 32),
        ("tiny(16) b3 3x3/2", 32, 64, 3, 2, 1, 16),
        ("tiny(16) b4 3x3/2", 64, 128, 3, 2, 1, 8),
    ];
    println!("batch {batch}, median of {reps}; ms per pass");
    println!(
        "{:<20} {:>8} {:>8} {:>8} {:>8} {:>12} {:>12} {:>6}",
        "layer", "fwd", "dx", "dw", "GFLOP/s", "ours f+b", "flex f+b", "ratio"
    );
    for (name, cin, cout, k, stride, pad, size) in layers {
        let g = ConvGeometry {
            batch,
            cin,
            h: size,
            w: size,
            cout,
            kernel: [k, k],
            stride: [stride, stride],
            padding: [pad, pad],
        };
        let [ho, wo] = g.output_size().expect("valid layer");
        let x: Vec<f32> = (0..batch * cin * size * size)
            .map(|i| ((i % 97) as f32) / 97.0 - 0.5)
            .collect();
        let w: Vec<f32> = (0..cout * cin * k * k)
            .map(|i| ((i % 89) as f32) / 89.0 - 0.5)
            .collect();
        let r: Vec<f32> = (0..batch * cout * ho * wo)
            .map(|i| ((i % 83) as f32) / 83.0 - 0.5)
            .collect();
        let fwd = median_ms(reps, || drop(conv2d_forward(&g, &x, &w)));
        let dx = median_ms(reps, || drop(conv2d_input_grad(&g, &w, &r)));
        let dw = median_ms(reps, || drop(conv2d_weight_grad(&g, &x, &r)));
        let flops = 2.0 * (batch * cout * ho * wo * cin * k * k) as f64 * 3.0;
        let gflops = flops / ((fwd + dx + dw) * 1e6);

        let conv = Conv2dConfig::new([cin, cout], [k, k])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_bias(false)
            .init(&device);
        let xt = Tensor::<4>::random(
            [batch, cin, size, size],
            Distribution::Normal(0.0, 1.0),
            &device,
        )
        .require_grad();
        let ours = autodiff_ms(reps, &conv, &xt, conv2d);
        let flex = autodiff_ms(reps, &conv, &xt, |c, x| c.forward(x));
        println!(
            "{name:<20} {fwd:>8.2} {dx:>8.2} {dw:>8.2} {gflops:>8.1} {ours:>12.2} {flex:>12.2} {:>6.2}",
            flex / ours
        );
    }
}
