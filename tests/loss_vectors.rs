//! Checks every loss in `loss.rs` and the EMA helpers against the cross-implementation vectors
//! in `tests/vectors/ssl_losses.json` (float64 PyTorch references; see its README).
//!
//! Tolerances (README suggestion for float32): losses `|Δ| ≤ 1e-5·max(1, |loss|)`, gradients and
//! other arrays `|Δ| ≤ 1e-5·max(1, max|expected|)` element-wise.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use serde_json::Value;
use sslp::train::ema::{cosine_momentum, ema_update};
use sslp::train::loss;

const TOL: f64 = 1e-5;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/ssl_losses.json");
    let text = std::fs::read_to_string(path).expect("read ssl_losses.json");
    serde_json::from_str(&text).expect("parse ssl_losses.json")
}

fn cases(v: &Value, kind: &str) -> Vec<Value> {
    let list = v["cases"][kind].as_array().expect("case list").clone();
    assert!(!list.is_empty(), "no {kind} cases");
    list
}

/// Flattens a nested JSON array into (shape, values).
fn flat(v: &Value) -> (Vec<usize>, Vec<f64>) {
    fn rec(v: &Value, depth: usize, shape: &mut Vec<usize>, out: &mut Vec<f64>) {
        match v {
            Value::Array(items) => {
                if shape.len() == depth {
                    shape.push(items.len());
                }
                for it in items {
                    rec(it, depth + 1, shape, out);
                }
            }
            Value::Number(n) => out.push(n.as_f64().expect("number")),
            other => panic!("unexpected json {other}"),
        }
    }
    let mut shape = Vec::new();
    let mut out = Vec::new();
    rec(v, 0, &mut shape, &mut out);
    (shape, out)
}

fn tensor<const D: usize>(v: &Value, dev: &Device) -> Tensor<D> {
    let (shape, vals) = flat(v);
    assert_eq!(shape.len(), D, "rank");
    let vals: Vec<f32> = vals.iter().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(vals, shape), dev)
}

fn grad_tensor<const D: usize>(v: &Value, dev: &Device) -> Tensor<D> {
    tensor::<D>(v, dev).require_grad()
}

fn list2(v: &Value, dev: &Device, grad: bool) -> Vec<Tensor<2>> {
    v.as_array()
        .expect("list")
        .iter()
        .map(|m| {
            let t = tensor::<2>(m, dev);
            if grad { t.require_grad() } else { t }
        })
        .collect()
}

fn values<const D: usize>(t: &Tensor<D>) -> Vec<f64> {
    t.to_data()
        .try_into_vec_as::<f32>()
        .expect("f32 data")
        .into_iter()
        .map(f64::from)
        .collect()
}

fn scalar(t: &Tensor<1>) -> f64 {
    values(t)[0]
}

/// Asserts a scalar within `TOL·max(1, |want|)`; returns the relative error used.
fn check_scalar(case: &str, what: &str, got: f64, want: f64) -> f64 {
    let scale = want.abs().max(1.0);
    let err = (got - want).abs() / scale;
    println!("{case:40} {what:24} err/scale {err:.2e}");
    assert!(
        err <= TOL,
        "{case}: {what} = {got}, expected {want} (|Δ|/scale = {err:.3e})"
    );
    err
}

/// Asserts arrays element-wise within `TOL·max(1, max|want|)`.
fn check_array(case: &str, what: &str, got: &[f64], want: &Value) -> f64 {
    let (_, want) = flat(want);
    assert_eq!(got.len(), want.len(), "{case}: {what} length");
    let scale = want.iter().fold(1.0f64, |m, x| m.max(x.abs()));
    let err = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0f64, f64::max)
        / scale;
    println!("{case:40} {what:24} err/scale {err:.2e}");
    assert!(err <= TOL, "{case}: {what} max |Δ|/scale = {err:.3e}");
    err
}

fn check_grad<const D: usize>(
    case: &str,
    what: &str,
    x: &Tensor<D>,
    grads: &burn::tensor::Gradients,
    want: &Value,
) {
    let g = x
        .grad(grads)
        .unwrap_or_else(|| panic!("{case}: no grad for {what}"));
    check_array(case, &format!("grad.{what}"), &values(&g), want);
}

fn name(c: &Value) -> String {
    c["name"].as_str().expect("name").to_string()
}

fn dev() -> Device {
    Device::flex().autodiff()
}

