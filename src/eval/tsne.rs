//! t-SNE (van der Maaten & Hinton 2008) for 2-D plots of learned features.
//!
//! Follows scikit-learn's `TSNE(init="random", method=...)` optimisation:
//! per-point perplexity calibration by binary search, symmetrised joint
//! probabilities, early exaggeration then plain gradient descent with momentum
//! and delta-bar-delta gains. Up to [`EXACT_MAX_POINTS`] points the gradient is
//! exact (`O(N²)` per iteration, parallel over rows); above, the Barnes-Hut
//! approximation (van der Maaten 2014) with `θ = 0.5` on `3·perplexity`
//! nearest neighbours is used. Every random number comes from the seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::matrix::Matrix;
use super::{EvalError, Result};

/// Largest input for which the exact gradient is used by [`tsne`]; Barnes-Hut above.
pub const EXACT_MAX_POINTS: usize = 2000;
/// Perplexity binary-search tolerance on the entropy (van der Maaten & Hinton 2008, reference code: 1e-5).
const PERPLEXITY_TOL: f64 = 1e-5;
/// Perplexity binary-search steps (van der Maaten & Hinton 2008, reference code: 50).
const PERPLEXITY_STEPS: usize = 50;
/// Early exaggeration factor (van der Maaten 2014, experimental setup; scikit-learn's default 12).
const EXAGGERATION: f64 = 12.0;
/// Iterations with early exaggeration (van der Maaten 2014, experimental setup; scikit-learn: 250).
const EXAGGERATION_ITERS: usize = 250;
/// Momentum during early exaggeration (van der Maaten & Hinton 2008 §3.4: 0.5).
const MOMENTUM_EARLY: f64 = 0.5;
/// Momentum afterwards (van der Maaten & Hinton 2008 §3.4: 0.8).
const MOMENTUM_LATE: f64 = 0.8;
/// Smallest gain of the delta-bar-delta rule (2008 §3.4 cites Jacobs 1988; reference code and scikit-learn: 0.01).
const MIN_GAIN: f64 = 0.01;
/// Std of the Gaussian initialisation (scikit-learn `init="random"`: 1e-4·N(0,1); the 2008 paper's Alg. 1 uses variance 1e-4).
const INIT_STD: f64 = 1e-4;
/// Barnes-Hut accuracy: a cell is summarised when `side / distance < θ` (van der Maaten 2014 §4; scikit-learn `angle = 0.5`).
const BH_THETA: f64 = 0.5;
/// Floor of probabilities, as scikit-learn's `MACHINE_EPSILON`.
const EPS: f64 = f64::EPSILON;

/// t-SNE hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TsneParams {
    /// Effective number of neighbours (5–50; 30 is the common default).
    pub perplexity: f64,
    /// Total gradient-descent iterations, the first 250 with early exaggeration.
    pub iterations: usize,
    /// Gradient-descent step size (200: scikit-learn's long-time default; the 2008 paper starts at 100).
    pub learning_rate: f64,
    /// Seed of the random initialisation.
    pub seed: u64,
}

impl Default for TsneParams {
    /// Perplexity 30, 1000 iterations, learning rate 200, seed 0.
    fn default() -> Self {
        Self {
            perplexity: 30.0,
            iterations: 1000,
            learning_rate: 200.0,
            seed: 0,
        }
    }
}

/// A 2-D embedding and the KL divergence it reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TsneResult {
    /// One 2-D point per input row, in input order.
    pub points: Vec<[f32; 2]>,
    /// `KL(P‖Q)` of the final embedding without exaggeration (Barnes-Hut: its approximation).
    pub kl_divergence: f64,
}

/// Which gradient computation to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TsneMethod {
    /// Exact at most [`EXACT_MAX_POINTS`] points, Barnes-Hut above.
    Auto,
    /// Dense `O(N²)` probabilities and gradient.
    Exact,
    /// Sparse nearest-neighbour probabilities and a quadtree (`θ = 0.5`).
    BarnesHut,
}

/// Embeds the rows of `x` in 2-D with t-SNE (exact gradient up to [`EXACT_MAX_POINTS`] points, Barnes-Hut above).
pub fn tsne(x: &Matrix, p: &TsneParams) -> Result<TsneResult> {
    tsne_with(x, p, TsneMethod::Auto)
}

