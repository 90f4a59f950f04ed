//! The checker corpus: `tests/corpus/*.sslp`, each annotated inline with the diagnostics
//! `sslp check` must report for it (and no others), plus a snapshot of each file's
//! human-readable report. See `tests/corpus/README.md` for the annotation syntax.
//!
//! Only `.sslp` files directly in `tests/corpus/` are cases; `tests/corpus/modules/` holds
//! modules the cases import, which are not checked on their own.

use sslp::lang::Code;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Codes no input can trigger, each with the reason; the coverage test accepts them without a
/// case (and fails if one of them gets a case, so the list does not go stale). Empty: every
/// code has a case.
const UNTRIGGERABLE: &[(&str, &str)] = &[];

/// The repository root (tests run from it).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The cases: `.sslp` files directly in `tests/corpus/`, as paths relative to the root, sorted.
fn cases() -> Vec<String> {
    let dir = root().join("tests/corpus");
    let mut out: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/corpus exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "sslp"))
        .map(|p| {
            let name = p.file_name().expect("a file name").to_string_lossy();
            format!("tests/corpus/{name}")
        })
        .collect();
    out.sort();
    assert!(out.len() >= 10, "expected the corpus, found {out:?}");
    out
}

fn sslp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sslp"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("SSLP_STORE")
        .output()
        .expect("the sslp binary runs")
}

/// One diagnostic, expected (from an annotation) or emitted (from `--format json`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Diag {
    line: usize,
    severity: String,
    code: String,
    /// For an annotation: a substring the message must contain. Emitted: the whole message.
    message: String,
}

impl Diag {
    fn show(&self) -> String {
        format!(
            "{}: {}[{}]: {}",
            self.line, self.severity, self.code, self.message
        )
    }
}

/// The annotation in one line, if any: `# error[CODE]: TEXT` at the end of a line points at
/// that line; `# ^ error[CODE]: TEXT` on a line of its own points at the line above (`^^` two
/// lines above, and so on).
fn annotation(file: &str, n: usize, line: &str) -> Option<Diag> {
    // The first `#` that starts an annotation (a `#` inside a string does not).
    for (at, _) in line.match_indices('#') {
        let rest = line[at + 1..].trim_start();
        let carets = rest.chars().take_while(|&c| c == '^').count();
        let rest = rest[carets..].trim_start();
        let Some((severity, rest)) = ["error", "warning"]
            .iter()
            .find_map(|s| rest.strip_prefix(s).map(|r| (*s, r)))
        else {
            continue;
        };
        let Some(rest) = rest.strip_prefix('[') else {
            continue;
        };
        let (code, rest) = rest
            .split_once("]:")
            .unwrap_or_else(|| panic!("{file}:{n}: malformed annotation (no `]:`): {line}"));
        let message = rest.trim().to_string();
        let own_line = line[..at].trim().is_empty();
        let target = match (own_line, carets) {
            (false, 0) => n,
            (true, c) if c > 0 && c < n => n - c,
            (true, 0) => panic!(
                "{file}:{n}: an annotation on a line of its own must point up with `# ^ {severity}[...]`"
            ),
            _ => panic!("{file}:{n}: `^` in a trailing annotation, or pointing above the file"),
        };
        assert!(
            !message.is_empty(),
            "{file}:{n}: the annotation needs a message substring"
        );
        assert!(
            code.starts_with("sslp::"),
            "{file}:{n}: `{code}` is not a diagnostic code"
        );
        return Some(Diag {
            line: target,
            severity: severity.to_string(),
            code: code.to_string(),
            message,
        });
    }
    None
}

fn annotations(file: &str) -> Vec<Diag> {
    let text = std::fs::read_to_string(root().join(file)).expect("the case reads");
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| annotation(file, i + 1, l))
        .collect()
}

/// What `sslp check --format json` reports for a case; diagnostics in other files (an
/// imported module) come back as `Err` lines, which are never expected.
fn emitted(file: &str) -> (Vec<Diag>, Vec<String>, Option<i32>) {
    let out = sslp(&["check", "--format", "json", file]);
    let text = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{file}: `sslp check --format json` printed no JSON ({e}):\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let mut here = vec![];
    let mut elsewhere = vec![];
    for d in json.as_array().expect("a JSON array") {
        let s = |k: &str| d[k].as_str().unwrap_or_default().to_string();
        let diag = Diag {
            line: d["line"].as_u64().unwrap_or_default() as usize,
            severity: s("severity"),
            code: s("code"),
            message: s("message"),
        };
        if s("file") == file {
            here.push(diag);
        } else {
            elsewhere.push(format!("{}:{}", s("file"), diag.show()));
        }
    }
    (here, elsewhere, out.status.code())
}

