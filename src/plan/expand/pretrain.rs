//! Pretraining runs: the step behind a `pretrain { ... }` block, whatever its method.
//!
//! The run's settings are completed (seed, precision, device as an
//! execution-only setting), its views normalised to one list of view specs,
//! and the offline ops of its policies planned as cached `offline_augment`
//! steps of the data (only where the ops before them are deterministic, so the
//! cached image is the one every epoch would see). What depends on the method
//! (how many views it takes, steps of its own, limits on batch and data) is
//! asked of [`super::methods`]; the batch is checked against the data's size.

use super::methods::normalise_views;
use super::{Lowered, Planner};
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::lang::registry::{self, Info};
use crate::plan::kind::StepKind;
use crate::plan::value::Value;
use crate::plan::{Site, SiteBase};
use std::collections::BTreeMap;

impl Planner<'_> {
    /// The `pretrain` step of a run (with the `offline_augment` steps of its data, and
    /// the steps its method needs before it).
    pub(super) fn pretrain_step(
        &mut self,
        id: DeclId,
        mut params: BTreeMap<String, Value>,
        site: &SiteBase,
    ) -> Lowered {
        let decl = &self.prog.decls[id];
        let call = decl.call().ok_or("it is not a `pretrain { ... }` block")?;
        params.remove("type");
        let mut exec = Self::split_exec(registry::pretrain(), &mut params);
        // The run's own resources are resolved with the executor's (`super::resources`).
        exec.remove("resources");
        exec.entry("device".into())
            .or_insert_with(|| Value::Str(self.prog.settings.device.clone()));
        self.fill_seed(&mut params);
        if !params.contains_key("precision") {
            params.insert(
                "precision".into(),
                Value::Str(self.prog.settings.precision.clone()),
            );
        }
        // Views: normalise to a list of view specs, each with its own policy.
        let run_policy = params.remove("policy");
        let views = normalise_views(
            params.remove("views").unwrap_or(Value::Null),
            run_policy.as_ref(),
        );
        let method = params
            .get("method")
            .and_then(Value::as_map)
            .cloned()
            .unwrap_or_default();
        let method_name = method
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        self.check_views(call, &views, &method_name);
        let data = params.get("data").cloned();
        let mut inputs = Self::split_inputs(&mut params);
        // Offline ops: computed once per image of the data, cached by content, when only
        // deterministic ops precede them (else a check error says why they cannot be).
        let uses = self.offline_uses(call, &views);
        if let Some(Value::Step(data_key, port)) = &data {
            let mut offline = BTreeMap::new();
            for (kind, op_params, before) in uses {
                let mut p = BTreeMap::new();
                p.insert("op".to_string(), Value::Map(op_params));
                if !before.is_empty() {
                    p.insert("before".to_string(), Value::List(before));
                }
                if let Some(port) = port {
                    p.insert("data_part".into(), Value::Str(port.clone()));
                }
                let mut i = BTreeMap::new();
                i.insert("data".to_string(), *data_key);
                let key = self.add_step(
                    StepKind::OfflineAugment,
                    id,
                    p,
                    i,
                    Site::new(site, ["offline_augment:", kind.name]),
                );
                offline.insert(key, ());
            }
            for (n, key) in offline.keys().enumerate() {
                inputs.insert(format!("offline_{n}"), *key);
            }
            // Steps of their own that a method needs before pretraining (G-SimCLR's).
            self.method_steps(id, &method, &params, (data_key, port), &mut inputs, site);
        }
        params.insert("views".into(), Value::List(views));
        // The method's own constraints on the batch, then the data's, then the method's on the data.
        self.check_method_batch(call, &method, &params);
        self.check_batch_fits(call, &params, data.as_ref());
        self.check_method_data(call, &method, data.as_ref());
        let key = self.add_step(
            StepKind::Pretrain,
            id,
            params,
            inputs,
            Site::new(site, ["pretrain", ""]),
        );
        if let Some(&i) = self.index.get(&key) {
            self.steps[i].exec = exec;
        }
        self.resource_decls.insert(key, id);
        Ok(key)
    }

    /// A pretraining batch larger than its (known) data can never be formed: an error at plan
    /// time rather than when the arm runs.
    fn check_batch_fits(
        &mut self,
        call: &HCall,
        params: &BTreeMap<String, Value>,
        data: Option<&Value>,
    ) {
        let (Some(n), Some(b)) = (
            // Only data used whole: a split part's size is checked when the arm runs.
            data.filter(|d| matches!(d, Value::Step(_, None)))
                .and_then(|d| self.known_size(d))
                .map(|n| n as f64),
            params.get("batch").and_then(Value::as_f64),
        ) else {
            return;
        };
        if b > n {
            let d = Diagnostic::error(
                Code::OutOfRange,
                call.arg_span("batch"),
                format!("a batch of {b} images cannot be drawn from data of {n} images"),
                "larger than the data",
            )
            .with_label(call.arg_span("data"), format!("{n} images"))
            .with_help("lower `batch`, or train on more images");
            self.report(d, "batch_exceeds_data");
        }
    }

    /// The offline ops the views will serve from the cache: each with its cache parameters
    /// and the deterministic ops before it (which it is computed after). An offline op
    /// after a random op (or after another offline op, whose rendering is random) cannot
    /// be precomputed: that is an error. Ops applied with `@ 0` are never used.
    #[allow(clippy::type_complexity)]
    fn offline_uses(
        &mut self,
        call: &HCall,
        views: &[Value],
    ) -> Vec<(&'static registry::Kind, BTreeMap<String, Value>, Vec<Value>)> {
        let mut out = vec![];
        for view in views {
            let Some(Value::List(ops)) = view.as_map().and_then(|v| v.get("policy")) else {
                continue;
            };
            let mut before: Vec<Value> = vec![];
            let mut random: Option<String> = None;
            for op in ops {
                let Some(m) = op.as_map() else { continue };
                let Some(kind) = m
                    .get("type")
                    .and_then(Value::as_str)
                    .and_then(registry::kind_named)
                else {
                    continue;
                };
                let p = m.get("p").and_then(Value::as_f64).unwrap_or(1.0);
                if p <= 0.0 {
                    continue;
                }
                let here = offline_ops_in(m);
                if !here.is_empty() {
                    for (okind, om) in here {
                        if let Some(r) = &random {
                            self.report(
                                Diagnostic::error(
                                    Code::UncacheableOffline,
                                    call.arg_span("policy"),
                                    format!(
                                        "`{}` cannot be served from the offline cache: `{r}` before it is random",
                                        okind.name
                                    ),
                                    "an offline op after a random one",
                                )
                                .with_help(format!(
                                    "an offline op is computed once per image, so the image it sees must be the same every epoch; move `{}` before `{r}` (only ops that draw no randomness and always apply may precede it: {})",
                                    okind.name,
                                    deterministic_ops().join(", ")
                                )),
                                "uncacheable_offline",
                            );
                            continue;
                        }
                        let Info::Op { online_params, .. } = okind.info else {
                            continue;
                        };
                        let mut op_params = om.clone();
                        op_params.remove("p");
                        for o in online_params {
                            op_params.remove(*o);
                        }
                        out.push((okind, op_params, before.clone()));
                    }
                    // Its rendering (or the choice of `one_of`) is drawn per draw.
                    random = Some(kind.name.to_string());
                    continue;
                }
                let Info::Op {
                    deterministic,
                    model_input,
                    ..
                } = kind.info
                else {
                    continue;
                };
                if model_input {
                    continue;
                }
                if deterministic && p >= 1.0 {
                    let mut det = m.clone();
                    det.remove("p");
                    before.push(Value::Map(det));
                } else if random.is_none() {
                    random = Some(if deterministic {
                        format!("{} @ {p}", kind.name)
                    } else {
                        kind.name.to_string()
                    });
                }
            }
        }
        out
    }
}

/// The offline ops an op map holds: itself, or the offline choices of a `one_of`.
fn offline_ops_in(
    m: &BTreeMap<String, Value>,
) -> Vec<(&'static registry::Kind, BTreeMap<String, Value>)> {
    let Some(kind) = m
        .get("type")
        .and_then(Value::as_str)
        .and_then(registry::kind_named)
    else {
        return vec![];
    };
    if kind.is_offline() {
        return vec![(kind, m.clone())];
    }
    match m.get("choices") {
        Some(Value::List(xs)) if kind.name == "one_of" => xs
            .iter()
            .filter_map(Value::as_map)
            .filter(|c| c.get("p").and_then(Value::as_f64).unwrap_or(1.0) > 0.0)
            .flat_map(offline_ops_in)
            .collect(),
        _ => vec![],
    }
}

/// Names of the ops that draw no randomness (may precede an offline op).
fn deterministic_ops() -> Vec<&'static str> {
    registry::all_kinds()
        .filter(|k| {
            matches!(
                k.info,
                Info::Op {
                    deterministic: true,
                    ..
                }
            )
        })
        .map(|k| k.name)
        .collect()
}
