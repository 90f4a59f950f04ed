//! The cross-implementation loss vectors (`tests/vectors/ssl_losses.json`: float64 references
//! from PyTorch and lightly, see its README): reading them, and computing every case with the
//! losses of [`super::loss`] on a device and in a float dtype, as [`Comparison`]s a caller holds
//! to its tolerance.
//!
//! `tests/loss_vectors.rs` runs them on the CPU in f32 and half precision; `sslp device-check`
//! runs the same cases, the same way, on the device it checks.
//!
//! Errors are measured as the README suggests: a scalar `|Δ| / max(1, |expected|)`, an array
//! `max |Δ| / max(1, max |expected|)` element-wise.

use super::ema::{cosine_momentum, ema_update};
use super::loss;
use super::method::enqueue;
use burn::module::{Module, Param};
use burn::tensor::{DType, Device, Gradients, Tensor, TensorData};
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};

/// The file name of the loss vectors inside a vectors folder.
pub const FILE_NAME: &str = "ssl_losses.json";

/// Why the vectors cannot be read or a case cannot be computed.
#[derive(Debug, thiserror::Error)]
pub enum VectorsError {
    /// The file cannot be read.
    #[error("cannot read the loss vectors {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("the loss vectors {} are not JSON: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A case lacks a field or holds something of the wrong shape.
    #[error("loss vectors, {case}: {reason}")]
    Malformed {
        /// The case (or the family, when the list itself is wrong).
        case: String,
        /// What is wrong.
        reason: String,
    },
    /// A computed tensor could not be read back from the device.
    #[error("loss vectors, {case}: reading `{what}` back from the device: {reason}")]
    Readback {
        /// The case.
        case: String,
        /// The value.
        what: String,
        /// burn's message.
        reason: String,
    },
}

/// A family of cases in the file, one per loss (and the EMA helpers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// SimCLR's NT-Xent.
    NtXent,
    /// MoCo v2's InfoNCE with a queue, and the queue update.
    MocoV2,
    /// SimSiam's and BYOL's regression losses.
    NegativeCosine,
    /// Barlow Twins.
    BarlowTwins,
    /// SwAV's Sinkhorn-Knopp codes.
    Sinkhorn,
    /// SwAV's swapped prediction.
    Swav,
    /// DINO.
    Dino,
    /// The EMA teacher update and its cosine momentum schedule.
    Ema,
}

impl Family {
    /// Every family, in the file's order.
    pub const ALL: [Family; 8] = [
        Family::NtXent,
        Family::MocoV2,
        Family::NegativeCosine,
        Family::BarlowTwins,
        Family::Sinkhorn,
        Family::Swav,
        Family::Dino,
        Family::Ema,
    ];

    /// Its key under `cases` in the file.
    pub fn key(self) -> &'static str {
        match self {
            Family::NtXent => "ntxent",
            Family::MocoV2 => "moco_v2",
            Family::NegativeCosine => "negative_cosine",
            Family::BarlowTwins => "barlow_twins",
            Family::Sinkhorn => "sinkhorn",
            Family::Swav => "swav",
            Family::Dino => "dino",
            Family::Ema => "ema",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// What a comparison found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Measure {
    /// A value against its reference: the scaled error (see the module doc). NaN when the
    /// computed value is not finite.
    Error(f64),
    /// A property that holds or not (a stop-gradient, a queue pointer, a dtype, an exact
    /// schedule value).
    Property(bool),
}

/// One computed value of a case against the reference.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// The case's name in the file.
    pub case: String,
    /// What was compared (`loss`, `grad.out0`, `queue_after`, `k is stop-gradient`, ...).
    pub what: String,
    /// The result.
    pub measure: Measure,
}

impl Comparison {
    /// Whether it passes at `tolerance` (an error must be finite and at most `tolerance`; a
    /// property must hold).
    pub fn passes(&self, tolerance: f64) -> bool {
        match self.measure {
            Measure::Error(e) => e.is_finite() && e <= tolerance,
            Measure::Property(holds) => holds,
        }
    }

