//! MoCo v2 (Chen et al. 2020b; queue of momentum keys) and v3 (Chen et al. 2021; in-batch keys).

use burn::tensor::Tensor;

use super::super::loss::{info_nce_queue, l2_normalize, moco_v3};
use super::Student;

/// `F.normalize` epsilon for the keys written to the queue.
const KEY_EPS: f64 = 1e-12;

/// MoCo v2 InfoNCE: query from view 0 vs the teacher's key of view 1 and the queue; with
/// `symmetric` (solo-learn v2+) also view 1 vs view 0, averaged, one queue per view.
/// Returns the loss and the normalised keys to enqueue after the step, one set per queue.
pub(super) fn loss_v2(
    student: &Student,
    teacher: &Student,
    views: &[Tensor<4>],
    queues: &[Tensor<2>],
    temperature: f64,
    symmetric: bool,
) -> (Tensor<1>, Vec<Tensor<2>>) {
    let q1 = student.embed(views[0].clone());
    let k2 = teacher.embed(views[1].clone()).detach();
    if !symmetric || queues.len() < 2 {
        let (loss, _) = info_nce_queue(q1, k2.clone(), queues[0].clone(), temperature);
        return (loss, vec![l2_normalize(k2, KEY_EPS)]);
    }
    let q2 = student.embed(views[1].clone());
    let k1 = teacher.embed(views[0].clone()).detach();
    // solo-learn mocov2plus: queue[v] holds keys of view v; q1 meets queue[1], q2 queue[0].
    let (l12, _) = info_nce_queue(q1, k2.clone(), queues[1].clone(), temperature);
    let (l21, _) = info_nce_queue(q2, k1.clone(), queues[0].clone(), temperature);
    let loss = (l12 + l21).mul_scalar(0.5);
    (
        loss,
        vec![l2_normalize(k1, KEY_EPS), l2_normalize(k2, KEY_EPS)],
    )
}

/// MoCo v3: `2τ·(CE(q1,k2) + CE(q2,k1))` with predictor outputs as queries and teacher
/// projections as keys.
pub(super) fn loss_v3(
    student: &Student,
    teacher: &Student,
    views: &[Tensor<4>],
    temperature: f64,
) -> Tensor<1> {
    let q1 = student.predict(student.embed(views[0].clone()));
    let q2 = student.predict(student.embed(views[1].clone()));
    let k1 = teacher.embed(views[0].clone()).detach();
    let k2 = teacher.embed(views[1].clone()).detach();
    moco_v3(q1, q2, k1, k2, temperature)
}
