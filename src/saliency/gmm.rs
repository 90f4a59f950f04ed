//! Three-dimensional Gaussian mixtures for GrabCut / SaliencyCut
//! (`reference/saliency.md` §3.1).
//!
//! Two learners:
//!
//! - [`Gmm`]: the reference's CmGMM. Soft (per-sample weighted) fitting,
//!   initialised by Orchard–Bouman splitting, refined by hard reassignment to
//!   the most likely component. Densities carry the literal constant 0.0635.
//! - [`HardGmm`]: OpenCV `grabCut`'s model. k-means++ initialisation (with
//!   OpenCV's RNG, [`CvRng`], so a seed reproduces `cv::setRNGSeed`), hard
//!   labels, densities without the (2π)^−1.5 constant, 0.01 added to the
//!   diagonal when the determinant is ≤ 1e-6.
//!
//! Colours are `[f32; 3]`; all statistics are computed in `f64`.

/// Number of mixture components used by both GrabCut variants (§3 step 5a, §3.1).
pub const DEFAULT_COMPONENTS: usize = 5;

/// Added to the covariance diagonal by the reference fitter (§3.1: 1e-7/9).
pub const REF_COV_EPS: f64 = 1e-7 / 9.0;

/// Splitting stops when the largest leading eigenvalue is below this (§3.1).
pub const REF_SPLIT_MIN_EIGENVALUE: f64 = 0.01;

/// The reference density constant, ≈ (2π)^−1.5 (§3.1).
pub const REF_DENSITY_CONST: f64 = 0.0635;

/// Eigen-decomposition of a symmetric 3×3 matrix by cyclic Jacobi rotations.
///
/// Returns the eigenvalues in descending order and the matching unit
/// eigenvectors as rows. Each eigenvector's sign is normalised so that its
/// component of largest magnitude is positive (the first such component on
/// ties), which makes the Orchard–Bouman split side deterministic.
pub fn sym_eigen3(a: [[f64; 3]; 3]) -> ([f64; 3], [[f64; 3]; 3]) {
    let mut a = a;
    // Symmetrise (the caller's matrix is symmetric up to rounding).
    for (p, q) in [(0, 1), (0, 2), (1, 2)] {
        let m = 0.5 * (a[p][q] + a[q][p]);
        a[p][q] = m;
        a[q][p] = m;
    }
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _sweep in 0..64 {
        let off = a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2];
        let diag = a[0][0] * a[0][0] + a[1][1] * a[1][1] + a[2][2] * a[2][2];
        if off == 0.0 || off <= 1e-34 * diag {
            break;
        }
        for (p, q) in [(0usize, 1usize), (0, 2), (1, 2)] {
            let apq = a[p][q];
            if apq == 0.0 {
                continue;
            }
            let theta = (a[q][q] - a[p][p]) / (2.0 * apq);
            let t = if theta.abs() > 1e150 {
                0.5 / theta
            } else {
                theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt())
            };
            let c = 1.0 / (t * t + 1.0).sqrt();
            let s = t * c;
            // A ← Jᵀ A J for the rotation J in the (p, q) plane.
            let r = 3 - p - q;
            let (arp, arq) = (a[r][p], a[r][q]);
            a[p][p] -= t * apq;
            a[q][q] += t * apq;
            a[p][q] = 0.0;
            a[q][p] = 0.0;
            a[r][p] = c * arp - s * arq;
            a[p][r] = a[r][p];
            a[r][q] = s * arp + c * arq;
            a[q][r] = a[r][q];
            // V ← V J (columns are eigenvectors).
            for row in v.iter_mut() {
                let (vp, vq) = (row[p], row[q]);
                row[p] = c * vp - s * vq;
                row[q] = s * vp + c * vq;
            }
        }
    }
    let mut order = [0usize, 1, 2];
    order.sort_by(|&i, &j| a[j][j].total_cmp(&a[i][i]));
    let mut vals = [0.0; 3];
    let mut vecs = [[0.0; 3]; 3];
    for (k, &i) in order.iter().enumerate() {
        vals[k] = a[i][i];
        let mut e = [v[0][i], v[1][i], v[2][i]];
        let mut big = 0;
        for j in 1..3 {
            if e[j].abs() > e[big].abs() {
                big = j;
            }
        }
        if e[big] < 0.0 {
            e = [-e[0], -e[1], -e[2]];
        }
        vecs[k] = e;
    }
    (vals, vecs)
}

/// Determinant of a 3×3 matrix (cofactor expansion along the first row).
#[inline]
fn det3(c: &[[f64; 3]; 3]) -> f64 {
    c[0][0] * (c[1][1] * c[2][2] - c[1][2] * c[2][1])
        - c[0][1] * (c[1][0] * c[2][2] - c[1][2] * c[2][0])
        + c[0][2] * (c[1][0] * c[2][1] - c[1][1] * c[2][0])
}

/// Inverse of a 3×3 matrix from its adjugate, given its determinant.
#[inline]
fn inv3(c: &[[f64; 3]; 3], det: f64) -> [[f64; 3]; 3] {
    let id = 1.0 / det;
    [
        [
            (c[1][1] * c[2][2] - c[1][2] * c[2][1]) * id,
            -(c[0][1] * c[2][2] - c[0][2] * c[2][1]) * id,
            (c[0][1] * c[1][2] - c[0][2] * c[1][1]) * id,
        ],
        [
            -(c[1][0] * c[2][2] - c[1][2] * c[2][0]) * id,
            (c[0][0] * c[2][2] - c[0][2] * c[2][0]) * id,
            -(c[0][0] * c[1][2] - c[0][2] * c[1][0]) * id,
        ],
        [
            (c[1][0] * c[2][1] - c[1][1] * c[2][0]) * id,
            -(c[0][0] * c[2][1] - c[0][1] * c[2][0]) * id,
            (c[0][0] * c[1][1] - c[0][1] * c[1][0]) * id,
        ],
    ]
}

/// Squared Mahalanobis distance dᵀ Σ⁻¹ d.
#[inline]
fn mahalanobis(inv: &[[f64; 3]; 3], mean: &[f64; 3], c: [f32; 3]) -> f64 {
    let d = [
        c[0] as f64 - mean[0],
        c[1] as f64 - mean[1],
        c[2] as f64 - mean[2],
    ];
    quad_form(inv, d)
}

