//! Content fingerprints of a dataset folder (`exec::fingerprint`), through
//! the same function `sslp plan` and `sslp run` call.
//!
//! Generates an image-folder layout of 784-byte files (100 class folders)
//! and measures: the first fingerprint (empty memo: every byte hashed), and
//! re-fingerprinting the unchanged folder (memo served: one `stat` per
//! file, no read) at 60k, 100k and 300k files, and 1M with
//! `SSLP_BENCH_FINGERPRINT_1M=1` (4 GB of disk blocks, minutes to write);
//! `SSLP_BENCH_FINGERPRINT_SIZES=60000,100000` picks the sizes.
//!
//! `cargo bench --bench fingerprint` (figures in BENCHMARKS.md).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sslp::data::spec::DatasetSpec;
use sslp::exec::fingerprint::fingerprint_dataset;
use std::path::{Path, PathBuf};
use std::time::Duration;

const FILE_LEN: usize = 784;
const CLASSES: usize = 100;

/// Writes `n` files of `FILE_LEN` distinct bytes as `root/cCC/NNNNNNN.png`.
fn generate(root: &Path, n: usize) {
    for c in 0..CLASSES {
        std::fs::create_dir_all(root.join(format!("c{c:02}"))).unwrap();
    }
    let mut bytes = vec![0u8; FILE_LEN];
    for i in 0..n {
        bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let path = root.join(format!("c{:02}/{i:07}.png", i % CLASSES));
        std::fs::write(path, &bytes).unwrap();
    }
    // Past the memo's racy window, so a warm memo trusts every entry.
    std::thread::sleep(Duration::from_millis(2_100));
}

fn spec() -> DatasetSpec {
    DatasetSpec::ImageFolder {
        root: PathBuf::from("images"),
        masks: None,
        size: None,
        limit: None,
    }
}

fn fingerprint(base: &Path, memo: &Path) -> usize {
    let (_, fp) = fingerprint_dataset(&spec(), base, Some(memo))
        .expect("the folder fingerprints")
        .expect("an image folder reads files");
    fp.stats.files
}

fn bench(c: &mut Criterion) {
    let mut sizes = vec![60_000, 100_000, 300_000];
    if std::env::var_os("SSLP_BENCH_FINGERPRINT_1M").is_some() {
        sizes.push(1_000_000);
    }
    // `SSLP_BENCH_FINGERPRINT_SIZES=60000,100000` measures only those sizes.
    if let Ok(list) = std::env::var("SSLP_BENCH_FINGERPRINT_SIZES") {
        sizes = list
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect();
    }
    let mut group = c.benchmark_group("fingerprint");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    for &n in &sizes {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        generate(&base.join("images"), n);
        let memo = base.join("memo");
        if n == sizes[0] {
            // Cold: every file read and hashed, the memo written.
            group.throughput(Throughput::Bytes((n * FILE_LEN) as u64));
            group.bench_function(format!("cold_{n}_files"), |b| {
                b.iter_batched(
                    || {
                        let _ = std::fs::remove_dir_all(&memo);
                    },
                    |()| assert_eq!(fingerprint(base, &memo), n),
                    BatchSize::PerIteration,
                )
            });
        }
        // Warm: the folder unchanged since the memo was written.
        let _ = std::fs::remove_dir_all(&memo);
        fingerprint(base, &memo);
        let (_, fp) = fingerprint_dataset(&spec(), base, Some(&memo))
            .unwrap()
            .unwrap();
        assert_eq!(fp.stats.hashed, 0, "unchanged bytes are never read again");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("warm_{n}_files"), |b| {
            b.iter(|| assert_eq!(fingerprint(base, &memo), n))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
