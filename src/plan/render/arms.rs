//! One line per arm, for git's textconv (`sslp textconv`): the fully
//! resolved design in a form line-based diffs read well.
//!
//! Each line is an arm's name, then every step of its lineage as
//! `decl/kind{param=value ...}(input=decl/kind ...)`, inputs named by the
//! step that produces them. Arms are sorted by name and parameters by path,
//! so the same design always gives the same bytes and a design change shows
//! as the arm lines it changes (`git diff --word-diff` marks the values).
//! Keys are left out: they change with code versions and data, not with the file.

use super::executor_summary;
use crate::plan::Plan;
use crate::plan::diff::flatten_params;
use std::collections::BTreeMap;

/// The plan as a header and one line per arm.
pub fn arm_lines(plan: &Plan, title: &str) -> String {
    let mut out = format!(
        "# sslp plan of {title}: {} arm{}, {} step{} (one line per arm)\n",
        plan.arms.len(),
        if plan.arms.len() == 1 { "" } else { "s" },
        plan.steps.len(),
        if plan.steps.len() == 1 { "" } else { "s" },
    );
    out.push_str(&format!(
        "# seed={} device={} executor={}\n",
        plan.seed,
        plan.device,
        executor_summary(&plan.executor).replace(' ', "_")
    ));
    if let Some(name) = &plan.name {
        out.push_str(&format!("# name: {name}\n"));
    }
    let mut arms: Vec<_> = plan.arms.iter().collect();
    arms.sort_by(|a, b| a.name.cmp(&b.name));
    for arm in arms {
        let steps: Vec<_> = arm.lineage.iter().filter_map(|k| plan.step(k)).collect();
        // Each step's label in this arm: `decl/kind`, numbered when two share one.
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let bare: Vec<String> = steps
            .iter()
            .map(|s| format!("{}/{}", s.decl, s.kind))
            .collect();
        let mut labels = BTreeMap::new();
        for (s, label) in steps.iter().zip(&bare) {
            let shared = bare.iter().filter(|b| *b == label).count() > 1;
            let n = seen.entry(label.clone()).or_insert(0);
            *n += 1;
            let label = if shared {
                format!("{label}#{n}")
            } else {
                label.clone()
            };
            labels.insert(s.key, label);
        }
        out.push_str(&arm.name);
        out.push(':');
        for s in &steps {
            out.push(' ');
            out.push_str(&labels[&s.key]);
            let params: Vec<String> = flatten_params(&s.params)
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.push('{');
            out.push_str(&params.join(" "));
            out.push('}');
            if !s.inputs.is_empty() {
                let inputs: Vec<String> = s
                    .inputs
                    .iter()
                    .map(|(name, k)| {
                        let from = labels.get(k).map_or_else(|| k.short(), String::clone);
                        format!("{name}={from}")
                    })
                    .collect();
                out.push('(');
                out.push_str(&inputs.join(" "));
                out.push(')');
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::lang::{self, NoImports};

    fn lines(src: &str) -> String {
        let checked = lang::check_source("t.sslp", "t.sslp", src, &mut NoImports);
        let program = checked.program.expect("checks");
        let plan = crate::plan::plan(&program).0.expect("plans");
        super::arm_lines(&plan, "t.sslp")
    }

    const SRC: &str = "dataset d = synthetic_shapes(count: 40, size: 16)\n\
        split p {\n  data = d\n  train = 0.5\n  test = 0.5\n}\n\
        evaluate e = knn(backbone: tiny_convnet(width: 8, depth: 2), train: p.train, test: p.test, k: sweep [3, 5])\n";

    #[test]
    fn one_line_per_arm_sorted_with_every_step() {
        let text = lines(SRC);
        let arms: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(arms.len(), 2, "{text}");
        assert!(arms[0].starts_with("e[k=3]: d/dataset{"), "{text}");
        assert!(arms[1].starts_with("e[k=5]: d/dataset{"), "{text}");
        assert!(arms[0].contains("p/split{"), "{text}");
        assert!(arms[0].contains("(data=d/dataset)"), "{text}");
        assert!(arms[0].contains(" k=3"), "{text}");
        assert!(text.starts_with("# sslp plan of t.sslp: 2 arms"), "{text}");
    }

    #[test]
    fn the_same_design_gives_the_same_bytes() {
        assert_eq!(lines(SRC), lines(SRC));
        let changed = lines(&SRC.replace("count: 40", "count: 60"));
        assert_ne!(lines(SRC), changed);
        assert!(changed.contains("count=60"), "{changed}");
    }
}
