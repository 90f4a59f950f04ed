//! GrabCut on an 8-connected pixel grid, in two flavours
//! (`reference/saliency.md` §3, §3.1):
//!
//! - [`Mode::OpenCv`] follows OpenCV's `cv::grabCut` step for step (u8 colours
//!   in BGR order for the GMMs and β, k-means++ initialised [`HardGmm`]s seeded
//!   like `cv::setRNGSeed`, γ = 50, hard links λ = 450, a fixed number of
//!   iterations of assign → learn → build graph → max-flow), so it can be
//!   compared and timed against `cv2.grabCut` on the same input.
//! - [`Mode::Reference`] uses the constants of the reference's CmSalCut
//!   (λ = 50, hard links L = 401, β over Lab, soft-weighted [`Gmm`]s on BGR
//!   floats in [0, 1]). [`RefCut`] exposes the single cut SaliencyCut
//!   iterates.
//!
//! Max-flow is [`GridGraph`]; the graph is built once per image and only its
//! terminal capacities change between iterations.

use image::RgbImage;

use super::Mask;
use super::gmm::{CvRng, DEFAULT_COMPONENTS, Gmm, HardGmm, HardGmmLearner};
use super::lab;
use super::maxflow::{DIRS, GridGraph, UP, UP_LEFT, UP_RIGHT};

/// Trimap value: definitely background.
pub const TRIMAP_BG: u8 = 0;
/// Trimap value: definitely foreground.
pub const TRIMAP_FG: u8 = 1;
/// Trimap value: unknown (to be segmented).
pub const TRIMAP_UNKNOWN: u8 = 2;

/// OpenCV mask value `GC_BGD`.
pub const GC_BGD: u8 = 0;
/// OpenCV mask value `GC_FGD`.
pub const GC_FGD: u8 = 1;
/// OpenCV mask value `GC_PR_BGD`.
pub const GC_PR_BGD: u8 = 2;
/// OpenCV mask value `GC_PR_FGD`.
pub const GC_PR_FGD: u8 = 3;

/// OpenCV's n-link weight γ (§3.1).
pub const OPENCV_GAMMA: f64 = 50.0;
/// OpenCV's hard t-link weight λ = 9γ (§3.1).
pub const OPENCV_LAMBDA: f64 = 9.0 * OPENCV_GAMMA;
/// The reference's n-link weight λ (§3 step 3).
pub const REF_LAMBDA: f64 = 50.0;
/// The reference's hard t-link weight L = 8λ + 1 (§3 step 3).
pub const REF_HARD: f64 = 8.0 * REF_LAMBDA + 1.0;
/// Cap on a −ln P t-link when P underflows or a mixture is empty ("clamp −ln 0", §3 step 5b).
pub const MAX_TLINK: f64 = 1e7;
/// SaliencyCut's convergence threshold on changed pixels (§3 step 5b).
pub const REF_MIN_CHANGED: usize = 50;
/// SaliencyCut's minimum GMM sample weight (§3 step 5b).
pub const REF_MIN_WEIGHT: f64 = 50.0;

/// How the segmentation starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Init {
    /// Everything outside the rectangle is background, the inside unknown
    /// (initially foreground). Clamped to the image as OpenCV does.
    Rect {
        /// Left column.
        x: u32,
        /// Top row.
        y: u32,
        /// Width.
        w: u32,
        /// Height.
        h: u32,
    },
    /// One value per pixel, row-major: [`TRIMAP_BG`] (0), [`TRIMAP_FG`] (1)
    /// or [`TRIMAP_UNKNOWN`] (2, initially foreground).
    Trimap(Vec<u8>),
}

/// Which GrabCut to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// OpenCV `cv::grabCut` (§3.1).
    #[default]
    OpenCv,
    /// The reference's CmSalCut constants and GMM (§3, §3.1).
    Reference,
}

/// GrabCut parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrabCutParams {
    /// OpenCV mode: the exact number of iterations (`iterCount`).
    /// Reference mode: the maximum number of cut rounds; it stops earlier when
    /// at most [`REF_MIN_CHANGED`] pixels change or a GMM's weight drops
    /// below [`REF_MIN_WEIGHT`] (§3 step 5b).
    pub iterations: usize,
    /// Which variant.
    pub mode: Mode,
    /// OpenCV mode: the `cv::setRNGSeed` value for the k-means++ start.
    pub seed: u64,
}

