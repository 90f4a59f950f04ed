//! `use` paths stay inside the project: the nearest folder above the entry file holding
//! `sslp.toml` or `.git`, else the entry file's folder. A path outside (through `..` or a
//! symlink) is refused before it is read, and no diagnostic ever shows the bytes of a file that
//! is not a `.sslp` text file.

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::process::Command;

/// A secret that must never appear in any output.
const SECRET: &str = "root:x:0:0:do-not-print-me";

const LIB: &str = "dataset shapes = synthetic_shapes(count: 8, size: 16)\n";

fn main_using(import: &str) -> String {
    format!(
        "use \"{import}\"::{{shapes}}\nsplit parts {{\n  data = shapes\n  train = 0.5\n  test = 0.5\n}}\n"
    )
}

/// `sslp check FILE` in `dir`, without colours.
fn check_in(dir: &Path, file: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sslp"))
        .args(["check", &file.display().to_string()])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("sslp runs")
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// Output of both streams, for "never printed" checks.
fn all_output(o: &std::process::Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

#[test]
fn imports_inside_an_sslp_toml_project_load_from_any_depth() {
    let t = tempfile::tempdir().unwrap();
    let proj = t.path().join("proj");
    write(&proj.join("sslp.toml"), "");
    write(&proj.join("lib/data.sslp"), LIB);
    let main = proj.join("exp/deep/main.sslp");
    write(&main, &main_using("../../lib/data.sslp"));
    let out = check_in(t.path(), &main);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
}

#[test]
fn a_git_folder_marks_the_project_root() {
    let t = tempfile::tempdir().unwrap();
    let proj = t.path().join("repo");
    fs::create_dir_all(proj.join(".git")).unwrap();
    write(&proj.join("data.sslp"), LIB);
    let main = proj.join("exp/main.sslp");
    write(&main, &main_using("../data.sslp"));
    let out = check_in(t.path(), &main);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
}

#[test]
fn without_a_marker_the_root_is_the_entry_folder() {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("data.sslp"), LIB);
    let main = t.path().join("exp/main.sslp");
    write(&main, &main_using("../data.sslp"));
    let out = check_in(t.path(), &main);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("sslp::import::outside_project"), "{err}");
    let root = t.path().join("exp").canonicalize().unwrap();
    assert!(err.contains(&root.display().to_string()), "{err}");
}

#[test]
fn a_path_outside_the_project_is_refused_and_never_shown() {
    let t = tempfile::tempdir().unwrap();
    let proj = t.path().join("proj");
    write(&proj.join("sslp.toml"), "");
    // Outside files: one that is valid .sslp, one that is not .sslp at all.
    write(&t.path().join("valid.sslp"), &format!("# {SECRET}\n{LIB}"));
    write(&t.path().join("passwd"), &format!("{SECRET}\nbin:x:1:1\n"));
    for import in [
        "../valid.sslp",
        "../passwd",
        "../../../../../../../../etc/passwd",
    ] {
        let main = proj.join("main.sslp");
        write(&main, &main_using(import));
        let out = check_in(t.path(), &main);
        assert_eq!(out.status.code(), Some(1), "{import}");
        let text = all_output(&out);
        assert!(
            text.contains("sslp::import::outside_project"),
            "{import}: {text}"
        );
        assert!(
            !text.contains(SECRET),
            "{import}: the file's content leaked: {text}"
        );
        assert!(!text.contains("root:x"), "{import}: {text}");
    }
}

