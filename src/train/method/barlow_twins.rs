//! Barlow Twins (Zbontar et al. 2021): cross-correlation of the two views towards identity.

use crate::train::ConfigError;
use burn::tensor::{Device, Tensor};

use super::super::heads::{Mlp, MlpConfig};
use super::super::loss::barlow_twins;
use super::Student;

/// Projector with BN + ReLU after each hidden linear, plain output (Zbontar et al. 2021, §4);
/// the loss standardises the output itself.
pub(super) fn projector(
    feat: usize,
    hidden: usize,
    dim: usize,
    layers: usize,
    device: &Device,
) -> Result<Mlp, ConfigError> {
    MlpConfig {
        input: feat,
        hidden,
        output: dim,
        layers,
        hidden_bn: true,
        last_bn: false,
    }
    .init(device)
}

/// `scale_loss · (Σ(1−C_ii)² + λΣ_{i≠j} C_ij²)` on the two global views.
pub(super) fn loss(
    student: &Student,
    views: &[Tensor<4>],
    lambda: f64,
    scale_loss: f64,
) -> Tensor<1> {
    let z1 = student.embed(views[0].clone());
    let z2 = student.embed(views[1].clone());
    let (loss, _, _) = barlow_twins(z1, z2, lambda);
    loss.mul_scalar(scale_loss)
}
