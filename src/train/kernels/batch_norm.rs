//! Training-mode batch normalisation on contiguous `[batch, channels, pixels]` `f32` slices,
//! optionally fused with the ReLU that follows it, forward and backward.
//!
//! Statistics are summed per channel in a fixed order (image by image, pixel by pixel) in f64, so
//! they do not depend on the thread count. The variance is the biased one, as burn's
//! `batch_norm_train` computes it (and feeds to its running statistics).

use rayon::prelude::*;

/// The shape of a batch-norm input: `batch` images of `channels` planes of `pixels` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NormGeometry {
    /// Images in the batch.
    pub batch: usize,
    /// Channels (one mean and variance each).
    pub channels: usize,
    /// Values per channel per image (height × width).
    pub pixels: usize,
}

impl NormGeometry {
    /// Values per channel over the whole batch.
    fn count(&self) -> usize {
        self.batch * self.pixels
    }

    /// The `pixels` values of channel `c` of image `b`.
    fn plane<'a>(&self, x: &'a [f32], b: usize, c: usize) -> &'a [f32] {
        &x[(b * self.channels + c) * self.pixels..][..self.pixels]
    }
}

/// Lanes of the per-plane sums: independent f32 accumulators the compiler keeps in one vector
/// register, combined in f64 at the end of the plane. The order is fixed by the plane's length,
/// so the sums do not depend on threads.
const LANES: usize = 16;

/// `Σ f(a[i], b[i])` over two equally long slices, in [`LANES`] f32 accumulators (lane
/// `i % LANES`), combined in f64.
#[inline(always)]
fn lane_sum2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    let (a_whole, a_rest) = a.as_chunks::<LANES>();
    let (b_whole, b_rest) = b.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (a, b) in a_whole.iter().zip(b_whole) {
        for lane in 0..LANES {
            acc[lane] += f(a[lane], b[lane]);
        }
    }
    for (lane, (&a, &b)) in a_rest.iter().zip(b_rest).enumerate() {
        acc[lane] += f(a, b);
    }
    acc.iter().map(|&v| f64::from(v)).sum()
}

/// `(Σ f(a[i], b[i]).0, Σ f(a[i], b[i]).1)` in one pass, as [`lane_sum2`].
#[inline(always)]
fn lane_sum2_pair(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> (f32, f32)) -> (f64, f64) {
    let (a_whole, a_rest) = a.as_chunks::<LANES>();
    let (b_whole, b_rest) = b.as_chunks::<LANES>();
    let (mut first, mut second) = ([0.0f32; LANES], [0.0f32; LANES]);
    for (a, b) in a_whole.iter().zip(b_whole) {
        for lane in 0..LANES {
            let (u, v) = f(a[lane], b[lane]);
            first[lane] += u;
            second[lane] += v;
        }
    }
    for (lane, (&a, &b)) in a_rest.iter().zip(b_rest).enumerate() {
        let (u, v) = f(a, b);
        first[lane] += u;
        second[lane] += v;
    }
    let total = |acc: [f32; LANES]| acc.iter().map(|&v| f64::from(v)).sum();
    (total(first), total(second))
}

/// `Σ f(a[i])`, as [`lane_sum2`].
#[inline(always)]
fn lane_sum(a: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    lane_sum2(a, a, |v, _| f(v))
}

/// Per-channel mean and biased variance, `[means…, variances…]` (two passes; f32 lanes within a
/// plane, f64 across planes).
pub fn channel_stats(g: &NormGeometry, x: &[f32]) -> Vec<f32> {
    assert_eq!(
        x.len(),
        g.batch * g.channels * g.pixels,
        "channel_stats: input length"
    );
    let count = g.count().max(1) as f64;
    let per_channel: Vec<(f32, f32)> = (0..g.channels)
        .into_par_iter()
        .map(|c| {
            let sum: f64 = (0..g.batch)
                .map(|b| lane_sum(g.plane(x, b, c), |v| v))
                .sum();
            let mean = sum / count;
            let mean32 = mean as f32;
            let squares: f64 = (0..g.batch)
                .map(|b| lane_sum(g.plane(x, b, c), |v| (v - mean32) * (v - mean32)))
                .sum();
            (mean as f32, (squares / count) as f32)
        })
        .collect();
    let (means, vars): (Vec<f32>, Vec<f32>) = per_channel.into_iter().unzip();
    [means, vars].concat()
}

