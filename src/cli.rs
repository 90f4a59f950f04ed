//! The command implementations behind `sslp`: reading files, printing, exit codes.
//!
//! Exit codes: 0 ok, 1 diagnostics (or `fmt --check` found unformatted
//! files, or `diff` found no problem but... see each command), 2 usage or IO
//! error. This is the only module that touches the file system for the
//! language tools.

use crate::exec;
use crate::lang::{self, Checked, LoadedFile, Loader, diagnostic::render, fmt as formatter};
use crate::plan::{self, Plan, diff as plan_diff, render as plan_render};
use crate::report;
use clap::ValueEnum;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit code: success.
pub const OK: u8 = 0;
/// Exit code: the input has problems (diagnostics, unformatted files).
pub const PROBLEMS: u8 = 1;
/// Exit code: usage or IO error.
pub const USAGE: u8 = 2;

/// How `check` prints diagnostics.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DiagOutput {
    /// miette reports on stderr.
    Human,
    /// One line per diagnostic on stderr.
    Short,
    /// A JSON array on stdout.
    Json,
}

/// Output format of `sslp plan`.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum PlanFormat {
    /// A table of steps and the arms.
    Text,
    /// Everything, as JSON.
    Json,
    /// The fully resolved design, per arm (for review diffs).
    Yaml,
    /// Graphviz.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// Output format of `sslp diff`.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum DiffFormat {
    /// Review-friendly text.
    Text,
    /// JSON.
    Json,
}

/// Reads relative imports from disk, relative to the importing file, confined to the project
/// root (see [`project_root`]): a path that leads outside it, through `..` or a symlink, is
/// refused before anything is read. Only `.sslp` text files are handed over, so a diagnostic
/// can never print the bytes of some other file.
#[derive(Debug, Clone)]
pub struct FsLoader {
    /// Canonical project root.
    root: PathBuf,
}

/// Largest module the loader reads (bytes); bigger files are not pipeline sources.
const MAX_MODULE_BYTES: u64 = 4 << 20;

/// The project root of an entry file: the nearest folder above it (its own folder first) that
/// holds `sslp.toml` or `.git`, else the entry file's folder. Canonical when the file exists.
pub fn project_root(entry: &Path) -> PathBuf {
    let entry = entry
        .canonicalize()
        .unwrap_or_else(|_| std::path::absolute(entry).unwrap_or_else(|_| entry.to_path_buf()));
    let folder = entry.parent().unwrap_or(Path::new("/")).to_path_buf();
    folder
        .ancestors()
        .find(|d| d.join("sslp.toml").exists() || d.join(".git").exists())
        .map(Path::to_path_buf)
        .unwrap_or(folder)
}

/// `path` with `.` and `..` removed lexically (for paths that do not exist, so cannot be
/// canonicalised).
fn normalize_lexically(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

impl FsLoader {
    /// A loader confined to the project root of `entry` ([`project_root`]).
    pub fn for_entry(entry: &Path) -> FsLoader {
        FsLoader {
            root: project_root(entry),
        }
    }

    /// The canonical project root imports are confined to.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Loader for FsLoader {
    fn load(&mut self, from_id: &str, path: &str) -> Result<LoadedFile, lang::LoadError> {
        let base = Path::new(from_id).parent().unwrap_or(Path::new("."));
        let full = base.join(path);
        // Where the path leads: through every symlink when it exists, lexically otherwise (the
        // same answer either way for a path outside, so nothing outside is probed).
        let resolved = full.canonicalize().unwrap_or_else(|_| {
            normalize_lexically(&std::path::absolute(&full).unwrap_or(full.clone()))
        });
        if !resolved.starts_with(&self.root) {
            return Err(lang::LoadError::OutsideProject {
                resolved: resolved.display().to_string(),
                root: self.root.display().to_string(),
            });
        }
        let shown = full.display().to_string();
        if resolved.extension().is_none_or(|e| e != "sslp") {
            return Err(lang::LoadError::Read(format!(
                "{shown} is not a `.sslp` file; only pipeline sources can be imported"
            )));
        }
        let meta = std::fs::metadata(&resolved).map_err(|e| format!("cannot read {shown}: {e}"))?;
        if !meta.is_file() {
            return Err(format!("cannot read {shown}: not a file").into());
        }
        if meta.len() > MAX_MODULE_BYTES {
            return Err(format!(
                "{shown} is {} bytes, too large for a pipeline source (at most {MAX_MODULE_BYTES})",
                meta.len()
            )
            .into());
        }
        let bytes = std::fs::read(&resolved).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            format!(
                "{shown} is not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            )
        })?;
        if let Some(at) = text
            .char_indices()
            .find(|&(_, c)| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            .map(|(i, _)| i)
        {
            return Err(
                format!("{shown} is not a text file (a control character at byte {at})").into(),
            );
        }
        Ok(LoadedFile {
            name: shown,
            id: resolved.display().to_string(),
            text,
        })
    }
}

fn read(path: &Path) -> Result<String, u8> {
    std::fs::read_to_string(path).map_err(|e| {
        eprintln!("error: cannot read {}: {e}", path.display());
        USAGE
    })
}

/// Reads, checks and plans a file; diagnostics from both phases together.
pub fn load_and_plan(path: &Path) -> Result<(Checked, Option<Plan>), u8> {
    let text = read(path)?;
    let id = path
        .canonicalize()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string());
    let mut checked = lang::check_source(
        &path.display().to_string(),
        &id,
        &text,
        &mut FsLoader::for_entry(path),
    );
    let mut planned = None;
    if let Some(program) = &checked.program {
        let (p, diags) = plan::plan(program);
        checked.diagnostics.extend(diags);
        lang::diagnostic::sort(&mut checked.diagnostics);
        planned = p;
    }
    Ok((checked, planned))
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        return format!("{n} {word}");
    }
    match word.strip_suffix('y') {
        // entry → entries (but day → days)
        Some(stem) if !stem.ends_with(['a', 'e', 'i', 'o', 'u']) => format!("{n} {stem}ies"),
        _ => format!("{n} {word}s"),
    }
}

