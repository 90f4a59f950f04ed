//! Saliency over a batch of image files, as `sslp saliency` runs it: each image's
//! HC or RC map or SaliencyCut mask, written as a grey PNG, and optionally scored
//! against same-stem ground-truth masks (the benchmark's max/mean Fβ and MAE for
//! maps; precision, recall, Fβ and IoU for masks).
//!
//! Problems with one image (undecodable, no ground truth, a size mismatch, an
//! unwritable output) are collected and the batch goes on; the caller prints them.

use crate::saliency::metrics::{self, MaskScores, Scores};
pub use crate::saliency::rc::Variant;
use crate::saliency::saliency_cut::{self, CutParams};
use crate::saliency::{Map, Mask, hc, rc};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What to compute for each image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detector {
    /// Histogram-contrast map.
    Hc,
    /// Region-contrast map.
    Rc,
    /// SaliencyCut mask (RC map, then iterative GrabCut).
    Cut,
}

impl Detector {
    /// The suffix of its output files (`cat_rc.png`).
    pub fn suffix(self) -> &'static str {
        match self {
            Detector::Hc => "hc",
            Detector::Rc => "rc",
            Detector::Cut => "cut",
        }
    }
}

/// How to run a batch.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// What to compute.
    pub detector: Detector,
    /// Which paper's RC variant (the CVPR 2011 one, or TPAMI's).
    pub variant: Variant,
    /// Folder for the PNG outputs (none: compute and score only).
    pub out: Option<PathBuf>,
    /// Folder of same-stem PNG ground-truth masks to score against.
    pub ground_truth: Option<PathBuf>,
}

/// A problem with one image of a batch; the others still run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageProblem {
    /// The image could not be decoded.
    #[error("{}: cannot decode image: {message}", path.display())]
    Decode {
        /// The image.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },
    /// The output PNG could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The output file.
        path: PathBuf,
    },
    /// The ground-truth mask could not be read.
    #[error("{}: cannot read ground truth: {message}", path.display())]
    GroundTruth {
        /// The ground-truth file.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },
    /// The ground truth and its image differ in size.
    #[error("{} is {}x{} but its image is {}x{}", path.display(), gt.0, gt.1, image.0, image.1)]
    SizeMismatch {
        /// The ground-truth file.
        path: PathBuf,
        /// Its size.
        gt: (usize, usize),
        /// The image's size.
        image: (usize, usize),
    },
}

impl ImageProblem {
    /// Whether the problem is the environment's (an unwritable output), not the input's.
    pub fn is_io(&self) -> bool {
        matches!(self, ImageProblem::Write { .. })
    }
}

/// The scores of a scored batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum BatchScores {
    /// Maps (HC, RC): the benchmark's threshold sweep.
    Maps {
        /// Images scored.
        images: usize,
        /// Best Fβ over the 256 thresholds.
        max_f: f64,
        /// Mean Fβ over the thresholds.
        mean_f: f64,
        /// Mean absolute error.
        mae: f64,
    },
    /// Masks (SaliencyCut).
    Masks {
        /// Images scored.
        images: usize,
        /// Mean precision.
        precision: f64,
        /// Mean recall.
        recall: f64,
        /// Fβ of the means.
        f_beta: f64,
        /// Mean IoU.
        iou: f64,
    },
}

/// What a batch did.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchReport {
    /// Images given.
    pub images: usize,
    /// Seconds spent computing maps and masks (decoding and writing excluded).
    pub compute_seconds: f64,
    /// SaliencyCut masks that fell back to the adaptive threshold (no object found at any
    /// threshold), by file.
    pub fallbacks: Vec<PathBuf>,
    /// Problems, in image order.
    pub problems: Vec<ImageProblem>,
    /// Scores, when ground truth was given.
    pub scores: Option<BatchScores>,
}

impl BatchReport {
    /// Mean milliseconds of computation per image.
    pub fn ms_per_image(&self) -> f64 {
        1000.0 * self.compute_seconds / self.images.max(1) as f64
    }
}

