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
fn directives_name_nested_sweeps_by_their_last_part() {
    let plan = plan_text(
        "t.sslp",
        &with_base(
            r#"
pretrain ssl {
  data = parts.train
  backbone = tiny_convnet()
  method = simclr(temperature: sweep [0.1, 0.2, 0.5])
  policy = [random_resized_crop(scale: sweep [0.2..1.0, 0.6..1.0]) @ 1.0]
  exclude(temperature: 0.1, scale: 0.6..1.0)
}
"#,
        ),
    );
    // 3 temperatures x 2 crop scales - 1 excluded.
    assert_eq!(plan.arms.len(), 5);
    let zipped = plan_text(
        "t.sslp",
        &with_base(
            "pretrain ssl {\n  data = parts.train\n  backbone = tiny_convnet()\n  method = simclr(temperature: sweep [0.1, 0.2])\n  policy = [random_resized_crop(scale: sweep [0.2..1.0, 0.6..1.0]) @ 1.0, gaussian_blur(sigma: sweep [0.1..1.0, 0.1..2.0]) @ 1.0]\n  zip(temperature, scale)\n  exclude(sigma: 0.1..1.0, scale: 0.2..1.0)\n}\n",
        ),
    );
    // 2 zipped settings x 2 blurs - 1 excluded.
    assert_eq!(zipped.arms.len(), 3);
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
    // The value holding a nested sweep groups by it too (rows labelled `temperature=0.1`).
    let holder = src.replace("series: ssl.method.temperature", "series: ssl.method");
    assert!(plan_errors(&holder).is_empty());
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

fn plan_diags(text: &str) -> Vec<sslp::lang::Diagnostic> {
    let checked = lang::check_source("t.sslp", "t.sslp", text, &mut NoImports);
    let mut diags = checked.diagnostics.clone();
    if let Some(p) = checked.program {
        diags.extend(plan::plan(&p).1);
    }
    diags
}

fn steps_of(p: &Plan, kind: &str) -> Vec<sslp::plan::Step> {
    p.steps.iter().filter(|s| s.kind == kind).cloned().collect()
}

#[test]
fn an_lbfgs_sweep_over_sgd_parameters_shares_one_step() {
    let probe = |solver: &str| {
        with_base(&format!(
            "evaluate lin = linear_probe(backbone: tiny_convnet(), train: parts.train, test: parts.test,\n  solver: {solver}, epochs: sweep [10, 20], lr: sweep [0.1, 0.5])\n"
        ))
    };
    let lbfgs = plan_text("lbfgs.sslp", &probe("lbfgs"));
    assert_eq!(lbfgs.arms.len(), 4);
    let probes = steps_of(&lbfgs, "linear_probe");
    assert_eq!(probes.len(), 1, "one shared step: {probes:#?}");
    assert!(!probes[0].params.contains_key("epochs"));
    assert!(!probes[0].params.contains_key("lr"));
    assert!(!probes[0].params.contains_key("batch"));
    assert_eq!(probes[0].sites.len(), 4);
    let sgd = plan_text("sgd.sslp", &probe("sgd"));
    assert_eq!(steps_of(&sgd, "linear_probe").len(), 4);
    // A swept solver: the sgd arms differ, the lbfgs arms share one step.
    let both = plan_text(
        "both.sslp",
        &with_base(
            "evaluate lin = linear_probe(backbone: tiny_convnet(), train: parts.train, test: parts.test,\n  solver: sweep [lbfgs, sgd], epochs: sweep [10, 20])\n",
        ),
    );
    assert_eq!(both.arms.len(), 4);
    assert_eq!(steps_of(&both, "linear_probe").len(), 3);
}

#[test]
fn knn_temperature_leaves_euclidean_keys() {
    let knn = |t: &str| {
        plan_text(
            "k.sslp",
            &with_base(&format!(
                "evaluate nn = knn(backbone: tiny_convnet(), train: parts.train, test: parts.test, k: 5, distance: euclidean, temperature: {t})\n"
            )),
        )
    };
    assert_eq!(arm_keys(&knn("0.1")), arm_keys(&knn("0.5")));
}

#[test]
fn g_simclr_with_local_crops_is_a_view_mismatch() {
    let text = with_base(
        "pretrain ssl {\n  data = parts.train\n  backbone = tiny_convnet()\n  method = g_simclr()\n  policy = p\n  views = multicrop(local: 2)\n}\n",
    );
    let diags = plan_diags(&text);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code.as_str(), "sslp::check::view_mismatch");
    let help = diags[0].help.clone().unwrap_or_default();
    assert!(help.contains("G-SimCLR trains as SimCLR"), "{help}");
    assert!(help.contains("swav and dino"), "{help}");
}

