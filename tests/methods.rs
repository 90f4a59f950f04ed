//! Every SSL method trains on a fixed tiny batch (loss finite and falling), EMA teachers get no
//! gradient and follow `τ·teacher + (1−τ)·student` exactly, and `save_state`/`load_state`
//! reproduces the next loss bit for bit.

use burn::grad_clipping::GradientClippingConfig;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig, momentum::MomentumConfig};
use burn::tensor::{Device, Tensor, TensorData};
use sslp::exec::decode::{Params, method_config};
use sslp::plan::Value as ParamValue;
use sslp::train::backbone::BackboneSpec;
use sslp::train::bytes::{BytesError, module_from_bytes, module_to_bytes};
use sslp::train::ema::float_tensors;
use sslp::train::method::{Method, MethodConfig, MocoVersion, Progress, Student, ViewsError};
use std::collections::BTreeMap;

const BATCH: usize = 16;
const STEPS: usize = 15;
const STEPS_PER_EPOCH: usize = 5;
/// Length of the schedules (EMA momentum) the tests pretend to run.
const TOTAL_STEPS: usize = 64;

fn spec() -> BackboneSpec {
    BackboneSpec::TinyConvNet { width: 8, depth: 2 }
}

fn device() -> Device {
    let dev = Device::flex().autodiff();
    dev.seed(7);
    dev
}

