//! Sweep expansion and step construction.
//!
//! The arms of a declaration are the cross product of the sweeps reachable
//! from it (its own and those of everything it refers to), with `zip`ped
//! sweeps advancing together and `exclude`d combinations dropped. While a
//! declaration is evaluated under one assignment, the planner records which
//! sweeps were actually read; two assignments that agree on every sweep read
//! are the same arm (a temperature sweep inside `simclr(...)` does not
//! multiply the `byol` arms). Step-producing declarations are memoised per
//! assignment of their own reachable sweeps, and steps are deduplicated by
//! key, so shared work is one node.

use super::kind::StepKind;
use super::value::{Key, KeyMap, Value, content_key, step_key};
use super::{Arm, Fingerprint, FingerprintTable, Plan, Site, SiteBase, Step};
use crate::data::split::{Amount, SplitSpec};
use crate::lang::ast::DeclKind;
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::lang::registry::{self, Info};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;

/// Arms per declaration beyond which planning stops with a diagnostic.
const MAX_ARMS: usize = 1_000_000;

pub(super) fn plan(
    program: &Program,
    fingerprints: &FingerprintTable,
) -> (Option<Plan>, Vec<Diagnostic>) {
    let mut p = Planner::new(program, fingerprints);
    let evaluated: BTreeSet<DeclId> = program
        .decls
        .iter()
        .filter(|d| d.kind == DeclKind::Evaluate)
        .flat_map(|d| d.refs.iter().copied())
        .collect();
    let mut arm_decls = vec![];
    for (id, decl) in program.decls.iter().enumerate() {
        if decl.file != program.root || !decl.is_step() {
            continue;
        }
        if p.arms_of(id).is_none() {
            continue;
        }
        if decl.kind == DeclKind::Evaluate
            || (decl.kind == DeclKind::Pretrain && !evaluated.contains(&id))
        {
            arm_decls.push(id);
        }
    }
    // Moved out of the memo, not copied: a plan can hold a million arms.
    let mut arms = vec![];
    for id in arm_decls {
        if let Some(Some(list)) = p.arms_memo.remove(&id) {
            arms.extend(Rc::try_unwrap(list).unwrap_or_else(|shared| (*shared).clone()));
        }
    }
    if p.diags.iter().any(Diagnostic::is_error) {
        return (None, p.diags);
    }
    let diags = std::mem::take(&mut p.diags);
    (Some(p.finish(arms)), diags)
}

/// A registry default as a planned value: the registry's `.sslp` snippet
/// checked the way the checker fills a left-out parameter in, then evaluated
/// the way the planner evaluates arguments, so it equals what a plan holds
/// for that parameter. `None` when the parameter has no default (required or
/// optional).
pub fn registry_default(param: &registry::Param) -> Option<Value> {
    let checked = crate::lang::check::registry_default(param)?;
    let empty = Program {
        decls: vec![],
        sweeps: vec![],
        settings: Settings {
            seed: 0,
            device: "cpu".into(),
            precision: "f32".into(),
            name: None,
        },
        root: crate::lang::FileId(0),
    };
    let no_fingerprints = FingerprintTable::new();
    let mut planner = Planner::new(&empty, &no_fingerprints);
    let assign = HashMap::default();
    let ctx = Ctx {
        assign: &assign,
        used: RefCell::new(BTreeSet::new()),
    };
    Some(planner.eval(&checked, &ctx))
}

/// An evaluation's backbone as planned.
enum Encoder {
    /// A step whose output is the network (`pretrain`, `init_backbone`).
    Step(Key),
    /// A backbone call the consuming step builds itself.
    Call(BTreeMap<String, Value>),
}

/// A declaration's step, or why it could not be lowered to one (which
/// [`Planner::step_decl`] reports: no arm is ever dropped without a diagnostic).
type Lowered = Result<Key, String>;

/// A step declaration's output under one assignment, and the sweeps it read.
type Memoised = (Value, Box<[SweepId]>);

#[derive(Clone)]
struct ArmOut {
    name: String,
    decl: String,
    axes: Vec<(String, String)>,
    output: Key,
}