/// The image files among `inputs`: files as given, folders' PNG/JPEG/BMP files sorted by name.
pub fn image_files(inputs: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = vec![];
    for p in inputs {
        if p.is_dir() {
            let entries = std::fs::read_dir(p).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot read {}: {e}", p.display()))
            })?;
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|f| {
                    f.extension().and_then(|x| x.to_str()).is_some_and(|x| {
                        matches!(
                            x.to_ascii_lowercase().as_str(),
                            "png" | "jpg" | "jpeg" | "bmp"
                        )
                    })
                })
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// One image's result: a map or a mask.
enum Output {
    Map(Map),
    Mask(Mask),
}

impl Output {
    fn grey_pixels(&self) -> Vec<u8> {
        match self {
            Output::Map(m) => metrics::map_to_u8(m),
            Output::Mask(m) => m
                .data
                .iter()
                .map(|&v| if v != 0 { 255 } else { 0 })
                .collect(),
        }
    }
}

/// Computes one image's output; `true` when SaliencyCut fell back to the adaptive threshold.
pub fn detect(
    img: &image::RgbImage,
    detector: Detector,
    variant: Variant,
) -> (Map, Option<Mask>, bool) {
    match detector {
        Detector::Hc => (hc::hc(img), None, false),
        Detector::Rc => (rc::rc(img, variant), None, false),
        Detector::Cut => {
            let map = rc::rc(img, variant);
            let (mask, fell_back) = match saliency_cut::cut(img, &map, &CutParams::default()) {
                Some(m) => (m, false),
                None => (saliency_cut::adaptive_threshold(&map), true),
            };
            (map, Some(mask), fell_back)
        }
    }
}

/// Runs the detector over `files`, writing and scoring as `opts` say.
pub fn run(files: &[PathBuf], opts: &BatchOptions) -> BatchReport {
    let mut report = BatchReport {
        images: files.len(),
        compute_seconds: 0.0,
        fallbacks: vec![],
        problems: vec![],
        scores: None,
    };
    let mut maps: Vec<(Map, Mask)> = vec![];
    let mut masks: Vec<(Mask, Mask)> = vec![];
    for f in files {
        let img = match image::open(f) {
            Ok(i) => i.to_rgb8(),
            Err(e) => {
                report.problems.push(ImageProblem::Decode {
                    path: f.clone(),
                    message: e.to_string(),
                });
                continue;
            }
        };
        let stem = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let t = std::time::Instant::now();
        let (map, mask, fell_back) = detect(&img, opts.detector, opts.variant);
        report.compute_seconds += t.elapsed().as_secs_f64();
        if fell_back {
            report.fallbacks.push(f.clone());
        }
        let output = match mask {
            Some(m) => Output::Mask(m),
            None => Output::Map(map),
        };
        let (w, h) = (img.width(), img.height());
        if let Some(dir) = &opts.out {
            let path = dir.join(format!("{stem}_{}.png", opts.detector.suffix()));
            let saved =
                image::GrayImage::from_raw(w, h, output.grey_pixels()).map(|g| g.save(&path));
            if !matches!(saved, Some(Ok(()))) {
                report.problems.push(ImageProblem::Write { path });
            }
        }
        if let Some(gt_dir) = &opts.ground_truth {
            match ground_truth(gt_dir, &stem, (w as usize, h as usize)) {
                Ok(gt) => match output {
                    Output::Map(m) => maps.push((m, gt)),
                    Output::Mask(m) => masks.push((m, gt)),
                },
                Err(p) => report.problems.push(p),
            }
        }
    }
    if opts.ground_truth.is_some() {
        report.scores = Some(if opts.detector == Detector::Cut {
            mask_scores(
                masks.len(),
                metrics::score_masks(masks.iter().map(|(m, g)| (m, g))),
            )
        } else {
            map_scores(
                maps.len(),
                metrics::score_maps(maps.iter().map(|(m, g)| (m, g))),
            )
        });
    }
    report
}

/// The binarised ground truth of `stem`, which must be `size`.
fn ground_truth(dir: &Path, stem: &str, size: (usize, usize)) -> Result<Mask, ImageProblem> {
    let path = dir.join(format!("{stem}.png"));
    let gt = match image::open(&path) {
        Ok(g) => metrics::binarize_gt(&g.to_luma8()),
        Err(e) => {
            return Err(ImageProblem::GroundTruth {
                path,
                message: e.to_string(),
            });
        }
    };
    if (gt.width, gt.height) != size {
        return Err(ImageProblem::SizeMismatch {
            path,
            gt: (gt.width, gt.height),
            image: size,
        });
    }
    Ok(gt)
}