impl Default for GrabCutParams {
    fn default() -> Self {
        GrabCutParams {
            iterations: 5,
            mode: Mode::OpenCv,
            seed: 0,
        }
    }
}

/// Segment `img`: 1 = foreground.
///
/// If the initialisation leaves no background or no foreground pixel, no
/// colour model can be learned (OpenCV raises an error); the initial
/// labelling is returned.
///
/// # Panics
/// If a trimap's length is not `width * height`.
pub fn grab_cut(img: &RgbImage, init: &Init, params: &GrabCutParams) -> Mask {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let data = match params.mode {
        Mode::OpenCv => grab_cut_opencv(img, init, params.iterations, params.seed)
            .into_iter()
            .map(|m| u8::from(m == GC_FGD || m == GC_PR_FGD))
            .collect(),
        Mode::Reference => {
            let trimap = init_trimap(w, h, init);
            let seg = grab_cut_reference(img, &trimap, params.iterations);
            seg.into_iter().map(|v| u8::from(v > 0.5)).collect()
        }
    };
    Mask {
        width: w,
        height: h,
        data,
    }
}

/// The trimap an [`Init`] describes.
///
/// # Panics
/// If a trimap's length is not `width * height`.
pub fn init_trimap(width: usize, height: usize, init: &Init) -> Vec<u8> {
    match init {
        Init::Trimap(t) => {
            assert_eq!(t.len(), width * height, "trimap size must match the image");
            t.clone()
        }
        Init::Rect { x, y, w, h } => {
            // OpenCV's initMaskWithRect clamping.
            let (x0, y0) = ((*x as usize).min(width), (*y as usize).min(height));
            let x1 = x0 + (*w as usize).min(width - x0);
            let y1 = y0 + (*h as usize).min(height - y0);
            let mut t = vec![TRIMAP_BG; width * height];
            for row in t.chunks_exact_mut(width.max(1)).take(y1).skip(y0) {
                row[x0..x1].fill(TRIMAP_UNKNOWN);
            }
            t
        }
    }
}

/// Sum over each pair of 8-neighbours (each pair once: the left, up-left,
/// up and up-right neighbour of every pixel) of `f(i, j)`, in raster order.
fn for_each_back_pair(w: usize, h: usize, mut f: impl FnMut(usize, usize, usize)) {
    // Directions from a pixel to its earlier neighbours, as OpenCV visits them.
    const BACK: [usize; 4] = [super::maxflow::LEFT, UP_LEFT, UP, UP_RIGHT];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            for d in BACK {
                let (dx, dy) = DIRS[d];
                let (nx, ny) = (x as i64 + dx as i64, y as i64 + dy as i64);
                if nx >= 0 && ny >= 0 && (nx as usize) < w {
                    f(i, ny as usize * w + nx as usize, d);
                }
            }
        }
    }
}

/// Bounding box (x, y, w, h) of the pixels where `unknown` holds, grown by
/// one pixel and clamped to the image; `None` if there are none.
fn unknown_bbox(
    labels: &[u8],
    w: usize,
    h: usize,
    unknown: impl Fn(u8) -> bool,
) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..h {
        let row = &labels[y * w..(y + 1) * w];
        let (Some(a), Some(b)) = (
            row.iter().position(|&v| unknown(v)),
            row.iter().rposition(|&v| unknown(v)),
        ) else {
            continue;
        };
        x0 = x0.min(a);
        x1 = x1.max(b);
        y0 = y0.min(y);
        y1 = y;
    }
    if x0 == usize::MAX {
        return None;
    }
    let (x0, y0) = (x0.saturating_sub(1), y0.saturating_sub(1));
    let (x1, y1) = ((x1 + 1).min(w - 1), (y1 + 1).min(h - 1));
    Some((x0, y0, x1 - x0 + 1, y1 - y0 + 1))
}

#[inline]
fn dist_sq_u8(a: &[u8], b: &[u8]) -> f64 {
    let d0 = a[0] as f64 - b[0] as f64;
    let d1 = a[1] as f64 - b[1] as f64;
    let d2 = a[2] as f64 - b[2] as f64;
    d0 * d0 + d1 * d1 + d2 * d2
}

