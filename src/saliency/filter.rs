//! OpenCV-exact Gaussian filtering and min–max normalisation on f32 planes.
//!
//! `imageproc::filter::gaussian_blur_f32` picks its radius from σ and clamps
//! borders, which does not match the reference (saliency.md §0), so this
//! module rebuilds `cv::getGaussianKernel` (f32 taps, the fixed small-kernel
//! table for σ ≤ 0) and a separable filter with explicit border modes. Planes
//! are row-major; multi-channel images are slices of `[f32; C]`.

use super::Map;

/// How pixels outside the image are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Border {
    /// OpenCV's default `BORDER_REFLECT_101`: `…cb|abcd|cb…`.
    #[default]
    Reflect101,
    /// `BORDER_REPLICATE`: `…aa|abcd|dd…`.
    Replicate,
}

/// The in-image index that out-of-range index `i` reads on an axis of `n`
/// pixels (`n ≥ 1`), as OpenCV's `borderInterpolate`.
pub fn border_index(i: isize, n: usize, border: Border) -> usize {
    let n = n as isize;
    debug_assert!(n >= 1);
    match border {
        Border::Replicate => i.clamp(0, n - 1) as usize,
        Border::Reflect101 => {
            if n == 1 {
                return 0;
            }
            let mut i = i;
            while i < 0 || i >= n {
                if i < 0 {
                    i = -i;
                } else {
                    i = 2 * n - 2 - i;
                }
            }
            i as usize
        }
    }
}

// saliency.md §0: OpenCV's fixed kernels for odd sizes ≤ 7 when σ ≤ 0
// (3×3 → [¼, ½, ¼]).
const SMALL_GAUSSIAN: [&[f32]; 4] = [
    &[1.0],
    &[0.25, 0.5, 0.25],
    &[0.0625, 0.25, 0.375, 0.25, 0.0625],
    &[
        0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125,
    ],
];

/// The σ OpenCV derives from an odd kernel size when σ ≤ 0:
/// 0.3·((ksize−1)/2 − 1) + 0.8 (saliency.md §0: 9 → 1.7).
pub fn sigma_for_ksize(ksize: usize) -> f64 {
    0.3 * ((ksize as f64 - 1.0) * 0.5 - 1.0) + 0.8
}

/// The kernel size OpenCV derives from σ for float images:
/// `round(σ·4·2 + 1) | 1` (saliency.md §2: σ = 0.5 → 5 taps).
pub fn ksize_for_sigma(sigma: f64) -> usize {
    let k = (sigma * 4.0 * 2.0 + 1.0).round_ties_even().max(1.0) as usize;
    k | 1
}

/// `cv::getGaussianKernel(ksize, sigma, CV_32F)`: the fixed table for odd
/// `ksize ≤ 7` with `sigma ≤ 0`, otherwise `exp(−x²/(2σ²))` (σ from
/// [`sigma_for_ksize`] when `sigma ≤ 0`), each tap rounded to f32, summed in
/// f64 and scaled by the reciprocal of the sum.
pub fn gaussian_kernel(ksize: usize, sigma: f64) -> Vec<f32> {
    assert!(
        ksize % 2 == 1,
        "Gaussian kernel size must be odd, got {ksize}"
    );
    if sigma <= 0.0 && ksize <= 7 {
        return SMALL_GAUSSIAN[ksize / 2].to_vec();
    }
    let sigma = if sigma > 0.0 {
        sigma
    } else {
        sigma_for_ksize(ksize)
    };
    let scale2x = -0.5 / (sigma * sigma);
    let mut taps: Vec<f32> = (0..ksize)
        .map(|i| {
            let x = i as f64 - (ksize as f64 - 1.0) * 0.5;
            (scale2x * x * x).exp() as f32
        })
        .collect();
    let sum: f64 = taps.iter().map(|&t| f64::from(t)).sum();
    let inv = 1.0 / sum;
    for t in &mut taps {
        *t = (f64::from(*t) * inv) as f32;
    }
    taps
}

fn is_symmetric(k: &[f32]) -> bool {
    let n = k.len();
    (0..n / 2).all(|i| k[i] == k[n - 1 - i])
}

