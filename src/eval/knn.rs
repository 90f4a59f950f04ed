//! Weighted k-nearest-neighbour classification of frozen features (InstDisc style).
//!
//! This is the monitor used by InstDisc (Wu et al. 2018, §3.4), MoCo, DINO and
//! solo-learn: rows are L2-normalised, similarity is the cosine, the `k` most
//! similar training rows vote with weight `exp(s / T)` and the class with the
//! largest summed weight wins. With [`Distance::Euclidean`] (solo-learn's
//! option) rows are used raw and the similarity *and* weight is
//! `1 / (‖f − f_i‖ + 1e-5)`; the temperature is then unused.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::matrix::Matrix;
use super::metrics::Accuracy;
use super::{EvalError, Result};

/// solo-learn's `epsilon` in `1 / (distance + eps)` for the Euclidean variant.
const EUCLIDEAN_EPS: f64 = 1e-5;

/// Test rows processed together so each training row is loaded once per block (cache blocking).
const TEST_BLOCK: usize = 32;

/// How neighbours are found and weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Distance {
    /// Cosine similarity of L2-normalised rows, weight `exp(s / T)` (InstDisc, MoCo, DINO).
    Cosine,
    /// Raw rows, similarity = weight = `1 / (‖f − f_i‖ + 1e-5)` (solo-learn's Euclidean kNN).
    Euclidean,
}

/// Hyper-parameters of the weighted kNN classifier.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KnnParams {
    /// Number of neighbours (InstDisc and DINO use 200, solo-learn 20).
    pub k: usize,
    /// Softmax temperature `T` of the cosine weights (0.07 in InstDisc/DINO, 0.1 in MoCo v1's monitor).
    pub temperature: f64,
    /// Similarity used to rank and weight neighbours.
    pub distance: Distance,
}

impl Default for KnnParams {
    /// DINO's evaluation defaults (§ "k-NN classification": k = 20, T = 0.07, cosine).
    fn default() -> Self {
        Self {
            k: 20,
            temperature: 0.07,
            distance: Distance::Cosine,
        }
    }
}

/// The `k` nearest training rows of one test row, most similar first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnnNeighbors {
    /// Training-row indices, by descending similarity (ties: lower index first).
    pub indices: Vec<usize>,
    /// Their similarities (cosine, or `1/(d+1e-5)` for Euclidean).
    pub sims: Vec<f64>,
    /// Their vote weights (`exp(s/T)`, or the similarity itself for Euclidean).
    pub weights: Vec<f64>,
}

/// Checks the inputs shared by all entry points (shapes, finiteness, `k`, temperature).
fn check(train: &Matrix, test: &Matrix, p: &KnnParams) -> Result<()> {
    train.validate_non_empty("kNN train features")?;
    test.validate("kNN test features")?;
    if test.cols != train.cols {
        return Err(EvalError::Shape {
            context: "kNN: test feature width vs. train".into(),
            expected: train.cols,
            got: test.cols,
        });
    }
    if p.k == 0 {
        return Err(super::invalid("k", "kNN needs k >= 1"));
    }
    if p.k > train.rows {
        return Err(EvalError::TooFewSamples(format!(
            "kNN with k = {} needs at least k training rows, got {}",
            p.k, train.rows
        )));
    }
    if p.distance == Distance::Cosine {
        if !(p.temperature.is_finite() && p.temperature > 0.0) {
            return Err(super::invalid(
                "temperature",
                format!("must be finite and > 0, got {}", p.temperature),
            ));
        }
        // exp(s/T) with s ≤ 1 must stay finite in f64 (exp overflows above ~709.78).
        if 1.0 / p.temperature > 700.0 {
            return Err(super::invalid(
                "temperature",
                format!(
                    "{} is too small: exp(1/T) overflows f64 (need T > 1/700)",
                    p.temperature
                ),
            ));
        }
    }
    Ok(())
}

/// Train rows per packed panel: the width of the micro-kernel (two SSE registers of `f32`).
const PANEL: usize = 8;
/// Test rows per micro-kernel call.
const MICRO: usize = 4;
/// Feature dimensions summed in `f32` before flushing into the `f64` totals (bounds rounding growth).
const FLUSH: usize = 64;

/// Train rows packed in panels of [`PANEL`] rows, interleaved by dimension (GEMM-style packing).
///
/// Panel `p` holds `data[(p·d + k)·PANEL + r] = train[p·PANEL + r][k]`, zero-padded past the last row.
struct Packed {
    /// The packed values.
    data: Vec<f32>,
    /// Feature dimension `d`.
    dim: usize,
    /// Number of panels, `ceil(rows / PANEL)`.
    panels: usize,
}

