//! SaliencyCut (saliency.md §3, CmSalCut::Demo/CutObjs): iterative
//! GrabCut initialised from a saliency map, on a working rectangle around
//! the most salient component, with an adaptive trimap and soft-weighted
//! GMMs, refined by dilation/erosion trimaps for up to four rounds.

use super::filter::{blur_map, normalize_min_max};
use super::gmm::Gmm;
use super::grabcut::{RefCut, TRIMAP_BG, TRIMAP_FG, TRIMAP_UNKNOWN, bgr_unit};
use super::lab::to_lab;
use super::{Map, Mask};
use image::{GrayImage, Luma, RgbImage};
use imageproc::distance_transform::Norm;
use imageproc::morphology::{dilate, erode};
use imageproc::region_labelling::{Connectivity, connected_components};

/// SaliencyCut's constants (defaults as the reference code has them).
#[derive(Debug, Clone, PartialEq)]
pub struct CutParams {
    /// Low threshold: saliency below it is background (§3, t1 = 0.1).
    pub t1: f32,
    /// High thresholds tried in turn until a cut is found (§3: 0.9, 0.7, 0.5, 0.3).
    pub t2: Vec<f32>,
    /// 8-bit saliency at or below which a pixel is outside the working component (§3 step 2: 70).
    pub rect_threshold: u8,
    /// Margin added around the working rectangle (§3 step 2: 20 px).
    pub margin: usize,
    /// Outer rounds (§3 step 5: at most 4).
    pub outer_iterations: usize,
    /// GMM components (§3.1: 5).
    pub components: usize,
}

impl Default for CutParams {
    fn default() -> Self {
        CutParams {
            t1: 0.1,
            t2: vec![0.9, 0.7, 0.5, 0.3],
            rect_threshold: 70,
            margin: 20,
            outer_iterations: 4,
            components: 5,
        }
    }
}

/// The SaliencyCut mask of `img` from its saliency map, or `None` when no
/// salient object is found at any threshold.
pub fn cut(img: &RgbImage, sal: &Map, params: &CutParams) -> Option<Mask> {
    if sal.width != img.width() as usize
        || sal.height != img.height() as usize
        || sal.data.is_empty()
    {
        return None;
    }
    // §3 pipeline: 9x9 Gaussian (sigma 1.7), then min-max.
    let mut smooth = blur_map(sal, 9, 0.0);
    normalize_min_max(&mut smooth.data);
    params
        .t2
        .iter()
        .find_map(|&t2| cut_objects(img, &smooth, params.t1, t2, params))
}

/// A fallback mask: saliency at or above twice its mean (the adaptive threshold of the benchmark).
pub fn adaptive_threshold(sal: &Map) -> Mask {
    let mean = sal.data.iter().map(|&v| f64::from(v)).sum::<f64>() / sal.data.len().max(1) as f64;
    let t = (2.0 * mean).min(1.0) as f32;
    Mask {
        width: sal.width,
        height: sal.height,
        data: sal
            .data
            .iter()
            .map(|&v| u8::from(v >= t && v > 0.0))
            .collect(),
    }
}

struct Rect {
    x0: usize,
    y0: usize,
    w: usize,
    h: usize,
}

