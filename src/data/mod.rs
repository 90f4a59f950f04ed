//! Image datasets: the in-memory [`ImageSet`], its binary form for the
//! cache, and the loaders of every format the language names.
//!
//! Usable on its own: nothing here knows about the language or the store.
//! Every loader error names the file (and, for binary formats, the offset).
//!
//! - [`spec`]: [`DatasetSpec`], one variant per dataset kind, and [`load`],
//!   which dispatches to the loaders (they never import it: the option enums
//!   they take, [`Subset`] and the others, live in the leaf `options`);
//! - [`cifar`], [`stl10`], [`mnist`]: the binary formats of those datasets;
//! - [`folder`]: images in class subfolders, with optional masks;
//! - [`synthetic`]: procedural shapes with exact masks, needing no files;
//! - [`split`](mod@split): seeded (stratified) train/test/val splits and label subsets.
//!
//! Everything random comes from ChaCha8 streams turned into numbers by
//! this module's own code (no `rand` distributions, no trigonometry), so a
//! seed gives the same bytes on every machine and with every dependency
//! version.

pub mod cifar;
pub mod folder;
pub mod mnist;
mod options;
mod records;
mod rng;
pub mod spec;
pub mod split;
pub mod stl10;
pub mod synthetic;

pub use options::{Background, Cifar100Labels, MnistVariant, Stl10Subset, Subset};
pub use spec::{DatasetSpec, load};
pub use split::{Amount, Parts, SplitSpec, label_subset, split};

use std::io;
use std::path::{Path, PathBuf};

/// All images of a dataset, decoded: 8-bit pixels, HWC, every image the same size.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageSet {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// 1 (grey) or 3 (RGB).
    pub channels: u8,
    /// `len * height * width * channels` bytes, image after image.
    pub pixels: Vec<u8>,
    /// One label per image; -1 for unlabelled images.
    pub labels: Vec<i32>,
    /// Optional per-pixel masks, `len * height * width` bytes (0 = background).
    pub masks: Option<Vec<u8>>,
    /// Class names, indexed by label.
    pub classes: Vec<String>,
}

/// A problem reading a dataset. Always names the file.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DataError {
    /// The file or folder cannot be read.
    #[error("cannot read {path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        message: String,
    },
    /// The file does not have the expected format.
    #[error("{path}: {message} (at byte offset {offset})")]
    Format {
        /// The file.
        path: PathBuf,
        /// Byte offset of the problem.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// An image file cannot be decoded.
    #[error("{path}: cannot decode image: {message}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },
    /// The parameters do not describe a loadable dataset.
    #[error("{0}")]
    Invalid(String),
}

impl DataError {
    /// An [`DataError::Io`] for `path` from the OS error.
    pub fn io(path: impl Into<PathBuf>, err: &io::Error) -> DataError {
        DataError::Io {
            path: path.into(),
            message: err.to_string(),
        }
    }

    /// A [`DataError::Format`] for `path` at byte `offset`.
    pub fn format(path: impl Into<PathBuf>, offset: u64, message: impl Into<String>) -> DataError {
        DataError::Format {
            path: path.into(),
            offset,
            message: message.into(),
        }
    }
}

/// Reads a class-name file (one name per line, blank lines ignored), if it
/// exists. `expected` is the number of classes the format defines; a file
/// with another number of names is an error, since labels index into it.
fn read_class_names(path: &Path, expected: usize) -> Result<Option<Vec<String>>, DataError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DataError::io(path, &e)),
    };
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if names.len() != expected {
        return Err(DataError::Invalid(format!(
            "{}: expected {expected} class names (one per line), found {}",
            path.display(),
            names.len()
        )));
    }
    Ok(Some(names))
}

/// Class names `"0"`, `"1"`, ... for formats without a names file.
fn numbered_classes(count: usize) -> Vec<String> {
    (0..count).map(|i| i.to_string()).collect()
}

