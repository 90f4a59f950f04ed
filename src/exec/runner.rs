//! The step runner: turns a plan step into a call of the library that does
//! the work (`data`, `augment`, ...), and its result into store outputs.
//!
//! Dispatch is one `match` over [`StepKind`], one plain function per kind in
//! the step-kind modules; each reads its parameters through the typed decoders
//! of [`super::decode`] and the accessors of [`super::engine`]. A step that
//! fails returns a [`StepError`]; the scheduler then skips its dependents and
//! lets every other arm finish.

use super::engine::Engine;
use super::error::StepError;
use super::executor::{StepCtx, StepOutput, StepRunner};
use super::{augment_steps, data_steps, eval_steps, gsimclr_steps, report_steps};
use super::{finetune_step, segmentation_step, train_steps};
use crate::plan::{Step, StepKind};

impl StepRunner for Engine {
    /// Dispatches on the step kind: one function per kind.
    fn run(&self, step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
        match step.kind {
            StepKind::Dataset => data_steps::dataset(self, step),
            StepKind::Split => data_steps::split(self, step, ctx),
            StepKind::LabelSubset => data_steps::label_subset(self, step, ctx),
            StepKind::Preview => augment_steps::preview(self, step, ctx),
            StepKind::OfflineAugment => augment_steps::offline_augment(self, step, ctx),
            StepKind::Pretrain => train_steps::pretrain(self, step, ctx),
            StepKind::InitBackbone => train_steps::init_backbone(self, step, ctx),
            StepKind::Autoencoder => gsimclr_steps::autoencoder(self, step, ctx),
            StepKind::PseudoLabels => gsimclr_steps::pseudo_labels(self, step, ctx),
            StepKind::Features => eval_steps::features(self, step, ctx),
            StepKind::LinearProbe => eval_steps::linear_probe(step, ctx),
            StepKind::Knn => eval_steps::knn(step, ctx),
            StepKind::Kmeans => eval_steps::kmeans(step, ctx),
            StepKind::Tsne => eval_steps::tsne(step, ctx),
            StepKind::Segmentation => segmentation_step::segmentation(self, step, ctx),
            StepKind::Finetune => finetune_step::finetune(self, step, ctx),
            StepKind::Table => report_steps::table(step, ctx),
            StepKind::Plot => report_steps::plot(step, ctx),
        }
    }
}
