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
        }
    }

    /// Every category, in the order docs list them.
    pub const ALL: [Category; 12] = [
        Category::Settings,
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

const fn req(name: &'static str, ty: Ty, doc: &'static str) -> Param {
    p(name, ty, Default::Required, Bound::ANY, doc)
}

const fn opt(name: &'static str, ty: Ty, bound: Bound, doc: &'static str) -> Param {
    p(name, ty, Default::Optional, bound, doc)
}

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

const fn exec_only(param: Param) -> Param {
    Param {
        in_key: false,
        ..param
    }
}

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

const fn with_info(k: Kind, info: Info) -> Kind {
    Kind { info, ..k }
}

use Category as C;

const SUBSET_TRAIN_TEST: Ty = Ty::Enum(&["train", "test"]);
const INT_LIST: Ty = Ty::List(&Ty::Int);
const FLOAT_LIST: Ty = Ty::List(&Ty::Float);

// ------------------------------------------------------------------ settings

const SETTINGS: Kind = kind(
    "settings",
    C::Settings,
    "Pipeline-wide settings, written `set NAME = VALUE`.",
    &[
        d(
            "seed",
            Ty::Int,
            "0",
            Bound::NONNEG,
            "Base seed; every step's RNG derives from it and the step key",
        ),
        exec_only(d(
            "device",
            Ty::Device,
            "cpu",
            Bound::ANY,
            "Where training runs; `cuda` needs a build with the `cuda` feature",
        )),
        d(
            "precision",
            Ty::Enum(&["f32", "f16", "bf16"]),
            "f32",
            Bound::ANY,
            "Floating-point precision for training",
        ),
        exec_only(opt(
            "name",
            Ty::Str,
            Bound::ANY,
            "The title of the HTML report page (`sslp report`; default: the file name)",
        )),
    ],
);

// ------------------------------------------------------------------ datasets

const DATASETS: &[Kind] = &[
    kind(
        "cifar10",
        C::Dataset,
        "CIFAR-10 in its binary format (data_batch_*.bin, test_batch.bin), 32x32 RGB, 10 classes",
        &[
            req(
                "root",
                Ty::Str,
                "Directory holding the .bin batches, relative to the pipeline file",
            ),
            d(
                "subset",
                SUBSET_TRAIN_TEST,
                "train",
                Bound::ANY,
                "Official train (50,000) or test (10,000) images",
            ),
            opt(
                "limit",
                Ty::Int,
                Bound::ONE_PLUS,
                "Use only the first N images",
            ),
        ],
    ),
    kind(
        "cifar100",
        C::Dataset,
        "CIFAR-100 in its binary format (train.bin, test.bin), 32x32 RGB, 100 fine / 20 coarse classes",
        &[
            req("root", Ty::Str, "Directory holding train.bin and test.bin"),
            d(
                "subset",
                SUBSET_TRAIN_TEST,
                "train",
                Bound::ANY,
                "Official train or test images",
            ),
            d(
                "labels",
                Ty::Enum(&["fine", "coarse"]),
                "fine",
                Bound::ANY,
                "Which label set",
            ),
            opt(
                "limit",
                Ty::Int,
                Bound::ONE_PLUS,
                "Use only the first N images",
            ),
        ],
    ),
    kind(
        "stl10",
        C::Dataset,
        "STL-10 in its binary format (train_X.bin, ...), 96x96 RGB, 10 classes plus 100,000 unlabelled",
        &[
            req("root", Ty::Str, "Directory holding the .bin files"),
            d(
                "subset",
                Ty::Enum(&["train", "test", "unlabeled", "train_unlabeled"]),
                "train",
                Bound::ANY,
                "Which part; `unlabeled` images have no label",
            ),
            opt(
                "limit",
                Ty::Int,
                Bound::ONE_PLUS,
                "Use only the first N images",
            ),
        ],
    ),
    kind(
        "mnist",
        C::Dataset,
        "MNIST or Fashion-MNIST in IDX format (optionally .gz), 28x28 grey, 10 classes",
        &[
            req(
                "root",
                Ty::Str,
                "Directory holding the *-images-idx3-ubyte and *-labels-idx1-ubyte files",
            ),
            d(
                "subset",
                SUBSET_TRAIN_TEST,
                "train",
                Bound::ANY,
                "Official train or t10k images",
            ),
            d(
                "variant",
                Ty::Enum(&["mnist", "fashion"]),
                "mnist",
                Bound::ANY,
                "Digits or Fashion-MNIST",
            ),
            opt(
                "limit",
                Ty::Int,
                Bound::ONE_PLUS,
                "Use only the first N images",
            ),
        ],
    ),
    kind(
        "image_folder",
        C::Dataset,
        "Images in class subfolders (root/CLASS/*.png|jpg), with an optional parallel mask folder",
        &[
            req("root", Ty::Str, "Directory with one subfolder per class"),
            opt(
                "masks",
                Ty::Str,
                Bound::ANY,
                "Folder of same-stem PNG masks (for segmentation), relative to root",
            ),
            opt(
                "size",
                Ty::Int,
                Bound::ONE_PLUS,
                "Resize every image to size x size",
            ),
            opt(
                "limit",
                Ty::Int,
                Bound::ONE_PLUS,
                "Use only the first N images",
            ),
        ],
    ),
    kind(
        "synthetic_shapes",
        C::Dataset,
        "Procedural coloured shapes on textured backgrounds, with class labels and exact masks",
        &[
            d(
                "count",
                Ty::Int,
                "1000",
                Bound::ONE_PLUS,
                "Number of images",
            ),
            d(
                "size",
                Ty::Int,
                "32",
                Bound::new(8.0, true, 4096.0, true),
                "Image side in pixels",
            ),
            d(
                "classes",
                Ty::Int,
                "4",
                Bound::new(2.0, true, 8.0, true),
                "Number of shape classes",
            ),
            d(
                "background",
                Ty::Enum(&["textured", "plain"]),
                "textured",
                Bound::ANY,
                "Background style",
            ),
            d(
                "seed",
                Ty::Int,
                "0",
                Bound::NONNEG,
                "Generator seed (part of the dataset's identity)",
            ),
        ],
    ),
];

// ------------------------------------------------------------------ split

const SPLIT: Kind = kind(
    "split",
    C::Split,
    "Divides a dataset into parts `train`, `test` and optionally `val` (counts or fractions)",
    &[
        req("data", Ty::Data, "The images to divide"),
        req(
            "train",
            Ty::Amount,
            "Size of the train part: a count or a fraction",
        ),
        opt(
            "test",
            Ty::Amount,
            Bound::ANY,
            "Size of the test part (default: the rest)",
        ),
        opt("val", Ty::Amount, Bound::ANY, "Size of a validation part"),
        d(
            "stratify",
            Ty::Bool,
            "true",
            Bound::ANY,
            "Keep class proportions in every part",
        ),
        opt(
            "seed",
            Ty::Int,
            Bound::NONNEG,
            "Shuffle seed (default: the pipeline seed)",
        ),
    ],
);

/// Members of a split declaration: `pv.train`, `pv.test`, `pv.val`.
pub const SPLIT_MEMBERS: [&str; 3] = ["train", "test", "val"];

// ------------------------------------------------------------------ ops

/// A random op (draws from the per-draw stream).
const fn op(k: Kind) -> Kind {
    with_info(
        k,
        Info::Op {
            offline: false,
            online_params: &[],
            deterministic: false,
            model_input: false,
        },
    )
}

/// An op that draws no randomness.
const fn det_op(k: Kind) -> Kind {
    with_info(
        k,
        Info::Op {
            offline: false,
            online_params: &[],
            deterministic: true,
            model_input: false,
        },
    )
}

const OPS: &[Kind] = &[
    op(kind(
        "random_resized_crop",
        C::Op,
        "Crop a random area and aspect ratio, resize to `size` (torchvision RandomResizedCrop)",
        &[
            opt(
                "size",
                Ty::Int,
                Bound::ONE_PLUS,
                "Output side (default: the view size)",
            ),
            d(
                "scale",
                Ty::Range,
                "0.08..1.0",
                Bound::FRACTION,
                "Range of the crop's area fraction",
            ),
            d(
                "ratio",
                Ty::Range,
                "0.75..1.3333333333333333",
                Bound::POS,
                "Range of aspect ratios",
            ),
        ],
    )),
    op(kind(
        "rotate",
        C::Op,
        "Rotate by a random angle in [-degrees, degrees]",
        &[d(
            "degrees",
            Ty::Float,
            "30.0",
            Bound::new(0.0, true, 180.0, true),
            "Largest rotation, in degrees",
        )],
    )),
    det_op(kind("horizontal_flip", C::Op, "Mirror left-right", &[])),
    det_op(kind("vertical_flip", C::Op, "Mirror top-bottom", &[])),
    op(kind(
        "color_jitter",
        C::Op,
        "Random brightness, contrast, saturation and hue in random order (torchvision ColorJitter)",
        &[
            d(
                "brightness",
                Ty::Float,
                "0.4",
                Bound::NONNEG,
                "Brightness factor drawn from [1-b, 1+b]",
            ),
            d(
                "contrast",
                Ty::Float,
                "0.4",
                Bound::NONNEG,
                "Contrast factor drawn from [1-c, 1+c]",
            ),
            d(
                "saturation",
                Ty::Float,
                "0.4",
                Bound::NONNEG,
                "Saturation factor drawn from [1-s, 1+s]",
            ),
            d(
                "hue",
                Ty::Float,
                "0.1",
                Bound::new(0.0, true, 0.5, true),
                "Hue shift drawn from [-h, h]",
            ),
        ],
    )),
    det_op(kind(
        "grayscale",
        C::Op,
        "Convert to grey (kept as 3 channels)",
        &[],
    )),
    op(kind(
        "gaussian_blur",
        C::Op,
        "Blur with a Gaussian of random sigma",
        &[
            d(
                "kernel",
                Ty::Int,
                "3",
                Bound::new(1.0, true, 99.0, true),
                "Kernel side (odd)",
            ),
            d("sigma", Ty::Range, "0.1..2.0", Bound::POS, "Range of sigma"),
        ],
    )),
    det_op(kind(
        "solarize",
        C::Op,
        "Invert pixels above a threshold",
        &[d(
            "threshold",
            Ty::Float,
            "0.5",
            Bound::PROB,
            "Threshold on [0, 1] intensities",
        )],
    )),
    with_info(
        kind(
            "normalize",
            C::Op,
            "Model-input normalisation: subtract the channel mean, divide by the std (applied when a batch enters the network; previews show 8-bit images)",
            &[
                d(
                    "mean",
                    FLOAT_LIST,
                    "[0.485, 0.456, 0.406]",
                    Bound::ANY,
                    "Per-channel mean",
                ),
                d(
                    "std",
                    FLOAT_LIST,
                    "[0.229, 0.224, 0.225]",
                    Bound::POS,
                    "Per-channel standard deviation",
                ),
            ],
        ),
        Info::Op {
            offline: false,
            online_params: &[],
            deterministic: true,
            model_input: true,
        },
    ),
    with_info(
        kind(
            "saliency_cut",
            C::Op,
            "Salient-region segmentation (HC/RC saliency + iterative GrabCut), rendered with a random palette: the thesis' SGD",
            &[
                d(
                    "method",
                    Ty::Enum(&["rc", "hc"]),
                    "rc",
                    Bound::ANY,
                    "Saliency map: region or histogram contrast",
                ),
                only(
                    When::Eq("method", &["rc"]),
                    d(
                        "variant",
                        Ty::Enum(&["tpami", "cvpr2011"]),
                        "tpami",
                        Bound::ANY,
                        "Reference variant (saliency.md §0: implement the TPAMI code)",
                    ),
                ),
                d(
                    "threshold",
                    Ty::Int,
                    "70",
                    Bound::new(0.0, true, 255.0, true),
                    "Working-rectangle threshold on the 8-bit map (saliency.md §3 step 2)",
                ),
                d(
                    "iterations",
                    Ty::Int,
                    "4",
                    Bound::new(1.0, true, 10.0, true),
                    "Outer GrabCut rounds (saliency.md §3 step 5)",
                ),
                d(
                    "scale",
                    Ty::Float,
                    "1.0",
                    Bound::new(0.0, false, 4.0, true),
                    "Resize factor before segmenting (1 = 100p, 2 = 200p)",
                ),
                d(
                    "render",
                    Ty::Enum(&["palette", "swap", "mask"]),
                    "palette",
                    Bound::ANY,
                    "How segments are drawn per draw: random palette, colour swap, or the binary mask. On small images where the segmentation often fails, `palette` views are flat colours that can stop SimCLR learning (BENCHMARKS.md, quickstart); `swap` keeps the texture",
                ),
            ],
        ),
        Info::Op {
            offline: true,
            online_params: &["render"],
            // The mask is deterministic; its rendering per draw is not.
            deterministic: false,
            model_input: false,
        },
    ),
    op(kind(
        "one_of",
        C::Op,
        "Apply one of several ops, chosen by weight",
        &[
            req(
                "choices",
                Ty::Policy,
                "The candidate ops (each with its own probability)",
            ),
            opt(
                "weights",
                FLOAT_LIST,
                Bound::NONNEG,
                "Relative weights (default: equal)",
            ),
        ],
    )),
];

// ------------------------------------------------------------------ views

const VIEWS: &[Kind] = &[
    kind(
        "view",
        C::View,
        "One or more views of each image: optionally its own random resized crop, then a policy",
        &[
            d(
                "count",
                Ty::Int,
                "1",
                Bound::new(1.0, true, 32.0, true),
                "How many views of this spec",
            ),
            opt(
                "size",
                Ty::Int,
                Bound::ONE_PLUS,
                "View side (default: the image side; 3/7 of it for local views, as 96/224)",
            ),
            opt(
                "scale",
                Ty::Range,
                Bound::FRACTION,
                "Area fraction of a random resized crop made by the view itself (leave out when the policy crops)",
            ),
            d(
                "local",
                Ty::Bool,
                "false",
                Bound::ANY,
                "A local (small) crop, as multi-crop methods use",
            ),
            opt(
                "policy",
                Ty::Policy,
                Bound::ANY,
                "This view's policy (default: the run's policy)",
            ),
        ],
    ),
    kind(
        "multicrop",
        C::View,
        "Multi-crop: global views plus small local views (SwAV, DINO)",
        &[
            d(
                "global",
                Ty::Int,
                "2",
                Bound::new(1.0, true, 8.0, true),
                "Number of global views",
            ),
            opt(
                "global_size",
                Ty::Int,
                Bound::ONE_PLUS,
                "Global crop side (default: the image size)",
            ),
            d(
                "global_scale",
                Ty::Range,
                "0.14..1.0",
                Bound::FRACTION,
                "Area fraction of global crops",
            ),
            d(
                "local",
                Ty::Int,
                "6",
                Bound::new(0.0, true, 32.0, true),
                "Number of local views",
            ),
            only(
                When::Positive("local"),
                opt(
                    "local_size",
                    Ty::Int,
                    Bound::ONE_PLUS,
                    "Local crop side (default: 3/7 of the global side, as 96/224)",
                ),
            ),
            only(
                When::Positive("local"),
                d(
                    "local_scale",
                    Ty::Range,
                    "0.05..0.14",
                    Bound::FRACTION,
                    "Area fraction of local crops",
                ),
            ),
            opt(
                "policy",
                Ty::Policy,
                Bound::ANY,
                "Policy for all crops (default: the run's policy)",
            ),
        ],
    ),
];

// ------------------------------------------------------------------ methods

const fn method(k: Kind, multicrop: bool) -> Kind {
    with_info(k, Info::Method { multicrop })
}

const METHODS: &[Kind] = &[
    method(
        kind(
            "simclr",
            C::Method,
            "SimCLR: NT-Xent over two views, negatives from the batch (Chen et al. 2020)",
            &[
                d(
                    "temperature",
                    Ty::Float,
                    "0.5",
                    Bound::POS,
                    "tau; 0.5 official CIFAR and lightly default",
                ),
                d(
                    "proj_hidden",
                    Ty::Int,
                    "2048",
                    Bound::ONE_PLUS,
                    "Projector hidden width",
                ),
                d(
                    "proj_dim",
                    Ty::Int,
                    "128",
                    Bound::ONE_PLUS,
                    "Projector output width",
                ),
                d(
                    "proj_layers",
                    Ty::Int,
                    "2",
                    Bound::ONE_PLUS,
                    "Projector depth",
                ),
            ],
        ),
        false,
    ),
    method(
        kind(
            "moco",
            C::Method,
            "MoCo: InfoNCE against a momentum encoder, with a queue (v2) or in-batch keys (v3)",
            &[
                d(
                    "version",
                    Ty::Enum(&["v2", "v3"]),
                    "v2",
                    Bound::ANY,
                    "v2: queue + momentum encoder; v3: no queue, predictor",
                ),
                d(
                    "temperature",
                    Ty::Float,
                    "0.2",
                    Bound::POS,
                    "tau (official v2: 0.2)",
                ),
                only(
                    When::Eq("version", &["v2"]),
                    d(
                        "queue",
                        Ty::Int,
                        "65536",
                        Bound::NONNEG,
                        "Queue length K (v2); must be a multiple of the batch",
                    ),
                ),
                d(
                    "momentum",
                    Ty::Float,
                    "0.999",
                    Bound::UNIT_OPEN,
                    "EMA momentum m at the start",
                ),
                d(
                    "momentum_end",
                    Ty::Float,
                    "0.999",
                    Bound::PROB,
                    "EMA momentum at the end (cosine schedule)",
                ),
                d(
                    "proj_hidden",
                    Ty::Int,
                    "2048",
                    Bound::ONE_PLUS,
                    "Projector hidden width",
                ),
                d(
                    "proj_dim",
                    Ty::Int,
                    "128",
                    Bound::ONE_PLUS,
                    "Projector output width",
                ),
                only(
                    When::Eq("version", &["v3"]),
                    d(
                        "pred_hidden",
                        Ty::Int,
                        "4096",
                        Bound::ONE_PLUS,
                        "Predictor hidden width (v3)",
                    ),
                ),
                only(
                    When::Eq("version", &["v2"]),
                    d(
                        "symmetric",
                        Ty::Bool,
                        "false",
                        Bound::ANY,
                        "Symmetrised loss (solo-learn v2+)",
                    ),
                ),
            ],
        ),
        false,
    ),
    method(
        kind(
            "simsiam",
            C::Method,
            "SimSiam: negative cosine with stop-gradient, no negatives (Chen & He 2021)",
            &[
                d(
                    "proj_hidden",
                    Ty::Int,
                    "2048",
                    Bound::ONE_PLUS,
                    "Projector hidden width",
                ),
                d(
                    "proj_dim",
                    Ty::Int,
                    "2048",
                    Bound::ONE_PLUS,
                    "Projector output width",
                ),
                d(
                    "proj_layers",
                    Ty::Int,
                    "3",
                    Bound::ONE_PLUS,
                    "Projector depth (2 for the CIFAR variant)",
                ),
                d(
                    "pred_hidden",
                    Ty::Int,
                    "512",
                    Bound::ONE_PLUS,
                    "Predictor bottleneck width",
                ),
            ],
        ),
        false,
    ),
    method(
        kind(
            "byol",
            C::Method,
            "BYOL: predict an EMA target's projection, 2 - 2cos (Grill et al. 2020)",
            &[
                d(
                    "tau_base",
                    Ty::Float,
                    "0.996",
                    Bound::UNIT_OPEN,
                    "Target EMA momentum at the start",
                ),
                d(
                    "tau_end",
                    Ty::Float,
                    "1.0",
                    Bound::PROB,
                    "Target EMA momentum at the end (cosine)",
                ),
                d(
                    "proj_hidden",
                    Ty::Int,
                    "4096",
                    Bound::ONE_PLUS,
                    "Projector hidden width",
                ),
                d(
                    "proj_dim",
                    Ty::Int,
                    "256",
                    Bound::ONE_PLUS,
                    "Projector output width",
                ),
                d(
                    "pred_hidden",
                    Ty::Int,
                    "4096",
                    Bound::ONE_PLUS,
                    "Predictor hidden width",
                ),
            ],
        ),
        false,
    ),
    method(
        kind(
            "swav",
            C::Method,
            "SwAV: swapped prediction of Sinkhorn-Knopp codes over prototypes (Caron et al. 2020)",
            &[
                d(
                    "temperature",
                    Ty::Float,
                    "0.1",
                    Bound::POS,
                    "tau of the softmax over prototypes",
                ),
                d(
                    "prototypes",
                    Ty::Int,
                    "3000",
                    Bound::ONE_PLUS,
                    "Number of prototypes",
                ),
                d(
                    "sinkhorn_iters",
                    Ty::Int,
                    "3",
                    Bound::ONE_PLUS,
                    "Sinkhorn-Knopp iterations",
                ),
                d(
                    "epsilon",
                    Ty::Float,
                    "0.05",
                    Bound::POS,
                    "Sinkhorn entropy regularisation",
                ),
                d(
                    "queue",
                    Ty::Int,
                    "0",
                    Bound::NONNEG,
                    "Feature queue length (3840 for small batches); 0 = none",
                ),
                only(
                    When::Positive("queue"),
                    d(
                        "queue_start_epoch",
                        Ty::Int,
                        "15",
                        Bound::NONNEG,
                        "Epoch from which the queue is used",
                    ),
                ),
                d(
                    "freeze_prototypes_iters",
                    Ty::Int,
                    "313",
                    Bound::NONNEG,
                    "Iterations with frozen prototypes",
                ),
                d(
                    "proj_hidden",
                    Ty::Int,
                    "2048",
                    Bound::ONE_PLUS,
                    "Projector hidden width",
                ),
                d(
                    "proj_dim",
                    Ty::Int,
                    "128",
                    Bound::ONE_PLUS,
                    "Projector output width",
                ),
            ],
        ),
        true,
    ),
    method(
        kind(
            "barlow_twins",
            C::Method,
            "Barlow Twins: push the views' cross-correlation to identity (Zbontar et al. 2021)",
            &[
                d(
                    "lambda",
                    Ty::Float,
                    "0.0051",
                    Bound::NONNEG,
                    "Weight of the off-diagonal term",
                ),
                d(
                    "scale_loss",
                    Ty::Float,
                    "0.024",
                    Bound::POS,
                    "Loss scale (early official code)",
                ),
                d(
                    "proj_hidden",
                    Ty::Int,
                    "8192",
                    Bound::ONE_PLUS,
                    "Projector hidden width",
                ),
                d(
                    "proj_dim",
                    Ty::Int,
                    "8192",
                    Bound::ONE_PLUS,
                    "Projector output width",
                ),
                d(
                    "proj_layers",
                    Ty::Int,
                    "3",
                    Bound::ONE_PLUS,
                    "Projector depth",
                ),
            ],
        ),
        false,
    ),
    method(
        kind(
            "dino",
            C::Method,
            "DINO: self-distillation with a centred, sharpened EMA teacher (Caron et al. 2021)",
            &[
                d(
                    "out_dim",
                    Ty::Int,
                    "65536",
                    Bound::ONE_PLUS,
                    "Head output width (prototypes)",
                ),
                d(
                    "hidden",
                    Ty::Int,
                    "2048",
                    Bound::ONE_PLUS,
                    "Head MLP hidden width",
                ),
                d(
                    "bottleneck",
                    Ty::Int,
                    "256",
                    Bound::ONE_PLUS,
                    "Head bottleneck width",
                ),
                d(
                    "student_temp",
                    Ty::Float,
                    "0.1",
                    Bound::POS,
                    "Student temperature",
                ),
                only(
                    When::Positive("teacher_temp_warmup_epochs"),
                    d(
                        "teacher_temp_start",
                        Ty::Float,
                        "0.04",
                        Bound::POS,
                        "Teacher temperature at the start of warm-up",
                    ),
                ),
                d(
                    "teacher_temp",
                    Ty::Float,
                    "0.07",
                    Bound::POS,
                    "Teacher temperature after warm-up (> 0.07 is unstable)",
                ),
                d(
                    "teacher_temp_warmup_epochs",
                    Ty::Int,
                    "30",
                    Bound::NONNEG,
                    "Linear warm-up of the teacher temperature",
                ),
                d(
                    "center_momentum",
                    Ty::Float,
                    "0.9",
                    Bound::UNIT_OPEN,
                    "Centre EMA momentum m",
                ),
                d(
                    "tau_base",
                    Ty::Float,
                    "0.996",
                    Bound::UNIT_OPEN,
                    "Teacher EMA momentum at the start",
                ),
                d(
                    "tau_end",
                    Ty::Float,
                    "1.0",
                    Bound::PROB,
                    "Teacher EMA momentum at the end (cosine)",
                ),
                d(
                    "norm_last_layer",
                    Ty::Bool,
                    "true",
                    Bound::ANY,
                    "Weight-normalise the last layer with fixed norm",
                ),
                d(
                    "freeze_last_layer_epochs",
                    Ty::Int,
                    "1",
                    Bound::NONNEG,
                    "Epochs with a frozen last layer",
                ),
                d(
                    "clip_grad",
                    Ty::Float,
                    "3.0",
                    Bound::NONNEG,
                    "Gradient-norm clip (0 = off)",
                ),
            ],
        ),
        true,
    ),
    method(
        kind(
            "g_simclr",
            C::Method,
            "G-SimCLR: denoising autoencoder -> k-means pseudo-labels -> SimCLR batches without same-label pairs",
            &[
                d("temperature", Ty::Float, "0.5", Bound::POS, "NT-Xent tau"),
                d(
                    "clusters",
                    Ty::Int,
                    "10",
                    Bound::TWO_PLUS,
                    "k of the k-means over autoencoder codes",
                ),
                d(
                    "ae_epochs",
                    Ty::Int,
                    "50",
                    Bound::ONE_PLUS,
                    "Autoencoder training epochs",
                ),
                d(
                    "ae_latent",
                    Ty::Int,
                    "128",
                    Bound::ONE_PLUS,
                    "Autoencoder code width",
                ),
                d(
                    "noise_std",
                    Ty::Float,
                    "0.1",
                    Bound::NONNEG,
                    "Std of the denoising input noise",
                ),
                d(
                    "proj_hidden",
                    Ty::Int,
                    "2048",
                    Bound::ONE_PLUS,
                    "Projector hidden width",
                ),
                d(
                    "proj_dim",
                    Ty::Int,
                    "128",
                    Bound::ONE_PLUS,
                    "Projector output width",
                ),
            ],
        ),
        false,
    ),
];

// ------------------------------------------------------------------ backbones

const RESNET_PARAMS: &[Param] = &[
    d(
        "cifar_stem",
        Ty::Bool,
        "false",
        Bound::ANY,
        "3x3 stride-1 first conv and no max-pool, for 32x32 inputs",
    ),
    d(
        "zero_init_residual",
        Ty::Bool,
        "false",
        Bound::ANY,
        "Zero the last BN of each residual block",
    ),
];

const BACKBONES: &[Kind] = &[
    kind(
        "resnet18",
        C::Backbone,
        "ResNet-18, torchvision layout, 512-d features",
        RESNET_PARAMS,
    ),
    kind(
        "resnet34",
        C::Backbone,
        "ResNet-34, torchvision layout, 512-d features",
        RESNET_PARAMS,
    ),
    kind(
        "resnet50",
        C::Backbone,
        "ResNet-50, torchvision layout, 2048-d features",
        RESNET_PARAMS,
    ),
    kind(
        "vit_tiny",
        C::Backbone,
        "A small Vision Transformer (for DINO); class-token features",
        &[
            d(
                "patch",
                Ty::Int,
                "16",
                Bound::ONE_PLUS,
                "Patch side (4 for 32x32 inputs)",
            ),
            d(
                "depth",
                Ty::Int,
                "12",
                Bound::ONE_PLUS,
                "Transformer blocks",
            ),
            d("width", Ty::Int, "192", Bound::ONE_PLUS, "Embedding width"),
            d("heads", Ty::Int, "3", Bound::ONE_PLUS, "Attention heads"),
            d(
                "mlp_ratio",
                Ty::Float,
                "4.0",
                Bound::POS,
                "MLP width / embedding width",
            ),
        ],
    ),
    with_info(
        kind(
            "raw_pixels",
            C::Backbone,
            "No network: the features are the image's pixels, normalised per channel and flattened (3 x H x W values, channel-major). The mean and std are those the features step gives any backbone that stores none, as a random-init baseline: the statistics of the data part being extracted. A baseline for knn, linear_probe, kmeans and tsne; it has no weights, so pretrain, segmentation and finetune refuse it",
            &[],
        ),
        Info::FixedBackbone,
    ),
    kind(
        "tiny_convnet",
        C::Backbone,
        "A small convnet for quick runs and tests",
        &[
            d(
                "width",
                Ty::Int,
                "32",
                Bound::ONE_PLUS,
                "Channels of the first block (doubles per block)",
            ),
            d(
                "depth",
                Ty::Int,
                "3",
                Bound::new(1.0, true, 8.0, true),
                "Number of conv blocks",
            ),
        ],
    ),
];

// ------------------------------------------------------------------ optimisers and schedules

const OPTIMIZERS: &[Kind] = &[
    kind(
        "sgd",
        C::Optimizer,
        "SGD with momentum; lr is scaled by batch/256 unless `lr_scaling` says otherwise",
        &[
            d("lr", Ty::Float, "0.05", Bound::POS, "Base learning rate"),
            d("momentum", Ty::Float, "0.9", Bound::UNIT_OPEN, "Momentum"),
            d(
                "weight_decay",
                Ty::Float,
                "1e-4",
                Bound::NONNEG,
                "L2 weight decay",
            ),
            only(
                When::Positive("momentum"),
                d(
                    "nesterov",
                    Ty::Bool,
                    "false",
                    Bound::ANY,
                    "Nesterov momentum",
                ),
            ),
            d(
                "exclude_bias_bn",
                Ty::Bool,
                "false",
                Bound::ANY,
                "No weight decay on biases and BN parameters",
            ),
        ],
    ),
    kind(
        "lars",
        C::Optimizer,
        "LARS: layer-wise adaptive rate scaling over SGD (SimCLR, BYOL)",
        &[
            d("lr", Ty::Float, "0.3", Bound::POS, "Base learning rate"),
            d("momentum", Ty::Float, "0.9", Bound::UNIT_OPEN, "Momentum"),
            d(
                "weight_decay",
                Ty::Float,
                "1e-6",
                Bound::NONNEG,
                "L2 weight decay",
            ),
            d("eta", Ty::Float, "0.02", Bound::POS, "Trust coefficient"),
            d(
                "exclude_bias_bn",
                Ty::Bool,
                "true",
                Bound::ANY,
                "No adaptation or decay on biases and BN parameters",
            ),
            d(
                "clip_lr",
                Ty::Bool,
                "true",
                Bound::ANY,
                "Clip the local rate at the global rate",
            ),
        ],
    ),
    kind(
        "adamw",
        C::Optimizer,
        "AdamW: Adam with decoupled weight decay (ViT, DINO)",
        &[
            d("lr", Ty::Float, "0.0005", Bound::POS, "Base learning rate"),
            d(
                "beta1",
                Ty::Float,
                "0.9",
                Bound::UNIT_OPEN,
                "First-moment decay",
            ),
            d(
                "beta2",
                Ty::Float,
                "0.999",
                Bound::UNIT_OPEN,
                "Second-moment decay",
            ),
            d(
                "weight_decay",
                Ty::Float,
                "0.04",
                Bound::NONNEG,
                "Decoupled weight decay",
            ),
            d("eps", Ty::Float, "1e-8", Bound::POS, "Denominator epsilon"),
        ],
    ),
];

const SCHEDULES: &[Kind] = &[
    kind(
        "cosine",
        C::Schedule,
        "Linear warm-up, then cosine decay to `min_lr`, per step",
        &[
            d(
                "warmup_epochs",
                Ty::Int,
                "10",
                Bound::NONNEG,
                "Warm-up length",
            ),
            only(
                When::Positive("warmup_epochs"),
                d(
                    "warmup_start_lr",
                    Ty::Float,
                    "3e-5",
                    Bound::NONNEG,
                    "Learning rate at step 0",
                ),
            ),
            d(
                "min_lr",
                Ty::Float,
                "0.0",
                Bound::NONNEG,
                "Learning rate at the end",
            ),
        ],
    ),
    kind("constant", C::Schedule, "A constant learning rate", &[]),
    kind(
        "step",
        C::Schedule,
        "Multiply the learning rate by `gamma` at each milestone epoch",
        &[
            req("milestones", INT_LIST, "Epochs at which to decay"),
            d("gamma", Ty::Float, "0.1", Bound::POS, "Decay factor"),
        ],
    ),
];

// ------------------------------------------------------------------ pretraining

const PRETRAIN: Kind = kind(
    "pretrain",
    C::Pretrain,
    "Self-supervised pretraining of a backbone with a method, a policy and views",
    &[
        req("data", Ty::Data, "Unlabelled training images"),
        req("backbone", Ty::Kind(C::Backbone), "The network to train"),
        req("method", Ty::Kind(C::Method), "The SSL method"),
        opt(
            "policy",
            Ty::Policy,
            Bound::ANY,
            "Augmentation policy for views without their own",
        ),
        d(
            "views",
            Ty::Views,
            "[view(count: 2)]",
            Bound::ANY,
            "The views made of each image",
        ),
        d("epochs", Ty::Int, "100", Bound::ONE_PLUS, "Training epochs"),
        d(
            "batch",
            Ty::Int,
            "256",
            Bound::TWO_PLUS,
            "Images per batch (at least 2: every method compares or normalises over the batch)",
        ),
        d(
            "optimizer",
            Ty::Kind(C::Optimizer),
            "sgd()",
            Bound::ANY,
            "The optimiser",
        ),
        d(
            "schedule",
            Ty::Kind(C::Schedule),
            "cosine()",
            Bound::ANY,
            "The learning-rate schedule",
        ),
        d(
            "lr_scaling",
            Ty::Enum(&["linear", "sqrt", "none"]),
            "linear",
            Bound::ANY,
            "Scale lr by batch/256 (linear), its square root, or not",
        ),
        opt("grad_clip", Ty::Float, Bound::POS, "Clip the gradient norm"),
        opt(
            "seed",
            Ty::Int,
            Bound::NONNEG,
            "Seed (default: the pipeline seed)",
        ),
        exec_only(opt(
            "device",
            Ty::Device,
            Bound::ANY,
            "Device (default: the pipeline setting)",
        )),
        opt(
            "precision",
            Ty::Enum(&["f32", "f16", "bf16"]),
            Bound::ANY,
            "Precision (default: the pipeline setting)",
        ),
        exec_only(d(
            "checkpoint_every",
            Ty::Int,
            "1",
            Bound::ONE_PLUS,
            "Checkpoint every N epochs",
        )),
        exec_only(d(
            "monitor_every",
            Ty::Int,
            "1",
            Bound::NONNEG,
            "Run the online kNN monitor every N epochs and after the last (0: never); it does not change what is trained",
        )),
        only(
            When::Positive("monitor_every"),
            exec_only(d(
                "monitor_fraction",
                Ty::Float,
                "0.2",
                Bound::new(0.0, false, 1.0, false),
                "Held-out fraction of the kNN monitor's slice of the training images (at most 1,024, evenly spaced), classified against the rest",
            )),
        ),
    ],
);

// ------------------------------------------------------------------ evaluations

const fn eval(k: Kind, metrics: &'static [&'static str], features: bool) -> Kind {
    with_info(k, Info::Eval { metrics, features })
}

