//! The schema registry: every kind the language can name, declared once.
//!
//! A kind (an augmentation op, a method, a backbone, ...) lists its
//! parameters with type, default, allowed range and a one-line doc. The
//! checker, the formatter's docs, `sslp explain` and the README all read this
//! table, so there is exactly one place where a parameter is defined.
//!
//! Defaults are written as `.sslp` source snippets (`"0.08..1.0"`,
//! `"sgd()"`) and checked like user input, so a default can never have a
//! type the user could not write. Reference values come from
//! `reference/ssl-anchors.md` (solo-learn, lightly, the papers) and
//! `reference/saliency.md` (Cheng et al.'s released code).
//!
//! This module holds the shared vocabulary (what a [`Kind`], a [`Param`], a
//! [`Ty`] and a [`Bound`] are, and the `const` helpers the tables are written
//! with), the lookup API and the aggregate of all tables. The tables
//! themselves live one category per file:
//!
//! - `settings`: the pipeline-wide `set` settings;
//! - `executors`: where steps run (`local`, `slurm`) and what a step's job
//!   asks for (`resources`);
//! - `datasets`: image sources and the `split { ... }` block;
//! - `ops`: augmentation ops;
//! - `views`: view specs (`view`, `multicrop`);
//! - `methods`: SSL methods and how each differs from its reference recipe;
//! - `backbones`: networks (and the `raw_pixels` baseline);
//! - `optim`: optimisers and learning-rate schedules;
//! - `pretrain`: the `pretrain { ... }` block;
//! - `evals`: downstream evaluations and their metrics;
//! - `reports`: tables, plots and previews;
//! - `explain`: the rendering of a kind for `sslp explain`.
//!
//! Order is observable: [`all_kinds`] chains the tables in the order docs
//! list the categories, and a table's order is the order `sslp explain` and
//! the README list its kinds (and the order in which the first of two equal
//! names would win a lookup).

mod backbones;
mod datasets;
mod evals;
mod executors;
mod explain;
mod methods;
mod ops;
mod optim;
mod pretrain;
mod reports;
mod settings;
mod views;

pub use datasets::SPLIT_MEMBERS;
pub use executors::{ON_DEVICE, RESOURCE_SLOTS};
pub use explain::explain;
pub use methods::deviations;

/// What a kind produces; decides where it may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// An image source (`cifar10`, `image_folder`, ...).
    Dataset,
    /// The `split { ... }` block.
    Split,
    /// An augmentation op (`color_jitter`, `saliency_cut`, ...).
    Op,
    /// A view spec (`view`, `multicrop`).
    View,
    /// An SSL method (`simclr`, `byol`, ...).
    Method,
    /// A network (`resnet18`, `vit_tiny`, ...).
    Backbone,
    /// An optimiser (`sgd`, `lars`, `adamw`).
    Optimizer,
    /// A learning-rate schedule (`cosine`, ...).
    Schedule,
    /// The `pretrain { ... }` block.
    Pretrain,
    /// A downstream evaluation (`linear_probe`, `knn`, ...).
    Eval,
    /// A report (`table`, `plot`).
    Report,
    /// Pipeline-wide `set` settings.
    Settings,
    /// Where steps run (`local`, `slurm`): the value of `set executor`.
    Executor,
    /// What one step's job asks for (`resources`).
    Resources,
}

