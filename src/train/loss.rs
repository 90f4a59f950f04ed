//! Self-supervised losses as pure tensor functions, each matching its paper's definition and the
//! cross-implementation vectors in `tests/vectors/ssl_losses.json`.
//!
//! All functions work on whatever float dtype and device their inputs use. Stop-gradient inputs
//! (MoCo keys and queue, SimSiam/BYOL targets, Sinkhorn codes, DINO teacher outputs) are detached
//! here, so callers cannot leak gradients into a teacher by mistake.

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{DType, Tensor, TensorData};

/// Norm floor of `F.normalize` (PyTorch default `eps`), so a zero row maps to zero, not NaN.
const NORMALIZE_EPS: f64 = 1e-12;

/// Norm floor of the cosine similarity (PyTorch `cosine_similarity` default `eps`).
const COSINE_EPS: f64 = 1e-8;

/// Variance offset of the Barlow Twins standardisation (BatchNorm1d default eps, Zbontar et al.
/// 2021, Algorithm 1).
const BARLOW_BN_EPS: f64 = 1e-5;

/// Magnitude of the logit given to excluded entries (self-similarity in NT-Xent) in wide dtypes:
/// far below any real logit, so its softmax weight is exactly 0.
const MASKED_LOGIT: f64 = 1e9;

/// The logit given to excluded entries in `dtype`: `-1e9`, or half the dtype's largest finite
/// value where that is smaller (f16: -32752). It must stay finite, so `0 · logit` stays 0 (an
/// infinite mask turns NT-Xent into NaN), and also after log-softmax subtracts the row maximum
/// (|logit| ≤ 1/τ), so half the range, not the finite minimum itself.
pub fn masked_logit(dtype: DType) -> f64 {
    let max = dtype.finfo().map_or(f32::MAX as f64, |f| f.max);
    -(max / 2.0).min(MASKED_LOGIT)
}

/// `eps` raised to the smallest positive normal value of `dtype`, so a norm floor such as 1e-12
/// does not flush to zero in f16 (where `0 / 0` would make a zero row NaN).
fn eps_for(eps: f64, dtype: DType) -> f64 {
    dtype.finfo().map_or(eps, |f| eps.max(f.min_positive))
}

/// Row-wise L2 normalisation `x / max(‖x‖₂, eps)` of a `[N, D]` matrix (`eps` at least the
/// dtype's smallest normal value).
pub fn l2_normalize(x: Tensor<2>, eps: f64) -> Tensor<2> {
    let eps = eps_for(eps, x.dtype());
    let norm = x.clone().square().sum_dim(1).sqrt().clamp_min(eps);
    x.div(norm)
}

/// A constant matrix with `x`'s device and dtype, filled row-major from `values`.
fn constant_like(x: &Tensor<2>, values: Vec<f32>, rows: usize, cols: usize) -> Tensor<2> {
    Tensor::from_data(
        TensorData::new(values, [rows, cols]),
        (&x.device(), x.dtype()),
    )
}

