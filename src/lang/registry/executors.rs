//! Where steps run: the executors `set executor = ...` names (`local`, the
//! default, and `slurm`), and `resources(...)`, what one step's Slurm job
//! asks for.
//!
//! None of it changes what a step computes, so every parameter here is
//! execution-only: outside every step key. A step's resources are resolved
//! field by field, first written wins: the declaration's own `resources`
//! (a `pretrain` block, a `finetune` or `segmentation` evaluation), the
//! executor's entry for the step's kind (`pretrain: resources(...)`), the
//! executor's `default`, then the defaults of `resources` below — the one
//! place they are written.

use super::{Bound, Category as C, Kind, Ty, d, exec_only, kind, opt};

/// The step kinds that run a network on the pipeline's device (`set device`,
/// a `pretrain` block's `device`); every other kind runs on the CPU, so a
/// GPU asked for it would sit idle.
pub const ON_DEVICE: &[&str] = &[
    "pretrain",
    "features",
    "finetune",
    "segmentation",
    "autoencoder",
    "pseudo_labels",
];

/// The step kinds `slurm(...)` takes resources for by name, in pipeline
/// order: the kinds that do the work. Every other kind (datasets, splits,
/// label subsets, previews, random initialisations, tables, plots) takes
/// the executor's `default`.
pub const RESOURCE_SLOTS: &[&str] = &[
    "offline_augment",
    "pretrain",
    "autoencoder",
    "pseudo_labels",
    "features",
    "linear_probe",
    "knn",
    "kmeans",
    "tsne",
    "segmentation",
    "finetune",
];

/// A per-kind entry of `slurm(...)`.
const fn slot(name: &'static str, doc: &'static str) -> super::Param {
    exec_only(opt(name, Ty::Kind(C::Resources), Bound::ANY, doc))
}

/// The executors, in the order docs list them.
pub(super) const EXECUTORS: &[Kind] = &[
    kind(
        "local",
        C::Executor,
        "Runs every step on this machine, in the `sslp run` process (the default executor)",
        &[],
    ),
    kind(
        "slurm",
        C::Executor,
        "Submits every step not yet in the store as a Slurm job (`sbatch`), after its inputs' jobs; the store must be on a filesystem the nodes share. Each job asks for the `resources` of its step: the declaration's own, else this executor's entry for the step's kind, else its `default` (field by field)",
        &[
            exec_only(opt(
                "partition",
                Ty::Str,
                Bound::ANY,
                "Partition to submit to (`sbatch --partition`; default: the cluster's default); `sslp run --partition` overrides it",
            )),
            exec_only(opt(
                "account",
                Ty::Str,
                Bound::ANY,
                "Account to charge (`sbatch --account`; default: the user's default); `sslp run --account` overrides it",
            )),
            exec_only(opt(
                "max_jobs",
                Ty::Int,
                Bound::ONE_PLUS,
                "At most this many of the pipeline's jobs queued or running at once (default: no limit); `sslp run --max-jobs` overrides it",
            )),
            exec_only(d(
                "sbatch_args",
                Ty::List(&Ty::Str),
                "[]",
                Bound::ANY,
                "Further `sbatch` options, each one string as written (`[\"--qos=high\", \"--constraint=a100\"]`); not the ones sslp writes itself (partition, account, resources, dependencies)",
            )),
            exec_only(d(
                "default",
                Ty::Kind(C::Resources),
                "resources()",
                Bound::ANY,
                "Resources of every step whose kind has no entry here, and the fields an entry leaves out",
            )),
            slot(
                "offline_augment",
                "Resources of `offline_augment` steps (an offline op such as `saliency_cut`, once per image)",
            ),
            slot(
                "pretrain",
                "Resources of `pretrain` steps (self-supervised training)",
            ),
            slot(
                "autoencoder",
                "Resources of `autoencoder` steps (G-SimCLR's denoising autoencoder)",
            ),
            slot(
                "pseudo_labels",
                "Resources of `pseudo_labels` steps (G-SimCLR's k-means pseudo-labels)",
            ),
            slot(
                "features",
                "Resources of `features` steps (frozen features for knn, linear_probe, kmeans, tsne)",
            ),
            slot("linear_probe", "Resources of `linear_probe` steps"),
            slot("knn", "Resources of `knn` steps"),
            slot("kmeans", "Resources of `kmeans` steps"),
            slot("tsne", "Resources of `tsne` steps"),
            slot(
                "segmentation",
                "Resources of `segmentation` steps (a decoder fine-tuned with the backbone)",
            ),
            slot(
                "finetune",
                "Resources of `finetune` steps (supervised fine-tuning)",
            ),
        ],
    ),
];

/// `resources(...)`: what one step's job asks for.
pub(super) const RESOURCES: Kind = kind(
    "resources",
    C::Resources,
    "What one step's Slurm job asks for, on one node. Each field comes from the first level that writes it: a declaration's own `resources` (`pretrain` blocks, `finetune`, `segmentation`), the executor's entry for the step's kind, its `default`, then the defaults below. Has an effect only with `set executor = slurm(...)`",
    &[
        exec_only(d(
            "gpus",
            Ty::Int,
            "0",
            Bound::NONNEG,
            "GPUs per node (`--gpus-per-node`); only steps that run on `set device = cuda` use one. A step uses one GPU today: more only reserve them, ready for data-parallel training over several (and a `nodes` count beside it), which is planned",
        )),
        exec_only(d(
            "cpus",
            Ty::Int,
            "1",
            Bound::ONE_PLUS,
            "CPU cores for the step (`--cpus-per-task`)",
        )),
        exec_only(d(
            "mem",
            Ty::Memory,
            "\"4G\"",
            Bound::ANY,
            "Memory per node (`--mem`): a whole number with K, M, G or T; a bare number is megabytes",
        )),
        exec_only(d(
            "time",
            Ty::Duration,
            "\"1h\"",
            Bound::ANY,
            "Time limit (`--time`): `\"30m\"`, `\"4h\"`, `\"2d\"`, `\"1d12h\"`, or Slurm's MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS; planned as D-HH:MM:SS (HH:MM:SS below a day)",
        )),
    ],
);

#[cfg(test)]
mod tests {
    use super::super::{all_schemas, kind_named};
    use super::*;

    #[test]
    fn every_slot_is_a_parameter_of_slurm_and_every_parameter_is_execution_only() {
        let slurm = kind_named("slurm").unwrap();
        for name in RESOURCE_SLOTS {
            let (_, p) = slurm.param(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(p.ty, Ty::Kind(C::Resources), "{name}");
        }
        for k in all_schemas().filter(|k| matches!(k.category, C::Executor | C::Resources)) {
            for p in k.params {
                assert!(!p.in_key, "{}.{}", k.name, p.name);
            }
        }
    }
}
