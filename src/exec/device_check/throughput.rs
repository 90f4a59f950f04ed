//! Stage 4: how fast the device trains. SimCLR train steps (two views of every image, each
//! through the backbone; projector 512/2048 → 2048 → 128; NT-Xent τ 0.5; SGD lr 0.1, momentum
//! 0.9, weight decay 5e-4) of ResNet-18 on 32×32 images and ResNet-50 on 224×224 images (the
//! full profile's sizes; smaller in the small profile), on fixed random views already on the
//! device: the trainer's step alone, without data loading. Images per second count the source
//! images of a step (each makes two views), from the median step time after warm-up.
//!
//! Memory: on a device whose allocator reports itself (CUDA, through burn), the largest pool
//! reservation and live bytes seen after each step, the pools emptied first; elsewhere the
//! process's peak resident set size, reset before the run (see [`crate::exec::memory`]).
//!
//! When `python3` can import torch and the inputs hold the peer script (`peer_step.py`), the
//! same steps run in PyTorch in the same check and the ratio is reported; otherwise the peer
//! is recorded as skipped with the reason.

use super::{Context, Profile, StageBody, StageError, Status, num};
use crate::exec::memory;
use crate::train::backbone::BackboneSpec;
use crate::train::method::{MethodConfig, Progress};
use crate::train::optim::OptimizerSpec;
use crate::train::precision::{Amp, Precision};
use crate::train::trainer::{init_seeded, train_step};
use burn::tensor::Tensor;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest a peer run may take before it is stopped.
const PEER_TIMEOUT: Duration = Duration::from_secs(150);

/// One throughput measurement.
struct Run {
    net: &'static str,
    batch: usize,
    size: usize,
    warmup: usize,
    steps: usize,
}

impl Run {
    /// The backbone: ResNet-18/50, with the CIFAR stem on images of 64 pixels or less (as the
    /// peer script builds it).
    fn spec(&self) -> BackboneSpec {
        BackboneSpec::ResNet {
            depth: if self.net == "resnet50" { 50 } else { 18 },
            cifar_stem: self.size <= 64,
            zero_init_residual: false,
        }
    }
}

/// The runs of a profile.
fn runs(profile: Profile) -> Vec<Run> {
    match profile {
        Profile::Small => vec![
            Run {
                net: "resnet18",
                batch: 16,
                size: 32,
                warmup: 1,
                steps: 2,
            },
            Run {
                net: "resnet50",
                batch: 8,
                size: 32,
                warmup: 1,
                steps: 2,
            },
        ],
        Profile::Full => vec![
            Run {
                net: "resnet18",
                batch: 256,
                size: 32,
                warmup: 3,
                steps: 10,
            },
            Run {
                net: "resnet50",
                batch: 64,
                size: 224,
                warmup: 2,
                steps: 5,
            },
        ],
    }
}

/// The SimCLR of the measurement (the PyTorch peer builds the same).
fn method() -> MethodConfig {
    MethodConfig::SimClr {
        temperature: 0.5,
        proj_hidden: 2048,
        proj_dim: 128,
        proj_layers: 2,
    }
}

fn optimizer() -> OptimizerSpec {
    OptimizerSpec::Sgd {
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 5e-4,
        nesterov: false,
        exclude_bias_bn: false,
    }
}

