//! Random resized crop: torchvision's box sampling, and cropping + bilinear
//! resizing.

use super::Scratch;
use super::filter::{horizontal, vertical};
use crate::augment::img::Image;
use crate::augment::rng::{AugRng, below, uniform};

/// A rectangle of pixels inside an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropBox {
    /// First column.
    pub left: u32,
    /// First row.
    pub top: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl CropBox {
    /// The whole image.
    pub fn full(img: &Image) -> Self {
        Self {
            left: 0,
            top: 0,
            width: img.width,
            height: img.height,
        }
    }
}

/// torchvision's `RandomResizedCrop.get_params`: up to ten attempts at a box
/// of area fraction drawn uniformly from `scale` and aspect ratio
/// (width / height) drawn log-uniformly from `ratio`, sides rounded half to
/// even (as Python's `round`); a box that fits is placed uniformly at random.
/// If no attempt fits, the central crop with the ratio clamped into `ratio`.
///
/// Draw order per attempt: area fraction, log-ratio; then top, left.
pub fn sample_crop(
    width: u32,
    height: u32,
    scale: (f64, f64),
    ratio: (f64, f64),
    rng: &mut AugRng,
) -> CropBox {
    let area = f64::from(width) * f64::from(height);
    let (log_lo, log_hi) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target = area * uniform(rng, scale.0, scale.1);
        let aspect = uniform(rng, log_lo, log_hi).exp();
        // `as` saturates (and maps NaN to 0), so degenerate draws just fail the test.
        let w = (target * aspect).sqrt().round_ties_even() as u32;
        let h = (target / aspect).sqrt().round_ties_even() as u32;
        if 0 < w && w <= width && 0 < h && h <= height {
            let top = below(rng, height - h + 1);
            let left = below(rng, width - w + 1);
            return CropBox {
                left,
                top,
                width: w,
                height: h,
            };
        }
    }
    crate::notes::count(crate::notes::NoteCode::CentralCropFallback);
    let in_ratio = f64::from(width) / f64::from(height);
    let (w, h) = if in_ratio < ratio.0.min(ratio.1) {
        let h = (f64::from(width) / ratio.0.min(ratio.1)).round_ties_even() as u32;
        (width, h.clamp(1, height))
    } else if in_ratio > ratio.0.max(ratio.1) {
        let w = (f64::from(height) * ratio.0.max(ratio.1)).round_ties_even() as u32;
        (w.clamp(1, width), height)
    } else {
        (width, height)
    };
    CropBox {
        left: (width - w) / 2,
        top: (height - h) / 2,
        width: w,
        height: h,
    }
}

/// Crops `crop` out of `img` and resizes it to `out_w` x `out_h`: bilinear,
/// antialiased when shrinking (torchvision `resized_crop(..., antialias=True)`,
/// PIL's resampling), in fixed point.
///
/// # Panics
/// If `crop` is empty or not inside the image, or an output side is 0.
pub fn resized_crop(img: &mut Image, crop: CropBox, out_w: u32, out_h: u32, scratch: &mut Scratch) {
    assert!(
        crop.width > 0
            && crop.height > 0
            && crop.left + crop.width <= img.width
            && crop.top + crop.height <= img.height,
        "crop box {crop:?} outside a {}x{} image",
        img.width,
        img.height
    );
    assert!(out_w > 0 && out_h > 0, "empty output size");
    if (crop.width, crop.height) == (out_w, out_h) {
        if crop == CropBox::full(img) {
            return;
        }
        // A plain crop.
        let out = &mut scratch.out;
        out.clear();
        let row = crop.width as usize * 3;
        for y in crop.top..crop.top + crop.height {
            let start = y as usize * img.stride() + crop.left as usize * 3;
            out.extend_from_slice(&img.data[start..start + row]);
        }
        img.swap_in(out_w, out_h, out);
        return;
    }
    let Scratch {
        out,
        mid,
        acc,
        horizontal: h_taps,
        vertical: v_taps,
        raw,
        ..
    } = scratch;
    v_taps.resample(crop.top, crop.height, out_h, raw);
    h_taps.resample(crop.left, crop.width, out_w, raw);
    let rows = v_taps.span();
    horizontal(
        &img.data,
        img.width as usize,
        rows.start as usize..rows.end as usize,
        h_taps,
        mid,
    );
    vertical(mid, out_w as usize, rows.start, v_taps, acc, out);
    img.swap_in(out_w, out_h, out);
}

