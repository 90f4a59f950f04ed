//! Random erasing (Zhong et al., "Random Erasing Data Augmentation", AAAI 2020),
//! with torchvision `RandomErasing`'s sampling: up to 10 attempts to draw a box
//! of area fraction uniform in `scale` and aspect ratio (height / width)
//! log-uniform in `ratio`, with sides `round(sqrt(area * r))` x
//! `round(sqrt(area / r))` (round half to even, as Python's `round`) that must be
//! strictly smaller than the image; then a uniform position. When no attempt
//! fits, the image is left unchanged (as torchvision does).
//!
//! Unlike torchvision, which erases a normalised tensor, the box is filled in the
//! 8-bit image before normalisation: a constant is given in 0–255, and `random`
//! fills uniform bytes (torchvision draws standard normals in normalised units).

use super::super::img::Image;
use super::super::rng::{AugRng, below, uniform};

/// torchvision's default area-fraction range of the erased box.
pub const DEFAULT_SCALE: (f64, f64) = (0.02, 0.33);
/// torchvision's default aspect-ratio range (height / width) of the erased box.
pub const DEFAULT_RATIO: (f64, f64) = (0.3, 3.3);
/// Attempts before giving up, as torchvision.
const ATTEMPTS: usize = 10;

/// The box to erase, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EraseBox {
    /// First row.
    pub top: u32,
    /// First column.
    pub left: u32,
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
}

/// Draws the box as torchvision does, or `None` when no attempt fits.
pub fn sample_box(
    width: u32,
    height: u32,
    scale: (f64, f64),
    ratio: (f64, f64),
    rng: &mut AugRng,
) -> Option<EraseBox> {
    let area = f64::from(width) * f64::from(height);
    let (log_lo, log_hi) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..ATTEMPTS {
        let target = area * uniform(rng, scale.0, scale.1);
        let aspect = uniform(rng, log_lo, log_hi).exp();
        // `as` saturates (and maps NaN to 0), so degenerate draws fail the test below.
        let h = (target * aspect).sqrt().round_ties_even() as u32;
        let w = (target / aspect).sqrt().round_ties_even() as u32;
        if h < height && w < width {
            let top = below(rng, height - h + 1);
            let left = below(rng, width - w + 1);
            return Some(EraseBox {
                top,
                left,
                height: h,
                width: w,
            });
        }
    }
    None
}

/// Fills `b` of `img`: with `fill` repeated when it has 3 bytes (one per channel), or
/// with `fill` itself when it has one RGB triple per pixel of the box (row-major).
///
/// # Panics
/// If the box leaves the image or `fill` has another length.
pub fn erase(img: &mut Image, b: EraseBox, fill: &[u8]) {
    let (w, h) = (b.width as usize, b.height as usize);
    assert!(b.left + b.width <= img.width && b.top + b.height <= img.height);
    assert!(
        fill.len() == 3 || fill.len() == w * h * 3,
        "fill of {} bytes",
        fill.len()
    );
    let stride = img.width as usize * 3;
    for y in 0..h {
        let start = (b.top as usize + y) * stride + b.left as usize * 3;
        let row = &mut img.data[start..start + w * 3];
        if fill.len() == 3 {
            for px in row.chunks_exact_mut(3) {
                px.copy_from_slice(fill);
            }
        } else {
            row.copy_from_slice(&fill[y * w * 3..(y + 1) * w * 3]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::rng::rng_for;

    fn grey(width: u32, height: u32, v: u8) -> Image {
        Image::new(width, height, vec![v; (width * height * 3) as usize]).unwrap()
    }

    #[test]
    fn a_constant_fills_exactly_the_box() {
        let mut img = grey(6, 5, 9);
        let b = EraseBox {
            top: 1,
            left: 2,
            height: 2,
            width: 3,
        };
        erase(&mut img, b, &[1, 2, 3]);
        for y in 0..5u32 {
            for x in 0..6u32 {
                let i = ((y * 6 + x) * 3) as usize;
                let inside = (1..3).contains(&y) && (2..5).contains(&x);
                let want: [u8; 3] = if inside { [1, 2, 3] } else { [9, 9, 9] };
                assert_eq!(img.data[i..i + 3], want, "({x}, {y})");
            }
        }
    }

    #[test]
    fn per_pixel_fill_is_copied_row_by_row() {
        let mut img = grey(4, 4, 0);
        let b = EraseBox {
            top: 2,
            left: 1,
            height: 1,
            width: 2,
        };
        erase(&mut img, b, &[10, 11, 12, 20, 21, 22]);
        assert_eq!(
            img.data[(2 * 4 + 1) * 3..(2 * 4 + 3) * 3],
            [10, 11, 12, 20, 21, 22]
        );
    }

    #[test]
    fn boxes_follow_the_requested_area_and_stay_inside() {
        let mut rng = rng_for(0, &[0; 32], 0, 0, 0);
        let (w, h) = (32u32, 32u32);
        let mut fractions = vec![];
        for _ in 0..500 {
            let b = sample_box(w, h, DEFAULT_SCALE, DEFAULT_RATIO, &mut rng).expect("fits");
            assert!(b.height < h && b.width < w);
            assert!(b.top + b.height <= h && b.left + b.width <= w);
            fractions.push(f64::from(b.height * b.width) / f64::from(w * h));
        }
        let mean = fractions.iter().sum::<f64>() / fractions.len() as f64;
        // Area uniform in [0.02, 0.33] (mean 0.175), less the rejected tall/wide boxes.
        assert!((0.10..0.20).contains(&mean), "mean erased fraction {mean}");
    }

    #[test]
    fn a_box_that_cannot_fit_gives_none() {
        let mut rng = rng_for(1, &[0; 32], 0, 0, 0);
        // The whole image cannot be erased: sides must be strictly smaller.
        assert_eq!(sample_box(8, 8, (1.0, 1.0), (1.0, 1.0), &mut rng), None);
    }

    #[test]
    fn sampling_is_deterministic() {
        let draw = || {
            let mut rng = rng_for(7, &[3; 32], 1, 2, 0);
            sample_box(40, 30, DEFAULT_SCALE, DEFAULT_RATIO, &mut rng)
        };
        assert_eq!(draw(), draw());
    }
}