/// dᵀ A d, in a fixed order (the batched loops rely on the same bits).
#[inline(always)]
fn quad_form(inv: &[[f64; 3]; 3], d: [f64; 3]) -> f64 {
    d[0] * (d[0] * inv[0][0] + d[1] * inv[1][0] + d[2] * inv[2][0])
        + d[1] * (d[0] * inv[0][1] + d[1] * inv[1][1] + d[2] * inv[2][1])
        + d[2] * (d[0] * inv[0][2] + d[1] * inv[1][2] + d[2] * inv[2][2])
}

/// ln Σ exp(lᵢ) of the terms produced by `terms` (−∞ allowed; −∞ if all
/// are). Terms more than 40 below the largest are skipped: exp(−40) is far
/// below half an ulp of the sum (≥ 1), so they cannot change it.
#[inline]
fn log_sum_exp<I: Iterator<Item = f64> + Clone>(terms: I) -> f64 {
    let max = terms.clone().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    let mut s = 0.0;
    for l in terms {
        let d = l - max;
        if d == 0.0 {
            s += 1.0;
        } else if d > -40.0 {
            s += d.exp();
        }
    }
    max + s.ln()
}

/// One weighted Gaussian component of a [`Gmm`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gaussian {
    /// Mean colour.
    pub mean: [f64; 3],
    /// Covariance (with [`REF_COV_EPS`] on the diagonal).
    pub cov: [[f64; 3]; 3],
    /// Mixture weight: the component's share of the total sample weight.
    pub weight: f64,
    /// Determinant of `cov`.
    pub det: f64,
    /// Eigenvalues of `cov`, descending.
    pub eigenvalues: [f64; 3],
    /// Unit eigenvectors of `cov` (rows), matching `eigenvalues`.
    pub eigenvectors: [[f64; 3]; 3],
    inv: [[f64; 3]; 3],
    /// 0.0635 / √det.
    norm: f64,
    /// ln(norm).
    log_norm: f64,
    /// ln(weight · norm), −∞ for weight 0.
    log_wnorm: f64,
}

impl Gaussian {
    /// Squared Mahalanobis distance of `c` from the mean.
    #[inline]
    pub fn mahalanobis_sq(&self, c: [f32; 3]) -> f64 {
        mahalanobis(&self.inv, &self.mean, c)
    }

    /// P_i(c) = 0.0635/√det Σ · exp(−½ dᵀΣ⁻¹d) (§3.1), without the mixture weight.
    #[inline]
    pub fn density(&self, c: [f32; 3]) -> f64 {
        self.norm * (-0.5 * self.mahalanobis_sq(c)).exp()
    }

    /// ln P_i(c).
    #[inline]
    pub fn log_density(&self, c: [f32; 3]) -> f64 {
        self.log_norm - 0.5 * self.mahalanobis_sq(c)
    }
}

/// Weighted first and second moments of a set of colours.
#[derive(Debug, Clone, Copy, Default)]
struct Fitter {
    w: f64,
    s: [f64; 3],
    /// Upper triangle of Σ w x xᵀ: 00 01 02 11 12 22.
    p: [f64; 6],
}

impl Fitter {
    #[inline]
    fn add(&mut self, c: [f32; 3], w: f32) {
        let w = w as f64;
        let x = [c[0] as f64, c[1] as f64, c[2] as f64];
        self.w += w;
        for (s, xk) in self.s.iter_mut().zip(x) {
            *s += w * xk;
        }
        self.p[0] += w * x[0] * x[0];
        self.p[1] += w * x[0] * x[1];
        self.p[2] += w * x[0] * x[2];
        self.p[3] += w * x[1] * x[1];
        self.p[4] += w * x[1] * x[2];
        self.p[5] += w * x[2] * x[2];
    }

    /// The component, or `None` when the fitter's weight is below
    /// [`REF_COV_EPS`] (an empty component).
    fn build(&self, total: f64) -> Option<Gaussian> {
        if self.w < REF_COV_EPS {
            return None;
        }
        let inv_w = 1.0 / self.w;
        let m = [self.s[0] * inv_w, self.s[1] * inv_w, self.s[2] * inv_w];
        let e = |k: usize, i: usize, j: usize| self.p[k] * inv_w - m[i] * m[j];
        let (c00, c01, c02, c11, c12, c22) = (
            e(0, 0, 0),
            e(1, 0, 1),
            e(2, 0, 2),
            e(3, 1, 1),
            e(4, 1, 2),
            e(5, 2, 2),
        );
        // §3.1: + 1e-7/9 on the diagonal.
        let cov = [
            [c00 + REF_COV_EPS, c01, c02],
            [c01, c11 + REF_COV_EPS, c12],
            [c02, c12, c22 + REF_COV_EPS],
        ];
        let det = det3(&cov).max(f64::MIN_POSITIVE);
        let inv = inv3(&cov, det);
        let (eigenvalues, eigenvectors) = sym_eigen3(cov);
        let norm = REF_DENSITY_CONST / det.sqrt();
        Some(Gaussian {
            mean: m,
            cov,
            weight: if total > 0.0 { self.w / total } else { 0.0 },
            det,
            eigenvalues,
            eigenvectors,
            inv,
            norm,
            log_norm: norm.ln(),
            log_wnorm: if total > 0.0 && self.w > 0.0 {
                (self.w / total).ln() + norm.ln()
            } else {
                f64::NEG_INFINITY
            },
        })
    }
}

/// The reference's Gaussian mixture (CmGMM, §3.1).
///
/// Empty components (total weight below [`REF_COV_EPS`]) can only appear
/// after a [`build_weighted`](Self::build_weighted) split whose side has no
/// weight; [`refine`](Self::refine) drops them. An empty component has
/// density 0.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gmm {
    comps: Vec<Option<Gaussian>>,
    sum_w: f64,
}

impl Gmm {
    /// Orchard–Bouman build from weighted samples (§3.1): one component,
    /// then up to `k − 1` splits of the component with the largest leading
    /// eigenvalue λ₁ by the sign of e₁·(x − μ) (strictly positive goes to the
    /// new component), stopping early when that λ₁ < 0.01. Samples of weight
    /// 0 still take part in the split geometry.
    ///
    /// # Panics
    /// If `samples` and `weights` differ in length.
    pub fn build_weighted(samples: &[[f32; 3]], weights: &[f32], k: usize) -> Gmm {
        let mut labels = vec![0u8; samples.len()];
        Self::build_weighted_into(samples, weights, k, &mut labels)
    }

