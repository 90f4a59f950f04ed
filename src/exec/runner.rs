//! The step runner: turns a plan step into a call of the library that does
//! the work (`data`, `augment`, ...), and its result into store outputs.
//!
//! Step kinds whose library does not exist yet fail with a clear message
//! naming what is missing; the scheduler then skips their dependents and
//! lets every other arm finish.

use super::executor::{OutValue, StepCtx, StepOutput, StepRunner};
use super::store::Output;
use crate::data::ImageSet;
use crate::data::spec::{self as dspec, DatasetSpec};
use crate::data::split::{self, Amount, SplitSpec};
use crate::plan::{Fingerprint, Key, Step, Value};
use crate::train::device::DeviceChoice;
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
}

impl StepRunner for Engine {
    fn run(&self, step: &Step, ctx: &StepCtx) -> Result<StepOutput, String> {
        match step.kind.as_str() {
            "dataset" => self.dataset(step),
            "split" => self.split(step, ctx),
            "label_subset" => self.label_subset(step, ctx),
            "preview" => super::augment_steps::preview(self, step, ctx),
            "offline_augment" => super::augment_steps::offline_augment(self, step, ctx),
            "pretrain" => super::train_steps::pretrain(self, step, ctx),
            "init_backbone" => super::train_steps::init_backbone(self, step, ctx),
            "autoencoder" => super::gsimclr_steps::autoencoder(self, step, ctx),
            "pseudo_labels" => super::gsimclr_steps::pseudo_labels(self, step, ctx),
            "features" => super::eval_steps::features(self, step, ctx),
            "linear_probe" => super::eval_steps::linear_probe(step, ctx),
            "knn" => super::eval_steps::knn(step, ctx),
            "kmeans" => super::eval_steps::kmeans(step, ctx),
            "tsne" => super::eval_steps::tsne(step, ctx),
            "segmentation" => super::segmentation_step::segmentation(self, step, ctx),
            "table" => super::report_steps::table(step, ctx),
            "plot" => super::report_steps::plot(step, ctx),
            other => Err(format!("no runner for step kind `{other}`")),
        }
    }
}

// ------------------------------------------------------------ parameter access

fn str_param<'a>(step: &'a Step, name: &str) -> Option<&'a str> {
    step.params.get(name).and_then(Value::as_str)
}

fn int_param(step: &Step, name: &str) -> Option<i64> {
    match step.params.get(name) {
        Some(Value::Int(i)) => Some(*i),
        _ => None,
    }
}

fn amount(v: Option<&Value>) -> Option<Amount> {
    match v {
        Some(Value::Int(n)) => Some(Amount::Count(*n as usize)),
        Some(Value::Float(f)) => Some(Amount::Fraction(*f)),
        _ => None,
    }
}

/// The seed of a step (every random step has one after planning).
pub fn seed_of(step: &Step) -> u64 {
    int_param(step, "seed").unwrap_or(0) as u64
}

fn input(step: &Step, name: &str) -> Result<Key, String> {
    step.inputs
        .get(name)
        .copied()
        .ok_or_else(|| format!("step `{}` has no input `{name}`", step.kind))
}

/// Converts a planned `dataset` step's parameters to a typed spec.
pub fn dataset_spec(params: &BTreeMap<String, Value>) -> Result<DatasetSpec, String> {
    let get_str = |k: &str| params.get(k).and_then(Value::as_str);
    let get_int = |k: &str| match params.get(k) {
        Some(Value::Int(i)) => Some(*i),
        _ => None,
    };
    let root = || PathBuf::from(get_str("root").unwrap_or("."));
    let limit = get_int("limit").map(|v| v as usize);
    let subset = || match get_str("subset") {
        Some("test") => dspec::Subset::Test,
        _ => dspec::Subset::Train,
    };
    Ok(match get_str("type").unwrap_or("") {
        "cifar10" => DatasetSpec::Cifar10 {
            root: root(),
            subset: subset(),
            limit,
        },
        "cifar100" => DatasetSpec::Cifar100 {
            root: root(),
            subset: subset(),
            labels: if get_str("labels") == Some("coarse") {
                dspec::Cifar100Labels::Coarse
            } else {
                dspec::Cifar100Labels::Fine
            },
            limit,
        },
        "stl10" => DatasetSpec::Stl10 {
            root: root(),
            subset: match get_str("subset") {
                Some("test") => dspec::Stl10Subset::Test,
                Some("unlabeled") => dspec::Stl10Subset::Unlabeled,
                Some("train_unlabeled") => dspec::Stl10Subset::TrainUnlabeled,
                _ => dspec::Stl10Subset::Train,
            },
            limit,
        },
        "mnist" => DatasetSpec::Mnist {
            root: root(),
            subset: subset(),
            variant: if get_str("variant") == Some("fashion") {
                dspec::MnistVariant::Fashion
            } else {
                dspec::MnistVariant::Mnist
            },
            limit,
        },
        "image_folder" => DatasetSpec::ImageFolder {
            root: root(),
            masks: get_str("masks").map(PathBuf::from),
            size: get_int("size").map(|v| v as u32),
            limit,
        },
        "synthetic_shapes" => DatasetSpec::SyntheticShapes {
            count: get_int("count").unwrap_or(1000) as usize,
            size: get_int("size").unwrap_or(32) as u32,
            classes: get_int("classes").unwrap_or(4) as u32,
            background: if get_str("background") == Some("plain") {
                dspec::Background::Plain
            } else {
                dspec::Background::Textured
            },
            seed: get_int("seed").unwrap_or(0) as u64,
        },
        other => return Err(format!("unknown dataset kind `{other}`")),
    })
}

