//! Byte (de)serialisation of burn modules and raw tensors, for checkpoints and exact resume.

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Tensor, TensorData};

/// Why module or tensor bytes could not be written or read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BytesError {
    /// burn could not serialise the module.
    #[error("cannot serialise module: {0}")]
    Serialise(String),
    /// The bytes are not a module record burn can read.
    #[error("cannot read module bytes: {0}")]
    Unreadable(String),
    /// A readable record of another module structure.
    #[error("module bytes do not fit this module: {0}")]
    Mismatch(String),
    /// burn could not write the module as safetensors, or wrote a malformed header.
    #[error("cannot export safetensors: {0}")]
    Safetensors(String),
    /// A tensor's values could not be read as `f32`.
    #[error("cannot read tensor: {0}")]
    Tensor(String),
    /// A shape and value count that do not make a tensor of the rank asked for.
    #[error("tensor of shape {shape:?} with {values} values cannot be a rank-{rank} tensor")]
    Shape {
        /// The shape read.
        shape: Vec<usize>,
        /// The number of values read.
        values: usize,
        /// The rank asked for.
        rank: usize,
    },
    /// Truncated, foreign or otherwise malformed bytes (what is wrong).
    #[error("{0}")]
    Malformed(String),
}

fn malformed(message: impl Into<String>) -> BytesError {
    BytesError::Malformed(message.into())
}

/// Serialise a module's parameters and BN running stats (burnpack bytes), stats synced first.
/// The record keeps the module's own parameter ids, which the optimiser's state refers to:
/// this is the form for checkpoints.
pub fn module_to_bytes<M: Module>(m: &M) -> Result<Vec<u8>, BytesError> {
    record_bytes(m.clone())
}

/// Serialise a module as a step output: like [`module_to_bytes`], but with positional
/// parameter ids, so the same weights always give the same bytes (and the same blob).
pub fn module_to_output_bytes<M: Module>(m: &M) -> Result<Vec<u8>, BytesError> {
    // burn draws parameter ids at random when it builds a module, and its records store
    // them: number them by position instead, so identical weights give identical bytes.
    let mut bytes = record_bytes(m.clone())?;
    positional_header_ids(&mut bytes)?;
    Ok(bytes)
}

/// Rewrites every `param_id` in a burnpack header (`NRUB`, a format version, the CBOR header's
/// length, the CBOR header) with its position, each in the width it had, so offsets stay valid.
fn positional_header_ids(bytes: &mut [u8]) -> Result<(), BytesError> {
    const KEY: &[u8] = b"\x68param_id";
    if bytes.len() < 10 || &bytes[..4] != b"NRUB" {
        return Err(malformed("not a burnpack record"));
    }
    let len = u32::from_le_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]) as usize;
    let end = (10 + len).min(bytes.len());
    let mut next = 0u64;
    let mut i = 10;
    while i + KEY.len() < end {
        if &bytes[i..i + KEY.len()] != KEY {
            i += 1;
            continue;
        }
        let at = i + KEY.len();
        let width = match bytes[at] {
            0x00..=0x17 => 0,
            0x18 => 1,
            0x19 => 2,
            0x1a => 4,
            0x1b => 8,
            other => {
                return Err(malformed(format!(
                    "unexpected CBOR item {other:#x} for a parameter id"
                )));
            }
        };
        if at + 1 + width > end {
            return Err(malformed("a truncated parameter id"));
        }
        // Random ids take 8 bytes but for a 2^-32 chance; a position always fits that width.
        let value = next.to_be_bytes();
        match width {
            0 if next <= 0x17 => bytes[at] = next as u8,
            _ if width == 8 || next < 1u64 << (8 * width) => {
                bytes[at + 1..at + 1 + width].copy_from_slice(&value[8 - width..])
            }
            _ => {
                return Err(malformed(format!(
                    "parameter id {next} does not fit {width} bytes"
                )));
            }
        }
        next += 1;
        i = at + 1 + width;
    }
    Ok(())
}

fn record_bytes<M: Module>(m: M) -> Result<Vec<u8>, BytesError> {
    // Fold pending BatchNorm updates in; records otherwise read them one update late
    // (burn.md §6.2).
    let _ = m.valid();
    let bytes = m
        .into_record()
        .into_bytes()
        .map_err(|e| BytesError::Serialise(e.to_string()))?;
    Ok(bytes.to_vec())
}

/// Load bytes from [`module_to_bytes`] into a module of the same structure, keeping its device.
/// For a module built only to receive the bytes, use [`load_module`], which builds it under
/// [`super::trainer::INIT`].
pub fn module_from_bytes<M: Module>(m: M, bytes: &[u8]) -> Result<M, BytesError> {
    load_module(|| Ok::<M, BytesError>(m), bytes)
}