#[inline]
fn dist_sq_f32(a: [f32; 3], b: [f32; 3]) -> f64 {
    let d0 = a[0] as f64 - b[0] as f64;
    let d1 = a[1] as f64 - b[1] as f64;
    let d2 = a[2] as f64 - b[2] as f64;
    d0 * d0 + d1 * d1 + d2 * d2
}

/// OpenCV's β over 8-bit colours (§3.1): 1/(2·Σ‖Δ‖²/(4WH−3W−3H+2)), or 0 if
/// the image is flat.
pub fn opencv_beta(img: &RgbImage) -> f64 {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let px = img.as_raw();
    let mut sum = 0.0;
    for_each_back_pair(w, h, |i, j, _| {
        sum += dist_sq_u8(&px[3 * i..3 * i + 3], &px[3 * j..3 * j + 3])
    });
    if sum <= f64::EPSILON {
        0.0
    } else {
        let pairs = (4 * w * h) as f64 - (3 * w) as f64 - (3 * h) as f64 + 2.0;
        1.0 / (2.0 * sum / pairs)
    }
}

/// The reference's β (§3 step 3): 1/(2·mean‖ΔLab‖²) over all 8-neighbour
/// pairs (each once), or 0 if the image is flat.
pub fn reference_beta(lab: &[[f32; 3]], width: usize, height: usize) -> f64 {
    assert_eq!(lab.len(), width * height);
    let mut sum = 0.0;
    let mut n = 0usize;
    for_each_back_pair(width, height, |i, j, _| {
        sum += dist_sq_f32(lab[i], lab[j]);
        n += 1;
    });
    if sum <= f64::EPSILON || n == 0 {
        0.0
    } else {
        1.0 / (2.0 * sum / n as f64)
    }
}

/// OpenCV-mode GrabCut; returns OpenCV's 4-valued mask
/// ([`GC_BGD`], [`GC_FGD`], [`GC_PR_BGD`], [`GC_PR_FGD`]).
///
/// The image is read in BGR channel order, as `cv2.grabCut` sees an RGB
/// image converted with `[:, :, ::-1]`; `seed` is the `cv2.setRNGSeed`
/// value. A [`Init::Trimap`] maps BG → `GC_BGD`, FG → `GC_FGD`, unknown →
/// `GC_PR_FGD` (i.e. `GC_INIT_WITH_MASK`).
///
/// On the peer's photos (`BENCH_GRABCUT.md`) the returned mask equals
/// OpenCV 5.0's pixel for pixel. Two shortcuts keep the result
/// unchanged: the graph covers only the unknown pixels' bounding box plus one
/// pixel (hard pixels never change side), and every max-flow after the first
/// starts from the previous one's residual graph and search trees (see
/// [`GridGraph::set_terminals`]).
pub fn grab_cut_opencv(img: &RgbImage, init: &Init, iterations: usize, seed: u64) -> Vec<u8> {
    grab_cut_opencv_impl(img, init, iterations, seed, true)
}

