//! The TextMate grammar (`editors/textmate/sslp.tmLanguage.json`) against the
//! language it highlights:
//!
//! - its kind-name lists are the registry's, category by category, and its
//!   keywords are `grammar/sslp.pest`'s (no Node needed);
//! - every `.sslp` file of `examples/`, `pipelines/` and `stdlib/` tokenises
//!   with a specific scope on each comment, string, number, keyword and kind
//!   name (`editors/textmate/test/tokenize.mjs`, run with Node on
//!   `vscode-textmate` + `vscode-oniguruma` as VS Code runs grammars).
//!
//! Without `node`/`npm` the tokenisation test says so and passes, unless
//! `SSLP_REQUIRE_NODE=1` (as in CI), where a missing Node is a failure. The npm
//! packages are installed with `npm ci` from the committed lockfile when
//! `editors/textmate/test/node_modules` is missing or differs from it.

use sslp::lang::ast::DeclKind;
use sslp::lang::registry::{self, Category};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn grammar() -> serde_json::Value {
    let path = root().join("editors/textmate/sslp.tmLanguage.json");
    let text = std::fs::read_to_string(&path).expect("the grammar is readable");
    serde_json::from_str(&text).expect("the grammar is JSON")
}

/// The scope suffix a category's kinds get: `support.function.<suffix>.sslp`.
///
/// Exhaustive on purpose: a new category fails to compile here until the
/// grammar has a list for it.
fn scope_suffix(c: Category) -> Option<&'static str> {
    Some(match c {
        Category::Dataset => "dataset",
        Category::Op => "op",
        Category::View => "view",
        Category::Method => "method",
        Category::Backbone => "backbone",
        Category::Optimizer => "optimizer",
        Category::Schedule => "schedule",
        Category::Eval => "evaluation",
        Category::Report => "report",
        Category::Executor | Category::Resources => "executor",
        // Blocks and settings: written as declarations and `set`, never called.
        Category::Split | Category::Pretrain | Category::Settings => return None,
    })
}

/// `\b(?:a|b|c)\b` -> {a, b, c}.
fn alternation(regex: &str) -> Option<BTreeSet<String>> {
    let inner = regex.strip_prefix(r"\b(?:")?.strip_suffix(r")\b")?;
    Some(inner.split('|').map(str::to_string).collect())
}

/// The registry's callable kinds by scope suffix.
fn registry_kinds() -> BTreeMap<&'static str, BTreeSet<String>> {
    let mut want: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for k in registry::all_kinds() {
        if let Some(suffix) = scope_suffix(k.category) {
            want.entry(suffix).or_default().insert(k.name.to_string());
        }
    }
    want
}