/// [`tsne`] with an explicit choice of gradient method.
pub fn tsne_with(x: &Matrix, p: &TsneParams, method: TsneMethod) -> Result<TsneResult> {
    x.validate_non_empty("t-SNE input")?;
    if !(p.perplexity.is_finite() && p.perplexity > 0.0) {
        return Err(super::invalid(
            "perplexity",
            format!("must be finite and > 0, got {}", p.perplexity),
        ));
    }
    if !(p.learning_rate.is_finite() && p.learning_rate > 0.0) {
        return Err(super::invalid(
            "learning_rate",
            format!("must be finite and > 0, got {}", p.learning_rate),
        ));
    }
    if p.iterations == 0 {
        return Err(super::invalid("iterations", "must be >= 1"));
    }
    let n = x.rows;
    if ((n - 1) as f64) < 3.0 * p.perplexity {
        return Err(EvalError::TooFewSamples(format!(
            "t-SNE with perplexity {} needs at least 3·perplexity + 1 = {} points, got {n}; lower the perplexity",
            p.perplexity,
            (3.0 * p.perplexity).ceil() as usize + 1
        )));
    }
    let exact = match method {
        TsneMethod::Auto => n <= EXACT_MAX_POINTS,
        TsneMethod::Exact => true,
        TsneMethod::BarnesHut => false,
    };
    let affinities = if exact {
        Affinities::Dense(dense_p(x, p.perplexity))
    } else {
        Affinities::Sparse(sparse_p(x, p.perplexity))
    };
    let y = optimise(&affinities, n, p);
    let kl = match &affinities {
        Affinities::Dense(pm) => exact_kl(pm, &y),
        Affinities::Sparse(sp) => bh_kl(sp, &y),
    };
    Ok(TsneResult {
        points: y
            .chunks_exact(2)
            .map(|c| [c[0] as f32, c[1] as f32])
            .collect(),
        kl_divergence: kl,
    })
}

/// Joint probabilities: a dense `N × N` matrix or a sparse symmetric CSR matrix.
enum Affinities {
    /// Row-major `N × N` matrix (zero diagonal), for the exact gradient.
    Dense(Vec<f64>),
    /// Nearest-neighbour entries only, for Barnes-Hut.
    Sparse(Csr),
}

/// Compressed sparse rows of the symmetric joint probabilities.
struct Csr {
    /// Row `i` occupies `indptr[i]..indptr[i + 1]`.
    indptr: Vec<usize>,
    /// Column of each stored entry.
    indices: Vec<usize>,
    /// Value of each stored entry.
    values: Vec<f64>,
}

/// Squared Euclidean distance of two `f32` rows, in `f64`.
fn sq_dist(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&u, &v)| {
            let d = f64::from(u) - f64::from(v);
            d * d
        })
        .sum()
}

/// Conditional probabilities `p_{j|i}` for squared distances `d` by binary search on the precision.
///
/// Finds `β` with `H(P_i) = ln(perplexity)` within [`PERPLEXITY_TOL`] (at most
/// [`PERPLEXITY_STEPS`] halvings), as van der Maaten's `x2p`. Distances are
/// shifted by their minimum, which leaves `P_i` and `H` unchanged but avoids underflow.
fn calibrate(d: &[f64], perplexity: f64) -> Vec<f64> {
    let target = perplexity.ln();
    let dmin = d.iter().copied().fold(f64::INFINITY, f64::min);
    let mut beta = 1.0f64;
    let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
    let mut p = vec![0.0; d.len()];
    for _ in 0..PERPLEXITY_STEPS {
        let mut sum = 0.0;
        let mut dsum = 0.0;
        for (pj, &dj) in p.iter_mut().zip(d) {
            let s = dj - dmin;
            *pj = (-s * beta).exp();
            sum += *pj;
            dsum += s * *pj;
        }
        let h = sum.ln() + beta * dsum / sum;
        let diff = h - target;
        if diff.abs() <= PERPLEXITY_TOL {
            break;
        }
        if diff > 0.0 {
            lo = beta;
            beta = if hi.is_infinite() {
                beta * 2.0
            } else {
                0.5 * (beta + hi)
            };
        } else {
            hi = beta;
            beta = if lo.is_infinite() {
                beta / 2.0
            } else {
                0.5 * (beta + lo)
            };
        }
    }
    // Final probabilities at the last β tried (recomputed so they match it exactly).
    let mut sum = 0.0;
    for (pj, &dj) in p.iter_mut().zip(d) {
        *pj = (-(dj - dmin) * beta).exp();
        sum += *pj;
    }
    p.iter_mut().for_each(|v| *v /= sum);
    p
}

