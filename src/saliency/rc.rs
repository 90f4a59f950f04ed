//! RC — region contrast saliency (saliency.md §2), as CmCode's `GetRC`
//! (TPAMI variant, the default) or the CVPR-2011-era `GetRC`.
//!
//! TPAMI pipeline: quantise colours as HC; segment the Lab image with FH
//! (σ 0.5, k 50, min_size 200); score each region by its colour distance to
//! every other region, weighted by their pixel counts and by
//! exp(−‖Δcentroid‖²/0.4), times a centre prior; normalise; zero the
//! background/border regions; smooth over colours (SmoothByHist, δ 0.1) and
//! over regions (SmoothByRegion); zero the border mask again; 3×3 Gaussian.
//! The CVPR variant stops after painting the normalised region contrast and
//! the 3×3 Gaussian, with min_size 50 and no priors.
//!
//! The region distance D_r = F·D·Fᵀ is evaluated as (F·D) then a sparse
//! product with Fᵀ, in f64: the same sums as the reference's double loop
//! over colour pairs, associated differently (differences at f32 rounding
//! level).

use super::Map;
use super::filter::{self, Border};
use super::hc::{self, ColorDistances, Quantized, SmallPalette};
use super::lab;
use super::segment;

/// Which release of the reference code to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Variant {
    /// CmCode (TPAMI 2015): centre prior, border prior, SmoothByHist,
    /// SmoothByRegion, FH min_size 200.
    #[default]
    Tpami,
    /// The CVPR 2011 code: plain region contrast, FH min_size 50, no priors
    /// and no smoothing (its n/4 colour smoothing belongs to HC only).
    Cvpr2011,
}

/// All RC parameters; [`RcParams::new`] gives the reference defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RcParams {
    /// Code variant.
    pub variant: Variant,
    /// σs² of the spatial weighting exp(−‖Δc‖²/σs²) (saliency.md §2.4: 0.4).
    pub sigma_dist: f64,
    /// FH constant k (saliency.md §2: 50).
    pub seg_k: f32,
    /// FH minimum component size (saliency.md §2: 200, CVPR 50).
    pub seg_min_size: usize,
    /// FH pre-blur σ (saliency.md §2: 0.5).
    pub seg_sigma: f32,
}

impl RcParams {
    /// The reference defaults of a variant (`GetRC(img, 0.4, 50, 200|50, 0.5)`).
    pub fn new(variant: Variant) -> Self {
        RcParams {
            variant,
            // saliency.md §2.4: σs² = 0.4.
            sigma_dist: 0.4,
            // saliency.md §2: k = 50, σ = 0.5, min_size 200 (CVPR-era 50).
            seg_k: 50.0,
            seg_min_size: match variant {
                Variant::Tpami => 200,
                Variant::Cvpr2011 => 50,
            },
            seg_sigma: 0.5,
        }
    }
}

impl Default for RcParams {
    fn default() -> Self {
        RcParams::new(Variant::Tpami)
    }
}

// saliency.md §2.6: GetBorderReg(ratio 0.02, thr 0.4).
const BORDER_RATIO: f64 = 0.02;
const BORDER_THRESHOLD: f64 = 0.4;
// saliency.md §2.7: SmoothByHist(δ = 0.1).
const HIST_SMOOTH_DELTA: f32 = 0.1;
// saliency.md §2.4: TPAMI centre prior exp(−9·(ad_x² + ad_y²)).
const CENTRE_PRIOR: f64 = 9.0;
// CmCode's EPS, added to the coordinate deviations in GetBorderReg.
const EPS: f64 = 1e-200;

/// Per-region statistics (CmCode `Region`).
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// |r|, the raw pixel count.
    pub pixels: u32,
    /// Centroid (mean x / W, mean y / H), in [0, 1].
    pub centroid: [f64; 2],
    /// Mean absolute offset from the image centre (mean |x − W/2| / W,
    /// mean |y − H/2| / H).
    pub centre_offset: [f64; 2],
    /// Sparse colour histogram: (count/|r| as f32, colour index), colour
    /// index ascending.
    pub colors: Vec<(f32, u16)>,
}

