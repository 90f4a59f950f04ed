//! Method-specific planning: what a given self-supervised method needs of a
//! pretraining run, and what it adds to the plan.
//!
//! Methods differ in what the generic pretraining step cannot know:
//!
//! - views: every method trains on exactly two global views; only the
//!   multi-crop methods (the registry's `multicrop: true`: DINO and SwAV) take
//!   local crops, and a `multicrop(...)` spec expands into their global and
//!   local view groups; all views of one network must share one input
//!   normalisation, stored with the backbone;
//! - extra steps: G-SimCLR trains an autoencoder and clusters its codes into
//!   pseudo-labels before pretraining, each a step of its own so that runs
//!   differing only in pretraining share them;
//! - limits: MoCo v2's queue must be a multiple of the batch (an error), and a
//!   queue longer than the data holds stale keys of the same image (a warning).
//!
//! Keeping these decisions here leaves [`super::pretrain`] free of method
//! names: a new method with such needs adds a case here.

use super::Planner;
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::lang::registry::{self, Info};
use crate::plan::kind::StepKind;
use crate::plan::value::{Key, Value};
use crate::plan::{Site, SiteBase};
use std::collections::BTreeMap;

impl Planner<'_> {
    /// Whether the (normalised) views fit the method: exactly two global views,
    /// local crops only for a multi-crop method, one input normalisation across
    /// views, and a policy for every view. Each misfit is an error at `views`.
    pub(super) fn check_views(&mut self, call: &HCall, views: &[Value], method: &str) {
        let span = call.arg_span("views");
        let mut global = 0;
        let mut local = 0;
        let mut missing_policy = false;
        for v in views {
            let Some(m) = v.as_map() else { continue };
            let count = m.get("count").and_then(Value::as_f64).unwrap_or(1.0) as i64;
            if m.get("local") == Some(&Value::Bool(true)) {
                local += count;
            } else {
                global += count;
            }
            if !m.contains_key("policy") {
                missing_policy = true;
            }
        }
        let Some(kind) = registry::kind_named(method) else {
            return;
        };
        let multicrop = matches!(kind.info, Info::Method { multicrop: true });
        if global != 2 {
            let d = Diagnostic::error(
                Code::ViewMismatch,
                span,
                format!("`{method}` needs exactly 2 global views, but gets {global}"),
                format!("{global} global view{}", if global == 1 { "" } else { "s" }),
            )
            .with_label(call.arg_span("method"), "the method")
            .with_help("write `views = [view(count: 2)]` (the default), or two views with their own policies");
            self.report(d, "global_views");
        }
        if local > 0 && !multicrop {
            let with: Vec<&str> = registry::all_kinds()
                .filter(|k| matches!(k.info, Info::Method { multicrop: true }))
                .map(|k| k.name)
                .collect();
            let why = if method == "g_simclr" {
                "G-SimCLR trains as SimCLR (NT-Xent over the two global views), which has no place for local crops; "
            } else {
                ""
            };
            let d = Diagnostic::error(
                Code::ViewMismatch,
                span,
                format!("`{method}` does not use local crops, but {local} are given"),
                "local crops",
            )
            .with_label(call.arg_span("method"), "the method")
            .with_help(format!(
                "{why}multi-crop works with {}; remove the local views",
                with.join(" and ")
            ));
            self.report(d, "local_views");
        }
        // One network, one input normalisation: it is stored with the backbone and used by
        // every evaluation, so all views must agree on it.
        let norms: Vec<Option<Value>> = views
            .iter()
            .map(|v| {
                let Some(Value::List(ops)) = v.as_map().and_then(|m| m.get("policy")) else {
                    return None;
                };
                ops.iter().filter_map(Value::as_map).find_map(|m| {
                    (m.get("type").and_then(Value::as_str) == Some("normalize")).then(|| {
                        let mut m = m.clone();
                        m.remove("p");
                        Value::Map(m)
                    })
                })
            })
            .collect();
        if norms.windows(2).any(|w| w[0] != w[1]) {
            let describe = |n: &Option<Value>| match n {
                Some(v) => v.display(),
                None => "none (the training images' statistics)".to_string(),
            };
            let mut distinct: Vec<String> = norms.iter().map(describe).collect();
            distinct.dedup();
            let d = Diagnostic::error(
                Code::ViewMismatch,
                span,
                "the views normalise their inputs differently",
                format!("normalisations: {}", distinct.join("; ")),
            )
            .with_help("a backbone has one input normalisation, stored with it and used by every evaluation; give every view the same `normalize(...)` (or none)");
            self.report(d, "view_normalize");
        }
        if missing_policy {
            let d = Diagnostic::error(
                Code::MissingPolicy,
                call.span,
                "some views have no augmentation policy",
                "no `policy` for some view",
            )
            .with_help("add `policy = ...` to the run, or give every view its own `policy:`");
            self.report(d, "missing_policy");
        }
    }

    /// The steps a method needs before its pretraining, added to the run's `inputs`.
    ///
    /// G-SimCLR is a multi-step method: a denoising autoencoder is trained on
    /// the data, its latent codes are clustered into pseudo-labels, and the
    /// pretraining (SimCLR's NT-Xent, with negatives of the same pseudo-label
    /// left out) reads them. Both steps are keyed by their own parameters (the
    /// method's `ae_*`, `noise_std` and `clusters`, and the run's seed), so runs
    /// that differ only in what pretraining does share one autoencoder.
    pub(super) fn method_steps(
        &mut self,
        id: DeclId,
        method: &BTreeMap<String, Value>,
        params: &BTreeMap<String, Value>,
        (data_key, port): (&Key, &Option<String>),
        inputs: &mut BTreeMap<String, Key>,
        site: &SiteBase,
    ) {
        // G-SimCLR: autoencoder -> pseudo-labels -> pretraining (a multi-step method).
        if method_name(method) == "g_simclr" {
            let seed = params.get("seed").cloned().unwrap_or(Value::Int(0));
            let mut ae = BTreeMap::new();
            for (from, to) in [
                ("ae_epochs", "epochs"),
                ("ae_latent", "latent"),
                ("noise_std", "noise_std"),
            ] {
                if let Some(v) = method.get(from) {
                    ae.insert(to.to_string(), v.clone());
                }
            }
            ae.insert("seed".into(), seed.clone());
            if let Some(port) = port {
                ae.insert("data_part".into(), Value::Str(port.clone()));
            }
            let mut ae_in = BTreeMap::new();
            ae_in.insert("data".to_string(), *data_key);
            let ae_key = self.add_step(
                StepKind::Autoencoder,
                id,
                ae,
                ae_in.clone(),
                Site::new(site, ["autoencoder", ""]),
            );
            let mut pl = BTreeMap::new();
            pl.insert(
                "clusters".into(),
                method.get("clusters").cloned().unwrap_or(Value::Int(10)),
            );
            pl.insert("seed".into(), seed);
            ae_in.insert("autoencoder".to_string(), ae_key);
            let pl_key = self.add_step(
                StepKind::PseudoLabels,
                id,
                pl,
                ae_in,
                Site::new(site, ["pseudo_labels", ""]),
            );
            inputs.insert("pseudo_labels".into(), pl_key);
        }
    }

    /// What a method requires of the batch: MoCo v2 enqueues one batch of keys
    /// per step, so its queue must be a multiple of the batch.
    pub(super) fn check_method_batch(
        &mut self,
        call: &HCall,
        method: &BTreeMap<String, Value>,
        params: &BTreeMap<String, Value>,
    ) {
        // MoCo v2: the queue must be a multiple of the batch (keys are enqueued per batch).
        if is_moco_v2(method)
            && let (Some(q), Some(b)) = (
                method.get("queue").and_then(Value::as_f64),
                params.get("batch").and_then(Value::as_f64),
            )
            && q > 0.0
            && b > 0.0
            && q % b != 0.0
        {
            let span = call.arg_span("batch");
            self.report(
                Diagnostic::error(
                    Code::ViewMismatch,
                    span,
                    format!("MoCo's queue ({q}) is not a multiple of the batch ({b})"),
                    "batch does not divide the queue",
                )
                .with_help("MoCo v2 enqueues one batch of keys per step; pick a queue size divisible by the batch"),
                "moco_queue",
            );
        }
    }

    /// What a method requires of the data, when its size is known at plan time:
    /// a MoCo v2 queue longer than the data holds several (stale) keys of the
    /// same image as negatives (a warning).
    pub(super) fn check_method_data(
        &mut self,
        call: &HCall,
        method: &BTreeMap<String, Value>,
        data: Option<&Value>,
    ) {
        // MoCo v2: a queue longer than the data holds several keys of the same image.
        if is_moco_v2(method)
            && let (Some(q), Some(n)) = (
                method.get("queue").and_then(Value::as_f64),
                data.and_then(|d| self.known_size(d)),
            )
            && q > n as f64
        {
            self.report(
                Diagnostic::warning(
                    Code::QueueLongerThanData,
                    call.arg_span("method"),
                    format!("MoCo's queue ({q}) is longer than the {n} training images"),
                    "queue longer than the data",
                )
                .with_help(format!(
                    "the queue then holds several (stale) keys of the same image as negatives; write `queue: {}` or less",
                    n
                )),
                "moco_queue_data",
            );
        }
    }
}

