//! Why a step failed: [`StepError`], returned by every step function and by
//! [`StepRunner::run`](super::StepRunner::run). The scheduler attaches the
//! step (key, kind, declaration) in a [`StepFailure`]; the text the store
//! records and `sslp run` prints is the error's `Display`.

use super::decode::DecodeError;
use super::store::StoreError;
use crate::data::DataError;
use crate::eval::EvalError;
use crate::plan::{Key, Step, StepKind};
use crate::report::results::ReportError;
use crate::train::ConfigError;
use crate::train::bytes::BytesError;
use crate::train::device::DeviceError;
use crate::train::trainer::TrainError;

/// Why a step could not compute its outputs.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The step has no input of this name (the planner always gives one: a malformed plan).
    #[error("`{kind}` needs `{input}`")]
    MissingInput {
        /// The step's kind.
        kind: StepKind,
        /// The input's name (`data`, `encoder`, `train`, ...).
        input: String,
    },
    /// An input step has no record in the store.
    #[error("input {} is not in the store", key.short())]
    NotStored {
        /// The input step.
        key: Key,
    },
    /// An input step's record lacks an output this step reads.
    #[error("step {} has no output `{output}`", key.short())]
    NoOutput {
        /// The input step.
        key: Key,
        /// The output's name.
        output: String,
    },
    /// An input step is not part of the plan being run.
    #[error("step {} is not in the plan", key.short())]
    NotPlanned {
        /// The input step.
        key: Key,
    },
    /// An input's stored content cannot be used.
    #[error("{input}: {reason}")]
    BadInput {
        /// The input, in words (`split 1a2b3c4d`, `label subset`, ...).
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An input step's stored output that does not decode (written by another sslp
    /// version, or a bug): names the step, the output and its file in the store.
    #[error(
        "output `{output}` of step {} ({}) cannot be read: {reason}",
        key.short(),
        path.display()
    )]
    Undecodable {
        /// The input step.
        key: Key,
        /// The output's name.
        output: String,
        /// Its file in the store.
        path: std::path::PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// A `data` input whose step makes no images.
    #[error("step {} ({kind}) does not produce images", key.short())]
    NotImages {
        /// The input step.
        key: Key,
        /// Its kind.
        kind: StepKind,
    },
    /// A data part (after label filtering) without the images the step needs.
    #[error("the {part} part has no {what}")]
    EmptyPart {
        /// The part (`data`, `train`, `test`).
        part: String,
        /// What it lacks (`images`, `labelled images`).
        what: &'static str,
    },
    /// Segmentation data without masks.
    #[error(
        "the {part} images have no masks: segmentation needs a dataset with masks \
         (image_folder(masks: ...) or synthetic_shapes)"
    )]
    NoMasks {
        /// The part (`train`, `test`).
        part: String,
    },
    /// Fewer training images than one batch.
    #[error("the {data} data has {images} images, fewer than one batch of {batch}; lower `batch`")]
    TooFewImages {
        /// The data (`training`, `labelled train`).
        data: &'static str,
        /// Labelled training images.
        images: usize,
        /// The batch size.
        batch: usize,
    },
    /// A dataset planned without the fingerprint of its files.
    #[error(
        "dataset `{decl}` was planned without a fingerprint of its files \
         (plan with `plan::plan_with` and `exec::fingerprint::fingerprint_plan`)"
    )]
    Unfingerprinted {
        /// The dataset's declaration.
        decl: String,
    },
    /// A parameter that cannot be decoded (names the step and the parameter).
    #[error(transparent)]
    Param(#[from] DecodeError),
    /// A table or plot format that is not known.
    #[error("`{format}` is not a {what} format")]
    UnknownFormat {
        /// `table` or `plot`.
        what: &'static str,
        /// The format written.
        format: String,
    },
    /// Loading, checking or splitting a dataset failed (names the file where there is one).
    #[error(transparent)]
    Data(#[from] DataError),
    /// An image of a dataset is not a valid image.
    #[error(transparent)]
    Image(#[from] crate::augment::ImageError),
    /// Encoding a PNG failed.
    #[error(transparent)]
    Png(#[from] image::ImageError),
    /// An evaluation (probe, kNN, clustering, t-SNE, metrics) failed.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// A table or plot could not be built.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// Some arms of a table or plot have no results yet.
    #[error("{missing} arms have no results yet")]
    NoResults {
        /// Arms without results.
        missing: usize,
    },
    /// Training failed (divergence, a batch that does not fit, a bad checkpoint, ...).
    #[error(transparent)]
    Train(#[from] TrainError),
    /// An invalid model setting (backbone, head, decoder).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Weights that could not be written or read back.
    #[error(transparent)]
    Bytes(#[from] BytesError),
    /// The requested device cannot be used (e.g. `cuda` on a build without CUDA).
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An output could not be serialised.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A loss that became NaN or infinite in a step's own training loop.
    #[error("{what} became {value} at epoch {epoch}")]
    Diverged {
        /// The loss (`the autoencoder's loss`, `the segmentation loss`).
        what: &'static str,
        /// Its value.
        value: f64,
        /// The epoch, from 1.
        epoch: usize,
    },
    /// A network whose outputs are NaN or infinite.
    #[error("{source_} produced NaN or infinite {output}")]
    NonFinite {
        /// The network (`the backbone`, `the trained network`).
        source_: &'static str,
        /// What it produced (`features`, `scores`).
        output: &'static str,
    },
    /// Tensor values could not be read back from the device.
    #[error("reading {what}: {reason}")]
    Readback {
        /// What was read (`features`, `logits`, ...).
        what: &'static str,
        /// burn's message.
        reason: String,
    },
    /// Internal results that do not fit together (a bug, not a user error).
    #[error("{0}")]
    Inconsistent(String),
    /// The user interrupted the run.
    #[error("interrupted")]
    Interrupted,
    /// The step's code panicked (a bug; the message is in the log).
    #[error("internal error: the `{kind}` step panicked")]
    Panicked {
        /// The step's kind.
        kind: StepKind,
    },
}

impl StepError {
    /// A missing input `input` of `step`.
    pub fn missing_input(step: &Step, input: &str) -> Self {
        StepError::MissingInput {
            kind: step.kind,
            input: input.into(),
        }
    }

    /// An unusable input: `input` (in words), and why.
    pub fn bad_input(input: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        StepError::BadInput {
            input: input.into(),
            reason: reason.to_string(),
        }
    }

    /// The parameter this error is about, when it is about one.
    pub fn param(&self) -> Option<&str> {
        match self {
            StepError::Param(
                DecodeError::Missing { param, .. }
                | DecodeError::Type { param, .. }
                | DecodeError::Word { param, .. },
            ) => Some(param),
            _ => None,
        }
    }

    /// The input this error is about, when it is about a missing one.
    pub fn input(&self) -> Option<&str> {
        match self {
            StepError::MissingInput { input, .. } => Some(input),
            _ => None,
        }
    }
}

/// A step that failed: which one, and why.
#[derive(Debug)]
pub struct StepFailure {
    /// The step's key.
    pub key: Key,
    /// Its kind.
    pub kind: StepKind,
    /// Its declaration (`pretrain simclr_r18`).
    pub decl: String,
    /// The arms that needed it (none of them can finish), by name.
    pub arms: Vec<String>,
    /// Why it failed.
    pub error: StepError,
}

impl std::fmt::Display for StepFailure {
    /// The error's text (the step is shown by whoever prints it, as `sslp run` does).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)
    }
}

impl std::error::Error for StepFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

impl StepError {
    /// The stable code of the kind of failure (`sslp::step::too_few_images`), for people
    /// searching docs and for tools matching on it.
    pub fn code(&self) -> &'static str {
        match self {
            StepError::MissingInput { .. } => "sslp::step::missing_input",
            StepError::NotStored { .. } => "sslp::step::not_stored",
            StepError::NoOutput { .. } => "sslp::step::no_output",
            StepError::NotPlanned { .. } => "sslp::step::not_planned",
            StepError::BadInput { .. } => "sslp::step::bad_input",
            StepError::Undecodable { .. } => "sslp::step::undecodable",
            StepError::NotImages { .. } => "sslp::step::not_images",
            StepError::EmptyPart { .. } => "sslp::step::empty_part",
            StepError::NoMasks { .. } => "sslp::step::no_masks",
            StepError::TooFewImages { .. } => "sslp::step::too_few_images",
            StepError::Unfingerprinted { .. } => "sslp::step::unfingerprinted",
            StepError::Param { .. } => "sslp::step::param",
            StepError::UnknownFormat { .. } => "sslp::step::unknown_format",
            StepError::Data { .. } => "sslp::step::data",
            StepError::Image { .. } => "sslp::step::image",
            StepError::Png { .. } => "sslp::step::png",
            StepError::Eval { .. } => "sslp::step::eval",
            StepError::Report { .. } => "sslp::step::report",
            StepError::NoResults { .. } => "sslp::step::no_results",
            StepError::Train { .. } => "sslp::step::train",
            StepError::Config { .. } => "sslp::step::config",
            StepError::Bytes { .. } => "sslp::step::bytes",
            StepError::Device { .. } => "sslp::step::device",
            StepError::Store { .. } => "sslp::step::store",
            StepError::Json { .. } => "sslp::step::json",
            StepError::Diverged { .. } => "sslp::step::diverged",
            StepError::NonFinite { .. } => "sslp::step::non_finite",
            StepError::Readback { .. } => "sslp::step::readback",
            StepError::Inconsistent { .. } => "sslp::step::inconsistent",
            StepError::Interrupted => "sslp::step::interrupted",
            StepError::Panicked { .. } => "sslp::step::panicked",
        }
    }
}

/// Rendered by miette (`sslp run` prints failures this way): the code of the failure, its
/// message and causes, and which step it was.
impl miette::Diagnostic for StepFailure {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(self.error.code()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        let arms = match self.arms.as_slice() {
            [] => String::new(),
            [one] => format!(", needed by arm {one}"),
            [first, second] => format!(", needed by arms {first} and {second}"),
            [first, rest @ ..] => format!(", needed by arm {first} and {} more", rest.len()),
        };
        Some(Box::new(format!(
            "in step {} ({} `{}`){arms}; the arms that do not need it went on; `sslp cache show {}` shows its record",
            self.key.short(),
            self.kind,
            self.decl,
            self.key.short()
        )))
    }
}
