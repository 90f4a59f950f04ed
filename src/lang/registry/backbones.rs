//! Backbones: the networks a method trains (ResNets, a small ViT, a tiny
//! convnet) and `raw_pixels`, the no-network baseline for evaluations on
//! frozen features.

use super::{Bound, Category as C, Info, Kind, Param, Ty, d, kind, with_info};

/// The parameters every ResNet shares.
const RESNET_PARAMS: &[Param] = &[
    d(
        "cifar_stem",
        Ty::Bool,
        "false",
        Bound::ANY,
        "3x3 stride-1 first conv and no max-pool, for 32x32 inputs",
    ),
    d(
        "zero_init_residual",
        Ty::Bool,
        "false",
        Bound::ANY,
        "Zero the last BN of each residual block",
    ),
];

/// Every backbone, in the order docs list them.
pub(super) const BACKBONES: &[Kind] = &[
    kind(
        "resnet18",
        C::Backbone,
        "ResNet-18, torchvision layout, 512-d features",
        RESNET_PARAMS,
    ),
    kind(
        "resnet34",
        C::Backbone,
        "ResNet-34, torchvision layout, 512-d features",
        RESNET_PARAMS,
    ),
    kind(
        "resnet50",
        C::Backbone,
        "ResNet-50, torchvision layout, 2048-d features",
        RESNET_PARAMS,
    ),
    kind(
        "vit_tiny",
        C::Backbone,
        "A small Vision Transformer (for DINO); class-token features",
        &[
            d(
                "patch",
                Ty::Int,
                "16",
                Bound::ONE_PLUS,
                "Patch side (4 for 32x32 inputs)",
            ),
            d(
                "depth",
                Ty::Int,
                "12",
                Bound::ONE_PLUS,
                "Transformer blocks",
            ),
            d("width", Ty::Int, "192", Bound::ONE_PLUS, "Embedding width"),
            d("heads", Ty::Int, "3", Bound::ONE_PLUS, "Attention heads"),
            d(
                "mlp_ratio",
                Ty::Float,
                "4.0",
                Bound::POS,
                "MLP width / embedding width",
            ),
        ],
    ),
    with_info(
        kind(
            "raw_pixels",
            C::Backbone,
            "No network: the features are the image's pixels, normalised per channel and flattened (3 x H x W values, channel-major). The mean and std are those the features step gives any backbone that stores none, as a random-init baseline: the statistics of the data part being extracted. A baseline for knn, linear_probe, kmeans and tsne; it has no weights, so pretrain, segmentation and finetune refuse it",
            &[],
        ),
        Info::FixedBackbone,
    ),
    kind(
        "tiny_convnet",
        C::Backbone,
        "A small convnet for quick runs and tests",
        &[
            d(
                "width",
                Ty::Int,
                "32",
                Bound::ONE_PLUS,
                "Channels of the first block (doubles per block)",
            ),
            d(
                "depth",
                Ty::Int,
                "3",
                Bound::new(1.0, true, 8.0, true),
                "Number of conv blocks",
            ),
        ],
    ),
];
