//! Figures for papers, drawn with plotters into a PNG and an SVG (800×500).
//!
//! - [`Style::Line`]: a metric against a numeric axis (a log x axis when the
//!   values span two decades or more), one line per series, points marked,
//!   ± std error bars where several seeds fall on one point.
//! - [`Style::Bar`]: grouped bars, x categories × series, error bars when n > 1.
//! - [`Style::Scatter`]: every value as a dot, coloured by series.
//! - [`scatter_2d`]: a 2-D embedding (t-SNE) coloured by label.
//! - Baselines (`PlotSpec::baselines`, e.g. raw pixels or supervised from
//!   scratch) are dashed grey lines in every style: against x where the
//!   baseline's rows carry the x parameter, else level at their mean; ± std
//!   error bars where several seeds fall on one point.
//!
//! Text uses DejaVu Sans embedded in the binary (no system font is needed;
//! license in `DejaVuSans.LICENSE` beside this file). Series colours are
//! Okabe–Ito (colour-blind safe) with a marker shape per series, so lines
//! stay apart in grey print too; labels of [`scatter_2d`] use Tableau 20.
//! Values that are not finite are left out of figures (tables show them);
//! a figure with nothing to draw says "no data" rather than failing.
//! Metrics follow the tables' percentage rule ([`super::results::is_percent`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::ops::Range;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};
use serde::{Deserialize, Serialize};

use super::results::{
    AxisValue, ReportError, ResultRow, Sample, axis_key, axis_value, axis_values, is_percent,
    samples, stats,
};

/// Figure width in pixels (PNG) and user units (SVG).
pub const WIDTH: u32 = 800;
/// Figure height in pixels (PNG) and user units (SVG).
pub const HEIGHT: u32 = 500;

/// The font family every text element uses; registered from the embedded TTF.
const FAMILY: &str = "sans-serif";
static FONT_TTF: &[u8] = include_bytes!("DejaVuSans.ttf");

/// Okabe–Ito: distinguishable under the common colour-vision deficiencies.
const SERIES_COLORS: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0x00, 0x00, 0x00), // black
    RGBColor(0xC9, 0xB8, 0x00), // yellow, darkened to read on white
];

/// Tableau 20, the ten strong colours first, for many class labels.
const LABEL_COLORS: [RGBColor; 20] = [
    RGBColor(0x1F, 0x77, 0xB4),
    RGBColor(0xFF, 0x7F, 0x0E),
    RGBColor(0x2C, 0xA0, 0x2C),
    RGBColor(0xD6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xBD),
    RGBColor(0x8C, 0x56, 0x4B),
    RGBColor(0xE3, 0x77, 0xC2),
    RGBColor(0x7F, 0x7F, 0x7F),
    RGBColor(0xBC, 0xBD, 0x22),
    RGBColor(0x17, 0xBE, 0xCF),
    RGBColor(0xAE, 0xC7, 0xE8),
    RGBColor(0xFF, 0xBB, 0x78),
    RGBColor(0x98, 0xDF, 0x8A),
    RGBColor(0xFF, 0x98, 0x96),
    RGBColor(0xC5, 0xB0, 0xD5),
    RGBColor(0xC4, 0x9C, 0x94),
    RGBColor(0xF7, 0xB6, 0xD2),
    RGBColor(0xC7, 0xC7, 0xC7),
    RGBColor(0xDB, 0xDB, 0x8D),
    RGBColor(0x9E, 0xDA, 0xE5),
];

/// Baselines: greys, darkest first, apart from every series colour.
const BASELINE_COLORS: [RGBColor; 3] = [
    RGBColor(0x44, 0x44, 0x44),
    RGBColor(0x88, 0x88, 0x88),
    RGBColor(0xB0, 0xB0, 0xB0),
];

const GRID: RGBColor = RGBColor(0xE2, 0xE2, 0xE2);

/// How a [`PlotSpec`] draws its data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Style {
    /// Lines through the per-x means, with error bars (metric vs label fraction).
    #[default]
    Line,
    /// Grouped bars: x categories × series, with error bars.
    Bar,
    /// One dot per value.
    Scatter,
}

/// What a plot shows: a metric (`decl.metric`) against an axis, split into series.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlotSpec {
    /// The figure's title (empty: "metric vs x").
    pub title: String,
    /// The y axis, written `decl.metric` (e.g. `lin.top1`).
    pub metric: String,
    /// The x axis, written `decl.param` (e.g. `lin.label_fraction`).
    pub x: String,
    /// Axes whose value combinations make one line / bar group each (empty: one series).
    pub series: Vec<String>,
    /// Reference metrics (`raw.top1`) drawn dashed in grey: against x where
    /// their rows carry the x parameter, else level at their mean over all rows.
    #[serde(default)]
    pub baselines: Vec<String>,
    /// Line, bar or scatter.
    pub style: Style,
}

/// A rendered figure in both formats (byte-identical for the same input).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figure {
    /// The PNG file's bytes (800×500 RGB).
    pub png: Vec<u8>,
    /// The SVG document.
    pub svg: String,
}

// ------------------------------------------------------------ axes