const ENCODER: Param = req(
    "backbone",
    Ty::Encoder,
    "A pretraining run, or a backbone for a random-init baseline",
);
const LABEL_FRACTION: Param = d(
    "label_fraction",
    Ty::Float,
    "1.0",
    Bound::FRACTION,
    "Fraction of labelled train images used, per class (stratified)",
);
const PER_CLASS: Param = opt(
    "per_class",
    Ty::Int,
    Bound::ONE_PLUS,
    "Use exactly N labelled images per class instead",
);
const EVAL_SEED: Param = opt(
    "seed",
    Ty::Int,
    Bound::NONNEG,
    "Seed of the labelled subset, of the evaluation's own randomness and of a backbone call's random initialisation (default: the pipeline seed)",
);

const EVALS: &[Kind] = &[
    eval(
        kind(
            "linear_probe",
            C::Eval,
            "Multinomial logistic regression on frozen features",
            &[
                ENCODER,
                req("train", Ty::Data, "Labelled train images"),
                req("test", Ty::Data, "Test images"),
                LABEL_FRACTION,
                PER_CLASS,
                d(
                    "solver",
                    Ty::Enum(&["lbfgs", "sgd"]),
                    "lbfgs",
                    Bound::ANY,
                    "L-BFGS to convergence, or the SimCLR protocol (SGD on a linear head)",
                ),
                d("l2", Ty::Float, "1e-4", Bound::NONNEG, "L2 regularisation"),
                only(
                    When::Eq("solver", &["sgd"]),
                    d("epochs", Ty::Int, "100", Bound::ONE_PLUS, "Epochs"),
                ),
                only(
                    When::Eq("solver", &["sgd"]),
                    d("lr", Ty::Float, "0.1", Bound::POS, "Learning rate"),
                ),
                only(
                    When::Eq("solver", &["sgd"]),
                    d("batch", Ty::Int, "256", Bound::ONE_PLUS, "Batch size"),
                ),
                EVAL_SEED,
            ],
        ),
        &["top1", "top5"],
        true,
    ),
    eval(
        kind(
            "knn",
            C::Eval,
            "Weighted kNN (InstDisc): cosine top-k votes weighted exp(s/T)",
            &[
                ENCODER,
                req("train", Ty::Data, "Labelled train images (the bank)"),
                req("test", Ty::Data, "Test images"),
                LABEL_FRACTION,
                PER_CLASS,
                d(
                    "k",
                    Ty::Int,
                    "200",
                    Bound::ONE_PLUS,
                    "Neighbours (200 as lightly; 20 as DINO)",
                ),
                only(
                    When::Eq("distance", &["cosine"]),
                    d(
                        "temperature",
                        Ty::Float,
                        "0.1",
                        Bound::POS,
                        "T (0.1 as lightly; 0.07 as DINO)",
                    ),
                ),
                d(
                    "distance",
                    Ty::Enum(&["cosine", "euclidean"]),
                    "cosine",
                    Bound::ANY,
                    "Similarity",
                ),
                EVAL_SEED,
            ],
        ),
        &["top1", "top5"],
        true,
    ),
    eval(
        kind(
            "kmeans",
            C::Eval,
            "k-means (k-means++ init, restarts) on features, scored by NMI, ARI and Hungarian accuracy",
            &[
                ENCODER,
                req(
                    "data",
                    Ty::Data,
                    "Images to cluster (labels are used only for scoring)",
                ),
                p(
                    "clusters",
                    Ty::Int,
                    Default::Required,
                    Bound::TWO_PLUS,
                    "k, the number of clusters",
                ),
                d(
                    "restarts",
                    Ty::Int,
                    "10",
                    Bound::ONE_PLUS,
                    "Independent k-means++ restarts",
                ),
                d(
                    "max_iter",
                    Ty::Int,
                    "300",
                    Bound::ONE_PLUS,
                    "Lloyd iterations per restart",
                ),
                EVAL_SEED,
            ],
        ),
        &["nmi", "ari", "accuracy", "inertia"],
        true,
    ),
    eval(
        kind(
            "tsne",
            C::Eval,
            "t-SNE of the features to a 2-D scatter plot",
            &[
                ENCODER,
                req("data", Ty::Data, "Images to embed"),
                d("perplexity", Ty::Float, "30.0", Bound::POS, "Perplexity"),
                d(
                    "iterations",
                    Ty::Int,
                    "1000",
                    Bound::ONE_PLUS,
                    "Optimisation steps",
                ),
                d("learning_rate", Ty::Float, "200.0", Bound::POS, "Step size"),
                d(
                    "color_by",
                    Ty::Enum(&["label", "cluster"]),
                    "label",
                    Bound::ANY,
                    "Point colours",
                ),
                only(
                    When::Eq("color_by", &["cluster"]),
                    d(
                        "clusters",
                        Ty::Int,
                        "10",
                        Bound::TWO_PLUS,
                        "k for `color_by: cluster`",
                    ),
                ),
                EVAL_SEED,
            ],
        ),
        &["kl_divergence"],
        true,
    ),
    eval(
        kind(
            "segmentation",
            C::Eval,
            "FCN-style decoder on the backbone's last feature map, fine-tuned on images with masks; mIoU and pixel accuracy (semantic segmentation: the thesis' Mask R-CNN is out of scope)",
            &[
                ENCODER,
                req("train", Ty::Data, "Train images with masks"),
                req("test", Ty::Data, "Test images with masks"),
                LABEL_FRACTION,
                PER_CLASS,
                d(
                    "epochs",
                    Ty::Int,
                    "50",
                    Bound::ONE_PLUS,
                    "Fine-tuning epochs",
                ),
                d("batch", Ty::Int, "16", Bound::ONE_PLUS, "Batch size"),
                d("lr", Ty::Float, "0.01", Bound::POS, "Learning rate"),
                d(
                    "decoder",
                    Ty::Enum(&["fcn"]),
                    "fcn",
                    Bound::ANY,
                    "Decoder head",
                ),
                d(
                    "freeze_backbone",
                    Ty::Bool,
                    "false",
                    Bound::ANY,
                    "Train the decoder only",
                ),
                EVAL_SEED,
            ],
        ),
        &["miou", "pixel_accuracy"],
        false,
    ),
    eval(
        kind(
            "finetune",
            C::Eval,
            "Supervised fine-tuning: the backbone plus a linear head trained end to end with cross-entropy on the labelled train images, top-1 (and top-5) on the test images. From a pretraining run's weights, or from a random initialisation (drawn from the evaluation's seed) when `backbone:` is a backbone call: the supervised baseline",
            &[
                p(
                    "backbone",
                    Ty::Encoder,
                    Default::Required,
                    Bound::ANY,
                    "A pretraining run (fine-tuned from its weights), or a backbone trained from scratch",
                ),
                req("train", Ty::Data, "Labelled train images"),
                req("test", Ty::Data, "Test images"),
                LABEL_FRACTION,
                PER_CLASS,
                d("epochs", Ty::Int, "30", Bound::ONE_PLUS, "Training epochs"),
                d(
                    "batch",
                    Ty::Int,
                    "64",
                    Bound::TWO_PLUS,
                    "Images per batch (at least 2 for BatchNorm); the last partial batch of an epoch is dropped, and fewer labelled images than one batch is an error",
                ),
                d(
                    "optimizer",
                    Ty::Kind(C::Optimizer),
                    "sgd(lr: 0.05, momentum: 0.9, weight_decay: 5e-4)",
                    Bound::ANY,
                    "The optimiser; its `lr` is used as written (no batch scaling)",
                ),
                d(
                    "schedule",
                    Ty::Kind(C::Schedule),
                    "cosine(warmup_epochs: 0)",
                    Bound::ANY,
                    "The learning-rate schedule, per step",
                ),
                opt(
                    "policy",
                    Ty::Policy,
                    Bound::ANY,
                    "Augmentation of the training images. Default: fine-tuning a pretraining run inherits its policy (its first view's), so both see the same augmentation; from scratch, none (state the compared pretraining's policy to compare like with like). Test images are never augmented",
                ),
                EVAL_SEED,
            ],
        ),
        &["top1", "top5"],
        false,
    ),
];