#[test]
fn ntxent_vectors() {
    let v = vectors();
    let dev = dev();
    for c in cases(&v, "ntxent") {
        let n = name(&c);
        let t = c["params"]["temperature"].as_f64().expect("t");
        let out0 = grad_tensor::<2>(&c["inputs"]["out0"], &dev);
        let out1 = grad_tensor::<2>(&c["inputs"]["out1"], &dev);
        let l = loss::nt_xent(out0.clone(), out1.clone(), t);
        check_scalar(
            &n,
            "loss",
            scalar(&l),
            c["expected"]["loss"].as_f64().expect("loss"),
        );
        let grads = l.backward();
        check_grad(&n, "out0", &out0, &grads, &c["expected"]["grad"]["out0"]);
        check_grad(&n, "out1", &out1, &grads, &c["expected"]["grad"]["out1"]);
    }
}

#[test]
fn moco_v2_vectors() {
    let v = vectors();
    let dev = dev();
    for c in cases(&v, "moco_v2") {
        let n = name(&c);
        let p = &c["params"];
        let t = p["temperature"].as_f64().expect("t");
        let q = grad_tensor::<2>(&c["inputs"]["q"], &dev);
        let k = grad_tensor::<2>(&c["inputs"]["k"], &dev);
        let queue = grad_tensor::<2>(&c["inputs"]["queue"], &dev);
        let (l, logits) = loss::info_nce_queue(q.clone(), k.clone(), queue.clone(), t);
        check_scalar(
            &n,
            "loss",
            scalar(&l),
            c["expected"]["loss"].as_f64().expect("loss"),
        );
        check_array(&n, "logits", &values(&logits), &c["expected"]["logits"]);
        let grads = l.backward();
        check_grad(&n, "q", &q, &grads, &c["expected"]["grad"]["q"]);
        assert!(k.grad(&grads).is_none(), "{n}: key must be stop-gradient");
        assert!(
            queue.grad(&grads).is_none(),
            "{n}: queue must be stop-gradient"
        );

        // Queue update through the method's FIFO helper.
        let ptr = p["queue_ptr_before"].as_u64().expect("ptr") as usize;
        let keys = loss::l2_normalize(k.detach(), 1e-12);
        let (queue_after, ptr_after) = sslp::train::method::enqueue(queue.detach(), ptr, keys);
        check_array(
            &n,
            "queue_after",
            &values(&queue_after),
            &c["expected"]["queue_after"],
        );
        assert_eq!(
            ptr_after as u64,
            c["expected"]["queue_ptr_after"]
                .as_u64()
                .expect("ptr after")
        );
    }
}

#[test]
fn negative_cosine_vectors() {
    let v = vectors();
    let dev = dev();
    for c in cases(&v, "negative_cosine") {
        let n = name(&c);
        let i = &c["inputs"];
        let p1 = grad_tensor::<2>(&i["p1"], &dev);
        let p2 = grad_tensor::<2>(&i["p2"], &dev);
        let z1 = grad_tensor::<2>(&i["z1"], &dev);
        let z2 = grad_tensor::<2>(&i["z2"], &dev);
        let form = c["params"]["form"].as_str().expect("form");
        let (l12, l21, l) = match form {
            "neg_cos" => {
                let a = loss::negative_cosine(p1.clone(), z2.clone());
                let b = loss::negative_cosine(p2.clone(), z1.clone());
                (a.clone(), b.clone(), (a + b).mul_scalar(0.5))
            }
            "two_minus_two_cos" => {
                let a = loss::byol_2_2cos(p1.clone(), z2.clone());
                let b = loss::byol_2_2cos(p2.clone(), z1.clone());
                (a.clone(), b.clone(), a + b)
            }
            other => panic!("unknown form {other}"),
        };
        let e = &c["expected"];
        check_scalar(
            &n,
            "loss_12",
            scalar(&l12),
            e["loss_12"].as_f64().expect("l12"),
        );
        check_scalar(
            &n,
            "loss_21",
            scalar(&l21),
            e["loss_21"].as_f64().expect("l21"),
        );
        check_scalar(&n, "loss", scalar(&l), e["loss"].as_f64().expect("loss"));
        let grads = l.backward();
        check_grad(&n, "p1", &p1, &grads, &e["grad"]["p1"]);
        check_grad(&n, "p2", &p2, &grads, &e["grad"]["p2"]);
        assert!(
            z1.grad(&grads).is_none() && z2.grad(&grads).is_none(),
            "{n}: z is sg"
        );
    }
}

