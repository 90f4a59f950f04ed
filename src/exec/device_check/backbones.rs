//! Stage 2: forward and backward of each backbone on the device against the CPU path, with the
//! same weights and the same batch.
//!
//! Both copies of a backbone are built on the CPU from one seed (each backend's generator draws
//! its own numbers), the device's copy then forked to the device, and the weights read back
//! and compared bit for bit before anything runs. Both run a training-mode forward (batch-norm
//! statistics of the batch) of the same input and the backward of `Σ out·r` for a fixed random
//! `r`. Compared: the output, the input's gradient and every parameter's gradient, each as
//! `max |Δ|` and `max |Δ| / max |reference|` per tensor, held to [`TOLERANCE`].

use super::{Context, Profile, StageBody, StageError, Status, difference, num, read};
use crate::train::backbone::{Backbone, BackboneSpec};
use crate::train::trainer::init_backbone_seeded;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};
use std::time::Instant;

/// Relative tolerance (`max |Δ| / max |reference|` per tensor) of outputs and gradients in f32.
pub const TOLERANCE: f64 = 1e-3;

/// Seed of the weights, the input and the upstream gradient.
const SEED: u64 = 17;

/// One backbone to check: its name, spec, batch and image side.
struct Case {
    name: &'static str,
    spec: BackboneSpec,
    batch: usize,
    side: usize,
}

/// The backbones of a profile: the quickstart's tiny convnet, ResNet-18 (CIFAR stem), ResNet-50
/// (ImageNet stem: its 7×7 convolution and max-pool) and the ViT of `vit_tiny`'s defaults.
fn cases(profile: Profile) -> Vec<Case> {
    let (batch, r50_batch, r50_side, vit_patch, vit_side) = match profile {
        Profile::Small => (8, 4, 64, 4, 32),
        Profile::Full => (32, 8, 224, 16, 224),
    };
    vec![
        Case {
            name: "tiny_convnet",
            spec: BackboneSpec::TinyConvNet {
                width: 16,
                depth: 4,
            },
            batch,
            side: 32,
        },
        Case {
            name: "resnet18",
            spec: BackboneSpec::ResNet {
                depth: 18,
                cifar_stem: true,
                zero_init_residual: false,
            },
            batch,
            side: 32,
        },
        Case {
            name: "resnet50",
            spec: BackboneSpec::ResNet {
                depth: 50,
                cifar_stem: false,
                zero_init_residual: false,
            },
            batch: r50_batch,
            side: r50_side,
        },
        Case {
            name: "vit_tiny",
            spec: BackboneSpec::Vit {
                patch: vit_patch,
                depth: 12,
                width: 192,
                heads: 3,
                mlp_ratio: 4.0,
                image_size: vit_side,
            },
            batch: r50_batch,
            side: vit_side,
        },
    ]
}

/// Uniform values in [-1, 1) from a seeded stream, as tensor data of `shape`.
pub(crate) fn uniform(seed: u64, shape: Vec<usize>) -> TensorData {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    TensorData::new(values, shape)
}

/// Every float parameter's value (BN running statistics included), in visit order.
fn weights(module: &Backbone) -> Vec<TensorData> {
    struct V(Vec<TensorData>);
    impl ModuleVisitor for V {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.val().into_data());
        }
    }
    let mut v = V(Vec::new());
    module.visit(&mut v);
    v.0
}

/// The gradient of every trainable parameter, with its path, in visit order.
fn gradients(module: &Backbone, grads: &Gradients) -> Vec<(String, Option<TensorData>)> {
    struct V<'a> {
        grads: &'a Gradients,
        path: Vec<String>,
        out: Vec<(String, Option<TensorData>)>,
    }
    impl ModuleVisitor for V<'_> {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let t = param.val();
            if t.is_require_grad() {
                let g = t.grad(self.grads).map(|g| g.into_data());
                self.out.push((self.path.join("."), g));
            }
        }
    }
    let mut v = V {
        grads,
        path: Vec::new(),
        out: Vec::new(),
    };
    module.visit(&mut v);
    v.out
}

/// What one forward and backward gave.
struct Pass {
    output: Vec<f32>,
    input_grad: Option<Vec<f32>>,
    grads: Vec<(String, Option<Vec<f32>>)>,
    seconds: f64,
}

/// The forward of `x` in training mode, then the backward of `Σ out·r`, on `device`.
fn forward_backward(
    model: &Backbone,
    x: &TensorData,
    r: &TensorData,
    device: &Device,
) -> Result<Pass, StageError> {
    let began = Instant::now();
    let x = Tensor::<4>::from_data(x.clone(), device).require_grad();
    let out = model.forward(x.clone());
    let r = Tensor::<2>::from_data(r.clone(), device);
    let grads = (out.clone() * r).sum().backward();
    let output = read(out, "the output")?;
    let input_grad = x
        .grad(&grads)
        .map(|g| read(g, "the input's gradient"))
        .transpose()?;
    let mut param_grads = Vec::new();
    for (path, g) in gradients(model, &grads) {
        let values = match g {
            Some(data) => {
                Some(
                    data.try_into_vec_as::<f32>()
                        .map_err(|e| StageError::Readback {
                            what: format!("the gradient of {path}"),
                            reason: format!("{e:?}"),
                        })?,
                )
            }
            None => None,
        };
        param_grads.push((path, values));
    }
    Ok(Pass {
        output,
        input_grad,
        grads: param_grads,
        seconds: began.elapsed().as_secs_f64(),
    })
}