// ------------------------------------------------------------------ reports

const REPORTS: &[Kind] = &[
    kind(
        "table",
        C::Report,
        "A table of metrics, one row per arm (or pivoted by `rows`/`cols`)",
        &[
            req("metrics", Ty::Metric, "What to show: `seg.miou` or a list"),
            opt(
                "rows",
                Ty::Axis,
                Bound::ANY,
                "Swept parameter(s) that make the rows",
            ),
            opt(
                "cols",
                Ty::Axis,
                Bound::ANY,
                "Swept parameter that makes the columns",
            ),
            d(
                "formats",
                Ty::List(&Ty::Enum(&["md", "csv", "json", "html"])),
                "[md, csv, json]",
                Bound::ANY,
                "Output formats",
            ),
        ],
    ),
    kind(
        "plot",
        C::Report,
        "A plot of a metric against a swept parameter",
        &[
            req("metric", Ty::Metric, "The y axis: `lin.top1`"),
            req("x", Ty::Axis, "The x axis: `lin.label_fraction`"),
            opt(
                "series",
                Ty::Axis,
                Bound::ANY,
                "One line or bar group per value of this parameter",
            ),
            opt(
                "baselines",
                Ty::Metric,
                Bound::ANY,
                "Reference metrics drawn as dashed grey lines (e.g. `raw.top1`): against x where the baseline sweeps the x parameter, else level at its mean, ± std over seeds",
            ),
            d(
                "style",
                Ty::Enum(&["line", "bar", "scatter"]),
                "line",
                Bound::ANY,
                "Plot style",
            ),
            d(
                "formats",
                Ty::List(&Ty::Enum(&["png", "svg"])),
                "[png, svg]",
                Bound::ANY,
                "Output formats",
            ),
        ],
    ),
    kind(
        "preview",
        C::Report,
        "The first images of a dataset through a policy, as a grid PNG: what the model sees",
        &[
            req("data", Ty::Data, "The images"),
            req("policy", Ty::Policy, "The policy to apply"),
            d(
                "count",
                Ty::Int,
                "40",
                Bound::new(1.0, true, 10000.0, true),
                "How many images",
            ),
            d("cols", Ty::Int, "8", Bound::ONE_PLUS, "Grid columns"),
            d(
                "tile",
                Ty::Int,
                "128",
                Bound::new(1.0, true, 4096.0, true),
                "Smallest cell side in pixels: smaller views are enlarged by a whole factor (pixel replication), so 32-pixel images can be judged by eye; larger views are shown as they are",
            ),
            d(
                "epoch",
                Ty::Int,
                "0",
                Bound::NONNEG,
                "Which epoch's draws to show",
            ),
            opt(
                "seed",
                Ty::Int,
                Bound::NONNEG,
                "Seed (default: the pipeline seed)",
            ),
        ],
    ),
];