/// Identity matrix of size `n` with `like`'s device and dtype.
fn eye_like(like: &Tensor<2>, n: usize) -> Tensor<2> {
    let mut v = vec![0.0f32; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    constant_like(like, v, n, n)
}

/// SimCLR NT-Xent (Chen et al. 2020, Eq. 1): mean over all `2B` anchors of
/// `−log(exp(s_ip/t) / Σ_{j≠i} exp(s_ij/t))` on cosine similarities of `concat(out0, out1)`.
pub fn nt_xent(out0: Tensor<2>, out1: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [b, _] = out0.dims();
    let n = 2 * b;
    let z = l2_normalize(Tensor::cat(vec![out0, out1], 0), NORMALIZE_EPS);
    let sim = z.clone().matmul(z.transpose()).div_scalar(temperature);
    // Self-similarity leaves the denominator; the positive of anchor i is i±B.
    let mut self_mask = vec![0.0f32; n * n];
    let mut positives = vec![0.0f32; n * n];
    for i in 0..n {
        self_mask[i * n + i] = 1.0;
        positives[i * n + (i + b) % n] = 1.0;
    }
    let self_mask = constant_like(&sim, self_mask, n, n);
    let positives = constant_like(&sim, positives, n, n);
    let masked = masked_logit(sim.dtype());
    let logits = sim.mul(self_mask.clone().neg().add_scalar(1.0)) + self_mask.mul_scalar(masked);
    log_softmax(logits, 1)
        .mul(positives)
        .sum_dim(1)
        .mean()
        .neg()
}

/// MoCo v2 InfoNCE with a queue (He et al. 2020, Eq. 1; Chen et al. 2020b): cross-entropy with
/// the positive `n(q)·n(k)` in column 0 and negatives `n(q)·queue_i`, all over `temperature`.
/// `k` and `queue` (rows already unit-norm) are constants. Returns `(loss, logits [B, 1+K])`,
/// the logits detached.
pub fn info_nce_queue(
    q: Tensor<2>,
    k: Tensor<2>,
    queue: Tensor<2>,
    temperature: f64,
) -> (Tensor<1>, Tensor<2>) {
    let q = l2_normalize(q, NORMALIZE_EPS);
    let k = l2_normalize(k.detach(), NORMALIZE_EPS);
    let pos = q.clone().mul(k).sum_dim(1);
    let neg = q.matmul(queue.detach().transpose());
    let logits = Tensor::cat(vec![pos, neg], 1).div_scalar(temperature);
    let loss = log_softmax(logits.clone(), 1).narrow(1, 0, 1).mean().neg();
    (loss, logits.detach())
}

/// Cross-entropy of `n(q)·n(k)ᵀ / t` against the diagonal (MoCo v3 `contrastive_loss`).
fn moco_v3_ctr(q: Tensor<2>, k: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [b, _] = q.dims();
    let q = l2_normalize(q, NORMALIZE_EPS);
    let k = l2_normalize(k.detach(), NORMALIZE_EPS);
    let logits = q.matmul(k.transpose()).div_scalar(temperature);
    let eye = eye_like(&logits, b);
    log_softmax(logits, 1).mul(eye).sum_dim(1).mean().neg()
}

/// MoCo v3 symmetrised loss (Chen et al. 2021, Alg. 1): `2τ·(CE(q1,k2) + CE(q2,k1))` with in-batch
/// keys; keys are constants (momentum encoder outputs).
pub fn moco_v3(
    q1: Tensor<2>,
    q2: Tensor<2>,
    k1: Tensor<2>,
    k2: Tensor<2>,
    temperature: f64,
) -> Tensor<1> {
    (moco_v3_ctr(q1, k2, temperature) + moco_v3_ctr(q2, k1, temperature))
        .mul_scalar(2.0 * temperature)
}

/// Row-wise cosine similarity `[N, D] × [N, D] → [N, 1]`.
fn cosine_rows(a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
    l2_normalize(a, COSINE_EPS)
        .mul(l2_normalize(b, COSINE_EPS))
        .sum_dim(1)
}

/// SimSiam `D(p, z) = −mean_b cos(p, sg(z))` (Chen & He 2021, Eq. 1); symmetrise as
/// `½D(p1,z2) + ½D(p2,z1)`.
pub fn negative_cosine(p: Tensor<2>, z: Tensor<2>) -> Tensor<1> {
    cosine_rows(p, z.detach()).mean().neg()
}

/// BYOL normalised MSE `mean_b ‖n(p) − n(sg z)‖² = 2 − 2·cos` (Grill et al. 2020, Eq. 2);
/// BYOL sums it over both view orders.
pub fn byol_2_2cos(p: Tensor<2>, z: Tensor<2>) -> Tensor<1> {
    cosine_rows(p, z.detach())
        .mul_scalar(-2.0)
        .add_scalar(2.0)
        .mean()
}

/// Per-dimension batch standardisation with biased variance (BatchNorm1d without affine).
fn standardize(z: Tensor<2>) -> Tensor<2> {
    let (var, mean) = z.clone().var_mean_bias(0);
    z.sub(mean).div(var.add_scalar(BARLOW_BN_EPS).sqrt())
}

/// Barlow Twins cross-correlation `C = ẑ_aᵀ ẑ_b / B` of the batch-standardised embeddings.
pub fn barlow_cross_correlation(z_a: Tensor<2>, z_b: Tensor<2>) -> Tensor<2> {
    let [b, _] = z_a.dims();
    standardize(z_a)
        .transpose()
        .matmul(standardize(z_b))
        .div_scalar(b as f64)
}

/// Barlow Twins (Zbontar et al. 2021, Eq. 1): `Σ_i (1−C_ii)² + λ Σ_{i≠j} C_ij²`.
/// Returns `(loss, on_diag, off_diag)` with the two terms un-weighted.
pub fn barlow_twins(
    z_a: Tensor<2>,
    z_b: Tensor<2>,
    lambda: f64,
) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let c = barlow_cross_correlation(z_a, z_b);
    let [d, _] = c.dims();
    let eye = eye_like(&c, d);
    let diag = c.clone().mul(eye.clone()).sum_dim(1);
    let on_diag = diag.neg().add_scalar(1.0).square().sum();
    let off_diag = c.mul(eye.neg().add_scalar(1.0)).square().sum();
    let loss = on_diag.clone() + off_diag.clone().mul_scalar(lambda);
    (loss, on_diag, off_diag)
}

