//! HC — histogram-based contrast saliency (saliency.md §1), plus the colour
//! quantisation and colour-space smoothing that RC reuses.
//!
//! Pipeline: quantise every channel to 12 levels (B, G, R order), keep the
//! most frequent bins covering 95 % of the pixels, remap the rest to their
//! nearest kept bin, take the mean float colour of each bin in Lab, score each
//! bin by its frequency-weighted Lab distance to all others, smooth the
//! scores over the nearest bins in Lab, paint, blur 3×3 and normalise.
//! Arithmetic follows the reference's f32/f64 choices step by step.

use super::Map;
use super::filter::{self, Border};
use super::lab;

/// Quantisation levels per channel (saliency.md §1.1).
pub const LEVELS: usize = 12;
/// Number of quantisation bins, 12³.
pub const BINS: usize = LEVELS * LEVELS * LEVELS;
/// Fraction of pixels the kept bins must cover (saliency.md §1.2: 95 %).
pub const KEEP_RATIO: f64 = 0.95;
/// Upper bound on kept bins (saliency.md §1.2: n ≤ 256).
pub const MAX_COLORS: usize = 256;
/// Colour smoothing width for HC, m ≈ n/4 (saliency.md §1.6).
pub const HC_SMOOTH_DELTA: f32 = 0.25;

/// How a palette that came out very small is widened (saliency.md §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmallPalette {
    /// TPAMI code: if n ≤ 10, n = min(10, #bins).
    #[default]
    Tpami,
    /// CVPR-era code: if n < 10, n = min(#bins, 100).
    Cvpr2011,
}

/// The quantisation level of an 8-bit channel value: trunc(v/255·(12−1e-4)),
/// in f32 as the reference (saliency.md §1.1).
pub fn level(v: u8) -> u8 {
    // saliency.md §1.1: q = trunc(v·(12−1e-4)) on the float pixel v/255.
    const SCALE: f32 = LEVELS as f32 - 0.0001;
    ((v as f32 * lab::U8_TO_UNIT) * SCALE) as u8
}

fn level_lut() -> [u16; 256] {
    std::array::from_fn(|v| u16::from(level(v as u8)))
}

/// The 12³ bin of an 8-bit `[r, g, b]` pixel: 144·qB + 12·qG + qR
/// (saliency.md §1.1, channels in the reference's B, G, R order).
pub fn bin_of(rgb: [u8; 3]) -> u16 {
    let [r, g, b] = rgb.map(|c| u16::from(level(c)));
    144 * b + 12 * g + r
}

/// The (qB, qG, qR) levels of a bin.
pub fn bin_levels(bin: u16) -> [i32; 3] {
    let b = i32::from(bin);
    [b / 144, b % 144 / 12, b % 12]
}

/// The chosen palette: which bins are kept and where every bin goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Palette {
    /// Kept bins, most frequent first (count desc, bin index desc); the
    /// position is the colour index.
    pub kept: Vec<u16>,
    /// For each of the [`BINS`] bins, its colour index (kept or remapped);
    /// `u16::MAX` for bins no pixel falls in.
    pub remap: Vec<u16>,
}