    /// As [`build_weighted`](Self::build_weighted), writing each sample's
    /// component index into `labels` and reusing it as scratch.
    ///
    /// # Panics
    /// If the three slices differ in length or `k > 255`.
    pub fn build_weighted_into(
        samples: &[[f32; 3]],
        weights: &[f32],
        k: usize,
        labels: &mut [u8],
    ) -> Gmm {
        assert_eq!(samples.len(), weights.len(), "one weight per sample");
        assert_eq!(samples.len(), labels.len(), "one label per sample");
        assert!(k <= 255, "at most 255 components");
        labels.fill(0);
        if k == 0 {
            return Gmm::default();
        }
        let mut f0 = Fitter::default();
        for (&c, &w) in samples.iter().zip(weights) {
            f0.add(c, w);
        }
        let total = f0.w;
        let mut comps = vec![f0.build(total)];
        let lead = |g: &Option<Gaussian>| g.as_ref().map_or(0.0, |g| g.eigenvalues[0]);
        let mut n_split = 0usize;
        for i in 1..k {
            let sg = match comps[n_split] {
                Some(g) if g.eigenvalues[0] >= REF_SPLIT_MIN_EIGENVALUE => g,
                _ => break,
            };
            let e = sg.eigenvectors[0];
            let split = e[0] * sg.mean[0] + e[1] * sg.mean[1] + e[2] * sg.mean[2];
            let (mut fa, mut fb) = (Fitter::default(), Fitter::default());
            for ((&c, &w), l) in samples.iter().zip(weights).zip(labels.iter_mut()) {
                if *l as usize != n_split {
                    continue;
                }
                let v = e[0] * c[0] as f64 + e[1] * c[1] as f64 + e[2] * c[2] as f64;
                if v > split {
                    *l = i as u8;
                    fb.add(c, w);
                } else {
                    fa.add(c, w);
                }
            }
            comps[n_split] = fa.build(total);
            comps.push(fb.build(total));
            n_split = 0;
            for j in 1..comps.len() {
                if lead(&comps[j]) > lead(&comps[n_split]) {
                    n_split = j;
                }
            }
        }
        Gmm {
            comps,
            sum_w: total,
        }
    }

    /// Reassign every sample to its most likely component (density without
    /// the mixture weight), refit with the weights, drop empty components
    /// (§3.1, §3 step 5b "refine").
    pub fn refine(&mut self, samples: &[[f32; 3]], weights: &[f32]) {
        let mut labels = vec![0u8; samples.len()];
        self.refine_with(samples, weights, &mut labels);
    }

    /// As [`refine`](Self::refine), with a caller-provided label buffer; on
    /// return `labels` holds the assignment the refit used (indices of the
    /// components before refitting: dropped empty ones shift later indices).
    ///
    /// # Panics
    /// If the three slices differ in length.
    pub fn refine_with(&mut self, samples: &[[f32; 3]], weights: &[f32], labels: &mut [u8]) {
        assert_eq!(samples.len(), weights.len(), "one weight per sample");
        assert_eq!(samples.len(), labels.len(), "one label per sample");
        if self.comps.is_empty() {
            return;
        }
        self.assign_all(samples, labels);
        let mut fitters = vec![Fitter::default(); self.comps.len()];
        let mut total = 0.0;
        for ((&c, &w), &l) in samples.iter().zip(weights).zip(labels.iter()) {
            fitters[l as usize].add(c, w);
            total += w as f64;
        }
        self.comps = fitters
            .iter()
            .filter_map(|f| f.build(total))
            .map(Some)
            .collect();
        self.sum_w = total;
    }

    /// Write [`assign`](Self::assign) of every sample into `labels`.
    ///
    /// Components outermost over blocks of samples, so the per-sample work
    /// vectorises; each sample sees the components in index order with the
    /// same arithmetic as [`assign`](Self::assign), so the labels are the same.
    pub fn assign_all(&self, samples: &[[f32; 3]], labels: &mut [u8]) {
        let comps: Vec<Compact> = self
            .comps
            .iter()
            .enumerate()
            .filter_map(|(i, g)| {
                g.as_ref().map(|g| Compact {
                    index: i as u8,
                    inv: g.inv,
                    mean: g.mean,
                    log_norm: g.log_norm,
                })
            })
            .collect();
        for (block, out) in samples
            .chunks(ASSIGN_BLOCK)
            .zip(labels.chunks_mut(ASSIGN_BLOCK))
        {
            assign_block(&comps, block, out);
        }
    }

    /// The component of largest density P_i(c), without the mixture weight
    /// w_i (§3.1); ties go to the lower index. 0 when there are no components.
    #[inline]
    pub fn assign(&self, c: [f32; 3]) -> usize {
        let mut best = 0;
        let mut best_l = f64::NEG_INFINITY;
        for (i, g) in self.comps.iter().enumerate() {
            if let Some(g) = g {
                let l = g.log_density(c);
                if l > best_l {
                    best_l = l;
                    best = i;
                }
            }
        }
        best
    }

    /// Number of components (including empty ones left by a build).
    pub fn len(&self) -> usize {
        self.comps.len()
    }

    /// Whether there are no components.
    pub fn is_empty(&self) -> bool {
        self.comps.is_empty()
    }

    /// Component `i`, `None` when it is empty.
    pub fn component(&self, i: usize) -> Option<&Gaussian> {
        self.comps[i].as_ref()
    }

    /// The non-empty components.
    pub fn components(&self) -> impl Iterator<Item = &Gaussian> {
        self.comps.iter().flatten()
    }

    /// Total sample weight the mixture was fitted to.
    pub fn sum_weight(&self) -> f64 {
        self.sum_w
    }

    /// P_i(c) (§3.1), 0 for an empty component.
    #[inline]
    pub fn component_density(&self, i: usize, c: [f32; 3]) -> f64 {
        self.comps[i].as_ref().map_or(0.0, |g| g.density(c))
    }

    /// ln P_i(c), −∞ for an empty component.
    #[inline]
    pub fn component_log_density(&self, i: usize, c: [f32; 3]) -> f64 {
        self.comps[i]
            .as_ref()
            .map_or(f64::NEG_INFINITY, |g| g.log_density(c))
    }

