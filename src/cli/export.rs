//! `sslp export RUN`: a pretraining run's backbone as a safetensors file PyTorch
//! loads (torchvision's or timm's names), or with burn's names; then the Python
//! lines that load it.

use super::pipeline::open_read_store;
use super::{OK, PROBLEMS, USAGE, emit};
use crate::exec::export::{self as lib, export as export_run};
use clap::ValueEnum;
use std::path::{Path, PathBuf};

/// The names `sslp export` gives the weights.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum ExportFormat {
    /// torchvision's ResNet names or timm's ViT names and layouts: `load_state_dict(strict=True)`
    /// loads the file as it is.
    Torchvision,
    /// burn's names and layouts (the `backbone.safetensors` the step stored).
    Safetensors,
}

/// `sslp export RUN [--format F] [-o FILE]` on the store in `dir`.
pub fn export(dir: &Path, wait: bool, run: &str, format: ExportFormat, out: Option<&Path>) -> u8 {
    // Opening a store creates its folders: a mistyped `--store` must not make one.
    if !dir.is_dir() {
        eprintln!(
            "error: no store at {} (`--store DIR` or $SSLP_STORE names it)",
            dir.display()
        );
        return USAGE;
    }
    let store = match open_read_store(dir, wait) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let format = match format {
        ExportFormat::Torchvision => lib::ExportFormat::Torchvision,
        ExportFormat::Safetensors => lib::ExportFormat::Safetensors,
    };
    let exported = match export_run(&store, run, format) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return if e.is_usage() { USAGE } else { PROBLEMS };
        }
    };
    let path = out.map_or_else(
        || PathBuf::from(exported.default_file_name()),
        Path::to_path_buf,
    );
    if let Err(e) = std::fs::write(&path, &exported.bytes) {
        eprintln!("error: cannot write {}: {e}", path.display());
        return USAGE;
    }
    let what = match &exported.torch {
        Some(t) => format!("{}'s {}", t.library.name(), t.architecture),
        None => "burn's names".to_string(),
    };
    eprintln!(
        "wrote {} ({} bytes): {} {} as {what}",
        path.display(),
        exported.bytes.len(),
        exported.decl,
        exported.key.short(),
    );
    if let Some(t) = &exported.torch {
        for d in &t.differences {
            eprintln!("note: {d}");
        }
    }
    emit(&exported.usage(&path.display().to_string()));
    OK
}
