//! Report steps (`table`, `plot`) and the result rows they and `sslp report`
//! read: one row per evaluated arm, with the arm's swept parameters, the
//! exact evaluation spec and its seed.

use super::decode::{self, Params};
use super::error::StepError;
use super::executor::{OutValue, StepCtx, StepOutput};
use super::store::{Status, Store};
use crate::plan::{Key, Plan, Step, StepKind, Value};
use crate::report::{PlotSpec, ResultRow, TableSpec};
use std::collections::BTreeMap;

/// The evaluation spec of an evaluation step: kind and parameters, plus its label subset.
pub fn eval_spec(plan: &Plan, step: &Step) -> String {
    // The SGD protocol's settings mean nothing to the L-BFGS probe.
    let lbfgs = step.kind == StepKind::LinearProbe
        && step.params.get("solver").and_then(Value::as_str) != Some("sgd");
    let mut parts: Vec<String> = step
        .params
        .iter()
        .filter(|(k, _)| k.as_str() != "seed" && !k.ends_with("_part"))
        .filter(|(k, _)| !(lbfgs && matches!(k.as_str(), "batch" | "epochs" | "lr")))
        .map(|(k, v)| format!("{k}={}", v.display()))
        .collect();
    if let Some(labels) = step.inputs.get("labels")
        && let Some(subset) = plan.steps.iter().find(|s| s.key == *labels)
    {
        for (k, v) in subset.params.iter() {
            if k == "fraction" || k == "per_class" {
                let name = if k == "fraction" { "label_fraction" } else { k };
                parts.push(format!("{name}={}", v.display()));
            }
        }
    }
    format!("{}({})", step.kind, parts.join(", "))
}

/// The seed of the arm: its pretraining's when there is one, else the evaluation's.
fn arm_seed(plan: &Plan, step: &Step) -> u64 {
    let seed = |s: &Step| match s.params.get("seed") {
        Some(Value::Int(i)) => Some(*i as u64),
        _ => None,
    };
    // Walk inputs back to a pretraining step.
    let mut frontier: Vec<Key> = step.inputs.values().copied().collect();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(k) = frontier.pop() {
        if !seen.insert(k) {
            continue;
        }
        if let Some(s) = plan.steps.iter().find(|s| s.key == k) {
            if s.kind == StepKind::Pretrain {
                return seed(s).unwrap_or(0);
            }
            frontier.extend(s.inputs.values().copied());
        }
    }
    seed(step).unwrap_or(plan.seed.max(0) as u64)
}

/// Result rows of evaluation arms (`arm name -> evaluation step`) that have finished;
/// the names of those that have not.
pub fn collect_rows(
    plan: &Plan,
    store: &Store,
    arms: &BTreeMap<String, Key>,
) -> (Vec<ResultRow>, Vec<String>) {
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    for (name, key) in arms {
        let record = match store.get(key) {
            Ok(Some(r)) if r.status == Status::Done => r,
            _ => {
                missing.push(name.clone());
                continue;
            }
        };
        let Some(step) = plan.steps.iter().find(|s| s.key == *key) else {
            missing.push(name.clone());
            continue;
        };
        let (decl, axes) = match plan.arms.iter().find(|a| &a.name == name) {
            Some(a) => (a.decl.clone(), a.axes.iter().cloned().collect()),
            None => (step.decl.clone(), BTreeMap::new()),
        };
        rows.push(ResultRow {
            arm: name.clone(),
            decl,
            axes,
            kind: step.kind.as_str().to_string(),
            eval: eval_spec(plan, step),
            seed: arm_seed(plan, step),
            metrics: record.metrics.clone(),
        });
    }
    (rows, missing)
}

/// Every evaluation arm of a plan: name -> its final step.
pub fn evaluation_arms(plan: &Plan) -> BTreeMap<String, Key> {
    plan.arms
        .iter()
        .filter(|a| {
            plan.steps
                .iter()
                .find(|s| s.key == a.output)
                .is_some_and(|s| s.kind.is_evaluation())
        })
        .map(|a| (a.name.clone(), a.output))
        .collect()
}

/// The table spec a `table` step declares.
pub fn table_spec(step: &Step) -> decode::Decoded<TableSpec> {
    Ok(decode::table_config(&Params::step(step))?.spec)
}

/// The plot spec a `plot` step declares.
pub fn plot_spec(step: &Step, title: &str) -> decode::Decoded<PlotSpec> {
    Ok(decode::plot_config(&Params::step(step), title)?.spec)
}

/// A report step's input arms (all of its inputs are evaluation arms).
fn inputs_as_arms(step: &Step) -> BTreeMap<String, Key> {
    step.inputs.clone().into_iter().collect()
}

/// Renders a table's files (`table.md`, `table.csv`, ...) from rows.
pub fn render_table(
    rows: &[ResultRow],
    step: &Step,
) -> Result<BTreeMap<String, Vec<u8>>, StepError> {
    let config = decode::table_config(&Params::step(step))?;
    let table = crate::report::table::build(rows, &config.spec)?;
    let mut files = BTreeMap::new();
    for f in config.formats {
        let bytes = match f.as_str() {
            "md" => table.to_markdown().into_bytes(),
            "csv" => table.to_csv().into_bytes(),
            "json" => serde_json::to_vec_pretty(&table.to_json())?,
            "html" => table.to_html().into_bytes(),
            other => {
                return Err(StepError::UnknownFormat {
                    what: "table",
                    format: other.into(),
                });
            }
        };
        files.insert(format!("table.{f}"), bytes);
    }
    Ok(files)
}

/// Renders a plot's files (`plot.png`, `plot.svg`) from rows.
pub fn render_plot(
    rows: &[ResultRow],
    step: &Step,
    title: &str,
) -> Result<BTreeMap<String, Vec<u8>>, StepError> {
    let config = decode::plot_config(&Params::step(step), title)?;
    let figure = crate::report::plot::plot(rows, &config.spec)?;
    let mut files = BTreeMap::new();
    for f in config.formats {
        match f.as_str() {
            "png" => files.insert("plot.png".to_string(), figure.png.clone()),
            "svg" => files.insert("plot.svg".to_string(), figure.svg.clone().into_bytes()),
            other => {
                return Err(StepError::UnknownFormat {
                    what: "plot",
                    format: other.into(),
                });
            }
        };
    }
    Ok(files)
}

fn files_output(files: BTreeMap<String, Vec<u8>>, rows: usize) -> StepOutput {
    let mut out = StepOutput::default();
    for (name, bytes) in files {
        out.outputs.insert(name, OutValue::Bytes(bytes));
    }
    out.metrics.insert("rows".into(), rows as f64);
    out
}

/// A `table` report over its arms.
pub fn table(step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
    let (rows, missing) = collect_rows(ctx.plan, ctx.store, &inputs_as_arms(step));
    if !missing.is_empty() {
        return Err(StepError::NoResults {
            missing: missing.len(),
        });
    }
    Ok(files_output(render_table(&rows, step)?, rows.len()))
}

/// A `plot` report over its arms.
pub fn plot(step: &Step, ctx: &StepCtx) -> Result<StepOutput, StepError> {
    let (rows, missing) = collect_rows(ctx.plan, ctx.store, &inputs_as_arms(step));
    if !missing.is_empty() {
        return Err(StepError::NoResults {
            missing: missing.len(),
        });
    }
    Ok(files_output(
        render_plot(&rows, step, &step.decl)?,
        rows.len(),
    ))
}
