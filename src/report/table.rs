//! Tables of metrics: one line per arm, or a pivot over swept axes.
//!
//! [`build`] turns result rows and a [`TableSpec`] into a [`Table`], which
//! renders to Markdown, CSV, JSON and an HTML fragment. Everything is sorted
//! explicitly, so the same rows (in any order) give byte-identical output.
//!
//! Number formatting (Markdown and HTML; CSV and JSON carry raw numbers):
//! - a metric named `top1`, `top5`, `accuracy`, `miou` or `pixel_accuracy`
//!   whose values all lie in [0, 1] is shown in percent with 2 decimals and
//!   its header gets ` (%)` (see [`is_percent`]);
//! - any other value is shown with 4 significant digits (scientific below
//!   1e-3 or from 1e5 on);
//! - a cell aggregating n > 1 values shows `mean ± std (n=N)` (sample std,
//!   n − 1), the std with the mean's decimals; n = 1 shows the value alone;
//! - a NaN value makes its cell `NaN` (a diverged seed is not hidden); an
//!   empty cell or a missing axis value shows `—`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::html::escape;
use super::results::{
    AxisValue, MISSING, ReportError, ResultRow, Sample, Stats, axis_key, axis_values, cmp_samples,
    is_percent, parse_metric, stats,
};

/// What a table shows: its metrics and, for a pivot, the axes that make lines and columns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSpec {
    /// Metrics written `decl.metric` (e.g. `lin.top1`), in column order.
    pub metrics: Vec<String>,
    /// Axes (`decl.param`) whose value combinations make the lines of a pivot; empty: one line per arm.
    pub rows: Vec<String>,
    /// One axis whose values split every metric into columns (makes the table a pivot).
    pub cols: Option<String>,
}

impl TableSpec {
    /// Whether this spec asks for a pivot (`rows` or `cols` given) rather than one line per arm.
    pub fn is_pivot(&self) -> bool {
        !self.rows.is_empty() || self.cols.is_some()
    }
}

/// A built table, ready to render as Markdown, CSV, JSON or an HTML fragment.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pivot: Option<Pivot>,
    metrics: Vec<MetricInfo>,
    label_headers: Vec<String>,
    columns: Vec<Column>,
    lines: Vec<Line>,
}

