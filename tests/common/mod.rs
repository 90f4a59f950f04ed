//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the `sslp` binary with arguments, from the repository root.
pub fn sslp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sslp"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("the sslp binary runs")
}

/// Stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every `.sslp` file under a directory of the repository, sorted.
pub fn sslp_files(dir: &str) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut stack = vec![root().join(dir)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "sslp") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A path relative to the repository root, as a string.
pub fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

/// Runs every step of a plan in a store at `dir` with `jobs` workers.
pub fn run_plan(
    plan: &sslp::plan::Plan,
    dir: &Path,
    jobs: usize,
) -> (sslp::exec::Store, sslp::exec::RunSummary) {
    use sslp::exec::executor::{self, Quiet, RunOptions};
    let store = sslp::exec::Store::open(dir, false).expect("the store opens");
    let engine = sslp::exec::engine::Engine::new(dir.to_path_buf());
    let opts = RunOptions {
        jobs,
        ..RunOptions::default()
    };
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let summary =
        executor::run(plan, &store, &engine, &opts, &Quiet, &cancel).expect("the store works");
    (store, summary)
}

/// The plan of a program that must check without errors (file name `t.sslp`, no imports).
pub fn plan_of(text: &str) -> sslp::plan::Plan {
    let checked = sslp::lang::check_source("t.sslp", "t.sslp", text, &mut sslp::lang::NoImports);
    assert!(
        checked.diagnostics.iter().all(|d| !d.is_error()),
        "{:#?}",
        checked.diagnostics
    );
    sslp::plan::plan(&checked.program.expect("checks"))
        .0
        .expect("plans")
}