/// Region statistics from per-pixel region labels and quantised colours
/// (saliency.md §2.2).
pub fn build_regions(labels: &[u32], n_regions: usize, q: &Quantized) -> Vec<Region> {
    let (w, h, n) = (q.width, q.height, q.len());
    assert_eq!(labels.len(), w * h);
    let mut hist = vec![0u32; n_regions * n];
    let mut pixels = vec![0u32; n_regions];
    let mut sum = vec![[0.0f64; 4]; n_regions];
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    for y in 0..h {
        let row = &labels[y * w..(y + 1) * w];
        let cols = &q.idx[y * w..(y + 1) * w];
        let dy = (y as f64 - cy).abs();
        for (x, (&r, &c)) in row.iter().zip(cols).enumerate() {
            let r = r as usize;
            pixels[r] += 1;
            hist[r * n + c as usize] += 1;
            let s = &mut sum[r];
            s[0] += x as f64;
            s[1] += y as f64;
            s[2] += (x as f64 - cx).abs();
            s[3] += dy;
        }
    }
    (0..n_regions)
        .map(|r| {
            let p = pixels[r];
            let (dx, dy) = (f64::from(p) * w as f64, f64::from(p) * h as f64);
            let colors = hist[r * n..(r + 1) * n]
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(c, &k)| (k as f32 / p as f32, c as u16))
                .collect();
            Region {
                pixels: p,
                centroid: [sum[r][0] / dx, sum[r][1] / dy],
                centre_offset: [sum[r][2] / dx, sum[r][3] / dy],
                colors,
            }
        })
        .collect()
}

/// Region-to-region colour distances D_r(r, s) = Σ_i Σ_j f(r,i)·f(s,j)·D(c_i, c_j)
/// for all pairs, as a row-major R×R f64 matrix (saliency.md §2.3).
pub fn region_distances(regions: &[Region], dist: &ColorDistances) -> Vec<f64> {
    let (nr, n) = (regions.len(), dist.len());
    // G = F·D (R × n), dense rows.
    let mut g = vec![0.0f64; nr * n];
    for (r, reg) in regions.iter().enumerate() {
        let gr = &mut g[r * n..(r + 1) * n];
        for &(f, c) in &reg.colors {
            let f = f64::from(f);
            for (gv, &d) in gr.iter_mut().zip(dist.row(c as usize)) {
                *gv += f * f64::from(d);
            }
        }
    }
    let mut out = vec![0.0f64; nr * nr];
    for r in 0..nr {
        let gr = &g[r * n..(r + 1) * n];
        for s in r + 1..nr {
            let v: f64 = regions[s]
                .colors
                .iter()
                .map(|&(f, c)| gr[c as usize] * f64::from(f))
                .sum();
            out[r * nr + s] = v;
            out[s * nr + r] = v;
        }
    }
    out
}

/// Region saliency before normalisation (saliency.md §2.4):
/// S(r_k) = w_s(r_k)·Σ_{i≠k} exp(−‖c_k − c_i‖²/σs²)·|r_i|·D_r(r_k, r_i),
/// with the centre prior w_s = exp(−9(ad_x² + ad_y²)) when `centre_prior`.
pub fn region_contrast(
    regions: &[Region],
    dist: &ColorDistances,
    sigma_dist: f64,
    centre_prior: bool,
) -> Vec<f64> {
    let nr = regions.len();
    let dr = region_distances(regions, dist);
    let mut sal = vec![0.0f64; nr];
    for k in 0..nr {
        let ck = regions[k].centroid;
        let mut s = 0.0;
        for (i, reg) in regions.iter().enumerate() {
            if i == k {
                continue;
            }
            let ci = reg.centroid;
            let d2 = (ck[0] - ci[0]).powi(2) + (ck[1] - ci[1]).powi(2);
            s += f64::from(reg.pixels) * (dr[k * nr + i] * (-d2 / sigma_dist).exp());
        }
        if centre_prior {
            let ad = regions[k].centre_offset;
            s *= (-CENTRE_PRIOR * (ad[0] * ad[0] + ad[1] * ad[1])).exp();
        }
        sal[k] = s;
    }
    sal
}