/// Dense symmetric joint probabilities `P = (P_c + P_cᵀ) / Σ`, floored at machine epsilon (scikit-learn `_joint_probabilities`).
fn dense_p(x: &Matrix, perplexity: f64) -> Vec<f64> {
    let n = x.rows;
    let mut cond = vec![0.0f64; n * n];
    cond.par_chunks_exact_mut(n)
        .enumerate()
        .for_each(|(i, row)| {
            let xi = x.row(i);
            let d: Vec<f64> = (0..n)
                .filter(|&j| j != i)
                .map(|j| sq_dist(xi, x.row(j)))
                .collect();
            let pi = calibrate(&d, perplexity);
            let mut it = pi.into_iter();
            for (j, v) in row.iter_mut().enumerate() {
                *v = if j == i {
                    0.0
                } else {
                    it.next().unwrap_or(0.0)
                };
            }
        });
    let mut p = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            p[i * n + j] = cond[i * n + j] + cond[j * n + i];
        }
    }
    let total = p.iter().sum::<f64>().max(EPS);
    for i in 0..n {
        for j in 0..n {
            p[i * n + j] = if i == j {
                0.0
            } else {
                (p[i * n + j] / total).max(EPS)
            };
        }
    }
    p
}

/// Sparse symmetric joint probabilities on the `⌊3·perplexity + 1⌋` nearest neighbours (scikit-learn `_joint_probabilities_nn`).
fn sparse_p(x: &Matrix, perplexity: f64) -> Csr {
    let n = x.rows;
    let k = (n - 1).min((3.0 * perplexity + 1.0) as usize);
    let rows: Vec<Vec<(usize, f64)>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let xi = x.row(i);
            let mut d: Vec<(usize, f64)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| (j, sq_dist(xi, x.row(j))))
                .collect();
            let order =
                |a: &(usize, f64), b: &(usize, f64)| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0));
            if k < d.len() {
                d.select_nth_unstable_by(k - 1, order);
                d.truncate(k);
            }
            d.sort_unstable_by(order);
            let dist: Vec<f64> = d.iter().map(|e| e.1).collect();
            let pi = calibrate(&dist, perplexity);
            d.iter().zip(pi).map(|(e, v)| (e.0, v)).collect()
        })
        .collect();
    // P + Pᵀ: gather both directions per row, then merge duplicates.
    let mut sym: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    for (i, row) in rows.iter().enumerate() {
        for &(j, v) in row {
            sym[i].push((j, v));
            sym[j].push((i, v));
        }
    }
    let mut indptr = vec![0usize];
    let mut indices = Vec::new();
    let mut values = Vec::new();
    for mut row in sym {
        row.sort_unstable_by_key(|e| e.0);
        for (j, v) in row {
            if indices.len() > *indptr.last().unwrap_or(&0) && indices.last() == Some(&j) {
                *values.last_mut().expect("pushed with index") += v;
            } else {
                indices.push(j);
                values.push(v);
            }
        }
        indptr.push(indices.len());
    }
    let total = values.iter().sum::<f64>().max(EPS);
    values.iter_mut().for_each(|v| *v /= total);
    Csr {
        indptr,
        indices,
        values,
    }
}

/// Gaussian initialisation, std [`INIT_STD`], by Box-Muller from the seeded ChaCha8 stream.
fn init(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut y = Vec::with_capacity(2 * n);
    for _ in 0..n {
        // 1 - U is in (0, 1], so the logarithm is finite.
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = 2.0 * std::f64::consts::PI * u2;
        y.push(INIT_STD * r * t.cos());
        y.push(INIT_STD * r * t.sin());
    }
    y
}