impl Packed {
    /// Packs the rows of `m`, each divided by its L2 norm when `normalize` (as
    /// [`Matrix::l2_normalized`], without a normalised copy of the whole matrix).
    fn new(m: &Matrix, normalize: bool) -> Self {
        let (d, panels) = (m.cols, m.rows.div_ceil(PANEL));
        let mut data = vec![0.0f32; panels * d * PANEL];
        let mut unit = vec![0.0f32; d];
        for (i, row) in m.rows_iter().enumerate() {
            let (p, r) = (i / PANEL, i % PANEL);
            let row = if normalize {
                unit.copy_from_slice(row);
                super::matrix::l2_normalize_row(&mut unit);
                &unit[..]
            } else {
                row
            };
            for (k, &v) in row.iter().enumerate() {
                data[(p * d + k) * PANEL + r] = v;
            }
        }
        Self {
            data,
            dim: d,
            panels,
        }
    }

    /// Packs `m` in its own memory (no second copy of a large train set): the `PANEL` rows of a
    /// full panel are already contiguous, so each panel is transposed through a small scratch
    /// buffer; only the zero rows padding the last panel are new memory.
    fn from_owned(m: Matrix, normalize: bool) -> Self {
        let (d, panels) = (m.cols, m.rows.div_ceil(PANEL));
        let mut data = m.data;
        if normalize && d > 0 {
            data.chunks_exact_mut(d)
                .for_each(super::matrix::l2_normalize_row);
        }
        data.reserve_exact(panels * d * PANEL - data.len());
        data.resize(panels * d * PANEL, 0.0);
        let mut scratch = vec![0.0f32; d * PANEL];
        for block in data.chunks_exact_mut(d * PANEL) {
            scratch.copy_from_slice(block);
            for (r, row) in scratch.chunks_exact(d.max(1)).enumerate().take(PANEL) {
                for (k, &v) in row.iter().enumerate() {
                    block[k * PANEL + r] = v;
                }
            }
        }
        Self {
            data,
            dim: d,
            panels,
        }
    }

    /// Panel `p` (`dim × PANEL` values).
    fn panel(&self, p: usize) -> &[f32] {
        &self.data[p * self.dim * PANEL..(p + 1) * self.dim * PANEL]
    }
}

/// One step of the pair measure: `a·b` (dot) or `(a − b)²` (squared distance).
#[inline(always)]
fn term<const EUCLID: bool>(a: f32, b: f32) -> f32 {
    if EUCLID {
        let d = a - b;
        d * d
    } else {
        a * b
    }
}

/// Micro-kernel: the measure of [`MICRO`] test rows against one panel of [`PANEL`] train rows.
///
/// Every pair is summed in the same order (dimension by dimension in `f32`, flushed
/// into `f64` every [`FLUSH`] dimensions), so results do not depend on where a row sits.
fn micro<const EUCLID: bool>(
    tests: [&[f32]; MICRO],
    panel: &[f32],
    d: usize,
) -> [[f64; PANEL]; MICRO] {
    let tests = tests.map(|t| &t[..d]);
    let mut out = [[0.0f64; PANEL]; MICRO];
    for kb in (0..d).step_by(FLUSH) {
        let ke = (kb + FLUSH).min(d);
        let mut acc = [[0.0f32; PANEL]; MICRO];
        for (k, pk) in (kb..ke).zip(panel[kb * PANEL..ke * PANEL].chunks_exact(PANEL)) {
            for (t, row) in acc.iter_mut().enumerate() {
                let a = tests[t][k];
                for r in 0..PANEL {
                    row[r] += term::<EUCLID>(a, pk[r]);
                }
            }
        }
        for (o, a) in out.iter_mut().zip(&acc) {
            for r in 0..PANEL {
                o[r] += f64::from(a[r]);
            }
        }
    }
    out
}

