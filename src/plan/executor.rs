//! Where a plan's steps run, and what each step's job asks for: the
//! interface between the language's `set executor = ...` and the executors.
//!
//! The planner fills [`super::Plan::executor`] from `set executor` and, under
//! the `slurm` executor, gives every step `exec["resources"]`: a map
//! `{"gpus": Int, "cpus": Int, "mem": Str, "time": Str}` resolved field by
//! field (the declaration's own `resources`, the executor's entry for the
//! step's kind, its `default`, then the registry's defaults of
//! `resources(...)`), with `time` in Slurm's `D-HH:MM:SS` (or `HH:MM:SS`
//! below a day) form and `mem` as written (`"32G"`). Under the `local`
//! executor no step has `exec["resources"]`. Like everything in `exec`, the
//! resources are outside the step key: changing them never re-runs a step.
//! [`resources_of`] reads a step's resources back, typed.

use super::{Step, Value};
use serde::Serialize;

/// The executor a plan is for, with the settings `slurm(...)` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Executor {
    /// Which executor.
    pub kind: ExecutorKind,
    /// The Slurm partition to submit to (`sbatch --partition`); `None`: the cluster's default.
    pub partition: Option<String>,
    /// The Slurm account to charge (`sbatch --account`); `None`: the user's default.
    pub account: Option<String>,
    /// At most this many of the pipeline's jobs queued or running at once; `None`: no limit.
    pub max_jobs: Option<u64>,
    /// Further `sbatch` options, each one argument as written (`--qos=high`).
    pub sbatch_args: Vec<String>,
}

/// Which executor runs the steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutorKind {
    /// In the `sslp run` process, on this machine (`set executor = local()`, the default).
    #[default]
    Local,
    /// As Slurm jobs (`set executor = slurm(...)`).
    Slurm,
}

impl ExecutorKind {
    /// The executor's name in the language (`local`, `slurm`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ExecutorKind::Local => "local",
            ExecutorKind::Slurm => "slurm",
        }
    }
}

impl Executor {
    /// Whether this is the default: the local executor.
    pub fn is_local(&self) -> bool {
        self.kind == ExecutorKind::Local
    }
}

/// What one step's job asks for, read from its `exec["resources"]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Resources {
    /// GPUs per node (`--gpus-per-node`).
    pub gpus: u32,
    /// CPU cores (`--cpus-per-task`).
    pub cpus: u32,
    /// Memory per node as `sbatch --mem` reads it (`"32G"`; a bare number is megabytes).
    pub mem: String,
    /// Time limit as `sbatch --time` reads it: `D-HH:MM:SS`, or `HH:MM:SS` below a day.
    pub time: String,
}

/// A step's resources: `None` when the plan is not for the `slurm` executor (the step has no
/// `exec["resources"]`), or when the map is not of the planner's shape.
pub fn resources_of(step: &Step) -> Option<Resources> {
    let m = step.exec.get("resources")?.as_map()?;
    let count = |name: &str| match m.get(name)? {
        Value::Int(n) => u32::try_from(*n).ok(),
        _ => None,
    };
    let text = |name: &str| m.get(name)?.as_str().map(str::to_string);
    Some(Resources {
        gpus: count("gpus")?,
        cpus: count("cpus")?,
        mem: text("mem")?,
        time: text("time")?,
    })
}

impl Resources {
    /// The planned `exec["resources"]` map of these resources.
    pub fn to_value(&self) -> Value {
        Value::Map(
            [
                ("cpus", Value::Int(i64::from(self.cpus))),
                ("gpus", Value::Int(i64::from(self.gpus))),
                ("mem", Value::Str(self.mem.clone())),
                ("time", Value::Str(self.time.clone())),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        )
    }
}
