//! Separable filtering with fixed-point weights: the engine under resizing
//! and blurring.
//!
//! A filter is applied as a horizontal pass (8-bit pixels to a 16-bit
//! intermediate with 8 fractional bits) followed by a vertical pass (back to
//! 8 bits, rounded). Weights have 14 fractional bits and every output's
//! weights sum to exactly one, so constant regions stay constant and an
//! identity filter is exact. All arithmetic is integer: results are the same
//! on every machine. The loops are written for the compiler to vectorise.

use std::ops::Range;

/// Fractional bits of a weight.
const WEIGHT_BITS: u32 = 14;
/// A weight of one.
const ONE: u16 = 1 << WEIGHT_BITS;
/// Shift from (8-bit pixel x weight) to the intermediate's 8 fractional bits.
const MID_SHIFT: u32 = WEIGHT_BITS - 8;
/// Shift from (intermediate x weight) back to an 8-bit pixel.
const OUT_SHIFT: u32 = WEIGHT_BITS + 8;

/// The taps of a 1-D filter: every output reads `n` inputs, output `o` the
/// inputs `index[o * n + k]` with weights `weight[o * n + k]`, `k < n`.
#[derive(Debug, Default)]
pub(crate) struct Taps {
    n: usize,
    index: Vec<u32>,
    weight: Vec<u16>,
}

impl Taps {
    /// Number of outputs.
    pub fn len(&self) -> usize {
        self.index.len().checked_div(self.n).unwrap_or(0)
    }

    /// The input indices and weights of output `o`.
    fn get(&self, o: usize) -> (&[u32], &[u16]) {
        let r = o * self.n..(o + 1) * self.n;
        (&self.index[r.clone()], &self.weight[r])
    }

    /// The smallest and one past the largest input index read.
    pub fn span(&self) -> Range<u32> {
        let lo = self.index.iter().copied().min().unwrap_or(0);
        let hi = self.index.iter().copied().max().map_or(0, |m| m + 1);
        lo..hi
    }

    /// Resampling of `in_len` inputs (starting at input index `offset`) to
    /// `out_len` outputs with the triangle (bilinear) filter, widened by the
    /// scale factor when shrinking (antialiasing), as PIL and torchvision's
    /// `antialias=True` do. Pixel centres are at half-integers. Every output
    /// reads `n` consecutive inputs (zero weights pad the narrower windows).
    pub fn resample(&mut self, offset: u32, in_len: u32, out_len: u32, raw: &mut Vec<f64>) {
        let scale = f64::from(in_len) / f64::from(out_len);
        if scale < 1.0 && in_len >= 2 {
            self.upsample(offset, in_len, out_len, scale);
        } else {
            self.windows(offset, in_len, out_len, scale, raw);
        }
    }

    /// [`Taps::resample`] in general: the tent of half-width
    /// `max(1, scale)` around each output's centre, renormalised.
    fn windows(&mut self, offset: u32, in_len: u32, out_len: u32, scale: f64, raw: &mut Vec<f64>) {
        let stretch = scale.max(1.0);
        let tent =
            |i: u32, center: f64| (1.0 - ((f64::from(i) + 0.5 - center) / stretch).abs()).max(0.0);
        // Window of output o: the inputs lo..hi of non-zero weight; the
        // widest window sets n.
        let window = |o: u32| {
            let center = (f64::from(o) + 0.5) * scale;
            let mut lo = (center - stretch + 0.5).max(0.0) as u32;
            let mut hi = ((center + stretch + 0.5) as u32).min(in_len);
            while lo + 1 < hi && tent(lo, center) == 0.0 {
                lo += 1;
            }
            while hi > lo + 1 && tent(hi - 1, center) == 0.0 {
                hi -= 1;
            }
            (center, lo, hi.max(lo + 1))
        };
        let n = (0..out_len)
            .map(|o| {
                let (_, lo, hi) = window(o);
                hi - lo
            })
            .max()
            .unwrap_or(1);
        self.n = n as usize;
        self.index.clear();
        self.weight.clear();
        for o in 0..out_len {
            let (center, lo, hi) = window(o);
            let start = lo.min(in_len - n);
            raw.clear();
            raw.extend((start..start + n).map(|i| {
                if (lo..hi).contains(&i) {
                    tent(i, center)
                } else {
                    0.0
                }
            }));
            if raw.iter().all(|&w| w == 0.0) {
                // Only for degenerate windows: the nearest input.
                raw[(lo - start) as usize] = 1.0;
            }
            self.index.extend((start..start + n).map(|i| offset + i));
            quantise(raw, &mut self.weight);
        }
    }

    /// [`Taps::resample`] when enlarging: plain linear interpolation between
    /// the two nearest inputs (clamped at the ends), the same weights
    /// without the general window search.
    fn upsample(&mut self, offset: u32, in_len: u32, out_len: u32, scale: f64) {
        self.n = 2;
        self.index.clear();
        self.weight.clear();
        let last = f64::from(in_len - 1);
        for o in 0..out_len {
            let x = ((f64::from(o) + 0.5) * scale - 0.5).clamp(0.0, last);
            let left = (x as u32).min(in_len - 2);
            let right = ((x - f64::from(left)) * f64::from(ONE) + 0.5) as u16;
            self.index.extend([offset + left, offset + left + 1]);
            self.weight.extend([ONE - right, right]);
        }
    }