/// Writes to stdout; a closed pipe (`sslp plan | head`) ends output quietly.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn print_diagnostics(checked: &Checked, how: DiagOutput) {
    if checked.diagnostics.is_empty() {
        return;
    }
    match how {
        DiagOutput::Human => eprint!(
            "{}",
            render::graphical_all(&checked.diagnostics, &checked.sources, color())
        ),
        DiagOutput::Short => eprint!("{}", render::short(&checked.diagnostics, &checked.sources)),
        DiagOutput::Json => {}
    }
}

/// Under `--deny-warnings`: says so and fails when there are warnings (and no errors, which fail anyway).
fn denied(checked: &Checked, deny_warnings: bool) -> bool {
    if !deny_warnings || checked.diagnostics.iter().any(|d| d.is_error()) {
        return false;
    }
    let n = checked.diagnostics.len();
    if n > 0 {
        eprintln!("error: {} with --deny-warnings", plural(n, "warning"));
    }
    n > 0
}

/// `sslp check FILES`: all diagnostics of every file; exit 1 if any error
/// (or, with `deny_warnings`, any warning).
pub fn check(files: &[PathBuf], how: DiagOutput, deny_warnings: bool) -> u8 {
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

/// `sslp fmt [--check] FILES`.
pub fn fmt(files: &[PathBuf], check_only: bool) -> u8 {
    let mut worst = OK;
    for f in files {
        let text = match read(f) {
            Ok(t) => t,
            Err(code) => {
                worst = worst.max(code);
                continue;
            }
        };
        match formatter::format_source(&text) {
            Ok(formatted) => {
                if formatted == text {
                    continue;
                }
                if check_only {
                    eprintln!("{} is not formatted", f.display());
                    print_first_difference(&text, &formatted);
                    worst = worst.max(PROBLEMS);
                } else if let Err(e) = std::fs::write(f, formatted) {
                    eprintln!("error: cannot write {}: {e}", f.display());
                    worst = worst.max(USAGE);
                } else {
                    eprintln!("formatted {}", f.display());
                }
            }
            Err(diags) => {
                let mut sources = lang::SourceMap::new();
                sources.add(f.display().to_string(), text.as_str());
                eprint!("{}", render::graphical_all(&diags, &sources, color()));
                worst = worst.max(PROBLEMS);
            }
        }
    }
    worst
}

fn print_first_difference(old: &str, new: &str) {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let first = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    eprintln!("  first difference at line {}:", first + 1);
    if let Some(l) = a.get(first) {
        eprintln!("  - {l}");
    }
    if let Some(l) = b.get(first) {
        eprintln!("  + {l}");
    }
}

/// Plans a file without reading data: datasets that read files stay pending.
fn plan_or_report(path: &Path) -> Result<Plan, u8> {
    plan_checked(path, false).map(|(_, plan)| plan)
}

/// Plans a file without reading data, printing its diagnostics; fails on errors, and on
/// warnings when `deny_warnings`.
fn plan_checked(path: &Path, deny_warnings: bool) -> Result<(Checked, Plan), u8> {
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
fn plan_with_data(
    path: &Path,
    memo_dir: Option<&Path>,
    deny_warnings: bool,
) -> Result<(Plan, exec::fingerprint::Fingerprinted), u8> {
    let (checked, plan) = plan_checked(path, deny_warnings)?;
    let Some(program) = checked.program.as_ref() else {
        return Err(PROBLEMS);
    };
    fingerprint_and_replan(program, plan, path, memo_dir)
}

/// The IO step between [`plan::plan`] and [`plan::plan_with`].
fn fingerprint_and_replan(
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

/// `sslp plan FILE`: fingerprints the data (through the memo of the default
/// store, if it exists; never taking the store's lock) and prints the plan.
/// With `deny_warnings`, warnings fail it.
pub fn plan(path: &Path, format: PlanFormat, deny_warnings: bool) -> u8 {
    let store = store_dir(path, None);
    let memo = store.is_dir().then(|| store.join("fingerprints"));
    let plan = match plan_with_data(path, memo.as_deref(), deny_warnings) {
        Ok((p, _)) => p,
        Err(code) => return code,
    };
    if format == PlanFormat::Json {
        use std::io::Write;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        // A closed pipe (`| head`) ends the output; nothing to report.
        let _ = plan_render::write_json(&plan, &mut out)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        exit_soon(plan);
        return OK;
    }
    let out = match format {
        PlanFormat::Text => plan_render::text(&plan, &path.display().to_string()),
        PlanFormat::Json => plan_render::json(&plan),
        PlanFormat::Yaml => plan_render::yaml(&plan),
        PlanFormat::Dot => plan_render::dot(&plan),
        PlanFormat::Mermaid => plan_render::mermaid(&plan),
    };
    emit(&out);
    if !out.ends_with('\n') {
        emit("\n");
    }
    exit_soon(plan);
    exit_soon(out);
    OK
}

/// Leaks a large value the process is about to exit with: freeing a 10,000-arm plan
/// piece by piece costs a tenth of `check`, and the OS takes the memory back at exit
/// anyway. Only for values a command holds until it returns to `main`.
fn exit_soon<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// `sslp diff OLD NEW`: compares designs without reading data (dataset keys pending).
pub fn diff(old: &Path, new: &Path, format: DiffFormat) -> u8 {
    let (a, b) = match (plan_or_report(old), plan_or_report(new)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(c), _) | (_, Err(c)) => return c,
    };
    let d = plan_diff::diff(&a, &b);
    let pending: std::collections::BTreeSet<&str> = a
        .pending_datasets()
        .chain(b.pending_datasets())
        .map(|s| s.decl.as_str())
        .collect();
    match format {
        DiffFormat::Text if !pending.is_empty() => emit(&format!(
            "{}datasets: keys pending a fingerprint (diff reads no data): {}\n",
            d.text(),
            pending.into_iter().collect::<Vec<_>>().join(", ")
        )),
        DiffFormat::Text => emit(&d.text()),
        DiffFormat::Json => emit(&format!("{}\n", d.json())),
    }
    OK
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

fn open_store(dir: &Path, wait: bool) -> Result<exec::Store, u8> {
    exec::Store::open(dir, wait).map_err(|e| {
        eprintln!("error: {e}");
        USAGE
    })
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            // A second Ctrl-C: stop now. Finished steps are already safe in the store.
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: finishing the running steps; Ctrl-C again to stop at once");
    });
}

/// Runs a plan's needed steps against a store, printing progress and a summary.
fn execute(
    plan: &Plan,
    pipeline: &Path,
    args: &RunArgs,
    targets: Vec<plan::Key>,
    store: exec::Store,
) -> Result<(exec::Store, exec::RunSummary), u8> {
    let device = match &args.device {
        Some(d) => {
            let choice: crate::train::device::DeviceChoice = d.parse().map_err(|e: String| {
                eprintln!("error: {e}");
                USAGE
            })?;
            // Fail before any work when the device cannot be used at all.
            choice.plain_device().map_err(|e| {
                eprintln!("error: {e}");
                USAGE
            })?;
            Some(choice)
        }
        None => None,
    };
    let base = pipeline.parent().unwrap_or(Path::new(".")).to_path_buf();
    let engine = exec::runner::Engine::new(base).with_device(device);
    let opts = exec::RunOptions {
        jobs: args.jobs.max(1),
        arms: args.arms.clone(),
        targets,
    };
    install_interrupt_handler();
    let printer = exec::progress::Printer::new();
    let summary = exec::executor::run(plan, &store, &engine, &opts, &printer, &INTERRUPTED)
        .map_err(|e| {
            printer.finish();
            eprintln!("error: {e}");
            USAGE
        })?;
    printer.finish();
    Ok((store, summary))
}

fn print_summary(summary: &exec::RunSummary) -> u8 {
    eprintln!(
        "{} ran, {} cached, {} failed, {} skipped",
        summary.ran.len(),
        summary.cached.len(),
        summary.failed.len(),
        summary.skipped.len()
    );
    for (key, message) in &summary.failed {
        eprintln!("  failed {}: {message}", key.short());
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

/// Prints, per dataset whose files changed since the last run, which files
/// and how many steps that re-runs; with `record`, remembers the new file
/// manifests as the last run's.
fn report_data_changes(
    plan: &Plan,
    fingerprints: &exec::fingerprint::Fingerprinted,
    store: &exec::Store,
    arms: &[String],
    record: bool,
) {
    use exec::fingerprint::Manifest;
    let needed: std::collections::BTreeSet<usize> = exec::executor::needed_steps(plan, arms, &[])
        .into_iter()
        .collect();
    for d in &fingerprints.datasets {
        let new = &d.fingerprint.manifest;
        let old = store
            .dataset_manifest(&d.identity)
            .ok()
            .flatten()
            .and_then(|bytes| Manifest::decode(&bytes));
        if let Some(old) = &old
            && old.fingerprint != new.fingerprint
        {
            let start = plan.steps.iter().position(|s| {
                matches!(s.fingerprint, plan::Fingerprint::Content { pending, .. } if pending == d.pending)
            });
            let mut rerun = 0;
            if let Some(start) = start {
                let mut dfs =
                    petgraph::visit::Dfs::new(&plan.graph, petgraph::graph::NodeIndex::new(start));
                while let Some(node) = dfs.next(&plan.graph) {
                    let i = plan.graph[node];
                    if needed.contains(&i) && !store.is_done(&plan.steps[i].key).unwrap_or(false) {
                        rerun += 1;
                    }
                }
            }
            let mut why = new.changes_since(old).describe(new.files.len());
            if new.missing != old.missing && new.missing.len() > old.missing.len() {
                why.push_str(&format!(", {} missing", new.missing.len()));
            }
            eprintln!(
                "dataset {}: {why}; {} to re-run",
                d.decl,
                plural(rerun, "step")
            );
        }
        if record
            && old
                .as_ref()
                .is_none_or(|o| o.fingerprint != new.fingerprint)
            && let Err(e) = store.put_dataset_manifest(&d.identity, &new.encode())
        {
            eprintln!(
                "warning: cannot record the files of dataset `{}`: {e}",
                d.decl
            );
        }
    }
}

/// `sslp run FILE`: fingerprints the data, says which datasets changed since
/// the last run, and runs what is not cached.
pub fn run(path: &Path, args: &RunArgs) -> u8 {
    let dir = store_dir(path, args.store.as_deref());
    let (plan, fingerprints) =
        match plan_with_data(path, Some(&dir.join("fingerprints")), args.deny_warnings) {
            Ok(p) => p,
            Err(code) => return code,
        };
    let store = match open_store(&dir, args.wait) {
        Ok(s) => s,
        Err(code) => return code,
    };
    report_data_changes(&plan, &fingerprints, &store, &args.arms, !args.dry_run);
    if args.dry_run {
        let needed = exec::executor::needed_steps(&plan, &args.arms, &[]);
        let mut text = String::new();
        let mut to_run = 0;
        for &i in &needed {
            let s = &plan.steps[i];
            let cached = store.is_done(&s.key).unwrap_or(false);
            if !cached {
                to_run += 1;
            }
            text.push_str(&format!(
                "  {}  {:7}  {} {}\n",
                s.key.short(),
                if cached { "cached" } else { "run" },
                s.kind,
                s.decl
            ));
        }
        emit(&format!(
            "would run {} of {} needed steps ({}):\n{text}",
            to_run,
            needed.len(),
            plural(plan.arms.len(), "arm")
        ));
        return OK;
    }
    match execute(&plan, path, args, vec![], store) {
        Ok((store, summary)) => {
            let code = print_summary(&summary);
            print_collapses(&plan, &store, &summary);
            code
        }
        Err(code) => code,
    }
}

/// The training-health row of every pretraining step the store has, named by its arm.
fn training_rows(plan: &Plan, store: &exec::Store) -> Vec<report::health::TrainingRow> {
    plan.steps
        .iter()
        .filter(|s| s.kind == plan::StepKind::Pretrain)
        .filter_map(|s| {
            let record = store.get(&s.key).ok().flatten()?;
            // A pretraining step's sites are `<arm>/pretrain`.
            let arm = s.sites.first().map_or(s.decl.as_str(), |site| site.base());
            Some(report::health::TrainingRow::from_metrics(
                arm,
                &s.key.short(),
                &record.metrics,
            ))
        })
        .collect()
}

/// Says which pretraining runs of this run (ran or cached) collapsed.
fn print_collapses(plan: &Plan, store: &exec::Store, summary: &exec::RunSummary) {
    let seen: std::collections::BTreeSet<String> = summary
        .ran
        .iter()
        .chain(&summary.cached)
        .map(|k| k.short())
        .collect();
    for row in training_rows(plan, store) {
        if row.collapsed && seen.contains(&row.key) {
            eprintln!(
                "warning: pretrain {} ({}) collapsed: final embedding std {:.5}, {}",
                row.arm,
                row.key,
                row.embedding_std.unwrap_or(f64::NAN),
                row.status().to_lowercase()
            );
        }
    }
}

/// A file name made of an arm or declaration name.
fn file_stem_of(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' || c == '=' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `sslp report FILE [-o DIR]`: every finished arm's results as tables, plots and a page.
pub fn report(path: &Path, out: Option<&Path>, args: &RunArgs) -> u8 {
    use exec::report_steps as rs;
    let dir = store_dir(path, args.store.as_deref());
    let plan = match plan_with_data(path, Some(&dir.join("fingerprints")), false) {
        Ok((p, _)) => p,
        Err(code) => return code,
    };
    let store = match open_store(&dir, args.wait) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let dir = match out {
        Some(d) => d.to_path_buf(),
        None => {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("pipeline");
            path.parent()
                .unwrap_or(Path::new("."))
                .join("reports")
                .join(stem)
        }
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return USAGE;
    }
    let mut written: Vec<String> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let write = |name: &str, bytes: &[u8], written: &mut Vec<String>| {
        let p = dir.join(name);
        match std::fs::write(&p, bytes) {
            Ok(()) => written.push(name.to_string()),
            Err(e) => eprintln!("error: cannot write {}: {e}", p.display()),
        }
    };
    let arms = rs::evaluation_arms(&plan);
    let (rows, missing) = rs::collect_rows(&plan, &store, &arms);
    let mut sections = Vec::new();
    let training = training_rows(&plan, &store);
    if rows.is_empty() && training.is_empty() {
        eprintln!(
            "error: no arm of {} has results in the store yet; run `sslp run {}` first",
            path.display(),
            path.display()
        );
        return PROBLEMS;
    }
    // Every arm, one row each, with every metric its evaluation declares.
    let mut all_metrics: Vec<String> = Vec::new();
    for row in &rows {
        let kind = row.eval.split('(').next().unwrap_or("");
        if let Some(lang::registry::Kind {
            info: lang::registry::Info::Eval { metrics, .. },
            ..
        }) = lang::registry::kind_named(kind)
        {
            for m in *metrics {
                let name = format!("{}.{m}", row.decl);
                if !all_metrics.contains(&name) {
                    all_metrics.push(name);
                }
            }
        }
    }
    let all = report::TableSpec {
        metrics: all_metrics,
        rows: vec![],
        cols: None,
    };
    match report::table::build(&rows, &all) {
        Ok(t) => {
            write("results.md", t.to_markdown().as_bytes(), &mut written);
            write("results.csv", t.to_csv().as_bytes(), &mut written);
            let json = serde_json::to_vec_pretty(&t.to_json()).unwrap_or_default();
            write("results.json", &json, &mut written);
            sections.push(report::Section {
                heading: "All results".into(),
                table_html: Some(t.to_html()),
                images: vec![],
                note: (!missing.is_empty())
                    .then(|| format!("{} arms have no results yet.", missing.len())),
            });
        }
        Err(_) if rows.is_empty() => {}
        Err(e) => problems.push(format!("results table: {e}")),
    }
    if !training.is_empty() {
        use report::health;
        write(
            "training.md",
            health::to_markdown(&training).as_bytes(),
            &mut written,
        );
        write(
            "training.csv",
            health::to_csv(&training).as_bytes(),
            &mut written,
        );
        let json = serde_json::to_vec_pretty(&health::to_json(&training)).unwrap_or_default();
        write("training.json", &json, &mut written);
        let collapsed: Vec<&str> = training
            .iter()
            .filter(|r| r.collapsed)
            .map(|r| r.arm.as_str())
            .collect();
        for arm in &collapsed {
            eprintln!("warning: pretrain {arm} collapsed (training.md)");
        }
        sections.push(report::Section {
            heading: "Training health".into(),
            table_html: Some(health::to_html(&training)),
            images: vec![],
            note: Some(format!(
                "Final epoch of each pretraining run. Embedding std: SimSiam's collapse detector, \
                 about 1/√d when features spread, 0 when collapsed (flagged below 0.1/√d). \
                 Alignment and uniformity: Wang & Isola 2020 (lower is better for both). \
                 kNN monitor: held-out training images, every `monitor_every` epochs.{}",
                if collapsed.is_empty() {
                    String::new()
                } else {
                    format!("\n{} collapsed: {}", collapsed.len(), collapsed.join(", "))
                }
            )),
        });
    }
    for step in &plan.steps {
        let title = step.decl.clone();
        let step_arms: BTreeMap<String, plan::Key> = step.inputs.clone().into_iter().collect();
        match step.kind.as_str() {
            "table" => {
                let (rows, _) = rs::collect_rows(&plan, &store, &step_arms);
                match rs::render_table(&rows, step) {
                    Ok(files) => {
                        let mut html = None;
                        for (name, bytes) in files {
                            let ext = name.rsplit('.').next().unwrap_or("txt");
                            write(
                                &format!("{}.{ext}", file_stem_of(&step.decl)),
                                &bytes,
                                &mut written,
                            );
                            if ext == "html" {
                                html = Some(String::from_utf8_lossy(&bytes).to_string());
                            }
                        }
                        let html = html.or_else(|| {
                            let spec = rs::table_spec(step).ok()?;
                            report::table::build(&rows, &spec).ok().map(|t| t.to_html())
                        });
                        sections.push(report::Section {
                            heading: title,
                            table_html: html,
                            images: vec![],
                            note: None,
                        });
                    }
                    Err(e) => problems.push(format!("table `{}`: {e}", step.decl)),
                }
            }
            "plot" => {
                let (rows, _) = rs::collect_rows(&plan, &store, &step_arms);
                match rs::render_plot(&rows, step, &step.decl) {
                    Ok(files) => {
                        let mut images = vec![];
                        for (name, bytes) in files {
                            let ext = name.rsplit('.').next().unwrap_or("png");
                            let file = format!("{}.{ext}", file_stem_of(&step.decl));
                            write(&file, &bytes, &mut written);
                            if ext == "png" {
                                images.push(file);
                            }
                        }
                        sections.push(report::Section {
                            heading: title,
                            table_html: None,
                            images,
                            note: None,
                        });
                    }
                    Err(e) => problems.push(format!("plot `{}`: {e}", step.decl)),
                }
            }
            kind @ ("tsne" | "preview") => {
                let Ok(Some(record)) = store.get(&step.key) else {
                    continue;
                };
                let output = if kind == "tsne" { "plot.png" } else { "grid" };
                let Some(exec::store::Output::Blob { blob }) = record.outputs.get(output) else {
                    continue;
                };
                let Ok(bytes) = store.get_blob(blob) else {
                    continue;
                };
                let arm = plan
                    .arms
                    .iter()
                    .find(|a| a.output == step.key)
                    .map_or(step.decl.clone(), |a| a.name.clone());
                let file = format!("{kind}-{}.png", file_stem_of(&arm));
                write(&file, &bytes, &mut written);
                sections.push(report::Section {
                    heading: arm,
                    table_html: None,
                    images: vec![file],
                    note: None,
                });
            }
            _ => {}
        }
    }
    let title = plan.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("pipeline")
            .to_string()
    });
    write(
        "index.html",
        report::html::index(&title, &sections).as_bytes(),
        &mut written,
    );
    emit(&format!(
        "wrote {} files to {} ({} of {} arms with results)\n",
        written.len(),
        dir.display(),
        rows.len(),
        arms.len()
    ));
    if !missing.is_empty() {
        eprintln!(
            "note: {} arms have no results yet; `sslp run {}` computes them",
            missing.len(),
            path.display()
        );
    }
    for p in &problems {
        eprintln!("error: {p}");
    }
    if problems.is_empty() { OK } else { PROBLEMS }
}

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
    let id = path
        .canonicalize()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string());
    let mut checked = lang::check_source(
        &path.display().to_string(),
        &id,
        &source,
        &mut FsLoader::for_entry(path),
    );
    let plan = match &checked.program {
        Some(program) => {
            let (p, diags) = plan::plan(program);
            checked.diagnostics.extend(diags);
            p
        }
        None => None,
    };
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
    let Some(step) = plan.steps.iter().find(|s| s.decl == "__sslp_preview") else {
        eprintln!("error: internal: no preview step was planned");
        return USAGE;
    };
    let key = step.key;
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

/// `sslp cache` subcommands.
#[derive(Debug, Clone)]
pub enum CacheCommand {
    /// List entries.
    Ls,
    /// Show one entry.
    Show(String),
    /// Remove unreferenced blobs.
    Gc,
    /// Re-hash blobs, report damage.
    Verify,
    /// Write one output's bytes to a file (or stdout).
    Cat {
        /// Key prefix.
        key: String,
        /// Output name.
        output: String,
        /// Destination (stdout when absent).
        out: Option<PathBuf>,
    },
}

fn find_one(store: &exec::Store, prefix: &str) -> Result<(plan::Key, exec::store::Record), u8> {
    let keys = store.find(prefix).map_err(|e| {
        eprintln!("error: {e}");
        USAGE
    })?;
    match keys.as_slice() {
        [k] => match store.get(k) {
            Ok(Some(r)) => Ok((*k, r)),
            _ => {
                eprintln!("error: no entry {prefix}");
                Err(PROBLEMS)
            }
        },
        [] => {
            eprintln!("error: no entry starts with `{prefix}`");
            Err(PROBLEMS)
        }
        many => {
            eprintln!(
                "error: `{prefix}` matches {} entries; give more digits",
                many.len()
            );
            Err(USAGE)
        }
    }
}

/// `sslp cache ...` on the store in `dir`.
pub fn cache(dir: &Path, wait: bool, cmd: &CacheCommand) -> u8 {
    let store = match open_store(dir, wait) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match cmd {
        CacheCommand::Ls => {
            let records = match store.records() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return USAGE;
                }
            };
            let mut text = String::new();
            for (k, r) in &records {
                let size: u64 = r.blobs().map(|b| b.size).sum();
                text.push_str(&format!(
                    "{}  {:6}  {:16} {:12} {:>10} B  {:>8.2} s  {:>8}\n",
                    k.short(),
                    match r.status {
                        exec::store::Status::Done => "done",
                        exec::store::Status::Failed => "failed",
                    },
                    r.kind,
                    r.decl,
                    size,
                    r.duration_ms as f64 / 1000.0,
                    r.peak_rss.map_or("-".to_string(), exec::memory::human)
                ));
            }
            text.push_str(&format!(
                "{} ({} offline results)\n",
                plural(records.len(), "entry"),
                store.offline_len()
            ));
            emit(&text);
            OK
        }
        CacheCommand::Show(prefix) => match find_one(&store, prefix) {
            Ok((k, r)) => {
                let mut v = serde_json::to_value(&r).unwrap_or_default();
                if let serde_json::Value::Object(m) = &mut v {
                    m.insert("key".into(), serde_json::Value::String(k.hex()));
                }
                emit(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&v).unwrap_or_default()
                ));
                OK
            }
            Err(code) => code,
        },
        CacheCommand::Gc => match store.gc() {
            Ok(r) => {
                eprintln!(
                    "removed {} ({} bytes)",
                    plural(r.removed, "unreferenced blob"),
                    r.bytes
                );
                OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                USAGE
            }
        },
        CacheCommand::Verify => match store.verify() {
            Ok(r) => {
                for d in &r.damaged {
                    eprintln!("damaged: {d}");
                }
                for (k, h) in &r.missing {
                    eprintln!("missing: blob {h} of entry {}", &k[..12]);
                }
                eprintln!(
                    "checked {}: {} damaged, {} missing",
                    plural(r.blobs_checked, "blob"),
                    r.damaged.len(),
                    r.missing.len()
                );
                if r.damaged.is_empty() && r.missing.is_empty() {
                    OK
                } else {
                    PROBLEMS
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                USAGE
            }
        },
        CacheCommand::Cat { key, output, out } => {
            let (k, r) = match find_one(&store, key) {
                Ok(x) => x,
                Err(code) => return code,
            };
            let bytes = match r.outputs.get(output) {
                Some(exec::store::Output::Blob { blob }) => match store.get_blob(blob) {
                    Ok(b) => b,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return PROBLEMS;
                    }
                },
                Some(exec::store::Output::Inline { value }) => format!("{value}\n").into_bytes(),
                None => {
                    let names: Vec<&str> = r.outputs.keys().map(String::as_str).collect();
                    eprintln!(
                        "error: entry {} has no output `{output}` (it has: {})",
                        k.short(),
                        names.join(", ")
                    );
                    return PROBLEMS;
                }
            };
            let written = match out {
                Some(p) => std::fs::write(p, &bytes)
                    .map_err(|e| format!("cannot write {}: {e}", p.display())),
                None => {
                    use std::io::Write;
                    std::io::stdout()
                        .lock()
                        .write_all(&bytes)
                        .map_err(|e| e.to_string())
                }
            };
            match written {
                Ok(()) => OK,
                Err(e) => {
                    eprintln!("error: {e}");
                    USAGE
                }
            }
        }
    }
}