/// Fills `sims[t * n + j]` with the measure of test row `t` against train row `j` for a block of test rows.
fn fill_block<const EUCLID: bool>(tests: &[&[f32]], train: &Packed, n: usize, sims: &mut [f64]) {
    let d = train.dim;
    let zero = vec![0.0f32; d];
    // Pad the last group with a zero row whose results are dropped.
    let groups: Vec<[&[f32]; MICRO]> = (0..tests.len())
        .step_by(MICRO)
        .map(|start| std::array::from_fn(|t| tests.get(start + t).copied().unwrap_or(&zero)))
        .collect();
    // Panel outermost: it stays in L1 while the (L2-resident) test block streams past it.
    for p in 0..train.panels {
        let panel = train.panel(p);
        for (g, group) in groups.iter().enumerate() {
            let start = g * MICRO;
            let v = micro::<EUCLID>(*group, panel, d);
            for (t, row) in v.iter().enumerate().take(tests.len() - start) {
                for (r, &val) in row.iter().enumerate() {
                    let j = p * PANEL + r;
                    if j < n {
                        sims[(start + t) * n + j] = val;
                    }
                }
            }
        }
    }
}

/// Finds the `k` nearest training rows of every test row (parallel over blocks of test rows).
pub fn knn_neighbors(train: &Matrix, test: &Matrix, p: &KnnParams) -> Result<Vec<KnnNeighbors>> {
    check(train, test, p)?;
    let packed = Packed::new(train, p.distance == Distance::Cosine);
    Ok(neighbors_of_packed(&packed, train.rows, test, p))
}

/// [`knn_neighbors`] consuming the train set, packed in its own memory: the peak is one copy
/// of the train features, not two.
fn knn_neighbors_owned(train: Matrix, test: &Matrix, p: &KnnParams) -> Result<Vec<KnnNeighbors>> {
    check(&train, test, p)?;
    let n = train.rows;
    let packed = Packed::from_owned(train, p.distance == Distance::Cosine);
    Ok(neighbors_of_packed(&packed, n, test, p))
}

/// The `k` nearest of the `n` packed train rows for every test row.
fn neighbors_of_packed(
    packed: &Packed,
    n: usize,
    test: &Matrix,
    p: &KnnParams,
) -> Vec<KnnNeighbors> {
    let test_n;
    let test = match p.distance {
        Distance::Cosine => {
            test_n = test.l2_normalized();
            &test_n
        }
        Distance::Euclidean => test,
    };
    let starts: Vec<usize> = (0..test.rows).step_by(TEST_BLOCK).collect();
    let blocks: Vec<Vec<KnnNeighbors>> = starts
        .into_par_iter()
        .map_init(
            Default::default,
            |(sims, order): &mut (Vec<f64>, Vec<usize>), start| {
                let end = (start + TEST_BLOCK).min(test.rows);
                let tests: Vec<&[f32]> = (start..end).map(|t| test.row(t)).collect();
                sims.clear();
                sims.resize(tests.len() * n, 0.0);
                match p.distance {
                    Distance::Cosine => fill_block::<false>(&tests, packed, n, sims),
                    Distance::Euclidean => {
                        fill_block::<true>(&tests, packed, n, sims);
                        sims.iter_mut()
                            .for_each(|v| *v = 1.0 / (v.sqrt() + EUCLIDEAN_EPS));
                    }
                }
                sims.chunks_exact(n)
                    .map(|row| top_k(row, p, order))
                    .collect()
            },
        )
        .collect();
    blocks.into_iter().flatten().collect()
}

/// Selects the `k` largest similarities of one row (descending, ties to the lower index) and weights them.
///
/// `scratch` holds the row's candidate indices between calls; the result owns only its `k`
/// entries (keeping the whole row's index buffer per test row once cost 5 GB on MNIST-60k).
fn top_k(sims: &[f64], p: &KnnParams, scratch: &mut Vec<usize>) -> KnnNeighbors {
    let order = |a: &usize, b: &usize| sims[*b].total_cmp(&sims[*a]).then(a.cmp(b));
    scratch.clear();
    scratch.extend(0..sims.len());
    if p.k < scratch.len() {
        scratch.select_nth_unstable_by(p.k - 1, order);
        scratch.truncate(p.k);
    }
    let mut idx = scratch.clone();
    idx.sort_unstable_by(order);
    let s: Vec<f64> = idx.iter().map(|&i| sims[i]).collect();
    let weights = match p.distance {
        Distance::Cosine => s.iter().map(|&v| (v / p.temperature).exp()).collect(),
        Distance::Euclidean => s.clone(),
    };
    KnnNeighbors {
        indices: idx,
        sims: s,
        weights,
    }
}

/// Class scores (sum of neighbour weights per class) for every test row; the prediction is their argmax.
pub fn knn_scores(
    train: &Matrix,
    train_labels: &[u32],
    test: &Matrix,
    classes: usize,
    p: &KnnParams,
) -> Result<Vec<Vec<f64>>> {
    check_scores_input(train, train_labels, classes)?;
    Ok(class_scores(
        &knn_neighbors(train, test, p)?,
        train_labels,
        classes,
    ))
}

