//! View specs: how many views of each image a pretraining run makes, of what
//! size and crop, and with which policy (`view`, and `multicrop` for SwAV and
//! DINO).

use super::{Bound, Category as C, Kind, Ty, When, d, kind, only, opt};

/// Every view spec, in the order docs list them.
pub(super) const VIEWS: &[Kind] = &[
    kind(
        "view",
        C::View,
        "One or more views of each image: optionally its own random resized crop, then a policy",
        &[
            d(
                "count",
                Ty::Int,
                "1",
                Bound::new(1.0, true, 32.0, true),
                "How many views of this spec",
            ),
            opt(
                "size",
                Ty::Int,
                Bound::ONE_PLUS,
                "View side (default: the image side; 3/7 of it for local views, as 96/224)",
            ),
            opt(
                "scale",
                Ty::Range,
                Bound::FRACTION,
                "Area fraction of a random resized crop made by the view itself (leave out when the policy crops)",
            ),
            d(
                "local",
                Ty::Bool,
                "false",
                Bound::ANY,
                "A local (small) crop, as multi-crop methods use",
            ),
            opt(
                "policy",
                Ty::Policy,
                Bound::ANY,
                "This view's policy (default: the run's policy)",
            ),
        ],
    ),
    kind(
        "multicrop",
        C::View,
        "Multi-crop: global views plus small local views (SwAV, DINO)",
        &[
            d(
                "global",
                Ty::Int,
                "2",
                Bound::new(1.0, true, 8.0, true),
                "Number of global views",
            ),
            opt(
                "global_size",
                Ty::Int,
                Bound::ONE_PLUS,
                "Global crop side (default: the image size)",
            ),
            d(
                "global_scale",
                Ty::Range,
                "0.14..1.0",
                Bound::FRACTION,
                "Area fraction of global crops",
            ),
            d(
                "local",
                Ty::Int,
                "6",
                Bound::new(0.0, true, 32.0, true),
                "Number of local views",
            ),
            only(
                When::Positive("local"),
                opt(
                    "local_size",
                    Ty::Int,
                    Bound::ONE_PLUS,
                    "Local crop side (default: 3/7 of the global side, as 96/224)",
                ),
            ),
            only(
                When::Positive("local"),
                d(
                    "local_scale",
                    Ty::Range,
                    "0.05..0.14",
                    Bound::FRACTION,
                    "Area fraction of local crops",
                ),
            ),
            opt(
                "policy",
                Ty::Policy,
                Bound::ANY,
                "Policy for all crops (default: the run's policy)",
            ),
        ],
    ),
];
