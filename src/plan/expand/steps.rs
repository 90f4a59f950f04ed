//! Steps: adding a step to the plan (or finding the identical one), and what
//! the plan already knows about the steps it holds.
//!
//! A step's key is computed once, here, from its kind, parameters and inputs
//! (and, for a dataset read from files, the files' fingerprint when the IO
//! layer gave one); equal keys are one node that records every site it is met
//! at, and equal parameter maps are one shared map. The sizes of data the plan
//! alone determines (synthetic datasets and splits of them) are read back from
//! the steps here, for the checks that compare a parameter to the data.

use super::Planner;
use crate::data::split::{Amount, SplitSpec};
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::lang::registry;
use crate::plan::kind::StepKind;
use crate::plan::value::{Key, Value, content_key, step_key};
use crate::plan::{Fingerprint, Site, SiteBase, Step};
use std::collections::BTreeMap;
use std::sync::Arc;

impl Planner<'_> {
    /// Adds a step (or finds the identical one) and returns its key.
    pub(super) fn add_step(
        &mut self,
        kind: StepKind,
        decl: DeclId,
        params: BTreeMap<String, Value>,
        inputs: BTreeMap<String, Key>,
        site: Site,
    ) -> Key {
        let mut key = step_key(kind, &params, &inputs);
        let fingerprint = if kind == StepKind::Dataset && reads_files(&params) {
            match self.fingerprints.get(&key) {
                Some(hash) => {
                    let pending = key;
                    key = content_key(&pending, hash);
                    Fingerprint::Content {
                        hash: *hash,
                        pending,
                    }
                }
                None => Fingerprint::Pending,
            }
        } else {
            Fingerprint::None
        };
        match self.index.get(&key) {
            Some(_) => self.add_site(key, site),
            None => {
                let params = self.intern(kind, params);
                self.index.insert(key, self.steps.len());
                self.sites_seen.insert((self.steps.len(), site.text_hash()));
                self.steps.push(Step {
                    key,
                    kind,
                    decl: self.prog.decls[decl].name.clone(),
                    version: kind.version(),
                    params,
                    exec: self.default_exec(kind),
                    inputs: inputs.into(),
                    sites: vec![site],
                    arms: vec![],
                    fingerprint,
                });
            }
        }
        key
    }

    /// How a new step of `kind` runs, unless its declaration says otherwise: steps
    /// that run a network besides `pretrain` (features, fine-tuning, segmentation,
    /// G-SimCLR's autoencoder and pseudo-labels: the registry's
    /// [`registry::ON_DEVICE`]) run on the pipeline's device, as `pretrain` does
    /// (whose device its lowering sets). Not part of the key.
    fn default_exec(&self, kind: StepKind) -> BTreeMap<String, Value> {
        let mut exec = BTreeMap::new();
        if kind != StepKind::Pretrain && registry::ON_DEVICE.contains(&kind.as_str()) {
            exec.insert(
                "device".to_string(),
                Value::Str(self.prog.settings.device.clone()),
            );
        }
        exec
    }

    /// [`Self::add_step`] at the site `site/<kind>`, the site of a declaration's own step.
    pub(super) fn add_kind_step(
        &mut self,
        kind: StepKind,
        decl: DeclId,
        params: BTreeMap<String, Value>,
        inputs: BTreeMap<String, Key>,
        site: &SiteBase,
    ) -> Key {
        self.add_step(
            kind,
            decl,
            params,
            inputs,
            Site::new(site, [kind.as_str(), ""]),
        )
    }

    /// Records one more place in the design where the (existing) step `key` sits.
    pub(super) fn add_site(&mut self, key: Key, site: Site) {
        let Some(&i) = self.index.get(&key) else {
            return;
        };
        // A new (step, site hash) pair is a new site; a known one is checked exactly.
        let sites = &mut self.steps[i].sites;
        if self.sites_seen.insert((i, site.text_hash())) || !sites.contains(&site) {
            sites.push(site);
        }
    }

    /// The shared copy of a parameter map equal to `params`.
    ///
    /// Compared first with the map this kind's last step got (ten thousand probes in a
    /// row share one): a map equal to it as a value has the same canonical encoding (the
    /// encoding is structural, with -0.0 as 0.0), so it is the map the digest would find,
    /// without hashing. Anything else is found by the digest of its encoding.
    fn intern(
        &mut self,
        kind: StepKind,
        params: BTreeMap<String, Value>,
    ) -> Arc<BTreeMap<String, Value>> {
        if let Some(last) = self.last_params.get(&kind)
            && **last == params
        {
            return last.clone();
        }
        let digest = super::super::value::params_digest(&params);
        let shared = self
            .params_by_hash
            .entry(digest)
            .or_insert_with(|| Arc::new(params))
            .clone();
        self.last_params.insert(kind, shared.clone());
        shared
    }

    /// The number of images a data value has, when the plan alone tells (a synthetic
    /// dataset, and the parts of a split of one); `None` for data read from disk.
    pub(super) fn known_size(&self, data: &Value) -> Option<usize> {
        let Value::Step(key, port) = data else {
            return None;
        };
        let step = &self.steps[*self.index.get(key)?];
        match step.kind.as_str() {
            "dataset" => match step.params.get("type").and_then(Value::as_str) {
                Some("synthetic_shapes") => step
                    .params
                    .get("count")
                    .and_then(Value::as_f64)
                    .map(|c| c as usize),
                _ => None,
            },
            "split" => {
                let n = self.known_size(&Value::Step(*step.inputs.get("data")?, None))?;
                let amount = |k: &str| match step.params.get(k) {
                    Some(Value::Int(c)) => Some(Amount::Count((*c).max(0) as usize)),
                    Some(Value::Float(f)) => Some(Amount::Fraction(*f)),
                    _ => None,
                };
                let spec = SplitSpec {
                    train: amount("train")?,
                    test: amount("test"),
                    val: amount("val"),
                    stratify: step.params.get("stratify") != Some(&Value::Bool(false)),
                };
                let [train, val, test] = crate::data::split::sizes_of(n, &spec).ok()?;
                match port.as_deref() {
                    Some("train") => Some(train),
                    Some("val") => Some(val),
                    Some("test") => Some(test),
                    _ => Some(n),
                }
            }
            _ => None,
        }
    }

    /// Warns where a written value will be clamped to the size of the data (known at plan time).
    pub(super) fn check_clamp(
        &mut self,
        id: DeclId,
        param: &str,
        value: Option<f64>,
        size: Option<usize>,
        what: &str,
    ) {
        let (Some(v), Some(n)) = (value, size) else {
            return;
        };
        if v <= n as f64 {
            return;
        }
        let Some(call) = self.prog.decls[id].call() else {
            return;
        };
        // A default is not reported here (the run-time note still counts the clamp).
        let written = call
            .kind
            .param(param)
            .is_some_and(|(i, _)| call.explicit[i]);
        if !written {
            return;
        }
        let span = call.arg_span(param);
        self.report(
            Diagnostic::warning(
                Code::Clamped,
                span,
                format!(
                    "`{param}` is {v}, but {what} has only {n} images: it will be clamped to {n}"
                ),
                format!("clamped to {n}"),
            )
            .with_help(format!("write `{param}: {n}` or less, or use more images")),
            "clamped",
        );
    }
}

/// Whether a dataset step's loader reads files (every dataset kind but the procedural ones).
fn reads_files(params: &BTreeMap<String, Value>) -> bool {
    params.get("type").and_then(Value::as_str) != Some("synthetic_shapes")
}
