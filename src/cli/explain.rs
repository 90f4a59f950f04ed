//! `sslp explain`: the registry's documentation of a kind, or the list of kinds.

use super::{OK, USAGE, emit};
use crate::lang;

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
