//! What the commands that plan and run share: planning a file with or without
//! its data, the store, and running a plan with progress and a summary.

use super::progress::{JsonLines, Printer};
use super::{
    DiagOutput, OK, PROBLEMS, USAGE, color, denied, load_and_plan, plural, print_diagnostics,
};
use crate::exec::{self, Progress};
use crate::lang::{self, Checked};
use crate::plan::{self, Plan};
use clap::ValueEnum;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Plans a file without reading data: datasets that read files stay pending.
pub(super) fn plan_or_report(path: &Path) -> Result<Plan, u8> {
    plan_checked(path, false).map(|(_, plan)| plan)
}

/// Plans a file without reading data, printing its diagnostics; fails on errors, and on
/// warnings when `deny_warnings`.
pub(super) fn plan_checked(path: &Path, deny_warnings: bool) -> Result<(Checked, Plan), u8> {
    let (checked, plan) = load_and_plan(path)?;
    print_diagnostics(&checked, DiagOutput::Human);
    if denied(&checked, deny_warnings) {
        return Err(PROBLEMS);
    }
    match plan {
        Some(p) if !checked.diagnostics.iter().any(|d| d.is_error()) => Ok((checked, p)),
        _ => Err(PROBLEMS),
    }
}

/// Plans a file with the content of its data: fingerprints the files of
/// every dataset (through the memo in `memo_dir`) and plans again with them.
pub(super) fn plan_with_data(
    path: &Path,
    memo_dir: Option<&Path>,
    deny_warnings: bool,
) -> Result<(Plan, exec::fingerprint::Fingerprinted), u8> {
    plan_for_executor(path, memo_dir, deny_warnings, None)
}

/// [`plan_with_data`] for `executor` whatever the file's `set executor` says
/// (`sslp run --executor`; `None`: the file's).
pub(super) fn plan_for_executor(
    path: &Path,
    memo_dir: Option<&Path>,
    deny_warnings: bool,
    executor: Option<plan::ExecutorKind>,
) -> Result<(Plan, exec::fingerprint::Fingerprinted), u8> {
    let (checked, plan) = plan_checked(path, deny_warnings)?;
    let Some(program) = checked.program.as_ref() else {
        return Err(PROBLEMS);
    };
    let (plan, fingerprints) = fingerprint_and_replan(program, plan, path, memo_dir)?;
    match executor {
        Some(kind) if kind != plan.executor.kind => {
            match plan::plan_with_executor(program, &fingerprints.table, kind) {
                (Some(plan), _) => Ok((plan, fingerprints)),
                (None, _) => Err(PROBLEMS),
            }
        }
        _ => Ok((plan, fingerprints)),
    }
}

/// The IO step between [`plan::plan`] and [`plan::plan_with`].
pub(super) fn fingerprint_and_replan(
    program: &lang::hir::Program,
    plan: Plan,
    pipeline: &Path,
    memo_dir: Option<&Path>,
) -> Result<(Plan, exec::fingerprint::Fingerprinted), u8> {
    if plan.pending_datasets().next().is_none() {
        return Ok((plan, exec::fingerprint::Fingerprinted::default()));
    }
    let base = pipeline.parent().unwrap_or(Path::new("."));
    let fingerprints = exec::fingerprint::fingerprint_plan(&plan, base, memo_dir).map_err(|e| {
        eprintln!("error: {e}");
        USAGE
    })?;
    // The diagnostics are those of the first planning, already shown.
    match plan::plan_with(program, &fingerprints.table) {
        (Some(plan), _) => Ok((plan, fingerprints)),
        (None, _) => Err(PROBLEMS),
    }
}

/// How `run` shows its progress.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug, Default)]
pub enum EventFormat {
    /// A bar on a terminal, one line per step otherwise (stderr).
    #[default]
    Human,
    /// One JSON object per event on stdout (`exec::events::Event`), for other tools.
    Json,
}

impl EventFormat {
    /// The progress sink this format writes to: `printer` for people, `lines` for tools.
    pub(super) fn sink<'a>(self, printer: &'a Printer, lines: &'a JsonLines) -> &'a dyn Progress {
        match self {
            EventFormat::Human => printer,
            EventFormat::Json => lines,
        }
    }
}

/// Options of `sslp run`.
#[derive(Debug, Clone, Default)]
pub struct RunArgs {
    /// Only print what would run.
    pub dry_run: bool,
    /// Steps run at once.
    pub jobs: usize,
    /// Only arms whose names contain one of these.
    pub arms: Vec<String>,
    /// Train on this device instead of the pipeline's (`cpu`, `cuda`, `cuda:N`).
    pub device: Option<String>,
    /// The store directory (default: `$SSLP_STORE`, else `.sslp` beside the pipeline).
    pub store: Option<PathBuf>,
    /// Wait for a store another process holds.
    pub wait: bool,
    /// Fail before running when the pipeline has warnings.
    pub deny_warnings: bool,
    /// How progress is shown.
    pub events: EventFormat,
    /// Where steps run (default: the file's `set executor`).
    pub executor: Option<ExecutorChoice>,
    /// Slurm partition (overrides the file's).
    pub partition: Option<String>,
    /// Slurm account (overrides the file's).
    pub account: Option<String>,
    /// Slurm: at most this many jobs queued or running at once (overrides the file's).
    pub max_jobs: Option<usize>,
}

