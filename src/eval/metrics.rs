//! Clustering and classification metrics: NMI, ARI, Hungarian accuracy, top-k accuracy.
//!
//! The clustering scores follow scikit-learn 1.x exactly, including its
//! conventions for degenerate labelings, so that values can be compared with
//! published numbers. Labels are arbitrary `u32` values (they need not be dense).

use std::collections::BTreeMap;

use pathfinding::kuhn_munkres::kuhn_munkres;
use serde::{Deserialize, Serialize};

use super::{EvalError, Result};

/// Top-1 and top-5 accuracy as fractions in `[0, 1]`: the figures SSL papers report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    /// Fraction of samples whose highest score is the true class.
    pub top1: f64,
    /// Fraction of samples whose true class is among the 5 highest scores (all classes if fewer than 5).
    pub top5: f64,
}

impl Accuracy {
    /// Computes top-1 and top-5 accuracy from per-sample class scores.
    pub fn from_scores(scores: &[Vec<f64>], labels: &[u32]) -> Result<Self> {
        Ok(Self {
            top1: top_k_accuracy(scores, labels, 1)?,
            top5: top_k_accuracy(scores, labels, 5)?,
        })
    }
}

/// Fraction of rows whose true label ranks among the `k` highest scores (ties go to the lower class index, like argmax).
///
/// A true label ranks `r` = number of classes with a strictly higher score
/// plus the number of lower-indexed classes with an equal score; the row counts
/// when `r < k`, so `k` at least the number of classes always counts.
pub fn top_k_accuracy(scores: &[Vec<f64>], labels: &[u32], k: usize) -> Result<f64> {
    if scores.len() != labels.len() {
        return Err(EvalError::Shape {
            context: "top_k_accuracy: score rows vs. labels".into(),
            expected: scores.len(),
            got: labels.len(),
        });
    }
    if scores.is_empty() {
        return Err(EvalError::Empty("top_k_accuracy: no samples".into()));
    }
    if k == 0 {
        return Err(super::invalid("k", "top-k accuracy needs k >= 1"));
    }
    let mut hits = 0usize;
    for (i, (row, &label)) in scores.iter().zip(labels).enumerate() {
        let t = label as usize;
        if t >= row.len() {
            return Err(EvalError::LabelOutOfRange {
                label,
                index: i,
                classes: row.len(),
            });
        }
        let s = row[t];
        if s.is_nan() {
            return Err(EvalError::NonFinite {
                what: "scores".into(),
                row: i,
                col: t,
            });
        }
        let rank = row
            .iter()
            .enumerate()
            .filter(|&(c, &v)| v > s || (v == s && c < t))
            .count();
        if rank < k {
            hits += 1;
        }
    }
    Ok(hits as f64 / scores.len() as f64)
}

/// Argmax of each score row (ties to the lower class index, like `torch.argmax`).
pub fn predictions(scores: &[Vec<f64>]) -> Vec<u32> {
    scores
        .iter()
        .map(|row| {
            let mut best = 0usize;
            for (c, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = c;
                }
            }
            best as u32
        })
        .collect()
}

/// Dense contingency table `n[i][j]` = #samples with the i-th true value and j-th predicted value (sorted values).
fn contingency(labels_true: &[u32], labels_pred: &[u32]) -> Result<Vec<Vec<u64>>> {
    if labels_true.len() != labels_pred.len() {
        return Err(EvalError::Shape {
            context: "clustering metric: labels_true vs. labels_pred".into(),
            expected: labels_true.len(),
            got: labels_pred.len(),
        });
    }
    if labels_true.is_empty() {
        return Err(EvalError::Empty("clustering metric: no samples".into()));
    }
    let dense = |labels: &[u32]| -> (usize, Vec<usize>) {
        let mut map: BTreeMap<u32, usize> = labels.iter().map(|&l| (l, 0)).collect();
        for (i, v) in map.values_mut().enumerate() {
            *v = i;
        }
        (map.len(), labels.iter().map(|l| map[l]).collect())
    };
    let (r, ti) = dense(labels_true);
    let (c, pi) = dense(labels_pred);
    let mut table = vec![vec![0u64; c]; r];
    for (&a, &b) in ti.iter().zip(&pi) {
        table[a][b] += 1;
    }
    Ok(table)
}

/// Shannon entropy (nats) of a labeling given its cluster sizes; 0 for a single cluster (scikit-learn `entropy`).
fn entropy(counts: &[u64]) -> f64 {
    let counts: Vec<f64> = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| c as f64)
        .collect();
    if counts.len() <= 1 {
        return 0.0;
    }
    let total: f64 = counts.iter().sum();
    -counts
        .iter()
        .map(|&c| (c / total) * (c.ln() - total.ln()))
        .sum::<f64>()
}

/// Normalised mutual information with arithmetic-mean normalisation (scikit-learn's default), in `[0, 1]`.
///
/// Degenerate cases as scikit-learn: both labelings a single cluster → 1.0;
/// zero mutual information otherwise → 0.0.
pub fn nmi(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    let table = contingency(labels_true, labels_pred)?;
    let rows = table.len();
    let cols = table[0].len();
    if rows == 1 && cols == 1 {
        return Ok(1.0);
    }
    let a: Vec<u64> = table.iter().map(|r| r.iter().sum()).collect();
    let b: Vec<u64> = (0..cols)
        .map(|j| table.iter().map(|r| r[j]).sum())
        .collect();
    let mi = mutual_info(&table, &a, &b);
    if mi == 0.0 {
        return Ok(0.0);
    }
    let normalizer = (0.5 * (entropy(&a) + entropy(&b))).max(f64::EPSILON);
    Ok(mi / normalizer)
}