/// Gradient descent with momentum and gains (scikit-learn `_gradient_descent`), two stages.
fn optimise(aff: &Affinities, n: usize, p: &TsneParams) -> Vec<f64> {
    let mut y = init(n, p.seed);
    let early = EXAGGERATION_ITERS.min(p.iterations);
    let stages = [
        (early, EXAGGERATION, MOMENTUM_EARLY),
        (p.iterations - early, 1.0, MOMENTUM_LATE),
    ];
    let mut grad = vec![0.0f64; 2 * n];
    for (iters, exaggeration, momentum) in stages {
        // scikit-learn restarts the update and gains at each stage.
        let mut update = vec![0.0f64; 2 * n];
        let mut gains = vec![1.0f64; 2 * n];
        for _ in 0..iters {
            match aff {
                Affinities::Dense(pm) => exact_grad(pm, &y, exaggeration, &mut grad),
                Affinities::Sparse(sp) => bh_grad(sp, &y, exaggeration, &mut grad),
            }
            for ((g, u), (gain, yi)) in grad
                .iter()
                .zip(update.iter_mut())
                .zip(gains.iter_mut().zip(y.iter_mut()))
            {
                // Delta-bar-delta (Jacobs 1988): grow the gain while the sign of the step persists.
                *gain = if *u * g < 0.0 {
                    *gain + 0.2
                } else {
                    *gain * 0.8
                }
                .max(MIN_GAIN);
                *u = momentum * *u - p.learning_rate * *gain * g;
                *yi += *u;
            }
        }
    }
    y
}

/// Exact gradient `4 Σ_j (e·p_ij − q_ij) (1 + ‖y_i − y_j‖²)⁻¹ (y_i − y_j)` in one parallel pass over rows.
fn exact_grad(pm: &[f64], y: &[f64], exaggeration: f64, grad: &mut [f64]) {
    let n = y.len() / 2;
    // Structure of arrays, so the inner loop vectorises.
    let ys: [Vec<f64>; 2] = [
        y.iter().step_by(2).copied().collect(),
        y.iter().skip(1).step_by(2).copied().collect(),
    ];
    let parts: Vec<[f64; 5]> = (0..n)
        .into_par_iter()
        .map(|i| row_sums([y[2 * i], y[2 * i + 1]], &ys, &pm[i * n..(i + 1) * n]))
        .collect();
    // Each row's sum included j = i once with w = 1 (and p_ii = 0, Δ = 0): remove it from Z.
    let z: f64 = (parts.iter().map(|p| p[0]).sum::<f64>() - n as f64).max(EPS);
    for (i, s) in parts.iter().enumerate() {
        for c in 0..2 {
            grad[2 * i + c] = 4.0 * (exaggeration * s[1 + c] - s[3 + c] / z);
        }
    }
}

/// For one point, `[Σ_j w_ij, Σ_j p_ij w_ij Δ_ij (2), Σ_j w_ij² Δ_ij (2)]` over all `j` (self included,
/// contributing `w = 1` and nothing else), with four independent lanes.
fn row_sums(yi: [f64; 2], ys: &[Vec<f64>; 2], prow: &[f64]) -> [f64; 5] {
    const L: usize = 4;
    let mut acc = [[0.0f64; L]; 5];
    let c0 = ys[0].chunks_exact(L);
    let c1 = ys[1].chunks_exact(L);
    let cp = prow.chunks_exact(L);
    let tail = c0.remainder().len();
    for ((x0, x1), p) in c0.zip(c1).zip(cp) {
        for l in 0..L {
            let (d0, d1) = (yi[0] - x0[l], yi[1] - x1[l]);
            let w = 1.0 / (1.0 + d0 * d0 + d1 * d1);
            let pw = p[l] * w;
            let ww = w * w;
            acc[0][l] += w;
            acc[1][l] += pw * d0;
            acc[2][l] += pw * d1;
            acc[3][l] += ww * d0;
            acc[4][l] += ww * d1;
        }
    }
    let mut out = acc.map(|a| a.iter().sum::<f64>());
    let start = prow.len() - tail;
    for j in start..prow.len() {
        let (d0, d1) = (yi[0] - ys[0][j], yi[1] - ys[1][j]);
        let w = 1.0 / (1.0 + d0 * d0 + d1 * d1);
        let pw = prow[j] * w;
        out[0] += w;
        out[1] += pw * d0;
        out[2] += pw * d1;
        out[3] += w * w * d0;
        out[4] += w * w * d1;
    }
    out
}