/// Correlate one padded line: `out[x] = Σ_t k[t]·line[x + t]`, in OpenCV's
/// symmetric-kernel order `k_c·centre + Σ k_i·(left_i + right_i)` when the
/// kernel is symmetric.
#[inline]
fn filter_line<const C: usize>(line: &[[f32; C]], k: &[f32], out: &mut [[f32; C]]) {
    let r = k.len() / 2;
    if is_symmetric(k) {
        for (x, o) in out.iter_mut().enumerate() {
            let mut s = [0.0f32; C];
            let centre = line[x + r];
            for c in 0..C {
                s[c] = k[r] * centre[c];
            }
            for i in 1..=r {
                let (a, b) = (line[x + r - i], line[x + r + i]);
                for c in 0..C {
                    s[c] += k[r + i] * (a[c] + b[c]);
                }
            }
            *o = s;
        }
    } else {
        for (x, o) in out.iter_mut().enumerate() {
            let mut s = [0.0f32; C];
            for (t, &kt) in k.iter().enumerate() {
                let p = line[x + t];
                for c in 0..C {
                    s[c] += kt * p[c];
                }
            }
            *o = s;
        }
    }
}

/// Separable filtering of a `w × h` image of `C`-channel f32 pixels: rows
/// with `kx`, then columns with `ky` (odd lengths), reading outside pixels
/// through `border`.
pub fn filter_separable<const C: usize>(
    src: &[[f32; C]],
    w: usize,
    h: usize,
    kx: &[f32],
    ky: &[f32],
    border: Border,
) -> Vec<[f32; C]> {
    assert_eq!(src.len(), w * h, "image size mismatch");
    assert!(kx.len() % 2 == 1 && ky.len() % 2 == 1, "odd kernels only");
    if w == 0 || h == 0 {
        return Vec::new();
    }
    // Horizontal pass through a padded line buffer.
    let rx = kx.len() / 2;
    let mut tmp = vec![[0.0f32; C]; w * h];
    let mut line = vec![[0.0f32; C]; w + 2 * rx];
    let left: Vec<usize> = (0..rx)
        .map(|i| border_index(i as isize - rx as isize, w, border))
        .collect();
    let right: Vec<usize> = (0..rx)
        .map(|i| border_index((w + i) as isize, w, border))
        .collect();
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for (i, &s) in left.iter().enumerate() {
            line[i] = row[s];
        }
        line[rx..rx + w].copy_from_slice(row);
        for (i, &s) in right.iter().enumerate() {
            line[rx + w + i] = row[s];
        }
        filter_line(&line, kx, &mut tmp[y * w..(y + 1) * w]);
    }
    // Vertical pass, row-wise so the inner loop runs along memory.
    let ry = ky.len() / 2;
    let symmetric = is_symmetric(ky);
    let mut out = vec![[0.0f32; C]; w * h];
    let mut rows: Vec<usize> = vec![0; ky.len()];
    for y in 0..h {
        for (t, r) in rows.iter_mut().enumerate() {
            *r = border_index(y as isize + t as isize - ry as isize, h, border);
        }
        let o = &mut out[y * w..(y + 1) * w];
        if symmetric {
            let centre = &tmp[rows[ry] * w..(rows[ry] + 1) * w];
            for (ov, cv) in o.iter_mut().zip(centre) {
                for c in 0..C {
                    ov[c] = ky[ry] * cv[c];
                }
            }
            for i in 1..=ry {
                let a = &tmp[rows[ry - i] * w..(rows[ry - i] + 1) * w];
                let b = &tmp[rows[ry + i] * w..(rows[ry + i] + 1) * w];
                let k = ky[ry + i];
                for ((ov, av), bv) in o.iter_mut().zip(a).zip(b) {
                    for c in 0..C {
                        ov[c] += k * (av[c] + bv[c]);
                    }
                }
            }
        } else {
            for (t, &k) in ky.iter().enumerate() {
                let a = &tmp[rows[t] * w..(rows[t] + 1) * w];
                for (ov, av) in o.iter_mut().zip(a) {
                    for c in 0..C {
                        ov[c] += k * av[c];
                    }
                }
            }
        }
    }
    out
}