#[derive(Clone, Debug, PartialEq)]
struct Pivot {
    rows: Vec<String>,
    cols: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
struct MetricInfo {
    name: String,
    percent: bool,
}

#[derive(Clone, Debug, PartialEq)]
struct Column {
    metric: usize,
    col: Option<AxisValue>,
}

#[derive(Clone, Debug, PartialEq)]
struct Line {
    labels: Vec<AxisValue>,
    cells: Vec<Option<Cell>>,
    /// The source row of a per-arm line.
    row: Option<ResultRow>,
}

#[derive(Clone, Debug, PartialEq)]
struct Cell {
    stats: Stats,
    sources: Vec<Source>,
}

#[derive(Clone, Debug, PartialEq)]
struct Source {
    arm: String,
    eval: String,
    seed: u64,
    value: f64,
}

impl Cell {
    fn from_samples(samples: &[Sample<'_>]) -> Option<Cell> {
        let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
        let stats = stats(&values)?;
        let sources = samples
            .iter()
            .map(|s| Source {
                arm: s.row.arm.clone(),
                eval: s.row.eval.clone(),
                seed: s.row.seed,
                value: s.value,
            })
            .collect();
        Some(Cell { stats, sources })
    }
}

/// Builds the table `spec` asks for from `rows` (rows of other evaluations are ignored).
///
/// Rows whose `decl` matches a metric's evaluation but lack the metric still
/// make a line, with `—` in that cell, so missing results stay visible.
pub fn build(rows: &[ResultRow], spec: &TableSpec) -> Result<Table, ReportError> {
    if spec.metrics.is_empty() {
        return Err(ReportError::NoMetrics);
    }
    let mut names: Vec<&str> = Vec::new();
    for m in &spec.metrics {
        parse_metric(m)?;
        if !names.contains(&m.as_str()) {
            names.push(m);
        }
    }
    let decls: BTreeSet<&str> = names
        .iter()
        .filter_map(|m| parse_metric(m).ok().map(|(d, _)| d))
        .collect();
    let selected: Vec<&ResultRow> = rows
        .iter()
        .filter(|r| decls.contains(r.decl.as_str()))
        .collect();
    let mut per_metric: Vec<Vec<Sample<'_>>> = Vec::with_capacity(names.len());
    let mut metrics = Vec::with_capacity(names.len());
    let shown = names.len();
    for name in &names {
        let s = super::results::samples(rows, name)?;
        // Top-5 is not reported with 5 classes or fewer (it is always 100 %): no column
        // of dashes for it when no arm has it and other metrics remain.
        if s.is_empty() && shown > 1 && name.ends_with(".top5") {
            continue;
        }
        metrics.push(MetricInfo {
            name: name.to_string(),
            percent: is_percent(name, s.iter().map(|s| s.value)),
        });
        per_metric.push(s);
    }
    if spec.is_pivot() {
        Ok(build_pivot(spec, &selected, metrics, &per_metric))
    } else {
        Ok(build_arms(&selected, metrics))
    }
}

fn cmp_rows(a: &ResultRow, b: &ResultRow, axes: &[String]) -> Ordering {
    a.decl
        .cmp(&b.decl)
        .then_with(|| axis_values(a, axes).cmp(&axis_values(b, axes)))
        .then_with(|| a.seed.cmp(&b.seed))
        .then_with(|| a.arm.cmp(&b.arm))
        .then_with(|| a.eval.cmp(&b.eval))
        .then_with(|| a.axes.cmp(&b.axes))
        .then_with(|| {
            let ka = a.metrics.iter().map(|(k, v)| (k, v.to_bits()));
            let kb = b.metrics.iter().map(|(k, v)| (k, v.to_bits()));
            ka.cmp(kb)
        })
}

fn build_arms(selected: &[&ResultRow], metrics: Vec<MetricInfo>) -> Table {
    let axes: Vec<String> = selected
        .iter()
        .flat_map(|r| r.axes.keys())
        .filter(|k| k.as_str() != "seed")
        .cloned()
        .collect::<BTreeSet<String>>()
        .into_iter()
        .collect();
    let mut sorted: Vec<&ResultRow> = selected.to_vec();
    sorted.sort_by(|a, b| cmp_rows(a, b, &axes));
    let mut label_headers = vec!["arm".to_string()];
    label_headers.extend(axes.iter().cloned());
    label_headers.push("eval".into());
    label_headers.push("seed".into());
    let lines = sorted
        .into_iter()
        .map(|row| {
            let mut labels = vec![AxisValue(Some(row.arm.clone()))];
            labels.extend(axis_values(row, &axes));
            labels.push(AxisValue(Some(row.eval.clone())));
            labels.push(AxisValue(Some(row.seed.to_string())));
            let cells = metrics
                .iter()
                .map(|m| {
                    let (decl, name) = parse_metric(&m.name).ok()?;
                    if row.decl != decl {
                        return None;
                    }
                    let value = *row.metrics.get(name)?;
                    Cell::from_samples(&[Sample { row, value }])
                })
                .collect();
            Line {
                labels,
                cells,
                row: Some(row.clone()),
            }
        })
        .collect();
    let columns = (0..metrics.len())
        .map(|metric| Column { metric, col: None })
        .collect();
    Table {
        pivot: None,
        metrics,
        label_headers,
        columns,
        lines,
    }
}

fn build_pivot(
    spec: &TableSpec,
    selected: &[&ResultRow],
    metrics: Vec<MetricInfo>,
    per_metric: &[Vec<Sample<'_>>],
) -> Table {
    let line_keys: BTreeSet<Vec<AxisValue>> = selected
        .iter()
        .map(|r| axis_values(r, &spec.rows))
        .collect();
    let mut columns = Vec::new();
    let mut column_of: BTreeMap<(usize, Option<AxisValue>), usize> = BTreeMap::new();
    for (mi, m) in metrics.iter().enumerate() {
        match &spec.cols {
            None => {
                column_of.insert((mi, None), columns.len());
                columns.push(Column {
                    metric: mi,
                    col: None,
                });
            }
            Some(axis) => {
                let decl = parse_metric(&m.name).map_or("", |(d, _)| d);
                let values: BTreeSet<AxisValue> = selected
                    .iter()
                    .filter(|r| r.decl == decl)
                    .map(|r| AxisValue(super::results::axis_value(r, axis)))
                    .collect();
                for v in values {
                    column_of.insert((mi, Some(v.clone())), columns.len());
                    columns.push(Column {
                        metric: mi,
                        col: Some(v),
                    });
                }
            }
        }
    }
    let mut buckets: BTreeMap<(Vec<AxisValue>, usize), Vec<Sample<'_>>> = BTreeMap::new();
    for (mi, samples) in per_metric.iter().enumerate() {
        for s in samples {
            let col = spec
                .cols
                .as_ref()
                .map(|axis| AxisValue(super::results::axis_value(s.row, axis)));
            if let Some(&ci) = column_of.get(&(mi, col)) {
                buckets
                    .entry((axis_values(s.row, &spec.rows), ci))
                    .or_default()
                    .push(*s);
            }
        }
    }
    let lines = line_keys
        .into_iter()
        .map(|key| {
            let cells = (0..columns.len())
                .map(|ci| {
                    let mut samples = buckets.remove(&(key.clone(), ci))?;
                    samples.sort_by(cmp_samples);
                    Cell::from_samples(&samples)
                })
                .collect();
            Line {
                labels: key,
                cells,
                row: None,
            }
        })
        .collect();
    Table {
        pivot: Some(Pivot {
            rows: spec.rows.clone(),
            cols: spec.cols.clone(),
        }),
        metrics,
        label_headers: spec.rows.iter().map(|a| axis_key(a).to_string()).collect(),
        columns,
        lines,
    }
}

// ------------------------------------------------------------ number formatting

fn non_finite(v: f64) -> String {
    format!("{v}")
}

fn fixed(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return non_finite(v);
    }
    let s = format!("{:.*}", decimals, v);
    // "-0.00" reads as a sign that is not there.
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    }
}

/// 4 significant digits: the text, and the decimals used (`None` when scientific).
fn sig4(v: f64) -> (String, Option<usize>) {
    if !v.is_finite() {
        return (non_finite(v), None);
    }
    if v == 0.0 {
        return ("0".to_string(), Some(0));
    }
    let sci = format!("{v:.3e}");
    let exp: i32 = sci
        .rsplit_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    if !(-3..=4).contains(&exp) {
        (sci, None)
    } else {
        let d = (3 - exp).max(0) as usize;
        (fixed(v, d), Some(d))
    }
}

/// How a cell reads in Markdown and HTML: `mean ± std (n=N)` (std and n only when n > 1), per the module rules.
pub fn format_stats(stats: &Stats, percent: bool) -> String {
    if percent {
        let mean = fixed(stats.mean * 100.0, 2);
        return match stats.std {
            Some(sd) => format!("{mean} ± {} (n={})", fixed(sd * 100.0, 2), stats.n),
            None => mean,
        };
    }
    let (mean, decimals) = sig4(stats.mean);
    let Some(sd) = stats.std else {
        return mean;
    };
    let sd_text = match decimals {
        // A zero mean has no decimals of its own: let the std speak for itself.
        Some(_) if stats.mean == 0.0 => sig4(sd).0,
        Some(d) => fixed(sd, d),
        None => sig4(sd).0,
    };
    format!("{mean} ± {sd_text} (n={})", stats.n)
}

/// A number in CSV: the shortest text that reads back to the same f64.
fn raw(v: f64) -> String {
    format!("{v:?}")
}

fn json_number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn md_cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "\\<")
        .replace(['\r', '\n'], " ")
}