fn inline(value: serde_json::Value) -> OutValue {
    OutValue::Inline(value)
}

impl Engine {
    fn dataset(&self, step: &Step) -> Result<StepOutput, String> {
        if step.fingerprint == Fingerprint::Pending {
            // Its key does not cover the files' content: caching it would serve stale data.
            return Err(format!(
                "dataset `{}` was planned without a fingerprint of its files \
                 (plan with `plan::plan_with` and `exec::fingerprint::fingerprint_plan`)",
                step.decl
            ));
        }
        let spec = dataset_spec(&step.params)?;
        let images = dspec::load(&spec, &self.base).map_err(|e| e.to_string())?;
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

    fn split(&self, step: &Step, ctx: &StepCtx) -> Result<StepOutput, String> {
        let (images, indices) =
            self.data(ctx, &input(step, "data")?, str_param(step, "data_part"))?;
        let labels: Vec<i32> = indices.iter().map(|&i| images.labels[i]).collect();
        let spec = SplitSpec {
            train: amount(step.params.get("train")).ok_or("a split needs `train`")?,
            test: amount(step.params.get("test")),
            val: amount(step.params.get("val")),
            stratify: step.params.get("stratify") != Some(&Value::Bool(false)),
        };
        let parts = split::split(&labels, &spec, seed_of(step)).map_err(|e| e.to_string())?;
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
        out.outputs.insert(
            "parts".into(),
            OutValue::Bytes(serde_json::to_vec(&json).map_err(|e| e.to_string())?),
        );
        Ok(out)
    }

    fn label_subset(&self, step: &Step, ctx: &StepCtx) -> Result<StepOutput, String> {
        let (images, indices) =
            self.data(ctx, &input(step, "data")?, str_param(step, "data_part"))?;
        let fraction = step.params.get("fraction").and_then(Value::as_f64);
        let per_class = int_param(step, "per_class").map(|n| n as usize);
        let chosen =
            split::label_subset(&images.labels, &indices, fraction, per_class, seed_of(step))
                .map_err(|e| e.to_string())?;
        let mut out = StepOutput::default();
        out.metrics.insert("labelled".into(), chosen.len() as f64);
        out.outputs.insert(
            "indices".into(),
            OutValue::Bytes(serde_json::to_vec(&chosen).map_err(|e| e.to_string())?),
        );
        Ok(out)
    }

    /// The images behind a data input: the dataset and the indices of the part used.
    pub fn data(
        &self,
        ctx: &StepCtx,
        key: &Key,
        part: Option<&str>,
    ) -> Result<(Arc<ImageSet>, Vec<usize>), String> {
        let record = ctx
            .store
            .get(key)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("input {} is not in the store", key.short()))?;
        let blob = |name: &str| -> Result<Vec<u8>, String> {
            match record.outputs.get(name) {
                Some(Output::Blob { blob }) => ctx.store.get_blob(blob).map_err(|e| e.to_string()),
                _ => Err(format!("step {} has no output `{name}`", key.short())),
            }
        };
        let upstream = |name: &str| -> Result<Key, String> {
            record
                .inputs
                .get(name)
                .and_then(|h| Key::from_hex(h))
                .ok_or_else(|| format!("step {} has no input `{name}`", key.short()))
        };
        match record.kind.as_str() {
            "dataset" => {
                if let Some(images) = self.images.lock().ok().and_then(|m| m.get(key).cloned()) {
                    let all = (0..images.len()).collect();
                    return Ok((images, all));
                }
                let bytes = blob("images")?;
                let images = Arc::new(
                    ImageSet::from_bytes(&bytes, &format!("cached dataset {}", key.short()))
                        .map_err(|e| e.to_string())?,
                );
                if let Ok(mut m) = self.images.lock() {
                    m.insert(*key, Arc::clone(&images));
                }
                let all = (0..images.len()).collect();
                Ok((images, all))
            }
            "split" => {
                let parts: BTreeMap<String, Vec<usize>> =
                    serde_json::from_slice(&blob("parts")?)
                        .map_err(|e| format!("split {}: {e}", key.short()))?;
                let part = part.unwrap_or("train");
                let indices = parts.get(part).cloned().unwrap_or_default();
                let data_part = record
                    .params
                    .get("data_part")
                    .and_then(|v| v.as_str())
                    .map(str::to_string);
                let (images, _) = self.data(ctx, &upstream("data")?, data_part.as_deref())?;
                Ok((images, indices))
            }
            "label_subset" => {
                let indices: Vec<usize> = serde_json::from_slice(&blob("indices")?)
                    .map_err(|e| format!("label subset {}: {e}", key.short()))?;
                let data_part = record
                    .params
                    .get("data_part")
                    .and_then(|v| v.as_str())
                    .map(str::to_string);
                let (images, _) = self.data(ctx, &upstream("data")?, data_part.as_deref())?;
                Ok((images, indices))
            }
            other => Err(format!(
                "step {} ({other}) does not produce images",
                key.short()
            )),
        }
    }
}