const MAGIC: &[u8; 8] = b"SSLPIMG1";

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image.
    pub fn image_len(&self) -> usize {
        self.width as usize * self.height as usize * self.channels as usize
    }

    /// The pixels of image `i` (HWC).
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The mask of image `i`, if the set has masks.
    pub fn mask(&self, i: usize) -> Option<&[u8]> {
        let n = self.width as usize * self.height as usize;
        self.masks.as_ref().map(|m| &m[i * n..(i + 1) * n])
    }

    /// The subset at the given indices, in that order.
    pub fn select(&self, indices: &[usize]) -> ImageSet {
        let n = self.image_len();
        let mut pixels = Vec::with_capacity(indices.len() * n);
        let mut labels = Vec::with_capacity(indices.len());
        let mut masks = self.masks.as_ref().map(|_| Vec::new());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
            if let (Some(out), Some(m)) = (masks.as_mut(), self.mask(i)) {
                out.extend_from_slice(m);
            }
        }
        ImageSet {
            width: self.width,
            height: self.height,
            channels: self.channels,
            pixels,
            labels,
            masks,
            classes: self.classes.clone(),
        }
    }

    /// Serialises to the cache's binary form (little-endian, versioned by magic).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.pixels.len() + self.labels.len() * 4);
        out.extend_from_slice(MAGIC);
        for v in [
            self.len() as u32,
            self.width,
            self.height,
            self.channels as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.push(u8::from(self.masks.is_some()));
        out.extend_from_slice(&(self.classes.len() as u32).to_le_bytes());
        for c in &self.classes {
            out.extend_from_slice(&(c.len() as u32).to_le_bytes());
            out.extend_from_slice(c.as_bytes());
        }
        for l in &self.labels {
            out.extend_from_slice(&l.to_le_bytes());
        }
        out.extend_from_slice(&self.pixels);
        if let Some(m) = &self.masks {
            out.extend_from_slice(m);
        }
        out
    }

    /// Reads the binary form; `what` names the source in errors.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<ImageSet, DataError> {
        let mut r = Reader {
            bytes,
            pos: 0,
            what,
        };
        if r.take(8)? != MAGIC {
            return Err(r.err("not an sslp image set"));
        }
        let n = r.u32()? as usize;
        let width = r.u32()?;
        let height = r.u32()?;
        let channels = r.u32()? as u8;
        let has_masks = r.take(1)?[0] == 1;
        let class_count = r.u32()? as usize;
        let mut classes = Vec::with_capacity(class_count.min(1 << 16));
        for _ in 0..class_count {
            let len = r.u32()? as usize;
            let s = r.take(len)?;
            classes.push(String::from_utf8_lossy(s).into_owned());
        }
        let mut labels = Vec::with_capacity(n.min(1 << 24));
        for _ in 0..n {
            labels.push(i32::from_le_bytes(r.take(4)?.try_into().unwrap_or([0; 4])));
        }
        let area = width as usize * height as usize;
        let pixels = r.take_n(n, area * channels as usize)?.to_vec();
        let masks = if has_masks {
            Some(r.take_n(n, area)?.to_vec())
        } else {
            None
        };
        Ok(ImageSet {
            width,
            height,
            channels,
            pixels,
            labels,
            masks,
            classes,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'a str,
}

impl Reader<'_> {
    fn err(&self, message: &str) -> DataError {
        DataError::Format {
            path: PathBuf::from(self.what),
            offset: self.pos as u64,
            message: message.to_string(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DataError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(self.err("truncated")),
        }
    }

    /// `count` items of `size` bytes; an overflowing product is truncation too.
    fn take_n(&mut self, count: usize, size: usize) -> Result<&[u8], DataError> {
        match count.checked_mul(size) {
            Some(n) => self.take(n),
            None => Err(self.err("truncated")),
        }
    }

    fn u32(&mut self) -> Result<u32, DataError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ImageSet {
        ImageSet {
            width: 2,
            height: 1,
            channels: 3,
            pixels: (0..12).collect(),
            labels: vec![0, -1],
            masks: Some(vec![0, 1, 1, 0]),
            classes: vec!["a".into()],
        }
    }

    #[test]
    fn bytes_round_trip() {
        let s = tiny();
        assert_eq!(ImageSet::from_bytes(&s.to_bytes(), "t").unwrap(), s);
    }

    #[test]
    fn truncated_bytes_are_an_error_with_offset() {
        let b = tiny().to_bytes();
        let err = ImageSet::from_bytes(&b[..b.len() - 1], "cache").unwrap_err();
        assert!(matches!(err, DataError::Format { .. }), "{err}");
        assert!(err.to_string().contains("truncated"));
    }

    #[test]
    fn select_keeps_masks_and_labels() {
        let s = tiny().select(&[1]);
        assert_eq!(s.labels, vec![-1]);
        assert_eq!(s.pixels, (6..12).collect::<Vec<u8>>());
        assert_eq!(s.masks, Some(vec![1, 0]));
    }
}