/// A difference as JSON.
fn diff_json((max_abs, max_rel): (f64, f64)) -> Value {
    json!({ "max_abs": num(max_abs), "max_rel": num(max_rel) })
}

/// Checks one backbone: its JSON and whether it passed.
fn check(ctx: &Context, case: &Case) -> Result<(Value, bool, f64), StageError> {
    let began = Instant::now();
    let reference = init_backbone_seeded(&case.spec, &ctx.reference, SEED)?;
    // Built separately from the same seed, on the CPU; then moved to the device.
    let on_device = init_backbone_seeded(&case.spec, &ctx.reference, SEED)?;
    let on_device = if ctx.same_device() {
        on_device
    } else {
        on_device.fork(&ctx.device)
    };
    let weights_identical = {
        let (a, b) = (weights(&reference), weights(&on_device));
        a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.as_bytes() == y.as_bytes())
    };
    let x = uniform(SEED + 1, vec![case.batch, 3, case.side, case.side]);
    let r = uniform(SEED + 2, vec![case.batch, case.spec.feature_dim()]);
    let dev = forward_backward(&on_device, &x, &r, &ctx.device)?;
    let cpu = forward_backward(&reference, &x, &r, &ctx.reference)?;

    let output = difference(&dev.output, &cpu.output);
    let input = match (&dev.input_grad, &cpu.input_grad) {
        (Some(a), Some(b)) => difference(a, b),
        _ => (f64::NAN, f64::NAN),
    };
    let (mut worst_abs, mut worst_rel, mut worst_at) = (0.0f64, 0.0f64, String::new());
    let mut missing = Vec::new();
    let same_params = dev.grads.len() == cpu.grads.len();
    for ((path, a), (_, b)) in dev.grads.iter().zip(&cpu.grads) {
        let (abs, rel) = match (a, b) {
            (Some(a), Some(b)) => difference(a, b),
            (None, None) => continue,
            _ => {
                missing.push(path.clone());
                continue;
            }
        };
        let (abs, rel) = (nan_max(abs), nan_max(rel));
        worst_abs = worst_abs.max(abs);
        if rel > worst_rel || worst_at.is_empty() {
            worst_rel = worst_rel.max(rel);
            worst_at = path.clone();
        }
    }
    let within = |(_, rel): (f64, f64)| rel.is_finite() && rel <= TOLERANCE;
    let pass = weights_identical
        && same_params
        && missing.is_empty()
        && within(output)
        && within(input)
        && worst_rel.is_finite()
        && worst_rel <= TOLERANCE;
    let json = json!({
        "backbone": case.name,
        "spec": format!("{:?}", case.spec),
        "input": [case.batch, 3, case.side, case.side],
        "parameters": on_device.num_trainable_params(),
        "status": Status::of(pass).as_str(),
        "weights_identical": weights_identical,
        "output": diff_json(output),
        "input_gradient": diff_json(input),
        "parameter_gradients": {
            "tensors": dev.grads.len(),
            "max_abs": num(worst_abs),
            "max_rel": num(worst_rel),
            "worst": worst_at,
            "missing": missing,
        },
        "device_seconds": dev.seconds,
        "reference_seconds": cpu.seconds,
    });
    Ok((json, pass, began.elapsed().as_secs_f64()))
}

/// NaN counts as the worst difference.
fn nan_max(x: f64) -> f64 {
    if x.is_nan() { f64::INFINITY } else { x }
}

/// Runs stage 2.
pub(crate) fn run(ctx: &Context) -> Result<StageBody, StageError> {
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for case in cases(ctx.profile) {
        let (json, pass, _) = check(ctx, &case)?;
        if !pass {
            failed.push(case.name);
        }
        results.push(json);
    }
    let mut fields = Map::new();
    fields.insert(
        "tolerance".into(),
        json!({
            "relative": TOLERANCE,
            "measure": "max|Δ| / max|reference| per tensor (output, input gradient, each \
                        parameter's gradient); weights compared bit for bit",
            "dtype": "f32",
        }),
    );
    fields.insert("backbones".into(), Value::Array(results));
    let headline = if failed.is_empty() {
        format!(
            "{} backbones within {TOLERANCE:.0e}",
            cases(ctx.profile).len()
        )
    } else {
        format!("beyond {TOLERANCE:.0e}: {}", failed.join(", "))
    };
    Ok(StageBody {
        status: Status::of(failed.is_empty()),
        headline,
        fields,
    })
}
