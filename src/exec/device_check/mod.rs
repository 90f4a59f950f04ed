//! `sslp device-check`: does training on a device compute what it computes on the CPU, and
//! how fast? Four stages, each written to its own JSON file in the output folder as soon as it
//! finishes (so a run cut short still leaves the finished ones), then a summary:
//!
//! 1. [`losses`] (`1-losses.json`): every SSL loss and its input gradients on the device
//!    against the float64 reference vectors, in f32 and in f16 / bf16;
//! 2. [`backbones`] (`2-backbones.json`): forward and backward of each backbone on the device
//!    against the CPU path, same weights and batch;
//! 3. [`training`] (`3-training.json`): the first steps of the quickstart's SimCLR run on the
//!    device beside the same steps on the CPU;
//! 4. [`throughput`] (`4-throughput.json`): images per second and peak memory of SimCLR train
//!    steps of ResNet-18 and ResNet-50, beside PyTorch when it is installed;
//! 5. `summary.json`: each stage's status and time, the device, the versions.
//!
//! On the CPU the "device" and the reference are both the CPU: every comparison still runs,
//! between two separately built copies, and the files say `same_device: true`.

pub mod backbones;
pub mod losses;
pub mod throughput;
pub mod training;

use crate::train::device::{DeviceChoice, DeviceError};
use burn::tensor::{Device, Tensor};
use serde_json::{Map, Value, json};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The version of burn this build trains with (`Cargo.toml` pins it).
pub const BURN_VERSION: &str = "0.22.1";

/// How much work each stage does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Tiny shapes and few steps: the whole check in well under two minutes on two CPU cores
    /// (the default on the CPU, and what CI runs).
    Small,
    /// The sizes of a GPU check: ResNet-50 at 224×224, batch 256 for ResNet-18 (the default
    /// on CUDA; about four minutes on one H200 with kernel compilation).
    Full,
}

impl Profile {
    /// The profile used when none is named: small on the CPU, full on a GPU.
    pub fn default_for(device: DeviceChoice) -> Profile {
        match device {
            DeviceChoice::Cpu => Profile::Small,
            DeviceChoice::Cuda(_) => Profile::Full,
        }
    }

    /// Its name as the command line writes it.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Small => "small",
            Profile::Full => "full",
        }
    }
}

/// What `sslp device-check` was asked.
#[derive(Clone, Debug)]
pub struct Options {
    /// The device to check: `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Where the JSON files go (created if missing).
    pub out: PathBuf,
    /// The folder of inputs: `ssl_losses.json` and, optionally, `peer_step.py`. Default: the
    /// project's `tests/vectors` (from the working directory, else from where sslp was built).
    pub inputs: Option<PathBuf>,
    /// The profile; default [`Profile::default_for`] the device.
    pub profile: Option<Profile>,
}

/// What a stage found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every comparison within its tolerance (or, for throughput, the measurement ran).
    Pass,
    /// A comparison beyond its tolerance, or the stage could not run.
    Fail,
    /// Not run, for a stated reason.
    Skipped,
}

impl Status {
    /// `pass`, `fail` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
        }
    }

    /// `Pass` when `ok`, else `Fail`.
    pub fn of(ok: bool) -> Status {
        if ok { Status::Pass } else { Status::Fail }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the check cannot run at all (a stage that fails is recorded in its file instead).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The device cannot be named or used (no CUDA support in this build, no driver, ...).
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The output folder or a result file cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
}

