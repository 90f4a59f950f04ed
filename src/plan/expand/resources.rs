//! The executor and the resources of each step.
//!
//! `set executor` becomes the plan's [`Executor`]. Under `slurm`, every step
//! gets `exec["resources"]`, resolved field by field: the declaration's own
//! `resources` (recorded per step while lowering, in `resource_decls`), the
//! executor's entry for the step's kind, its `default`, then the registry's
//! defaults of `resources(...)`. Only the fields a `resources(...)` call
//! writes count at each level (the checker fills the others with defaults;
//! here they are read from the call's `explicit` flags), so
//! `default: resources(time: "4h")` gives four hours to a `pretrain` entry
//! that only asks for a GPU. Nothing here enters a key.

use super::{Ctx, Planner};
use crate::lang::hir::*;
use crate::lang::quantity::{parse_duration, slurm_duration};
use crate::lang::registry::{self, Category};
use crate::plan::value::Value;
use crate::plan::{Executor, ExecutorKind, Step};
use rustc_hash::FxHashMap as HashMap;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// The fields a `resources(...)` value writes, by parameter name.
type Fields = BTreeMap<&'static str, Value>;

impl Planner<'_> {
    /// The plan's executor (`set executor`, or `over` when given), and each step's
    /// `exec["resources"]` under `slurm`.
    pub(super) fn assign_resources(&mut self, over: Option<ExecutorKind>) -> Executor {
        let prog = self.prog;
        let call = match follow_lets(prog, &prog.settings.executor) {
            HExpr::Call(c) if c.kind.category == Category::Executor => Some(c.as_ref()),
            _ => None,
        };
        let slurm = call.filter(|c| c.kind.name == "slurm");
        let kind = over.unwrap_or(if slurm.is_some() {
            ExecutorKind::Slurm
        } else {
            ExecutorKind::Local
        });
        if kind == ExecutorKind::Local {
            return Executor::default();
        }
        let arg = |name: &str| slurm.and_then(|c| c.arg(name));
        let text = |planner: &mut Self, name: &str| match arg(name).map(|h| planner.value(h)) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        };
        let partition = text(self, "partition");
        let account = text(self, "account");
        let max_jobs = match arg("max_jobs").map(|h| self.value(h)) {
            Some(Value::Int(n)) => u64::try_from(n).ok(),
            _ => None,
        };
        let sbatch_args = match arg("sbatch_args").map(|h| self.value(h)) {
            Some(Value::List(xs)) => xs
                .into_iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => vec![],
        };
        // The levels below a declaration's own, highest first for each kind.
        let default = arg("default").map_or_else(Fields::new, |h| self.written(h));
        let mut per_kind: HashMap<&str, Fields> = HashMap::default();
        for name in registry::RESOURCE_SLOTS {
            if let Some(h) = arg(name) {
                per_kind.insert(name, self.written(h));
            }
        }
        let base: Fields = registry::resources()
            .params
            .iter()
            .filter_map(|p| Some((p.name, crate::plan::registry_default(p)?)))
            .collect();
        let none = Fields::new();
        for i in 0..self.steps.len() {
            let own = match self.resource_decls.get(&self.steps[i].key) {
                Some(&id) => match prog.decls[id].call().and_then(|c| c.arg("resources")) {
                    Some(h) => self.written(h),
                    None => Fields::new(),
                },
                None => Fields::new(),
            };
            let step: &mut Step = &mut self.steps[i];
            let levels = [
                &own,
                per_kind.get(step.kind.as_str()).unwrap_or(&none),
                &default,
                &base,
            ];
            let resolved: BTreeMap<String, Value> = registry::resources()
                .params
                .iter()
                .filter_map(|p| {
                    let v = levels.iter().find_map(|l| l.get(p.name))?;
                    Some((p.name.to_string(), slurm_form(p.name, v.clone())))
                })
                .collect();
            step.exec
                .insert("resources".to_string(), Value::Map(resolved));
        }
        Executor {
            kind,
            partition,
            account,
            max_jobs,
            sbatch_args,
        }
    }

    /// A value of the executor's settings, `let`s it names followed.
    fn value(&mut self, h: &HExpr) -> Value {
        let assign = HashMap::default();
        let ctx = Ctx {
            assign: &assign,
            used: RefCell::new(BTreeSet::new()),
        };
        self.eval(h, &ctx)
    }

    /// The fields a `resources(...)` value writes (through the `let`s it names).
    fn written(&mut self, h: &HExpr) -> Fields {
        let HExpr::Call(c) = follow_lets(self.prog, h) else {
            return Fields::new();
        };
        if c.kind.category != Category::Resources {
            return Fields::new();
        }
        let mut out = Fields::new();
        for (i, p) in c.kind.params.iter().enumerate() {
            if c.explicit[i] {
                let v = self.value(&c.args[i]);
                if v != Value::Null {
                    out.insert(p.name, v);
                }
            }
        }
        out
    }
}