/// Border/background mask (CmCode `GetBorderReg(0.02, 0.4)`, saliency.md
/// §2.6): regions whose border-strip pixel counts, relative to their spatial
/// spread, give lk = xb/(4·hGap·vY) + yb/(4·wGap·vX) > 0.4, plus every pixel
/// of the strips (wGap = round(0.02W) wide at left and right, hGap =
/// round(0.02H) high at top and bottom). `true` = background.
pub fn border_mask(labels: &[u32], n_regions: usize, w: usize, h: usize) -> Vec<bool> {
    assert_eq!(labels.len(), w * h);
    let mut n = vec![0.0f64; n_regions];
    let mut mx = vec![0.0f64; n_regions];
    let mut my = vec![0.0f64; n_regions];
    for y in 0..h {
        for (x, &r) in labels[y * w..(y + 1) * w].iter().enumerate() {
            let r = r as usize;
            mx[r] += x as f64;
            my[r] += y as f64;
            n[r] += 1.0;
        }
    }
    for r in 0..n_regions {
        mx[r] /= n[r];
        my[r] /= n[r];
    }
    let mut vx = vec![0.0f64; n_regions];
    let mut vy = vec![0.0f64; n_regions];
    for y in 0..h {
        for (x, &r) in labels[y * w..(y + 1) * w].iter().enumerate() {
            let r = r as usize;
            vx[r] += (x as f64 - mx[r]).abs();
            vy[r] += (y as f64 - my[r]).abs();
        }
    }
    for r in 0..n_regions {
        vx[r] = vx[r] / n[r] + EPS;
        vy[r] = vy[r] / n[r] + EPS;
    }
    let w_gap = (w as f64 * BORDER_RATIO).round_ties_even() as usize;
    let h_gap = (h as f64 * BORDER_RATIO).round_ties_even() as usize;
    let mut strip = vec![false; w * h];
    let mut xb = vec![0u32; n_regions];
    let mut yb = vec![0u32; n_regions];
    // Top and bottom strips count towards yb, left and right towards xb;
    // corners count in both.
    for y in (0..h_gap).chain(h - h_gap.min(h)..h) {
        for x in 0..w {
            yb[labels[y * w + x] as usize] += 1;
            strip[y * w + x] = true;
        }
    }
    for y in 0..h {
        for x in (0..w_gap).chain(w - w_gap.min(w)..w) {
            xb[labels[y * w + x] as usize] += 1;
            strip[y * w + x] = true;
        }
    }
    let x_r = 1.0 / (4 * h_gap) as f64;
    let y_r = 1.0 / (4 * w_gap) as f64;
    let background: Vec<bool> = (0..n_regions)
        .map(|r| {
            let lk = f64::from(xb[r]) * x_r / vy[r] + f64::from(yb[r]) * y_r / vx[r];
            lk / BORDER_THRESHOLD > 1.0
        })
        .collect();
    labels
        .iter()
        .zip(&strip)
        .map(|(&r, &s)| s || background[r as usize])
        .collect()
}

/// SmoothByHist (saliency.md §2.7): per-colour mean saliency, normalised,
/// smoothed over the m = max(round(δ·n), 2) nearest colours in Lab with
/// count weights, normalised again and painted back.
pub fn smooth_by_hist(q: &Quantized, dist: &ColorDistances, sal: &mut [f32], delta: f32) {
    let n = q.len();
    let mut acc = vec![0.0f64; n];
    for (&c, &s) in q.idx.iter().zip(sal.iter()) {
        acc[c as usize] += f64::from(s);
    }
    for (a, &c) in acc.iter_mut().zip(&q.counts) {
        *a /= f64::from(c);
    }
    let colour_sal = filter::normalized_min_max_f64_to_f32(&acc);
    let smoothed = hc::smooth_colors(&colour_sal, dist, Some(&q.counts), delta);
    for (s, &c) in sal.iter_mut().zip(&q.idx) {
        *s = smoothed[c as usize];
    }
}

