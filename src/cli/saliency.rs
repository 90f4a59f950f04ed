//! `sslp saliency`: HC/RC maps or SaliencyCut masks of image files, optionally scored.

use super::{OK, PROBLEMS, USAGE, emit, plural};
use crate::exec::saliency_batch::{self, BatchOptions, Detector, Variant};
use clap::ValueEnum;
use std::path::PathBuf;

/// Which saliency output `sslp saliency` computes.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum SaliencyMethod {
    /// Histogram-contrast map.
    Hc,
    /// Region-contrast map.
    Rc,
    /// SaliencyCut mask (RC map, then iterative GrabCut).
    Cut,
}

/// Options of `sslp saliency`.
#[derive(Debug, Clone)]
pub struct SaliencyArgs {
    /// Images, or folders of images.
    pub inputs: Vec<PathBuf>,
    /// What to compute.
    pub method: SaliencyMethod,
    /// The CVPR 2011 variant instead of the TPAMI one.
    pub cvpr2011: bool,
    /// Where to write the PNGs.
    pub out: Option<PathBuf>,
    /// Ground-truth folder: same-stem PNG masks.
    pub eval: Option<PathBuf>,
}

/// `sslp saliency IMAGE... --method hc|rc|cut [-o DIR] [--eval GT_DIR]`: runs
/// [`saliency_batch::run`] and prints its problems, timing, fallbacks and scores.
pub fn saliency(args: &SaliencyArgs) -> u8 {
    let files = match saliency_batch::image_files(&args.inputs) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    if files.is_empty() {
        eprintln!("error: no images given");
        return USAGE;
    }
    if let Some(dir) = &args.out
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return USAGE;
    }
    let opts = BatchOptions {
        detector: match args.method {
            SaliencyMethod::Hc => Detector::Hc,
            SaliencyMethod::Rc => Detector::Rc,
            SaliencyMethod::Cut => Detector::Cut,
        },
        variant: if args.cvpr2011 {
            Variant::Cvpr2011
        } else {
            Variant::Tpami
        },
        out: args.out.clone(),
        ground_truth: args.eval.clone(),
    };
    let report = saliency_batch::run(&files, &opts);
    let mut worst = OK;
    for p in &report.problems {
        eprintln!("error: {p}");
        worst = worst.max(if p.is_io() { USAGE } else { PROBLEMS });
    }
    eprintln!(
        "{} in {:.1} ms per image",
        plural(files.len(), "image"),
        report.ms_per_image()
    );
    if !report.fallbacks.is_empty() {
        eprintln!(
            "note: SaliencyCut found no object in {} and used the adaptive threshold (2 × mean saliency):",
            plural(report.fallbacks.len(), "image")
        );
        for f in &report.fallbacks {
            eprintln!("  {}", f.display());
        }
    }
    if let Some(scores) = &report.scores {
        // Through a `Value`, so keys come out sorted as before.
        let value = serde_json::to_value(scores).unwrap_or_default();
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        ));
    }
    worst
}