impl Category {
    /// A noun for messages: "an augmentation op".
    pub fn noun(self) -> &'static str {
        match self {
            Category::Dataset => "a dataset",
            Category::Split => "a split",
            Category::Op => "an augmentation op",
            Category::View => "a view spec",
            Category::Method => "an SSL method",
            Category::Backbone => "a backbone",
            Category::Optimizer => "an optimizer",
            Category::Schedule => "a learning-rate schedule",
            Category::Pretrain => "a pretraining run",
            Category::Eval => "an evaluation",
            Category::Report => "a report",
            Category::Settings => "a setting",
            Category::Executor => "an executor",
            Category::Resources => "a resource request",
        }
    }

    /// Heading used by `sslp explain` and the README.
    pub fn title(self) -> &'static str {
        match self {
            Category::Dataset => "Datasets",
            Category::Split => "Splits",
            Category::Op => "Augmentation ops",
            Category::View => "Views",
            Category::Method => "SSL methods",
            Category::Backbone => "Backbones",
            Category::Optimizer => "Optimizers",
            Category::Schedule => "Schedules",
            Category::Pretrain => "Pretraining",
            Category::Eval => "Evaluations",
            Category::Report => "Reports",
            Category::Settings => "Settings",
            Category::Executor => "Executors",
            Category::Resources => "Resources",
        }
    }

    /// Every category, in the order docs list them.
    pub const ALL: [Category; 14] = [
        Category::Settings,
        Category::Executor,
        Category::Resources,
        Category::Dataset,
        Category::Split,
        Category::Op,
        Category::View,
        Category::Method,
        Category::Backbone,
        Category::Optimizer,
        Category::Schedule,
        Category::Pretrain,
        Category::Eval,
        Category::Report,
    ];
}

/// The type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ty {
    /// A whole number.
    Int,
    /// A real number (an integer literal is accepted).
    Float,
    /// `true` / `false`.
    Bool,
    /// A string (paths, names).
    Str,
    /// A closed interval `lo..hi` of reals.
    Range,
    /// One of a fixed set of words, written bare (`cosine`) or quoted.
    Enum(&'static [&'static str]),
    /// A count (integer >= 1) or a fraction (real in (0, 1]).
    Amount,
    /// A list of the inner type.
    List(&'static Ty),
    /// A call of a kind of this category, or a name declared as one.
    Kind(Category),
    /// An augmentation policy: a list of `op @ p`, `++` concatenations, policy names.
    Policy,
    /// Images: a dataset name or a split member such as `pv.train`.
    Data,
    /// A feature extractor: a pretraining run's name, or a backbone (random init).
    Encoder,
    /// A metric of an evaluation, `seg.miou`, or a list of them.
    Metric,
    /// A swept parameter, `ssl.method`, or a list of them.
    Axis,
    /// A view spec or a list of them.
    Views,
    /// `cpu`, `cuda` or `"cuda:N"`.
    Device,
    /// A memory size as `sbatch --mem` reads it: `"512M"`, `"32G"` ([`crate::lang::quantity`]).
    Memory,
    /// A duration: a Slurm `--time` form or `"30m"`, `"4h"`, `"1d12h"` ([`crate::lang::quantity`]).
    Duration,
    /// Anything (the right-hand side of `let`).
    Any,
}

impl Ty {
    /// How the type reads in messages and docs.
    pub fn describe(&self) -> String {
        match self {
            Ty::Int => "integer".into(),
            Ty::Float => "number".into(),
            Ty::Bool => "boolean".into(),
            Ty::Str => "string".into(),
            Ty::Range => "range lo..hi".into(),
            Ty::Enum(opts) => format!("one of {}", opts.join(" | ")),
            Ty::Amount => "count or fraction".into(),
            Ty::List(inner) => format!("list of {}", inner.describe()),
            Ty::Kind(c) => c
                .noun()
                .trim_start_matches("a ")
                .trim_start_matches("an ")
                .to_string(),
            Ty::Policy => "policy".into(),
            Ty::Data => "data (dataset or split part)".into(),
            Ty::Encoder => "pretrain run or backbone".into(),
            Ty::Metric => "metric (eval.metric)".into(),
            Ty::Axis => "swept parameter (decl.field)".into(),
            Ty::Views => "view spec(s)".into(),
            Ty::Device => "device (cpu | cuda | \"cuda:N\")".into(),
            Ty::Memory => "memory size (\"512M\", \"32G\")".into(),
            Ty::Duration => "duration (\"30m\", \"4h\", \"1-12:00:00\")".into(),
            Ty::Any => "any value".into(),
        }
    }
}