/// CutObjs (§3): one attempt with thresholds (t1, t2).
fn cut_objects(img: &RgbImage, sal: &Map, t1: f32, t2: f32, params: &CutParams) -> Option<Mask> {
    let (w, h) = (sal.width, sal.height);
    // §3 step 1: border strips of 2 % are background.
    let bw = ((0.02 * w as f64).round() as usize).min(w);
    let bh = ((0.02 * h as f64).round() as usize).min(h);
    let border = |x: usize, y: usize| x < bw || x >= w - bw || y < bh || y >= h - bh;
    let mut s = sal.data.clone();
    for y in 0..h {
        for x in 0..w {
            if border(x, y) {
                s[y * w + x] = 0.0;
            }
        }
    }
    let rect = working_rect(&s, w, h, t1, params)?;
    // Everything below runs on the crop.
    let crop = image::imageops::crop_imm(
        img,
        rect.x0 as u32,
        rect.y0 as u32,
        rect.w as u32,
        rect.h as u32,
    )
    .to_image();
    let (cw, ch) = (rect.w, rect.h);
    let lab = to_lab(&crop);
    let bgr = bgr_unit(&crop);
    let at = |cx: usize, cy: usize| (rect.y0 + cy) * w + rect.x0 + cx;
    let crop_border: Vec<bool> = (0..ch)
        .flat_map(|cy| (0..cw).map(move |cx| (cx, cy)))
        .map(|(cx, cy)| border(rect.x0 + cx, rect.y0 + cy))
        .collect();
    // §3 step 4: soft start, trimap from the two thresholds.
    let mut seg: Vec<f32> = (0..ch)
        .flat_map(|cy| (0..cw).map(move |cx| (cx, cy)))
        .map(|(cx, cy)| s[at(cx, cy)])
        .collect();
    let mut trimap: Vec<u8> = seg
        .iter()
        .map(|&v| {
            if v < t1 {
                TRIMAP_BG
            } else if v > t2 {
                TRIMAP_FG
            } else {
                TRIMAP_UNKNOWN
            }
        })
        .collect();
    let mut graph = RefCut::new(&lab, cw, ch);
    let mut working = vec![0u8; cw * ch];
    let mut mask = vec![0u8; cw * ch];
    let inverse = |seg: &[f32]| seg.iter().map(|v| 1.0 - v).collect::<Vec<f32>>();
    for round in 0..params.outer_iterations {
        // §3 step 5a: GMMs fitted with soft weights.
        let mut fg = Gmm::build_weighted(&bgr, &seg, params.components);
        let mut bg = Gmm::build_weighted(&bgr, &inverse(&seg), params.components);
        // §3 step 5b: at most 8 cuts while more than 50 pixels change.
        for _ in 0..8 {
            if fg.sum_weight() < 50.0 || bg.sum_weight() < 50.0 {
                break;
            }
            fg.refine(&bgr, &seg);
            bg = Gmm::build_weighted(&bgr, &inverse(&seg), params.components);
            let changed = graph.cut(&bgr, &trimap, &fg, &bg, &mut seg);
            if changed <= 50 {
                break;
            }
        }
        // §3 step 5c: the largest 4-connected component of seg > 0.5, at least 2 % of the crop.
        let binary: Vec<u8> = seg.iter().map(|&v| u8::from(v > 0.5)).collect();
        mask = largest_component(&binary, cw, ch, None);
        let area = mask.iter().filter(|&&m| m != 0).count();
        if (area as f64) <= 0.02 * (cw * ch) as f64 {
            return None;
        }
        if round + 1 == params.outer_iterations {
            break;
        }
        // §3 step 5d: ExpandMask; stop when fewer than 10 pixels changed.
        let changed = mask.iter().zip(&working).filter(|(a, b)| a != b).count();
        if changed < 10 {
            break;
        }
        let gray = GrayImage::from_raw(
            cw as u32,
            ch as u32,
            mask.iter().map(|&m| m * 255).collect(),
        )?;
        let big = dilate(&gray, Norm::LInf, 5);
        let mut small = erode(&gray, Norm::LInf, 5);
        if small.pixels().filter(|p| p.0[0] != 0).count() < 50 {
            small = gray.clone();
        }
        // §3 step 5e: trimap image 0.5·big + 0.5·small (border 0), then < 70 BG, > 200 FG.
        for i in 0..cw * ch {
            let (x, y) = ((i % cw) as u32, (i / cw) as u32);
            let v = if crop_border[i] {
                0
            } else {
                (u16::from(big.get_pixel(x, y).0[0]) / 2
                    + u16::from(small.get_pixel(x, y).0[0]) / 2) as u8
            };
            trimap[i] = if v < 70 {
                TRIMAP_BG
            } else if v > 200 {
                TRIMAP_FG
            } else {
                TRIMAP_UNKNOWN
            };
            seg[i] = if v < 70 { 0.0 } else { 1.0 };
        }
        working.copy_from_slice(&mask);
    }
    // §3 step 6: paste back into a full-size mask.
    let mut full = vec![0u8; w * h];
    for cy in 0..ch {
        for cx in 0..cw {
            full[at(cx, cy)] = mask[cy * cw + cx];
        }
    }
    Some(Mask {
        width: w,
        height: h,
        data: full,
    })
}

