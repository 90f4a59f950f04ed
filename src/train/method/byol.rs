//! BYOL (Grill et al. 2020): predict the EMA target's projection of the other view.

use crate::train::ConfigError;
use burn::tensor::{Device, Tensor};

use super::super::heads::{Mlp, MlpConfig};
use super::super::loss::byol_2_2cos;
use super::Student;

/// Projector and predictor: 2-layer MLPs with hidden BN, no output BN (BYOL §3.3 / App. C).
pub(super) fn heads(
    feat: usize,
    proj_hidden: usize,
    proj_dim: usize,
    pred_hidden: usize,
    device: &Device,
) -> Result<(Mlp, Mlp), ConfigError> {
    let projector = MlpConfig {
        input: feat,
        hidden: proj_hidden,
        output: proj_dim,
        layers: 2,
        hidden_bn: true,
        last_bn: false,
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

/// `L(v,v′) + L(v′,v)` with `L = 2 − 2cos(q(z), sg z′_target)` (BYOL Eq. 2, symmetrised sum).
pub(super) fn loss(student: &Student, teacher: &Student, views: &[Tensor<4>]) -> Tensor<1> {
    let p1 = student.predict(student.embed(views[0].clone()));
    let p2 = student.predict(student.embed(views[1].clone()));
    let z1 = teacher.embed(views[0].clone()).detach();
    let z2 = teacher.embed(views[1].clone()).detach();
    byol_2_2cos(p1, z2) + byol_2_2cos(p2, z1)
}
