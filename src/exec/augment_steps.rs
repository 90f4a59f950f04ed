//! Steps that run augmentation: `preview` grids and `offline_augment`
//! precomputation, plus the conversion of planned policy values into the
//! augmentation library's typed specs.

use super::executor::{OutValue, StepCtx, StepOutput};
use super::runner::{Engine, seed_of};
use crate::augment::{
    Context, Image, OfflineCache, OfflineOp, OfflineStore, Op, Policy, PolicyItem, SampleDraw,
    ViewSpec, encode_png, grid, make_views,
};
use crate::plan::{Step, Value};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The store's offline tree as the augmentation library's offline store.
struct StoreOffline(sled::Tree);

impl OfflineStore for StoreOffline {
    fn get(&self, key: &[u8; 32]) -> Option<Vec<u8>> {
        self.0.get(key).ok().flatten().map(|v| v.to_vec())
    }

    fn put(&self, key: &[u8; 32], value: &[u8]) {
        let _ = self.0.insert(key, value);
    }
}

/// The store's offline results as an augmentation cache.
pub fn offline_cache(ctx: &StepCtx) -> OfflineCache {
    OfflineCache::new(Arc::new(StoreOffline(ctx.store.offline_tree())))
}

fn pair(v: Option<&Value>, default: (f64, f64)) -> (f64, f64) {
    match v {
        Some(Value::List(xs)) if xs.len() == 2 => (
            xs[0].as_f64().unwrap_or(default.0),
            xs[1].as_f64().unwrap_or(default.1),
        ),
        _ => default,
    }
}

fn num(m: &BTreeMap<String, Value>, k: &str, default: f64) -> f64 {
    m.get(k).and_then(Value::as_f64).unwrap_or(default)
}

/// The offline op a planned op map describes.
pub fn offline_op(m: &BTreeMap<String, Value>) -> Result<Arc<dyn OfflineOp>, String> {
    use crate::augment::saliency_op::{Method, Render, SaliencyCutOp};
    use crate::saliency::rc::Variant;
    let word = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("");
    match m.get("type").and_then(Value::as_str) {
        Some("saliency_cut") => Ok(Arc::new(SaliencyCutOp {
            method: if word("method") == "hc" {
                Method::Hc
            } else {
                Method::Rc
            },
            variant: if word("variant") == "cvpr2011" {
                Variant::Cvpr2011
            } else {
                Variant::Tpami
            },
            threshold: num(m, "threshold", 70.0).clamp(0.0, 255.0) as u8,
            iterations: num(m, "iterations", 4.0).max(1.0) as usize,
            scale: num(m, "scale", 1.0),
            render: match word("render") {
                "swap" => Render::Swap,
                "mask" => Render::Mask,
                _ => Render::Palette,
            },
        })),
        other => Err(format!("`{}` is not an offline op", other.unwrap_or("?"))),
    }
}

/// One planned op map (`{type, p, ...}`) as a policy item.
fn item(v: &Value) -> Result<Option<PolicyItem>, String> {
    let m = v.as_map().ok_or("a policy item is not an op")?;
    let p = num(m, "p", 1.0);
    let name = m.get("type").and_then(Value::as_str).unwrap_or("");
    let op = match name {
        "random_resized_crop" => Op::RandomResizedCrop {
            size: m.get("size").and_then(Value::as_f64).map(|s| s as u32),
            scale: pair(m.get("scale"), (0.08, 1.0)),
            ratio: pair(m.get("ratio"), crate::augment::DEFAULT_RATIO),
        },
        "rotate" => Op::Rotate {
            degrees: num(m, "degrees", 30.0),
        },
        "horizontal_flip" => Op::HorizontalFlip,
        "vertical_flip" => Op::VerticalFlip,
        "color_jitter" => Op::ColorJitter {
            brightness: num(m, "brightness", 0.4),
            contrast: num(m, "contrast", 0.4),
            saturation: num(m, "saturation", 0.4),
            hue: num(m, "hue", 0.1),
        },
        "grayscale" => Op::Grayscale,
        "gaussian_blur" => Op::GaussianBlur {
            kernel: num(m, "kernel", 3.0) as u32,
            sigma: pair(m.get("sigma"), (0.1, 2.0)),
        },
        "solarize" => Op::Solarize {
            threshold: num(m, "threshold", 0.5),
        },
        // Normalisation turns pixels into model inputs; it happens when a batch
        // is fed to the network, not on the 8-bit images a policy transforms.
        "normalize" => return Ok(None),
        "one_of" => {
            let choices = match m.get("choices") {
                Some(Value::List(xs)) => xs.iter().map(item).collect::<Result<Vec<_>, _>>()?,
                _ => vec![],
            };
            let weights = match m.get("weights") {
                Some(Value::List(ws)) => ws.iter().filter_map(Value::as_f64).collect(),
                _ => vec![],
            };
            Op::OneOf {
                choices: choices.into_iter().flatten().collect(),
                weights,
            }
        }
        _ => Op::Offline(offline_op(m)?),
    };
    Ok(Some(PolicyItem::new(op, p)))
}

