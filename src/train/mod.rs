//! Training with burn: backbones, heads, the eight SSL methods and their
//! losses, optimisers and schedules, and the pretraining loop with
//! checkpoints. CPU through burn's `flex` backend by default; NVIDIA GPUs
//! with the `cuda` feature, on the same code path (the device is a runtime
//! value).
//!
//! A library on its own: typed specs and tensors in, trained modules out;
//! nothing here reads pipeline files or the store.

pub mod autoencoder;
pub mod backbone;
pub mod bytes;
pub mod cuda_probe;
pub mod decoder;
pub mod device;
pub mod ema;
pub mod export;
pub mod feed;
pub mod finetune;
pub mod heads;
pub mod kernels;
pub mod loss;
pub mod method;
pub mod optim;
pub mod precision;
pub mod trainer;
pub mod vectors;

/// An invalid setting of a part of the model (a zero width, a depth out of
/// range, a method hyper-parameter outside its domain): which part, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{part}: {reason}")]
pub struct ConfigError {
    /// The part (`MLP head`, `vit`, `simclr`, ...).
    pub part: &'static str,
    /// What is wrong, naming the field.
    pub reason: String,
}

impl ConfigError {
    /// `part` is invalid because of `reason`.
    pub fn new(part: &'static str, reason: impl Into<String>) -> Self {
        ConfigError {
            part,
            reason: reason.into(),
        }
    }
}
