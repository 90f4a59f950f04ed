//! Augmentation ops: the steps of a policy (`random_resized_crop(...) @ 0.8`).
//! Each op says whether it draws randomness and whether it is computed
//! offline (cached per image), which the planner needs to decide what can be
//! cached.

use super::{Bound, Category as C, Info, Kind, Ty, When, d, kind, only, opt, req, with_info};

const FLOAT_LIST: Ty = Ty::List(&Ty::Float);

/// A random op (draws from the per-draw stream).
const fn op(k: Kind) -> Kind {
    with_info(
        k,
        Info::Op {
            offline: false,
            online_params: &[],
            deterministic: false,
            model_input: false,
        },
    )
}

/// An op that draws no randomness.
const fn det_op(k: Kind) -> Kind {
    with_info(
        k,
        Info::Op {
            offline: false,
            online_params: &[],
            deterministic: true,
            model_input: false,
        },
    )
}

/// Every augmentation op, in the order docs list them.
pub(super) const OPS: &[Kind] = &[
    op(kind(
        "random_resized_crop",
        C::Op,
        "Crop a random area and aspect ratio, resize to `size` (torchvision RandomResizedCrop)",
        &[
            opt(
                "size",
                Ty::Int,
                Bound::ONE_PLUS,
                "Output side (default: the view size)",
            ),
            d(
                "scale",
                Ty::Range,
                "0.08..1.0",
                Bound::FRACTION,
                "Range of the crop's area fraction",
            ),
            d(
                "ratio",
                Ty::Range,
                "0.75..1.3333333333333333",
                Bound::POS,
                "Range of aspect ratios",
            ),
        ],
    )),
    op(kind(
        "rotate",
        C::Op,
        "Rotate by a random angle in [-degrees, degrees]",
        &[d(
            "degrees",
            Ty::Float,
            "30.0",
            Bound::new(0.0, true, 180.0, true),
            "Largest rotation, in degrees",
        )],
    )),
    det_op(kind("horizontal_flip", C::Op, "Mirror left-right", &[])),
    det_op(kind("vertical_flip", C::Op, "Mirror top-bottom", &[])),
    op(kind(
        "color_jitter",
        C::Op,
        "Random brightness, contrast, saturation and hue in random order (torchvision ColorJitter)",
        &[
            d(
                "brightness",
                Ty::Float,
                "0.4",
                Bound::NONNEG,
                "Brightness factor drawn from [1-b, 1+b]",
            ),
            d(
                "contrast",
                Ty::Float,
                "0.4",
                Bound::NONNEG,
                "Contrast factor drawn from [1-c, 1+c]",
            ),
            d(
                "saturation",
                Ty::Float,
                "0.4",
                Bound::NONNEG,
                "Saturation factor drawn from [1-s, 1+s]",
            ),
            d(
                "hue",
                Ty::Float,
                "0.1",
                Bound::new(0.0, true, 0.5, true),
                "Hue shift drawn from [-h, h]",
            ),
        ],
    )),
    det_op(kind(
        "grayscale",
        C::Op,
        "Convert to grey (kept as 3 channels)",
        &[],
    )),
    op(kind(
        "gaussian_blur",
        C::Op,
        "Blur with a Gaussian of random sigma",
        &[
            d(
                "kernel",
                Ty::Int,
                "3",
                Bound::new(1.0, true, 99.0, true),
                "Kernel side (odd)",
            ),
            d("sigma", Ty::Range, "0.1..2.0", Bound::POS, "Range of sigma"),
        ],
    )),
    det_op(kind(
        "solarize",
        C::Op,
        "Invert pixels above a threshold",
        &[d(
            "threshold",
            Ty::Float,
            "0.5",
            Bound::PROB,
            "Threshold on [0, 1] intensities",
        )],
    )),
    op(kind(
        "random_erasing",
        C::Op,
        "Fill a random box with a constant or random bytes (torchvision RandomErasing; Zhong et al. 2020), in the 8-bit image before normalisation",
        &[
            // torchvision's defaults: scale (0.02, 0.33), ratio (0.3, 3.3).
            d(
                "scale",
                Ty::Range,
                "0.02..0.33",
                Bound::FRACTION,
                "Range of the box's area fraction",
            ),
            d(
                "ratio",
                Ty::Range,
                "0.3..3.3",
                Bound::POS,
                "Range of aspect ratios (height / width), log-uniform",
            ),
            d(
                "fill",
                Ty::Enum(&["constant", "random"]),
                "constant",
                Bound::ANY,
                "`constant`: the bytes of `value`; `random`: uniform random bytes per pixel and channel (torchvision's `value='random'` draws normals in normalised units)",
            ),
            only(
                When::Eq("fill", &["constant"]),
                d(
                    "value",
                    Ty::List(&Ty::Int),
                    "[0]",
                    Bound::new(0.0, true, 255.0, true),
                    "Fill bytes (0-255): one for every channel, or three (R, G, B)",
                ),
            ),
        ],
    )),
    with_info(
        kind(
            "normalize",
            C::Op,
            "Model-input normalisation: subtract the channel mean, divide by the std (applied when a batch enters the network; previews show 8-bit images)",
            &[
                d(
                    "mean",
                    FLOAT_LIST,
                    "[0.485, 0.456, 0.406]",
                    Bound::ANY,
                    "Per-channel mean",
                ),
                d(
                    "std",
                    FLOAT_LIST,
                    "[0.229, 0.224, 0.225]",
                    Bound::POS,
                    "Per-channel standard deviation",
                ),
            ],
        ),
        Info::Op {
            offline: false,
            online_params: &[],
            deterministic: true,
            model_input: true,
        },
    ),
    with_info(
        kind(
            "saliency_cut",
            C::Op,
            "Salient-region segmentation (HC/RC saliency + iterative GrabCut), rendered with a random palette: the thesis' SGD",
            &[
                d(
                    "method",
                    Ty::Enum(&["rc", "hc"]),
                    "rc",
                    Bound::ANY,
                    "Saliency map: region or histogram contrast",
                ),
                only(
                    When::Eq("method", &["rc"]),
                    d(
                        "variant",
                        Ty::Enum(&["tpami", "cvpr2011"]),
                        "tpami",
                        Bound::ANY,
                        "Reference variant (saliency.md §0: implement the TPAMI code)",
                    ),
                ),
                d(
                    "threshold",
                    Ty::Int,
                    "70",
                    Bound::new(0.0, true, 255.0, true),
                    "Working-rectangle threshold on the 8-bit map (saliency.md §3 step 2)",
                ),
                d(
                    "iterations",
                    Ty::Int,
                    "4",
                    Bound::new(1.0, true, 10.0, true),
                    "Outer GrabCut rounds (saliency.md §3 step 5)",
                ),
                d(
                    "scale",
                    Ty::Float,
                    "1.0",
                    Bound::new(0.0, false, 4.0, true),
                    "Resize factor before segmenting (1 = 100p, 2 = 200p)",
                ),
                d(
                    "render",
                    Ty::Enum(&["palette", "swap", "mask"]),
                    "palette",
                    Bound::ANY,
                    "How segments are drawn per draw: random palette, colour swap, or the binary mask. On small images where the segmentation often fails, `palette` views are flat colours that can stop SimCLR learning (BENCHMARKS.md, quickstart); `swap` keeps the texture",
                ),
            ],
        ),
        Info::Op {
            offline: true,
            online_params: &["render"],
            // The mask is deterministic; its rendering per draw is not.
            deterministic: false,
            model_input: false,
        },
    ),
    op(kind(
        "one_of",
        C::Op,
        "Apply one of several ops, chosen by weight",
        &[
            req(
                "choices",
                Ty::Policy,
                "The candidate ops (each with its own probability)",
            ),
            opt(
                "weights",
                FLOAT_LIST,
                Bound::NONNEG,
                "Relative weights (default: equal)",
            ),
        ],
    )),
];
