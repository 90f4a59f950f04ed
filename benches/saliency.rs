//! Salient-region benchmarks (`src/saliency`), single thread.
//!
//! `cargo bench --bench saliency`.
//!
//! HC and RC saliency maps (group `saliency_map`, `cargo bench --bench
//! saliency -- saliency_map`): one image per iteration on procedural
//! images and scikit-image photos at 400×300 and 600×450; see
//! `saliency_map_benches`.
//!
//! GrabCut (group `grabcut`; figures in BENCHMARKS.md): OpenCV mode,
//! rectangle init, 5 iterations, on a procedurally generated 400×300
//! "natural-looking" image, and on photos with OpenCV's masks for them:
//! - the full-size scikit-image photos that `../shared/peers/peer_grabcut.py`
//!   times `cv2.grabCut` on, read from the PNGs the peer script writes
//!   (`--out /tmp/grabcut-peer`, or the directory in `SSLP_GRABCUT_PEER_DIR`),
//!   so both sides time identical inputs;
//! - otherwise the small committed parity fixtures of
//!   `tests/fixtures/saliency/` (made by `tools/saliency_fixtures.py`; the
//!   test `tests/saliency_parity.rs` asserts the masks).
//!
//! Before timing, each photo's mask is compared with OpenCV's (IoU, and the
//! number of pixels whose 4-valued mask differs) and printed to stderr.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use image::{Rgb, RgbImage};
use sslp::saliency::grabcut::{GrabCutParams, Init, Mode, grab_cut, grab_cut_opencv};

/// The peer's cases: name and rectangle (x, y, w, h), as in peer_grabcut.py.
const PEER_CASES: [(&str, [u32; 4]); 3] = [
    ("astronaut", [20, 10, 350, 500]),
    ("coffee", [70, 15, 420, 375]),
    ("chelsea", [40, 10, 340, 285]),
];

/// A photo to segment, with OpenCV's results for it when known.
struct PhotoCase {
    /// Bench name suffix.
    name: String,
    img: RgbImage,
    init: Init,
    /// `cv2.grabCut`'s 4-valued mask.
    opencv_mask: Option<Vec<u8>>,
}

/// The committed parity fixtures (`tests/fixtures/saliency`).
fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/saliency")
}

fn gray(path: &Path) -> Option<Vec<u8>> {
    image::open(path).ok().map(|m| m.to_luma8().into_raw())
}

/// The peer script's full-size photos, if its output directory holds them.
fn peer_photos() -> Vec<PhotoCase> {
    let dir = peer_dir();
    PEER_CASES
        .iter()
        .filter_map(|&(name, [x, y, w, h])| {
            let img = image::open(dir.join(format!("{name}_input.png"))).ok()?;
            Some(PhotoCase {
                name: name.to_string(),
                img: img.to_rgb8(),
                init: Init::Rect { x, y, w, h },
                opencv_mask: gray(&dir.join(format!("{name}_mask.png"))),
            })
        })
        .collect()
}

/// The committed fixtures' photos with their rectangles and OpenCV masks.
fn fixture_photos() -> Vec<PhotoCase> {
    let dir = fixture_dir();
    let Ok(text) = std::fs::read_to_string(dir.join("manifest.json")) else {
        return Vec::new();
    };
    let Ok(manifest) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    let cases = manifest["cases"].as_array().cloned().unwrap_or_default();
    cases
        .iter()
        .filter_map(|c| {
            let img = image::open(dir.join(c["image"].as_str()?)).ok()?.to_rgb8();
            let r: Vec<u32> = c["grabcut"]["rect_xywh"]
                .as_array()?
                .iter()
                .filter_map(|v| v.as_u64().map(|v| v as u32))
                .collect();
            let [x, y, w, h] = r[..] else { return None };
            Some(PhotoCase {
                name: format!("{}_{}x{}", c["name"].as_str()?, img.width(), img.height()),
                opencv_mask: gray(&dir.join(c["grabcut"]["mask"].as_str()?)),
                img,
                init: Init::Rect { x, y, w, h },
            })
        })
        .collect()
}

