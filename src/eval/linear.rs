//! Linear probe: multinomial logistic regression on frozen features.
//!
//! Two solvers, one model ([`LinearModel`], `K × D` weights plus `K` biases):
//!
//! - [`Solver::Lbfgs`] minimises scikit-learn's objective
//!   `C · Σ_i CE_i + ½‖W‖²` (bias not penalised) to convergence with L-BFGS
//!   (Nocedal & Wright 2006, Alg. 7.4/7.5) and a strong-Wolfe line search
//!   (Alg. 3.5/3.6). Internally it minimises the same objective divided by
//!   `C·n` — `mean CE + ‖W‖² / (2Cn)`, as scikit-learn does — and `tol` bounds
//!   the largest absolute gradient component of that scaled objective.
//! - [`Solver::Sgd`] is the SimCLR linear-evaluation protocol (Chen et al. 2020, appendix): mini-batch
//!   SGD with (heavy-ball, PyTorch-style) momentum on `mean CE + wd/2 · ‖W‖²`,
//!   cosine learning-rate decay per step without warm-up, seeded shuffling
//!   every epoch, zero initialisation, last partial batch kept.
//!
//! Regularisation mapping ([`c_from_l2`]): `mean CE + l2/2 · ‖W‖²` has the same
//! minimiser as `C · Σ CE + ½‖W‖²` when `C = 1 / (n · l2)`.
//! Everything is computed in `f64`.

use std::borrow::Cow;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::matrix::Matrix;
use super::metrics::Accuracy;
use super::{EvalError, Result};

/// Smallest number of samples per parallel part when summing the loss and gradient.
const CHUNK: usize = 64;
/// Most parallel parts per gradient (fixed, so sums do not depend on the thread count).
const PARTS: usize = 16;
/// L-BFGS history length (scikit-learn / SciPy default `maxcor = 10`).
const HISTORY: usize = 10;
/// Armijo constant of the strong Wolfe conditions (Nocedal & Wright 2006, §3.1: c1 = 1e-4).
const C1: f64 = 1e-4;
/// Curvature constant of the strong Wolfe conditions (Nocedal & Wright 2006, §3.1: c2 = 0.9 for quasi-Newton).
const C2: f64 = 0.9;
/// Relative objective decrease below which L-BFGS stops (about 450 ulps: nothing left to gain in f64).
const FTOL: f64 = 1e-13;

/// How the probe is trained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Solver {
    /// Full-batch L-BFGS on `C·ΣCE + ½‖W‖²` (scikit-learn `LogisticRegression(C=c, tol=tol, max_iter=max_iter)`).
    Lbfgs {
        /// Inverse regularisation strength (scikit-learn's `C`); see [`c_from_l2`].
        c: f64,
        /// Maximum number of L-BFGS iterations.
        max_iter: usize,
        /// Stop when every gradient component of `mean CE + ‖W‖²/(2Cn)` is at most this.
        tol: f64,
    },
    /// Mini-batch SGD with momentum and cosine decay on `mean CE + wd/2·‖W‖²` (SimCLR linear evaluation).
    Sgd {
        /// Passes over the training set.
        epochs: usize,
        /// Peak learning rate (SimCLR: 0.1 × batch / 256).
        lr: f64,
        /// Mini-batch size.
        batch: usize,
        /// Momentum coefficient (SimCLR: 0.9).
        momentum: f64,
        /// L2 weight decay on `W` (not on the bias).
        weight_decay: f64,
        /// Seed of the per-epoch shuffling.
        seed: u64,
    },
}

/// Training options of the linear probe.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinearParams {
    /// Optimiser and its hyper-parameters.
    pub solver: Solver,
    /// Standardise each feature with the training mean and standard deviation before fitting.
    pub standardize: bool,
}

impl Default for LinearParams {
    /// scikit-learn's defaults (`C = 1`, `tol = 1e-4`) with a generous iteration budget.
    fn default() -> Self {
        Self {
            solver: Solver::Lbfgs {
                c: 1.0,
                max_iter: 1000,
                tol: 1e-4,
            },
            standardize: false,
        }
    }
}

