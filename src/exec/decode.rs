//! Typed decoding of planned parameters: the one place where execution turns
//! a step's parameter map into the libraries' typed specs.
//!
//! The registry is the only source of a parameter's default. The planner
//! already fills every default into the step, so a decoder normally reads the
//! planned value; when a value is absent (a map built by hand, a record
//! written before a parameter existed) a [`Params`] view takes the registry
//! default, checked and evaluated through the language exactly as the
//! planner does ([`crate::plan::registry_default`]). A parameter with neither
//! is a [`DecodeError`] naming the step and the parameter, never a literal
//! fallback. Words parse with `FromStr` into Rust enums; a word the checker
//! would reject is an error, not a silent default.
//!
//! [`decode_step`] builds the typed configuration of any step kind from its
//! parameters, so a test can decode every registry parameter.

use crate::augment::saliency_op::{Method as SaliencyMethod, Render, SaliencyCutOp};
use crate::augment::{OfflineOp, Op, Policy, PolicyItem, ViewSpec};
use crate::data::spec::DatasetSpec;
use crate::data::split::{Amount, SplitSpec};
use crate::eval::knn::Distance;
use crate::lang::registry::{self, Default as Dflt, Kind, Param};
use crate::plan::{Step, StepKind, Value, registry_default};
use crate::report::{PlotSpec, Style, TableSpec};
use crate::saliency::rc::Variant;
use crate::train::backbone::BackboneSpec;
use crate::train::method::{MethodConfig, MocoVersion};
use crate::train::optim::{LrScaling, OptimizerSpec, Schedule};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// A planned parameter map.
pub type Map = BTreeMap<String, Value>;

/// Why a planned value could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// Absent from the plan, and the registry has no default for it.
    #[error("{at}: `{param}` has no value and the registry has no default for it")]
    Missing {
        /// The step or call being decoded.
        at: String,
        /// The parameter.
        param: String,
    },
    /// A value of the wrong type.
    #[error("{at}: `{param}` should be {expected}, but is `{got}`")]
    Type {
        /// The step or call being decoded.
        at: String,
        /// The parameter.
        param: String,
        /// What it should be.
        expected: &'static str,
        /// What it is.
        got: String,
    },
    /// A word that names no option.
    #[error("{at}: `{param}`: {reason}")]
    Word {
        /// The step or call being decoded.
        at: String,
        /// The parameter.
        param: String,
        /// The parser's message (it lists the options).
        reason: String,
    },
    /// A call of a kind this decoder does not know.
    #[error("{at}: `{kind}` is not {expected}")]
    UnknownKind {
        /// The step or call being decoded.
        at: String,
        /// The kind named.
        kind: String,
        /// What was expected (`an optimizer`).
        expected: &'static str,
    },
    /// Decoded, but the typed value is invalid.
    #[error("{at}: {message}")]
    Invalid {
        /// The step or call being decoded.
        at: String,
        /// What is wrong.
        message: String,
    },
}

impl From<DecodeError> for String {
    fn from(e: DecodeError) -> String {
        e.to_string()
    }
}

/// Result of a decoder.
pub type Decoded<T> = Result<T, DecodeError>;

/// A registry default as a planned value, evaluated once and kept.
fn default_of(kind: &'static Kind, param: &'static Param) -> Option<&'static Value> {
    type Cache = Mutex<HashMap<(&'static str, &'static str), Option<&'static Value>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Cache::default);
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    *cache.entry((kind.name, param.name)).or_insert_with(|| {
        // The registry is finite: at most one leaked value per parameter.
        registry_default(param).map(|v| &*Box::leak(Box::new(v)))
    })
}

/// A read-only view of a planned map that knows its registry schema.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    map: &'a Map,
    schema: Option<&'static Kind>,
    at: String,
}

impl<'a> Params<'a> {
    /// A view of `map` with `schema` supplying defaults; `at` names it in errors.
    pub fn new(map: &'a Map, schema: Option<&'static Kind>, at: impl Into<String>) -> Self {
        Params {
            map,
            schema,
            at: at.into(),
        }
    }

    /// A view of a call's map (`{type: sgd, lr: ...}`), its schema found by `type`.
    pub fn call(map: &'a Map, at: &str) -> Decoded<Self> {
        let name = match map.get("type") {
            Some(Value::Str(s)) => s.as_str(),
            _ => {
                return Err(DecodeError::Missing {
                    at: at.to_string(),
                    param: "type".into(),
                });
            }
        };
        let schema = registry::schema_named(name).ok_or_else(|| DecodeError::UnknownKind {
            at: at.to_string(),
            kind: name.to_string(),
            expected: "a kind of the registry",
        })?;
        Ok(Params::new(map, Some(schema), format!("{at}, `{name}`")))
    }

    /// The parameters of a step of kind `kind`, with the registry schema of that kind.
    pub fn of_kind(kind: StepKind, map: &'a Map, at: impl Into<String>) -> Self {
        Params::new(map, step_schema(kind, map), at)
    }

    /// A planned step's parameters.
    pub fn step(step: &'a Step) -> Self {
        Params::of_kind(step.kind, &step.params, step_label(step))
    }

    /// A planned step's execution-only settings (device, checkpoint cadence).
    pub fn exec(step: &'a Step) -> Self {
        Params::of_kind(step.kind, &step.exec, step_label(step))
    }

    /// The same map read with another schema's defaults (G-SimCLR read as SimCLR).
    pub fn with_schema(&self, schema: &'static Kind) -> Self {
        Params::new(self.map, Some(schema), self.at.clone())
    }