    /// Convolution of `len` inputs with `kernel` (odd length, centred), with
    /// torch's "reflect" border (`-1` reads `1`, `len` reads `len - 2`).
    pub fn convolve_reflect(&mut self, len: u32, kernel: &[f64]) {
        let half = (kernel.len() / 2) as i64;
        self.n = kernel.len();
        self.index.clear();
        self.weight.clear();
        quantise(kernel, &mut self.weight);
        for _ in 1..len {
            self.weight.extend_from_within(..self.n);
        }
        for o in 0..i64::from(len) {
            self.index
                .extend((-half..=half).map(|k| reflect(o + k, len)));
        }
    }
}

/// Appends `raw` (non-negative, not all zero) to `out`, normalised and
/// quantised to 14 bits with the rounding residue on the largest weight, so
/// that the appended weights sum to exactly [`ONE`].
pub(crate) fn quantise(raw: &[f64], out: &mut Vec<u16>) {
    let start = out.len();
    let scale = f64::from(ONE) / raw.iter().sum::<f64>();
    let mut largest = start;
    let mut sum = 0i32;
    for &w in raw {
        let q = (w * scale + 0.5) as u16;
        out.push(q);
        sum += i32::from(q);
        if q > out[largest] {
            largest = out.len() - 1;
        }
    }
    out[largest] = (i32::from(out[largest]) + i32::from(ONE) - sum) as u16;
}

/// Index `i` mirrored into `0..len` without repeating the edge (torch's
/// "reflect" padding), for any distance outside.
pub(crate) fn reflect(i: i64, len: u32) -> u32 {
    let n = i64::from(len);
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - m }) as u32
}

/// One output pixel of the horizontal pass from `N` consecutive source
/// pixels (`N == 0`: as many as `weight` has).
#[inline(always)]
fn tap_pixel<const N: usize>(src: &[u8], weight: &[u16]) -> [u16; 3] {
    let mut acc = [1u32 << (MID_SHIFT - 1); 3];
    if N == 0 {
        for (px, &w) in src.chunks_exact(3).zip(weight) {
            for c in 0..3 {
                acc[c] += u32::from(w) * u32::from(px[c]);
            }
        }
    } else {
        let (src, weight) = (&src[..3 * N], &weight[..N]);
        for k in 0..N {
            for c in 0..3 {
                acc[c] += u32::from(weight[k]) * u32::from(src[3 * k + c]);
            }
        }
    }
    acc.map(|a| (a >> MID_SHIFT) as u16)
}

#[inline(always)]
fn horizontal_rows<const N: usize>(
    rows: std::slice::ChunksExact<'_, u8>,
    taps: &Taps,
    mid: &mut [u16],
) {
    let out_w = taps.len();
    let n = taps.n;
    for (row, out) in rows.zip(mid.chunks_exact_mut(out_w * 3)) {
        for (o, px) in out.chunks_exact_mut(3).enumerate() {
            let start = taps.index[o * n] as usize * 3;
            let v = tap_pixel::<N>(&row[start..start + 3 * n], &taps.weight[o * n..o * n + n]);
            px.copy_from_slice(&v);
        }
    }
}

multiversion! {
    /// Horizontal pass through consecutive-input `taps` (from
    /// [`Taps::resample`]): rows `rows` of the RGB image `src` (`src_w`
    /// pixels wide) into `mid` (`taps.len()` pixels per row).
    pub(crate) fn horizontal(
        src: &[u8],
        src_w: usize,
        rows: Range<usize>,
        taps: &Taps,
        mid: &mut Vec<u16>,
    ) {
        let out_w = taps.len();
        mid.clear();
        mid.resize(rows.len() * out_w * 3, 0);
        if out_w == 0 || src_w == 0 {
            return;
        }
        let src_rows = src[rows.start * src_w * 3..rows.end * src_w * 3].chunks_exact(src_w * 3);
        match taps.n {
            1 => horizontal_rows::<1>(src_rows, taps, mid),
            2 => horizontal_rows::<2>(src_rows, taps, mid),
            3 => horizontal_rows::<3>(src_rows, taps, mid),
            4 => horizontal_rows::<4>(src_rows, taps, mid),
            _ => horizontal_rows::<0>(src_rows, taps, mid),
        }
    }
}