/// Labels that match the train rows and lie below `classes`.
fn check_scores_input(train: &Matrix, train_labels: &[u32], classes: usize) -> Result<()> {
    if train_labels.len() != train.rows {
        return Err(EvalError::Shape {
            context: "kNN: train labels vs. train rows".into(),
            expected: train.rows,
            got: train_labels.len(),
        });
    }
    if classes == 0 {
        return Err(super::invalid("classes", "must be >= 1"));
    }
    super::check_labels(train_labels, classes)
}

/// [`knn_scores`] consuming the train features, so a large train set is held once, not twice.
pub fn knn_scores_owned(
    train: Matrix,
    train_labels: &[u32],
    test: &Matrix,
    classes: usize,
    p: &KnnParams,
) -> Result<Vec<Vec<f64>>> {
    check_scores_input(&train, train_labels, classes)?;
    Ok(class_scores(
        &knn_neighbors_owned(train, test, p)?,
        train_labels,
        classes,
    ))
}

/// Sums neighbour weights per class.
fn class_scores(neighbors: &[KnnNeighbors], train_labels: &[u32], classes: usize) -> Vec<Vec<f64>> {
    neighbors
        .iter()
        .map(|nb| {
            let mut scores = vec![0.0f64; classes];
            for (&i, &w) in nb.indices.iter().zip(&nb.weights) {
                scores[train_labels[i] as usize] += w;
            }
            scores
        })
        .collect()
}

/// Top-1 / top-5 accuracy of the weighted kNN classifier on a labelled test set.
pub fn knn_accuracy(
    train: &Matrix,
    train_labels: &[u32],
    test: &Matrix,
    test_labels: &[u32],
    classes: usize,
    p: &KnnParams,
) -> Result<Accuracy> {
    if test_labels.len() != test.rows {
        return Err(EvalError::Shape {
            context: "kNN: test labels vs. test rows".into(),
            expected: test.rows,
            got: test_labels.len(),
        });
    }
    if test.rows == 0 {
        return Err(EvalError::Empty("kNN accuracy: no test rows".into()));
    }
    super::check_labels(test_labels, classes)?;
    let scores = knn_scores(train, train_labels, test, classes, p)?;
    Accuracy::from_scores(&scores, test_labels)
}

#[cfg(test)]
mod tests {
    use super::super::metrics::predictions;
    use super::*;

    fn toy() -> (Matrix, Vec<u32>) {
        let m = Matrix::from_rows(&[
            [1.0f32, 0.0],
            [0.9, 0.1],
            [0.0, 1.0],
            [0.1, 0.9],
            [1.0, 0.0],
        ])
        .unwrap();
        (m, vec![0, 0, 1, 1, 2])
    }

    #[test]
    fn packing_in_place_matches_packing_a_copy() {
        // 11 rows: one full panel and a padded one; 3 dims.
        let rows: Vec<[f32; 3]> = (0..11)
            .map(|i| [i as f32, 1.0 - i as f32 * 0.5, (i * i) as f32 * 0.1])
            .collect();
        let m = Matrix::from_rows(&rows).unwrap();
        for normalize in [false, true] {
            let copied = Packed::new(&m, normalize);
            let owned = Packed::from_owned(m.clone(), normalize);
            assert_eq!(copied.data, owned.data, "normalize {normalize}");
            assert_eq!((copied.panels, copied.dim), (owned.panels, owned.dim));
        }
        let (train, labels) = toy();
        let p = KnnParams {
            k: 3,
            ..KnnParams::default()
        };
        assert_eq!(
            knn_scores(&train, &labels, &train, 3, &p).unwrap(),
            knn_scores_owned(train.clone(), &labels, &train, 3, &p).unwrap()
        );
    }

    #[test]
    fn k_larger_than_n_errors() {
        let (train, labels) = toy();
        let p = KnnParams {
            k: 6,
            ..KnnParams::default()
        };
        let r = knn_scores(&train, &labels, &train, 3, &p);
        assert!(matches!(r, Err(EvalError::TooFewSamples(_))));
        let p0 = KnnParams { k: 0, ..p };
        assert!(knn_neighbors(&train, &train, &p0).is_err());
    }

