//! SimSiam (Chen & He 2021): symmetric negative cosine with stop-gradient, no teacher.

use crate::train::ConfigError;
use burn::tensor::{Device, Tensor};

use super::super::heads::{Mlp, MlpConfig};
use super::super::loss::negative_cosine;
use super::Student;

/// Projector with BN on every layer, the output BN without affine (SimSiam §3 "Baseline
/// settings"), and the 2-layer bottleneck predictor `d → pred_hidden → d` with hidden BN.
pub(super) fn heads(
    feat: usize,
    proj_hidden: usize,
    proj_dim: usize,
    proj_layers: usize,
    pred_hidden: usize,
    device: &Device,
) -> Result<(Mlp, Mlp), ConfigError> {
    let projector = MlpConfig {
        input: feat,
        hidden: proj_hidden,
        output: proj_dim,
        layers: proj_layers,
        hidden_bn: true,
        last_bn: true,
    }
    .init(device)?;
    let predictor = MlpConfig {
        input: proj_dim,
        hidden: pred_hidden,
        output: proj_dim,
        layers: 2,
        hidden_bn: true,
        last_bn: false,
    }
    .init(device)?;
    Ok((projector, predictor))
}

/// `½D(p1, sg z2) + ½D(p2, sg z1)` (SimSiam Eq. 2).
pub(super) fn loss(student: &Student, views: &[Tensor<4>]) -> Tensor<1> {
    let z1 = student.embed(views[0].clone());
    let z2 = student.embed(views[1].clone());
    let p1 = student.predict(z1.clone());
    let p2 = student.predict(z2.clone());
    (negative_cosine(p1, z2) + negative_cosine(p2, z1)).mul_scalar(0.5)
}