/// Exact `KL(P‖Q) = Σ p_ij ln(p_ij / q_ij)` with `q` floored at machine epsilon.
fn exact_kl(pm: &[f64], y: &[f64]) -> f64 {
    let n = y.len() / 2;
    let w = |i: usize, j: usize| {
        let (d0, d1) = (y[2 * i] - y[2 * j], y[2 * i + 1] - y[2 * j + 1]);
        1.0 / (1.0 + d0 * d0 + d1 * d1)
    };
    let z = ordered_sum(
        (0..n)
            .into_par_iter()
            .map(|i| (0..n).filter(|&j| j != i).map(|j| w(i, j)).sum::<f64>()),
    )
    .max(EPS);
    ordered_sum((0..n).into_par_iter().map(|i| {
        (0..n)
            .filter(|&j| j != i)
            .map(|j| {
                let pij = pm[i * n + j];
                pij * (pij.max(EPS) / (w(i, j) / z).max(EPS)).ln()
            })
            .sum::<f64>()
    }))
}

/// Sums per-row values in row order, so the result does not depend on rayon's work splitting.
fn ordered_sum(rows: impl IndexedParallelIterator<Item = f64>) -> f64 {
    rows.collect::<Vec<f64>>().iter().sum()
}

/// Marks "no point" in the leaf chains of the quadtree.
const NONE: u32 = u32::MAX;
/// Depth at which coincident points stop splitting and share a leaf.
const MAX_DEPTH: usize = 48;

/// A quadtree cell: bounds, mass and either four children or (leaf) a chain of points.
struct Cell {
    /// Centre of the square cell.
    centre: [f64; 2],
    /// Half of its side.
    half: f64,
    /// Sum of member positions while building, centre of mass after [`QuadTree::build`].
    com: [f64; 2],
    /// Number of member points.
    count: u32,
    /// Index of the first of four consecutive children, or 0 for a leaf.
    first_child: u32,
    /// First point of a leaf (`NONE` if empty); the others follow through `QuadTree::next`.
    point: u32,
}

impl Cell {
    /// An empty leaf.
    fn leaf(centre: [f64; 2], half: f64) -> Self {
        Cell {
            centre,
            half,
            com: [0.0; 2],
            count: 0,
            first_child: 0,
            point: NONE,
        }
    }
}

/// A 2-D Barnes-Hut quadtree over the current embedding.
struct QuadTree {
    /// All cells, the root first; children are stored four at a time.
    cells: Vec<Cell>,
    /// Next point in the same leaf, or `NONE`.
    next: Vec<u32>,
}