    /// The map itself.
    pub fn map(&self) -> &'a Map {
        self.map
    }

    /// Where this map is, for messages.
    pub fn at(&self) -> &str {
        &self.at
    }

    /// The kind called (`type`).
    pub fn kind(&self) -> Decoded<&'a str> {
        self.str("type")
    }

    /// An error about this map.
    pub fn invalid(&self, message: impl fmt::Display) -> DecodeError {
        DecodeError::Invalid {
            at: self.at.clone(),
            message: message.to_string(),
        }
    }

    fn unknown_kind(&self, kind: &str, expected: &'static str) -> DecodeError {
        DecodeError::UnknownKind {
            at: self.at.clone(),
            kind: kind.to_string(),
            expected,
        }
    }

    fn type_error(&self, name: &str, expected: &'static str, got: &Value) -> DecodeError {
        DecodeError::Type {
            at: self.at.clone(),
            param: name.to_string(),
            expected,
            got: got.display(),
        }
    }

    /// Fails on a parameter the schema does not declare (besides `type` and `extra`).
    pub fn no_unknown(&self, extra: &[&str]) -> Decoded<()> {
        let Some(schema) = self.schema else {
            return Ok(());
        };
        match self.map.keys().find(|k| {
            k.as_str() != "type" && !extra.contains(&k.as_str()) && schema.param(k).is_none()
        }) {
            Some(k) => Err(self.invalid(format!("`{}` has no parameter `{k}`", schema.name))),
            None => Ok(()),
        }
    }

    /// The value of `name`: the planned one, else the registry default, else `None`
    /// (a parameter the registry declares optional, or one it does not know).
    pub fn get(&self, name: &str) -> Decoded<Option<&'a Value>> {
        match self.map.get(name) {
            None | Some(Value::Null) => {}
            Some(v) => return Ok(Some(v)),
        }
        let Some((schema, param)) = self.schema.and_then(|s| s.param(name).map(|(_, p)| (s, p)))
        else {
            return Ok(None);
        };
        match param.default {
            Dflt::Src(src) => default_of(schema, param).map(Some).ok_or_else(|| {
                self.invalid(format!(
                    "the registry default `{src}` of `{}.{name}` does not check",
                    schema.name
                ))
            }),
            Dflt::Required | Dflt::Optional => Ok(None),
        }
    }

    /// The value of `name`, which must have one.
    pub fn value(&self, name: &str) -> Decoded<&'a Value> {
        self.get(name)?.ok_or_else(|| DecodeError::Missing {
            at: self.at.clone(),
            param: name.to_string(),
        })
    }

    fn number(&self, name: &str, v: &Value) -> Decoded<f64> {
        v.as_f64()
            .ok_or_else(|| self.type_error(name, "a number", v))
    }

    fn integer(&self, name: &str, v: &Value) -> Decoded<i64> {
        match v {
            Value::Int(i) => Ok(*i),
            other => Err(self.type_error(name, "an integer", other)),
        }
    }

    fn count(&self, name: &str, v: &Value) -> Decoded<usize> {
        usize::try_from(self.integer(name, v)?)
            .map_err(|_| self.type_error(name, "a non-negative integer", v))
    }

    /// A real number.
    pub fn f64(&self, name: &str) -> Decoded<f64> {
        self.number(name, self.value(name)?)
    }

    /// A real number, if given (optional parameters).
    pub fn opt_f64(&self, name: &str) -> Decoded<Option<f64>> {
        self.get(name)?.map(|v| self.number(name, v)).transpose()
    }

    /// An integer.
    pub fn i64(&self, name: &str) -> Decoded<i64> {
        self.integer(name, self.value(name)?)
    }

    /// A non-negative integer.
    pub fn usize(&self, name: &str) -> Decoded<usize> {
        self.count(name, self.value(name)?)
    }

    /// A non-negative integer, if given.
    pub fn opt_usize(&self, name: &str) -> Decoded<Option<usize>> {
        self.get(name)?.map(|v| self.count(name, v)).transpose()
    }

    /// A non-negative integer that fits 32 bits.
    pub fn u32(&self, name: &str) -> Decoded<u32> {
        let v = self.value(name)?;
        u32::try_from(self.count(name, v)?).map_err(|_| self.type_error(name, "a 32-bit count", v))
    }

    /// A non-negative 32-bit integer, if given.
    pub fn opt_u32(&self, name: &str) -> Decoded<Option<u32>> {
        match self.get(name)? {
            None => Ok(None),
            Some(v) => u32::try_from(self.count(name, v)?)
                .map(Some)
                .map_err(|_| self.type_error(name, "a 32-bit count", v)),
        }
    }

    /// A non-negative integer as a seed.
    pub fn u64(&self, name: &str) -> Decoded<u64> {
        Ok(self.usize(name)? as u64)
    }

    /// `true` or `false`.
    pub fn bool(&self, name: &str) -> Decoded<bool> {
        match self.value(name)? {
            Value::Bool(b) => Ok(*b),
            other => Err(self.type_error(name, "true or false", other)),
        }
    }

    /// A string or word.
    pub fn str(&self, name: &str) -> Decoded<&'a str> {
        match self.value(name)? {
            Value::Str(s) => Ok(s),
            other => Err(self.type_error(name, "a word or string", other)),
        }
    }

    /// A string or word, if given.
    pub fn opt_str(&self, name: &str) -> Decoded<Option<&'a str>> {
        match self.get(name)? {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(other) => Err(self.type_error(name, "a word or string", other)),
        }
    }

    /// A word parsed into a Rust enum; an unknown word is an error.
    pub fn word<E>(&self, name: &str) -> Decoded<E>
    where
        E: FromStr,
        E::Err: fmt::Display,
    {
        let w = self.str(name)?;
        w.parse().map_err(|e: E::Err| DecodeError::Word {
            at: self.at.clone(),
            param: name.to_string(),
            reason: e.to_string(),
        })
    }

    /// A closed range `lo..hi`.
    pub fn range(&self, name: &str) -> Decoded<(f64, f64)> {
        let v = self.value(name)?;
        self.pair(name, v)
    }

    /// A closed range, if given.
    pub fn opt_range(&self, name: &str) -> Decoded<Option<(f64, f64)>> {
        self.get(name)?.map(|v| self.pair(name, v)).transpose()
    }

    fn pair(&self, name: &str, v: &Value) -> Decoded<(f64, f64)> {
        match v {
            Value::List(xs) if xs.len() == 2 => {
                Ok((self.number(name, &xs[0])?, self.number(name, &xs[1])?))
            }
            other => Err(self.type_error(name, "a range lo..hi", other)),
        }
    }

    /// A list.
    pub fn list(&self, name: &str) -> Decoded<&'a [Value]> {
        match self.value(name)? {
            Value::List(xs) => Ok(xs),
            other => Err(self.type_error(name, "a list", other)),
        }
    }

    /// A list, if given.
    pub fn opt_list(&self, name: &str) -> Decoded<Option<&'a [Value]>> {
        match self.get(name)? {
            None => Ok(None),
            Some(Value::List(xs)) => Ok(Some(xs)),
            Some(other) => Err(self.type_error(name, "a list", other)),
        }
    }

    /// A list of numbers.
    pub fn f64_list(&self, name: &str) -> Decoded<Vec<f64>> {
        self.list(name)?
            .iter()
            .map(|v| self.number(name, v))
            .collect()
    }

    /// A list of non-negative integers.
    pub fn usize_list(&self, name: &str) -> Decoded<Vec<usize>> {
        self.list(name)?
            .iter()
            .map(|v| self.count(name, v))
            .collect()
    }

    /// A word or a list of words (metrics, axes), as a list; empty when absent.
    pub fn names(&self, name: &str) -> Decoded<Vec<String>> {
        Ok(match self.get(name)? {
            None => vec![],
            Some(Value::Str(s)) => vec![s.clone()],
            Some(Value::List(xs)) => xs
                .iter()
                .map(|x| match x {
                    Value::Str(s) => Ok(s.clone()),
                    other => Err(self.type_error(name, "a list of names", other)),
                })
                .collect::<Decoded<_>>()?,
            Some(other) => return Err(self.type_error(name, "a name or a list of names", other)),
        })
    }

    /// A call (`optimizer: sgd(...)`) as a view with its own schema.
    pub fn nested(&self, name: &str) -> Decoded<Params<'a>> {
        match self.value(name)? {
            Value::Map(m) => Params::call(m, &format!("{}, `{name}`", self.at)),
            other => Err(self.type_error(name, "a call", other)),
        }
    }

    /// A count (integer) or a fraction (real), if given.
    pub fn amount(&self, name: &str) -> Decoded<Option<Amount>> {
        match self.get(name)? {
            None => Ok(None),
            Some(Value::Int(n)) => usize::try_from(*n)
                .map(|n| Some(Amount::Count(n)))
                .map_err(|_| self.type_error(name, "a count or a fraction", &Value::Int(*n))),
            Some(Value::Float(f)) => Ok(Some(Amount::Fraction(*f))),
            Some(other) => Err(self.type_error(name, "a count or a fraction", other)),
        }
    }
}

/// `decl kind key`, for messages.
fn step_label(step: &Step) -> String {
    format!("step `{}` ({} {})", step.decl, step.kind, step.key.short())
}

/// The registry schema whose defaults apply to a step's parameters.
fn step_schema(kind: StepKind, params: &Map) -> Option<&'static Kind> {
    match kind {
        StepKind::Dataset => params
            .get("type")
            .and_then(Value::as_str)
            .and_then(registry::kind_named),
        other => registry::schema_named(other.as_str()),
    }
}