fn offline_run(policy: &str) -> String {
    format!(
        "dataset shapes = synthetic_shapes(count: 64)\npretrain ssl {{\n  data = shapes\n  backbone = tiny_convnet()\n  method = simclr()\n  policy = {policy}\n  batch = 16\n}}\n"
    )
}

#[test]
fn offline_ops_are_cached_after_deterministic_ops_only() {
    // Leading: cached, no `before`.
    let p = plan_text(
        "a.sslp",
        &offline_run("[saliency_cut(), horizontal_flip() @ 0.5]"),
    );
    let off = steps_of(&p, "offline_augment");
    assert_eq!(off.len(), 1);
    assert!(!off[0].params.contains_key("before"));
    // After deterministic ops: cached, computed after them.
    let p = plan_text(
        "b.sslp",
        &offline_run("[grayscale(), normalize(), saliency_cut(render: swap)]"),
    );
    let off = steps_of(&p, "offline_augment");
    assert_eq!(off.len(), 1);
    let before = off[0].params["before"].display();
    assert!(
        before.contains("grayscale") && !before.contains("normalize"),
        "{before}"
    );
    // Inside `one_of`: cached too.
    let p = plan_text(
        "c.sslp",
        &offline_run("[one_of(choices: [saliency_cut(), grayscale()])]"),
    );
    assert_eq!(steps_of(&p, "offline_augment").len(), 1);
    // Never applied: not planned.
    let p = plan_text("d.sslp", &offline_run("[saliency_cut() @ 0.0]"));
    assert!(steps_of(&p, "offline_augment").is_empty());
    // After a random op: an error that names it.
    for (policy, culprit) in [
        ("[color_jitter(), saliency_cut()]", "`color_jitter`"),
        (
            "[horizontal_flip() @ 0.5, saliency_cut()]",
            "`horizontal_flip @ 0.5`",
        ),
        (
            "[saliency_cut(), saliency_cut(method: hc)]",
            "`saliency_cut`",
        ),
    ] {
        let diags = plan_diags(&offline_run(policy));
        let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
        assert_eq!(errors.len(), 1, "{policy}: {diags:#?}");
        assert_eq!(errors[0].code.as_str(), "sslp::check::uncacheable_offline");
        assert!(
            errors[0].message.contains(culprit),
            "{policy}: {}",
            errors[0].message
        );
    }
}

#[test]
fn views_must_agree_on_normalize() {
    let text = with_base(
        "pretrain ssl {\n  data = parts.train\n  backbone = tiny_convnet()\n  method = simclr()\n  views = [view(policy: [normalize()]), view(policy: [normalize(mean: [0.5, 0.5, 0.5])])]\n}\n",
    );
    let diags = plan_diags(&text);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].code.as_str(), "sslp::check::view_mismatch");
    assert!(diags[0].message.contains("normalise"));
    let same = text.replace("normalize(mean: [0.5, 0.5, 0.5])", "normalize()");
    assert!(plan_diags(&same).is_empty());
}

