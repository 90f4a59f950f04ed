//! Lowering a checked program into a DAG of content-addressed steps.
//!
//! Each [`Step`] has a kind, canonical parameters, named inputs and a
//! [`Key`]: a blake3 hash of `(kind, versions, params, input keys)` (the
//! rule is written once, in [`kind`]). Sweeps
//! expand into arms here; steps identical across arms are one node, so a
//! pretraining shared by ten label fractions appears (and runs) once.

pub mod diff;
mod executor;
mod expand;
mod inputs;
pub mod kind;
pub mod render;
mod site;
pub mod value;

use crate::lang::Diagnostic;
use crate::lang::hir::Program;
pub use executor::{Executor, ExecutorKind, Resources, resources_of};
pub use expand::registry_default;
pub use inputs::Inputs;
pub use kind::StepKind;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;
pub use site::{Site, SiteBase};
use std::collections::BTreeMap;
use std::sync::Arc;
pub use value::{Key, KeyMap, Value};

/// One unit of work, identified by the hash of everything it depends on.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Content key.
    pub key: Key,
    /// Step kind (serialised as its name: `dataset`, `split`, `pretrain`, `knn`, ...).
    pub kind: StepKind,
    /// The declaration it comes from.
    pub decl: String,
    /// Code version of the kind, [`StepKind::version`] (part of the key).
    pub version: u32,
    /// Canonical parameters (part of the key); shared between steps with equal parameters
    /// (ten thousand probes of one configuration hold one map).
    pub params: Arc<BTreeMap<String, Value>>,
    /// Execution-only settings (device, checkpoint cadence): not part of the key.
    pub exec: BTreeMap<String, Value>,
    /// Named inputs: other steps' keys (part of the key).
    pub inputs: Inputs,
    /// Where this step sits in the design, e.g. `ssl/pretrain[method=byol]`; several when arms share it.
    pub sites: Vec<Site>,
    /// Indices of the arms whose lineage contains this step.
    pub arms: Vec<usize>,
    /// The content of the files a `dataset` step reads, as far as the key knows it.
    pub fingerprint: Fingerprint,
}

/// Whether, and how, the content of a step's data files is in its key.
///
/// The planner never reads files: a `dataset` step that reads files is
/// planned [`Fingerprint::Pending`] by [`plan`], and with its content by
/// [`plan_with`], given the fingerprints an IO layer computed
/// (`exec::fingerprint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fingerprint {
    /// The step reads no dataset files (every kind but file-reading datasets).
    None,
    /// The step reads files that were not fingerprinted: its key is provisional
    /// (the key without content), and so are the keys downstream.
    Pending,
    /// The files were fingerprinted.
    Content {
        /// blake3 over the (relative path, content hash) of every file read.
        hash: Key,
        /// The step's key without the content: the key [`plan`] gives it
        /// while pending, and its entry in a [`FingerprintTable`].
        pending: Key,
    },
}

impl Fingerprint {
    /// `none`, `pending` or the fingerprint's first 12 hex digits.
    pub fn short(&self) -> String {
        match self {
            Fingerprint::None => "none".into(),
            Fingerprint::Pending => "pending".into(),
            Fingerprint::Content { hash, .. } => hash.short(),
        }
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Fingerprint::None => s.serialize_none(),
            Fingerprint::Pending => s.serialize_str("pending"),
            Fingerprint::Content { hash, .. } => s.serialize_str(&hash.hex()),
        }
    }
}

/// Dataset fingerprints handed to [`plan_with`]: a file-reading dataset
/// step's pending key (its key without content) -> the fingerprint of its files.
pub type FingerprintTable = BTreeMap<Key, Key>;

/// One arm of the experiment grid: an evaluation (or a pretraining run nothing evaluates) under one assignment of its swept values.
#[derive(Debug, Clone, Serialize)]
pub struct Arm {
    /// Stable readable name: `lin[method=byol,policy=sgd_only]`.
    pub name: String,
    /// The declaration.
    pub decl: String,
    /// Swept parameter -> value label, in axis order.
    pub axes: Vec<(String, String)>,
    /// The arm's final step.
    pub output: Key,
    /// Every step the arm needs, in topological order.
    pub lineage: Vec<Key>,
}