    /// Mixture density P(c) = Σ w_i P_i(c) (§3.1). May underflow to 0; use
    /// [`log_density`](Self::log_density) for −ln P.
    #[inline]
    pub fn density(&self, c: [f32; 3]) -> f64 {
        self.components().map(|g| g.weight * g.density(c)).sum()
    }

    /// ln P(c), computed as a log-sum-exp so it stays finite where P(c)
    /// underflows. −∞ when the mixture has no components.
    #[inline]
    pub fn log_density(&self, c: [f32; 3]) -> f64 {
        let mut ls = [f64::NEG_INFINITY; 8];
        if self.comps.len() <= ls.len() {
            for (l, g) in ls.iter_mut().zip(self.components()) {
                *l = g.log_wnorm - 0.5 * g.mahalanobis_sq(c);
            }
            log_sum_exp(ls.iter().copied())
        } else {
            log_sum_exp(
                self.comps
                    .iter()
                    .flatten()
                    .map(|g| g.log_wnorm - 0.5 * g.mahalanobis_sq(c)),
            )
        }
    }

    /// −ln P(c), the t-link cost (§3 step 5b).
    #[inline]
    pub fn neg_log_density(&self, c: [f32; 3]) -> f64 {
        -self.log_density(c)
    }

    /// [`neg_log_density`](Self::neg_log_density) of every sample into `out`, bit for bit:
    /// the per-component terms are computed a block of samples at a time (vectorised), the
    /// log-sum-exp per sample as before.
    ///
    /// # Panics
    /// If `out` is shorter than `samples`.
    pub fn neg_log_density_all(&self, samples: &[[f32; 3]], out: &mut [f64]) {
        assert!(out.len() >= samples.len(), "one output per sample");
        let comps: Vec<Compact> = self
            .components()
            .map(|g| Compact {
                index: 0,
                inv: g.inv,
                mean: g.mean,
                log_norm: g.log_wnorm,
            })
            .collect();
        let mut terms = vec![[0.0f64; ASSIGN_BLOCK]; comps.len()];
        for (block, out) in samples
            .chunks(ASSIGN_BLOCK)
            .zip(out.chunks_mut(ASSIGN_BLOCK))
        {
            log_terms_block(&comps, block, &mut terms);
            for (j, o) in out.iter_mut().enumerate().take(block.len()) {
                *o = -log_sum_exp(terms.iter().map(|t| t[j]));
            }
        }
    }
}

/// Samples per block of [`Gmm::assign_all`].
const ASSIGN_BLOCK: usize = 64;

/// What the block loops need of a non-empty component.
struct Compact {
    /// Its index among all components (for labels).
    index: u8,
    inv: [[f64; 3]; 3],
    mean: [f64; 3],
    /// The additive constant of its log-term: ln norm (assignment) or ln(weight·norm) (density).
    log_norm: f64,
}

/// Channels of up to [`ASSIGN_BLOCK`] samples as f64 columns, so per-sample loops are plain
/// vector arithmetic.
#[inline(always)]
fn columns(samples: &[[f32; 3]]) -> [[f64; ASSIGN_BLOCK]; 3] {
    let mut x = [[0.0f64; ASSIGN_BLOCK]; 3];
    for (j, s) in samples.iter().take(ASSIGN_BLOCK).enumerate() {
        for k in 0..3 {
            x[k][j] = f64::from(s[k]);
        }
    }
    x
}

/// `log_norm − ½ dᵀΣ⁻¹d` of sample `j` of the columns `x`, as [`mahalanobis`] computes it.
#[inline(always)]
fn log_term(c: &Compact, x: &[[f64; ASSIGN_BLOCK]; 3], j: usize) -> f64 {
    let (m, inv) = (&c.mean, &c.inv);
    let d = [x[0][j] - m[0], x[1][j] - m[1], x[2][j] - m[2]];
    c.log_norm - 0.5 * quad_form(inv, d)
}

multiversion! {
    /// The log-terms of every component for one block of samples (`terms[c][j]`).
    fn log_terms_block(comps: &[Compact], samples: &[[f32; 3]], terms: &mut [[f64; ASSIGN_BLOCK]]) {
        let x = columns(samples);
        for (c, t) in comps.iter().zip(terms.iter_mut()) {
            for (j, tj) in t.iter_mut().enumerate() {
                *tj = log_term(c, &x, j);
            }
        }
    }
}

multiversion! {
    /// Labels one block (at most [`ASSIGN_BLOCK`] samples): the first component of largest
    /// log-density `log_norm − ½ dᵀΣ⁻¹d`, 0 when none is finite.
    fn assign_block(comps: &[Compact], samples: &[[f32; 3]], labels: &mut [u8]) {
        let n = samples.len().min(ASSIGN_BLOCK);
        let x = columns(samples);
        let mut best_l = [f64::NEG_INFINITY; ASSIGN_BLOCK];
        let mut best = [0u8; ASSIGN_BLOCK];
        for c in comps {
            for j in 0..ASSIGN_BLOCK {
                let l = log_term(c, &x, j);
                let better = l > best_l[j];
                best_l[j] = if better { l } else { best_l[j] };
                best[j] = if better { c.index } else { best[j] };
            }
        }
        labels[..n].copy_from_slice(&best[..n]);
    }
}

/// OpenCV's random number generator (`cv::RNG`): multiply-with-carry.
/// `CvRng::new(s)` matches `cv::setRNGSeed(s)` / `cv::RNG(s)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CvRng {
    state: u64,
}

impl CvRng {
    /// A generator seeded like `cv::RNG(seed)` (seed 0 becomes 0xffffffff).
    pub fn new(seed: u64) -> Self {
        CvRng {
            state: if seed == 0 { 0xffff_ffff } else { seed },
        }
    }

    /// Next 32-bit value (`(unsigned)rng`).
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        self.state = (self.state as u32 as u64)
            .wrapping_mul(4_164_903_690)
            .wrapping_add(self.state >> 32);
        self.state as u32
    }

    /// Uniform in [0, 1) (`(double)rng`): 64 bits from two draws, the
    /// first in the high half, times 2⁻⁶⁴.
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        let hi = self.next_u32() as u64;
        let lo = self.next_u32() as u64;
        ((hi << 32) | lo) as f64 * 5.421_010_862_427_522e-20
    }
}

/// Squared Euclidean distance in `f32`, accumulated left to right as
/// OpenCV's `normL2Sqr` does for 3-vectors.
#[inline]
fn l2sq_f32(a: [f32; 3], b: [f32; 3]) -> f32 {
    let mut s = 0.0f32;
    for j in 0..3 {
        let t = a[j] - b[j];
        s += t * t;
    }
    s
}

