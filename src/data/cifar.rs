//! CIFAR-10 and CIFAR-100 in their binary formats.
//!
//! A file is a sequence of records: the label byte(s), then a 32x32 image
//! as three 1024-byte planes (red, green, blue), each row-major. CIFAR-10
//! records have one label byte (`data_batch_1.bin` .. `data_batch_5.bin`,
//! `test_batch.bin`); CIFAR-100 records have two, coarse then fine
//! (`train.bin`, `test.bin`). Images are converted to HWC.

use std::path::{Path, PathBuf};

use super::options::{Cifar100Labels, Subset};
use super::records::Records;
use super::{DataError, ImageSet, numbered_classes, read_class_names};

const SIDE: u32 = 32;
const AREA: usize = (SIDE * SIDE) as usize;
const IMAGE_LEN: usize = 3 * AREA;

/// Loads CIFAR-10 from `root`: the five `data_batch_N.bin` in order for
/// [`Subset::Train`], `test_batch.bin` for [`Subset::Test`]. With `limit`,
/// only the first `limit` images are read (and only the files holding them
/// need exist). Class names come from `batches.meta.txt` if present, else
/// they are `"0"` to `"9"`.
pub fn load_cifar10(
    root: &Path,
    subset: Subset,
    limit: Option<usize>,
) -> Result<ImageSet, DataError> {
    let (files, names) = cifar10_files(root, subset);
    let classes = class_names(&names, 10)?;
    read_records(&files, Layout::CIFAR10, limit, classes)
}

/// The record files [`load_cifar10`] reads for `subset`, in order (with a
/// limit, only the first ones are needed), and its optional class-names
/// file. The one listing the loader and the content fingerprint share.
pub fn cifar10_files(root: &Path, subset: Subset) -> (Vec<PathBuf>, PathBuf) {
    let files = match subset {
        Subset::Train => (1..=5)
            .map(|i| root.join(format!("data_batch_{i}.bin")))
            .collect(),
        Subset::Test => vec![root.join("test_batch.bin")],
    };
    (files, root.join("batches.meta.txt"))
}

/// The record file [`load_cifar100`] reads for `subset` and its optional
/// class-names file for `labels`. The one listing the loader and the
/// content fingerprint share.
pub fn cifar100_files(root: &Path, subset: Subset, labels: Cifar100Labels) -> (PathBuf, PathBuf) {
    let file = root.join(match subset {
        Subset::Train => "train.bin",
        Subset::Test => "test.bin",
    });
    let names = match labels {
        Cifar100Labels::Coarse => "coarse_label_names.txt",
        Cifar100Labels::Fine => "fine_label_names.txt",
    };
    (file, root.join(names))
}

/// Loads CIFAR-100 from `root` (`train.bin` or `test.bin`) with its fine
/// (100) or coarse (20) labels. With `limit`, only the first `limit` images
/// are read. Class names come from `fine_label_names.txt` or
/// `coarse_label_names.txt` if present, else they are `"0"`, `"1"`, ...
pub fn load_cifar100(
    root: &Path,
    subset: Subset,
    labels: Cifar100Labels,
    limit: Option<usize>,
) -> Result<ImageSet, DataError> {
    let (file, names_file) = cifar100_files(root, subset, labels);
    let layout = match labels {
        Cifar100Labels::Coarse => Layout::CIFAR100_COARSE,
        Cifar100Labels::Fine => Layout::CIFAR100_FINE,
    };
    let classes = class_names(&names_file, layout.classes)?;
    read_records(&[file], layout, limit, classes)
}

/// Where the label is in a record, and how many classes there are.
#[derive(Clone, Copy)]
struct Layout {
    label_bytes: usize,
    label_at: usize,
    classes: usize,
}

impl Layout {
    const CIFAR10: Layout = Layout {
        label_bytes: 1,
        label_at: 0,
        classes: 10,
    };
    const CIFAR100_COARSE: Layout = Layout {
        label_bytes: 2,
        label_at: 0,
        classes: 20,
    };
    const CIFAR100_FINE: Layout = Layout {
        label_bytes: 2,
        label_at: 1,
        classes: 100,
    };
}

fn class_names(file: &Path, count: usize) -> Result<Vec<String>, DataError> {
    Ok(read_class_names(file, count)?.unwrap_or_else(|| numbered_classes(count)))
}