fn grab_cut_opencv_impl(
    img: &RgbImage,
    init: &Init,
    iterations: usize,
    seed: u64,
    crop_graph: bool,
) -> Vec<u8> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let n = w * h;
    let mut mask: Vec<u8> = init_trimap(w, h, init)
        .into_iter()
        .map(|t| match t {
            TRIMAP_BG => GC_BGD,
            TRIMAP_FG => GC_FGD,
            _ => GC_PR_FGD,
        })
        .collect();
    let colors: Vec<[f32; 3]> = img
        .as_raw()
        .chunks_exact(3)
        .map(|p| [p[2] as f32, p[1] as f32, p[0] as f32])
        .collect();
    let is_bg = |m: u8| m == GC_BGD || m == GC_PR_BGD;

    // initGMMs: k-means++ on the background samples, then the foreground.
    let (mut bg, mut fg) = {
        let mut bgs = Vec::new();
        let mut fgs = Vec::new();
        for (&c, &m) in colors.iter().zip(&mask) {
            if is_bg(m) { bgs.push(c) } else { fgs.push(c) }
        }
        if bgs.is_empty() || fgs.is_empty() {
            return mask;
        }
        let mut rng = CvRng::new(seed);
        let bg = HardGmm::from_kmeans(&bgs, DEFAULT_COMPONENTS, &mut rng);
        let fg = HardGmm::from_kmeans(&fgs, DEFAULT_COMPONENTS, &mut rng);
        (bg, fg)
    };

    // The graph covers the unknown pixels' bounding box plus one pixel: a
    // hard pixel's t-link (λ = 450) exceeds the sum of its n-links
    // (≤ 4γ + 4γ/√2 ≈ 341), so it never changes side, and pixels beyond the
    // hard ring around the unknown ones cannot affect the cut.
    let Some((x0, y0, cw, ch)) = unknown_bbox(&mask, w, h, |m| m == GC_PR_BGD || m == GC_PR_FGD)
    else {
        return mask;
    };
    let (x0, y0, cw, ch) = if crop_graph {
        (x0, y0, cw, ch)
    } else {
        (0, 0, w, h)
    };
    let crop = |ci: usize| (y0 + ci / cw) * w + x0 + ci % cw;

    // n-links, constant over the iterations (§3.1: γ, γ/√2 on diagonals).
    let beta = opencv_beta(img);
    let gamma_diag = OPENCV_GAMMA / (2.0f32).sqrt() as f64;
    let mut graph = GridGraph::<f64>::new(cw, ch);
    let px = img.as_raw();
    for_each_back_pair(cw, ch, |ci, cj, d| {
        let (i, j) = (crop(ci), crop(cj));
        let g = if d == UP || d == super::maxflow::LEFT {
            OPENCV_GAMMA
        } else {
            gamma_diag
        };
        let wgt = g * (-beta * dist_sq_u8(&px[3 * i..3 * i + 3], &px[3 * j..3 * j + 3])).exp();
        graph.set_nlink(ci, d, wgt);
    });

    let mut comp = vec![0u8; n];
    let mut bg_learn = HardGmmLearner::new(DEFAULT_COMPONENTS);
    let mut fg_learn = HardGmmLearner::new(DEFAULT_COMPONENTS);
    for _ in 0..iterations {
        // assignGMMsComponents
        for ((k, &c), &m) in comp.iter_mut().zip(&colors).zip(&mask) {
            *k = if is_bg(m) {
                bg.which_component(c)
            } else {
                fg.which_component(c)
            } as u8;
        }
        // learnGMMs
        bg_learn.reset();
        fg_learn.reset();
        for ((&k, &c), &m) in comp.iter().zip(&colors).zip(&mask) {
            if is_bg(m) {
                bg_learn.add(k as usize, c);
            } else {
                fg_learn.add(k as usize, c);
            }
        }
        bg_learn.finish(&mut bg);
        fg_learn.finish(&mut fg);
        // constructGCGraph: t-links (source = foreground).
        for cy in 0..ch {
            let row = (y0 + cy) * w + x0;
            for cx in 0..cw {
                let i = row + cx;
                let (c, m) = (colors[i], mask[i]);
                let (s, t) = match m {
                    GC_PR_BGD | GC_PR_FGD => (
                        bg.neg_log_density(c).min(MAX_TLINK),
                        fg.neg_log_density(c).min(MAX_TLINK),
                    ),
                    GC_BGD => (0.0, OPENCV_LAMBDA),
                    _ => (OPENCV_LAMBDA, 0.0),
                };
                // Like addTermWeights, keep only s − t (−ln P < 0 where P > 1).
                graph.set_terminals(cy * cw + cx, (s - t).max(0.0), (t - s).max(0.0));
            }
        }
        // estimateSegmentation
        graph.solve();
        for cy in 0..ch {
            let row = (y0 + cy) * w + x0;
            for cx in 0..cw {
                let m = &mut mask[row + cx];
                if *m == GC_PR_BGD || *m == GC_PR_FGD {
                    *m = if graph.is_source_side(cy * cw + cx) {
                        GC_PR_FGD
                    } else {
                        GC_PR_BGD
                    };
                }
            }
        }
    }
    mask
}

/// BGR floats in [0, 1] as the reference's `convertTo(CV_32FC3, 1/255)`
/// (§0), from an RGB image.
pub fn bgr_unit(img: &RgbImage) -> Vec<[f32; 3]> {
    let s = lab::U8_TO_UNIT;
    img.as_raw()
        .chunks_exact(3)
        .map(|p| [p[2] as f32 * s, p[1] as f32 * s, p[0] as f32 * s])
        .collect()
}