/// Choose the palette from a 12³ histogram of `n_pixels` pixels
/// (saliency.md §1.2–1.3): sort occurring bins by (count desc, bin desc),
/// drop the longest least-frequent tail whose total is < round(0.05·N)
/// (`1 − ratio` in general), cap at 256, widen small palettes per `rule`, and
/// send each dropped bin to the kept bin nearest in integer (qB, qG, qR)
/// space (squared distance; ties to the more frequent kept bin).
pub fn select_palette(hist: &[u32], n_pixels: usize, ratio: f64, rule: SmallPalette) -> Palette {
    assert_eq!(hist.len(), BINS);
    let mut order: Vec<(u32, u16)> = hist
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(b, &c)| (c, b as u16))
        .collect();
    order.sort_unstable_by(|a, b| b.cmp(a));
    let total = order.len();
    let mut remap = vec![u16::MAX; BINS];
    if total == 0 {
        return Palette {
            kept: Vec::new(),
            remap,
        };
    }
    // saliency.md §1.2: tail budget round(0.05·N), computed as the reference
    // does (cvRound of N·(1 − 0.95) in f64).
    let max_drop = (n_pixels as f64 * (1.0 - ratio)).round_ties_even() as u64;
    let mut n = total;
    let mut dropped = u64::from(order[n - 1].0);
    while dropped < max_drop && n > 1 {
        dropped += u64::from(order[n - 2].0);
        n -= 1;
    }
    // saliency.md §1.2: n ≤ 256, then the small-palette rule.
    n = n.min(MAX_COLORS);
    match rule {
        SmallPalette::Tpami if n <= 10 => n = total.min(10),
        SmallPalette::Cvpr2011 if n < 10 => n = total.min(100),
        _ => {}
    }
    let kept: Vec<u16> = order[..n].iter().map(|&(_, b)| b).collect();
    let kept_levels: Vec<[i32; 3]> = kept.iter().map(|&b| bin_levels(b)).collect();
    for (i, &b) in kept.iter().enumerate() {
        remap[b as usize] = i as u16;
    }
    // saliency.md §1.3: nearest kept bin in integer level space; strict `<`
    // keeps the first (most frequent) of equally near bins.
    for &(_, b) in &order[n..] {
        let q = bin_levels(b);
        let mut best = (i32::MAX, 0usize);
        for (j, k) in kept_levels.iter().enumerate() {
            let d = (q[0] - k[0]).pow(2) + (q[1] - k[1]).pow(2) + (q[2] - k[2]).pow(2);
            if d < best.0 {
                best = (d, j);
            }
        }
        remap[b as usize] = best.1 as u16;
    }
    Palette { kept, remap }
}

/// A quantised image: per-pixel colour index and the palette's colours.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantized {
    /// Image width.
    pub width: usize,
    /// Image height.
    pub height: usize,
    /// Colour index of each pixel, row-major (0 = most frequent colour).
    pub idx: Vec<u16>,
    /// Mean float colour `[r, g, b]` in [0, 1] of the pixels of each colour
    /// (remapped pixels included; saliency.md §1.4).
    pub colors: Vec<[f32; 3]>,
    /// Pixel count of each colour (remapped pixels included).
    pub counts: Vec<u32>,
    /// The 12³ bin each colour stands for.
    pub bins: Vec<u16>,
}

impl Quantized {
    /// Number of colours n.
    pub fn len(&self) -> usize {
        self.colors.len()
    }

    /// True for an empty image.
    pub fn is_empty(&self) -> bool {
        self.colors.is_empty()
    }

    /// Lab of each colour (OpenCV float Lab of the mean colour).
    pub fn lab(&self) -> Vec<[f32; 3]> {
        self.colors.iter().map(|&c| lab::lab_from_rgb(c)).collect()
    }
}

/// The 12³ histogram of an image and the raw bin of every pixel.
pub fn histogram(img: &image::RgbImage) -> (Vec<u16>, Vec<u32>) {
    let lut = level_lut();
    let mut hist = vec![0u32; BINS];
    let bins: Vec<u16> = img
        .as_raw()
        .chunks_exact(3)
        .map(|p| {
            let b = 144 * lut[p[2] as usize] + 12 * lut[p[1] as usize] + lut[p[0] as usize];
            hist[b as usize] += 1;
            b
        })
        .collect();
    (bins, hist)
}

/// Quantise as the TPAMI code (saliency.md §1.1–1.4).
pub fn quantize(img: &image::RgbImage) -> Quantized {
    quantize_with(img, KEEP_RATIO, SmallPalette::Tpami)
}