struct Planner<'p> {
    prog: &'p Program,
    /// Dataset fingerprints by pending key (computed outside, by the IO layer).
    fingerprints: &'p FingerprintTable,
    steps: Vec<Step>,
    index: KeyMap<usize>,
    /// (decl, assignment restricted to its reachable sweeps) -> (output, sweeps read).
    memo: HashMap<(DeclId, Vec<(SweepId, usize)>), Memoised>,
    reach: HashMap<DeclId, Vec<SweepId>>,
    arms_memo: HashMap<DeclId, Option<Rc<Vec<ArmOut>>>>,
    diags: Vec<Diagnostic>,
    reported: BTreeSet<(u32, u32, &'static str)>,
    /// (declaration, reason) pairs already reported as not lowered.
    unlowered: BTreeSet<(DeclId, String)>,
    /// (step index, site text hash) pairs already recorded, so a site is listed once per step.
    sites_seen: HashSet<(usize, u64)>,
    /// Features steps by (encoder step, data step, data part, role).
    features_memo: HashMap<(Key, Key, Option<String>, &'static str), Key>,
    /// Parameter maps by the hash of their canonical encoding, shared between steps.
    params_by_hash: KeyMap<Arc<BTreeMap<String, Value>>>,
}

/// The current assignment of sweep values and the sweeps read so far.
struct Ctx<'a> {
    assign: &'a HashMap<SweepId, usize>,
    used: RefCell<BTreeSet<SweepId>>,
}

impl<'p> Planner<'p> {
    fn new(prog: &'p Program, fingerprints: &'p FingerprintTable) -> Self {
        Planner {
            prog,
            fingerprints,
            steps: vec![],
            index: KeyMap::default(),
            memo: HashMap::default(),
            reach: HashMap::default(),
            arms_memo: HashMap::default(),
            diags: vec![],
            reported: BTreeSet::new(),
            unlowered: BTreeSet::new(),
            sites_seen: HashSet::default(),
            params_by_hash: KeyMap::default(),
            features_memo: HashMap::default(),
        }
    }

    fn report(&mut self, d: Diagnostic, tag: &'static str) {
        // One diagnostic per place and problem, however many arms hit it.
        if self
            .reported
            .insert((d.primary.span.file.0, d.primary.span.start, tag))
        {
            self.diags.push(d);
        }
    }

    // ------------------------------------------------------------ axes

    /// Sweeps reachable from a declaration, in the order a reader meets them.
    fn reachable(&mut self, id: DeclId) -> Vec<SweepId> {
        if let Some(r) = self.reach.get(&id) {
            return r.clone();
        }
        let mut out = vec![];
        let mut seen_decls = BTreeSet::new();
        self.collect_sweeps(&self.prog.decls[id].value, &mut out, &mut seen_decls, id);
        self.reach.insert(id, out.clone());
        out
    }

    fn collect_sweeps(
        &self,
        h: &HExpr,
        out: &mut Vec<SweepId>,
        seen: &mut BTreeSet<DeclId>,
        owner: DeclId,
    ) {
        seen.insert(owner);
        match h {
            HExpr::Sweep(s) => {
                if !out.contains(s) {
                    out.push(*s);
                }
                for a in &self.prog.sweeps[*s].alts {
                    self.collect_sweeps(a, out, seen, owner);
                }
            }
            // A metric (`lin.top1`) or an axis (`ssl.method`) names results to collect,
            // not a dependency whose sweeps multiply the arms; a split part does depend.
            HExpr::Member(d, _) if self.prog.decls[*d].kind != DeclKind::Split => {}
            HExpr::Ref(d) | HExpr::Member(d, _) if seen.insert(*d) => {
                self.collect_sweeps(&self.prog.decls[*d].value, out, seen, *d);
            }
            HExpr::Call(c) => c
                .args
                .iter()
                .for_each(|a| self.collect_sweeps(a, out, seen, owner)),
            HExpr::List(xs) | HExpr::Policy(xs) => xs
                .iter()
                .for_each(|a| self.collect_sweeps(a, out, seen, owner)),
            HExpr::Prob(a, b) => {
                self.collect_sweeps(a, out, seen, owner);
                self.collect_sweeps(b, out, seen, owner);
            }
            _ => {}
        }
    }

