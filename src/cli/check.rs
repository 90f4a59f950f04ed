//! `sslp check`: every diagnostic of every file, for people, for grep, or as JSON.

use super::{
    DiagOutput, OK, PLAN_HEAP, PROBLEMS, denied, emit, exit_soon, load_and_plan, plural,
    print_diagnostics,
};
use crate::lang::diagnostic::render;
use std::path::PathBuf;

/// `sslp check FILES`: all diagnostics of every file; exit 1 if any error
/// (or, with `deny_warnings`, any warning).
pub fn check(files: &[PathBuf], how: DiagOutput, deny_warnings: bool) -> u8 {
    // A short-lived process building a plan of up to tens of megabytes in small pieces.
    crate::exec::memory::heap_in_huge_pages(PLAN_HEAP);
    let mut worst = OK;
    let mut json_all = vec![];
    for (n, f) in files.iter().enumerate() {
        let (checked, plan) = match load_and_plan(f) {
            Ok(x) => x,
            Err(code) => {
                worst = worst.max(code);
                continue;
            }
        };
        print_diagnostics(&checked, how);
        if how == DiagOutput::Json {
            let v: serde_json::Value =
                serde_json::from_str(&render::json(&checked.diagnostics, &checked.sources))
                    .unwrap_or_default();
            if let serde_json::Value::Array(items) = v {
                json_all.extend(items);
            }
        }
        let failed = checked.diagnostics.iter().any(|d| d.is_error())
            || plan.is_none()
            || denied(&checked, deny_warnings);
        if failed {
            worst = worst.max(PROBLEMS);
        } else if how != DiagOutput::Json
            && let Some(plan) = &plan
        {
            eprintln!(
                "ok: {} ({}, {})",
                f.display(),
                plural(plan.arms.len(), "arm"),
                plural(plan.steps.len(), "step")
            );
        }
        // The last file's plan lives until exit; earlier ones are freed as usual, so
        // checking many files holds one plan at a time.
        if n + 1 == files.len() {
            exit_soon(plan);
        }
    }
    if how == DiagOutput::Json {
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json_all).unwrap_or_default()
        ));
    }
    worst
}