/// Quantise keeping bins that cover `ratio` of the pixels, with the given
/// small-palette rule.
pub fn quantize_with(img: &image::RgbImage, ratio: f64, rule: SmallPalette) -> Quantized {
    let (width, height) = (img.width() as usize, img.height() as usize);
    let (mut idx, hist) = histogram(img);
    let palette = select_palette(&hist, idx.len(), ratio, rule);
    let n = palette.kept.len();
    // The reference sums the float BGR pixels in f32, in raster order.
    let mut sums = vec![[0.0f32; 3]; n];
    let mut counts = vec![0u32; n];
    for (i, p) in idx.iter_mut().zip(img.as_raw().chunks_exact(3)) {
        let c = palette.remap[*i as usize];
        *i = c;
        let s = &mut sums[c as usize];
        s[0] += p[0] as f32 * lab::U8_TO_UNIT;
        s[1] += p[1] as f32 * lab::U8_TO_UNIT;
        s[2] += p[2] as f32 * lab::U8_TO_UNIT;
        counts[c as usize] += 1;
    }
    let colors = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| {
            let inv = 1.0 / c as f32;
            [s[0] * inv, s[1] * inv, s[2] * inv]
        })
        .collect();
    Quantized {
        width,
        height,
        idx,
        colors,
        counts,
        bins: palette.kept,
    }
}

/// The n×n table of Euclidean Lab distances between palette colours (f32).
#[derive(Debug, Clone, PartialEq)]
pub struct ColorDistances {
    n: usize,
    d: Vec<f32>,
}

impl ColorDistances {
    /// Distances between all pairs of `lab` colours.
    pub fn new(lab: &[[f32; 3]]) -> Self {
        let n = lab.len();
        let mut d = vec![0.0f32; n * n];
        for i in 0..n {
            for j in i + 1..n {
                let v = lab::distance(lab[i], lab[j]);
                d[i * n + j] = v;
                d[j * n + i] = v;
            }
        }
        ColorDistances { n, d }
    }

    /// Number of colours.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when there are no colours.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// D(c_i, c_j).
    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.d[i * self.n + j]
    }

    /// The distances from colour i to every colour.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.d[i * self.n..(i + 1) * self.n]
    }

    /// The whole row-major table.
    pub fn table(&self) -> &[f32] {
        &self.d
    }

    /// Fill `out` with the `m` nearest colours to `i` as `(distance, index)`,
    /// ordered by (distance asc, index asc) — `i` itself first at 0.
    pub fn nearest_into(
        &self,
        i: usize,
        m: usize,
        keys: &mut Vec<u64>,
        out: &mut Vec<(f32, usize)>,
    ) {
        let m = m.min(self.n);
        keys.clear();
        // Non-negative f32 bits order like the values: (d, j) packed in a u64.
        keys.extend(
            self.row(i)
                .iter()
                .enumerate()
                .map(|(j, &d)| (u64::from(d.to_bits()) << 32) | j as u64),
        );
        if m < keys.len() && m > 0 {
            keys.select_nth_unstable(m - 1);
        }
        keys.truncate(m);
        keys.sort_unstable();
        out.clear();
        out.extend(
            keys.iter()
                .map(|&k| (f32::from_bits((k >> 32) as u32), (k & 0xFFFF_FFFF) as usize)),
        );
    }

    /// The `m` nearest colours to `i` (see [`ColorDistances::nearest_into`]).
    pub fn nearest(&self, i: usize, m: usize) -> Vec<(f32, usize)> {
        let (mut keys, mut out) = (Vec::new(), Vec::new());
        self.nearest_into(i, m, &mut keys, &mut out);
        out
    }
}

/// Global colour contrast S(c_i) = Σ_{j≠i} f_j·D(c_i, c_j) with
/// f_j = count_j/N (saliency.md §1.5), accumulated in f32 as the reference.
pub fn contrast(dist: &ColorDistances, counts: &[u32]) -> Vec<f32> {
    let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    let inv = 1.0 / total as f64;
    let f: Vec<f32> = counts
        .iter()
        .map(|&c| (f64::from(c) * inv) as f32)
        .collect();
    (0..dist.len())
        .map(|i| {
            let row = dist.row(i);
            let mut s = 0.0f32;
            for (j, (&d, &fj)) in row.iter().zip(&f).enumerate() {
                if j != i {
                    s += fj * d;
                }
            }
            s
        })
        .collect()
}