/// k-means++ seeding with `trials` candidates per centre, as OpenCV's
/// `generateCentersPP` (3 trials in `cv::kmeans`). Returns sample indices.
fn kmeans_pp_centers(data: &[[f32; 3]], k: usize, rng: &mut CvRng, trials: usize) -> Vec<usize> {
    let n = data.len();
    let mut centers = Vec::with_capacity(k);
    centers.push(rng.next_u32() as usize % n);
    let mut dist: Vec<f32> = data
        .iter()
        .map(|&x| l2sq_f32(x, data[centers[0]]))
        .collect();
    let mut sum0: f64 = dist.iter().map(|&d| d as f64).sum();
    let mut tdist = vec![0.0f32; n];
    let mut tdist2 = vec![0.0f32; n];
    for _ in 1..k {
        let mut best_sum = f64::MAX;
        let mut best_center = None;
        for _ in 0..trials {
            let mut p = rng.next_f64() * sum0;
            let mut ci = 0;
            while ci < n - 1 {
                p -= dist[ci] as f64;
                if p <= 0.0 {
                    break;
                }
                ci += 1;
            }
            let cc = data[ci];
            for ((t, &x), &d) in tdist2.iter_mut().zip(data).zip(&dist) {
                *t = l2sq_f32(x, cc).min(d);
            }
            // OpenCV sums blocks of 8 floats in f32, then adds them in f64.
            let mut s = 0.0f64;
            let mut chunks = tdist2.chunks_exact(8);
            for c in &mut chunks {
                s += (c[0] + c[1] + c[2] + c[3] + c[4] + c[5] + c[6] + c[7]) as f64;
            }
            for &t in chunks.remainder() {
                s += t as f64;
            }
            if s < best_sum {
                best_sum = s;
                best_center = Some(ci);
                std::mem::swap(&mut tdist, &mut tdist2);
            }
        }
        let ci = best_center.expect("k-means++: non-finite sample distances");
        centers.push(ci);
        sum0 = best_sum;
        std::mem::swap(&mut dist, &mut tdist);
    }
    centers
}

/// Label each sample with its nearest centre (the first on ties), with the
/// distances computed as [`l2sq_f32`]; blocks of 8 samples are transposed so
/// the distance loop vectorises.
fn assign_nearest(data: &[[f32; 3]], centers: &[[f32; 3]], labels: &mut [u8]) {
    const B: usize = 8;
    let mut xs = data.chunks_exact(B);
    let mut ls = labels.chunks_exact_mut(B);
    for (x, l) in (&mut xs).zip(&mut ls) {
        let mut a = [[0.0f32; B]; 3];
        for (j, p) in x.iter().enumerate() {
            for c in 0..3 {
                a[c][j] = p[c];
            }
        }
        let mut best = [0u8; B];
        let mut min = [f32::MAX; B];
        for (k, c) in centers.iter().enumerate() {
            for j in 0..B {
                let (t0, t1, t2) = (a[0][j] - c[0], a[1][j] - c[1], a[2][j] - c[2]);
                let d = t0 * t0 + t1 * t1 + t2 * t2;
                if min[j] > d {
                    min[j] = d;
                    best[j] = k as u8;
                }
            }
        }
        l.copy_from_slice(&best);
    }
    for (&x, l) in xs.remainder().iter().zip(ls.into_remainder()) {
        let mut best = 0;
        let mut min = f32::MAX;
        for (k, &c) in centers.iter().enumerate() {
            let d = l2sq_f32(x, c);
            if min > d {
                min = d;
                best = k;
            }
        }
        *l = best as u8;
    }
}

/// Hard k-means with k-means++ seeding, as OpenCV's `cv::kmeans(..,
/// TermCriteria(MAX_ITER, iterations, 0), attempts 1, KMEANS_PP_CENTERS)`
/// computes it (float centres, empty clusters refilled from the farthest
/// point of the largest cluster, labels of the last iteration not
/// reassigned). Returns one label per sample in `0..min(k, n)`.
pub fn kmeans_pp(data: &[[f32; 3]], k: usize, iterations: usize, rng: &mut CvRng) -> Vec<u8> {
    let n = data.len();
    let k = k.min(n);
    assert!(k <= 255, "at most 255 clusters");
    if k == 0 {
        return Vec::new();
    }
    let max_count = if k == 1 { 2 } else { iterations.clamp(2, 100) };
    let eps = (f32::EPSILON as f64) * (f32::EPSILON as f64);
    let mut labels = vec![0u8; n];
    let mut centers: Vec<[f32; 3]> = vec![[0.0; 3]; k];
    let mut old_centers = centers.clone();
    let mut counters = vec![0usize; k];
    let mut iter = 0;
    loop {
        let mut max_shift = if iter == 0 { f64::MAX } else { 0.0 };
        std::mem::swap(&mut centers, &mut old_centers);
        if iter == 0 {
            for (c, i) in centers.iter_mut().zip(kmeans_pp_centers(data, k, rng, 3)) {
                *c = data[i];
            }
        } else {
            centers.fill([0.0; 3]);
            counters.fill(0);
            for (&x, &l) in data.iter().zip(&labels) {
                let c = &mut centers[l as usize];
                for j in 0..3 {
                    c[j] += x[j];
                }
                counters[l as usize] += 1;
            }
            for kk in 0..k {
                if counters[kk] != 0 {
                    continue;
                }
                let mut max_k = 0;
                for k1 in 1..k {
                    if counters[max_k] < counters[k1] {
                        max_k = k1;
                    }
                }
                let scale = 1.0f32 / counters[max_k] as f32;
                let base = centers[max_k];
                let base_n = [base[0] * scale, base[1] * scale, base[2] * scale];
                let mut max_dist = 0.0f64;
                let mut far = 0;
                for (i, (&x, &l)) in data.iter().zip(&labels).enumerate() {
                    if l as usize != max_k {
                        continue;
                    }
                    let d = l2sq_f32(x, base_n) as f64;
                    if max_dist <= d {
                        max_dist = d;
                        far = i;
                    }
                }
                counters[max_k] -= 1;
                counters[kk] += 1;
                labels[far] = kk as u8;
                for j in 0..3 {
                    centers[max_k][j] -= data[far][j];
                    centers[kk][j] += data[far][j];
                }
            }
            for kk in 0..k {
                let scale = 1.0f32 / counters[kk] as f32;
                for v in centers[kk].iter_mut() {
                    *v *= scale;
                }
                if iter > 0 {
                    let mut d = 0.0f64;
                    for j in 0..3 {
                        let t = centers[kk][j] as f64 - old_centers[kk][j] as f64;
                        d += t * t;
                    }
                    max_shift = max_shift.max(d);
                }
            }
        }
        iter += 1;
        if iter == max_count || max_shift <= eps {
            break;
        }
        assign_nearest(data, &centers, &mut labels);
    }
    labels
}