/// Allowed numeric range of a parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    /// Lower end.
    pub lo: f64,
    /// Whether `lo` itself is allowed.
    pub lo_incl: bool,
    /// Upper end.
    pub hi: f64,
    /// Whether `hi` itself is allowed.
    pub hi_incl: bool,
}

impl Bound {
    /// No restriction.
    pub const ANY: Bound = Bound::new(f64::NEG_INFINITY, true, f64::INFINITY, true);
    /// Strictly positive.
    pub const POS: Bound = Bound::new(0.0, false, f64::INFINITY, true);
    /// Zero or more.
    pub const NONNEG: Bound = Bound::new(0.0, true, f64::INFINITY, true);
    /// A probability, [0, 1].
    pub const PROB: Bound = Bound::new(0.0, true, 1.0, true);
    /// A fraction, (0, 1].
    pub const FRACTION: Bound = Bound::new(0.0, false, 1.0, true);
    /// A momentum-like factor, [0, 1).
    pub const UNIT_OPEN: Bound = Bound::new(0.0, true, 1.0, false);
    /// One or more.
    pub const ONE_PLUS: Bound = Bound::new(1.0, true, f64::INFINITY, true);
    /// Two or more.
    pub const TWO_PLUS: Bound = Bound::new(2.0, true, f64::INFINITY, true);

    /// A bound from its ends.
    pub const fn new(lo: f64, lo_incl: bool, hi: f64, hi_incl: bool) -> Self {
        Bound {
            lo,
            lo_incl,
            hi,
            hi_incl,
        }
    }

    /// Whether `v` is allowed.
    pub fn contains(&self, v: f64) -> bool {
        let above = if self.lo_incl {
            v >= self.lo
        } else {
            v > self.lo
        };
        let below = if self.hi_incl {
            v <= self.hi
        } else {
            v < self.hi
        };
        above && below
    }

    /// True when the bound restricts nothing.
    pub fn is_any(&self) -> bool {
        self.lo == f64::NEG_INFINITY && self.hi == f64::INFINITY
    }

    /// Interval notation, e.g. `[0, 1]`, `> 0`.
    pub fn describe(&self) -> String {
        let lo_inf = self.lo == f64::NEG_INFINITY;
        let hi_inf = self.hi == f64::INFINITY;
        match (lo_inf, hi_inf) {
            (true, true) => "any value".into(),
            (false, true) => format!("{} {}", if self.lo_incl { ">=" } else { ">" }, self.lo),
            (true, false) => format!("{} {}", if self.hi_incl { "<=" } else { "<" }, self.hi),
            (false, false) => format!(
                "{}{}, {}{}",
                if self.lo_incl { "[" } else { "(" },
                self.lo,
                self.hi,
                if self.hi_incl { "]" } else { ")" }
            ),
        }
    }
}

/// A parameter's default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Default {
    /// Must be given.
    Required,
    /// May be left out; then it has no value (or a value derived elsewhere, as the doc says).
    Optional,
    /// This `.sslp` expression.
    Src(&'static str),
}

/// One parameter of a kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Param {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub ty: Ty,
    /// Its default.
    pub default: Default,
    /// Allowed numeric range (for numbers, ranges, lists of numbers).
    pub bound: Bound,
    /// One-line doc.
    pub doc: &'static str,
    /// Whether it enters the step key. Execution-only knobs (device, checkpoint cadence) do not.
    pub in_key: bool,
    /// When it has an effect, given a sibling parameter (`None`: always). Where the condition
    /// fails the checker warns about a written value and the planner leaves it out of the key.
    pub applies_when: Option<When>,
}

