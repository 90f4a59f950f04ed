//! The engine end to end: caching, invalidation, determinism, failure
//! isolation, resumption after SIGKILL, store locking, preview.

mod common;
use common::*;
use sslp::exec::engine::Engine;
use sslp::exec::executor::{self, Quiet, RunOptions};
use sslp::exec::store::{Output, Store};
use sslp::plan::Plan;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;

const PIPELINE: &str = r#"
set seed = 3
dataset shapes = synthetic_shapes(count: 64, size: 32, classes: 4)
split parts {
  data = shapes
  train = 0.75
  test = 0.25
}
policy light = [
  horizontal_flip() @ 0.5,
  grayscale() @ 0.2,
  color_jitter() @ 0.8,
]
policy heavy = [
  random_resized_crop(scale: 0.2..1.0) @ 1.0,
  gaussian_blur() @ 0.5,
]
report a = preview(data: parts.train, policy: light, count: 16)
report b = preview(data: parts.test, policy: heavy, count: 16)
"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write pipeline");
    p.display().to_string()
}

/// "N ran, M cached, F failed, S skipped" from the run's stderr.
fn counts(stderr: &str) -> (usize, usize, usize, usize) {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains(" ran, "))
        .unwrap_or_else(|| panic!("no summary in\n{stderr}"));
    let nums: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (nums[0], nums[1], nums[2], nums[3])
}