/// `sslp explain [NAME]`.
pub fn explain(name: Option<&str>) -> u8 {
    use lang::registry;
    match name {
        None => {
            for cat in registry::Category::ALL {
                let names: Vec<&str> = registry::all_schemas()
                    .filter(|k| k.category == cat)
                    .map(|k| k.name)
                    .collect();
                emit(&format!("{}: {}\n", cat.title(), names.join(", ")));
            }
            emit("\nrun `sslp explain NAME` for a kind's parameters\n");
            OK
        }
        Some(n) => match registry::schema_named(n) {
            Some(k) => {
                emit(&registry::explain(k));
                if k.category == registry::Category::Dataset && k.name != "synthetic_shapes" {
                    emit(
                        "\nThe content of every file it reads is in its key: `sslp plan` shows the\n\
                         fingerprint, and `sslp run` re-runs it and everything downstream when a\n\
                         byte changes, naming the files (unchanged files are not read again).\n",
                    );
                }
                OK
            }
            None => {
                let names: Vec<&str> = registry::all_schemas().map(|k| k.name).collect();
                let hint = registry::suggest(n, names.iter().copied())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                eprintln!("error: no kind named `{n}`{hint}; `sslp explain` lists them");
                USAGE
            }
        },
    }
}

/// Which saliency output `sslp saliency` computes.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum SaliencyMethod {
    /// Histogram-contrast map.
    Hc,
    /// Region-contrast map.
    Rc,
    /// SaliencyCut mask (RC map, then iterative GrabCut).
    Cut,
}