/// SmoothByRegion (saliency.md §2.8): every region takes the mean saliency
/// of its pixels, min–max normalised over regions.
pub fn smooth_by_region(sal: &mut [f32], labels: &[u32], n_regions: usize) {
    let mut sum = vec![0.0f64; n_regions];
    let mut count = vec![0u32; n_regions];
    for (&r, &s) in labels.iter().zip(sal.iter()) {
        sum[r as usize] += f64::from(s);
        count[r as usize] += 1;
    }
    for (s, &c) in sum.iter_mut().zip(&count) {
        *s /= f64::from(c);
    }
    filter::normalize_min_max_f64(&mut sum);
    for (s, &r) in sal.iter_mut().zip(labels) {
        *s = sum[r as usize] as f32;
    }
}

/// RC from a given segmentation (CmCode `GetRC(img, regIdx, regNum,
/// sigmaDist)` and its CVPR counterpart after `SegmentImage`).
pub fn rc_with_segmentation(
    img: &image::RgbImage,
    labels: &[u32],
    n_regions: usize,
    params: &RcParams,
) -> Map {
    let q = quantize_for(img, params.variant);
    if let Some(m) = degenerate(&q, params.variant) {
        return m;
    }
    rc_core(&q, labels, n_regions, params)
}

fn quantize_for(img: &image::RgbImage, variant: Variant) -> Quantized {
    let rule = match variant {
        Variant::Tpami => SmallPalette::Tpami,
        Variant::Cvpr2011 => SmallPalette::Cvpr2011,
    };
    hc::quantize_with(img, hc::KEEP_RATIO, rule)
}

/// The reference's early exits on tiny palettes: TPAMI maps a 2-colour
/// image to 1 on colour 1 and 0 elsewhere; fewer colours (or ≤ 2 in the
/// CVPR code) give zeros.
fn degenerate(q: &Quantized, variant: Variant) -> Option<Map> {
    let n = q.len();
    if variant == Variant::Tpami && n == 2 {
        return Some(Map {
            width: q.width,
            height: q.height,
            data: q
                .idx
                .iter()
                .map(|&c| if c == 1 { 1.0 } else { 0.0 })
                .collect(),
        });
    }
    (n <= 2).then(|| Map::zeros(q.width, q.height))
}

fn rc_core(q: &Quantized, labels: &[u32], n_regions: usize, params: &RcParams) -> Map {
    let (w, h) = (q.width, q.height);
    let dist = ColorDistances::new(&q.lab());
    let regions = build_regions(labels, n_regions, q);
    let tpami = params.variant == Variant::Tpami;
    let reg_sal = region_contrast(&regions, &dist, params.sigma_dist, tpami);
    let reg_sal = filter::normalized_min_max_f64_to_f32(&reg_sal);
    let mut sal: Vec<f32> = labels.iter().map(|&r| reg_sal[r as usize]).collect();
    if tpami {
        let mask = border_mask(labels, n_regions, w, h);
        zero_masked(&mut sal, &mask);
        smooth_by_hist(q, &dist, &mut sal, HIST_SMOOTH_DELTA);
        smooth_by_region(&mut sal, labels, n_regions);
        zero_masked(&mut sal, &mask);
    }
    // saliency.md §2.9: final 3×3 Gaussian, no normalisation.
    let data = filter::gaussian_blur(&sal, w, h, 3, 0.0, Border::Reflect101);
    Map {
        width: w,
        height: h,
        data,
    }
}

