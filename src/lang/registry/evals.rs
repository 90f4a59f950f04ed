//! Downstream evaluations: linear probe, kNN, k-means, t-SNE, segmentation
//! and fine-tuning, each with the metrics it reports (what reports may name
//! as `eval.metric`) and whether it reads frozen features.

use super::{
    Bound, Category as C, Default, Info, Kind, Param, Ty, When, d, exec_only, kind, only, opt, p,
    req, with_info,
};

/// An evaluation reporting `metrics`; `features` when it extracts frozen features first.
const fn eval(k: Kind, metrics: &'static [&'static str], features: bool) -> Kind {
    with_info(k, Info::Eval { metrics, features })
}

/// The feature extractor every evaluation but finetune takes.
const ENCODER: Param = req(
    "backbone",
    Ty::Encoder,
    "A pretraining run, or a backbone for a random-init baseline",
);
/// The share of labelled images, shared by the supervised evaluations.
const LABEL_FRACTION: Param = d(
    "label_fraction",
    Ty::Float,
    "1.0",
    Bound::FRACTION,
    "Fraction of labelled train images used, per class (stratified)",
);
/// A fixed number of labelled images per class, the alternative to `label_fraction`.
const PER_CLASS: Param = opt(
    "per_class",
    Ty::Int,
    Bound::ONE_PLUS,
    "Use exactly N labelled images per class instead",
);
/// The seed every evaluation takes.
const EVAL_SEED: Param = opt(
    "seed",
    Ty::Int,
    Bound::NONNEG,
    "Seed of the labelled subset, of the evaluation's own randomness and of a backbone call's random initialisation (default: the pipeline seed)",
);

/// What the evaluation's own job asks for (the evaluations that train a network).
const RESOURCES: Param = exec_only(opt(
    "resources",
    Ty::Kind(C::Resources),
    Bound::ANY,
    "What this evaluation's job asks for under `set executor = slurm(...)`, before the executor's entry for its kind (field by field; see `sslp explain resources`)",
));