// ------------------------------------------------------------ words

/// A word that names none of an option's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{word}` is not one of {}", options.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", "))]
pub struct UnknownWord {
    /// The word written.
    pub word: String,
    /// The words allowed.
    pub options: &'static [&'static str],
}

/// `FromStr` for enums whose words the registry lists; unknown words are errors.
macro_rules! words {
    ($ty:ty { $($word:literal => $value:expr),+ $(,)? }) => {
        impl FromStr for $ty {
            type Err = UnknownWord;

            fn from_str(s: &str) -> Result<Self, UnknownWord> {
                match s {
                    $($word => Ok($value),)+
                    other => Err(UnknownWord {
                        word: other.to_string(),
                        options: &[$($word),+],
                    }),
                }
            }
        }
    };
}

words!(LrScaling { "linear" => LrScaling::Linear, "sqrt" => LrScaling::Sqrt, "none" => LrScaling::None });
words!(Distance { "cosine" => Distance::Cosine, "euclidean" => Distance::Euclidean });
words!(SaliencyMethod { "rc" => SaliencyMethod::Rc, "hc" => SaliencyMethod::Hc });
words!(Variant { "tpami" => Variant::Tpami, "cvpr2011" => Variant::Cvpr2011 });
words!(Render { "palette" => Render::Palette, "swap" => Render::Swap, "mask" => Render::Mask });
words!(Style { "line" => Style::Line, "bar" => Style::Bar, "scatter" => Style::Scatter });

/// The linear probe's solver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeSolver {
    /// Full-batch L-BFGS (the default; deterministic).
    Lbfgs,
    /// Mini-batch SGD with the step's `epochs`, `lr` and `batch`.
    Sgd,
}
words!(ProbeSolver { "lbfgs" => ProbeSolver::Lbfgs, "sgd" => ProbeSolver::Sgd });

/// What colours a t-SNE's points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorBy {
    /// The dataset labels.
    Label,
    /// k-means clusters of the features.
    Cluster,
}
words!(ColorBy { "label" => ColorBy::Label, "cluster" => ColorBy::Cluster });

/// The segmentation decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegDecoder {
    /// A fully convolutional head over the backbone's feature map.
    Fcn,
}
words!(SegDecoder { "fcn" => SegDecoder::Fcn });

// ------------------------------------------------------------ data

/// A `dataset` step's spec.
pub fn dataset_spec(p: &Params) -> Decoded<DatasetSpec> {
    let root = || -> Decoded<PathBuf> { Ok(PathBuf::from(p.str("root")?)) };
    Ok(match p.kind()? {
        "cifar10" => DatasetSpec::Cifar10 {
            root: root()?,
            subset: p.word("subset")?,
            limit: p.opt_usize("limit")?,
        },
        "cifar100" => DatasetSpec::Cifar100 {
            root: root()?,
            subset: p.word("subset")?,
            labels: p.word("labels")?,
            limit: p.opt_usize("limit")?,
        },
        "stl10" => DatasetSpec::Stl10 {
            root: root()?,
            subset: p.word("subset")?,
            limit: p.opt_usize("limit")?,
        },
        "mnist" => DatasetSpec::Mnist {
            root: root()?,
            subset: p.word("subset")?,
            variant: p.word("variant")?,
            limit: p.opt_usize("limit")?,
        },
        "image_folder" => DatasetSpec::ImageFolder {
            root: root()?,
            masks: p.opt_str("masks")?.map(PathBuf::from),
            size: p.opt_u32("size")?,
            limit: p.opt_usize("limit")?,
        },
        "synthetic_shapes" => DatasetSpec::SyntheticShapes {
            count: p.usize("count")?,
            size: p.u32("size")?,
            classes: p.u32("classes")?,
            background: p.word("background")?,
            seed: p.u64("seed")?,
        },
        other => return Err(p.unknown_kind(other, "a dataset")),
    })
}

/// A `split` step's spec.
pub fn split_spec(p: &Params) -> Decoded<SplitSpec> {
    Ok(SplitSpec {
        train: p.amount("train")?.ok_or_else(|| DecodeError::Missing {
            at: p.at.clone(),
            param: "train".into(),
        })?,
        test: p.amount("test")?,
        val: p.amount("val")?,
        stratify: p.bool("stratify")?,
    })
}

/// A `label_subset` step: a fraction of each class, or a count per class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelSubsetConfig {
    /// Fraction of each class kept.
    pub fraction: Option<f64>,
    /// Images kept per class.
    pub per_class: Option<usize>,
}

/// A `label_subset` step's configuration.
pub fn label_subset_config(p: &Params) -> Decoded<LabelSubsetConfig> {
    Ok(LabelSubsetConfig {
        fraction: p.opt_f64("fraction")?,
        per_class: p.opt_usize("per_class")?,
    })
}

// ------------------------------------------------------------ augmentation

/// One planned op (`{type, p, ...}`) as a policy item; `None` for `normalize`,
/// which applies when a batch is fed to the network, not to the 8-bit images.
pub fn policy_item(v: &Value, at: &str) -> Decoded<Option<PolicyItem>> {
    let Value::Map(m) = v else {
        return Err(DecodeError::Type {
            at: at.to_string(),
            param: "policy".into(),
            expected: "a list of ops",
            got: v.display(),
        });
    };
    let op = Params::call(m, at)?;
    // `p` is the `@ p` of the policy, not a registry parameter: 1 when not written.
    let p = match m.get("p") {
        None => 1.0,
        Some(v) => op.number("p", v)?,
    };
    let decoded = match op.kind()? {
        "random_resized_crop" => Op::RandomResizedCrop {
            size: op.opt_u32("size")?,
            scale: op.range("scale")?,
            ratio: op.range("ratio")?,
        },
        "rotate" => Op::Rotate {
            degrees: op.f64("degrees")?,
        },
        "horizontal_flip" => Op::HorizontalFlip,
        "vertical_flip" => Op::VerticalFlip,
        "color_jitter" => Op::ColorJitter {
            brightness: op.f64("brightness")?,
            contrast: op.f64("contrast")?,
            saturation: op.f64("saturation")?,
            hue: op.f64("hue")?,
        },
        "grayscale" => Op::Grayscale,
        "gaussian_blur" => Op::GaussianBlur {
            kernel: op.u32("kernel")?,
            sigma: op.range("sigma")?,
        },
        "solarize" => Op::Solarize {
            threshold: op.f64("threshold")?,
        },
        "random_erasing" => Op::RandomErasing {
            scale: op.range("scale")?,
            ratio: op.range("ratio")?,
            // `random`: no bytes (drawn per pixel); else the constant's bytes.
            value: match op.str("fill")? {
                "random" => vec![],
                _ => op
                    .f64_list("value")?
                    .iter()
                    .map(|&v| (v.fract() == 0.0 && (0.0..=255.0).contains(&v)).then_some(v as u8))
                    .collect::<Option<Vec<u8>>>()
                    .ok_or_else(|| op.invalid("`value` bytes must be whole numbers in 0..=255"))?,
            },
        },
        "normalize" => return Ok(None),
        "one_of" => {
            let choices = op
                .list("choices")?
                .iter()
                .map(|c| policy_item(c, &op.at))
                .collect::<Decoded<Vec<_>>>()?;
            let weights = match op.opt_list("weights")? {
                Some(_) => op.f64_list("weights")?,
                None => vec![],
            };
            Op::OneOf {
                choices: choices.into_iter().flatten().collect(),
                weights,
            }
        }
        "saliency_cut" => Op::Offline(offline_op(&op)?),
        other => return Err(op.unknown_kind(other, "an augmentation op")),
    };
    Ok(Some(PolicyItem::new(decoded, p)))
}