/// Deterministic pseudo-random values in [-1, 1) (no RNG state shared with burn).
fn fixed(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// 2 global views (image + small fixed noise) and, with `locals`, two 8x8 crops.
fn views(dev: &Device, locals: bool) -> Vec<Tensor<4>> {
    let shape = [BATCH, 3, 16, 16];
    let n = shape.iter().product();
    // Noise plus a per-image colour offset and stripe pattern, so the images differ in ways a
    // random convnet's pooled features keep apart.
    let noise0 = fixed(n, 1);
    let offsets = fixed(BATCH * 3, 5);
    let mut pixels = Vec::with_capacity(n);
    for b in 0..BATCH {
        let freq = 0.2 + 0.15 * b as f32;
        for c in 0..3 {
            for h in 0..16 {
                for w in 0..16 {
                    let i = ((b * 3 + c) * 16 + h) * 16 + w;
                    let stripe = (freq * (h as f32 + (c as f32 + 1.0) * w as f32)).sin();
                    pixels.push(0.5 * noise0[i] + offsets[b * 3 + c] + stripe);
                }
            }
        }
    }
    let img = Tensor::<4>::from_data(TensorData::new(pixels, shape), dev);
    let noise =
        |seed| Tensor::<4>::from_data(TensorData::new(fixed(n, seed), shape), dev).mul_scalar(0.1);
    let mut v = vec![img.clone() + noise(2), img.clone() + noise(3)];
    if locals {
        v.push(img.clone().slice([0..BATCH, 0..3, 0..8, 0..8]));
        v.push(
            img.slice([0..BATCH, 0..3, 8..16, 8..16])
                + noise(4).slice([0..BATCH, 0..3, 0..8, 0..8]),
        );
    }
    v
}

fn progress(step: usize) -> Progress {
    Progress {
        epoch: step / STEPS_PER_EPOCH,
        epochs: TOTAL_STEPS.div_ceil(STEPS_PER_EPOCH),
        step,
        total_steps: TOTAL_STEPS,
    }
}

/// Decodes a planned method map: the given parameters, the registry's defaults for the rest.
fn from_params<'a>(
    name: &str,
    params: impl IntoIterator<Item = (&'a str, ParamValue)>,
) -> Result<MethodConfig, String> {
    let mut m = BTreeMap::new();
    m.insert("type".to_string(), ParamValue::Str(name.into()));
    for (k, v) in params {
        m.insert(k.to_string(), v);
    }
    let p = Params::call(&m, "test").map_err(|e| e.to_string())?;
    method_config(&p).map_err(|e| e.to_string())
}

fn config(name: &str, params: &[(&str, ParamValue)]) -> MethodConfig {
    from_params(name, params.iter().map(|(k, v)| (*k, v.clone()))).expect("config")
}

fn int(v: i64) -> ParamValue {
    ParamValue::Int(v)
}

fn float(v: f64) -> ParamValue {
    ParamValue::Float(v)
}

/// The tiny configuration of `name` (see [`tiny_configs`]).
fn tiny(name: &str) -> MethodConfig {
    tiny_configs()
        .into_iter()
        .find(|c| c.0 == name)
        .map(|c| c.1)
        .expect("known tiny config")
}

/// MoCo v2 steps before losses are compared: until the 64-key queue holds only real keys.
/// Before that the random initial queue gives easy negatives, and the loss rises as it fills
/// with keys of the same 16 images (a fixed batch is its own hardest negative set).
const MOCO_WARMUP: usize = 64 / BATCH;

/// Tiny-width configurations of every method: (name, config, local crops, lr, warm-up steps).
fn tiny_configs() -> Vec<(&'static str, MethodConfig, bool, f64, usize)> {
    let heads = [("proj_hidden", int(32)), ("proj_dim", int(16))];
    let with = |extra: &[(&'static str, ParamValue)], base: &[(&'static str, ParamValue)]| {
        base.iter().chain(extra).cloned().collect::<Vec<_>>()
    };
    vec![
        ("simclr", config("simclr", &heads), false, 0.05, 0),
        (
            "moco_v2",
            config(
                "moco",
                &with(&[("queue", int(64)), ("momentum", float(0.99))], &heads),
            ),
            false,
            0.05,
            MOCO_WARMUP,
        ),
        (
            "moco_v2_symmetric",
            config(
                "moco",
                &with(
                    &[("queue", int(64)), ("symmetric", ParamValue::Bool(true))],
                    &heads,
                ),
            ),
            false,
            0.05,
            MOCO_WARMUP,
        ),
        (
            "moco_v3",
            config(
                "moco",
                &with(
                    &[
                        ("version", ParamValue::Str("v3".into())),
                        ("pred_hidden", int(32)),
                        ("momentum", float(0.99)),
                        ("momentum_end", float(1.0)),
                    ],
                    &heads,
                ),
            ),
            false,
            0.05,
            0,
        ),
        (
            "simsiam",
            config("simsiam", &with(&[("pred_hidden", int(8))], &heads)),
            false,
            0.05,
            0,
        ),
        (
            "byol",
            config(
                "byol",
                &with(
                    &[("pred_hidden", int(32)), ("tau_base", float(0.99))],
                    &heads,
                ),
            ),
            false,
            0.05,
            0,
        ),
        (
            "swav",
            config(
                "swav",
                &with(
                    &[
                        ("prototypes", int(16)),
                        ("queue", int(32)),
                        ("queue_start_epoch", int(1)),
                        ("freeze_prototypes_iters", int(5)),
                    ],
                    &heads,
                ),
            ),
            true,
            0.05,
            0,
        ),
        (
            "barlow_twins",
            config(
                "barlow_twins",
                &[("proj_hidden", int(32)), ("proj_dim", int(32))],
            ),
            false,
            0.05,
            0,
        ),
        (
            "dino",
            config(
                "dino",
                &[
                    ("out_dim", int(64)),
                    ("hidden", int(32)),
                    ("bottleneck", int(16)),
                ],
            ),
            true,
            0.05,
            0,
        ),
    ]
}

fn optimizer(method: &Method) -> ModuleOptimizer {
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_momentum(0.9)))
        .with_gradient_clipping(
            method
                .grad_clip()
                .map(|c| GradientClippingConfig::Norm(c as f32)),
        )
        .init()
}

/// One training step; returns the loss value and the updated student.
fn step(
    method: &mut Method,
    student: Student,
    optim: &mut ModuleOptimizer,
    views: &[Tensor<4>],
    at: Progress,
    lr: f64,
) -> (f32, Student) {
    let loss = method.try_loss(&student, views, at).expect("the views fit");
    let value = loss.clone().into_scalar::<f32>();
    let grads = GradientsParams::from_grads(loss.backward(), &student);
    let grads = method.filter_grads(&student, grads, at);
    let student = optim.step(lr, student, grads);
    (value, method.after_step(student, at))
}

