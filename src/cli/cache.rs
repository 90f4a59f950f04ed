//! `sslp cache`: list, show, extract, verify and collect the store's entries.

use super::pipeline::{open_read_store, open_store};
use super::{OK, PROBLEMS, USAGE, emit, plural};
use crate::exec;
use crate::plan;
use std::path::{Path, PathBuf};

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

/// The one entry whose key starts with `prefix`.
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
    // Only `gc` changes the store; the rest read it beside a running coordinator.
    let opened = if matches!(cmd, CacheCommand::Gc) {
        open_store(dir, wait)
    } else {
        open_read_store(dir, wait)
    };
    let store = match opened {
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