/// `cv::GaussianBlur` of a single f32 plane with a square `ksize` kernel
/// (`sigma ≤ 0` → derived from the size, as OpenCV).
pub fn gaussian_blur(
    plane: &[f32],
    w: usize,
    h: usize,
    ksize: usize,
    sigma: f64,
    border: Border,
) -> Vec<f32> {
    let k = gaussian_kernel(ksize, sigma);
    let (px, rest) = plane.as_chunks::<1>();
    debug_assert!(rest.is_empty());
    filter_separable(px, w, h, &k, &k, border).into_flattened()
}

/// `cv::GaussianBlur(src, dst, Size(), sigma, 0, border)` of a 3-channel
/// image: the kernel size comes from σ ([`ksize_for_sigma`]).
pub fn gaussian_blur3_sigma(
    img: &[[f32; 3]],
    w: usize,
    h: usize,
    sigma: f64,
    border: Border,
) -> Vec<[f32; 3]> {
    let k = gaussian_kernel(ksize_for_sigma(sigma), sigma);
    filter_separable(img, w, h, &k, &k, border)
}

/// A Gaussian-blurred copy of a map with OpenCV's default reflect-101 border
/// (e.g. `blur_map(m, 3, 0.0)` for the final 3×3 smoothing, `blur_map(m, 9,
/// 0.0)` for SaliencyCut's 9×9 σ = 1.7).
pub fn blur_map(map: &Map, ksize: usize, sigma: f64) -> Map {
    Map {
        width: map.width,
        height: map.height,
        data: gaussian_blur(
            &map.data,
            map.width,
            map.height,
            ksize,
            sigma,
            Border::Reflect101,
        ),
    }
}

/// Scale and shift of `cv::normalize(NORM_MINMAX)` to [0, 1] for a value
/// range, or `None` when `max − min ≤ DBL_EPSILON` (OpenCV then writes zeros).
fn min_max_affine(min: f64, max: f64) -> Option<(f64, f64)> {
    let range = max - min;
    if range > f64::EPSILON {
        let scale = 1.0 / range;
        Some((scale, -min * scale))
    } else {
        None
    }
}