#[test]
fn clamps_and_long_queues_are_warned_where_sizes_are_known() {
    // 100 images, 80 train: k = 500 is clamped, a 4096-key queue repeats images.
    let text = with_base(
        "pretrain ssl {\n  data = parts.train\n  backbone = tiny_convnet()\n  method = moco(queue: 4096)\n  policy = p\n  batch = 16\n}\nevaluate nn = knn(backbone: ssl, train: parts.train, test: parts.test, k: 500)\nevaluate seg = segmentation(backbone: ssl, train: parts.train, test: parts.test, batch: 81)\n",
    );
    let diags = plan_diags(&text);
    let found: Vec<(&str, &str)> = diags
        .iter()
        .map(|d| (d.code.as_str(), d.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "sslp::plan::queue_longer_than_data",
                "MoCo's queue (4096) is longer than the 80 training images"
            ),
            (
                "sslp::plan::clamped",
                "`k` is 500, but the labelled training data has only 80 images: it will be clamped to 80"
            ),
            (
                "sslp::plan::clamped",
                "`batch` is 81, but the training data has only 80 images: it will be clamped to 80"
            ),
        ]
    );
    assert!(diags.iter().all(|d| !d.is_error()));
}

#[test]
fn an_untrained_baseline_is_initialised_from_its_evaluations_seed() {
    let plan = plan_text(
        "t.sslp",
        &with_base(
            r#"
let trial = sweep [0, 1, 2]
evaluate untrained = linear_probe(backbone: tiny_convnet(), train: parts.train, test: parts.test, seed: trial)
evaluate fixed = linear_probe(backbone: tiny_convnet(), train: parts.train, test: parts.test)
"#,
        ),
    );
    let init_seeds: Vec<(String, String)> = plan
        .steps
        .iter()
        .filter(|s| s.kind == sslp::plan::StepKind::InitBackbone)
        .map(|s| (s.decl.clone(), format!("{:?}", s.params["seed"])))
        .collect();
    // One initialisation per trial, and one at the pipeline seed for the evaluation that
    // states none (shared with trial 0 when the pipeline seed is 0).
    let mut seeds: Vec<&str> = init_seeds.iter().map(|(_, s)| s.as_str()).collect();
    seeds.sort_unstable();
    seeds.dedup();
    assert_eq!(seeds.len(), 3, "{init_seeds:?}");
    assert!(
        init_seeds.iter().any(|(d, _)| d == "untrained"),
        "{init_seeds:?}"
    );
}

#[test]
fn calls_of_one_kind_are_labelled_by_the_arguments_that_differ() {
    let arms = |extra: &str| -> Vec<String> {
        let plan = plan_text(
            "t.sslp",
            &with_base(&format!(
                r#"
pretrain ssl {{
  data = parts.train
  backbone = tiny_convnet()
  method = sweep [simclr(temperature: 0.1, proj_dim: 64), simclr(temperature: 0.5, proj_dim: 64), byol()]
  policy = p
  {extra}
}}
"#
            )),
        );
        plan.arms.iter().map(|a| a.name.clone()).collect()
    };
    assert_eq!(
        arms(""),
        [
            "ssl[method=simclr(temperature=0.1)]",
            "ssl[method=simclr(temperature=0.5)]",
            "ssl[method=byol]"
        ]
    );
    // `exclude` takes the label, or the call as written.
    let kept = ["ssl[method=simclr(temperature=0.5)]", "ssl[method=byol]"];
    assert_eq!(arms("exclude(method: simclr(temperature: 0.1))"), kept);
    assert_eq!(
        arms("exclude(method: simclr(temperature: 0.1, proj_dim: 64))"),
        kept
    );
}

// ------------------------------------------------------------ inline dataset calls

/// The steps of a plan as `kind -> sorted keys`.
fn keys_by_kind(p: &Plan) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in &p.steps {
        out.entry(s.kind.as_str().to_string())
            .or_default()
            .push(s.key.hex());
    }
    out.values_mut().for_each(|v| v.sort());
    out
}