#[derive(Clone, Debug, PartialEq)]
enum Scale {
    Linear,
    Log,
}

/// A plotters coordinate with our own ticks: linear, log or categorical.
#[derive(Clone, Debug, PartialEq)]
struct Axis {
    lo: f64,
    hi: f64,
    scale: Scale,
    ticks: Vec<(f64, String)>,
    categorical: bool,
}

fn fixed(v: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, v);
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    }
}

/// Pads a data range so marks do not sit on the frame; a single value gets a range around it.
fn padded(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if span.is_finite() && span > f64::EPSILON * hi.abs().max(lo.abs()) {
        (lo - span * frac, hi + span * frac)
    } else {
        let pad = if lo != 0.0 { lo.abs() * 0.1 } else { 1.0 };
        (lo - pad, hi + pad)
    }
}

impl Axis {
    fn linear(lo: f64, hi: f64) -> Axis {
        let (lo, hi) = if lo.is_finite() && hi.is_finite() && hi > lo {
            (lo, hi)
        } else {
            (0.0, 1.0)
        };
        let raw = (hi - lo) / 7.0;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * mag);
        let decimals = (0..=15)
            .find(|&d| {
                let scaled = step * 10f64.powi(d);
                (scaled - scaled.round()).abs() < 1e-6 * scaled.abs().max(1.0)
            })
            .unwrap_or(15) as usize;
        let k0 = (lo / step).ceil();
        let mut ticks = Vec::new();
        if step.is_finite() && step > 0.0 && k0.is_finite() {
            for i in 0..200 {
                let v = (k0 + i as f64) * step;
                if v > hi + step * 1e-9 {
                    break;
                }
                let label = if !(1e-4..1e5).contains(&step) {
                    format!("{v:.2e}")
                } else {
                    fixed(v, decimals)
                };
                ticks.push((v, label));
            }
        }
        Axis {
            lo,
            hi,
            scale: Scale::Linear,
            ticks,
            categorical: false,
        }
    }

    fn log(lo: f64, hi: f64) -> Axis {
        let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        let label = |m: f64, k: i32| {
            if (-4..=5).contains(&k) {
                fixed(m * 10f64.powi(k), (-k).max(0) as usize)
            } else {
                format!("{m}e{k}")
            }
        };
        let collect = |mults: &[f64]| {
            let mut t = Vec::new();
            for k in a..=b {
                for &m in mults {
                    let v = m * 10f64.powi(k);
                    if v >= lo && v <= hi {
                        t.push((v, label(m, k)));
                    }
                }
            }
            t
        };
        let mut ticks = collect(&[1.0]);
        if ticks.len() < 3 {
            ticks = collect(&[1.0, 2.0, 5.0]);
        }
        Axis {
            lo,
            hi,
            scale: Scale::Log,
            ticks,
            categorical: false,
        }
    }

    fn categories(names: &[String]) -> Axis {
        Axis {
            lo: -0.5,
            hi: names.len().max(1) as f64 - 0.5,
            scale: Scale::Linear,
            ticks: names
                .iter()
                .enumerate()
                .map(|(i, n)| (i as f64, n.clone()))
                .collect(),
            categorical: true,
        }
    }

    fn frac(&self, v: f64) -> f64 {
        match self.scale {
            Scale::Linear => (v - self.lo) / (self.hi - self.lo),
            Scale::Log => (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10()),
        }
    }

    fn label(&self, v: f64) -> String {
        self.ticks
            .iter()
            .find(|(t, _)| t.to_bits() == v.to_bits())
            .map_or_else(|| format!("{v}"), |(_, l)| l.clone())
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let px = limit.0 as f64 + self.frac(*value) * (limit.1 - limit.0) as f64;
        if px.is_finite() {
            px.round().clamp(-1e6, 1e6) as i32
        } else {
            limit.0
        }
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            return Vec::new();
        }
        let max = hint.max_num_points();
        if max == 0 {
            return Vec::new();
        }
        let step = self.ticks.len().div_ceil(max).max(1);
        self.ticks.iter().step_by(step).map(|(v, _)| *v).collect()
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

// ------------------------------------------------------------ chart model

#[derive(Clone, Copy, Debug, PartialEq)]
struct Mark {
    x: f64,
    y: f64,
    err: Option<f64>,
}

#[derive(Clone, Debug)]
struct Layer {
    label: String,
    color: RGBColor,
    shape: usize,
    marks: Vec<Mark>,
    /// A baseline: drawn as a dashed line, in every plot style.
    dashed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Line,
    Bar,
    Dots { size: u32 },
}

#[derive(Clone, Debug)]
struct Chart {
    title: String,
    x_label: String,
    y_label: String,
    x: Axis,
    y: Axis,
    kind: Kind,
    layers: Vec<Layer>,
    legend_title: Option<String>,
}

fn draw_err<E: Display>(e: E) -> ReportError {
    ReportError::Draw(e.to_string())
}

fn ensure_font() -> Result<(), ReportError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT_TTF).is_ok());
    if ok { Ok(()) } else { Err(ReportError::Font) }
}

fn font(size: u32) -> TextStyle<'static> {
    TextStyle::from((FAMILY, size).into_font()).color(&BLACK)
}

