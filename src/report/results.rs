//! The data model every report reads ([`ResultRow`]), the helpers that
//! resolve pipeline names (`decl.param`, `decl.metric`) against it, the
//! grouping and statistics shared by tables and plots, and [`ReportError`].

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One evaluated arm: the row unit of every report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    /// The arm's full name, e.g. `lin[method=byol,policy=simclr_cifar,label_fraction=0.1]`.
    pub arm: String,
    /// The evaluation's name in the pipeline, e.g. `lin`.
    pub decl: String,
    /// Swept parameter (bare name) -> value label, e.g. `{"method": "byol"}`.
    pub axes: BTreeMap<String, String>,
    /// The evaluation's kind, e.g. `linear_probe` (its registry name).
    #[serde(default)]
    pub kind: String,
    /// The exact evaluation spec, e.g. `linear_probe(solver=lbfgs, l2=0.0001)`.
    pub eval: String,
    /// The seed this arm ran with.
    pub seed: u64,
    /// Metric name -> value, e.g. `{"top1": 0.81}`.
    pub metrics: BTreeMap<String, f64>,
}

/// Everything that can go wrong while building a report (never a panic).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReportError {
    /// A metric name is not of the form `decl.metric`.
    #[error("metric `{0}` is not of the form `decl.metric` (e.g. `lin.top1`)")]
    BadMetric(String),
    /// A table was asked for without any metric.
    #[error("a table needs at least one metric")]
    NoMetrics,
    /// `scatter_2d` got a different number of points and labels.
    #[error("scatter_2d: {points} points but {labels} labels")]
    LengthMismatch {
        /// Number of points given.
        points: usize,
        /// Number of labels given.
        labels: usize,
    },
    /// The embedded font could not be registered with plotters.
    #[error("the embedded DejaVuSans font could not be loaded")]
    Font,
    /// plotters failed while drawing.
    #[error("drawing the figure failed: {0}")]
    Draw(String),
    /// The PNG encoder failed.
    #[error("encoding the PNG failed: {0}")]
    Png(String),
}

/// The row key of an axis written `decl.param`: the part after the declaration's name
/// (`ssl.method` → `method`, `ssl.backbone.depth` → `backbone.depth`); a bare name is its own key.
pub fn axis_key(axis: &str) -> &str {
    axis.split_once('.').map_or(axis, |(_, key)| key)
}

/// Whether a report axis with row key `key` ([`axis_key`]) covers the swept parameter `swept`:
/// the same name, a nested sweep named by its last part (`depth` covers `backbone.depth`), or the
/// value that holds it (`backbone` covers `backbone.depth`). The planner's unswept-axis warning
/// and every report use this one rule, so an axis the checker accepts is one reports can fill.
pub fn axis_covers(key: &str, swept: &str) -> bool {
    swept == key
        || swept
            .strip_suffix(key)
            .is_some_and(|head| head.ends_with('.'))
        || swept
            .strip_prefix(key)
            .is_some_and(|tail| tail.starts_with('.'))
}

/// Splits a metric written `decl.metric` into `(decl, metric)`; `None` if malformed.
pub fn metric_parts(metric: &str) -> Option<(&str, &str)> {
    let (decl, name) = metric.split_once('.')?;
    if decl.is_empty() || name.is_empty() {
        None
    } else {
        Some((decl, name))
    }
}

/// Like [`metric_parts`] but a [`ReportError::BadMetric`] when malformed.
pub fn parse_metric(metric: &str) -> Result<(&str, &str), ReportError> {
    metric_parts(metric).ok_or_else(|| ReportError::BadMetric(metric.to_string()))
}

/// The value label of an axis (`decl.param` or bare) on a row; `seed` falls back to the row's seed.
///
/// An axis that holds several swept parameters (`ssl.backbone` over `backbone.depth` and
/// `backbone.width`) is labelled by all of them, `depth=3,width=16`, in name order.
pub fn axis_value(row: &ResultRow, axis: &str) -> Option<String> {
    let key = axis_key(axis);
    if let Some(v) = row.axes.get(key) {
        return Some(v.clone());
    }
    let covered: Vec<(&String, &String)> = row
        .axes
        .iter()
        .filter(|(name, _)| axis_covers(key, name))
        .collect();
    match covered.as_slice() {
        [] if key == "seed" => Some(row.seed.to_string()),
        [] => None,
        [(name, v)] if !name.starts_with(&format!("{key}.")) => Some((*v).clone()),
        parts => Some(
            parts
                .iter()
                .map(|(name, v)| {
                    let inner = name.strip_prefix(&format!("{key}.")).unwrap_or(name);
                    format!("{inner}={v}")
                })
                .collect::<Vec<_>>()
                .join(","),
        ),
    }
}