/// The median of some times.
fn median(times: &[f64]) -> f64 {
    let mut s = times.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Where the memory figure comes from.
enum Memory {
    /// The device's allocator, through burn.
    Pool { reserved: u64, in_use: u64 },
    /// The process's peak resident set.
    Rss(Option<u64>),
}

impl Memory {
    fn json(&self) -> Value {
        match self {
            Memory::Pool { reserved, in_use } => json!({
                "kind": "device",
                "peak_bytes": reserved,
                "peak_in_use_bytes": in_use,
                "source": "burn's memory_pool_usage() of the device allocator, sampled after \
                           every step: the largest reservation (`peak_bytes`) and the largest \
                           live bytes seen",
            }),
            Memory::Rss(bytes) => json!({
                "kind": "host",
                "peak_bytes": bytes,
                "source": "peak resident set size (VmHWM) of the sslp process, reset before \
                           the run: the device reports no allocator figures",
            }),
        }
    }
}

/// Measures one run on the device: its JSON fields and images per second.
fn measure(ctx: &Context, run: &Run) -> Result<(Map<String, Value>, f64), StageError> {
    let device = &ctx.device;
    // The allocator belongs to the device under autodiff.
    let plain = device.clone().without_autodiff();
    let pool = plain.memory_pool_usage().is_some();
    if pool {
        plain.memory_cleanup();
    } else {
        memory::reset_peak();
    }
    let (mut student, mut method) = init_seeded(method(), &run.spec(), device, 0)?;
    let mut optim = optimizer().build(None);
    let shape = vec![run.batch, 3, run.size, run.size];
    let views: Vec<Tensor<4>> = (0..2)
        .map(|v| Tensor::from_data(super::backbones::uniform(100 + v, shape.clone()), device))
        .collect();
    let (mut reserved, mut in_use) = (0u64, 0u64);
    let mut times = Vec::new();
    let mut losses = Vec::new();
    let mut amp = Amp::new(Precision::F32);
    for s in 0..run.warmup + run.steps {
        let t = Instant::now();
        let at = Progress {
            epoch: 0,
            epochs: 1,
            step: s,
            total_steps: run.warmup + run.steps,
        };
        let loss;
        (student, loss) = train_step(
            student,
            &mut method,
            &mut optim,
            &views,
            at,
            s,
            0.1,
            &mut amp,
        )?;
        let dt = t.elapsed().as_secs_f64();
        losses.push(loss);
        if s >= run.warmup {
            times.push(dt);
        }
        if let Some(u) = plain.memory_pool_usage() {
            reserved = reserved.max(u.bytes_reserved);
            in_use = in_use.max(u.bytes_in_use);
        }
    }
    let memory = if pool {
        Memory::Pool { reserved, in_use }
    } else {
        Memory::Rss(memory::peak_bytes())
    };
    let step = median(&times);
    let images_per_second = run.batch as f64 / step;
    let mut fields = Map::new();
    fields.insert("median_step_seconds".into(), num(step));
    fields.insert("step_seconds".into(), json!(times));
    fields.insert("images_per_second".into(), num(images_per_second));
    fields.insert("losses".into(), json!(losses));
    fields.insert("memory".into(), memory.json());
    Ok((fields, images_per_second))
}

/// The Python interpreter the peer runs with.
const PYTHON: &str = "python3";

/// Why the PyTorch peer did not give a figure (its text goes into the stage's JSON).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum PeerError {
    /// The interpreter could not be started.
    #[error("no torch: no {python} ({reason})")]
    NoPython {
        /// The interpreter.
        python: String,
        /// The system's message.
        reason: String,
    },
    /// The interpreter runs but cannot import torch.
    #[error("no torch: {python} cannot import it")]
    NoTorch {
        /// The interpreter.
        python: String,
    },
    /// The bundle has no peer script.
    #[error("no {script} in {}", inputs.display())]
    NoScript {
        /// The script's file name.
        script: &'static str,
        /// The folder it was looked for in.
        inputs: PathBuf,
    },
    /// torch is there, but sees no CUDA device.
    #[error("torch sees no CUDA")]
    NoCuda,
    /// The peer could not be started or waited for.
    #[error("{what}: {reason}")]
    Process {
        /// What was being done.
        what: String,
        /// The system's message.
        reason: String,
    },
    /// The peer ran past its time limit.
    #[error("stopped after {seconds} s")]
    TimedOut {
        /// The limit.
        seconds: u64,
    },
    /// The peer exited with an error.
    #[error("exited with {status}: {stderr_tail}")]
    Failed {
        /// Its exit status.
        status: String,
        /// The last lines of its standard error.
        stderr_tail: String,
    },
    /// The peer printed no JSON object line.
    #[error("printed no JSON line")]
    NoJson,
}

