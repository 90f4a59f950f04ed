//! Gaussian blur.

use super::Scratch;
use super::filter::{horizontal_kernel, quantise, vertical};
use crate::augment::img::Image;

/// torchvision's 1-D Gaussian kernel: `size` taps at `-(size/2)..=size/2`,
/// `exp(-x² / 2σ²)`, normalised to sum 1.
pub fn gaussian_kernel(size: u32, sigma: f64) -> Vec<f64> {
    let mut k = Vec::new();
    fill_kernel(size, sigma, &mut k);
    k
}

fn fill_kernel(size: u32, sigma: f64, out: &mut Vec<f64>) {
    let half = f64::from(size / 2);
    out.clear();
    out.extend((0..size).map(|i| {
        let x = (f64::from(i) - half) / sigma;
        (-0.5 * x * x).exp()
    }));
    let total: f64 = out.iter().sum();
    for w in out.iter_mut() {
        *w /= total;
    }
}

/// Blurs with a `size` x `size` Gaussian of standard deviation `sigma`,
/// separably, with torch's "reflect" border (torchvision `gaussian_blur`;
/// unlike torch, kernels larger than the image are allowed: the reflection
/// repeats). Fixed-point weights (14 bits), rounded to nearest.
///
/// # Panics
/// If `size` is even.
pub fn gaussian_blur(img: &mut Image, size: u32, sigma: f64, scratch: &mut Scratch) {
    assert!(size % 2 == 1, "Gaussian kernel side {size} is not odd");
    if size == 1 || img.data.is_empty() {
        return;
    }
    let Scratch {
        out,
        mid,
        acc,
        pad,
        kernel,
        vertical: v_taps,
        raw,
        ..
    } = scratch;
    fill_kernel(size, sigma, raw);
    kernel.clear();
    quantise(raw, kernel);
    v_taps.convolve_reflect(img.height, raw);
    horizontal_kernel(&img.data, img.width as usize, kernel, pad, acc, mid);
    vertical(mid, img.width as usize, 0, v_taps, acc, out);
    img.swap_in(img.width, img.height, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_matches_torchvision() {
        // torchvision._get_gaussian_kernel1d(3, 1.0)
        let k = gaussian_kernel(3, 1.0);
        let expected = [0.274_068_6, 0.451_862_8, 0.274_068_6];
        for (a, b) in k.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{k:?}");
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        let mut img = Image::new(7, 5, vec![123; 105]).unwrap();
        gaussian_blur(&mut img, 5, 1.7, &mut Scratch::default());
        assert!(img.data().iter().all(|&v| v == 123));
    }

    #[test]
    fn impulse_spreads_symmetrically_with_reflect_border() {
        // A 1-pixel-high image: the vertical pass reflects onto itself.
        let mut data = vec![0u8; 5 * 3];
        data[6..9].copy_from_slice(&[200, 200, 200]);
        let mut img = Image::new(5, 1, data).unwrap();
        gaussian_blur(&mut img, 3, 1.0, &mut Scratch::default());
        let reds: Vec<u8> = img.data().iter().step_by(3).copied().collect();
        // 200 * [0.274, 0.452, 0.274] around the centre.
        assert_eq!(reds, [0, 55, 90, 55, 0]);
    }

    #[test]
    fn kernel_larger_than_image_is_total() {
        let mut img =
            Image::new(2, 2, vec![0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255]).unwrap();
        gaussian_blur(&mut img, 9, 5.0, &mut Scratch::default());
        assert_eq!(img.width(), 2);
    }
}
