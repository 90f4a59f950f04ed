//! Execution resources: a declaration's `resources` and the executor of
//! `set executor = slurm(...)`, checked once every declaration is.
//!
//! Emits `BadSweep` (a declaration's `resources` swept, directly or through a
//! `let`: it does not change what a step computes, so every arm would be the
//! same step), `TypeMismatch` (an `sbatch_args` entry that is not an option)
//! and the warning `IgnoredParameter` for what can have no effect: a
//! declaration's `resources` while the executor is `local`, and `gpus` above 0
//! for steps that run on the CPU (a kind that never uses a GPU, or a device
//! that is `cpu`).

use super::Checker;
use crate::lang::ast::DeclKind;
use crate::lang::diagnostic::{Code, Diagnostic};
use crate::lang::hir::*;
use crate::lang::registry::{self, Category, Ty};
use crate::lang::span::Span;

/// A declaration that writes its own `resources`.
struct Written {
    /// The declaration's name.
    name: String,
    /// The step kind the resources are for (`pretrain`, `finetune`, `segmentation`).
    kind: &'static str,
    /// The device the step runs on, and whether the declaration itself says so.
    device: (String, bool),
    /// The `resources` value and where it is written.
    value: HExpr,
    span: Span,
}

impl Checker<'_> {
    /// Checks every declaration's `resources` and the executor's entries (see the module doc).
    pub(super) fn check_resources(&mut self, settings: &Settings) {
        let executor = match self.follow_lets(&settings.executor) {
            HExpr::Call(c) if c.kind.category == Category::Executor => Some(c.as_ref().clone()),
            _ => None,
        };
        let slurm = executor.filter(|c| c.kind.name == "slurm");
        let mut written = vec![];
        // Whether some pretraining run says it trains on a device that is not the CPU.
        let mut pretrain_on_gpu = false;
        for decl in self.hdecls.iter().flatten() {
            let Some(call) = decl.call() else { continue };
            let kind = match decl.kind {
                DeclKind::Pretrain => "pretrain",
                DeclKind::Evaluate => call.kind.name,
                _ => continue,
            };
            let own_device = (decl.kind == DeclKind::Pretrain)
                .then(|| call.kind.param("device"))
                .flatten()
                .and_then(|(i, _)| match &call.args[i] {
                    HExpr::Str(d) if call.explicit[i] => Some(d.clone()),
                    _ => None,
                });
            pretrain_on_gpu |= own_device.as_deref().is_some_and(|d| d != "cpu");
            let Some((i, _)) = call.kind.param("resources") else {
                continue;
            };
            let (true, Some(span)) = (call.explicit[i], call.arg_spans[i]) else {
                continue;
            };
            written.push(Written {
                name: decl.name.clone(),
                kind,
                device: match own_device {
                    Some(d) => (d, true),
                    None => (settings.device.clone(), false),
                },
                value: call.args[i].clone(),
                span,
            });
        }
        for w in written {
            if self.has_sweep(&w.value, 0) {
                self.err(
                    Diagnostic::error(
                        Code::BadSweep,
                        w.span,
                        "`resources` cannot be swept",
                        "a sweep of resources",
                    )
                    .with_help("resources do not change what a step computes, so every arm would be the same step; give one value (the executor's entries set them per step kind)"),
                );
                continue;
            }
            if slurm.is_none() {
                self.err(
                    Diagnostic::warning(
                        Code::IgnoredParameter,
                        w.span,
                        "`resources` has no effect: the executor is local",
                        "ignored (only under `set executor = slurm(...)`)",
                    )
                    .with_help("remove `resources`, or write `set executor = slurm(...)` for it to take effect (`sslp run --executor local` still runs such a file on this machine); see `sslp explain slurm`"),
                );
                continue;
            }
            let on_cpu = if !registry::ON_DEVICE.contains(&w.kind) {
                Some(format!("`{}` steps run on the CPU", w.kind))
            } else if w.device.0 == "cpu" {
                Some(if w.device.1 {
                    format!("`{}` trains on the cpu (its `device`)", w.name)
                } else {
                    "`set device` is cpu".to_string()
                })
            } else {
                None
            };
            self.check_gpus(&w.value, on_cpu);
        }
        let Some(slurm) = slurm else { return };
        for (i, p) in slurm.kind.params.iter().enumerate() {
            if p.ty == Ty::Kind(Category::Resources) {
                let pipeline_on_cpu = settings.device == "cpu";
                let on_cpu = match p.name {
                    "default" if pipeline_on_cpu && !pretrain_on_gpu => {
                        Some("`set device` is cpu".to_string())
                    }
                    "default" => None,
                    kind if !registry::ON_DEVICE.contains(&kind) => {
                        Some(format!("`{kind}` steps run on the CPU"))
                    }
                    "pretrain" if pipeline_on_cpu && !pretrain_on_gpu => {
                        Some("`set device` is cpu".to_string())
                    }
                    "pretrain" => None,
                    _ if pipeline_on_cpu => Some("`set device` is cpu".to_string()),
                    _ => None,
                };
                self.check_gpus(&slurm.args[i], on_cpu);
            }
        }
        if let Some((i, _)) = slurm.kind.param("sbatch_args")
            && let HExpr::List(args) = self.follow_lets(&slurm.args[i])
        {
            let bad: Vec<String> = args
                .iter()
                .filter_map(|a| match self.follow_lets(a) {
                    HExpr::Str(s) if !s.starts_with('-') => Some(s.clone()),
                    _ => None,
                })
                .collect();
            if let (Some(first), Some(span)) = (bad.first(), slurm.arg_spans[i]) {
                self.err(
                    Diagnostic::error(
                        Code::TypeMismatch,
                        span,
                        format!("`{first}` is not an `sbatch` option"),
                        "expected options such as \"--qos=high\"",
                    )
                    .with_help(format!(
                        "write each option with its dashes and value in one string: `\"--{first}\"`"
                    )),
                );
            }
        }
    }

    /// Warns about `gpus` above 0 in a `resources` value when its steps run on the CPU
    /// (`on_cpu` says why; `None`: some step may use a GPU).
    fn check_gpus(&mut self, value: &HExpr, on_cpu: Option<String>) {
        let Some(why) = on_cpu else { return };
        let HExpr::Call(res) = self.follow_lets(value) else {
            return;
        };
        let Some((i, _)) = res.kind.param("gpus") else {
            return;
        };
        let gpus = match self.follow_lets(&res.args[i]) {
            HExpr::Int(n) => *n,
            _ => 0,
        };
        let (true, Some(span)) = (res.explicit[i] && gpus > 0, res.arg_spans[i]) else {
            return;
        };
        let help = if why.contains("steps run on the CPU") {
            format!(
                "remove `gpus`: only {} steps use a GPU",
                registry::ON_DEVICE
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            "remove `gpus`, or write `set device = cuda` for it to take effect (`sslp run --device cpu` still runs such a file on the CPU)".to_string()
        };
        self.err(
            Diagnostic::warning(
                Code::IgnoredParameter,
                span,
                format!("`gpus` has no effect: {why}"),
                "ignored (only for steps that run on a GPU)",
            )
            .with_help(help),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{BASE, checked, spans};
    use crate::lang::Code;

    const RUN: &str = "pretrain ssl {
  data = parts.train
  backbone = tiny_convnet()
  method = simclr()
  epochs = 1
  batch = 8
";

    fn warnings(text: &str) -> Vec<String> {
        let c = checked(text);
        assert!(
            c.diagnostics.iter().all(|d| !d.is_error()),
            "{:#?}",
            c.diagnostics
        );
        c.diagnostics.iter().map(|d| d.message.clone()).collect()
    }

    #[test]
    fn resources_under_slurm_on_a_gpu_say_nothing() {
        let text = format!(
            "set device = cuda\nset executor = slurm(partition: \"gpu\", pretrain: resources(gpus: 1, cpus: 8, mem: \"32G\", time: \"12h\"))\n{BASE}{RUN}  resources = resources(gpus: 2, time: \"1d12h\")\n}}\nevaluate ft = finetune(backbone: ssl, train: parts.train, test: parts.test, resources: resources(gpus: 1))\n"
        );
        assert_eq!(warnings(&text), Vec::<String>::new());
        let settings = checked(&text).program.expect("checks").settings;
        let crate::lang::hir::HExpr::Call(c) = settings.executor else {
            panic!("{:?}", settings.executor)
        };
        assert_eq!(c.kind.name, "slurm");
    }

    #[test]
    fn resources_under_the_local_executor_are_ignored() {
        let text = format!("{BASE}{RUN}  resources = resources(cpus: 4)\n}}\n");
        assert_eq!(
            spans(&text),
            [(
                Code::IgnoredParameter,
                "12:15".into(),
                "resources(cpus: 4)".into()
            )]
        );
        assert_eq!(
            warnings(&text),
            ["`resources` has no effect: the executor is local"]
        );
        // Written explicitly as local: the same.
        let text = format!("set executor = local()\n{text}");
        assert_eq!(warnings(&text).len(), 1);
    }

    #[test]
    fn gpus_for_steps_on_the_cpu_are_ignored() {
        let slurm = "set executor = slurm(default: resources(gpus: 1), knn: resources(gpus: 1), pretrain: resources(gpus: 1), features: resources(gpus: 0))\n";
        assert_eq!(
            warnings(&format!("{slurm}{BASE}")),
            [
                "`gpus` has no effect: `set device` is cpu",
                "`gpus` has no effect: `knn` steps run on the CPU",
                "`gpus` has no effect: `set device` is cpu",
            ]
        );
        // On a GPU: only the kind that never uses one.
        assert_eq!(
            warnings(&format!("set device = cuda\n{slurm}{BASE}")),
            ["`gpus` has no effect: `knn` steps run on the CPU"]
        );
        // A run that trains on a GPU of its own makes `pretrain` (and `default`) matter.
        let text = format!("{slurm}{BASE}{RUN}  device = cuda\n}}\n");
        assert_eq!(
            warnings(&text),
            ["`gpus` has no effect: `knn` steps run on the CPU"]
        );
        // A declaration's own, on a run that says it trains on the CPU.
        let text = format!(
            "set device = cuda\nset executor = slurm()\n{BASE}{RUN}  device = cpu\n  resources = resources(gpus: 1)\n}}\n"
        );
        assert_eq!(
            warnings(&text),
            ["`gpus` has no effect: `ssl` trains on the cpu (its `device`)"]
        );
    }

    #[test]
    fn resources_are_not_swept() {
        let text = format!(
            "set executor = slurm()\n{BASE}{RUN}  resources = sweep [resources(cpus: 1), resources(cpus: 2)]\n}}\n"
        );
        assert_eq!(
            spans(&text)
                .into_iter()
                .map(|(c, at, _)| (c, at))
                .collect::<Vec<_>>(),
            [(Code::BadSweep, "13:15".into())]
        );
        // Through a `let`, in a declaration or in a setting.
        let text = format!(
            "let r = sweep [resources(cpus: 1), resources(cpus: 2)]\nset executor = slurm()\n{BASE}{RUN}  resources = r\n}}\n"
        );
        assert_eq!(spans(&text), [(Code::BadSweep, "14:15".into(), "r".into())]);
        let text = "let r = sweep [resources(cpus: 1), resources(cpus: 2)]\nset executor = slurm(pretrain: r)\n";
        assert_eq!(
            spans(text),
            [(Code::BadSweep, "2:16".into(), "slurm(pretrain: r)".into())]
        );
        let text = "let s = sweep [1, 2]\nset seed = s\n";
        assert_eq!(spans(text), [(Code::BadSweep, "2:12".into(), "s".into())]);
    }

    #[test]
    fn a_setting_that_names_a_let_has_its_value() {
        let c =
            checked("let s = 7\nlet e = slurm(partition: \"p\")\nset seed = s\nset executor = e\n");
        assert_eq!(c.diagnostics, []);
        let settings = c.program.expect("checks").settings;
        assert_eq!(settings.seed, 7);
        assert!(
            matches!(&settings.executor, crate::lang::hir::HExpr::Call(c) if c.kind.name == "slurm")
        );
    }

    #[test]
    fn memory_sizes_and_durations_are_checked_where_written() {
        for (text, code, at, what) in [
            (
                "set executor = slurm(default: resources(mem: \"32GB\"))\n",
                Code::TypeMismatch,
                "1:46",
                "\"32GB\"",
            ),
            (
                "set executor = slurm(default: resources(time: \"4 hours\"))\n",
                Code::TypeMismatch,
                "1:47",
                "\"4 hours\"",
            ),
            (
                "set executor = slurm(default: resources(time: \"0h\"))\n",
                Code::OutOfRange,
                "1:47",
                "\"0h\"",
            ),
            (
                "set executor = slurm(default: resources(mem: 32))\n",
                Code::TypeMismatch,
                "1:46",
                "32",
            ),
            (
                "let t = \"1x\"\nset executor = slurm(default: resources(time: t))\n",
                Code::TypeMismatch,
                "1:9",
                "\"1x\"",
            ),
            (
                "set executor = slurm(sbatch_args: [\"--qos=high\", \"qos=low\"])\n",
                Code::TypeMismatch,
                "1:35",
                "[\"--qos=high\", \"qos=low\"]",
            ),
            (
                "set executor = slurm(default: resources(gpus: -1))\n",
                Code::OutOfRange,
                "1:47",
                "-1",
            ),
            ("set executor = sgd()\n", Code::WrongCategory, "1:16", "sgd"),
            (
                "set executor = slurm(pretrian: resources())\n",
                Code::UnknownArgument,
                "1:22",
                "pretrian",
            ),
        ] {
            assert_eq!(
                spans(text),
                [(code, at.to_string(), what.to_string())],
                "{text}"
            );
        }
        // Good ones, through a `let` too.
        let c = checked(
            "let t = \"1-12:00:00\"\nset executor = slurm(default: resources(mem: \"512M\", time: t), pretrain: resources(time: \"2d\"))\n",
        );
        assert_eq!(c.diagnostics, []);
    }
}
