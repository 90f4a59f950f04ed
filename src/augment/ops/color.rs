//! Colour operations, in place on 8-bit RGB: torchvision's `adjust_*`,
//! grayscale and solarize.
//!
//! The four ColorJitter adjustments run on the image as three `f32` planes
//! (`Planes`), in loops the compiler vectorises. Each adjustment clamps
//! its result to 0..=255 and rounds it (to nearest) as a uint8 op would, so
//! values are integers between adjustments and a sequence of adjustments on
//! the planes equals the same sequence of single calls. Only IEEE basic
//! operations are used: the same bits on every machine, whether the AVX2 or
//! the baseline build runs (the helpers are `#[inline(always)]` so that they
//! are compiled into the AVX2 build of [`JitterDraw::apply`]'s loop).
//!
//! Deviation from torchvision on uint8 tensors: results are rounded to the
//! nearest integer where torchvision truncates (brightness, contrast,
//! saturation, grey), so values can differ by one; torchvision's truncation
//! darkens images on average.

use super::Scratch;
use crate::augment::img::Image;
use crate::augment::rng::{AugRng, shuffle, uniform};

/// ITU-R 601-2 luma weights (0.299, 0.587, 0.114) with 16 fractional bits,
/// summing to exactly 1.
const LUMA: [f32; 3] = [19_595.0, 38_470.0, 7_471.0];

/// Adding and subtracting 2^23 rounds a non-negative `f32` below 2^23 to an
/// integer (nearest, ties to even): exact, branch-free, and vectorisable,
/// unlike `f32::round` or an `as` conversion on baseline x86-64.
const ROUNDER: f32 = 8_388_608.0;

/// ITU-R 601-2 luma of integer-valued channels, rounded (ties to even).
/// Exact: the weighted sum is an integer below 2^24, scaled by a power of two.
#[inline(always)]
fn luma_f32(r: f32, g: f32, b: f32) -> f32 {
    let q = (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b) * (1.0 / 65_536.0);
    (q + ROUNDER) - ROUNDER
}

/// ITU-R 601-2 luma of one RGB pixel, rounded (ties to even): the same
/// value as [`luma_f32`], in integer arithmetic.
#[inline]
pub(crate) fn luma(p: &[u8]) -> u8 {
    let q = 19_595 * u32::from(p[0]) + 38_470 * u32::from(p[1]) + 7_471 * u32::from(p[2]);
    ((q + 0x7FFF + ((q >> 16) & 1)) >> 16) as u8
}

