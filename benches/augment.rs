//! Augmentation throughput, single thread: the peers' SimCLR-style policy
//! (`peer_bench.py`: torchvision v2, albumentations) on 32x32 RGB uint8
//! images, one view per image, through `make_views` as the engine calls it;
//! and the offline cache's lookup cost per image (content hash + in-memory
//! store hit).
//!
//! `cargo bench --bench augment` (figures in BENCH_AUGMENT.md). The images
//! are 1,000 synthetic 32x32 colour gradients with noise, or, when
//! `SSLP_BENCH_IMAGES` names a file of raw 32x32x3 HWC images, those; the
//! peers' exact 10,000 inputs can be dumped with
//! `python -c "import sys; sys.path.insert(0, '../shared/peers'); import peer_bench; peer_bench.make_images().tofile('/tmp/peer_images.u8')"`
//! (peer venv).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sslp::augment::{
    Context, DEFAULT_RATIO, Image, KMeansSegments, OfflineCache, OfflineOp, Op, Policy, PolicyItem,
    SampleDraw, ViewSpec, make_views,
};

const SIDE: u32 = 32;
const IMAGES: usize = 1000;

/// The peers' pipeline: RandomResizedCrop(32, 0.08-1) -> HorizontalFlip 0.5
/// -> ColorJitter(0.4, 0.4, 0.4, 0.1) 0.8 -> Grayscale 0.2 -> GaussianBlur
/// 3x3, sigma 0.1-2, always.
fn simclr_policy() -> Policy {
    Policy::new(vec![
        PolicyItem::always(Op::RandomResizedCrop {
            size: Some(SIDE),
            scale: (0.08, 1.0),
            ratio: DEFAULT_RATIO,
        }),
        PolicyItem::new(Op::HorizontalFlip, 0.5),
        PolicyItem::new(
            Op::ColorJitter {
                brightness: 0.4,
                contrast: 0.4,
                saturation: 0.4,
                hue: 0.1,
            },
            0.8,
        ),
        PolicyItem::new(Op::Grayscale, 0.2),
        PolicyItem::always(Op::GaussianBlur {
            kernel: 3,
            sigma: (0.1, 2.0),
        }),
    ])
    .expect("valid policy")
}

/// Deterministic photo-like test images (smooth colour fields plus noise).
fn synthetic_images(n: usize) -> Vec<Image> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|_| {
            let r = next();
            let base = [
                (r & 255) as i32,
                (r >> 8 & 255) as i32,
                (r >> 16 & 255) as i32,
            ];
            let slope = [
                (r >> 24 & 7) as i32 - 3,
                (r >> 28 & 7) as i32 - 3,
                (r >> 32 & 7) as i32 - 3,
            ];
            let data = (0..SIDE * SIDE)
                .flat_map(|i| {
                    let (x, y) = ((i % SIDE) as i32, (i / SIDE) as i32);
                    let noise = (next() & 15) as i32 - 8;
                    [0, 1, 2].map(|c| (base[c] + slope[c] * (x + y) + noise).clamp(0, 255) as u8)
                })
                .collect();
            Image::new(SIDE, SIDE, data).expect("sized")
        })
        .collect()
}

/// The test images and where they come from.
fn images() -> (Vec<Image>, &'static str) {
    match std::env::var_os("SSLP_BENCH_IMAGES") {
        Some(path) => {
            let bytes = std::fs::read(&path).expect("SSLP_BENCH_IMAGES is readable");
            let len = (SIDE * SIDE * 3) as usize;
            assert_eq!(bytes.len() % len, 0, "not a file of 32x32x3 images");
            let images = bytes
                .chunks_exact(len)
                .map(|px| Image::new(SIDE, SIDE, px.to_vec()).expect("sized"))
                .collect();
            (images, "file")
        }
        None => (synthetic_images(IMAGES), "synthetic"),
    }
}

fn draw(index: u64) -> SampleDraw {
    SampleDraw {
        seed: 0,
        step_key: [7; 32],
        epoch: 0,
        index,
    }
}

fn augment(c: &mut Criterion) {
    let (images, source) = images();
    let specs = [ViewSpec::new(1, simclr_policy())];
    let mut group = c.benchmark_group("augment");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(images.len() as u64));
    group.bench_function(BenchmarkId::new("simclr_32x32_one_view", source), |b| {
        let mut cx = Context::default();
        b.iter(|| {
            for (i, img) in images.iter().enumerate() {
                black_box(make_views(img, &specs, &draw(i as u64), &mut cx));
            }
        });
    });
    group.finish();
}

fn offline_lookup(c: &mut Criterion) {
    let (images, source) = images();
    let op: Arc<dyn OfflineOp> = Arc::new(KMeansSegments {
        k: 4,
        iterations: 2,
    });
    let cache = OfflineCache::in_memory();
    for img in &images {
        cache.get_or_compute(img, op.as_ref());
    }
    let mut group = c.benchmark_group("offline");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(images.len() as u64));
    group.bench_function(BenchmarkId::new("lookup_hit_32x32", source), |b| {
        b.iter(|| {
            for img in &images {
                black_box(cache.get_or_compute(img, op.as_ref()));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, augment, offline_lookup);
criterion_main!(benches);