/// A planned policy (a list of op maps) as a typed policy.
pub fn policy(v: &Value, at: &str) -> Decoded<Policy> {
    let items = match v {
        Value::List(xs) => xs
            .iter()
            .map(|x| policy_item(x, at))
            .collect::<Decoded<Vec<_>>>()?,
        Value::Null => vec![],
        other => {
            return Err(DecodeError::Type {
                at: at.to_string(),
                param: "policy".into(),
                expected: "a list of ops",
                got: other.display(),
            });
        }
    };
    Policy::new(items.into_iter().flatten().collect()).map_err(|e| DecodeError::Invalid {
        at: at.to_string(),
        message: e.to_string(),
    })
}

/// The offline op a planned op map describes.
pub fn offline_op(op: &Params) -> Decoded<Arc<dyn OfflineOp>> {
    match op.kind()? {
        "saliency_cut" => Ok(Arc::new(SaliencyCutOp {
            method: op.word("method")?,
            variant: op.word("variant")?,
            threshold: u8::try_from(op.usize("threshold")?)
                .map_err(|_| op.invalid("`threshold` must lie in 0..=255"))?,
            iterations: op.usize("iterations")?,
            scale: op.f64("scale")?,
            render: op.word("render")?,
        })),
        other => Err(op.unknown_kind(other, "an offline op")),
    }
}

/// One planned view (`{type: view, count, size, scale, local, policy}`).
pub fn view_spec(v: &Value, at: &str) -> Decoded<ViewSpec> {
    let Value::Map(m) = v else {
        return Err(DecodeError::Type {
            at: at.to_string(),
            param: "views".into(),
            expected: "a list of views",
            got: v.display(),
        });
    };
    let view = Params::call(m, at)?;
    let spec = ViewSpec {
        count: view.u32("count")?,
        size: view.opt_u32("size")?,
        scale: view.opt_range("scale")?,
        local: view.bool("local")?,
        policy: policy(view.get("policy")?.unwrap_or(&Value::Null), &view.at)?,
    };
    spec.validate().map_err(|e| view.invalid(e))?;
    Ok(spec)
}

/// The first `normalize` op of the views' policies: its mean and std.
pub fn normalize_op(views: &[Value], at: &str) -> Decoded<Option<([f32; 3], [f32; 3])>> {
    for v in views {
        let Some(Value::List(ops)) = v.as_map().and_then(|m| m.get("policy")) else {
            continue;
        };
        for op in ops {
            let Value::Map(m) = op else { continue };
            if m.get("type").and_then(Value::as_str) != Some("normalize") {
                continue;
            }
            let op = Params::call(m, at)?;
            let (mean, std) = (op.f64_list("mean")?, op.f64_list("std")?);
            if let (Ok(mean), Ok(std)) = (<[f64; 3]>::try_from(mean), <[f64; 3]>::try_from(std)) {
                return Ok(Some((mean.map(|x| x as f32), std.map(|x| x as f32))));
            }
        }
    }
    Ok(None)
}

// ------------------------------------------------------------ training

/// The backbone a planned `backbone` call describes, for images of side `image_side`.
pub fn backbone_spec(p: &Params, image_side: usize) -> Decoded<BackboneSpec> {
    p.no_unknown(&[])?;
    let spec = match p.kind()? {
        "tiny_convnet" => BackboneSpec::TinyConvNet {
            width: p.usize("width")?,
            depth: p.usize("depth")?,
        },
        "resnet18" | "resnet34" | "resnet50" => BackboneSpec::ResNet {
            depth: match p.kind()? {
                "resnet18" => 18,
                "resnet34" => 34,
                _ => 50,
            },
            cifar_stem: p.bool("cifar_stem")?,
            zero_init_residual: p.bool("zero_init_residual")?,
        },
        "raw_pixels" => {
            return Err(p.invalid(
                "`raw_pixels` is not a network: it has nothing to build or train (it is read by the features step only)",
            ));
        }
        "vit_tiny" => BackboneSpec::Vit {
            patch: p.usize("patch")?,
            depth: p.usize("depth")?,
            width: p.usize("width")?,
            heads: p.usize("heads")?,
            mlp_ratio: p.f64("mlp_ratio")?,
            image_size: image_side,
        },
        other => return Err(p.unknown_kind(other, "a backbone")),
    };
    spec.validate().map_err(|e| p.invalid(e))?;
    Ok(spec)
}

/// The method a planned `method` call describes, validated. G-SimCLR trains
/// as SimCLR: its map is read with SimCLR's schema, so a parameter it does not
/// have (`proj_layers`) takes SimCLR's registry default; its own parameters
/// belong to its autoencoder and pseudo-label steps.
pub fn method_config(p: &Params) -> Decoded<MethodConfig> {
    let kind = p.kind()?;
    p.no_unknown(&[])?;
    let simclr;
    let p = if kind == "g_simclr" {
        let schema = registry::kind_named("simclr")
            .ok_or_else(|| p.unknown_kind("simclr", "an SSL method"))?;
        simclr = p.with_schema(schema);
        &simclr
    } else {
        p
    };
    let config = match kind {
        "simclr" | "g_simclr" => MethodConfig::SimClr {
            temperature: p.f64("temperature")?,
            proj_hidden: p.usize("proj_hidden")?,
            proj_dim: p.usize("proj_dim")?,
            proj_layers: p.usize("proj_layers")?,
        },
        "moco" => MethodConfig::Moco {
            version: p.word::<MocoVersion>("version")?,
            temperature: p.f64("temperature")?,
            queue: p.usize("queue")?,
            momentum: p.f64("momentum")?,
            momentum_end: p.f64("momentum_end")?,
            proj_hidden: p.usize("proj_hidden")?,
            proj_dim: p.usize("proj_dim")?,
            pred_hidden: p.usize("pred_hidden")?,
            symmetric: p.bool("symmetric")?,
        },
        "simsiam" => MethodConfig::SimSiam {
            proj_hidden: p.usize("proj_hidden")?,
            proj_dim: p.usize("proj_dim")?,
            proj_layers: p.usize("proj_layers")?,
            pred_hidden: p.usize("pred_hidden")?,
        },
        "byol" => MethodConfig::Byol {
            tau_base: p.f64("tau_base")?,
            tau_end: p.f64("tau_end")?,
            proj_hidden: p.usize("proj_hidden")?,
            proj_dim: p.usize("proj_dim")?,
            pred_hidden: p.usize("pred_hidden")?,
        },
        "swav" => MethodConfig::Swav {
            temperature: p.f64("temperature")?,
            prototypes: p.usize("prototypes")?,
            sinkhorn_iters: p.usize("sinkhorn_iters")?,
            epsilon: p.f64("epsilon")?,
            queue: p.usize("queue")?,
            queue_start_epoch: p.usize("queue_start_epoch")?,
            freeze_prototypes_iters: p.usize("freeze_prototypes_iters")?,
            proj_hidden: p.usize("proj_hidden")?,
            proj_dim: p.usize("proj_dim")?,
        },
        "barlow_twins" => MethodConfig::BarlowTwins {
            lambda: p.f64("lambda")?,
            scale_loss: p.f64("scale_loss")?,
            proj_hidden: p.usize("proj_hidden")?,
            proj_dim: p.usize("proj_dim")?,
            proj_layers: p.usize("proj_layers")?,
        },
        "dino" => MethodConfig::Dino {
            out_dim: p.usize("out_dim")?,
            hidden: p.usize("hidden")?,
            bottleneck: p.usize("bottleneck")?,
            student_temp: p.f64("student_temp")?,
            teacher_temp_start: p.f64("teacher_temp_start")?,
            teacher_temp: p.f64("teacher_temp")?,
            teacher_temp_warmup_epochs: p.usize("teacher_temp_warmup_epochs")?,
            center_momentum: p.f64("center_momentum")?,
            tau_base: p.f64("tau_base")?,
            tau_end: p.f64("tau_end")?,
            norm_last_layer: p.bool("norm_last_layer")?,
            freeze_last_layer_epochs: p.usize("freeze_last_layer_epochs")?,
            clip_grad: p.f64("clip_grad")?,
        },
        other => return Err(p.unknown_kind(other, "an SSL method")),
    };
    config.validate().map_err(|e| p.invalid(e))?;
    Ok(config)
}