/// A planned policy value (a list of op maps) as a typed policy.
pub fn policy_from_value(v: &Value) -> Result<Policy, String> {
    let items = match v {
        Value::List(xs) => xs.iter().map(item).collect::<Result<Vec<_>, _>>()?,
        Value::Null => vec![],
        _ => return Err("a policy must be a list of ops".into()),
    };
    Policy::new(items.into_iter().flatten().collect()).map_err(|e| e.to_string())
}

/// Renders the first images of a data part through a policy: a grid PNG and the raw views.
pub fn preview(engine: &Engine, step: &Step, ctx: &StepCtx) -> Result<StepOutput, String> {
    let data = *step.inputs.get("data").ok_or("a preview needs `data`")?;
    let part = step.params.get("data_part").and_then(Value::as_str);
    let (images, indices) = engine.data(ctx, &data, part)?;
    let policy = policy_from_value(step.params.get("policy").unwrap_or(&Value::Null))?;
    let count = step
        .params
        .get("count")
        .and_then(Value::as_f64)
        .unwrap_or(40.0) as usize;
    let cols = step
        .params
        .get("cols")
        .and_then(Value::as_f64)
        .unwrap_or(8.0)
        .max(1.0) as u32;
    let epoch = step
        .params
        .get("epoch")
        .and_then(Value::as_f64)
        .unwrap_or(0.0) as u32;
    let seed = seed_of(step);
    let cache = offline_cache(ctx);
    let specs = [ViewSpec::new(1, policy)];
    let chosen: Vec<usize> = indices.iter().take(count).copied().collect();
    if chosen.is_empty() {
        return Err("the data part has no images".into());
    }
    let tally = crate::notes::current();
    let views: Vec<Image> = chosen
        .par_iter()
        .map_init(
            || Context::new(Some(&cache)),
            |cx, &i| {
                crate::notes::within(&tally, || {
                    let img = Image::from_hwc(
                        images.width,
                        images.height,
                        images.channels,
                        images.image(i),
                    )
                    .map_err(|e| e.to_string())?;
                    let draw = SampleDraw {
                        seed,
                        step_key: step.key.0,
                        epoch,
                        index: i as u64,
                    };
                    make_views(&img, &specs, &draw, cx)
                        .into_iter()
                        .next()
                        .ok_or_else(|| "no view was made".to_string())
                })
            },
        )
        .collect::<Result<_, String>>()?;
    let mut batch = Vec::new();
    for v in &views {
        batch.extend_from_slice(v.data());
    }
    let mut out = StepOutput::default();
    out.outputs.insert(
        "grid".into(),
        OutValue::Bytes(encode_png(&grid(&views, cols, 2)).map_err(|e| e.to_string())?),
    );
    out.outputs.insert("batch".into(), OutValue::Bytes(batch));
    out.outputs.insert(
        "summary".into(),
        OutValue::Inline(serde_json::json!({
            "images": views.len(),
            "view_sizes": views.iter().map(|v| [v.width(), v.height()]).collect::<Vec<_>>(),
            "indices": chosen,
        })),
    );
    out.metrics.insert("images".into(), views.len() as f64);
    let stats = cache.stats();
    out.metrics
        .insert("offline_computed".into(), stats.computes as f64);
    out.metrics
        .insert("offline_reused".into(), stats.hits as f64);
    Ok(out)
}

/// Computes an offline op for every image of a data part, into the store's offline cache.
pub fn offline_augment(engine: &Engine, step: &Step, ctx: &StepCtx) -> Result<StepOutput, String> {
    let data = *step
        .inputs
        .get("data")
        .ok_or("offline augmentation needs `data`")?;
    let part = step.params.get("data_part").and_then(Value::as_str);
    let op_map = step
        .params
        .get("op")
        .and_then(Value::as_map)
        .ok_or("offline augmentation needs `op`")?;
    let op = offline_op(op_map)?;
    // The deterministic ops that precede the offline op in the policy (planned only when
    // all of them always apply and draw nothing): the op is computed on their output,
    // which is what it sees when training.
    let before = policy_from_value(step.params.get("before").unwrap_or(&Value::Null))?;
    if before.items().iter().any(|i| !i.is_deterministic()) {
        return Err("offline augmentation: an op before the offline op is random".into());
    }
    let (images, indices) = engine.data(ctx, &data, part)?;
    let cache = offline_cache(ctx);
    let tally = crate::notes::current();
    indices
        .par_iter()
        .try_for_each(|&i| -> Result<(), String> {
            crate::notes::within(&tally, || {
                if ctx.cancel.load(std::sync::atomic::Ordering::Relaxed) {
                    return Err("interrupted".into());
                }
                let mut img = Image::from_hwc(
                    images.width,
                    images.height,
                    images.channels,
                    images.image(i),
                )
                .map_err(|e| e.to_string())?;
                if !before.items().is_empty() {
                    let mut rng = crate::augment::rng_for(0, &[0; 32], 0, i as u64, 0);
                    before.apply_in_place(&mut img, &mut rng, &mut Context::new(None));
                }
                cache.get_or_compute(&img, op.as_ref());
                Ok(())
            })
        })?;
    let stats = cache.stats();
    let mut out = StepOutput::default();
    out.metrics.insert("images".into(), indices.len() as f64);
    out.metrics.insert("computed".into(), stats.computes as f64);
    out.metrics.insert("reused".into(), stats.hits as f64);
    Ok(out)
}
