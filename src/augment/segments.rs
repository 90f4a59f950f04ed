//! [`KMeansSegments`]: a reference [`OfflineOp`], and the shape the real
//! segmentation ops follow: `compute` returns one segment index per pixel,
//! `render` paints the segments with a random palette per draw.

use super::img::Image;
use super::offline::OfflineOp;
use super::rng::{AugRng, below};

/// Colour quantisation by k-means on RGB (integer arithmetic, deterministic
/// initialisation), rendered with a random palette.
///
/// `compute` returns `width * height` bytes: the segment (0..k) of each pixel.
/// `render` draws one uniformly random colour per segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KMeansSegments {
    /// Number of segments (1..=255; 0 is treated as 1).
    pub k: u8,
    /// Lloyd iterations.
    pub iterations: u32,
}

impl KMeansSegments {
    fn clusters(&self) -> usize {
        usize::from(self.k.max(1))
    }
}

/// The index of the centre nearest to `p` (lowest index on ties).
fn nearest(p: &[u8], centres: &[[i32; 3]]) -> u8 {
    let mut best = (i32::MAX, 0);
    for (i, c) in centres.iter().enumerate() {
        let d: i32 = (0..3).map(|ch| (i32::from(p[ch]) - c[ch]).pow(2)).sum();
        if d < best.0 {
            best = (d, i);
        }
    }
    best.1 as u8
}

impl OfflineOp for KMeansSegments {
    fn name(&self) -> &str {
        "kmeans_segments"
    }

    fn version(&self) -> u32 {
        1
    }

    fn params_key(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new_derive_key("sslp augment kmeans_segments params v1");
        h.update(&[self.k]);
        h.update(&self.iterations.to_le_bytes());
        *h.finalize().as_bytes()
    }

    fn compute(&self, img: &Image) -> Vec<u8> {
        let pixels: Vec<&[u8]> = img.data.chunks_exact(3).collect();
        let k = self.clusters();
        if pixels.is_empty() {
            return Vec::new();
        }
        // Initial centres: pixels spread evenly through the image.
        let mut centres: Vec<[i32; 3]> = (0..k)
            .map(|j| {
                let p = pixels[(2 * j + 1) * pixels.len() / (2 * k)];
                [p[0].into(), p[1].into(), p[2].into()]
            })
            .collect();
        let mut labels = vec![0u8; pixels.len()];
        for _ in 0..=self.iterations {
            for (label, p) in labels.iter_mut().zip(&pixels) {
                *label = nearest(p, &centres);
            }
            let mut sums = vec![[0i64; 4]; k];
            for (&label, p) in labels.iter().zip(&pixels) {
                let s = &mut sums[usize::from(label)];
                for ch in 0..3 {
                    s[ch] += i64::from(p[ch]);
                }
                s[3] += 1;
            }
            for (c, s) in centres.iter_mut().zip(&sums) {
                if s[3] > 0 {
                    for ch in 0..3 {
                        c[ch] = ((s[ch] + s[3] / 2) / s[3]) as i32;
                    }
                }
            }
        }
        labels
    }

    fn render(&self, computed: &[u8], img: &mut Image, rng: &mut AugRng) {
        assert_eq!(
            computed.len(),
            img.data.len() / 3,
            "segment map does not match the image"
        );
        let palette: Vec<[u8; 3]> = (0..self.clusters())
            .map(|_| [0u8; 3].map(|_| below(rng, 256) as u8))
            .collect();
        for (p, &label) in img.data.chunks_exact_mut(3).zip(computed) {
            p.copy_from_slice(&palette[usize::from(label)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::rng::rng_for;

    #[test]
    fn separates_distinct_colours() {
        let mut data = Vec::new();
        for i in 0..30 {
            data.extend_from_slice(match i % 3 {
                0 => &[250, 10, 10],
                1 => &[12, 240, 8],
                _ => &[5, 5, 245],
            });
        }
        let img = Image::new(30, 1, data).unwrap();
        let op = KMeansSegments {
            k: 3,
            iterations: 4,
        };
        let labels = op.compute(&img);
        assert_eq!(labels.len(), 30);
        for (i, &l) in labels.iter().enumerate() {
            assert_eq!(l, labels[i % 3]);
        }
        assert_ne!(labels[0], labels[1]);
        assert_ne!(labels[1], labels[2]);
        assert_ne!(labels[0], labels[2]);
        assert_eq!(op.compute(&img), labels);

        let mut out = img.clone();
        op.render(&labels, &mut out, &mut rng_for(0, &[0; 32], 0, 0, 0));
        // Same segment, same colour.
        assert_eq!(out.pixel(0, 0), out.pixel(3, 0));
    }
}
