//! Throughput of one ResNet18 (CIFAR stem) training step on flex: SimCLR vs supervised.
//!
//! `cargo bench --bench train_step -- [--warmup W] [--steps N] [--batch B] [--only KIND]`
//! KIND: `simclr` (two views, each view through the backbone separately), `simclr-cat` (both views
//! in one 2B forward), `supervised` (one view + fc 512->10). Peer: `benches/peers/simclr_step.py`.
//! images/s counts the B *source* images of a step (SimCLR pushes 2B crops through the net).

use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Distribution, Int, Tensor};
use sslp::train::backbone::{Backbone, BackboneSpec};

/// NT-Xent temperature (SimCLR, Chen et al. 2020, sec. B.9: 0.5 for CIFAR-10).
const TAU: f64 = 0.5;

/// SimCLR network: backbone + 2-layer MLP projector (Chen et al. 2020, sec. 2.1; no BN here).
#[derive(Module, Debug)]
struct SimClr {
    backbone: Backbone,
    p1: Linear,
    p2: Linear,
}

impl SimClr {
    fn project(&self, x: Tensor<4>) -> Tensor<2> {
        self.p2
            .forward(relu(self.p1.forward(self.backbone.forward(x))))
    }
}

/// Supervised comparison: backbone + linear classifier.
#[derive(Module, Debug)]
struct Supervised {
    backbone: Backbone,
    fc: Linear,
}

fn resnet18(device: &Device) -> Backbone {
    BackboneSpec::ResNet {
        depth: 18,
        cifar_stem: true,
        zero_init_residual: false,
    }
    .init(device)
}

/// NT-Xent over the 2B projections: targets pair i with i+B; the diagonal is masked out.
fn nt_xent(
    z1: Tensor<2>,
    z2: Tensor<2>,
    mask: Tensor<2, burn::tensor::Bool>,
    target: Tensor<1, Int>,
) -> Tensor<1> {
    let z = Tensor::cat(vec![z1, z2], 0);
    let norm = z
        .clone()
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12);
    let z = z / norm;
    let logits = z
        .clone()
        .matmul(z.transpose())
        .div_scalar(TAU)
        .mask_fill(mask, -1e9);
    CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, target)
}

fn sgd() -> ModuleOptimizer {
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_momentum(0.9)))
        .with_weight_decay(Some(WeightDecayConfig::new(5e-4)))
        .init()
}

/// System-wide busy CPU seconds (all cores) from /proc/stat (0 when unavailable).
fn busy_s() -> f64 {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<f64> = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 8 {
        return 0.0;
    }
    (v[..8].iter().sum::<f64>() - v[3] - v[4]) / 100.0
}

/// CPU seconds used by this process (utime + stime) from /proc/self/stat.
fn own_s() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // after ")" : state(non-numeric, dropped) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    if f.len() < 12 {
        return 0.0;
    }
    (f[10] + f[11]) / 100.0
}

#[derive(Default)]
struct Phases {
    fwd: Vec<f64>,
    bwd: Vec<f64>,
    opt: Vec<f64>,
    step: Vec<f64>,
    loss: Vec<f32>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        f64::NAN
    } else {
        s[s.len() / 2]
    }
}

