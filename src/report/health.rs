//! The training-health table: one line per pretraining arm with its final
//! loss, embedding std (against `1/sqrt(d)`), alignment, uniformity, kNN
//! monitor accuracy and whether it collapsed. Markdown, CSV, JSON and HTML,
//! deterministic (lines sorted by arm).

use serde::{Deserialize, Serialize};

use super::html::escape;
use super::results::MISSING;

/// One pretraining arm's health, read from its step's metrics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingRow {
    /// The arm, e.g. `ssl[method=simsiam]`.
    pub arm: String,
    /// The step's short key.
    pub key: String,
    /// Final mean loss.
    pub loss: Option<f64>,
    /// Final embedding std.
    pub embedding_std: Option<f64>,
    /// Feature width `d`.
    pub dim: Option<usize>,
    /// Final alignment.
    pub alignment: Option<f64>,
    /// Final uniformity.
    pub uniformity: Option<f64>,
    /// Last kNN monitor top-1 (a fraction).
    pub monitor_top1: Option<f64>,
    /// The final embedding std is below the collapse floor.
    pub collapsed: bool,
}

impl TrainingRow {
    /// A row from a pretrain step's metrics (`loss`, `embedding_std`, `feature_dim`, ...).
    pub fn from_metrics(
        arm: &str,
        key: &str,
        metrics: &std::collections::BTreeMap<String, f64>,
    ) -> TrainingRow {
        let get = |k: &str| metrics.get(k).copied();
        TrainingRow {
            arm: arm.to_string(),
            key: key.to_string(),
            loss: get("loss"),
            embedding_std: get("embedding_std"),
            dim: get("feature_dim").map(|d| d as usize),
            alignment: get("alignment"),
            uniformity: get("uniformity"),
            monitor_top1: get("monitor_top1"),
            collapsed: get("collapsed").is_some_and(|c| c > 0.0),
        }
    }

    /// `healthy` or `COLLAPSED (std < floor)`; `—` without health figures.
    pub fn status(&self) -> String {
        match (self.embedding_std, self.dim) {
            (Some(_), Some(d)) if self.collapsed => format!(
                "COLLAPSED (std < {:.4} = 0.1/√d)",
                crate::eval::health::collapse_floor(d)
            ),
            (Some(_), Some(_)) => "healthy".into(),
            _ => MISSING.into(),
        }
    }
}

const HEADERS: [&str; 8] = [
    "arm",
    "loss",
    "embedding std",
    "1/√d",
    "alignment",
    "uniformity",
    "kNN monitor",
    "status",
];

fn num(v: Option<f64>, digits: usize) -> String {
    v.map_or(MISSING.to_string(), |x| format!("{x:.digits$}"))
}

fn cells(r: &TrainingRow) -> [String; 8] {
    [
        r.arm.clone(),
        num(r.loss, 4),
        num(r.embedding_std, 4),
        num(r.dim.map(|d| 1.0 / (d.max(1) as f64).sqrt()), 4),
        num(r.alignment, 3),
        num(r.uniformity, 3),
        r.monitor_top1
            .map_or(MISSING.to_string(), |t| format!("{:.1}%", 100.0 * t)),
        r.status(),
    ]
}

fn sorted(rows: &[TrainingRow]) -> Vec<&TrainingRow> {
    let mut v: Vec<&TrainingRow> = rows.iter().collect();
    v.sort_by(|a, b| a.arm.cmp(&b.arm).then_with(|| a.key.cmp(&b.key)));
    v
}

/// A Markdown table.
pub fn to_markdown(rows: &[TrainingRow]) -> String {
    let mut out = format!("| {} |\n", HEADERS.join(" | "));
    out.push_str(&format!("|{}\n", "---|".repeat(HEADERS.len())));
    for r in sorted(rows) {
        let c = cells(r).map(|s| s.replace('|', "\\|"));
        out.push_str(&format!("| {} |\n", c.join(" | ")));
    }
    out
}

/// CSV with raw numbers (empty when missing) and `collapsed` as true/false.
pub fn to_csv(rows: &[TrainingRow]) -> String {
    let raw = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
    let mut out = String::from(
        "arm,key,loss,embedding_std,dim,alignment,uniformity,monitor_top1,collapsed\n",
    );
    for r in sorted(rows) {
        out.push_str(&format!(
            "\"{}\",{},{},{},{},{},{},{},{}\n",
            r.arm.replace('"', "\"\""),
            r.key,
            raw(r.loss),
            raw(r.embedding_std),
            r.dim.map_or(String::new(), |d| d.to_string()),
            raw(r.alignment),
            raw(r.uniformity),
            raw(r.monitor_top1),
            r.collapsed
        ));
    }
    out
}

/// The rows as JSON.
pub fn to_json(rows: &[TrainingRow]) -> serde_json::Value {
    serde_json::to_value(sorted(rows)).unwrap_or_default()
}

/// An HTML table fragment for the report page.
pub fn to_html(rows: &[TrainingRow]) -> String {
    let mut out = String::from("<div class=\"table-wrap\"><table class=\"sslp-table\"><thead><tr>");
    for h in HEADERS {
        out.push_str(&format!("<th>{}</th>", escape(h)));
    }
    out.push_str("</tr></thead><tbody>");
    for r in sorted(rows) {
        out.push_str("<tr>");
        for (i, c) in cells(r).iter().enumerate() {
            let class = if i == 0 || i == 7 {
                ""
            } else {
                " class=\"num\""
            };
            let text = if i == 7 && r.collapsed {
                format!("<strong>{}</strong>", escape(c))
            } else {
                escape(c)
            };
            out.push_str(&format!("<td{class}>{text}</td>"));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_render_and_flag_collapse() {
        let metrics = |std: f64, collapsed: f64| {
            [
                ("loss", 1.5),
                ("embedding_std", std),
                ("feature_dim", 64.0),
                ("alignment", 0.2),
                ("uniformity", -2.5),
                ("collapsed", collapsed),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
        };
        let rows = vec![
            TrainingRow::from_metrics("ssl[method=simsiam]", "bbb", &metrics(0.0, 1.0)),
            TrainingRow::from_metrics("ssl[method=byol]", "aaa", &metrics(0.1, 0.0)),
        ];
        let md = to_markdown(&rows);
        let lines: Vec<&str> = md.lines().collect();
        assert!(
            lines[2].starts_with("| ssl[method=byol] | 1.5000 | 0.1000 | 0.1250 |"),
            "{md}"
        );
        assert!(lines[2].ends_with("| — | healthy |"), "{md}");
        assert!(lines[3].contains("COLLAPSED (std < 0.0125"), "{md}");
        let csv = to_csv(&rows);
        assert!(csv.lines().nth(2).unwrap().ends_with(",true"), "{csv}");
        assert!(to_html(&rows).contains("<strong>COLLAPSED"));
        assert_eq!(to_json(&rows)[1]["collapsed"], true);
        let empty = TrainingRow::from_metrics("x", "k", &Default::default());
        assert_eq!(empty.status(), "—");
    }
}