/// Options of `sslp saliency`.
#[derive(Debug, Clone)]
pub struct SaliencyArgs {
    /// Images, or folders of images.
    pub inputs: Vec<PathBuf>,
    /// What to compute.
    pub method: SaliencyMethod,
    /// The CVPR 2011 variant instead of the TPAMI one.
    pub cvpr2011: bool,
    /// Where to write the PNGs.
    pub out: Option<PathBuf>,
    /// Ground-truth folder: same-stem PNG masks.
    pub eval: Option<PathBuf>,
}

fn image_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>, u8> {
    let mut out = vec![];
    for p in inputs {
        if p.is_dir() {
            let entries = std::fs::read_dir(p).map_err(|e| {
                eprintln!("error: cannot read {}: {e}", p.display());
                USAGE
            })?;
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|f| {
                    f.extension().and_then(|x| x.to_str()).is_some_and(|x| {
                        matches!(
                            x.to_ascii_lowercase().as_str(),
                            "png" | "jpg" | "jpeg" | "bmp"
                        )
                    })
                })
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// `sslp saliency IMAGE... --method hc|rc|cut [-o DIR] [--eval GT_DIR]`.
pub fn saliency(args: &SaliencyArgs) -> u8 {
    use crate::saliency::{self as sal, Map, Mask, metrics};
    let files = match image_files(&args.inputs) {
        Ok(f) => f,
        Err(code) => return code,
    };
    if files.is_empty() {
        eprintln!("error: no images given");
        return USAGE;
    }
    if let Some(dir) = &args.out
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return USAGE;
    }
    let variant = if args.cvpr2011 {
        sal::rc::Variant::Cvpr2011
    } else {
        sal::rc::Variant::Tpami
    };
    let mut maps: Vec<(Map, Mask)> = vec![];
    let mut masks: Vec<(Mask, Mask)> = vec![];
    let mut worst = OK;
    let mut seconds = 0.0;
    for f in &files {
        let img = match image::open(f) {
            Ok(i) => i.to_rgb8(),
            Err(e) => {
                eprintln!("error: {}: cannot decode image: {e}", f.display());
                worst = worst.max(PROBLEMS);
                continue;
            }
        };
        let stem = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let t = std::time::Instant::now();
        let (map, mask) = match args.method {
            SaliencyMethod::Hc => (Some(sal::hc::hc(&img)), None),
            SaliencyMethod::Rc => (Some(sal::rc::rc(&img, variant)), None),
            SaliencyMethod::Cut => {
                let rc = sal::rc::rc(&img, variant);
                let cut =
                    sal::saliency_cut::cut(&img, &rc, &sal::saliency_cut::CutParams::default())
                        .unwrap_or_else(|| sal::saliency_cut::adaptive_threshold(&rc));
                (None, Some(cut))
            }
        };
        seconds += t.elapsed().as_secs_f64();
        let (w, h) = (img.width(), img.height());
        let pixels: Vec<u8> = match (&map, &mask) {
            (Some(m), _) => metrics::map_to_u8(m),
            (_, Some(m)) => m
                .data
                .iter()
                .map(|&v| if v != 0 { 255 } else { 0 })
                .collect(),
            _ => vec![],
        };
        if let Some(dir) = &args.out {
            let suffix = match args.method {
                SaliencyMethod::Hc => "hc",
                SaliencyMethod::Rc => "rc",
                SaliencyMethod::Cut => "cut",
            };
            let path = dir.join(format!("{stem}_{suffix}.png"));
            let saved = image::GrayImage::from_raw(w, h, pixels).map(|g| g.save(&path));
            if !matches!(saved, Some(Ok(()))) {
                eprintln!("error: cannot write {}", path.display());
                worst = worst.max(USAGE);
            }
        }
        if let Some(gt_dir) = &args.eval {
            let gt_path = gt_dir.join(format!("{stem}.png"));
            let gt = match image::open(&gt_path) {
                Ok(g) => metrics::binarize_gt(&g.to_luma8()),
                Err(e) => {
                    eprintln!(
                        "error: {}: cannot read ground truth: {e}",
                        gt_path.display()
                    );
                    worst = worst.max(PROBLEMS);
                    continue;
                }
            };
            if (gt.width, gt.height) != (w as usize, h as usize) {
                eprintln!(
                    "error: {} is {}x{} but its image is {w}x{h}",
                    gt_path.display(),
                    gt.width,
                    gt.height
                );
                worst = worst.max(PROBLEMS);
                continue;
            }
            match (map, mask) {
                (Some(m), _) => maps.push((m, gt)),
                (_, Some(m)) => masks.push((m, gt)),
                _ => {}
            }
        }
    }
    eprintln!(
        "{} in {:.1} ms per image",
        plural(files.len(), "image"),
        1000.0 * seconds / files.len().max(1) as f64
    );
    if args.eval.is_some() {
        let report = if !maps.is_empty() {
            let s = metrics::score_maps(maps.iter().map(|(m, g)| (m, g)));
            serde_json::json!({"images": maps.len(), "max_f": s.max_f, "mean_f": s.mean_f, "mae": s.mae})
        } else {
            let s = metrics::score_masks(masks.iter().map(|(m, g)| (m, g)));
            serde_json::json!({"images": masks.len(), "precision": s.precision, "recall": s.recall, "f_beta": s.f_beta, "iou": s.iou})
        };
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ));
    }
    worst
}