/// An evaluation with its data written inline, and the same evaluation over
/// named `dataset` declarations with the same calls.
fn inline_and_named(eval: &str) -> (Plan, Plan) {
    const TRAIN: &str = "synthetic_shapes(count: 24, seed: 1)";
    const TEST: &str = "synthetic_shapes(count: 12, seed: 2)";
    let inline = eval.replace("TRAIN", TRAIN).replace("TEST", TEST);
    // A declared dataset is planned even when unused: declare only those used.
    let mut named = format!("dataset tr = {TRAIN}\n");
    if eval.contains("TEST") {
        named += &format!("dataset te = {TEST}\n");
    }
    named += &eval.replace("TRAIN", "tr").replace("TEST", "te");
    (
        plan_text("inline.sslp", &inline),
        plan_text("named.sslp", &named),
    )
}

/// Regression: an inline dataset call as an evaluation's data was lowered to no
/// step, the arm was dropped without a word and the plan failed with "every
/// combination is excluded". It is now a `dataset` step like a named one, and
/// since a step's key covers its kind, version, parameters and inputs (never
/// the declaration's name), the inline and the named forms plan the same keys.
#[test]
fn inline_data_in_evaluations_is_a_dataset_step() {
    let evals = [
        (
            "knn",
            "train",
            "evaluate e = knn(backbone: tiny_convnet(), train: TRAIN, test: TEST, k: 5)",
        ),
        (
            "linear_probe",
            "train",
            "evaluate e = linear_probe(backbone: tiny_convnet(), train: TRAIN, test: TEST, label_fraction: 0.5)",
        ),
        (
            "kmeans",
            "data",
            "evaluate e = kmeans(backbone: tiny_convnet(), data: TRAIN, clusters: 4)",
        ),
        (
            "finetune",
            "train",
            "evaluate e = finetune(backbone: tiny_convnet(), train: TRAIN, test: TEST, epochs: 1, batch: 4)",
        ),
    ];
    for (kind, role, eval) in evals {
        let (inline, named) = inline_and_named(eval);
        assert_eq!(inline.arms.len(), 1, "{kind}: one arm");
        assert_eq!(inline.arms[0].name, "e");
        let output = inline.step(&inline.arms[0].output).expect("the arm's step");
        assert_eq!(output.kind.as_str(), kind);
        // The inline dataset is a step of the arm, at the site of its parameter.
        let datasets = steps_of(&inline, "dataset");
        let site = format!("e[]/dataset:{role}");
        let train = datasets
            .iter()
            .find(|s| s.sites.iter().any(|x| x.to_string() == site))
            .unwrap_or_else(|| panic!("{kind}: no dataset step at {site}"));
        assert_eq!(train.decl, "e");
        assert!(inline.arms[0].lineage.contains(&train.key), "{kind}");
        // Same calls, same keys: the dataset steps and everything downstream.
        assert_eq!(keys_by_kind(&inline), keys_by_kind(&named), "{kind}");
        assert_eq!(inline.arms[0].output, named.arms[0].output, "{kind}");
        let expected = if role == "data" { 1 } else { 2 };
        assert_eq!(datasets.len(), expected, "{kind}");
    }
}

