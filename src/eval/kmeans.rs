//! k-means clustering: k-means++ seeding and Lloyd iterations, in `f64`.
//!
//! [`kmeans`] follows scikit-learn's `KMeans(algorithm="lloyd", tol=0)`:
//! greedy k-means++ seeding, Lloyd iterations until no assignment changes,
//! several restarts keeping the lowest inertia. [`lloyd_from`] runs the Lloyd
//! part alone from given centres. Empty clusters are re-seeded with the points
//! farthest from their centre, deterministically.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::matrix::Matrix;
use super::{EvalError, Result};

/// Outcome of a k-means run: assignments, centres and the objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KMeansResult {
    /// Cluster index (`0..k`) of every row.
    pub labels: Vec<u32>,
    /// `k × cols` cluster centres (means of their members).
    pub centers: Matrix,
    /// Sum of squared Euclidean distances of the rows to their assigned centre.
    pub inertia: f64,
    /// Lloyd iterations run (assignment + update steps) in the returned solution.
    pub iterations: usize,
}

/// Squared Euclidean distance between an `f32` row and an `f64` centre, in `f64`.
fn sq_dist(x: &[f32], c: &[f64]) -> f64 {
    x.iter()
        .zip(c)
        .map(|(&a, &b)| {
            let d = f64::from(a) - b;
            d * d
        })
        .sum()
}

/// Index and squared distance of the nearest centre (ties to the lower index).
fn nearest(x: &[f32], centers: &[f64], d: usize) -> (usize, f64) {
    let mut best = (0usize, f64::INFINITY);
    for (j, c) in centers.chunks_exact(d).enumerate() {
        let dist = sq_dist(x, c);
        if dist < best.1 {
            best = (j, dist);
        }
    }
    best
}

/// Assigns every row to its nearest centre (parallel over rows); returns labels and squared distances.
fn assign(x: &Matrix, centers: &[f64]) -> (Vec<u32>, Vec<f64>) {
    let d = x.cols;
    x.data
        .par_chunks_exact(d)
        .map(|row| {
            let (j, dist) = nearest(row, centers, d);
            (j as u32, dist)
        })
        .unzip()
}

/// Recomputes centres as member means; empty clusters take the farthest points (which move to them).
///
/// `labels` and `dists` are updated for moved points, so they stay consistent with the new centres' members.
fn update(x: &Matrix, k: usize, labels: &mut [u32], dists: &mut [f64]) -> Vec<f64> {
    let d = x.cols;
    let mut counts = vec![0usize; k];
    for &l in labels.iter() {
        counts[l as usize] += 1;
    }
    let empty: Vec<usize> = (0..k).filter(|&j| counts[j] == 0).collect();
    if !empty.is_empty() {
        // Farthest points first (ties: lower index), taken from clusters that keep at least one member.
        let mut order: Vec<usize> = (0..x.rows).collect();
        order.sort_by(|&a, &b| dists[b].total_cmp(&dists[a]).then(a.cmp(&b)));
        let mut donors = order.into_iter();
        for &j in &empty {
            for i in donors.by_ref() {
                let from = labels[i] as usize;
                if counts[from] > 1 {
                    counts[from] -= 1;
                    counts[j] += 1;
                    labels[i] = j as u32;
                    dists[i] = 0.0;
                    break;
                }
            }
        }
    }
    let mut sums = vec![0.0f64; k * d];
    for (row, &l) in x.rows_iter().zip(labels.iter()) {
        let s = &mut sums[l as usize * d..(l as usize + 1) * d];
        for (a, &v) in s.iter_mut().zip(row) {
            *a += f64::from(v);
        }
    }
    for (j, s) in sums.chunks_exact_mut(d).enumerate() {
        let c = counts[j].max(1) as f64;
        s.iter_mut().for_each(|v| *v /= c);
    }
    sums
}

