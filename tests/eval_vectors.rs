//! Cross-checks against reference values from scikit-learn and lightly
//! (`tests/vectors/eval_metrics.json`, `tests/vectors/ssl_losses.json`; see `tests/vectors/README.md`).

use serde_json::Value;
use sslp::eval;

use eval::{Distance, KnnParams, LinearModel, LinearParams, Matrix, Solver};

fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn eval_metrics() -> Value {
    load("eval_metrics.json")
}

fn matrix(v: &Value) -> Matrix {
    let rows: Vec<Vec<f32>> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    Matrix::from_rows(&rows).unwrap()
}

fn labels(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn f64_rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(f64s).collect()
}

#[test]
fn clustering_scores_match_scikit_learn() {
    let v = eval_metrics();
    let cases = v["clustering_scores"].as_array().unwrap();
    assert!(!cases.is_empty());
    for (i, c) in cases.iter().enumerate() {
        let t = labels(&c["labels_true"]);
        let p = labels(&c["labels_pred"]);
        let nmi = eval::nmi(&t, &p).unwrap();
        let ari = eval::ari(&t, &p).unwrap();
        let acc = eval::hungarian_accuracy(&t, &p).unwrap();
        let (en, ea, eh) = (
            c["nmi_arithmetic"].as_f64().unwrap(),
            c["ari"].as_f64().unwrap(),
            c["hungarian_accuracy"].as_f64().unwrap(),
        );
        assert!((nmi - en).abs() < 1e-9, "case {i}: nmi {nmi} vs {en}");
        assert!((ari - ea).abs() < 1e-9, "case {i}: ari {ari} vs {ea}");
        assert!((acc - eh).abs() < 1e-9, "case {i}: hungarian {acc} vs {eh}");
    }
}

/// Fits the probe and returns (train accuracy, test accuracy, n_test).
fn probe(c: &Value, params: &LinearParams) -> (f64, f64, usize, LinearModel) {
    let xtr = matrix(&c["x_train"]);
    let ytr = labels(&c["y_train"]);
    let xte = matrix(&c["x_test"]);
    let yte = labels(&c["y_test"]);
    let classes = *ytr.iter().chain(&yte).max().unwrap() as usize + 1;
    let m = LinearModel::fit(&xtr, &ytr, classes, params).unwrap();
    let tr = m.accuracy(&xtr, &ytr).unwrap().top1;
    let te = m.accuracy(&xte, &yte).unwrap().top1;
    (tr, te, xte.rows, m)
}

#[test]
fn logistic_regression_lbfgs_matches_scikit_learn() {
    let v = eval_metrics();
    for (i, c) in v["logistic_regression"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let params = LinearParams {
            solver: Solver::Lbfgs {
                c: c["C"].as_f64().unwrap(),
                max_iter: 2000,
                tol: 1e-10,
            },
            standardize: false,
        };
        let (tr, te, n_test, m) = probe(c, &params);
        let n_train = c["y_train"].as_array().unwrap().len();
        let (etr, ete) = (
            c["train_accuracy"].as_f64().unwrap(),
            c["test_accuracy"].as_f64().unwrap(),
        );
        println!(
            "lbfgs case {i}: train {tr} (ref {etr}), test {te} (ref {ete}), {:?}",
            m.info
        );
        assert!(m.info.converged, "case {i}: {:?}", m.info);
        assert!(
            (te - ete).abs() <= 1.0 / n_test as f64 + 1e-12,
            "case {i}: test {te} vs {ete}"
        );
        assert!(
            (tr - etr).abs() <= 1.0 / n_train as f64 + 1e-12,
            "case {i}: train {tr} vs {etr}"
        );
    }
}

