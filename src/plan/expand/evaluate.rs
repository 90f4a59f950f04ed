//! Evaluations and reports: the steps behind `evaluate` and `report`
//! declarations.
//!
//! An evaluation's backbone becomes a step holding the network (a pretraining
//! run, or an `init_backbone` for an untrained baseline) or stays a call the
//! evaluation builds itself (fixed backbones such as `raw_pixels`, and
//! `finetune` from scratch). Evaluations on frozen features (kNN, linear probe,
//! k-means, t-SNE) get one shared `features` step per network and data part,
//! label subsets become `label_subset` steps, and values the data's known size
//! will clamp are warned about. A report collects the arms of the evaluations
//! it names.

use super::lowering::not_lowered;
use super::{Encoder, Lowered, Planner};
use crate::lang::ast::DeclKind;
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::lang::registry::{self, Info};
use crate::plan::kind::StepKind;
use crate::plan::value::{Key, Value};
use crate::plan::{Site, SiteBase};
use std::collections::{BTreeMap, BTreeSet};

impl Planner<'_> {
    pub(super) fn eval_step(
        &mut self,
        id: DeclId,
        mut params: BTreeMap<String, Value>,
        site: &SiteBase,
    ) -> Lowered {
        let (kind_name, kind) = Self::kind_of(&mut params)?;
        let Info::Eval { features, .. } = kind.info else {
            return Err(format!("`{kind_name}` is not an evaluation"));
        };
        // Execution-only (`resources`): resolved with the executor's (`super::resources`).
        Self::split_exec(kind, &mut params);
        self.fill_seed(&mut params);
        let seed = params.get("seed").cloned().unwrap_or(Value::Int(0));
        let encoder = params.remove("backbone");
        let encoder = self.eval_encoder(id, kind, encoder, seed, site)?;
        if kind_name == "finetune"
            && !params.contains_key("policy")
            && let Encoder::Step(k) = &encoder
            && let Some(policy) = self.pretraining_policy(k)
        {
            params.insert("policy".into(), policy);
        }
        let mut inputs = BTreeMap::new();
        // Clamps known at plan time: the labelled train images (without a label subset).
        if let Some(train) = params.get("train")
            && !params.contains_key("per_class")
            && params
                .get("label_fraction")
                .and_then(Value::as_f64)
                .is_none_or(|f| f >= 1.0)
        {
            let n = self.known_size(train);
            let (param, what) = match kind_name.as_str() {
                "knn" => ("k", "the labelled training data"),
                "segmentation" => ("batch", "the training data"),
                _ => ("", ""),
            };
            if !param.is_empty() {
                let v = params.get(param).and_then(Value::as_f64);
                self.check_clamp(id, param, v, n, what);
            }
        }
        // Label subsets: a fraction or a count per class of the train part.
        if let Some(train) = params.get("train").cloned() {
            let fraction = params.remove("label_fraction");
            let per_class = params.remove("per_class");
            let partial = per_class.is_some()
                || fraction
                    .as_ref()
                    .and_then(Value::as_f64)
                    .is_some_and(|f| f < 1.0);
            if partial && let Value::Step(train_key, port) = &train {
                let seed = params.get("seed").cloned().unwrap_or(Value::Int(0));
                // One label subset per data part, amount and seed: built once, met once per
                // arm using it (a sweep of probes shares the few subsets it draws).
                let mut memo_key = vec![];
                for v in [&fraction, &per_class] {
                    match v {
                        Some(v) => v.hash_into(&mut memo_key),
                        None => memo_key.push(b'-'),
                    }
                }
                Value::Str(port.clone().unwrap_or_default()).hash_into(&mut memo_key);
                memo_key.push(u8::from(port.is_some()));
                seed.hash_into(&mut memo_key);
                let memo_key = (*train_key, memo_key);
                if let Some(&k) = self.subsets_memo.get(&memo_key) {
                    self.add_site(k, Site::new(site, ["label_subset", ""]));
                    inputs.insert("labels".to_string(), k);
                } else {
                    let mut p = BTreeMap::new();
                    if let Some(f) = fraction {
                        p.insert("fraction".to_string(), f);
                    }
                    if let Some(n) = per_class {
                        p.insert("per_class".to_string(), n);
                    }
                    if let Some(port) = port {
                        p.insert("data_part".into(), Value::Str(port.clone()));
                    }
                    p.insert("seed".into(), seed);
                    let mut i = BTreeMap::new();
                    i.insert("data".to_string(), *train_key);
                    let k = self.add_step(
                        StepKind::LabelSubset,
                        id,
                        p,
                        i,
                        Site::new(site, ["label_subset", ""]),
                    );
                    self.subsets_memo.insert(memo_key, k);
                    inputs.insert("labels".to_string(), k);
                }
            }
        }
        if features {
            for role in ["train", "test", "data"] {
                if let Some(data) = params.remove(role) {
                    let k = self.features(id, &encoder, &data, role, site)?;
                    inputs.insert(role.to_string() + "_features", k);
                }
            }
        } else {
            match encoder {
                Encoder::Step(k) => {
                    inputs.insert("encoder".to_string(), k);
                }
                Encoder::Call(backbone) => {
                    params.insert("backbone".to_string(), Value::Map(backbone));
                }
            }
            inputs.extend(Self::split_inputs(&mut params));
        }
        let step_kind = Self::step_kind(&kind_name)?;
        let key = self.add_kind_step(step_kind, id, params, inputs, site);
        if kind.param("resources").is_some() {
            self.resource_decls.insert(key, id);
        }
        Ok(key)
    }

    /// The step holding an evaluation's network: the pretraining run it names, or an
    /// `init_backbone` step drawing a backbone call's initialisation from `seed` (the
    /// evaluation's own, so that `seed: trial` varies the untrained baseline too).
    fn encoder_key(
        &mut self,
        id: DeclId,
        encoder: Option<Value>,
        seed: Value,
        site: &SiteBase,
    ) -> Lowered {
        match encoder {
            Some(Value::Step(k, _)) => Ok(k),
            Some(Value::Map(backbone)) => {
                let mut p = BTreeMap::new();
                p.insert("backbone".to_string(), Value::Map(backbone));
                p.insert("seed".to_string(), seed);
                Ok(self.add_step(
                    StepKind::InitBackbone,
                    id,
                    p,
                    BTreeMap::new(),
                    Site::new(site, ["init_backbone", ""]),
                ))
            }
            other => Err(not_lowered("backbone", other.as_ref())),
        }
    }

    /// What an evaluation's `backbone:` lowers to: a step whose output holds the network (a
    /// pretraining run, or an `init_backbone` step for a random-init baseline), or the
    /// backbone call itself where the consuming step builds it (`raw_pixels` features; a
    /// `finetune` from scratch, initialised at the data's image side from its own seed).
    fn eval_encoder(
        &mut self,
        id: DeclId,
        kind: &registry::Kind,
        encoder: Option<Value>,
        seed: Value,
        site: &SiteBase,
    ) -> Result<Encoder, String> {
        match encoder {
            Some(Value::Map(backbone)) => {
                let fixed = backbone
                    .get("type")
                    .and_then(Value::as_str)
                    .and_then(registry::kind_named)
                    .is_some_and(|k| !k.is_trainable());
                if fixed || kind.name == "finetune" {
                    return Ok(Encoder::Call(backbone));
                }
                self.encoder_key(id, Some(Value::Map(backbone)), seed, site)
                    .map(Encoder::Step)
            }
            other => self.encoder_key(id, other, seed, site).map(Encoder::Step),
        }
    }

    pub(super) fn features(
        &mut self,
        id: DeclId,
        encoder: &Encoder,
        data: &Value,
        role: &str,
        site: &SiteBase,
    ) -> Lowered {
        let Value::Step(data_key, port) = data else {
            return Err(not_lowered(role, Some(data)));
        };
        let role = features_site(role);
        // The features of one network on one data part: one step, met once per arm using it.
        // (Looked up by the keys and role, then the data part among the few of those: no
        // copy of the part's name per lookup.)
        let memo = match encoder {
            Encoder::Step(k) => Some((*k, *data_key, role)),
            Encoder::Call(_) => None,
        };
        let found = memo
            .as_ref()
            .and_then(|m| self.features_memo.get(m))
            .and_then(|parts| parts.iter().find(|(p, _)| p == port))
            .map(|&(_, key)| key);
        if let Some(key) = found {
            self.add_site(key, Site::new(site, [role, ""]));
            return Ok(key);
        }
        let mut p = BTreeMap::new();
        if let Some(port) = port {
            p.insert("data_part".to_string(), Value::Str(port.clone()));
        }
        let mut i = BTreeMap::new();
        match encoder {
            Encoder::Step(k) => {
                i.insert("encoder".to_string(), *k);
            }
            // No network: the features step computes the pixels itself.
            Encoder::Call(backbone) => {
                p.insert("backbone".to_string(), Value::Map(backbone.clone()));
            }
        }
        i.insert("data".to_string(), *data_key);
        let key = self.add_step(StepKind::Features, id, p, i, Site::new(site, [role, ""]));
        if let Some(m) = memo {
            self.features_memo
                .entry(m)
                .or_default()
                .push((port.clone(), key));
        }
        Ok(key)
    }

    /// The policy a pretraining step's first view draws with: what a `finetune` of it
    /// inherits when it states none, so that fine-tuning sees the augmentation pretraining saw.
    fn pretraining_policy(&self, key: &Key) -> Option<Value> {
        let step = &self.steps[*self.index.get(key)?];
        if step.kind != StepKind::Pretrain {
            return None;
        }
        let Some(Value::List(views)) = step.params.get("views") else {
            return None;
        };
        views.first()?.as_map()?.get("policy").cloned()
    }

    pub(super) fn report_step(
        &mut self,
        id: DeclId,
        mut params: BTreeMap<String, Value>,
        site: &SiteBase,
    ) -> Lowered {
        let (kind_name, kind) = Self::kind_of(&mut params)?;
        let mut sources: BTreeSet<DeclId> = BTreeSet::new();
        for r in &self.prog.decls[id].refs {
            if self.prog.decls[*r].kind == DeclKind::Evaluate {
                sources.insert(*r);
            }
        }
        let mut inputs = BTreeMap::new();
        let mut axes: BTreeSet<String> = BTreeSet::new();
        for s in sources {
            for arm in self.arms_of(s).iter().flat_map(|list| list.iter()) {
                inputs.insert(arm.name.clone(), arm.output);
                axes.extend(arm.axes.iter().map(|(n, _)| n.clone()));
            }
        }
        self.check_report_axes(id, kind, &params, &axes);
        if kind_name == "preview" {
            self.fill_seed(&mut params);
        }
        inputs.extend(Self::split_inputs(&mut params));
        let step_kind = Self::step_kind(&kind_name)?;
        Ok(self.add_kind_step(step_kind, id, params, inputs, site))
    }

    /// Warns when a report groups by a parameter that no arm sweeps.
    fn check_report_axes(
        &mut self,
        id: DeclId,
        kind: &registry::Kind,
        params: &BTreeMap<String, Value>,
        axes: &BTreeSet<String>,
    ) {
        let Some(call) = self.prog.decls[id].call() else {
            return;
        };
        for p in kind.params.iter().filter(|p| p.ty == registry::Ty::Axis) {
            let names: Vec<&str> = match params.get(p.name) {
                Some(Value::Str(s)) => vec![s.as_str()],
                Some(Value::List(xs)) => xs.iter().filter_map(Value::as_str).collect(),
                _ => continue,
            };
            for name in names {
                // `ssl.method` names the axis `method`; a swept `let` names itself.
                let axis = crate::report::axis_key(name);
                let swept = axes.iter().any(|a| crate::report::axis_covers(axis, a));
                if !swept {
                    let listed: Vec<&str> = axes.iter().map(String::as_str).collect();
                    let help = if listed.is_empty() {
                        "the evaluations it reports sweep nothing".to_string()
                    } else {
                        format!("the swept parameters are: {}", listed.join(", "))
                    };
                    self.report(
                        Diagnostic::warning(
                            Code::UnsweptAxis,
                            call.arg_span(p.name),
                            format!("`{name}` is not swept in the arms this report collects"),
                            "not a swept parameter",
                        )
                        .with_help(help),
                        "unswept_axis",
                    );
                }
            }
        }
    }
}

/// The step part of a features step's site, by the data's role.
fn features_site(role: &str) -> &'static str {
    match role {
        "train" => "features(train)",
        "test" => "features(test)",
        _ => "features(data)",
    }
}
