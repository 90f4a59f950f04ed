use crate::lang::diagnostic::render;
use crate::lang::{Checked, Code, NoImports, check_source};

pub(super) const BASE: &str = r#"
dataset shapes = synthetic_shapes(count: 64, classes: 4)
split parts {
  data = shapes
  train = 0.5
}
"#;

/// Checks `rest` after a small dataset and split (shared with `trainable_tests`).
pub(super) fn check(rest: &str) -> Checked {
    let text = format!("{BASE}{rest}");
    check_source("t.sslp", "t.sslp", &text, &mut NoImports)
}

fn ignored(rest: &str) -> Vec<String> {
    let c = check(rest);
    assert!(
        c.diagnostics.iter().all(|d| !d.is_error()),
        "{:#?}",
        c.diagnostics
    );
    c.diagnostics
        .iter()
        .filter(|d| d.code == Code::IgnoredParameter)
        .map(|d| d.message.clone())
        .collect()
}

fn rendered(rest: &str) -> String {
    let c = check(rest);
    render::graphical_all(&c.diagnostics, &c.sources, false)
}

const PROBE: &str = "backbone: tiny_convnet(), train: parts.train, test: parts.test";

#[test]
fn probe_epochs_under_lbfgs_are_ignored() {
    let found = ignored(&format!(
        "evaluate lin = linear_probe({PROBE}, epochs: 10, lr: 0.5)"
    ));
    assert_eq!(
        found,
        [
            "`epochs` has no effect: `solver` is lbfgs",
            "`lr` has no effect: `solver` is lbfgs"
        ]
    );
    // The solver that uses them: nothing to say.
    assert!(
        ignored(&format!(
            "evaluate lin = linear_probe({PROBE}, solver: sgd, epochs: 10)"
        ))
        .is_empty()
    );
    // Defaults are not "written": nothing to say.
    assert!(ignored(&format!("evaluate lin = linear_probe({PROBE})")).is_empty());
}

#[test]
fn swept_parameters_and_swept_siblings() {
    // Every swept value is ignored.
    let found = ignored(&format!(
        "evaluate lin = linear_probe({PROBE}, epochs: sweep [10, 20])"
    ));
    assert_eq!(
        found,
        ["`epochs` has no effect: `solver` is lbfgs (its 2 swept values give the same result)"]
    );
    // A swept solver that uses it in some arms: not reported (the planner drops it
    // from the lbfgs arms' keys).
    assert!(
        ignored(&format!(
            "evaluate lin = linear_probe({PROBE}, solver: sweep [lbfgs, sgd], epochs: 10)"
        ))
        .is_empty()
    );
    // A swept solver that never uses it.
    let found = ignored(&format!(
        "evaluate lin = linear_probe({PROBE}, solver: sweep [lbfgs, lbfgs], batch: 64)"
    ));
    assert_eq!(
        found,
        ["`batch` has no effect: `solver` is lbfgs in every arm"]
    );
}

#[test]
fn knn_temperature_needs_cosine() {
    let knn = "backbone: tiny_convnet(), train: parts.train, test: parts.test";
    assert_eq!(
        ignored(&format!(
            "evaluate nn = knn({knn}, distance: euclidean, temperature: 0.07)"
        )),
        ["`temperature` has no effect: `distance` is euclidean"]
    );
    assert!(ignored(&format!("evaluate nn = knn({knn}, temperature: 0.07)")).is_empty());
}

#[test]
fn moco_version_specific_parameters() {
    assert_eq!(
        ignored("method m = moco(version: v3, queue: 4096, symmetric: true)"),
        [
            "`queue` has no effect: `version` is v3",
            "`symmetric` has no effect: `version` is v3"
        ]
    );
    assert_eq!(
        ignored("method m = moco(pred_hidden: 512)"),
        ["`pred_hidden` has no effect: `version` is v2"]
    );
    assert!(ignored("method m = moco(version: v3, pred_hidden: 512)").is_empty());
}

#[test]
fn numeric_conditions() {
    assert_eq!(
        ignored("schedule s = cosine(warmup_epochs: 0, warmup_start_lr: 0.1)"),
        ["`warmup_start_lr` has no effect: `warmup_epochs` is 0"]
    );
    assert_eq!(
        ignored("method s = swav(queue_start_epoch: 3)"),
        ["`queue_start_epoch` has no effect: `queue` is 0"]
    );
    assert!(ignored("method s = swav(queue: 3840, queue_start_epoch: 3)").is_empty());
}

#[test]
fn saliency_variant_needs_rc() {
    assert_eq!(
        ignored("policy p = [saliency_cut(method: hc, variant: cvpr2011)]"),
        ["`variant` has no effect: `method` is hc"]
    );
}

#[test]
fn a_probability_on_normalize_is_ignored() {
    assert_eq!(
        ignored("policy p = [normalize() @ 0.5]"),
        ["`@ p` has no effect on `normalize`"]
    );
    assert!(ignored("policy p = [normalize(), grayscale() @ 0.5]").is_empty());
}

#[test]
fn rendered_ignored_parameter() {
    insta::assert_snapshot!(
        "ignored_epochs_under_lbfgs",
        rendered(&format!(
            "evaluate lin = linear_probe({PROBE}, solver: lbfgs, epochs: sweep [10, 20])"
        ))
    );
    insta::assert_snapshot!(
        "ignored_default_sibling",
        rendered(&format!("evaluate lin = linear_probe({PROBE}, batch: 64)"))
    );
    insta::assert_snapshot!(
        "ignored_normalize_probability",
        rendered("policy p = [normalize() @ 0.5]")
    );
}
