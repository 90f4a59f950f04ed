//! `sslp export`: a stored backbone's weights as a file for PyTorch. Runs without a
//! plan: the step's completion record holds what rebuilding the network needs (its
//! summary's `backbone` call and `image_side`), and its burn record the weights.
//!
//! Two formats: [`ExportFormat::Torchvision`] renames and re-lays the weights as
//! torchvision's ResNets and timm's ViT name them (see
//! [`crate::train::export::torchvision`]); [`ExportFormat::Safetensors`] is the file
//! the step stored, with burn's names.

use super::store::{Output, Record, Status, Store, StoreError};
use super::train_steps::{Normalization, backbone_spec};
use crate::plan::{Key, Value};
use crate::train::backbone::Backbone;
use crate::train::bytes::BytesError;
use crate::train::export::torchvision::{TorchExportError, TorchWeights, backbone_to_torch};
use std::collections::BTreeMap;

/// Which names the exported file gives the weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ExportFormat {
    /// torchvision's (ResNets) or timm's (ViT) names and layouts: `load_state_dict(strict=True)`.
    #[default]
    Torchvision,
    /// burn's names and layouts, as the step stored them (`backbone.safetensors`).
    Safetensors,
}

impl ExportFormat {
    /// The word `--format` takes.
    pub fn word(self) -> &'static str {
        match self {
            ExportFormat::Torchvision => "torchvision",
            ExportFormat::Safetensors => "safetensors",
        }
    }
}

/// Why a run could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// RUN names no step with a backbone.
    #[error("no pretraining run matches `{run}`{}", listing(.candidates))]
    NotFound {
        /// RUN as given.
        run: String,
        /// The runs the store has (short key, kind, declaration).
        candidates: Vec<String>,
    },
    /// RUN names steps, but none with a backbone.
    #[error("`{run}` matches {} with no backbone ({}); RUN is a pretrain or init_backbone step{}", plural(.found.len()), .found.join(", "), listing(.candidates))]
    NotARun {
        /// RUN as given.
        run: String,
        /// The steps it matches (short key and kind).
        found: Vec<String>,
        /// The runs the store has.
        candidates: Vec<String>,
    },
    /// RUN matches several runs.
    #[error("`{run}` matches {} runs; give more digits of the key{}", .candidates.len(), listing(.candidates))]
    Ambiguous {
        /// RUN as given.
        run: String,
        /// The runs it matches.
        candidates: Vec<String>,
    },
    /// The record lacks what rebuilding the backbone needs.
    #[error("the run {key} cannot be rebuilt: {why}")]
    Record {
        /// The run's short key.
        key: String,
        /// What is missing or wrong.
        why: String,
    },
    /// The weights do not load into the network the record describes.
    #[error("the run {key}'s weights do not load: {source}")]
    Weights {
        /// The run's short key.
        key: String,
        /// burn's complaint.
        source: BytesError,
    },
    /// The backbone has no PyTorch counterpart, or a tensor could not be written.
    #[error(transparent)]
    Torch(#[from] TorchExportError),
    /// A module or tensor could not be read or written.
    #[error(transparent)]
    Bytes(#[from] BytesError),
}

impl ExportError {
    /// Whether RUN itself is at fault (ambiguous), rather than the store or the run.
    pub fn is_usage(&self) -> bool {
        matches!(self, ExportError::Ambiguous { .. })
    }
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 step".into()
    } else {
        format!("{n} steps")
    }
}