/// How a fit ended, for logs and reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitInfo {
    /// L-BFGS iterations or SGD steps performed.
    pub iterations: usize,
    /// Final objective: `C·ΣCE + ½‖W‖²` for L-BFGS, `mean CE + wd/2‖W‖²` on the full train set for SGD.
    pub objective: f64,
    /// Largest absolute gradient component of the scaled objective (L-BFGS) or of the SGD objective.
    pub grad_max: f64,
    /// Whether L-BFGS met `tol` (or could not decrease the objective any more); always true for SGD.
    pub converged: bool,
}

/// A trained multinomial logistic-regression probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    /// Number of classes `K`.
    pub classes: usize,
    /// Feature dimension `D`.
    pub dim: usize,
    /// `K × D` weights, row-major (acting on standardised features if `mean` is set).
    pub weights: Vec<f64>,
    /// `K` biases.
    pub bias: Vec<f64>,
    /// Training feature means, when standardising.
    pub mean: Option<Vec<f64>>,
    /// Reciprocal training standard deviations (1 for constant features), when standardising.
    pub inv_std: Option<Vec<f64>>,
    /// How the fit ended.
    pub info: FitInfo,
}

/// `C` such that `C·ΣCE + ½‖W‖²` has the minimiser of `mean CE + l2/2·‖W‖²` over `n` samples: `C = 1/(n·l2)`.
pub fn c_from_l2(l2: f64, n: usize) -> Result<f64> {
    if !(l2.is_finite() && l2 > 0.0) || n == 0 {
        return Err(super::invalid(
            "l2",
            format!("need l2 > 0 and n > 0, got l2 = {l2}, n = {n}"),
        ));
    }
    Ok(1.0 / (n as f64 * l2))
}

/// Inverse of [`c_from_l2`]: the `l2` of `mean CE + l2/2·‖W‖²` equivalent to `C` over `n` samples.
pub fn l2_from_c(c: f64, n: usize) -> Result<f64> {
    if !(c.is_finite() && c > 0.0) || n == 0 {
        return Err(super::invalid(
            "c",
            format!("need C > 0 and n > 0, got C = {c}, n = {n}"),
        ));
    }
    Ok(1.0 / (n as f64 * c))
}

/// Sum of CE over `idx` and its gradient w.r.t. `theta = [W (K×D), b (K)]`.
///
/// `idx` is cut into at most [`PARTS`] contiguous parts (a split that depends only on
/// its length), the parts run in parallel and their sums are added in order, so the
/// result is bit-identical whatever the thread count or scheduling.
fn ce_sum_grad(x: &Matrix, y: &[u32], idx: &[usize], theta: &[f64], k: usize) -> (f64, Vec<f64>) {
    let d = x.cols;
    let np = theta.len();
    let (w, b) = theta.split_at(k * d);
    let part = idx.len().div_ceil(PARTS).max(CHUNK);
    let partials: Vec<(f64, Vec<f64>)> = idx
        .par_chunks(part)
        .map(|chunk| {
            let mut loss = 0.0f64;
            let mut g = vec![0.0f64; np];
            let mut z = vec![0.0f64; k];
            for &i in chunk {
                let xi = x.row(i);
                logits(w, b, xi, &mut z);
                let yi = y[i] as usize;
                let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = z.iter().map(|&v| (v - max).exp()).sum();
                let lse = max + sum.ln();
                loss += lse - z[yi];
                let (gw, gb) = g.split_at_mut(k * d);
                for c in 0..k {
                    let coef = (z[c] - lse).exp() - if c == yi { 1.0 } else { 0.0 };
                    gb[c] += coef;
                    for (a, &v) in gw[c * d..(c + 1) * d].iter_mut().zip(xi) {
                        *a += coef * f64::from(v);
                    }
                }
            }
            (loss, g)
        })
        .collect();
    let mut parts = partials.into_iter();
    let (mut loss, mut g) = parts.next().unwrap_or_else(|| (0.0, vec![0.0; np]));
    for (l, gp) in parts {
        loss += l;
        g.iter_mut().zip(&gp).for_each(|(a, b)| *a += b);
    }
    (loss, g)
}

/// `z = W x + b` for one sample.
fn logits(w: &[f64], b: &[f64], x: &[f32], z: &mut [f64]) {
    let d = x.len();
    for (c, zc) in z.iter_mut().enumerate() {
        *zc = b[c]
            + w[c * d..(c + 1) * d]
                .iter()
                .zip(x)
                .map(|(&a, &v)| a * f64::from(v))
                .sum::<f64>();
    }
}