/// Lloyd iterations from `centers` until no assignment changes or `max_iter` updates; returns the final solution.
fn lloyd(x: &Matrix, mut centers: Vec<f64>, k: usize, max_iter: usize) -> KMeansResult {
    let mut prev: Option<Vec<u32>> = None;
    let mut iterations = 0;
    let (mut labels, mut dists) = assign(x, &centers);
    while iterations < max_iter {
        if prev.as_ref() == Some(&labels) {
            break;
        }
        iterations += 1;
        centers = update(x, k, &mut labels, &mut dists);
        prev = Some(labels);
        (labels, dists) = assign(x, &centers);
    }
    // If `max_iter` stopped the loop, `labels` are still those of the final centres
    // (scikit-learn's closing E-step), so labels, centres and inertia agree.
    let inertia = dists.iter().sum();
    KMeansResult {
        labels,
        centers: Matrix {
            rows: k,
            cols: x.cols,
            data: centers.iter().map(|&v| v as f32).collect(),
        },
        inertia,
        iterations,
    }
}

/// Runs Lloyd's algorithm from the given initial centres until no assignment changes (or `max_iter` updates).
pub fn lloyd_from(x: &Matrix, init_centers: &Matrix, max_iter: usize) -> Result<KMeansResult> {
    x.validate_non_empty("k-means data")?;
    init_centers.validate_non_empty("k-means initial centres")?;
    if init_centers.cols != x.cols {
        return Err(EvalError::Shape {
            context: "k-means: centre width vs. data width".into(),
            expected: x.cols,
            got: init_centers.cols,
        });
    }
    if init_centers.rows > x.rows {
        return Err(EvalError::TooFewSamples(format!(
            "k-means with k = {} needs at least k rows, got {}",
            init_centers.rows, x.rows
        )));
    }
    if max_iter == 0 {
        return Err(super::invalid("max_iter", "must be >= 1"));
    }
    let centers = init_centers.data.iter().map(|&v| f64::from(v)).collect();
    Ok(lloyd(x, centers, init_centers.rows, max_iter))
}

/// Greedy k-means++ seeding (Arthur & Vassilvitskii 2007) with scikit-learn's `2 + ln k` local trials.
fn kmeans_pp(x: &Matrix, k: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let (n, d) = (x.rows, x.cols);
    let row64 = |i: usize| x.row(i).iter().map(|&v| f64::from(v)).collect::<Vec<f64>>();
    // scikit-learn `_kmeans_plusplus`: n_local_trials = 2 + int(log(k)).
    let trials = 2 + (k as f64).ln() as usize;
    let mut centers = Vec::with_capacity(k * d);
    let first = rng.random_range(0..n);
    centers.extend(row64(first));
    let mut closest: Vec<f64> = x
        .data
        .par_chunks_exact(d)
        .map(|r| sq_dist(r, &centers[..d]))
        .collect();
    let mut potential: f64 = closest.iter().sum();
    for _ in 1..k {
        let candidates: Vec<usize> = (0..trials)
            .map(|_| sample_d2(&closest, potential, rng))
            .collect();
        // Pick the candidate that most reduces the potential (ties: first drawn).
        let mut best: Option<(f64, usize, Vec<f64>)> = None;
        for &c in &candidates {
            let cr = row64(c);
            let new: Vec<f64> = x
                .data
                .par_chunks_exact(d)
                .zip(closest.par_iter())
                .map(|(r, &old)| old.min(sq_dist(r, &cr)))
                .collect();
            let pot: f64 = new.iter().sum();
            if best.as_ref().is_none_or(|b| pot < b.0) {
                best = Some((pot, c, new));
            }
        }
        let (pot, c, new) = best.expect("at least two local trials");
        centers.extend(row64(c));
        closest = new;
        potential = pot;
    }
    centers
}

/// Draws an index with probability proportional to `weights` (uniformly if they are all zero).
fn sample_d2(weights: &[f64], total: f64, rng: &mut ChaCha8Rng) -> usize {
    if total.is_nan() || total <= 0.0 {
        return rng.random_range(0..weights.len());
    }
    let target = rng.random::<f64>() * total;
    let mut acc = 0.0;
    for (i, &w) in weights.iter().enumerate() {
        acc += w;
        if acc > target {
            return i;
        }
    }
    // Rounding left `target` beyond the running sum: take the last point with positive weight.
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}