multiversion! {
    /// Horizontal pass of one kernel (odd length, 14-bit weights summing to
    /// one) over every row of the RGB image `src` (`width` pixels wide), with
    /// "reflect" borders, into `mid`; `pad` and `acc` are scratch.
    pub(crate) fn horizontal_kernel(
        src: &[u8],
        width: usize,
        kernel: &[u16],
        pad: &mut Vec<u8>,
        acc: &mut Vec<u32>,
        mid: &mut Vec<u16>,
    ) {
        let row_len = width * 3;
        mid.clear();
        mid.resize(src.len(), 0);
        if row_len == 0 {
            return;
        }
        let half = kernel.len() / 2;
        let padded_w = width + 2 * half;
        acc.clear();
        acc.resize(row_len, 0);
        pad.clear();
        pad.resize(padded_w * 3, 0);
        for (row, out) in src.chunks_exact(row_len).zip(mid.chunks_exact_mut(row_len)) {
            pad[half * 3..half * 3 + row_len].copy_from_slice(row);
            for p in (0..half).chain(half + width..padded_w) {
                let s = half * 3 + reflect(p as i64 - half as i64, width as u32) as usize * 3;
                pad.copy_within(s..s + 3, p * 3);
            }
            acc.fill(1 << (MID_SHIFT - 1));
            for (k, &w) in kernel.iter().enumerate() {
                let w = u32::from(w);
                for (a, &p) in acc.iter_mut().zip(&pad[k * 3..k * 3 + row_len]) {
                    *a += w * u32::from(p);
                }
            }
            for (m, &a) in out.iter_mut().zip(acc.iter()) {
                *m = (a >> MID_SHIFT) as u16;
            }
        }
    }
}

multiversion! {
    /// Vertical pass: `mid` (rows of `width` pixels; its row `r` is input row
    /// `row0 + r`) through `taps` into the RGB image `out`; `acc` is scratch.
    pub(crate) fn vertical(
        mid: &[u16],
        width: usize,
        row0: u32,
        taps: &Taps,
        acc: &mut Vec<u32>,
        out: &mut Vec<u8>,
    ) {
        let row_len = width * 3;
        out.clear();
        out.resize(taps.len() * row_len, 0);
        if row_len == 0 {
            return;
        }
        acc.clear();
        acc.resize(row_len, 0);
        for (o, out_row) in out.chunks_exact_mut(row_len).enumerate() {
            acc.fill(1 << (OUT_SHIFT - 1));
            let (index, weight) = taps.get(o);
            for (&i, &w) in index.iter().zip(weight) {
                if w == 0 {
                    continue;
                }
                let start = (i - row0) as usize * row_len;
                let w = u32::from(w);
                for (a, &m) in acc.iter_mut().zip(&mid[start..start + row_len]) {
                    *a += w * u32::from(m);
                }
            }
            for (d, &a) in out_row.iter_mut().zip(acc.iter()) {
                *d = (a >> OUT_SHIFT) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(weights: &[u16]) -> u32 {
        weights.iter().map(|&w| u32::from(w)).sum()
    }

    #[test]
    fn reflect_mirrors_without_repeating_the_edge() {
        let got: Vec<u32> = (-3..8).map(|i| reflect(i, 4)).collect();
        assert_eq!(got, [3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1]);
        assert_eq!(reflect(-5, 1), 0);
    }

    #[test]
    fn weights_sum_to_one_over_consecutive_inputs() {
        let mut taps = Taps::default();
        let mut raw = Vec::new();
        for (n, m) in [
            (7, 3),
            (3, 7),
            (32, 13),
            (13, 32),
            (5, 5),
            (1, 4),
            (4, 1),
            (2, 3),
        ] {
            taps.resample(0, n, m, &mut raw);
            assert_eq!(taps.len(), m as usize);
            for o in 0..taps.len() {
                let (index, weight) = taps.get(o);
                assert_eq!(sum(weight), u32::from(ONE));
                assert!(index.windows(2).all(|p| p[1] == p[0] + 1));
                assert!(index.iter().all(|&i| i < n));
            }
        }
        taps.convolve_reflect(4, &[0.2, 0.5, 0.3]);
        for o in 0..4 {
            assert_eq!(sum(taps.get(o).1), u32::from(ONE));
        }
        assert_eq!(taps.get(0).0, [1, 0, 1]);
    }

    #[test]
    fn upsampling_shortcut_matches_the_general_windows() {
        let (mut fast, mut general) = (Taps::default(), Taps::default());
        let mut raw = Vec::new();
        for (n, m) in [(2, 3), (3, 7), (9, 32), (13, 32), (31, 32), (5, 64)] {
            fast.resample(1, n, m, &mut raw);
            let scale = f64::from(n) / f64::from(m);
            general.windows(1, n, m, scale, &mut raw);
            assert_eq!(
                (fast.n, &fast.index, &fast.weight),
                (general.n, &general.index, &general.weight),
                "{n} -> {m}"
            );
        }
    }

    #[test]
    fn equal_sizes_resample_to_single_taps() {
        let mut taps = Taps::default();
        taps.resample(2, 4, 4, &mut Vec::new());
        for o in 0..4 {
            assert_eq!(taps.get(o), (&[o as u32 + 2][..], &[ONE][..]));
        }
        assert_eq!(taps.span(), 2..6);
    }
}