/// The optimiser a planned `optimizer` call describes.
pub fn optimizer_spec(p: &Params) -> Decoded<OptimizerSpec> {
    p.no_unknown(&[])?;
    Ok(match p.kind()? {
        "sgd" => OptimizerSpec::Sgd {
            lr: p.f64("lr")?,
            momentum: p.f64("momentum")?,
            weight_decay: p.f64("weight_decay")?,
            nesterov: p.bool("nesterov")?,
            exclude_bias_bn: p.bool("exclude_bias_bn")?,
        },
        "lars" => OptimizerSpec::Lars {
            lr: p.f64("lr")?,
            momentum: p.f64("momentum")?,
            weight_decay: p.f64("weight_decay")?,
            eta: p.f64("eta")?,
            exclude_bias_bn: p.bool("exclude_bias_bn")?,
            clip_lr: p.bool("clip_lr")?,
        },
        "adamw" => OptimizerSpec::AdamW {
            lr: p.f64("lr")?,
            beta1: p.f64("beta1")?,
            beta2: p.f64("beta2")?,
            weight_decay: p.f64("weight_decay")?,
            eps: p.f64("eps")?,
        },
        other => return Err(p.unknown_kind(other, "an optimizer")),
    })
}

/// The learning-rate schedule a planned `schedule` call describes.
pub fn schedule(p: &Params) -> Decoded<Schedule> {
    p.no_unknown(&[])?;
    Ok(match p.kind()? {
        "cosine" => Schedule::Cosine {
            warmup_epochs: p.usize("warmup_epochs")?,
            warmup_start_lr: p.f64("warmup_start_lr")?,
            min_lr: p.f64("min_lr")?,
        },
        "constant" => Schedule::Constant,
        "step" => Schedule::Step {
            milestones: p.usize_list("milestones")?,
            gamma: p.f64("gamma")?,
        },
        other => return Err(p.unknown_kind(other, "a learning-rate schedule")),
    })
}

/// A `pretrain` step's configuration (the data and the device come from elsewhere).
#[derive(Debug, Clone, PartialEq)]
pub struct PretrainConfig {
    /// The network.
    pub backbone: BackboneSpec,
    /// The SSL method.
    pub method: MethodConfig,
    /// The views, each with its policy.
    pub views: Vec<ViewSpec>,
    /// `normalize` statistics found in a view's policy, if any.
    pub normalize: Option<([f32; 3], [f32; 3])>,
    /// Training epochs.
    pub epochs: usize,
    /// Images per batch.
    pub batch: usize,
    /// The optimiser.
    pub optimizer: OptimizerSpec,
    /// The learning-rate schedule.
    pub schedule: Schedule,
    /// How the learning rate scales with the batch.
    pub lr_scaling: LrScaling,
    /// Gradient-norm clip.
    pub grad_clip: Option<f64>,
    /// Seed.
    pub seed: u64,
    /// `f32`, `f16` or `bf16`.
    pub precision: String,
}

/// A `pretrain` step's configuration for images of side `image_side`.
pub fn pretrain_config(p: &Params, image_side: usize) -> Decoded<PretrainConfig> {
    let views = p.list("views")?;
    Ok(PretrainConfig {
        backbone: backbone_spec(&p.nested("backbone")?, image_side)?,
        method: method_config(&p.nested("method")?)?,
        views: views
            .iter()
            .map(|v| view_spec(v, &p.at))
            .collect::<Decoded<_>>()?,
        normalize: normalize_op(views, &p.at)?,
        epochs: p.usize("epochs")?,
        batch: p.usize("batch")?,
        optimizer: optimizer_spec(&p.nested("optimizer")?)?,
        schedule: schedule(&p.nested("schedule")?)?,
        lr_scaling: p.word("lr_scaling")?,
        grad_clip: p.opt_f64("grad_clip")?,
        seed: p.u64("seed")?,
        precision: p.str("precision")?.to_string(),
    })
}

/// Checkpoint cadence of a `pretrain` step's execution settings.
pub fn checkpoint_every(exec: &Params) -> Decoded<usize> {
    exec.usize("checkpoint_every")
}

/// How often a `pretrain` step runs its kNN monitor (0: never); execution-only.
pub fn monitor_every(exec: &Params) -> Decoded<usize> {
    exec.usize("monitor_every")
}

/// The held-out fraction of the kNN monitor's slice; execution-only.
pub fn monitor_fraction(exec: &Params) -> Decoded<f64> {
    exec.f64("monitor_fraction")
}

/// G-SimCLR's autoencoder step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoencoderConfig {
    /// Training epochs.
    pub epochs: usize,
    /// Code width.
    pub latent: usize,
    /// Std of the input noise.
    pub noise_std: f64,
    /// Seed.
    pub seed: u64,
}

/// An `autoencoder` step's configuration (the planner copies G-SimCLR's
/// `ae_epochs`, `ae_latent` and `noise_std` into it).
pub fn autoencoder_config(p: &Params) -> Decoded<AutoencoderConfig> {
    Ok(AutoencoderConfig {
        epochs: p.usize("epochs")?,
        latent: p.usize("latent")?,
        noise_std: p.f64("noise_std")?,
        seed: p.u64("seed")?,
    })
}

/// G-SimCLR's pseudo-label step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PseudoLabelsConfig {
    /// k of the k-means over the codes.
    pub clusters: usize,
    /// Seed.
    pub seed: u64,
}

/// A `pseudo_labels` step's configuration.
pub fn pseudo_labels_config(p: &Params) -> Decoded<PseudoLabelsConfig> {
    Ok(PseudoLabelsConfig {
        clusters: p.usize("clusters")?,
        seed: p.u64("seed")?,
    })
}

// ------------------------------------------------------------ evaluation

/// A `linear_probe` step's configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearProbeConfig {
    /// The solver.
    pub solver: ProbeSolver,
    /// L2 penalty.
    pub l2: f64,
    /// SGD epochs.
    pub epochs: usize,
    /// SGD learning rate.
    pub lr: f64,
    /// SGD batch.
    pub batch: usize,
    /// Seed.
    pub seed: u64,
}

/// A `linear_probe` step's configuration.
pub fn linear_probe_config(p: &Params) -> Decoded<LinearProbeConfig> {
    Ok(LinearProbeConfig {
        solver: p.word("solver")?,
        l2: p.f64("l2")?,
        epochs: p.usize("epochs")?,
        lr: p.f64("lr")?,
        batch: p.usize("batch")?,
        seed: p.u64("seed")?,
    })
}

