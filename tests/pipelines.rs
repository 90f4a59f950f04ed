//! The thesis experiments in `pipelines/` run end to end on data in the
//! layouts they name. Each test writes tiny stand-ins in the exact formats
//! (CIFAR-10 binaries, STL-10 binaries, image folders with masks), shrinks
//! the training budget (tiny backbone, one epoch, small batches) by editing
//! the text, runs a few of its arms and reports them.

mod common;
use common::*;
use std::path::Path;

const SIDE: u32 = 32;

/// A deterministic picture of class `class`: a bright square at a class-dependent place.
fn picture(class: u32, i: u32, side: u32) -> (Vec<u8>, Vec<u8>) {
    let mut rgb = vec![0u8; (side * side * 3) as usize];
    let mut mask = vec![0u8; (side * side) as usize];
    let q = side / 4;
    let (x0, y0) = ((class % 2) * 2 * q, (class / 2 % 2) * 2 * q);
    for y in 0..side {
        for x in 0..side {
            let p = (y * side + x) as usize;
            let inside = x >= x0 && x < x0 + 2 * q && y >= y0 && y < y0 + 2 * q;
            let v = if inside {
                220
            } else {
                ((x * 7 + y * 3 + i * 11) % 60) as u8
            };
            rgb[p * 3] = v;
            rgb[p * 3 + 1] = if inside { (40 * class) as u8 } else { v / 2 };
            rgb[p * 3 + 2] = (i * 13 % 255) as u8;
            mask[p] = if inside { 255 } else { 0 };
        }
    }
    (rgb, mask)
}

fn save_png(path: &Path, w: u32, h: u32, data: Vec<u8>, gray: bool) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    if gray {
        image::GrayImage::from_raw(w, h, data)
            .unwrap()
            .save(path)
            .unwrap();
    } else {
        image::RgbImage::from_raw(w, h, data)
            .unwrap()
            .save(path)
            .unwrap();
    }
}

/// `root/CLASS/NAME.png` (+ `root/masks/CLASS/NAME.png`), `per_class` images of each class.
fn image_folder(root: &Path, classes: &[&str], per_class: u32, masks: bool) {
    for (c, name) in classes.iter().enumerate() {
        for i in 0..per_class {
            let (rgb, mask) = picture(c as u32, i, SIDE);
            save_png(
                &root.join(name).join(format!("img{i:03}.png")),
                SIDE,
                SIDE,
                rgb,
                false,
            );
            if masks {
                let p = root.join("masks").join(name).join(format!("img{i:03}.png"));
                save_png(&p, SIDE, SIDE, mask, true);
            }
        }
    }
}

/// CIFAR-10 binaries: records of a label byte and three 32x32 planes.
fn cifar10(root: &Path, per_file: u32) {
    std::fs::create_dir_all(root).unwrap();
    let files = [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
        "test_batch.bin",
    ];
    for (f, name) in files.iter().enumerate() {
        let mut bytes = vec![];
        for i in 0..per_file {
            let class = (i + f as u32) % 10;
            let (rgb, _) = picture(class, i, 32);
            bytes.push(class as u8);
            for c in 0..3 {
                bytes.extend(rgb.iter().skip(c).step_by(3));
            }
        }
        std::fs::write(root.join(name), bytes).unwrap();
    }
}

/// STL-10 binaries: 96x96 images as three column-major planes, labels 1..10.
fn stl10(root: &Path, n: u32) {
    std::fs::create_dir_all(root).unwrap();
    let images = |offset: u32| -> (Vec<u8>, Vec<u8>) {
        let mut x = vec![];
        let mut y = vec![];
        for i in 0..n {
            let class = (i + offset) % 10;
            let (rgb, _) = picture(class, i, 96);
            for c in 0..3 {
                for col in 0..96 {
                    for row in 0..96 {
                        x.push(rgb[((row * 96 + col) * 3 + c) as usize]);
                    }
                }
            }
            y.push(class as u8 + 1);
        }
        (x, y)
    };
    let (x, y) = images(0);
    std::fs::write(root.join("train_X.bin"), x).unwrap();
    std::fs::write(root.join("train_y.bin"), y).unwrap();
    let (x, y) = images(3);
    std::fs::write(root.join("test_X.bin"), x).unwrap();
    std::fs::write(root.join("test_y.bin"), y).unwrap();
    let (x, _) = images(5);
    std::fs::write(root.join("unlabeled_X.bin"), x).unwrap();
}