/// Per-channel `(scale, shift)` so that the normalised output is `x · scale + shift`.
fn affine(stats: &[f32], gamma: &[f32], beta: &[f32], epsilon: f64) -> Vec<(f32, f32)> {
    let channels = gamma.len();
    (0..channels)
        .map(|c| {
            let inv_std = (1.0 / (f64::from(stats[channels + c]) + epsilon).sqrt()) as f32;
            let scale = gamma[c] * inv_std;
            (scale, beta[c] - stats[c] * scale)
        })
        .collect()
}

/// `y = γ·(x − mean)/√(var + ε) + β`, then `max(y, 0)` when `relu`; `stats` from
/// [`channel_stats`] of the same `x`.
pub fn forward(
    g: &NormGeometry,
    x: &[f32],
    stats: &[f32],
    [gamma, beta]: [&[f32]; 2],
    epsilon: f64,
    relu: bool,
) -> Vec<f32> {
    assert_eq!(
        x.len(),
        g.batch * g.channels * g.pixels,
        "batch_norm forward: input length"
    );
    let coefficients = affine(stats, gamma, beta, epsilon);
    let mut y = vec![0.0f32; x.len()];
    if g.pixels == 0 {
        return y;
    }
    y.par_chunks_mut(g.pixels)
        .zip(x.par_chunks(g.pixels))
        .enumerate()
        .for_each(|(plane, (y, x))| {
            let (scale, shift) = coefficients[plane % g.channels];
            if relu {
                for (y, &x) in y.iter_mut().zip(x) {
                    let v = x * scale + shift;
                    // `v < 0` rather than `max`: a NaN must reach the loss (and stop the run).
                    *y = if v < 0.0 { 0.0 } else { v };
                }
            } else {
                for (y, &x) in y.iter_mut().zip(x) {
                    *y = x * scale + shift;
                }
            }
        });
    y
}