/// Reads the records of `files` in order, the first `limit` in all. Every
/// file needed is opened (and checked for truncation) before any is read.
fn read_records(
    files: &[PathBuf],
    layout: Layout,
    limit: Option<usize>,
    classes: Vec<String>,
) -> Result<ImageSet, DataError> {
    let record_len = layout.label_bytes + IMAGE_LEN;
    let mut remaining = limit;
    let mut opened = Vec::with_capacity(files.len());
    for path in files {
        if remaining == Some(0) {
            break;
        }
        let records = Records::open(path, record_len, remaining)?;
        remaining = remaining.map(|r| r - records.count());
        opened.push(records);
    }

    let total: usize = opened.iter().map(Records::count).sum();
    let mut pixels = vec![0; total * IMAGE_LEN];
    let mut labels = Vec::with_capacity(total);
    for mut records in opened {
        while let Some(record) = records.next_record()? {
            let (label_bytes, planes) = record.split_at(layout.label_bytes);
            let label = label_bytes[layout.label_at];
            let start = labels.len() * IMAGE_LEN;
            planes_to_hwc(planes, &mut pixels[start..start + IMAGE_LEN]);
            if usize::from(label) >= layout.classes {
                return Err(DataError::format(
                    records.path(),
                    records.offset() + layout.label_at as u64,
                    format!("label {label} out of range (0..{})", layout.classes),
                ));
            }
            labels.push(i32::from(label));
        }
    }
    Ok(ImageSet {
        width: SIDE,
        height: SIDE,
        channels: 3,
        pixels,
        labels,
        masks: None,
        classes,
    })
}

