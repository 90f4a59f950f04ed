//! Step files: everything `sslp worker` needs to run one step, written by
//! the coordinator into the store (`steps/KEY.json`), so that a process on
//! any node that mounts the store can run it with nothing else.
//!
//! A step file holds the step and every step it depends on (the worker reads
//! its inputs' completion records and blobs from the store), the arms that
//! end in those steps (a report step reads them), the pipeline's folder
//! (relative dataset paths start there), the device override and the thread
//! count. Values are written losslessly (floats by their bits), and the
//! worker recomputes every key before it trusts the file.

use super::executor::needed_steps;
use crate::plan::value::{content_key, step_key};
use crate::plan::{Arm, Fingerprint, Inputs, Key, Plan, Step, StepKind, Value};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The format of step files; a worker refuses any other.
pub const FORMAT: u32 = 1;

/// What a worker runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepFile {
    /// [`FORMAT`].
    pub format: u32,
    /// The version of the sslp that wrote it.
    pub sslp: String,
    /// The key of the step to run (full hex).
    pub target: String,
    /// The pipeline's folder: relative dataset paths start here.
    pub base: PathBuf,
    /// The device every step trains on whatever the pipeline says (`--device`), if any.
    pub device: Option<String>,
    /// Threads the step computes with (pinned so outputs do not depend on the node).
    pub threads: usize,
    /// The pipeline's seed, device and title.
    pub seed: i64,
    /// The pipeline's `set device`.
    pub plan_device: String,
    /// The pipeline's `set name`.
    pub name: Option<String>,
    /// The target and every step it depends on, inputs first.
    pub steps: Vec<WireStep>,
    /// The arms whose output is one of these steps.
    pub arms: Vec<WireArm>,
}

/// A step, as written in a step file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireStep {
    key: String,
    kind: StepKind,
    decl: String,
    version: u32,
    params: BTreeMap<String, WireValue>,
    exec: BTreeMap<String, WireValue>,
    inputs: Vec<(String, String)>,
    fingerprint: WireFingerprint,
}

/// An arm, as written in a step file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireArm {
    name: String,
    decl: String,
    axes: Vec<(String, String)>,
    output: String,
    lineage: Vec<String>,
}

/// A [`Value`], losslessly (a float by its bits, a step reference by its full key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum WireValue {
    #[serde(rename = "n")]
    Null,
    #[serde(rename = "b")]
    Bool(bool),
    #[serde(rename = "i")]
    Int(i64),
    #[serde(rename = "f")]
    Float(u64),
    #[serde(rename = "s")]
    Str(String),
    #[serde(rename = "l")]
    List(Vec<WireValue>),
    #[serde(rename = "m")]
    Map(BTreeMap<String, WireValue>),
    #[serde(rename = "k")]
    Step(String, Option<String>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum WireFingerprint {
    #[serde(rename = "none")]
    None,
    #[serde(rename = "pending")]
    Pending,
    #[serde(rename = "content")]
    Content { hash: String, pending: String },
}

/// Why a step file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StepFileError {
    /// It could not be read.
    #[error("step file {path}: {message}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// Its content is not what its keys say.
    #[error("step file {path} is not valid: {reason}")]
    Content {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: ContentError,
    },
    /// It is not a step file of this format.
    #[error("step file {path} is not valid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// What is wrong inside a step file whose JSON parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ContentError {
    /// A field that should hold a step key does not.
    #[error("`{0}` is not a step key")]
    NotAKey(String),
    /// A step whose content does not hash to the key the file gives it.
    #[error(
        "step {} ({kind}) does not hash to its key: the file was changed, or written by another sslp version",
        key.short()
    )]
    KeyMismatch {
        /// The key the file claims.
        key: Key,
        /// The step's kind.
        kind: StepKind,
    },
    /// The step the file is for is not among its steps.
    #[error("its target {} is not among its steps", .0.short())]
    NoTarget(Key),
}

