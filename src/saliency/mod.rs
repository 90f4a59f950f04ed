//! Salient region detection (Cheng et al., "Global Contrast based Salient
//! Region Detection", CVPR 2011 / TPAMI 2015): HC and RC saliency maps, and
//! SaliencyCut (iterative GrabCut initialised from the map), as the authors'
//! released code computes them (`reference/saliency.md`).
//!
//! A library on its own: `image::RgbImage` in, maps and masks out.

/// A per-pixel float map (saliency in [0, 1], or any per-pixel value), row-major.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height` values, row after row.
    pub data: Vec<f32>,
}

impl Map {
    /// A map of zeros.
    pub fn zeros(width: usize, height: usize) -> Self {
        Map {
            width,
            height,
            data: vec![0.0; width * height],
        }
    }

    /// The value at (x, y).
    pub fn get(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }
}

/// A binary mask (0 or 1 per pixel), row-major.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mask {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height` values, 0 or 1.
    pub data: Vec<u8>,
}

pub mod filter;
pub mod gmm;
pub mod grabcut;
pub mod hc;
pub mod lab;
pub mod maxflow;
pub mod metrics;
pub mod rc;
pub mod saliency_cut;
pub mod segment;