impl QuadTree {
    /// Builds the tree over `y` (`[x0, y0, x1, y1, ...]`) and turns mass sums into centres of mass.
    fn build(y: &[f64]) -> Self {
        let n = y.len() / 2;
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in y.chunks_exact(2) {
            for c in 0..2 {
                lo[c] = lo[c].min(p[c]);
                hi[c] = hi[c].max(p[c]);
            }
        }
        let half = (0.5 * (hi[0] - lo[0]).max(hi[1] - lo[1])).max(1e-12) * (1.0 + 1e-6);
        let mut tree = QuadTree {
            cells: Vec::with_capacity(4 * n + 1),
            next: vec![NONE; n],
        };
        tree.cells.push(Cell::leaf(
            [0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1])],
            half,
        ));
        for i in 0..n {
            tree.insert(i, y);
        }
        for cell in &mut tree.cells {
            if cell.count > 0 {
                let c = f64::from(cell.count);
                cell.com = [cell.com[0] / c, cell.com[1] / c];
            }
        }
        tree
    }

    /// Index of the child of `c` (which must have children) that contains `p`.
    fn child(&self, c: usize, p: &[f64]) -> usize {
        let cell = &self.cells[c];
        cell.first_child as usize
            + usize::from(p[0] > cell.centre[0])
            + 2 * usize::from(p[1] > cell.centre[1])
    }

    /// Adds point `i` (at `p`) to the mass of cell `c` and to its leaf chain.
    fn attach(&mut self, c: usize, i: usize, p: &[f64]) {
        let cell = &mut self.cells[c];
        cell.count += 1;
        cell.com[0] += p[0];
        cell.com[1] += p[1];
        self.next[i] = cell.point;
        cell.point = i as u32;
    }

    /// Inserts point `i`, splitting an occupied leaf and moving its points one level down.
    fn insert(&mut self, i: usize, y: &[f64]) {
        let p = &y[2 * i..2 * i + 2];
        let mut c = 0;
        let mut depth = 0;
        loop {
            if self.cells[c].first_child == 0 {
                if self.cells[c].point == NONE || depth >= MAX_DEPTH {
                    self.attach(c, i, p);
                    return;
                }
                // Split the occupied leaf: four children, then move its chain down.
                let first = self.cells.len();
                let (ce, h) = (self.cells[c].centre, 0.5 * self.cells[c].half);
                for q in 0..4 {
                    let dx = if q & 1 == 1 { h } else { -h };
                    let dy = if q & 2 == 2 { h } else { -h };
                    self.cells.push(Cell::leaf([ce[0] + dx, ce[1] + dy], h));
                }
                self.cells[c].first_child = first as u32;
                let mut m = std::mem::replace(&mut self.cells[c].point, NONE);
                while m != NONE {
                    let mu = m as usize;
                    let after = self.next[mu];
                    let pm = &y[2 * mu..2 * mu + 2];
                    let child = self.child(c, pm);
                    self.attach(child, mu, pm);
                    m = after;
                }
            }
            let cell = &mut self.cells[c];
            cell.count += 1;
            cell.com[0] += p[0];
            cell.com[1] += p[1];
            c = self.child(c, p);
            depth += 1;
        }
    }

    /// Repulsion on point `i`: `(Σ_j w_ij, Σ_j w_ij² (y_i − y_j))` with far cells summarised; `stack` is scratch space.
    fn repulsion(&self, i: usize, y: &[f64], stack: &mut Vec<u32>) -> (f64, [f64; 2]) {
        // Summarise when (cell width)² < θ² d², i.e. d² > (2·half)² / θ².
        const K: f64 = 4.0 / (BH_THETA * BH_THETA);
        let p = [y[2 * i], y[2 * i + 1]];
        let mut z = 0.0;
        let mut f = [0.0f64; 2];
        stack.clear();
        stack.push(0);
        while let Some(c) = stack.pop() {
            let cell = &self.cells[c as usize];
            if cell.count == 0 {
                continue;
            }
            if cell.first_child == 0 {
                let mut q = cell.point;
                while q != NONE {
                    let j = q as usize;
                    if j != i {
                        let (d0, d1) = (p[0] - y[2 * j], p[1] - y[2 * j + 1]);
                        let w = 1.0 / (1.0 + d0 * d0 + d1 * d1);
                        z += w;
                        f[0] += w * w * d0;
                        f[1] += w * w * d1;
                    }
                    q = self.next[j];
                }
                continue;
            }
            let (d0, d1) = (p[0] - cell.com[0], p[1] - cell.com[1]);
            let d2 = d0 * d0 + d1 * d1;
            // A cell containing `i` is never summarised: its centre of mass is within 2√2·half of `i`.
            if d2 > K * cell.half * cell.half {
                let cnt = f64::from(cell.count);
                let w = 1.0 / (1.0 + d2);
                z += cnt * w;
                f[0] += cnt * w * w * d0;
                f[1] += cnt * w * w * d1;
            } else {
                stack.extend(cell.first_child..cell.first_child + 4);
            }
        }
        (z, f)
    }
}

/// Barnes-Hut gradient: exact sparse attraction, quadtree repulsion (van der Maaten 2014, eq. 6–7).
fn bh_grad(sp: &Csr, y: &[f64], exaggeration: f64, grad: &mut [f64]) {
    let n = y.len() / 2;
    let tree = QuadTree::build(y);
    let parts: Vec<(f64, [f64; 2], [f64; 2])> = (0..n)
        .into_par_iter()
        .map_init(Vec::new, |stack, i| {
            let mut a = [0.0f64; 2];
            for k in sp.indptr[i]..sp.indptr[i + 1] {
                let j = sp.indices[k];
                let (d0, d1) = (y[2 * i] - y[2 * j], y[2 * i + 1] - y[2 * j + 1]);
                let pw = sp.values[k] / (1.0 + d0 * d0 + d1 * d1);
                a[0] += pw * d0;
                a[1] += pw * d1;
            }
            let (z, b) = tree.repulsion(i, y, stack);
            (z, a, b)
        })
        .collect();
    let z: f64 = parts.iter().map(|p| p.0).sum::<f64>().max(EPS);
    for (i, (_, a, b)) in parts.iter().enumerate() {
        for c in 0..2 {
            grad[2 * i + c] = 4.0 * (exaggeration * a[c] - b[c] / z);
        }
    }
}