/// Regularised objective `mean CE + lambda/2·‖W‖²` (bias free) over `idx`, and its gradient.
fn objective(
    x: &Matrix,
    y: &[u32],
    idx: &[usize],
    theta: &[f64],
    k: usize,
    lambda: f64,
) -> (f64, Vec<f64>) {
    let n = idx.len() as f64;
    let (loss, mut g) = ce_sum_grad(x, y, idx, theta, k);
    let wlen = k * x.cols;
    let mut reg = 0.0;
    for (gi, &t) in g[..wlen].iter_mut().zip(&theta[..wlen]) {
        *gi = *gi / n + lambda * t;
        reg += t * t;
    }
    g[wlen..].iter_mut().for_each(|gi| *gi /= n);
    (loss / n + 0.5 * lambda * reg, g)
}

/// Dot product of two `f64` vectors.
fn dotv(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Largest absolute component.
fn inf_norm(a: &[f64]) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// A point evaluated during the line search: step, value, gradient and directional derivative.
#[derive(Clone)]
struct Probe {
    /// Step length along the search direction.
    a: f64,
    /// Objective at the step.
    f: f64,
    /// Gradient at the step.
    g: Vec<f64>,
    /// Directional derivative `g · d` at the step.
    dphi: f64,
}

/// Strong-Wolfe line search (Nocedal & Wright 2006, Alg. 3.5 with zoom Alg. 3.6, cubic interpolation).
///
/// Returns the accepted point, or `None` if no step gave sufficient decrease.
fn line_search<F>(eval: &F, x: &[f64], d: &[f64], f0: f64, dphi0: f64, a0: f64) -> Option<Probe>
where
    F: Fn(&[f64]) -> (f64, Vec<f64>),
{
    let probe = |a: f64| -> Probe {
        let xa: Vec<f64> = x.iter().zip(d).map(|(xi, di)| xi + a * di).collect();
        let (f, g) = eval(&xa);
        let dphi = dotv(&g, d);
        Probe { a, f, g, dphi }
    };
    let armijo = |p: &Probe| p.f <= f0 + C1 * p.a * dphi0 && p.f.is_finite();
    let curvature = |p: &Probe| p.dphi.abs() <= -C2 * dphi0;
    let mut prev = Probe {
        a: 0.0,
        f: f0,
        g: Vec::new(),
        dphi: dphi0,
    };
    let mut a = a0;
    for i in 0..40 {
        let cur = probe(a);
        if !armijo(&cur) || (i > 0 && cur.f >= prev.f) {
            return zoom(&probe, &armijo, &curvature, prev, cur, f0);
        }
        if curvature(&cur) {
            return Some(cur);
        }
        if cur.dphi >= 0.0 {
            return zoom(&probe, &armijo, &curvature, cur, prev, f0);
        }
        prev = cur;
        a *= 2.0;
    }
    // Still descending after many doublings: accept the last point (it satisfies Armijo).
    Some(prev).filter(|p| p.a > 0.0)
}

/// The zoom phase: shrinks `[lo, hi]` (lo satisfies Armijo and has the lower value) to a strong-Wolfe point.
fn zoom<P, A, W>(
    probe: &P,
    armijo: &A,
    curvature: &W,
    mut lo: Probe,
    mut hi: Probe,
    f0: f64,
) -> Option<Probe>
where
    P: Fn(f64) -> Probe,
    A: Fn(&Probe) -> bool,
    W: Fn(&Probe) -> bool,
{
    for _ in 0..60 {
        let (a_min, a_max) = (lo.a.min(hi.a), lo.a.max(hi.a));
        let width = a_max - a_min;
        if width <= 1e-16 * a_max.max(1e-300) {
            break;
        }
        let a = cubic_min(&lo, &hi)
            .filter(|&a| a > a_min + 0.1 * width && a < a_max - 0.1 * width)
            .unwrap_or(0.5 * (lo.a + hi.a));
        let cur = probe(a);
        if !armijo(&cur) || cur.f >= lo.f {
            hi = cur;
        } else {
            if curvature(&cur) {
                return Some(cur);
            }
            if cur.dphi * (hi.a - lo.a) >= 0.0 {
                hi = lo;
            }
            lo = cur;
        }
    }
    // Interval collapsed: accept `lo` if it is a real step that decreased the objective.
    Some(lo).filter(|p| p.a > 0.0 && p.f < f0)
}

/// Minimiser of the cubic interpolating values and slopes at two points (N&W eq. 3.59), if it exists.
fn cubic_min(p: &Probe, q: &Probe) -> Option<f64> {
    let d1 = p.dphi + q.dphi - 3.0 * (p.f - q.f) / (p.a - q.a);
    let disc = d1 * d1 - p.dphi * q.dphi;
    if !(disc.is_finite() && disc >= 0.0) {
        return None;
    }
    let d2 = (q.a - p.a).signum() * disc.sqrt();
    let a = q.a - (q.a - p.a) * (q.dphi + d2 - d1) / (q.dphi - p.dphi + 2.0 * d2);
    a.is_finite().then_some(a)
}

/// L-BFGS (Nocedal & Wright 2006, Alg. 7.4/7.5) from `x0`; returns the minimiser and how it ended.
fn lbfgs<F>(eval: F, x0: Vec<f64>, max_iter: usize, gtol: f64) -> (Vec<f64>, FitInfo)
where
    F: Fn(&[f64]) -> (f64, Vec<f64>),
{
    let mut x = x0;
    let (mut f, mut g) = eval(&x);
    let mut hist: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = Default::default();
    let mut iterations = 0;
    let mut converged = inf_norm(&g) <= gtol;
    while !converged && iterations < max_iter {
        // Two-loop recursion: d = -H g.
        let mut q: Vec<f64> = g.iter().map(|v| -v).collect();
        let mut alphas = Vec::with_capacity(hist.len());
        for (s, y, rho) in hist.iter().rev() {
            let a = rho * dotv(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push(a);
        }
        if let Some((s, y, _)) = hist.back() {
            let gamma = dotv(s, y) / dotv(y, y);
            q.iter_mut().for_each(|v| *v *= gamma);
        }
        for ((s, y, rho), a) in hist.iter().zip(alphas.iter().rev()) {
            let b = rho * dotv(y, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        let mut d = q;
        let mut dphi0 = dotv(&g, &d);
        if dphi0.is_nan() || dphi0 >= 0.0 {
            hist.clear();
            d = g.iter().map(|v| -v).collect();
            dphi0 = dotv(&g, &d);
        }
        let first_step = |d: &[f64]| (1.0 / dotv(d, d).sqrt()).min(1.0);
        let a0 = if hist.is_empty() { first_step(&d) } else { 1.0 };
        let mut found = line_search(&eval, &x, &d, f, dphi0, a0);
        if found.is_none() && !hist.is_empty() {
            // Retry once along steepest descent with a fresh memory.
            hist.clear();
            d = g.iter().map(|v| -v).collect();
            dphi0 = dotv(&g, &d);
            found = line_search(&eval, &x, &d, f, dphi0, first_step(&d));
        }
        let Some(p) = found else {
            // No decrease possible along any direction tried: we are at numerical precision.
            converged = inf_norm(&g) <= gtol.max(1e-8);
            break;
        };
        iterations += 1;
        let s: Vec<f64> = d.iter().map(|v| p.a * v).collect();
        x.iter_mut().zip(&s).for_each(|(xi, si)| *xi += si);
        let y: Vec<f64> = p.g.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dotv(&s, &y);
        if sy > 1e-12 * dotv(&y, &y).max(f64::MIN_POSITIVE) {
            if hist.len() == HISTORY {
                hist.pop_front();
            }
            hist.push_back((s, y, 1.0 / sy));
        }
        let decrease = (f - p.f) / f.abs().max(p.f.abs()).max(1.0);
        f = p.f;
        g = p.g;
        converged = inf_norm(&g) <= gtol || decrease <= FTOL;
    }
    let grad_max = inf_norm(&g);
    (
        x,
        FitInfo {
            iterations,
            objective: f,
            grad_max,
            converged,
        },
    )
}

/// `(v − mean) · inv_std` per column, computed in `f64` and stored as `f32`.
fn standardize_row(row: &mut [f32], mean: &[f64], inv_std: &[f64]) {
    for ((v, mj), sj) in row.iter_mut().zip(mean).zip(inv_std) {
        *v = ((f64::from(*v) - mj) * sj) as f32;
    }
}

impl LinearModel {
    /// Trains the probe on `x` (rows = samples) with labels `y < classes`.
    pub fn fit(
        x: &Matrix,
        y: &[u32],
        classes: usize,
        params: &LinearParams,
    ) -> Result<LinearModel> {
        Self::fit_from(Cow::Borrowed(x), y, classes, params, false).map(|(m, _)| m)
    }

    /// [`LinearModel::fit`] on an owned matrix, standardised in place (no second copy of the
    /// features), returning also the class logits of the training rows (what
    /// [`LinearModel::scores`] would give on the original `x`).
    pub fn fit_scoring_train(
        x: Matrix,
        y: &[u32],
        classes: usize,
        params: &LinearParams,
    ) -> Result<(LinearModel, Vec<Vec<f64>>)> {
        Self::fit_from(Cow::Owned(x), y, classes, params, true)
    }

    fn fit_from(
        x: Cow<'_, Matrix>,
        y: &[u32],
        classes: usize,
        params: &LinearParams,
        score_train: bool,
    ) -> Result<(LinearModel, Vec<Vec<f64>>)> {
        x.validate_non_empty("linear-probe train features")?;
        if y.len() != x.rows {
            return Err(EvalError::Shape {
                context: "linear probe: labels vs. train rows".into(),
                expected: x.rows,
                got: y.len(),
            });
        }
        if classes == 0 {
            return Err(super::invalid("classes", "must be >= 1"));
        }
        super::check_labels(y, classes)?;
        check_solver(&params.solver)?;
        let (mean, inv_std) = if params.standardize {
            let (m, s) = x.column_mean_std();
            let inv = s
                .iter()
                .map(|&v| if v > 0.0 { 1.0 / v } else { 1.0 })
                .collect();
            (Some(m), Some(inv))
        } else {
            (None, None)
        };
        let mut model = LinearModel {
            classes,
            dim: x.cols,
            weights: vec![0.0; classes * x.cols],
            bias: vec![0.0; classes],
            mean,
            inv_std,
            info: FitInfo {
                iterations: 0,
                objective: 0.0,
                grad_max: 0.0,
                converged: false,
            },
        };
        let xs: Cow<'_, Matrix> = match x {
            Cow::Borrowed(b) => model.transform(b),
            Cow::Owned(mut m) => {
                model.standardize(&mut m);
                Cow::Owned(m)
            }
        };
        let n = xs.rows;
        let k = classes;
        let all: Vec<usize> = (0..n).collect();
        let theta0 = vec![0.0f64; k * xs.cols + k];
        let (theta, info) = match params.solver {
            Solver::Lbfgs { c, max_iter, tol } => {
                let lambda = 1.0 / (c * n as f64);
                let eval = |t: &[f64]| objective(&xs, y, &all, t, k, lambda);
                let (theta, mut info) = lbfgs(eval, theta0, max_iter, tol);
                // Report the objective in scikit-learn's scale, C·ΣCE + ½‖W‖².
                info.objective *= c * n as f64;
                (theta, info)
            }
            Solver::Sgd {
                epochs,
                lr,
                batch,
                momentum,
                weight_decay,
                seed,
            } => sgd(
                &xs,
                y,
                k,
                theta0,
                epochs,
                lr,
                batch,
                momentum,
                weight_decay,
                seed,
            ),
        };
        let (w, b) = theta.split_at(k * xs.cols);
        model.weights = w.to_vec();
        model.bias = b.to_vec();
        model.info = info;
        let train_scores = if score_train {
            model.logits_of_standardized(&xs)
        } else {
            Vec::new()
        };
        Ok((model, train_scores))
    }

    /// Applies the training standardisation (if any) to `x`, borrowing when there is none.
    fn transform<'a>(&self, x: &'a Matrix) -> Cow<'a, Matrix> {
        if self.mean.is_none() {
            return Cow::Borrowed(x);
        }
        let mut out = x.clone();
        self.standardize(&mut out);
        Cow::Owned(out)
    }

    /// Standardises the rows of `x` in place with the training mean and scale (if any).
    fn standardize(&self, x: &mut Matrix) {
        if let (Some(m), Some(s)) = (&self.mean, &self.inv_std) {
            let cols = x.cols.max(1);
            for row in x.data.chunks_exact_mut(cols) {
                standardize_row(row, m, s);
            }
        }
    }

    /// Class logits of rows that are already standardised.
    fn logits_of_standardized(&self, xs: &Matrix) -> Vec<Vec<f64>> {
        (0..xs.rows)
            .into_par_iter()
            .map(|i| {
                let mut z = vec![0.0; self.classes];
                logits(&self.weights, &self.bias, xs.row(i), &mut z);
                z
            })
            .collect()
    }

    /// Class logits `W x + b` for every row of `x` (the argmax is the prediction).
    pub fn scores(&self, x: &Matrix) -> Result<Vec<Vec<f64>>> {
        x.validate("linear-probe features")?;
        if x.cols != self.dim {
            return Err(EvalError::Shape {
                context: "linear probe: feature width vs. model".into(),
                expected: self.dim,
                got: x.cols,
            });
        }
        // Row by row: standardising a copy of the whole matrix would double its memory.
        Ok((0..x.rows)
            .into_par_iter()
            .map_init(Vec::new, |row: &mut Vec<f32>, i| {
                let mut z = vec![0.0; self.classes];
                match (&self.mean, &self.inv_std) {
                    (Some(m), Some(s)) => {
                        row.clear();
                        row.extend_from_slice(x.row(i));
                        standardize_row(row, m, s);
                        logits(&self.weights, &self.bias, row, &mut z);
                    }
                    _ => logits(&self.weights, &self.bias, x.row(i), &mut z),
                }
                z
            })
            .collect())
    }

    /// Predicted class (argmax of the logits, ties to the lower index) for every row.
    pub fn predict(&self, x: &Matrix) -> Result<Vec<u32>> {
        Ok(super::metrics::predictions(&self.scores(x)?))
    }

    /// Top-1 / top-5 accuracy on a labelled set.
    pub fn accuracy(&self, x: &Matrix, y: &[u32]) -> Result<Accuracy> {
        if y.len() != x.rows {
            return Err(EvalError::Shape {
                context: "linear probe: labels vs. rows".into(),
                expected: x.rows,
                got: y.len(),
            });
        }
        super::check_labels(y, self.classes)?;
        Accuracy::from_scores(&self.scores(x)?, y)
    }
}

/// Validates the solver hyper-parameters.
fn check_solver(s: &Solver) -> Result<()> {
    let pos = |name: &'static str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(super::invalid(
                name,
                format!("must be finite and > 0, got {v}"),
            ))
        }
    };
    match *s {
        Solver::Lbfgs { c, max_iter, tol } => {
            pos("c", c)?;
            if max_iter == 0 {
                return Err(super::invalid("max_iter", "must be >= 1"));
            }
            if !(tol.is_finite() && tol >= 0.0) {
                return Err(super::invalid(
                    "tol",
                    format!("must be finite and >= 0, got {tol}"),
                ));
            }
        }
        Solver::Sgd {
            epochs,
            lr,
            batch,
            momentum,
            weight_decay,
            ..
        } => {
            pos("lr", lr)?;
            if epochs == 0 {
                return Err(super::invalid("epochs", "must be >= 1"));
            }
            if batch == 0 {
                return Err(super::invalid("batch", "must be >= 1"));
            }
            if !(0.0..1.0).contains(&momentum) {
                return Err(super::invalid(
                    "momentum",
                    format!("must be in [0, 1), got {momentum}"),
                ));
            }
            if !(weight_decay.is_finite() && weight_decay >= 0.0) {
                return Err(super::invalid(
                    "weight_decay",
                    format!("must be finite and >= 0, got {weight_decay}"),
                ));
            }
        }
    }
    Ok(())
}

