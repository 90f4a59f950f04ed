//! Planning: arm counts, deduplication, key stability, semantic diff.

mod common;
use common::*;
use sslp::lang::{self, NoImports};
use sslp::plan::{self, Plan, diff};
use std::collections::BTreeMap;

const FIG_5_23: &str = "pipelines/fig_5_23_sgd_grid.sslp";

fn plan_text(name: &str, text: &str) -> Plan {
    let checked = lang::check_source(name, name, text, &mut NoImports);
    assert!(
        checked.diagnostics.iter().all(|d| !d.is_error()),
        "{name}: {:#?}",
        checked.diagnostics
    );
    let program = checked.program.expect("a checked program");
    let (plan, diags) = plan::plan(&program);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    plan.expect("a plan")
}

fn plan_errors(text: &str) -> Vec<String> {
    let checked = lang::check_source("t.sslp", "t.sslp", text, &mut NoImports);
    let mut codes: Vec<String> = checked
        .diagnostics
        .iter()
        .map(|d| d.code.as_str().to_string())
        .collect();
    if let Some(p) = checked.program {
        codes.extend(plan::plan(&p).1.iter().map(|d| d.code.as_str().to_string()));
    }
    codes
}

fn arm_keys(p: &Plan) -> BTreeMap<String, String> {
    p.arms
        .iter()
        .map(|a| (a.name.clone(), a.output.hex()))
        .collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).expect("pipeline file")
}