    #[test]
    fn bad_inputs_error() {
        let (train, labels) = toy();
        let p = KnnParams {
            k: 2,
            ..KnnParams::default()
        };
        assert!(knn_scores(&train, &labels[..4], &train, 3, &p).is_err());
        assert!(knn_scores(&train, &labels, &train, 2, &p).is_err());
        let narrow = Matrix::new(1, 1, vec![1.0]).unwrap();
        assert!(knn_scores(&train, &labels, &narrow, 3, &p).is_err());
        let mut nan = train.clone();
        nan.data[3] = f32::NAN;
        assert!(matches!(
            knn_scores(&nan, &labels, &train, 3, &p),
            Err(EvalError::NonFinite { row: 1, col: 1, .. })
        ));
        let cold = KnnParams {
            temperature: 0.0,
            ..p
        };
        assert!(knn_scores(&train, &labels, &train, 3, &cold).is_err());
    }

    #[test]
    fn ties_go_to_lower_index_and_weights_follow_formula() {
        let (train, labels) = toy();
        let test = Matrix::from_rows(&[[2.0f32, 0.0]]).unwrap();
        let p = KnnParams {
            k: 3,
            temperature: 0.5,
            distance: Distance::Cosine,
        };
        let nb = &knn_neighbors(&train, &test, &p).unwrap()[0];
        // Rows 0 and 4 are identical (sim 1): the lower index comes first.
        assert_eq!(nb.indices, vec![0, 4, 1]);
        assert!((nb.weights[0] - (1.0f64 / 0.5).exp()).abs() < 1e-9);
        let scores = knn_scores(&train, &labels, &test, 3, &p).unwrap();
        assert!((scores[0][1]).abs() < 1e-15);
        assert_eq!(predictions(&scores), vec![0]);
    }

    #[test]
    fn euclidean_weights_are_inverse_distances() {
        let (train, labels) = toy();
        let test = Matrix::from_rows(&[[0.0f32, 2.0]]).unwrap();
        let p = KnnParams {
            k: 2,
            temperature: f64::NAN, // unused for Euclidean
            distance: Distance::Euclidean,
        };
        let nb = &knn_neighbors(&train, &test, &p).unwrap()[0];
        assert_eq!(nb.indices, vec![2, 3]);
        assert!((nb.weights[0] - 1.0 / (1.0 + 1e-5)).abs() < 1e-6);
        let acc = knn_accuracy(&train, &labels, &test, &[1], 3, &p).unwrap();
        assert_eq!(acc.top1, 1.0);
    }

    #[test]
    fn packed_kernel_matches_naive_f64() {
        // Sizes that leave remainders everywhere: panels (53 % 8), micro groups and
        // test blocks (37 rows > 32), and the f32 flush (70 dims > 64).
        let (n, m, d) = (53, 37, 70);
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let mut draw =
            |len: usize| -> Vec<f32> { (0..len).map(|_| rng.random_range(-3.0f32..3.0)).collect() };
        let train = Matrix::new(n, d, draw(n * d)).unwrap();
        let test = Matrix::new(m, d, draw(m * d)).unwrap();
        for distance in [Distance::Cosine, Distance::Euclidean] {
            let p = KnnParams {
                k: 7,
                temperature: 0.1,
                distance,
            };
            let got = knn_neighbors(&train, &test, &p).unwrap();
            assert_eq!(got.len(), m);
            for (t, nb) in got.iter().enumerate() {
                let f = |j: usize| -> f64 {
                    let (a, b) = (test.row(t), train.row(j));
                    let dot: f64 = a
                        .iter()
                        .zip(b)
                        .map(|(&x, &y)| f64::from(x) * f64::from(y))
                        .sum();
                    let na: f64 = a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
                    let nb: f64 = b.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
                    let dist: f64 = a
                        .iter()
                        .zip(b)
                        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
                        .sum::<f64>()
                        .sqrt();
                    match distance {
                        Distance::Cosine => dot / (na * nb),
                        Distance::Euclidean => 1.0 / (dist + 1e-5),
                    }
                };
                let mut order: Vec<usize> = (0..n).collect();
                order.sort_by(|&a, &b| f(b).total_cmp(&f(a)).then(a.cmp(&b)));
                assert_eq!(nb.indices, order[..7], "{distance:?} row {t}");
                for (q, &j) in nb.indices.iter().enumerate() {
                    assert!(
                        (nb.sims[q] - f(j)).abs() < 1e-6 * f(j).abs().max(1.0),
                        "{distance:?} {t},{q}"
                    );
                }
            }
        }
    }
}