impl Table {
    /// Number of lines (arms, or value combinations of a pivot).
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether the table has no line.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Column headers as Markdown and HTML show them (labels, then one per value column).
    pub fn headers(&self) -> Vec<String> {
        let mut out = self.label_headers.clone();
        out.extend(self.columns.iter().map(|c| self.column_header(c)));
        out
    }

    /// Every line's cells as Markdown and HTML show them, before escaping.
    pub fn texts(&self) -> Vec<Vec<String>> {
        self.lines
            .iter()
            .map(|line| {
                let mut out: Vec<String> = line
                    .labels
                    .iter()
                    .map(|l| l.display().to_string())
                    .collect();
                out.extend(line.cells.iter().zip(&self.columns).map(|(cell, col)| {
                    cell.as_ref().map_or(MISSING.to_string(), |c| {
                        format_stats(&c.stats, self.metrics[col.metric].percent)
                    })
                }));
                out
            })
            .collect()
    }

    /// The aggregate in a value cell (`line` and `column` count value columns from 0), if any.
    pub fn stats(&self, line: usize, column: usize) -> Option<Stats> {
        let cell = self.lines.get(line)?.cells.get(column)?.as_ref()?;
        Some(cell.stats)
    }

    fn metric_header(&self, metric: usize) -> String {
        let m = &self.metrics[metric];
        if m.percent {
            format!("{} (%)", m.name)
        } else {
            m.name.clone()
        }
    }

    fn column_suffix(&self, c: &Column) -> String {
        match (self.pivot.as_ref().and_then(|p| p.cols.as_ref()), &c.col) {
            (Some(axis), Some(v)) => format!(" [{}={}]", axis_key(axis), v.display()),
            _ => String::new(),
        }
    }