/// Numerically stable `log Σ exp(x)` along `dim` (kept as a size-1 dim).
fn logsumexp(x: Tensor<2>, dim: usize) -> Tensor<2> {
    let m = x.clone().max_dim(dim).detach();
    x.sub(m.clone()).exp().sum_dim(dim).log().add(m)
}

/// Sinkhorn-Knopp codes (Caron et al. 2020, §3.1 and Alg. 1): equipartition `exp(scores/ε)` over
/// `K` prototypes and `B` samples in `iterations` alternating normalisations; every row of the
/// `[B, K]` result sums to 1. No gradient. Runs in the log domain (each normalisation subtracts
/// a max-shifted log-sum-exp), which is the same arithmetic as the reference but cannot
/// overflow or underflow a whole row/column however small `ε` is.
pub fn sinkhorn(scores: Tensor<2>, iterations: usize, epsilon: f64) -> Tensor<2> {
    let scores = scores.detach();
    let [b, k] = scores.dims();
    let (log_k, log_b) = ((k as f64).ln(), (b as f64).ln());
    let mut log_q = scores.div_scalar(epsilon).transpose(); // [K, B]
    let total = logsumexp(logsumexp(log_q.clone(), 1), 0);
    log_q = log_q.sub(total);
    for _ in 0..iterations {
        log_q = log_q.clone().sub(logsumexp(log_q, 1)).sub_scalar(log_k);
        log_q = log_q.clone().sub(logsumexp(log_q, 0)).sub_scalar(log_b);
    }
    log_q.add_scalar(log_b).exp().transpose().detach()
}

/// SwAV swapped prediction from precomputed codes (Caron et al. 2020, Eq. 1 and §3.2): for each
/// global crop `i`, `Σ_{v≠i} −mean_b Σ_k q_i log softmax(V_v/t)`, divided by `n_crops − 1` and
/// averaged over the global crops. `codes[i]` belongs to `global_scores[i]`.
///
/// Needs `codes.len() == global_scores.len() ≥ 1` and at least two crops in all.
pub fn swav_from_codes(
    codes: &[Tensor<2>],
    global_scores: &[Tensor<2>],
    local_scores: &[Tensor<2>],
    temperature: f64,
) -> Tensor<1> {
    let crops: Vec<&Tensor<2>> = global_scores.iter().chain(local_scores).collect();
    let n_crops = crops.len();
    let log_p: Vec<Tensor<2>> = crops
        .iter()
        .map(|s| log_softmax((*s).clone().div_scalar(temperature), 1))
        .collect();
    let mut total: Option<Tensor<1>> = None;
    for (i, q) in codes.iter().enumerate() {
        let q = q.clone().detach();
        for (v, lp) in log_p.iter().enumerate() {
            if v == i {
                continue;
            }
            let term = q.clone().mul(lp.clone()).sum_dim(1).mean().neg();
            total = Some(match total {
                Some(t) => t + term,
                None => term,
            });
        }
    }
    let denom = (codes.len() * n_crops.saturating_sub(1)).max(1) as f64;
    match total {
        Some(t) => t.div_scalar(denom),
        None => global_scores[0].clone().sum().mul_scalar(0.0),
    }
}