/// Draws one marker of `shape` (circle, triangle, square, diamond, cross) centred at `at`.
fn draw_marker<DB, CT>(
    area: &DrawingArea<DB, CT>,
    at: CT::From,
    shape: usize,
    size: u32,
    color: RGBColor,
) -> Result<(), ReportError>
where
    DB: DrawingBackend,
    CT: plotters::coord::CoordTranslate,
    CT::From: Clone,
{
    let s = size as i32;
    let fill = color.filled();
    let base = EmptyElement::at(at);
    match shape % 5 {
        0 => area.draw(&(base + Circle::new((0, 0), size, fill))),
        1 => area.draw(&(base + TriangleMarker::new((0, 0), size + 1, fill))),
        2 => area.draw(&(base + Rectangle::new([(-s + 1, -s + 1), (s - 1, s - 1)], fill))),
        3 => area.draw(
            &(base + Polygon::new(vec![(0, -s - 1), (s + 1, 0), (0, s + 1), (-s - 1, 0)], fill)),
        ),
        _ => area.draw(&(base + Cross::new((0, 0), size, color.stroke_width(2)))),
    }
    .map_err(draw_err)
}

fn render<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
) -> Result<(), ReportError> {
    root.fill(&WHITE).map_err(draw_err)?;
    let body = if chart.title.is_empty() {
        root.clone()
    } else {
        root.titled(&chart.title, font(20)).map_err(draw_err)?
    };
    let legend = !chart.layers.is_empty()
        && (chart.legend_title.is_some() || chart.layers.iter().any(|l| l.dashed));
    let label_font = font(13);
    let (plot_area, legend_area) = if legend {
        let mut widest = 0u32;
        for l in &chart.layers {
            let (w, _) = root
                .estimate_text_size(&l.label, &label_font)
                .map_err(draw_err)?;
            widest = widest.max(w);
        }
        if let Some(t) = &chart.legend_title {
            let (w, _) = root.estimate_text_size(t, &label_font).map_err(draw_err)?;
            widest = widest.max(w.saturating_sub(34));
        }
        let width = (widest + 60).clamp(110, 300);
        let (p, l) = body.split_horizontally(WIDTH - width);
        (p, Some(l))
    } else {
        (body, None)
    };

    let mut cc = ChartBuilder::on(&plot_area)
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(chart.x.clone(), chart.y.clone())
        .map_err(draw_err)?;
    let xf = |v: &f64| chart.x.label(*v);
    let yf = |v: &f64| chart.y.label(*v);
    {
        let mut mesh = cc.configure_mesh();
        mesh.x_desc(chart.x_label.as_str())
            .y_desc(chart.y_label.as_str())
            .x_label_formatter(&xf)
            .y_label_formatter(&yf)
            .x_labels(chart.x.ticks.len().clamp(1, 30))
            .y_labels(chart.y.ticks.len().clamp(1, 30))
            .label_style(font(12))
            .axis_desc_style(font(14))
            .bold_line_style(GRID)
            .axis_style(BLACK);
        if chart.x.categorical {
            mesh.disable_x_mesh();
        }
        mesh.draw().map_err(draw_err)?;
    }
    let area = cc.plotting_area();
    let n_layers = chart.layers.iter().filter(|l| !l.dashed).count().max(1);
    for (li, layer) in chart.layers.iter().enumerate() {
        if layer.dashed {
            draw_baseline(area, layer)?;
            continue;
        }
        match chart.kind {
            Kind::Line => {
                if layer.marks.len() > 1 {
                    let pts: Vec<(f64, f64)> = layer.marks.iter().map(|m| (m.x, m.y)).collect();
                    area.draw(&PathElement::new(pts, layer.color.stroke_width(2)))
                        .map_err(draw_err)?;
                }
                for m in &layer.marks {
                    draw_error_bar(area, m, layer.color)?;
                    draw_marker(area, (m.x, m.y), layer.shape, 4, layer.color)?;
                }
            }
            Kind::Bar => {
                let group = 0.8;
                let w = group / n_layers as f64;
                let base = 0f64.clamp(chart.y.lo, chart.y.hi);
                for m in &layer.marks {
                    let c = m.x - group / 2.0 + (li as f64 + 0.5) * w;
                    let (x0, x1) = (c - w * 0.45, c + w * 0.45);
                    area.draw(&Rectangle::new(
                        [(x0, base), (x1, m.y)],
                        layer.color.filled(),
                    ))
                    .map_err(draw_err)?;
                    if let Some(e) = m.err {
                        area.draw(&ErrorBar::new_vertical(
                            c,
                            m.y - e,
                            m.y,
                            m.y + e,
                            BLACK.stroke_width(1),
                            6,
                        ))
                        .map_err(draw_err)?;
                    }
                }
            }
            Kind::Dots { size } => {
                for m in &layer.marks {
                    draw_marker(area, (m.x, m.y), layer.shape, size, layer.color)?;
                }
            }
        }
    }
    if chart.layers.iter().all(|l| l.marks.is_empty()) {
        let (w, h) = plot_area.dim_in_pixel();
        let style = font(18)
            .color(&RGBColor(0x77, 0x77, 0x77))
            .pos(Pos::new(HPos::Center, VPos::Center));
        plot_area
            .draw_text("no data", &style, (w as i32 / 2, h as i32 / 2))
            .map_err(draw_err)?;
    }
    if let Some(legend_area) = legend_area {
        draw_legend(&legend_area, chart, &label_font)?;
    }
    Ok(())
}

