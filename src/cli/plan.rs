//! `sslp plan`: the DAG of content-addressed steps and the arms, in several formats.

use super::pipeline::{plan_with_data, store_dir};
use super::{OK, PLAN_HEAP, emit, exit_soon};
use crate::plan::render as plan_render;
use clap::ValueEnum;
use std::path::Path;

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

/// `sslp plan FILE`: fingerprints the data (through the memo of the default
/// store, if it exists; never taking the store's lock) and prints the plan.
/// With `deny_warnings`, warnings fail it.
pub fn plan(path: &Path, format: PlanFormat, deny_warnings: bool) -> u8 {
    // A short-lived process building a plan of up to tens of megabytes in small pieces.
    crate::exec::memory::heap_in_huge_pages(PLAN_HEAP);
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