/// A 400×300 image with smooth gradients, texture and a foreground object
/// (a textured ellipse with its own shading); the rectangle around it.
fn synthetic_scene() -> (RgbImage, Init) {
    let (w, h) = (400u32, 300u32);
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut noise = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % 17) as f32 - 8.0
    };
    let img = RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        // Background: sky-to-ground gradient with low-frequency waves.
        let wave = (fx * 9.0).sin() * (fy * 7.0).cos() * 18.0 + ((fx + fy) * 31.0).sin() * 6.0;
        let mut c = [
            60.0 + 90.0 * fy + wave,
            120.0 + 60.0 * (1.0 - fy) + wave * 0.5,
            170.0 - 80.0 * fy - wave,
        ];
        // Object: an ellipse, warm colours with stripes and shading.
        let (ex, ey) = ((fx - 0.52) / 0.22, (fy - 0.55) / 0.3);
        let r2 = ex * ex + ey * ey;
        if r2 <= 1.0 {
            let shade = 1.0 - 0.35 * r2;
            let stripe = ((x as f32 * 0.35 + y as f32 * 0.2).sin() * 20.0).round();
            c = [
                (200.0 + stripe) * shade,
                (110.0 + stripe * 0.5) * shade,
                50.0 * shade,
            ];
        }
        let n = noise();
        Rgb(c.map(|v| (v + n).clamp(0.0, 255.0) as u8))
    });
    let init = Init::Rect {
        x: 110,
        y: 60,
        w: 200,
        h: 215,
    };
    (img, init)
}

fn peer_dir() -> PathBuf {
    std::env::var_os("SSLP_GRABCUT_PEER_DIR")
        .map_or_else(|| PathBuf::from("/tmp/grabcut-peer"), PathBuf::from)
}

fn iou(a: &[u8], b: &[u8]) -> f64 {
    let inter = a
        .iter()
        .zip(b)
        .filter(|(x, y)| **x != 0 && **y != 0)
        .count();
    let uni = a
        .iter()
        .zip(b)
        .filter(|(x, y)| **x != 0 || **y != 0)
        .count();
    inter as f64 / uni.max(1) as f64
}

fn grabcut_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("grabcut");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    let params = GrabCutParams {
        iterations: 5,
        mode: Mode::OpenCv,
        seed: 0,
    };

    let (img, init) = synthetic_scene();
    g.bench_function("opencv_mode_5it_synthetic_400x300", |b| {
        b.iter(|| grab_cut(black_box(&img), black_box(&init), &params))
    });

    let mut photos = peer_photos();
    if photos.is_empty() {
        eprintln!(
            "grabcut: no peer photos in {} (run peer_grabcut.py); using the committed fixtures in {}",
            peer_dir().display(),
            fixture_dir().display()
        );
        photos = fixture_photos();
    }
    for case in &photos {
        let ours = grab_cut(&case.img, &case.init, &params);
        let fg_frac = ours.data.iter().filter(|&&v| v != 0).count() as f64 / ours.data.len() as f64;
        let agreement = case.opencv_mask.as_ref().map_or_else(
            || "OpenCV mask not found".to_string(),
            |theirs| {
                // OpenCV's raw 4-valued mask (BGD/FGD/PR_BGD/PR_FGD) against ours.
                let raw = grab_cut_opencv(&case.img, &case.init, params.iterations, params.seed);
                let differ = raw.iter().zip(theirs).filter(|(a, b)| a != b).count();
                let fg: Vec<u8> = theirs.iter().map(|&m| m & 1).collect();
                format!(
                    "IoU with OpenCV {:.4}, pixels whose 4-valued mask differs from OpenCV's: {differ}",
                    iou(&ours.data, &fg)
                )
            },
        );
        eprintln!(
            "grabcut: {} {}x{}: {agreement}, our fg fraction {fg_frac:.4}",
            case.name,
            case.img.width(),
            case.img.height(),
        );
        g.bench_function(format!("opencv_mode_5it_{}", case.name), |b| {
            b.iter(|| grab_cut(black_box(&case.img), black_box(&case.init), &params))
        });
    }
    g.finish();
}