#[test]
fn barlow_twins_vectors() {
    let v = vectors();
    let dev = dev();
    for c in cases(&v, "barlow_twins") {
        let n = name(&c);
        let lambda = c["params"]["lambda"].as_f64().expect("lambda");
        let za = grad_tensor::<2>(&c["inputs"]["z_a"], &dev);
        let zb = grad_tensor::<2>(&c["inputs"]["z_b"], &dev);
        let (l, on, off) = loss::barlow_twins(za.clone(), zb.clone(), lambda);
        let e = &c["expected"];
        check_scalar(&n, "loss", scalar(&l), e["loss"].as_f64().expect("loss"));
        check_scalar(
            &n,
            "on_diag",
            scalar(&on),
            e["on_diag"].as_f64().expect("on"),
        );
        check_scalar(
            &n,
            "off_diag",
            scalar(&off),
            e["off_diag"].as_f64().expect("off"),
        );
        let cc = loss::barlow_cross_correlation(za.clone().detach(), zb.clone().detach());
        check_array(
            &n,
            "cross_correlation",
            &values(&cc),
            &e["cross_correlation"],
        );
        let grads = l.backward();
        check_grad(&n, "z_a", &za, &grads, &e["grad"]["z_a"]);
        check_grad(&n, "z_b", &zb, &grads, &e["grad"]["z_b"]);
    }
}

#[test]
fn sinkhorn_vectors() {
    let v = vectors();
    let dev = dev();
    for c in cases(&v, "sinkhorn") {
        let n = name(&c);
        let p = &c["params"];
        let scores = tensor::<2>(&c["inputs"]["scores"], &dev);
        let q = loss::sinkhorn(
            scores,
            p["iterations"].as_u64().expect("it") as usize,
            p["epsilon"].as_f64().expect("eps"),
        );
        let e = &c["expected"];
        check_array(&n, "q", &values(&q), &e["q"]);
        let rows = q.clone().sum_dim(1);
        let cols = q.sum_dim(0);
        check_array(&n, "row_sums", &values(&rows), &e["row_sums"]);
        check_array(&n, "col_sums", &values(&cols), &e["col_sums"]);
    }
}

#[test]
fn sinkhorn_is_stable_for_large_inverse_epsilon() {
    // exp(score/0.001) overflows f32 and a plain max shift underflows whole columns; the codes
    // must stay finite, with every sample's code summing to 1.
    let dev = Device::flex();
    let scores = Tensor::<2>::from_data([[1.0f32, -1.0, 0.5], [0.9, 0.2, -0.3]], &dev);
    let q = loss::sinkhorn(scores, 3, 0.001);
    assert!(values(&q).iter().all(|x| x.is_finite()));
    for s in values(&q.sum_dim(1)) {
        assert!((s - 1.0).abs() < 1e-5, "row sum {s}");
    }
}

#[test]
fn swav_vectors() {
    let v = vectors();
    let dev = dev();
    for c in cases(&v, "swav") {
        let n = name(&c);
        let p = &c["params"];
        let globals = list2(&c["inputs"]["global_scores"], &dev, true);
        let locals = list2(&c["inputs"]["local_scores"], &dev, true);
        let (l, codes) = loss::swav(
            &globals,
            &locals,
            p["temperature"].as_f64().expect("t"),
            p["sinkhorn_iterations"].as_u64().expect("it") as usize,
            p["sinkhorn_epsilon"].as_f64().expect("eps"),
        );
        let e = &c["expected"];
        check_scalar(&n, "loss", scalar(&l), e["loss"].as_f64().expect("loss"));
        for (i, code) in codes.iter().enumerate() {
            check_array(&n, &format!("codes[{i}]"), &values(code), &e["codes"][i]);
        }
        let grads = l.backward();
        for (i, g) in globals.iter().enumerate() {
            check_grad(
                &n,
                &format!("global_scores[{i}]"),
                g,
                &grads,
                &e["grad"]["global_scores"][i],
            );
        }
        for (i, g) in locals.iter().enumerate() {
            check_grad(
                &n,
                &format!("local_scores[{i}]"),
                g,
                &grads,
                &e["grad"]["local_scores"][i],
            );
        }
    }
}