/// Every callable kind, grouped by category.
pub fn all_kinds() -> impl Iterator<Item = &'static Kind> {
    DATASETS
        .iter()
        .chain(OPS)
        .chain(VIEWS)
        .chain(METHODS)
        .chain(BACKBONES)
        .chain(OPTIMIZERS)
        .chain(SCHEDULES)
        .chain(EVALS)
        .chain(REPORTS)
}

/// Every kind including the block kinds (`split`, `pretrain`) and `settings`.
pub fn all_schemas() -> impl Iterator<Item = &'static Kind> {
    [&SETTINGS, &SPLIT, &PRETRAIN]
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
    &SETTINGS
}

/// The `split { ... }` schema.
pub fn split() -> &'static Kind {
    &SPLIT
}

/// The `pretrain { ... }` schema.
pub fn pretrain() -> &'static Kind {
    &PRETRAIN
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

/// Every way a method differs from its reference recipe (the paper and its official code), one
/// sentence each: printed by `sslp explain METHOD` and listed in the README's method table (a test
/// keeps the two equal). Recipe choices the user makes in the file (optimiser, schedule, batch,
/// crops) are not listed; what the implementation cannot be told to do is.
pub fn deviations(kind: &str) -> &'static [&'static str] {
    const SINGLE_DEVICE: &str = "One device: no SyncBN and no gathering across GPUs, so negatives, keys, codes and batch statistics come from the local batch only";
    match kind {
        "simclr" => &[
            SINGLE_DEVICE,
            "The projector has no BatchNorm (solo-learn's CIFAR head); the paper's ImageNet head has BN in its hidden layer",
        ],
        "moco" => &[
            SINGLE_DEVICE,
            "No Shuffle-BN (v2): the momentum encoder normalises the keys over the same batch as the queries, which the paper shuffles across GPUs to prevent a BN shortcut",
            "v3 with a ResNet: the default temperature is 0.2 (the paper's ResNet-50 recipe uses 1.0)",
        ],
        "simsiam" => &[
            SINGLE_DEVICE,
            "The predictor's learning rate follows the schedule like every other parameter (the official code keeps it fixed with --fix-pred-lr)",
        ],
        "byol" => &[SINGLE_DEVICE],
        "swav" => &[
            SINGLE_DEVICE,
            "Sinkhorn-Knopp runs in the log domain (the same arithmetic, immune to overflow) over the local batch instead of the all-reduced global one",
            "Prototypes are renormalised after each optimiser step (the official code renormalises at the start of the next one: the same values at every forward pass)",
        ],
        "barlow_twins" => &[
            SINGLE_DEVICE,
            "LARS applies one learning rate to all parameters (the official code gives biases and BN parameters their own, 0.0048 vs 0.2)",
        ],
        "dino" => &[
            SINGLE_DEVICE,
            "No weight-decay schedule: AdamW's decay is constant (the official recipe raises it from 0.04 to 0.4 by a cosine)",
            "AdamW decays every parameter, biases and normalisation weights included (the official code exempts them)",
        ],
        "g_simclr" => &[
            SINGLE_DEVICE,
            "The denoising autoencoder is a small fixed convolutional network on 32x32 inputs trained with Adam in batches of 128, not the paper's exact architecture",
            "k-means uses 4 restarts of at most 300 iterations",
            "A batch draws its images from distinct pseudo-labels only while it is no larger than `clusters`; larger batches spread the labels evenly (the paper's constraint cannot hold then)",
        ],
        _ => &[],
    }
}

