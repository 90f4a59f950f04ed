//! STL-10 in its binary format.
//!
//! `*_X.bin` holds 96x96 RGB images of 27,648 bytes each: three planes
//! (red, green, blue) of 96x96 bytes, each plane in **column-major** order
//! (the byte at `col * 96 + row` is the pixel at `row`, `col`; the
//! reference reader reshapes to `(3, 96, 96)` and transposes to
//! `(96, 96, 3)` with axes `(2, 1, 0)`). `*_y.bin` holds one label byte per
//! image, 1 to 10, stored here as 0 to 9; `unlabeled_X.bin` has no labels
//! (stored as -1). Images are converted to row-major HWC.

use std::path::{Path, PathBuf};

use super::options::Stl10Subset;
use super::records::Records;
use super::{DataError, ImageSet, numbered_classes, read_class_names};

const SIDE: usize = 96;
const AREA: usize = SIDE * SIDE;
const IMAGE_LEN: usize = 3 * AREA;
const CLASSES: usize = 10;

/// Loads the `subset` of STL-10 from `root`: `train_X.bin` with
/// `train_y.bin`, `test_X.bin` with `test_y.bin`, `unlabeled_X.bin`, or the
/// train images followed by the unlabelled ones. With `limit`, only the
/// first `limit` images are read. Class names come from `class_names.txt`
/// if present, else they are `"0"` to `"9"`.
pub fn load(root: &Path, subset: Stl10Subset, limit: Option<usize>) -> Result<ImageSet, DataError> {
    let (files, names) = files(root, subset);
    let classes = read_class_names(&names, CLASSES)?.unwrap_or_else(|| numbered_classes(CLASSES));

    // Open every file needed, and read the labels, before reading images.
    let mut parts = Vec::with_capacity(files.len());
    let mut remaining = limit;
    for (images, labels) in files {
        if remaining == Some(0) {
            break;
        }
        let records = Records::open(&images, IMAGE_LEN, remaining)?;
        remaining = remaining.map(|r| r - records.count());
        let labels = match labels {
            Some(path) => read_labels(&path, &records)?,
            None => vec![-1; records.count()],
        };
        parts.push((records, labels));
    }

    let total: usize = parts.iter().map(|(records, _)| records.count()).sum();
    let mut pixels = vec![0; total * IMAGE_LEN];
    let mut all_labels = Vec::with_capacity(total);
    let mut read = 0;
    for (mut records, labels) in parts {
        while let Some(record) = records.next_record()? {
            column_major_to_hwc(
                record,
                &mut pixels[read * IMAGE_LEN..(read + 1) * IMAGE_LEN],
            );
            read += 1;
        }
        all_labels.extend(labels);
    }
    Ok(ImageSet {
        width: SIDE as u32,
        height: SIDE as u32,
        channels: 3,
        pixels,
        labels: all_labels,
        masks: None,
        classes,
    })
}

/// The (images, labels) files [`load`] reads for `subset`, in order (with
/// a limit, only the first ones are needed), and its optional class-names
/// file. The one listing the loader and the content fingerprint share.
pub fn files(root: &Path, subset: Stl10Subset) -> (Vec<(PathBuf, Option<PathBuf>)>, PathBuf) {
    let labelled = |x: &str, y: &str| (root.join(x), Some(root.join(y)));
    let train = || labelled("train_X.bin", "train_y.bin");
    let unlabeled = || (root.join("unlabeled_X.bin"), None);
    let files = match subset {
        Stl10Subset::Train => vec![train()],
        Stl10Subset::Test => vec![labelled("test_X.bin", "test_y.bin")],
        Stl10Subset::Unlabeled => vec![unlabeled()],
        Stl10Subset::TrainUnlabeled => vec![train(), unlabeled()],
    };
    (files, root.join("class_names.txt"))
}

/// The labels (0-based) of the images `records` will yield, from the label
/// file `path`, which must have one byte per image in the images file.
fn read_labels(path: &Path, records: &Records) -> Result<Vec<i32>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, &e))?;
    if bytes.len() != records.total() {
        return Err(DataError::format(
            path,
            bytes.len().min(records.total()) as u64,
            format!(
                "{} labels for the {} images of {}",
                bytes.len(),
                records.total(),
                records.path().display()
            ),
        ));
    }
    bytes[..records.count()]
        .iter()
        .enumerate()
        .map(|(i, &label)| match label {
            1..=10 => Ok(i32::from(label) - 1),
            _ => Err(DataError::format(
                path,
                i as u64,
                format!("label {label} out of range (1..=10)"),
            )),
        })
        .collect()
}

