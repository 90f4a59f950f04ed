//! Optimisers and learning-rate schedules: what a pretraining run or a
//! fine-tuning takes as `optimizer:` and `schedule:`. They are separate
//! categories but always chosen together, so they share a file.

use super::{Bound, Category as C, Kind, Ty, When, d, kind, only, req};

const INT_LIST: Ty = Ty::List(&Ty::Int);

/// Every optimiser, in the order docs list them.
pub(super) const OPTIMIZERS: &[Kind] = &[
    kind(
        "sgd",
        C::Optimizer,
        "SGD with momentum; lr is scaled by batch/256 unless `lr_scaling` says otherwise",
        &[
            d("lr", Ty::Float, "0.05", Bound::POS, "Base learning rate"),
            d("momentum", Ty::Float, "0.9", Bound::UNIT_OPEN, "Momentum"),
            d(
                "weight_decay",
                Ty::Float,
                "1e-4",
                Bound::NONNEG,
                "L2 weight decay",
            ),
            only(
                When::Positive("momentum"),
                d(
                    "nesterov",
                    Ty::Bool,
                    "false",
                    Bound::ANY,
                    "Nesterov momentum",
                ),
            ),
            d(
                "exclude_bias_bn",
                Ty::Bool,
                "false",
                Bound::ANY,
                "No weight decay on biases and BN parameters",
            ),
        ],
    ),
    kind(
        "lars",
        C::Optimizer,
        "LARS: layer-wise adaptive rate scaling over SGD (SimCLR, BYOL)",
        &[
            d("lr", Ty::Float, "0.3", Bound::POS, "Base learning rate"),
            d("momentum", Ty::Float, "0.9", Bound::UNIT_OPEN, "Momentum"),
            d(
                "weight_decay",
                Ty::Float,
                "1e-6",
                Bound::NONNEG,
                "L2 weight decay",
            ),
            d("eta", Ty::Float, "0.02", Bound::POS, "Trust coefficient"),
            d(
                "exclude_bias_bn",
                Ty::Bool,
                "true",
                Bound::ANY,
                "No adaptation or decay on biases and BN parameters",
            ),
            d(
                "clip_lr",
                Ty::Bool,
                "true",
                Bound::ANY,
                "Clip the local rate at the global rate",
            ),
        ],
    ),
    kind(
        "adamw",
        C::Optimizer,
        "AdamW: Adam with decoupled weight decay (ViT, DINO)",
        &[
            d("lr", Ty::Float, "0.0005", Bound::POS, "Base learning rate"),
            d(
                "beta1",
                Ty::Float,
                "0.9",
                Bound::UNIT_OPEN,
                "First-moment decay",
            ),
            d(
                "beta2",
                Ty::Float,
                "0.999",
                Bound::UNIT_OPEN,
                "Second-moment decay",
            ),
            d(
                "weight_decay",
                Ty::Float,
                "0.04",
                Bound::NONNEG,
                "Decoupled weight decay",
            ),
            d("eps", Ty::Float, "1e-8", Bound::POS, "Denominator epsilon"),
        ],
    ),
];

/// Every learning-rate schedule, in the order docs list them.
pub(super) const SCHEDULES: &[Kind] = &[
    kind(
        "cosine",
        C::Schedule,
        "Linear warm-up, then cosine decay to `min_lr`, per step",
        &[
            d(
                "warmup_epochs",
                Ty::Int,
                "10",
                Bound::NONNEG,
                "Warm-up length",
            ),
            only(
                When::Positive("warmup_epochs"),
                d(
                    "warmup_start_lr",
                    Ty::Float,
                    "3e-5",
                    Bound::NONNEG,
                    "Learning rate at step 0",
                ),
            ),
            d(
                "min_lr",
                Ty::Float,
                "0.0",
                Bound::NONNEG,
                "Learning rate at the end",
            ),
        ],
    ),
    kind("constant", C::Schedule, "A constant learning rate", &[]),
    kind(
        "step",
        C::Schedule,
        "Multiply the learning rate by `gamma` at each milestone epoch",
        &[
            req("milestones", INT_LIST, "Epochs at which to decay"),
            d("gamma", Ty::Float, "0.1", Bound::POS, "Decay factor"),
        ],
    ),
];
