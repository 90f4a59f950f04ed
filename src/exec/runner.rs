//! The step runner: turns a plan step into a call of the library that does
//! the work (`data`, `augment`, ...), and its result into store outputs.
//!
//! Dispatch is one `match` over [`StepKind`], one function per kind; each
//! reads its parameters through the typed decoders of [`super::decode`]. A
//! step that fails returns a [`StepError`]; the scheduler then skips its
//! dependents and lets every other arm finish.

use super::decode::{self, Decoded, Params};
use super::error::StepError;
use super::executor::{OutValue, StepCtx, StepOutput, StepRunner};
use super::store::Output;
use crate::data::ImageSet;
use crate::data::spec::{self as dspec, DatasetSpec};
use crate::data::split;
use crate::plan::{Fingerprint, Key, Step, StepKind, Value};
use crate::train::device::{DeviceChoice, DeviceError};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Runs steps for real.
pub struct Engine {
    /// Folder of the pipeline file: relative dataset paths start here.
    pub base: PathBuf,
    /// Overrides every step's device (`sslp run --device`).
    pub device: Option<DeviceChoice>,
    images: Mutex<HashMap<Key, Arc<ImageSet>>>,
}

impl Engine {
    /// An engine resolving relative paths against `base`.
    pub fn new(base: PathBuf) -> Self {
        Engine {
            base,
            device: None,
            images: Mutex::new(HashMap::new()),
        }
    }

    /// The same engine training on `device` whatever the pipeline says.
    pub fn with_device(mut self, device: Option<DeviceChoice>) -> Self {
        self.device = device;
        self
    }

    /// The same engine training on the device named by `spec` (`cpu`, `cuda`, `cuda:N`);
    /// an error, before any work, when the name is wrong or the device cannot be used.
    pub fn with_device_named(self, spec: &str) -> Result<Self, DeviceError> {
        let choice: DeviceChoice = spec.parse()?;
        choice.plain_device()?;
        Ok(self.with_device(Some(choice)))
    }
}