/// The larger of two (non-NaN) values, as one vector instruction.
#[inline(always)]
fn max(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

/// The smaller of two (non-NaN) values, as one vector instruction.
#[inline(always)]
fn min(a: f32, b: f32) -> f32 {
    if a < b { a } else { b }
}

/// Clamps to 0..=255 and rounds to the nearest integer (ties to even).
#[inline(always)]
fn round_clamp(x: f32) -> f32 {
    (min(max(x, 0.0), 255.0) + ROUNDER) - ROUNDER
}

/// An RGB image as three planes of integer-valued `f32`s.
#[derive(Debug, Default)]
pub(crate) struct Planes {
    r: Vec<f32>,
    g: Vec<f32>,
    b: Vec<f32>,
}

impl Planes {
    /// Splits HWC bytes into the planes.
    fn load(&mut self, data: &[u8]) {
        let n = data.len() / 3;
        for plane in [&mut self.r, &mut self.g, &mut self.b] {
            plane.clear();
            plane.resize(n, 0.0);
        }
        let (r, g, b) = (&mut self.r[..n], &mut self.g[..n], &mut self.b[..n]);
        for (i, px) in data.chunks_exact(3).enumerate() {
            r[i] = f32::from(px[0]);
            g[i] = f32::from(px[1]);
            b[i] = f32::from(px[2]);
        }
    }

    /// Interleaves the planes back into HWC bytes.
    fn store(&self, data: &mut [u8]) {
        // Values are integers in 0..=255: the low mantissa bits of
        // `v + 2^23` are `v`, which avoids a saturating conversion.
        let byte = |v: f32| (v + ROUNDER).to_bits() as u8;
        let n = data.len() / 3;
        let (r, g, b) = (&self.r[..n], &self.g[..n], &self.b[..n]);
        for (i, px) in data.chunks_exact_mut(3).enumerate() {
            px[0] = byte(r[i]);
            px[1] = byte(g[i]);
            px[2] = byte(b[i]);
        }
    }

    /// The three planes, mutable, of equal length.
    #[inline(always)]
    fn split(&mut self) -> (&mut [f32], &mut [f32], &mut [f32]) {
        let n = self.r.len();
        (&mut self.r[..n], &mut self.g[..n], &mut self.b[..n])
    }

    /// [`adjust_brightness`].
    #[inline(always)]
    fn brightness(&mut self, factor: f32) {
        for plane in [&mut self.r, &mut self.g, &mut self.b] {
            for v in plane.iter_mut() {
                *v = round_clamp(*v * factor);
            }
        }
    }

    /// [`adjust_contrast`].
    #[inline(always)]
    fn contrast(&mut self, factor: f32) {
        let (r, g, b) = self.split();
        if r.is_empty() {
            return;
        }
        // Exact integer sums in eight f32 lanes (vectorised), over blocks
        // small enough that no lane reaches 2^24.
        let mut sum = 0u64;
        for ((r, g), b) in r
            .chunks(1 << 14)
            .zip(g.chunks(1 << 14))
            .zip(b.chunks(1 << 14))
        {
            let mut lanes = [0f32; 8];
            let (r8, g8, b8) = (r.chunks_exact(8), g.chunks_exact(8), b.chunks_exact(8));
            let tail = r8.remainder().len();
            for ((r, g), b) in r8.zip(g8).zip(b8) {
                for j in 0..8 {
                    lanes[j] += luma_f32(r[j], g[j], b[j]);
                }
            }
            let start = r.len() - tail;
            for j in 0..tail {
                lanes[j] += luma_f32(r[start + j], g[start + j], b[start + j]);
            }
            sum += lanes.iter().map(|&l| l as u64).sum::<u64>();
        }
        let offset = (1.0 - factor) * (sum as f64 / r.len() as f64) as f32;
        for plane in [r, g, b] {
            for v in plane.iter_mut() {
                *v = round_clamp(factor * *v + offset);
            }
        }
    }

    /// [`adjust_saturation`].
    #[inline(always)]
    fn saturation(&mut self, factor: f32) {
        let (r, g, b) = self.split();
        let keep = 1.0 - factor;
        for i in 0..r.len() {
            let grey = keep * luma_f32(r[i], g[i], b[i]);
            r[i] = round_clamp(factor * r[i] + grey);
            g[i] = round_clamp(factor * g[i] + grey);
            b[i] = round_clamp(factor * b[i] + grey);
        }
    }

    /// [`adjust_hue`].
    #[inline(always)]
    fn hue(&mut self, shift: f64) {
        // The shift in sectors (sixths of a turn), in [0, 6).
        let delta = (shift.rem_euclid(1.0) * 6.0) as f32;
        if delta == 0.0 || delta >= 6.0 {
            return;
        }
        let (r, g, b) = self.split();
        for i in 0..r.len() {
            let (red, green, blue) = (r[i], g[i], b[i]);
            let value = max(max(red, green), blue);
            let chroma = value - min(min(red, green), blue);
            // Hue in sectors, with torchvision's tie order (red, green, blue);
            // grey pixels (chroma 0, diff 0) come out unchanged.
            let (base, diff) = if value == red {
                (0.0, green - blue)
            } else if value == green {
                (2.0, blue - red)
            } else {
                (4.0, red - green)
            };
            let mut h = base + diff / max(chroma, 1.0) + delta;
            h = if h < 0.0 { h + 6.0 } else { h };
            h = if h >= 6.0 { h - 6.0 } else { h };
            // HSV to RGB: channel = value - chroma * clamp(min(k, 4 - k), 0, 1),
            // k = (n + h) mod 6 with n = 5, 3, 1 for R, G, B.
            let channel = |n: f32| {
                let k = n + h;
                let k = if k >= 6.0 { k - 6.0 } else { k };
                round_clamp(value - chroma * min(max(min(k, 4.0 - k), 0.0), 1.0))
            };
            r[i] = channel(5.0);
            g[i] = channel(3.0);
            b[i] = channel(1.0);
        }
    }
}

/// Runs `f` on the planes of `img` (standalone calls; ColorJitter reuses
/// the buffers in [`Scratch`]).
fn on_planes(img: &mut Image, f: impl FnOnce(&mut Planes)) {
    let mut planes = Planes::default();
    planes.load(&img.data);
    f(&mut planes);
    planes.store(&mut img.data);
}

/// Multiplies every channel by `factor` (torchvision `adjust_brightness`:
/// a blend with black).
pub fn adjust_brightness(img: &mut Image, factor: f64) {
    on_planes(img, |p| p.brightness(factor as f32));
}

/// Blends with the mean grey level of the image (torchvision
/// `adjust_contrast`): `factor * v + (1 - factor) * mean(luma)`.
pub fn adjust_contrast(img: &mut Image, factor: f64) {
    on_planes(img, |p| p.contrast(factor as f32));
}

/// Blends every pixel with its own grey level (torchvision
/// `adjust_saturation`): `factor * v + (1 - factor) * luma`.
pub fn adjust_saturation(img: &mut Image, factor: f64) {
    on_planes(img, |p| p.saturation(factor as f32));
}

/// Rotates the hue by `shift` turns (torchvision `adjust_hue`, `shift` in
/// [-0.5, 0.5]): in HSV, `h' = (h + shift) mod 1` with S and V unchanged
/// (so each pixel keeps its maximum and minimum channel).
pub fn adjust_hue(img: &mut Image, shift: f64) {
    on_planes(img, |p| p.hue(shift));
}

/// Replaces every pixel by its ITU-R 601-2 luma (0.299 R + 0.587 G +
/// 0.114 B, rounded), kept as three channels.
pub fn grayscale(img: &mut Image) {
    for p in img.data.chunks_exact_mut(3) {
        let y = luma(p);
        p.fill(y);
    }
}

/// Inverts (`255 - v`) every channel value at or above `threshold * 255`
/// (torchvision `solarize` with the threshold on the [0, 1] scale).
pub fn solarize(img: &mut Image, threshold: f64) {
    let t = threshold * 255.0;
    let mut lut = [0u8; 256];
    for (v, slot) in lut.iter_mut().enumerate() {
        *slot = if v as f64 >= t {
            255 - v as u8
        } else {
            v as u8
        };
    }
    for v in &mut img.data {
        *v = lut[usize::from(*v)];
    }
}

/// One of ColorJitter's four adjustments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adjustment {
    /// [`adjust_brightness`].
    Brightness,
    /// [`adjust_contrast`].
    Contrast,
    /// [`adjust_saturation`].
    Saturation,
    /// [`adjust_hue`].
    Hue,
}

