//! Steps that run augmentation: `preview` grids and `offline_augment`
//! precomputation, plus the conversion of planned policy values into the
//! augmentation library's typed specs.

use super::decode::{self, Params};
use super::engine::{Engine, data_part, input};
use super::error::StepError;
use super::executor::{OutValue, StepCtx, StepOutput};
use super::store::OfflineFiles;
use crate::augment::{
    Context, Image, OfflineCache, OfflineStore, Policy, SampleDraw, ViewSpec, encode_png,
    make_views, zoomed_grid,
};
use crate::plan::{Step, Value};
use rayon::prelude::*;
use std::sync::Arc;

/// The store's offline results as the augmentation library's offline store.
struct StoreOffline(OfflineFiles);

impl OfflineStore for StoreOffline {
    fn get(&self, key: &[u8; 32]) -> Option<Vec<u8>> {
        self.0.get(key)
    }

    fn put(&self, key: &[u8; 32], value: &[u8]) {
        self.0.put(key, value);
    }
}

/// The store's offline results as an augmentation cache.
pub fn offline_cache(ctx: &StepCtx) -> OfflineCache {
    OfflineCache::new(Arc::new(StoreOffline(ctx.store.offline())))
}

/// A planned policy value (a list of op maps) as a typed policy.
pub fn policy_from_value(v: &Value) -> decode::Decoded<Policy> {
    decode::policy(v, "a policy")
}

/// Renders the first images of a data part through a policy: a grid PNG and the raw views.
pub fn preview(engine: &Engine, step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
    let data = input(step, "data")?;
    let (images, indices) = engine.data(ctx, &data, data_part(step)?)?;
    let decode::PreviewConfig {
        policy,
        count,
        cols,
        tile,
        epoch,
        seed,
    } = decode::preview_config(&Params::step(step))?;
    let cache = offline_cache(ctx);
    let specs = [ViewSpec::new(1, policy)];
    let chosen: Vec<usize> = indices.iter().take(count).copied().collect();
    if chosen.is_empty() {
        return Err(StepError::EmptyPart {
            part: "data".into(),
            what: "images",
        });
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
                    )?;
                    let draw = SampleDraw {
                        seed,
                        step_key: step.key.0,
                        epoch,
                        index: i as u64,
                    };
                    make_views(&img, &specs, &draw, cx)
                        .into_iter()
                        .next()
                        .ok_or_else(|| StepError::Inconsistent("no view was made".into()))
                })
            },
        )
        .collect::<Result<_, StepError>>()?;
    let mut batch = Vec::new();
    for v in &views {
        batch.extend_from_slice(v.data());
    }
    let mut out = StepOutput::default();
    out.outputs.insert(
        "grid".into(),
        OutValue::Bytes(encode_png(&zoomed_grid(&views, cols, tile, 2))?),
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
pub fn offline_augment(
    engine: &Engine,
    step: &Step,
    ctx: &StepCtx,
) -> Result<StepOutput, StepError> {
    let data = input(step, "data")?;
    let op = decode::offline_op(&Params::step(step).nested("op")?)?;
    // The deterministic ops that precede the offline op in the policy (planned only when
    // all of them always apply and draw nothing): the op is computed on their output,
    // which is what it sees when training.
    let before = policy_from_value(step.params.get("before").unwrap_or(&Value::Null))?;
    if before.items().iter().any(|i| !i.is_deterministic()) {
        return Err(StepError::Param(Params::step(step).invalid(
            "offline augmentation: an op before the offline op is random",
        )));
    }
    let (images, indices) = engine.data(ctx, &data, data_part(step)?)?;
    let cache = offline_cache(ctx);
    let tally = crate::notes::current();
    indices
        .par_iter()
        .try_for_each(|&i| -> Result<(), StepError> {
            crate::notes::within(&tally, || {
                if ctx.cancel.load(std::sync::atomic::Ordering::Relaxed) {
                    return Err(StepError::Interrupted);
                }
                let mut img = Image::from_hwc(
                    images.width,
                    images.height,
                    images.channels,
                    images.image(i),
                )?;
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
