//! The image type of the library: 8-bit RGB, row-major HWC.

use std::fmt;

/// An 8-bit RGB image, row-major, channels interleaved (HWC).
///
/// Invariant: `data().len() == width * height * 3`. Grey images are stored as
/// three equal channels ([`Image::from_gray`]).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Image {
    pub(in crate::augment) width: u32,
    pub(in crate::augment) height: u32,
    pub(in crate::augment) data: Vec<u8>,
}

/// Pixel bytes that do not describe an image of the stated shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The byte count does not match `width * height * channels`.
    #[error(
        "a {width}x{height} image with {channels} channel(s) needs {expected} bytes, got {actual}"
    )]
    Size {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Channels per pixel.
        channels: u8,
        /// `width * height * channels`.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// Only grey (1) and RGB (3) images are supported.
    #[error("unsupported channel count {0} (expected 1 or 3)")]
    Channels(u8),
    /// `width * height * channels` does not fit in memory.
    #[error("a {width}x{height} image is too large")]
    TooLarge {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
}

/// `width * height * channels`, or an error when it overflows.
fn byte_len(width: u32, height: u32, channels: u8) -> Result<usize, ImageError> {
    (width as usize)
        .checked_mul(height as usize)
        .and_then(|n| n.checked_mul(channels as usize))
        .ok_or(ImageError::TooLarge { width, height })
}

impl Image {
    /// An RGB image from its HWC bytes.
    pub fn new(width: u32, height: u32, data: Vec<u8>) -> Result<Self, ImageError> {
        let expected = byte_len(width, height, 3)?;
        if data.len() != expected {
            return Err(ImageError::Size {
                width,
                height,
                channels: 3,
                expected,
                actual: data.len(),
            });
        }
        Ok(Self {
            width,
            height,
            data,
        })
    }

    /// An all-black image.
    ///
    /// # Panics
    /// If `width * height * 3` overflows `usize`.
    pub fn black(width: u32, height: u32) -> Self {
        let len = byte_len(width, height, 3).expect("image size overflows usize");
        Self {
            width,
            height,
            data: vec![0; len],
        }
    }

    /// An RGB image from one grey channel (each value copied to R, G and B).
    pub fn from_gray(width: u32, height: u32, gray: &[u8]) -> Result<Self, ImageError> {
        Self::from_hwc(width, height, 1, gray)
    }

    /// An RGB image from HWC bytes with 1 (grey) or 3 (RGB) channels, as
    /// `data::ImageSet::image` returns them.
    pub fn from_hwc(
        width: u32,
        height: u32,
        channels: u8,
        pixels: &[u8],
    ) -> Result<Self, ImageError> {
        if channels != 1 && channels != 3 {
            return Err(ImageError::Channels(channels));
        }
        let expected = byte_len(width, height, channels)?;
        if pixels.len() != expected {
            return Err(ImageError::Size {
                width,
                height,
                channels,
                expected,
                actual: pixels.len(),
            });
        }
        let data = if channels == 3 {
            pixels.to_vec()
        } else {
            pixels.iter().flat_map(|&v| [v, v, v]).collect()
        };
        Ok(Self {
            width,
            height,
            data,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The HWC bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The HWC bytes, mutable (the shape cannot change through this).
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// The HWC bytes, by value.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// The RGB value at column `x`, row `y`.
    ///
    /// # Panics
    /// If `(x, y)` is outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        assert!(x < self.width && y < self.height, "pixel out of bounds");
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// The content hash: blake3 of the RGB bytes, keyed by a key derived
    /// (in its own domain) from the dimensions. Offline results are keyed by
    /// it ([`super::offline_key`]), so whoever precomputes them must hash the
    /// same RGB image (a grey source is hashed after [`Image::from_gray`]).
    pub fn content_hash(&self) -> [u8; 32] {
        let mut dims = [0u8; 8];
        dims[..4].copy_from_slice(&self.width.to_le_bytes());
        dims[4..].copy_from_slice(&self.height.to_le_bytes());
        let key = blake3::derive_key("sslp augment image content v1", &dims);
        // One-shot hashing compresses the chunks in parallel (SIMD).
        *blake3::keyed_hash(&key, &self.data).as_bytes()
    }

    /// Bytes per row.
    pub(in crate::augment) fn stride(&self) -> usize {
        self.width as usize * 3
    }

    /// Replaces the pixels with `data` (of shape `width` x `height`), handing
    /// the old buffer back through `data` so its allocation can be reused.
    pub(in crate::augment) fn swap_in(&mut self, width: u32, height: u32, data: &mut Vec<u8>) {
        debug_assert_eq!(data.len(), width as usize * height as usize * 3);
        std::mem::swap(&mut self.data, data);
        self.width = width;
        self.height = height;
    }
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Image")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bytes", &self.data.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_becomes_three_equal_channels() {
        let img = Image::from_gray(2, 1, &[10, 200]).unwrap();
        assert_eq!(img.data(), &[10, 10, 10, 200, 200, 200]);
        assert_eq!(img.pixel(1, 0), [200, 200, 200]);
    }

    #[test]
    fn wrong_sizes_and_channels_are_errors() {
        assert!(matches!(
            Image::new(2, 2, vec![0; 11]),
            Err(ImageError::Size { expected: 12, .. })
        ));
        assert_eq!(
            Image::from_hwc(1, 1, 4, &[0; 4]),
            Err(ImageError::Channels(4))
        );
        assert!(Image::from_hwc(2, 2, 1, &[0; 4]).is_ok());
    }

    #[test]
    fn content_hash_covers_dimensions_and_bytes() {
        let a = Image::new(2, 1, vec![1, 2, 3, 4, 5, 6]).unwrap();
        let b = Image::new(1, 2, vec![1, 2, 3, 4, 5, 6]).unwrap();
        let mut c = a.clone();
        c.data_mut()[5] = 7;
        assert_eq!(a.content_hash(), a.clone().content_hash());
        assert_ne!(a.content_hash(), b.content_hash());
        assert_ne!(a.content_hash(), c.content_hash());
    }
}