/// Inline data in the other places that take data (a pretraining run, a split,
/// a preview) is a `dataset` step as well: before, it stayed a parameter map and
/// the step failed when run (`pretraining needs \`data\``).
#[test]
fn inline_data_in_pretraining_splits_and_previews_is_a_dataset_step() {
    const DATA: &str = "synthetic_shapes(count: 40, seed: 3)";
    let text = |data: &str| {
        format!(
            r#"
pretrain ssl {{
  data = {data}
  backbone = tiny_convnet()
  method = g_simclr()
  policy = [random_resized_crop()]
  batch = 8
}}
split parts {{
  data = {data}
  train = 0.5
  test = 0.5
}}
evaluate e = knn(backbone: ssl, train: parts.train, test: parts.test, k: 5)
report look = preview(data: {data}, policy: [random_resized_crop()])
"#
        )
    };
    let inline = plan_text("inline.sslp", &text(DATA));
    let named = plan_text("named.sslp", &format!("dataset d = {DATA}\n{}", text("d")));
    assert_eq!(keys_by_kind(&inline), keys_by_kind(&named));
    let datasets = steps_of(&inline, "dataset");
    assert_eq!(datasets.len(), 1, "one call, one step");
    let data = datasets[0].key;
    for kind in ["pretrain", "split", "preview", "autoencoder"] {
        let step = &steps_of(&inline, kind)[0];
        assert_eq!(
            step.inputs.get("data"),
            Some(&data),
            "{kind} reads the inline data"
        );
    }
    let mut sites: Vec<String> = datasets[0].sites.iter().map(|s| s.to_string()).collect();
    sites.sort();
    assert_eq!(
        sites,
        [
            "look[]/dataset:data",
            "parts[]/dataset:data",
            "ssl[]/dataset:data"
        ]
    );
}

/// An arm the planner cannot lower is a diagnostic saying why, never an arm
/// dropped in silence (and never "every combination is excluded").
#[test]
fn an_arm_that_cannot_be_lowered_is_a_diagnostic() {
    use sslp::lang::hir::HExpr;
    let text = "dataset d = synthetic_shapes(count: 10)\nevaluate e = knn(backbone: tiny_convnet(), train: d, test: d)\n";
    let checked = lang::check_source("t.sslp", "t.sslp", text, &mut NoImports);
    let mut program = checked.program.expect("a checked program");
    // A value the checker never produces where data belongs.
    let e = program.decls.iter_mut().find(|d| d.name == "e").expect("e");
    let HExpr::Call(call) = &mut e.value else {
        panic!("a call")
    };
    let (i, _) = call.kind.param("train").expect("train");
    call.args[i] = HExpr::Int(3);
    let (plan, diags) = plan::plan(&program);
    assert!(plan.is_none());
    let messages: Vec<String> = diags.iter().map(|d| d.message.to_string()).collect();
    assert_eq!(
        messages,
        ["`e` cannot be planned: its `train` cannot be lowered to a step: 3"],
        "{diags:#?}"
    );
    assert_eq!(diags[0].code.as_str(), "sslp::plan::empty");
}

/// A pipeline with a step of every kind `slurm(...)` has an entry for: an offline op, G-SimCLR
/// (its autoencoder and pseudo-labels), features, every evaluation.
const EVERY_SLOT: &str = "{settings}
dataset shapes = synthetic_shapes(count: 64, size: 16, classes: 4)
split parts {
  data = shapes
  train = 0.5
}
pretrain ssl {
  data = parts.train
  backbone = tiny_convnet()
  method = g_simclr(clusters: 4, ae_epochs: 1)
  policy = [saliency_cut() @ 0.5, horizontal_flip() @ 0.5]
  epochs = 1
  batch = 8
  {run}
}
evaluate lin = linear_probe(backbone: ssl, train: parts.train, test: parts.test)
evaluate nn = knn(backbone: ssl, train: parts.train, test: parts.test, k: 5)
evaluate km = kmeans(backbone: ssl, data: parts.test, clusters: 4)
evaluate ts = tsne(backbone: ssl, data: parts.test, perplexity: 3.0)
evaluate seg = segmentation(backbone: ssl, train: parts.train, test: parts.test, epochs: 1{own})
evaluate ft = finetune(backbone: ssl, train: parts.train, test: parts.test, epochs: 1{own})
";

fn every_slot(settings: &str, run: &str, own: &str) -> Plan {
    let text = EVERY_SLOT
        .replace("{settings}", settings)
        .replace("{run}", run)
        .replace("{own}", own);
    plan_text("t.sslp", &text)
}

fn step_keys(p: &Plan) -> Vec<String> {
    p.steps.iter().map(|s| s.key.hex()).collect()
}

