//! The git drivers in a real, temporary git repository: `sslp diff --git`
//! as `diff.sslp.command` and `sslp textconv` as `diff.sslp.textconv`, set up
//! exactly as the README says. The pipeline imports a library by a relative
//! path, and both files change between the two commits, so each side of a
//! diff must read the library at its own revision.

use std::path::Path;
use std::process::{Command, Output};

const LIB_V1: &str = "dataset shapes = synthetic_shapes(count: 64, size: 16, classes: 2)

split parts {
  data = shapes
  train = 0.5
  test = 0.5
}

backbone net = tiny_convnet(width: 8, depth: 2)
";

const MAIN_V1: &str = "use \"../lib/common.sslp\"::{parts, net}

evaluate nn = knn(backbone: net, train: parts.train, test: parts.test, k: sweep [3, 5])
";

fn lib_v2() -> String {
    LIB_V1.replace("count: 64", "count: 96")
}

fn main_v2() -> String {
    MAIN_V1.replace("sweep [3, 5]", "sweep [3, 7]")
}

/// Runs git in `dir`, isolated from the user's and the system's configuration.
fn git(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
        .env("GIT_PAGER", "cat")
        .env("NO_COLOR", "1")
        .env_remove("SSLP_STORE")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(dir: &Path, path: &str, text: &str) {
    let file = dir.join(path);
    std::fs::create_dir_all(file.parent().expect("a folder")).expect("mkdir");
    std::fs::write(file, text).expect("write");
}

/// A repository with the drivers configured and two commits: v1, then v2
/// (the library's dataset grows; the pipeline sweeps k over [3, 7] instead of [3, 5]).
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let bin = env!("CARGO_BIN_EXE_sslp");
    git(d, &["init", "-q", "-b", "main"]);
    // The README's lines.
    write(d, ".gitattributes", "*.sslp diff=sslp\n");
    git(
        d,
        &[
            "config",
            "diff.sslp.command",
            &format!("'{bin}' diff --git"),
        ],
    );
    git(
        d,
        &["config", "diff.sslp.textconv", &format!("'{bin}' textconv")],
    );
    write(d, "lib/common.sslp", LIB_V1);
    write(d, "exp/main.sslp", MAIN_V1);
    git(d, &["add", "."]);
    git(d, &["commit", "-q", "-m", "v1"]);
    write(d, "lib/common.sslp", &lib_v2());
    write(d, "exp/main.sslp", &main_v2());
    git(d, &["commit", "-q", "-am", "v2"]);
    dir
}

#[test]
fn external_diff_reads_each_sides_imports_at_its_revision() {
    let dir = repo();
    let out = text(&git(
        dir.path(),
        &["diff", "HEAD~1", "HEAD", "--", "exp/main.sslp"],
    ));
    assert!(out.contains("sslp diff exp/main.sslp@"), "{out}");
    assert!(out.contains("arms: 1 added, 1 removed, 1 kept"), "{out}");
    assert!(
        out.contains("+ nn[k=7]") && out.contains("- nn[k=5]"),
        "{out}"
    );
    // The library changed too: only an old side read at HEAD~1 sees 64.
    assert!(out.contains("count: 64 -> 96"), "{out}");
}

#[test]
fn external_diff_in_log_p_pairs_each_commit_with_its_parent() {
    let dir = repo();
    let out = text(&git(
        dir.path(),
        &[
            "log",
            "-p",
            "--ext-diff",
            "--format=commit %s",
            "--",
            "exp/main.sslp",
        ],
    ));
    // v2 against v1, then v1 against nothing (the file was added).
    let v2 = out.find("commit v2").expect("v2 in the log");
    let v1 = out.find("commit v1").expect("v1 in the log");
    assert!(v2 < v1, "{out}");
    assert!(out[v2..v1].contains("count: 64 -> 96"), "{out}");
    assert!(
        out[v1..].contains("arms: 2 added, 0 removed, 0 kept"),
        "{out}"
    );
    assert!(
        out[v1..].contains("sslp diff absent -> exp/main.sslp@"),
        "{out}"
    );
}