#[test]
fn every_method_trains_and_resumes_exactly() {
    let mut failures = Vec::new();
    for (name, cfg, locals, lr, warmup) in tiny_configs() {
        let dev = device();
        let views = views(&dev, locals);
        let (mut student, mut method) = Method::new(cfg.clone(), &spec(), &dev).expect("new");
        let mut optim = optimizer(&method);
        for s in 0..warmup {
            student = step(&mut method, student, &mut optim, &views, progress(s), lr).1;
        }
        let mut losses = Vec::new();
        for s in warmup..warmup + STEPS {
            let (l, next) = step(&mut method, student, &mut optim, &views, progress(s), lr);
            student = next;
            assert!(l.is_finite(), "{name}: loss {l} at step {s}");
            losses.push(l);
        }
        let first = losses[..3].iter().sum::<f32>() / 3.0;
        let last = losses[STEPS - 3..].iter().sum::<f32>() / 3.0;
        println!("{name:20} first3 {first:.5} last3 {last:.5} losses {losses:?}");
        if last >= first {
            failures.push(format!("{name}: loss did not fall ({first} -> {last})"));
        }

        // Exact resume: a fresh method/student loaded from bytes gives the same next loss.
        let student_bytes = module_to_bytes(&student).expect("student bytes");
        let state = method.save_state().expect("save_state");
        let at = progress(warmup + STEPS);
        let expected = method
            .try_loss(&student, &views, at)
            .expect("the views fit")
            .into_scalar::<f32>();
        let dev2 = Device::flex().autodiff();
        dev2.seed(99);
        let (fresh, mut method2) = Method::new(cfg, &spec(), &dev2).expect("new 2");
        let student2 = module_from_bytes(fresh, &student_bytes).expect("load student");
        method2.load_state(&state).expect("load_state");
        let got = method2
            .try_loss(&student2, &views, at)
            .expect("the views fit")
            .into_scalar::<f32>();
        assert_eq!(
            got.to_bits(),
            expected.to_bits(),
            "{name}: resumed loss {got} != {expected}"
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `Method::fork` carries every piece of state (teacher, queues, centre) to the device: after
/// some steps, a student and method forked to a device (here the CPU again, the only one CI
/// has) give the same next loss, bit for bit. `sslp device-check` moves the quickstart's run
/// to a GPU this way.
#[test]
fn a_forked_method_keeps_its_state() {
    for (name, cfg, locals, lr, _) in tiny_configs() {
        let dev = device();
        let views = views(&dev, locals);
        let (mut student, mut method) = Method::new(cfg, &spec(), &dev).expect("new");
        let mut optim = optimizer(&method);
        for s in 0..3 {
            student = step(&mut method, student, &mut optim, &views, progress(s), lr).1;
        }
        let at = progress(3);
        let expected = method
            .try_loss(&student, &views, at)
            .expect("the views fit")
            .into_scalar::<f32>();
        let other = Device::flex().autodiff();
        let (student, mut method) = (student.fork(&other), method.fork(&other));
        let got = method
            .try_loss(&student, &views, at)
            .expect("the views fit")
            .into_scalar::<f32>();
        assert_eq!(
            got.to_bits(),
            expected.to_bits(),
            "{name}: {got} != {expected}"
        );
    }
}

/// Collects every float parameter of a module as a plain tensor (for `grad` lookups).
fn params<M: Module>(m: &M) -> Vec<Tensor<1>> {
    struct V(Vec<Tensor<1>>);
    impl ModuleVisitor for V {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let t = p.val();
            let n = t.shape().num_elements();
            self.0.push(t.reshape([n]));
        }
    }
    let mut v = V(Vec::new());
    m.visit(&mut v);
    v.0
}

/// Counts parameters of `m` that have a gradient in `grads`.
fn with_grad<M: Module>(m: &M, grads: &burn::tensor::Gradients) -> (usize, usize) {
    struct V<'a> {
        grads: &'a burn::tensor::Gradients,
        some: usize,
        all: usize,
    }
    impl ModuleVisitor for V<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.all += 1;
            if p.val().grad(self.grads).is_some() {
                self.some += 1;
            }
        }
    }
    let mut v = V {
        grads,
        some: 0,
        all: 0,
    };
    m.visit(&mut v);
    (v.some, v.all)
}

fn host(t: &Tensor<1>) -> Vec<f32> {
    t.to_data().try_into_vec_as::<f32>().expect("f32")
}

/// Teacher components with their student counterparts, flattened in visit order.
fn teacher_and_student(teacher: &Student, student: &Student) -> (Vec<Tensor<1>>, Vec<Tensor<1>>) {
    let mut t = float_tensors(&teacher.backbone);
    let mut s = float_tensors(&student.backbone);
    if let (Some(tp), Some(sp)) = (&teacher.projector, &student.projector) {
        t.extend(float_tensors(tp));
        s.extend(float_tensors(sp));
    }
    if let (Some(th), Some(sh)) = (&teacher.dino_head, &student.dino_head) {
        t.extend(float_tensors(th));
        s.extend(float_tensors(sh));
    }
    (t, s)
}