/// One draw of ColorJitter: the order of the adjustments and their factors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JitterDraw {
    /// The order the adjustments are applied in.
    pub order: [Adjustment; 4],
    /// Brightness factor.
    pub brightness: f64,
    /// Contrast factor.
    pub contrast: f64,
    /// Saturation factor.
    pub saturation: f64,
    /// Hue shift in turns.
    pub hue: f64,
}

impl JitterDraw {
    /// torchvision `ColorJitter.get_params`: a random order, then factors
    /// uniform in `[max(0, 1 - b), 1 + b]` (same for contrast and
    /// saturation) and a hue shift uniform in `[-h, h]`. All four are always
    /// drawn (a zero amount just draws the neutral value).
    pub fn sample(
        brightness: f64,
        contrast: f64,
        saturation: f64,
        hue: f64,
        rng: &mut AugRng,
    ) -> Self {
        let mut order = [
            Adjustment::Brightness,
            Adjustment::Contrast,
            Adjustment::Saturation,
            Adjustment::Hue,
        ];
        shuffle(rng, &mut order);
        let mut factor = |amount: f64| uniform(rng, (1.0 - amount).max(0.0), 1.0 + amount);
        let (brightness, contrast, saturation) =
            (factor(brightness), factor(contrast), factor(saturation));
        Self {
            order,
            brightness,
            contrast,
            saturation,
            hue: uniform(rng, -hue, hue),
        }
    }

    /// Applies the adjustments in order, skipping neutral ones.
    pub fn apply(&self, img: &mut Image, scratch: &mut Scratch) {
        let planes = &mut scratch.planes;
        planes.load(&img.data);
        jitter_planes(self, planes);
        planes.store(&mut img.data);
    }
}