    fn column_header(&self, c: &Column) -> String {
        format!("{}{}", self.metric_header(c.metric), self.column_suffix(c))
    }

    /// A GitHub-flavoured Markdown table, columns padded, numbers right-aligned.
    pub fn to_markdown(&self) -> String {
        let headers: Vec<String> = self.headers().iter().map(|h| md_cell(h)).collect();
        let body: Vec<Vec<String>> = self
            .texts()
            .iter()
            .map(|l| l.iter().map(|c| md_cell(c)).collect())
            .collect();
        let width = |i: usize| {
            body.iter()
                .map(|l| l[i].chars().count())
                .chain([headers[i].chars().count(), 3])
                .max()
                .unwrap_or(3)
        };
        let widths: Vec<usize> = (0..headers.len()).map(width).collect();
        let numeric = |i: usize| i >= self.label_headers.len();
        let pad = |s: &str, i: usize| {
            let fill = " ".repeat(widths[i] - s.chars().count());
            if numeric(i) {
                format!("{fill}{s}")
            } else {
                format!("{s}{fill}")
            }
        };
        let row = |cells: &[String]| {
            let inner: Vec<String> = cells.iter().enumerate().map(|(i, c)| pad(c, i)).collect();
            format!("| {} |\n", inner.join(" | "))
        };
        let mut out = row(&headers);
        let rule: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                if numeric(i) {
                    format!("{}:", "-".repeat(w - 1))
                } else {
                    "-".repeat(w)
                }
            })
            .collect();
        out.push_str(&format!("| {} |\n", rule.join(" | ")));
        for l in &body {
            out.push_str(&row(l));
        }
        out
    }

    /// RFC 4180 CSV (CRLF, quoted when needed) with raw numbers; a pivot has `_mean`, `_std`, `_n` per column.
    pub fn to_csv(&self) -> String {
        let mut header: Vec<String> = self.label_headers.clone();
        for c in &self.columns {
            let name = format!("{}{}", self.metrics[c.metric].name, self.csv_suffix(c));
            if self.pivot.is_some() {
                header.push(format!("{name}_mean"));
                header.push(format!("{name}_std"));
                header.push(format!("{name}_n"));
            } else {
                header.push(name);
            }
        }
        let mut out = String::new();
        let mut push = |fields: &[String]| {
            let f: Vec<String> = fields.iter().map(|s| csv_field(s)).collect();
            out.push_str(&f.join(","));
            out.push_str("\r\n");
        };
        push(&header);
        for line in &self.lines {
            let mut fields: Vec<String> = line
                .labels
                .iter()
                .map(|l| l.0.clone().unwrap_or_default())
                .collect();
            for cell in &line.cells {
                let st = cell.as_ref().map(|c| c.stats);
                if self.pivot.is_some() {
                    fields.push(st.map(|s| raw(s.mean)).unwrap_or_default());
                    fields.push(st.and_then(|s| s.std).map(raw).unwrap_or_default());
                    fields.push(st.map_or(0, |s| s.n).to_string());
                } else {
                    fields.push(st.map(|s| raw(s.mean)).unwrap_or_default());
                }
            }
            push(&fields);
        }
        out
    }

    fn csv_suffix(&self, c: &Column) -> String {
        match (self.pivot.as_ref().and_then(|p| p.cols.as_ref()), &c.col) {
            (Some(axis), Some(v)) => {
                format!("[{}={}]", axis_key(axis), v.0.as_deref().unwrap_or(""))
            }
            _ => String::new(),
        }
    }

    /// The table as JSON with full-precision numbers (NaN as null) and every source row's eval spec and seed.
    pub fn to_json(&self) -> Value {
        // Keys are inserted in sorted order so the text is the same whichever
        // map serde_json was built with.
        let mut top = Map::new();
        if let Some(p) = &self.pivot {
            top.insert(
                "cols".into(),
                p.cols.clone().map_or(Value::Null, Value::String),
            );
        }
        top.insert(
            "layout".into(),
            Value::String(
                if self.pivot.is_some() {
                    "pivot"
                } else {
                    "arms"
                }
                .into(),
            ),
        );
        let lines: Vec<Value> = self.lines.iter().map(|l| self.line_json(l)).collect();
        top.insert("lines".into(), Value::Array(lines));
        let metrics: Vec<Value> = self
            .metrics
            .iter()
            .map(|m| {
                let mut o = Map::new();
                o.insert("name".into(), Value::String(m.name.clone()));
                o.insert("percent".into(), Value::Bool(m.percent));
                Value::Object(o)
            })
            .collect();
        top.insert("metrics".into(), Value::Array(metrics));
        if let Some(p) = &self.pivot {
            let rows = p.rows.iter().cloned().map(Value::String).collect();
            top.insert("rows".into(), Value::Array(rows));
        }
        Value::Object(top)
    }

    fn line_json(&self, line: &Line) -> Value {
        let mut o = Map::new();
        if let Some(row) = &line.row {
            o.insert("arm".into(), Value::String(row.arm.clone()));
            let axes = row
                .axes
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            o.insert("axes".into(), Value::Object(axes));
            o.insert("decl".into(), Value::String(row.decl.clone()));
            o.insert("eval".into(), Value::String(row.eval.clone()));
            let mut metrics: Vec<(String, Value)> = self
                .metrics
                .iter()
                .zip(&line.cells)
                .map(|(m, c)| {
                    let v = c
                        .as_ref()
                        .map_or(Value::Null, |c| json_number(c.stats.mean));
                    (m.name.clone(), v)
                })
                .collect();
            metrics.sort_by(|a, b| a.0.cmp(&b.0));
            o.insert(
                "metrics".into(),
                Value::Object(metrics.into_iter().collect()),
            );
            o.insert("seed".into(), Value::from(row.seed));
            return Value::Object(o);
        }
        let cells: Vec<Value> = line
            .cells
            .iter()
            .zip(&self.columns)
            .filter_map(|(cell, col)| {
                let cell = cell.as_ref()?;
                let mut c = Map::new();
                if self.pivot.as_ref().is_some_and(|p| p.cols.is_some()) {
                    c.insert(
                        "col".into(),
                        col.col
                            .as_ref()
                            .and_then(|v| v.0.clone())
                            .map_or(Value::Null, Value::String),
                    );
                }
                c.insert("mean".into(), json_number(cell.stats.mean));
                c.insert(
                    "metric".into(),
                    Value::String(self.metrics[col.metric].name.clone()),
                );
                c.insert("n".into(), Value::from(cell.stats.n));
                let sources = cell
                    .sources
                    .iter()
                    .map(|s| {
                        let mut o = Map::new();
                        o.insert("arm".into(), Value::String(s.arm.clone()));
                        o.insert("eval".into(), Value::String(s.eval.clone()));
                        o.insert("seed".into(), Value::from(s.seed));
                        o.insert("value".into(), json_number(s.value));
                        Value::Object(o)
                    })
                    .collect();
                c.insert("sources".into(), Value::Array(sources));
                c.insert(
                    "std".into(),
                    cell.stats.std.map_or(Value::Null, json_number),
                );
                Some(Value::Object(c))
            })
            .collect();
        o.insert("cells".into(), Value::Array(cells));
        let mut key: Vec<(String, Value)> = self
            .label_headers
            .iter()
            .zip(&line.labels)
            .map(|(h, v)| (h.clone(), v.0.clone().map_or(Value::Null, Value::String)))
            .collect();
        key.sort_by(|a, b| a.0.cmp(&b.0));
        o.insert("key".into(), Value::Object(key.into_iter().collect()));
        Value::Object(o)
    }

    /// [`Table::to_json`] as pretty-printed text with a final newline.
    pub fn to_json_string(&self) -> String {
        let mut s = serde_json::to_string_pretty(&self.to_json()).unwrap_or_default();
        s.push('\n');
        s
    }

    /// An HTML `<table>` fragment (all text escaped; value cells carry `class="num"` and their n).
    pub fn to_html(&self) -> String {
        let mut out = String::from("<table class=\"sslp-table\">\n<thead>\n<tr>");
        for h in self.headers() {
            out.push_str(&format!("<th>{}</th>", escape(&h)));
        }
        out.push_str("</tr>\n</thead>\n<tbody>\n");
        let texts = self.texts();
        for (line, text) in self.lines.iter().zip(&texts) {
            out.push_str("<tr>");
            let nl = line.labels.len();
            for t in &text[..nl] {
                out.push_str(&format!("<td>{}</td>", escape(t)));
            }
            for (cell, t) in line.cells.iter().zip(&text[nl..]) {
                match cell {
                    Some(c) => out.push_str(&format!(
                        "<td class=\"num\" title=\"n = {}\">{}</td>",
                        c.stats.n,
                        escape(t)
                    )),
                    None => out.push_str(&format!("<td class=\"num\">{}</td>", escape(t))),
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(decl: &str, axes: &[(&str, &str)], seed: u64, metrics: &[(&str, f64)]) -> ResultRow {
        let axes: BTreeMap<String, String> = axes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let inner: Vec<String> = axes
            .iter()
            .filter(|(k, _)| k.as_str() != "seed")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        ResultRow {
            arm: format!("{decl}[{}]", inner.join(",")),
            decl: decl.to_string(),
            axes,
            kind: "linear_probe".to_string(),
            eval: "linear_probe(solver=lbfgs, l2=0.0001)".to_string(),
            seed,
            metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    fn spec(metrics: &[&str], rows: &[&str], cols: Option<&str>) -> TableSpec {
        TableSpec {
            metrics: metrics.iter().map(|s| s.to_string()).collect(),
            rows: rows.iter().map(|s| s.to_string()).collect(),
            cols: cols.map(str::to_string),
        }
    }

    #[test]
    fn top5_without_results_has_no_column() {
        // Evaluations on 5 classes or fewer report no top-5.
        let rows = vec![row("lin", &[("method", "byol")], 0, &[("top1", 0.8)])];
        let t = build(&rows, &spec(&["lin.top1", "lin.top5"], &[], None)).unwrap();
        let headers = t.headers();
        assert_eq!(headers.len(), 5, "{headers:?}");
        assert!(!headers.iter().any(|h| h.contains("top5")), "{headers:?}");
        // With results it stays.
        let rows = vec![row(
            "lin",
            &[("method", "byol")],
            0,
            &[("top1", 0.8), ("top5", 0.9)],
        )];
        let t = build(&rows, &spec(&["lin.top1", "lin.top5"], &[], None)).unwrap();
        assert!(t.headers().iter().any(|h| h.contains("top5")));
    }

    /// 2 methods × 2 label fractions × 2 policies, one seed each: 8 arms.
    fn eight_arms() -> Vec<ResultRow> {
        let mut rows = Vec::new();
        let mut v = 0.50;
        for method in ["simclr", "byol"] {
            for frac in ["1.0", "0.1"] {
                for policy in ["simclr_cifar", "ssl_default"] {
                    v += 0.01;
                    rows.push(row(
                        "lin",
                        &[
                            ("method", method),
                            ("label_fraction", frac),
                            ("policy", policy),
                        ],
                        0,
                        &[("top1", v), ("loss", 1.0 / v)],
                    ));
                }
            }
        }
        // Another evaluation's rows must be ignored.
        rows.push(row("knn", &[("method", "byol")], 0, &[("top1", 0.99)]));
        rows
    }

    #[test]
    fn pivot_rows_by_cols_over_eight_arms() {
        let t = build(
            &eight_arms(),
            &spec(
                &["lin.top1"],
                &["ssl.method", "lin.label_fraction"],
                Some("ssl.policy"),
            ),
        )
        .unwrap();
        assert_eq!(
            t.headers(),
            [
                "method",
                "label_fraction",
                "lin.top1 (%) [policy=simclr_cifar]",
                "lin.top1 (%) [policy=ssl_default]"
            ]
        );
        // Lines sorted: byol < simclr; 0.1 < 1.0 numerically.
        assert_eq!(
            t.texts(),
            [
                ["byol", "0.1", "57.00", "58.00"],
                ["byol", "1.0", "55.00", "56.00"],
                ["simclr", "0.1", "53.00", "54.00"],
                ["simclr", "1.0", "51.00", "52.00"],
            ]
        );
        for line in 0..4 {
            for col in 0..2 {
                assert_eq!(t.stats(line, col).unwrap().n, 1);
                assert_eq!(t.stats(line, col).unwrap().std, None);
            }
        }
    }

    #[test]
    fn numeric_axis_values_sort_numerically() {
        let rows: Vec<ResultRow> = ["10", "2", "0.5", "abc"]
            .iter()
            .map(|b| row("lin", &[("batch", b)], 0, &[("loss", 1.0)]))
            .collect();
        let t = build(&rows, &spec(&["lin.loss"], &["ssl.batch"], None)).unwrap();
        let firsts: Vec<String> = t.texts().into_iter().map(|l| l[0].clone()).collect();
        assert_eq!(firsts, ["0.5", "2", "10", "abc"]);
    }

    #[test]
    fn seeds_aggregate_to_mean_and_sample_std() {
        let mut rows = Vec::new();
        for (seed, v) in [(0, 0.80), (1, 0.82), (2, 0.84)] {
            rows.push(row(
                "lin",
                &[("method", "byol"), ("seed", &seed.to_string())],
                seed,
                &[("top1", v), ("loss", 10.0 * v)],
            ));
        }
        rows.push(row(
            "lin",
            &[("method", "simclr")],
            0,
            &[("top1", 0.7), ("loss", 7.0)],
        ));
        let t = build(
            &rows,
            &spec(&["lin.top1", "lin.loss"], &["ssl.method"], None),
        )
        .unwrap();
        let s = t.stats(0, 0).unwrap();
        assert_eq!(s.n, 3);
        assert!((s.mean - 0.82).abs() < 1e-12);
        assert!((s.std.unwrap() - 0.02).abs() < 1e-12);
        assert_eq!(
            t.texts(),
            [
                ["byol", "82.00 ± 2.00 (n=3)", "8.200 ± 0.200 (n=3)"],
                ["simclr", "70.00", "7.000"]
            ]
        );
        // Input order does not matter.
        rows.reverse();
        let t2 = build(
            &rows,
            &spec(&["lin.top1", "lin.loss"], &["ssl.method"], None),
        )
        .unwrap();
        assert_eq!(t.to_csv(), t2.to_csv());
        assert_eq!(t.to_json_string(), t2.to_json_string());
    }

    fn small() -> Vec<ResultRow> {
        vec![
            row(
                "lin",
                &[("method", "byol"), ("policy", "p,1")],
                1,
                &[("top1", 0.9)],
            ),
            row(
                "lin",
                &[("method", "byol"), ("policy", "p,1")],
                0,
                &[("top1", 0.8)],
            ),
            row(
                "lin",
                &[("method", "simclr"), ("policy", "p,1")],
                0,
                &[("top1", 0.7)],
            ),
        ]
    }

    #[test]
    fn snapshot_pivot_markdown_csv_json() {
        let t = build(
            &small(),
            &spec(&["lin.top1"], &["ssl.method"], Some("ssl.policy")),
        )
        .unwrap();
        assert_eq!(
            t.to_markdown(),
            "\
| method | lin.top1 (%) [policy=p,1] |
| ------ | ------------------------: |
| byol   |        85.00 ± 7.07 (n=2) |
| simclr |                     70.00 |
"
        );
        assert_eq!(
            t.to_csv(),
            "method,\"lin.top1[policy=p,1]_mean\",\"lin.top1[policy=p,1]_std\",\"lin.top1[policy=p,1]_n\"\r\n\
             byol,0.8500000000000001,0.07071067811865474,2\r\n\
             simclr,0.7,,1\r\n"
        );
        assert_eq!(
            t.to_json_string(),
            r#"{
  "cols": "ssl.policy",
  "layout": "pivot",
  "lines": [
    {
      "cells": [
        {
          "col": "p,1",
          "mean": 0.8500000000000001,
          "metric": "lin.top1",
          "n": 2,
          "sources": [
            {
              "arm": "lin[method=byol,policy=p,1]",
              "eval": "linear_probe(solver=lbfgs, l2=0.0001)",
              "seed": 0,
              "value": 0.8
            },
            {
              "arm": "lin[method=byol,policy=p,1]",
              "eval": "linear_probe(solver=lbfgs, l2=0.0001)",
              "seed": 1,
              "value": 0.9
            }
          ],
          "std": 0.07071067811865474
        }
      ],
      "key": {
        "method": "byol"
      }
    },
    {
      "cells": [
        {
          "col": "p,1",
          "mean": 0.7,
          "metric": "lin.top1",
          "n": 1,
          "sources": [
            {
              "arm": "lin[method=simclr,policy=p,1]",
              "eval": "linear_probe(solver=lbfgs, l2=0.0001)",
              "seed": 0,
              "value": 0.7
            }
          ],
          "std": null
        }
      ],
      "key": {
        "method": "simclr"
      }
    }
  ],
  "metrics": [
    {
      "name": "lin.top1",
      "percent": true
    }
  ],
  "rows": [
    "ssl.method"
  ]
}
"#
        );
    }

    #[test]
    fn snapshot_per_arm_markdown_csv_json() {
        let mut rows = small();
        rows.push(row("seg", &[("method", "byol")], 0, &[("miou", 0.5)]));
        rows[2].metrics.insert("nmi".into(), 0.123456);
        let t = build(&rows, &spec(&["lin.top1", "lin.nmi"], &[], None)).unwrap();
        assert_eq!(
            t.to_markdown(),
            "\
| arm                           | method | policy | eval                                  | seed | lin.top1 (%) | lin.nmi |
| ----------------------------- | ------ | ------ | ------------------------------------- | ---- | -----------: | ------: |
| lin[method=byol,policy=p,1]   | byol   | p,1    | linear_probe(solver=lbfgs, l2=0.0001) | 0    |        80.00 |       — |
| lin[method=byol,policy=p,1]   | byol   | p,1    | linear_probe(solver=lbfgs, l2=0.0001) | 1    |        90.00 |       — |
| lin[method=simclr,policy=p,1] | simclr | p,1    | linear_probe(solver=lbfgs, l2=0.0001) | 0    |        70.00 |  0.1235 |
"
        );
        assert_eq!(
            t.to_csv(),
            "arm,method,policy,eval,seed,lin.top1,lin.nmi\r\n\
             \"lin[method=byol,policy=p,1]\",byol,\"p,1\",\"linear_probe(solver=lbfgs, l2=0.0001)\",0,0.8,\r\n\
             \"lin[method=byol,policy=p,1]\",byol,\"p,1\",\"linear_probe(solver=lbfgs, l2=0.0001)\",1,0.9,\r\n\
             \"lin[method=simclr,policy=p,1]\",simclr,\"p,1\",\"linear_probe(solver=lbfgs, l2=0.0001)\",0,0.7,0.123456\r\n"
        );
        let json = t.to_json();
        assert_eq!(json["layout"], "arms");
        assert_eq!(json["lines"][2]["metrics"]["lin.nmi"], 0.123456);
        assert_eq!(json["lines"][0]["metrics"]["lin.nmi"], Value::Null);
        assert_eq!(json["lines"][1]["seed"], 1);
        assert_eq!(
            json["lines"][1]["eval"],
            "linear_probe(solver=lbfgs, l2=0.0001)"
        );
        assert_eq!(json["lines"][0]["axes"]["policy"], "p,1");
    }

    #[test]
    fn nan_missing_and_empty_inputs_do_not_panic() {
        let mut rows = small();
        rows[0].metrics.insert("top1".into(), f64::NAN);
        rows.push(row("lin", &[("policy", "q")], 0, &[]));
        let t = build(
            &rows,
            &spec(&["lin.top1"], &["ssl.method"], Some("ssl.policy")),
        )
        .unwrap();
        assert_eq!(
            t.texts(),
            [
                ["byol", "NaN ± NaN (n=2)", "—"],
                ["simclr", "70.00", "—"],
                ["—", "—", "—"],
            ]
        );
        assert!(t.to_csv().contains("NaN"));
        assert!(t.to_json_string().contains("null"));
        let empty = build(&[], &spec(&["lin.top1"], &["ssl.method"], None)).unwrap();
        assert!(empty.is_empty());
        assert_eq!(
            empty.to_markdown(),
            "| method | lin.top1 |\n| ------ | -------: |\n"
        );
        assert_eq!(
            empty.to_csv(),
            "method,lin.top1_mean,lin.top1_std,lin.top1_n\r\n"
        );
        let flat = build(&[], &spec(&["lin.top1"], &[], None)).unwrap();
        assert_eq!(flat.to_csv(), "arm,eval,seed,lin.top1\r\n");
        assert_eq!(
            build(&rows, &spec(&[], &[], None)),
            Err(ReportError::NoMetrics)
        );
        assert_eq!(
            build(&rows, &spec(&["top1"], &[], None)),
            Err(ReportError::BadMetric("top1".into()))
        );
    }

    #[test]
    fn significant_digits() {
        let s = |mean, std| Stats {
            mean,
            std,
            n: if std.is_some() { 2 } else { 1 },
        };
        assert_eq!(format_stats(&s(0.123456, None), false), "0.1235");
        assert_eq!(
            format_stats(&s(1234.56, Some(12.3)), false),
            "1235 ± 12 (n=2)"
        );
        assert_eq!(format_stats(&s(9.99961, None), false), "10.00");
        assert_eq!(format_stats(&s(0.0001234, None), false), "1.234e-4");
        assert_eq!(format_stats(&s(123456.0, None), false), "1.235e5");
        assert_eq!(
            format_stats(&s(0.0, Some(0.01234)), false),
            "0 ± 0.01234 (n=2)"
        );
        assert_eq!(format_stats(&s(-0.00001, None), false), "-1.000e-5");
        assert_eq!(
            format_stats(&s(0.81234, Some(0.0123)), true),
            "81.23 ± 1.23 (n=2)"
        );
        assert_eq!(format_stats(&s(f64::INFINITY, None), false), "inf");
    }

    #[test]
    fn html_escapes_arm_names() {
        let mut rows = small();
        rows[0].arm = "<script>alert('x')</script>".into();
        let html = build(&rows, &spec(&["lin.top1"], &[], None))
            .unwrap()
            .to_html();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        let md = build(&rows, &spec(&["lin.top1"], &[], None))
            .unwrap()
            .to_markdown();
        assert!(md.contains("\\<script>"));
    }
}