/// A baseline layer: a dashed line through its marks, with their error bars.
fn draw_baseline<DB: DrawingBackend>(
    area: &DrawingArea<DB, Cartesian2d<Axis, Axis>>,
    layer: &Layer,
) -> Result<(), ReportError> {
    let pts: Vec<(f64, f64)> = layer.marks.iter().map(|m| (m.x, m.y)).collect();
    area.draw(&DashedPathElement::new(
        pts,
        7,
        5,
        layer.color.stroke_width(2),
    ))
    .map_err(draw_err)?;
    for m in &layer.marks {
        draw_error_bar(area, m, layer.color)?;
    }
    Ok(())
}

/// A mark's ± std error bar (if it has one) on a line or baseline, in its colour.
fn draw_error_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Cartesian2d<Axis, Axis>>,
    m: &Mark,
    color: RGBColor,
) -> Result<(), ReportError> {
    if let Some(e) = m.err {
        area.draw(&ErrorBar::new_vertical(
            m.x,
            m.y - e,
            m.y,
            m.y + e,
            color.stroke_width(1),
            8,
        ))
        .map_err(draw_err)?;
    }
    Ok(())
}

fn truncate_to<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle<'_>,
    max: u32,
) -> Result<String, ReportError> {
    let mut chars: Vec<char> = text.chars().collect();
    loop {
        let s: String = chars.iter().collect();
        let shown = if chars.len() < text.chars().count() {
            format!("{s}…")
        } else {
            s
        };
        let (w, _) = area.estimate_text_size(&shown, style).map_err(draw_err)?;
        if w <= max || chars.is_empty() {
            return Ok(shown);
        }
        chars.pop();
    }
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    style: &TextStyle<'_>,
) -> Result<(), ReportError> {
    let (w, h) = area.dim_in_pixel();
    let text_x = 40;
    let max_text = w.saturating_sub(text_x as u32 + 8);
    let mut y = 22;
    if let Some(t) = &chart.legend_title {
        let t = truncate_to(area, t, style, w.saturating_sub(16))?;
        area.draw_text(&t, &style.color(&RGBColor(0x44, 0x44, 0x44)), (8, y))
            .map_err(draw_err)?;
        y += 24;
    }
    let row = 20;
    let capacity = ((h as i32 - y - 10) / row).max(1) as usize;
    let n = chart.layers.len();
    let shown = if n > capacity { capacity - 1 } else { n };
    for layer in &chart.layers[..shown] {
        let cy = y + 7;
        if layer.dashed {
            area.draw(&DashedPathElement::new(
                vec![(8, cy), (32, cy)],
                5,
                3,
                layer.color.stroke_width(2),
            ))
            .map_err(draw_err)?;
        }
        match chart.kind {
            _ if layer.dashed => {}
            Kind::Line => {
                area.draw(&PathElement::new(
                    vec![(8, cy), (32, cy)],
                    layer.color.stroke_width(2),
                ))
                .map_err(draw_err)?;
                draw_marker(area, (20, cy), layer.shape, 4, layer.color)?;
            }
            Kind::Bar => {
                area.draw(&Rectangle::new(
                    [(12, cy - 6), (28, cy + 6)],
                    layer.color.filled(),
                ))
                .map_err(draw_err)?;
            }
            Kind::Dots { .. } => draw_marker(area, (20, cy), layer.shape, 4, layer.color)?,
        }
        let label = truncate_to(area, &layer.label, style, max_text)?;
        area.draw_text(&label, style, (text_x, y))
            .map_err(draw_err)?;
        y += row;
    }
    if shown < n {
        area.draw_text(&format!("… +{} more", n - shown), style, (text_x, y))
            .map_err(draw_err)?;
    }
    Ok(())
}

fn encode_png(rgb: &[u8]) -> Result<Vec<u8>, ReportError> {
    let png_err = |e: png::EncodingError| ReportError::Png(e.to_string());
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, WIDTH, HEIGHT);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(png_err)?;
        writer.write_image_data(rgb).map_err(png_err)?;
        writer.finish().map_err(png_err)?;
    }
    Ok(out)
}

fn figure(chart: &Chart) -> Result<Figure, ReportError> {
    ensure_font()?;
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        render(&root, chart)?;
        root.present().map_err(draw_err)?;
    }
    let png = encode_png(&rgb)?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        render(&root, chart)?;
        root.present().map_err(draw_err)?;
    }
    Ok(Figure { png, svg })
}