fn run(kind: &str, warmup: usize, steps: usize, batch: usize) -> Phases {
    let dev = Device::flex().autodiff();
    dev.seed(0);
    let x1 = Tensor::<4>::random([batch, 3, 32, 32], Distribution::Normal(0.0, 1.0), &dev);
    let x2 = Tensor::<4>::random([batch, 3, 32, 32], Distribution::Normal(0.0, 1.0), &dev);
    let n = 2 * batch;
    let mask = Tensor::<1, Int>::arange(0..n as i64, &dev)
        .reshape([n, 1])
        .equal(Tensor::<1, Int>::arange(0..n as i64, &dev).reshape([1, n]));
    let target = Tensor::<1, Int>::arange(0..n as i64, &dev)
        .add_scalar(batch as i64)
        .remainder_scalar(n as i64);
    let labels = Tensor::<1, Int>::arange(0..batch as i64, &dev).remainder_scalar(10);
    let mut ph = Phases::default();
    let mut optim = sgd();
    let mut simclr = SimClr {
        backbone: resnet18(&dev),
        p1: LinearConfig::new(512, 2048).init(&dev),
        p2: LinearConfig::new(2048, 128).init(&dev),
    };
    let mut sup = Supervised {
        backbone: resnet18(&dev),
        fc: LinearConfig::new(512, 10).init(&dev),
    };
    for i in 0..warmup + steps {
        let t0 = Instant::now();
        let (loss, t1, t2, t3);
        match kind {
            "supervised" => {
                let logits = sup.backbone.forward(x1.clone());
                let l = CrossEntropyLossConfig::new()
                    .init(&dev)
                    .forward(sup.fc.forward(logits), labels.clone());
                loss = l.clone().into_scalar::<f32>();
                t1 = Instant::now();
                let grads = l.backward();
                t2 = Instant::now();
                let grads = GradientsParams::from_grads(grads, &sup);
                sup = optim.step(0.1, sup, grads);
                t3 = Instant::now();
            }
            _ => {
                let (z1, z2) = if kind == "simclr-cat" {
                    let z = simclr.project(Tensor::cat(vec![x1.clone(), x2.clone()], 0));
                    let mut c = z.chunk(2, 0).into_iter();
                    match (c.next(), c.next()) {
                        (Some(a), Some(b)) => (a, b),
                        _ => unreachable!(),
                    }
                } else {
                    (simclr.project(x1.clone()), simclr.project(x2.clone()))
                };
                let l = nt_xent(z1, z2, mask.clone(), target.clone());
                loss = l.clone().into_scalar::<f32>();
                t1 = Instant::now();
                let grads = l.backward();
                t2 = Instant::now();
                let grads = GradientsParams::from_grads(grads, &simclr);
                simclr = optim.step(0.1, simclr, grads);
                t3 = Instant::now();
            }
        }
        ph.loss.push(loss);
        if i >= warmup {
            ph.fwd.push((t1 - t0).as_secs_f64());
            ph.bwd.push((t2 - t1).as_secs_f64());
            ph.opt.push((t3 - t2).as_secs_f64());
            ph.step.push((t3 - t0).as_secs_f64());
        }
    }
    ph
}

/// ResNet18-CIFAR conv shapes for one view: (cin, cout, kernel, stride, input side, count).
const R18_CONVS: [(usize, usize, usize, usize, usize, usize); 11] = [
    (3, 64, 3, 1, 32, 1),
    (64, 64, 3, 1, 32, 4),
    (64, 128, 3, 2, 32, 1),
    (128, 128, 3, 1, 16, 3),
    (64, 128, 1, 2, 32, 1),
    (128, 256, 3, 2, 16, 1),
    (256, 256, 3, 1, 8, 3),
    (128, 256, 1, 2, 16, 1),
    (256, 512, 3, 2, 8, 1),
    (512, 512, 3, 1, 4, 3),
    (256, 512, 1, 2, 8, 1),
];

/// Median seconds of `reps` runs of `f` after one warm-up run.
fn time_it(reps: usize, mut f: impl FnMut() -> (f64, f64)) -> (f64, f64) {
    let _ = f();
    let (mut a, mut b): (Vec<f64>, Vec<f64>) = (0..reps).map(|_| f()).unzip();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    (a[reps / 2], b[reps / 2])
}

