//! Salient-object metrics as the authors' `CmEvaluation` computes them
//! (saliency.md §5 "Metric definitions"): precision/recall curves over 256
//! thresholds, Fβ with β² = 0.3 (max and mean over thresholds), MAE, and
//! precision/recall/Fβ/IoU for binary masks.
//!
//! Maps go through the same 8-bit round trip as the reference: the map is
//! saved as `round(255·v)` (saturated, as `imwrite(sal*255)`), then
//! stretched to 0..255 by min–max (`normalize(NORM_MINMAX)` on 8-bit, all
//! zeros when flat). Ground truth is a [`Mask`] (non-zero = object);
//! [`binarize_gt`] turns an 8-bit ground-truth image into one with the
//! reference's `gt > 128`.

use super::{Map, Mask};

/// β² of the Fβ measure (saliency.md §5: 0.3).
pub const BETA_SQ: f64 = 0.3;
/// Number of thresholds t = 0..255 (saliency.md §5).
pub const THRESHOLDS: usize = 256;
// CmCode's EPS in the precision/recall ratios.
const EPS: f64 = 1e-200;

/// Scores of a set of saliency maps against ground truth.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scores {
    /// Best Fβ over the 256 thresholds.
    pub max_f: f64,
    /// Mean Fβ over the 256 thresholds.
    pub mean_f: f64,
    /// Mean absolute error between the stretched map (in [0, 1]) and the
    /// binary ground truth, averaged over images.
    pub mae: f64,
    /// Precision at each threshold t (pixels with value ≥ t are positive),
    /// averaged over images.
    pub precision: Vec<f64>,
    /// Recall at each threshold, averaged over images.
    pub recall: Vec<f64>,
}

/// Scores of a set of binary masks against ground truth.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MaskScores {
    /// Mean precision over images.
    pub precision: f64,
    /// Mean recall over images.
    pub recall: f64,
    /// Fβ of the mean precision and recall.
    pub f_beta: f64,
    /// Mean intersection-over-union over images.
    pub iou: f64,
}

/// Fβ = (1+β²)PR / (β²P + R) with β² = 0.3; 0 when P = R = 0.
pub fn f_beta(precision: f64, recall: f64) -> f64 {
    let denom = BETA_SQ * precision + recall;
    if denom > 0.0 {
        (1.0 + BETA_SQ) * precision * recall / denom
    } else {
        0.0
    }
}

/// An 8-bit ground-truth image as a mask: 1 where the value is > 128.
pub fn binarize_gt(gt: &image::GrayImage) -> Mask {
    Mask {
        width: gt.width() as usize,
        height: gt.height() as usize,
        data: gt.as_raw().iter().map(|&v| u8::from(v > 128)).collect(),
    }
}