/// Whether `python` can import torch: its version and whether it sees CUDA, or why not.
fn torch(python: &str) -> Result<(String, bool), PeerError> {
    let out = Command::new(python)
        .args([
            "-c",
            "import torch; print(torch.__version__); print(torch.cuda.is_available())",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| PeerError::NoPython {
            python: python.into(),
            reason: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(PeerError::NoTorch {
            python: python.into(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let version = lines.next().unwrap_or("?").trim().to_string();
    let cuda = lines.next().is_some_and(|l| l.trim() == "True");
    Ok((version, cuda))
}

/// Runs `script` with `python` for `run` on `device` (torch's name), with a time limit; its
/// last JSON line.
fn run_peer(python: &str, script: &Path, device: &str, run: &Run) -> Result<Value, PeerError> {
    let process = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| PeerError::Process {
            what,
            reason: e.to_string(),
        }
    };
    let mut child = Command::new(python)
        .arg(script)
        .args(["--device", device, "--net", run.net])
        .args(["--batch", &run.batch.to_string()])
        .args(["--size", &run.size.to_string()])
        .args(["--steps", &run.steps.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(process(&format!("cannot start {python}")))?;
    let began = Instant::now();
    loop {
        match child.try_wait().map_err(process("waiting for the peer"))? {
            Some(_) => break,
            None if began.elapsed() > PEER_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(PeerError::TimedOut {
                    seconds: PEER_TIMEOUT.as_secs(),
                });
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    let out = child
        .wait_with_output()
        .map_err(process("reading the peer's output"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(PeerError::Failed {
            status: out.status.to_string(),
            stderr_tail: tail.join(" | "),
        });
    }
    stdout
        .lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Value>(l.trim())
                .ok()
                .filter(Value::is_object)
        })
        .ok_or(PeerError::NoJson)
}

/// The images per second a peer's JSON line reports, under any of the usual names.
fn peer_rate(v: &Value) -> Option<f64> {
    ["img_per_s", "images_per_s", "images_per_second", "img_s"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_f64))
}

/// Runs stage 4.
pub(crate) fn run(ctx: &Context) -> Result<StageBody, StageError> {
    let peer_device = match ctx.choice {
        crate::train::device::DeviceChoice::Cpu => "cpu".to_string(),
        crate::train::device::DeviceChoice::Cuda(i) => format!("cuda:{i}"),
    };
    let torch = torch(PYTHON);
    let peer_ready: Result<(&Path, String), PeerError> = match (&ctx.peer_script, &torch) {
        (_, Err(why)) => Err(why.clone()),
        (None, _) => Err(PeerError::NoScript {
            script: super::PEER_SCRIPT,
            inputs: ctx.inputs.clone(),
        }),
        (Some(_), Ok((_, false))) if !ctx.same_device() => Err(PeerError::NoCuda),
        (Some(script), Ok((version, _))) => Ok((script.as_path(), version.clone())),
    };
    let mut results = Vec::new();
    let mut headline = Vec::new();
    for run in runs(ctx.profile) {
        let (mut fields, rate) = measure(ctx, &run)?;
        let peer = match &peer_ready {
            Err(why) => json!({ "status": "skipped", "reason": why.to_string() }),
            Ok((script, version)) => match run_peer(PYTHON, script, &peer_device, &run) {
                Ok(v) => match peer_rate(&v) {
                    Some(p) if p > 0.0 => json!({
                        "status": "ran",
                        "torch": version,
                        "images_per_second": p,
                        "ratio": num(rate / p),
                        "output": v,
                    }),
                    _ => {
                        json!({ "status": "error", "reason": "no images per second in its output", "output": v })
                    }
                },
                Err(why) => json!({ "status": "error", "reason": why.to_string() }),
            },
        };
        let ratio = peer.get("ratio").and_then(Value::as_f64);
        headline.push(format!(
            "{} b{} {}px: {:.1} img/s{}",
            run.net,
            run.batch,
            run.size,
            rate,
            ratio.map_or(String::new(), |r| format!(" ({r:.2}× PyTorch)"))
        ));
        let mut json = Map::new();
        json.insert("net".into(), json!(run.net));
        json.insert("spec".into(), json!(format!("{:?}", run.spec())));
        json.insert("batch".into(), json!(run.batch));
        json.insert("size".into(), json!(run.size));
        json.insert("warmup_steps".into(), json!(run.warmup));
        json.insert("timed_steps".into(), json!(run.steps));
        json.append(&mut fields);
        json.insert("peer".into(), peer);
        results.push(Value::Object(json));
    }
    let peer_status = match &peer_ready {
        Ok(_) => "ran".to_string(),
        Err(why) => format!("skipped ({why})"),
    };
    headline.push(format!("peer: {peer_status}"));
    let mut fields = Map::new();
    fields.insert(
        "step".into(),
        json!(
            "SimCLR train step: 2 views of every image through the backbone, projector \
             Linear(feat, 2048)+ReLU+Linear(2048, 128), NT-Xent tau 0.5, backward, SGD lr 0.1 \
             momentum 0.9 weight decay 5e-4; fixed random views already on the device"
        ),
    );
    fields.insert(
        "images_counted".into(),
        json!("source images per second from the median step (each image makes 2 views)"),
    );
    fields.insert(
        "peer_script".into(),
        json!(ctx.peer_script.as_ref().map(|p| p.display().to_string())),
    );
    fields.insert("peer".into(), json!(peer_status));
    fields.insert("runs".into(), Value::Array(results));
    Ok(StageBody {
        status: Status::Pass,
        headline: headline.join("; "),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_peer_rates() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(peer_rate(&json!({"img_per_s": 12.5})), Some(12.5));
        assert_eq!(peer_rate(&json!({"images_per_second": 3})), Some(3.0));
        assert_eq!(peer_rate(&json!({"other": 1})), None);
    }

    /// A stand-in interpreter: answers the torch probe, and runs a "script" that prints some
    /// noise and then one JSON line echoing its arguments.
    #[cfg(unix)]
    #[test]
    fn the_peer_is_probed_run_and_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("sslp-peer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let python = dir.join("python3");
        std::fs::write(
            &python,
            "#!/bin/sh\n\
             if [ \"$1\" = -c ]; then echo 9.9.9; echo False; exit 0; fi\n\
             echo warming up\n\
             echo \"{\\\"img_per_s\\\": 123.5, \\\"args\\\": \\\"$*\\\"}\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
        let python = python.to_str().unwrap();
        assert_eq!(torch(python), Ok(("9.9.9".into(), false)));
        let run = Run {
            net: "resnet50",
            batch: 8,
            size: 32,
            warmup: 1,
            steps: 2,
        };
        let out = run_peer(python, Path::new("peer_step.py"), "cpu", &run).unwrap();
        assert_eq!(peer_rate(&out), Some(123.5));
        assert_eq!(
            out["args"],
            "peer_step.py --device cpu --net resnet50 --batch 8 --size 32 --steps 2"
        );
        let missing = dir.join("no-such-python");
        let why = torch(missing.to_str().unwrap()).unwrap_err();
        assert!(matches!(why, PeerError::NoPython { .. }), "{why}");
        assert!(why.to_string().starts_with("no torch"), "{why}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
