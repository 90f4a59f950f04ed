//! The `set` settings: pipeline-wide values (seed, device, precision, report
//! title, executor) written `set NAME = VALUE`. They are a schema like any kind's, so
//! the checker validates them and `sslp explain settings` documents them.

use super::{Bound, Category as C, Kind, Ty, d, exec_only, kind, opt};

/// The `set` settings schema.
pub(super) const SETTINGS: Kind = kind(
    "settings",
    C::Settings,
    "Pipeline-wide settings, written `set NAME = VALUE`.",
    &[
        d(
            "seed",
            Ty::Int,
            "0",
            Bound::NONNEG,
            "Base seed; every step's RNG derives from it and the step key",
        ),
        exec_only(d(
            "device",
            Ty::Device,
            "cpu",
            Bound::ANY,
            "Where training runs; `cuda` needs a build with the `cuda` feature",
        )),
        d(
            "precision",
            Ty::Enum(&["f32", "f16", "bf16"]),
            "f32",
            Bound::ANY,
            "What training computes in: f32; or f16 / bf16 mixed precision (weights, normalisation, activations and losses in f32; convolutions and linear layers in f16 or bf16; f16 with dynamic loss scaling, skipped steps reported). On the CPU f16/bf16 run correctly but several times slower than f32",
        ),
        exec_only(opt(
            "name",
            Ty::Str,
            Bound::ANY,
            "The title of the HTML report page (`sslp report`; default: the file name)",
        )),
        exec_only(d(
            "executor",
            Ty::Kind(C::Executor),
            "local()",
            Bound::ANY,
            "Where steps run: `local()` in the `sslp run` process, or `slurm(...)` as jobs on a cluster, with resources per step kind (`sslp explain slurm`); `sslp run --executor` overrides it",
        )),
    ],
);
