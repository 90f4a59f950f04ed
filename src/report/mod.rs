//! Reports: the tables and figures researchers put in papers.
//!
//! Every report reads [`ResultRow`]s, one per evaluated arm. A report names
//! axes as the pipeline writes them (`ssl.method`, `lin.label_fraction`) and
//! matches them on the rows' swept parameter names ([`axis_key`], [`axis_covers`]); it names
//! metrics `decl.metric` (`lin.top1`), which select the rows of evaluation
//! `decl` ([`metric_parts`]).
//!
//! - [`table`]: one line per arm, or a pivot over axes with seeds
//!   aggregated to mean ± std; Markdown, CSV, JSON and HTML.
//! - [`plot`]: line, bar and scatter figures and 2-D embeddings, as PNG and
//!   SVG, drawn with an embedded font (no system font needed).
//! - [`health`]: the training-health table of pretraining arms (loss,
//!   embedding std, alignment, uniformity, kNN monitor, collapse).
//! - [`html`]: one self-contained page showing tables and figures together.
//!
//! Output is deterministic: the same rows, in any order, give byte-identical
//! files. Bad data (NaN, missing values, empty input) never panics.

pub mod health;
pub mod html;
pub mod plot;
pub mod results;
pub mod table;

pub use html::Section;
pub use plot::{Figure, PlotSpec, Style, scatter_2d};
pub use results::{ReportError, ResultRow, Stats, axis_covers, axis_key, metric_parts};
pub use table::{Table, TableSpec};
