//! sRGB → CIE Lab by the formula of saliency.md §0 (the conversion the
//! reference code runs on `CV_32FC3` images in [0, 1]), and the Euclidean Lab
//! colour distance used by HC, RC and FH.
//!
//! Each channel is gamma-decoded, multiplied by the D65 sRGB→XYZ matrix with
//! X and Z pre-divided by the white point, then mapped by the cube-root f(t).
//! 8-bit images go through a 256-entry gamma table built from the same float
//! formula, so `to_lab(img)` equals `lab_from_rgb` of the float pixels
//! `v as f32 * (1/255)` bit for bit.
//!
//! This is the formula, not any OpenCV build's implementation of it: OpenCV
//! 2.4/3.x approximate the gamma with a spline table and ≥ 3.3 use a
//! trilinear-interpolated table, which differ from it by up to ~0.4 Lab
//! units. The HC/RC parity fixtures (`tests/saliency_parity.rs`) are computed
//! with the formula too.

use std::sync::OnceLock;

/// The factor OpenCV's `convertTo(CV_32F, 1.0/255)` multiplies 8-bit values by
/// (the double 1/255 rounded to f32; the product is then rounded to f32).
pub const U8_TO_UNIT: f32 = (1.0f64 / 255.0) as f32;

// saliency.md §0: D65 sRGB→XYZ matrix and white point Xn, Zn (Yn = 1).
const M: [[f64; 3]; 3] = [
    [0.412453, 0.357580, 0.180423],
    [0.212671, 0.715160, 0.072169],
    [0.019334, 0.119193, 0.950227],
];
const XN: f64 = 0.950456;
const ZN: f64 = 1.088754;

/// Matrix rows with X and Z divided by the white point, rounded to f32 as
/// OpenCV stores them.
const C: [[f32; 3]; 3] = [
    [
        (M[0][0] / XN) as f32,
        (M[0][1] / XN) as f32,
        (M[0][2] / XN) as f32,
    ],
    [M[1][0] as f32, M[1][1] as f32, M[1][2] as f32],
    [
        (M[2][0] / ZN) as f32,
        (M[2][1] / ZN) as f32,
        (M[2][2] / ZN) as f32,
    ],
];

// saliency.md §0: f(t) = t^(1/3) above 0.008856, else 7.787 t + 16/116.
const F_THRESHOLD: f32 = 0.008856;
const F_SLOPE: f32 = 7.787;
const F_OFFSET: f32 = 16.0 / 116.0;
// saliency.md §0: L = 903.3 Y below the threshold.
const L_LINEAR: f32 = 903.3;

/// sRGB gamma decoding of one channel in [0, 1] (values outside are clamped,
/// as OpenCV does): v/12.92 up to 0.04045, else ((v+0.055)/1.055)^2.4.
pub fn srgb_to_linear(v: f32) -> f32 {
    let v = f64::from(v.clamp(0.0, 1.0));
    let lin = if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    };
    lin as f32
}

#[inline]
fn f(t: f32) -> f32 {
    if t > F_THRESHOLD {
        t.cbrt()
    } else {
        F_SLOPE * t + F_OFFSET
    }
}

