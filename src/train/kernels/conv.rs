//! 2-D convolution on contiguous NCHW `f32` slices: im2col + one GEMM per image for the forward
//! pass and the input gradient, and per-chunk accumulated GEMMs for the weight gradient.
//!
//! The kernels are plain functions of slices, so they can be tested against a direct loop and
//! could move upstream into a backend unchanged. Parallelism is over images (rayon), never inside
//! a GEMM, and the weight gradient sums fixed chunks of the batch in a fixed order: the result
//! depends on the shapes only, not on the number of threads.

use rayon::prelude::*;

/// Images whose weight-gradient contributions are summed in one partial buffer. The partials are
/// added in chunk order, so this constant (not the thread count) fixes the summation order.
const WEIGHT_GRAD_CHUNK: usize = 8;

/// The shape of one convolution: input `[batch, cin, h, w]`, weight `[cout, cin, kh, kw]`,
/// symmetric zero padding, no dilation, one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels.
    pub cin: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Vertical and horizontal stride (both ≥ 1).
    pub stride: [usize; 2],
    /// Zero padding on each side, vertical and horizontal.
    pub padding: [usize; 2],
}

impl ConvGeometry {
    /// Output height and width, or `None` when the kernel does not fit the padded input or a
    /// stride is zero.
    pub fn output_size(&self) -> Option<[usize; 2]> {
        let dim = |size: usize, k: usize, s: usize, p: usize| {
            let padded = size + 2 * p;
            (s > 0 && k > 0 && padded >= k).then(|| (padded - k) / s + 1)
        };
        Some([
            dim(self.h, self.kernel[0], self.stride[0], self.padding[0])?,
            dim(self.w, self.kernel[1], self.stride[1], self.padding[1])?,
        ])
    }

    /// Rows of the im2col matrix: `cin · kh · kw`.
    fn k(&self) -> usize {
        self.cin * self.kernel[0] * self.kernel[1]
    }

    /// Output pixels per image.
    fn n(&self) -> usize {
        let [ho, wo] = self.output_size().unwrap_or([0, 0]);
        ho * wo
    }

    /// Input elements per image.
    fn image_len(&self) -> usize {
        self.cin * self.h * self.w
    }

    /// A 1×1 convolution with stride 1 and no padding: the image already is its im2col matrix.
    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0]
    }
}

/// `dst (m×n) = [dst +] lhs (m×k) · rhs (k×n)`, each operand given by its row and column strides.
/// Sequential: callers parallelise over images.
#[allow(clippy::too_many_arguments)]
fn matmul(
    [m, n, k]: [usize; 3],
    dst: &mut [f32],
    [dst_rs, dst_cs]: [usize; 2],
    accumulate: bool,
    lhs: &[f32],
    [lhs_rs, lhs_cs]: [usize; 2],
    rhs: &[f32],
    [rhs_rs, rhs_cs]: [usize; 2],
) {
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        }
    };
    assert!(
        dst.len() >= last(m, n, dst_rs, dst_cs),
        "matmul: dst too short"
    );
    assert!(
        lhs.len() >= last(m, k, lhs_rs, lhs_cs),
        "matmul: lhs too short"
    );
    assert!(
        rhs.len() >= last(k, n, rhs_rs, rhs_cs),
        "matmul: rhs too short"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst[i * dst_rs + j * dst_cs] = 0.0;
                }
            }
        }
        return;
    }
    // SAFETY: the asserts above keep every element the strides address inside its slice, and
    // `dst` is borrowed mutably, so it aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The input coordinates `i = o·stride + tap − pad` that fall inside `0..size`, for
/// `o` in `0..out`: returns the first and one-past-last valid `o`.
fn valid_range(out: usize, size: usize, stride: usize, tap: usize, pad: usize) -> (usize, usize) {
    // o·stride + tap ≥ pad  ⇔  o ≥ ceil((pad − tap) / stride)
    let lo = pad.saturating_sub(tap).div_ceil(stride);
    // o·stride + tap − pad ≤ size − 1  ⇔  o ≤ (size − 1 + pad − tap) / stride
    let hi = match (size + pad).checked_sub(tap + 1) {
        Some(top) => (top / stride + 1).min(out),
        None => 0,
    };
    (lo.min(hi), hi)
}