/// Number of neighbours the colour smoothing uses for n colours:
/// m = max(round_even(n·δ), 2) in f32 (saliency.md §1.6), at most n.
pub fn smoothing_width(n: usize, delta: f32) -> usize {
    ((n as f32 * delta).round_ties_even() as usize)
        .max(2)
        .min(n)
}

/// Smoothing weights over the m nearest colours with distances `dists`
/// (self first, d = 0; saliency.md §1.6, §2.7), summing to 1 where stated:
/// - no counts (HC): (T − d_k) / ((m − 1)·T), the paper's formula (sums to 1);
/// - counts (RC's SmoothByHist): (T − d_k)·count_k / (T·Σ count_k), as the
///   code (sums to (m−1)·Σ(T−d_k)c_k/(T·Σc_k), ≤ 1).
///
/// With T = 0 (all m colours coincide) the weights fall back to the plain
/// (count-weighted) mean.
pub fn smoothing_weights(dists: &[f32], counts: Option<&[u32]>) -> Vec<f64> {
    let m = dists.len();
    let t: f64 = dists.iter().map(|&d| f64::from(d)).sum();
    let c = |k: usize| counts.map_or(1.0, |c| f64::from(c[k]));
    let total_c: f64 = (0..m).map(c).sum();
    if t <= 0.0 || m < 2 {
        return (0..m).map(|k| c(k) / total_c).collect();
    }
    match counts {
        None => {
            let denom = (m - 1) as f64 * t;
            dists.iter().map(|&d| (t - f64::from(d)) / denom).collect()
        }
        Some(_) => {
            let denom = t * total_c;
            dists
                .iter()
                .enumerate()
                .map(|(k, &d)| (t - f64::from(d)) * c(k) / denom)
                .collect()
        }
    }
}

/// Colour-space smoothing of per-colour saliency (CmCode `SmoothSaliency`):
/// each colour takes the [`smoothing_weights`]-weighted sum of the saliency
/// of its m = [`smoothing_width`]`(n, delta)` nearest colours in Lab, then
/// the result is min–max normalised. With fewer than two colours the input
/// is returned unchanged, as the reference.
pub fn smooth_colors(
    sal: &[f32],
    dist: &ColorDistances,
    counts: Option<&[u32]>,
    delta: f32,
) -> Vec<f32> {
    let n = sal.len();
    assert_eq!(n, dist.len());
    if n < 2 {
        return sal.to_vec();
    }
    let m = smoothing_width(n, delta);
    let (mut keys, mut near) = (Vec::with_capacity(n), Vec::with_capacity(m));
    let mut dists = Vec::with_capacity(m);
    let mut cnt = Vec::with_capacity(m);
    let mut out = vec![0.0f64; n];
    for (i, o) in out.iter_mut().enumerate() {
        dist.nearest_into(i, m, &mut keys, &mut near);
        dists.clear();
        dists.extend(near.iter().map(|&(d, _)| d));
        let w = match counts {
            Some(c) => {
                cnt.clear();
                cnt.extend(near.iter().map(|&(_, k)| c[k]));
                smoothing_weights(&dists, Some(&cnt))
            }
            None => smoothing_weights(&dists, None),
        };
        *o = near
            .iter()
            .zip(&w)
            .map(|(&(_, k), &wk)| f64::from(sal[k]) * wk)
            .sum();
    }
    filter::normalized_min_max_f64_to_f32(&out)
}

