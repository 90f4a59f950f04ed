//! Exponential moving averages for momentum teachers (MoCo, BYOL, DINO): the cosine momentum
//! schedule and an in-order EMA of every float tensor of a module, BN running stats included.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// Cosine momentum schedule (BYOL §3.2, lightly `cosine_schedule`): rises from `start` at step 0
/// to `end` at step `max_steps − 1`, `end − (end − start)·(cos(π·step/(max_steps−1)) + 1)/2`,
/// and stays at `end` from then on (also when `max_steps ≤ 1`).
pub fn cosine_momentum(step: usize, max_steps: usize, start: f64, end: f64) -> f64 {
    if max_steps <= 1 || step + 1 >= max_steps {
        return end;
    }
    let t = step as f64 / (max_steps - 1) as f64;
    end - (end - start) * ((std::f64::consts::PI * t).cos() + 1.0) / 2.0
}

/// Collects detached, flattened copies of every float tensor in visit order.
struct Collect {
    tensors: Vec<Tensor<1>>,
}

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val().detach();
        let n = t.shape().num_elements();
        self.tensors.push(t.reshape([n]));
    }
}

/// Replaces each float tensor `t` by `τ·t + (1−τ)·s` with `s` the next collected tensor
/// (shapes were checked beforehand).
struct Blend {
    sources: std::vec::IntoIter<Tensor<1>>,
    tau: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(source) = self.sources.next() else {
            return param;
        };
        let tau = self.tau;
        param.map(|t| {
            let s: Tensor<D> = source.reshape(t.shape()).to_device(&t.device());
            blend(t.detach(), s, tau)
        })
    }
}

/// `τ·teacher + (1−τ)·student`, detached: the exact expression [`ema_update`] applies.
pub fn blend<const D: usize>(teacher: Tensor<D>, student: Tensor<D>, tau: f64) -> Tensor<D> {
    teacher
        .mul_scalar(tau)
        .add(student.mul_scalar(1.0 - tau))
        .detach()
}

/// Flattened, detached copies of a module's float tensors in visit order (running stats synced).
pub fn float_tensors<M: Module>(module: &M) -> Vec<Tensor<1>> {
    // `valid()` folds pending BatchNorm running-stat updates into the shared state, which the
    // visitor would otherwise read one update late (burn.md §6.2).
    let _ = module.valid();
    let mut collect = Collect {
        tensors: Vec::new(),
    };
    module.visit(&mut collect);
    collect.tensors
}

/// EMA of a teacher towards a student of the same structure (MoCo §3.2 Eq. 2, BYOL Eq. 1):
/// every float parameter and BatchNorm running statistic becomes `τ·teacher + (1−τ)·student`,
/// detached, matched in visit order. Returns the teacher unchanged if the tensor lists differ
/// (count or shapes), which a teacher cloned from its student never does.
pub fn ema_update<M: Module>(teacher: M, student: &M, tau: f64) -> M {
    let sources = float_tensors(student);
    // Sync the teacher's own pending running-stat updates before overwriting them.
    let _ = teacher.valid();
    let mut probe = Collect {
        tensors: Vec::new(),
    };
    teacher.visit(&mut probe);
    let shapes_match = probe.tensors.len() == sources.len()
        && probe
            .tensors
            .iter()
            .zip(&sources)
            .all(|(a, b)| a.shape() == b.shape());
    drop(probe);
    if !shapes_match {
        return teacher;
    }
    let mut blend = Blend {
        sources: sources.into_iter(),
        tau,
    };
    teacher.map(&mut blend)
}