/// Gradients of [`forward`]: `(dx, dγ, dβ)` given the upstream gradient `dy`.
pub fn backward(
    g: &NormGeometry,
    x: &[f32],
    stats: &[f32],
    [gamma, beta]: [&[f32]; 2],
    epsilon: f64,
    relu: bool,
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    assert_eq!(x.len(), dy.len(), "batch_norm backward: gradient length");
    let coefficients = affine(stats, gamma, beta, epsilon);
    let channels = g.channels;
    // The gradient reaching the normalisation is dy, zeroed where the fused ReLU clipped: a
    // select on the recomputed output, in loops specialised on `relu` so they vectorise.
    // Per channel: Σ g and Σ g·x̂ with x̂ = (x − mean)·inv_std.
    let sums: Vec<(f64, f64)> = (0..channels)
        .into_par_iter()
        .map(|c| {
            let mean = stats[c];
            let (mut sum, mut dot) = (0.0f64, 0.0f64);
            for b in 0..g.batch {
                let (x, dy) = (g.plane(x, b, c), g.plane(dy, b, c));
                let (scale, shift) = coefficients[c];
                let (s, d) = if relu {
                    lane_sum2_pair(x, dy, |x, dy| {
                        let g = if x * scale + shift > 0.0 { dy } else { 0.0 };
                        (g, g * (x - mean))
                    })
                } else {
                    lane_sum2_pair(x, dy, |x, dy| (dy, dy * (x - mean)))
                };
                sum += s;
                dot += d;
            }
            let inv_std = 1.0 / (f64::from(stats[channels + c]) + epsilon).sqrt();
            (sum, dot * inv_std)
        })
        .collect();
    let dbeta: Vec<f32> = sums.iter().map(|s| s.0 as f32).collect();
    let dgamma: Vec<f32> = sums.iter().map(|s| s.1 as f32).collect();
    // dx = γ·inv_std/M · (M·g − Σg − x̂·Σ(g·x̂))
    let count = g.count().max(1) as f64;
    let terms: Vec<(f32, f32, f32, f32)> = (0..channels)
        .map(|c| {
            let inv_std = 1.0 / (f64::from(stats[channels + c]) + epsilon).sqrt();
            let k = f64::from(gamma[c]) * inv_std;
            // dx = k·g − k/M·Σg − k·inv_std/M·Σ(g·x̂)·(x − mean)
            (
                k as f32,
                (k * sums[c].0 / count) as f32,
                (k * inv_std * sums[c].1 / count) as f32,
                stats[c],
            )
        })
        .collect();
    let mut dx = vec![0.0f32; x.len()];
    if g.pixels > 0 {
        dx.par_chunks_mut(g.pixels)
            .zip(x.par_chunks(g.pixels).zip(dy.par_chunks(g.pixels)))
            .enumerate()
            .for_each(|(plane, (dx, (x, dy)))| {
                let c = plane % channels;
                let (k, mean_term, slope, mean) = terms[c];
                let (scale, shift) = coefficients[c];
                if relu {
                    for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                        let g = if x * scale + shift > 0.0 { dy } else { 0.0 };
                        *dx = k * g - mean_term - slope * (x - mean);
                    }
                } else {
                    for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                        *dx = k * dy - mean_term - slope * (x - mean);
                    }
                }
            });
    }
    (dx, dgamma, dbeta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 250.0 - 2.0)
            .collect()
    }

    /// The loss `L = Σ r·forward(x)`, in f64, for finite differences.
    fn loss(g: &NormGeometry, x: &[f32], gb: [&[f32]; 2], relu: bool, r: &[f32]) -> f64 {
        let stats = channel_stats(g, x);
        forward(g, x, &stats, gb, 1e-5, relu)
            .iter()
            .zip(r)
            .map(|(y, r)| f64::from(*y) * f64::from(*r))
            .sum()
    }

    #[test]
    fn a_nan_goes_through_the_fused_relu() {
        let g = NormGeometry {
            batch: 1,
            channels: 1,
            pixels: 3,
        };
        let x = [1.0, f32::NAN, -1.0];
        let stats = channel_stats(&g, &x);
        let y = forward(&g, &x, &stats, [&[1.0], &[0.0]], 1e-5, true);
        assert!(y.iter().all(|v| v.is_nan()), "{y:?}");
    }

    #[test]
    fn forward_normalises_each_channel() {
        let g = NormGeometry {
            batch: 3,
            channels: 2,
            pixels: 5,
        };
        let x = values(30, 1);
        let stats = channel_stats(&g, &x);
        let y = forward(&g, &x, &stats, [&[1.0, 1.0], &[0.0, 0.0]], 0.0, false);
        for c in 0..2 {
            let v: Vec<f32> = (0..3).flat_map(|b| g.plane(&y, b, c).to_vec()).collect();
            let mean = v.iter().sum::<f32>() / 15.0;
            let var = v.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 15.0;
            assert!(
                mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
                "channel {c}: {mean} {var}"
            );
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let g = NormGeometry {
            batch: 2,
            channels: 3,
            pixels: 4,
        };
        let x = values(24, 7);
        let r = values(24, 11);
        let gamma = [0.7f32, -1.3, 2.0];
        let beta = [0.1f32, 0.5, -0.2];
        for relu in [false, true] {
            let stats = channel_stats(&g, &x);
            let (dx, dgamma, dbeta) = backward(&g, &x, &stats, [&gamma, &beta], 1e-5, relu, &r);
            let h = 1e-2f32;
            let numeric = |bump: &dyn Fn(f32) -> f64| (bump(h) - bump(-h)) / (2.0 * f64::from(h));
            for i in 0..x.len() {
                let d = numeric(&|e| {
                    let mut x = x.clone();
                    x[i] += e;
                    loss(&g, &x, [&gamma, &beta], relu, &r)
                });
                assert!(
                    (d - f64::from(dx[i])).abs() < 2e-2,
                    "dx[{i}] relu={relu}: {d} vs {}",
                    dx[i]
                );
            }
            for c in 0..3 {
                let dg = numeric(&|e| {
                    let mut gm = gamma;
                    gm[c] += e;
                    loss(&g, &x, [&gm, &beta], relu, &r)
                });
                let db = numeric(&|e| {
                    let mut bt = beta;
                    bt[c] += e;
                    loss(&g, &x, [&gamma, &bt], relu, &r)
                });
                assert!(
                    (dg - f64::from(dgamma[c])).abs() < 2e-2,
                    "dgamma[{c}]: {dg} vs {}",
                    dgamma[c]
                );
                assert!(
                    (db - f64::from(dbeta[c])).abs() < 2e-2,
                    "dbeta[{c}]: {db} vs {}",
                    dbeta[c]
                );
            }
        }
    }
}