/// An axis value label that sorts numbers numerically, then text lexicographically, then missing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AxisValue(pub Option<String>);

impl AxisValue {
    /// The value as a finite number, if its label is one.
    pub fn number(&self) -> Option<f64> {
        self.0.as_deref().and_then(parse_number)
    }

    /// The label shown to readers: the value, or `—` when the row lacks the axis.
    pub fn display(&self) -> &str {
        self.0.as_deref().unwrap_or(MISSING)
    }
}

impl Ord for AxisValue {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.0, &other.0) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(a), Some(b)) => cmp_labels(a, b),
        }
    }
}

impl PartialOrd for AxisValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// What a missing value or an empty cell shows in every text format.
pub const MISSING: &str = "—";

/// Parses a label as a finite number (`"0.1"`, `"1e-3"`); `None` for text, NaN or infinity.
pub fn parse_number(label: &str) -> Option<f64> {
    label.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Total order on value labels: numbers first (numerically), then text (lexicographically).
pub fn cmp_labels(a: &str, b: &str) -> Ordering {
    match (parse_number(a), parse_number(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y).then_with(|| a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// The key of a row on several axes, for grouping (sorted with [`AxisValue`]'s order).
pub fn axis_values(row: &ResultRow, axes: &[String]) -> Vec<AxisValue> {
    axes.iter().map(|a| AxisValue(axis_value(row, a))).collect()
}

/// One metric value of one row, with the row it came from.
#[derive(Clone, Copy, Debug)]
pub struct Sample<'a> {
    /// The row the value belongs to.
    pub row: &'a ResultRow,
    /// The metric's value (may be NaN).
    pub value: f64,
}

/// The rows of a metric `decl.metric` that carry it, in a fixed order (seed, arm, eval, value).
pub fn samples<'a>(rows: &'a [ResultRow], metric: &str) -> Result<Vec<Sample<'a>>, ReportError> {
    let (decl, name) = parse_metric(metric)?;
    let mut out: Vec<Sample<'a>> = rows
        .iter()
        .filter(|r| r.decl == decl)
        .filter_map(|row| row.metrics.get(name).map(|&value| Sample { row, value }))
        .collect();
    out.sort_by(cmp_samples);
    Ok(out)
}

/// The fixed order of samples inside one group: seed, arm, eval, then value bits.
pub fn cmp_samples(a: &Sample<'_>, b: &Sample<'_>) -> Ordering {
    a.row
        .seed
        .cmp(&b.row.seed)
        .then_with(|| a.row.arm.cmp(&b.row.arm))
        .then_with(|| a.row.eval.cmp(&b.row.eval))
        .then_with(|| a.value.total_cmp(&b.value))
}

/// Groups samples by their values on `axes`, groups sorted by [`AxisValue`] order.
pub fn group_by<'a>(
    samples: &[Sample<'a>],
    axes: &[String],
) -> BTreeMap<Vec<AxisValue>, Vec<Sample<'a>>> {
    let mut groups: BTreeMap<Vec<AxisValue>, Vec<Sample<'a>>> = BTreeMap::new();
    for s in samples {
        groups.entry(axis_values(s.row, axes)).or_default().push(*s);
    }
    for g in groups.values_mut() {
        g.sort_by(cmp_samples);
    }
    groups
}

/// Mean, sample standard deviation and count of the values in one cell or point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// Arithmetic mean (NaN if any value is NaN: a diverged run is not hidden).
    pub mean: f64,
    /// Sample standard deviation (n − 1); `None` when n = 1.
    pub std: Option<f64>,
    /// Number of values.
    pub n: usize,
}

/// Mean and sample std (n − 1) of `values`; `None` when empty. NaN propagates.
pub fn stats(values: &[f64]) -> Option<Stats> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let std = (n > 1).then(|| {
        let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        (ss / (n - 1) as f64).sqrt()
    });
    Some(Stats { mean, std, n })
}

