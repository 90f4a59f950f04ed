//! `saliency_cut` as an augmentation: the thesis' "SGD".
//!
//! The expensive part — a saliency map (HC or RC) and SaliencyCut on it —
//! is an [`OfflineOp`]: computed once per distinct image and cached by
//! content hash. The result is a foreground mask. Each draw then renders it
//! cheaply and randomly: a random two-colour palette, a random channel swap
//! per region, or the mask itself.

use super::img::Image;
use super::offline::OfflineOp;
use super::rng::{AugRng, below};
use crate::saliency::{self, Mask};
use image::RgbImage;

/// Which saliency map initialises the cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Region contrast.
    Rc,
    /// Histogram contrast.
    Hc,
}

/// How a computed mask is drawn on each draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Render {
    /// Foreground and background each filled with a random colour.
    Palette,
    /// The image, with a random channel permutation in the foreground and another in the background.
    Swap,
    /// The mask: white foreground on black.
    Mask,
}

/// The `saliency_cut` op's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SaliencyCutOp {
    /// Saliency map.
    pub method: Method,
    /// Reference variant.
    pub variant: saliency::rc::Variant,
    /// Working-rectangle threshold on the 8-bit map (saliency.md §3 step 2).
    pub threshold: u8,
    /// Outer GrabCut rounds (saliency.md §3 step 5).
    pub iterations: usize,
    /// Resize factor before segmenting (1 = the thesis' 100p, 2 = 200p).
    pub scale: f64,
    /// Per-draw rendering (not part of the cache key).
    pub render: Render,
}

impl SaliencyCutOp {
    /// The foreground mask of an image (the expensive part).
    pub fn mask(&self, img: &Image) -> Mask {
        let (w, h) = (img.width(), img.height());
        let rgb =
            RgbImage::from_raw(w, h, img.data().to_vec()).unwrap_or_else(|| RgbImage::new(w, h));
        let work = if (self.scale - 1.0).abs() > 1e-9 {
            let sw = ((f64::from(w) * self.scale).round() as u32).max(8);
            let sh = ((f64::from(h) * self.scale).round() as u32).max(8);
            image::imageops::resize(&rgb, sw, sh, image::imageops::FilterType::Triangle)
        } else {
            rgb
        };
        let sal = match self.method {
            Method::Rc => saliency::rc::rc(&work, self.variant),
            Method::Hc => saliency::hc::hc(&work),
        };
        let params = saliency::saliency_cut::CutParams {
            rect_threshold: self.threshold,
            outer_iterations: self.iterations,
            ..saliency::saliency_cut::CutParams::default()
        };
        let mask = saliency::saliency_cut::cut(&work, &sal, &params).unwrap_or_else(|| {
            crate::notes::count(crate::notes::NoteCode::SaliencyThresholdFallback);
            saliency::saliency_cut::adaptive_threshold(&sal)
        });
        resize_mask(&mask, w as usize, h as usize)
    }
}

/// Nearest-neighbour resize of a mask.
fn resize_mask(mask: &Mask, w: usize, h: usize) -> Mask {
    if mask.width == w && mask.height == h {
        return mask.clone();
    }
    let mut data = vec![0u8; w * h];
    for y in 0..h {
        let sy = (y * mask.height / h.max(1)).min(mask.height.saturating_sub(1));
        for x in 0..w {
            let sx = (x * mask.width / w.max(1)).min(mask.width.saturating_sub(1));
            data[y * w + x] = mask.data[sy * mask.width + sx];
        }
    }
    Mask {
        width: w,
        height: h,
        data,
    }
}

fn random_colour(rng: &mut AugRng) -> [u8; 3] {
    [
        below(rng, 256) as u8,
        below(rng, 256) as u8,
        below(rng, 256) as u8,
    ]
}

fn random_permutation(rng: &mut AugRng) -> [usize; 3] {
    const PERMS: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    PERMS[below(rng, 6) as usize]
}

impl OfflineOp for SaliencyCutOp {
    fn name(&self) -> &str {
        "saliency_cut"
    }

    fn version(&self) -> u32 {
        1
    }

    fn params_key(&self) -> [u8; 32] {
        let text = format!(
            "{:?}|{:?}|{}|{}|{}",
            self.method,
            self.variant,
            self.threshold,
            self.iterations,
            self.scale.to_bits()
        );
        *blake3::hash(text.as_bytes()).as_bytes()
    }

