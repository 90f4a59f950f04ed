//! 2-D convolution on contiguous NCHW `f32` slices: im2col + one GEMM per image for the forward
//! pass and the input gradient, and per-chunk accumulated GEMMs for the weight gradient.
//!
//! The kernels are plain functions of slices, so they can be tested against a direct loop and
//! could move upstream into a backend unchanged. Parallelism is over images (rayon), never inside
//! a GEMM, and the weight gradient sums fixed chunks of the batch in a fixed order: the result
//! depends on the shapes only, not on the number of threads.

use std::ops::Range;

use rayon::prelude::*;

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

/// Unfolds output rows `rows` of one image `[cin, h, w]` into its block of an im2col matrix with
/// `ld` columns per row: row `r` (a `(ci, ky, kx)` tap) of the `[cin·kh·kw, rows·wo]` block starts
/// at `col[offset + r·ld]`. Zeros where the kernel overlaps the padding.
fn im2col(
    g: &ConvGeometry,
    image: &[f32],
    rows: Range<usize>,
    col: &mut [f32],
    offset: usize,
    ld: usize,
) {
    let [ho, wo] = g.output_size().unwrap_or([0, 0]);
    let [kh, kw] = g.kernel;
    let [sy, sx] = g.stride;
    let [py, px] = g.padding;
    let width = rows.len() * wo;
    for ci in 0..g.cin {
        let plane = &image[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ky in 0..kh {
            let (lo, hi) = clip(valid_range(ho, g.h, sy, ky, py), &rows);
            for kx in 0..kw {
                let (ox_lo, ox_hi) = valid_range(wo, g.w, sx, kx, px);
                let row = &mut col[offset + ((ci * kh + ky) * kw + kx) * ld..][..width];
                row[..(lo - rows.start) * wo].fill(0.0);
                row[(hi - rows.start) * wo..].fill(0.0);
                for oy in lo..hi {
                    let iy = oy * sy + ky - py;
                    let src = &plane[iy * g.w..(iy + 1) * g.w];
                    let dst = &mut row[(oy - rows.start) * wo..][..wo];
                    dst[..ox_lo].fill(0.0);
                    dst[ox_hi..].fill(0.0);
                    if sx == 1 {
                        let start = ox_lo + kx - px;
                        dst[ox_lo..ox_hi].copy_from_slice(&src[start..start + (ox_hi - ox_lo)]);
                    } else {
                        let taps = src[ox_lo * sx + kx - px..].iter().step_by(sx);
                        for (d, s) in dst[ox_lo..ox_hi].iter_mut().zip(taps) {
                            *d = *s;
                        }
                    }
                }
            }
        }
    }
}

/// Folds the block of output rows `rows` of an im2col matrix (laid out as in [`im2col`]) back
/// onto one image `[cin, h, w]`, adding overlapping taps: the adjoint of [`im2col`]. The caller
/// zeroes `image` before the first block.
fn col2im(
    g: &ConvGeometry,
    col: &[f32],
    offset: usize,
    ld: usize,
    rows: Range<usize>,
    image: &mut [f32],
) {
    let [ho, wo] = g.output_size().unwrap_or([0, 0]);
    let [kh, kw] = g.kernel;
    let [sy, sx] = g.stride;
    let [py, px] = g.padding;
    let width = rows.len() * wo;
    for ci in 0..g.cin {
        let plane = &mut image[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ky in 0..kh {
            let (lo, hi) = clip(valid_range(ho, g.h, sy, ky, py), &rows);
            for kx in 0..kw {
                let (ox_lo, ox_hi) = valid_range(wo, g.w, sx, kx, px);
                let row = &col[offset + ((ci * kh + ky) * kw + kx) * ld..][..width];
                for oy in lo..hi {
                    let iy = oy * sy + ky - py;
                    let dst = &mut plane[iy * g.w..(iy + 1) * g.w];
                    let base = (oy - rows.start) * wo;
                    let src = &row[base + ox_lo..base + ox_hi];
                    if sx == 1 {
                        let start = ox_lo + kx - px;
                        for (d, s) in dst[start..start + src.len()].iter_mut().zip(src) {
                            *d += s;
                        }
                    } else {
                        let taps = dst[ox_lo * sx + kx - px..].iter_mut().step_by(sx);
                        for (d, s) in taps.zip(src) {
                            *d += s;
                        }
                    }
                }
            }
        }
    }
}

/// `(lo, hi)` narrowed to `rows`, with `lo ≤ hi`.
fn clip((lo, hi): (usize, usize), rows: &Range<usize>) -> (usize, usize) {
    let lo = lo.clamp(rows.start, rows.end);
    (lo, hi.clamp(lo, rows.end))
}

/// Columns a grouped GEMM aims for (see [`images_per_group`]).
const GROUP_COLUMNS: usize = 512;

/// Images that share one GEMM: enough that its long dimension (images × output pixels) reaches
/// [`GROUP_COLUMNS`]. Deep layers have few output pixels per image (16 at 4×4), and a GEMM that
/// thin spends its time packing the weight matrix rather than multiplying.
fn images_per_group(g: &ConvGeometry) -> usize {
    GROUP_COLUMNS
        .div_ceil(g.n().max(1))
        .clamp(1, g.batch.max(1))
}

/// Bytes of im2col matrix one GEMM works on when an image is a group of its own (see
/// [`row_tiles`]): small enough to stay in a core's L2 cache between im2col and the GEMM.
const TILE_BYTES: usize = 512 * 1024;

/// The output rows of one image in tiles whose im2col blocks fit [`TILE_BYTES`].
fn row_tiles(g: &ConvGeometry) -> impl Iterator<Item = Range<usize>> {
    let [ho, wo] = g.output_size().unwrap_or([0, 0]);
    let per_row = g.k() * wo * std::mem::size_of::<f32>();
    let rows = (TILE_BYTES / per_row.max(1)).clamp(1, ho.max(1));
    (0..ho)
        .step_by(rows)
        .map(move |start| start..(start + rows).min(ho))
}

/// `[m, c, n]` (m images of c channels of n pixels) → `[c, m·n]`.
fn interleave(src: &[f32], c: usize, n: usize, dst: &mut [f32]) {
    let m = src.len() / (c * n);
    for i in 0..m {
        for ch in 0..c {
            dst[ch * m * n + i * n..][..n].copy_from_slice(&src[(i * c + ch) * n..][..n]);
        }
    }
}

/// `[c, m·n]` → `[m, c, n]`: the inverse of [`interleave`].
fn deinterleave(src: &[f32], c: usize, n: usize, dst: &mut [f32]) {
    let m = dst.len() / (c * n);
    for i in 0..m {
        for ch in 0..c {
            dst[(i * c + ch) * n..][..n].copy_from_slice(&src[ch * m * n + i * n..][..n]);
        }
    }
}

/// The im2col matrix `[cin·kh·kw, m·N]` of a group of `m` images (every output row), in `col`;
/// a pointwise convolution's is the interleaved input itself.
fn group_columns(g: &ConvGeometry, images: &[f32], col: &mut Vec<f32>) {
    let (k, n) = (g.k(), g.n());
    let m = images.len() / g.image_len();
    col.resize(k * m * n, 0.0);
    if g.is_pointwise() {
        interleave(images, g.cin, n, col);
    } else {
        let ho = g.output_size().map_or(0, |[ho, _]| ho);
        for (i, image) in images.chunks(g.image_len()).enumerate() {
            im2col(g, image, 0..ho, col, i * n, m * n);
        }
    }
}

/// Output pixels per output row.
fn row_len(g: &ConvGeometry) -> usize {
    g.output_size().map_or(0, |[_, wo]| wo)
}

/// Forward pass: `x [batch, cin, h, w]`, `weight [cout, cin, kh, kw]` → `[batch, cout, ho, wo]`.
pub fn conv2d_forward(g: &ConvGeometry, x: &[f32], weight: &[f32]) -> Vec<f32> {
    let (k, n, wo) = (g.k(), g.n(), row_len(g));
    assert_eq!(
        x.len(),
        g.batch * g.image_len(),
        "conv2d_forward: input length"
    );
    assert_eq!(weight.len(), g.cout * k, "conv2d_forward: weight length");
    let mut out = vec![0.0f32; g.batch * g.cout * n];
    if n == 0 || g.cout == 0 || g.image_len() == 0 {
        return out;
    }
    let group = images_per_group(g);
    out.par_chunks_mut(group * g.cout * n)
        .zip(x.par_chunks(group * g.image_len()))
        .for_each_init(
            || (Vec::new(), Vec::new()),
            |(col, product), (out, images)| {
                let m = images.len() / g.image_len();
                if m == 1 && g.is_pointwise() {
                    matmul(
                        [g.cout, n, k],
                        out,
                        [n, 1],
                        false,
                        weight,
                        [k, 1],
                        images,
                        [n, 1],
                    );
                } else if m == 1 {
                    for rows in row_tiles(g) {
                        let cols = rows.len() * wo;
                        col.resize(k * cols, 0.0);
                        im2col(g, images, rows.clone(), col, 0, cols);
                        let dst = &mut out[rows.start * wo..];
                        matmul(
                            [g.cout, cols, k],
                            dst,
                            [n, 1],
                            false,
                            weight,
                            [k, 1],
                            col,
                            [cols, 1],
                        );
                    }
                } else {
                    let cols = m * n;
                    group_columns(g, images, col);
                    product.resize(g.cout * cols, 0.0);
                    matmul(
                        [g.cout, cols, k],
                        product,
                        [cols, 1],
                        false,
                        weight,
                        [k, 1],
                        col,
                        [cols, 1],
                    );
                    deinterleave(product, g.cout, n, out);
                }
            },
        );
    out
}

/// Gradient with respect to the input: `grad [batch, cout, ho, wo]` → `[batch, cin, h, w]`.
pub fn conv2d_input_grad(g: &ConvGeometry, weight: &[f32], grad: &[f32]) -> Vec<f32> {
    let (k, n, wo) = (g.k(), g.n(), row_len(g));
    assert_eq!(weight.len(), g.cout * k, "conv2d_input_grad: weight length");
    assert_eq!(
        grad.len(),
        g.batch * g.cout * n,
        "conv2d_input_grad: grad length"
    );
    let mut dx = vec![0.0f32; g.batch * g.image_len()];
    if n == 0 || g.image_len() == 0 || g.cout == 0 {
        return dx;
    }
    let group = images_per_group(g);
    // The weight viewed as its transpose: (k × cout) with strides (1, k).
    let weight_t = [1, k];
    dx.par_chunks_mut(group * g.image_len())
        .zip(grad.par_chunks(group * g.cout * n))
        .for_each_init(
            || (Vec::new(), Vec::new()),
            |(col, upstream), (dx, grad)| {
                let m = grad.len() / (g.cout * n);
                if m == 1 && g.is_pointwise() {
                    matmul(
                        [k, n, g.cout],
                        dx,
                        [n, 1],
                        false,
                        weight,
                        weight_t,
                        grad,
                        [n, 1],
                    );
                } else if m == 1 {
                    for rows in row_tiles(g) {
                        let cols = rows.len() * wo;
                        col.resize(k * cols, 0.0);
                        let rhs = &grad[rows.start * wo..];
                        matmul(
                            [k, cols, g.cout],
                            col,
                            [cols, 1],
                            false,
                            weight,
                            weight_t,
                            rhs,
                            [n, 1],
                        );
                        col2im(g, col, 0, cols, rows, dx);
                    }
                } else {
                    let cols = m * n;
                    upstream.resize(g.cout * cols, 0.0);
                    interleave(grad, g.cout, n, upstream);
                    col.resize(k * cols, 0.0);
                    matmul(
                        [k, cols, g.cout],
                        col,
                        [cols, 1],
                        false,
                        weight,
                        weight_t,
                        upstream,
                        [cols, 1],
                    );
                    if g.is_pointwise() {
                        deinterleave(col, g.cin, n, dx);
                    } else {
                        let ho = g.output_size().map_or(0, |[ho, _]| ho);
                        for (i, image) in dx.chunks_mut(g.image_len()).enumerate() {
                            col2im(g, col, i * n, cols, 0..ho, image);
                        }
                    }
                }
            },
        );
    dx
}

/// Partial sums of the weight gradient, each over a fixed run of image groups, added in order at
/// the end: this constant (not the thread count) fixes the summation order.
const WEIGHT_GRAD_PARTIALS: usize = 8;

/// Gradient with respect to the weight: `Σ_b grad[b] · im2col(x[b])ᵀ` → `[cout, cin, kh, kw]`.
pub fn conv2d_weight_grad(g: &ConvGeometry, x: &[f32], grad: &[f32]) -> Vec<f32> {
    let (k, n, wo) = (g.k(), g.n(), row_len(g));
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
    let group = images_per_group(g);
    let groups = g.batch.div_ceil(group);
    let per_partial = groups.div_ceil(WEIGHT_GRAD_PARTIALS);
    let partials: Vec<Vec<f32>> = (0..groups.div_ceil(per_partial))
        .into_par_iter()
        .map(|p| {
            let mut dw = vec![0.0f32; size];
            let (mut col, mut upstream) = (Vec::new(), Vec::new());
            let mut accumulate = false;
            let first = p * per_partial;
            for gi in first..(first + per_partial).min(groups) {
                let images = gi * group..((gi + 1) * group).min(g.batch);
                let x = &x[images.start * g.image_len()..images.end * g.image_len()];
                let grad = &grad[images.start * g.cout * n..images.end * g.cout * n];
                // Each product is grad (cout × cols) · im2colᵀ, the im2col block viewed as its
                // transpose: (cols × k) with strides (1, ld).
                if images.len() == 1 && g.is_pointwise() {
                    matmul(
                        [g.cout, k, n],
                        &mut dw,
                        [k, 1],
                        accumulate,
                        grad,
                        [n, 1],
                        x,
                        [1, n],
                    );
                } else if images.len() == 1 {
                    for rows in row_tiles(g) {
                        let cols = rows.len() * wo;
                        col.resize(k * cols, 0.0);
                        im2col(g, x, rows.clone(), &mut col, 0, cols);
                        let lhs = &grad[rows.start * wo..];
                        matmul(
                            [g.cout, k, cols],
                            &mut dw,
                            [k, 1],
                            accumulate,
                            lhs,
                            [n, 1],
                            &col,
                            [1, cols],
                        );
                        accumulate = true;
                    }
                } else {
                    let cols = images.len() * n;
                    group_columns(g, x, &mut col);
                    upstream.resize(g.cout * cols, 0.0);
                    interleave(grad, g.cout, n, &mut upstream);
                    matmul(
                        [g.cout, k, cols],
                        &mut dw,
                        [k, 1],
                        accumulate,
                        &upstream,
                        [cols, 1],
                        &col,
                        [1, cols],
                    );
                }
                accumulate = true;
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

    /// Direct seven-loop convolution in f64, the reference for every kernel here: the output and,
    /// for the upstream gradient `r`, the input and weight gradients, tap by tap.
    fn direct(g: &ConvGeometry, x: &[f32], w: &[f32], r: &[f32]) -> [Vec<f64>; 3] {
        let [ho, wo] = g.output_size().unwrap();
        let [kh, kw] = g.kernel;
        let mut out = vec![0.0; g.batch * g.cout * ho * wo];
        let mut dx = vec![0.0; x.len()];
        let mut dw = vec![0.0; w.len()];
        for b in 0..g.batch {
            for co in 0..g.cout {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let o = ((b * g.cout + co) * ho + oy) * wo + ox;
                        for ci in 0..g.cin {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = (oy * g.stride[0] + ky).checked_sub(g.padding[0]);
                                    let ix = (ox * g.stride[1] + kx).checked_sub(g.padding[1]);
                                    let (Some(iy), Some(ix)) = (iy, ix) else {
                                        continue;
                                    };
                                    if iy >= g.h || ix >= g.w {
                                        continue;
                                    }
                                    let xi = ((b * g.cin + ci) * g.h + iy) * g.w + ix;
                                    let wi = ((co * g.cin + ci) * kh + ky) * kw + kx;
                                    out[o] += f64::from(x[xi]) * f64::from(w[wi]);
                                    dx[xi] += f64::from(w[wi]) * f64::from(r[o]);
                                    dw[wi] += f64::from(x[xi]) * f64::from(r[o]);
                                }
                            }
                        }
                    }
                }
            }
        }
        [out, dx, dw]
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
            // one image per GEMM (576 output pixels), 3×3 and pointwise
            g(2, 2, 24, 24, 3, 3, 1, 1),
            g(2, 3, 24, 24, 2, 1, 1, 0),
            // im2col blocks over TILE_BYTES: each image in row tiles (stride 1 and 2)
            g(1, 64, 16, 16, 3, 3, 1, 1),
            g(1, 64, 32, 32, 2, 3, 2, 1),
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
    fn forward_and_gradients_match_the_direct_loop() {
        for g in geometries() {
            let x = values(g.batch * g.image_len(), 3);
            let w = values(g.cout * g.k(), 4);
            let r = values(g.batch * g.cout * g.n(), 5);
            let [out, dx, dw] = direct(&g, &x, &w, &r);
            assert_close(&conv2d_forward(&g, &x, &w), &out, &format!("forward {g:?}"));
            assert_close(&conv2d_input_grad(&g, &w, &r), &dx, &format!("dx {g:?}"));
            assert_close(&conv2d_weight_grad(&g, &x, &r), &dw, &format!("dw {g:?}"));
        }
    }

    #[test]
    fn large_images_are_split_into_row_tiles() {
        let g = geometries()[10];
        assert!(row_tiles(&g).count() > 1, "{g:?}");
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
