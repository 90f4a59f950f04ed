//! The kinds of step a plan is made of, each with the code version that
//! enters its key.
//!
//! # What enters a step key
//!
//! This is the one place the rule is written down. A step key
//! ([`super::value::step_key`]) is the blake3 hash of:
//!
//! 1. a salt naming the key scheme (`KEY_SALT` in `src/plan/value.rs`); bump
//!    it when the way keys are computed changes;
//! 2. the step kind's name ([`StepKind::as_str`]) and its code version
//!    ([`StepKind::version`]); bump the version when the code that runs the
//!    kind changes its outputs;
//! 3. the registry version ([`crate::lang::registry::Kind::version`]) of
//!    every registry kind the step names: the step kind itself when the
//!    registry has a schema of that name (`pretrain`, `split`, `knn`,
//!    `table`, ...), and every kind called inside its parameters, at any depth
//!    (the dataset kind, the method, the backbone, the optimizer, each op of a
//!    policy, ...). Bump a registry kind's version when the meaning of its
//!    parameters or the behaviour of its implementation changes;
//! 4. its canonical parameters and the keys of its inputs.
//!
//! So a change of outputs re-keys exactly the steps that run the changed
//! code, and everything downstream of them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Per-kind code versions. Bump one when the code that runs that kind
/// changes its outputs for the same parameters and inputs (a bug fix, a new
/// numerical recipe, a different output layout); every key of that kind and
/// everything downstream changes, so cached results are recomputed.
pub mod version {
    /// `dataset`: loads images from a dataset root or generates them.
    pub const DATASET: u32 = 1;
    /// `split`: train / test / val indices.
    pub const SPLIT: u32 = 1;
    /// `label_subset`: the labelled part of an evaluation's train data.
    pub const LABEL_SUBSET: u32 = 1;
    /// `preview`: a contact sheet of augmented views (v2: tiles enlarged to `tile` px).
    pub const PREVIEW: u32 = 2;
    /// `offline_augment`: an offline op applied once per image.
    pub const OFFLINE_AUGMENT: u32 = 1;
    /// `pretrain`: self-supervised training of a backbone.
    // 2: weights written with positional parameter ids (byte-identical across runs).
    // 3: per-epoch health (embedding std, alignment, uniformity, kNN monitor) in the
    //    summary and metrics; the weights are unchanged.
    // 4: convolutions through the project's im2col + GEMM kernels (`train::kernels`):
    //    the same maths, another summation order.
    pub const PRETRAIN: u32 = 4;
    /// `init_backbone`: a backbone at its random initialisation.
    // 2: weights written with positional parameter ids (byte-identical across runs).
    pub const INIT_BACKBONE: u32 = 2;
    /// `autoencoder`: G-SimCLR's denoising autoencoder.
    // 2: weights written with positional parameter ids (byte-identical across runs).
    pub const AUTOENCODER: u32 = 2;
    /// `pseudo_labels`: G-SimCLR's k-means pseudo-labels.
    pub const PSEUDO_LABELS: u32 = 1;
    /// `features`: frozen features of a backbone on some images.
    // (`raw_pixels` features are steps with a `backbone` parameter and no `encoder` input:
    // new keys, and the outputs of the existing ones are unchanged, so no bump.)
    // 2: convolutions through `train::kernels` (another summation order).
    pub const FEATURES: u32 = 2;
    /// `linear_probe`: a linear classifier on frozen features.
    // 2: top-5 only with more than 5 classes; run-time notes.
    pub const LINEAR_PROBE: u32 = 2;
    /// `knn`: weighted k-nearest-neighbour classification.
    // 2: top-5 only with more than 5 classes; the `k` clamp is a note.
    pub const KNN: u32 = 2;
    /// `kmeans`: clustering of frozen features.
    pub const KMEANS: u32 = 1;
    /// `tsne`: a 2-D embedding of frozen features.
    pub const TSNE: u32 = 1;
    /// `segmentation`: a segmentation head trained on a backbone.
    // 2: convolutions through `train::kernels` (another summation order).
    pub const SEGMENTATION: u32 = 2;
    /// `finetune`: a backbone and a linear head trained on labels, scored on the test part.
    // 2: convolutions through `train::kernels` (another summation order).
    pub const FINETUNE: u32 = 2;
    /// `table`: a results table.
    // 2: no top-5 column that no arm has. 3: aggregated cells say n.
    pub const TABLE: u32 = 3;
    /// `plot`: a results chart.
    // 2: no top-5 series where it cannot discriminate.
    pub const PLOT: u32 = 2;
}