/// A `knn` step's configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnnConfig {
    /// Neighbours.
    pub k: usize,
    /// Softmax temperature of the cosine weights.
    pub temperature: f64,
    /// Distance.
    pub distance: Distance,
}

/// A `knn` step's configuration.
pub fn knn_config(p: &Params) -> Decoded<KnnConfig> {
    Ok(KnnConfig {
        k: p.usize("k")?,
        temperature: p.f64("temperature")?,
        distance: p.word("distance")?,
    })
}

/// A `kmeans` step's configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KmeansConfig {
    /// k.
    pub clusters: usize,
    /// Restarts (best inertia kept).
    pub restarts: usize,
    /// Lloyd iterations per restart.
    pub max_iter: usize,
    /// Seed.
    pub seed: u64,
}

/// A `kmeans` step's configuration.
pub fn kmeans_config(p: &Params) -> Decoded<KmeansConfig> {
    Ok(KmeansConfig {
        clusters: p.usize("clusters")?,
        restarts: p.usize("restarts")?,
        max_iter: p.usize("max_iter")?,
        seed: p.u64("seed")?,
    })
}

/// A `tsne` step's configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TsneConfig {
    /// Perplexity.
    pub perplexity: f64,
    /// Gradient iterations.
    pub iterations: usize,
    /// Step size.
    pub learning_rate: f64,
    /// Point colours.
    pub color_by: ColorBy,
    /// k for `color_by: cluster`.
    pub clusters: usize,
    /// Seed.
    pub seed: u64,
}

/// A `tsne` step's configuration.
pub fn tsne_config(p: &Params) -> Decoded<TsneConfig> {
    Ok(TsneConfig {
        perplexity: p.f64("perplexity")?,
        iterations: p.usize("iterations")?,
        learning_rate: p.f64("learning_rate")?,
        color_by: p.word("color_by")?,
        clusters: p.usize("clusters")?,
        seed: p.u64("seed")?,
    })
}

/// A `segmentation` step's configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentationConfig {
    /// Fine-tuning epochs.
    pub epochs: usize,
    /// Images per batch.
    pub batch: usize,
    /// Learning rate.
    pub lr: f64,
    /// The decoder head.
    pub decoder: SegDecoder,
    /// Train only the decoder.
    pub freeze_backbone: bool,
    /// Seed.
    pub seed: u64,
}

/// A `segmentation` step's configuration.
pub fn segmentation_config(p: &Params) -> Decoded<SegmentationConfig> {
    Ok(SegmentationConfig {
        epochs: p.usize("epochs")?,
        batch: p.usize("batch")?,
        lr: p.f64("lr")?,
        decoder: p.word("decoder")?,
        freeze_backbone: p.bool("freeze_backbone")?,
        seed: p.u64("seed")?,
    })
}

/// Where a `features` step's features come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureSource {
    /// The network of the `encoder` input.
    Network,
    /// No network: the normalised, flattened pixels (`backbone: raw_pixels()`).
    RawPixels,
}

/// A `features` step's configuration: its `backbone` parameter when it has one (a backbone it
/// computes itself, `raw_pixels`), else the network of its `encoder` input.
pub fn features_config(p: &Params) -> Decoded<FeatureSource> {
    p.no_unknown(&["data_part", "backbone"])?;
    match p.get("backbone")? {
        None => Ok(FeatureSource::Network),
        Some(_) => {
            let b = p.nested("backbone")?;
            b.no_unknown(&[])?;
            match b.kind()? {
                "raw_pixels" => Ok(FeatureSource::RawPixels),
                other => Err(b.unknown_kind(other, "a backbone without weights (`raw_pixels`)")),
            }
        }
    }
}

/// A `finetune` step's configuration (the data and the backbone's weights come from its inputs).
#[derive(Debug, Clone, PartialEq)]
pub struct FinetuneConfig {
    /// The backbone trained from scratch, when the step has no `encoder` input (its
    /// parameters; built at the data's image side).
    pub scratch: Option<Map>,
    /// Training epochs.
    pub epochs: usize,
    /// Images per batch.
    pub batch: usize,
    /// The optimiser (its lr used as written).
    pub optimizer: OptimizerSpec,
    /// The learning-rate schedule.
    pub schedule: Schedule,
    /// Augmentation of the training images (empty: none).
    pub policy: Policy,
    /// The policy's `normalize` op, if it has one.
    pub normalize: Option<([f32; 3], [f32; 3])>,
    /// Seed of the head's (and a scratch backbone's) weights, of the shuffles and the draws.
    pub seed: u64,
}

/// A `finetune` step's configuration.
pub fn finetune_config(p: &Params) -> Decoded<FinetuneConfig> {
    let scratch = match p.get("backbone")? {
        None => None,
        Some(_) => {
            let b = p.nested("backbone")?;
            // Validated now (at the common side) so a bad backbone fails before any data is read.
            backbone_spec(&b, DECODE_IMAGE_SIDE)?;
            Some(b.map().clone())
        }
    };
    Ok(FinetuneConfig {
        scratch,
        epochs: p.usize("epochs")?,
        batch: p.usize("batch")?,
        optimizer: optimizer_spec(&p.nested("optimizer")?)?,
        schedule: schedule(&p.nested("schedule")?)?,
        policy: policy(p.get("policy")?.unwrap_or(&Value::Null), &p.at)?,
        normalize: match p.get("policy")? {
            // `normalize_op` reads views: the policy as the one view a fine-tune draws.
            Some(policy) => normalize_op(
                &[Value::Map(Map::from([(
                    "policy".to_string(),
                    policy.clone(),
                )]))],
                &p.at,
            )?,
            None => None,
        },
        seed: p.u64("seed")?,
    })
}

// ------------------------------------------------------------ reports

/// A `preview` step's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewConfig {
    /// The policy shown.
    pub policy: Policy,
    /// Images shown.
    pub count: usize,
    /// Grid columns.
    pub cols: u32,
    /// Smallest cell side: smaller views are enlarged by a whole factor.
    pub tile: u32,
    /// The epoch whose draws are shown.
    pub epoch: u32,
    /// Seed.
    pub seed: u64,
}

/// A `preview` step's configuration.
pub fn preview_config(p: &Params) -> Decoded<PreviewConfig> {
    Ok(PreviewConfig {
        policy: policy(p.value("policy")?, &p.at)?,
        count: p.usize("count")?,
        cols: p.u32("cols")?,
        tile: p.u32("tile")?,
        epoch: p.u32("epoch")?,
        seed: p.u64("seed")?,
    })
}

/// A `table` step's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct TableConfig {
    /// What the table shows.
    pub spec: TableSpec,
    /// Files written (`md`, `csv`, `json`, `html`).
    pub formats: Vec<String>,
}

/// A `table` step's configuration.
pub fn table_config(p: &Params) -> Decoded<TableConfig> {
    Ok(TableConfig {
        spec: TableSpec {
            metrics: p.names("metrics")?,
            rows: p.names("rows")?,
            cols: p.names("cols")?.into_iter().next(),
        },
        formats: p.names("formats")?,
    })
}

/// A `plot` step's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotConfig {
    /// The y metric, the x axis, the series and the style (the title is the declaration's).
    pub spec: PlotSpec,
    /// Files written (`png`, `svg`).
    pub formats: Vec<String>,
}