/// One component of a [`HardGmm`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HardComponent {
    /// Mixture weight (share of the samples); 0 means unused.
    pub coef: f64,
    /// Mean colour.
    pub mean: [f64; 3],
    /// Covariance (0.01 added to the diagonal if the determinant was ≤ 1e-6).
    pub cov: [[f64; 3]; 3],
    /// Determinant of `cov`.
    pub det: f64,
    inv: [[f64; 3]; 3],
    /// 1/√det.
    inv_sqrt_det: f64,
    /// ln(1/√det).
    log_inv_sqrt_det: f64,
    /// ln(coef/√det).
    log_coef_norm: f64,
}

/// Accumulates hard-labelled samples for a [`HardGmm`].
#[derive(Debug, Clone, Default)]
pub struct HardGmmLearner {
    sums: Vec<[f64; 3]>,
    prods: Vec<[[f64; 3]; 3]>,
    counts: Vec<usize>,
    total: usize,
}

impl HardGmmLearner {
    /// A learner for `k` components.
    pub fn new(k: usize) -> Self {
        HardGmmLearner {
            sums: vec![[0.0; 3]; k],
            prods: vec![[[0.0; 3]; 3]; k],
            counts: vec![0; k],
            total: 0,
        }
    }

    /// Forget all samples.
    pub fn reset(&mut self) {
        self.sums.fill([0.0; 3]);
        self.prods.fill([[0.0; 3]; 3]);
        self.counts.fill(0);
        self.total = 0;
    }

    /// Add colour `c` to component `ci`.
    #[inline]
    pub fn add(&mut self, ci: usize, c: [f32; 3]) {
        let x = [c[0] as f64, c[1] as f64, c[2] as f64];
        let s = &mut self.sums[ci];
        let p = &mut self.prods[ci];
        for i in 0..3 {
            s[i] += x[i];
            for j in 0..3 {
                p[i][j] += x[i] * x[j];
            }
        }
        self.counts[ci] += 1;
        self.total += 1;
    }

    /// Write the learned components into `gmm` (same component count).
    pub fn finish(&self, gmm: &mut HardGmm) {
        gmm.comps
            .resize(self.counts.len(), HardComponent::default());
        for (ci, comp) in gmm.comps.iter_mut().enumerate() {
            let n = self.counts[ci];
            if n == 0 {
                comp.coef = 0.0;
                continue;
            }
            let inv_n = 1.0 / n as f64;
            comp.coef = n as f64 / self.total as f64;
            let s = &self.sums[ci];
            let m = [s[0] * inv_n, s[1] * inv_n, s[2] * inv_n];
            let p = &self.prods[ci];
            let mut c = [[0.0; 3]; 3];
            for i in 0..3 {
                for j in 0..3 {
                    c[i][j] = p[i][j] * inv_n - m[i] * m[j];
                }
            }
            let mut det = det3(&c);
            // §3.1: OpenCV adds 0.01 to the diagonal when det ≤ 1e-6.
            if det <= 1e-6 {
                for (i, row) in c.iter_mut().enumerate() {
                    row[i] += 0.01;
                }
                det = det3(&c);
            }
            let det_safe = det.max(f64::MIN_POSITIVE);
            *comp = HardComponent {
                coef: comp.coef,
                mean: m,
                cov: c,
                det,
                inv: inv3(&c, det_safe),
                inv_sqrt_det: 1.0 / det_safe.sqrt(),
                log_inv_sqrt_det: (1.0 / det_safe.sqrt()).ln(),
                log_coef_norm: comp.coef.ln() + (1.0 / det_safe.sqrt()).ln(),
            };
        }
    }
}

/// OpenCV `grabCut`'s Gaussian mixture (§3.1 "OpenCV grabCut differs").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HardGmm {
    comps: Vec<HardComponent>,
}

impl HardGmm {
    /// Initialise from samples as OpenCV's `initGMMs`: k-means++ with
    /// `rng`, 10 iterations, then learn from the k-means labels.
    pub fn from_kmeans(samples: &[[f32; 3]], k: usize, rng: &mut CvRng) -> HardGmm {
        let labels = kmeans_pp(samples, k, 10, rng);
        let mut learner = HardGmmLearner::new(k);
        for (&c, &l) in samples.iter().zip(&labels) {
            learner.add(l as usize, c);
        }
        let mut gmm = HardGmm::default();
        learner.finish(&mut gmm);
        gmm
    }

    /// Learn from hard labels (one per sample).
    pub fn from_labels(samples: &[[f32; 3]], labels: &[u8], k: usize) -> HardGmm {
        let mut learner = HardGmmLearner::new(k);
        for (&c, &l) in samples.iter().zip(labels) {
            learner.add(l as usize, c);
        }
        let mut gmm = HardGmm::default();
        learner.finish(&mut gmm);
        gmm
    }

    /// The components (unused ones have `coef == 0`).
    pub fn components(&self) -> &[HardComponent] {
        &self.comps
    }

    /// Number of component slots.
    pub fn len(&self) -> usize {
        self.comps.len()
    }

    /// Whether there are no component slots.
    pub fn is_empty(&self) -> bool {
        self.comps.is_empty()
    }

    /// 1/√det Σ_i · exp(−½ dᵀΣ_i⁻¹d), 0 for unused components (OpenCV's
    /// `GMM::operator()(ci, color)`; no (2π)^−1.5).
    #[inline]
    pub fn component_density(&self, i: usize, c: [f32; 3]) -> f64 {
        let g = &self.comps[i];
        if g.coef > 0.0 {
            g.inv_sqrt_det * (-0.5 * mahalanobis(&g.inv, &g.mean, c)).exp()
        } else {
            0.0
        }
    }

