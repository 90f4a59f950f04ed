//! Dataset content enters step keys: `sslp run` re-runs a dataset and what
//! follows when one byte of its files changes, and says which file; two
//! folders with the same relative root do not share keys in one store;
//! `sslp plan` shows fingerprints and works while a run holds the store.

mod common;
use common::*;
use std::path::Path;

/// Writes a tiny MNIST-format IDX set (8 images of 28x28, labels 0..7) to `dir`.
fn write_idx(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let n = 8u8;
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, n, 0, 0, 0, 28, 0, 0, 0, 28];
    images.extend((0..usize::from(n) * 784).map(|i| (i % 251) as u8));
    std::fs::write(dir.join("train-images-idx3-ubyte"), images).unwrap();
    let mut labels = vec![0, 0, 8, 1, 0, 0, 0, n];
    labels.extend(0..n);
    std::fs::write(dir.join("train-labels-idx1-ubyte"), labels).unwrap();
}

/// Writes `root/CLASS/NAME.png`, 8x8 images whose colour is `shade`.
fn write_folder(root: &Path, shade: u8) {
    for class in ["cat", "dog"] {
        for i in 0..3u8 {
            let dir = root.join(class);
            std::fs::create_dir_all(&dir).unwrap();
            image::RgbImage::from_pixel(8, 8, image::Rgb([shade, i * 40, 9]))
                .save(dir.join(format!("{i}.png")))
                .unwrap();
        }
    }
}

/// "N ran, M cached, F failed, S skipped" from a run's stderr.
fn counts(stderr: &str) -> (usize, usize, usize, usize) {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains(" ran, "))
        .unwrap_or_else(|| panic!("no summary in:\n{stderr}"));
    let n: Vec<usize> = line
        .split(", ")
        .map(|part| part.split(' ').next().unwrap().parse().unwrap())
        .collect();
    (n[0], n[1], n[2], n[3])
}

const SPLIT: &str = "split parts {\n  data = d\n  train = 0.5\n  test = 0.5\n}\n";

#[test]
fn one_flipped_byte_reruns_the_dataset_and_what_follows_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_idx(&dir.path().join("mnist"));
    let file = dir.path().join("p.sslp");
    std::fs::write(
        &file,
        format!("dataset d = mnist(root: \"mnist\")\n{SPLIT}"),
    )
    .unwrap();
    let f = file.to_str().unwrap();

    let out = sslp(&["run", f]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(counts(&stderr(&out)), (2, 0, 0, 0));
    let out = sslp(&["run", f]);
    assert_eq!(counts(&stderr(&out)), (0, 2, 0, 0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("changed"), "{}", stderr(&out));

    // `sslp plan` shows the fingerprint of the dataset; it is in the JSON too.
    let out = sslp(&["plan", f]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = stdout(&out)
        .lines()
        .find(|l| l.contains(" dataset ") && !l.contains("by kind"))
        .unwrap()
        .to_string();
    assert!(line.contains("fingerprint="), "{line}");
    assert!(!line.contains("pending"), "{line}");
    let json: serde_json::Value =
        serde_json::from_slice(&sslp(&["plan", "--format", "json", f]).stdout).unwrap();
    let dataset = &json["steps"][0];
    assert_eq!(dataset["kind"], "dataset");
    assert_eq!(dataset["fingerprint"].as_str().unwrap().len(), 64);
    let old_key = dataset["key"].as_str().unwrap().to_string();

    // Flip one pixel byte: same size, same second.
    let images = dir.path().join("mnist/train-images-idx3-ubyte");
    let mut bytes = std::fs::read(&images).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&images, bytes).unwrap();

    let json: serde_json::Value =
        serde_json::from_slice(&sslp(&["plan", "--format", "json", f]).stdout).unwrap();
    assert_ne!(json["steps"][0]["key"].as_str().unwrap(), old_key);

    let out = sslp(&["run", "--dry-run", f]);
    assert!(
        stderr(&out).contains(
            "dataset d: 1 of 2 files changed (train-images-idx3-ubyte); 2 steps to re-run"
        ),
        "{}",
        stderr(&out)
    );
    let out = sslp(&["run", f]);
    let err = stderr(&out);
    assert!(
        err.contains(
            "dataset d: 1 of 2 files changed (train-images-idx3-ubyte); 2 steps to re-run"
        ),
        "{err}"
    );
    assert_eq!(counts(&err), (2, 0, 0, 0), "{err}");
    // Recorded: the next run has nothing to say and nothing to do.
    let out = sslp(&["run", f]);
    assert!(!stderr(&out).contains("changed"), "{}", stderr(&out));
    assert_eq!(counts(&stderr(&out)), (0, 2, 0, 0));
}

#[test]
fn two_folders_with_the_same_relative_root_do_not_share_keys_in_one_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("shared-store");
    let store = store.to_str().unwrap();
    let mut files = vec![];
    for (name, shade) in [("a", 10), ("b", 200)] {
        let dir = tmp.path().join(name);
        write_folder(&dir.join("images"), shade);
        let file = dir.join("p.sslp");
        std::fs::write(
            &file,
            format!("dataset d = image_folder(root: \"images\")\n{SPLIT}"),
        )
        .unwrap();
        files.push(file.display().to_string());
    }
    let out = sslp(&["run", "--store", store, &files[0]]);
    assert_eq!(counts(&stderr(&out)), (2, 0, 0, 0), "{}", stderr(&out));
    let out = sslp(&["run", "--store", store, &files[1]]);
    assert_eq!(counts(&stderr(&out)), (2, 0, 0, 0), "{}", stderr(&out));
    let out = sslp(&["run", "--store", store, &files[0]]);
    assert_eq!(counts(&stderr(&out)), (0, 2, 0, 0), "{}", stderr(&out));

    // Replace one image of `a`: its dataset and split re-run; the message names it.
    image::RgbImage::from_pixel(8, 8, image::Rgb([99, 99, 99]))
        .save(tmp.path().join("a/images/dog/1.png"))
        .unwrap();
    let out = sslp(&["run", "--store", store, &files[0]]);
    let err = stderr(&out);
    assert!(
        err.contains("dataset d: 1 of 6 files changed (dog/1.png); 2 steps to re-run"),
        "{err}"
    );
    assert_eq!(counts(&err), (2, 0, 0, 0), "{err}");
}