/// The pipeline's text with a tiny training budget: same design, small numbers.
fn shrink(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        let line = if t.starts_with("epochs = ") {
            format!("{indent}epochs = 1")
        } else if t.starts_with("epochs: ") {
            format!("{indent}epochs: 2,")
        } else if t.starts_with("batch = ") && !t.contains("sweep") {
            format!("{indent}batch = 8")
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    let tiny = "tiny_convnet(width: 8, depth: 2)";
    out.replace("resnet18(cifar_stem: true)", tiny)
        .replace("resnet18()", tiny)
        .replace("resnet34()", tiny)
        .replace("size: 224", "size: 32")
        .replace("size: 256", "size: 32")
}

/// Writes the shrunk pipeline next to its data, runs the chosen arms and the report.
fn run_pipeline(dir: &Path, name: &str, arms: &[&str]) {
    let text = std::fs::read_to_string(root().join("pipelines").join(name)).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, shrink(&text)).unwrap();
    let f = file.to_str().unwrap();
    let mut args = vec!["run", f];
    for a in arms {
        args.extend(["--arm", a]);
    }
    let out = sslp(&args);
    assert_eq!(out.status.code(), Some(0), "{name}:\n{}", stderr(&out));
    let report = dir.join("report");
    let out = sslp(&["report", f, "-o", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{name}:\n{}", stderr(&out));
    let csv = std::fs::read_to_string(report.join("results.csv")).unwrap();
    assert!(csv.lines().count() >= 2, "{name}: no results\n{csv}");
}

#[test]
fn fig_5_20_norce_clustering() {
    let dir = tempfile::tempdir().unwrap();
    let classes = ["healthy", "rust", "scab", "spot", "blight", "mildew"];
    image_folder(&dir.path().join("data/norce-pv"), &classes, 80, false);
    run_pipeline(
        dir.path(),
        "fig_5_20_norce_clustering.sslp",
        &[
            "method=simclr,policy=ssl_default]",
            "baseline_clusters",
            "baseline_embedding",
        ],
    );
}

#[test]
fn fig_5_23_and_5_24_segmentation() {
    let dir = tempfile::tempdir().unwrap();
    // The pipelines split 500 train and 145 test images, as the thesis.
    image_folder(
        &dir.path().join("data/multires-pv"),
        &["leaf", "plant"],
        330,
        true,
    );
    run_pipeline(
        dir.path(),
        "fig_5_24_label_fractions.sslp",
        &[
            "method=simclr,policy=sgd_only,label_fraction=0.5]",
            "baseline[label_fraction=0.5]",
        ],
    );
    run_pipeline(
        dir.path(),
        "fig_5_23_sgd_grid.sslp",
        &["method=simclr,policy=ssl_default,sgd_scale=1.0,batch=16,label_fraction=0.5]"],
    );
}

#[test]
fn fig_5_25_cifar10_linear() {
    let dir = tempfile::tempdir().unwrap();
    cifar10(&dir.path().join("data/cifar-10-batches-bin"), 20);
    run_pipeline(
        dir.path(),
        "fig_5_25_cifar10_linear.sslp",
        &[
            "policy=sgd_default,label_fraction=1.0]",
            "baseline[label_fraction=1.0]",
        ],
    );
}

#[test]
fn fig_5_26_stl10_linear() {
    let dir = tempfile::tempdir().unwrap();
    stl10(&dir.path().join("data/stl10_binary"), 30);
    run_pipeline(
        dir.path(),
        "fig_5_26_stl10_linear.sslp",
        &["policy=ssl_default,label_fraction=1.0]"],
    );
}

#[test]
fn plantvillage_small_sample() {
    let dir = tempfile::tempdir().unwrap();
    let classes = [
        "Apple___healthy",
        "Apple___scab",
        "Grape___rot",
        "Tomato___mold",
    ];
    image_folder(&dir.path().join("data/plantvillage"), &classes, 12, false);
    // 200 train and 300 test images, as the thesis.
    image_folder(
        &dir.path().join("data/plantvillage-apple"),
        &classes[..2],
        250,
        false,
    );
    run_pipeline(
        dir.path(),
        "plantvillage_small_sample.sslp",
        &["per_class=5]"],
    );
}