/// A kind of step. Serialised (plan JSON, store records) as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Loads (or generates) a dataset's images.
    Dataset,
    /// Splits a dataset into train / test / val indices.
    Split,
    /// Chooses the labelled images of an evaluation's train data.
    LabelSubset,
    /// Renders augmented views of a few images.
    Preview,
    /// Runs an offline op once per image, cached by content.
    OfflineAugment,
    /// Self-supervised pretraining.
    Pretrain,
    /// A randomly initialised backbone.
    InitBackbone,
    /// G-SimCLR's autoencoder.
    Autoencoder,
    /// G-SimCLR's pseudo-labels.
    PseudoLabels,
    /// Frozen features of a backbone.
    Features,
    /// Linear-probe evaluation.
    LinearProbe,
    /// k-NN evaluation.
    Knn,
    /// k-means clustering evaluation.
    Kmeans,
    /// t-SNE embedding.
    Tsne,
    /// Segmentation evaluation.
    Segmentation,
    /// Supervised fine-tuning evaluation.
    Finetune,
    /// Results table.
    Table,
    /// Results chart.
    Plot,
}

impl StepKind {
    /// Every kind, in pipeline order.
    pub const ALL: [StepKind; 18] = [
        StepKind::Dataset,
        StepKind::Split,
        StepKind::LabelSubset,
        StepKind::Preview,
        StepKind::OfflineAugment,
        StepKind::Pretrain,
        StepKind::InitBackbone,
        StepKind::Autoencoder,
        StepKind::PseudoLabels,
        StepKind::Features,
        StepKind::LinearProbe,
        StepKind::Knn,
        StepKind::Kmeans,
        StepKind::Tsne,
        StepKind::Segmentation,
        StepKind::Finetune,
        StepKind::Table,
        StepKind::Plot,
    ];

    /// The snake_case name (`linear_probe`), as in plans and store records.
    pub const fn as_str(self) -> &'static str {
        match self {
            StepKind::Dataset => "dataset",
            StepKind::Split => "split",
            StepKind::LabelSubset => "label_subset",
            StepKind::Preview => "preview",
            StepKind::OfflineAugment => "offline_augment",
            StepKind::Pretrain => "pretrain",
            StepKind::InitBackbone => "init_backbone",
            StepKind::Autoencoder => "autoencoder",
            StepKind::PseudoLabels => "pseudo_labels",
            StepKind::Features => "features",
            StepKind::LinearProbe => "linear_probe",
            StepKind::Knn => "knn",
            StepKind::Kmeans => "kmeans",
            StepKind::Tsne => "tsne",
            StepKind::Segmentation => "segmentation",
            StepKind::Finetune => "finetune",
            StepKind::Table => "table",
            StepKind::Plot => "plot",
        }
    }

    /// The code version of this kind (see [`version`]); part of every key of this kind.
    pub const fn version(self) -> u32 {
        match self {
            StepKind::Dataset => version::DATASET,
            StepKind::Split => version::SPLIT,
            StepKind::LabelSubset => version::LABEL_SUBSET,
            StepKind::Preview => version::PREVIEW,
            StepKind::OfflineAugment => version::OFFLINE_AUGMENT,
            StepKind::Pretrain => version::PRETRAIN,
            StepKind::InitBackbone => version::INIT_BACKBONE,
            StepKind::Autoencoder => version::AUTOENCODER,
            StepKind::PseudoLabels => version::PSEUDO_LABELS,
            StepKind::Features => version::FEATURES,
            StepKind::LinearProbe => version::LINEAR_PROBE,
            StepKind::Knn => version::KNN,
            StepKind::Kmeans => version::KMEANS,
            StepKind::Tsne => version::TSNE,
            StepKind::Segmentation => version::SEGMENTATION,
            StepKind::Finetune => version::FINETUNE,
            StepKind::Table => version::TABLE,
            StepKind::Plot => version::PLOT,
        }
    }

    /// Whether this kind evaluates a backbone (its output is an arm's result row).
    pub const fn is_evaluation(self) -> bool {
        matches!(
            self,
            StepKind::LinearProbe
                | StepKind::Knn
                | StepKind::Kmeans
                | StepKind::Tsne
                | StepKind::Segmentation
                | StepKind::Finetune
        )
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`: tables format kinds with a width.
        f.pad(self.as_str())
    }
}

/// A word that names no step kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStepKind(pub String);

impl fmt::Display for UnknownStepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown step kind `{}`", self.0)
    }
}

impl std::error::Error for UnknownStepKind {}

impl FromStr for StepKind {
    type Err = UnknownStepKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StepKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownStepKind(s.to_string()))
    }
}

impl PartialEq<str> for StepKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for StepKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str_and_serde() {
        for k in StepKind::ALL {
            assert_eq!(k.as_str().parse::<StepKind>(), Ok(k));
            let json = serde_json::to_string(&k).expect("serialise");
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            let back: StepKind = serde_json::from_str(&json).expect("deserialise");
            assert_eq!(back, k);
            assert!(k.version() >= 1, "{k}");
        }
        assert_eq!(
            "pretrainn".parse::<StepKind>(),
            Err(UnknownStepKind("pretrainn".into()))
        );
    }

    #[test]
    fn names_are_distinct() {
        let mut names: Vec<&str> = StepKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), StepKind::ALL.len());
    }
}