/// A resolved field as the plan holds it: `time` in Slurm's form, the rest as written.
fn slurm_form(name: &str, v: Value) -> Value {
    match (name, &v) {
        ("time", Value::Str(s)) => match parse_duration(s) {
            Ok(seconds) => Value::Str(slurm_duration(seconds)),
            // The checker accepts only durations that read.
            Err(_) => v,
        },
        _ => v,
    }
}

/// `h`, or the value of the `let` it names (and so on).
fn follow_lets<'p>(prog: &'p Program, mut h: &'p HExpr) -> &'p HExpr {
    for _ in 0..64 {
        match h {
            HExpr::Ref(d) => match prog.decls.get(*d) {
                Some(decl) if decl.kind == crate::lang::ast::DeclKind::Let => h = &decl.value,
                _ => return h,
            },
            _ => return h,
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use crate::lang::{NoImports, check_source};
    use crate::plan::{self, ExecutorKind, Plan, Resources, StepKind, resources_of};

    /// A pipeline with a run, a kNN and a fine-tuning, each with or without resources of its
    /// own (`{run}`, `{ft}`), under the settings `{settings}`.
    const PIPELINE: &str = "{settings}
dataset shapes = synthetic_shapes(count: 64, size: 16, classes: 4)
split parts {
  data = shapes
  train = 0.5
}
pretrain ssl {
  data = parts.train
  backbone = tiny_convnet()
  method = simclr()
  policy = [horizontal_flip() @ 0.5]
  epochs = 1
  batch = 8
  {run}
}
evaluate nn = knn(backbone: ssl, train: parts.train, test: parts.test, k: 5)
evaluate ft = finetune(backbone: ssl, train: parts.train, test: parts.test, epochs: 1{ft})
";

    fn planned(settings: &str, run: &str, ft: &str, over: Option<ExecutorKind>) -> Plan {
        let text = PIPELINE
            .replace("{settings}", settings)
            .replace("{run}", run)
            .replace("{ft}", ft);
        let checked = check_source("t.sslp", "t.sslp", &text, &mut NoImports);
        let program = checked
            .program
            .unwrap_or_else(|| panic!("{:#?}", checked.diagnostics));
        let fingerprints = plan::FingerprintTable::new();
        let (plan, diags) = match over {
            Some(kind) => plan::plan_with_executor(&program, &fingerprints, kind),
            None => plan::plan(&program),
        };
        plan.unwrap_or_else(|| panic!("{diags:#?}"))
    }

    fn res(gpus: u32, cpus: u32, mem: &str, time: &str) -> Resources {
        Resources {
            gpus,
            cpus,
            mem: mem.into(),
            time: time.into(),
        }
    }

    /// Each step kind's resources (asserting that steps of one kind agree).
    fn by_kind(plan: &Plan) -> Vec<(StepKind, Option<Resources>)> {
        let mut out: Vec<(StepKind, Option<Resources>)> = vec![];
        for s in &plan.steps {
            let r = resources_of(s);
            match out.iter().find(|(k, _)| *k == s.kind) {
                Some((_, seen)) => assert_eq!(seen, &r, "{}", s.kind),
                None => out.push((s.kind, r)),
            }
        }
        out
    }

    fn of(plan: &Plan, kind: StepKind) -> Option<Resources> {
        by_kind(plan)
            .into_iter()
            .find(|(k, _)| *k == kind)
            .and_then(|(_, r)| r)
    }

    #[test]
    fn each_field_comes_from_the_first_level_that_writes_it() {
        let plan = planned(
            "set device = cuda\nset executor = slurm(default: resources(time: \"4h\", mem: \"8G\"), pretrain: resources(gpus: 1, cpus: 8), knn: resources(cpus: 2), finetune: resources(gpus: 1, mem: \"16G\"))",
            "resources = resources(time: \"1d12h\")",
            ", resources: resources(cpus: 3)",
            None,
        );
        // The declaration's time; the kind's GPU and CPUs; the default's memory.
        assert_eq!(
            of(&plan, StepKind::Pretrain),
            Some(res(1, 8, "8G", "1-12:00:00"))
        );
        // The kind's CPUs; the default's memory and time; the registry's GPUs.
        assert_eq!(of(&plan, StepKind::Knn), Some(res(0, 2, "8G", "04:00:00")));
        // The declaration's CPUs; the kind's GPU and memory; the default's time.
        assert_eq!(
            of(&plan, StepKind::Finetune),
            Some(res(1, 3, "16G", "04:00:00"))
        );
        // No entry: the default, then the registry.
        for kind in [StepKind::Dataset, StepKind::Split, StepKind::Features] {
            assert_eq!(of(&plan, kind), Some(res(0, 1, "8G", "04:00:00")), "{kind}");
        }
        assert_eq!(plan.executor.kind, ExecutorKind::Slurm);
    }

    #[test]
    fn a_bare_slurm_gives_the_registry_defaults_and_its_settings() {
        let plan = planned(
            "set executor = slurm(partition: \"gpu\", account: \"lab\", max_jobs: 100, sbatch_args: [\"--qos=high\"])",
            "",
            "",
            None,
        );
        for (kind, r) in by_kind(&plan) {
            assert_eq!(r, Some(res(0, 1, "4G", "01:00:00")), "{kind}");
        }
        assert_eq!(
            plan.executor,
            plan::Executor {
                kind: ExecutorKind::Slurm,
                partition: Some("gpu".into()),
                account: Some("lab".into()),
                max_jobs: Some(100),
                sbatch_args: vec!["--qos=high".into()],
            }
        );
    }

    #[test]
    fn the_local_executor_gives_no_resources() {
        for settings in ["", "set executor = local()"] {
            let plan = planned(settings, "", "", None);
            assert!(plan.executor.is_local());
            assert_eq!(plan.executor, plan::Executor::default());
            for s in &plan.steps {
                assert!(!s.exec.contains_key("resources"), "{}", s.kind);
            }
        }
    }

    #[test]
    fn lets_are_followed() {
        let plan = planned(
            "let big = resources(gpus: 1, time: \"90\")\nlet mem = \"2G\"\nlet cluster = slurm(pretrain: big, default: resources(mem: mem))\nset device = cuda\nset executor = cluster",
            "resources = big",
            "",
            None,
        );
        assert_eq!(
            of(&plan, StepKind::Pretrain),
            Some(res(1, 1, "2G", "01:30:00"))
        );
        assert_eq!(of(&plan, StepKind::Knn), Some(res(0, 1, "2G", "01:00:00")));
    }

    #[test]
    fn the_executor_can_be_chosen_at_planning() {
        // Slurm for a file that says nothing: the registry's defaults, the declarations' own first.
        let plan = planned(
            "",
            "",
            ", resources: resources(cpus: 4)",
            Some(ExecutorKind::Slurm),
        );
        assert_eq!(plan.executor.kind, ExecutorKind::Slurm);
        assert_eq!(plan.executor.partition, None);
        assert_eq!(
            of(&plan, StepKind::Finetune),
            Some(res(0, 4, "4G", "01:00:00"))
        );
        assert_eq!(of(&plan, StepKind::Knn), Some(res(0, 1, "4G", "01:00:00")));
        // Local for a file that says Slurm: nothing.
        let plan = planned(
            "set executor = slurm(partition: \"gpu\")",
            "",
            "",
            Some(ExecutorKind::Local),
        );
        assert!(plan.executor.is_local());
        assert!(plan.steps.iter().all(|s| resources_of(s).is_none()));
    }
}