#[test]
fn plan_works_while_a_run_holds_the_store_and_diff_shows_pending_keys() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(&dir.path().join("images"), 50);
    let file = dir.path().join("p.sslp");
    std::fs::write(
        &file,
        format!("dataset d = image_folder(root: \"images\")\n{SPLIT}"),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let out = sslp(&["run", f]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let _held = sslp::exec::Store::open(&dir.path().join(".sslp"), false).unwrap();
    let out = sslp(&["plan", f]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("fingerprint="), "{}", stdout(&out));
    assert!(!stdout(&out).contains("pending"), "{}", stdout(&out));

    // The planner alone reads no files: the dataset is pending, its key provisional.
    let text = std::fs::read_to_string(&file).unwrap();
    let checked = sslp::lang::check_source(
        "p.sslp",
        "p.sslp",
        &text,
        &mut sslp::project::FsLoader::for_entry(&file),
    );
    let program = checked.program.expect("checks");
    let (plan, _) = sslp::plan::plan(&program);
    let plan = plan.unwrap();
    assert_eq!(plan.pending_datasets().count(), 1);
    let fp = sslp::exec::fingerprint::fingerprint_plan(&plan, dir.path(), None).unwrap();
    let (with, _) = sslp::plan::plan_with(&program, &fp.table);
    let with = with.unwrap();
    assert_eq!(with.pending_datasets().count(), 0);
    assert_ne!(with.steps[0].key, plan.steps[0].key);
    assert_ne!(
        with.steps[1].key, plan.steps[1].key,
        "downstream keys change too"
    );

    let other = dir.path().join("q.sslp");
    std::fs::write(
        &other,
        format!("dataset d = image_folder(root: \"images\", size: 4)\n{SPLIT}"),
    )
    .unwrap();
    let out = sslp(&["diff", f, other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("datasets: keys pending a fingerprint (diff reads no data): d"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn explain_says_dataset_content_is_in_the_key() {
    let out = sslp(&["explain", "mnist"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("The content of every file it reads is in its key"),
        "{}",
        stdout(&out)
    );
    let out = sslp(&["explain", "synthetic_shapes"]);
    assert!(!stdout(&out).contains("every file it reads"));
}

#[test]
fn a_missing_root_is_fingerprinted_as_missing_and_fails_at_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.sslp");
    std::fs::write(&file, "dataset d = image_folder(root: \"nowhere\")\n").unwrap();
    let f = file.to_str().unwrap();
    let out = sslp(&["plan", f]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("fingerprint="), "{}", stdout(&out));
    let out = sslp(&["run", f]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("nowhere"), "{}", stderr(&out));
}