#[test]
fn dino_vectors() {
    let v = vectors();
    let dev = dev();
    for c in cases(&v, "dino") {
        let n = name(&c);
        let p = &c["params"];
        let tt = p["teacher_temp"].as_f64().expect("tt");
        let teacher = list2(&c["inputs"]["teacher_out"], &dev, true);
        let student = list2(&c["inputs"]["student_out"], &dev, true);
        let center = tensor::<1>(&c["inputs"]["center_before"], &dev);
        let (l, center_after) = loss::dino(
            &teacher,
            &student,
            center.clone(),
            tt,
            p["student_temp"].as_f64().expect("st"),
            p["center_momentum"].as_f64().expect("m"),
        );
        let e = &c["expected"];
        check_scalar(&n, "loss", scalar(&l), e["loss"].as_f64().expect("loss"));
        for (g, t) in teacher.iter().enumerate() {
            let probs = loss::dino_teacher_probs(t.clone(), center.clone(), tt);
            check_array(
                &n,
                &format!("teacher_probs[{g}]"),
                &values(&probs),
                &e["teacher_probs"][g],
            );
        }
        check_array(
            &n,
            "center_after",
            &values(&center_after),
            &e["center_after"],
        );
        let grads = l.backward();
        for (i, s) in student.iter().enumerate() {
            check_grad(
                &n,
                &format!("student_out[{i}]"),
                s,
                &grads,
                &e["grad"]["student_out"][i],
            );
        }
        for t in &teacher {
            assert!(
                t.grad(&grads).is_none(),
                "{n}: teacher must be stop-gradient"
            );
        }
    }
}

#[derive(Module, Debug)]
struct TwoParams {
    a: Param<Tensor<1>>,
    b: Param<Tensor<2>>,
}

#[test]
fn ema_vectors() {
    let v = vectors();
    let dev = dev();
    let list = cases(&v, "ema");
    let mut seen_tau = false;
    let mut seen_schedule = false;
    for c in list {
        let n = name(&c);
        if c["inputs"].get("online").is_some() {
            seen_tau = true;
            let tau = c["params"]["tau"].as_f64().expect("tau");
            let make = |key: &str| TwoParams {
                a: Param::from_tensor(tensor::<1>(&c["inputs"][key][0], &dev)),
                b: Param::from_tensor(tensor::<2>(&c["inputs"][key][1], &dev)),
            };
            let online = make("online");
            let target = make("target");
            let after = ema_update(target, &online, tau);
            check_array(
                &n,
                "target_after[0]",
                &values(&after.a.val()),
                &c["expected"]["target_after"][0],
            );
            check_array(
                &n,
                "target_after[1]",
                &values(&after.b.val()),
                &c["expected"]["target_after"][1],
            );
        } else {
            seen_schedule = true;
            let p = &c["params"];
            let max_steps = p["max_steps"].as_u64().expect("max") as usize;
            let start = p["start_value"].as_f64().expect("start");
            let end = p["end_value"].as_f64().expect("end");
            let steps = c["inputs"]["steps"].as_array().expect("steps");
            let taus = c["expected"]["tau"].as_array().expect("tau");
            for (s, t) in steps.iter().zip(taus) {
                let s = s.as_u64().expect("step") as usize;
                let got = cosine_momentum(s, max_steps, start, end);
                let want = t.as_f64().expect("tau");
                assert!(
                    (got - want).abs() <= 1e-12,
                    "{n}: step {s}: {got} vs {want}"
                );
            }
        }
    }
    assert!(seen_tau && seen_schedule);
}