/// Converts three column-major planes into one row-major HWC image.
fn column_major_to_hwc(planes: &[u8], out: &mut [u8]) {
    for (c, plane) in planes.chunks_exact(AREA).enumerate() {
        for (col, column) in plane.chunks_exact(SIDE).enumerate() {
            for (row, &v) in column.iter().enumerate() {
                out[(row * SIDE + col) * 3 + c] = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn value(seed: u8, c: usize, row: usize, col: usize) -> u8 {
        (usize::from(seed) * 11 + c * 70 + row * 2 + col * 5) as u8
    }

    /// Image `seed` in the STL-10 layout: per channel, column after column.
    fn image(seed: u8) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(IMAGE_LEN);
        for c in 0..3 {
            for col in 0..SIDE {
                bytes.extend((0..SIDE).map(|row| value(seed, c, row, col)));
            }
        }
        bytes
    }

    fn write_images(path: &Path, seeds: &[u8]) {
        let bytes: Vec<u8> = seeds.iter().flat_map(|&s| image(s)).collect();
        fs::write(path, bytes).unwrap();
    }

    fn assert_image(set: &ImageSet, i: usize, seed: u8) {
        let img = set.image(i);
        for (row, col) in [(0, 0), (0, 1), (1, 0), (95, 3), (40, 77)] {
            for c in 0..3 {
                assert_eq!(
                    img[(row * SIDE + col) * 3 + c],
                    value(seed, c, row, col),
                    "{row},{col}"
                );
            }
        }
    }

    #[test]
    fn train_is_column_major_with_labels_shifted_to_zero() {
        let dir = tempfile::tempdir().unwrap();
        write_images(&dir.path().join("train_X.bin"), &[0, 1, 2]);
        fs::write(dir.path().join("train_y.bin"), [1, 10, 4]).unwrap();
        let set = load(dir.path(), Stl10Subset::Train, None).unwrap();
        assert_eq!(
            (set.len(), set.width, set.height, set.channels),
            (3, 96, 96, 3)
        );
        assert_eq!(set.labels, vec![0, 9, 3]);
        for i in 0..3 {
            assert_image(&set, i, i as u8);
        }
    }

    #[test]
    fn train_unlabeled_appends_unlabelled_images_and_respects_limit() {
        let dir = tempfile::tempdir().unwrap();
        write_images(&dir.path().join("train_X.bin"), &[0, 1]);
        fs::write(dir.path().join("train_y.bin"), [2, 3]).unwrap();
        write_images(&dir.path().join("unlabeled_X.bin"), &[5, 6, 7]);
        let names: String = (0..10).map(|i| format!("class{i}\n")).collect();
        fs::write(dir.path().join("class_names.txt"), names).unwrap();

        let set = load(dir.path(), Stl10Subset::TrainUnlabeled, None).unwrap();
        assert_eq!(set.labels, vec![1, 2, -1, -1, -1]);
        assert_eq!(set.classes[2], "class2");
        assert_image(&set, 3, 6);

        let set = load(dir.path(), Stl10Subset::TrainUnlabeled, Some(3)).unwrap();
        assert_eq!(set.labels, vec![1, 2, -1]);
        assert_image(&set, 2, 5);

        let set = load(dir.path(), Stl10Subset::Unlabeled, Some(1)).unwrap();
        assert_eq!(set.labels, vec![-1]);
        assert_image(&set, 0, 5);
    }

    #[test]
    fn label_problems_are_format_errors_in_the_label_file() {
        let dir = tempfile::tempdir().unwrap();
        let y = dir.path().join("test_y.bin");
        write_images(&dir.path().join("test_X.bin"), &[0, 1]);
        fs::write(&y, [1]).unwrap();
        let err = load(dir.path(), Stl10Subset::Test, None).unwrap_err();
        assert!(
            matches!(&err, DataError::Format { path, offset: 1, .. } if *path == y),
            "{err:?}"
        );

        fs::write(&y, [1, 0]).unwrap();
        let err = load(dir.path(), Stl10Subset::Test, None).unwrap_err();
        assert_eq!(
            err,
            DataError::format(&y, 1, "label 0 out of range (1..=10)")
        );
    }

    #[test]
    fn truncated_and_missing_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let x = dir.path().join("test_X.bin");
        let mut bytes = image(0);
        bytes.extend_from_slice(&image(1)[..5000]);
        fs::write(&x, bytes).unwrap();
        fs::write(dir.path().join("test_y.bin"), [1, 2]).unwrap();
        let err = load(dir.path(), Stl10Subset::Test, None).unwrap_err();
        assert!(
            matches!(&err, DataError::Format { path, offset, .. } if *path == x && *offset == IMAGE_LEN as u64),
            "{err:?}"
        );
        assert_eq!(
            load(dir.path(), Stl10Subset::Test, Some(1)).unwrap().len(),
            1
        );

        let err = load(dir.path(), Stl10Subset::Train, None).unwrap_err();
        assert!(matches!(&err, DataError::Io { path, .. } if path.ends_with("train_X.bin")));
    }
}
