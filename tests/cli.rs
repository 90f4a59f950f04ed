//! The command line, end to end: exit codes, diagnostics, formatting gate.

mod common;
use common::*;

#[test]
fn check_reports_every_mistake_with_its_position() {
    let out = sslp(&["check", "tests/data/mistakes.sslp"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("mistakes_human", stderr(&out));

    let out = sslp(&["check", "--format", "json", "tests/data/mistakes.sslp"]);
    assert_eq!(out.status.code(), Some(1));
    let diags: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json output");
    let found: Vec<(String, u64, u64)> = diags
        .as_array()
        .expect("an array")
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap_or_default().to_string(),
                d["line"].as_u64().unwrap_or_default(),
                d["column"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let expected = [
        ("sslp::check::unknown_kind", 7, 3),
        ("sslp::check::out_of_range", 8, 17),
        ("sslp::check::unknown_argument", 9, 34),
        ("sslp::check::cycle", 12, 8),
        ("sslp::check::undefined_name", 16, 10),
        ("sslp::check::missing_argument", 22, 16),
    ];
    let expected: Vec<(String, u64, u64)> = expected
        .iter()
        .map(|(c, l, k)| (c.to_string(), *l, *k))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn every_shipped_file_checks_and_is_formatted() {
    let mut files = sslp_files("stdlib");
    files.extend(sslp_files("pipelines"));
    files.extend(sslp_files("examples"));
    assert!(
        files.len() >= 10,
        "expected the stdlib, pipelines and examples, found {files:?}"
    );
    for f in &files {
        let path = rel(f);
        let out = sslp(&["check", "--deny-warnings", &path]);
        assert_eq!(out.status.code(), Some(0), "{path}:\n{}", stderr(&out));
        let out = sslp(&["fmt", "--check", &path]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{path} is not formatted:\n{}",
            stderr(&out)
        );
    }
}

#[test]
fn missing_file_is_a_usage_error() {
    let out = sslp(&["check", "no/such/file.sslp"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read"));
}

#[test]
fn explain_lists_parameters_and_defaults() {
    let out = sslp(&["explain", "color_jitter"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for expected in ["brightness", "contrast", "saturation", "hue", "0.4", "@ p"] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
    let out = sslp(&["explain", "simclrr"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("did you mean `simclr`"));
}

#[test]
fn fmt_check_fails_on_unformatted_input_and_fmt_fixes_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("messy.sslp");
    std::fs::write(
        &file,
        "set   seed=1\npolicy p=[grayscale()@0.2,horizontal_flip( )@0.50]\n",
    )
    .expect("write");
    let path = file.display().to_string();
    assert_eq!(sslp(&["fmt", "--check", &path]).status.code(), Some(1));
    assert_eq!(sslp(&["fmt", &path]).status.code(), Some(0));
    assert_eq!(sslp(&["fmt", "--check", &path]).status.code(), Some(0));
    assert_eq!(sslp(&["check", &path]).status.code(), Some(0));
}

#[test]
fn dry_run_lists_the_steps_and_runs_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().display().to_string();
    let args = [
        "run",
        "--dry-run",
        "--store",
        &store,
        "examples/quickstart.sslp",
    ];
    let out = sslp(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("pretrain") && text.contains("run "), "{text}");
    assert!(!text.contains("cached"), "{text}");
    // Nothing ran: a second dry run still has nothing cached.
    assert!(!stdout(&sslp(&args)).contains("cached"));
}

#[test]
fn readme_documents_every_op_and_its_parameters() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    for k in sslp::lang::registry::all_kinds().filter(|k| {
        matches!(
            k.category,
            sslp::lang::registry::Category::Op | sslp::lang::registry::Category::View
        )
    }) {
        assert!(
            readme.contains(&format!("`{}", k.name)),
            "README does not mention `{}`",
            k.name
        );
        for p in k.params {
            assert!(
                readme.contains(p.name),
                "README does not mention {}'s parameter `{}`",
                k.name,
                p.name
            );
        }
    }
}

const IGNORED: &str = "dataset shapes = synthetic_shapes(count: 32)\nevaluate lin = linear_probe(backbone: tiny_convnet(), train: shapes, test: shapes, epochs: 5)\n";

#[test]
fn deny_warnings_fails_check_plan_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.sslp");
    std::fs::write(&file, IGNORED).unwrap();
    let path = file.display().to_string();
    let store = dir.path().join("store").display().to_string();
    // Warnings alone pass.
    let out = sslp(&["check", &path]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("sslp::check::ignored_parameter"));
    let out = sslp(&["plan", &path]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // With --deny-warnings they fail, with a line saying why.
    for args in [
        vec!["check", "--deny-warnings", &path],
        vec!["plan", "--deny-warnings", &path],
        vec!["run", "--deny-warnings", "--store", &store, &path],
    ] {
        let out = sslp(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("error: 1 warning with --deny-warnings"),
            "{err}"
        );
        assert!(!err.contains("ran "), "{err}");
        assert!(stdout(&out).is_empty(), "{args:?}");
    }
    // A file without warnings passes with the flag.
    std::fs::write(&file, IGNORED.replace(", epochs: 5", "")).unwrap();
    let out = sslp(&["check", "--deny-warnings", &path]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn fallbacks_and_clamps_are_shown_by_run_and_kept_in_the_record() {
    let dir = tempfile::tempdir().unwrap();
    // Flat grey images: no salient object, so SaliencyCut falls back to the 2x mean threshold.
    for (c, class) in ["a", "b"].iter().enumerate() {
        let folder = dir.path().join("data").join(class);
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..4u8 {
            let v = 100 + 10 * c as u8 + i;
            let img = image::RgbImage::from_pixel(32, 32, image::Rgb([v, v, v]));
            img.save(folder.join(format!("{i}.png"))).unwrap();
        }
    }
    let file = dir.path().join("f.sslp");
    std::fs::write(
        &file,
        "dataset flat = image_folder(\"data\")\nreport pv = preview(data: flat, policy: [saliency_cut()], count: 8)\nevaluate nn = knn(backbone: tiny_convnet(width: 4, depth: 1), train: flat, test: flat, k: 50)\n",
    )
    .unwrap();
    let path = file.display().to_string();
    let store = dir.path().join("store").display().to_string();
    let out = sslp(&["run", "--store", &store, &path]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(
            "note[saliency_cut.threshold_fallback]: SaliencyCut found no object in 8 image(s)"
        ),
        "{err}"
    );
    assert!(
        err.contains("note[knn.k_clamped]: kNN `k` was clamped to the 8 labelled training images"),
        "{err}"
    );
    assert!(err.contains("2 steps used fallbacks or clamps:"), "{err}");
    // The record keeps them: `cache show` prints them.
    let short = err
        .lines()
        .find(|l| l.contains("note[knn.k_clamped]"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let out = sslp(&["cache", "--store", &store, "show", &short]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let record: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(record["notes"][0]["code"], "knn.k_clamped");
    assert_eq!(record["notes"][0]["count"], 8);
    // kNN on 2 classes reports no top-5.
    assert!(record["metrics"].get("top1").is_some());
    assert!(record["metrics"].get("top5").is_none(), "{record}");
}