    /// Declarations reachable from `id` (itself included).
    fn reachable_decls(&self, id: DeclId) -> BTreeSet<DeclId> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![id];
        while let Some(d) = stack.pop() {
            if seen.insert(d) {
                stack.extend(self.prog.decls[d].refs.iter().copied());
            }
        }
        seen
    }

    // ------------------------------------------------------------ arms

    fn arms_of(&mut self, id: DeclId) -> Option<Rc<Vec<ArmOut>>> {
        if let Some(a) = self.arms_memo.get(&id) {
            return a.clone();
        }
        let result = self.enumerate(id).map(Rc::new);
        self.arms_memo.insert(id, result.clone());
        result
    }

    fn enumerate(&mut self, id: DeclId) -> Option<Vec<ArmOut>> {
        let prog = self.prog;
        let decl = &prog.decls[id];
        let axes = self.reachable(id);
        let decls = self.reachable_decls(id);
        // Zip groups via union-find over axis positions.
        let mut parent: Vec<usize> = (0..axes.len()).collect();
        fn find(p: &mut [usize], x: usize) -> usize {
            let mut r = x;
            while p[r] != r {
                r = p[r];
            }
            p[x] = r;
            r
        }
        let pos = |s: SweepId| axes.iter().position(|&a| a == s);
        let mut excludes = vec![];
        for &d in &decls {
            for zip in &prog.decls[d].zips {
                let members: Vec<usize> = zip.iter().filter_map(|&s| pos(s)).collect();
                for w in members.windows(2) {
                    let (a, b) = (find(&mut parent, w[0]), find(&mut parent, w[1]));
                    parent[b] = a;
                }
            }
            excludes.extend(prog.decls[d].excludes.iter().cloned());
        }
        let mut groups: Vec<Vec<SweepId>> = vec![];
        let mut group_of_root: HashMap<usize, usize> = HashMap::default();
        let mut group_of_axis = Vec::with_capacity(axes.len());
        for (i, &axis) in axes.iter().enumerate() {
            let r = find(&mut parent, i);
            let g = *group_of_root.entry(r).or_insert_with(|| {
                groups.push(vec![]);
                groups.len() - 1
            });
            groups[g].push(axis);
            group_of_axis.push(g);
        }
        let lens: Vec<usize> = groups
            .iter()
            .map(|g| prog.sweeps[g[0]].alts.len())
            .collect();
        let total: f64 = lens.iter().map(|&l| l as f64).product();
        if total > MAX_ARMS as f64 {
            self.report(
                Diagnostic::error(
                    Code::PlanEmpty,
                    decl.name_span,
                    format!(
                        "`{}` expands to {total} arms; the limit is {MAX_ARMS}",
                        decl.name
                    ),
                    "too many arms",
                )
                .with_help("zip related sweeps or exclude combinations"),
                "too_many",
            );
            return None;
        }
        let names = axis_names(prog, &axes);
        let mut seen_arms: BTreeSet<Vec<(usize, usize)>> = BTreeSet::new();
        let mut out = vec![];
        let mut any_excluded = false;
        let mut idx = vec![0usize; groups.len()];
        let mut assign: HashMap<SweepId, usize> = HashMap::default();
        loop {
            assign.clear();
            for (g, &i) in groups.iter().zip(&idx) {
                for &s in g {
                    assign.insert(s, i);
                }
            }
            let excluded = excludes
                .iter()
                .any(|rule| rule.iter().all(|(s, i)| assign.get(s) == Some(i)));
            any_excluded |= excluded;
            if !excluded {
                let ctx = Ctx {
                    assign: &assign,
                    used: RefCell::new(BTreeSet::new()),
                };
                let output = self.step_decl(id, &ctx);
                let used = ctx.used.into_inner();
                let used_groups: Vec<(usize, usize)> = groups
                    .iter()
                    .enumerate()
                    .filter(|(_, g)| g.iter().any(|s| used.contains(s)))
                    .map(|(gi, _)| (gi, idx[gi]))
                    .collect();
                // `None`: `step_decl` has reported why this arm could not be lowered.
                if let Some(Value::Step(key, _)) = output
                    && seen_arms.insert(used_groups.clone())
                {
                    // Axis order: as met in the declaration.
                    let arm_axes: Vec<(String, String)> = axes
                        .iter()
                        .zip(&group_of_axis)
                        .filter(|&(_, &g)| used_groups.iter().any(|&(gi, _)| gi == g))
                        .map(|(&s, &g)| (names[&s].clone(), prog.sweeps[s].labels[idx[g]].clone()))
                        .collect();
                    let name = arm_name(&decl.name, &arm_axes);
                    out.push(ArmOut {
                        name,
                        decl: decl.name.clone(),
                        axes: arm_axes,
                        output: key,
                    });
                }
            }
            // Odometer over groups.
            let mut g = groups.len();
            loop {
                if g == 0 {
                    if out.is_empty() && !self.diags.iter().any(Diagnostic::is_error) {
                        // Every combination lowered or was excluded, and none lowered.
                        debug_assert!(any_excluded);
                        self.report(
                            Diagnostic::error(
                                Code::PlanEmpty,
                                decl.name_span,
                                format!(
                                    "`{}` has no arms left: every combination is excluded",
                                    decl.name
                                ),
                                "no arms",
                            )
                            .with_help("remove an `exclude`"),
                            "empty",
                        );
                    }
                    return Some(out);
                }
                g -= 1;
                idx[g] += 1;
                if idx[g] < lens[g] {
                    break;
                }
                idx[g] = 0;
            }
        }
    }

    // ------------------------------------------------------------ evaluation

    fn eval(&mut self, h: &HExpr, ctx: &Ctx) -> Value {
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
    fn step_decl(&mut self, id: DeclId, ctx: &Ctx) -> Option<Value> {
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
        self.memo
            .insert(memo_key, (out.clone(), used.iter().copied().collect()));
        ctx.used.borrow_mut().extend(used);
        Some(out)
    }

    /// Reports that a declaration could not be lowered to a step under some assignment, and why.
    fn unlowered(&mut self, id: DeclId, reason: String) {
        let decl = &self.prog.decls[id];
        let d = Diagnostic::error(
            Code::PlanEmpty,
            decl.name_span,
            format!("`{}` cannot be planned: {reason}", decl.name),
            "not planned",
        )
        .with_help("this is a planner limitation, not an error in the pipeline: please report it with the file");
        // One report per declaration and reason, however many arms hit it.
        if self.unlowered.insert((id, reason)) {
            self.diags.push(d);
        }
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

    /// `decl[name=label,...]` for the sweeps read, sorted by `name=label`, written without
    /// an intermediate string per axis (this runs once per arm).
    fn site(
        &self,
        decl: &str,
        used: &BTreeSet<SweepId>,
        assign: &HashMap<SweepId, usize>,
    ) -> SiteBase {
        let sweeps = &self.prog.sweeps;
        let name_of = |s: SweepId| -> (&str, &str) {
            let plain = sweeps[s].name.as_str();
            let shared = used
                .iter()
                .any(|&o| o != s && sweeps[o].name == sweeps[s].name);
            if shared {
                (self.prog.decls[sweeps[s].decl].name.as_str(), plain)
            } else {
                ("", plain)
            }
        };
        let mut parts: Vec<((&str, &str), &str)> = used
            .iter()
            .map(|&s| {
                let i = assign.get(&s).copied().unwrap_or(0);
                (name_of(s), sweeps[s].labels[i].as_str())
            })
            .collect();
        // The order of the joined `qualifier.name=label` texts.
        fn text<'a>(
            ((q, n), l): &'a ((&'a str, &'a str), &'a str),
        ) -> impl Iterator<Item = u8> + 'a {
            let dot: &[u8] = if q.is_empty() { b"" } else { b"." };
            q.bytes()
                .chain(dot.iter().copied())
                .chain(n.bytes())
                .chain(std::iter::once(b'='))
                .chain(l.bytes())
        }
        parts.sort_by(|a, b| text(a).cmp(text(b)));
        let mut out = String::with_capacity(decl.len() + 2 + 24 * parts.len());
        out.push_str(decl);
        out.push('[');
        for (n, ((q, name), label)) in parts.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            if !q.is_empty() {
                out.push_str(q);
                out.push('.');
            }
            out.push_str(name);
            out.push('=');
            out.push_str(label);
        }
        out.push(']');
        SiteBase::new(out)
    }

    fn fill_seed(&self, params: &mut BTreeMap<String, Value>) {
        if !params.contains_key("seed") {
            params.insert("seed".into(), Value::Int(self.prog.settings.seed));
        }
    }

    /// Adds a step (or finds the identical one) and returns its key.
    fn add_step(
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
                let params = self.intern(params);
                self.index.insert(key, self.steps.len());
                self.sites_seen.insert((self.steps.len(), site.text_hash()));
                self.steps.push(Step {
                    key,
                    kind,
                    decl: self.prog.decls[decl].name.clone(),
                    version: kind.version(),
                    params,
                    exec: BTreeMap::new(),
                    inputs: inputs.into(),
                    sites: vec![site],
                    arms: vec![],
                    fingerprint,
                });
            }
        }
        key
    }

    /// [`Self::add_step`] at the site `site/<kind>`, the site of a declaration's own step.
    fn add_kind_step(
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
    fn add_site(&mut self, key: Key, site: Site) {
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
    fn intern(&mut self, params: BTreeMap<String, Value>) -> Arc<BTreeMap<String, Value>> {
        let digest = super::value::params_digest(&params);
        self.params_by_hash
            .entry(digest)
            .or_insert_with(|| Arc::new(params))
            .clone()
    }

    /// Moves step references out of the parameters into named inputs.
    fn split_inputs(params: &mut BTreeMap<String, Value>) -> BTreeMap<String, Key> {
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
    fn split_exec(
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

    fn pretrain_step(
        &mut self,
        id: DeclId,
        mut params: BTreeMap<String, Value>,
        site: &SiteBase,
    ) -> Lowered {
        let decl = &self.prog.decls[id];
        let call = decl.call().ok_or("it is not a `pretrain { ... }` block")?;
        params.remove("type");
        let mut exec = Self::split_exec(registry::pretrain(), &mut params);
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
            // G-SimCLR: autoencoder -> pseudo-labels -> pretraining (a multi-step method).
            if method_name == "g_simclr" {
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
        params.insert("views".into(), Value::List(views));
        // MoCo v2: the queue must be a multiple of the batch (keys are enqueued per batch).
        if method_name == "moco"
            && method.get("version").and_then(Value::as_str) == Some("v2")
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
        self.check_batch_fits(call, &params, data.as_ref());
        // MoCo v2: a queue longer than the data holds several keys of the same image.
        if method_name == "moco"
            && method.get("version").and_then(Value::as_str) == Some("v2")
            && let (Some(q), Some(n)) = (
                method.get("queue").and_then(Value::as_f64),
                data.as_ref().and_then(|d| self.known_size(d)),
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

    /// The number of images a data value has, when the plan alone tells (a synthetic
    /// dataset, and the parts of a split of one); `None` for data read from disk.
    fn known_size(&self, data: &Value) -> Option<usize> {
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
    fn check_clamp(
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

    fn check_views(&mut self, call: &HCall, views: &[Value], method: &str) {
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

    fn features(
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
        let memo = match encoder {
            Encoder::Step(k) => Some((*k, *data_key, port.clone(), role)),
            Encoder::Call(_) => None,
        };
        if let Some(&key) = memo.as_ref().and_then(|m| self.features_memo.get(m)) {
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
            self.features_memo.insert(m, key);
        }
        Ok(key)
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

    fn eval_step(
        &mut self,
        id: DeclId,
        mut params: BTreeMap<String, Value>,
        site: &SiteBase,
    ) -> Lowered {
        let (kind_name, kind) = Self::kind_of(&mut params)?;
        let Info::Eval { features, .. } = kind.info else {
            return Err(format!("`{kind_name}` is not an evaluation"));
        };
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
                p.insert(
                    "seed".into(),
                    params.get("seed").cloned().unwrap_or(Value::Int(0)),
                );
                let mut i = BTreeMap::new();
                i.insert("data".to_string(), *train_key);
                let k = self.add_step(
                    StepKind::LabelSubset,
                    id,
                    p,
                    i,
                    Site::new(site, ["label_subset", ""]),
                );
                inputs.insert("labels".to_string(), k);
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
        Ok(self.add_kind_step(step_kind, id, params, inputs, site))
    }

    fn report_step(
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

    /// The kind a call's parameters name (taking `type` out of them).
    fn kind_of(
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
    fn step_kind(name: &str) -> Result<StepKind, String> {
        name.parse()
            .map_err(|_| format!("`{name}` has no step kind"))
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

    // ------------------------------------------------------------ finishing

    fn finish(self, arms: Vec<ArmOut>) -> Plan {
        let mut steps = self.steps;
        let index = self.index;
        let mut graph = petgraph::graph::DiGraph::new();
        let nodes: Vec<_> = (0..steps.len()).map(|i| graph.add_node(i)).collect();
        for (i, s) in steps.iter().enumerate() {
            for (name, k) in &s.inputs {
                if let Some(&j) = index.get(k) {
                    graph.add_edge(nodes[j], nodes[i], name.clone());
                }
            }
        }
        let mut out_arms = Vec::with_capacity(arms.len());
        // `visited[i] == ai + 1` once arm `ai` has reached step `i`: one buffer for every arm.
        let mut visited = vec![0usize; steps.len()];
        let mut lineage = vec![];
        let mut stack = vec![];
        for (ai, arm) in arms.into_iter().enumerate() {
            // Lineage: ancestors of the output, in topological (index) order.
            lineage.clear();
            stack.push(arm.output);
            while let Some(k) = stack.pop() {
                if let Some(&i) = index.get(&k)
                    && visited[i] != ai + 1
                {
                    visited[i] = ai + 1;
                    lineage.push(i);
                    stack.extend(steps[i].inputs.values().copied());
                }
            }
            lineage.sort_unstable();
            for &i in &lineage {
                steps[i].arms.push(ai);
            }
            out_arms.push(Arm {
                name: arm.name,
                decl: arm.decl,
                axes: arm.axes,
                output: arm.output,
                lineage: lineage.iter().map(|&i| steps[i].key).collect(),
            });
        }
        for s in &mut steps {
            s.sites.sort();
        }
        Plan {
            steps,
            arms: out_arms,
            graph,
            device: self.prog.settings.device.clone(),
            name: self.prog.settings.name.clone(),
            seed: self.prog.settings.seed,
            index,
        }
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

/// Why a parameter that should hold a step (a backbone, data) does not: a
/// declaration it names failed to lower (reported there), or its value is of a
/// kind the planner cannot lower.
fn not_lowered(what: &str, value: Option<&Value>) -> String {
    match value {
        None => format!("it has no `{what}`"),
        Some(Value::Null) => {
            format!("its `{what}` has no value (a declaration it names could not be planned)")
        }
        Some(v) => format!("its `{what}` cannot be lowered to a step: {}", v.display()),
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

/// Whether a dataset step's loader reads files (every dataset kind but the procedural ones).
fn reads_files(params: &BTreeMap<String, Value>) -> bool {
    params.get("type").and_then(Value::as_str) != Some("synthetic_shapes")
}

/// Display names of sweeps: their own name, qualified by declaration when two share one.
fn axis_names(prog: &Program, axes: &[SweepId]) -> HashMap<SweepId, String> {
    let mut count: HashMap<&str, usize> = HashMap::default();
    for &s in axes {
        *count.entry(prog.sweeps[s].name.as_str()).or_insert(0) += 1;
    }
    axes.iter()
        .map(|&s| {
            let sw = &prog.sweeps[s];
            let name = if count[sw.name.as_str()] > 1 {
                format!("{}.{}", prog.decls[sw.decl].name, sw.name)
            } else {
                sw.name.clone()
            };
            (s, name)
        })
        .collect()
}

fn arm_name(decl: &str, axes: &[(String, String)]) -> String {
    if axes.is_empty() {
        return decl.to_string();
    }
    let mut out = String::with_capacity(decl.len() + 2 + 24 * axes.len());
    out.push_str(decl);
    for (i, (n, v)) in axes.iter().enumerate() {
        out.push(if i == 0 { '[' } else { ',' });
        out.push_str(n);
        out.push('=');
        out.push_str(v);
    }
    out.push(']');
    out
}

/// Turns `views` (a view, a multicrop, or a list) into a flat list of view maps, each with a policy.
fn normalise_views(views: Value, run_policy: Option<&Value>) -> Vec<Value> {
    let list = match views {
        Value::List(xs) => xs,
        Value::Null => vec![],
        v => vec![v],
    };
    let mut out = vec![];
    for v in list {
        let Value::Map(m) = v else { continue };
        let policy = m.get("policy").or(run_policy).cloned();
        let mut push = |mut view: BTreeMap<String, Value>| {
            view.insert("type".into(), Value::Str("view".into()));
            if let Some(p) = &policy {
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
