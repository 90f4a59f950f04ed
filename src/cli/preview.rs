//! `sslp preview`: a grid of a policy's augmentations of a dataset's first images.

use super::pipeline::{
    RunArgs, execute, fingerprint_and_replan, open_store, print_summary, store_dir,
};
use super::{DiagOutput, OK, PROBLEMS, USAGE, load_and_plan, print_diagnostics, read};
use crate::exec;
use crate::lang;
use crate::project;
use std::path::{Path, PathBuf};

/// Options of `sslp preview`.
#[derive(Debug, Clone, Default)]
pub struct PreviewArgs {
    /// The policy to show.
    pub policy: String,
    /// The images (`parts.train`, a dataset name); default: the first split's train part, else the first dataset.
    pub data: Option<String>,
    /// How many images (default: the `preview` report's).
    pub count: Option<u32>,
    /// Grid columns (default: the `preview` report's).
    pub cols: Option<u32>,
    /// Smallest cell side in pixels (default: the `preview` report's).
    pub tile: Option<u32>,
    /// Which epoch's draws (default: the `preview` report's).
    pub epoch: Option<u32>,
    /// Output PNG.
    pub out: PathBuf,
    /// Store and locking.
    pub run: RunArgs,
}

/// Whether `s` is a name or a dotted member (`parts.train`).
fn is_reference(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// `sslp preview FILE --policy NAME -o grid.png`: a grid of augmented images, through the cache.
pub fn preview(path: &Path, args: &PreviewArgs) -> u8 {
    let text = match read(path) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let (checked, _) = match load_and_plan(path) {
        Ok(x) => x,
        Err(code) => return code,
    };
    print_diagnostics(&checked, DiagOutput::Human);
    let Some(program) = checked.program.as_ref() else {
        return PROBLEMS;
    };
    let root_decls = || program.decls.iter().filter(|d| d.file == program.root);
    let data = match &args.data {
        Some(d) => d.clone(),
        None => match root_decls().find(|d| d.kind == lang::ast::DeclKind::Split) {
            Some(s) => format!("{}.train", s.name),
            None => match root_decls().find(|d| d.kind == lang::ast::DeclKind::Dataset) {
                Some(d) => d.name.clone(),
                None => {
                    eprintln!(
                        "error: {} declares no dataset to preview; pass --data",
                        path.display()
                    );
                    return USAGE;
                }
            },
        },
    };
    if !is_reference(&args.policy) || !is_reference(&data) {
        eprintln!("error: --policy and --data take names such as `sgd` or `parts.train`");
        return USAGE;
    }
    // Only the options given are written: the defaults are the registry's.
    let options: String = [
        ("count", args.count),
        ("cols", args.cols),
        ("tile", args.tile),
        ("epoch", args.epoch),
    ]
    .iter()
    .filter_map(|(name, v)| v.map(|v| format!(", {name}: {v}")))
    .collect();
    let source = format!(
        "{text}\nreport __sslp_preview = preview(data: {data}, policy: {}{options})\n",
        args.policy
    );
    let (checked, plan) = project::check_and_plan_text(path, &source);
    let (Some(plan), Some(program)) = (
        plan.filter(|_| !checked.diagnostics.iter().any(|d| d.is_error())),
        checked.program.as_ref(),
    ) else {
        print_diagnostics(&checked, DiagOutput::Human);
        eprintln!("error: cannot preview policy `{}` on `{data}`", args.policy);
        return PROBLEMS;
    };
    let dir = store_dir(path, args.run.store.as_deref());
    let plan = match fingerprint_and_replan(program, plan, path, Some(&dir.join("fingerprints"))) {
        Ok((p, _)) => p,
        Err(code) => return code,
    };
    // By its site: a `preview` report of the file with the same settings is the same step
    // (same key), which then carries that report's name.
    let Some(key) = plan
        .steps
        .iter()
        .find(|s| s.sites.iter().any(|site| site.base() == "__sslp_preview[]"))
        .map(|s| s.key)
    else {
        eprintln!("error: internal: no preview step was planned");
        return USAGE;
    };
    let store = match open_store(&dir, args.run.wait) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let (store, summary) = match execute(&plan, path, &args.run, vec![key], store) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if !summary.complete() {
        return print_summary(&summary);
    }
    let grid = store
        .get(&key)
        .ok()
        .flatten()
        .and_then(|r| match r.outputs.get("grid") {
            Some(exec::store::Output::Blob { blob }) => store.get_blob(blob).ok(),
            _ => None,
        });
    match grid {
        Some(bytes) => match std::fs::write(&args.out, bytes) {
            Ok(()) => {
                eprintln!("wrote {}", args.out.display());
                OK
            }
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", args.out.display());
                USAGE
            }
        },
        None => {
            eprintln!("error: the preview step stored no grid");
            USAGE
        }
    }
}
