//! Model input: 8-bit HWC images to normalised float CHW.

use super::img::Image;

/// `(v / 255 - mean[c]) / std[c]` for every value, channel-major (CHW), as
/// torchvision's `ToDtype(float32, scale=True)` then `Normalize`.
pub fn normalize(img: &Image, mean: [f32; 3], std: [f32; 3]) -> Vec<f32> {
    let mut out = vec![0.0; img.data.len()];
    normalize_into(img, mean, std, &mut out);
    out
}

/// [`normalize`] into `out` (e.g. a slot of a batch tensor).
///
/// # Panics
/// If `out.len()` is not `width * height * 3`.
pub fn normalize_into(img: &Image, mean: [f32; 3], std: [f32; 3], out: &mut [f32]) {
    assert_eq!(
        out.len(),
        img.data.len(),
        "output size does not match the image"
    );
    let plane = img.data.len() / 3;
    if plane == 0 {
        return;
    }
    for (c, dst) in out.chunks_exact_mut(plane).enumerate() {
        let lut: [f32; 256] = std::array::from_fn(|v| (v as f32 / 255.0 - mean[c]) / std[c]);
        for (d, px) in dst.iter_mut().zip(img.data.chunks_exact(3)) {
            *d = lut[usize::from(px[c])];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_become_planes() {
        let img = Image::new(2, 1, vec![0, 51, 255, 255, 102, 0]).unwrap();
        let out = normalize(&img, [0.5, 0.0, 0.0], [0.5, 1.0, 2.0]);
        let expected = [-1.0, 1.0, 0.2, 0.4, 0.5, 0.0];
        for (a, b) in out.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{out:?}");
        }
    }
}