#[cfg(unix)]
#[test]
fn a_symlink_cannot_escape_the_project() {
    let t = tempfile::tempdir().unwrap();
    let proj = t.path().join("proj");
    write(&proj.join("sslp.toml"), "");
    write(&t.path().join("secret.sslp"), &format!("# {SECRET}\n{LIB}"));
    std::os::unix::fs::symlink(t.path().join("secret.sslp"), proj.join("link.sslp")).unwrap();
    std::os::unix::fs::symlink(t.path(), proj.join("up")).unwrap();
    for import in ["link.sslp", "up/secret.sslp"] {
        let main = proj.join("main.sslp");
        write(&main, &main_using(import));
        let out = check_in(t.path(), &main);
        assert_eq!(out.status.code(), Some(1), "{import}");
        let text = all_output(&out);
        assert!(
            text.contains("sslp::import::outside_project"),
            "{import}: {text}"
        );
        assert!(!text.contains(SECRET), "{import}: {text}");
    }
    // A symlink that stays inside the project is fine.
    write(&proj.join("lib/data.sslp"), LIB);
    std::os::unix::fs::symlink(proj.join("lib/data.sslp"), proj.join("alias.sslp")).unwrap();
    let main = proj.join("main.sslp");
    write(&main, &main_using("alias.sslp"));
    let out = check_in(t.path(), &main);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
}

#[test]
fn files_inside_that_are_not_sslp_text_are_refused_without_their_content() {
    let t = tempfile::tempdir().unwrap();
    let proj = t.path().join("proj");
    write(&proj.join("sslp.toml"), "");
    write(&proj.join("notes.txt"), &format!("{SECRET}\n"));
    // Ends in .sslp but is binary: control bytes, and invalid UTF-8.
    let mut binary = format!("{SECRET}\n").into_bytes();
    binary.extend_from_slice(&[0, 1, 2, 0x1b, b'[', b'2', b'J']);
    fs::write(proj.join("blob.sslp"), &binary).unwrap();
    let mut invalid = format!("{SECRET}\n").into_bytes();
    invalid.extend_from_slice(&[0xff, 0xfe, 0x00]);
    fs::write(proj.join("bad.sslp"), &invalid).unwrap();
    for (import, why) in [
        ("notes.txt", "not a `.sslp` file"),
        ("blob.sslp", "not a text file"),
        ("bad.sslp", "not UTF-8 text"),
    ] {
        let main = proj.join("main.sslp");
        write(&main, &main_using(import));
        let out = check_in(t.path(), &main);
        assert_eq!(out.status.code(), Some(1), "{import}");
        let text = all_output(&out);
        assert!(text.contains("sslp::import::read"), "{import}: {text}");
        assert!(text.contains(why), "{import}: {text}");
        assert!(!text.contains(SECRET), "{import}: {text}");
    }
}

#[test]
fn the_outside_project_diagnostic() {
    let t = tempfile::tempdir().unwrap();
    let proj = t.path().join("proj");
    write(&proj.join("sslp.toml"), "");
    let main = proj.join("main.sslp");
    write(&main, &main_using("../../../../../../../../etc/passwd"));
    let root = proj.canonicalize().unwrap().display().to_string();
    // The human report wraps by width, and the temporary root's length varies: the snapshot
    // pins the JSON form (the same diagnostic), with the root replaced.
    let out = Command::new(env!("CARGO_BIN_EXE_sslp"))
        .args(["check", "--format", "json", "main.sslp"])
        .current_dir(&proj)
        .env("NO_COLOR", "1")
        .output()
        .expect("sslp runs");
    assert_eq!(out.status.code(), Some(1));
    let diags: serde_json::Value =
        serde_json::from_str(&stdout(&out).replace(&root, "[PROJECT]")).expect("json");
    insta::assert_yaml_snapshot!("outside_project", diags[0]);
    assert!(project_is_untouched(&proj));
    // The human form says the same.
    let human = stderr(&check_in(&proj, Path::new("main.sslp")));
    assert!(human.contains("sslp::import::outside_project"), "{human}");
    assert!(
        human.contains("help: imports must stay inside the project"),
        "{human}"
    );
}

/// The check wrote nothing into the project (only the files the test made are there).
fn project_is_untouched(proj: &Path) -> bool {
    let names: Vec<_> = fs::read_dir(proj)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    names == ["main.sslp", "sslp.toml"]
}

#[test]
fn the_bundled_import_example_still_checks() {
    let out = sslp(&["check", "examples/imports.sslp"]);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
}
