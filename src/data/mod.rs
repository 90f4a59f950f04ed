//! Image datasets: the in-memory [`ImageSet`], its binary form for the
//! cache, and the loaders of every format the language names.
//!
//! Usable on its own: nothing here knows about the language or the store.
//! Every loader error names the file (and, for binary formats, the offset).

use std::path::PathBuf;

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
        for v in [self.len() as u32, self.width, self.height, self.channels as u32] {
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
        let mut r = Reader { bytes, pos: 0, what };
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
        let image_len = width as usize * height as usize * channels as usize;
        let pixels = r.take(n * image_len)?.to_vec();
        let masks = if has_masks {
            Some(r.take(n * width as usize * height as usize)?.to_vec())
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