/// The y axis covering every mark and its error bar (from 0 for bars).
fn y_axis(layers: &[Layer], from_zero: bool) -> Axis {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for m in layers.iter().flat_map(|l| &l.marks) {
        let e = m.err.unwrap_or(0.0);
        lo = lo.min(m.y - e);
        hi = hi.max(m.y + e);
    }
    if !(lo.is_finite() && hi.is_finite()) {
        return Axis::linear(0.0, 1.0);
    }
    if from_zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    let (mut plo, mut phi) = padded(lo, hi, 0.06);
    if from_zero {
        if lo >= 0.0 {
            plo = 0.0;
        }
        if hi <= 0.0 {
            phi = 0.0;
        }
    }
    Axis::linear(plo, phi)
}

// ------------------------------------------------------------ public entry points

/// Draws `spec` from `rows` (only rows of the metric's evaluation that carry the metric and the x axis).
///
/// A line or scatter plot whose x values are not all numbers puts them on a
/// categorical axis instead; bars always do.
pub fn plot(rows: &[ResultRow], spec: &PlotSpec) -> Result<Figure, ReportError> {
    let all = samples(rows, &spec.metric)?;
    let references = spec
        .baselines
        .iter()
        .map(|m| Ok((m.as_str(), samples(rows, m)?)))
        .collect::<Result<Vec<_>, ReportError>>()?;
    // One unit for the whole y axis: percent only when every metric on it is one.
    let percent = is_percent(&spec.metric, all.iter().map(|s| s.value))
        && references
            .iter()
            .all(|(m, ss)| is_percent(m, ss.iter().map(|s| s.value)));
    let scale = if percent { 100.0 } else { 1.0 };
    let data: Vec<(Sample<'_>, AxisValue)> = all
        .into_iter()
        .filter(|s| s.value.is_finite())
        .filter_map(|s| axis_value(s.row, &spec.x).map(|x| (s, AxisValue(Some(x)))))
        .collect();
    let numeric = spec.style != Style::Bar
        && !data.is_empty()
        && data.iter().all(|(_, x)| x.number().is_some());
    let categories: Vec<AxisValue> = data
        .iter()
        .map(|(_, x)| x.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let x_of = |x: &AxisValue| -> f64 {
        if numeric {
            x.number().unwrap_or(0.0)
        } else {
            categories.binary_search(x).unwrap_or(0) as f64
        }
    };
    let mut groups: BTreeMap<Vec<AxisValue>, BTreeMap<AxisValue, Vec<Sample<'_>>>> =
        BTreeMap::new();
    for (s, x) in &data {
        groups
            .entry(axis_values(s.row, &spec.series))
            .or_default()
            .entry(x.clone())
            .or_default()
            .push(*s);
    }
    let mut layers = Vec::new();
    for (i, (key, by_x)) in groups.into_iter().enumerate() {
        let label: Vec<&str> = key.iter().map(AxisValue::display).collect();
        let mut marks = Vec::new();
        for (x, mut ss) in by_x {
            ss.sort_by(super::results::cmp_samples);
            let values: Vec<f64> = ss.iter().map(|s| s.value * scale).collect();
            if spec.style == Style::Scatter {
                marks.extend(values.iter().map(|&y| Mark {
                    x: x_of(&x),
                    y,
                    err: None,
                }));
            } else if let Some(st) = stats(&values) {
                marks.push(Mark {
                    x: x_of(&x),
                    y: st.mean,
                    err: st.std.filter(|e| e.is_finite() && *e > 0.0),
                });
            }
        }
        layers.push(Layer {
            label: if spec.series.is_empty() {
                spec.metric.clone()
            } else {
                label.join(" / ")
            },
            color: SERIES_COLORS[i % SERIES_COLORS.len()],
            shape: i % 5,
            marks,
            dashed: false,
        });
    }
    let x = if data.is_empty() {
        Axis::linear(0.0, 1.0)
    } else if numeric {
        let xs = layers.iter().flat_map(|l| &l.marks).map(|m| m.x);
        let lo = xs.clone().fold(f64::INFINITY, f64::min);
        let hi = xs.fold(f64::NEG_INFINITY, f64::max);
        if lo > 0.0 && hi / lo >= 100.0 {
            let f = 10f64.powf(0.04 * (hi / lo).log10());
            Axis::log(lo / f, hi * f)
        } else {
            let (lo, hi) = padded(lo, hi, 0.04);
            Axis::linear(lo, hi)
        }
    } else {
        let names: Vec<String> = categories.iter().map(|c| c.display().to_string()).collect();
        Axis::categories(&names)
    };
    let xs: BTreeSet<u64> = layers
        .iter()
        .flat_map(|l| &l.marks)
        .map(|m| m.x.to_bits())
        .collect();
    let main_xs: Vec<f64> = xs.into_iter().map(f64::from_bits).collect();
    for (i, (metric, ss)) in references.iter().enumerate() {
        let finite: Vec<&Sample<'_>> = ss.iter().filter(|s| s.value.is_finite()).collect();
        // Against x where every row carries an x value this plot shows; else level.
        let placed: Option<Vec<(f64, f64)>> = finite
            .iter()
            .map(|s| {
                let x = AxisValue(axis_value(s.row, &spec.x));
                let at = if numeric {
                    x.number()
                } else {
                    categories.binary_search(&x).ok().map(|c| c as f64)
                };
                at.map(|at| (at, s.value * scale))
            })
            .collect();
        let marks = match placed {
            Some(points) if !points.is_empty() => {
                let mut by_x: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
                for (x, y) in points {
                    by_x.entry(x.to_bits()).or_default().push(y);
                }
                let mut marks: Vec<Mark> = by_x
                    .into_iter()
                    .filter_map(|(x, ys)| {
                        stats(&ys).map(|st| Mark {
                            x: f64::from_bits(x),
                            y: st.mean,
                            err: st.std.filter(|e| e.is_finite() && *e > 0.0),
                        })
                    })
                    .collect();
                marks.sort_by(|a, b| a.x.total_cmp(&b.x));
                marks
            }
            _ => {
                let ys: Vec<f64> = finite.iter().map(|s| s.value * scale).collect();
                match stats(&ys) {
                    Some(st) => {
                        let err = st.std.filter(|e| e.is_finite() && *e > 0.0);
                        let level = |x: f64, err: Option<f64>| Mark { x, y: st.mean, err };
                        let mut marks = vec![level(x.lo, None)];
                        marks.extend(main_xs.iter().map(|&x| level(x, err)));
                        marks.push(level(x.hi, None));
                        marks
                    }
                    None => vec![],
                }
            }
        };
        layers.push(Layer {
            label: format!("{metric} (baseline)"),
            color: BASELINE_COLORS[i % BASELINE_COLORS.len()],
            shape: i % 5,
            marks,
            dashed: true,
        });
    }
    let kind = match spec.style {
        Style::Line => Kind::Line,
        Style::Bar => Kind::Bar,
        Style::Scatter => Kind::Dots { size: 4 },
    };
    let y = y_axis(&layers, kind == Kind::Bar);
    let x_label = axis_key(&spec.x).to_string();
    let y_label = if percent {
        format!("{} (%)", spec.metric)
    } else {
        spec.metric.clone()
    };
    let title = if spec.title.is_empty() {
        format!("{} vs {}", spec.metric, x_label)
    } else {
        spec.title.clone()
    };
    let legend_title = (!spec.series.is_empty()).then(|| {
        spec.series
            .iter()
            .map(|s| axis_key(s))
            .collect::<Vec<_>>()
            .join(" / ")
    });
    figure(&Chart {
        title,
        x_label,
        y_label,
        x,
        y,
        kind,
        layers,
        legend_title,
    })
}

/// Draws a 2-D embedding (e.g. t-SNE) with one colour per label and a legend; non-finite points are skipped.
pub fn scatter_2d(points: &[[f32; 2]], labels: &[u32], title: &str) -> Result<Figure, ReportError> {
    if points.len() != labels.len() {
        return Err(ReportError::LengthMismatch {
            points: points.len(),
            labels: labels.len(),
        });
    }
    let mut by_label: BTreeMap<u32, Vec<Mark>> = BTreeMap::new();
    for (p, &l) in points.iter().zip(labels) {
        let (x, y) = (f64::from(p[0]), f64::from(p[1]));
        if x.is_finite() && y.is_finite() {
            by_label
                .entry(l)
                .or_default()
                .push(Mark { x, y, err: None });
        }
    }
    let layers: Vec<Layer> = by_label
        .into_iter()
        .map(|(l, marks)| Layer {
            label: l.to_string(),
            color: LABEL_COLORS[l as usize % LABEL_COLORS.len()],
            shape: (l as usize / LABEL_COLORS.len()) % 5,
            marks,
            dashed: false,
        })
        .collect();
    let bounds = |f: fn(&Mark) -> f64| {
        let vs = layers.iter().flat_map(|l| &l.marks).map(f);
        let lo = vs.clone().fold(f64::INFINITY, f64::min);
        let hi = vs.fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() {
            let (lo, hi) = padded(lo, hi, 0.05);
            Axis::linear(lo, hi)
        } else {
            Axis::linear(0.0, 1.0)
        }
    };
    let x = bounds(|m| m.x);
    let y = bounds(|m| m.y);
    figure(&Chart {
        title: title.to_string(),
        x_label: "dimension 1".into(),
        y_label: "dimension 2".into(),
        x,
        y,
        kind: Kind::Dots { size: 3 },
        legend_title: (!layers.is_empty()).then(|| "label".to_string()),
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn decode(png: &[u8]) -> image::RgbImage {
        image::load_from_memory_with_format(png, image::ImageFormat::Png)
            .expect("PNG decodes")
            .to_rgb8()
    }

    fn check(fig: &Figure) -> image::RgbImage {
        let img = decode(&fig.png);
        assert_eq!((img.width(), img.height()), (WIDTH, HEIGHT));
        assert!(fig.svg.contains("<svg"));
        assert!(fig.svg.contains("</svg>"));
        img
    }

    /// Pixels that are neither white nor grey: drawn data.
    fn coloured_pixels(img: &image::RgbImage) -> usize {
        img.pixels()
            .filter(|p| {
                let [r, g, b] = p.0;
                r.max(g).max(b) - r.min(g).min(b) > 40
            })
            .count()
    }

    fn row(method: &str, policy: &str, frac: &str, seed: u64, top1: f64) -> ResultRow {
        let axes: BTreeMap<String, String> = [
            ("method", method),
            ("policy", policy),
            ("label_fraction", frac),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        ResultRow {
            arm: format!("lin[method={method},policy={policy},label_fraction={frac}]"),
            decl: "lin".into(),
            axes,
            kind: "linear_probe".into(),
            eval: "linear_probe(solver=lbfgs, l2=0.0001)".into(),
            seed,
            metrics: [("top1".to_string(), top1)].into_iter().collect(),
        }
    }

    fn sweep() -> Vec<ResultRow> {
        let mut rows = Vec::new();
        for (mi, method) in ["byol", "simclr"].iter().enumerate() {
            for (pi, policy) in ["simclr_cifar", "ssl_default"].iter().enumerate() {
                for (fi, frac) in ["0.01", "0.1", "1.0"].iter().enumerate() {
                    for seed in 0..3u64 {
                        let v = 0.4 + 0.15 * fi as f64 + 0.05 * mi as f64 - 0.03 * pi as f64
                            + 0.01 * seed as f64;
                        rows.push(row(method, policy, frac, seed, v));
                    }
                }
            }
        }
        rows
    }

    fn spec(style: Style, series: &[&str]) -> PlotSpec {
        PlotSpec {
            title: "Linear probe vs label fraction".into(),
            metric: "lin.top1".into(),
            x: "lin.label_fraction".into(),
            series: series.iter().map(|s| s.to_string()).collect(),
            baselines: vec![],
            style,
        }
    }

    /// Rows of a baseline evaluation `decl` at `top1` per seed, swept over
    /// `label_fraction` when `fracs` is not empty.
    fn baseline_rows(decl: &str, fracs: &[(&str, f64)], seeds: u64) -> Vec<ResultRow> {
        let points: Vec<(Option<&str>, f64)> = if fracs.is_empty() {
            vec![(None, 0.3)]
        } else {
            fracs.iter().map(|&(f, v)| (Some(f), v)).collect()
        };
        let mut rows = Vec::new();
        for (frac, v) in points {
            for seed in 0..seeds {
                let axes: BTreeMap<String, String> = frac
                    .map(|f| ("label_fraction".to_string(), f.to_string()))
                    .into_iter()
                    .collect();
                rows.push(ResultRow {
                    arm: format!("{decl}[{frac:?}]"),
                    decl: decl.into(),
                    axes,
                    kind: "knn".into(),
                    eval: "knn(k=20)".into(),
                    seed,
                    metrics: [("top1".to_string(), v + 0.02 * seed as f64)]
                        .into_iter()
                        .collect(),
                });
            }
        }
        rows
    }

    /// Pixels of exactly `c`.
    fn pixels_of(img: &image::RgbImage, c: RGBColor) -> usize {
        img.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count()
    }

    #[test]
    fn baselines_are_dashed_grey_lines_against_x_or_level() {
        let mut rows = sweep();
        rows.extend(baseline_rows(
            "raw",
            &[("0.01", 0.2), ("0.1", 0.3), ("1.0", 0.5)],
            3,
        ));
        rows.extend(baseline_rows("scratch", &[], 3));
        let mut s = spec(Style::Line, &["ssl.method"]);
        s.baselines = vec!["raw.top1".into(), "scratch.top1".into()];
        let fig = plot(&rows, &s).unwrap();
        let img = check(&fig);
        assert!(fig.svg.contains("raw.top1 (baseline)"));
        assert!(fig.svg.contains("scratch.top1 (baseline)"));
        // Both greys are drawn (lines, error bars and legend entries); without
        // baselines only anti-aliased text has those shades.
        let plain = check(&plot(&rows, &spec(Style::Line, &["ssl.method"])).unwrap());
        for c in &BASELINE_COLORS[..2] {
            assert!(pixels_of(&img, *c) > pixels_of(&plain, *c) + 100);
        }
        // Bars draw the baselines over the groups too; deterministic.
        let mut b = s.clone();
        b.style = Style::Bar;
        let bars = plot(&rows, &b).unwrap();
        assert!(pixels_of(&check(&bars), BASELINE_COLORS[0]) > 100);
        assert_eq!(bars, plot(&rows, &b).unwrap());
    }

    #[test]
    fn a_baseline_alone_gets_a_legend_naming_the_metric() {
        let mut rows = sweep();
        rows.extend(baseline_rows("scratch", &[], 1));
        let mut s = spec(Style::Line, &[]);
        s.baselines = vec!["scratch.top1".into()];
        let fig = plot(&rows, &s).unwrap();
        check(&fig);
        assert!(fig.svg.contains("scratch.top1 (baseline)"));
        assert!(fig.svg.contains("lin.top1 (%)"));
        // A malformed baseline metric is an error, not a panic.
        s.baselines = vec!["nodot".into()];
        assert!(plot(&rows, &s).is_err());
    }

    #[test]
    fn line_plot_with_log_axis_error_bars_and_legend() {
        let fig = plot(&sweep(), &spec(Style::Line, &["ssl.method", "ssl.policy"])).unwrap();
        let img = check(&fig);
        assert!(coloured_pixels(&img) > 500);
        assert!(fig.svg.contains("byol / simclr_cifar"));
        assert!(fig.svg.contains("method / policy"));
        assert!(fig.svg.contains("lin.top1 (%)"));
        // A log axis: decades 0.01, 0.1, 1 are tick labels.
        assert!(fig.svg.contains("\n0.01\n"));
        // Deterministic.
        assert_eq!(
            plot(&sweep(), &spec(Style::Line, &["ssl.method", "ssl.policy"])).unwrap(),
            fig
        );
        let mut reversed = sweep();
        reversed.reverse();
        assert_eq!(
            plot(&reversed, &spec(Style::Line, &["ssl.method", "ssl.policy"])).unwrap(),
            fig
        );
    }

    #[test]
    fn bar_plot_groups_and_error_bars() {
        let mut s = spec(Style::Bar, &["ssl.method"]);
        s.x = "ssl.policy".into();
        let fig = plot(&sweep(), &s).unwrap();
        let img = check(&fig);
        assert!(coloured_pixels(&img) > 2000);
        assert!(fig.svg.contains("simclr_cifar"));
    }

    #[test]
    fn scatter_plot() {
        let fig = plot(&sweep(), &spec(Style::Scatter, &["ssl.policy"])).unwrap();
        let img = check(&fig);
        assert!(coloured_pixels(&img) > 200);
    }

    #[test]
    fn non_numeric_x_on_a_line_plot_becomes_categorical() {
        let mut s = spec(Style::Line, &[]);
        s.x = "ssl.policy".into();
        let fig = plot(&sweep(), &s).unwrap();
        check(&fig);
        assert!(fig.svg.contains("ssl_default"));
    }

    #[test]
    fn nan_single_point_and_empty_do_not_panic() {
        let mut rows = vec![row("byol", "p", "0.1", 0, f64::NAN)];
        for style in [Style::Line, Style::Bar, Style::Scatter] {
            // Only NaN: nothing to draw.
            let fig = plot(&rows, &spec(style, &["ssl.method"])).unwrap();
            check(&fig);
            assert!(fig.svg.contains("no data"));
            // Empty input.
            check(&plot(&[], &spec(style, &[])).unwrap());
        }
        rows.push(row("byol", "p", "0.1", 1, 0.5));
        rows.push(row("simclr", "p", "0.5", 0, f64::INFINITY));
        rows.push(row("simclr", "p", "1.0", 0, 0.7));
        for style in [Style::Line, Style::Bar, Style::Scatter] {
            let fig = plot(&rows, &spec(style, &["ssl.method"])).unwrap();
            let img = check(&fig);
            assert!(coloured_pixels(&img) > 20, "{style:?}");
            assert!(!fig.svg.contains("no data"));
        }
        // Equal values everywhere and a zero metric.
        let flat = vec![row("a", "p", "0.5", 0, 0.0), row("a", "p", "0.5", 1, 0.0)];
        check(&plot(&flat, &spec(Style::Line, &[])).unwrap());
        check(&plot(&flat, &spec(Style::Bar, &[])).unwrap());
        assert_eq!(
            plot(
                &rows,
                &PlotSpec {
                    metric: "top1".into(),
                    ..spec(Style::Line, &[])
                }
            ),
            Err(ReportError::BadMetric("top1".into()))
        );
    }

    #[test]
    fn scatter_2d_colours_labels() {
        let mut points = Vec::new();
        let mut labels = Vec::new();
        for l in 0..25u32 {
            for i in 0..8 {
                let a = l as f32 * 0.25 + i as f32 * 0.01;
                points.push([a.cos() * (5.0 + i as f32), a.sin() * (5.0 + i as f32)]);
                labels.push(l);
            }
        }
        points.push([f32::NAN, 1.0]);
        labels.push(3);
        let fig = scatter_2d(&points, &labels, "t-SNE of the test set").unwrap();
        let img = check(&fig);
        assert!(coloured_pixels(&img) > 1000);
        assert!(fig.svg.contains("t-SNE of the test set"));
        assert_eq!(
            scatter_2d(&points, &labels, "t-SNE of the test set").unwrap(),
            fig
        );
        check(&scatter_2d(&[], &[], "").unwrap());
        check(&scatter_2d(&[[1.0, 1.0]], &[0], "one").unwrap());
        assert_eq!(
            scatter_2d(&[[0.0, 0.0]], &[], "x"),
            Err(ReportError::LengthMismatch {
                points: 1,
                labels: 0
            })
        );
    }

    #[test]
    fn axis_ticks() {
        let a = Axis::linear(0.0, 1.0);
        let labels: Vec<&str> = a.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let l = Axis::log(0.008, 1.2);
        let labels: Vec<&str> = l.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0.01", "0.1", "1"]);
        let l = Axis::log(0.09, 1.2);
        let labels: Vec<&str> = l.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0.1", "0.2", "0.5", "1"]);
        let big = Axis::linear(0.0, 3e6);
        assert_eq!(big.ticks[1].1, "5.00e5");
        let tiny = Axis::linear(1.0, 1.0 + 1e-9);
        assert!(tiny.ticks.len() > 2);
    }
}
