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
                let stored = stored_output(ctx, key, "images")?;
                let images = Arc::new(
                    ImageSet::from_bytes(&stored.bytes, &format!("cached dataset {}", key.short()))
                        .map_err(|e| stored.undecodable(e))?,
                );
                if let Ok(mut m) = self.images.lock() {
                    m.insert(*key, Arc::clone(&images));
                }
                let all = (0..images.len()).collect();
                Ok((images, all))
            }
            StepKind::Split => {
                let parts: BTreeMap<String, Vec<usize>> =
                    stored_output(ctx, key, "parts")?.json()?;
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
                let indices: Vec<usize> = stored_output(ctx, key, "indices")?.json()?;
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

/// The blob an input step stored as its output `name`.
pub(super) fn record_blob_ref(
    ctx: &StepCtx,
    key: &Key,
    name: &str,
) -> Result<crate::exec::store::BlobRef, StepError> {
    let record = ctx
        .store
        .get(key)?
        .ok_or(StepError::NotStored { key: *key })?;
    match record.outputs.get(name) {
        Some(Output::Blob { blob }) => Ok(blob.clone()),
        _ => Err(StepError::NoOutput {
            key: *key,
            output: name.into(),
        }),
    }
}

/// An input step's stored output, read and hash-checked, with the file it came from.
pub(super) struct StoredOutput {
    key: Key,
    output: String,
    path: std::path::PathBuf,
    /// The output's bytes.
    pub(super) bytes: Vec<u8>,
}

impl StoredOutput {
    /// The error for bytes that do not decode: names the step, the output and its file.
    pub(super) fn undecodable(&self, reason: impl std::fmt::Display) -> StepError {
        StepError::Undecodable {
            key: self.key,
            output: self.output.clone(),
            path: self.path.clone(),
            reason: reason.to_string(),
        }
    }

    /// The output as JSON of type `T`.
    pub(super) fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, StepError> {
        serde_json::from_slice(&self.bytes).map_err(|e| self.undecodable(e))
    }

    /// A module loaded from the output (burn's record) into the network `build` makes;
    /// bytes that do not fit it are [`StepError::Undecodable`].
    pub(super) fn module<M: burn::module::Module>(
        &self,
        build: impl FnOnce() -> Result<M, StepError>,
    ) -> Result<M, StepError> {
        crate::train::bytes::load_module(build, &self.bytes).map_err(|e| match e {
            StepError::Bytes(b) => self.undecodable(b),
            other => other,
        })
    }
}

/// An input step's stored output `name`, with its file in the store.
pub(super) fn stored_output(
    ctx: &StepCtx,
    key: &Key,
    name: &str,
) -> Result<StoredOutput, StepError> {
    let blob = record_blob_ref(ctx, key, name)?;
    Ok(StoredOutput {
        key: *key,
        output: name.into(),
        path: ctx.store.blob_file(&blob),
        bytes: ctx.store.get_blob(&blob)?,
    })
}