/// Reduced precision: every loss computed on f16 and on bf16 tensors (the flex CPU backend
/// stores and computes both natively) is finite and close to the float64 reference, and so is
/// the NT-Xent gradient. Tolerances, relative to `max(1, |expected|)`: f16 `3e-3` (machine
/// epsilon 9.8e-4), bf16 `3e-2` (epsilon 7.8e-3): a few roundings of a log-sum-exp.
#[test]
fn losses_are_finite_and_close_in_f16_and_bf16() {
    use burn::tensor::DType;
    let v = vectors();
    let dev = dev();
    for (dtype, tol) in [(DType::F16, 3e-3), (DType::BF16, 3e-2)] {
        let t2 = |x: &Value| -> Tensor<2> {
            let (shape, vals) = flat(x);
            let vals: Vec<f32> = vals.iter().map(|&x| x as f32).collect();
            Tensor::from_data(TensorData::new(vals, shape), (&dev, dtype))
        };
        let t1 = |x: &Value| -> Tensor<1> {
            let (shape, vals) = flat(x);
            let vals: Vec<f32> = vals.iter().map(|&x| x as f32).collect();
            Tensor::from_data(TensorData::new(vals, shape), (&dev, dtype))
        };
        let list =
            |x: &Value| -> Vec<Tensor<2>> { x.as_array().expect("list").iter().map(&t2).collect() };
        let mut worst = 0.0f64;
        let mut close = |case: &str, what: &str, got: &Tensor<1>, want: &Value| {
            assert_eq!(got.dtype(), dtype, "{case}: computed in {dtype:?}");
            let got = values(got)[0];
            let want = want.as_f64().expect("number");
            assert!(got.is_finite(), "{dtype:?} {case}: {what} = {got}");
            let err = (got - want).abs() / want.abs().max(1.0);
            worst = worst.max(err);
            assert!(
                err <= tol,
                "{dtype:?} {case}: {what} = {got}, expected {want} (|Δ|/scale = {err:.3e} > {tol:e})"
            );
        };
        for c in cases(&v, "ntxent") {
            let n = name(&c);
            let t = c["params"]["temperature"].as_f64().expect("t");
            let out0 = t2(&c["inputs"]["out0"]).require_grad();
            let out1 = t2(&c["inputs"]["out1"]).require_grad();
            let l = loss::nt_xent(out0.clone(), out1.clone(), t);
            close(&n, "loss", &l, &c["expected"]["loss"]);
            let grads = l.backward();
            for (x, key) in [(&out0, "out0"), (&out1, "out1")] {
                let g = values(&x.grad(&grads).expect("a gradient"));
                assert!(g.iter().all(|x| x.is_finite()), "{dtype:?} {n}: grad {g:?}");
                let (_, want) = flat(&c["expected"]["grad"][key]);
                let scale = want.iter().fold(1.0f64, |m, x| m.max(x.abs()));
                let err = g
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max)
                    / scale;
                assert!(
                    err <= tol,
                    "{dtype:?} {n}: grad.{key} |Δ|/scale = {err:.3e}"
                );
            }
        }
        for c in cases(&v, "moco_v2") {
            let t = c["params"]["temperature"].as_f64().expect("t");
            let i = &c["inputs"];
            let (l, _) = loss::info_nce_queue(t2(&i["q"]), t2(&i["k"]), t2(&i["queue"]), t);
            close(&name(&c), "loss", &l, &c["expected"]["loss"]);
        }
        for c in cases(&v, "negative_cosine") {
            let i = &c["inputs"];
            let (p1, p2, z1, z2) = (t2(&i["p1"]), t2(&i["p2"]), t2(&i["z1"]), t2(&i["z2"]));
            let l = match c["params"]["form"].as_str().expect("form") {
                "neg_cos" => {
                    (loss::negative_cosine(p1, z2) + loss::negative_cosine(p2, z1)).mul_scalar(0.5)
                }
                _ => loss::byol_2_2cos(p1, z2) + loss::byol_2_2cos(p2, z1),
            };
            close(&name(&c), "loss", &l, &c["expected"]["loss"]);
        }
        for c in cases(&v, "barlow_twins") {
            let lambda = c["params"]["lambda"].as_f64().expect("lambda");
            let (l, _, _) =
                loss::barlow_twins(t2(&c["inputs"]["z_a"]), t2(&c["inputs"]["z_b"]), lambda);
            close(&name(&c), "loss", &l, &c["expected"]["loss"]);
        }
        for c in cases(&v, "swav") {
            let p = &c["params"];
            let (l, _) = loss::swav(
                &list(&c["inputs"]["global_scores"]),
                &list(&c["inputs"]["local_scores"]),
                p["temperature"].as_f64().expect("t"),
                p["sinkhorn_iterations"].as_u64().expect("it") as usize,
                p["sinkhorn_epsilon"].as_f64().expect("eps"),
            );
            close(&name(&c), "loss", &l, &c["expected"]["loss"]);
        }
        for c in cases(&v, "dino") {
            let p = &c["params"];
            let (l, _) = loss::dino(
                &list(&c["inputs"]["teacher_out"]),
                &list(&c["inputs"]["student_out"]),
                t1(&c["inputs"]["center_before"]),
                p["teacher_temp"].as_f64().expect("tt"),
                p["student_temp"].as_f64().expect("st"),
                p["center_momentum"].as_f64().expect("m"),
            );
            close(&name(&c), "loss", &l, &c["expected"]["loss"]);
        }
        println!("{dtype:?}: worst loss |Δ|/scale {worst:.2e} (tolerance {tol:e})");
    }
}