/// A condition on a sibling parameter of the same call, under which a parameter has an effect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum When {
    /// The sibling (an enum) is one of these words.
    Eq(&'static str, &'static [&'static str]),
    /// The sibling (a number) is greater than zero.
    Positive(&'static str),
}

/// A sibling value as far as a [`When`] condition is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SiblingValue<'a> {
    /// An enum word or string.
    Word(&'a str),
    /// A number.
    Number(f64),
}

impl When {
    /// The sibling parameter the condition reads.
    pub fn sibling(&self) -> &'static str {
        match self {
            When::Eq(s, _) | When::Positive(s) => s,
        }
    }

    /// Whether the condition holds for this sibling value (`None` when the value is of the wrong shape).
    pub fn holds(&self, v: SiblingValue<'_>) -> Option<bool> {
        match (self, v) {
            (When::Eq(_, words), SiblingValue::Word(w)) => Some(words.contains(&w)),
            (When::Positive(_), SiblingValue::Number(x)) => Some(x > 0.0),
            _ => None,
        }
    }

    /// How the condition reads in docs: "only when `solver` is sgd".
    pub fn describe(&self) -> String {
        match self {
            When::Eq(s, words) => format!("only when `{s}` is {}", words.join(" or ")),
            When::Positive(s) => format!("only when `{s}` > 0"),
        }
    }
}

/// Extra facts about some kinds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Info {
    /// Nothing special.
    Plain,
    /// An augmentation op; `offline` ops are computed once per image and cached by content hash.
    Op {
        /// Expensive and deterministic: cached per image.
        offline: bool,
        /// Parameters of an offline op that are applied per draw and so stay out of the cache key.
        online_params: &'static [&'static str],
        /// Draws no randomness (`@ p` below 1 still does): an offline op after only such ops sees
        /// an image that is a function of the stored one, so its result can be cached.
        deterministic: bool,
        /// Applied when a batch enters the network, not as a policy step (`normalize`): `@ p`
        /// has no effect on it.
        model_input: bool,
    },
    /// An SSL method.
    Method {
        /// Accepts local (small) crops besides the two global views.
        multicrop: bool,
    },
    /// A backbone that is not a network (`raw_pixels`): it has nothing to train, so it may
    /// only stand where frozen features are read (the evaluations with `features: true`).
    FixedBackbone,
    /// An evaluation and the metrics it reports.
    Eval {
        /// Metric names (`seg.miou`).
        metrics: &'static [&'static str],
        /// Extracts frozen features first (all but segmentation).
        features: bool,
    },
}

/// A kind: something the language can call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kind {
    /// Its name, as called.
    pub name: &'static str,
    /// What it produces.
    pub category: Category,
    /// One-line doc.
    pub doc: &'static str,
    /// Parameters, in positional order.
    pub params: &'static [Param],
    /// Code version of the step that runs it; part of every key that uses it. Bump when results change.
    pub version: u32,
    /// Extra facts.
    pub info: Info,
}

impl Kind {
    /// A parameter by name.
    pub fn param(&self, name: &str) -> Option<(usize, &'static Param)> {
        self.params.iter().enumerate().find(|(_, p)| p.name == name)
    }

    /// Whether this op is computed offline (cached per image).
    pub fn is_offline(&self) -> bool {
        matches!(self.info, Info::Op { offline: true, .. })
    }

    /// Whether this backbone can be trained (every backbone but `raw_pixels`; true for other kinds).
    pub fn is_trainable(&self) -> bool {
        !matches!(self.info, Info::FixedBackbone)
    }

    /// Metrics of an evaluation (empty for other kinds).
    pub fn metrics(&self) -> &'static [&'static str] {
        match self.info {
            Info::Eval { metrics, .. } => metrics,
            _ => &[],
        }
    }
}

/// A parameter with every field given; it enters the step key and always applies.
const fn p(name: &'static str, ty: Ty, default: Default, bound: Bound, doc: &'static str) -> Param {
    Param {
        name,
        ty,
        default,
        bound,
        doc,
        in_key: true,
        applies_when: None,
    }
}

/// A required parameter.
const fn req(name: &'static str, ty: Ty, doc: &'static str) -> Param {
    p(name, ty, Default::Required, Bound::ANY, doc)
}