    /// Whether it compares a loss value (`loss`, `loss_12`, `on_diag`, ...) rather than an
    /// array, a gradient or a property.
    pub fn is_scalar(&self) -> bool {
        self.what.starts_with("loss") || self.what.ends_with("_diag")
    }
}

/// The tolerance these cases are held to in `dtype`: 1e-5 in f32 (the README's suggestion);
/// in half precision, where one rounding of an input is already 4.9e-4 (f16) or 3.9e-3 (bf16)
/// relative, 1e-2 (f16) and 5e-2 (bf16). Other dtypes get the f32 figure.
pub fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => 1e-2,
        DType::BF16 => 5e-2,
        _ => 1e-5,
    }
}

/// The name of a float dtype as the project writes it (`f32`, `f16`, `bf16`, `f64`).
pub fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F64 => "f64",
        DType::F32 => "f32",
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        _ => "another dtype",
    }
}

/// The vectors file, parsed.
#[derive(Clone, Debug)]
pub struct LossVectors {
    root: Value,
}

impl LossVectors {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<LossVectors, VectorsError> {
        let text = std::fs::read_to_string(path).map_err(|source| VectorsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let root = serde_json::from_str(&text).map_err(|source| VectorsError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(LossVectors { root })
    }

    /// The file's `format` field (`ssl-loss-testvectors/1`).
    pub fn format(&self) -> Option<&str> {
        self.root["format"].as_str()
    }

    /// The cases of `family`; an error when there are none.
    pub fn cases(&self, family: Family) -> Result<&[Value], VectorsError> {
        match self.root["cases"][family.key()].as_array() {
            Some(list) if !list.is_empty() => Ok(list),
            _ => Err(VectorsError::Malformed {
                case: family.key().into(),
                reason: "no cases".into(),
            }),
        }
    }

    /// Computes every case of `family` on `device` (an autodiff device: the gradients are
    /// compared too) with inputs in `dtype`, as comparisons against the references.
    pub fn compute(
        &self,
        family: Family,
        device: &Device,
        dtype: DType,
    ) -> Result<Vec<Comparison>, VectorsError> {
        let mut out = Vec::new();
        for case in self.cases(family)? {
            let mut c = Case {
                json: case,
                name: case["name"].as_str().unwrap_or(family.key()).to_string(),
                device,
                dtype,
                out: &mut out,
            };
            match family {
                Family::NtXent => c.ntxent()?,
                Family::MocoV2 => c.moco_v2()?,
                Family::NegativeCosine => c.negative_cosine()?,
                Family::BarlowTwins => c.barlow_twins()?,
                Family::Sinkhorn => c.sinkhorn()?,
                Family::Swav => c.swav()?,
                Family::Dino => c.dino()?,
                Family::Ema => c.ema()?,
            }
        }
        Ok(out)
    }
}

/// Flattens a nested JSON array of numbers into (shape, row-major values).
pub fn flat(v: &Value) -> Option<(Vec<usize>, Vec<f64>)> {
    fn rec(v: &Value, depth: usize, shape: &mut Vec<usize>, out: &mut Vec<f64>) -> Option<()> {
        match v {
            Value::Array(items) => {
                if shape.len() == depth {
                    shape.push(items.len());
                } else if shape.get(depth) != Some(&items.len()) {
                    return None;
                }
                for it in items {
                    rec(it, depth + 1, shape, out)?;
                }
                Some(())
            }
            Value::Number(n) => {
                out.push(n.as_f64()?);
                Some(())
            }
            _ => None,
        }
    }
    let mut shape = Vec::new();
    let mut out = Vec::new();
    rec(v, 0, &mut shape, &mut out)?;
    Some((shape, out))
}

/// `max |got − want| / max(1, max |want|)`; NaN when `got` has a value that is not finite or
/// the lengths differ.
pub fn array_error(got: &[f64], want: &[f64]) -> f64 {
    if got.len() != want.len() || got.iter().any(|x| !x.is_finite()) {
        return f64::NAN;
    }
    let scale = want.iter().fold(1.0f64, |m, x| m.max(x.abs()));
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0f64, f64::max)
        / scale
}

/// `|got − want| / max(1, |want|)`; NaN when `got` is not finite.
pub fn scalar_error(got: f64, want: f64) -> f64 {
    if !got.is_finite() {
        return f64::NAN;
    }
    (got - want).abs() / want.abs().max(1.0)
}

/// Two parameter tensors, the shapes of the EMA case.
#[derive(Module, Debug)]
struct TwoParams {
    a: Param<Tensor<1>>,
    b: Param<Tensor<2>>,
}

/// One case being computed: its JSON, where and how, and the comparisons so far.
struct Case<'a> {
    json: &'a Value,
    name: String,
    device: &'a Device,
    dtype: DType,
    out: &'a mut Vec<Comparison>,
}

