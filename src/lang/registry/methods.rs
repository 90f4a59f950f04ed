//! SSL methods with their hyper-parameters, defaulting to the reference
//! recipes, and [`deviations`]: every way the implementation differs from
//! each method's reference recipe, kept next to the method it qualifies.

use super::{Bound, Category as C, Info, Kind, Ty, When, d, kind, only, with_info};

/// A method; `multicrop` when it accepts local crops besides the two global views.
const fn method(k: Kind, multicrop: bool) -> Kind {
    with_info(k, Info::Method { multicrop })
}

/// Every SSL method, in the order docs list them.
pub(super) const METHODS: &[Kind] = &[
    method(
        kind(
            "simclr",
            C::Method,
            "SimCLR: NT-Xent over two views, negatives from the batch (Chen et al. 2020)",
            &[
                d(
                    "temperature",
                    Ty::Float,
                    "0.5",
                    Bound::POS,
                    "tau; 0.5 official CIFAR and lightly default",
                ),
                d(
                    "proj_hidden",
                    Ty::Int,
                    "2048",
                    Bound::ONE_PLUS,
                    "Projector hidden width",
                ),
                d(
                    "proj_dim",
                    Ty::Int,
                    "128",
                    Bound::ONE_PLUS,
                    "Projector output width",
                ),
                d(
                    "proj_layers",
                    Ty::Int,
                    "2",
                    Bound::ONE_PLUS,
                    "Projector depth",
                ),
            ],
        ),
        false,
    ),
    method(
        kind(
            "moco",
            C::Method,
            "MoCo: InfoNCE against a momentum encoder, with a queue (v2) or in-batch keys (v3)",
            &[
                d(
                    "version",
                    Ty::Enum(&["v2", "v3"]),
                    "v2",
                    Bound::ANY,
                    "v2: queue + momentum encoder; v3: no queue, predictor",
                ),
                d(
                    "temperature",
                    Ty::Float,
                    "0.2",
                    Bound::POS,
                    "tau (official v2: 0.2)",
                ),
                only(
                    When::Eq("version", &["v2"]),
                    d(
                        "queue",
                        Ty::Int,
                        "65536",
                        Bound::NONNEG,
                        "Queue length K (v2); must be a multiple of the batch",
                    ),
                ),
                d(
                    "momentum",
                    Ty::Float,
                    "0.999",
                    Bound::UNIT_OPEN,
                    "EMA momentum m at the start",
                ),
                d(
                    "momentum_end",
                    Ty::Float,
                    "0.999",
                    Bound::PROB,
                    "EMA momentum at the end (cosine schedule)",
                ),
                d(
                    "proj_hidden",
                    Ty::Int,
                    "2048",
                    Bound::ONE_PLUS,
                    "Projector hidden width",
                ),
                d(
                    "proj_dim",
                    Ty::Int,
                    "128",
                    Bound::ONE_PLUS,
                    "Projector output width",
                ),
                only(
                    When::Eq("version", &["v3"]),
                    d(
                        "pred_hidden",
                        Ty::Int,
                        "4096",
                        Bound::ONE_PLUS,
                        "Predictor hidden width (v3)",
                    ),
                ),
                only(
                    When::Eq("version", &["v2"]),
                    d(
                        "symmetric",
                        Ty::Bool,
                        "false",
                        Bound::ANY,
                        "Symmetrised loss (solo-learn v2+)",
                    ),
                ),
            ],
        ),
        false,
    ),
    method(
        kind(
            "simsiam",
            C::Method,
            "SimSiam: negative cosine with stop-gradient, no negatives (Chen & He 2021)",
            &[
                d(
                    "proj_hidden",
                    Ty::Int,
                    "2048",
                    Bound::ONE_PLUS,
                    "Projector hidden width",
                ),
                d(
                    "proj_dim",
                    Ty::Int,
                    "2048",
                    Bound::ONE_PLUS,
                    "Projector output width",
                ),
                d(
                    "proj_layers",
                    Ty::Int,
                    "3",
                    Bound::ONE_PLUS,
                    "Projector depth (2 for the CIFAR variant)",
                ),
                d(
                    "pred_hidden",
                    Ty::Int,
                    "512",
                    Bound::ONE_PLUS,
                    "Predictor bottleneck width",
                ),
            ],
        ),
        false,
    ),
    method(
        kind(
            "byol",
            C::Method,
            "BYOL: predict an EMA target's projection, 2 - 2cos (Grill et al. 2020)",
            &[
                d(
                    "tau_base",
                    Ty::Float,
                    "0.996",
                    Bound::UNIT_OPEN,
                    "Target EMA momentum at the start",
                ),
                d(
                    "tau_end",
                    Ty::Float,
                    "1.0",
                    Bound::PROB,
                    "Target EMA momentum at the end (cosine)",
                ),
                d(
                    "proj_hidden",
                    Ty::Int,
                    "4096",
                    Bound::ONE_PLUS,
                    "Projector hidden width",
                ),
                d(
                    "proj_dim",
                    Ty::Int,
                    "256",
                    Bound::ONE_PLUS,
                    "Projector output width",
                ),
                d(
                    "pred_hidden",
                    Ty::Int,
                    "4096",
                    Bound::ONE_PLUS,
                    "Predictor hidden width",
                ),
            ],
        ),
        false,
    ),
    method(
        kind(
            "swav",
            C::Method,
            "SwAV: swapped prediction of Sinkhorn-Knopp codes over prototypes (Caron et al. 2020)",
            &[
                d(
                    "temperature",
                    Ty::Float,
                    "0.1",
                    Bound::POS,
                    "tau of the softmax over prototypes",
                ),
                d(
                    "prototypes",
                    Ty::Int,
                    "3000",
                    Bound::ONE_PLUS,
                    "Number of prototypes",
                ),
                d(
                    "sinkhorn_iters",
                    Ty::Int,
                    "3",
                    Bound::ONE_PLUS,
                    "Sinkhorn-Knopp iterations",
                ),
                d(
                    "epsilon",
                    Ty::Float,
                    "0.05",
                    Bound::POS,
                    "Sinkhorn entropy regularisation",
                ),
                d(
                    "queue",
                    Ty::Int,
                    "0",
                    Bound::NONNEG,
                    "Feature queue length (3840 for small batches); 0 = none",
                ),
                only(
                    When::Positive("queue"),
                    d(
                        "queue_start_epoch",
                        Ty::Int,
                        "15",
                        Bound::NONNEG,
                        "Epoch from which the queue is used",
                    ),
                ),
                d(
                    "freeze_prototypes_iters",
                    Ty::Int,
                    "313",
                    Bound::NONNEG,
                    "Iterations with frozen prototypes",
                ),
                d(
                    "proj_hidden",
                    Ty::Int,
                    "2048",
                    Bound::ONE_PLUS,
                    "Projector hidden width",
                ),
                d(
                    "proj_dim",
                    Ty::Int,
                    "128",
                    Bound::ONE_PLUS,
                    "Projector output width",
                ),
            ],
        ),
        true,
    ),
    method(
        kind(
            "barlow_twins",
            C::Method,
            "Barlow Twins: push the views' cross-correlation to identity (Zbontar et al. 2021)",
            &[
                d(
                    "lambda",
                    Ty::Float,
                    "0.0051",
                    Bound::NONNEG,
                    "Weight of the off-diagonal term",
                ),
                d(
                    "scale_loss",
                    Ty::Float,
                    "0.024",
                    Bound::POS,
                    "Loss scale (early official code)",
                ),
                d(
                    "proj_hidden",
                    Ty::Int,
                    "8192",
                    Bound::ONE_PLUS,
                    "Projector hidden width",
                ),
                d(
                    "proj_dim",
                    Ty::Int,
                    "8192",
                    Bound::ONE_PLUS,
                    "Projector output width",
                ),
                d(
                    "proj_layers",
                    Ty::Int,
                    "3",
                    Bound::ONE_PLUS,
                    "Projector depth",
                ),
            ],
        ),
        false,
    ),
    method(
        kind(
            "dino",
            C::Method,
            "DINO: self-distillation with a centred, sharpened EMA teacher (Caron et al. 2021)",
            &[
                d(
                    "out_dim",
                    Ty::Int,
                    "65536",
                    Bound::ONE_PLUS,
                    "Head output width (prototypes)",
                ),
                d(
                    "hidden",
                    Ty::Int,
                    "2048",
                    Bound::ONE_PLUS,
                    "Head MLP hidden width",
                ),
                d(
                    "bottleneck",
                    Ty::Int,
                    "256",
                    Bound::ONE_PLUS,
                    "Head bottleneck width",
                ),
                d(
                    "student_temp",
                    Ty::Float,
                    "0.1",
                    Bound::POS,
                    "Student temperature",
                ),
                only(
                    When::Positive("teacher_temp_warmup_epochs"),
                    d(
                        "teacher_temp_start",
                        Ty::Float,
                        "0.04",
                        Bound::POS,
                        "Teacher temperature at the start of warm-up",
                    ),
                ),
                d(
                    "teacher_temp",
                    Ty::Float,
                    "0.07",
                    Bound::POS,
                    "Teacher temperature after warm-up (> 0.07 is unstable)",
                ),
                d(
                    "teacher_temp_warmup_epochs",
                    Ty::Int,
                    "30",
                    Bound::NONNEG,
                    "Linear warm-up of the teacher temperature",
                ),
                d(
                    "center_momentum",
                    Ty::Float,
                    "0.9",
                    Bound::UNIT_OPEN,
                    "Centre EMA momentum m",
                ),
                d(
                    "tau_base",
                    Ty::Float,
                    "0.996",
                    Bound::UNIT_OPEN,
                    "Teacher EMA momentum at the start",
                ),
                d(
                    "tau_end",
                    Ty::Float,
                    "1.0",
                    Bound::PROB,
                    "Teacher EMA momentum at the end (cosine)",
                ),
                d(
                    "norm_last_layer",
                    Ty::Bool,
                    "true",
                    Bound::ANY,
                    "Weight-normalise the last layer with fixed norm",
                ),
                d(
                    "freeze_last_layer_epochs",
                    Ty::Int,
                    "1",
                    Bound::NONNEG,
                    "Epochs with a frozen last layer",
                ),
                d(
                    "clip_grad",
                    Ty::Float,
                    "3.0",
                    Bound::NONNEG,
                    "Gradient-norm clip (0 = off)",
                ),
            ],
        ),
        true,
    ),
    method(
        kind(
            "g_simclr",
            C::Method,
            "G-SimCLR: denoising autoencoder -> k-means pseudo-labels -> SimCLR batches without same-label pairs",
            &[
                d("temperature", Ty::Float, "0.5", Bound::POS, "NT-Xent tau"),
                d(
                    "clusters",
                    Ty::Int,
                    "10",
                    Bound::TWO_PLUS,
                    "k of the k-means over autoencoder codes",
                ),
                d(
                    "ae_epochs",
                    Ty::Int,
                    "50",
                    Bound::ONE_PLUS,
                    "Autoencoder training epochs",
                ),
                d(
                    "ae_latent",
                    Ty::Int,
                    "128",
                    Bound::ONE_PLUS,
                    "Autoencoder code width",
                ),
                d(
                    "noise_std",
                    Ty::Float,
                    "0.1",
                    Bound::NONNEG,
                    "Std of the denoising input noise",
                ),
                d(
                    "proj_hidden",
                    Ty::Int,
                    "2048",
                    Bound::ONE_PLUS,
                    "Projector hidden width",
                ),
                d(
                    "proj_dim",
                    Ty::Int,
                    "128",
                    Bound::ONE_PLUS,
                    "Projector output width",
                ),
            ],
        ),
        false,
    ),
];