fn listing(candidates: &[String]) -> String {
    if candidates.is_empty() {
        "; the store has no pretraining runs".into()
    } else {
        format!(
            "; the store's runs:\n{}",
            candidates
                .iter()
                .map(|c| format!("  {c}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    }
}

/// An exported file and how to use it.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The run's key.
    pub key: Key,
    /// The declaration it came from (`ssl`).
    pub decl: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// For `torchvision`: the library model the file loads into (its `bytes` moved to
    /// [`Exported::bytes`]).
    pub torch: Option<TorchWeights>,
    /// The normalisation the network's inputs had (`None` when the run stored none).
    pub normalization: Option<Normalization>,
    /// The format written.
    pub format: ExportFormat,
}

impl Exported {
    /// A default file name: `DECL-KEY.FORMAT.safetensors` (the declaration's
    /// characters outside `[A-Za-z0-9_-]` become `_`).
    pub fn default_file_name(&self) -> String {
        let decl: String = self
            .decl
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let tag = match self.format {
            ExportFormat::Torchvision => "torchvision",
            ExportFormat::Safetensors => "burn",
        };
        format!("{decl}-{}.{tag}.safetensors", self.key.short())
    }

    /// What to tell the user after writing the file at `path`: for `torchvision`, the
    /// Python lines that load it (the text the README documents), with the inputs'
    /// normalisation as a comment; for `safetensors`, what its names are.
    pub fn usage(&self, path: &str) -> String {
        match &self.torch {
            Some(t) => {
                let mut text = t.python(path);
                if let Some(n) = self.normalization {
                    text.push_str(&format!("# inputs: {}\n", normalization_text(n)));
                }
                text
            }
            None => format!(
                "# burn's parameter names (no PyTorch model loads them as they are; `--format torchvision` writes torchvision's or timm's):\nfrom safetensors.torch import load_file\nweights = load_file({})\n",
                serde_json::to_string(path).unwrap_or_default()
            ),
        }
    }
}

/// `RGB in 0..1, normalised with mean [..] and std [..]`.
fn normalization_text(n: Normalization) -> String {
    let f = |xs: [f32; 3]| {
        format!(
            "({})",
            xs.iter()
                .map(|x| format!("{x:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    format!(
        "RGB scaled to 0..1, then normalised per channel with mean {} and std {}",
        f(n.mean),
        f(n.std)
    )
}

/// Whether a record holds a backbone to export.
fn is_run(r: &Record) -> bool {
    r.status == Status::Done && matches!(r.outputs.get("backbone"), Some(Output::Blob { .. }))
}

/// `KEY  kind decl  backbone`, as the error listings show a run.
fn describe(k: &Key, r: &Record) -> String {
    let backbone = match r.outputs.get("summary") {
        Some(Output::Inline { value }) => value
            .get("backbone")
            .and_then(|b| b.get("type"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?")
            .to_string(),
        _ => "?".into(),
    };
    format!("{}  {} {}  ({backbone})", k.short(), r.kind, r.decl)
}

/// The run RUN names: a key or a unique key prefix among the store's runs, else a
/// declaration name one run has.
pub fn find_run(store: &Store, run: &str) -> Result<(Key, Record), ExportError> {
    let records = store.records()?;
    let candidates: Vec<String> = records
        .iter()
        .filter(|(_, r)| is_run(r))
        .map(|(k, r)| describe(k, r))
        .collect();
    let prefix = run.to_ascii_lowercase();
    let by_key = !prefix.is_empty() && prefix.chars().all(|c| c.is_ascii_hexdigit());
    let matched: Vec<&(Key, Record)> = records
        .iter()
        .filter(|(k, r)| {
            if by_key && k.hex().starts_with(&prefix) {
                return true;
            }
            r.decl == run
        })
        .collect();
    let runs: Vec<&(Key, Record)> = matched.iter().copied().filter(|(_, r)| is_run(r)).collect();
    match runs.as_slice() {
        [one] => Ok((one.0, one.1.clone())),
        [] if matched.is_empty() => Err(ExportError::NotFound {
            run: run.into(),
            candidates,
        }),
        [] => Err(ExportError::NotARun {
            run: run.into(),
            found: matched
                .iter()
                .map(|(k, r)| {
                    let state = if r.status == Status::Done {
                        ""
                    } else {
                        ", failed"
                    };
                    format!("{} {}{state}", k.short(), r.kind)
                })
                .collect(),
            candidates,
        }),
        many => Err(ExportError::Ambiguous {
            run: run.into(),
            candidates: many.iter().map(|(k, r)| describe(k, r)).collect(),
        }),
    }
}

/// A planned value back from the JSON a record keeps it as (integers stay integers).
fn value_of(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Array(xs) => Value::List(xs.iter().map(value_of).collect()),
        serde_json::Value::Object(m) => {
            Value::Map(m.iter().map(|(k, v)| (k.clone(), value_of(v))).collect())
        }
    }
}

/// Rebuilds a run's backbone from its record: the network its summary describes,
/// with the weights of its burn record.
pub fn load_run_backbone(
    store: &Store,
    key: &Key,
    record: &Record,
) -> Result<Backbone, ExportError> {
    let bad = |why: String| ExportError::Record {
        key: key.short(),
        why,
    };
    let summary = match record.outputs.get("summary") {
        Some(Output::Inline { value }) => value,
        _ => return Err(bad("it stored no summary".into())),
    };
    let side = summary
        .get("image_side")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| bad("its summary records no image side".into()))? as usize;
    let call = match summary.get("backbone").map(value_of) {
        Some(Value::Map(m)) => m,
        _ => return Err(bad("its summary records no backbone call".into())),
    };
    let spec = backbone_spec(&call, side).map_err(|e| bad(e.to_string()))?;
    let blob = match record.outputs.get("backbone") {
        Some(Output::Blob { blob }) => blob,
        _ => return Err(bad("it stored no backbone".into())),
    };
    let bytes = store.get_blob(blob)?;
    // Exports run on the CPU: the weights are read, not trained.
    let device = burn::tensor::Device::flex();
    crate::train::bytes::load_module(
        || {
            spec.try_init(&device)
                .map_err(|e| bad(format!("its backbone is invalid: {e}")))
        },
        &bytes,
    )
    .map_err(|e| match e {
        ExportError::Bytes(source) => ExportError::Weights {
            key: key.short(),
            source,
        },
        other => other,
    })
}

/// Exports the run RUN names (see [`find_run`]) from the store, in `format`.
pub fn export(store: &Store, run: &str, format: ExportFormat) -> Result<Exported, ExportError> {
    let (key, record) = find_run(store, run)?;
    let normalization = match record.outputs.get("summary") {
        Some(Output::Inline { value }) => value
            .get("normalization")
            .and_then(Normalization::from_json),
        _ => None,
    };
    let (bytes, torch) = match format {
        ExportFormat::Torchvision => {
            let backbone = load_run_backbone(store, &key, &record)?;
            let mut extra = BTreeMap::from([
                ("sslp_key".to_string(), key.hex()),
                (
                    "sslp_step".to_string(),
                    format!("{} {}", record.kind, record.decl),
                ),
            ]);
            if let Some(n) = normalization {
                extra.insert("inputs".into(), normalization_text(n));
            }
            let mut t = backbone_to_torch(&backbone, &extra)?;
            (std::mem::take(&mut t.bytes), Some(t))
        }
        ExportFormat::Safetensors => match record.outputs.get("backbone.safetensors") {
            // The file the step stored.
            Some(Output::Blob { blob }) => (store.get_blob(blob)?, None),
            // A run stored before steps kept one (or an init_backbone step): written now.
            _ => {
                let backbone = load_run_backbone(store, &key, &record)?;
                (
                    crate::train::export::module_to_safetensors(&backbone)?,
                    None,
                )
            }
        },
    };
    Ok(Exported {
        key,
        decl: record.decl,
        bytes,
        torch,
        normalization,
        format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_backbone_calls_read_back_as_planned_values() {
        let json = serde_json::json!({"type": "vit_tiny", "patch": 4, "mlp_ratio": 4.0, "x": [true, null, "a"]});
        let Value::Map(m) = value_of(&json) else {
            panic!("a map")
        };
        assert_eq!(m["patch"], Value::Int(4));
        assert_eq!(m["mlp_ratio"], Value::Float(4.0));
        assert_eq!(
            m["x"],
            Value::List(vec![Value::Bool(true), Value::Null, Value::Str("a".into())])
        );
    }
}
