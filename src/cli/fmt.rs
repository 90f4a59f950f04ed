//! `sslp fmt`: the canonical formatting of pipeline files, in place or checked.

use super::{OK, PROBLEMS, USAGE, color, read};
use crate::lang::{self, diagnostic::render, fmt as formatter};
use std::path::PathBuf;

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

/// Shows the first line where the formatted text differs.
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
