//! `sslp report`'s page: every finished arm's results, the training health of
//! every pretraining run, each declared table and plot, t-SNE and preview
//! images, and the HTML index that shows them together — assembled from a plan
//! and the store as named files in memory. The caller writes them.

use super::report_steps as rs;
use super::store::{Output, Store};
use crate::lang::registry;
use crate::plan::{self, Plan, StepKind};
use crate::report::{self, health::TrainingRow};
use std::collections::BTreeMap;

/// One file of a report, to be written into the report folder.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportFile {
    /// File name inside the report folder.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A report ready to write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportPage {
    /// The files, in writing order (`index.html` last).
    pub files: Vec<ReportFile>,
    /// Evaluation arms with results.
    pub with_results: usize,
    /// Evaluation arms in the plan.
    pub arms: usize,
    /// Evaluation arms without results yet.
    pub missing: Vec<String>,
    /// Pretraining runs (by arm) whose embeddings collapsed.
    pub collapsed: Vec<String>,
    /// Tables and plots that could not be built, with why.
    pub problems: Vec<String>,
}

/// Why there is no report at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReportPageError {
    /// No arm has a result and no pretraining run has finished.
    #[error("no arm has results in the store yet")]
    NoResults,
}

/// The training-health row of every pretraining step the store has, named by its arm.
pub fn training_rows(plan: &Plan, store: &Store) -> Vec<TrainingRow> {
    plan.steps
        .iter()
        .filter(|s| s.kind == StepKind::Pretrain)
        .filter_map(|s| {
            let record = store.get(&s.key).ok().flatten()?;
            // A pretraining step's sites are `<arm>/pretrain`.
            let arm = s.sites.first().map_or(s.decl.as_str(), |site| site.base());
            Some(TrainingRow::from_metrics(
                arm,
                &s.key.short(),
                &record.metrics,
            ))
        })
        .collect()
}

/// A file name made of an arm or declaration name.
pub fn file_stem_of(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' || c == '=' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Every metric each row's evaluation kind declares, as `decl.metric`, in first-seen order.
fn declared_metrics(rows: &[report::ResultRow]) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for row in rows {
        if let Some(registry::Kind {
            info: registry::Info::Eval { metrics, .. },
            ..
        }) = registry::kind_named(&row.kind)
        {
            for m in *metrics {
                let name = format!("{}.{m}", row.decl);
                if !all.contains(&name) {
                    all.push(name);
                }
            }
        }
    }
    all
}

/// Appends a file to a report.
fn add(files: &mut Vec<ReportFile>, name: &str, bytes: Vec<u8>) {
    files.push(ReportFile {
        name: name.to_string(),
        bytes,
    });
}