#[test]
fn fig_5_23_has_the_thesis_grid_and_shares_pretraining() {
    let out = sslp(&["plan", "--format", "json", FIG_5_23]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json plan");
    // 5 methods x 7 policies x 3 size/batch settings x 10 label fractions.
    assert_eq!(json["arm_count"], 5 * 7 * 3 * 10);
    let by_kind = &json["steps_by_kind"];
    let pretrain = by_kind["pretrain"].as_u64().expect("pretrain steps");
    let seg = by_kind["segmentation"]
        .as_u64()
        .expect("segmentation steps");
    assert!(
        pretrain < seg,
        "pretrain {pretrain} should be fewer than segmentation {seg}"
    );
    assert!(pretrain <= 105);
}

/// Splits a file into top-level chunks (leading comments stay with their item).
fn chunks(src: &str) -> Vec<String> {
    let keywords = [
        "use ",
        "set ",
        "dataset ",
        "split ",
        "policy ",
        "backbone ",
        "method ",
        "optimizer ",
        "schedule ",
        "pretrain ",
        "evaluate ",
        "report ",
        "let ",
    ];
    let mut out: Vec<String> = vec![];
    let mut pending = String::new();
    for line in src.lines() {
        if keywords.iter().any(|k| line.starts_with(k)) {
            out.push(std::mem::take(&mut pending));
        }
        pending.push_str(line);
        pending.push('\n');
    }
    out.push(pending);
    out.into_iter().filter(|c| !c.trim().is_empty()).collect()
}

#[test]
fn keys_survive_reformatting_and_reordering() {
    let src = read(FIG_5_23);
    let base = plan_text("a.sslp", &src);

    let formatted = lang::fmt::format_source(&src).expect("formats");
    assert_eq!(arm_keys(&base), arm_keys(&plan_text("b.sslp", &formatted)));

    // Reverse the declarations (imports stay first) and strip comments.
    let parts = chunks(&src);
    let (uses, decls): (Vec<String>, Vec<String>) = parts
        .into_iter()
        .partition(|c| c.trim_start().starts_with("use "));
    let mut reordered = uses.concat();
    for d in decls.iter().rev() {
        let no_comments: String = d
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        reordered.push_str(&no_comments);
    }
    let other = plan_text("c.sslp", &reordered);
    assert_eq!(arm_keys(&base), arm_keys(&other));
    let keys = |p: &Plan| {
        p.steps
            .iter()
            .map(|s| s.key)
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(keys(&base), keys(&other));
}

#[test]
fn diff_names_exactly_one_probability_change() {
    let src = read(FIG_5_23);
    // Change the probability of one op in one policy.
    let needle = "@ 0.5";
    let at = src.find(needle).expect("the pipeline has an op at p = 0.5");
    let changed = format!("{}@ 0.6{}", &src[..at], &src[at + needle.len()..]);
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (dir.path().join("old.sslp"), dir.path().join("new.sslp"));
    std::fs::write(&a, &src).expect("write");
    std::fs::write(&b, &changed).expect("write");

    let old = plan_text("old.sslp", &src);
    let new = plan_text("new.sslp", &changed);
    let d = diff::diff(&old, &new);
    assert!(d.arms_added.is_empty() && d.arms_removed.is_empty());
    assert_eq!(d.changes.len(), 1, "{:#?}", d.changes);
    let c = &d.changes[0];
    assert!(c.path.ends_with(".p"), "{c:?}");
    assert_eq!((c.old.as_str(), c.new.as_str()), ("0.5", "0.6"));
    assert!(d.steps_unchanged > 0);
    assert!(d.steps_to_run > 0);
    assert_eq!(
        d.steps_to_run,
        d.steps_changed_directly + d.steps_downstream + d.steps_new_sites
    );

    let out = sslp(&["diff", &a.display().to_string(), &b.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("0.5 -> 0.6"), "{text}");
    assert!(
        text.contains(&format!("{} keep their keys", d.steps_unchanged)),
        "{text}"
    );

    let same = diff::diff(&old, &old);
    assert!(same.is_empty());
}

const BASE: &str = r#"
dataset shapes = synthetic_shapes(count: 100)
split parts {
  data = shapes
  train = 0.8
  test = 0.2
}
policy p = [grayscale() @ 0.2, horizontal_flip() @ 0.5]
"#;

fn with_base(rest: &str) -> String {
    format!("{BASE}{rest}")
}

#[test]
fn nested_sweeps_only_multiply_the_arms_that_read_them() {
    let plan = plan_text(
        "t.sslp",
        &with_base(
            r#"
pretrain ssl {
  data = parts.train
  backbone = tiny_convnet()
  method = sweep [simclr(temperature: sweep [0.1, 0.5]), byol()]
  policy = p
}
"#,
        ),
    );
    let names: Vec<&str> = plan.arms.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ssl[method=simclr,method.temperature=0.1]",
            "ssl[method=simclr,method.temperature=0.5]",
            "ssl[method=byol]"
        ]
    );
}

#[test]
fn zip_and_exclude_shape_the_grid() {
    let plan = plan_text(
        "t.sslp",
        &with_base(
            r#"
pretrain ssl {
  data = parts.train
  backbone = tiny_convnet()
  method = sweep [simclr(), byol()]
  policy = p
  batch = sweep [16, 128, 16]
  epochs = sweep [10, 10, 20]
  zip(batch, epochs)
  exclude(method: byol, batch: 128)
}
"#,
        ),
    );
    // 2 methods x 3 zipped settings - 1 excluded.
    assert_eq!(plan.arms.len(), 5);
    assert!(
        plan.arms
            .iter()
            .all(|a| !a.name.contains("method=byol,batch=128"))
    );
}

#[test]
fn label_fractions_share_pretraining_and_features() {
    let plan = plan_text(
        "t.sslp",
        &with_base(
            r#"
pretrain ssl {
  data = parts.train
  backbone = tiny_convnet()
  method = simclr()
  policy = p
}
evaluate lin = linear_probe(backbone: ssl, train: parts.train, test: parts.test, label_fraction: sweep 0.1..1.0 step 0.1)
"#,
        ),
    );
    let counts = plan.counts_by_kind();
    assert_eq!(plan.arms.len(), 10);
    assert_eq!(counts["pretrain"], 1);
    assert_eq!(counts["features"], 2);
    assert_eq!(counts["linear_probe"], 10);
    // 1.0 uses every label: no subset step for it.
    assert_eq!(counts["label_subset"], 9);
    assert_eq!(plan.arms[2].name, "lin[label_fraction=0.3]");
}

#[test]
fn renaming_a_value_declaration_keeps_keys() {
    let a = plan_text(
        "t.sslp",
        &with_base(
            "pretrain ssl {\n  data = parts.train\n  backbone = tiny_convnet()\n  method = simclr()\n  policy = p\n}\n",
        ),
    );
    let renamed = with_base("pretrain ssl {\n  data = parts.train\n  backbone = tiny_convnet()\n  method = simclr()\n  policy = q\n}\n")
        .replace("policy p =", "policy q =");
    let b = plan_text("t.sslp", &renamed);
    assert_eq!(a.arms[0].output, b.arms[0].output);
}

#[test]
fn views_must_fit_the_method() {
    let one_view = with_base(
        "pretrain ssl {\n  data = parts.train\n  backbone = tiny_convnet()\n  method = simclr()\n  policy = p\n  views = [view(count: 1)]\n}\n",
    );
    assert_eq!(plan_errors(&one_view), ["sslp::check::view_mismatch"]);
    let local = with_base(
        "pretrain ssl {\n  data = parts.train\n  backbone = tiny_convnet()\n  method = simclr()\n  policy = p\n  views = multicrop()\n}\n",
    );
    assert_eq!(plan_errors(&local), ["sslp::check::view_mismatch"]);
    let swav = local.replace("simclr()", "swav()");
    assert!(plan_errors(&swav).is_empty());
    let no_policy = with_base(
        "pretrain ssl {\n  data = parts.train\n  backbone = tiny_convnet()\n  method = simclr()\n}\n",
    );
    assert_eq!(plan_errors(&no_policy), ["sslp::check::missing_policy"]);
}

#[test]
fn directive_mistakes_are_diagnostics() {
    let bad_zip = with_base(
        "pretrain ssl {\n  data = parts.train\n  backbone = tiny_convnet()\n  method = simclr()\n  policy = p\n  batch = sweep [16, 32]\n  epochs = sweep [1, 2, 3]\n  zip(batch, epochs)\n}\n",
    );
    assert_eq!(plan_errors(&bad_zip), ["sslp::check::bad_directive"]);
    let bad_exclude = with_base(
        "pretrain ssl {\n  data = parts.train\n  backbone = tiny_convnet()\n  method = sweep [simclr(), byol()]\n  policy = p\n  exclude(method: moco)\n}\n",
    );
    assert_eq!(plan_errors(&bad_exclude), ["sslp::check::bad_directive"]);
    let all_excluded = with_base(
        "pretrain ssl {\n  data = parts.train\n  backbone = tiny_convnet()\n  method = sweep [simclr()]\n  policy = p\n  exclude(method: simclr)\n}\n",
    );
    assert_eq!(plan_errors(&all_excluded), ["sslp::plan::empty"]);
}

#[test]
fn plan_formats_are_deterministic() {
    for format in ["text", "json", "yaml", "dot", "mermaid"] {
        let a = sslp(&["plan", "--format", format, "examples/quickstart.sslp"]);
        let b = sslp(&["plan", "--format", format, "examples/quickstart.sslp"]);
        assert_eq!(a.status.code(), Some(0), "{format}: {}", stderr(&a));
        assert!(!a.stdout.is_empty());
        assert_eq!(a.stdout, b.stdout, "{format} output differs between runs");
    }
    let yaml = stdout(&sslp(&[
        "plan",
        "--format",
        "yaml",
        "examples/quickstart.sslp",
    ]));
    let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).expect("valid yaml");
    assert!(doc["arms"].as_mapping().is_some_and(|m| !m.is_empty()));
}