/// Builds a module with `build` and loads bytes from [`module_to_bytes`] into it.
///
/// Building draws weights from burn's one global generator (our constructors draw every
/// parameter at once; burn's lazy ones draw at first use, as `valid()` below), weights the
/// bytes then replace. So `build`, the load and any lazy draw happen under
/// [`super::trainer::INIT`], like every other draw: unlocked, they could fall between another
/// thread's `device.seed(..)` and its initialisation and change the weights it trains from.
/// Not reentrant: must not be called while holding `INIT`.
pub fn load_module<M: Module, E: From<BytesError>>(
    build: impl FnOnce() -> Result<M, E>,
    bytes: &[u8],
) -> Result<M, E> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| BytesError::Unreadable(e.to_string()))?;
    let _guard = super::trainer::init_lock();
    let m = build()?;
    // Drop pending running-stat updates of `m` now, so they cannot overwrite loaded values.
    let _ = m.valid();
    let m = m
        .try_load_record(record)
        .map_err(|e| BytesError::Mismatch(e.to_string()))?;
    // Anything the record left lazy is drawn now, under the lock, not at its first use.
    super::trainer::materialize(&m);
    Ok(m)
}

/// A tensor's values as `f32` plus its shape, for plain-data state files.
pub fn tensor_to_vec<const D: usize>(t: &Tensor<D>) -> Result<(Vec<usize>, Vec<f32>), BytesError> {
    let data = t.to_data();
    let shape = data.shape().as_slice().to_vec();
    let values = data
        .try_into_vec_as::<f32>()
        .map_err(|e| BytesError::Tensor(format!("{e:?}")))?;
    Ok((shape, values))
}

/// Rebuild a tensor from [`tensor_to_vec`] output on `like`'s device and dtype.
pub fn tensor_from_vec<const D: usize>(
    shape: &[usize],
    values: Vec<f32>,
    like: &Tensor<D>,
) -> Result<Tensor<D>, BytesError> {
    if shape.len() != D || shape.iter().product::<usize>() != values.len() {
        return Err(BytesError::Shape {
            shape: shape.to_vec(),
            values: values.len(),
            rank: D,
        });
    }
    Ok(Tensor::from_data(
        TensorData::new(values, shape.to_vec()),
        (&like.device(), like.dtype()),
    ))
}

/// Magic prefix of a [`Sections`] container (version 1).
const SECTIONS_MAGIC: &[u8; 8] = b"SSLPSEC1";

/// A flat container of named byte sections, for multi-part state files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sections {
    entries: Vec<(String, Vec<u8>)>,
}

impl Sections {
    /// An empty container.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a section (names should be unique; `get` returns the first).
    pub fn push(&mut self, name: &str, data: Vec<u8>) {
        self.entries.push((name.to_string(), data));
    }

    /// The data of section `name`, if present.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.as_slice())
    }

    /// Serialises as magic, count, then (name length, name, data length, data) per section.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(SECTIONS_MAGIC);
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for (name, data) in &self.entries {
            out.extend_from_slice(&(name.len() as u64).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&(data.len() as u64).to_le_bytes());
            out.extend_from_slice(data);
        }
        out
    }

    /// Parses [`Sections::to_bytes`] output; truncated or foreign data is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BytesError> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(SECTIONS_MAGIC.len())? != SECTIONS_MAGIC {
            return Err(malformed("not an sslp state file (bad magic)"));
        }
        let count = r.u64()?;
        let mut entries = Vec::new();
        for _ in 0..count {
            let name_len = r.len()?;
            let name = std::str::from_utf8(r.take(name_len)?)
                .map_err(|_| malformed("state file: section name is not UTF-8"))?
                .to_string();
            let data_len = r.len()?;
            entries.push((name, r.take(data_len)?.to_vec()));
        }
        if r.pos != bytes.len() {
            return Err(malformed("state file: trailing bytes"));
        }
        Ok(Self { entries })
    }
}

/// Bounds-checked little-endian reader.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BytesError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| malformed("state file: truncated"))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u64(&mut self) -> Result<u64, BytesError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    fn len(&mut self) -> Result<usize, BytesError> {
        usize::try_from(self.u64()?).map_err(|_| malformed("state file: length overflow"))
    }
}

/// Encodes a tensor as rank, dims and `f32` little-endian values.
pub fn tensor_to_bytes<const D: usize>(t: &Tensor<D>) -> Result<Vec<u8>, BytesError> {
    let (shape, values) = tensor_to_vec(t)?;
    let mut out = Vec::with_capacity(8 * (shape.len() + 1) + 4 * values.len());
    out.extend_from_slice(&(shape.len() as u64).to_le_bytes());
    for d in &shape {
        out.extend_from_slice(&(*d as u64).to_le_bytes());
    }
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

/// Decodes [`tensor_to_bytes`] output onto `like`'s device and dtype; rank must be `D`.
pub fn tensor_from_bytes<const D: usize>(
    bytes: &[u8],
    like: &Tensor<D>,
) -> Result<Tensor<D>, BytesError> {
    let mut r = Reader { bytes, pos: 0 };
    let rank = r.len()?;
    if rank != D {
        return Err(malformed(format!(
            "state file: expected a rank-{D} tensor, found rank {rank}"
        )));
    }
    let mut shape = Vec::with_capacity(D);
    for _ in 0..D {
        shape.push(r.len()?);
    }
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| malformed("state file: tensor size overflow"))?;
    let raw = r.take(
        n.checked_mul(4)
            .ok_or_else(|| malformed("state file: tensor size overflow"))?,
    )?;
    if r.pos != bytes.len() {
        return Err(malformed("state file: trailing tensor bytes"));
    }
    let values = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    tensor_from_vec(&shape, values, like)
}