/// SwAV loss (Caron et al. 2020, Eq. 1 with multi-crop): codes from Sinkhorn on each global
/// crop's scores, then [`swav_from_codes`]. Returns `(loss, codes)`.
pub fn swav(
    global_scores: &[Tensor<2>],
    local_scores: &[Tensor<2>],
    temperature: f64,
    iterations: usize,
    epsilon: f64,
) -> (Tensor<1>, Vec<Tensor<2>>) {
    let codes: Vec<Tensor<2>> = global_scores
        .iter()
        .map(|s| sinkhorn(s.clone(), iterations, epsilon))
        .collect();
    let loss = swav_from_codes(&codes, global_scores, local_scores, temperature);
    (loss, codes)
}

/// DINO teacher targets `softmax((g_t − c)/τ_t)` (Caron et al. 2021, Eq. 1 and §3.1), detached.
pub fn dino_teacher_probs(
    teacher_out: Tensor<2>,
    center: Tensor<1>,
    teacher_temp: f64,
) -> Tensor<2> {
    let [d] = center.dims();
    let centered = teacher_out.detach().sub(center.detach().reshape([1, d]));
    softmax(centered.div_scalar(teacher_temp), 1).detach()
}

/// DINO loss (Caron et al. 2021, Eq. 2 and Alg. 1): mean over pairs (teacher global `g`, student
/// view `v ≠ g`) of `−Σ P_t log P_s`; student views start with the same global crops as the
/// teacher's. Returns `(loss, center_after)` with
/// `center_after = m·c + (1−m)·mean(teacher_out)` (the raw teacher outputs, after the loss).
pub fn dino(
    teacher_out: &[Tensor<2>],
    student_out: &[Tensor<2>],
    center: Tensor<1>,
    teacher_temp: f64,
    student_temp: f64,
    center_momentum: f64,
) -> (Tensor<1>, Tensor<1>) {
    let [d] = center.dims();
    let probs: Vec<Tensor<2>> = teacher_out
        .iter()
        .map(|t| dino_teacher_probs(t.clone(), center.clone(), teacher_temp))
        .collect();
    let log_p: Vec<Tensor<2>> = student_out
        .iter()
        .map(|s| log_softmax(s.clone().div_scalar(student_temp), 1))
        .collect();
    let mut total: Option<Tensor<1>> = None;
    let mut n_terms = 0usize;
    for (g, p) in probs.iter().enumerate() {
        for (v, lp) in log_p.iter().enumerate() {
            if v == g {
                continue;
            }
            let term = p.clone().mul(lp.clone()).sum_dim(1).mean().neg();
            n_terms += 1;
            total = Some(match total {
                Some(t) => t + term,
                None => term,
            });
        }
    }
    let loss = match total {
        Some(t) => t.div_scalar(n_terms as f64),
        None => center.clone().sum().mul_scalar(0.0),
    };
    let center_after = if teacher_out.is_empty() {
        center.detach()
    } else {
        let batch_mean = Tensor::cat(teacher_out.to_vec(), 0)
            .detach()
            .mean_dim(0)
            .reshape([d]);
        center
            .detach()
            .mul_scalar(center_momentum)
            .add(batch_mean.mul_scalar(1.0 - center_momentum))
    };
    (loss, center_after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn the_mask_is_finite_in_every_float_dtype() {
        for dtype in [DType::F64, DType::F32, DType::F16, DType::BF16] {
            let m = masked_logit(dtype);
            let dev = Device::flex();
            let t = Tensor::<1>::from_data(TensorData::new(vec![m as f32], [1]), (&dev, dtype));
            // Representable, and still finite after log-softmax's shift by a 1/τ = 100 maximum.
            let shifted = t.clone().sub_scalar(100.0);
            for x in [t, shifted] {
                let v = x.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()[0];
                assert!(v.is_finite() && v < -1e4, "{dtype:?}: {v}");
            }
        }
        assert_eq!(masked_logit(DType::F32), -1e9);
    }

    #[test]
    fn nt_xent_is_finite_in_f16_even_for_a_zero_row() {
        let dev = Device::flex();
        let z =
            |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [2, 3]), (&dev, DType::F16));
        let l = nt_xent(
            z(vec![1.0, 0.0, 0.5, 0.0, 0.0, 0.0]),
            z(vec![0.9, 0.1, 0.4, 0.2, -1.0, 0.3]),
            0.1,
        );
        assert_eq!(l.dtype(), DType::F16);
        let v = l.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()[0];
        assert!(v.is_finite(), "{v}");
    }
}