fn zero_masked(sal: &mut [f32], mask: &[bool]) {
    for (s, &m) in sal.iter_mut().zip(mask) {
        if m {
            *s = 0.0;
        }
    }
}

/// RC saliency map with the reference parameters of `variant`
/// (saliency.md §2). Values lie in [0, 1] (not renormalised after the final
/// blur, as the reference).
pub fn rc(img: &image::RgbImage, variant: Variant) -> Map {
    rc_with(img, &RcParams::new(variant))
}

/// RC saliency map with explicit parameters.
pub fn rc_with(img: &image::RgbImage, params: &RcParams) -> Map {
    let q = quantize_for(img, params.variant);
    if let Some(m) = degenerate(&q, params.variant) {
        return m;
    }
    let (w, h) = (q.width, q.height);
    let lab_img = lab::to_lab(img);
    let (labels, n_regions) = segment::segment(
        &lab_img,
        w,
        h,
        params.seg_k,
        params.seg_min_size,
        params.seg_sigma,
    );
    rc_core(&q, &labels, n_regions, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    /// A noisy blue-grey gradient background with a bright yellow square.
    fn square_image(w: u32, h: u32, sq: (u32, u32, u32, u32)) -> RgbImage {
        let mut state = 7u32;
        RgbImage::from_fn(w, h, |x, y| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let noise = (state % 9) as u8;
            if (sq.0..sq.2).contains(&x) && (sq.1..sq.3).contains(&y) {
                Rgb([235 + noise, 220 + noise, 30 + noise])
            } else {
                let g = (60 + x * 40 / w) as u8;
                Rgb([g + noise, g + 10 + noise, g + 40 + noise])
            }
        })
    }

    #[test]
    fn bright_square_is_most_salient_and_border_is_zero() {
        let (w, h) = (80u32, 60u32);
        let img = square_image(w, h, (30, 20, 50, 40));
        let map = rc(&img, Variant::Tpami);
        assert_eq!((map.width, map.height), (80, 60));
        let centre = map.get(40, 30);
        let max = map.data.iter().cloned().fold(0.0f32, f32::max);
        assert!((centre - max).abs() < 1e-6, "centre {centre} max {max}");
        assert!(centre > 0.9);
        // Border strips (2 % of 80 → 2 px, of 60 → 1 px) are zeroed, and the
        // 3×3 blur only reaches one pixel in from the zeroed background.
        for x in 0..80 {
            assert_eq!(map.get(x as usize, 0), 0.0);
            assert_eq!(map.get(x as usize, 59), 0.0);
        }
        assert!(map.get(10, 10) < 0.05, "{}", map.get(10, 10));
        assert!(map.data.iter().all(|&v| (0.0..=1.0 + 1e-6).contains(&v)));
    }

    #[test]
    fn cvpr_variant_also_finds_the_square() {
        let img = square_image(80, 60, (30, 20, 50, 40));
        let map = rc(&img, Variant::Cvpr2011);
        let inside = map.get(40, 30);
        let outside = map.get(5, 5);
        assert!(inside > outside + 0.3, "{inside} vs {outside}");
    }

    #[test]
    fn two_colour_image_is_binary_in_tpami() {
        // Exactly two quantised colours: colour 1 (the rarer) → 1.
        let img = RgbImage::from_fn(10, 10, |x, _| {
            if x < 3 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let map = rc(&img, Variant::Tpami);
        assert_eq!(map.get(0, 0), 1.0);
        assert_eq!(map.get(9, 9), 0.0);
        assert!(rc(&img, Variant::Cvpr2011).data.iter().all(|&v| v == 0.0));
        let flat = RgbImage::from_pixel(5, 5, Rgb([1, 2, 3]));
        assert!(rc(&flat, Variant::Tpami).data.iter().all(|&v| v == 0.0));
    }

    fn quantized(labels_colours: &[u16], w: usize, h: usize, lab_cols: usize) -> Quantized {
        let mut counts = vec![0u32; lab_cols];
        for &c in labels_colours {
            counts[c as usize] += 1;
        }
        Quantized {
            width: w,
            height: h,
            idx: labels_colours.to_vec(),
            colors: vec![[0.0; 3]; lab_cols],
            counts,
            bins: (0..lab_cols as u16).collect(),
        }
    }

    #[test]
    fn regions_and_contrast_by_hand() {
        // 4×1 image: region 0 = pixels 0,1 (colours 0, 1), region 1 =
        // pixels 2,3 (colour 1, 1).
        let q = quantized(&[0, 1, 1, 1], 4, 1, 2);
        let labels = [0, 0, 1, 1];
        let regs = build_regions(&labels, 2, &q);
        assert_eq!(regs[0].pixels, 2);
        assert_eq!(regs[0].colors, vec![(0.5, 0), (0.5, 1)]);
        assert_eq!(regs[1].colors, vec![(1.0, 1)]);
        assert!((regs[0].centroid[0] - 0.5 / 4.0).abs() < 1e-12);
        assert!((regs[1].centroid[0] - 2.5 / 4.0).abs() < 1e-12);
        // |x − 2| mean over x = 0, 1 → 1.5, /4.
        assert!((regs[0].centre_offset[0] - 1.5 / 4.0).abs() < 1e-12);
        assert!((regs[0].centre_offset[1] - 0.5).abs() < 1e-12);
        let dist = ColorDistances::new(&[[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]]);
        let dr = region_distances(&regs, &dist);
        // D_r = 0.5·1·D(0,1) + 0.5·1·D(1,1) = 5.
        assert!((dr[1] - 5.0).abs() < 1e-9 && (dr[2] - 5.0).abs() < 1e-9);
        let s = region_contrast(&regs, &dist, 0.4, false);
        let spatial = (-(0.5f64).powi(2) / 0.4).exp();
        assert!((s[0] - 2.0 * 5.0 * spatial).abs() < 1e-9);
        assert!((s[1] - 2.0 * 5.0 * spatial).abs() < 1e-9);
        let sp = region_contrast(&regs, &dist, 0.4, true);
        let ad = regs[0].centre_offset;
        let prior = (-9.0 * (ad[0] * ad[0] + ad[1] * ad[1])).exp();
        assert!((sp[0] - s[0] * prior).abs() < 1e-9);
    }

    #[test]
    fn border_mask_marks_frame_regions_and_strips() {
        // 50×50: a frame region (label 0) around an interior block (label 1).
        let (w, h) = (50, 50);
        let labels: Vec<u32> = (0..w * h)
            .map(|p| {
                let (x, y) = (p % w, p / w);
                u32::from((10..40).contains(&x) && (10..40).contains(&y))
            })
            .collect();
        let mask = border_mask(&labels, 2, w, h);
        assert!(mask[0] && mask[5 * w + 25]); // frame region is background
        assert!(!mask[25 * w + 25]); // interior block is not
        // A block reaching the top edge through a 1-px neck is kept
        // (lk = 1/(4·1·vX) ≪ 0.4), but its strip pixel is still masked.
        let labels: Vec<u32> = (0..w * h)
            .map(|p| {
                let (x, y) = (p % w, p / w);
                let block = (10..40).contains(&x) && (10..40).contains(&y);
                u32::from(block || (x == 25 && y < 10))
            })
            .collect();
        let mask = border_mask(&labels, 2, w, h);
        assert!(mask[25]); // (25, 0) lies in the top strip
        assert!(!mask[5 * w + 25] && !mask[25 * w + 25]);
        assert!(mask[5 * w + 5]);
    }

    #[test]
    fn smooth_by_region_takes_region_means() {
        let mut sal = [0.0f32, 1.0, 0.5, 0.5, 0.2, 0.2];
        smooth_by_region(&mut sal, &[0, 0, 1, 1, 2, 2], 3);
        // Means 0.5, 0.5, 0.2 → normalised 1, 1, 0.
        assert_eq!(sal, [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
    }
}
