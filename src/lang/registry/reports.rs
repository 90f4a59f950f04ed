//! Reports: what a pipeline writes for people to read (metric tables, plots
//! against a swept parameter, and previews of what a policy does to images).

use super::{Bound, Category as C, Kind, Ty, d, kind, opt, req};

/// Every report, in the order docs list them.
pub(super) const REPORTS: &[Kind] = &[
    kind(
        "table",
        C::Report,
        "A table of metrics, one row per arm (or pivoted by `rows`/`cols`)",
        &[
            req("metrics", Ty::Metric, "What to show: `seg.miou` or a list"),
            opt(
                "rows",
                Ty::Axis,
                Bound::ANY,
                "Swept parameter(s) that make the rows",
            ),
            opt(
                "cols",
                Ty::Axis,
                Bound::ANY,
                "Swept parameter that makes the columns",
            ),
            d(
                "formats",
                Ty::List(&Ty::Enum(&["md", "csv", "json", "html"])),
                "[md, csv, json]",
                Bound::ANY,
                "Output formats",
            ),
        ],
    ),
    kind(
        "plot",
        C::Report,
        "A plot of a metric against a swept parameter",
        &[
            req("metric", Ty::Metric, "The y axis: `lin.top1`"),
            req("x", Ty::Axis, "The x axis: `lin.label_fraction`"),
            opt(
                "series",
                Ty::Axis,
                Bound::ANY,
                "One line or bar group per value of this parameter",
            ),
            opt(
                "baselines",
                Ty::Metric,
                Bound::ANY,
                "Reference metrics drawn as dashed grey lines (e.g. `raw.top1`): against x where the baseline sweeps the x parameter, else level at its mean, ± std over seeds",
            ),
            d(
                "style",
                Ty::Enum(&["line", "bar", "scatter"]),
                "line",
                Bound::ANY,
                "Plot style",
            ),
            d(
                "formats",
                Ty::List(&Ty::Enum(&["png", "svg"])),
                "[png, svg]",
                Bound::ANY,
                "Output formats",
            ),
        ],
    ),
    kind(
        "preview",
        C::Report,
        "The first images of a dataset through a policy, as a grid PNG: what the model sees",
        &[
            req("data", Ty::Data, "The images"),
            req("policy", Ty::Policy, "The policy to apply"),
            d(
                "count",
                Ty::Int,
                "40",
                Bound::new(1.0, true, 10000.0, true),
                "How many images",
            ),
            d("cols", Ty::Int, "8", Bound::ONE_PLUS, "Grid columns"),
            d(
                "tile",
                Ty::Int,
                "128",
                Bound::new(1.0, true, 4096.0, true),
                "Smallest cell side in pixels: smaller views are enlarged by a whole factor (pixel replication), so 32-pixel images can be judged by eye; larger views are shown as they are",
            ),
            d(
                "epoch",
                Ty::Int,
                "0",
                Bound::NONNEG,
                "Which epoch's draws to show",
            ),
            opt(
                "seed",
                Ty::Int,
                Bound::NONNEG,
                "Seed (default: the pipeline seed)",
            ),
        ],
    ),
];
