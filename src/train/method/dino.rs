//! DINO (Caron et al. 2021): self-distillation from a centred, sharpened EMA teacher.

use crate::train::ConfigError;
use burn::tensor::{Device, Tensor};

use super::super::heads::{DinoHead, DinoHeadConfig};
use super::super::loss::dino;
use super::{Student, forward_grouped};

/// MLP layers of the DINO head before the bottleneck (Caron et al. 2021, App. "nlayers=3").
const HEAD_LAYERS: usize = 3;

/// The DINO head on top of `feat`-wide backbone features.
pub(super) fn head(
    feat: usize,
    hidden: usize,
    bottleneck: usize,
    out_dim: usize,
    norm_last_layer: bool,
    device: &Device,
) -> Result<DinoHead, ConfigError> {
    DinoHeadConfig {
        input: feat,
        hidden,
        bottleneck,
        out_dim,
        layers: HEAD_LAYERS,
        norm_last_layer,
    }
    .init(device)
}

/// Teacher temperature at `epoch`: `np.linspace(start, end, warmup)[epoch]` during the warm-up,
/// `end` afterwards (DINO `DINOLoss.teacher_temp_schedule`).
pub(super) fn teacher_temp(epoch: usize, start: f64, end: f64, warmup: usize) -> f64 {
    if epoch >= warmup {
        end
    } else if warmup == 1 {
        start
    } else {
        start + (end - start) * epoch as f64 / (warmup - 1) as f64
    }
}

/// DINO loss: student on all views (same-shape crops batched), teacher on the 2 global views.
/// Returns the loss and the updated centre (adopted after the step).
pub(super) fn loss(
    student: &Student,
    teacher: &Student,
    views: &[Tensor<4>],
    center: Tensor<1>,
    teacher_temp: f64,
    student_temp: f64,
    center_momentum: f64,
) -> (Tensor<1>, Tensor<1>) {
    let s_out = forward_grouped(views, |x| student.embed(x));
    let t_out: Vec<Tensor<2>> = forward_grouped(&views[..2], |x| teacher.embed(x))
        .into_iter()
        .map(|t| t.detach())
        .collect();
    dino(
        &t_out,
        &s_out,
        center,
        teacher_temp,
        student_temp,
        center_momentum,
    )
}
