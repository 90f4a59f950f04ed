//! The commands behind `sslp`: each parses nothing (clap does, in `main.rs`),
//! calls one library function, and prints. One file per command; what they
//! share (exit codes, diagnostics output, planning a file, running a plan)
//! lives here and in `pipeline`.
//!
//! Exit codes: 0 ok, 1 the input has problems (diagnostics, unformatted files,
//! failed steps), 2 usage or IO error.

mod cache;
mod check;
mod device_check;
mod diff;
mod explain;
mod export;
mod fmt;
mod lsp;
mod pipeline;
mod plan;
mod preview;
pub mod progress;
mod report;
mod run;
mod saliency;
mod status;
mod submit;
mod textconv;
mod worker;

pub use cache::{CacheCommand, cache};
pub use check::check;
pub use device_check::{CheckProfile, DeviceCheckArgs, device_check};
pub use diff::{DiffFormat, diff, diff_git};
pub use explain::explain;
pub use export::{ExportFormat, export};
pub use fmt::fmt;
pub use lsp::lsp;
pub use pipeline::{EventFormat, ExecutorChoice, RunArgs, store_dir};
pub use plan::{PlanFormat, plan};
pub use preview::{PreviewArgs, preview};
pub use report::report;
pub use run::run;
pub use saliency::{SaliencyArgs, SaliencyMethod, saliency};
pub use status::status;
pub use textconv::textconv;
pub use worker::worker;

use crate::lang::{Checked, diagnostic::render};
use crate::plan::Plan;
use crate::project;
use std::io::IsTerminal;
use std::path::Path;

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

/// Reads an entry file, saying why not on stderr.
fn read(path: &Path) -> Result<String, u8> {
    project::read_source(path).map_err(|e| {
        eprintln!("error: {e}");
        USAGE
    })
}

/// Reads, checks and plans a file (see [`project::load_and_plan`]), saying on stderr why it
/// could not be read.
fn load_and_plan(path: &Path) -> Result<(Checked, Option<Plan>), u8> {
    project::load_and_plan(path).map_err(|e| {
        eprintln!("error: {e}");
        USAGE
    })
}

/// `n word`, pluralised (`1 arm`, `2 arms`, `3 entries`).
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

/// Whether stderr takes colour.
fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Prints a file's diagnostics on stderr, as `how` says (JSON is printed by `check`).
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

/// Heap `check` and `plan` ask for in huge pages before planning
/// ([`crate::exec::memory::heap_in_huge_pages`]): what a 10,000-arm sweep needs.
const PLAN_HEAP: usize = 48 << 20;

/// Leaks a large value the process is about to exit with: freeing a 10,000-arm plan
/// piece by piece costs a tenth of `check`, and the OS takes the memory back at exit
/// anyway. Only for values a command holds until it returns to `main`.
fn exit_soon<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}
