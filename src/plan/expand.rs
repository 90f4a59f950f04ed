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
//!
//! This module holds the planner's state and the entry points; the work is in
//! its submodules:
//!
//! - [`arms`]: reachable sweeps, zip and exclude, the odometer over arms, arm
//!   and site names;
//! - [`lowering`]: evaluating values and lowering a declaration to its step,
//!   with inline dataset calls planned as steps;
//! - [`steps`]: adding and deduplicating steps, sizes known at plan time;
//! - [`evaluate`]: evaluation and report steps (encoders, features, label subsets);
//! - [`pretrain`]: pretraining steps (views, offline ops, batch against data);
//! - [`methods`]: what a given SSL method needs (views it takes, G-SimCLR's
//!   extra steps, MoCo's queue limits);
//! - [`resources`]: the executor, and each step's resources under `slurm`.

mod arms;
mod evaluate;
mod lowering;
mod methods;
mod pretrain;
mod resources;
mod steps;

use super::kind::StepKind;
use super::value::{Key, KeyMap, Value};
use super::{Arm, ExecutorKind, FingerprintTable, Plan, Step};
use crate::lang::ast::DeclKind;
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::lang::registry;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;

pub(super) fn plan(
    program: &Program,
    fingerprints: &FingerprintTable,
    executor: Option<ExecutorKind>,
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
            let list = Rc::try_unwrap(list).unwrap_or_else(|shared| (*shared).clone());
            if arms.is_empty() {
                arms = list;
            } else {
                arms.extend(list);
            }
        }
    }
    if p.diags.iter().any(Diagnostic::is_error) {
        return (None, p.diags);
    }
    let diags = std::mem::take(&mut p.diags);
    let executor = p.assign_resources(executor);
    let mut plan = p.finish(arms);
    plan.executor = executor;
    (Some(plan), diags)
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
            executor: HExpr::None,
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

/// Features steps of one network, data step and role, by data part.
type FeaturesByPart = Vec<(Option<String>, Key)>;

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
    reach: HashMap<DeclId, Rc<[SweepId]>>,
    arms_memo: HashMap<DeclId, Option<Rc<Vec<ArmOut>>>>,
    diags: Vec<Diagnostic>,
    reported: BTreeSet<(u32, u32, &'static str)>,
    /// (declaration, reason) pairs already reported as not lowered.
    unlowered: BTreeSet<(DeclId, String)>,
    /// (step index, site text hash) pairs already recorded, so a site is listed once per step.
    sites_seen: HashSet<(usize, u64)>,
    /// Features steps by (encoder step, data step, role), then by data part.
    features_memo: HashMap<(Key, Key, &'static str), FeaturesByPart>,
    /// Label subset steps by (data step, canonical encoding of amount, data part and seed).
    subsets_memo: HashMap<(Key, Vec<u8>), Key>,
    /// Parameter maps by the hash of their canonical encoding, shared between steps.
    params_by_hash: KeyMap<Arc<BTreeMap<String, Value>>>,
    /// The parameter map each kind's last new step got (see [`Planner::intern`]).
    last_params: HashMap<StepKind, Arc<BTreeMap<String, Value>>>,
    /// The declaration whose own `resources` a step takes (`pretrain` blocks, `finetune`
    /// and `segmentation` evaluations), by step key: the last to lower the step.
    resource_decls: KeyMap<DeclId>,
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
            last_params: HashMap::default(),
            features_memo: HashMap::default(),
            subsets_memo: HashMap::default(),
            resource_decls: KeyMap::default(),
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

    // ------------------------------------------------------------ finishing

    fn finish(self, arms: Vec<ArmOut>) -> Plan {
        let Planner {
            prog,
            mut steps,
            index,
            memo,
            arms_memo,
            sites_seen,
            features_memo,
            subsets_memo,
            params_by_hash,
            last_params,
            resource_decls,
            ..
        } = self;
        // The memos and the set of sites seen are freed before the arms' lineages are built,
        // which can reuse their memory.
        drop((
            memo,
            arms_memo,
            sites_seen,
            features_memo,
            subsets_memo,
            params_by_hash,
            last_params,
            resource_decls,
        ));
        let mut graph = petgraph::graph::DiGraph::new();
        let nodes: Vec<_> = (0..steps.len()).map(|i| graph.add_node(i)).collect();
        // Each step's inputs as step indices, looked up once (not once per arm), stored
        // flat: the inputs of step `i` are `input_steps[input_start[i]..input_start[i + 1]]`.
        let mut input_start = Vec::with_capacity(steps.len() + 1);
        let mut input_steps = Vec::with_capacity(steps.len() * 2);
        input_start.push(0);
        for (i, s) in steps.iter().enumerate() {
            for (name, k) in &s.inputs {
                if let Some(&j) = index.get(k) {
                    graph.add_edge(nodes[j], nodes[i], name.clone());
                    input_steps.push(j);
                }
            }
            input_start.push(input_steps.len());
        }
        let mut out_arms = Vec::with_capacity(arms.len());
        // `visited[i] == ai + 1` once arm `ai` has reached step `i`: one buffer for every arm.
        let mut visited = vec![0usize; steps.len()];
        let mut lineage = vec![];
        let mut stack = vec![];
        for (ai, arm) in arms.into_iter().enumerate() {
            // Lineage: ancestors of the output, in topological (index) order.
            lineage.clear();
            stack.extend(index.get(&arm.output).copied());
            while let Some(i) = stack.pop() {
                if visited[i] != ai + 1 {
                    visited[i] = ai + 1;
                    lineage.push(i);
                    stack.extend_from_slice(&input_steps[input_start[i]..input_start[i + 1]]);
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
            device: prog.settings.device.clone(),
            name: prog.settings.name.clone(),
            seed: prog.settings.seed,
            executor: super::Executor::default(),
            index,
        }
    }
}