/// Resizes the whole image to `out_w` x `out_h` (as [`resized_crop`]).
pub fn resize(img: &mut Image, out_w: u32, out_h: u32, scratch: &mut Scratch) {
    resized_crop(img, CropBox::full(img), out_w, out_h, scratch);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::rng::rng_for;

    fn gradient(w: u32, h: u32) -> Image {
        let data = (0..h)
            .flat_map(|y| (0..w).flat_map(move |x| [(x * 10) as u8, (y * 10) as u8, 200]))
            .collect();
        Image::new(w, h, data).unwrap()
    }

    #[test]
    fn unit_scale_and_ratio_on_a_square_image_is_identity() {
        let mut rng = rng_for(1, &[0; 32], 0, 0, 0);
        for _ in 0..20 {
            assert_eq!(
                sample_crop(16, 16, (1.0, 1.0), (1.0, 1.0), &mut rng),
                CropBox {
                    left: 0,
                    top: 0,
                    width: 16,
                    height: 16
                }
            );
        }
        let src = gradient(16, 16);
        let mut img = src.clone();
        let crop = CropBox::full(&img);
        resized_crop(&mut img, crop, 16, 16, &mut Scratch::default());
        assert_eq!(img, src);
    }

    #[test]
    fn sampled_boxes_respect_scale_and_ratio() {
        let mut rng = rng_for(2, &[0; 32], 0, 0, 0);
        for _ in 0..500 {
            let b = sample_crop(100, 80, (0.2, 0.5), (0.75, 4.0 / 3.0), &mut rng);
            assert!(b.left + b.width <= 100 && b.top + b.height <= 80);
            let frac = f64::from(b.width * b.height) / 8000.0;
            assert!((0.18..0.52).contains(&frac), "area fraction {frac}");
            let r = f64::from(b.width) / f64::from(b.height);
            assert!((0.70..1.40).contains(&r), "ratio {r}");
        }
    }

    #[test]
    fn impossible_boxes_fall_back_to_the_central_crop() {
        let mut rng = rng_for(3, &[0; 32], 0, 0, 0);
        // Ratio 2 on a square: area 1 cannot fit, so the centre crop at ratio 2.
        let counted = std::sync::Arc::new(crate::notes::Tally::default());
        let tally = Some(counted.clone());
        let b = crate::notes::within(&tally, || {
            sample_crop(10, 10, (1.0, 1.0), (2.0, 2.0), &mut rng)
        });
        assert_eq!(counted.notes()[0].count, 1);
        assert_eq!(
            b,
            CropBox {
                left: 0,
                top: 2,
                width: 10,
                height: 5
            }
        );
    }

    #[test]
    fn plain_crop_copies_pixels() {
        let src = gradient(8, 6);
        let mut img = src.clone();
        let crop = CropBox {
            left: 2,
            top: 1,
            width: 3,
            height: 2,
        };
        resized_crop(&mut img, crop, 3, 2, &mut Scratch::default());
        assert_eq!((img.width(), img.height()), (3, 2));
        assert_eq!(img.pixel(0, 0), src.pixel(2, 1));
        assert_eq!(img.pixel(2, 1), src.pixel(4, 2));
    }

    #[test]
    fn upscaling_interpolates_and_keeps_constants() {
        // Two pixels, 0 and 100, stretched to four: 0, 25, 75, 100 (PIL/torch).
        let mut img = Image::new(2, 1, vec![0, 0, 0, 100, 100, 100]).unwrap();
        resize(&mut img, 4, 1, &mut Scratch::default());
        let reds: Vec<u8> = img.data().iter().step_by(3).copied().collect();
        assert_eq!(reds, [0, 25, 75, 100]);

        let mut flat = Image::new(5, 5, vec![77; 75]).unwrap();
        resize(&mut flat, 13, 3, &mut Scratch::default());
        assert!(flat.data().iter().all(|&v| v == 77));
    }

    #[test]
    fn shrinking_averages() {
        // 4 -> 2 with the widened triangle: each output averages its pair
        // with neighbours weighted (1/8, 3/8, 3/8, 1/8) renormalised at edges.
        let mut img = Image::new(
            4,
            1,
            [0, 0, 0, 0, 0, 0, 100, 100, 100, 100, 100, 100].to_vec(),
        )
        .unwrap();
        resize(&mut img, 2, 1, &mut Scratch::default());
        // Left output: (3*0 + 3*0 + 1*100) / 7 = 14.3; right: symmetric 85.7.
        assert_eq!(img.data(), &[14, 14, 14, 86, 86, 86]);
    }
}