/// Every evaluation, in the order docs list them.
pub(super) const EVALS: &[Kind] = &[
    eval(
        kind(
            "linear_probe",
            C::Eval,
            "Multinomial logistic regression on frozen features",
            &[
                ENCODER,
                req("train", Ty::Data, "Labelled train images"),
                req("test", Ty::Data, "Test images"),
                LABEL_FRACTION,
                PER_CLASS,
                d(
                    "solver",
                    Ty::Enum(&["lbfgs", "sgd"]),
                    "lbfgs",
                    Bound::ANY,
                    "L-BFGS to convergence, or the SimCLR protocol (SGD on a linear head)",
                ),
                d("l2", Ty::Float, "1e-4", Bound::NONNEG, "L2 regularisation"),
                only(
                    When::Eq("solver", &["sgd"]),
                    d("epochs", Ty::Int, "100", Bound::ONE_PLUS, "Epochs"),
                ),
                only(
                    When::Eq("solver", &["sgd"]),
                    d("lr", Ty::Float, "0.1", Bound::POS, "Learning rate"),
                ),
                only(
                    When::Eq("solver", &["sgd"]),
                    d("batch", Ty::Int, "256", Bound::ONE_PLUS, "Batch size"),
                ),
                EVAL_SEED,
            ],
        ),
        &["top1", "top5"],
        true,
    ),
    eval(
        kind(
            "knn",
            C::Eval,
            "Weighted kNN (InstDisc): cosine top-k votes weighted exp(s/T)",
            &[
                ENCODER,
                req("train", Ty::Data, "Labelled train images (the bank)"),
                req("test", Ty::Data, "Test images"),
                LABEL_FRACTION,
                PER_CLASS,
                d(
                    "k",
                    Ty::Int,
                    "200",
                    Bound::ONE_PLUS,
                    "Neighbours (200 as lightly; 20 as DINO)",
                ),
                only(
                    When::Eq("distance", &["cosine"]),
                    d(
                        "temperature",
                        Ty::Float,
                        "0.1",
                        Bound::POS,
                        "T (0.1 as lightly; 0.07 as DINO)",
                    ),
                ),
                d(
                    "distance",
                    Ty::Enum(&["cosine", "euclidean"]),
                    "cosine",
                    Bound::ANY,
                    "Similarity",
                ),
                EVAL_SEED,
            ],
        ),
        &["top1", "top5"],
        true,
    ),
    eval(
        kind(
            "kmeans",
            C::Eval,
            "k-means (k-means++ init, restarts) on features, scored by NMI, ARI and Hungarian accuracy",
            &[
                ENCODER,
                req(
                    "data",
                    Ty::Data,
                    "Images to cluster (labels are used only for scoring)",
                ),
                p(
                    "clusters",
                    Ty::Int,
                    Default::Required,
                    Bound::TWO_PLUS,
                    "k, the number of clusters",
                ),
                d(
                    "restarts",
                    Ty::Int,
                    "10",
                    Bound::ONE_PLUS,
                    "Independent k-means++ restarts",
                ),
                d(
                    "max_iter",
                    Ty::Int,
                    "300",
                    Bound::ONE_PLUS,
                    "Lloyd iterations per restart",
                ),
                EVAL_SEED,
            ],
        ),
        &["nmi", "ari", "accuracy", "inertia"],
        true,
    ),
    eval(
        kind(
            "tsne",
            C::Eval,
            "t-SNE of the features to a 2-D scatter plot",
            &[
                ENCODER,
                req("data", Ty::Data, "Images to embed"),
                d("perplexity", Ty::Float, "30.0", Bound::POS, "Perplexity"),
                d(
                    "iterations",
                    Ty::Int,
                    "1000",
                    Bound::ONE_PLUS,
                    "Optimisation steps",
                ),
                d("learning_rate", Ty::Float, "200.0", Bound::POS, "Step size"),
                d(
                    "color_by",
                    Ty::Enum(&["label", "cluster"]),
                    "label",
                    Bound::ANY,
                    "Point colours",
                ),
                only(
                    When::Eq("color_by", &["cluster"]),
                    d(
                        "clusters",
                        Ty::Int,
                        "10",
                        Bound::TWO_PLUS,
                        "k for `color_by: cluster`",
                    ),
                ),
                EVAL_SEED,
            ],
        ),
        &["kl_divergence"],
        true,
    ),
    eval(
        kind(
            "segmentation",
            C::Eval,
            "FCN-style decoder on the backbone's last feature map, fine-tuned on images with masks; mIoU and pixel accuracy (semantic segmentation: the thesis' Mask R-CNN is out of scope)",
            &[
                ENCODER,
                req("train", Ty::Data, "Train images with masks"),
                req("test", Ty::Data, "Test images with masks"),
                LABEL_FRACTION,
                PER_CLASS,
                d(
                    "epochs",
                    Ty::Int,
                    "50",
                    Bound::ONE_PLUS,
                    "Fine-tuning epochs",
                ),
                d("batch", Ty::Int, "16", Bound::ONE_PLUS, "Batch size"),
                d("lr", Ty::Float, "0.01", Bound::POS, "Learning rate"),
                d(
                    "decoder",
                    Ty::Enum(&["fcn"]),
                    "fcn",
                    Bound::ANY,
                    "Decoder head",
                ),
                d(
                    "freeze_backbone",
                    Ty::Bool,
                    "false",
                    Bound::ANY,
                    "Train the decoder only",
                ),
                EVAL_SEED,
                RESOURCES,
            ],
        ),
        &["miou", "pixel_accuracy"],
        false,
    ),
    eval(
        kind(
            "finetune",
            C::Eval,
            "Supervised fine-tuning: the backbone plus a linear head trained end to end with cross-entropy on the labelled train images, top-1 (and top-5) on the test images. From a pretraining run's weights, or from a random initialisation (drawn from the evaluation's seed) when `backbone:` is a backbone call: the supervised baseline",
            &[
                p(
                    "backbone",
                    Ty::Encoder,
                    Default::Required,
                    Bound::ANY,
                    "A pretraining run (fine-tuned from its weights), or a backbone trained from scratch",
                ),
                req("train", Ty::Data, "Labelled train images"),
                req("test", Ty::Data, "Test images"),
                LABEL_FRACTION,
                PER_CLASS,
                d("epochs", Ty::Int, "30", Bound::ONE_PLUS, "Training epochs"),
                d(
                    "batch",
                    Ty::Int,
                    "64",
                    Bound::TWO_PLUS,
                    "Images per batch (at least 2 for BatchNorm); the last partial batch of an epoch is dropped, and fewer labelled images than one batch is an error",
                ),
                d(
                    "optimizer",
                    Ty::Kind(C::Optimizer),
                    "sgd(lr: 0.05, momentum: 0.9, weight_decay: 5e-4)",
                    Bound::ANY,
                    "The optimiser; its `lr` is used as written (no batch scaling)",
                ),
                d(
                    "schedule",
                    Ty::Kind(C::Schedule),
                    "cosine(warmup_epochs: 0)",
                    Bound::ANY,
                    "The learning-rate schedule, per step",
                ),
                opt(
                    "policy",
                    Ty::Policy,
                    Bound::ANY,
                    "Augmentation of the training images. Default: fine-tuning a pretraining run inherits its policy (its first view's), so both see the same augmentation; from scratch, none (state the compared pretraining's policy to compare like with like). Test images are never augmented",
                ),
                EVAL_SEED,
                RESOURCES,
            ],
        ),
        &["top1", "top5"],
        false,
    ),
];