/// Paint per-colour values onto the pixels of a quantised image.
pub fn paint(q: &Quantized, values: &[f32]) -> Map {
    Map {
        width: q.width,
        height: q.height,
        data: q.idx.iter().map(|&i| values[i as usize]).collect(),
    }
}

/// HC saliency of a quantised image: per-colour saliency (contrast, then
/// smoothing, normalised to [0, 1]).
pub fn color_saliency(q: &Quantized) -> Vec<f32> {
    let dist = ColorDistances::new(&q.lab());
    let s = contrast(&dist, &q.counts);
    smooth_colors(&s, &dist, None, HC_SMOOTH_DELTA)
}

/// HC saliency map in [0, 1] (saliency.md §1), as CmCode's `GetHC`.
pub fn hc(img: &image::RgbImage) -> Map {
    let q = quantize(img);
    let s = color_saliency(&q);
    let mut map = paint(&q, &s);
    // saliency.md §1.7: 3×3 Gaussian (σ = 0 → [¼, ½, ¼]), then min–max.
    map.data = filter::gaussian_blur(&map.data, map.width, map.height, 3, 0.0, Border::Reflect101);
    filter::normalize_min_max(&mut map.data);
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    #[test]
    fn levels_are_truncated_twelfths() {
        assert_eq!(level(0), 0);
        assert_eq!(level(255), 11);
        // 21/255·11.9999 = 0.98823 → 0; 22/255·11.9999 = 1.0353 → 1.
        assert_eq!(level(21), 0);
        assert_eq!(level(22), 1);
        let counts = (0..=255u8).fold([0; 12], |mut c, v| {
            c[level(v) as usize] += 1;
            c
        });
        assert_eq!(counts, [22, 21, 21, 22, 21, 21, 21, 22, 21, 21, 21, 22]);
    }

    #[test]
    fn bins_are_bgr_ordered() {
        assert_eq!(bin_of([255, 0, 0]), 11); // red → qR
        assert_eq!(bin_of([0, 255, 0]), 132); // green → 12·qG
        assert_eq!(bin_of([0, 0, 255]), 1584); // blue → 144·qB
        assert_eq!(bin_levels(1727), [11, 11, 11]);
    }

    fn image_of(pixels: &[[u8; 3]], w: u32) -> RgbImage {
        let h = pixels.len() as u32 / w;
        RgbImage::from_fn(w, h, |x, y| Rgb(pixels[(y * w + x) as usize]))
    }

    #[test]
    fn quantisation_counts_on_a_tiny_image() {
        // 3 red, 2 green, 1 blue: all kept (n ≤ 10 rule), ordered by count.
        let px = [
            [255, 0, 0],
            [250, 0, 0],
            [255, 10, 0],
            [0, 255, 0],
            [0, 255, 0],
            [0, 0, 255],
        ];
        let q = quantize(&image_of(&px, 3));
        assert_eq!(q.bins, vec![11, 132, 1584]);
        assert_eq!(q.counts, vec![3, 2, 1]);
        assert_eq!(q.idx, vec![0, 0, 0, 1, 1, 2]);
        let mean_r = (1.0 + 250.0 / 255.0 + 1.0) / 3.0;
        assert!((q.colors[0][0] - mean_r).abs() < 1e-6);
        assert!((q.colors[0][1] - 10.0 / 255.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn keeps_bins_covering_95_percent() {
        // 20 bins over 1000 pixels: 14 of 70 and a tail 5, 4, 4, 3, 2, 2.
        // Budget round(0.05·1000) = 50: the tail sums to 20 < 50 and adding a
        // 70 would reach 90, so exactly the 6 tail bins are dropped.
        let mut hist = vec![0u32; BINS];
        let counts = [5u32, 4, 4, 3, 2, 2];
        for k in 0..14 {
            hist[k * 12] = 70;
        }
        for (k, &c) in counts.iter().enumerate() {
            hist[1000 + k] = c;
        }
        for rule in [SmallPalette::Tpami, SmallPalette::Cvpr2011] {
            let p = select_palette(&hist, 1000, KEEP_RATIO, rule);
            assert_eq!(p.kept.len(), 14);
            // Equal counts: higher bin index first.
            assert_eq!(p.kept[0], 13 * 12);
            assert_eq!(p.kept[13], 0);
            assert!(p.kept.iter().all(|&b| hist[b as usize] == 70));
            assert!(p.remap[1000..1006].iter().all(|&c| c != u16::MAX));
        }
        // round_even(0.05·N) as the reference computes it: N·(1 − 0.95).
        assert_eq!((10.0f64 * (1.0 - KEEP_RATIO)).round_ties_even(), 1.0);
    }

    #[test]
    fn small_palettes_are_widened_per_variant() {
        // 12 bins over 1000 pixels; the 95 % rule keeps only 4
        // (tail 1+3+4+5+5+6+8+8 = 40 < 50, +10 = 50 is not < 50).
        let mut hist = vec![0u32; BINS];
        let counts = [880u32, 50, 20, 10, 8, 8, 6, 5, 5, 4, 3, 1];
        for (k, &c) in counts.iter().enumerate() {
            hist[k] = c;
        }
        let p = select_palette(&hist, 1000, KEEP_RATIO, SmallPalette::Tpami);
        assert_eq!(p.kept.len(), 10, "TPAMI: n ≤ 10 → min(10, #bins)");
        let p = select_palette(&hist, 1000, KEEP_RATIO, SmallPalette::Cvpr2011);
        assert_eq!(p.kept.len(), 12, "CVPR: n < 10 → min(#bins, 100)");
    }

    #[test]
    fn ties_sort_by_bin_index_descending() {
        let mut hist = vec![0u32; BINS];
        hist[5] = 7;
        hist[9] = 7;
        hist[1] = 10;
        let p = select_palette(&hist, 24, KEEP_RATIO, SmallPalette::Tpami);
        assert_eq!(p.kept, vec![1, 9, 5]);
    }

    #[test]
    fn nearest_remap_in_level_space_ties_to_more_frequent() {
        let mut hist = vec![0u32; BINS];
        // Eleven frequent bins at (qB, qG, qR) = (k, 0, 0), counts 1000 − k,
        // and a twelfth at (0, 2, 0) with 900.
        for k in 0..11 {
            hist[k * 144] = 1000 - k as u32;
        }
        hist[2 * 12] = 900;
        // Two rare bins (the dropped tail: 1 + 1 < round(0.05·N) = 592):
        // (0, 0, 2) is nearest to (0, 0, 0) (4 vs 5 and 8);
        // (0, 1, 0) is at 1 from both (0, 0, 0) [1000] and (0, 2, 0) [900]:
        // the tie goes to the more frequent one.
        hist[2] = 1;
        hist[12] = 1;
        let n: u32 = hist.iter().sum();
        let p = select_palette(&hist, n as usize, KEEP_RATIO, SmallPalette::Tpami);
        assert_eq!(p.kept.len(), 12);
        assert!(!p.kept.contains(&2) && !p.kept.contains(&12));
        let of = |bin: u16| p.kept.iter().position(|&b| b == bin).unwrap() as u16;
        assert_eq!(of(0), 0);
        assert_eq!(p.remap[2], 0);
        assert_eq!(p.remap[12], 0);
        assert_eq!(p.remap[24], of(24));
        assert_eq!(p.remap[100], u16::MAX);
    }

    #[test]
    fn smoothing_weights_sum_to_one() {
        let w = smoothing_weights(&[0.0, 1.0, 2.0, 5.0], None);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // T = 8, m = 4: (8 − d)/(3·8).
        assert!((w[0] - 8.0 / 24.0).abs() < 1e-12);
        assert!((w[3] - 3.0 / 24.0).abs() < 1e-12);
        // Guard T = 0 → plain mean.
        assert_eq!(smoothing_weights(&[0.0, 0.0], None), vec![0.5, 0.5]);
        // Weighted form: (T − d)·c / (T·Σc).
        let w = smoothing_weights(&[0.0, 2.0], Some(&[3, 1]));
        assert!((w[0] - 2.0 * 3.0 / (2.0 * 4.0)).abs() < 1e-12);
        assert_eq!(w[1], 0.0);
    }

    #[test]
    fn nearest_orders_by_distance_then_index() {
        let lab = [
            [0.0, 0.0, 0.0],
            [3.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [-1.0, 0.0, 0.0],
        ];
        let d = ColorDistances::new(&lab);
        assert_eq!(d.nearest(0, 3), vec![(0.0, 0), (1.0, 2), (1.0, 3)]);
        assert_eq!(d.nearest(1, 2), vec![(0.0, 1), (2.0, 2)]);
    }

    #[test]
    fn contrast_is_frequency_weighted_distance() {
        let lab = [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 20.0, 0.0]];
        let d = ColorDistances::new(&lab);
        let s = contrast(&d, &[2, 1, 1]);
        let d12 = (500.0f32).sqrt();
        assert!((s[0] - (0.25 * 10.0 + 0.25 * 20.0)).abs() < 1e-5);
        assert!((s[1] - (0.5 * 10.0 + 0.25 * d12)).abs() < 1e-5);
    }

    #[test]
    fn smoothing_width_rule() {
        assert_eq!(smoothing_width(85, 0.25), 21);
        assert_eq!(smoothing_width(10, 0.25), 2); // round_even(2.5) = 2
        assert_eq!(smoothing_width(3, 0.25), 2);
        assert_eq!(smoothing_width(25, 0.1), 2); // f32: 25·0.1 = 2.5 → 2
        assert_eq!(smoothing_width(35, 0.1), 4); // 3.5 → 4
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(100))]
        #[test]
        fn quantisation_is_consistent(
            w in 1u32..24,
            h in 1u32..24,
            seed in 0u64..u64::MAX,
            spread in 1u8..=255,
        ) {
            let mut s = seed | 1;
            let img = RgbImage::from_fn(w, h, |_, _| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                Rgb([(s % u64::from(spread)) as u8, (s >> 8) as u8 % spread, (s >> 16) as u8])
            });
            let q = quantize(&img);
            let n = q.len();
            proptest::prop_assert!((1..=MAX_COLORS).contains(&n));
            proptest::prop_assert_eq!(q.counts.iter().sum::<u32>(), w * h);
            proptest::prop_assert!(q.idx.iter().all(|&i| (i as usize) < n));
            proptest::prop_assert!(q.colors.iter().flatten().all(|&c| (0.0..=1.0).contains(&c)));
            let m = hc(&img);
            proptest::prop_assert!(m.data.iter().all(|&v| (0.0..=1.0 + 1e-6).contains(&v)));
        }
    }

    #[test]
    fn hc_ranks_the_rare_colour_first() {
        // A red square on a large grey field: red is rare and far → salient.
        let img = RgbImage::from_fn(40, 30, |x, y| {
            if (15..25).contains(&x) && (10..20).contains(&y) {
                Rgb([220, 20, 30])
            } else {
                Rgb([120, 120, 120])
            }
        });
        let m = hc(&img);
        assert_eq!(m.data.len(), 1200);
        assert!((m.get(20, 15) - 1.0).abs() < 1e-6);
        assert!(m.get(2, 2) < 1e-6);
        let (lo, hi) = m
            .data
            .iter()
            .fold((1.0f32, 0.0f32), |(a, b), &v| (a.min(v), b.max(v)));
        assert!(lo.abs() < 1e-6 && (hi - 1.0).abs() < 1e-6);
    }

    #[test]
    fn hc_of_a_flat_image_is_zero() {
        let img = RgbImage::from_pixel(8, 6, Rgb([10, 200, 30]));
        assert!(hc(&img).data.iter().all(|&v| v == 0.0));
    }
}
