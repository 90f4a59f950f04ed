//! What a run tells its watcher, as typed events: the run's size, each step's
//! start and end, each finished training epoch, and the fallbacks a step used.
//!
//! Exec only emits them (through [`Progress`]); the CLI renders them for people
//! or streams them as JSON lines for other tools. Events never change what runs.

use super::executor::Outcome;
use crate::notes::StepNote;
use crate::plan::Step;
use serde::{Serialize, Serializer};

/// Receives progress events (the CLI renders them; tests ignore them).
pub trait Progress: Sync {
    /// One event of the run, in the order it happened (per step; steps interleave).
    fn event(&self, event: &Event<'_>);
}

/// A progress sink that ignores every event.
pub struct Quiet;

impl Progress for Quiet {
    fn event(&self, _: &Event<'_>) {}
}

/// One thing that happened during a run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event<'a> {
    /// The run is about to handle `total` steps, `cached` of which are in the store already.
    Begin {
        /// Steps the run needs.
        total: usize,
        /// Of those, already in the store.
        cached: usize,
    },
    /// A step starts computing.
    Started {
        /// The step.
        #[serde(serialize_with = "step_ref")]
        step: &'a Step,
    },
    /// A running step finished a training epoch.
    Epoch {
        /// The step.
        #[serde(serialize_with = "step_ref")]
        step: &'a Step,
        /// The epoch's figures.
        epoch: &'a Epoch,
    },
    /// A step that ran used fallbacks or clamps (sent before its `Ended`).
    Notes {
        /// The step.
        #[serde(serialize_with = "step_ref")]
        step: &'a Step,
        /// What it used, and how often.
        notes: &'a [StepNote],
    },
    /// A step ended: found in the store, ran, failed, or skipped because an input failed.
    Ended {
        /// The step.
        #[serde(serialize_with = "step_ref")]
        step: &'a Step,
        /// How.
        outcome: &'a Outcome,
    },
}

/// A step as events name it: its key, kind and declaration.
fn step_ref<S: Serializer>(step: &&Step, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct StepRef<'b> {
        key: String,
        kind: &'b str,
        decl: &'b str,
    }
    StepRef {
        key: step.key.hex(),
        kind: step.kind.as_str(),
        decl: &step.decl,
    }
    .serialize(s)
}

/// One finished training epoch of a step (pretraining, fine-tuning, or a stage of one).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Epoch {
    /// What was trained: the declaration, or a stage of the step (`autoencoder`).
    pub stage: String,
    /// The epoch, from 1.
    pub epoch: usize,
    /// All epochs.
    pub epochs: usize,
    /// Mean loss over its batches.
    pub loss: f64,
    /// Learning rate at its last step, where the step has a schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Feature health on the epoch's last batch, where probed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<EpochHealth>,
    /// kNN monitor top-1 after the epoch, where it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor_top1: Option<f64>,
    /// Throughput and input waiting, where measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<EpochSpeed>,
}

/// The health figures of an epoch (see [`crate::eval::health`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochHealth {
    /// Feature width `d`.
    pub dim: usize,
    /// Per-dimension std of the normalised features (about `1/sqrt(d)` when healthy).
    pub embedding_std: f64,
    /// Wang & Isola's alignment.
    pub alignment: f64,
    /// Wang & Isola's uniformity.
    pub uniformity: f64,
    /// The std is below the collapse floor.
    pub collapsing: bool,
}

/// How fast an epoch went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EpochSpeed {
    /// Source images per second.
    pub images_per_sec: f64,
    /// Fraction of the epoch's wall time spent waiting for batches.
    pub data_wait_fraction: f64,
}

impl Epoch {
    /// An epoch with only a loss (and optionally a learning rate).
    pub fn loss_only(stage: &str, epoch: usize, epochs: usize, loss: f64, lr: Option<f64>) -> Self {
        Epoch {
            stage: stage.to_string(),
            epoch,
            epochs,
            loss,
            lr,
            health: None,
            monitor_top1: None,
            speed: None,
        }
    }
}
