//! Data step kinds: `dataset`, `split` and `label_subset`.

use super::decode::{self, Params};
use super::engine::{Engine, data_part, dataset_spec, input, seed_of};
use super::error::StepError;
use super::executor::{OutValue, StepCtx, StepOutput};
use crate::data::spec as dspec;
use crate::data::split as splits;
use crate::plan::{Fingerprint, Step};

fn inline(value: serde_json::Value) -> OutValue {
    OutValue::Inline(value)
}

/// `dataset`: loads (or generates) the images; refuses a dataset whose files were not fingerprinted.
pub fn dataset(engine: &Engine, step: &Step) -> Result<StepOutput, StepError> {
    if step.fingerprint == Fingerprint::Pending {
        // Its key does not cover the files' content: caching it would serve stale data.
        return Err(StepError::Unfingerprinted {
            decl: step.decl.clone(),
        });
    }
    let spec = dataset_spec(&step.params)?;
    let images = dspec::load(&spec, &engine.base)?;
    let mut out = StepOutput::default();
    out.outputs.insert(
        "summary".into(),
        inline(serde_json::json!({
            "count": images.len(),
            "width": images.width,
            "height": images.height,
            "channels": images.channels,
            "classes": images.classes,
            "masks": images.masks.is_some(),
        })),
    );
    out.outputs
        .insert("images".into(), OutValue::Bytes(images.to_bytes()));
    out.metrics.insert("images".into(), images.len() as f64);
    Ok(out)
}

/// `split`: divides a data input into train / test / val indices.
pub fn split(engine: &Engine, step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
    let (images, indices) = engine.data(ctx, &input(step, "data")?, data_part(step)?)?;
    let labels: Vec<i32> = indices.iter().map(|&i| images.labels[i]).collect();
    let spec = decode::split_spec(&Params::step(step))?;
    let parts = splits::split(&labels, &spec, seed_of(step)?)?;
    // Positions within `indices` back to dataset indices.
    let map = |v: &[usize]| v.iter().map(|&p| indices[p]).collect::<Vec<_>>();
    let json = serde_json::json!({
        "train": map(&parts.train),
        "test": map(&parts.test),
        "val": map(&parts.val),
    });
    let mut out = StepOutput::default();
    for (name, v) in [
        ("train", &parts.train),
        ("test", &parts.test),
        ("val", &parts.val),
    ] {
        out.metrics.insert(name.into(), v.len() as f64);
    }
    out.outputs
        .insert("parts".into(), OutValue::Bytes(serde_json::to_vec(&json)?));
    Ok(out)
}

/// `label_subset`: the labelled images of an evaluation's train data.
pub fn label_subset(engine: &Engine, step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
    let (images, indices) = engine.data(ctx, &input(step, "data")?, data_part(step)?)?;
    let config = decode::label_subset_config(&Params::step(step))?;
    let chosen = splits::label_subset(
        &images.labels,
        &indices,
        config.fraction,
        config.per_class,
        seed_of(step)?,
    )?;
    let mut out = StepOutput::default();
    out.metrics.insert("labelled".into(), chosen.len() as f64);
    out.outputs.insert(
        "indices".into(),
        OutValue::Bytes(serde_json::to_vec(&chosen)?),
    );
    Ok(out)
}