#[test]
fn each_step_runs_once_and_an_edit_reruns_only_downstream() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "p.sslp", PIPELINE);
    let out = sslp(&["run", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(counts(&stderr(&out)), (4, 0, 0, 0));
    let out = sslp(&["run", &file]);
    assert_eq!(counts(&stderr(&out)), (0, 4, 0, 0));
    // One op probability in one policy: only that preview re-runs.
    let edited = PIPELINE.replace("grayscale() @ 0.2", "grayscale() @ 0.3");
    write(dir.path(), "p.sslp", &edited);
    let out = sslp(&["run", &file]);
    assert_eq!(counts(&stderr(&out)), (1, 3, 0, 0), "{}", stderr(&out));
    let out = sslp(&[
        "cache",
        "--store",
        &dir.path().join(".sslp").display().to_string(),
        "verify",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

fn run_with_jobs(plan: &Plan, jobs: usize) -> Vec<(String, Vec<String>)> {
    let dir = tempfile::tempdir().unwrap();
    let (store, summary) = run_plan(plan, dir.path(), jobs);
    assert!(summary.complete(), "{summary:?}");
    plan.steps
        .iter()
        .map(|s| {
            let r = store.get(&s.key).unwrap().expect("record");
            let hashes = r
                .outputs
                .values()
                .map(|o| match o {
                    Output::Blob { blob } => blob.hash.clone(),
                    Output::Inline { value } => value.to_string(),
                })
                .collect();
            (s.kind.to_string(), hashes)
        })
        .collect()
}

#[test]
fn augmented_batches_are_byte_identical_across_runs_and_job_counts() {
    let plan = plan_of(PIPELINE);
    let one = run_with_jobs(&plan, 1);
    assert_eq!(one, run_with_jobs(&plan, 1));
    assert_eq!(one, run_with_jobs(&plan, 2));
    assert!(one.iter().any(|(k, _)| k == "preview"));
}

#[test]
fn a_failing_arm_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{PIPELINE}\npretrain ssl {{\n  data = parts.train\n  backbone = tiny_convnet()\n  method = simclr()\n  policy = light\n  epochs = 1\n}}\nevaluate k = knn(backbone: ssl, train: parts.train, test: parts.test)\n"
    );
    let file = write(dir.path(), "p.sslp", &text);
    let out = sslp(&["run", &file]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let (ran, _, failed, skipped) = counts(&err);
    assert_eq!(ran, 4, "{err}");
    assert_eq!(failed, 1, "{err}");
    assert!(skipped >= 2, "{err}");
    assert!(err.contains("fewer than one batch"), "{err}");
}

#[test]
fn a_killed_run_resumes_without_recomputing() {
    let dir = tempfile::tempdir().unwrap();
    // Several independent, slower steps.
    let mut text = String::from("set seed = 1\n");
    for i in 0..6 {
        text.push_str(&format!(
            "dataset d{i} = synthetic_shapes(count: 6000, size: 64, seed: {i})\n"
        ));
        text.push_str(&format!(
            "report r{i} = preview(data: d{i}, policy: [color_jitter() @ 0.8, gaussian_blur() @ 0.5], count: 400)\n"
        ));
    }
    let file = write(dir.path(), "slow.sslp", &text);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sslp"))
        .args(["run", &file])
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr_pipe = child.stderr.take().unwrap();
    let mut finished_before_kill = 0;
    for line in BufReader::new(stderr_pipe).lines() {
        let line = line.unwrap();
        if line.contains("] ran ") {
            finished_before_kill += 1;
            if finished_before_kill == 3 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    assert_eq!(
        finished_before_kill, 3,
        "the run ended before it could be killed"
    );

    let out = sslp(&["run", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (ran, cached, failed, skipped) = counts(&stderr(&out));
    assert!(
        cached >= 3,
        "finished steps must be reused: {}",
        stderr(&out)
    );
    assert_eq!(ran + cached, 12);
    assert_eq!((failed, skipped), (0, 0));
    let store = dir.path().join(".sslp").display().to_string();
    let out = sslp(&["cache", "--store", &store, "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = sslp(&["run", &file]);
    assert_eq!(counts(&stderr(&out)), (0, 12, 0, 0));
}

#[test]
fn a_locked_store_names_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "p.sslp", PIPELINE);
    let _held = Store::open(&dir.path().join(".sslp"), false).unwrap();
    let out = sslp(&["run", &file]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("locked by pid {}", std::process::id())),
        "{}",
        stderr(&out)
    );
}

#[test]
fn status_report_and_cache_listing_read_a_store_another_process_holds() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "p.sslp", PIPELINE);
    let out = sslp(&["run", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let store = dir.path().join(".sslp");
    let _held = Store::open(&store, false).unwrap();
    let out = sslp(&["status", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("4 needed steps: 4 done"),
        "{}",
        stderr(&out)
    );
    let out = sslp(&["cache", "ls", "--store", store.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Changing it is still refused.
    let out = sslp(&["cache", "gc", "--store", store.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_truncated_dataset_file_fails_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mnist");
    std::fs::create_dir_all(&data).unwrap();
    // A valid header promising 10 images of 28x28, then only 100 bytes.
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28];
    images.extend(vec![0u8; 100]);
    std::fs::write(data.join("train-images-idx3-ubyte"), images).unwrap();
    let mut labels = vec![0, 0, 8, 1, 0, 0, 0, 10];
    labels.extend(vec![1u8; 10]);
    std::fs::write(data.join("train-labels-idx1-ubyte"), labels).unwrap();
    let file = write(dir.path(), "m.sslp", "dataset m = mnist(root: \"mnist\")\n");
    let out = sslp(&["run", &file]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("train-images-idx3-ubyte"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn preview_writes_a_grid_of_different_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("grid.png");
    let store = dir.path().join("store").display().to_string();
    let out = sslp(&[
        "preview",
        "examples/quickstart.sslp",
        "--policy",
        "shapes_policy",
        "-n",
        "16",
        "--cols",
        "4",
        "-o",
        &png.display().to_string(),
        "--store",
        &store,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let img = image::open(&png).expect("a PNG").to_rgb8();
    let (w, h) = img.dimensions();
    let img = &img;
    // 32-pixel views are enlarged 4x to the default 128-pixel tile, with 2-pixel gaps.
    assert_eq!((w, h), (4 * 130 + 2, 4 * 130 + 2));
    // Tiles differ: compare the top-left tile with its right neighbour.
    let tile = |tx: u32| -> Vec<u8> {
        let step = w / 4;
        (0..32)
            .flat_map(|y| (0..32).flat_map(move |x| img.get_pixel(tx * step + x, y).0))
            .collect()
    };
    assert_ne!(tile(0), tile(1));
}

#[test]
fn saliency_cut_is_computed_once_per_image_and_rendered_per_draw() {
    let text = r#"
set seed = 5
dataset shapes = synthetic_shapes(count: 24, size: 48, classes: 4)
policy sgd = [saliency_cut() @ 1.0]
report first = preview(data: shapes, policy: sgd, count: 12, epoch: 0)
report second = preview(data: shapes, policy: sgd, count: 12, epoch: 1)
"#;
    let plan = plan_of(text);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), false).unwrap();
    let engine = Engine::new(dir.path().to_path_buf());
    let summary = executor::run(
        &plan,
        &store,
        &engine,
        &RunOptions::default(),
        &Quiet,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert!(summary.complete(), "{summary:?}");
    let metrics = |decl: &str| {
        let step = plan.steps.iter().find(|s| s.decl == decl).unwrap();
        store.get(&step.key).unwrap().unwrap().metrics
    };
    let (a, b) = (metrics("first"), metrics("second"));
    // The expensive segmentation ran once per image; the second epoch only looked it up.
    assert_eq!((a["offline_computed"], a["offline_reused"]), (12.0, 0.0));
    assert_eq!((b["offline_computed"], b["offline_reused"]), (0.0, 12.0));
    assert_eq!(store.offline_len(), 12);
    // Same segmentation, different palettes: the two epochs' batches differ.
    let batch = |decl: &str| {
        let step = plan.steps.iter().find(|s| s.decl == decl).unwrap();
        match &store.get(&step.key).unwrap().unwrap().outputs["batch"] {
            Output::Blob { blob } => store.get_blob(blob).unwrap(),
            other => panic!("{other:?}"),
        }
    };
    assert_ne!(batch("first"), batch("second"));
}

/// Runs one step of `plan` directly on an empty store.
fn run_step(
    plan: &Plan,
    step: &sslp::plan::Step,
) -> Result<sslp::exec::StepOutput, sslp::exec::StepError> {
    use sslp::exec::StepRunner;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), false).unwrap();
    let cancel = AtomicBool::new(false);
    let ctx = sslp::exec::StepCtx {
        store: &store,
        plan,
        cancel: &cancel,
        progress: &Quiet,
    };
    Engine::new(dir.path().to_path_buf()).run(step, &ctx)
}

fn step_of(plan: &Plan, kind: sslp::plan::StepKind) -> sslp::plan::Step {
    plan.steps
        .iter()
        .find(|s| s.kind == kind)
        .cloned()
        .expect("a step of that kind")
}

#[test]
fn a_step_missing_an_input_names_it() {
    let plan = plan_of(PIPELINE);
    let mut split = step_of(&plan, sslp::plan::StepKind::Split);
    split.inputs = Default::default();
    let err = run_step(&plan, &split).unwrap_err();
    assert!(
        matches!(&err, sslp::exec::StepError::MissingInput { input, .. } if input == "data"),
        "{err:?}"
    );
    assert_eq!(err.input(), Some("data"));
    assert_eq!(err.to_string(), "`split` needs `data`");
}

#[test]
fn a_bad_parameter_names_it() {
    use sslp::exec::decode::DecodeError;
    let plan = plan_of(PIPELINE);
    let mut dataset = step_of(&plan, sslp::plan::StepKind::Dataset);
    let mut params = (*dataset.params).clone();
    params.insert("count".into(), sslp::plan::Value::Str("many".into()));
    dataset.params = std::sync::Arc::new(params);
    let err = run_step(&plan, &dataset).unwrap_err();
    assert!(
        matches!(&err, sslp::exec::StepError::Param(DecodeError::Type { param, .. }) if param == "count"),
        "{err:?}"
    );
    assert_eq!(err.param(), Some("count"));
    assert!(err.to_string().contains("`count` should be"), "{err}");
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature_is_a_typed_device_error() {
    use sslp::train::device::DeviceError;
    let engine = Engine::new(".".into());
    assert!(matches!(
        engine.with_device_named("cuda"),
        Err(DeviceError::NoCudaSupport { index: 0 })
    ));
    // A step asking for it fails with the device error, not a panic.
    let plan = plan_of(&format!(
        "{PIPELINE}\npretrain ssl {{\n  data = parts.train\n  backbone = tiny_convnet()\n  method = simclr()\n  policy = light\n  epochs = 1\n  batch = 16\n}}\n"
    ));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), false).unwrap();
    let engine = Engine::new(dir.path().to_path_buf())
        .with_device(Some(sslp::train::device::DeviceChoice::Cuda(1)));
    let cancel = AtomicBool::new(false);
    let summary = executor::run(
        &plan,
        &store,
        &engine,
        &RunOptions::default(),
        &Quiet,
        &cancel,
    )
    .unwrap();
    assert_eq!(summary.failed.len(), 1, "{:?}", summary.failed);
    let failure = &summary.failed[0];
    assert_eq!(failure.kind, sslp::plan::StepKind::Pretrain);
    assert!(
        matches!(
            failure.error,
            sslp::exec::StepError::Device(DeviceError::NoCudaSupport { index: 1 })
        ),
        "{failure:?}"
    );
}

#[test]
fn a_failed_step_is_summarised_with_its_key_kind_and_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan_of(&format!(
        "{PIPELINE}\npretrain ssl {{\n  data = parts.train\n  backbone = tiny_convnet()\n  method = simclr()\n  policy = light\n  epochs = 1\n}}\n"
    ));
    let (store, summary) = run_plan(&plan, dir.path(), 1);
    assert_eq!(summary.failed.len(), 1, "{:?}", summary.failed);
    let failure = &summary.failed[0];
    let step = step_of(&plan, sslp::plan::StepKind::Pretrain);
    assert_eq!((failure.key, failure.kind), (step.key, step.kind));
    assert_eq!(failure.decl, step.decl);
    // The arms that needed it, by name: none of them can finish.
    let needing: Vec<String> = plan
        .arms
        .iter()
        .filter(|a| a.lineage.contains(&step.key))
        .map(|a| a.name.clone())
        .collect();
    assert_eq!(failure.arms, needing);
    assert!(
        matches!(
            failure.error,
            sslp::exec::StepError::TooFewImages { images: 48, .. }
        ),
        "{failure:?}"
    );
    // The store records the same text the CLI prints.
    let record = store.get(&step.key).unwrap().expect("a failure record");
    assert_eq!(record.message, Some(failure.error.to_string()));
}