/// Mini-batch SGD with momentum and per-step cosine decay (SimCLR linear evaluation protocol).
#[allow(clippy::too_many_arguments)]
fn sgd(
    x: &Matrix,
    y: &[u32],
    k: usize,
    mut theta: Vec<f64>,
    epochs: usize,
    lr: f64,
    batch: usize,
    momentum: f64,
    weight_decay: f64,
    seed: u64,
) -> (Vec<f64>, FitInfo) {
    let n = x.rows;
    let steps_per_epoch = n.div_ceil(batch);
    let total = (epochs * steps_per_epoch) as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut velocity = vec![0.0f64; theta.len()];
    let mut step = 0usize;
    for _ in 0..epochs {
        order.shuffle(&mut rng);
        for idx in order.chunks(batch) {
            let (_, g) = objective(x, y, idx, &theta, k, weight_decay);
            let lr_t = lr * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total).cos());
            for ((t, v), gi) in theta.iter_mut().zip(velocity.iter_mut()).zip(&g) {
                *v = momentum * *v + gi;
                *t -= lr_t * *v;
            }
            step += 1;
        }
    }
    let all: Vec<usize> = (0..n).collect();
    let (objective, g) = objective(x, y, &all, &theta, k, weight_decay);
    (
        theta,
        FitInfo {
            iterations: step,
            objective,
            grad_max: inf_norm(&g),
            converged: true,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two classes separated along the first axis, with a noisy second axis.
    fn toy() -> (Matrix, Vec<u32>) {
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for i in 0..40 {
            let c = (i % 2) as u32;
            let off = if c == 0 { -2.0 } else { 2.0 };
            rows.push([
                off + ((i * 7 % 11) as f32 - 5.0) / 5.0,
                ((i * 13 % 17) as f32 - 8.0) / 4.0,
            ]);
            y.push(c);
        }
        (Matrix::from_rows(&rows).unwrap(), y)
    }

    #[test]
    fn lbfgs_reaches_stationary_point() {
        let (x, y) = toy();
        let p = LinearParams {
            solver: Solver::Lbfgs {
                c: 0.5,
                max_iter: 500,
                tol: 1e-10,
            },
            standardize: false,
        };
        let m = LinearModel::fit(&x, &y, 2, &p).unwrap();
        assert!(m.info.converged, "{:?}", m.info);
        // Bit-identical whatever the thread count (sums are taken in a fixed order).
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert_eq!(m, pool.install(|| LinearModel::fit(&x, &y, 2, &p)).unwrap());
        assert!(m.info.grad_max < 1e-8, "{:?}", m.info);
        assert_eq!(m.accuracy(&x, &y).unwrap().top1, 1.0);
        // Check stationarity independently: the gradient of C·ΣCE + ½‖W‖² vanishes.
        let theta: Vec<f64> = m.weights.iter().chain(&m.bias).copied().collect();
        let all: Vec<usize> = (0..x.rows).collect();
        let (_, g) = ce_sum_grad(&x, &y, &all, &theta, 2);
        for (i, gi) in g.iter().enumerate() {
            let full = 0.5 * gi + if i < 4 { theta[i] } else { 0.0 };
            assert!(full.abs() < 1e-6, "component {i}: {full}");
        }
    }

    #[test]
    fn sgd_separates_and_is_deterministic() {
        let (x, y) = toy();
        let p = LinearParams {
            solver: Solver::Sgd {
                epochs: 30,
                lr: 0.1,
                batch: 8,
                momentum: 0.9,
                weight_decay: 1e-4,
                seed: 3,
            },
            standardize: true,
        };
        let a = LinearModel::fit(&x, &y, 2, &p).unwrap();
        let b = LinearModel::fit(&x, &y, 2, &p).unwrap();
        assert_eq!(a, b);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert_eq!(a, pool.install(|| LinearModel::fit(&x, &y, 2, &p)).unwrap());
        assert_eq!(a.accuracy(&x, &y).unwrap().top1, 1.0);
    }

    #[test]
    fn bad_inputs_error() {
        let (x, y) = toy();
        let p = LinearParams::default();
        assert!(LinearModel::fit(&x, &y[..3], 2, &p).is_err());
        assert!(matches!(
            LinearModel::fit(&x, &y, 1, &p),
            Err(EvalError::LabelOutOfRange { .. })
        ));
        let bad = LinearParams {
            solver: Solver::Lbfgs {
                c: -1.0,
                max_iter: 10,
                tol: 1e-4,
            },
            standardize: false,
        };
        assert!(LinearModel::fit(&x, &y, 2, &bad).is_err());
        let m = LinearModel::fit(&x, &y, 2, &p).unwrap();
        let narrow = Matrix::new(1, 1, vec![0.0]).unwrap();
        assert!(m.scores(&narrow).is_err());
        assert!(c_from_l2(0.0, 10).is_err());
        let c = c_from_l2(1e-3, 1000).unwrap();
        assert!((c - 1.0).abs() < 1e-12);
        assert!((l2_from_c(c, 1000).unwrap() - 1e-3).abs() < 1e-15);
    }
}
