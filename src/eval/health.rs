//! Training health on feature matrices: is the representation collapsing?
//!
//! - [`embedding_std`]: the collapse detector of SimSiam (Chen & He 2021,
//!   §4.1 and Fig. 2): the standard deviation of the L2-normalised features
//!   per dimension, averaged over dimensions. Features spread over the unit
//!   sphere give about `1/sqrt(d)`; a collapsed network (every image mapped to
//!   one point) gives 0. Computed as lightly's `std_of_l2_normalized` (sample
//!   std, n − 1).
//! - [`alignment`] and [`uniformity`]: Wang & Isola, *Understanding
//!   Contrastive Representation Learning through Alignment and Uniformity on
//!   the Hypersphere* (ICML 2020), on L2-normalised features: alignment is
//!   the mean squared distance of positive pairs (lower: views of one image
//!   closer), uniformity the log of the mean Gaussian potential over all
//!   pairs (lower: features spread more evenly; 0 when all are equal).
//!
//! Rows are normalised like PyTorch's `F.normalize` (`x / max(‖x‖, 1e-12)`),
//! sums are in `f64`.

use super::matrix::Matrix;
use super::{EvalError, Result};

// Wang & Isola (2020), §4 and their reference code: alpha = 2 in align, t = 2 in uniform.
/// The exponent of the distance in [`alignment`] (α = 2 in Wang & Isola 2020).
pub const ALIGN_ALPHA: f64 = 2.0;
/// The temperature of the Gaussian potential in [`uniformity`] (t = 2 in Wang & Isola 2020).
pub const UNIFORM_T: f64 = 2.0;

/// A run is called collapsed when its final embedding std is below this
/// fraction of `1/sqrt(d)` (see [`collapse_floor`]).
pub const COLLAPSE_FRACTION: f64 = 0.1;

/// The embedding std below which features count as collapsed:
/// [`COLLAPSE_FRACTION`]` / sqrt(d)`. SimSiam's Fig. 2 shows a healthy run
/// near `1/sqrt(d)` and a collapsed one at 0; a tenth of the healthy value
/// sits far from both, so the flag does not depend on how far a healthy
/// network is from the ideal spread.
pub fn collapse_floor(dim: usize) -> f64 {
    COLLAPSE_FRACTION / (dim.max(1) as f64).sqrt()
}

/// Rows scaled to unit L2 norm (PyTorch's `F.normalize`, eps 1e-12), in `f64`.
fn normalized_rows(m: &Matrix) -> Vec<Vec<f64>> {
    m.data
        .chunks_exact(m.cols.max(1))
        .take(m.rows)
        .map(|row| {
            let norm = row
                .iter()
                .map(|&v| (v as f64) * (v as f64))
                .sum::<f64>()
                .sqrt();
            let scale = 1.0 / norm.max(1e-12);
            row.iter().map(|&v| v as f64 * scale).collect()
        })
        .collect()
}

fn need_rows(m: &Matrix, what: &str, min: usize) -> Result<()> {
    m.validate(what)?;
    if m.rows < min || m.cols == 0 {
        return Err(EvalError::TooFewSamples(format!(
            "{what} needs at least {min} rows of width ≥ 1, got {} × {}",
            m.rows, m.cols
        )));
    }
    Ok(())
}

/// SimSiam's collapse detector: the sample std (n − 1) of each dimension of
/// the L2-normalised rows, averaged over dimensions. About `1/sqrt(d)` for
/// well-spread features, 0 when every row points the same way. Needs 2 rows.
pub fn embedding_std(m: &Matrix) -> Result<f64> {
    need_rows(m, "embedding std", 2)?;
    let rows = normalized_rows(m);
    let n = rows.len() as f64;
    let mut total = 0.0;
    for c in 0..m.cols {
        let mean = rows.iter().map(|r| r[c]).sum::<f64>() / n;
        let var = rows.iter().map(|r| (r[c] - mean).powi(2)).sum::<f64>() / (n - 1.0);
        total += var.sqrt();
    }
    Ok(total / m.cols as f64)
}

/// Wang & Isola's alignment: `E ‖f(x) − f(y)‖^α` over the positive pairs
/// (row `i` of `x` with row `i` of `y`), α = [`ALIGN_ALPHA`], on normalised
/// rows. 0 when the two views map to the same point; at most 4.
pub fn alignment(x: &Matrix, y: &Matrix) -> Result<f64> {
    need_rows(x, "alignment (first view)", 1)?;
    need_rows(y, "alignment (second view)", 1)?;
    if (x.rows, x.cols) != (y.rows, y.cols) {
        return Err(EvalError::Shape {
            context: "alignment: rows × columns of the second view".into(),
            expected: x.rows * x.cols,
            got: y.rows * y.cols,
        });
    }
    let (a, b) = (normalized_rows(x), normalized_rows(y));
    let sum: f64 = a
        .iter()
        .zip(&b)
        .map(|(p, q)| {
            let d2: f64 = p.iter().zip(q).map(|(u, v)| (u - v) * (u - v)).sum();
            d2.sqrt().powf(ALIGN_ALPHA)
        })
        .sum();
    Ok(sum / a.len() as f64)
}