/// Metric names (the part after the dot) shown as percentages when their values are fractions of 1.
pub const PERCENT_METRICS: &[&str] = &["top1", "top5", "accuracy", "miou", "pixel_accuracy"];

/// The percentage rule: the metric is named in [`PERCENT_METRICS`] and every finite value lies in [0, 1].
///
/// Decided once per metric over all values a report shows, so a column or a
/// y axis never mixes units; a metric already stored in percent (say 81.2)
/// fails the [0, 1] test and is shown as it is.
pub fn is_percent(metric: &str, values: impl IntoIterator<Item = f64>) -> bool {
    let name = metric_parts(metric).map_or(metric, |(_, m)| m);
    if !PERCENT_METRICS.contains(&name) {
        return false;
    }
    let mut any = false;
    for v in values.into_iter().filter(|v| v.is_finite()) {
        if !(0.0..=1.0).contains(&v) {
            return false;
        }
        any = true;
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_sweeps_are_found_by_their_full_name_or_their_holder() {
        let row = ResultRow {
            axes: [
                ("backbone.depth", "3"),
                ("backbone.width", "16"),
                ("method", "byol"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
            seed: 7,
            ..ResultRow::default()
        };
        let value = |axis| axis_value(&row, axis);
        assert_eq!(value("ssl.backbone.depth").as_deref(), Some("3"));
        assert_eq!(value("ssl.backbone").as_deref(), Some("depth=3,width=16"));
        assert_eq!(value("ssl.method").as_deref(), Some("byol"));
        assert_eq!(value("seed").as_deref(), Some("7"));
        assert_eq!(value("ssl.policy"), None);
        assert!(axis_covers("depth", "backbone.depth"));
        assert!(!axis_covers("pth", "backbone.depth"));
        assert!(!axis_covers("back", "backbone.depth"));
    }

    #[test]
    fn names() {
        assert_eq!(axis_key("ssl.method"), "method");
        assert_eq!(axis_key("a.b.label_fraction"), "b.label_fraction");
        assert_eq!(axis_key("seed"), "seed");
        assert_eq!(metric_parts("lin.top1"), Some(("lin", "top1")));
        assert_eq!(metric_parts("top1"), None);
        assert_eq!(metric_parts(".top1"), None);
        assert_eq!(metric_parts("lin."), None);
        assert!(matches!(
            parse_metric("x"),
            Err(ReportError::BadMetric(m)) if m == "x"
        ));
    }

    #[test]
    fn label_order_is_numeric_then_text_then_missing() {
        let mut v: Vec<AxisValue> = ["10", "b", "2", "0.5", "a", "1e-3"]
            .iter()
            .map(|s| AxisValue(Some(s.to_string())))
            .collect();
        v.push(AxisValue(None));
        v.sort();
        let shown: Vec<&str> = v.iter().map(AxisValue::display).collect();
        assert_eq!(shown, ["1e-3", "0.5", "2", "10", "a", "b", "—"]);
        assert_eq!(cmp_labels("NaN", "1"), Ordering::Greater);
    }

    #[test]
    fn stats_sample_std() {
        let s = stats(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(s.n, 4);
        assert!((s.mean - 2.5).abs() < 1e-12);
        assert!((s.std.unwrap() - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(stats(&[]), None);
        assert_eq!(stats(&[7.0]).unwrap().std, None);
        assert!(stats(&[1.0, f64::NAN]).unwrap().mean.is_nan());
    }

    #[test]
    fn percent_rule() {
        assert!(is_percent("lin.top1", [0.5, 1.0, 0.0]));
        assert!(!is_percent("lin.top1", [0.5, 81.0]));
        assert!(!is_percent("clusters.nmi", [0.5]));
        assert!(is_percent("seg.miou", [0.5, f64::NAN]));
        assert!(!is_percent("seg.miou", [f64::NAN]));
    }

    #[test]
    fn seed_axis_falls_back_to_row_seed() {
        let row = ResultRow {
            seed: 3,
            ..ResultRow::default()
        };
        assert_eq!(axis_value(&row, "lin.seed").as_deref(), Some("3"));
        assert_eq!(axis_value(&row, "lin.method"), None);
    }
}