/// Prototype: conv as im2col-by-slices + one GEMM on channel-major `[C,B,H,W]` activations.
fn conv_cbhw(x: Tensor<4>, w: Tensor<4>, stride: usize, pad: usize) -> Tensor<4> {
    use burn::tensor::ops::PadMode;
    use burn::tensor::s;
    let [c, b, hh, ww] = x.dims();
    let [cout, _, k, _] = w.dims();
    let h = (hh + 2 * pad - k) / stride + 1;
    let wo = (ww + 2 * pad - k) / stride + 1;
    let n = b * h * wo;
    let cols = if k == 1 {
        let xs = if stride > 1 {
            x.slice(s![.., .., 0..hh;stride as isize, 0..ww;stride as isize])
        } else {
            x
        };
        xs.reshape([c, n])
    } else {
        let xp = if pad > 0 {
            x.pad((pad, pad, pad, pad), PadMode::Constant(0.0))
        } else {
            x
        };
        let mut parts = Vec::with_capacity(k * k);
        for kh in 0..k {
            for kw in 0..k {
                let st = stride as isize;
                parts.push(
                    xp.clone()
                        .slice(s![.., .., kh..kh + stride * (h - 1) + 1;st, kw..kw + stride * (wo - 1) + 1;st])
                        .reshape([c, n]),
                );
            }
        }
        Tensor::cat(parts, 0)
    };
    let w2 = w.permute([0, 2, 3, 1]).reshape([cout, k * k * c]);
    w2.matmul(cols).reshape([cout, b, h, wo])
}

/// Prototype: training-mode BN on channel-major `[C,B,H,W]` activations from plain tensor ops.
fn bn_cbhw(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>) -> Tensor<4> {
    let [c, b, h, w] = x.dims();
    let xf = x.reshape([c, b * h * w]);
    let mean = xf.clone().mean_dim(1);
    let xc = xf - mean;
    let var = xc.clone().powf_scalar(2.0).mean_dim(1);
    let scale = var.add_scalar(1e-5).sqrt().recip() * gamma.reshape([c, 1]);
    (xc * scale + beta.reshape([c, 1])).reshape([c, b, h, w])
}

/// Prototype: training-mode BN on NCHW from plain tensor ops (stats via contiguous last-dim reductions).
fn bn_nchw(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let xf = x.reshape([b, c, h * w]);
    let mean = xf.clone().mean_dim(2).mean_dim(0);
    let xc = xf - mean;
    let var = xc.clone().powf_scalar(2.0).mean_dim(2).mean_dim(0);
    let scale = var.add_scalar(1e-5).sqrt().recip() * gamma.reshape([1, c, 1]);
    (xc * scale + beta.reshape([1, c, 1])).reshape([b, c, h, w])
}

/// Prototype: 1x1 stride-s conv on NCHW as subsample + one GEMM with the batch folded into N.
fn conv1x1_gemm(x: Tensor<4>, w: Tensor<4>, stride: usize) -> Tensor<4> {
    use burn::tensor::s;
    let [_, _, hh, ww] = x.dims();
    let xs = if stride > 1 {
        let st = stride as isize;
        x.slice(s![.., .., 0..hh;st, 0..ww;st])
    } else {
        x
    };
    let [b, c, h, wo] = xs.dims();
    let [cout, ..] = w.dims();
    let cols = xs.swap_dims(0, 1).reshape([c, b * h * wo]);
    w.reshape([cout, c])
        .matmul(cols)
        .reshape([cout, b, h, wo])
        .swap_dims(0, 1)
}

