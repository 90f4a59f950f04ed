//! Lowering: evaluating a declaration's value under one assignment and turning
//! it into a step.
//!
//! [`Planner::eval`] turns checked expressions into canonical [`Value`]s
//! (reading the assigned alternative of each sweep, and recording that it was
//! read); [`Planner::step_decl`] memoises a step declaration per assignment of
//! its own sweeps, plans its inline dataset calls as `dataset` steps, and hands
//! its parameters to the lowering of its kind (this module for datasets and
//! splits, [`super::pretrain`], [`super::evaluate`]). A lowering that cannot
//! produce a step says why ([`super::Lowered`]); the reason becomes a
//! diagnostic here, so that no arm is ever dropped without one.

use super::{Ctx, Lowered, Planner};
use crate::lang::ast::DeclKind;
use crate::lang::hir::*;
use crate::lang::registry;
use crate::plan::kind::StepKind;
use crate::plan::value::{Key, Value};
use crate::plan::{Site, SiteBase};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

impl Planner<'_> {
    pub(super) fn eval(&mut self, h: &HExpr, ctx: &Ctx) -> Value {
        match h {
            HExpr::None => Value::Null,
            HExpr::Int(v) => Value::Int(*v),
            HExpr::Float(v) => Value::Float(*v),
            HExpr::Bool(b) => Value::Bool(*b),
            HExpr::Str(s) | HExpr::Enum(s) => Value::Str(s.clone()),
            HExpr::Range(a, b) => Value::List(vec![Value::Float(*a), Value::Float(*b)]),
            HExpr::List(xs) => Value::List(xs.iter().map(|x| self.eval(x, ctx)).collect()),
            HExpr::Call(c) => {
                let mut m = BTreeMap::new();
                m.insert("type".to_string(), Value::Str(c.kind.name.to_string()));
                for (p, a) in c.kind.params.iter().zip(&c.args) {
                    let v = self.eval(a, ctx);
                    if v != Value::Null {
                        m.insert(p.name.to_string(), v);
                    }
                }
                drop_irrelevant(c.kind, &mut m);
                Value::Map(m)
            }
            HExpr::Sweep(s) => {
                ctx.used.borrow_mut().insert(*s);
                let i = ctx.assign.get(s).copied().unwrap_or(0);
                let alt = &self.prog.sweeps[*s].alts[i];
                self.eval(alt, ctx)
            }
            HExpr::Ref(d) => {
                let decl = &self.prog.decls[*d];
                if decl.is_step() {
                    self.step_decl(*d, ctx).unwrap_or(Value::Null)
                } else {
                    self.eval(&decl.value, ctx)
                }
            }
            HExpr::Member(d, m) => {
                let decl = &self.prog.decls[*d];
                match decl.kind {
                    DeclKind::Split => match self.step_decl(*d, ctx) {
                        Some(Value::Step(k, _)) => Value::Step(k, Some(m.clone())),
                        _ => Value::Null,
                    },
                    _ => Value::Str(format!("{}.{m}", decl.name)),
                }
            }
            HExpr::Prob(op, p) => {
                let op = self.eval(op, ctx);
                let p = self.eval(p, ctx);
                match op {
                    Value::Map(mut m) => {
                        m.insert("p".into(), p);
                        Value::Map(m)
                    }
                    other => other,
                }
            }
            HExpr::Policy(items) => {
                let mut out = vec![];
                for item in items {
                    match self.eval(item, ctx) {
                        Value::List(xs) => out.extend(xs),
                        Value::Null => {}
                        v => out.push(v),
                    }
                }
                Value::List(out)
            }
        }
    }

    /// The output of a step-producing declaration under the current assignment (memoised).
    pub(super) fn step_decl(&mut self, id: DeclId, ctx: &Ctx) -> Option<Value> {
        self.step_decl_with(id, ctx, true)
    }

    /// [`Self::step_decl`], looking up and recording the output in the memo only with
    /// `memoise` (an arm's own declaration is lowered once per assignment: no lookup can hit).
    pub(super) fn step_decl_with(&mut self, id: DeclId, ctx: &Ctx, memoise: bool) -> Option<Value> {
        let memo_key = if memoise {
            let reach = self.reachable(id);
            let restricted: Vec<(SweepId, usize)> = reach
                .iter()
                .filter_map(|s| ctx.assign.get(s).map(|i| (*s, *i)))
                .collect();
            let memo_key = (id, restricted);
            if let Some((v, used)) = self.memo.get(&memo_key) {
                ctx.used.borrow_mut().extend(used.iter().copied());
                return Some(v.clone());
            }
            Some(memo_key)
        } else {
            None
        };
        let inner = Ctx {
            assign: ctx.assign,
            used: RefCell::new(BTreeSet::new()),
        };
        let decl = &self.prog.decls[id];
        let value = self.eval(&decl.value, &inner);
        let used = inner.used.into_inner();
        let site = self.site(&decl.name, &used, ctx.assign);
        let out = match value {
            Value::Map(mut params) => {
                self.inline_datasets(id, &mut params, &site);
                match decl.kind {
                    DeclKind::Dataset => self.simple_step(StepKind::Dataset, id, params, &site),
                    DeclKind::Split => {
                        params.remove("type");
                        self.fill_seed(&mut params);
                        self.simple_step(StepKind::Split, id, params, &site)
                    }
                    DeclKind::Pretrain => self.pretrain_step(id, params, &site),
                    DeclKind::Evaluate => self.eval_step(id, params, &site),
                    DeclKind::Report => self.report_step(id, params, &site),
                    other => Err(format!("a `{other:?}` declaration makes no step")),
                }
            }
            other => Err(format!(
                "its value lowers to {}, not to a call",
                other.display()
            )),
        };
        let out = match out {
            Ok(k) => Value::Step(k, None),
            Err(reason) => {
                // Never drop an arm silently: whatever stops a declaration from lowering is
                // said here, once per declaration and reason.
                self.unlowered(id, reason);
                ctx.used.borrow_mut().extend(used);
                return None;
            }
        };
        if let Some(memo_key) = memo_key {
            self.memo
                .insert(memo_key, (out.clone(), used.iter().copied().collect()));
        }
        ctx.used.borrow_mut().extend(used);
        Some(out)
    }

    /// Plans each inline dataset call among a declaration's data parameters
    /// (`train: synthetic_shapes(count: 10)`) as a `dataset` step, exactly as a
    /// `dataset` declaration with the same call is planned (so the two share a key),
    /// and puts the step in its place: everything downstream (features, label subsets,
    /// offline ops, G-SimCLR's steps, size checks) then sees data the way it sees a
    /// named dataset.
    fn inline_datasets(
        &mut self,
        id: DeclId,
        params: &mut BTreeMap<String, Value>,
        site: &SiteBase,
    ) {
        let Some(kind) = params
            .get("type")
            .and_then(Value::as_str)
            .and_then(registry::schema_named)
        else {
            return;
        };
        for p in kind.params.iter().filter(|p| p.ty == registry::Ty::Data) {
            let Some(Value::Map(call)) = params.get(p.name) else {
                continue;
            };
            // As `simple_step` plans a `dataset` declaration's call.
            let mut call = call.clone();
            let inputs = Self::split_inputs(&mut call);
            let key = self.add_step(
                StepKind::Dataset,
                id,
                call,
                inputs,
                Site::new(site, ["dataset:", p.name]),
            );
            params.insert(p.name.to_string(), Value::Step(key, None));
        }
    }

    pub(super) fn fill_seed(&self, params: &mut BTreeMap<String, Value>) {
        if !params.contains_key("seed") {
            params.insert("seed".into(), Value::Int(self.prog.settings.seed));
        }
    }

    /// Moves step references out of the parameters into named inputs.
    pub(super) fn split_inputs(params: &mut BTreeMap<String, Value>) -> BTreeMap<String, Key> {
        let mut inputs = BTreeMap::new();
        let names: Vec<String> = params
            .iter()
            .filter(|(_, v)| matches!(v, Value::Step(..)))
            .map(|(name, _)| name.clone())
            .collect();
        for name in names {
            if let Some(Value::Step(k, port)) = params.remove(&name) {
                if let Some(port) = port {
                    params.insert(name.clone() + "_part", Value::Str(port));
                }
                inputs.insert(name, k);
            }
        }
        inputs
    }

    fn simple_step(
        &mut self,
        kind: StepKind,
        id: DeclId,
        mut params: BTreeMap<String, Value>,
        site: &SiteBase,
    ) -> Lowered {
        let inputs = Self::split_inputs(&mut params);
        Ok(self.add_kind_step(kind, id, params, inputs, site))
    }

    /// Separates execution-only parameters (not part of the key) per the schema.
    pub(super) fn split_exec(
        schema: &registry::Kind,
        params: &mut BTreeMap<String, Value>,
    ) -> BTreeMap<String, Value> {
        let mut exec = BTreeMap::new();
        for p in schema.params.iter().filter(|p| !p.in_key) {
            if let Some(v) = params.remove(p.name) {
                exec.insert(p.name.to_string(), v);
            }
        }
        exec
    }

    /// The kind a call's parameters name (taking `type` out of them).
    pub(super) fn kind_of(
        params: &mut BTreeMap<String, Value>,
    ) -> Result<(String, &'static registry::Kind), String> {
        let name = match params.remove("type") {
            Some(Value::Str(s)) => s,
            other => return Err(not_lowered("kind", other.as_ref())),
        };
        let kind =
            registry::kind_named(&name).ok_or_else(|| format!("`{name}` is not a known kind"))?;
        Ok((name, kind))
    }

    /// The step kind of an evaluation or report kind.
    pub(super) fn step_kind(name: &str) -> Result<StepKind, String> {
        name.parse()
            .map_err(|_| format!("`{name}` has no step kind"))
    }
}