/// An optional parameter without a default value.
const fn opt(name: &'static str, ty: Ty, bound: Bound, doc: &'static str) -> Param {
    p(name, ty, Default::Optional, bound, doc)
}

/// A parameter with a default, written as `.sslp` source.
const fn d(
    name: &'static str,
    ty: Ty,
    src: &'static str,
    bound: Bound,
    doc: &'static str,
) -> Param {
    p(name, ty, Default::Src(src), bound, doc)
}

/// A parameter that has an effect only under `cond`.
const fn only(cond: When, param: Param) -> Param {
    Param {
        applies_when: Some(cond),
        ..param
    }
}

/// A parameter that changes how a step runs, not what it produces: kept out of the step key.
const fn exec_only(param: Param) -> Param {
    Param {
        in_key: false,
        ..param
    }
}

/// A kind with no extra facts, at version 1.
const fn kind(
    name: &'static str,
    category: Category,
    doc: &'static str,
    params: &'static [Param],
) -> Kind {
    Kind {
        name,
        category,
        doc,
        params,
        version: 1,
        info: Info::Plain,
    }
}

/// `k` with these extra facts.
const fn with_info(k: Kind, info: Info) -> Kind {
    Kind { info, ..k }
}

// ------------------------------------------------------------------ lookup

/// Every callable kind, grouped by category.
pub fn all_kinds() -> impl Iterator<Item = &'static Kind> {
    datasets::DATASETS
        .iter()
        .chain(ops::OPS)
        .chain(views::VIEWS)
        .chain(methods::METHODS)
        .chain(backbones::BACKBONES)
        .chain(optim::OPTIMIZERS)
        .chain(optim::SCHEDULES)
        .chain(evals::EVALS)
        .chain(reports::REPORTS)
        .chain(executors::EXECUTORS)
        .chain([&executors::RESOURCES])
}

/// Every kind including the block kinds (`split`, `pretrain`) and `settings`.
pub fn all_schemas() -> impl Iterator<Item = &'static Kind> {
    [&settings::SETTINGS, &datasets::SPLIT, &pretrain::PRETRAIN]
        .into_iter()
        .chain(all_kinds())
}

/// Kinds by name: the planner looks kinds up for every call of every arm.
type NameIndex = std::sync::LazyLock<std::collections::HashMap<&'static str, &'static Kind>>;

/// Name -> kind, the first of a name winning (as a linear search would).
fn index_by_name(
    kinds: impl Iterator<Item = &'static Kind>,
) -> std::collections::HashMap<&'static str, &'static Kind> {
    let mut index = std::collections::HashMap::new();
    for k in kinds {
        index.entry(k.name).or_insert(k);
    }
    index
}

/// A callable kind by name.
pub fn kind_named(name: &str) -> Option<&'static Kind> {
    static INDEX: NameIndex = NameIndex::new(|| index_by_name(all_kinds()));
    INDEX.get(name).copied()
}

/// A schema by name, block kinds and settings included (for `sslp explain`).
pub fn schema_named(name: &str) -> Option<&'static Kind> {
    static INDEX: NameIndex = NameIndex::new(|| index_by_name(all_schemas()));
    INDEX.get(name).copied()
}

/// The `set` settings schema.
pub fn settings() -> &'static Kind {
    &settings::SETTINGS
}

/// The `split { ... }` schema.
pub fn split() -> &'static Kind {
    &datasets::SPLIT
}

/// The `pretrain { ... }` schema.
pub fn pretrain() -> &'static Kind {
    &pretrain::PRETRAIN
}

/// The `resources(...)` schema: what one step's job asks for.
pub fn resources() -> &'static Kind {
    &executors::RESOURCES
}

/// Names of the callable kinds of one category, sorted.
pub fn names_in(category: Category) -> Vec<&'static str> {
    let mut v: Vec<_> = all_kinds()
        .filter(|k| k.category == category)
        .map(|k| k.name)
        .collect();
    v.sort_unstable();
    v
}