/// A map as the reference evaluates it: `round(255·v)` saturated to 0..255,
/// then min–max stretched to 0..255 (all zeros when flat).
pub fn map_to_u8(map: &Map) -> Vec<u8> {
    let saved: Vec<u8> = map
        .data
        .iter()
        .map(|&v| (v * 255.0).round_ties_even().clamp(0.0, 255.0) as u8)
        .collect();
    let (lo, hi) = saved
        .iter()
        .fold((u8::MAX, 0u8), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if saved.is_empty() || hi <= lo {
        return vec![0; saved.len()];
    }
    let scale = 255.0 / f64::from(hi - lo);
    let shift = -f64::from(lo) * scale;
    let (scale, shift) = (scale as f32, shift as f32);
    saved
        .iter()
        .map(|&v| {
            (f32::from(v) * scale + shift)
                .round_ties_even()
                .clamp(0.0, 255.0) as u8
        })
        .collect()
}

/// Precision/recall curves, maxF, meanF and MAE of saliency maps against
/// their ground truth (saliency.md §5). P and R are computed per image and
/// averaged; Fβ comes from the averaged P and R at each threshold. An empty
/// set gives all zeros.
pub fn score_maps<'a, I>(pairs: I) -> Scores
where
    I: IntoIterator<Item = (&'a Map, &'a Mask)>,
{
    let mut precision = vec![0.0f64; THRESHOLDS];
    let mut recall = vec![0.0f64; THRESHOLDS];
    let mut mae = 0.0f64;
    let mut images = 0usize;
    for (map, gt) in pairs {
        assert_eq!(
            (map.width, map.height),
            (gt.width, gt.height),
            "saliency map and ground truth sizes differ"
        );
        let sal = map_to_u8(map);
        let mut fg = [0u64; THRESHOLDS];
        let mut bg = [0u64; THRESHOLDS];
        let mut abs_err = 0.0f64;
        for (&s, &g) in sal.iter().zip(&gt.data) {
            let is_fg = g != 0;
            if is_fg {
                fg[s as usize] += 1;
            } else {
                bg[s as usize] += 1;
            }
            let v = f32::from(s) * (1.0f64 / 255.0) as f32;
            abs_err += f64::from((f32::from(u8::from(is_fg)) - v).abs());
        }
        let gt_f: u64 = fg.iter().sum();
        // tp(t), fp(t): positives are pixels with value ≥ t.
        let (mut tp, mut fp) = (0u64, 0u64);
        for t in (0..THRESHOLDS).rev() {
            tp += fg[t];
            fp += bg[t];
            let (tpf, fpf) = (tp as f64, fp as f64);
            recall[t] += tpf / (gt_f as f64 + EPS);
            precision[t] += (tpf + EPS) / (EPS + tpf + fpf);
        }
        mae += abs_err / sal.len().max(1) as f64;
        images += 1;
    }
    if images == 0 {
        return Scores {
            precision,
            recall,
            ..Scores::default()
        };
    }
    let n = images as f64;
    for v in precision.iter_mut().chain(recall.iter_mut()) {
        *v /= n;
    }
    let f: Vec<f64> = precision
        .iter()
        .zip(&recall)
        .map(|(&p, &r)| f_beta(p, r))
        .collect();
    Scores {
        max_f: f.iter().cloned().fold(0.0, f64::max),
        mean_f: f.iter().sum::<f64>() / THRESHOLDS as f64,
        mae: mae / n,
        precision,
        recall,
    }
}

/// Precision, recall, Fβ and IoU of binary masks (non-zero = object)
/// against ground truth, as CmCode's `EvalueMask`: P, R and IoU averaged
/// over images, Fβ from the averaged P and R. An empty set gives zeros.
pub fn score_masks<'a, I>(pairs: I) -> MaskScores
where
    I: IntoIterator<Item = (&'a Mask, &'a Mask)>,
{
    let (mut p_sum, mut r_sum, mut iou_sum) = (0.0f64, 0.0f64, 0.0f64);
    let mut images = 0usize;
    for (mask, gt) in pairs {
        assert_eq!(
            (mask.width, mask.height),
            (gt.width, gt.height),
            "mask and ground truth sizes differ"
        );
        let (mut common, mut pred, mut truth, mut union) = (0u64, 0u64, 0u64, 0u64);
        for (&m, &g) in mask.data.iter().zip(&gt.data) {
            let (m, g) = (m != 0, g != 0);
            common += u64::from(m && g);
            pred += u64::from(m);
            truth += u64::from(g);
            union += u64::from(m || g);
        }
        let c = common as f64;
        p_sum += c / (pred as f64 + EPS);
        r_sum += c / (truth as f64 + EPS);
        iou_sum += c / (union as f64 + EPS);
        images += 1;
    }
    if images == 0 {
        return MaskScores::default();
    }
    let n = images as f64;
    let (precision, recall) = (p_sum / n, r_sum / n);
    MaskScores {
        precision,
        recall,
        f_beta: (1.0 + BETA_SQ) * precision * recall / (BETA_SQ * precision + recall + EPS),
        iou: iou_sum / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 8×4 ground truth with the left quarter (2 columns) as object.
    fn gt() -> Mask {
        Mask {
            width: 8,
            height: 4,
            data: (0..32).map(|p| u8::from(p % 8 < 2)).collect(),
        }
    }

    fn map_from(mask: &Mask, on: f32, off: f32) -> Map {
        Map {
            width: mask.width,
            height: mask.height,
            data: mask
                .data
                .iter()
                .map(|&g| if g != 0 { on } else { off })
                .collect(),
        }
    }

    #[test]
    fn perfect_map_scores_one() {
        let g = gt();
        let m = map_from(&g, 1.0, 0.0);
        let s = score_maps([(&m, &g)]);
        assert!((s.max_f - 1.0).abs() < 1e-12);
        assert_eq!(s.mae, 0.0);
        // t = 0: everything positive → P = 1/4, R = 1.
        assert!((s.precision[0] - 0.25).abs() < 1e-12 && s.recall[0] == 1.0);
        assert!(s.precision[1..].iter().all(|&p| p == 1.0));
        let f0 = f_beta(0.25, 1.0);
        assert!((s.mean_f - (f0 + 255.0) / 256.0).abs() < 1e-12);
    }

    #[test]
    fn inverted_map_scores_low() {
        let g = gt();
        let m = map_from(&g, 0.0, 1.0);
        let s = score_maps([(&m, &g)]);
        // Only t = 0 finds the object: F = 1.3·0.25/(0.3·0.25 + 1).
        assert!((s.max_f - 1.3 * 0.25 / 1.075).abs() < 1e-12);
        assert_eq!(s.mae, 1.0);
        assert!(s.recall[1..].iter().all(|&r| r == 0.0));
    }

    #[test]
    fn maps_are_stretched_before_thresholding() {
        // Object at 0.6, background at 0.2: stretched to 255 and 0, so it
        // scores like a perfect map and MAE is 0.
        let g = gt();
        let m = map_from(&g, 0.6, 0.2);
        assert_eq!(map_to_u8(&m)[0], 255);
        assert_eq!(map_to_u8(&m)[7], 0);
        let s = score_maps([(&m, &g)]);
        assert!((s.max_f - 1.0).abs() < 1e-12 && s.mae == 0.0);
        // A flat map becomes all zeros.
        let flat = map_from(&g, 0.3, 0.3);
        assert!(map_to_u8(&flat).iter().all(|&v| v == 0));
    }

    #[test]
    fn precision_and_recall_average_over_images() {
        let g = gt();
        let perfect = map_from(&g, 1.0, 0.0);
        let inverted = map_from(&g, 0.0, 1.0);
        let s = score_maps([(&perfect, &g), (&inverted, &g)]);
        // t ≥ 1: P = (1 + 0)/2, R = (1 + 0)/2.
        assert!((s.precision[128] - 0.5).abs() < 1e-12);
        assert!((s.recall[128] - 0.5).abs() < 1e-12);
        assert!((s.mae - 0.5).abs() < 1e-12);
        assert!((s.max_f - 0.5).abs() < 1e-12);
    }

    #[test]
    fn half_overlapping_mask() {
        let g = gt(); // 8 object pixels (columns 0, 1)
        let mask = Mask {
            width: 8,
            height: 4,
            data: (0..32)
                .map(|p| u8::from((1..3).contains(&(p % 8))))
                .collect(),
        };
        let s = score_masks([(&mask, &g)]);
        // Common 4 of predicted 8 and true 8; union 12.
        assert!((s.precision - 0.5).abs() < 1e-12);
        assert!((s.recall - 0.5).abs() < 1e-12);
        assert!((s.iou - 1.0 / 3.0).abs() < 1e-12);
        assert!((s.f_beta - 0.5).abs() < 1e-12);
        let perfect = score_masks([(&g, &g)]);
        assert!((perfect.iou - 1.0).abs() < 1e-12 && (perfect.f_beta - 1.0).abs() < 1e-12);
    }

    #[test]
    fn gt_binarised_above_128() {
        let img = image::GrayImage::from_raw(3, 1, vec![128, 129, 255]).unwrap();
        assert_eq!(binarize_gt(&img).data, vec![0, 1, 1]);
    }

    #[test]
    fn empty_sets_score_zero() {
        let s = score_maps(std::iter::empty());
        assert_eq!((s.max_f, s.mae), (0.0, 0.0));
        assert_eq!(s.precision.len(), THRESHOLDS);
        assert_eq!(score_masks(std::iter::empty()), MaskScores::default());
    }
}