fn map_scores(images: usize, s: Scores) -> BatchScores {
    BatchScores::Maps {
        images,
        max_f: s.max_f,
        mean_f: s.mean_f,
        mae: s.mae,
    }
}

fn mask_scores(images: usize, s: MaskScores) -> BatchScores {
    BatchScores::Masks {
        images,
        precision: s.precision,
        recall: s.recall,
        f_beta: s.f_beta,
        iou: s.iou,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Rgb, RgbImage};

    /// A folder with a red square on grey (`sq.png`) and its exact ground truth.
    fn fixture(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sslp-batch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("gt")).unwrap();
        let inside = |x: u32, y: u32| (16..48).contains(&x) && (16..48).contains(&y);
        let img = RgbImage::from_fn(64, 64, |x, y| {
            if inside(x, y) {
                Rgb([220, 30, 30])
            } else {
                Rgb([120, 120, 120])
            }
        });
        img.save(dir.join("sq.png")).unwrap();
        let gt = GrayImage::from_fn(64, 64, |x, y| {
            image::Luma([if inside(x, y) { 255 } else { 0 }])
        });
        gt.save(dir.join("gt/sq.png")).unwrap();
        std::fs::write(dir.join("notes.txt"), "not an image").unwrap();
        dir
    }

    #[test]
    fn folders_give_their_images_sorted_and_skip_other_files() {
        let dir = fixture("list");
        std::fs::copy(dir.join("sq.png"), dir.join("a.PNG")).unwrap();
        let files = image_files(std::slice::from_ref(&dir)).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["a.PNG", "sq.png"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn maps_are_written_and_scored_against_ground_truth() {
        let dir = fixture("rc");
        let opts = BatchOptions {
            detector: Detector::Rc,
            variant: Variant::Tpami,
            out: Some(dir.join("out")),
            ground_truth: Some(dir.join("gt")),
        };
        std::fs::create_dir_all(dir.join("out")).unwrap();
        let report = run(&[dir.join("sq.png")], &opts);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(dir.join("out/sq_rc.png").is_file());
        let Some(BatchScores::Maps { images, max_f, .. }) = report.scores else {
            panic!("map scores expected: {:?}", report.scores);
        };
        assert_eq!(images, 1);
        assert!(max_f > 0.9, "a contrasted square is found: max F {max_f}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cut_masks_are_scored_as_masks_and_fallbacks_counted() {
        let dir = fixture("cut");
        let opts = BatchOptions {
            detector: Detector::Cut,
            variant: Variant::Tpami,
            out: None,
            ground_truth: Some(dir.join("gt")),
        };
        let report = run(&[dir.join("sq.png")], &opts);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let Some(BatchScores::Masks { images, iou, .. }) = report.scores else {
            panic!("mask scores expected: {:?}", report.scores);
        };
        assert_eq!(images, 1);
        assert!(iou > 0.8, "the square is cut out: IoU {iou}");
        assert!(report.fallbacks.len() <= 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_images_and_missing_ground_truth_are_problems_not_failures() {
        let dir = fixture("bad");
        std::fs::write(dir.join("broken.png"), b"not a png").unwrap();
        std::fs::copy(dir.join("sq.png"), dir.join("nogt.png")).unwrap();
        let opts = BatchOptions {
            detector: Detector::Hc,
            variant: Variant::Tpami,
            out: None,
            ground_truth: Some(dir.join("gt")),
        };
        let files = [
            dir.join("broken.png"),
            dir.join("nogt.png"),
            dir.join("sq.png"),
        ];
        let report = run(&files, &opts);
        assert_eq!(report.images, 3);
        assert!(matches!(report.problems[0], ImageProblem::Decode { .. }));
        assert!(matches!(
            report.problems[1],
            ImageProblem::GroundTruth { .. }
        ));
        assert_eq!(report.problems.len(), 2);
        assert!(!report.problems[0].is_io());
        assert!(matches!(
            report.scores,
            Some(BatchScores::Maps { images: 1, .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_size_mismatch_names_both_sizes() {
        let dir = fixture("size");
        GrayImage::new(10, 10).save(dir.join("gt/sq.png")).unwrap();
        let p = ground_truth(&dir.join("gt"), "sq", (64, 64)).unwrap_err();
        assert!(
            p.to_string().ends_with("is 10x10 but its image is 64x64"),
            "{p}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