/// §3 step 2: the working rectangle around the most salient 4-connected component.
fn working_rect(s: &[f32], w: usize, h: usize, t1: f32, params: &CutParams) -> Option<Rect> {
    let u8map: Vec<u8> = s
        .iter()
        .map(|&v| {
            let v = if v <= t1 { 0.0 } else { v };
            let q = (255.0 * v).round().clamp(0.0, 255.0) as u8;
            if q <= params.rect_threshold { 0 } else { q }
        })
        .collect();
    let best = largest_component(&u8map, w, h, Some(&u8map));
    let total: f64 = best
        .iter()
        .zip(&u8map)
        .filter(|(m, _)| **m != 0)
        .map(|(_, &v)| f64::from(v))
        .sum();
    if total <= 0.005 * (w * h) as f64 * 255.0 {
        return None;
    }
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for (i, (&m, &v)) in best.iter().zip(&u8map).enumerate() {
        if m != 0 && v > 10 {
            let (x, y) = (i % w, i / w);
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    if x0 == usize::MAX {
        return None;
    }
    let x0 = x0.saturating_sub(params.margin);
    let y0 = y0.saturating_sub(params.margin);
    let x1 = (x1 + params.margin).min(w - 1);
    let y1 = (y1 + params.margin).min(h - 1);
    Some(Rect {
        x0,
        y0,
        w: x1 - x0 + 1,
        h: y1 - y0 + 1,
    })
}

/// The largest 4-connected non-zero component, by area or (with `values`) by the sum of its values.
fn largest_component(binary: &[u8], w: usize, h: usize, values: Option<&[u8]>) -> Vec<u8> {
    let Some(img) = GrayImage::from_raw(
        w as u32,
        h as u32,
        binary.iter().map(|&v| u8::from(v != 0)).collect(),
    ) else {
        return vec![0; w * h];
    };
    let labels = connected_components(&img, Connectivity::Four, Luma([0u8]));
    let mut score: Vec<f64> = vec![];
    for (i, p) in labels.pixels().enumerate() {
        let l = p.0[0] as usize;
        if l == 0 {
            continue;
        }
        if score.len() <= l {
            score.resize(l + 1, 0.0);
        }
        score[l] += values.map_or(1.0, |v| f64::from(v[i]));
    }
    let best = score
        .iter()
        .enumerate()
        .skip(1)
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
        .map(|(l, _)| l as u32);
    labels
        .pixels()
        .map(|p| u8::from(Some(p.0[0]) == best))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saliency::rc::{Variant, rc};

    /// A coloured disc on a textured background.
    fn scene(w: u32, h: u32) -> (RgbImage, Vec<u8>) {
        let (cx, cy, r) = (w as f64 * 0.55, h as f64 * 0.5, h as f64 * 0.28);
        let mut gt = vec![0u8; (w * h) as usize];
        let img = RgbImage::from_fn(w, h, |x, y| {
            let inside = ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt() < r;
            if inside {
                gt[(y * w + x) as usize] = 1;
                image::Rgb([220, 50 + (x % 7) as u8, 40])
            } else {
                let t = ((x / 4 + y / 4) % 2 * 25) as u8;
                image::Rgb([60 + t, 110 + t, 90 + (y % 5) as u8])
            }
        });
        (img, gt)
    }

    fn iou(a: &[u8], b: &[u8]) -> f64 {
        let inter = a
            .iter()
            .zip(b)
            .filter(|(x, y)| **x != 0 && **y != 0)
            .count() as f64;
        let union = a
            .iter()
            .zip(b)
            .filter(|(x, y)| **x != 0 || **y != 0)
            .count() as f64;
        inter / union.max(1.0)
    }

    #[test]
    fn cuts_a_salient_disc() {
        let (img, gt) = scene(160, 120);
        let sal = rc(&img, Variant::Tpami);
        let mask = cut(&img, &sal, &CutParams::default()).expect("a cut");
        assert!(iou(&mask.data, &gt) > 0.9, "IoU {}", iou(&mask.data, &gt));
    }

    #[test]
    fn a_flat_image_has_no_object() {
        let img = RgbImage::from_pixel(64, 48, image::Rgb([90, 90, 90]));
        let sal = rc(&img, Variant::Tpami);
        assert!(cut(&img, &sal, &CutParams::default()).is_none());
    }

    #[test]
    fn largest_component_by_area_and_by_value() {
        #[rustfmt::skip]
        let b = [
            1, 1, 0, 0, 1,
            1, 1, 0, 0, 0,
            0, 0, 0, 0, 0,
        ];
        let by_area = largest_component(&b, 5, 3, None);
        assert_eq!(by_area.iter().filter(|&&v| v != 0).count(), 4);
        let mut values = [0u8; 15];
        values[4] = 250;
        values[0] = 10;
        let by_value = largest_component(&b, 5, 3, Some(&values));
        assert_eq!(by_value[4], 1);
        assert_eq!(by_value[0], 0);
    }

    #[test]
    fn adaptive_threshold_keeps_the_bright_part() {
        // Mean 0.375: the threshold is 0.75.
        let map = Map {
            width: 8,
            height: 1,
            data: vec![0.0, 0.0, 0.0, 0.0, 0.1, 0.9, 1.0, 1.0],
        };
        assert_eq!(adaptive_threshold(&map).data, vec![0, 0, 0, 0, 0, 1, 1, 1]);
    }
}