// ---- HC / RC saliency maps (src/saliency/{hc,rc}.rs) ----------------------
//
// Single thread, one image per iteration, on a procedural "natural-looking"
// image at 400×300 and 600×450, and on scikit-image's coffee and chelsea
// photos (resized to the same sizes) when the peers' venv has them (the
// directory in `SSLP_SKIMAGE_DATA`, else
// `../peers/venv/lib/python3*/site-packages/skimage/data` next to the
// repository, where `shared/peers/peers-setup.sh` puts it); otherwise on the
// small committed fixture photos of `tests/fixtures/saliency/`.

/// Smooth gradients, a textured background and a few noisy coloured blobs.
fn natural_image(w: u32, h: u32) -> RgbImage {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut noise = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % 23) as f32 - 11.0
    };
    // Blobs: centre (fraction of w, h), radii, colour.
    let blobs: [([f32; 2], [f32; 2], [f32; 3]); 4] = [
        ([0.55, 0.5], [0.18, 0.26], [210.0, 70.0, 40.0]),
        ([0.25, 0.35], [0.08, 0.1], [240.0, 200.0, 60.0]),
        ([0.78, 0.7], [0.1, 0.07], [40.0, 150.0, 90.0]),
        ([0.35, 0.78], [0.06, 0.06], [120.0, 60.0, 170.0]),
    ];
    RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let texture = ((x as f32 * 0.9).sin() * (y as f32 * 1.3).cos() * 9.0)
            + ((x as f32 * 0.13 + y as f32 * 0.07).sin() * 14.0);
        let mut c = [
            90.0 + 70.0 * fy + texture,
            130.0 + 50.0 * fx - 30.0 * fy + texture * 0.8,
            160.0 - 60.0 * fy + texture * 0.6,
        ];
        for (centre, radius, colour) in blobs {
            let (dx, dy) = ((fx - centre[0]) / radius[0], (fy - centre[1]) / radius[1]);
            let r2 = dx * dx + dy * dy;
            if r2 <= 1.0 {
                let shade = 1.0 - 0.3 * r2;
                c = colour.map(|v| v * shade + texture * 0.3);
            }
        }
        let n = noise();
        Rgb(c.map(|v| (v + n).clamp(0.0, 255.0) as u8))
    })
}

fn skimage_data_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SSLP_SKIMAGE_DATA") {
        return Some(PathBuf::from(dir));
    }
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../peers/venv/lib");
    std::fs::read_dir(&lib).ok()?.flatten().find_map(|e| {
        let dir = e.path().join("site-packages/skimage/data");
        dir.join("coffee.png").is_file().then_some(dir)
    })
}

fn saliency_map_benches(c: &mut Criterion) {
    use sslp::saliency::{
        hc::hc,
        rc::{Variant, rc},
    };
    let mut g = c.benchmark_group("saliency_map");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    let mut cases: Vec<(String, RgbImage)> = [(400, 300), (600, 450)]
        .into_iter()
        .map(|(w, h)| (format!("synthetic_{w}x{h}"), natural_image(w, h)))
        .collect();
    match skimage_data_dir() {
        Some(dir) => {
            for name in ["coffee", "chelsea"] {
                let Ok(photo) = image::open(dir.join(format!("{name}.png"))) else {
                    continue;
                };
                let photo = photo.to_rgb8();
                for (w, h) in [(400, 300), (600, 450)] {
                    let img = image::imageops::resize(
                        &photo,
                        w,
                        h,
                        image::imageops::FilterType::Triangle,
                    );
                    cases.push((format!("{name}_{w}x{h}"), img));
                }
            }
        }
        None => {
            eprintln!(
                "saliency_map: scikit-image photos not found; adding the committed fixture photos"
            );
            for case in fixture_photos() {
                if case.name.starts_with("coffee") || case.name.starts_with("chelsea") {
                    cases.push((case.name, case.img));
                }
            }
        }
    }
    for (name, img) in &cases {
        g.bench_function(format!("hc_{name}"), |b| b.iter(|| hc(black_box(img))));
        g.bench_function(format!("rc_{name}"), |b| {
            b.iter(|| rc(black_box(img), Variant::Tpami))
        });
    }
    g.finish();
}

criterion_group!(benches, grabcut_benches, saliency_map_benches);
criterion_main!(benches);
