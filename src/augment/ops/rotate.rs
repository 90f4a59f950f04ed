//! Rotation about the image centre.

use super::Scratch;
use crate::augment::img::Image;

/// Fractional bits of the rotation matrix entries.
const MATRIX_BITS: u32 = 16;
/// Source positions are kept doubled (one more fractional bit), so the
/// half-pixel centre `(w - 1) / 2` is an integer.
const POS_BITS: u32 = MATRIX_BITS + 1;
/// Fractional bits of the bilinear weights.
const FRAC_BITS: u32 = 8;
/// One half in the units of a weighted sum of four corners.
const HALF: u32 = 1 << (2 * FRAC_BITS - 1);

/// Rotates counter-clockwise by `degrees` about the centre of the pixel grid
/// (`((w - 1) / 2, (h - 1) / 2)`, as torchvision), keeping the size;
/// bilinear, with black outside the source (torchvision `rotate` with
/// `BILINEAR` and `fill=0`). Fixed point after one `sin`/`cos`; a rotation by
/// 0 is exact.
pub fn rotate(img: &mut Image, degrees: f64, scratch: &mut Scratch) {
    let (w, h) = (i64::from(img.width), i64::from(img.height));
    let theta = degrees.to_radians();
    let one = f64::from(1u32 << MATRIX_BITS);
    let (c, s) = (
        (theta.cos() * one).round() as i64,
        (theta.sin() * one).round() as i64,
    );
    let out = &mut scratch.out;
    out.clear();
    out.resize(img.data.len(), 0);
    let src = &img.data;
    let stride = img.stride();
    let frac_mask = (1 << FRAC_BITS) - 1;
    let texel = |x: i64, y: i64| -> [u32; 3] {
        if (0..w).contains(&x) && (0..h).contains(&y) {
            let i = y as usize * stride + x as usize * 3;
            [src[i].into(), src[i + 1].into(), src[i + 2].into()]
        } else {
            [0; 3]
        }
    };
    for (y, row) in (0..h).zip(out.chunks_exact_mut(stride.max(1))) {
        // Doubled centred coordinates of the first output pixel of the row.
        let (dx, dy) = (-(w - 1), 2 * y - (h - 1));
        let mut sx = c * dx - s * dy + ((w - 1) << MATRIX_BITS);
        let mut sy = s * dx + c * dy + ((h - 1) << MATRIX_BITS);
        for px in row.chunks_exact_mut(3) {
            let (x0, y0) = (sx >> POS_BITS, sy >> POS_BITS);
            let fx = ((sx >> (POS_BITS - FRAC_BITS)) & frac_mask) as u32;
            let fy = ((sy >> (POS_BITS - FRAC_BITS)) & frac_mask) as u32;
            let (gx, gy) = ((1 << FRAC_BITS) - fx, (1 << FRAC_BITS) - fy);
            let weights = [gx * gy, fx * gy, gx * fy, fx * fy];
            if (0..w - 1).contains(&x0) && (0..h - 1).contains(&y0) {
                let i = y0 as usize * stride + x0 as usize * 3;
                let (top, bottom) = (&src[i..i + 6], &src[i + stride..i + stride + 6]);
                for (ch, d) in px.iter_mut().enumerate() {
                    let v = weights[0] * u32::from(top[ch])
                        + weights[1] * u32::from(top[ch + 3])
                        + weights[2] * u32::from(bottom[ch])
                        + weights[3] * u32::from(bottom[ch + 3]);
                    *d = ((v + HALF) >> (2 * FRAC_BITS)) as u8;
                }
            } else {
                let corners = [
                    texel(x0, y0),
                    texel(x0 + 1, y0),
                    texel(x0, y0 + 1),
                    texel(x0 + 1, y0 + 1),
                ];
                for (ch, d) in px.iter_mut().enumerate() {
                    let v: u32 = corners.iter().zip(weights).map(|(p, k)| p[ch] * k).sum();
                    *d = ((v + HALF) >> (2 * FRAC_BITS)) as u8;
                }
            }
            sx += 2 * c;
            sy += 2 * s;
        }
    }
    img.swap_in(img.width, img.height, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(w: u32, h: u32) -> Image {
        Image::new(w, h, (0..w * h * 3).map(|v| v as u8).collect()).unwrap()
    }

    #[test]
    fn rotate_by_zero_is_identity() {
        let src = numbered(5, 4);
        let mut img = src.clone();
        rotate(&mut img, 0.0, &mut Scratch::default());
        assert_eq!(img, src);
        rotate(&mut img, 360.0, &mut Scratch::default());
        assert_eq!(img, src);
    }

    #[test]
    fn quarter_turn_is_counter_clockwise() {
        let src = numbered(3, 3);
        let mut img = src.clone();
        rotate(&mut img, 90.0, &mut Scratch::default());
        // The top-right corner moves to the top-left, the centre stays.
        assert_eq!(img.pixel(0, 0), src.pixel(2, 0));
        assert_eq!(img.pixel(0, 2), src.pixel(0, 0));
        assert_eq!(img.pixel(1, 1), src.pixel(1, 1));
        rotate(&mut img, -90.0, &mut Scratch::default());
        assert_eq!(img, src);
    }

    #[test]
    fn corners_fill_black() {
        let mut img = Image::new(8, 8, vec![255; 192]).unwrap();
        rotate(&mut img, 45.0, &mut Scratch::default());
        assert_eq!(img.pixel(0, 0), [0, 0, 0]);
        assert_eq!(img.pixel(4, 4), [255, 255, 255]);
    }
}
