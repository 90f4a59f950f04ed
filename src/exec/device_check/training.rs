//! Stage 3: the first steps of the quickstart's SimCLR run (`examples/quickstart.sslp`,
//! embedded in the binary) on the device, beside the same steps on the CPU.
//!
//! The recipe is the quickstart's own: the file is checked and planned, and its `pretrain`
//! step's backbone, method, views, optimiser, schedule and seed are decoded as `sslp run`
//! decodes them; its data are the synthetic shapes of the file's split. Both runs start from
//! the same weights (drawn on the CPU from the seed) and get the same batches (made once per
//! step by the pretrain step's own batch maker); each step is the trainer's step
//! ([`train_step`]). Compared, as `|device − cpu| / |cpu|` of each step's loss: the first
//! step's (within [`FIRST_LOSS_TOLERANCE`]), the first [`EARLY_STEPS`] (within [`EARLY_BAND`])
//! and every step's (within [`BAND`]).
//!
//! Why two bands: training amplifies rounding differences chaotically. Calibrated on the CPU
//! by perturbing the device run's inputs by 1e-7 to 0.3 relative, per-step differences reached
//! 0.9e-2 to 2.2e-2 within 50 steps, yet stayed below 1e-4 for the first five steps (below
//! 3e-3 at 0.3); a device run whose gradients were 0.8× too small left the early band at the
//! fourth step (2e-3), and one that did not learn at all left the whole band (6.7e-2). The
//! late band therefore only catches a device that trains grossly wrong; the early band is
//! the sharp one.