/// Renders a kind's documentation (`sslp explain NAME`).
pub fn explain(k: &Kind) -> String {
    let mut out = format!("{} — {}\n  {}\n", k.name, k.category.noun(), k.doc);
    if let Info::Op { offline: true, .. } = k.info {
        out.push_str("  offline: computed once per image and cached by content hash; `render` is applied per draw\n");
    }
    if let Info::Method { multicrop } = k.info {
        out.push_str(if multicrop {
            "  views: two global views, plus local crops (multi-crop)\n"
        } else {
            "  views: exactly two global views\n"
        });
    }
    if let Info::FixedBackbone = k.info {
        out.push_str("  not a network: nothing to train, so only evaluations on frozen features (knn, linear_probe, kmeans, tsne) take it\n");
    }
    if let Info::Eval { metrics, .. } = k.info {
        out.push_str(&format!("  metrics: {}", metrics.join(", ")));
        if metrics.contains(&"top5") {
            out.push_str(" (top5 only with more than 5 classes)");
        }
        out.push('\n');
    }
    let differs = deviations(k.name);
    if !differs.is_empty() {
        out.push_str("  differs from the reference recipe:\n");
        for d in differs {
            out.push_str(&format!("    - {d}\n"));
        }
    }
    if let Info::Op {
        deterministic,
        model_input,
        ..
    } = k.info
    {
        if model_input {
            out.push_str("  applied to every image when a batch enters the network (not a policy step); `@ p` has no effect\n");
        } else {
            out.push_str("  probability: write `op(...) @ p` (default p = 1.0)\n");
        }
        if deterministic && !model_input {
            out.push_str("  deterministic: draws no randomness (with p = 1); offline ops after it are cached\n");
        }
    }
    if k.params.is_empty() {
        out.push_str("\n  (no parameters)\n");
        return out;
    }
    out.push('\n');
    let rows: Vec<[String; 4]> = k
        .params
        .iter()
        .map(|p| {
            let default = match p.default {
                Default::Required => "required".to_string(),
                Default::Optional => "optional".to_string(),
                Default::Src(s) => s.to_string(),
            };
            let range = if p.bound.is_any() {
                String::new()
            } else {
                p.bound.describe()
            };
            let mut doc = p.doc.to_string();
            if let Some(cond) = p.applies_when {
                doc.push_str(&format!(" ({})", cond.describe()));
            }
            if !p.in_key {
                doc.push_str(" (not part of the cache key)");
            }
            [
                p.name.to_string(),
                format!("{} = {}", p.ty.describe(), default),
                range,
                doc,
            ]
        })
        .collect();
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r[1].chars().count()).max().unwrap_or(0);
    let w2 = rows.iter().map(|r| r[2].chars().count()).max().unwrap_or(0);
    for r in rows {
        let line = format!(
            "  {:w0$}  {:w1$}  {:w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = w0,
            w1 = w1,
            w2 = w2
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
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
    fn explain_shows_conditions() {
        let text = explain(kind_named("linear_probe").unwrap());
        assert!(text.contains("(only when `solver` is sgd)"), "{text}");
        let text = explain(kind_named("knn").unwrap());
        assert!(text.contains("(only when `distance` is cosine)"), "{text}");
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