#[test]
fn teachers_get_no_gradient_and_follow_the_ema_exactly() {
    let configs: Vec<_> = tiny_configs()
        .into_iter()
        .filter(|(n, ..)| matches!(*n, "byol" | "moco_v2" | "moco_v3" | "dino"))
        .collect();
    assert_eq!(configs.len(), 4);
    for (name, cfg, locals, lr, _) in configs {
        let dev = device();
        let views = views(&dev, locals);
        let (mut student, mut method) = Method::new(cfg, &spec(), &dev).expect("new");
        let mut optim = optimizer(&method);
        // A couple of ordinary steps first, so teacher and student differ.
        for s in 0..2 {
            student = step(&mut method, student, &mut optim, &views, progress(s), lr).1;
        }
        let at = progress(2);
        let loss = method
            .try_loss(&student, &views, at)
            .expect("the views fit");
        let grads = loss.backward();
        let teacher = method.teacher().expect("teacher");
        assert!(
            teacher.predictor.is_none(),
            "{name}: teacher has no predictor"
        );
        let (t_some, t_all) = with_grad(teacher, &grads);
        assert!(t_all > 0);
        assert_eq!(
            t_some, 0,
            "{name}: {t_some}/{t_all} teacher params got a gradient"
        );
        let (s_some, _) = with_grad(&student, &grads);
        assert!(s_some > 0, "{name}: student got no gradient");
        for p in params(teacher) {
            assert!(!p.is_require_grad(), "{name}: teacher param requires grad");
        }

        let grads = GradientsParams::from_grads(grads, &student);
        let grads = method.filter_grads(&student, grads, at);
        student = optim.step(lr, student, grads);
        let (t_before, s_after) = teacher_and_student(method.teacher().expect("teacher"), &student);
        let tau = method.momentum(at).expect("momentum");
        assert!(tau < 1.0, "{name}: test needs τ < 1, got {tau}");
        student = method.after_step(student, at);
        let (t_after, s_check) = teacher_and_student(method.teacher().expect("teacher"), &student);
        assert_eq!(t_before.len(), t_after.len());
        let (tau32, one_minus) = (tau as f32, (1.0 - tau) as f32);
        let mut changed = 0usize;
        for (i, ((tb, sa), ta)) in t_before.iter().zip(&s_after).zip(&t_after).enumerate() {
            let (tb, sa, ta) = (host(tb), host(sa), host(ta));
            for j in 0..tb.len() {
                let want = tb[j] * tau32 + sa[j] * one_minus;
                assert_eq!(
                    ta[j].to_bits(),
                    want.to_bits(),
                    "{name}: tensor {i}[{j}]: {} != τ·{} + (1−τ)·{}",
                    ta[j],
                    tb[j],
                    sa[j]
                );
                changed += usize::from(ta[j] != tb[j]);
            }
        }
        assert!(changed > 0, "{name}: EMA changed nothing");
        // after_step does not touch the student's weights (SwAV aside).
        for (a, b) in s_after.iter().zip(&s_check) {
            assert_eq!(host(a), host(b), "{name}: after_step changed the student");
        }
    }
}

#[test]
fn teacher_has_its_own_batchnorm_buffers() {
    let dev = device();
    let (student, mut method) = Method::new(tiny("byol"), &spec(), &dev).expect("byol");
    let before = float_tensors(&student.backbone);
    // A teacher forward in train mode updates only the teacher's running stats.
    let v = views(&dev, false);
    let _ = method.teacher().expect("teacher").embed(v[0].clone());
    let after = float_tensors(&student.backbone);
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(host(a), host(b), "teacher forward changed student BN stats");
    }
    let _ = method
        .try_loss(&student, &v, progress(0))
        .expect("the views fit");
}