/// Matches expected against emitted; the lines of a diff when they differ.
fn compare(file: &str, expected: &[Diag], emitted: &[Diag]) -> Vec<String> {
    let mut used = vec![false; emitted.len()];
    let mut missing = vec![];
    for e in expected {
        let hit = emitted.iter().enumerate().position(|(i, d)| {
            !used[i]
                && d.line == e.line
                && d.severity == e.severity
                && d.code == e.code
                && d.message.contains(&e.message)
        });
        match hit {
            Some(i) => used[i] = true,
            None => missing.push(e),
        }
    }
    let mut diff = vec![];
    for e in missing {
        let near: Vec<String> = emitted
            .iter()
            .filter(|d| d.line == e.line)
            .map(|d| format!("\n        (line {} has: {})", e.line, d.show()))
            .collect();
        diff.push(format!(
            "  - {file}:{}   expected, not reported{}",
            e.show(),
            near.concat()
        ));
    }
    for (d, _) in emitted.iter().zip(&used).filter(|(_, u)| !**u) {
        diff.push(format!("  + {file}:{}   reported, not expected", d.show()));
    }
    diff
}

#[test]
fn every_case_reports_exactly_its_annotations() {
    let mut failures = vec![];
    for file in cases() {
        let expected = annotations(&file);
        let (found, elsewhere, status) = emitted(&file);
        let mut diff = compare(&file, &expected, &found);
        for e in elsewhere {
            diff.push(format!(
                "  + {e}   reported in another file (keep a case's diagnostics in the case)"
            ));
        }
        let want_status = if expected.iter().any(|d| d.severity == "error") {
            1
        } else {
            0
        };
        if status != Some(want_status) {
            diff.push(format!(
                "  ! {file}: exit status {status:?}, expected {want_status}"
            ));
        }
        if !diff.is_empty() {
            failures.push(format!("{file}:\n{}", diff.join("\n")));
        }
    }
    assert!(
        failures.is_empty(),
        "the corpus differs from its annotations (- expected, + reported):\n\n{}\n",
        failures.join("\n\n")
    );
}

#[test]
fn every_code_has_a_case() {
    let mut covered = BTreeSet::new();
    let mut clean = 0;
    for file in cases() {
        let a = annotations(&file);
        if a.is_empty() {
            clean += 1;
        }
        covered.extend(a.into_iter().map(|d| d.code));
    }
    assert!(clean >= 1, "the corpus needs a clean case (no annotations)");
    let known: BTreeSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    let unknown: Vec<&String> = covered
        .iter()
        .filter(|c| !known.contains(c.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "annotations name codes that do not exist: {unknown:?}"
    );
    let allowed: BTreeSet<&str> = UNTRIGGERABLE.iter().map(|(c, _)| *c).collect();
    let stale: Vec<&&str> = allowed.iter().filter(|c| covered.contains(**c)).collect();
    assert!(
        stale.is_empty(),
        "UNTRIGGERABLE lists codes that have a case: {stale:?}"
    );
    let uncovered: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !covered.contains(*c) && !allowed.contains(c))
        .collect();
    assert!(
        uncovered.is_empty(),
        "{} diagnostic code(s) have no case in tests/corpus/:\n  {}\n",
        uncovered.len(),
        uncovered.join("\n  ")
    );
}

/// The human report with the machine's paths replaced by `[ROOT]`.
fn redacted(text: &str) -> String {
    let root = root();
    let canonical = root.canonicalize().unwrap_or_else(|_| root.clone());
    let mut out = text.replace(&canonical.display().to_string(), "[ROOT]");
    if canonical != root {
        out = out.replace(&root.display().to_string(), "[ROOT]");
    }
    out
}

#[test]
fn human_reports_match_their_snapshots() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("corpus/snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for file in cases() {
            let out = sslp(&["check", &file]);
            let human = redacted(&String::from_utf8_lossy(&out.stderr));
            let stem = Path::new(&file)
                .file_stem()
                .expect("a stem")
                .to_string_lossy()
                .into_owned();
            insta::with_settings!({ description => file.clone() }, {
                insta::assert_snapshot!(stem, human);
            });
        }
    });
}
