//! Stage 1: every SSL loss and its input gradients on the device against the float64
//! reference vectors (`ssl_losses.json`), computed by [`crate::train::vectors`], the code
//! `tests/loss_vectors.rs` runs on the CPU.
//!
//! In f32 every value is held to 1e-5 relative (the vectors' README); in f16 and bf16 to the
//! looser [`tolerance`]s, a precision the device does not support being recorded as skipped
//! with the reason, never as passed.

use super::{Context, StageBody, StageError, Status, num};
use crate::train::vectors::{self, Comparison, Family, LossVectors, Measure};
use burn::tensor::DType;
use serde_json::{Map, Value, json};

use crate::train::vectors::tolerance;

/// The precisions checked, in order.
const PRECISIONS: [DType; 3] = [DType::F32, DType::F16, DType::BF16];

/// One comparison as JSON.
fn comparison_json(c: &Comparison, tol: f64) -> Value {
    match c.measure {
        Measure::Error(e) => json!({
            "case": c.case, "what": c.what, "error": num(e), "pass": c.passes(tol),
        }),
        Measure::Property(holds) => json!({
            "case": c.case, "what": c.what, "holds": holds, "pass": holds,
        }),
    }
}

/// Computes every family in one precision: its JSON and whether it passed.
fn precision(
    ctx: &Context,
    vectors: &LossVectors,
    dtype: DType,
    name: &str,
) -> Result<(Value, Status, f64), StageError> {
    let tol = tolerance(dtype);
    if !ctx.device.supports_dtype(dtype) {
        let reason = format!("{} does not support {name}", ctx.choice);
        return Ok((
            json!({ "dtype": name, "status": "skipped", "reason": reason, "tolerance": tol }),
            Status::Skipped,
            0.0,
        ));
    }
    let mut families = Vec::new();
    let mut all_pass = true;
    let (mut compared, mut failed) = (0usize, 0usize);
    let mut worst: Option<(f64, &Comparison)> = None;
    let mut found_all = Vec::new();
    for family in Family::ALL {
        found_all.push((family, vectors.compute(family, &ctx.device, dtype)?));
    }
    for (family, found) in &found_all {
        let pass = found.iter().all(|c| c.passes(tol));
        all_pass &= pass;
        compared += found.len();
        failed += found.iter().filter(|c| !c.passes(tol)).count();
        let mut family_worst = 0.0f64;
        for c in found {
            if let Measure::Error(e) = c.measure {
                let e = if e.is_nan() { f64::INFINITY } else { e };
                family_worst = family_worst.max(e);
                if worst.is_none_or(|(w, _)| e > w) {
                    worst = Some((e, c));
                }
            }
        }
        families.push(json!({
            "family": family.key(),
            "status": Status::of(pass).as_str(),
            "worst_error": num(family_worst),
            "comparisons": found.iter().map(|c| comparison_json(c, tol)).collect::<Vec<_>>(),
        }));
    }
    let worst_error = worst.map_or(0.0, |(e, _)| e);
    let status = Status::of(all_pass);
    let mut out = json!({
        "dtype": name,
        "status": status.as_str(),
        "tolerance": tol,
        "compared": compared,
        "failed": failed,
        "worst": worst.map(|(e, c)| json!({ "case": c.case, "what": c.what, "error": num(e) })),
        "families": families,
    });
    if dtype == DType::F32 && !ctx.same_device() {
        out["note"] = json!(
            "on CUDA, burn's matmul autotuner may choose TF32 tensor-core kernels for f32 \
             inputs (10-bit mantissa): errors near 1e-3 on matmul-heavy values (logits, \
             NT-Xent) rather than near 1e-7 point to TF32, not to a wrong kernel"
        );
    }
    Ok((out, status, worst_error))
}

/// Runs stage 1.
pub(crate) fn run(ctx: &Context) -> Result<StageBody, StageError> {
    let path = ctx.inputs.join(vectors::FILE_NAME);
    let vectors = LossVectors::read(&path)?;
    let mut precisions = Vec::new();
    let mut statuses = Vec::new();
    let mut headline = Vec::new();
    for dtype in PRECISIONS {
        let name = vectors::dtype_name(dtype);
        let (json, status, worst) = precision(ctx, &vectors, dtype, name)?;
        headline.push(match status {
            Status::Skipped => format!("{name} skipped"),
            _ => format!(
                "{name} {status}: worst {worst:.1e} (tolerance {:.0e})",
                tolerance(dtype)
            ),
        });
        statuses.push(status);
        precisions.push(json);
    }
    let status = Status::of(!statuses.contains(&Status::Fail));
    let mut fields = Map::new();
    fields.insert("vectors".into(), json!(path.display().to_string()));
    fields.insert("format".into(), json!(vectors.format()));
    fields.insert(
        "measure".into(),
        json!(
            "scalars |Δ|/max(1,|expected|); arrays max|Δ|/max(1,max|expected|) element-wise; \
             properties (stop-gradients, queue pointer, dtype of the loss) hold or not"
        ),
    );
    fields.insert("precisions".into(), Value::Array(precisions));
    Ok(StageBody {
        status,
        headline: headline.join(", "),
        fields,
    })
}