/// k-means with k-means++ seeding and `restarts` runs, keeping the lowest inertia (ties: earliest run).
pub fn kmeans(
    x: &Matrix,
    k: usize,
    restarts: usize,
    max_iter: usize,
    seed: u64,
) -> Result<KMeansResult> {
    x.validate_non_empty("k-means data")?;
    if k == 0 {
        return Err(super::invalid("k", "k-means needs k >= 1"));
    }
    if k > x.rows {
        return Err(EvalError::TooFewSamples(format!(
            "k-means with k = {k} needs at least k rows, got {}",
            x.rows
        )));
    }
    if restarts == 0 {
        return Err(super::invalid("restarts", "must be >= 1"));
    }
    if max_iter == 0 {
        return Err(super::invalid("max_iter", "must be >= 1"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut best: Option<KMeansResult> = None;
    for _ in 0..restarts {
        let centers = kmeans_pp(x, k, &mut rng);
        let r = lloyd(x, centers, k, max_iter);
        if best.as_ref().is_none_or(|b| r.inertia < b.inertia) {
            best = Some(r);
        }
    }
    Ok(best.expect("restarts >= 1"))
}

#[cfg(test)]
mod tests {
    use super::super::metrics::ari;
    use super::*;

    /// `per` points around each of `centres`, with a deterministic small jitter.
    fn blobs(centres: &[[f32; 3]], per: usize, seed: u64) -> (Matrix, Vec<u32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut data = Vec::new();
        let mut labels = Vec::new();
        for (c, centre) in centres.iter().enumerate() {
            for _ in 0..per {
                for &v in centre {
                    data.push(v + rng.random_range(-0.5f32..0.5));
                }
                labels.push(c as u32);
            }
        }
        (Matrix::new(labels.len(), 3, data).unwrap(), labels)
    }

    #[test]
    fn recovers_separated_blobs_for_any_seed() {
        let centres = [
            [0.0, 0.0, 0.0],
            [10.0, 0.0, 0.0],
            [0.0, 10.0, 0.0],
            [0.0, 0.0, 10.0],
        ];
        let (x, truth) = blobs(&centres, 25, 3);
        for seed in 0..20 {
            let r = kmeans(&x, 4, 3, 100, seed).unwrap();
            assert_eq!(ari(&truth, &r.labels).unwrap(), 1.0, "seed {seed}");
            assert!(r.inertia < 100.0 * 3.0 * 0.25);
        }
    }

    #[test]
    fn deterministic_for_a_seed() {
        let (x, _) = blobs(&[[0.0, 0.0, 0.0], [3.0, 1.0, 0.0], [1.0, 3.0, 2.0]], 30, 9);
        let a = kmeans(&x, 5, 2, 50, 42).unwrap();
        let b = kmeans(&x, 5, 2, 50, 42).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn empty_clusters_are_reseeded() {
        // Three initial centres, one of them far from every point: it must still end with members.
        let x = Matrix::from_rows(&[[0.0f32], [0.1], [5.0], [5.1], [9.0]]).unwrap();
        let init = Matrix::from_rows(&[[0.0f32], [5.0], [1000.0]]).unwrap();
        let r = lloyd_from(&x, &init, 100).unwrap();
        for j in 0..3u32 {
            assert!(r.labels.contains(&j), "cluster {j} empty: {:?}", r.labels);
        }
        assert!((r.inertia - (0.005 + 0.005)).abs() < 1e-6, "{}", r.inertia);
    }

    #[test]
    fn duplicate_points_and_bad_inputs() {
        let x = Matrix::from_rows(&[[1.0f32, 1.0]; 4]).unwrap();
        let r = kmeans(&x, 3, 2, 10, 0).unwrap();
        assert_eq!(r.inertia, 0.0);
        assert!(matches!(
            kmeans(&x, 5, 1, 10, 0),
            Err(EvalError::TooFewSamples(_))
        ));
        assert!(kmeans(&x, 0, 1, 10, 0).is_err());
        assert!(kmeans(&x, 2, 0, 10, 0).is_err());
        let narrow = Matrix::from_rows(&[[1.0f32]]).unwrap();
        assert!(lloyd_from(&x, &narrow, 10).is_err());
    }
}