/// Per-op forward/backward times at ResNet18-CIFAR shapes (batch B, one view), weighted by count.
fn profile(batch: usize) {
    use burn::nn::conv::Conv2dConfig;
    use burn::nn::{BatchNormConfig, PaddingConfig2d};
    let dev = Device::flex().autodiff();
    dev.seed(0);
    let reps = 3;
    let rnd = |shape: [usize; 4]| Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &dev);
    println!("per-op profile, batch {batch}, median of {reps} (ms); 'x n' = uses per view");
    println!(
        "{:<34} {:>4} {:>9} {:>9} {:>10} {:>10}",
        "op", "n", "fwd", "bwd", "fwd*n", "bwd*n"
    );
    let mut alt = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut tot_cf, mut tot_cb, mut tot_bf, mut tot_bb, mut tot_rf, mut tot_rb) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (cin, cout, k, stride, side, n) in R18_CONVS {
        let pad = k / 2;
        let conv = Conv2dConfig::new([cin, cout], [k, k])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_bias(false)
            .init(&dev);
        let x = rnd([batch, cin, side, side]);
        let x = if cin == 3 { x } else { x.require_grad() };
        let out = side / stride;
        let r = rnd([batch, cout, out, out]);
        let (f, b) = time_it(reps, || {
            let t0 = Instant::now();
            let y = conv.forward(x.clone());
            let t1 = Instant::now();
            let _ = (y * r.clone()).sum().backward();
            (
                t1.duration_since(t0).as_secs_f64(),
                t1.elapsed().as_secs_f64(),
            )
        });
        tot_cf += f * n as f64;
        tot_cb += b * n as f64;
        println!(
            "{:<34} {:>4} {:>9.1} {:>9.1} {:>10.1} {:>10.1}",
            format!("conv{k}x{k}/{stride} {cin}->{cout} @{side}"),
            n,
            f * 1e3,
            b * 1e3,
            f * 1e3 * n as f64,
            b * 1e3 * n as f64
        );
        // BN + ReLU after this conv (same count).
        let bn = BatchNormConfig::new(cout).init(&dev);
        let h = rnd([batch, cout, out, out]).require_grad();
        let (f, b) = time_it(reps, || {
            let t0 = Instant::now();
            let y = bn.forward(h.clone());
            let t1 = Instant::now();
            let _ = (y * r.clone()).sum().backward();
            (
                t1.duration_since(t0).as_secs_f64(),
                t1.elapsed().as_secs_f64(),
            )
        });
        tot_bf += f * n as f64;
        tot_bb += b * n as f64;
        let (rf, rb) = time_it(reps, || {
            let t0 = Instant::now();
            let y = relu(h.clone());
            let t1 = Instant::now();
            let _ = (y * r.clone()).sum().backward();
            (
                t1.duration_since(t0).as_secs_f64(),
                t1.elapsed().as_secs_f64(),
            )
        });
        tot_rf += rf * n as f64;
        tot_rb += rb * n as f64;
        // prototypes on [C,B,H,W]
        let xt = rnd([cin, batch, side, side]);
        let xt = if cin == 3 { xt } else { xt.require_grad() };
        let rt = rnd([cout, batch, out, out]);
        let (af, ab) = time_it(reps, || {
            let t0 = Instant::now();
            let y = conv_cbhw(xt.clone(), conv.weight.val(), stride, pad);
            let t1 = Instant::now();
            let _ = (y * rt.clone()).sum().backward();
            (
                t1.duration_since(t0).as_secs_f64(),
                t1.elapsed().as_secs_f64(),
            )
        });
        let ht = rnd([cout, batch, out, out]).require_grad();
        let (bf, bb) = time_it(reps, || {
            let t0 = Instant::now();
            let y = bn_cbhw(ht.clone(), bn.gamma.val(), bn.beta.val());
            let t1 = Instant::now();
            let _ = (y * rt.clone()).sum().backward();
            (
                t1.duration_since(t0).as_secs_f64(),
                t1.elapsed().as_secs_f64(),
            )
        });
        let hn = rnd([batch, cout, out, out]).require_grad();
        let (nf, nb) = time_it(reps, || {
            let t0 = Instant::now();
            let y = bn_nchw(hn.clone(), bn.gamma.val(), bn.beta.val());
            let t1 = Instant::now();
            let _ = (y * r.clone()).sum().backward();
            (
                t1.duration_since(t0).as_secs_f64(),
                t1.elapsed().as_secs_f64(),
            )
        });
        // conv backward split: input-grad only (weight detached) / weight-grad only (x untracked)
        let xd = rnd([batch, cin, side, side]);
        let (_, wg) = time_it(reps, || {
            let t0 = Instant::now();
            let y = conv.forward(xd.clone());
            let t1 = Instant::now();
            let _ = (y * r.clone()).sum().backward();
            (
                t1.duration_since(t0).as_secs_f64(),
                t1.elapsed().as_secs_f64(),
            )
        });
        let (df, db) = if k == 1 {
            time_it(reps, || {
                let t0 = Instant::now();
                let y = conv1x1_gemm(x.clone(), conv.weight.val(), stride);
                let t1 = Instant::now();
                let _ = (y * r.clone()).sum().backward();
                (
                    t1.duration_since(t0).as_secs_f64(),
                    t1.elapsed().as_secs_f64(),
                )
            })
        } else {
            (0.0, 0.0)
        };
        println!(
            "  bn_nchw {:.1}/{:.1}  conv wgrad-only bwd {:.1}  1x1-gemm {:.1}/{:.1}",
            nf * 1e3,
            nb * 1e3,
            wg * 1e3,
            df * 1e3,
            db * 1e3
        );
        alt.4 += nf * n as f64;
        alt.5 += nb * n as f64;
        alt.0 += af * n as f64;
        alt.1 += ab * n as f64;
        alt.2 += bf * n as f64;
        alt.3 += bb * n as f64;
        println!(
            "{:<34} {:>4} {:>9.1} {:>9.1} {:>10.1} {:>10.1}",
            format!("  ALT conv (bn {:.1}/{:.1})", bf * 1e3, bb * 1e3),
            n,
            af * 1e3,
            ab * 1e3,
            af * 1e3 * n as f64,
            ab * 1e3 * n as f64
        );
        println!(
            "{:<34} {:>4} {:>9.1} {:>9.1} {:>10.1} {:>10.1}",
            format!(
                "  bn / relu {cout}@{out} (relu {:.1}/{:.1})",
                rf * 1e3,
                rb * 1e3
            ),
            n,
            f * 1e3,
            b * 1e3,
            f * 1e3 * n as f64,
            b * 1e3 * n as f64
        );
    }
    // the 'bwd' columns include the backward of the (y*r).sum() probe itself (one mul + sum).
    println!(
        "TOTAL per view (ms): conv fwd {:.0} bwd {:.0} | bn fwd {:.0} bwd {:.0} | relu fwd {:.0} bwd {:.0}",
        tot_cf * 1e3,
        tot_cb * 1e3,
        tot_bf * 1e3,
        tot_bb * 1e3,
        tot_rf * 1e3,
        tot_rb * 1e3
    );
    println!(
        "ALT   per view (ms): conv fwd {:.0} bwd {:.0} | bn fwd {:.0} bwd {:.0} | bn_nchw {:.0} {:.0}",
        alt.0 * 1e3,
        alt.1 * 1e3,
        alt.2 * 1e3,
        alt.3 * 1e3,
        alt.4 * 1e3,
        alt.5 * 1e3
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (warmup, steps, batch) = (
        get("--warmup", 2),
        get("--steps", 5).max(1),
        get("--batch", 64).max(1),
    );
    if args.iter().any(|a| a == "--profile") {
        profile(batch);
        return;
    }
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let kinds: Vec<&str> = ["simclr", "supervised", "simclr-cat"]
        .into_iter()
        .filter(|k| only.as_deref().is_none_or(|o| o == *k))
        .collect();
    println!(
        "flex (burn 0.22.1), RAYON_NUM_THREADS={}, batch {batch}, warm-up {warmup}, timed {steps}; images/s = {batch} source images per step",
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into())
    );
    println!(
        "{:<11} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>6}  loss first->last",
        "kind", "step_med", "step_avg", "fwd", "bwd", "opt", "img/s", "other"
    );
    for kind in kinds {
        let (b0, o0, w0) = (busy_s(), own_s(), Instant::now());
        let ph = run(kind, warmup, steps, batch);
        let wall = w0.elapsed().as_secs_f64();
        let other = (((busy_s() - b0) - (own_s() - o0)) / wall).max(0.0);
        let med = median(&ph.step);
        println!(
            "{:<11} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>9.1} {:>6.2}  {:.4}->{:.4}",
            kind,
            med,
            ph.step.iter().sum::<f64>() / ph.step.len() as f64,
            median(&ph.fwd),
            median(&ph.bwd),
            median(&ph.opt),
            batch as f64 / med,
            other,
            ph.loss.first().copied().unwrap_or(f32::NAN),
            ph.loss.last().copied().unwrap_or(f32::NAN),
        );
    }
}