use super::{Context, Profile, StageBody, StageError, Status, num};
use crate::augment::{MemoryOfflineStore, OfflineCache};
use crate::data::ImageSet;
use crate::exec::decode::{self, Params, PretrainConfig};
use crate::exec::engine::{data_part, dataset_spec, seed_of};
use crate::exec::train_steps::{Normalization, view_batches};
use crate::lang::{self, NoImports};
use crate::plan::{self, Key, Plan, Step, StepKind};
use crate::train::method::Progress;
use crate::train::precision::{Amp, Precision};
use crate::train::trainer::{BatchSource, init_seeded, init_seeded_on_cpu, train_step};
use burn::tensor::{Device, Tensor, TensorData};
use serde_json::{Map, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// The quickstart pipeline, as shipped.
const QUICKSTART: &str = include_str!("../../../examples/quickstart.sslp");

/// Its name in messages.
const QUICKSTART_NAME: &str = "examples/quickstart.sslp";

/// Relative tolerance of the first step's loss (same weights, same batch: only rounding).
pub const FIRST_LOSS_TOLERANCE: f64 = 1e-4;

/// Relative band every step's loss must stay in (`|device − cpu| / |cpu|`).
pub const BAND: f64 = 5e-2;

/// The first steps, before rounding differences have grown, held to [`EARLY_BAND`].
pub const EARLY_STEPS: usize = 5;

/// Relative band of the first [`EARLY_STEPS`] losses.
pub const EARLY_BAND: f64 = 1e-3;

/// Training steps compared (the same in both profiles: a few seconds on a CPU).
const STEPS: usize = 50;

fn recipe_error(reason: impl Into<String>) -> StageError {
    StageError::Recipe {
        reason: reason.into(),
    }
}

/// The images and indices behind the data input `key` (a dataset, or a part of a split).
fn load_part(
    plan: &Plan,
    key: Key,
    part: Option<&str>,
) -> Result<(Arc<ImageSet>, Vec<usize>), StageError> {
    let step = plan
        .steps
        .iter()
        .find(|s| s.key == key)
        .ok_or_else(|| recipe_error(format!("no step {}", key.short())))?;
    match step.kind {
        StepKind::Dataset => {
            let spec = dataset_spec(&step.params)?;
            let images = crate::data::spec::load(&spec, Path::new("."))?;
            let all = (0..images.len()).collect();
            Ok((Arc::new(images), all))
        }
        StepKind::Split => {
            let upstream = *step
                .inputs
                .get("data")
                .ok_or_else(|| recipe_error("a split without data"))?;
            let (images, indices) = load_part(plan, upstream, data_part(step)?)?;
            let labels: Vec<i32> = indices.iter().map(|&i| images.labels[i]).collect();
            let spec = decode::split_spec(&Params::step(step))?;
            let parts = crate::data::split::split(&labels, &spec, seed_of(step)?)?;
            let chosen = match part {
                Some("train") => parts.train,
                Some("test") => parts.test,
                Some("val") => parts.val,
                other => return Err(recipe_error(format!("no split part {other:?}"))),
            };
            Ok((images, chosen.iter().map(|&p| indices[p]).collect()))
        }
        other => Err(recipe_error(format!(
            "pretraining data from a `{other}` step"
        ))),
    }
}

/// The quickstart's pretrain step, its configuration and its data.
struct Recipe {
    step: Step,
    config: PretrainConfig,
    images: Arc<ImageSet>,
    indices: Vec<usize>,
}

/// Checks and plans the embedded quickstart and decodes its pretraining.
fn recipe() -> Result<Recipe, StageError> {
    let checked = lang::check_source(QUICKSTART_NAME, "quickstart", QUICKSTART, &mut NoImports);
    let program = checked
        .program
        .ok_or_else(|| recipe_error("the file does not check"))?;
    let (plan, _) = plan::plan(&program);
    let plan = plan.ok_or_else(|| recipe_error("the file does not plan"))?;
    let step = plan
        .steps
        .iter()
        .find(|s| s.kind == StepKind::Pretrain)
        .ok_or_else(|| recipe_error("no pretrain step"))?
        .clone();
    let data = *step
        .inputs
        .get("data")
        .ok_or_else(|| recipe_error("the pretrain step has no data"))?;
    let (images, indices) = load_part(&plan, data, data_part(&step)?)?;
    let side = images.width.min(images.height) as usize;
    let config = decode::pretrain_config(&Params::step(&step), side)?;
    Ok(Recipe {
        step,
        config,
        images,
        indices,
    })
}

/// Steps of each mixed-precision run in the small profile (f16 and bf16 are several times
/// slower than f32 on the CPU); the full profile runs all [`STEPS`].
const AMP_STEPS_SMALL: usize = 10;

/// Relative tolerance of a mixed-precision run's first loss against the CPU's f32 loss.
/// On the CPU the first losses differ by 1.0e-5 (f16) and 3.7e-5 (bf16); these allow the
/// formats' own rounding (unit roundoff 4.9e-4 for f16, 3.9e-3 for bf16) on every layer.
fn amp_first_tolerance(precision: Precision) -> f64 {
    match precision {
        Precision::Bf16 => 5e-3,
        _ => 1e-3,
    }
}

/// Relative band every step of a mixed-precision run must stay in: the f32 comparison's
/// [`BAND`] (on the CPU, 10 steps stay within 4.5e-4 in f16 and 1.8e-3 in bf16; gradients
/// left scaled, or never unscaled, leave it within a few steps).
const AMP_BAND: f64 = BAND;

/// One mixed-precision run of the stage: its losses against the CPU's, or why it was skipped.
struct MixedRun {
    precision: Precision,
    losses: Vec<f64>,
    first: f64,
    worst: f64,
    pass: Option<bool>,
    skipped_reason: Option<String>,
    scaler: Option<crate::train::precision::LossScaler>,
}

impl MixedRun {
    fn json(&self) -> serde_json::Value {
        match &self.skipped_reason {
            Some(reason) => json!({
                "precision": self.precision.name(),
                "status": "skipped",
                "reason": reason,
            }),
            None => json!({
                "precision": self.precision.name(),
                "status": if self.pass == Some(true) { "pass" } else { "fail" },
                "first_loss_relative_difference": num(self.first),
                "first_loss_tolerance": amp_first_tolerance(self.precision),
                "max_relative_difference": num(self.worst),
                "band_relative": AMP_BAND,
                "losses": self.losses,
                "loss_scale": self.scaler.as_ref().map(|s| s.scale),
                "skipped_steps": self.scaler.as_ref().map(|s| s.skipped),
            }),
        }
    }

    fn headline(&self) -> String {
        match &self.skipped_reason {
            Some(_) => format!("{} skipped", self.precision.name()),
            None => format!(
                "{} first Δ {:.1e}, all within {:.1e}",
                self.precision.name(),
                self.first,
                self.worst
            ),
        }
    }
}

/// Trains the first `batches.len()` steps on the device in `precision` from the stage's
/// initial weights, and compares each loss with the CPU's f32 loss of the same step.
fn mixed_run(
    ctx: &Context,
    config: &PretrainConfig,
    precision: Precision,
    batches: &[Vec<TensorData>],
    cpu_losses: &[f64],
    (per_epoch, total, base_lr): (usize, usize, f64),
) -> Result<MixedRun, StageError> {
    let mut run = MixedRun {
        precision,
        losses: vec![],
        first: f64::NAN,
        worst: f64::NAN,
        pass: None,
        skipped_reason: None,
        scaler: None,
    };
    if let Some(dtype) = precision.compute_dtype()
        && !ctx.device.supports_dtype(dtype)
    {
        run.skipped_reason = Some(format!("the device cannot compute in {}", precision.name()));
        return Ok(run);
    }
    let (mut student, mut method) = init_seeded_on_cpu(
        config.method.clone(),
        &config.backbone,
        &ctx.device,
        config.seed,
    )?;
    let mut optim = config
        .optimizer
        .build(config.grad_clip.or(method.grad_clip()));
    let mut amp = Amp::new(precision);
    for (s, views) in batches.iter().enumerate() {
        let (at, index, lr) = step_at(config, s, (per_epoch, total, base_lr));
        let loss;
        (student, loss) = train_step(
            student,
            &mut method,
            &mut optim,
            &on(&ctx.device, views),
            at,
            index,
            lr,
            &mut amp,
        )?;
        run.losses.push(loss);
    }
    let diffs = relative_differences(&run.losses, cpu_losses);
    run.first = diffs.first().copied().unwrap_or(f64::NAN);
    run.worst = diffs.iter().copied().fold(0.0, f64::max);
    run.pass = Some(
        !diffs.is_empty()
            && run.first <= amp_first_tolerance(precision)
            && diffs.iter().all(|d| *d <= AMP_BAND),
    );
    run.scaler = amp.scaler;
    Ok(run)
}

/// Where global step `s` of the recipe's run is: its progress, its batch within the epoch and
/// its learning rate.
fn step_at(
    config: &PretrainConfig,
    s: usize,
    (per_epoch, total, base_lr): (usize, usize, f64),
) -> (Progress, usize, f64) {
    let at = Progress {
        epoch: s / per_epoch,
        epochs: config.epochs,
        step: s,
        total_steps: total,
    };
    let lr = config.schedule.lr_at(base_lr, s, per_epoch, total);
    (at, s % per_epoch, lr)
}

/// `|device − cpu| / |cpu|` of each step's loss.
fn relative_differences(device: &[f64], cpu: &[f64]) -> Vec<f64> {
    device
        .iter()
        .zip(cpu)
        .map(|(&d, &c)| (d - c).abs() / c.abs().max(f64::MIN_POSITIVE))
        .collect()
}

/// The views of one batch as tensors on `device`.
fn on(device: &Device, views: &[TensorData]) -> Vec<Tensor<4>> {
    views
        .iter()
        .map(|d| Tensor::from_data(d.clone(), device))
        .collect()
}

/// Runs stage 3.
pub(crate) fn run(ctx: &Context) -> Result<StageBody, StageError> {
    let began = Instant::now();
    let Recipe {
        step,
        config,
        images,
        indices,
    } = recipe()?;
    let images_used = indices.len();
    let norm = Normalization::for_training(config.normalize, &images, &indices);
    let source = view_batches(
        images,
        indices,
        config.views.clone(),
        config.seed,
        step.key,
        config.batch,
        norm,
        OfflineCache::new(Arc::new(MemoryOfflineStore::new())),
    );
    let per_epoch = source.batches_per_epoch();
    if per_epoch == 0 {
        return Err(recipe_error("fewer images than one batch"));
    }
    let total = per_epoch * config.epochs;
    let steps = STEPS.min(total);
    let base_lr = config
        .lr_scaling
        .apply(config.optimizer.base_lr(), config.batch);
    let (mut dev_student, mut dev_method) = init_seeded_on_cpu(
        config.method.clone(),
        &config.backbone,
        &ctx.device,
        config.seed,
    )?;
    let (mut cpu_student, mut cpu_method) = init_seeded(
        config.method.clone(),
        &config.backbone,
        &ctx.reference,
        config.seed,
    )?;
    let clip = config.grad_clip.or(dev_method.grad_clip());
    let mut dev_optim = config.optimizer.build(clip);
    let mut cpu_optim = config.optimizer.build(clip);
    // Both sides in f32: this stage compares the device's arithmetic with the CPU's.
    let mut dev_amp = Amp::new(Precision::F32);
    let mut cpu_amp = Amp::new(Precision::F32);
    let setup_seconds = began.elapsed().as_secs_f64();
    let amp_steps = match ctx.profile {
        Profile::Small => AMP_STEPS_SMALL,
        Profile::Full => steps,
    }
    .min(steps);
    let mut batches: Vec<Vec<TensorData>> = Vec::with_capacity(amp_steps);
    let (mut dev_losses, mut cpu_losses) = (Vec::new(), Vec::new());
    let (mut dev_seconds, mut cpu_seconds, mut batch_seconds) = (0.0, 0.0, 0.0);
    for s in 0..steps {
        let (epoch, index) = (s / per_epoch, s % per_epoch);
        let t = Instant::now();
        let views = source.batch(epoch, index)?;
        batch_seconds += t.elapsed().as_secs_f64();
        if s < amp_steps {
            batches.push(views.clone());
        }
        let (at, _, lr) = step_at(&config, s, (per_epoch, total, base_lr));
        let t = Instant::now();
        let loss;
        (dev_student, loss) = train_step(
            dev_student,
            &mut dev_method,
            &mut dev_optim,
            &on(&ctx.device, &views),
            at,
            index,
            lr,
            &mut dev_amp,
        )?;
        dev_losses.push(loss);
        dev_seconds += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let loss;
        (cpu_student, loss) = train_step(
            cpu_student,
            &mut cpu_method,
            &mut cpu_optim,
            &on(&ctx.reference, &views),
            at,
            index,
            lr,
            &mut cpu_amp,
        )?;
        cpu_losses.push(loss);
        cpu_seconds += t.elapsed().as_secs_f64();
    }
    let diffs = relative_differences(&dev_losses, &cpu_losses);
    let first = diffs.first().copied().unwrap_or(f64::NAN);
    let (worst_step, worst) = diffs.iter().copied().enumerate().fold(
        (0, 0.0f64),
        |(i, m), (j, x)| if x > m { (j, x) } else { (i, m) },
    );
    let mean = diffs.iter().sum::<f64>() / diffs.len().max(1) as f64;
    let early = diffs
        .iter()
        .take(EARLY_STEPS)
        .copied()
        .fold(0.0f64, f64::max);
    let amp_began = Instant::now();
    let mixed: Vec<MixedRun> = [Precision::Bf16, Precision::F16]
        .into_iter()
        .map(|precision| {
            mixed_run(
                ctx,
                &config,
                precision,
                &batches,
                &cpu_losses,
                (per_epoch, total, base_lr),
            )
        })
        .collect::<Result<_, _>>()?;
    let amp_seconds = amp_began.elapsed().as_secs_f64();
    let mixed_ok = mixed.iter().all(|m| m.pass != Some(false));
    let first_ok = first <= FIRST_LOSS_TOLERANCE;
    let early_ok = !diffs.is_empty() && diffs.iter().take(EARLY_STEPS).all(|d| *d <= EARLY_BAND);
    let band_ok = !diffs.is_empty() && diffs.iter().all(|d| *d <= BAND);
    let status = Status::of(first_ok && early_ok && band_ok && mixed_ok);
    let mut fields = Map::new();
    fields.insert(
        "recipe".into(),
        json!({
            "source": format!("{QUICKSTART_NAME} (embedded in the binary)"),
            "pretrain": step.decl,
            "backbone": format!("{:?}", config.backbone),
            "method": format!("{:?}", config.method),
            "batch": config.batch,
            "images": images_used,
            "seed": config.seed,
            "precision": if config.precision.is_empty() { "f32" } else { config.precision.as_str() },
            "optimizer": format!("{:?}", config.optimizer),
            "schedule": format!("{:?}", config.schedule),
            "base_lr": base_lr,
            "run_steps": total,
        }),
    );
    fields.insert("steps".into(), json!(steps));
    fields.insert(
        "tolerance".into(),
        json!({
            "first_loss_relative": FIRST_LOSS_TOLERANCE,
            "early_steps": EARLY_STEPS,
            "early_band_relative": EARLY_BAND,
            "band_relative": BAND,
            "measure": "|device − cpu| / |cpu| of each step's loss",
        }),
    );
    fields.insert(
        "first_loss".into(),
        json!({
            "device": num(dev_losses.first().copied().unwrap_or(f64::NAN)),
            "reference": num(cpu_losses.first().copied().unwrap_or(f64::NAN)),
            "relative_difference": num(first),
            "pass": first_ok,
        }),
    );
    fields.insert(
        "curve".into(),
        json!({
            "early_max_relative_difference": num(early),
            "early_pass": early_ok,
            "max_relative_difference": num(worst),
            "at_step": worst_step,
            "mean_relative_difference": num(mean),
            "pass": band_ok,
        }),
    );
    fields.insert(
        "mixed_precision".into(),
        json!({
            "what": "the same first steps on the device in mixed precision (f32 weights; \
                     convolutions and linear layers in bf16 or f16; f16 with loss scaling), \
                     against the CPU's f32 losses",
            "steps": amp_steps,
            "seconds": amp_seconds,
            "runs": mixed.iter().map(MixedRun::json).collect::<Vec<_>>(),
            "pass": mixed_ok,
        }),
    );
    fields.insert("device_losses".into(), json!(dev_losses));
    fields.insert("reference_losses".into(), json!(cpu_losses));
    fields.insert(
        "timing".into(),
        json!({
            "setup_seconds": setup_seconds,
            "batch_seconds": batch_seconds,
            "device_seconds": dev_seconds,
            "reference_seconds": cpu_seconds,
        }),
    );
    let headline = format!(
        "{steps} steps: first loss {:.6} vs {:.6} (Δ {first:.1e}), first {EARLY_STEPS} within \
         {early:.1e} (band {EARLY_BAND:.0e}), all within {worst:.1e} (band {BAND:.0e}); {}",
        dev_losses.first().copied().unwrap_or(f64::NAN),
        cpu_losses.first().copied().unwrap_or(f64::NAN),
        mixed
            .iter()
            .map(MixedRun::headline)
            .collect::<Vec<_>>()
            .join(", "),
    );
    Ok(StageBody {
        status,
        headline,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_quickstart_gives_a_simclr_recipe_on_its_train_part() {
        let r = recipe().expect("the quickstart plans");
        assert_eq!(r.config.method.name(), "simclr");
        assert_eq!(r.indices.len(), 2000);
        assert_eq!(r.config.batch, 128);
        let views: u32 = r.config.views.iter().map(|v| v.count).sum();
        assert_eq!(views, 2);
    }
}