    /// Σ coef_i · component density.
    #[inline]
    pub fn density(&self, c: [f32; 3]) -> f64 {
        let mut r = 0.0;
        for i in 0..self.comps.len() {
            r += self.comps[i].coef * self.component_density(i, c);
        }
        r
    }

    /// −ln P(c) with P(c) = Σ coef_i · component density (OpenCV's
    /// `-log(gmm(color))`), computed as a log-sum-exp: equal up to rounding,
    /// and finite where P(c) underflows (OpenCV would give +∞).
    /// [`f64::MAX`]`.ln()` when no component is in use.
    #[inline]
    pub fn neg_log_density(&self, c: [f32; 3]) -> f64 {
        let mut ls = [f64::NEG_INFINITY; 8];
        let l = if self.comps.len() <= ls.len() {
            for (l, g) in ls.iter_mut().zip(&self.comps) {
                if g.coef > 0.0 {
                    *l = g.log_coef_norm - 0.5 * mahalanobis(&g.inv, &g.mean, c);
                }
            }
            log_sum_exp(ls.iter().copied())
        } else {
            log_sum_exp(
                self.comps
                    .iter()
                    .filter(|g| g.coef > 0.0)
                    .map(|g| g.log_coef_norm - 0.5 * mahalanobis(&g.inv, &g.mean, c)),
            )
        };
        if l == f64::NEG_INFINITY {
            f64::MAX.ln()
        } else {
            -l
        }
    }

    /// Index of the component with the largest density (strictly larger
    /// than the earlier ones and than 0; 0 if all underflow), as OpenCV's
    /// `whichComponent`.
    ///
    /// Compares log-densities (no `exp`); only when the best one is so small
    /// that `exp` could underflow does it fall back to OpenCV's exact
    /// computation, so the 0-if-all-underflow rule is kept.
    #[inline]
    pub fn which_component(&self, c: [f32; 3]) -> usize {
        let mut k = 0;
        let mut best = f64::NEG_INFINITY;
        for (i, g) in self.comps.iter().enumerate() {
            if g.coef > 0.0 {
                let l = g.log_inv_sqrt_det - 0.5 * mahalanobis(&g.inv, &g.mean, c);
                if l > best {
                    k = i;
                    best = l;
                }
            }
        }
        // exp(x) is a normal double for x > −708; below, match OpenCV exactly.
        if best > -700.0 {
            return k;
        }
        self.which_component_exact(c)
    }

