//! `sslp report`: every finished arm's results as tables, plots and a page.

use super::pipeline::{RunArgs, open_read_store, plan_with_data, store_dir};
use super::{OK, PROBLEMS, USAGE, emit};
use crate::exec::report_page::{self, ReportPageError};
use std::path::Path;

/// `sslp report FILE [-o DIR]`: assembles the report ([`report_page::build`]) and writes it.
pub fn report(path: &Path, out: Option<&Path>, args: &RunArgs) -> u8 {
    let store_at = store_dir(path, args.store.as_deref());
    let plan = match plan_with_data(path, Some(&store_at.join("fingerprints")), false) {
        Ok((p, _)) => p,
        Err(code) => return code,
    };
    // Read-only: a report can be written while a coordinator runs.
    let store = match open_read_store(&store_at, args.wait) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("pipeline");
    let dir = match out {
        Some(d) => d.to_path_buf(),
        None => path
            .parent()
            .unwrap_or(Path::new("."))
            .join("reports")
            .join(stem),
    };
    let title = plan.name.clone().unwrap_or_else(|| stem.to_string());
    let page = match report_page::build(&plan, &store, &title) {
        Ok(page) => page,
        Err(ReportPageError::NoResults) => {
            eprintln!(
                "error: no arm of {} has results in the store yet; run `sslp run {}` first",
                path.display(),
                path.display()
            );
            return PROBLEMS;
        }
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return USAGE;
    }
    for arm in &page.collapsed {
        eprintln!("warning: pretrain {arm} collapsed (training.md)");
    }
    let mut written = 0;
    for file in &page.files {
        let p = dir.join(&file.name);
        match std::fs::write(&p, &file.bytes) {
            Ok(()) => written += 1,
            Err(e) => eprintln!("error: cannot write {}: {e}", p.display()),
        }
    }
    emit(&format!(
        "wrote {written} files to {} ({} of {} arms with results)\n",
        dir.display(),
        page.with_results,
        page.arms
    ));
    if !page.missing.is_empty() {
        eprintln!(
            "note: {} arms have no results yet; `sslp run {}` computes them",
            page.missing.len(),
            path.display()
        );
    }
    for p in &page.problems {
        eprintln!("error: {p}");
    }
    if page.problems.is_empty() {
        OK
    } else {
        PROBLEMS
    }
}