fn to_wire(v: &Value) -> WireValue {
    match v {
        Value::Null => WireValue::Null,
        Value::Bool(b) => WireValue::Bool(*b),
        Value::Int(i) => WireValue::Int(*i),
        Value::Float(f) => WireValue::Float(f.to_bits()),
        Value::Str(s) => WireValue::Str(s.clone()),
        Value::List(xs) => WireValue::List(xs.iter().map(to_wire).collect()),
        Value::Map(m) => WireValue::Map(m.iter().map(|(k, v)| (k.clone(), to_wire(v))).collect()),
        Value::Step(k, port) => WireValue::Step(k.hex(), port.clone()),
    }
}

fn from_wire(v: &WireValue) -> Result<Value, ContentError> {
    Ok(match v {
        WireValue::Null => Value::Null,
        WireValue::Bool(b) => Value::Bool(*b),
        WireValue::Int(i) => Value::Int(*i),
        WireValue::Float(bits) => Value::Float(f64::from_bits(*bits)),
        WireValue::Str(s) => Value::Str(s.clone()),
        WireValue::List(xs) => Value::List(xs.iter().map(from_wire).collect::<Result<_, _>>()?),
        WireValue::Map(m) => Value::Map(map_from_wire(m)?),
        WireValue::Step(k, port) => Value::Step(key(k)?, port.clone()),
    })
}

fn map_from_wire(m: &BTreeMap<String, WireValue>) -> Result<BTreeMap<String, Value>, ContentError> {
    m.iter()
        .map(|(k, v)| Ok((k.clone(), from_wire(v)?)))
        .collect()
}

fn key(hex: &str) -> Result<Key, ContentError> {
    Key::from_hex(hex).ok_or_else(|| ContentError::NotAKey(hex.into()))
}

/// The steps `target` depends on, itself included, in plan (topological) order.
pub fn closure(plan: &Plan, target: &Key) -> Vec<usize> {
    needed_steps(plan, &[], std::slice::from_ref(target))
        .into_iter()
        .collect()
}

impl StepFile {
    /// The step file for running `target` of `plan`.
    pub fn new(
        plan: &Plan,
        target: &Key,
        base: &Path,
        device: Option<String>,
        threads: usize,
    ) -> StepFile {
        let wanted = closure(plan, target);
        let keys: BTreeSet<Key> = wanted.iter().map(|&i| plan.steps[i].key).collect();
        let steps = wanted
            .iter()
            .map(|&i| {
                let s = &plan.steps[i];
                WireStep {
                    key: s.key.hex(),
                    kind: s.kind,
                    decl: s.decl.clone(),
                    version: s.version,
                    params: s
                        .params
                        .iter()
                        .map(|(k, v)| (k.clone(), to_wire(v)))
                        .collect(),
                    exec: s
                        .exec
                        .iter()
                        .map(|(k, v)| (k.clone(), to_wire(v)))
                        .collect(),
                    inputs: s.inputs.iter().map(|(n, k)| (n.clone(), k.hex())).collect(),
                    fingerprint: match s.fingerprint {
                        Fingerprint::None => WireFingerprint::None,
                        Fingerprint::Pending => WireFingerprint::Pending,
                        Fingerprint::Content { hash, pending } => WireFingerprint::Content {
                            hash: hash.hex(),
                            pending: pending.hex(),
                        },
                    },
                }
            })
            .collect();
        let arms = plan
            .arms
            .iter()
            .filter(|a| keys.contains(&a.output))
            .map(|a| WireArm {
                name: a.name.clone(),
                decl: a.decl.clone(),
                axes: a.axes.clone(),
                output: a.output.hex(),
                lineage: a
                    .lineage
                    .iter()
                    .filter(|k| keys.contains(k))
                    .map(|k| k.hex())
                    .collect(),
            })
            .collect();
        StepFile {
            format: FORMAT,
            sslp: env!("CARGO_PKG_VERSION").to_string(),
            target: target.hex(),
            base: base.to_path_buf(),
            device,
            threads: threads.max(1),
            seed: plan.seed,
            plan_device: plan.device.clone(),
            name: plan.name.clone(),
            steps,
            arms,
        }
    }