impl StepRunner for Engine {
    /// Dispatches on the step kind: one function per kind.
    fn run(&self, step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
        use super::{augment_steps, eval_steps, gsimclr_steps, report_steps};
        use super::{finetune_step, segmentation_step, train_steps};
        match step.kind {
            StepKind::Dataset => self.dataset(step),
            StepKind::Split => self.split(step, ctx),
            StepKind::LabelSubset => self.label_subset(step, ctx),
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

// ------------------------------------------------------------ parameter access

/// The seed of a step (every random step has one after planning).
pub fn seed_of(step: &Step) -> Decoded<u64> {
    Params::step(step).u64("seed")
}

/// The data part a step reads from its `data` input (`train`, `test`, ...), if it names one.
pub fn data_part(step: &Step) -> Decoded<Option<&str>> {
    Params::step(step).opt_str("data_part")
}

/// The key of `step`'s input `name`; [`StepError::MissingInput`] naming it when there is none.
pub fn input(step: &Step, name: &str) -> Result<Key, StepError> {
    step.inputs
        .get(name)
        .copied()
        .ok_or_else(|| StepError::missing_input(step, name))
}

/// Converts a planned `dataset` step's parameters to a typed spec.
pub fn dataset_spec(params: &BTreeMap<String, Value>) -> Decoded<DatasetSpec> {
    let p = Params::of_kind(StepKind::Dataset, params, "a `dataset` step");
    decode::dataset_spec(&p)
}

fn inline(value: serde_json::Value) -> OutValue {
    OutValue::Inline(value)
}

impl Engine {
    fn dataset(&self, step: &Step) -> Result<StepOutput, StepError> {
        if step.fingerprint == Fingerprint::Pending {
            // Its key does not cover the files' content: caching it would serve stale data.
            return Err(StepError::Unfingerprinted {
                decl: step.decl.clone(),
            });
        }
        let spec = dataset_spec(&step.params)?;
        let images = dspec::load(&spec, &self.base)?;
        let mut out = StepOutput::default();
        out.outputs.insert(
            "summary".into(),
            inline(serde_json::json!({
                "count": images.len(),
                "width": images.width,
                "height": images.height,
                "channels": images.channels,
                "classes": images.classes,
                "masks": images.masks.is_some(),
            })),
        );
        out.outputs
            .insert("images".into(), OutValue::Bytes(images.to_bytes()));
        out.metrics.insert("images".into(), images.len() as f64);
        Ok(out)
    }

    fn split(&self, step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
        let (images, indices) = self.data(ctx, &input(step, "data")?, data_part(step)?)?;
        let labels: Vec<i32> = indices.iter().map(|&i| images.labels[i]).collect();
        let spec = decode::split_spec(&Params::step(step))?;
        let parts = split::split(&labels, &spec, seed_of(step)?)?;
        // Positions within `indices` back to dataset indices.
        let map = |v: &[usize]| v.iter().map(|&p| indices[p]).collect::<Vec<_>>();
        let json = serde_json::json!({
            "train": map(&parts.train),
            "test": map(&parts.test),
            "val": map(&parts.val),
        });
        let mut out = StepOutput::default();
        for (name, v) in [
            ("train", &parts.train),
            ("test", &parts.test),
            ("val", &parts.val),
        ] {
            out.metrics.insert(name.into(), v.len() as f64);
        }
        out.outputs
            .insert("parts".into(), OutValue::Bytes(serde_json::to_vec(&json)?));
        Ok(out)
    }

    fn label_subset(&self, step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
        let (images, indices) = self.data(ctx, &input(step, "data")?, data_part(step)?)?;
        let config = decode::label_subset_config(&Params::step(step))?;
        let chosen = split::label_subset(
            &images.labels,
            &indices,
            config.fraction,
            config.per_class,
            seed_of(step)?,
        )?;
        let mut out = StepOutput::default();
        out.metrics.insert("labelled".into(), chosen.len() as f64);
        out.outputs.insert(
            "indices".into(),
            OutValue::Bytes(serde_json::to_vec(&chosen)?),
        );
        Ok(out)
    }

    /// The images behind a data input: the dataset and the indices of the part used.
    pub fn data(
        &self,
        ctx: &StepCtx,
        key: &Key,
        part: Option<&str>,
    ) -> Result<(Arc<ImageSet>, Vec<usize>), StepError> {
        let record = ctx
            .store
            .get(key)?
            .ok_or(StepError::NotStored { key: *key })?;
        let blob = |name: &str| -> Result<Vec<u8>, StepError> {
            match record.outputs.get(name) {
                Some(Output::Blob { blob }) => Ok(ctx.store.get_blob(blob)?),
                _ => Err(StepError::NoOutput {
                    key: *key,
                    output: name.into(),
                }),
            }
        };
        let step_name = || format!("step {}", key.short());
        let upstream = |name: &str| -> Result<Key, StepError> {
            record
                .inputs
                .get(name)
                .and_then(|h| Key::from_hex(h))
                .ok_or_else(|| StepError::bad_input(step_name(), format!("no input `{name}`")))
        };
        let kind: StepKind = record
            .kind
            .parse()
            .map_err(|e| StepError::bad_input(step_name(), e))?;
        // The part of its own `data` input a split or label subset was made from.
        let own_part = || -> Result<Option<String>, StepError> {
            match record.params.get("data_part") {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(StepError::bad_input(
                    step_name(),
                    format!("`data_part` should be a part name, but is `{other}`"),
                )),
            }
        };
        match kind {
            StepKind::Dataset => {
                if let Some(images) = self.images.lock().ok().and_then(|m| m.get(key).cloned()) {
                    let all = (0..images.len()).collect();
                    return Ok((images, all));
                }
                let bytes = blob("images")?;
                let images = Arc::new(ImageSet::from_bytes(
                    &bytes,
                    &format!("cached dataset {}", key.short()),
                )?);
                if let Ok(mut m) = self.images.lock() {
                    m.insert(*key, Arc::clone(&images));
                }
                let all = (0..images.len()).collect();
                Ok((images, all))
            }
            StepKind::Split => {
                let parts: BTreeMap<String, Vec<usize>> =
                    serde_json::from_slice(&blob("parts")?)
                        .map_err(|e| StepError::bad_input(format!("split {}", key.short()), e))?;
                let part = part.ok_or_else(|| {
                    StepError::bad_input(
                        format!("split {}", key.short()),
                        "read without naming a part",
                    )
                })?;
                let indices = parts.get(part).cloned().ok_or_else(|| {
                    StepError::bad_input(
                        format!("split {}", key.short()),
                        format!("no part `{part}`"),
                    )
                })?;
                let (images, _) = self.data(ctx, &upstream("data")?, own_part()?.as_deref())?;
                Ok((images, indices))
            }
            StepKind::LabelSubset => {
                let indices: Vec<usize> =
                    serde_json::from_slice(&blob("indices")?).map_err(|e| {
                        StepError::bad_input(format!("label subset {}", key.short()), e)
                    })?;
                let (images, _) = self.data(ctx, &upstream("data")?, own_part()?.as_deref())?;
                Ok((images, indices))
            }
            other => Err(StepError::NotImages {
                key: *key,
                kind: other,
            }),
        }
    }
}
