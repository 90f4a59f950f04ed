//! `sslp diff`: the semantic difference of two designs, without reading data.

use super::pipeline::plan_or_report;
use super::{OK, emit};
use crate::plan::diff as plan_diff;
use clap::ValueEnum;
use std::path::Path;

/// Output format of `sslp diff`.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum DiffFormat {
    /// Review-friendly text.
    Text,
    /// JSON.
    Json,
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