/// A `plot` step's configuration, titled `title`.
pub fn plot_config(p: &Params, title: &str) -> Decoded<PlotConfig> {
    let first = |name: &str| -> Decoded<String> {
        p.names(name)?
            .into_iter()
            .next()
            .ok_or_else(|| DecodeError::Missing {
                at: p.at.clone(),
                param: name.to_string(),
            })
    };
    Ok(PlotConfig {
        spec: PlotSpec {
            title: title.to_string(),
            metric: first("metric")?,
            x: first("x")?,
            series: p.names("series")?,
            baselines: p.names("baselines")?,
            style: p.word("style")?,
        },
        formats: p.names("formats")?,
    })
}

// ------------------------------------------------------------ any step

/// The typed configuration of a step of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum StepConfig {
    /// `dataset`.
    Dataset(DatasetSpec),
    /// `split`.
    Split(SplitSpec),
    /// `label_subset`.
    LabelSubset(LabelSubsetConfig),
    /// `preview`.
    Preview(PreviewConfig),
    /// `offline_augment`: the op (equal when it computes the same thing).
    OfflineAugment(Arc<dyn OfflineOp>),
    /// `pretrain` (backbone decoded for 32-pixel images).
    Pretrain(Box<PretrainConfig>),
    /// `init_backbone` (for 32-pixel images).
    InitBackbone(BackboneSpec),
    /// `autoencoder`.
    Autoencoder(AutoencoderConfig),
    /// `pseudo_labels`.
    PseudoLabels(PseudoLabelsConfig),
    /// `features`: a network's, or the raw pixels.
    Features(FeatureSource),
    /// `linear_probe`.
    LinearProbe(LinearProbeConfig),
    /// `knn`.
    Knn(KnnConfig),
    /// `kmeans`.
    Kmeans(KmeansConfig),
    /// `tsne`.
    Tsne(TsneConfig),
    /// `segmentation`.
    Segmentation(SegmentationConfig),
    /// `finetune`.
    Finetune(Box<FinetuneConfig>),
    /// `table`.
    Table(TableConfig),
    /// `plot` (untitled).
    Plot(PlotConfig),
}

/// Image side assumed by [`decode_step`] for backbones (ViT position embeddings).
pub const DECODE_IMAGE_SIDE: usize = 32;