    /// [`which_component`](Self::which_component) computed exactly as
    /// OpenCV does, from the densities.
    pub fn which_component_exact(&self, c: [f32; 3]) -> usize {
        let mut k = 0;
        let mut max = 0.0;
        for i in 0..self.comps.len() {
            let p = self.component_density(i, c);
            if p > max {
                k = i;
                max = p;
            }
        }
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32) / (1u64 << 24) as f32
    }

    fn two_clusters() -> (Vec<[f32; 3]>, Vec<f32>) {
        let mut s = 7u64;
        let mut xs = Vec::new();
        for i in 0..2000 {
            let c = if i % 2 == 0 {
                [0.1, 0.2, 0.3]
            } else {
                [0.9, 0.7, 0.5]
            };
            xs.push([
                c[0] + 0.05 * (lcg(&mut s) - 0.5),
                c[1] + 0.05 * (lcg(&mut s) - 0.5),
                c[2] + 0.05 * (lcg(&mut s) - 0.5),
            ]);
        }
        let w = vec![1.0; xs.len()];
        (xs, w)
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn eigen_reconstructs_matrix() {
        let mut s = 3u64;
        for _ in 0..200 {
            let mut a = [[0.0f64; 3]; 3];
            for i in 0..3 {
                for j in i..3 {
                    let v = (lcg(&mut s) as f64 - 0.5) * 10.0;
                    a[i][j] = v;
                    a[j][i] = v;
                }
            }
            let (vals, vecs) = sym_eigen3(a);
            assert!(vals[0] >= vals[1] && vals[1] >= vals[2]);
            for k in 0..3 {
                let e = vecs[k];
                let n = (e[0] * e[0] + e[1] * e[1] + e[2] * e[2]).sqrt();
                assert!((n - 1.0).abs() < 1e-12);
                for i in 0..3 {
                    let av = a[i][0] * e[0] + a[i][1] * e[1] + a[i][2] * e[2];
                    assert!((av - vals[k] * e[i]).abs() < 1e-9, "{a:?}");
                }
            }
        }
        // Diagonal and degenerate inputs.
        let (v, _) = sym_eigen3([[2.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 1.0]]);
        assert_eq!(v, [5.0, 2.0, 1.0]);
        let (v, _) = sym_eigen3([[1.0; 3]; 3]);
        assert!((v[0] - 3.0).abs() < 1e-12 && v[1].abs() < 1e-12 && v[2].abs() < 1e-12);
    }

    #[test]
    fn batched_assignment_and_densities_match_the_per_sample_ones_bit_for_bit() {
        let mut seed = 11u64;
        // 1,000 colours (not a multiple of the block), soft weights, and an empty component.
        let xs: Vec<[f32; 3]> = (0..1000)
            .map(|_| [lcg(&mut seed), lcg(&mut seed), lcg(&mut seed)])
            .collect();
        let w: Vec<f32> = (0..xs.len()).map(|_| lcg(&mut seed)).collect();
        let mut zero_half = w.clone();
        zero_half[..500].fill(0.0);
        for weights in [&w, &zero_half] {
            let g = Gmm::build_weighted(&xs, weights, 5);
            let mut labels = vec![0u8; xs.len()];
            g.assign_all(&xs, &mut labels);
            let mut costs = vec![0.0f64; xs.len()];
            g.neg_log_density_all(&xs, &mut costs);
            for (i, &c) in xs.iter().enumerate() {
                assert_eq!(labels[i] as usize, g.assign(c), "sample {i}");
                assert_eq!(
                    costs[i].to_bits(),
                    g.neg_log_density(c).to_bits(),
                    "sample {i}"
                );
            }
        }
    }

    #[test]
    fn split_finds_two_well_separated_clusters() {
        let (xs, w) = two_clusters();
        let g = Gmm::build_weighted(&xs, &w, 5);
        // The sub-clusters have eigenvalues ≈ 0.05²/12 ≪ 0.01: exactly one split.
        assert_eq!(g.len(), 2);
        let mut means: Vec<[f64; 3]> = g.components().map(|c| c.mean).collect();
        means.sort_by(|a, b| a[0].total_cmp(&b[0]));
        for (m, e) in means.iter().zip([[0.1, 0.2, 0.3], [0.9, 0.7, 0.5]]) {
            for j in 0..3 {
                assert!((m[j] - e[j]).abs() < 0.01, "{m:?} vs {e:?}");
            }
        }
        for c in g.components() {
            assert!((c.weight - 0.5).abs() < 1e-9);
        }
        assert!((g.sum_weight() - 2000.0).abs() < 1e-9);
        // Density peaks near the means and the argmax follows the clusters.
        let a = g.assign([0.1, 0.2, 0.3]);
        let b = g.assign([0.9, 0.7, 0.5]);
        assert_ne!(a, b);
        assert!(g.density([0.1, 0.2, 0.3]) > g.density([0.5, 0.45, 0.4]));
        let p = g.density([0.12, 0.21, 0.3]);
        assert!((g.log_density([0.12, 0.21, 0.3]) - p.ln()).abs() < 1e-9);
    }

    #[test]
    fn weights_steer_the_fit() {
        let (xs, mut w) = two_clusters();
        // Only the first cluster has weight: its mean is the component mean.
        for (i, w) in w.iter_mut().enumerate() {
            *w = if i % 2 == 0 { 1.0 } else { 0.0 };
        }
        let g = Gmm::build_weighted(&xs, &w, 1);
        let m = g.components().next().unwrap().mean;
        assert!((m[0] - 0.1).abs() < 0.01 && (m[2] - 0.3).abs() < 0.01);
        // The zero-weight cluster adds nothing to the covariance, so even
        // with k = 5 there is nothing to split.
        let g5 = Gmm::build_weighted(&xs, &w, 5);
        assert_eq!(g5.len(), 1);
        assert!((g5.component(0).unwrap().weight - 1.0).abs() < 1e-12);
    }

    #[test]
    fn refine_does_not_increase_components() {
        let mut s = 11u64;
        let xs: Vec<[f32; 3]> = (0..3000)
            .map(|_| [lcg(&mut s), lcg(&mut s), lcg(&mut s) * 0.3])
            .collect();
        let w: Vec<f32> = (0..3000).map(|_| lcg(&mut s)).collect();
        let mut g = Gmm::build_weighted(&xs, &w, 5);
        assert_eq!(g.len(), 5);
        for _ in 0..5 {
            let before = g.len();
            g.refine(&xs, &w);
            assert!(g.len() <= before);
            let total: f64 = g.components().map(|c| c.weight).sum();
            assert!((total - 1.0).abs() < 1e-9);
        }
        // Refine on the two-cluster data keeps both clusters.
        let (xs, w) = two_clusters();
        let mut g = Gmm::build_weighted(&xs, &w, 5);
        g.refine(&xs, &w);
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn single_colour_stops_splitting() {
        let xs = vec![[0.5f32, 0.5, 0.5]; 100];
        let w = vec![1.0f32; 100];
        let g = Gmm::build_weighted(&xs, &w, 5);
        assert_eq!(g.len(), 1);
        let c = g.components().next().unwrap();
        assert!((c.cov[0][0] - REF_COV_EPS).abs() < 1e-15);
        assert!(g.density([0.5, 0.5, 0.5]).is_finite());
        let none = Gmm::build_weighted(&xs, &[0.0; 100], 5);
        assert_eq!(none.components().count(), 0);
        assert_eq!(none.log_density([0.5, 0.5, 0.5]), f64::NEG_INFINITY);
    }

    #[test]
    fn cv_rng_sequence() {
        // MWC with multiplier 4164903690 from state 0xffffffff.
        let mut r = CvRng::new(0);
        let a = r.next_u32();
        assert_eq!(a as u64, (0xffff_ffffu64 * 4_164_903_690) & 0xffff_ffff);
        let f = r.next_f64();
        assert!((0.0..1.0).contains(&f));
        // (double)rng consumes two draws.
        let mut a = CvRng::new(7);
        let mut b = CvRng::new(7);
        let (hi, lo) = (b.next_u32() as u64, b.next_u32() as u64);
        assert_eq!(a.next_f64(), ((hi << 32) | lo) as f64 / 2f64.powi(64));
        assert_eq!(a, b);
    }

    #[test]
    fn kmeans_separates_and_hard_gmm_learns() {
        let mut s = 5u64;
        let xs: Vec<[f32; 3]> = (0..600)
            .map(|i| {
                let base = [
                    [20.0, 30.0, 40.0],
                    [200.0, 40.0, 10.0],
                    [90.0, 220.0, 120.0],
                ][i % 3];
                [
                    base[0] + 10.0 * lcg(&mut s),
                    base[1] + 10.0 * lcg(&mut s),
                    base[2] + 10.0 * lcg(&mut s),
                ]
            })
            .collect();
        let mut rng = CvRng::new(0);
        let labels = kmeans_pp(&xs, 3, 10, &mut rng);
        for i in 3..600 {
            assert_eq!(labels[i], labels[i % 3]);
        }
        let mut rng = CvRng::new(0);
        let g = HardGmm::from_kmeans(&xs, 5, &mut rng);
        assert_eq!(g.len(), 5);
        let total: f64 = g.components().iter().map(|c| c.coef).sum();
        assert!((total - 1.0).abs() < 1e-12);
        assert!(g.density([25.0, 35.0, 45.0]) > g.density([120.0, 120.0, 120.0]));
        let far = [255.0, 255.0, 255.0];
        assert!(g.neg_log_density(far).is_finite());
        for c in [
            [25.0f32, 35.0, 45.0],
            [120.0, 120.0, 120.0],
            [200.0, 45.0, 15.0],
        ] {
            let (a, b) = (g.neg_log_density(c), -g.density(c).ln());
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
        }
        // The log-domain argmax agrees with OpenCV's exact one everywhere.
        for r in (0..=255).step_by(15) {
            for gg in (0..=255).step_by(15) {
                for b in (0..=255).step_by(15) {
                    let c = [r as f32, gg as f32, b as f32];
                    assert_eq!(g.which_component(c), g.which_component_exact(c), "{c:?}");
                }
            }
        }
        // Few samples: fewer clusters than requested.
        let mut rng = CvRng::new(1);
        let l = kmeans_pp(&xs[..2], 5, 10, &mut rng);
        assert_eq!(l.len(), 2);
        assert!(l.iter().all(|&v| v < 2));
    }
}
