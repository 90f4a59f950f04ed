//! The layer rule of ARCHITECTURE.md, enforced on the source text:
//!
//! - the language core (`src/lang`, `src/plan`) imports nothing that runs work
//!   (`exec`, `train`, `burn`, the data loaders and augmentation) and does no IO
//!   beyond writing to a writer it is given: no file system, processes or network;
//! - the commands (`src/cli`, `src/main.rs`) import no algorithm library
//!   (`saliency`, `train`, `eval`, `augment`) and no step-kind module of `exec`:
//!   they call one library function and print;
//! - inside a library folder, imports go one way: the augmentation ops import
//!   nothing from policies or views (which build on them), and the dataset
//!   loaders import nothing from `data::spec` (the dispatcher that calls them).

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source folder readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Lines of `files` that mention one of `banned` (outside `//` comments), as `file:line: text`.
fn offences(files: &[PathBuf], banned: &[&str]) -> Vec<String> {
    let mut found = vec![];
    for f in files {
        let text = std::fs::read_to_string(f).expect("source readable");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for b in banned {
                if code.contains(b) {
                    found.push(format!(
                        "{}:{}: `{b}` in: {}",
                        f.display(),
                        i + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    found
}

fn sources(parts: &[&str]) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    for p in parts {
        let path = root.join(p);
        if path.is_dir() {
            rust_files(&path, &mut files);
        } else {
            files.push(path);
        }
    }
    assert!(!files.is_empty(), "no sources under {parts:?}");
    files
}

#[test]
fn the_language_core_runs_nothing_and_touches_no_files() {
    let files = sources(&["lang", "plan"]);
    let banned = [
        "crate::exec",
        "crate::train",
        // (`crate::data::split` is allowed: its size arithmetic is pure and shared with the
        // planner, which must know the parts' sizes.)
        "crate::data::mnist",
        "crate::data::cifar",
        "crate::data::stl10",
        "crate::data::folder",
        "crate::data::records",
        "crate::augment",
        "crate::saliency",
        "crate::eval",
        "crate::cli",
        "crate::project",
        "burn::",
        "std::fs",
        "std::process",
        "std::net",
        "File::",
        "std::env",
    ];
    let found = offences(&files, &banned);
    assert!(
        found.is_empty(),
        "the language core crosses its layer:\n{}",
        found.join("\n")
    );
}

#[test]
fn commands_only_command() {
    let files = sources(&["cli", "main.rs"]);
    let mut banned = vec![];
    for lib in ["saliency", "train", "eval", "augment"] {
        banned.push(format!("crate::{lib}"));
        banned.push(format!("sslp::{lib}"));
    }
    for step_module in [
        "augment_steps",
        "eval_steps",
        "finetune_step",
        "gsimclr_steps",
        "segmentation_step",
        "train_steps",
        "report_steps",
        "decode",
    ] {
        banned.push(format!("exec::{step_module}"));
    }
    let banned: Vec<&str> = banned.iter().map(String::as_str).collect();
    let found = offences(&files, &banned);
    assert!(
        found.is_empty(),
        "a command reaches past the library:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_language_server_runs_nothing() {
    // `sslp lsp` answers from the language core; it never runs a step or loads data.
    let files = sources(&["lsp"]);
    let banned = [
        "crate::exec",
        "crate::train",
        "crate::data",
        "crate::augment",
        "crate::saliency",
        "crate::eval",
        "crate::report",
        "crate::cli",
        "burn::",
    ];
    let found = offences(&files, &banned);
    assert!(
        found.is_empty(),
        "the language server reaches past the language core:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_rule_sees_an_offence() {
    // The checker itself works: this file names a banned path in code.
    let me = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/layers.rs");
    let found = offences(&[me], &["crate::exec"]);
    assert!(!found.is_empty());
}

#[test]
fn step_kinds_do_not_import_the_runner() {
    // The runner dispatches to the step-kind modules; they take what they share from
    // `exec::engine`, so there is no import circle between the runner and the steps.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/exec");
    let files: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("src/exec readable")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with("_steps.rs") || name.ends_with("_step.rs") || name == "engine.rs"
        })
        .collect();
    assert!(files.len() >= 8, "step-kind modules: {files:?}");
    let found = offences(&files, &["runner::", "super::runner"]);
    assert!(
        found.is_empty(),
        "a step-kind module imports the runner:\n{}",
        found.join("\n")
    );
}

#[test]
fn augmentation_ops_do_not_import_policies_or_views() {
    // ops <- policy <- views: `PolicyItem` and `Context` live with the ops, so the ops
    // need nothing above them (neither by module path nor through the facade's names).
    let files = sources(&["augment/ops.rs", "augment/ops"]);
    assert!(files.len() >= 8, "ops modules: {files:?}");
    let banned = [
        "policy::",
        "views::",
        "Policy::",
        "Policy,",
        "Policy;",
        "Policy}",
        "make_views",
        "ViewSpec",
        "SampleDraw",
    ];
    let found = offences(&files, &banned);
    assert!(
        found.is_empty(),
        "an augmentation op imports a policy or view module (ops must not depend on them):\n{}",
        found.join("\n")
    );
}

#[test]
fn dataset_loaders_do_not_import_the_spec() {
    // `data::spec` dispatches to the loaders; what they share with it (the option enums)
    // lives in the leaf `data::options`, so there is no circle between spec and a loader.
    let files = sources(&[
        "data/cifar.rs",
        "data/mnist.rs",
        "data/stl10.rs",
        "data/synthetic.rs",
        "data/folder.rs",
    ]);
    let found = offences(&files, &["spec::", "super::spec", "DatasetSpec"]);
    assert!(
        found.is_empty(),
        "a dataset loader imports `data::spec` (the dispatcher imports the loaders, not back):\n{}",
        found.join("\n")
    );
}

#[test]
fn exec_and_train_errors_are_typed() {
    // An error as a bare String cannot say which step, arm or input failed, and
    // tests can only match its text: exec and train return typed errors.
    let found: Vec<String> = offences(&sources(&["exec", "train"]), &[", String>"])
        .into_iter()
        .filter(|line| line.contains("Result<"))
        .collect();
    assert!(
        found.is_empty(),
        "a `Result<_, String>` in exec or train:\n{}",
        found.join("\n")
    );
}