fn range_f32(v: &[f32]) -> (f32, f32) {
    v.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

fn range_f64(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// In-place min–max normalisation of f32 values to [0, 1] as OpenCV's
/// `normalize(v, v, 0, 1, NORM_MINMAX)`: scale = 1/(max − min) rounded to
/// f32, shift = −min·scale in f32 (so the minimum maps to exactly 0), then
/// `v·scale + shift` in f32; all zeros when max == min (saliency.md §0).
pub fn normalize_min_max(v: &mut [f32]) {
    if v.is_empty() {
        return;
    }
    let (lo, hi) = range_f32(v);
    match min_max_affine(f64::from(lo), f64::from(hi)) {
        Some((scale, _)) => {
            let scale = scale as f32;
            let shift = -(lo * scale);
            for x in v {
                *x = *x * scale + shift;
            }
        }
        None => v.fill(0.0),
    }
}

/// In-place min–max normalisation of f64 values to [0, 1] (f64 arithmetic);
/// all zeros when max == min.
pub fn normalize_min_max_f64(v: &mut [f64]) {
    if v.is_empty() {
        return;
    }
    let (lo, hi) = range_f64(v);
    match min_max_affine(lo, hi) {
        Some((scale, shift)) => {
            for x in v {
                *x = *x * scale + shift;
            }
        }
        None => v.fill(0.0),
    }
}

/// Min–max normalised f32 copy of f64 values, as
/// `normalize(src64, dst, 0, 1, NORM_MINMAX, CV_32F)`: computed in f64, then
/// rounded; all zeros when max == min.
pub fn normalized_min_max_f64_to_f32(v: &[f64]) -> Vec<f32> {
    let mut d = v.to_vec();
    normalize_min_max_f64(&mut d);
    d.into_iter().map(|x| x as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect101_indices() {
        // …cb|abcd|cb… for n = 4.
        let idx: Vec<usize> = (-3..7)
            .map(|i| border_index(i, 4, Border::Reflect101))
            .collect();
        assert_eq!(idx, vec![3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
        assert_eq!(border_index(-1, 1, Border::Reflect101), 0);
        assert_eq!(border_index(5, 2, Border::Reflect101), 1);
    }

    #[test]
    fn replicate_indices() {
        let idx: Vec<usize> = (-2..6)
            .map(|i| border_index(i, 4, Border::Replicate))
            .collect();
        assert_eq!(idx, vec![0, 0, 0, 1, 2, 3, 3, 3]);
    }

    #[test]
    fn fixed_3x3_kernel() {
        assert_eq!(gaussian_kernel(3, 0.0), vec![0.25, 0.5, 0.25]);
    }

    #[test]
    fn nine_tap_kernel_uses_sigma_1_7() {
        assert!((sigma_for_ksize(9) - 1.7).abs() < 1e-12);
        let k = gaussian_kernel(9, 0.0);
        let raw: Vec<f64> = (-4..=4i32)
            .map(|x| (-(x * x) as f64 / (2.0 * 1.7 * 1.7)).exp())
            .collect();
        let sum: f64 = raw.iter().sum();
        for (a, b) in k.iter().zip(&raw) {
            assert!((f64::from(*a) - b / sum).abs() < 1e-6);
        }
        assert_eq!(k, gaussian_kernel(9, 1.7));
    }

    #[test]
    fn five_tap_kernel_for_sigma_half() {
        assert_eq!(ksize_for_sigma(0.5), 5);
        let k = gaussian_kernel(5, 0.5);
        // exp(−x²/0.5) for x = −2..2, normalised.
        let raw = [
            (-8.0f64).exp(),
            (-2.0f64).exp(),
            1.0,
            (-2.0f64).exp(),
            (-8.0f64).exp(),
        ];
        let sum: f64 = raw.iter().sum();
        for (a, b) in k.iter().zip(&raw) {
            assert!((f64::from(*a) - b / sum).abs() < 1e-7);
        }
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn blur_3x3_reflect101_by_hand() {
        // One row [0, 4, 8]: horizontal pass with reflect-101 pads 4|0 4 8|4.
        let out = gaussian_blur(&[0.0, 4.0, 8.0], 3, 1, 3, 0.0, Border::Reflect101);
        assert_eq!(out, vec![2.0, 4.0, 6.0]);
        // Vertical impulse in a 1×3 column: [0,1,0] → [0.5, 0.5, 0.5]
        // (rows 0 and 2 reflect onto row 1).
        let out = gaussian_blur(&[0.0, 1.0, 0.0], 1, 3, 3, 0.0, Border::Reflect101);
        assert_eq!(out, vec![0.5, 0.5, 0.5]);
    }

    #[test]
    fn blur_replicate_keeps_edges() {
        // 5-tap σ = 0.5 on a step: replicate makes the left end exactly 0.
        let row = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let k = gaussian_kernel(5, 0.5);
        let out = gaussian_blur(&row, 6, 1, 5, 0.5, Border::Replicate);
        assert_eq!(out[0], 0.0);
        assert_eq!(out[5], 1.0);
        assert!((out[2] - (k[3] + k[4])).abs() < 1e-7);
    }

    #[test]
    fn constant_image_is_unchanged() {
        let img = vec![[0.5f32, -2.0, 7.0]; 20];
        let out = gaussian_blur3_sigma(&img, 5, 4, 0.5, Border::Replicate);
        for p in out {
            assert!((p[0] - 0.5).abs() < 1e-6 && (p[1] + 2.0).abs() < 1e-6);
        }
    }

    #[test]
    fn min_max_normalisation() {
        let mut v = vec![2.0f32, 4.0, 3.0];
        normalize_min_max(&mut v);
        assert_eq!(v, vec![0.0, 1.0, 0.5]);
        let mut flat = vec![3.0f32; 4];
        normalize_min_max(&mut flat);
        assert_eq!(flat, vec![0.0; 4]);
        assert_eq!(
            normalized_min_max_f64_to_f32(&[1.0, 3.0]),
            vec![0.0f32, 1.0]
        );
        assert_eq!(normalized_min_max_f64_to_f32(&[5.0, 5.0]), vec![0.0f32; 2]);
    }
}
