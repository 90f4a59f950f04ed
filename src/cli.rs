//! The command implementations behind `sslp`: reading files, printing, exit codes.
//!
//! Exit codes: 0 ok, 1 diagnostics (or `fmt --check` found unformatted
//! files, or `diff` found no problem but... see each command), 2 usage or IO
//! error. This is the only module that touches the file system for the
//! language tools.

use crate::lang::{self, Checked, LoadedFile, Loader, diagnostic::render, fmt as formatter};
use crate::plan::{self, Plan, diff as plan_diff, render as plan_render};
use clap::ValueEnum;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

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

/// Reads relative imports from disk, relative to the importing file.
#[derive(Debug, Default)]
pub struct FsLoader;

impl Loader for FsLoader {
    fn load(&mut self, from_id: &str, path: &str) -> Result<LoadedFile, String> {
        let base = Path::new(from_id).parent().unwrap_or(Path::new("."));
        let full = base.join(path);
        let text = std::fs::read_to_string(&full)
            .map_err(|e| format!("cannot read {}: {e}", full.display()))?;
        let id = full
            .canonicalize()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| full.display().to_string());
        Ok(LoadedFile {
            name: full.display().to_string(),
            id,
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
    let mut checked = lang::check_source(&path.display().to_string(), &id, &text, &mut FsLoader);
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
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
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

/// `sslp check FILES`: all diagnostics of every file; exit 1 if any error.
pub fn check(files: &[PathBuf], how: DiagOutput) -> u8 {
    let mut worst = OK;
    let mut json_all = vec![];
    for f in files {
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
        let failed = checked.diagnostics.iter().any(|d| d.is_error()) || plan.is_none();
        if failed {
            worst = worst.max(PROBLEMS);
        } else if how != DiagOutput::Json
            && let Some(plan) = plan
        {
            eprintln!(
                "ok: {} ({}, {})",
                f.display(),
                plural(plan.arms.len(), "arm"),
                plural(plan.steps.len(), "step")
            );
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

fn plan_or_report(path: &Path) -> Result<Plan, u8> {
    let (checked, plan) = load_and_plan(path)?;
    print_diagnostics(&checked, DiagOutput::Human);
    match plan {
        Some(p) if !checked.diagnostics.iter().any(|d| d.is_error()) => Ok(p),
        _ => Err(PROBLEMS),
    }
}

/// `sslp plan FILE`.
pub fn plan(path: &Path, format: PlanFormat) -> u8 {
    let plan = match plan_or_report(path) {
        Ok(p) => p,
        Err(code) => return code,
    };
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
    OK
}

/// `sslp diff OLD NEW`.
pub fn diff(old: &Path, new: &Path, format: DiffFormat) -> u8 {
    let (a, b) = match (plan_or_report(old), plan_or_report(new)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(c), _) | (_, Err(c)) => return c,
    };
    let d = plan_diff::diff(&a, &b);
    match format {
        DiffFormat::Text => emit(&d.text()),
        DiffFormat::Json => emit(&format!("{}\n", d.json())),
    }
    OK
}

/// `sslp run FILE`: with `--dry-run`, the steps that would run.
pub fn run(path: &Path, dry_run: bool) -> u8 {
    let plan = match plan_or_report(path) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if dry_run {
        let mut text = format!(
            "would run {} for {}:\n",
            plural(plan.steps.len(), "step"),
            plural(plan.arms.len(), "arm")
        );
        for s in &plan.steps {
            text.push_str(&format!("  {}  {} {}\n", s.key.short(), s.kind, s.decl));
        }
        emit(&text);
        return OK;
    }
    eprintln!(
        "error: `sslp run` cannot execute steps yet: the execution engine (store, datasets, training) is not built in this version.\n  The plan checks: {} arms, {} steps. Use `sslp run --dry-run` or `sslp plan` to inspect it.",
        plan.arms.len(),
        plan.steps.len()
    );
    USAGE
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