/// Barnes-Hut estimate of `KL(P‖Q)` over the sparse `P`, with `Z` from the quadtree.
fn bh_kl(sp: &Csr, y: &[f64]) -> f64 {
    let n = y.len() / 2;
    let tree = QuadTree::build(y);
    let z = ordered_sum(
        (0..n)
            .into_par_iter()
            .map_init(Vec::new, |stack, i| tree.repulsion(i, y, stack).0),
    )
    .max(EPS);
    ordered_sum((0..n).into_par_iter().map(|i| {
        (sp.indptr[i]..sp.indptr[i + 1])
            .map(|k| {
                let j = sp.indices[k];
                let (d0, d1) = (y[2 * i] - y[2 * j], y[2 * i + 1] - y[2 * j + 1]);
                let q = (1.0 / (1.0 + d0 * d0 + d1 * d1) / z).max(EPS);
                let pij = sp.values[k];
                pij * (pij.max(EPS) / q).ln()
            })
            .sum::<f64>()
    }))
}

#[cfg(test)]
mod tests {
    use super::super::knn::{Distance, KnnParams, knn_accuracy};
    use super::*;

    /// Three well separated Gaussian blobs in 10-D (unit variance, centres 10 apart on different axes), `per` points each.
    fn blobs(per: usize, seed: u64) -> (Matrix, Vec<u32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut gauss = move || -> f32 {
            let u1: f64 = 1.0 - rng.random::<f64>();
            let u2: f64 = rng.random::<f64>();
            ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
        };
        let mut data = Vec::new();
        let mut labels = Vec::new();
        for c in 0..3u32 {
            for _ in 0..per {
                for dim in 0..10 {
                    let centre = if dim as u32 == c { 10.0 } else { 0.0 };
                    data.push(centre + gauss());
                }
                labels.push(c);
            }
        }
        (Matrix::new(labels.len(), 10, data).unwrap(), labels)
    }

    /// Leave-one-out 1-NN accuracy of the embedding (via the kNN module, Euclidean).
    fn embedding_accuracy(r: &TsneResult, labels: &[u32]) -> f64 {
        let pts: Vec<f32> = r.points.iter().flatten().copied().collect();
        let m = Matrix::new(r.points.len(), 2, pts).unwrap();
        let mut hits = 0;
        for i in 0..m.rows {
            let others: Vec<usize> = (0..m.rows).filter(|&j| j != i).collect();
            let train = m.select_rows(&others);
            let tl: Vec<u32> = others.iter().map(|&j| labels[j]).collect();
            let p = KnnParams {
                k: 5,
                temperature: 1.0,
                distance: Distance::Euclidean,
            };
            let acc = knn_accuracy(&train, &tl, &m.select_rows(&[i]), &[labels[i]], 3, &p).unwrap();
            hits += acc.top1 as usize;
        }
        hits as f64 / m.rows as f64
    }

    fn params() -> TsneParams {
        TsneParams {
            perplexity: 10.0,
            iterations: 500,
            learning_rate: 200.0,
            seed: 7,
        }
    }

    #[test]
    fn exact_keeps_blobs_separated_and_is_deterministic() {
        let (x, labels) = blobs(20, 1);
        let a = tsne_with(&x, &params(), TsneMethod::Exact).unwrap();
        assert_eq!(a.points.len(), 60);
        assert!(
            a.kl_divergence.is_finite() && a.kl_divergence >= 0.0,
            "{}",
            a.kl_divergence
        );
        assert!(embedding_accuracy(&a, &labels) >= 0.95);
        let b = tsne(&x, &params()).unwrap();
        assert_eq!(
            a, b,
            "auto = exact for 60 points, and same seed gives the same output"
        );
        let c = tsne(
            &x,
            &TsneParams {
                seed: 8,
                ..params()
            },
        )
        .unwrap();
        assert_ne!(a.points, c.points);
    }