/// Decodes the parameters of a step of kind `kind` into its typed
/// configuration: what the runner of that kind reads, so two parameter maps
/// that decode equal run the same way.
pub fn decode_step(kind: StepKind, params: &Map) -> Decoded<StepConfig> {
    let p = Params::of_kind(kind, params, format!("a `{kind}` step"));
    Ok(match kind {
        StepKind::Dataset => StepConfig::Dataset(dataset_spec(&p)?),
        StepKind::Split => StepConfig::Split(split_spec(&p)?),
        StepKind::LabelSubset => StepConfig::LabelSubset(label_subset_config(&p)?),
        StepKind::Preview => StepConfig::Preview(preview_config(&p)?),
        StepKind::OfflineAugment => StepConfig::OfflineAugment(offline_op(&p.nested("op")?)?),
        StepKind::Pretrain => {
            StepConfig::Pretrain(Box::new(pretrain_config(&p, DECODE_IMAGE_SIDE)?))
        }
        StepKind::InitBackbone => {
            StepConfig::InitBackbone(backbone_spec(&p.nested("backbone")?, DECODE_IMAGE_SIDE)?)
        }
        StepKind::Autoencoder => StepConfig::Autoencoder(autoencoder_config(&p)?),
        StepKind::PseudoLabels => StepConfig::PseudoLabels(pseudo_labels_config(&p)?),
        StepKind::Features => StepConfig::Features(features_config(&p)?),
        StepKind::LinearProbe => StepConfig::LinearProbe(linear_probe_config(&p)?),
        StepKind::Knn => StepConfig::Knn(knn_config(&p)?),
        StepKind::Kmeans => StepConfig::Kmeans(kmeans_config(&p)?),
        StepKind::Tsne => StepConfig::Tsne(tsne_config(&p)?),
        StepKind::Segmentation => StepConfig::Segmentation(segmentation_config(&p)?),
        StepKind::Finetune => StepConfig::Finetune(Box::new(finetune_config(&p)?)),
        StepKind::Table => StepConfig::Table(table_config(&p)?),
        StepKind::Plot => StepConfig::Plot(plot_config(&p, "")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::registry::Category;
    use crate::lang::{self, NoImports};
    use crate::plan::Plan;

    const BASE: &str = "
dataset shapes = synthetic_shapes(count: 64, size: 16, classes: 4)
split parts {
  data = shapes
  train = 0.75
  test = 0.25
}
";

    fn plan_of(text: &str) -> Plan {
        let checked = lang::check_source("t.sslp", "t.sslp", text, &mut NoImports);
        assert!(
            checked.diagnostics.iter().all(|d| !d.is_error()),
            "{text}\n{:#?}",
            checked.diagnostics
        );
        let (plan, diags) = crate::plan::plan(&checked.program.expect("checked"));
        assert!(diags.iter().all(|d| !d.is_error()), "{text}\n{diags:#?}");
        plan.expect("a plan")
    }

    /// A call of `kind` with its required parameters only.
    fn call(kind: &Kind) -> String {
        let args: Vec<&str> = kind
            .params
            .iter()
            .filter(|p| p.default == Dflt::Required)
            .map(|p| match p.name {
                "root" => "root: \"r\"",
                "milestones" => "milestones: [10]",
                "choices" => "choices: [horizontal_flip()]",
                "clusters" => "clusters: 4",
                "backbone" => "backbone: tiny_convnet()",
                "train" => "train: parts.train",
                "test" => "test: parts.test",
                "data" => "data: parts.test",
                other => panic!("`{}`: give the test a sample for `{other}`", kind.name),
            })
            .collect();
        format!("{}({})", kind.name, args.join(", "))
    }

    fn pretrain_with(field: &str, value: &str) -> String {
        let mut fields = vec![
            ("backbone", "tiny_convnet()".to_string()),
            ("method", "simclr()".to_string()),
            ("policy", "[horizontal_flip()]".to_string()),
        ];
        match fields.iter_mut().find(|(f, _)| *f == field) {
            Some(slot) => slot.1 = value.to_string(),
            None => fields.push((field, value.to_string())),
        }
        let body: Vec<String> = fields.iter().map(|(f, v)| format!("  {f} = {v}")).collect();
        format!(
            "{BASE}pretrain p {{\n  data = parts.train\n{}\n}}\n",
            body.join("\n")
        )
    }

    /// The planned map of a program that calls `kind` with no optional argument.
    fn planned_map(kind: &'static Kind) -> Map {
        let c = call(kind);
        let pretrain_field = |plan: &Plan, field: &str| -> Map {
            let step = plan
                .steps
                .iter()
                .find(|s| s.kind == StepKind::Pretrain)
                .expect("a pretrain step");
            step.params[field].as_map().expect("a call").clone()
        };
        match kind.category {
            Category::Method => pretrain_field(&plan_of(&pretrain_with("method", &c)), "method"),
            // A backbone without weights is read by the features step only.
            Category::Backbone if !kind.is_trainable() => {
                let plan = plan_of(&format!(
                    "{BASE}evaluate e = knn(backbone: {c}, train: parts.train, test: parts.test)\n"
                ));
                let step = plan
                    .steps
                    .iter()
                    .find(|s| s.kind == StepKind::Features)
                    .expect("a features step");
                step.params["backbone"].as_map().expect("a call").clone()
            }
            Category::Backbone => {
                pretrain_field(&plan_of(&pretrain_with("backbone", &c)), "backbone")
            }
            Category::Optimizer => {
                pretrain_field(&plan_of(&pretrain_with("optimizer", &c)), "optimizer")
            }
            Category::Schedule => {
                pretrain_field(&plan_of(&pretrain_with("schedule", &c)), "schedule")
            }
            Category::Op => {
                let plan = plan_of(&pretrain_with("policy", &format!("[{c}]")));
                let step = plan
                    .steps
                    .iter()
                    .find(|s| s.kind == StepKind::Pretrain)
                    .expect("a pretrain step");
                let Value::List(views) = &step.params["views"] else {
                    panic!("views")
                };
                let Some(Value::List(ops)) = views[0].as_map().and_then(|v| v.get("policy")) else {
                    panic!("a policy")
                };
                ops[0].as_map().expect("an op").clone()
            }
            Category::Dataset => {
                let plan = plan_of(&format!("dataset d = {c}\n"));
                (*plan.steps[0].params).clone()
            }
            Category::Eval => {
                let plan = plan_of(&format!("{BASE}evaluate e = {c}\n"));
                let step = plan.steps.iter().find(|s| s.kind == kind.name);
                (*step.expect("the evaluation step").params).clone()
            }
            other => panic!("no program for {other:?}"),
        }
    }

    /// Decodes a map of `kind` with the decoder execution uses for it.
    fn decode(kind: &'static Kind, map: &Map) -> Decoded<String> {
        let at = format!("`{}`", kind.name);
        let typed = match kind.category {
            Category::Method => format!("{:?}", method_config(&Params::call(map, &at)?)?),
            Category::Backbone if !kind.is_trainable() => {
                let step = Map::from([("backbone".to_string(), Value::Map(map.clone()))]);
                format!("{:?}", decode_step(StepKind::Features, &step)?)
            }
            Category::Backbone => {
                format!("{:?}", backbone_spec(&Params::call(map, &at)?, 32)?)
            }
            Category::Optimizer => format!("{:?}", optimizer_spec(&Params::call(map, &at)?)?),
            Category::Schedule => format!("{:?}", schedule(&Params::call(map, &at)?)?),
            Category::Op => format!("{:?}", policy_item(&Value::Map(map.clone()), &at)?),
            Category::Dataset => format!("{:?}", decode_step(StepKind::Dataset, map)?),
            Category::Eval => {
                let step_kind: StepKind = kind.name.parse().expect("an evaluation step kind");
                format!("{:?}", decode_step(step_kind, map)?)
            }
            other => panic!("no decoder for {other:?}"),
        };
        Ok(typed)
    }

    #[test]
    fn registry_defaults_and_decoders_agree() {
        let categories = [
            Category::Method,
            Category::Backbone,
            Category::Optimizer,
            Category::Schedule,
            Category::Eval,
            Category::Dataset,
            Category::Op,
        ];
        let mut checked = 0;
        for kind in registry::all_kinds().filter(|k| categories.contains(&k.category)) {
            let planned = planned_map(kind);
            // The planned map with every defaulted parameter replaced by the
            // registry's default as the decoder evaluates it ...
            let mut defaults = planned.clone();
            // ... and with every defaulted parameter left out.
            let mut bare = planned.clone();
            for p in kind.params {
                if let Dflt::Src(src) = p.default {
                    let v = registry_default(p)
                        .unwrap_or_else(|| panic!("`{}.{}` = `{src}`", kind.name, p.name));
                    if let Some(planned_value) = planned.get(p.name) {
                        assert_eq!(
                            planned_value,
                            &v,
                            "`{}.{}`: the planner fills `{}`, the decoder's default is `{}`",
                            kind.name,
                            p.name,
                            planned_value.display(),
                            v.display()
                        );
                        defaults.insert(p.name.to_string(), v);
                    }
                    bare.remove(p.name);
                }
            }
            let from_plan =
                decode(kind, &planned).unwrap_or_else(|e| panic!("`{}` planned: {e}", kind.name));
            let from_defaults =
                decode(kind, &defaults).unwrap_or_else(|e| panic!("`{}` defaults: {e}", kind.name));
            let from_bare =
                decode(kind, &bare).unwrap_or_else(|e| panic!("`{}` bare: {e}", kind.name));
            assert_eq!(from_plan, from_defaults, "`{}`", kind.name);
            assert_eq!(from_plan, from_bare, "`{}`", kind.name);
            checked += 1;
        }
        assert!(checked >= 40, "only {checked} kinds checked");
    }

    #[test]
    fn every_evaluation_and_report_kind_is_a_step_kind() {
        for kind in registry::all_kinds()
            .filter(|k| matches!(k.category, Category::Eval | Category::Report))
        {
            assert!(kind.name.parse::<StepKind>().is_ok(), "{}", kind.name);
        }
    }

    fn map(pairs: &[(&str, Value)]) -> Map {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn absent_values_take_the_registry_default() {
        let m = map(&[
            ("type", Value::Str("sgd".into())),
            ("lr", Value::Float(0.2)),
        ]);
        let spec = optimizer_spec(&Params::call(&m, "test").expect("sgd")).expect("decodes");
        let OptimizerSpec::Sgd {
            lr,
            momentum,
            nesterov,
            ..
        } = spec
        else {
            panic!("{spec:?}")
        };
        assert_eq!((lr, momentum, nesterov), (0.2, 0.9, false));
    }

    #[test]
    fn errors_name_the_step_and_the_parameter() {
        // No default anywhere: the probe's data part is not a registry parameter.
        let m = map(&[]);
        let e = Params::of_kind(StepKind::Features, &m, "step `lin`")
            .str("data_part")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "step `lin`: `data_part` has no value and the registry has no default for it"
        );
        // A word the checker would reject is an error, not a fallback.
        let m = map(&[("distance", Value::Str("manhattan".into()))]);
        let e = knn_config(&Params::of_kind(StepKind::Knn, &m, "step `nn`")).unwrap_err();
        assert!(
            matches!(&e, DecodeError::Word { param, .. } if param == "distance"),
            "{e}"
        );
        assert!(e.to_string().contains("`cosine`, `euclidean`"), "{e}");
        // A value of the wrong type.
        let m = map(&[("k", Value::Str("many".into()))]);
        let e = knn_config(&Params::of_kind(StepKind::Knn, &m, "step `nn`")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "step `nn`: `k` should be an integer, but is `many`"
        );
        // An unknown method, and an unknown method parameter.
        let m = map(&[
            ("type", Value::Str("simclr".into())),
            ("bogus", Value::Int(1)),
        ]);
        let e = method_config(&Params::call(&m, "test").expect("simclr")).unwrap_err();
        assert!(e.to_string().contains("has no parameter `bogus`"), "{e}");
        let m = map(&[("type", Value::Str("nope".into()))]);
        assert!(Params::call(&m, "test").is_err());
    }

    #[test]
    fn g_simclr_trains_as_simclr_with_simclr_defaults() {
        let m = map(&[
            ("type", Value::Str("g_simclr".into())),
            ("temperature", Value::Float(0.3)),
            ("clusters", Value::Int(4)),
        ]);
        let config = method_config(&Params::call(&m, "test").expect("g_simclr")).expect("decodes");
        assert_eq!(
            config,
            MethodConfig::SimClr {
                temperature: 0.3,
                proj_hidden: 2048,
                proj_dim: 128,
                proj_layers: 2,
            }
        );
    }
}
