//! Exporting trained weights for use outside sslp: safetensors, the format
//! PyTorch, JAX and most model hubs read. Two namings: burn's own
//! ([`module_to_safetensors`], what a `pretrain` step stores as
//! `backbone.safetensors`) and PyTorch's ([`torchvision`]: torchvision's
//! ResNet names, timm's ViT names, loadable with `load_state_dict(strict=True)`).
//! (The store also keeps burn's own record of every backbone, under the output
//! `backbone`.)

pub mod torchvision;

use super::bytes::BytesError;
use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use std::collections::BTreeMap;

/// A module's parameters and BatchNorm statistics as a safetensors file's bytes.
pub fn module_to_safetensors<M: Module>(m: &M) -> Result<Vec<u8>, BytesError> {
    // Fold pending BatchNorm updates in first (burn.md §6.2).
    let m = m.valid();
    let mut store = SafetensorsStore::from_bytes(None);
    m.save_into(&mut store)
        .map_err(|e| BytesError::Safetensors(e.to_string()))?;
    let bytes = store
        .get_bytes()
        .map_err(|e| BytesError::Safetensors(e.to_string()))?;
    canonical_header(&bytes)
}

/// The same safetensors file with its JSON header's keys sorted (burn writes its
/// `__metadata__` in hash order), so the same weights always give the same bytes.
fn canonical_header(bytes: &[u8]) -> Result<Vec<u8>, BytesError> {
    let bad = || BytesError::Safetensors("a malformed header".into());
    let len = u64::from_le_bytes(
        bytes
            .get(..8)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?,
    );
    let end = 8usize
        .checked_add(len as usize)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(bad)?;
    // serde_json's map is ordered by key.
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..end]).map_err(|_| bad())?;
    let mut text = serde_json::to_vec(&header).map_err(|_| bad())?;
    // The data section stays 8-byte aligned; trailing spaces are allowed by the format.
    while text.len() % 8 != 0 {
        text.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + bytes.len() - end);
    out.extend((text.len() as u64).to_le_bytes());
    out.extend(text);
    out.extend(&bytes[end..]);
    Ok(out)
}

/// A tensor's element type in a safetensors file written by [`safetensors_bytes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// 32-bit float (`F32`).
    F32,
    /// 64-bit signed integer (`I64`), as PyTorch's `num_batches_tracked`.
    I64,
}

impl Dtype {
    /// The name safetensors gives the type.
    fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::I64 => "I64",
        }
    }

    /// Bytes per element.
    fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::I64 => 8,
        }
    }
}

/// One tensor to write: its element type, shape and little-endian bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct RawTensor {
    /// Element type.
    pub dtype: Dtype,
    /// Shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// The values, little-endian, row-major.
    pub data: Vec<u8>,
}

impl RawTensor {
    /// An `F32` tensor; `None` when the values do not fill the shape.
    pub fn f32(shape: Vec<usize>, values: &[f32]) -> Option<Self> {
        (shape.iter().product::<usize>() == values.len()).then(|| Self {
            dtype: Dtype::F32,
            shape,
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        })
    }

    /// An `I64` scalar (shape `[]`).
    pub fn i64_scalar(value: i64) -> Self {
        Self {
            dtype: Dtype::I64,
            shape: vec![],
            data: value.to_le_bytes().to_vec(),
        }
    }
}

/// A safetensors file of named tensors and string metadata, the same bytes for the same
/// input: the header's keys sorted, the data laid out by element size (largest first, so
/// every tensor is aligned to its element size) then by name, as the `safetensors`
/// library itself orders them.
pub fn safetensors_bytes(
    tensors: &BTreeMap<String, RawTensor>,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>, BytesError> {
    let mut order: Vec<(&String, &RawTensor)> = tensors.iter().collect();
    order.sort_by(|a, b| b.1.dtype.size().cmp(&a.1.dtype.size()).then(a.0.cmp(b.0)));
    let mut header: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut offset = 0usize;
    for (name, t) in &order {
        if t.shape.iter().product::<usize>() * t.dtype.size() != t.data.len() {
            return Err(BytesError::Safetensors(format!(
                "tensor `{name}` of shape {:?} has {} bytes",
                t.shape,
                t.data.len()
            )));
        }
        let end = offset + t.data.len();
        header.insert(
            (*name).clone(),
            serde_json::json!({
                "dtype": t.dtype.name(),
                "shape": t.shape,
                "data_offsets": [offset, end],
            }),
        );
        offset = end;
    }
    if !metadata.is_empty() {
        header.insert("__metadata__".into(), serde_json::json!(metadata));
    }
    // A BTreeMap serialises in key order: the header is canonical.
    let mut text =
        serde_json::to_vec(&header).map_err(|e| BytesError::Safetensors(e.to_string()))?;
    while text.len() % 8 != 0 {
        text.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + offset);
    out.extend((text.len() as u64).to_le_bytes());
    out.extend(text);
    for (_, t) in order {
        out.extend(&t.data);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::Device;

    #[test]
    fn exports_named_tensors() {
        let _rng = crate::train::trainer::init_lock(); // draws from burn's generator
        let layer = LinearConfig::new(3, 2).init(&Device::flex());
        let bytes = module_to_safetensors(&layer).unwrap();
        // A safetensors file: an 8-byte header length, then a JSON header naming the tensors.
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
        assert!(
            header.contains("weight") && header.contains("bias"),
            "{header}"
        );
    }

    #[test]
    fn writes_a_sorted_aligned_safetensors_file() {
        let mut tensors = BTreeMap::new();
        tensors.insert(
            "b".to_string(),
            RawTensor::f32(vec![3], &[1.0, 2.0, 3.0]).unwrap(),
        );
        tensors.insert("a".to_string(), RawTensor::i64_scalar(7));
        let meta = BTreeMap::from([("z".to_string(), "1".to_string())]);
        let bytes = safetensors_bytes(&tensors, &meta).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(n % 8, 0);
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
        // The 8-byte integer first, then the floats.
        assert_eq!(header["a"]["data_offsets"], serde_json::json!([0, 8]));
        assert_eq!(header["a"]["shape"], serde_json::json!([]));
        assert_eq!(header["b"]["data_offsets"], serde_json::json!([8, 20]));
        assert_eq!(header["__metadata__"]["z"], "1");
        assert_eq!(bytes.len(), 8 + n + 20);
        assert_eq!(&bytes[8 + n..8 + n + 8], &7i64.to_le_bytes());
        assert!(RawTensor::f32(vec![2], &[1.0]).is_none());
    }
}