/// One reference-mode graph cut over a fixed image (CmSalCut's graph, §3
/// step 3 and 5b): the n-links (λ = 50, β over Lab) are built once; each
/// [`cut`](Self::cut) sets the t-links from two GMMs and a trimap, runs
/// max-flow (f32 capacities, as the reference's Kolmogorov maxflow) and
/// updates the segmentation.
#[derive(Clone)]
pub struct RefCut {
    width: usize,
    height: usize,
    beta: f64,
    graph: GridGraph<f32>,
    /// Scratch of [`RefCut::cut`]: the unknown pixels' colours and their −ln P under each mixture.
    colours: Vec<[f32; 3]>,
    bg_cost: Vec<f64>,
    fg_cost: Vec<f64>,
}

impl RefCut {
    /// Build the n-links from the Lab image.
    ///
    /// # Panics
    /// If `lab.len() != width * height`.
    pub fn new(lab: &[[f32; 3]], width: usize, height: usize) -> RefCut {
        let beta = reference_beta(lab, width, height);
        let mut graph = GridGraph::<f32>::new(width, height);
        let diag = REF_LAMBDA / std::f64::consts::SQRT_2;
        for_each_back_pair(width, height, |i, j, d| {
            let g = if d == UP || d == super::maxflow::LEFT {
                REF_LAMBDA
            } else {
                diag
            };
            graph.set_nlink(
                i,
                d,
                (g * (-beta * dist_sq_f32(lab[i], lab[j])).exp()) as f32,
            );
        });
        RefCut {
            width,
            height,
            beta,
            graph,
            colours: Vec::new(),
            bg_cost: Vec::new(),
            fg_cost: Vec::new(),
        }
    }

    /// β of this image.
    pub fn beta(&self) -> f64 {
        self.beta
    }

    /// The graph (n-links, and the t-links of the last cut).
    pub fn graph(&self) -> &GridGraph<f32> {
        &self.graph
    }

    /// Set the t-links, run max-flow and update `seg` in place; returns the
    /// number of pixels whose value moved by more than 0.1 (§3 step 5b).
    ///
    /// t-links (source = foreground): unknown → (−ln P_bg(c), −ln P_fg(c)),
    /// background → (0, L), foreground → (L, 0), L = 401. Only the
    /// difference of a pixel's two t-links is kept, as Kolmogorov's
    /// `add_tweights` does: −ln P is negative where a density exceeds 1,
    /// which tight colour clusters in [0, 1]³ often do. After the cut,
    /// unknown pixels become 1 on the source side and 0 otherwise;
    /// background/foreground pixels become 0/1. `bgr` holds BGR floats in
    /// [0, 1] ([`bgr_unit`]).
    ///
    /// # Panics
    /// If a slice's length is not `width * height`.
    pub fn cut(
        &mut self,
        bgr: &[[f32; 3]],
        trimap: &[u8],
        fg: &Gmm,
        bg: &Gmm,
        seg: &mut [f32],
    ) -> usize {
        let n = self.width * self.height;
        assert!(
            bgr.len() == n && trimap.len() == n && seg.len() == n,
            "slice sizes must match the image"
        );
        let hard = REF_HARD as f32;
        // The unknown pixels' −ln P under both mixtures, computed in batches.
        self.colours.clear();
        self.colours.extend(
            bgr.iter()
                .zip(trimap)
                .filter(|&(_, &t)| t != TRIMAP_BG && t != TRIMAP_FG)
                .map(|(&c, _)| c),
        );
        let m = self.colours.len();
        self.bg_cost.resize(m, 0.0);
        self.fg_cost.resize(m, 0.0);
        bg.neg_log_density_all(&self.colours, &mut self.bg_cost);
        fg.neg_log_density_all(&self.colours, &mut self.fg_cost);
        let mut next = 0;
        let (bg_cost, fg_cost) = (&self.bg_cost, &self.fg_cost);
        self.graph.set_all_terminals(|i| {
            let (s, k) = match trimap[i] {
                TRIMAP_BG => (0.0, hard),
                TRIMAP_FG => (hard, 0.0),
                _ => {
                    next += 1;
                    (
                        bg_cost[next - 1].min(MAX_TLINK) as f32,
                        fg_cost[next - 1].min(MAX_TLINK) as f32,
                    )
                }
            };
            // Only s − t matters for the cut (−ln P < 0 where P > 1).
            let (s, k) = (s - k, k - s);
            (s.max(0.0), k.max(0.0))
        });
        self.graph.solve();
        let mut changed = 0;
        for ((v, &t), source) in seg.iter_mut().zip(trimap).zip(self.graph.source_sides()) {
            let new = match t {
                TRIMAP_BG => 0.0,
                TRIMAP_FG => 1.0,
                _ => f32::from(u8::from(source)),
            };
            if (new - *v).abs() > 0.1 {
                changed += 1;
            }
            *v = new;
        }
        changed
    }
}