/// Every way a method differs from its reference recipe (the paper and its official code), one
/// sentence each: printed by `sslp explain METHOD` and listed in the README's method table (a test
/// keeps the two equal). Recipe choices the user makes in the file (optimiser, schedule, batch,
/// crops) are not listed; what the implementation cannot be told to do is.
pub fn deviations(kind: &str) -> &'static [&'static str] {
    const SINGLE_DEVICE: &str = "One device: no SyncBN and no gathering across GPUs, so negatives, keys, codes and batch statistics come from the local batch only";
    match kind {
        "simclr" => &[
            SINGLE_DEVICE,
            "The projector has no BatchNorm (solo-learn's CIFAR head); the paper's ImageNet head has BN in its hidden layer",
        ],
        "moco" => &[
            SINGLE_DEVICE,
            "No Shuffle-BN (v2): the momentum encoder normalises the keys over the same batch as the queries, which the paper shuffles across GPUs to prevent a BN shortcut",
            "v3 with a ResNet: the default temperature is 0.2 (the paper's ResNet-50 recipe uses 1.0)",
        ],
        "simsiam" => &[
            SINGLE_DEVICE,
            "The predictor's learning rate follows the schedule like every other parameter (the official code keeps it fixed with --fix-pred-lr)",
        ],
        "byol" => &[SINGLE_DEVICE],
        "swav" => &[
            SINGLE_DEVICE,
            "Sinkhorn-Knopp runs in the log domain (the same arithmetic, immune to overflow) over the local batch instead of the all-reduced global one",
            "Prototypes are renormalised after each optimiser step (the official code renormalises at the start of the next one: the same values at every forward pass)",
        ],
        "barlow_twins" => &[
            SINGLE_DEVICE,
            "LARS applies one learning rate to all parameters (the official code gives biases and BN parameters their own, 0.0048 vs 0.2)",
        ],
        "dino" => &[
            SINGLE_DEVICE,
            "No weight-decay schedule: AdamW's decay is constant (the official recipe raises it from 0.04 to 0.4 by a cosine)",
            "AdamW decays every parameter, biases and normalisation weights included (the official code exempts them)",
        ],
        "g_simclr" => &[
            SINGLE_DEVICE,
            "The denoising autoencoder is a small fixed convolutional network on 32x32 inputs trained with Adam in batches of 128, not the paper's exact architecture",
            "k-means uses 4 restarts of at most 300 iterations",
            "A batch draws its images from distinct pseudo-labels only while it is no larger than `clusters`; larger batches spread the labels evenly (the paper's constraint cannot hold then)",
        ],
        _ => &[],
    }
}