/// Wang & Isola's uniformity: `log E exp(−t ‖f(x_i) − f(x_j)‖²)` over all
/// distinct pairs `i < j` (`torch.pdist`), t = [`UNIFORM_T`], on normalised
/// rows. 0 when all rows are equal, about −4 and below for spread features
/// (−t·2 is the limit for uniform features in high dimension). Needs 2 rows.
pub fn uniformity(m: &Matrix) -> Result<f64> {
    need_rows(m, "uniformity", 2)?;
    let rows = normalized_rows(m);
    let mut sum = 0.0;
    let mut pairs = 0usize;
    for i in 0..rows.len() {
        for j in i + 1..rows.len() {
            let d2: f64 = rows[i]
                .iter()
                .zip(&rows[j])
                .map(|(u, v)| (u - v) * (u - v))
                .sum();
            sum += (-UNIFORM_T * d2).exp();
            pairs += 1;
        }
    }
    Ok((sum / pairs as f64).ln())
}

/// Whether a final embedding std of features of width `dim` means collapse.
pub fn is_collapsed(std: f64, dim: usize) -> bool {
    // Below the floor, or NaN (no figure at all).
    matches!(
        std.partial_cmp(&collapse_floor(dim)),
        None | Some(std::cmp::Ordering::Less)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(rows: &[&[f32]]) -> Matrix {
        Matrix::from_rows(rows).unwrap()
    }

    #[test]
    fn embedding_std_by_hand() {
        // Normalised rows (1,0) and (0,1): each column is {1, 0}, mean 0.5,
        // sample variance (0.25 + 0.25) / 1 = 0.5, std sqrt(0.5) in both.
        let s = embedding_std(&m(&[&[1.0, 0.0], &[0.0, 1.0]])).unwrap();
        assert!((s - 0.5f64.sqrt()).abs() < 1e-12, "{s}");
        // Scale does not matter: rows are normalised first.
        let t = embedding_std(&m(&[&[3.0, 0.0], &[0.0, 0.5]])).unwrap();
        assert!((t - s).abs() < 1e-12);
        // (1,0), (-1,0): column 0 is {1, -1} (std sqrt(2)), column 1 is {0, 0}.
        let u = embedding_std(&m(&[&[1.0, 0.0], &[-2.0, 0.0]])).unwrap();
        assert!((u - 2f64.sqrt() / 2.0).abs() < 1e-12, "{u}");
        assert!(embedding_std(&m(&[&[1.0, 0.0]])).is_err());
    }

    #[test]
    fn alignment_by_hand() {
        // Pair 0: (1,0) vs (0,1), squared distance 2; pair 1: identical, 0. Mean 1.
        let x = m(&[&[1.0, 0.0], &[0.0, 1.0]]);
        let y = m(&[&[0.0, 2.0], &[0.0, 5.0]]);
        assert!((alignment(&x, &y).unwrap() - 1.0).abs() < 1e-12);
        // Opposite points: squared distance 4, the maximum.
        let z = m(&[&[-1.0, 0.0], &[0.0, -1.0]]);
        assert!((alignment(&x, &z).unwrap() - 4.0).abs() < 1e-12);
        assert_eq!(alignment(&x, &x).unwrap(), 0.0);
        assert!(alignment(&x, &m(&[&[1.0, 0.0]])).is_err());
    }

    #[test]
    fn uniformity_by_hand() {
        // (1,0), (0,1), (-1,0): squared distances 2, 4, 2.
        let x = m(&[&[1.0, 0.0], &[0.0, 1.0], &[-1.0, 0.0]]);
        let want = ((2.0 * (-4f64).exp() + (-8f64).exp()) / 3.0).ln();
        assert!((uniformity(&x).unwrap() - want).abs() < 1e-12);
        // Two opposite points: log exp(-8) = -8, the minimum.
        let y = m(&[&[0.0, 1.0], &[0.0, -1.0]]);
        assert!((uniformity(&y).unwrap() + 8.0).abs() < 1e-12);
    }

    #[test]
    fn collapse_gives_zero_std_and_is_flagged() {
        // One direction at four (exactly representable) scales.
        let same = m(&[
            &[3.0, 4.0, 0.0],
            &[6.0, 8.0, 0.0],
            &[1.5, 2.0, 0.0],
            &[0.75, 1.0, 0.0],
        ]);
        let s = embedding_std(&same).unwrap();
        assert!(s.abs() < 1e-12, "{s}");
        assert!(is_collapsed(s, 3));
        assert!(uniformity(&same).unwrap().abs() < 1e-12);
        assert!(alignment(&same, &same).unwrap().abs() < 1e-12);
        // Spread features are not flagged: the one-hot rows of d = 4 give
        // std sqrt(3/16 · 4/3) = 0.5, the floor is 0.1 / 2 = 0.05.
        let spread = m(&[
            &[1.0, 0.0, 0.0, 0.0],
            &[0.0, 1.0, 0.0, 0.0],
            &[0.0, 0.0, 1.0, 0.0],
            &[0.0, 0.0, 0.0, 1.0],
        ]);
        let t = embedding_std(&spread).unwrap();
        assert!((t - 0.5).abs() < 1e-12, "{t}");
        assert!(!is_collapsed(t, 4));
        assert!((collapse_floor(4) - 0.05).abs() < 1e-15);
        assert!(is_collapsed(f64::NAN, 4));
    }
}
