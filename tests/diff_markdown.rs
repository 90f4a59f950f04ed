//! `sslp diff --format markdown`: the pull-request rendering of a design
//! change, with the compute estimated from a store's records (snapshots).

use sslp::exec::store::{Record, Status, Store};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

const OLD: &str = r#"set seed = 0

dataset shapes = synthetic_shapes(count: 64, size: 16, classes: 2)

split parts {
  data = shapes
  train = 0.75
  test = 0.25
}

policy light = [random_resized_crop(scale: 0.3..1.0) @ 1.0, horizontal_flip() @ 0.5]

pretrain ssl {
  data = parts.train
  backbone = tiny_convnet(width: 8, depth: 2)
  method = sweep [simclr(), byol()]
  policy = light
  epochs = 1
  batch = 16
}

evaluate nn = knn(backbone: ssl, train: parts.train, test: parts.test, k: 5)
"#;

/// The flip's probability changes, BYOL gives way to SimSiam.
fn new_design() -> String {
    OLD.replace("horizontal_flip() @ 0.5", "horizontal_flip() @ 0.6")
        .replace("byol()", "simsiam()")
}

/// Wall time the fake store records for a step of `kind`, in ms.
fn duration(kind: &str, method: Option<&str>) -> u64 {
    match (kind, method) {
        ("pretrain", Some("byol")) => 150_000,
        ("pretrain", _) => 90_000,
        ("dataset", _) => 1_200,
        ("split", _) => 300,
        ("features", _) => 2_000,
        _ => 500,
    }
}

fn sslp(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sslp"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("SSLP_STORE")
        .output()
        .expect("the sslp binary runs")
}

/// old.sslp and new.sslp in a fresh folder; with `store`, a store beside
/// them that has run every step of the old design.
fn designs(store: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("old.sslp"), OLD).expect("write");
    std::fs::write(dir.path().join("new.sslp"), new_design()).expect("write");
    if store {
        let (_, plan) =
            sslp::project::load_and_plan(&dir.path().join("old.sslp")).expect("readable");
        let plan = plan.expect("the old design plans");
        let store = Store::open(&dir.path().join(".sslp"), false).expect("store");
        for s in &plan.steps {
            let method = s
                .params
                .get("method")
                .and_then(|m| m.as_map())
                .and_then(|m| m.get("type"))
                .and_then(|t| t.as_str());
            let record = Record {
                kind: s.kind.as_str().to_string(),
                decl: s.decl.clone(),
                status: Status::Done,
                params: serde_json::Value::Null,
                inputs: BTreeMap::new(),
                outputs: BTreeMap::new(),
                metrics: BTreeMap::new(),
                notes: vec![],
                started_ms: 0,
                duration_ms: duration(s.kind.as_str(), method),
                peak_rss: None,
                message: None,
            };
            store.put(&s.key, &record).expect("record written");
        }
    }
    dir
}

#[test]
fn markdown_names_arms_steps_and_compute_from_the_store() {
    let dir = designs(true);
    let out = sslp(
        dir.path(),
        &["diff", "--format", "markdown", "old.sslp", "new.sslp"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = String::from_utf8_lossy(&out.stdout).into_owned();
    insta::assert_snapshot!("markdown_with_store", md);
}

#[test]
fn markdown_without_a_store_says_the_compute_is_unknown() {
    let dir = designs(false);
    let out = sslp(
        dir.path(),
        &["diff", "--format", "markdown", "old.sslp", "new.sslp"],
    );
    assert_eq!(out.status.code(), Some(0));
    let md = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        md.contains("**Estimated compute:** unknown (no store with recorded runs)."),
        "{md}"
    );
    insta::assert_snapshot!("markdown_without_store", md);
}

#[test]
fn markdown_of_an_unchanged_design_says_nothing_runs() {
    let dir = designs(true);
    let out = sslp(
        dir.path(),
        &["diff", "--format", "markdown", "old.sslp", "old.sslp"],
    );
    assert_eq!(out.status.code(), Some(0));
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("every result stays valid, nothing runs"),
        "{md}"
    );
}

#[test]
fn json_lists_the_changed_arms() {
    let dir = designs(false);
    let out = sslp(
        dir.path(),
        &["diff", "--format", "json", "old.sslp", "new.sslp"],
    );
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        json["arms_changed"],
        serde_json::json!(["nn[method=simclr]"])
    );
    assert_eq!(
        json["arms_added"],
        serde_json::json!(["nn[method=simsiam]"])
    );
    assert_eq!(json["arms_removed"], serde_json::json!(["nn[method=byol]"]));
}
