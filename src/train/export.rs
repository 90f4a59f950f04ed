//! Exporting trained weights for use outside sslp: safetensors, the format
//! PyTorch, JAX and most model hubs read. (The store also keeps burn's own
//! record of every backbone, under the output `backbone`.)

use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};

/// A module's parameters and BatchNorm statistics as a safetensors file's bytes.
pub fn module_to_safetensors<M: Module>(m: &M) -> Result<Vec<u8>, String> {
    // Fold pending BatchNorm updates in first (burn.md §6.2).
    let m = m.valid();
    let mut store = SafetensorsStore::from_bytes(None);
    m.save_into(&mut store)
        .map_err(|e| format!("cannot export safetensors: {e}"))?;
    store
        .get_bytes()
        .map_err(|e| format!("cannot export safetensors: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::Device;

    #[test]
    fn exports_named_tensors() {
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
