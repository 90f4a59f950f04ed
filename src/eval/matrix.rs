//! A dense row-major `f32` matrix: the feature container of every evaluation.

use serde::{Deserialize, Serialize};

use super::{EvalError, Result};

/// Dense row-major `f32` matrix (`rows` samples × `cols` features), kept plain so callers can fill it from anywhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    /// Number of rows (samples).
    pub rows: usize,
    /// Number of columns (feature dimensions).
    pub cols: usize,
    /// `rows * cols` values, row after row.
    pub data: Vec<f32>,
}

impl Matrix {
    /// Builds a matrix, checking that `data` has `rows * cols` finite values.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self> {
        let m = Self { rows, cols, data };
        m.validate("matrix")?;
        Ok(m)
    }

    /// Builds a matrix from equally long rows (convenient for tests and small inputs).
    pub fn from_rows<R: AsRef<[f32]>>(rows: &[R]) -> Result<Self> {
        let cols = rows.first().map_or(0, |r| r.as_ref().len());
        let mut data = Vec::with_capacity(rows.len() * cols);
        for r in rows {
            let r = r.as_ref();
            if r.len() != cols {
                return Err(EvalError::Shape {
                    context: "row length in Matrix::from_rows".into(),
                    expected: cols,
                    got: r.len(),
                });
            }
            data.extend_from_slice(r);
        }
        Self::new(rows.len(), cols, data)
    }

    /// A `rows × cols` matrix of zeros (always valid).
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Checks the length of `data` and that every value is finite; `what` names the input in the error.
    pub fn validate(&self, what: &str) -> Result<()> {
        let expected = self.rows.checked_mul(self.cols).ok_or_else(|| {
            super::invalid(
                "rows * cols",
                format!("{what}: {} × {} overflows usize", self.rows, self.cols),
            )
        })?;
        if self.data.len() != expected {
            return Err(EvalError::Shape {
                context: format!("{what}: data length for {} × {}", self.rows, self.cols),
                expected,
                got: self.data.len(),
            });
        }
        if let Some(pos) = self.data.iter().position(|v| !v.is_finite()) {
            return Err(EvalError::NonFinite {
                what: what.to_string(),
                row: pos / self.cols.max(1),
                col: pos % self.cols.max(1),
            });
        }
        Ok(())
    }

    /// Like [`Matrix::validate`], and also rejects a matrix with no rows or no columns.
    pub fn validate_non_empty(&self, what: &str) -> Result<()> {
        self.validate(what)?;
        if self.rows == 0 || self.cols == 0 {
            return Err(EvalError::Empty(format!(
                "{what} is {} × {}",
                self.rows, self.cols
            )));
        }
        Ok(())
    }

    /// Row `i` as a slice (panics if `i >= rows`, like slice indexing).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Iterates over the rows as slices.
    pub fn rows_iter(&self) -> impl Iterator<Item = &[f32]> + '_ {
        // `max(1)` keeps `chunks_exact` valid for zero-width matrices (which then yield no rows).
        self.data.chunks_exact(self.cols.max(1)).take(self.rows)
    }

    /// A new matrix made of the given rows, in order (panics if an index is `>= rows`).
    pub fn select_rows(&self, indices: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(indices.len() * self.cols);
        for &i in indices {
            data.extend_from_slice(self.row(i));
        }
        Matrix {
            rows: indices.len(),
            cols: self.cols,
            data,
        }
    }

    /// Copy with every row divided by its L2 norm (norm clamped at 1e-12 as `F.normalize`, so zero rows stay zero).
    pub fn l2_normalized(&self) -> Matrix {
        let mut data = self.data.clone();
        if self.cols > 0 {
            data.chunks_exact_mut(self.cols).for_each(l2_normalize_row);
        }
        Matrix {
            rows: self.rows,
            cols: self.cols,
            data,
        }
    }

    /// Per-column mean and (population) standard deviation, in `f64`; used to standardise features.
    pub fn column_mean_std(&self) -> (Vec<f64>, Vec<f64>) {
        let n = self.rows.max(1) as f64;
        let mut mean = vec![0.0f64; self.cols];
        for row in self.rows_iter() {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0f64; self.cols];
        for row in self.rows_iter() {
            for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                let d = f64::from(v) - m;
                *s += d * d;
            }
        }
        let std = var.into_iter().map(|s| (s / n).sqrt()).collect();
        (mean, std)
    }
}

/// Divides a row by its L2 norm in `f64` (clamped at 1e-12 as `F.normalize`, so a zero row stays zero).
pub fn l2_normalize_row(row: &mut [f32]) {
    let norm = row
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt()
        .max(1e-12);
    for v in row.iter_mut() {
        *v = (f64::from(*v) / norm) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_shape_and_finiteness() {
        assert!(Matrix::new(2, 2, vec![1.0; 4]).is_ok());
        assert!(matches!(
            Matrix::new(2, 2, vec![1.0; 3]),
            Err(EvalError::Shape { .. })
        ));
        assert!(matches!(
            Matrix::new(2, 2, vec![1.0, 2.0, f32::NAN, 0.0]),
            Err(EvalError::NonFinite { row: 1, col: 0, .. })
        ));
        assert!(Matrix::from_rows(&[vec![1.0f32, 2.0], vec![3.0]]).is_err());
    }

    #[test]
    fn rows_select_and_normalize() {
        let m = Matrix::from_rows(&[[3.0f32, 4.0], [0.0, 0.0], [1.0, 0.0]]).unwrap();
        assert_eq!(m.row(2), &[1.0, 0.0]);
        let s = m.select_rows(&[2, 0]);
        assert_eq!(s.data, vec![1.0, 0.0, 3.0, 4.0]);
        let n = m.l2_normalized();
        assert_eq!(n.row(0), &[0.6, 0.8]);
        assert_eq!(n.row(1), &[0.0, 0.0]);
        assert_eq!(m.rows_iter().count(), 3);
        let (mean, std) = m.column_mean_std();
        assert!((mean[0] - 4.0 / 3.0).abs() < 1e-12);
        assert!(std[1] > 0.0);
    }
}