impl<'a> Case<'a> {
    fn malformed(&self, reason: impl Into<String>) -> VectorsError {
        VectorsError::Malformed {
            case: self.name.clone(),
            reason: reason.into(),
        }
    }

    /// The JSON at a path of keys under the case.
    fn at(&self, path: &[&str]) -> Result<&'a Value, VectorsError> {
        let mut v: &'a Value = self.json;
        for key in path {
            v = v
                .get(key)
                .ok_or_else(|| self.malformed(format!("no `{}`", path.join("."))))?;
        }
        Ok(v)
    }

    fn f64_at(&self, path: &[&str]) -> Result<f64, VectorsError> {
        self.at(path)?
            .as_f64()
            .ok_or_else(|| self.malformed(format!("`{}` is not a number", path.join("."))))
    }

    fn usize_at(&self, path: &[&str]) -> Result<usize, VectorsError> {
        self.at(path)?
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| self.malformed(format!("`{}` is not a count", path.join("."))))
    }

    fn flat_of(&self, v: &Value, what: &str) -> Result<(Vec<usize>, Vec<f64>), VectorsError> {
        flat(v).ok_or_else(|| self.malformed(format!("`{what}` is not a numeric array")))
    }

    fn tensor<const D: usize>(&self, v: &Value, what: &str) -> Result<Tensor<D>, VectorsError> {
        let (shape, vals) = self.flat_of(v, what)?;
        if shape.len() != D {
            return Err(self.malformed(format!("`{what}` has rank {}, not {D}", shape.len())));
        }
        let vals: Vec<f32> = vals.iter().map(|&x| x as f32).collect();
        Ok(Tensor::from_data(
            TensorData::new(vals, shape),
            (self.device, self.dtype),
        ))
    }

    /// A rank-2 input that requires a gradient.
    fn input(&self, key: &str) -> Result<Tensor<2>, VectorsError> {
        Ok(self
            .tensor::<2>(self.at(&["inputs", key])?, key)?
            .require_grad())
    }

    /// A list of rank-2 inputs, each requiring a gradient when `grad`.
    fn inputs(&self, key: &str, grad: bool) -> Result<Vec<Tensor<2>>, VectorsError> {
        let list = self
            .at(&["inputs", key])?
            .as_array()
            .ok_or_else(|| self.malformed(format!("`inputs.{key}` is not a list")))?;
        list.iter()
            .map(|m| {
                let t = self.tensor::<2>(m, key)?;
                Ok(if grad { t.require_grad() } else { t })
            })
            .collect()
    }

    fn values<const D: usize>(&self, t: &Tensor<D>, what: &str) -> Result<Vec<f64>, VectorsError> {
        t.to_data()
            .try_into_vec_as::<f32>()
            .map(|v| v.into_iter().map(f64::from).collect())
            .map_err(|e| VectorsError::Readback {
                case: self.name.clone(),
                what: what.into(),
                reason: format!("{e:?}"),
            })
    }

    fn push(&mut self, what: impl Into<String>, measure: Measure) {
        self.out.push(Comparison {
            case: self.name.clone(),
            what: what.into(),
            measure,
        });
    }

    /// A scalar loss against `expected.<key>`, and that it was computed in the case's dtype.
    fn scalar(&mut self, what: &str, got: &Tensor<1>, key: &str) -> Result<(), VectorsError> {
        let want = self.f64_at(&["expected", key])?;
        let v = self.values(got, what)?;
        let got_value = v.first().copied().unwrap_or(f64::NAN);
        self.push(what, Measure::Error(scalar_error(got_value, want)));
        if what == "loss" {
            let same = got.dtype() == self.dtype;
            self.push(
                format!("loss computed in {}", dtype_name(self.dtype)),
                Measure::Property(same),
            );
        }
        Ok(())
    }

    /// An array against the reference `want`.
    fn array<const D: usize>(
        &mut self,
        what: &str,
        got: &Tensor<D>,
        want: &Value,
    ) -> Result<(), VectorsError> {
        let (_, want) = self.flat_of(want, what)?;
        let got = self.values(got, what)?;
        self.push(what, Measure::Error(array_error(&got, &want)));
        Ok(())
    }

    /// The gradient of `x` against `want`; a failed property when there is none.
    fn grad<const D: usize>(
        &mut self,
        what: &str,
        x: &Tensor<D>,
        grads: &Gradients,
        want: &Value,
    ) -> Result<(), VectorsError> {
        let label = format!("grad.{what}");
        match x.grad(grads) {
            Some(g) => self.array(&label, &g, want),
            None => {
                self.push(format!("{label} exists"), Measure::Property(false));
                Ok(())
            }
        }
    }

    /// That no gradient reached `x` (a stop-gradient input).
    fn no_grad<const D: usize>(&mut self, what: &str, x: &Tensor<D>, grads: &Gradients) {
        self.push(
            format!("{what} is stop-gradient"),
            Measure::Property(x.grad(grads).is_none()),
        );
    }

    fn ntxent(&mut self) -> Result<(), VectorsError> {
        let t = self.f64_at(&["params", "temperature"])?;
        let out0 = self.input("out0")?;
        let out1 = self.input("out1")?;
        let l = loss::nt_xent(out0.clone(), out1.clone(), t);
        self.scalar("loss", &l, "loss")?;
        let grads = l.backward();
        self.grad(
            "out0",
            &out0,
            &grads,
            self.at(&["expected", "grad", "out0"])?,
        )?;
        self.grad(
            "out1",
            &out1,
            &grads,
            self.at(&["expected", "grad", "out1"])?,
        )
    }

    fn moco_v2(&mut self) -> Result<(), VectorsError> {
        let t = self.f64_at(&["params", "temperature"])?;
        let q = self.input("q")?;
        let k = self.input("k")?;
        let queue = self.input("queue")?;
        let (l, logits) = loss::info_nce_queue(q.clone(), k.clone(), queue.clone(), t);
        self.scalar("loss", &l, "loss")?;
        self.array("logits", &logits, self.at(&["expected", "logits"])?)?;
        let grads = l.backward();
        self.grad("q", &q, &grads, self.at(&["expected", "grad", "q"])?)?;
        self.no_grad("k", &k, &grads);
        self.no_grad("queue", &queue, &grads);
        // The queue update through the method's FIFO helper.
        let ptr = self.usize_at(&["params", "queue_ptr_before"])?;
        let keys = loss::l2_normalize(k.detach(), 1e-12);
        let (queue_after, ptr_after) = enqueue(queue.detach(), ptr, keys);
        self.array(
            "queue_after",
            &queue_after,
            self.at(&["expected", "queue_after"])?,
        )?;
        let want_ptr = self.usize_at(&["expected", "queue_ptr_after"])?;
        self.push(
            format!("queue_ptr_after = {want_ptr}"),
            Measure::Property(ptr_after == want_ptr),
        );
        Ok(())
    }

    fn negative_cosine(&mut self) -> Result<(), VectorsError> {
        let (p1, p2) = (self.input("p1")?, self.input("p2")?);
        let (z1, z2) = (self.input("z1")?, self.input("z2")?);
        let form = self
            .at(&["params", "form"])?
            .as_str()
            .ok_or_else(|| self.malformed("`params.form` is not text"))?;
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
            other => return Err(self.malformed(format!("unknown form `{other}`"))),
        };
        self.scalar("loss_12", &l12, "loss_12")?;
        self.scalar("loss_21", &l21, "loss_21")?;
        self.scalar("loss", &l, "loss")?;
        let grads = l.backward();
        self.grad("p1", &p1, &grads, self.at(&["expected", "grad", "p1"])?)?;
        self.grad("p2", &p2, &grads, self.at(&["expected", "grad", "p2"])?)?;
        self.no_grad("z1", &z1, &grads);
        self.no_grad("z2", &z2, &grads);
        Ok(())
    }

    fn barlow_twins(&mut self) -> Result<(), VectorsError> {
        let lambda = self.f64_at(&["params", "lambda"])?;
        let (za, zb) = (self.input("z_a")?, self.input("z_b")?);
        let (l, on, off) = loss::barlow_twins(za.clone(), zb.clone(), lambda);
        self.scalar("loss", &l, "loss")?;
        self.scalar("on_diag", &on, "on_diag")?;
        self.scalar("off_diag", &off, "off_diag")?;
        let cc = loss::barlow_cross_correlation(za.clone().detach(), zb.clone().detach());
        self.array(
            "cross_correlation",
            &cc,
            self.at(&["expected", "cross_correlation"])?,
        )?;
        let grads = l.backward();
        self.grad("z_a", &za, &grads, self.at(&["expected", "grad", "z_a"])?)?;
        self.grad("z_b", &zb, &grads, self.at(&["expected", "grad", "z_b"])?)
    }

    fn sinkhorn(&mut self) -> Result<(), VectorsError> {
        let scores = self.tensor::<2>(self.at(&["inputs", "scores"])?, "scores")?;
        let q = loss::sinkhorn(
            scores,
            self.usize_at(&["params", "iterations"])?,
            self.f64_at(&["params", "epsilon"])?,
        );
        self.array("q", &q, self.at(&["expected", "q"])?)?;
        let rows = q.clone().sum_dim(1);
        let cols = q.sum_dim(0);
        self.array("row_sums", &rows, self.at(&["expected", "row_sums"])?)?;
        self.array("col_sums", &cols, self.at(&["expected", "col_sums"])?)
    }

    fn swav(&mut self) -> Result<(), VectorsError> {
        let globals = self.inputs("global_scores", true)?;
        let locals = self.inputs("local_scores", true)?;
        let (l, codes) = loss::swav(
            &globals,
            &locals,
            self.f64_at(&["params", "temperature"])?,
            self.usize_at(&["params", "sinkhorn_iterations"])?,
            self.f64_at(&["params", "sinkhorn_epsilon"])?,
        );
        self.scalar("loss", &l, "loss")?;
        let want_codes = self.at(&["expected", "codes"])?;
        for (i, code) in codes.iter().enumerate() {
            let want = want_codes
                .get(i)
                .ok_or_else(|| self.malformed(format!("no `expected.codes[{i}]`")))?;
            self.array(&format!("codes[{i}]"), code, want)?;
        }
        let grads = l.backward();
        for (key, list) in [("global_scores", &globals), ("local_scores", &locals)] {
            let want = self.at(&["expected", "grad", key])?;
            for (i, g) in list.iter().enumerate() {
                let w = want
                    .get(i)
                    .ok_or_else(|| self.malformed(format!("no `expected.grad.{key}[{i}]`")))?;
                self.grad(&format!("{key}[{i}]"), g, &grads, w)?;
            }
        }
        Ok(())
    }

    fn dino(&mut self) -> Result<(), VectorsError> {
        let tt = self.f64_at(&["params", "teacher_temp"])?;
        let teacher = self.inputs("teacher_out", true)?;
        let student = self.inputs("student_out", true)?;
        let center = self.tensor::<1>(self.at(&["inputs", "center_before"])?, "center_before")?;
        let (l, center_after) = loss::dino(
            &teacher,
            &student,
            center.clone(),
            tt,
            self.f64_at(&["params", "student_temp"])?,
            self.f64_at(&["params", "center_momentum"])?,
        );
        self.scalar("loss", &l, "loss")?;
        let want_probs = self.at(&["expected", "teacher_probs"])?;
        for (g, t) in teacher.iter().enumerate() {
            let probs = loss::dino_teacher_probs(t.clone(), center.clone(), tt);
            let want = want_probs
                .get(g)
                .ok_or_else(|| self.malformed(format!("no `expected.teacher_probs[{g}]`")))?;
            self.array(&format!("teacher_probs[{g}]"), &probs, want)?;
        }
        self.array(
            "center_after",
            &center_after,
            self.at(&["expected", "center_after"])?,
        )?;
        let grads = l.backward();
        let want = self.at(&["expected", "grad", "student_out"])?;
        for (i, s) in student.iter().enumerate() {
            let w = want
                .get(i)
                .ok_or_else(|| self.malformed(format!("no `expected.grad.student_out[{i}]`")))?;
            self.grad(&format!("student_out[{i}]"), s, &grads, w)?;
        }
        for (g, t) in teacher.iter().enumerate() {
            self.no_grad(&format!("teacher_out[{g}]"), t, &grads);
        }
        Ok(())
    }

    fn ema(&mut self) -> Result<(), VectorsError> {
        if self.json["inputs"].get("online").is_some() {
            let tau = self.f64_at(&["params", "tau"])?;
            let make = |key: &str| -> Result<TwoParams, VectorsError> {
                let parts = self.at(&["inputs", key])?;
                let part = |i: usize| {
                    parts
                        .get(i)
                        .ok_or_else(|| self.malformed(format!("no `inputs.{key}[{i}]`")))
                };
                Ok(TwoParams {
                    a: Param::from_tensor(self.tensor::<1>(part(0)?, key)?),
                    b: Param::from_tensor(self.tensor::<2>(part(1)?, key)?),
                })
            };
            let online = make("online")?;
            let target = make("target")?;
            let after = ema_update(target, &online, tau);
            let want = self.at(&["expected", "target_after"])?;
            let part = |i: usize| {
                want.get(i)
                    .ok_or_else(|| self.malformed(format!("no `expected.target_after[{i}]`")))
            };
            let (w0, w1) = (part(0)?, part(1)?);
            self.array("target_after[0]", &after.a.val(), w0)?;
            self.array("target_after[1]", &after.b.val(), w1)?;
        } else {
            // The momentum schedule: plain f64 arithmetic, held to 1e-12 whatever the device.
            let max_steps = self.usize_at(&["params", "max_steps"])?;
            let start = self.f64_at(&["params", "start_value"])?;
            let end = self.f64_at(&["params", "end_value"])?;
            let (_, steps) = self.flat_of(self.at(&["inputs", "steps"])?, "inputs.steps")?;
            let (_, taus) = self.flat_of(self.at(&["expected", "tau"])?, "expected.tau")?;
            if steps.len() != taus.len() {
                return Err(self.malformed("`inputs.steps` and `expected.tau` differ in length"));
            }
            let worst = steps
                .iter()
                .zip(&taus)
                .map(|(&s, &want)| {
                    (cosine_momentum(s as usize, max_steps, start, end) - want).abs()
                })
                .fold(0.0f64, f64::max);
            self.push(
                "tau schedule within 1e-12",
                Measure::Property(worst <= 1e-12),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_reads_nested_arrays_and_refuses_ragged_ones() {
        let v: Value = serde_json::json!([[1.0, 2.0], [3.0, 4.5]]);
        assert_eq!(flat(&v), Some((vec![2, 2], vec![1.0, 2.0, 3.0, 4.5])));
        assert_eq!(flat(&serde_json::json!([[1.0], [2.0, 3.0]])), None);
        assert_eq!(flat(&serde_json::json!(["x"])), None);
    }

    #[test]
    fn errors_are_scaled_and_nan_for_non_finite_values() {
        assert_eq!(scalar_error(2.5, 2.0), 0.25);
        assert_eq!(scalar_error(0.1, 0.0), 0.1);
        assert!(scalar_error(f64::NAN, 1.0).is_nan());
        assert_eq!(array_error(&[1.0, 4.0], &[1.0, 2.0]), 1.0);
        assert!(array_error(&[1.0], &[1.0, 2.0]).is_nan());
        let c = Comparison {
            case: "c".into(),
            what: "loss".into(),
            measure: Measure::Error(f64::NAN),
        };
        assert!(!c.passes(1.0) && c.is_scalar());
    }
}