/// Why a parameter that should hold a step (a backbone, data) does not: a
/// declaration it names failed to lower (reported there), or its value is of a
/// kind the planner cannot lower.
pub(super) fn not_lowered(what: &str, value: Option<&Value>) -> String {
    match value {
        None => format!("it has no `{what}`"),
        Some(Value::Null) => {
            format!("its `{what}` has no value (a declaration it names could not be planned)")
        }
        Some(v) => format!("its `{what}` cannot be lowered to a step: {}", v.display()),
    }
}

/// Leaves out the parameters that have no effect given their siblings (the
/// registry's `applies_when`), so a step's key covers exactly what affects its
/// output: `epochs` of an L-BFGS probe, `temperature` of a Euclidean kNN.
fn drop_irrelevant(kind: &registry::Kind, m: &mut BTreeMap<String, Value>) {
    for p in kind.params {
        let Some(cond) = p.applies_when else { continue };
        let sibling = match m.get(cond.sibling()) {
            Some(Value::Str(s)) => registry::SiblingValue::Word(s),
            Some(Value::Int(v)) => registry::SiblingValue::Number(*v as f64),
            Some(Value::Float(v)) => registry::SiblingValue::Number(*v),
            _ => continue,
        };
        if cond.holds(sibling) == Some(false) {
            m.remove(p.name);
        }
    }
}