/// Unfolds one image `[cin, h, w]` into `col [cin·kh·kw, ho·wo]` (zeros where the kernel
/// overlaps the padding).
fn im2col(g: &ConvGeometry, image: &[f32], col: &mut [f32]) {
    let [ho, wo] = g.output_size().unwrap_or([0, 0]);
    let [kh, kw] = g.kernel;
    let [sy, sx] = g.stride;
    let [py, px] = g.padding;
    let n = ho * wo;
    for ci in 0..g.cin {
        let plane = &image[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ky in 0..kh {
            let (oy_lo, oy_hi) = valid_range(ho, g.h, sy, ky, py);
            for kx in 0..kw {
                let (ox_lo, ox_hi) = valid_range(wo, g.w, sx, kx, px);
                let row = &mut col[((ci * kh + ky) * kw + kx) * n..][..n];
                row[..oy_lo * wo].fill(0.0);
                row[oy_hi * wo..].fill(0.0);
                for oy in oy_lo..oy_hi {
                    let iy = oy * sy + ky - py;
                    let src = &plane[iy * g.w..(iy + 1) * g.w];
                    let dst = &mut row[oy * wo..(oy + 1) * wo];
                    dst[..ox_lo].fill(0.0);
                    dst[ox_hi..].fill(0.0);
                    if sx == 1 {
                        let start = ox_lo + kx - px;
                        dst[ox_lo..ox_hi].copy_from_slice(&src[start..start + (ox_hi - ox_lo)]);
                    } else {
                        for (ox, d) in dst[ox_lo..ox_hi].iter_mut().enumerate() {
                            *d = src[(ox + ox_lo) * sx + kx - px];
                        }
                    }
                }
            }
        }
    }
}

/// Folds `col [cin·kh·kw, ho·wo]` back onto one image `[cin, h, w]`, adding overlapping taps
/// (the adjoint of [`im2col`]). `image` must be zeroed by the caller.
fn col2im(g: &ConvGeometry, col: &[f32], image: &mut [f32]) {
    let [ho, wo] = g.output_size().unwrap_or([0, 0]);
    let [kh, kw] = g.kernel;
    let [sy, sx] = g.stride;
    let [py, px] = g.padding;
    let n = ho * wo;
    for ci in 0..g.cin {
        let plane = &mut image[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ky in 0..kh {
            let (oy_lo, oy_hi) = valid_range(ho, g.h, sy, ky, py);
            for kx in 0..kw {
                let (ox_lo, ox_hi) = valid_range(wo, g.w, sx, kx, px);
                let row = &col[((ci * kh + ky) * kw + kx) * n..][..n];
                for oy in oy_lo..oy_hi {
                    let iy = oy * sy + ky - py;
                    let dst = &mut plane[iy * g.w..(iy + 1) * g.w];
                    let src = &row[oy * wo + ox_lo..oy * wo + ox_hi];
                    if sx == 1 {
                        let start = ox_lo + kx - px;
                        for (d, s) in dst[start..start + src.len()].iter_mut().zip(src) {
                            *d += s;
                        }
                    } else {
                        for (ox, s) in src.iter().enumerate() {
                            dst[(ox + ox_lo) * sx + kx - px] += s;
                        }
                    }
                }
            }
        }
    }
}

/// Forward pass: `x [batch, cin, h, w]`, `weight [cout, cin, kh, kw]` → `[batch, cout, ho, wo]`.
pub fn conv2d_forward(g: &ConvGeometry, x: &[f32], weight: &[f32]) -> Vec<f32> {
    let (k, n) = (g.k(), g.n());
    assert_eq!(
        x.len(),
        g.batch * g.image_len(),
        "conv2d_forward: input length"
    );
    assert_eq!(weight.len(), g.cout * k, "conv2d_forward: weight length");
    let mut out = vec![0.0f32; g.batch * g.cout * n];
    if n == 0 || g.cout == 0 {
        return out;
    }
    let pointwise = g.is_pointwise();
    out.par_chunks_mut(g.cout * n)
        .zip(x.par_chunks(g.image_len().max(1)))
        .for_each_init(
            || vec![0.0f32; if pointwise { 0 } else { k * n }],
            |col, (out, image)| {
                let col: &[f32] = if pointwise {
                    image
                } else {
                    im2col(g, image, col);
                    col
                };
                matmul(
                    [g.cout, n, k],
                    out,
                    [n, 1],
                    false,
                    weight,
                    [k, 1],
                    col,
                    [n, 1],
                );
            },
        );
    out
}

/// Gradient with respect to the input: `grad [batch, cout, ho, wo]` → `[batch, cin, h, w]`.
pub fn conv2d_input_grad(g: &ConvGeometry, weight: &[f32], grad: &[f32]) -> Vec<f32> {
    let (k, n) = (g.k(), g.n());
    assert_eq!(weight.len(), g.cout * k, "conv2d_input_grad: weight length");
    assert_eq!(
        grad.len(),
        g.batch * g.cout * n,
        "conv2d_input_grad: grad length"
    );
    let mut dx = vec![0.0f32; g.batch * g.image_len()];
    if n == 0 || g.image_len() == 0 {
        return dx;
    }
    let pointwise = g.is_pointwise();
    dx.par_chunks_mut(g.image_len())
        .zip(grad.par_chunks(g.cout * n))
        .for_each_init(
            || vec![0.0f32; if pointwise { 0 } else { k * n }],
            |col, (dx, grad)| {
                // weight viewed as its transpose: (k × cout) with strides (1, k).
                let target: &mut [f32] = if pointwise { dx } else { col };
                matmul(
                    [k, n, g.cout],
                    target,
                    [n, 1],
                    false,
                    weight,
                    [1, k],
                    grad,
                    [n, 1],
                );
                if !pointwise {
                    col2im(g, col, dx);
                }
            },
        );
    dx
}

/// Gradient with respect to the weight: `Σ_b grad[b] · im2col(x[b])ᵀ` → `[cout, cin, kh, kw]`.
pub fn conv2d_weight_grad(g: &ConvGeometry, x: &[f32], grad: &[f32]) -> Vec<f32> {
    let (k, n) = (g.k(), g.n());
    assert_eq!(
        x.len(),
        g.batch * g.image_len(),
        "conv2d_weight_grad: input length"
    );
    assert_eq!(
        grad.len(),
        g.batch * g.cout * n,
        "conv2d_weight_grad: grad length"
    );
    let size = g.cout * k;
    if n == 0 || g.batch == 0 || size == 0 {
        return vec![0.0; size];
    }
    let pointwise = g.is_pointwise();
    let chunks = g.batch.div_ceil(WEIGHT_GRAD_CHUNK);
    let partials: Vec<Vec<f32>> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let mut dw = vec![0.0f32; size];
            let mut col = vec![0.0f32; if pointwise { 0 } else { k * n }];
            let images = c * WEIGHT_GRAD_CHUNK..((c + 1) * WEIGHT_GRAD_CHUNK).min(g.batch);
            for (i, b) in images.enumerate() {
                let image = &x[b * g.image_len()..(b + 1) * g.image_len()];
                let cols: &[f32] = if pointwise {
                    image
                } else {
                    im2col(g, image, &mut col);
                    &col
                };
                // im2col viewed as its transpose: (n × k) with strides (1, n).
                matmul(
                    [g.cout, k, n],
                    &mut dw,
                    [k, 1],
                    i > 0,
                    &grad[b * g.cout * n..(b + 1) * g.cout * n],
                    [n, 1],
                    cols,
                    [1, n],
                );
            }
            dw
        })
        .collect();
    let mut partials = partials.into_iter();
    let mut dw = partials.next().unwrap_or_else(|| vec![0.0; size]);
    for partial in partials {
        for (d, p) in dw.iter_mut().zip(&partial) {
            *d += p;
        }
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct seven-loop convolution, in f64, the reference for every kernel here.
    fn direct(g: &ConvGeometry, x: &[f32], w: &[f32]) -> Vec<f64> {
        let [ho, wo] = g.output_size().unwrap();
        let [kh, kw] = g.kernel;
        let mut out = vec![0.0; g.batch * g.cout * ho * wo];
        for b in 0..g.batch {
            for co in 0..g.cout {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut acc = 0.0f64;
                        for ci in 0..g.cin {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy =
                                        (oy * g.stride[0] + ky) as isize - g.padding[0] as isize;
                                    let ix =
                                        (ox * g.stride[1] + kx) as isize - g.padding[1] as isize;
                                    if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize
                                    {
                                        continue;
                                    }
                                    let xv = x[((b * g.cin + ci) * g.h + iy as usize) * g.w
                                        + ix as usize];
                                    let wv = w[((co * g.cin + ci) * kh + ky) * kw + kx];
                                    acc += f64::from(xv) * f64::from(wv);
                                }
                            }
                        }
                        out[((b * g.cout + co) * ho + oy) * wo + ox] = acc;
                    }
                }
            }
        }
        out
    }

    /// Deterministic values in [-1, 1).
    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn geometries() -> Vec<ConvGeometry> {
        let g = |batch, cin, h, w, cout, k: usize, s: usize, p: usize| ConvGeometry {
            batch,
            cin,
            h,
            w,
            cout,
            kernel: [k, k],
            stride: [s, s],
            padding: [p, p],
        };
        vec![
            g(2, 3, 7, 6, 4, 3, 1, 1),
            g(3, 4, 9, 8, 5, 3, 2, 1),
            g(2, 5, 6, 6, 3, 1, 1, 0),
            g(2, 5, 7, 7, 6, 1, 2, 0),
            g(1, 2, 5, 5, 2, 5, 1, 2),
            g(2, 3, 8, 8, 4, 7, 2, 3),
            g(10, 2, 4, 3, 3, 3, 1, 0),
            ConvGeometry {
                kernel: [3, 1],
                stride: [1, 2],
                padding: [1, 0],
                ..g(2, 2, 5, 6, 3, 1, 1, 0)
            },
        ]
    }

    fn assert_close(got: &[f32], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (f64::from(*g) - w).abs() <= 1e-4 * (1.0 + w.abs()),
                "{what}[{i}]: {g} vs {w}"
            );
        }
    }

    #[test]
    fn forward_matches_the_direct_loop() {
        for g in geometries() {
            let x = values(g.batch * g.image_len(), 1);
            let w = values(g.cout * g.k(), 2);
            assert_close(
                &conv2d_forward(&g, &x, &w),
                &direct(&g, &x, &w),
                &format!("{g:?}"),
            );
        }
    }

    /// The gradients are checked through the adjoint identity
    /// `⟨conv(x, w), r⟩ = ⟨x, ∂x⟩ = ⟨w, ∂w⟩` for a random upstream gradient `r`, plus a
    /// finite-free element check: each gradient is linear, so the identity pins it exactly.
    #[test]
    fn gradients_satisfy_the_adjoint_identities() {
        for g in geometries() {
            let x = values(g.batch * g.image_len(), 3);
            let w = values(g.cout * g.k(), 4);
            let r = values(g.batch * g.cout * g.n(), 5);
            let dx = conv2d_input_grad(&g, &w, &r);
            let dw = conv2d_weight_grad(&g, &x, &r);
            // ∂x[i] = ⟨conv(e_i, w), r⟩ and ∂w[j] = ⟨conv(x, e_j), r⟩: check every element.
            let dot = |a: &[f64], b: &[f32]| a.iter().zip(b).map(|(a, b)| a * f64::from(*b)).sum();
            let want_dx: Vec<f64> = (0..x.len())
                .map(|i| {
                    let mut e = vec![0.0; x.len()];
                    e[i] = 1.0;
                    dot(&direct(&g, &e, &w), &r)
                })
                .collect();
            let want_dw: Vec<f64> = (0..w.len())
                .map(|j| {
                    let mut e = vec![0.0; w.len()];
                    e[j] = 1.0;
                    dot(&direct(&g, &x, &e), &r)
                })
                .collect();
            assert_close(&dx, &want_dx, &format!("dx {g:?}"));
            assert_close(&dw, &want_dw, &format!("dw {g:?}"));
        }
    }

    #[test]
    fn weight_grad_does_not_depend_on_the_thread_count() {
        let g = ConvGeometry {
            batch: 19,
            cin: 3,
            h: 6,
            w: 6,
            cout: 4,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
        };
        let x = values(g.batch * g.image_len(), 6);
        let r = values(g.batch * g.cout * g.n(), 7);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let three = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let a = one.install(|| conv2d_weight_grad(&g, &x, &r));
        let b = three.install(|| conv2d_weight_grad(&g, &x, &r));
        assert_eq!(a, b);
    }

    #[test]
    fn a_kernel_larger_than_the_padded_input_has_no_output_size() {
        let g = ConvGeometry {
            batch: 1,
            cin: 1,
            h: 2,
            w: 2,
            cout: 1,
            kernel: [5, 5],
            stride: [1, 1],
            padding: [1, 1],
        };
        assert_eq!(g.output_size(), None);
    }
}