    /// Reads and checks a step file.
    pub fn read(path: &Path) -> Result<StepFile, StepFileError> {
        let bytes = std::fs::read(path).map_err(|e| StepFileError::Unreadable {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let file: StepFile =
            serde_json::from_slice(&bytes).map_err(|e| StepFileError::Invalid {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        if file.format != FORMAT {
            return Err(StepFileError::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "it has format {}, this sslp ({}) reads format {FORMAT}; it was written by sslp {}",
                    file.format,
                    env!("CARGO_PKG_VERSION"),
                    file.sslp
                ),
            });
        }
        Ok(file)
    }

    /// The file as JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The plan the file describes and the key of its target. Every step's key is
    /// recomputed from its content: a file that was edited or damaged is refused.
    pub fn plan(&self) -> Result<(Plan, Key), ContentError> {
        let mut steps = Vec::with_capacity(self.steps.len());
        for w in &self.steps {
            let params = map_from_wire(&w.params)?;
            let exec = map_from_wire(&w.exec)?;
            let inputs: BTreeMap<String, Key> = w
                .inputs
                .iter()
                .map(|(n, k)| Ok((n.clone(), key(k)?)))
                .collect::<Result<_, ContentError>>()?;
            let claimed = key(&w.key)?;
            let fingerprint = match &w.fingerprint {
                WireFingerprint::None => Fingerprint::None,
                WireFingerprint::Pending => Fingerprint::Pending,
                WireFingerprint::Content { hash, pending } => Fingerprint::Content {
                    hash: key(hash)?,
                    pending: key(pending)?,
                },
            };
            let computed = step_key(w.kind, &params, &inputs);
            let expected = match fingerprint {
                Fingerprint::Content { hash, pending } if pending == computed => {
                    content_key(&pending, &hash)
                }
                Fingerprint::Content { .. } => Key::default(),
                _ => computed,
            };
            if expected != claimed || w.version != w.kind.version() {
                return Err(ContentError::KeyMismatch {
                    key: claimed,
                    kind: w.kind,
                });
            }
            steps.push(Step {
                key: claimed,
                kind: w.kind,
                decl: w.decl.clone(),
                version: w.version,
                params: Arc::new(params),
                exec,
                inputs: Inputs::from(inputs),
                sites: vec![],
                arms: vec![],
                fingerprint,
            });
        }
        let arms = self
            .arms
            .iter()
            .map(|a| {
                Ok(Arm {
                    name: a.name.clone(),
                    decl: a.decl.clone(),
                    axes: a.axes.clone(),
                    output: key(&a.output)?,
                    lineage: a.lineage.iter().map(|k| key(k)).collect::<Result<_, _>>()?,
                })
            })
            .collect::<Result<Vec<_>, ContentError>>()?;
        let target = key(&self.target)?;
        if !steps.iter().any(|s| s.key == target) {
            return Err(ContentError::NoTarget(target));
        }
        Ok((
            Plan::from_parts(
                steps,
                arms,
                self.plan_device.clone(),
                self.seed,
                self.name.clone(),
            ),
            target,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_exactly() {
        let mut m = BTreeMap::new();
        m.insert("x".to_string(), Value::Float(0.1 + 0.2));
        m.insert(
            "k".to_string(),
            Value::Step(Key([7; 32]), Some("train".into())),
        );
        let v = Value::List(vec![
            Value::Null,
            Value::Bool(true),
            Value::Int(-3),
            Value::Float(f64::MIN_POSITIVE),
            Value::Str("é".into()),
            Value::Map(m),
        ]);
        let json = serde_json::to_string(&to_wire(&v)).unwrap();
        let back: WireValue = serde_json::from_str(&json).unwrap();
        assert_eq!(from_wire(&back).unwrap(), v);
    }
}
