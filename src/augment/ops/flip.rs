//! Mirroring, in place.

use crate::augment::img::Image;

/// Mirrors left-right.
pub fn flip_horizontal(img: &mut Image) {
    let stride = img.stride();
    if stride == 0 {
        return;
    }
    for row in img.data.chunks_exact_mut(stride) {
        // Reversing the bytes reverses the pixels and each pixel's channels;
        // reversing each pixel again restores the channel order.
        row.reverse();
        for px in row.chunks_exact_mut(3) {
            px.swap(0, 2);
        }
    }
}

/// Mirrors top-bottom.
pub fn flip_vertical(img: &mut Image) {
    let stride = img.stride();
    let h = img.height as usize;
    for y in 0..h / 2 {
        let (top, bottom) = img.data.split_at_mut((h - 1 - y) * stride);
        top[y * stride..(y + 1) * stride].swap_with_slice(&mut bottom[..stride]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered() -> Image {
        Image::new(3, 2, (0..18).collect()).unwrap()
    }

    #[test]
    fn horizontal_flip_moves_pixels_not_channels() {
        let mut img = numbered();
        flip_horizontal(&mut img);
        assert_eq!(
            img.data(),
            &[6, 7, 8, 3, 4, 5, 0, 1, 2, 15, 16, 17, 12, 13, 14, 9, 10, 11]
        );
        flip_horizontal(&mut img);
        assert_eq!(img, numbered());
    }

    #[test]
    fn vertical_flip_swaps_rows() {
        let mut img = numbered();
        flip_vertical(&mut img);
        assert_eq!(
            img.data(),
            &[9, 10, 11, 12, 13, 14, 15, 16, 17, 0, 1, 2, 3, 4, 5, 6, 7, 8]
        );
    }
}