#[test]
fn module_bytes_round_trip_is_exact_in_eval_mode() {
    let dev = device();
    let cfg = tiny("simsiam"); // BN everywhere, including the affine-free output BN
    let (student, mut method) = Method::new(cfg.clone(), &spec(), &dev).expect("new");
    let v = views(&dev, false);
    // Train-mode forwards move the running stats away from their init.
    let _ = method
        .try_loss(&student, &v, progress(0))
        .expect("the views fit");
    let _ = method
        .try_loss(&student, &v, progress(1))
        .expect("the views fit");
    let bytes = module_to_bytes(&student).expect("bytes");
    let (fresh, _) = Method::new(cfg, &spec(), &dev).expect("new 2");
    let loaded = module_from_bytes(fresh, &bytes).expect("load");
    let x = v[0].clone().inner();
    let a = student.valid().embed(x.clone());
    let b = loaded.valid().embed(x);
    let (a, b) = (
        a.into_data().try_into_vec_as::<f32>().unwrap(),
        b.into_data().try_into_vec_as::<f32>().unwrap(),
    );
    assert_eq!(a, b);
    // Garbage is an error, not a panic.
    let (fresh, _) = Method::new(tiny("simsiam"), &spec(), &dev).expect("new 3");
    assert!(matches!(
        module_from_bytes(fresh, b"not a module"),
        Err(BytesError::Unreadable(_))
    ));
    assert!(matches!(
        method.load_state(b"junk"),
        Err(BytesError::Malformed(_))
    ));
}

#[test]
fn configs_reject_bad_parameters() {
    assert!(from_params("nope", []).is_err());
    assert!(from_params("simclr", [("temperature", float(0.0))]).is_err());
    assert!(from_params("simclr", [("bogus", float(1.0))]).is_err());
    assert!(from_params("moco", [("version", ParamValue::Str("v9".into()))]).is_err());
    assert!(from_params("moco", [("queue", int(-1))]).is_err());
    assert!(from_params("dino", [("clip_grad", float(-1.0))]).is_err());
    let m = from_params("moco", [("version", ParamValue::Str("v3".into()))]).expect("v3");
    assert!(matches!(
        m,
        MethodConfig::Moco {
            version: MocoVersion::V3,
            ..
        }
    ));
}

/// Whether `grads` holds a gradient for any float parameter of `m`.
fn has_grads<M: Module>(m: &M, grads: &GradientsParams) -> bool {
    struct V<'a> {
        grads: &'a GradientsParams,
        found: bool,
    }
    impl ModuleVisitor for V<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.found |= self.grads.get::<D>(p.id).is_some();
        }
    }
    let mut v = V {
        grads,
        found: false,
    };
    m.visit(&mut v);
    v.found
}

#[test]
fn frozen_parameters_lose_their_gradients_only_while_frozen() {
    let dev = device();
    // SwAV: prototypes frozen for the first 5 steps.
    let (student, mut method) = Method::new(tiny("swav"), &spec(), &dev).expect("swav");
    let v = views(&dev, true);
    for (s, frozen) in [(4, true), (5, false)] {
        let at = progress(s);
        let loss = method.try_loss(&student, &v, at).expect("the views fit");
        let grads = GradientsParams::from_grads(loss.backward(), &student);
        let grads = method.filter_grads(&student, grads, at);
        let protos = student.prototypes.as_ref().expect("prototypes");
        assert_eq!(has_grads(protos, &grads), !frozen, "swav step {s}");
        assert!(has_grads(&student.backbone, &grads));
    }
    // DINO: last layer frozen during epoch 0 (5 steps per epoch here).
    let (student, mut method) = Method::new(tiny("dino"), &spec(), &dev).expect("dino");
    assert_eq!(method.grad_clip(), Some(3.0));
    for (s, frozen) in [(4, true), (5, false)] {
        let at = progress(s);
        let loss = method.try_loss(&student, &v, at).expect("the views fit");
        let grads = GradientsParams::from_grads(loss.backward(), &student);
        let grads = method.filter_grads(&student, grads, at);
        let head = student.dino_head.as_ref().expect("head");
        assert_eq!(has_grads(&head.last_v, &grads), !frozen, "dino step {s}");
        assert!(has_grads(&head.layers, &grads));
    }
}

#[test]
fn bad_views_are_errors() {
    let dev = device();
    let (student, mut method) = Method::new(tiny("simclr"), &spec(), &dev).expect("simclr");
    let v = views(&dev, false);
    assert!(matches!(
        method.try_loss(&student, &v[..1], progress(0)),
        Err(ViewsError::TooFewViews { got: 1, .. })
    ));
    let odd = vec![v[0].clone(), v[1].clone().narrow(0, 0, 8)];
    assert!(matches!(
        method.try_loss(&student, &odd, progress(0)),
        Err(ViewsError::UnequalBatches)
    ));
    assert!(method.try_loss(&student, &v, progress(0)).is_ok());
}