#[test]
fn logistic_regression_sgd_within_one_point() {
    let v = eval_metrics();
    for (i, c) in v["logistic_regression"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let n = c["y_train"].as_array().unwrap().len();
        // Same regulariser as the reference, in weight-decay form: wd = 1 / (n·C).
        let wd = eval::l2_from_c(c["C"].as_f64().unwrap(), n).unwrap();
        let params = LinearParams {
            solver: Solver::Sgd {
                epochs: 100,
                lr: 0.1,
                batch: 32,
                momentum: 0.9,
                weight_decay: wd,
                seed: 0,
            },
            standardize: false,
        };
        let (tr, te, _, m) = probe(c, &params);
        let ete = c["test_accuracy"].as_f64().unwrap();
        println!(
            "sgd case {i}: train {tr} (ref {}), test {te} (ref {ete}), {:?}",
            c["train_accuracy"], m.info
        );
        assert!(
            (te - ete).abs() <= 0.01 + 1e-12,
            "case {i}: sgd test {te} vs {ete}"
        );
    }
}

#[test]
fn kmeans_fixed_init_matches_scikit_learn() {
    let v = eval_metrics();
    for (i, c) in v["kmeans_fixed_init"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let x = matrix(&c["x"]);
        let init = matrix(&c["init_centers"]);
        let r = eval::lloyd_from(&x, &init, 300).unwrap();
        assert_eq!(r.labels, labels(&c["labels"]), "case {i}: labels");
        let ei = c["inertia"].as_f64().unwrap();
        assert!(
            (r.inertia - ei).abs() <= 1e-6 * ei,
            "case {i}: inertia {} vs {ei}",
            r.inertia
        );
        let ec = f64_rows(&c["centers"]);
        for (j, row) in ec.iter().enumerate() {
            for (d, &e) in row.iter().enumerate() {
                let got = f64::from(r.centers.row(j)[d]);
                assert!(
                    (got - e).abs() <= 1e-5,
                    "case {i}: centre {j}[{d}] {got} vs {e}"
                );
            }
        }
    }
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1.0)
}

#[test]
fn knn_matches_lightly() {
    let v = load("ssl_losses.json");
    let cases = v["cases"]["knn"].as_array().unwrap();
    assert!(!cases.is_empty());
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let train = matrix(&c["inputs"]["train_features"]);
        let train_labels = labels(&c["inputs"]["train_labels"]);
        let test = matrix(&c["inputs"]["test_features"]);
        let p = KnnParams {
            k: c["params"]["k"].as_u64().unwrap() as usize,
            temperature: c["params"]["temperature"].as_f64().unwrap(),
            distance: Distance::Cosine,
        };
        let classes = c["params"]["num_classes"].as_u64().unwrap() as usize;
        let e = &c["expected"];
        let nbs = eval::knn_neighbors(&train, &test, &p).unwrap();
        let e_idx = e["neighbor_indices"].as_array().unwrap();
        let e_sims = f64_rows(&e["neighbor_sims"]);
        let e_w = f64_rows(&e["neighbor_weights"]);
        let e_lab = e["neighbor_labels"].as_array().unwrap();
        for (t, nb) in nbs.iter().enumerate() {
            let idx: Vec<usize> = labels(&e_idx[t]).into_iter().map(|v| v as usize).collect();
            assert_eq!(nb.indices, idx, "{name}: test row {t} indices");
            let lab: Vec<u32> = nb.indices.iter().map(|&i| train_labels[i]).collect();
            assert_eq!(lab, labels(&e_lab[t]), "{name}: row {t} labels");
            for q in 0..p.k {
                assert!(close(nb.sims[q], e_sims[t][q], 1e-5), "{name}: sim {t},{q}");
                assert!(
                    (nb.weights[q] - e_w[t][q]).abs() <= 1e-5 * e_w[t][q].abs(),
                    "{name}: weight {t},{q}: {} vs {}",
                    nb.weights[q],
                    e_w[t][q]
                );
            }
        }
        let scores = eval::knn_scores(&train, &train_labels, &test, classes, &p).unwrap();
        let e_scores = f64_rows(&e["class_scores"]);
        for (t, row) in scores.iter().enumerate() {
            for (k, &s) in row.iter().enumerate() {
                let es = e_scores[t][k];
                assert!(
                    (s - es).abs() <= 1e-5 * es.abs().max(1e-300) || (s == 0.0 && es == 0.0),
                    "{name}: score {t},{k}: {s} vs {es}"
                );
            }
        }
        assert_eq!(
            eval::predictions(&scores),
            labels(&e["pred_labels"]),
            "{name}: predictions"
        );
    }
}