/// Assembles the report of `plan` from what `store` holds, titled `title`.
pub fn build(plan: &Plan, store: &Store, title: &str) -> Result<ReportPage, ReportPageError> {
    let arms = rs::evaluation_arms(plan);
    let (rows, missing) = rs::collect_rows(plan, store, &arms);
    let training = training_rows(plan, store);
    if rows.is_empty() && training.is_empty() {
        return Err(ReportPageError::NoResults);
    }
    let mut page = ReportPage {
        with_results: rows.len(),
        arms: arms.len(),
        ..ReportPage::default()
    };
    let mut sections = Vec::new();
    // Every arm, one row each, with every metric its evaluation declares.
    let all = report::TableSpec {
        metrics: declared_metrics(&rows),
        rows: vec![],
        cols: None,
    };
    match report::table::build(&rows, &all) {
        Ok(t) => {
            add(&mut page.files, "results.md", t.to_markdown().into_bytes());
            add(&mut page.files, "results.csv", t.to_csv().into_bytes());
            let json = serde_json::to_vec_pretty(&t.to_json()).unwrap_or_default();
            add(&mut page.files, "results.json", json);
            sections.push(report::Section {
                heading: "All results".into(),
                table_html: Some(t.to_html()),
                images: vec![],
                note: (!missing.is_empty())
                    .then(|| format!("{} arms have no results yet.", missing.len())),
            });
        }
        Err(_) if rows.is_empty() => {}
        Err(e) => page.problems.push(format!("results table: {e}")),
    }
    if !training.is_empty() {
        use report::health;
        add(
            &mut page.files,
            "training.md",
            health::to_markdown(&training).into_bytes(),
        );
        add(
            &mut page.files,
            "training.csv",
            health::to_csv(&training).into_bytes(),
        );
        let json = serde_json::to_vec_pretty(&health::to_json(&training)).unwrap_or_default();
        add(&mut page.files, "training.json", json);
        page.collapsed = training
            .iter()
            .filter(|r| r.collapsed)
            .map(|r| r.arm.clone())
            .collect();
        sections.push(report::Section {
            heading: "Training health".into(),
            table_html: Some(health::to_html(&training)),
            images: vec![],
            note: Some(format!(
                "Final epoch of each pretraining run. Embedding std: SimSiam's collapse detector, \
                 about 1/√d when features spread, 0 when collapsed (flagged below 0.1/√d). \
                 Alignment and uniformity: Wang & Isola 2020 (lower is better for both). \
                 kNN monitor: held-out training images, every `monitor_every` epochs.{}",
                if page.collapsed.is_empty() {
                    String::new()
                } else {
                    format!(
                        "\n{} collapsed: {}",
                        page.collapsed.len(),
                        page.collapsed.join(", ")
                    )
                }
            )),
        });
    }
    for step in &plan.steps {
        let heading = step.decl.clone();
        let step_arms: BTreeMap<String, plan::Key> = step.inputs.clone().into_iter().collect();
        match step.kind.as_str() {
            "table" => {
                let (rows, _) = rs::collect_rows(plan, store, &step_arms);
                match rs::render_table(&rows, step) {
                    Ok(files) => {
                        let mut html = None;
                        for (name, bytes) in files {
                            let ext = name.rsplit('.').next().unwrap_or("txt");
                            if ext == "html" {
                                html = Some(String::from_utf8_lossy(&bytes).to_string());
                            }
                            let file = format!("{}.{ext}", file_stem_of(&step.decl));
                            add(&mut page.files, &file, bytes);
                        }
                        let html = html.or_else(|| {
                            let spec = rs::table_spec(step).ok()?;
                            report::table::build(&rows, &spec).ok().map(|t| t.to_html())
                        });
                        sections.push(report::Section {
                            heading,
                            table_html: html,
                            images: vec![],
                            note: None,
                        });
                    }
                    Err(e) => page.problems.push(format!("table `{}`: {e}", step.decl)),
                }
            }
            "plot" => {
                let (rows, _) = rs::collect_rows(plan, store, &step_arms);
                match rs::render_plot(&rows, step, &step.decl) {
                    Ok(files) => {
                        let mut images = vec![];
                        for (name, bytes) in files {
                            let ext = name.rsplit('.').next().unwrap_or("png");
                            let file = format!("{}.{ext}", file_stem_of(&step.decl));
                            if ext == "png" {
                                images.push(file.clone());
                            }
                            add(&mut page.files, &file, bytes);
                        }
                        sections.push(report::Section {
                            heading,
                            table_html: None,
                            images,
                            note: None,
                        });
                    }
                    Err(e) => page.problems.push(format!("plot `{}`: {e}", step.decl)),
                }
            }
            kind @ ("tsne" | "preview") => {
                let Ok(Some(record)) = store.get(&step.key) else {
                    continue;
                };
                let output = if kind == "tsne" { "plot.png" } else { "grid" };
                let Some(Output::Blob { blob }) = record.outputs.get(output) else {
                    continue;
                };
                let Ok(bytes) = store.get_blob(blob) else {
                    continue;
                };
                let arm = plan
                    .arms
                    .iter()
                    .find(|a| a.output == step.key)
                    .map_or(step.decl.clone(), |a| a.name.clone());
                let file = format!("{kind}-{}.png", file_stem_of(&arm));
                add(&mut page.files, &file, bytes);
                sections.push(report::Section {
                    heading: arm,
                    table_html: None,
                    images: vec![file],
                    note: None,
                });
            }
            _ => {}
        }
    }
    add(
        &mut page.files,
        "index.html",
        report::html::index(title, &sections).into_bytes(),
    );
    page.missing = missing;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::store::{Record, Status};

    const PIPELINE: &str = "\
dataset shapes = synthetic_shapes(count: 64, size: 16, seed: 1)
split parts {
  data = shapes
  train = 0.75
}
evaluate nn = knn(backbone: raw_pixels(), train: parts.train, test: parts.test, k: sweep [1, 3])
report both = table(metrics: nn.top1, rows: nn.k)
";

    fn planned() -> Plan {
        let checked =
            crate::lang::check_source("t.sslp", "t.sslp", PIPELINE, &mut crate::lang::NoImports);
        assert!(
            checked.diagnostics.iter().all(|d| !d.is_error()),
            "{:?}",
            checked.diagnostics
        );
        let program = checked.program.expect("checks");
        plan::plan(&program).0.expect("plans")
    }

    fn done(kind: &str, top1: f64) -> Record {
        Record {
            kind: kind.into(),
            decl: "nn".into(),
            status: Status::Done,
            params: serde_json::Value::Null,
            inputs: BTreeMap::new(),
            outputs: BTreeMap::new(),
            metrics: [("top1".to_string(), top1), ("top5".to_string(), 1.0)].into(),
            notes: vec![],
            started_ms: 0,
            duration_ms: 1,
            peak_rss: None,
            message: None,
        }
    }

    fn scratch_store(name: &str) -> (std::path::PathBuf, Store) {
        let dir = std::env::temp_dir().join(format!("sslp-page-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir, false).expect("opens");
        (dir, store)
    }

    #[test]
    fn an_empty_store_has_no_report() {
        let plan = planned();
        let (dir, store) = scratch_store("empty");
        assert_eq!(build(&plan, &store, "t"), Err(ReportPageError::NoResults));
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn finished_arms_give_results_tables_and_an_index() {
        let plan = planned();
        let (dir, store) = scratch_store("some");
        let arms = rs::evaluation_arms(&plan);
        assert_eq!(arms.len(), 2);
        let (first_arm, first_key) = arms.iter().next().unwrap();
        store.put(first_key, &done("knn", 0.5)).unwrap();
        let page = build(&plan, &store, "My title").unwrap();
        assert_eq!((page.with_results, page.arms), (1, 2));
        assert_eq!(page.missing.len(), 1);
        assert_ne!(&page.missing[0], first_arm);
        let names: Vec<&str> = page.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names.first(), Some(&"results.md"));
        assert_eq!(names.last(), Some(&"index.html"));
        assert!(names.contains(&"both.md"), "{names:?}");
        // The kind's declared metrics, read from the typed row (not from a description).
        let md = String::from_utf8(page.files[0].bytes.clone()).unwrap();
        assert!(md.contains("nn.top1") && md.contains("nn.top5"), "{md}");
        let index = String::from_utf8(page.files.last().unwrap().bytes.clone()).unwrap();
        assert!(index.contains("My title"));
        assert!(page.problems.is_empty(), "{:?}", page.problems);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_become_safe_file_stems() {
        assert_eq!(file_stem_of("lin[method=byol,k=3]"), "lin_method=byol_k=3_");
        assert_eq!(file_stem_of("a/b c"), "a_b_c");
    }
}