/// The lowered program.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Steps in topological order (inputs first).
    pub steps: Vec<Step>,
    /// The arms.
    pub arms: Vec<Arm>,
    /// The DAG: node weights index `steps`; edges go from input to consumer, weighted by input name.
    pub graph: DiGraph<usize, String>,
    /// Pipeline settings that do not enter keys (device), for display.
    pub device: String,
    /// Base seed.
    pub seed: i64,
    /// The pipeline's title (`set name`), for reports; not part of any key.
    pub name: Option<String>,
    /// Where the steps run (`set executor`); under `slurm`, every step has
    /// `exec["resources"]` ([`resources_of`]). Not part of any key.
    pub executor: Executor,
    index: KeyMap<usize>,
}

impl Plan {
    /// A plan made of already-lowered steps (in topological order) and arms, as a
    /// worker rebuilds it from a step file: the index and the DAG are derived again.
    pub fn from_parts(
        steps: Vec<Step>,
        arms: Vec<Arm>,
        device: String,
        seed: i64,
        name: Option<String>,
    ) -> Plan {
        let index: KeyMap<usize> = steps.iter().enumerate().map(|(i, s)| (s.key, i)).collect();
        let mut graph = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..steps.len()).map(|i| graph.add_node(i)).collect();
        for (i, s) in steps.iter().enumerate() {
            for (input, k) in &s.inputs {
                if let Some(&j) = index.get(k) {
                    graph.add_edge(nodes[j], nodes[i], input.clone());
                }
            }
        }
        Plan {
            steps,
            arms,
            graph,
            device,
            seed,
            name,
            executor: Executor::default(),
            index,
        }
    }

    /// A step by key.
    pub fn step(&self, key: &Key) -> Option<&Step> {
        self.index.get(key).map(|&i| &self.steps[i])
    }

    /// The graph node of a step.
    pub fn node(&self, key: &Key) -> Option<NodeIndex> {
        self.index.get(key).map(|&i| NodeIndex::new(i))
    }

    /// Number of steps of each kind, sorted by kind.
    pub fn counts_by_kind(&self) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for s in &self.steps {
            *counts.entry(s.kind.as_str()).or_insert(0) += 1;
        }
        counts
    }
}

/// Lowers a checked program without reading any file: every dataset step
/// that reads files is [`Fingerprint::Pending`], its key provisional.
/// Problems found while expanding (views that do not fit a method, an
/// exclude that removes every arm) are diagnostics.
pub fn plan(program: &Program) -> (Option<Plan>, Vec<Diagnostic>) {
    expand::plan(program, &FingerprintTable::new(), None)
}

/// Lowers a checked program with the content of its datasets: a dataset
/// step whose pending key is in `fingerprints` gets that fingerprint in its
/// key (and so does everything downstream); the others stay pending.
pub fn plan_with(
    program: &Program,
    fingerprints: &FingerprintTable,
) -> (Option<Plan>, Vec<Diagnostic>) {
    expand::plan(program, fingerprints, None)
}

/// [`plan_with`] for the executor `executor` whatever `set executor` says
/// (`sslp run --executor`): for [`ExecutorKind::Slurm`], the file's
/// `slurm(...)` settings and resources when it has them, else a bare
/// `slurm()` (every step at the executor's defaults, a declaration's own
/// `resources` first); for [`ExecutorKind::Local`], no resources. The keys
/// are those of [`plan_with`]: the executor is not part of any.
pub fn plan_with_executor(
    program: &Program,
    fingerprints: &FingerprintTable,
    executor: ExecutorKind,
) -> (Option<Plan>, Vec<Diagnostic>) {
    expand::plan(program, fingerprints, Some(executor))
}

impl Plan {
    /// The dataset steps still waiting for a fingerprint.
    pub fn pending_datasets(&self) -> impl Iterator<Item = &Step> {
        self.steps
            .iter()
            .filter(|s| s.fingerprint == Fingerprint::Pending)
    }
}