/// Where `run` runs steps.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum ExecutorChoice {
    /// On this machine, `--jobs` at a time.
    Local,
    /// One Slurm job per step, queued at once with dependencies.
    Slurm,
}

impl ExecutorChoice {
    /// The planner's executor kind.
    pub fn kind(self) -> plan::ExecutorKind {
        match self {
            ExecutorChoice::Local => plan::ExecutorKind::Local,
            ExecutorChoice::Slurm => plan::ExecutorKind::Slurm,
        }
    }
}

/// The store directory for a pipeline file.
pub fn store_dir(pipeline: &Path, explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("SSLP_STORE") {
        return PathBuf::from(p);
    }
    pipeline.parent().unwrap_or(Path::new(".")).join(".sslp")
}

pub(super) fn open_store(dir: &Path, wait: bool) -> Result<exec::Store, u8> {
    exec::Store::open(dir, wait).map_err(|e| {
        eprintln!("error: {e}");
        USAGE
    })
}

/// Opens a store for reading: waits for it with `wait`, else reads its files
/// beside the process that holds it.
pub(super) fn open_read_store(dir: &Path, wait: bool) -> Result<exec::Store, u8> {
    let opened = if wait {
        exec::Store::open(dir, true)
    } else {
        exec::Store::open_read(dir)
    };
    opened.map_err(|e| {
        eprintln!("error: {e}");
        USAGE
    })
}

pub(super) static INTERRUPTED: AtomicBool = AtomicBool::new(false);

pub(super) fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            // A second Ctrl-C: stop now. Finished steps are already safe in the store.
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: finishing the running steps; Ctrl-C again to stop at once");
    });
}

/// Runs a plan's needed steps against a store, printing progress and a summary.
pub(super) fn execute(
    plan: &Plan,
    pipeline: &Path,
    args: &RunArgs,
    targets: Vec<plan::Key>,
    store: exec::Store,
) -> Result<(exec::Store, exec::RunSummary), u8> {
    let base = pipeline.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut engine = exec::engine::Engine::new(base);
    if let Some(d) = &args.device {
        // Fails before any work when the device cannot be used at all.
        engine = engine.with_device_named(d).map_err(|e| {
            eprintln!("error: {e}");
            USAGE
        })?;
    }
    let opts = exec::RunOptions {
        jobs: args.jobs.max(1),
        arms: args.arms.clone(),
        targets,
    };
    install_interrupt_handler();
    let printer = Printer::new();
    let lines = JsonLines::new();
    let progress = args.events.sink(&printer, &lines);
    let result = exec::executor::run(plan, &store, &engine, &opts, progress, &INTERRUPTED);
    printer.finish();
    let summary = result.map_err(|e| {
        eprintln!("error: {e}");
        USAGE
    })?;
    Ok((store, summary))
}

/// A failed step as a miette report: its code, message, causes and which step it was.
fn render_failure(failure: &exec::StepFailure) -> String {
    let theme = if color() {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let mut out = String::new();
    match miette::GraphicalReportHandler::new_themed(theme).render_report(&mut out, failure) {
        Ok(()) => out,
        Err(_) => format!("  failed {}: {}\n", failure.key.short(), failure.error),
    }
}

/// Prints a run's counts, failures, peak memory and notes; the exit code it deserves.
pub(super) fn print_summary(summary: &exec::RunSummary) -> u8 {
    eprintln!(
        "{} ran, {} cached, {} failed, {} skipped",
        summary.ran.len(),
        summary.cached.len(),
        summary.failed.len(),
        summary.skipped.len()
    );
    for failure in &summary.failed {
        eprint!("{}", render_failure(failure));
    }
    if let Some((key, bytes)) = summary.peak_rss {
        eprintln!(
            "peak memory {} (step {})",
            exec::memory::human(bytes),
            key.short()
        );
    }
    if !summary.notes.is_empty() {
        eprintln!(
            "{} used fallbacks or clamps:",
            plural(summary.notes.len(), "step")
        );
        for (key, notes) in &summary.notes {
            for n in notes {
                eprintln!("  {} {}: {}", key.short(), n.code, n.message);
            }
        }
    }
    if summary.interrupted {
        eprintln!("interrupted: run the same command again to resume");
    }
    if summary.complete() { OK } else { PROBLEMS }
}
