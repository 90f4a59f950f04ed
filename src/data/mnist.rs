//! MNIST and Fashion-MNIST in IDX format, plain or gzipped.
//!
//! An IDX file starts with a big-endian magic number `0x000008DD` (`08`:
//! unsigned bytes, `DD`: the number of dimensions), then one big-endian
//! `u32` per dimension, then the data, row-major. Images are
//! `0x00000803` (count, rows, columns), labels `0x00000801` (count). The
//! files are `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
//! `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each possibly
//! with a `.gz` suffix. Offsets in errors about a `.gz` file count
//! decompressed bytes.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::options::{MnistVariant, Subset};
use super::{DataError, ImageSet, numbered_classes};

const CLASSES: usize = 10;

/// Fashion-MNIST's class names, by label.
pub const FASHION_CLASSES: [&str; CLASSES] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Loads the `subset` (`train` or `t10k` files) of MNIST or Fashion-MNIST
/// from `root`, as grey images (one channel). Each file is read as is, or
/// with `.gz` appended when only that exists. With `limit`, only the first
/// `limit` images and labels are read. Labels must be 0 to 9; the variant
/// only chooses the class names.
pub fn load(
    root: &Path,
    subset: Subset,
    variant: MnistVariant,
    limit: Option<usize>,
) -> Result<ImageSet, DataError> {
    let [images_path, labels_path] = files(root, subset);
    let (images_path, reader) = open(&images_path)?;
    let images = read_idx(reader, &images_path, 3, limit)?;
    let (labels_path, reader) = open(&labels_path)?;
    let labels = read_idx(reader, &labels_path, 1, limit)?;

    if labels.count != images.count {
        return Err(DataError::format(
            &labels_path,
            4,
            format!(
                "{} labels for the {} images of {}",
                labels.count,
                images.count,
                images_path.display()
            ),
        ));
    }
    let header_len = labels.header_len();
    let labels = labels
        .data
        .iter()
        .enumerate()
        .map(|(i, &label)| {
            if usize::from(label) < CLASSES {
                Ok(i32::from(label))
            } else {
                Err(DataError::format(
                    &labels_path,
                    header_len + i as u64,
                    format!("label {label} out of range (0..{CLASSES})"),
                ))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let classes = match variant {
        MnistVariant::Mnist => numbered_classes(CLASSES),
        MnistVariant::Fashion => FASHION_CLASSES.map(String::from).to_vec(),
    };
    Ok(ImageSet {
        width: images.dims[2],
        height: images.dims[1],
        channels: 1,
        pixels: images.data,
        labels,
        masks: None,
        classes,
    })
}

/// The images and labels files [`load`] reads for `subset`: each as is, or
/// with `.gz` appended when only that exists. This is the one listing the
/// loader and the content fingerprint (`exec::fingerprint`) share.
pub fn files(root: &Path, subset: Subset) -> [PathBuf; 2] {
    let prefix = match subset {
        Subset::Train => "train",
        Subset::Test => "t10k",
    };
    ["images-idx3-ubyte", "labels-idx1-ubyte"].map(|name| {
        let path = root.join(format!("{prefix}-{name}"));
        let gz = gz_path(&path);
        if !path.exists() && gz.is_file() {
            gz
        } else {
            path
        }
    })
}

fn gz_path(path: &Path) -> PathBuf {
    let mut gz_name = path.as_os_str().to_owned();
    gz_name.push(".gz");
    PathBuf::from(gz_name)
}

/// Opens a path from [`files`], decompressing a `.gz` one, and returns it.
fn open(path: &Path) -> Result<(PathBuf, Box<dyn Read>), DataError> {
    let is_gz = path.extension().is_some_and(|e| e == "gz");
    match File::open(path) {
        Ok(file) if is_gz => Ok((
            path.to_path_buf(),
            Box::new(MultiGzDecoder::new(BufReader::new(file))),
        )),
        Ok(file) => Ok((path.to_path_buf(), Box::new(BufReader::new(file)))),
        Err(e) if e.kind() == io::ErrorKind::NotFound && !is_gz => Err(DataError::Io {
            path: path.to_path_buf(),
            message: format!("not found, nor {}", gz_path(path).display()),
        }),
        Err(e) => Err(DataError::io(path, &e)),
    }
}

/// The header of an IDX file and the data of its first items.
#[derive(Debug)]
struct Idx {
    /// The dimensions, the item count first.
    dims: Vec<u32>,
    /// Items in the file (the first dimension).
    count: usize,
    /// The data of the items read.
    data: Vec<u8>,
}

impl Idx {
    fn header_len(&self) -> u64 {
        4 + 4 * self.dims.len() as u64
    }
}

/// Reads an IDX file of unsigned bytes with `rank` dimensions from
/// `reader`: its header, then the data of its first `limit` items (all
/// without a limit). `path` names the file in errors.
fn read_idx(
    mut reader: impl Read,
    path: &Path,
    rank: u8,
    limit: Option<usize>,
) -> Result<Idx, DataError> {
    let header_len = 4 + 4 * usize::from(rank);
    let mut header = vec![0; header_len];
    let got = read_full(&mut reader, &mut header).map_err(|e| read_error(path, 0, &e))?;
    if got < 4 || header[..4] != [0, 0, 0x08, rank] {
        let expected = 0x0800 | u32::from(rank);
        let found = match got {
            4.. => format!(
                "0x{:08x}",
                u32::from_be_bytes([header[0], header[1], header[2], header[3]])
            ),
            _ => "end of file".into(),
        };
        return Err(DataError::format(
            path,
            0,
            format!(
                "not an IDX file of rank {rank}: magic 0x{expected:08x} expected, {found} found"
            ),
        ));
    }
    if got < header_len {
        return Err(DataError::format(path, got as u64, "truncated header"));
    }
    let dims: Vec<u32> = header[4..]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let count = dims[0] as usize;
    let item_len = dims[1..]
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d as usize));
    let wanted = limit.map_or(count, |l| l.min(count));
    let (item_len, total) = match item_len.and_then(|n| Some((n, wanted.checked_mul(n)?))) {
        Some((n, total)) if n > 0 => (n, total),
        _ => {
            return Err(DataError::format(
                path,
                4,
                format!("unusable dimensions {dims:?}"),
            ));
        }
    };

    // Grows as data arrives: a garbage header cannot make a huge allocation.
    let mut data = Vec::with_capacity(total.min(1 << 26));
    reader
        .take(total as u64)
        .read_to_end(&mut data)
        .map_err(|e| read_error(path, (header_len + data.len()) as u64, &e))?;
    if data.len() < total {
        let item = data.len() / item_len;
        return Err(DataError::format(
            path,
            (header_len + item * item_len) as u64,
            format!("truncated: the header announces {count} items, but item {item} is incomplete"),
        ));
    }
    Ok(Idx { dims, count, data })
}

/// Fills `buf` as far as the data goes; returns the number of bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A read error: corrupt compressed data is a format error at `offset`
/// (decompressed); anything else is the OS's.
fn read_error(path: &Path, offset: u64, err: &io::Error) -> DataError {
    let gz = path.extension().is_some_and(|e| e == "gz");
    let corrupt = matches!(
        err.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
    );
    if gz && corrupt {
        DataError::format(path, offset, format!("corrupt gzip data: {err}"))
    } else {
        DataError::io(path, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use proptest::prelude::*;
    use std::fs;
    use std::io::Write;

    fn idx(rank: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0, 0, 8, rank];
        for d in dims {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes.extend_from_slice(data);
        bytes
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// Three 2x3 images whose pixel (r, c) of image i is 100 i + 10 r + c.
    fn images() -> Vec<u8> {
        let pixels: Vec<u8> = (0..3u8)
            .flat_map(|i| (0..2u8).flat_map(move |r| (0..3u8).map(move |c| 100 * i + 10 * r + c)))
            .collect();
        idx(3, &[3, 2, 3], &pixels)
    }

    fn write_set(dir: &Path, prefix: &str, gz: bool, images: &[u8], labels: &[u8]) {
        let files = [("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)];
        for (name, bytes) in files {
            let name = format!("{prefix}-{name}");
            match gz {
                true => fs::write(dir.join(name + ".gz"), gzip(bytes)),
                false => fs::write(dir.join(name), bytes),
            }
            .unwrap();
        }
    }

    #[test]
    fn plain_and_gz_files_give_the_same_images() {
        let dir = tempfile::tempdir().unwrap();
        let labels = idx(1, &[3], &[7, 0, 9]);
        write_set(dir.path(), "train", false, &images(), &labels);
        write_set(dir.path(), "t10k", true, &images(), &labels);
        let train = load(dir.path(), Subset::Train, MnistVariant::Mnist, None).unwrap();
        let test = load(dir.path(), Subset::Test, MnistVariant::Mnist, None).unwrap();
        assert_eq!(train, test);
        assert_eq!(
            (train.len(), train.width, train.height, train.channels),
            (3, 3, 2, 1)
        );
        assert_eq!(train.labels, vec![7, 0, 9]);
        assert_eq!(train.image(2), &[200, 201, 202, 210, 211, 212]);
        assert_eq!(train.classes[7], "7");
    }

    #[test]
    fn limit_and_fashion_names() {
        let dir = tempfile::tempdir().unwrap();
        write_set(
            dir.path(),
            "t10k",
            true,
            &images(),
            &idx(1, &[3], &[9, 1, 2]),
        );
        let set = load(dir.path(), Subset::Test, MnistVariant::Fashion, Some(2)).unwrap();
        assert_eq!(set.labels, vec![9, 1]);
        assert_eq!(set.pixels.len(), 12);
        assert_eq!(set.classes[9], "Ankle boot");
    }

    #[test]
    fn truncated_images_are_a_format_error_at_the_incomplete_image() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = images();
        write_set(
            dir.path(),
            "train",
            false,
            &bytes[..bytes.len() - 1],
            &idx(1, &[3], &[1, 2, 3]),
        );
        let err = load(dir.path(), Subset::Train, MnistVariant::Mnist, None).unwrap_err();
        assert_eq!(
            err,
            DataError::format(
                dir.path().join("train-images-idx3-ubyte"),
                16 + 12,
                "truncated: the header announces 3 items, but item 2 is incomplete"
            )
        );
        // Also through gzip, where the offset counts decompressed bytes.
        write_set(
            dir.path(),
            "t10k",
            true,
            &bytes[..17],
            &idx(1, &[3], &[1, 2, 3]),
        );
        let err = load(dir.path(), Subset::Test, MnistVariant::Mnist, None).unwrap_err();
        assert!(
            matches!(&err, DataError::Format { path, offset: 16, .. } if path.ends_with("t10k-images-idx3-ubyte.gz")),
            "{err:?}"
        );
    }

    #[test]
    fn header_problems_are_format_errors() {
        let dir = tempfile::tempdir().unwrap();
        let labels_path = dir.path().join("train-labels-idx1-ubyte");
        write_set(
            dir.path(),
            "train",
            false,
            &images(),
            &idx(1, &[2], &[1, 2]),
        );
        let err = load(dir.path(), Subset::Train, MnistVariant::Mnist, None).unwrap_err();
        assert!(matches!(&err, DataError::Format { path, offset: 4, .. } if *path == labels_path));
        assert!(
            err.to_string().contains("2 labels for the 3 images"),
            "{err}"
        );

        // Labels where images are expected.
        write_set(
            dir.path(),
            "train",
            false,
            &idx(1, &[3], &[1, 2, 3]),
            &idx(1, &[3], &[1, 2, 3]),
        );
        let err = load(dir.path(), Subset::Train, MnistVariant::Mnist, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("magic 0x00000803 expected, 0x00000801 found"),
            "{err}"
        );

        write_set(
            dir.path(),
            "train",
            false,
            &images(),
            &idx(1, &[3], &[1, 12, 3]),
        );
        let err = load(dir.path(), Subset::Train, MnistVariant::Mnist, None).unwrap_err();
        assert_eq!(
            err,
            DataError::format(&labels_path, 9, "label 12 out of range (0..10)")
        );
    }

    #[test]
    fn missing_files_are_io_errors_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path(), Subset::Train, MnistVariant::Mnist, None).unwrap_err();
        let expected = dir.path().join("train-images-idx3-ubyte");
        assert!(
            matches!(&err, DataError::Io { path, .. } if *path == expected),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("train-images-idx3-ubyte.gz"),
            "{err}"
        );
    }

    #[test]
    fn corrupt_gzip_is_a_format_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train-images-idx3-ubyte.gz");
        let gz = gzip(&images());
        let mut garbled = gz.clone();
        garbled[10..].fill(0xFF); // after the gzip header
        for damaged in [&gz[..gz.len() / 2], &garbled] {
            fs::write(&path, damaged).unwrap();
            let err = load(dir.path(), Subset::Train, MnistVariant::Mnist, None).unwrap_err();
            assert!(
                matches!(&err, DataError::Format { path: p, message, .. } if *p == path && message.starts_with("corrupt gzip data")),
                "{err:?}"
            );
        }
    }

    #[test]
    fn real_mnist_5k_sample() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist-5k");
        if !root.is_dir() {
            println!("skipping: {} is absent", root.display());
            return;
        }
        let train = load(&root, Subset::Train, MnistVariant::Mnist, None).unwrap();
        let test = load(&root, Subset::Test, MnistVariant::Mnist, None).unwrap();
        assert_eq!((train.len(), test.len()), (4000, 1000));
        assert_eq!((train.width, train.height, train.channels), (28, 28, 1));
        let mut per_class = [0; 10];
        for &l in &train.labels {
            per_class[l as usize] += 1;
        }
        assert_eq!(per_class, [400; 10]);
        // Digits: dark borders, some full-intensity strokes.
        let img = train.image(0);
        assert_eq!(img[0], 0);
        assert!(img.iter().any(|&p| p > 200));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn idx_never_panics_on_garbage(bytes in prop::collection::vec(any::<u8>(), 0..64), rank in 1u8..4) {
            let _ = read_idx(&bytes[..], Path::new("x"), rank, None);
        }

        #[test]
        fn idx_never_panics_on_a_valid_magic_and_garbage(
            dims in prop::collection::vec(any::<u32>(), 3),
            data in prop::collection::vec(any::<u8>(), 0..256),
        ) {
            let bytes = idx(3, &dims, &data);
            if let Ok(idx) = read_idx(&bytes[..], Path::new("x"), 3, Some(4)) {
                let item_len = dims[1] as usize * dims[2] as usize;
                prop_assert_eq!(idx.data.len(), item_len * (dims[0] as usize).min(4));
            }
        }
    }
}
