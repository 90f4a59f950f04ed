//! The engine steps run with: where relative paths start, the device override,
//! and the decoded images shared by the steps of a run; plus the parameter and
//! input accessors every step kind uses.
//!
//! Step-kind modules (`*_steps.rs`) import this module; only [`super::runner`]
//! imports the step-kind modules, so there is no import circle between them.

use super::decode::{self, Decoded, Params};
use super::error::StepError;
use super::executor::StepCtx;
use super::store::Output;
use crate::data::ImageSet;
use crate::data::spec::DatasetSpec;
use crate::plan::{Key, Step, StepKind, Value};
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
    pub(super) images: Mutex<HashMap<Key, Arc<ImageSet>>>,
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

impl Engine {
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