/// Mutual information (nats) of a contingency table, computed term by term as scikit-learn's `mutual_info_score`.
fn mutual_info(table: &[Vec<u64>], a: &[u64], b: &[u64]) -> f64 {
    if a.len() == 1 || b.len() == 1 {
        return 0.0;
    }
    let n: u64 = a.iter().sum();
    let (nf, log_n) = (n as f64, (n as f64).ln());
    let mut mi = 0.0;
    for (i, row) in table.iter().enumerate() {
        for (j, &nij) in row.iter().enumerate() {
            if nij == 0 {
                continue;
            }
            let p = nij as f64 / nf;
            let outer = (a[i] as f64) * (b[j] as f64);
            let log_outer = -outer.ln() + 2.0 * log_n;
            let term = p * ((nij as f64).ln() - log_n) + p * log_outer;
            if term.abs() >= f64::EPSILON {
                mi += term;
            }
        }
    }
    mi.max(0.0)
}

/// Adjusted Rand index (Hubert & Arabie 1985) via the pair-confusion matrix, as scikit-learn; 1.0 for identical partitions.
pub fn ari(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    let table = contingency(labels_true, labels_pred)?;
    let n = labels_true.len() as i128;
    let mut sum_sq: i128 = 0;
    let mut a_sq: i128 = 0;
    let cols = table[0].len();
    let mut b = vec![0i128; cols];
    for row in &table {
        let mut ai: i128 = 0;
        for (j, &v) in row.iter().enumerate() {
            let v = v as i128;
            sum_sq += v * v;
            ai += v;
            b[j] += v;
        }
        a_sq += ai * ai;
    }
    let b_sq: i128 = b.iter().map(|v| v * v).sum();
    let tp = sum_sq - n;
    let fp = b_sq - sum_sq;
    let fn_ = a_sq - sum_sq;
    let tn = n * n - fp - fn_ - sum_sq;
    if fn_ == 0 && fp == 0 {
        return Ok(1.0);
    }
    let num = 2 * (tp * tn - fn_ * fp);
    let den = (tp + fn_) * (fn_ + tn) + (tp + fp) * (fp + tn);
    Ok(num as f64 / den as f64)
}

/// Clustering accuracy: best one-to-one cluster→class matching (Hungarian, Kuhn-Munkres) divided by n.
///
/// With more clusters than classes (or the reverse) the contingency table is
/// padded with zeros to a square, so unmatched clusters count as errors.
pub fn hungarian_accuracy(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    let table = contingency(labels_true, labels_pred)?;
    let size = table.len().max(table[0].len());
    // Rows = predicted clusters, columns = true classes, both padded to `size`.
    let mut weights = pathfinding::matrix::Matrix::new(size, size, 0i64);
    for (i, row) in table.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            weights[(j, i)] = v as i64;
        }
    }
    let (total, _) = kuhn_munkres(&weights);
    Ok(total as f64 / labels_true.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_and_permuted_labelings() {
        let t = [0u32, 0, 1, 1, 2, 2, 2, 5];
        let p = [7u32, 7, 3, 3, 9, 9, 9, 1];
        assert_eq!(nmi(&t, &t).unwrap(), 1.0);
        assert!((nmi(&t, &p).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(ari(&t, &p).unwrap(), 1.0);
        assert_eq!(hungarian_accuracy(&t, &p).unwrap(), 1.0);
    }

    #[test]
    fn degenerate_cases_follow_scikit_learn() {
        // Both single cluster: perfect match.
        assert_eq!(nmi(&[1, 1, 1], &[4, 4, 4]).unwrap(), 1.0);
        // One side single cluster: no information.
        assert_eq!(nmi(&[0, 1, 2], &[4, 4, 4]).unwrap(), 0.0);
        assert_eq!(ari(&[0, 0, 0], &[0, 0, 0]).unwrap(), 1.0);
        // All singletons on both sides: full agreement.
        assert_eq!(ari(&[0, 1, 2], &[5, 6, 7]).unwrap(), 1.0);
        // One class, three clusters → only one sample matched.
        assert!((hungarian_accuracy(&[0, 0, 0], &[0, 1, 2]).unwrap() - 1.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn bad_inputs_error() {
        assert!(matches!(nmi(&[], &[]), Err(EvalError::Empty(_))));
        assert!(matches!(ari(&[0, 1], &[0]), Err(EvalError::Shape { .. })));
        assert!(hungarian_accuracy(&[], &[]).is_err());
        assert!(top_k_accuracy(&[vec![0.1, 0.2]], &[2], 1).is_err());
        assert!(top_k_accuracy(&[vec![0.1, 0.2]], &[1], 0).is_err());
    }

    #[test]
    fn top_k_ties_and_small_class_counts() {
        let scores = vec![
            vec![0.5, 0.5, 0.0],
            vec![0.1, 0.2, 0.7],
            vec![0.3, 0.3, 0.3],
        ];
        // Row 0: class 0 wins the tie; row 1: argmax 2; row 2: class 0 wins the three-way tie.
        assert_eq!(top_k_accuracy(&scores, &[0, 2, 0], 1).unwrap(), 1.0);
        assert!((top_k_accuracy(&scores, &[1, 2, 2], 1).unwrap() - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(top_k_accuracy(&scores, &[1, 0, 2], 5).unwrap(), 1.0);
        let acc = Accuracy::from_scores(&scores, &[1, 2, 2]).unwrap();
        assert_eq!(acc.top5, 1.0);
    }
}