/// Why one stage could not finish; recorded as its `error`, and the stage fails.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The loss vectors cannot be read or computed.
    #[error(transparent)]
    Vectors(#[from] crate::train::vectors::VectorsError),
    /// The embedded quickstart does not give the recipe the training stage expects.
    #[error("the quickstart recipe: {reason}")]
    Recipe {
        /// What is missing or wrong.
        reason: String,
    },
    /// A planned value of the recipe does not decode.
    #[error(transparent)]
    Decode(#[from] super::decode::DecodeError),
    /// The recipe's data cannot be made.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// A batch of views cannot be made.
    #[error(transparent)]
    Image(#[from] crate::augment::ImageError),
    /// A model setting is invalid.
    #[error(transparent)]
    Config(#[from] crate::train::ConfigError),
    /// A training step failed.
    #[error(transparent)]
    Train(#[from] crate::train::trainer::TrainError),
    /// A tensor cannot be read back from its device.
    #[error("reading {what} back from the device: {reason}")]
    Readback {
        /// The value.
        what: String,
        /// burn's message.
        reason: String,
    },
    /// The stage panicked (a backend error burn reports by panicking).
    #[error("panicked: {message}")]
    Panic {
        /// The panic's message.
        message: String,
    },
}

/// The result of one stage, as written to its file.
#[derive(Clone, Debug)]
pub struct StageReport {
    /// Its number, from 1.
    pub number: usize,
    /// Its name (`losses`, `backbones`, `training`, `throughput`).
    pub name: &'static str,
    /// Its file name in the output folder.
    pub file: String,
    /// Pass, fail or skipped.
    pub status: Status,
    /// Wall time.
    pub seconds: f64,
    /// One line for people: the headline figure, or the error.
    pub headline: String,
    /// The whole file.
    pub json: Value,
}

/// The result of the whole check.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Pass when no stage failed.
    pub status: Status,
    /// Every stage, in order.
    pub stages: Vec<StageReport>,
    /// Wall time of the whole check.
    pub seconds: f64,
    /// Where the files are.
    pub out: PathBuf,
    /// `summary.json`, as written.
    pub json: Value,
}

/// What a stage hands back: its status, a headline and its fields.
pub(crate) struct StageBody {
    pub(crate) status: Status,
    pub(crate) headline: String,
    pub(crate) fields: Map<String, Value>,
}

/// Everything a stage needs to know.
pub(crate) struct Context {
    pub(crate) choice: DeviceChoice,
    /// The training (autodiff) device checked.
    pub(crate) device: Device,
    /// The CPU training device results are compared with.
    pub(crate) reference: Device,
    pub(crate) profile: Profile,
    pub(crate) inputs: PathBuf,
    /// `peer_step.py`, where found.
    pub(crate) peer_script: Option<PathBuf>,
}

impl Context {
    /// Whether the device checked is the CPU the reference runs on.
    pub(crate) fn same_device(&self) -> bool {
        self.choice == DeviceChoice::Cpu
    }
}

/// The name of the peer script in the inputs folder.
pub const PEER_SCRIPT: &str = "peer_step.py";

/// The default inputs folder and the project folder it belongs to: `tests/vectors` under the
/// working directory when it has the loss vectors, else under the folder sslp was built from.
fn default_inputs() -> (PathBuf, Option<PathBuf>) {
    let vectors = Path::new("tests").join("vectors");
    for root in [
        PathBuf::from("."),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    ] {
        let dir = root.join(&vectors);
        if dir.join(crate::train::vectors::FILE_NAME).is_file() {
            return (dir, Some(root));
        }
    }
    (vectors, None)
}

/// `peer_step.py` in `inputs`, else (for the project's own inputs) `tools/gpu/peer_step.py`
/// of the project.
fn find_peer_script(inputs: &Path, project: Option<&Path>) -> Option<PathBuf> {
    let mut candidates = vec![inputs.join(PEER_SCRIPT)];
    if let Some(root) = project {
        candidates.push(root.join("tools").join("gpu").join(PEER_SCRIPT));
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// Runs the check: stages 1 to 4 in order, each file written as soon as the stage ends (and
/// `on_stage` told), then `summary.json`. A stage that fails does not stop the next; a device
/// that cannot be used stops the check before any work, with the error `sslp run` gives.
pub fn run(
    options: &Options,
    on_stage: &mut dyn FnMut(&StageReport),
) -> Result<Summary, CheckError> {
    let began = Instant::now();
    let choice: DeviceChoice = options.device.parse()?;
    let device = choice.training_device()?;
    let reference = DeviceChoice::Cpu.training_device()?;
    let profile = options.profile.unwrap_or(Profile::default_for(choice));
    let (inputs, project) = match &options.inputs {
        Some(dir) => (dir.clone(), None),
        None => default_inputs(),
    };
    let peer_script = find_peer_script(&inputs, project.as_deref());
    std::fs::create_dir_all(&options.out).map_err(|source| CheckError::Write {
        path: options.out.clone(),
        source,
    })?;
    let ctx = Context {
        choice,
        device,
        reference,
        profile,
        inputs,
        peer_script,
    };
    type StageFn = fn(&Context) -> Result<StageBody, StageError>;
    let stages: [(&'static str, StageFn); 4] = [
        ("losses", losses::run),
        ("backbones", backbones::run),
        ("training", training::run),
        ("throughput", throughput::run),
    ];
    let mut reports = Vec::new();
    for (i, (name, stage)) in stages.into_iter().enumerate() {
        let report = run_stage(&ctx, i + 1, name, stage);
        write_json(&options.out.join(&report.file), &report.json)?;
        on_stage(&report);
        reports.push(report);
    }
    let status = Status::of(reports.iter().all(|r| r.status != Status::Fail));
    let seconds = began.elapsed().as_secs_f64();
    let json = summary_json(&ctx, &reports, status, seconds);
    write_json(&options.out.join("summary.json"), &json)?;
    Ok(Summary {
        status,
        stages: reports,
        seconds,
        out: options.out.clone(),
        json,
    })
}

/// Runs one stage, catching a panic (a backend failure) as the stage's failure.
fn run_stage(
    ctx: &Context,
    number: usize,
    name: &'static str,
    stage: fn(&Context) -> Result<StageBody, StageError>,
) -> StageReport {
    let began = Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stage(ctx)))
        .unwrap_or_else(|payload| {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            Err(StageError::Panic { message })
        });
    let seconds = began.elapsed().as_secs_f64();
    let (status, headline, fields, error) = match result {
        Ok(body) => (body.status, body.headline, body.fields, None),
        Err(e) => (Status::Fail, format!("error: {e}"), Map::new(), Some(e)),
    };
    let mut json = Map::new();
    json.insert("stage".into(), json!(name));
    json.insert("status".into(), json!(status.as_str()));
    json.insert("seconds".into(), json!(seconds));
    json.insert("device".into(), json!(ctx.choice.to_string()));
    json.insert("reference".into(), json!("cpu"));
    json.insert("same_device".into(), json!(ctx.same_device()));
    json.insert("profile".into(), json!(ctx.profile.name()));
    if let Some(e) = &error {
        json.insert("error".into(), json!(e.to_string()));
    }
    json.extend(fields);
    StageReport {
        number,
        name,
        file: format!("{number}-{name}.json"),
        status,
        seconds,
        headline,
        json: Value::Object(json),
    }
}

/// The summary: every stage's status, time and headline, the device and the versions.
fn summary_json(ctx: &Context, reports: &[StageReport], status: Status, seconds: f64) -> Value {
    let stages: Vec<Value> = reports
        .iter()
        .map(|r| {
            json!({
                "stage": r.name,
                "file": r.file,
                "status": r.status.as_str(),
                "seconds": r.seconds,
                "headline": r.headline,
            })
        })
        .collect();
    json!({
        "status": status.as_str(),
        "seconds": seconds,
        "device": ctx.choice.to_string(),
        "device_name": device_name(&ctx.device),
        "driver": driver_json(ctx.choice),
        "reference": "cpu",
        "same_device": ctx.same_device(),
        "profile": ctx.profile.name(),
        "inputs": ctx.inputs.display().to_string(),
        "peer_script": ctx.peer_script.as_ref().map(|p| p.display().to_string()),
        "stages": stages,
        "versions": {
            "sslp": env!("CARGO_PKG_VERSION"),
            "burn": BURN_VERSION,
            "cuda_feature": cfg!(feature = "cuda"),
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
        },
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    })
}

/// What the NVIDIA driver reports (its CUDA version and GPU count), for a CUDA check.
fn driver_json(choice: DeviceChoice) -> Value {
    use crate::train::cuda_probe::{DRIVER_LIBRARIES, probe};
    match choice {
        DeviceChoice::Cpu => Value::Null,
        DeviceChoice::Cuda(index) => match probe(&DRIVER_LIBRARIES, index) {
            Ok(d) => json!({
                "cuda_version": format!("{}.{}", d.version / 1000, (d.version % 1000) / 10),
                "api_version": d.version,
                "gpus": d.gpus,
            }),
            Err(e) => json!({ "error": e.to_string() }),
        },
    }
}

/// The GPU's name and what its kernels are compiled for, as burn reports them.
#[cfg(feature = "cuda")]
fn device_name(device: &Device) -> Value {
    match device.identity() {
        Some(id) => json!({ "name": id.name, "target": id.fingerprint }),
        None => Value::Null,
    }
}

/// No GPU identity without CUDA support.
#[cfg(not(feature = "cuda"))]
fn device_name(_device: &Device) -> Value {
    Value::Null
}

/// Writes `value` as pretty JSON to `path`.
fn write_json(path: &Path, value: &Value) -> Result<(), CheckError> {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
    text.push('\n');
    std::fs::write(path, text).map_err(|source| CheckError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// A tensor's values as f32 (whatever its dtype), read back from its device.
pub(crate) fn read<const D: usize>(t: Tensor<D>, what: &str) -> Result<Vec<f32>, StageError> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| StageError::Readback {
            what: what.into(),
            reason: format!("{e:?}"),
        })
}

/// A finite number as JSON, `null` otherwise (JSON has no NaN or infinity).
pub(crate) fn num(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

/// The largest absolute and relative difference of `got` from `want`: `max |Δ|` and
/// `max |Δ| / max |want|` (0 when both are zero; NaN when a value is not finite or the
/// lengths differ).
pub(crate) fn difference(got: &[f32], want: &[f32]) -> (f64, f64) {
    if got.len() != want.len() || got.iter().chain(want).any(|x| !x.is_finite()) {
        return (f64::NAN, f64::NAN);
    }
    let max_abs = got
        .iter()
        .zip(want)
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs())
        .fold(0.0f64, f64::max);
    let scale = want.iter().fold(0.0f64, |m, x| m.max(f64::from(x.abs())));
    let rel = if max_abs == 0.0 {
        0.0
    } else if scale == 0.0 {
        f64::INFINITY
    } else {
        max_abs / scale
    };
    (max_abs, rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_are_absolute_and_relative_to_the_reference() {
        assert_eq!(difference(&[1.0, 2.0], &[1.0, 2.0]), (0.0, 0.0));
        assert_eq!(difference(&[1.0, 2.5], &[1.0, 2.0]), (0.5, 0.25));
        assert_eq!(difference(&[0.0], &[0.0]), (0.0, 0.0));
        assert!(difference(&[1.0], &[0.0]).1.is_infinite());
        assert!(difference(&[f32::NAN], &[1.0]).0.is_nan());
        assert!(difference(&[1.0], &[1.0, 2.0]).0.is_nan());
    }

    #[test]
    fn the_burn_version_is_the_one_cargo_pins() {
        let manifest = include_str!("../../../Cargo.toml");
        assert!(
            manifest.contains(&format!("burn = {{ version = \"={BURN_VERSION}\"")),
            "Cargo.toml no longer pins burn {BURN_VERSION}: update BURN_VERSION"
        );
    }

    #[test]
    fn profiles_default_by_device() {
        assert_eq!(Profile::default_for(DeviceChoice::Cpu), Profile::Small);
        assert_eq!(Profile::default_for(DeviceChoice::Cuda(1)), Profile::Full);
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_support_is_the_error_sslp_run_gives() {
        let dir = std::env::temp_dir().join(format!("sslp-devcheck-nocuda-{}", std::process::id()));
        let options = Options {
            device: "cuda".into(),
            out: dir.clone(),
            inputs: None,
            profile: None,
        };
        let err = run(&options, &mut |_| {}).unwrap_err();
        assert!(
            matches!(
                err,
                CheckError::Device(DeviceError::NoCudaSupport { index: 0 })
            ),
            "{err}"
        );
        assert!(
            !dir.exists(),
            "nothing is written before the device is known to work"
        );
    }
}