/// Interleaves three equal planes (R, G, B) into `out` (HWC).
fn planes_to_hwc(planes: &[u8], out: &mut [u8]) {
    let (r, gb) = planes.split_at(planes.len() / 3);
    let (g, b) = gb.split_at(r.len());
    for (px, ((&r, &g), &b)) in out.chunks_exact_mut(3).zip(r.iter().zip(g).zip(b)) {
        px.copy_from_slice(&[r, g, b]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fs;

    /// The test value of channel `c` at (`row`, `col`) of image `seed`.
    fn value(seed: u8, c: usize, row: usize, col: usize) -> u8 {
        (usize::from(seed) * 7 + c * 80 + row * 2 + col * 5) as u8
    }

    /// A record: the label bytes, then the planes of test image `seed`.
    fn record(label_bytes: &[u8], seed: u8) -> Vec<u8> {
        let mut rec = label_bytes.to_vec();
        for c in 0..3 {
            for row in 0..32 {
                rec.extend((0..32).map(|col| value(seed, c, row, col)));
            }
        }
        rec
    }

    fn write(path: &Path, records: &[Vec<u8>]) {
        fs::write(path, records.concat()).unwrap();
    }

    fn assert_image(set: &ImageSet, i: usize, seed: u8) {
        let img = set.image(i);
        for (row, col) in [(0, 0), (1, 2), (31, 30), (17, 5)] {
            for c in 0..3 {
                assert_eq!(img[(row * 32 + col) * 3 + c], value(seed, c, row, col));
            }
        }
    }

    #[test]
    fn cifar10_train_reads_every_batch_in_order_as_hwc() {
        let dir = tempfile::tempdir().unwrap();
        for b in 1..=5u8 {
            let recs = [record(&[b], 2 * b), record(&[b + 4], 2 * b + 1)];
            write(&dir.path().join(format!("data_batch_{b}.bin")), &recs);
        }
        let set = load_cifar10(dir.path(), Subset::Train, None).unwrap();
        assert_eq!(
            (set.len(), set.width, set.height, set.channels),
            (10, 32, 32, 3)
        );
        assert_eq!(set.labels, vec![1, 5, 2, 6, 3, 7, 4, 8, 5, 9]);
        assert_eq!(set.classes, numbered_classes(10));
        assert_eq!(set.masks, None);
        for i in 0..10 {
            assert_image(&set, i, i as u8 + 2);
        }
    }

    #[test]
    fn cifar10_limit_reads_only_the_files_needed() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("data_batch_1.bin"),
            &[record(&[0], 0), record(&[1], 1)],
        );
        write(
            &dir.path().join("data_batch_2.bin"),
            &[record(&[2], 2), record(&[3], 3)],
        );
        let set = load_cifar10(dir.path(), Subset::Train, Some(3)).unwrap();
        assert_eq!(set.labels, vec![0, 1, 2]);
        assert_image(&set, 2, 2);
        // A limit beyond the data needs every file.
        let err = load_cifar10(dir.path(), Subset::Train, Some(5)).unwrap_err();
        assert!(matches!(err, DataError::Io { path, .. } if path.ends_with("data_batch_3.bin")));
    }

    #[test]
    fn cifar10_class_names_come_from_batches_meta() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("test_batch.bin"), &[record(&[9], 0)]);
        let names = ["airplane", "automobile", "bird", "cat", "deer"]
            .iter()
            .chain(&["dog", "frog", "horse", "ship", "truck"])
            .fold(String::new(), |s, n| s + n + "\n");
        fs::write(dir.path().join("batches.meta.txt"), names + "\n").unwrap();
        let set = load_cifar10(dir.path(), Subset::Test, None).unwrap();
        assert_eq!(set.classes[set.labels[0] as usize], "truck");

        fs::write(dir.path().join("batches.meta.txt"), "cat\ndog\n").unwrap();
        let err = load_cifar10(dir.path(), Subset::Test, None).unwrap_err();
        assert!(err.to_string().contains("expected 10 class names"), "{err}");
    }

    #[test]
    fn cifar10_missing_file_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_cifar10(dir.path(), Subset::Test, None).unwrap_err();
        assert!(
            matches!(&err, DataError::Io { path, .. } if *path == dir.path().join("test_batch.bin")),
            "{err:?}"
        );
    }

    #[test]
    fn cifar10_truncated_file_is_a_format_error_at_the_incomplete_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test_batch.bin");
        let mut bytes = [record(&[0], 0), record(&[1], 1)].concat();
        bytes.extend_from_slice(&record(&[2], 2)[..100]);
        fs::write(&path, bytes).unwrap();
        let err = load_cifar10(dir.path(), Subset::Test, None).unwrap_err();
        assert_eq!(
            err,
            DataError::format(
                &path,
                2 * 3073,
                "truncated: record 2 has only 100 of its 3073 bytes"
            )
        );
        // The complete records before it can still be read.
        assert_eq!(
            load_cifar10(dir.path(), Subset::Test, Some(2))
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn cifar10_label_out_of_range_is_a_format_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test_batch.bin");
        write(&path, &[record(&[0], 0), record(&[10], 1)]);
        let err = load_cifar10(dir.path(), Subset::Test, None).unwrap_err();
        assert_eq!(
            err,
            DataError::format(&path, 3073, "label 10 out of range (0..10)")
        );
    }

    #[test]
    fn cifar100_reads_fine_or_coarse_labels() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("train.bin"),
            &[
                record(&[3, 42], 0),
                record(&[19, 99], 1),
                record(&[0, 7], 2),
            ],
        );
        let fine = load_cifar100(dir.path(), Subset::Train, Cifar100Labels::Fine, None).unwrap();
        assert_eq!(fine.labels, vec![42, 99, 7]);
        assert_eq!(fine.classes.len(), 100);
        assert_image(&fine, 1, 1);
        let coarse =
            load_cifar100(dir.path(), Subset::Train, Cifar100Labels::Coarse, Some(2)).unwrap();
        assert_eq!(coarse.labels, vec![3, 19]);
        assert_eq!(coarse.classes.len(), 20);
        assert_eq!(coarse.pixels, fine.pixels[..2 * IMAGE_LEN]);
    }

    #[test]
    fn cifar100_class_names_come_from_the_names_file() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("test.bin"), &[record(&[1, 0], 0)]);
        let names: String = (0..20).map(|i| format!("super{i}\n")).collect();
        fs::write(dir.path().join("coarse_label_names.txt"), names).unwrap();
        let set = load_cifar100(dir.path(), Subset::Test, Cifar100Labels::Coarse, None).unwrap();
        assert_eq!(set.classes[1], "super1");
        let fine = load_cifar100(dir.path(), Subset::Test, Cifar100Labels::Fine, None).unwrap();
        assert_eq!(fine.classes[0], "0");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn cifar_never_panics_on_garbage(bytes in prop::collection::vec(any::<u8>(), 0..8000)) {
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join("test_batch.bin"), &bytes).unwrap();
            fs::write(dir.path().join("test.bin"), &bytes).unwrap();
            let c10 = load_cifar10(dir.path(), Subset::Test, None);
            let whole = bytes.len() % 3073 == 0 && bytes.chunks(3073).all(|r| r[0] < 10);
            prop_assert_eq!(c10.is_ok(), whole);
            if let Ok(set) = c10 {
                prop_assert_eq!(set.pixels.len(), set.len() * IMAGE_LEN);
            }
            let _ = load_cifar100(dir.path(), Subset::Test, Cifar100Labels::Fine, Some(2));
        }
    }
}