    fn compute(&self, img: &Image) -> Vec<u8> {
        self.mask(img).data
    }

    fn render(&self, computed: &[u8], img: &mut Image, rng: &mut AugRng) {
        let n = (img.width() * img.height()) as usize;
        if computed.len() != n {
            return;
        }
        match self.render {
            Render::Palette => {
                let fg = random_colour(rng);
                let mut bg = random_colour(rng);
                if fg == bg {
                    bg = [255 - fg[0], 255 - fg[1], 255 - fg[2]];
                }
                for (px, &m) in img.data_mut().chunks_exact_mut(3).zip(computed) {
                    px.copy_from_slice(if m != 0 { &fg } else { &bg });
                }
            }
            Render::Swap => {
                let fg = random_permutation(rng);
                let bg = random_permutation(rng);
                for (px, &m) in img.data_mut().chunks_exact_mut(3).zip(computed) {
                    let p = if m != 0 { fg } else { bg };
                    let c = [px[0], px[1], px[2]];
                    px.copy_from_slice(&[c[p[0]], c[p[1]], c[p[2]]]);
                }
            }
            Render::Mask => {
                for (px, &m) in img.data_mut().chunks_exact_mut(3).zip(computed) {
                    px.fill(if m != 0 { 255 } else { 0 });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::offline::OfflineCache;
    use crate::augment::rng::rng_for;

    /// A bright disc on a darker textured background.
    fn disc(side: u32) -> Image {
        let mut data = Vec::with_capacity((side * side * 3) as usize);
        let c = side as f64 / 2.0;
        for y in 0..side {
            for x in 0..side {
                let d = ((x as f64 - c).powi(2) + (y as f64 - c).powi(2)).sqrt();
                if d < side as f64 / 4.0 {
                    data.extend_from_slice(&[230, 40, 40]);
                } else {
                    let t = ((x / 3 + y / 3) % 2 * 20) as u8;
                    data.extend_from_slice(&[40 + t, 90 + t, 60]);
                }
            }
        }
        Image::new(side, side, data).unwrap()
    }

    fn op(render: Render) -> SaliencyCutOp {
        SaliencyCutOp {
            method: Method::Rc,
            variant: saliency::rc::Variant::Tpami,
            threshold: 70,
            iterations: 4,
            scale: 1.0,
            render,
        }
    }

    #[test]
    fn a_flat_image_falls_back_to_the_mean_threshold_and_counts_it() {
        let flat = Image::new(32, 32, vec![128; 32 * 32 * 3]).unwrap();
        let counted = std::sync::Arc::new(crate::notes::Tally::default());
        let tally = Some(counted.clone());
        crate::notes::within(&tally, || {
            op(Render::Mask).mask(&flat);
            op(Render::Mask).mask(&disc(64));
        });
        let notes = counted.notes();
        assert_eq!(
            notes,
            [crate::notes::StepNote::new(
                crate::notes::NoteCode::SaliencyThresholdFallback,
                1
            )]
        );
    }

    #[test]
    fn finds_the_disc() {
        let img = disc(64);
        let mask = op(Render::Mask).mask(&img);
        let inside = mask.data[32 * 64 + 32];
        let corner = mask.data[2 * 64 + 2];
        assert_eq!((inside, corner), (1, 0));
    }

    #[test]
    fn computed_once_rendered_differently_per_draw() {
        let img = disc(48);
        let cache = OfflineCache::in_memory();
        let o = op(Render::Palette);
        let a = cache.get_or_compute(&img, &o);
        let b = cache.get_or_compute(&img, &o);
        assert_eq!(a, b);
        assert_eq!((cache.stats().computes, cache.stats().hits), (1, 1));
        let mut x = img.clone();
        let mut y = img.clone();
        o.render(&a, &mut x, &mut rng_for(0, &[0; 32], 0, 0, 0));
        o.render(&a, &mut y, &mut rng_for(0, &[0; 32], 1, 0, 0));
        assert_ne!(x.data(), y.data());
    }

    #[test]
    fn render_params_do_not_change_the_key() {
        assert_eq!(
            op(Render::Palette).params_key(),
            op(Render::Swap).params_key()
        );
        let mut scaled = op(Render::Palette);
        scaled.scale = 2.0;
        assert_ne!(op(Render::Palette).params_key(), scaled.params_key());
    }
}