/// Lab of a linear-light RGB triple (already gamma-decoded), `[r, g, b]`.
#[inline]
pub fn lab_from_linear(rgb: [f32; 3]) -> [f32; 3] {
    let [r, g, b] = rgb;
    let x = r * C[0][0] + g * C[0][1] + b * C[0][2];
    let y = r * C[1][0] + g * C[1][1] + b * C[1][2];
    let z = r * C[2][0] + g * C[2][1] + b * C[2][2];
    let (fx, fy, fz) = (f(x), f(y), f(z));
    let l = if y > F_THRESHOLD {
        116.0 * fy - 16.0
    } else {
        L_LINEAR * y
    };
    [l, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// Lab of a float sRGB colour `[r, g, b]` in [0, 1] (OpenCV float Lab:
/// L ∈ [0, 100], a, b ≈ ±127).
pub fn lab_from_rgb(rgb: [f32; 3]) -> [f32; 3] {
    lab_from_linear([
        srgb_to_linear(rgb[0]),
        srgb_to_linear(rgb[1]),
        srgb_to_linear(rgb[2]),
    ])
}

/// The 256-entry gamma table: `lut[v] = srgb_to_linear(v * U8_TO_UNIT)`.
pub fn gamma_lut() -> &'static [f32; 256] {
    static LUT: OnceLock<[f32; 256]> = OnceLock::new();
    LUT.get_or_init(|| std::array::from_fn(|v| srgb_to_linear(v as f32 * U8_TO_UNIT)))
}

/// Lab of an 8-bit sRGB colour `[r, g, b]`.
pub fn lab_from_rgb8(rgb: [u8; 3]) -> [f32; 3] {
    let lut = gamma_lut();
    lab_from_linear([
        lut[rgb[0] as usize],
        lut[rgb[1] as usize],
        lut[rgb[2] as usize],
    ])
}

/// Lab of every pixel of an 8-bit sRGB image, row-major.
pub fn to_lab(img: &image::RgbImage) -> Vec<[f32; 3]> {
    let lut = gamma_lut();
    img.as_raw()
        .chunks_exact(3)
        .map(|p| lab_from_linear([lut[p[0] as usize], lut[p[1] as usize], lut[p[2] as usize]]))
        .collect()
}

/// Euclidean distance between two Lab colours (not squared; saliency.md §0),
/// computed in f32 as the reference's `vecDist<float, 3>`.
#[inline]
pub fn distance(a: [f32; 3], b: [f32; 3]) -> f32 {
    let d0 = a[0] - b[0];
    let d1 = a[1] - b[1];
    let d2 = a[2] - b[2];
    (d0 * d0 + d1 * d1 + d2 * d2).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f32; 3], b: [f32; 3], tol: f32) -> bool {
        a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= tol)
    }

    #[test]
    fn black_white_red_match_opencv() {
        assert!(close(lab_from_rgb8([0, 0, 0]), [0.0, 0.0, 0.0], 1e-6));
        let white = lab_from_rgb8([255, 255, 255]);
        assert!(close(white, [100.0, 0.0, 0.0], 1e-3), "{white:?}");
        // OpenCV: BGR (0, 0, 255) → (53.24, 80.09, 67.20).
        let red = lab_from_rgb8([255, 0, 0]);
        assert!(close(red, [53.24, 80.09, 67.20], 0.01), "{red:?}");
    }

    #[test]
    fn green_and_blue_match_known_values() {
        // Standard D65 sRGB Lab of pure green and blue.
        assert!(close(
            lab_from_rgb8([0, 255, 0]),
            [87.73, -86.18, 83.18],
            0.05
        ));
        assert!(close(
            lab_from_rgb8([0, 0, 255]),
            [32.30, 79.19, -107.86],
            0.05
        ));
    }

    #[test]
    fn dark_grey_uses_linear_segment() {
        // v = 2/255 → linear 0.000607 < 0.008856, so L = 903.3 Y, a = b ≈ 0.
        let lab = lab_from_rgb8([2, 2, 2]);
        let y = srgb_to_linear(2.0 * U8_TO_UNIT);
        assert!((lab[0] - 903.3 * y).abs() < 1e-4);
        assert!(lab[1].abs() < 1e-3 && lab[2].abs() < 1e-3);
    }

    #[test]
    fn lut_path_equals_float_path() {
        for v in 0..=255u8 {
            let rgb = [v, 255 - v, v / 3];
            let fl = rgb.map(|c| c as f32 * U8_TO_UNIT);
            assert_eq!(lab_from_rgb8(rgb), lab_from_rgb(fl));
        }
    }

    #[test]
    fn to_lab_is_row_major() {
        let img = image::RgbImage::from_fn(2, 1, |x, _| {
            if x == 0 {
                image::Rgb([0, 0, 0])
            } else {
                image::Rgb([255, 255, 255])
            }
        });
        let lab = to_lab(&img);
        assert_eq!(lab.len(), 2);
        assert!(lab[0][0] < 1e-6 && (lab[1][0] - 100.0).abs() < 1e-3);
    }

    #[test]
    fn distance_is_euclidean() {
        assert_eq!(distance([0.0, 3.0, 0.0], [0.0, 0.0, 4.0]), 5.0);
        assert_eq!(distance([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]), 0.0);
    }
}