multiversion! {
    /// The adjustments of `draw`, in its order, on `planes`.
    fn jitter_planes(draw: &JitterDraw, planes: &mut Planes) {
        for adjustment in draw.order {
            match adjustment {
                Adjustment::Brightness if draw.brightness != 1.0 => {
                    planes.brightness(draw.brightness as f32);
                }
                Adjustment::Contrast if draw.contrast != 1.0 => {
                    planes.contrast(draw.contrast as f32);
                }
                Adjustment::Saturation if draw.saturation != 1.0 => {
                    planes.saturation(draw.saturation as f32);
                }
                Adjustment::Hue if draw.hue != 0.0 => planes.hue(draw.hue),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::rng::rng_for;

    fn px(rgb: [u8; 3]) -> Image {
        Image::new(1, 1, rgb.to_vec()).unwrap()
    }

    fn varied() -> Image {
        let data = (0..64u32)
            .flat_map(|i| [(i * 4) as u8, (255 - i * 3) as u8, (i * 37 % 256) as u8])
            .collect();
        Image::new(8, 8, data).unwrap()
    }

    #[test]
    fn grayscale_uses_601_luma() {
        let mut img = Image::new(3, 1, vec![255, 0, 0, 0, 255, 0, 0, 0, 255]).unwrap();
        grayscale(&mut img);
        assert_eq!(img.data(), &[76, 76, 76, 150, 150, 150, 29, 29, 29]);
        let mut white = px([255; 3]);
        grayscale(&mut white);
        assert_eq!(white.data(), &[255; 3]);
    }

    #[test]
    fn brightness_scales_and_clamps() {
        let src = varied();
        let mut img = src.clone();
        adjust_brightness(&mut img, 1.0);
        assert_eq!(img, src);
        let mut img = px([100, 200, 10]);
        adjust_brightness(&mut img, 1.5);
        assert_eq!(img.data(), &[150, 255, 15]);
        adjust_brightness(&mut img, 0.0);
        assert_eq!(img.data(), &[0, 0, 0]);
    }

    #[test]
    fn contrast_blends_with_the_mean_grey() {
        // Two grey pixels 0 and 200: mean 100; factor 0.5 -> 50 and 150.
        let mut img = Image::new(2, 1, vec![0, 0, 0, 200, 200, 200]).unwrap();
        adjust_contrast(&mut img, 0.5);
        assert_eq!(img.data(), &[50, 50, 50, 150, 150, 150]);
        let src = varied();
        let mut same = src.clone();
        adjust_contrast(&mut same, 1.0);
        assert_eq!(same, src);
    }

    #[test]
    fn saturation_zero_is_grey_and_one_is_identity() {
        let src = varied();
        let mut img = src.clone();
        adjust_saturation(&mut img, 1.0);
        assert_eq!(img, src);
        adjust_saturation(&mut img, 0.0);
        let mut grey = src.clone();
        grayscale(&mut grey);
        assert_eq!(img, grey);
        let mut red = px([200, 0, 0]);
        adjust_saturation(&mut red, 2.0);
        // 2 * v - luma(=60): 340 -> 255, -60 -> 0.
        assert_eq!(red.data(), &[255, 0, 0]);
    }

    #[test]
    fn hue_rotates_primaries() {
        let mut img = px([255, 0, 0]);
        adjust_hue(&mut img, 1.0 / 3.0);
        assert_eq!(img.data(), &[0, 255, 0]);
        adjust_hue(&mut img, 1.0 / 3.0);
        assert_eq!(img.data(), &[0, 0, 255]);
        adjust_hue(&mut img, -0.5);
        assert_eq!(img.data(), &[255, 255, 0]);
        let mut orange = px([255, 128, 0]);
        adjust_hue(&mut orange, 1.0 / 6.0);
        // h 30 deg -> 90 deg: (127, 255, 0).
        assert_eq!(orange.data(), &[127, 255, 0]);
    }

    /// torchvision's `_rgb2hsv`, hue shift, `_hsv2rgb`, in f64 on [0, 1].
    fn reference_hue(rgb: [u8; 3], shift: f64) -> [f64; 3] {
        let [r, g, b] = rgb.map(|v| f64::from(v) / 255.0);
        let (maxc, minc) = (r.max(g).max(b), r.min(g).min(b));
        let cr = maxc - minc;
        let s = if cr == 0.0 { 0.0 } else { cr / maxc };
        let div = if cr == 0.0 { 1.0 } else { cr };
        let (rc, gc, bc) = ((maxc - r) / div, (maxc - g) / div, (maxc - b) / div);
        let h6 = if maxc == r {
            bc - gc
        } else if maxc == g {
            2.0 + rc - bc
        } else {
            4.0 + gc - rc
        };
        let h = ((h6 / 6.0 + 1.0) % 1.0 + shift).rem_euclid(1.0);
        let i = (h * 6.0).floor();
        let f = h * 6.0 - i;
        let v = maxc;
        let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
        let out = match i as u32 % 6 {
            0 => [v, t, p],
            1 => [q, v, p],
            2 => [p, v, t],
            3 => [p, q, v],
            4 => [t, p, v],
            _ => [v, p, q],
        };
        out.map(|x| x * 255.0)
    }

    #[test]
    fn hue_matches_the_hsv_reference() {
        let mut rng = rng_for(11, &[0; 32], 0, 0, 0);
        for _ in 0..2_000 {
            let rgb = [0; 3].map(|_: u8| crate::augment::rng::below(&mut rng, 256) as u8);
            let shift = uniform(&mut rng, -0.5, 0.5);
            let mut img = px(rgb);
            adjust_hue(&mut img, shift);
            let expected = reference_hue(rgb, shift);
            for (got, want) in img.data().iter().zip(expected) {
                assert!(
                    (f64::from(*got) - want).abs() <= 0.5 + 1e-3,
                    "{rgb:?} shift {shift}: {:?} vs {expected:?}",
                    img.data()
                );
            }
        }
    }

    #[test]
    fn hue_keeps_grey_and_round_trips() {
        let mut grey = px([90, 90, 90]);
        adjust_hue(&mut grey, 0.3);
        assert_eq!(grey.data(), &[90, 90, 90]);
        let src = varied();
        let mut img = src.clone();
        adjust_hue(&mut img, 0.25);
        adjust_hue(&mut img, -0.25);
        for (a, b) in img.data().iter().zip(src.data()) {
            assert!(a.abs_diff(*b) <= 1, "{a} vs {b}");
        }
        let mut whole = src.clone();
        adjust_hue(&mut whole, 1.0);
        assert_eq!(whole, src);
    }

    #[test]
    fn solarize_inverts_at_and_above_the_threshold() {
        let mut img = Image::new(2, 1, vec![0, 127, 128, 200, 255, 10]).unwrap();
        solarize(&mut img, 0.5);
        // threshold 127.5: 128, 200, 255 invert.
        assert_eq!(img.data(), &[0, 127, 127, 55, 0, 10]);
        let mut all = px([0, 1, 255]);
        solarize(&mut all, 0.0);
        assert_eq!(all.data(), &[255, 254, 0]);
        let mut none = px([0, 1, 254]);
        solarize(&mut none, 1.0);
        assert_eq!(none.data(), &[0, 1, 254]);
    }

    #[test]
    fn jitter_factors_stay_in_range_and_order_is_a_permutation() {
        let mut rng = rng_for(0, &[0; 32], 0, 0, 0);
        let mut seen_first = std::collections::HashSet::new();
        for _ in 0..200 {
            let d = JitterDraw::sample(0.4, 1.5, 0.0, 0.1, &mut rng);
            assert!((0.6..1.4).contains(&d.brightness));
            assert!((0.0..2.5).contains(&d.contrast));
            assert_eq!(d.saturation, 1.0);
            assert!((-0.1..0.1).contains(&d.hue));
            let mut order = d.order.map(|a| a as u8);
            seen_first.insert(order[0]);
            order.sort_unstable();
            assert_eq!(order, [0, 1, 2, 3]);
        }
        assert_eq!(seen_first.len(), 4);
    }

    #[test]
    fn neutral_jitter_is_identity() {
        let src = varied();
        let mut img = src.clone();
        let mut rng = rng_for(0, &[0; 32], 0, 0, 0);
        JitterDraw::sample(0.0, 0.0, 0.0, 0.0, &mut rng).apply(&mut img, &mut Scratch::default());
        assert_eq!(img, src);
    }
}