/// Reference-mode GrabCut from a trimap; returns the segmentation values
/// (0 or 1 per pixel).
///
/// segVal starts at 1 on foreground and unknown pixels, 0 on background.
/// The FG/BG GMMs are built with weights segVal / 1 − segVal; then up to
/// `iterations` rounds of: stop if either weight sum < 50; refine the FG
/// GMM, rebuild the BG GMM (the reference's asymmetry, §3 step 5b), cut;
/// stop when at most 50 pixels changed.
///
/// # Panics
/// If the trimap's length is not `width * height`.
pub fn grab_cut_reference(img: &RgbImage, trimap: &[u8], iterations: usize) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    assert_eq!(trimap.len(), w * h, "trimap size must match the image");
    let mut seg: Vec<f32> = trimap
        .iter()
        .map(|&t| if t == TRIMAP_BG { 0.0 } else { 1.0 })
        .collect();
    let bgr = bgr_unit(img);
    let lab = lab::to_lab(img);
    let mut cut = RefCut::new(&lab, w, h);
    let mut labels = vec![0u8; w * h];
    let mut bg_w: Vec<f32> = seg.iter().map(|v| 1.0 - v).collect();
    let mut fg = Gmm::build_weighted_into(&bgr, &seg, DEFAULT_COMPONENTS, &mut labels);
    for _ in 0..iterations {
        let fg_sum: f64 = seg.iter().map(|&v| v as f64).sum();
        let bg_sum = (w * h) as f64 - fg_sum;
        if fg_sum < REF_MIN_WEIGHT || bg_sum < REF_MIN_WEIGHT {
            break;
        }
        fg.refine_with(&bgr, &seg, &mut labels);
        for (b, &v) in bg_w.iter_mut().zip(&seg) {
            *b = 1.0 - v;
        }
        let bg = Gmm::build_weighted_into(&bgr, &bg_w, DEFAULT_COMPONENTS, &mut labels);
        let changed = cut.cut(&bgr, trimap, &fg, &bg, &mut seg);
        if changed <= REF_MIN_CHANGED {
            break;
        }
    }
    seg
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A red disc on a green/blue textured background, and its true mask.
    fn disc_image(w: u32, h: u32) -> (RgbImage, Vec<u8>, Init) {
        let (cx, cy, r) = (w as f32 * 0.5, h as f32 * 0.48, h as f32 * 0.3);
        let mut s = 99u64;
        let mut noise = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) % 31) as i32 - 15
        };
        let mut gt = vec![0u8; (w * h) as usize];
        let img = RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let inside = fx * fx + fy * fy <= r * r;
            let n = noise();
            if inside {
                gt[(y * w + x) as usize] = 1;
                Rgb([(215 + n / 2) as u8, (45 + n / 2) as u8, (50 + n / 2) as u8])
            } else {
                // Stripes and checks of two greens/blues, plus noise.
                let stripe = ((x / 6) + (y / 9)) % 3;
                let base = [[40, 140, 70], [60, 110, 160], [90, 170, 120]][stripe as usize];
                Rgb([
                    (base[0] + n) as u8,
                    (base[1] + n) as u8,
                    (base[2] + n) as u8,
                ])
            }
        });
        let m = 8;
        let init = Init::Rect {
            x: (cx - r) as u32 - m,
            y: (cy - r) as u32 - m,
            w: (2.0 * r) as u32 + 2 * m,
            h: (2.0 * r) as u32 + 2 * m,
        };
        (img, gt, init)
    }

    fn iou(a: &[u8], b: &[u8]) -> f64 {
        let inter = a
            .iter()
            .zip(b)
            .filter(|(x, y)| **x == 1 && **y == 1)
            .count();
        let uni = a
            .iter()
            .zip(b)
            .filter(|(x, y)| **x == 1 || **y == 1)
            .count();
        inter as f64 / uni.max(1) as f64
    }

    #[test]
    fn grabcut_opencv_mode_recovers_disc() {
        let (img, gt, init) = disc_image(160, 120);
        let m = grab_cut(&img, &init, &GrabCutParams::default());
        assert_eq!((m.width, m.height), (160, 120));
        let v = iou(&m.data, &gt);
        assert!(v >= 0.9, "IoU {v}");
    }

    #[test]
    fn grabcut_reference_mode_recovers_disc() {
        let (img, gt, init) = disc_image(160, 120);
        let params = GrabCutParams {
            iterations: 8,
            mode: Mode::Reference,
            ..Default::default()
        };
        let m = grab_cut(&img, &init, &params);
        let v = iou(&m.data, &gt);
        assert!(v >= 0.9, "IoU {v}");
    }

    #[test]
    fn grabcut_trimap_init_keeps_hard_labels() {
        let (img, gt, _) = disc_image(120, 90);
        // Hard BG on a frame, hard FG at the disc centre, unknown elsewhere.
        let (w, h) = (120usize, 90usize);
        let mut t = vec![TRIMAP_UNKNOWN; w * h];
        for y in 0..h {
            for x in 0..w {
                if x < 4 || y < 4 || x >= w - 4 || y >= h - 4 {
                    t[y * w + x] = TRIMAP_BG;
                }
            }
        }
        t[(h / 2) * w + w / 2] = TRIMAP_FG;
        for mode in [Mode::OpenCv, Mode::Reference] {
            let p = GrabCutParams {
                iterations: 5,
                mode,
                seed: 0,
            };
            let m = grab_cut(&img, &Init::Trimap(t.clone()), &p);
            assert_eq!(m.data[(h / 2) * w + w / 2], 1);
            assert!(
                t.iter()
                    .zip(&m.data)
                    .all(|(&t, &v)| t != TRIMAP_BG || v == 0)
            );
            let v = iou(&m.data, &gt);
            assert!(v >= 0.85, "{mode:?} IoU {v}");
        }
    }

    #[test]
    fn rect_is_clamped_and_degenerate_inits_return_initial_labels() {
        let (img, _, _) = disc_image(40, 30);
        let t = init_trimap(
            40,
            30,
            &Init::Rect {
                x: 30,
                y: 25,
                w: 100,
                h: 100,
            },
        );
        assert_eq!(t.iter().filter(|&&v| v == TRIMAP_UNKNOWN).count(), 10 * 5);
        // A rectangle covering everything: no background samples.
        let all = Init::Rect {
            x: 0,
            y: 0,
            w: 40,
            h: 30,
        };
        let m = grab_cut(&img, &all, &GrabCutParams::default());
        assert!(m.data.iter().all(|&v| v == 1));
        let r = GrabCutParams {
            mode: Mode::Reference,
            ..Default::default()
        };
        let m = grab_cut(&img, &all, &r);
        assert!(m.data.iter().all(|&v| v == 1));
        // An empty rectangle: all background.
        let none = Init::Rect {
            x: 50,
            y: 0,
            w: 10,
            h: 10,
        };
        assert!(
            grab_cut(&img, &none, &GrabCutParams::default())
                .data
                .iter()
                .all(|&v| v == 0)
        );
    }

    #[test]
    fn opencv_mode_graph_crop_does_not_change_the_result() {
        let (img, _, init) = disc_image(90, 70);
        let a = grab_cut_opencv_impl(&img, &init, 4, 0, true);
        let b = grab_cut_opencv_impl(&img, &init, 4, 0, false);
        assert_eq!(a, b);
        // A scattered trimap: unknown blobs, hard FG/BG specks.
        let (w, h) = (90usize, 70usize);
        let t: Vec<u8> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                if (20..70).contains(&x) && (15..55).contains(&y) {
                    if (x * 7 + y * 13) % 97 == 0 {
                        TRIMAP_FG
                    } else {
                        TRIMAP_UNKNOWN
                    }
                } else if (x * 5 + y * 3) % 41 == 0 {
                    TRIMAP_FG
                } else {
                    TRIMAP_BG
                }
            })
            .collect();
        let init = Init::Trimap(t);
        assert_eq!(
            grab_cut_opencv_impl(&img, &init, 3, 1, true),
            grab_cut_opencv_impl(&img, &init, 3, 1, false)
        );
    }

    #[test]
    fn betas_match_their_definitions() {
        // Two-pixel image: one pair, distance² = 3·10².
        let img = RgbImage::from_fn(2, 1, |x, _| {
            if x == 0 {
                Rgb([0, 0, 0])
            } else {
                Rgb([10, 10, 10])
            }
        });
        // 4WH−3W−3H+2 = 8−6−3+2 = 1 pair.
        assert!((opencv_beta(&img) - 1.0 / 600.0).abs() < 1e-15);
        let lab = [[0.0f32, 0.0, 0.0], [3.0, 4.0, 0.0]];
        assert!((reference_beta(&lab, 2, 1) - 1.0 / 50.0).abs() < 1e-15);
        let flat = RgbImage::from_pixel(5, 4, Rgb([7, 7, 7]));
        assert_eq!(opencv_beta(&flat), 0.0);
    }

    #[test]
    fn refcut_handles_densities_above_one() {
        // Two tight, overlapping colour clusters in [0, 1]³: P > 1 for both
        // GMMs on every pixel, so both −ln P are negative and only their
        // difference may decide the cut (clamping each at 0 would leave every
        // pixel undecided). A black | white Lab image
        // makes the n-links across the middle vanish.
        let (w, h) = (40usize, 20usize);
        let gt: Vec<u8> = (0..w * h).map(|i| u8::from(i % w < w / 2)).collect();
        let mut s = 1u64;
        let mut jitter = move || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.04
        };
        let bgr: Vec<[f32; 3]> = gt
            .iter()
            .map(|&f| {
                let m = if f == 1 { 0.500 } else { 0.505 };
                [m + jitter(), m + jitter(), m + jitter()]
            })
            .collect();
        let img = RgbImage::from_fn(w as u32, h as u32, |x, _| {
            if (x as usize) < w / 2 {
                Rgb([0, 0, 0])
            } else {
                Rgb([255, 255, 255])
            }
        });
        let fgw: Vec<f32> = gt.iter().map(|&v| v as f32).collect();
        let bgw: Vec<f32> = gt.iter().map(|&v| 1.0 - v as f32).collect();
        let fg = Gmm::build_weighted(&bgr, &fgw, 5);
        let bg = Gmm::build_weighted(&bgr, &bgw, 5);
        let both_negative = bgr
            .iter()
            .filter(|&&c| fg.neg_log_density(c) < 0.0 && bg.neg_log_density(c) < 0.0)
            .count();
        assert_eq!(both_negative, w * h);
        let mut cut = RefCut::new(&lab::to_lab(&img), w, h);
        let trimap = vec![TRIMAP_UNKNOWN; w * h];
        let mut seg = vec![0.5f32; w * h];
        cut.cut(&bgr, &trimap, &fg, &bg, &mut seg);
        let m: Vec<u8> = seg.iter().map(|&v| u8::from(v > 0.5)).collect();
        assert!(iou(&m, &gt) > 0.95, "IoU {}", iou(&m, &gt));
    }

    #[test]
    fn refcut_single_cut_follows_the_gmms() {
        let (img, gt, init) = disc_image(100, 80);
        let (w, h) = (100, 80);
        let trimap = init_trimap(w, h, &init);
        let bgr = bgr_unit(&img);
        let lab = lab::to_lab(&img);
        // GMMs from the ground truth, then one cut.
        let fgw: Vec<f32> = gt.iter().map(|&v| v as f32).collect();
        let bgw: Vec<f32> = gt.iter().map(|&v| 1.0 - v as f32).collect();
        let fg = Gmm::build_weighted(&bgr, &fgw, 5);
        let bg = Gmm::build_weighted(&bgr, &bgw, 5);
        let mut cut = RefCut::new(&lab, w, h);
        assert!(cut.beta() > 0.0);
        let mut seg: Vec<f32> = trimap
            .iter()
            .map(|&t| if t == TRIMAP_BG { 0.0 } else { 1.0 })
            .collect();
        let changed = cut.cut(&bgr, &trimap, &fg, &bg, &mut seg);
        assert!(changed > 0);
        let m: Vec<u8> = seg.iter().map(|&v| u8::from(v > 0.5)).collect();
        assert!(iou(&m, &gt) > 0.95);
        // Same input again: nothing changes.
        assert_eq!(cut.cut(&bgr, &trimap, &fg, &bg, &mut seg), 0);
    }
}
