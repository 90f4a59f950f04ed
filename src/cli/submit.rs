//! `sslp run --executor slurm`: queue every step that is not in the store as a
//! Slurm job and, with `--wait`, follow them to the end.

use super::pipeline::{INTERRUPTED, RunArgs, install_interrupt_handler};
use super::progress::{JsonLines, Printer};
use super::{OK, PROBLEMS, USAGE, emit, plural};
use crate::exec::Store;
use crate::exec::slurm::{self, SlurmOptions, StepStatus};
use crate::plan::Plan;
use std::path::Path;
use std::time::Duration;

/// The Slurm options of a run: the file's `set executor`, overridden by the command line.
pub(super) fn options(plan: &Plan, pipeline: &Path, args: &RunArgs) -> Result<SlurmOptions, u8> {
    let base = pipeline
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = std::fs::canonicalize(base).map_err(|e| {
        eprintln!("error: {}: {e}", base.display());
        USAGE
    })?;
    let sslp = std::env::current_exe().map_err(|e| {
        eprintln!("error: cannot find this sslp binary for the jobs to run: {e}");
        USAGE
    })?;
    let file = &plan.executor;
    Ok(SlurmOptions {
        partition: args.partition.clone().or_else(|| file.partition.clone()),
        account: args.account.clone().or_else(|| file.account.clone()),
        max_jobs: args.max_jobs.or(file
            .max_jobs
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))),
        sbatch_args: file.sbatch_args.clone(),
        dry_run: args.dry_run,
        sslp,
        base,
        device: args.device.clone(),
        arms: args.arms.clone(),
    })
}

/// Submits, prints what it did, and with `--wait` follows the jobs.
pub(super) fn submit(plan: &Plan, store: &Store, opts: &SlurmOptions, args: &RunArgs) -> u8 {
    let submitted = match slurm::submit(plan, store, opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    if opts.dry_run {
        let mut text = String::new();
        for (key, script) in &submitted.scripts {
            text.push_str(&format!(
                "# ---- job for step {} ----\n{script}\n",
                key.short()
            ));
        }
        emit(&text);
        eprintln!(
            "would submit {} ({} cached, {} already queued or running{})",
            plural(submitted.scripts.len(), "job"),
            submitted.cached.len(),
            submitted.attached.len(),
            held(submitted.held.len())
        );
        return OK;
    }
    eprintln!(
        "submitted {} ({} cached, {} already queued or running{})",
        plural(submitted.submitted.len(), "job"),
        submitted.cached.len(),
        submitted.attached.len(),
        held(submitted.held.len())
    );
    if !args.wait {
        if !submitted.submitted.is_empty() || !submitted.attached.is_empty() {
            eprintln!(
                "follow them with `sslp status FILE`; `sslp run` again (with --wait to follow) collects the results and submits what is missing"
            );
        }
        return OK;
    }
    install_interrupt_handler();
    let printer = Printer::new();
    let lines = JsonLines::new();
    let progress = args.events.sink(&printer, &lines);
    let result = slurm::wait(
        plan,
        store,
        opts,
        progress,
        &INTERRUPTED,
        Duration::from_millis(500),
    );
    printer.finish();
    let states = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return USAGE;
        }
    };
    let count = |f: fn(&StepStatus) -> bool| states.values().filter(|s| f(s)).count();
    let done = count(|s| matches!(s, StepStatus::Done));
    let failed = count(|s| matches!(s, StepStatus::Failed { .. }));
    let cancelled = count(|s| matches!(s, StepStatus::Cancelled { .. }));
    let open = count(|s| !s.settled());
    eprintln!(
        "{done} done, {failed} failed, {cancelled} cancelled, {open} still queued or running"
    );
    for (key, s) in &states {
        if let StepStatus::Failed { reason, .. } = s {
            let step = plan.step(key);
            eprintln!(
                "  failed {} ({}): {reason}",
                key.short(),
                step.map(|s| format!("{} of `{}`", s.kind, s.decl))
                    .unwrap_or_default()
            );
        }
    }
    if open > 0 {
        eprintln!("interrupted: the jobs go on; `sslp run --executor slurm --wait` re-attaches");
    }
    if failed + cancelled + open > 0 {
        PROBLEMS
    } else {
        OK
    }
}

fn held(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(", {n} held back by --max-jobs")
    }
}