/// Closest names to `name` among `candidates`, for "did you mean".
///
/// An exact case-insensitive match wins; otherwise Jaro-Winkler similarity
/// >= 0.8 or edit distance <= max(1, len/3), best first, ties by name.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    let mut best: Option<(f64, &'a str)> = None;
    for c in candidates {
        if c.to_ascii_lowercase() == lower {
            return Some(c);
        }
        let dist = strsim::levenshtein(&lower, &c.to_ascii_lowercase());
        let sim = strsim::jaro_winkler(&lower, &c.to_ascii_lowercase());
        let close = dist <= (name.len() / 3).max(1) || sim >= 0.85;
        if !close {
            continue;
        }
        let better = match best {
            None => true,
            Some((s, n)) => sim > s || (sim == s && c < n),
        };
        if better {
            best = Some((sim, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = all_schemas().map(|k| k.name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(n, names.len());
    }

    #[test]
    fn no_kind_has_a_param_named_type_or_p() {
        // `type` and `p` are reserved keys of resolved values.
        for k in all_schemas() {
            for p in k.params {
                assert!(p.name != "type" && p.name != "p", "{}.{}", k.name, p.name);
            }
        }
    }

    #[test]
    fn mission_kinds_are_registered() {
        for name in [
            "simclr",
            "moco",
            "simsiam",
            "byol",
            "swav",
            "barlow_twins",
            "dino",
            "g_simclr",
            "resnet18",
            "resnet34",
            "resnet50",
            "vit_tiny",
            "tiny_convnet",
            "linear_probe",
            "knn",
            "kmeans",
            "tsne",
            "segmentation",
            "finetune",
            "raw_pixels",
            "cifar10",
            "cifar100",
            "stl10",
            "mnist",
            "image_folder",
            "synthetic_shapes",
            "saliency_cut",
            "solarize",
            "multicrop",
            "random_resized_crop",
            "rotate",
            "horizontal_flip",
            "vertical_flip",
            "color_jitter",
            "grayscale",
            "gaussian_blur",
        ] {
            assert!(kind_named(name).is_some(), "{name}");
        }
    }

    #[test]
    fn suggestions() {
        let ops = names_in(Category::Op);
        assert_eq!(
            suggest("colour_jitter", ops.iter().copied()),
            Some("color_jitter")
        );
        assert_eq!(suggest("GrayScale", ops.iter().copied()), Some("grayscale"));
        assert_eq!(suggest("zzzz", ops.iter().copied()), None);
    }

    #[test]
    fn conditions_name_a_sibling_of_a_fitting_type() {
        let mut n = 0;
        for k in all_schemas() {
            for p in k.params {
                let Some(cond) = p.applies_when else { continue };
                n += 1;
                let (_, sib) = k.param(cond.sibling()).unwrap_or_else(|| {
                    panic!("{}.{}: no sibling `{}`", k.name, p.name, cond.sibling())
                });
                match (cond, sib.ty) {
                    (When::Eq(_, words), Ty::Enum(opts)) => {
                        for w in words {
                            assert!(
                                opts.contains(w),
                                "{}.{}: `{w}` is no option",
                                k.name,
                                p.name
                            );
                        }
                    }
                    (When::Positive(_), Ty::Int | Ty::Float) => {}
                    _ => panic!(
                        "{}.{}: condition does not fit `{}`",
                        k.name, p.name, sib.name
                    ),
                }
                assert!(
                    sib.applies_when.is_none(),
                    "{}.{}: chained condition",
                    k.name,
                    p.name
                );
            }
        }
        assert!(n >= 10, "{n} conditions");
    }

    #[test]
    fn bounds() {
        assert!(Bound::PROB.contains(1.0));
        assert!(!Bound::PROB.contains(1.5));
        assert!(!Bound::POS.contains(0.0));
        assert_eq!(Bound::PROB.describe(), "[0, 1]");
        assert_eq!(Bound::POS.describe(), "> 0");
    }
}