    #[test]
    fn barnes_hut_keeps_blobs_separated() {
        let (x, labels) = blobs(20, 2);
        let a = tsne_with(&x, &params(), TsneMethod::BarnesHut).unwrap();
        assert!(
            a.kl_divergence.is_finite() && a.kl_divergence >= 0.0,
            "{}",
            a.kl_divergence
        );
        assert!(embedding_accuracy(&a, &labels) >= 0.95);
        let b = tsne_with(&x, &params(), TsneMethod::BarnesHut).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn bh_gradient_approximates_exact() {
        let (x, _) = blobs(20, 3);
        let n = x.rows;
        let dense = dense_p(&x, 10.0);
        // Sparse P on all neighbours equals the dense P (up to the epsilon floor).
        let sparse = sparse_p(&x, 19.6);
        assert_eq!(sparse.indptr[n], n * (n - 1));
        let y: Vec<f64> = (0..2 * n)
            .map(|i| ((i * 7919 % 113) as f64 - 56.0) / 10.0)
            .collect();
        let mut ge = vec![0.0; 2 * n];
        let mut gb = vec![0.0; 2 * n];
        exact_grad(&dense, &y, 1.0, &mut ge);
        // Rebuild the same P in CSR to isolate the quadtree approximation.
        let mut indptr = vec![0];
        let mut indices = Vec::new();
        let mut values = Vec::new();
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    indices.push(j);
                    values.push(dense[i * n + j]);
                }
            }
            indptr.push(indices.len());
        }
        let csr = Csr {
            indptr,
            indices,
            values,
        };
        bh_grad(&csr, &y, 1.0, &mut gb);
        let norm = ge.iter().map(|v| v * v).sum::<f64>().sqrt();
        let err = ge
            .iter()
            .zip(&gb)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(err < 0.05 * norm, "relative error {}", err / norm);
    }

    #[test]
    fn calibration_hits_the_perplexity() {
        let d: Vec<f64> = (0..50).map(|i| (i as f64) * 0.3).collect();
        let p = calibrate(&d, 10.0);
        let h: f64 = -p
            .iter()
            .filter(|&&v| v > 0.0)
            .map(|&v| v * v.ln())
            .sum::<f64>();
        assert!((h.exp() - 10.0).abs() < 1e-3, "perplexity {}", h.exp());
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn too_few_points_and_bad_params_error() {
        let (x, _) = blobs(3, 4);
        let e = tsne(&x, &TsneParams::default()).unwrap_err();
        assert!(matches!(e, EvalError::TooFewSamples(_)));
        assert!(e.to_string().contains("perplexity"), "{e}");
        let ok = TsneParams {
            perplexity: 2.0,
            iterations: 10,
            ..TsneParams::default()
        };
        assert!(tsne(&x, &ok).is_ok());
        assert!(
            tsne(
                &x,
                &TsneParams {
                    learning_rate: 0.0,
                    ..ok
                }
            )
            .is_err()
        );
        assert!(
            tsne(
                &x,
                &TsneParams {
                    iterations: 0,
                    ..ok
                }
            )
            .is_err()
        );
        assert!(
            tsne(
                &x,
                &TsneParams {
                    perplexity: f64::NAN,
                    ..ok
                }
            )
            .is_err()
        );
        let empty = Matrix::new(0, 3, vec![]).unwrap();
        assert!(matches!(tsne(&empty, &ok), Err(EvalError::Empty(_))));
    }

    #[test]
    fn duplicate_points_do_not_break_barnes_hut() {
        let mut rows = vec![[1.0f32, 2.0]; 20];
        rows.extend(vec![[5.0f32, -1.0]; 20]);
        let x = Matrix::from_rows(&rows).unwrap();
        let p = TsneParams {
            perplexity: 5.0,
            iterations: 300,
            ..params()
        };
        let r = tsne_with(&x, &p, TsneMethod::BarnesHut).unwrap();
        assert!(r.kl_divergence.is_finite());
        assert!(
            r.points
                .iter()
                .all(|q| q[0].is_finite() && q[1].is_finite())
        );
    }
}