#[test]
fn the_executor_and_resources_are_outside_every_key() {
    let local = every_slot("", "", "");
    let kinds: std::collections::BTreeSet<&str> =
        local.steps.iter().map(|s| s.kind.as_str()).collect();
    for slot in sslp::lang::registry::RESOURCE_SLOTS {
        assert!(kinds.contains(slot), "no `{slot}` step in the fixture");
    }
    assert!(local.executor.is_local());
    for (settings, run, own) in [
        ("set executor = slurm()", "", ""),
        (
            "set executor = slurm(partition: \"gpu\", account: \"a\", max_jobs: 3, sbatch_args: [\"--qos=high\"], default: resources(gpus: 1, cpus: 2, mem: \"1T\", time: \"2d\"))",
            "",
            "",
        ),
        (
            "set executor = slurm()",
            "resources = resources(cpus: 16, time: \"3h\")",
            ", resources: resources(mem: \"64G\")",
        ),
    ] {
        let other = every_slot(settings, run, own);
        assert_eq!(
            step_keys(&local),
            step_keys(&other),
            "{settings} {run} {own}"
        );
        assert_eq!(arm_keys(&local), arm_keys(&other));
        assert_eq!(other.executor.kind, plan::ExecutorKind::Slurm);
        for s in &other.steps {
            let r = plan::resources_of(s).unwrap_or_else(|| panic!("{} has none", s.kind));
            assert!(r.cpus >= 1 && !r.mem.is_empty() && !r.time.is_empty());
        }
        // Everything else in `exec` is as under the local executor.
        for (a, b) in local.steps.iter().zip(&other.steps) {
            let mut exec = b.exec.clone();
            exec.remove("resources");
            assert_eq!(a.exec, exec, "{}", a.kind);
        }
    }
}

#[test]
fn every_entry_of_slurm_reaches_the_steps_of_its_kind() {
    let base = every_slot("set executor = slurm()", "", "");
    for slot in sslp::lang::registry::RESOURCE_SLOTS {
        let plan = every_slot(
            &format!("set executor = slurm({slot}: resources(cpus: 7))"),
            "",
            "",
        );
        assert_eq!(step_keys(&base), step_keys(&plan), "{slot}");
        for s in &plan.steps {
            let cpus = plan::resources_of(s).expect("resources").cpus;
            assert_eq!(cpus == 7, s.kind.as_str() == *slot, "{slot}: {}", s.kind);
        }
    }
    // A declaration's own reaches its step only.
    let plan = every_slot(
        "set executor = slurm()",
        "resources = resources(cpus: 5)",
        ", resources: resources(cpus: 6)",
    );
    for s in &plan.steps {
        let want = match s.kind.as_str() {
            "pretrain" => 5,
            "segmentation" | "finetune" => 6,
            _ => 1,
        };
        assert_eq!(
            plan::resources_of(s).expect("resources").cpus,
            want,
            "{}",
            s.kind
        );
    }
}

#[test]
fn a_slurm_plan_renders_its_executor_and_resources_in_json() {
    let plan = every_slot(
        "set executor = slurm(partition: \"gpu\", max_jobs: 2, pretrain: resources(time: \"36:00:00\"))",
        "",
        "",
    );
    let json: serde_json::Value =
        serde_json::from_str(&plan::render::json(&plan)).expect("the plan's JSON");
    assert_eq!(
        json["executor"],
        serde_json::json!({
            "kind": "slurm",
            "partition": "gpu",
            "account": null,
            "max_jobs": 2,
            "sbatch_args": [],
        })
    );
    let pretrain = json["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["kind"] == "pretrain")
        .expect("a pretrain step");
    assert_eq!(
        pretrain["exec"]["resources"],
        serde_json::json!({"gpus": 0, "cpus": 1, "mem": "4G", "time": "1-12:00:00"})
    );
    // The local executor is not rendered at all.
    let local = plan::render::json(&every_slot("", "", ""));
    assert!(!local.contains("\"executor\"") && !local.contains("\"resources\""));
}