#[test]
fn external_diff_of_the_working_tree_reads_imports_from_disk() {
    let dir = repo();
    let d = dir.path();
    write(
        d,
        "lib/common.sslp",
        &LIB_V1.replace("count: 64", "count: 128"),
    );
    write(
        d,
        "exp/main.sslp",
        &main_v2().replace("sweep [3, 7]", "sweep [3, 7, 9]"),
    );
    let out = text(&git(d, &["diff", "--", "exp/main.sslp"]));
    assert!(out.contains("(working tree)"), "{out}");
    assert!(out.contains("count: 96 -> 128"), "{out}");
    assert!(out.contains("+ nn[k=9]"), "{out}");
}

#[test]
fn external_diff_of_a_rename_takes_nine_arguments() {
    let dir = repo();
    let d = dir.path();
    git(d, &["mv", "exp/main.sslp", "exp/renamed.sslp"]);
    write(
        d,
        "exp/renamed.sslp",
        &main_v2().replace("sweep [3, 7]", "sweep [3, 7, 9]"),
    );
    git(d, &["commit", "-q", "-am", "renamed"]);
    let out = text(&git(d, &["diff", "-M", "HEAD~1", "HEAD"]));
    assert!(
        out.contains("sslp diff exp/main.sslp@") && out.contains("-> exp/renamed.sslp"),
        "{out}"
    );
    assert!(out.contains("arms: 1 added, 0 removed, 2 kept"), "{out}");
}

#[test]
fn markdown_through_git() {
    let dir = repo();
    let d = dir.path();
    let bin = env!("CARGO_BIN_EXE_sslp");
    git(
        d,
        &[
            "config",
            "diff.sslp.command",
            &format!("'{bin}' diff --git --format markdown"),
        ],
    );
    let out = text(&git(d, &["diff", "HEAD~1", "HEAD", "--", "exp/main.sslp"]));
    assert!(out.starts_with("### sslp diff: `exp/main.sslp@"), "{out}");
    assert!(
        out.contains("| `shapes/dataset` | `count` | `64` | `96` |"),
        "{out}"
    );
}

#[test]
fn textconv_shows_arm_lines_with_imports_at_each_revision() {
    let dir = repo();
    let out = text(&git(
        dir.path(),
        &[
            "diff",
            "--no-ext-diff",
            "HEAD~1",
            "HEAD",
            "--",
            "exp/main.sslp",
        ],
    ));
    let removed: Vec<&str> = out.lines().filter(|l| l.starts_with("-nn[")).collect();
    let added: Vec<&str> = out.lines().filter(|l| l.starts_with("+nn[")).collect();
    assert_eq!(removed.len(), 2, "{out}");
    assert_eq!(added.len(), 2, "{out}");
    assert!(removed.iter().all(|l| l.contains("count=64")), "{out}");
    assert!(added.iter().all(|l| l.contains("count=96")), "{out}");
    assert!(added.iter().any(|l| l.starts_with("+nn[k=7]:")), "{out}");

    // `git show` of the first commit: every line added, imports read at v1.
    let shown = text(&git(dir.path(), &["show", "HEAD~1", "--", "exp/main.sslp"]));
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("+nn[k=5]:") && l.contains("count=64")),
        "{shown}"
    );
}

#[test]
fn a_revision_that_does_not_check_never_stops_git() {
    let dir = repo();
    let d = dir.path();
    write(d, "exp/main.sslp", "evaluate nn = knn(\n");
    git(d, &["commit", "-q", "-am", "broken"]);
    let log = git(
        d,
        &[
            "log",
            "-p",
            "--ext-diff",
            "--format=commit %s",
            "--",
            "exp/main.sslp",
        ],
    );
    let out = text(&log);
    assert!(out.contains("does not check ("), "{out}");
    assert!(out.contains("count: 64 -> 96"), "{out}");
    // textconv: the broken revision shows its text after its diagnostics.
    let shown = text(&git(d, &["show", "HEAD", "--", "exp/main.sslp"]));
    assert!(shown.contains("+# sslp: exp/main.sslp"), "{shown}");
    assert!(shown.contains("+evaluate nn = knn("), "{shown}");
}

#[test]
fn the_driver_refuses_arguments_that_are_not_gits() {
    let out = Command::new(env!("CARGO_BIN_EXE_sslp"))
        .args(["diff", "--git", "a.sslp", "b.sslp"])
        .output()
        .expect("sslp runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("7 external-diff arguments"));
}