/// Turns `views` (a view, a multicrop, or a list) into a flat list of view maps, each with a policy.
pub(super) fn normalise_views(views: Value, run_policy: Option<&Value>) -> Vec<Value> {
    let list = match views {
        Value::List(xs) => xs,
        Value::Null => vec![],
        v => vec![v],
    };
    let mut out = vec![];
    for v in list {
        let Value::Map(m) = v else { continue };
        let policy = m.get("policy").or(run_policy);
        let mut push = |mut view: BTreeMap<String, Value>| {
            view.insert("type".into(), Value::Str("view".into()));
            if let Some(p) = policy {
                view.insert("policy".into(), p.clone());
            }
            out.push(Value::Map(view));
        };
        match m.get("type").and_then(Value::as_str) {
            Some("multicrop") => {
                let get = |k: &str| m.get(k).cloned();
                let mut g = BTreeMap::new();
                g.insert("count".to_string(), get("global").unwrap_or(Value::Int(2)));
                if let Some(s) = get("global_size") {
                    g.insert("size".into(), s);
                }
                g.insert("scale".into(), get("global_scale").unwrap_or(Value::Null));
                g.insert("local".into(), Value::Bool(false));
                push(g);
                let local = get("local").and_then(|v| v.as_f64()).unwrap_or(0.0);
                if local > 0.0 {
                    let mut l = BTreeMap::new();
                    l.insert("count".to_string(), get("local").unwrap_or(Value::Int(0)));
                    if let Some(s) = get("local_size") {
                        l.insert("size".into(), s);
                    }
                    l.insert("scale".into(), get("local_scale").unwrap_or(Value::Null));
                    l.insert("local".into(), Value::Bool(true));
                    push(l);
                }
            }
            _ => {
                let mut view = m.clone();
                view.remove("policy");
                view.remove("type");
                push(view);
            }
        }
    }
    out
}

/// The name of a method map's kind (`simclr`, `g_simclr`, ...), `""` when it has none.
fn method_name(method: &BTreeMap<String, Value>) -> &str {
    method.get("type").and_then(Value::as_str).unwrap_or("")
}

/// MoCo v2 (the version with a queue of keys).
fn is_moco_v2(method: &BTreeMap<String, Value>) -> bool {
    method_name(method) == "moco" && method.get("version").and_then(Value::as_str) == Some("v2")
}
