//! SimCLR (Chen et al. 2020): NT-Xent between the projections of two views.

use crate::train::ConfigError;
use burn::tensor::{Device, Tensor};

use super::super::heads::{Mlp, MlpConfig};
use super::super::loss::nt_xent;
use super::Student;

/// Projector without BN, as solo-learn's CIFAR SimCLR (ssl-anchors §2.4: 512→2048→256, no BN).
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
        hidden_bn: false,
        last_bn: false,
    }
    .init(device)
}

/// NT-Xent of the two global views' projections (each view its own forward/BN batch).
pub(super) fn loss(student: &Student, views: &[Tensor<4>], temperature: f64) -> Tensor<1> {
    let z0 = student.embed(views[0].clone());
    let z1 = student.embed(views[1].clone());
    nt_xent(z0, z1, temperature)
}
