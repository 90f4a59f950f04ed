//! Saliency on a synthetic suite with exact ground truth, through the CLI.
//!
//! `cargo test --release --test saliency -- --nocapture` prints the scores
//! recorded in BENCHMARKS.md.

mod common;
use common::*;
use sslp::data::Background;
use sslp::data::synthetic;
use std::path::Path;

/// Writes `count` synthetic shapes of `size` px and their masks as same-stem PNGs.
fn write_suite(dir: &Path, count: usize, size: u32, background: Background) {
    let set = synthetic::generate(count, size, 4, background, 7).expect("synthetic shapes");
    std::fs::create_dir_all(dir.join("images")).unwrap();
    std::fs::create_dir_all(dir.join("gt")).unwrap();
    for i in 0..set.len() {
        let img = image::RgbImage::from_raw(size, size, set.image(i).to_vec()).unwrap();
        img.save(dir.join("images").join(format!("{i:03}.png")))
            .unwrap();
        let mask: Vec<u8> = set
            .mask(i)
            .unwrap()
            .iter()
            .map(|&m| if m != 0 { 255 } else { 0 })
            .collect();
        image::GrayImage::from_raw(size, size, mask)
            .unwrap()
            .save(dir.join("gt").join(format!("{i:03}.png")))
            .unwrap();
    }
}

fn scores(dir: &Path, method: &str) -> serde_json::Value {
    let images = dir.join("images").display().to_string();
    let gt = dir.join("gt").display().to_string();
    let out = dir.join(format!("out_{method}")).display().to_string();
    let o = sslp(&[
        "saliency", &images, "--method", method, "--eval", &gt, "-o", &out,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    println!(
        "{method}: {} {}",
        stdout(&o).replace('\n', " "),
        stderr(&o).trim()
    );
    serde_json::from_str(&stdout(&o)).expect("json scores")
}

#[test]
fn saliency_cut_segments_the_easy_contrast_suite() {
    let dir = tempfile::tempdir().unwrap();
    write_suite(dir.path(), 40, 128, Background::Plain);
    let cut = scores(dir.path(), "cut");
    let iou = cut["iou"].as_f64().unwrap();
    assert!(iou >= 0.9, "SaliencyCut mean IoU {iou}");
    for method in ["hc", "rc"] {
        let s = scores(dir.path(), method);
        assert!(s["max_f"].as_f64().unwrap() > 0.5, "{method}: {s}");
        assert!(s["mae"].as_f64().unwrap() < 0.5, "{method}: {s}");
    }
    // The maps were written.
    assert!(dir.path().join("out_cut").join("000_cut.png").is_file());
}

#[test]
fn textured_backgrounds_are_harder_but_work() {
    let dir = tempfile::tempdir().unwrap();
    write_suite(dir.path(), 24, 128, Background::Textured);
    let cut = scores(dir.path(), "cut");
    assert!(cut["iou"].as_f64().unwrap() > 0.5, "{cut}");
}

#[test]
fn mismatched_ground_truth_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    write_suite(dir.path(), 1, 64, Background::Plain);
    image::GrayImage::new(10, 10)
        .save(dir.path().join("gt").join("000.png"))
        .unwrap();
    let images = dir.path().join("images").display().to_string();
    let gt = dir.path().join("gt").display().to_string();
    let o = sslp(&["saliency", &images, "--method", "rc", "--eval", &gt]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("10x10"), "{}", stderr(&o));
}