#[test]
fn reports_group_by_swept_parameters() {
    let src = with_base(
        r#"
let fr = sweep [0.1, 1.0]
pretrain ssl {
  data = parts.train
  backbone = tiny_convnet()
  method = simclr(temperature: sweep [0.1, 0.5])
  policy = p
}
evaluate lin = knn(backbone: ssl, train: parts.train, test: parts.test, label_fraction: fr)
report by_let = plot(metric: lin.top1, x: fr, series: ssl.method.temperature)
"#,
    );
    let plan = plan_text("t.sslp", &src);
    assert_eq!(plan.arms.len(), 4);
    // One plot collecting all four arms, not one plot per swept value.
    assert_eq!(plan.counts_by_kind()["plot"], 1);
    let plot = plan
        .steps
        .iter()
        .find(|s| s.kind == "plot")
        .expect("plot step");
    assert_eq!(plot.inputs.len(), 4);

    let unswept = src.replace("series: ssl.method.temperature", "series: ssl.epochs");
    assert_eq!(plan_errors(&unswept), ["sslp::plan::unswept_axis"]);
}

#[test]
fn a_named_op_can_be_reused_in_policies() {
    let src = with_base(
        r#"
let jitter = color_jitter(brightness: 0.8)
policy a = [jitter @ 0.5, grayscale() @ 0.2]
policy b = [jitter, horizontal_flip() @ 0.5]
pretrain ssl {
  data = parts.train
  backbone = tiny_convnet()
  method = simclr()
  policy = sweep [a, b]
}
"#,
    );
    let plan = plan_text("t.sslp", &src);
    assert_eq!(plan.arms.len(), 2);
    let pretrain: Vec<_> = plan.steps.iter().filter(|s| s.kind == "pretrain").collect();
    let first_op = |s: &sslp::plan::Step| {
        let views = s.params["views"].clone();
        let sslp::plan::Value::List(vs) = views else {
            panic!("views list")
        };
        let policy = vs[0].as_map().expect("view")["policy"].clone();
        let sslp::plan::Value::List(ops) = policy else {
            panic!("policy list")
        };
        ops[0].as_map().expect("op").clone()
    };
    let a = first_op(pretrain[0]);
    assert_eq!(a["type"].as_str(), Some("color_jitter"));
    assert_eq!(a["p"].as_f64(), Some(0.5));
    assert_eq!(first_op(pretrain[1])["p"].as_f64(), Some(1.0));
}
