//! `sslp device-check --device cpu` (the small profile, about 20 seconds on two cores) passes,
//! and every stage leaves its JSON file with the fields the README documents.

mod common;
use common::*;

use serde_json::Value;

fn read(dir: &std::path::Path, file: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{file} was not written: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"))
}

fn has(v: &Value, file: &str, fields: &[&str]) {
    for f in fields {
        assert!(v.get(f).is_some(), "{file} has no `{f}`:\n{v:#}");
    }
}

#[test]
fn the_cpu_check_passes_and_writes_every_stage() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = dir.path().join("check");
    let run = sslp(&[
        "device-check",
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(0), "{}\n{err}", stdout(&run));
    assert!(
        stdout(&run).contains("device check pass"),
        "{}",
        stdout(&run)
    );
    for stage in ["losses", "backbones", "training", "throughput"] {
        assert!(err.contains(stage), "stage {stage} not reported:\n{err}");
    }

    let summary = read(&out, "summary.json");
    has(
        &summary,
        "summary.json",
        &[
            "status", "seconds", "device", "profile", "stages", "versions",
        ],
    );
    assert_eq!(summary["status"], "pass");
    assert_eq!(summary["device"], "cpu");
    assert_eq!(summary["profile"], "small");
    assert_eq!(summary["same_device"], true);
    assert_eq!(summary["versions"]["burn"], "0.22.1");
    let stages = summary["stages"].as_array().expect("stages");
    assert_eq!(stages.len(), 4);
    for s in stages {
        assert_eq!(s["status"], "pass", "{s}");
    }

    let common = [
        "stage",
        "status",
        "seconds",
        "device",
        "reference",
        "same_device",
        "profile",
    ];
    // 1: every loss in f32, f16 and bf16 (flex computes both half precisions natively).
    let losses = read(&out, "1-losses.json");
    has(&losses, "1-losses.json", &common);
    has(
        &losses,
        "1-losses.json",
        &["vectors", "measure", "precisions"],
    );
    let precisions = losses["precisions"].as_array().expect("precisions");
    let names: Vec<&str> = precisions
        .iter()
        .map(|p| p["dtype"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["f32", "f16", "bf16"]);
    for p in precisions {
        has(
            p,
            "1-losses.json precision",
            &[
                "status",
                "tolerance",
                "compared",
                "failed",
                "worst",
                "families",
            ],
        );
        assert_eq!(p["status"], "pass", "{}", p["dtype"]);
        assert_eq!(p["failed"], 0);
        let families: Vec<&str> = p["families"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["family"].as_str().unwrap())
            .collect();
        for family in ["ntxent", "moco_v2", "swav", "dino", "barlow_twins"] {
            assert!(families.contains(&family), "{family} missing");
        }
    }
    assert_eq!(precisions[0]["tolerance"], 1e-5);

    // 2: every backbone against a separately built copy, same weights.
    let backbones = read(&out, "2-backbones.json");
    has(&backbones, "2-backbones.json", &common);
    assert_eq!(backbones["same_device"], true);
    assert_eq!(backbones["device"], backbones["reference"]);
    let nets = backbones["backbones"].as_array().expect("backbones");
    let names: Vec<&str> = nets
        .iter()
        .map(|b| b["backbone"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["tiny_convnet", "resnet18", "resnet50", "vit_tiny"]);
    for b in nets {
        has(
            b,
            "2-backbones.json backbone",
            &[
                "weights_identical",
                "output",
                "input_gradient",
                "parameter_gradients",
            ],
        );
        assert_eq!(b["weights_identical"], true);
        assert!(b["parameter_gradients"]["tensors"].as_u64().unwrap() > 0);
    }

    // 3: both loss curves, the first loss identical on one device.
    let training = read(&out, "3-training.json");
    has(&training, "3-training.json", &common);
    has(
        &training,
        "3-training.json",
        &[
            "recipe",
            "steps",
            "tolerance",
            "first_loss",
            "curve",
            "device_losses",
            "reference_losses",
        ],
    );
    let steps = training["steps"].as_u64().unwrap() as usize;
    assert_eq!(steps, 50);
    assert_eq!(training["device_losses"].as_array().unwrap().len(), steps);
    assert_eq!(
        training["reference_losses"].as_array().unwrap().len(),
        steps
    );
    assert_eq!(training["first_loss"]["pass"], true);
    assert!(
        training["recipe"]["method"]
            .as_str()
            .unwrap()
            .contains("SimClr")
    );
    // Mixed precision: bf16 and f16 both run on the CPU, each within its tolerance.
    let mixed = &training["mixed_precision"];
    assert_eq!(mixed["pass"], true, "{mixed}");
    let runs = mixed["runs"].as_array().expect("mixed-precision runs");
    let names: Vec<&str> = runs
        .iter()
        .map(|r| r["precision"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bf16", "f16"]);
    for r in runs {
        assert_eq!(r["status"], "pass", "{r}");
        assert_eq!(
            r["losses"].as_array().unwrap().len() as u64,
            mixed["steps"].as_u64().unwrap()
        );
    }
    assert_eq!(runs[1]["skipped_steps"], 0, "{}", runs[1]);

    // 4: both networks measured; the peer ran or says why not.
    let throughput = read(&out, "4-throughput.json");
    has(&throughput, "4-throughput.json", &common);
    let runs = throughput["runs"].as_array().expect("runs");
    let names: Vec<&str> = runs.iter().map(|r| r["net"].as_str().unwrap()).collect();
    assert_eq!(names, ["resnet18", "resnet50"]);
    for r in runs {
        has(
            r,
            "4-throughput.json run",
            &["batch", "size", "images_per_second", "memory", "peer"],
        );
        assert!(r["images_per_second"].as_f64().unwrap() > 0.0);
        assert_eq!(r["memory"]["kind"], "host", "the CPU has no device pool");
        let peer = &r["peer"];
        match peer["status"].as_str().unwrap() {
            "skipped" | "error" => assert!(!peer["reason"].as_str().unwrap().is_empty()),
            "ran" => assert!(peer["ratio"].as_f64().is_some()),
            other => panic!("peer status {other}"),
        }
    }
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_support_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = dir.path().join("check");
    let run = sslp(&[
        "device-check",
        "--device",
        "cuda",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(2));
    let err = stderr(&run);
    assert!(err.contains("--features cuda"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !out.exists(),
        "nothing written for a device that cannot be used"
    );
}
