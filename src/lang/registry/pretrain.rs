//! The `pretrain { ... }` block: self-supervised training of a backbone with
//! a method, a policy and views. Its parameters tie the other categories
//! together (backbone, method, optimiser, schedule), so it has its own file.

use super::{Bound, Category as C, Kind, Ty, When, d, exec_only, kind, only, opt, req};

/// The `pretrain { ... }` schema.
pub(super) const PRETRAIN: Kind = kind(
    "pretrain",
    C::Pretrain,
    "Self-supervised pretraining of a backbone with a method, a policy and views",
    &[
        req("data", Ty::Data, "Unlabelled training images"),
        req("backbone", Ty::Kind(C::Backbone), "The network to train"),
        req("method", Ty::Kind(C::Method), "The SSL method"),
        opt(
            "policy",
            Ty::Policy,
            Bound::ANY,
            "Augmentation policy for views without their own",
        ),
        d(
            "views",
            Ty::Views,
            "[view(count: 2)]",
            Bound::ANY,
            "The views made of each image",
        ),
        d("epochs", Ty::Int, "100", Bound::ONE_PLUS, "Training epochs"),
        d(
            "batch",
            Ty::Int,
            "256",
            Bound::TWO_PLUS,
            "Images per batch (at least 2: every method compares or normalises over the batch)",
        ),
        d(
            "optimizer",
            Ty::Kind(C::Optimizer),
            "sgd()",
            Bound::ANY,
            "The optimiser",
        ),
        d(
            "schedule",
            Ty::Kind(C::Schedule),
            "cosine()",
            Bound::ANY,
            "The learning-rate schedule",
        ),
        d(
            "lr_scaling",
            Ty::Enum(&["linear", "sqrt", "none"]),
            "linear",
            Bound::ANY,
            "Scale lr by batch/256 (linear), its square root, or not",
        ),
        opt("grad_clip", Ty::Float, Bound::POS, "Clip the gradient norm"),
        opt(
            "seed",
            Ty::Int,
            Bound::NONNEG,
            "Seed (default: the pipeline seed)",
        ),
        exec_only(opt(
            "device",
            Ty::Device,
            Bound::ANY,
            "Device (default: the pipeline setting)",
        )),
        opt(
            "precision",
            Ty::Enum(&["f32", "f16", "bf16"]),
            Bound::ANY,
            "f32, f16 or bf16 mixed precision (see `sslp explain settings`; default: the pipeline setting)",
        ),
        exec_only(d(
            "checkpoint_every",
            Ty::Int,
            "1",
            Bound::ONE_PLUS,
            "Checkpoint every N epochs",
        )),
        exec_only(d(
            "monitor_every",
            Ty::Int,
            "1",
            Bound::NONNEG,
            "Run the online kNN monitor every N epochs and after the last (0: never); it does not change what is trained",
        )),
        exec_only(opt(
            "resources",
            Ty::Kind(C::Resources),
            Bound::ANY,
            "What the run's `pretrain` job asks for under `set executor = slurm(...)`, before the executor's `pretrain` entry (field by field; see `sslp explain resources`)",
        )),
        only(
            When::Positive("monitor_every"),
            exec_only(d(
                "monitor_fraction",
                Ty::Float,
                "0.2",
                Bound::new(0.0, false, 1.0, false),
                "Held-out fraction of the kNN monitor's slice of the training images (at most 1,024, evenly spaced), classified against the rest",
            )),
        ),
    ],
);
