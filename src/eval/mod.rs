//! Downstream evaluation of frozen self-supervised features, in plain Rust.
//!
//! Everything here works on row-major `f32` feature matrices ([`Matrix`]) and
//! `u32` labels, with `f64` accumulation, no tensors and no autodiff:
//!
//! - [`knn`]: the weighted k-nearest-neighbour monitor of InstDisc (Wu et al.
//!   2018, §3.4) used by MoCo, DINO and solo-learn;
//! - [`linear`]: the linear probe, multinomial logistic regression solved by
//!   L-BFGS (scikit-learn's objective) or by the SimCLR mini-batch SGD protocol;
//! - [`kmeans`](mod@kmeans): k-means++ seeding and Lloyd iterations;
//! - [`health`]: training health of features (SimSiam's embedding std,
//!   Wang & Isola's alignment and uniformity);
//! - [`metrics`]: NMI, ARI, Hungarian clustering accuracy and top-k accuracy;
//! - [`tsne`](mod@tsne): t-SNE embeddings for plots (exact gradient, Barnes-Hut above a size).
//!
//! Every random choice comes from a `u64` seed through
//! `ChaCha8Rng::seed_from_u64`, so results are reproducible, and bad input
//! (shapes, empty sets, non-finite values, impossible parameters) is reported
//! as an [`EvalError`] rather than a panic.

pub mod health;
pub mod kmeans;
pub mod knn;
pub mod linear;
pub mod matrix;
pub mod metrics;
pub mod tsne;

pub use kmeans::{KMeansResult, kmeans, lloyd_from};
pub use knn::{Distance, KnnNeighbors, KnnParams, knn_accuracy, knn_neighbors, knn_scores};
pub use linear::{FitInfo, LinearModel, LinearParams, Solver, c_from_l2, l2_from_c};
pub use matrix::Matrix;
pub use metrics::{Accuracy, ari, hungarian_accuracy, nmi, predictions, top_k_accuracy};
pub use tsne::{EXACT_MAX_POINTS, TsneMethod, TsneParams, TsneResult, tsne, tsne_with};

/// Why an evaluation could not run: every failure on user input ends up here.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// Two inputs whose sizes must agree do not (e.g. rows vs. labels, train vs. test width).
    #[error("shape mismatch in {context}: expected {expected}, got {got}")]
    Shape {
        /// Which check failed, in words.
        context: String,
        /// The size that was required.
        expected: usize,
        /// The size that was given.
        got: usize,
    },
    /// An input that must hold at least one element is empty.
    #[error("empty input: {0}")]
    Empty(String),
    /// A feature (or parameter-derived value) is NaN or infinite.
    #[error("non-finite value in {what} at row {row}, column {col}")]
    NonFinite {
        /// Which input holds the value.
        what: String,
        /// Its row.
        row: usize,
        /// Its column.
        col: usize,
    },
    /// A label is not below the declared number of classes.
    #[error("label {label} at position {index} is out of range for {classes} classes")]
    LabelOutOfRange {
        /// The offending label.
        label: u32,
        /// Its position in the label vector.
        index: usize,
        /// The declared number of classes.
        classes: usize,
    },
    /// A hyper-parameter is outside its valid range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// There are too few samples for the requested operation (k > n, perplexity too large, ...).
    #[error("too few samples: {0}")]
    TooFewSamples(String),
}

/// Shorthand for results of this module.
pub type Result<T, E = EvalError> = std::result::Result<T, E>;

/// Returns an [`EvalError::InvalidParameter`] (helper for the sibling modules).
pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> EvalError {
    EvalError::InvalidParameter {
        name,
        reason: reason.into(),
    }
}

/// Checks that every label is `< classes` (helper for the sibling modules).
pub(crate) fn check_labels(labels: &[u32], classes: usize) -> Result<()> {
    match labels.iter().position(|&l| l as usize >= classes) {
        Some(index) => Err(EvalError::LabelOutOfRange {
            label: labels[index],
            index,
            classes,
        }),
        None => Ok(()),
    }
}
