//! Exporting trained weights for use outside sslp: safetensors, the format
//! PyTorch, JAX and most model hubs read. (The store also keeps burn's own
//! record of every backbone, under the output `backbone`.)

use super::bytes::BytesError;
use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};

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
}