#[test]
fn the_grammar_names_every_registry_kind_in_its_category() {
    let g = grammar();
    let patterns = g["repository"]["kind-name"]["patterns"]
        .as_array()
        .expect("repository.kind-name.patterns is a list");
    let mut have: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in patterns {
        let name = p["name"].as_str().unwrap_or_default();
        let suffix = name
            .strip_prefix("support.function.")
            .and_then(|s| s.strip_suffix(".sslp"))
            .unwrap_or_else(|| panic!("kind-name pattern scope {name:?}"));
        let names = alternation(p["match"].as_str().unwrap_or_default())
            .unwrap_or_else(|| panic!("kind-name pattern for {name} is not \\b(?:a|b)\\b"));
        have.insert(suffix.to_string(), names);
    }
    let want = registry_kinds();
    let mut problems = vec![];
    for (suffix, names) in &want {
        if have.get(*suffix) != Some(names) {
            let sorted: Vec<&str> = names.iter().map(String::as_str).collect();
            problems.push(format!(
                "support.function.{suffix}.sslp should match the registry's names; set its \"match\" to:\n  \"\\\\b(?:{})\\\\b\"",
                sorted.join("|")
            ));
        }
    }
    for suffix in have.keys() {
        if !want.contains_key(suffix.as_str()) {
            problems.push(format!(
                "support.function.{suffix}.sslp: no registry category has kinds under that scope"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "editors/textmate/sslp.tmLanguage.json has drifted from the registry:\n{}",
        problems.join("\n")
    );
}

/// The quoted words of one rule of `grammar/sslp.pest`, `rule = @{ ... }`.
fn pest_words(rule: &str) -> BTreeSet<String> {
    let pest = std::fs::read_to_string(root().join("grammar/sslp.pest")).expect("pest grammar");
    let start = pest
        .lines()
        .position(|l| l.starts_with(rule) && l[rule.len()..].trim_start().starts_with('='))
        .unwrap_or_else(|| panic!("no rule `{rule}` in grammar/sslp.pest"));
    let body: String = pest
        .lines()
        .skip(start)
        .take_while(|l| !l.trim_start().starts_with('}'))
        .collect::<Vec<_>>()
        .join("\n");
    body.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn the_grammar_has_the_parsers_keywords() {
    let g = grammar();
    // Declaration keywords: exactly the parser's, in the declaration rule.
    let decl = g["repository"]["declaration"]["match"]
        .as_str()
        .expect("declaration.match");
    let inner = decl
        .split_once(r"^\s*(")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(alts, _)| alts)
        .expect("declaration.match starts with ^\\s*(kinds)");
    let have: BTreeSet<String> = inner.split('|').map(str::to_string).collect();
    let parser: BTreeSet<String> = DeclKind::ALL
        .iter()
        .map(|k| k.keyword().to_string())
        .collect();
    assert_eq!(have, parser, "declaration keywords");
    assert_eq!(
        have,
        pest_words("decl_kind"),
        "grammar/sslp.pest's decl_kind"
    );

    // Reserved words: each is an alternative of a keyword or constant pattern.
    let text = serde_json::to_string(&g["repository"]).expect("serialisable");
    let missing: Vec<String> = pest_words("keyword")
        .into_iter()
        .chain(["step".to_string()])
        .filter(|w| {
            ![
                format!("({w}|"),
                format!("|{w}|"),
                format!("|{w})"),
                format!("({w})"),
            ]
            .iter()
            .any(|alt| text.contains(alt.as_str()))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "keywords of grammar/sslp.pest the TextMate grammar does not scope: {missing:?}"
    );
}

#[test]
fn the_vscode_extension_ships_the_grammar_and_its_files() {
    let ext = root().join("editors/vscode");
    let source =
        std::fs::read(root().join("editors/textmate/sslp.tmLanguage.json")).expect("grammar");
    let copy = std::fs::read(ext.join("syntaxes/sslp.tmLanguage.json")).unwrap_or_default();
    assert!(
        source == copy,
        "editors/vscode/syntaxes/sslp.tmLanguage.json differs from editors/textmate/sslp.tmLanguage.json: run `node editors/vscode/sync-grammar.mjs`"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ext.join("package.json")).expect("package.json"),
    )
    .expect("package.json is JSON");
    let contributes = &manifest["contributes"];
    let mut files = vec![manifest["main"].as_str().unwrap_or_default().to_string()];
    for l in contributes["languages"].as_array().into_iter().flatten() {
        assert_eq!(l["id"], "sslp");
        assert_eq!(l["extensions"], serde_json::json!([".sslp"]));
        files.push(l["configuration"].as_str().unwrap_or_default().to_string());
    }
    for g in contributes["grammars"].as_array().into_iter().flatten() {
        assert_eq!(g["scopeName"], grammar()["scopeName"]);
        files.push(g["path"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(files.len(), 3, "main, a language and a grammar");
    for f in files {
        let text = std::fs::read_to_string(ext.join(&f))
            .unwrap_or_else(|e| panic!("editors/vscode/{f} named by package.json: {e}"));
        if f.ends_with(".json") {
            serde_json::from_str::<serde_json::Value>(&text)
                .unwrap_or_else(|e| panic!("editors/vscode/{f} is not JSON: {e}"));
        }
    }
    assert_eq!(
        contributes["configuration"]["properties"]["sslp.path"]["default"],
        "sslp"
    );
}

// ------------------------------------------------------------------ tokenisation with Node

/// Whether `program --version` runs.
fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether `node_modules` holds exactly the lockfile's packages.
fn installed_as_locked(dir: &Path) -> bool {
    let Ok(lock) = std::fs::read_to_string(dir.join("package-lock.json")) else {
        return false;
    };
    let Ok(lock) = serde_json::from_str::<serde_json::Value>(&lock) else {
        return false;
    };
    let Some(packages) = lock["packages"].as_object() else {
        return false;
    };
    packages
        .iter()
        .filter(|(path, _)| !path.is_empty())
        .all(|(path, entry)| {
            let manifest = dir.join(path).join("package.json");
            std::fs::read_to_string(manifest)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .is_some_and(|m| m["version"] == entry["version"])
        })
}

fn show(out: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn every_sslp_file_tokenises_with_specific_scopes() {
    if !runs("node") || !runs("npm") {
        assert!(
            std::env::var_os("SSLP_REQUIRE_NODE").is_none(),
            "SSLP_REQUIRE_NODE is set but `node` and `npm` do not both run: install Node.js (20 or newer) to test the TextMate grammar"
        );
        eprintln!(
            "no `node`/`npm`: skipping the TextMate tokenisation test (editors/textmate/test)"
        );
        return;
    }
    let dir = root().join("editors/textmate/test");
    if !installed_as_locked(&dir) {
        let started = Instant::now();
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .expect("npm starts");
        assert!(
            out.status.success(),
            "`npm ci` in editors/textmate/test failed:\n{}",
            show(&out)
        );
        eprintln!(
            "npm ci (editors/textmate/test): {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let kinds = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(
        kinds.path(),
        serde_json::to_string(&registry_kinds()).expect("serialisable"),
    )
    .expect("kinds written");
    let out = Command::new("node")
        .arg("tokenize.mjs")
        .arg("--kinds")
        .arg(kinds.path())
        .current_dir(&dir)
        .output()
        .expect("node starts");
    assert!(
        out.status.success(),
        "the TextMate grammar leaves tokens unscoped:\n{}",
        show(&out)
    );
    eprint!("{}", String::from_utf8_lossy(&out.stdout));
}
