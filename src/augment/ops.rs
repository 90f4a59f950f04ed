//! The augmentation ops: typed specs, their validation, and their
//! application to an image with a random stream.
//!
//! Each op draws its random parameters from the stream it is given and then
//! runs a deterministic kernel; the kernels are public in the submodules
//! (`ops::color::adjust_hue(img, 0.1)`, ...), so the semantics can be tested
//! and reused without randomness. `image`/`imageproc` are not used for the
//! kernels: their generic, float-based implementations allocate per call and
//! are several times slower on small images than these fixed-point loops.
//!
//! An op with its probability ([`PolicyItem`], what `one_of` chooses among)
//! and the state ops run with ([`Context`]) live here too, so the ops need
//! nothing from [`policy`](super::policy) or [`views`](super::views), which
//! build on them (`tests/layers.rs` keeps it so).

pub mod blur;
pub mod color;
mod context;
pub mod erase;
mod filter;
pub mod flip;
pub mod resize;
pub mod rotate;

pub use self::context::Context;

use std::sync::Arc;

use self::color::Planes;
use self::filter::Taps;

use super::img::Image;
use super::offline::OfflineOp;
use super::rng::{AugRng, fork, uniform, unit};

/// torchvision's default aspect-ratio range of a random resized crop.
pub const DEFAULT_RATIO: (f64, f64) = (3.0 / 4.0, 4.0 / 3.0);

/// An augmentation op with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// torchvision `RandomResizedCrop`: a box of random area fraction in
    /// `scale` and aspect ratio in `ratio` ([`resize::sample_crop`]), resized
    /// to `size` x `size` ([`resize::resized_crop`]). `None`: the view's side
    /// (inside [`super::make_views`]), else the image's shorter side.
    RandomResizedCrop {
        /// Output side.
        size: Option<u32>,
        /// Range of the box's area fraction.
        scale: (f64, f64),
        /// Range of the box's aspect ratio (width / height), sampled log-uniformly.
        ratio: (f64, f64),
    },
    /// Rotation by an angle uniform in `[-degrees, degrees]`
    /// ([`rotate::rotate`]: bilinear, black fill). torchvision's
    /// `RandomRotation` defaults to nearest-neighbour; this is bilinear.
    Rotate {
        /// Largest rotation, in degrees.
        degrees: f64,
    },
    /// Mirror left-right.
    HorizontalFlip,
    /// Mirror top-bottom.
    VerticalFlip,
    /// torchvision `ColorJitter` ([`color::JitterDraw`]).
    ColorJitter {
        /// Brightness factor drawn from `[max(0, 1 - b), 1 + b]`.
        brightness: f64,
        /// Contrast factor drawn from `[max(0, 1 - c), 1 + c]`.
        contrast: f64,
        /// Saturation factor drawn from `[max(0, 1 - s), 1 + s]`.
        saturation: f64,
        /// Hue shift drawn from `[-h, h]` (turns, `h <= 0.5`).
        hue: f64,
    },
    /// ITU-R 601-2 grey, kept as three channels ([`color::grayscale`]).
    Grayscale,
    /// Gaussian blur with sigma uniform in `sigma` ([`blur::gaussian_blur`]).
    GaussianBlur {
        /// Kernel side (odd).
        kernel: u32,
        /// Range of sigma.
        sigma: (f64, f64),
    },
    /// Invert values at or above `threshold * 255` ([`color::solarize`]).
    Solarize {
        /// Threshold on [0, 1].
        threshold: f64,
    },
    /// torchvision `RandomErasing`: a box of random area fraction in `scale` and
    /// aspect ratio in `ratio` ([`erase::sample_box`]) filled in the 8-bit image
    /// ([`erase::erase`]); nothing when no box fits in 10 attempts.
    RandomErasing {
        /// Range of the box's area fraction.
        scale: (f64, f64),
        /// Range of the box's aspect ratio (height / width), sampled log-uniformly.
        ratio: (f64, f64),
        /// The fill: one byte for every channel, or one per channel (R, G, B); empty for
        /// uniform random bytes per pixel and channel.
        value: Vec<u8>,
    },
    /// One of `choices`, picked by `weights` (empty: equal weights); the
    /// chosen item then applies with its own probability.
    OneOf {
        /// The candidates.
        choices: Vec<PolicyItem>,
        /// Relative weights, one per choice, or empty.
        weights: Vec<f64>,
    },
    /// An expensive deterministic computation, cached by image content,
    /// rendered per draw (see [`super::offline`]).
    Offline(Arc<dyn OfflineOp>),
}

/// An op whose parameters are out of range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{op}: {message}")]
pub struct SpecError {
    /// The op's name.
    pub op: String,
    /// What is wrong.
    pub message: String,
}

/// One op of a policy with its probability.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyItem {
    /// The op.
    pub op: Op,
    /// Probability of applying it, in [0, 1].
    pub p: f64,
}

impl PolicyItem {
    /// `op` applied with probability `p`.
    pub fn new(op: Op, p: f64) -> Self {
        Self { op, p }
    }

    /// `op` applied every time.
    pub fn always(op: Op) -> Self {
        Self::new(op, 1.0)
    }

    /// Checks the probability and the op.
    pub fn validate(&self) -> Result<(), SpecError> {
        if !(0.0..=1.0).contains(&self.p) {
            return Err(SpecError {
                op: self.op.name().to_string(),
                message: format!("probability {} is outside [0, 1]", self.p),
            });
        }
        self.op.validate()
    }

    /// Forks a child stream from `rng`, decides with it whether to apply, and
    /// if so applies the op with it. Returns whether the op applied.
    pub fn apply(&self, img: &mut Image, rng: &mut AugRng, cx: &mut Context<'_>) -> bool {
        let mut own = fork(rng);
        let applied = unit(&mut own) < self.p;
        if applied {
            self.op.apply(img, &mut own, cx);
            // After an op that always applies and draws nothing, the image is still a
            // function of the stored sample: an offline op after it is cached by content.
            if !(self.is_deterministic()) {
                cx.untouched = false;
            }
        }
        applied
    }

    /// Applies every time and draws no randomness.
    pub fn is_deterministic(&self) -> bool {
        self.p >= 1.0 && self.op.is_deterministic()
    }
}

/// Reusable buffers for the ops (one per thread; nothing in it outlives a call).
#[derive(Debug, Default)]
pub struct Scratch {
    out: Vec<u8>,
    mid: Vec<u16>,
    acc: Vec<u32>,
    pad: Vec<u8>,
    kernel: Vec<u16>,
    horizontal: Taps,
    vertical: Taps,
    raw: Vec<f64>,
    planes: Planes,
}

impl Op {
    /// The op's name (snake case, as the language spells it).
    pub fn name(&self) -> &str {
        match self {
            Op::RandomResizedCrop { .. } => "random_resized_crop",
            Op::Rotate { .. } => "rotate",
            Op::HorizontalFlip => "horizontal_flip",
            Op::VerticalFlip => "vertical_flip",
            Op::ColorJitter { .. } => "color_jitter",
            Op::Grayscale => "grayscale",
            Op::GaussianBlur { .. } => "gaussian_blur",
            Op::Solarize { .. } => "solarize",
            Op::RandomErasing { .. } => "random_erasing",
            Op::OneOf { .. } => "one_of",
            Op::Offline(op) => op.name(),
        }
    }

    /// Whether the op draws no randomness: the same image in gives the same image out
    /// (the registry's `Info::Op::deterministic`). Offline ops render randomly per draw.
    pub fn is_deterministic(&self) -> bool {
        matches!(
            self,
            Op::HorizontalFlip | Op::VerticalFlip | Op::Grayscale | Op::Solarize { .. }
        )
    }

    /// Whether the op is an offline op or a `one_of` with one among its choices.
    pub fn has_offline(&self) -> bool {
        match self {
            Op::Offline(_) => true,
            Op::OneOf { choices, .. } => choices.iter().any(|c| c.op.has_offline()),
            _ => false,
        }
    }

    /// Checks the parameters (and, for `OneOf`, every choice).
    pub fn validate(&self) -> Result<(), SpecError> {
        let fail = |message: String| {
            Err(SpecError {
                op: self.name().to_string(),
                message,
            })
        };
        let range = |what: &str, (lo, hi): (f64, f64), min: f64, max: f64| {
            if lo.is_finite() && hi.is_finite() && min <= lo && lo <= hi && hi <= max {
                Ok(())
            } else {
                Err(format!(
                    "{what} {lo}..{hi} is not an ordered range within [{min}, {max}]"
                ))
            }
        };
        let value = |what: &str, v: f64, min: f64, max: f64| {
            if v.is_finite() && (min..=max).contains(&v) {
                Ok(())
            } else {
                Err(format!("{what} {v} is outside [{min}, {max}]"))
            }
        };
        let checked = match self {
            Op::RandomResizedCrop { size, scale, ratio } => {
                if *size == Some(0) {
                    return fail("size must be at least 1".into());
                }
                range("scale", *scale, 0.0, 1.0)
                    .and_then(|()| range("ratio", *ratio, f64::MIN_POSITIVE, f64::MAX))
            }
            Op::Rotate { degrees } => value("degrees", *degrees, 0.0, 360.0),
            Op::ColorJitter {
                brightness,
                contrast,
                saturation,
                hue,
            } => value("brightness", *brightness, 0.0, f64::MAX)
                .and_then(|()| value("contrast", *contrast, 0.0, f64::MAX))
                .and_then(|()| value("saturation", *saturation, 0.0, f64::MAX))
                .and_then(|()| value("hue", *hue, 0.0, 0.5)),
            Op::GaussianBlur { kernel, sigma } => {
                if kernel % 2 == 0 {
                    return fail(format!("kernel side {kernel} is not odd"));
                }
                range("sigma", *sigma, f64::MIN_POSITIVE, f64::MAX)
            }
            Op::Solarize { threshold } => value("threshold", *threshold, 0.0, 1.0),
            Op::RandomErasing {
                scale,
                ratio,
                value: fill,
            } => {
                if !matches!(fill.len(), 0 | 1 | 3) {
                    return fail(format!(
                        "value has {} bytes: give one for every channel or three (R, G, B)",
                        fill.len()
                    ));
                }
                range("scale", *scale, 0.0, 1.0)
                    .and_then(|()| range("ratio", *ratio, f64::MIN_POSITIVE, f64::MAX))
            }
            Op::OneOf { choices, weights } => {
                if choices.is_empty() {
                    return fail("needs at least one choice".into());
                }
                if !weights.is_empty() {
                    if weights.len() != choices.len() {
                        return fail(format!(
                            "{} weights for {} choices",
                            weights.len(),
                            choices.len()
                        ));
                    }
                    if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0))
                        || weights.iter().sum::<f64>() <= 0.0
                    {
                        return fail("weights must be non-negative with a positive sum".into());
                    }
                }
                for choice in choices {
                    choice.validate()?;
                }
                Ok(())
            }
            Op::HorizontalFlip | Op::VerticalFlip | Op::Grayscale | Op::Offline(_) => Ok(()),
        };
        checked.or_else(fail)
    }

    /// Draws the op's random parameters from `rng` and applies it. The op
    /// must be valid ([`Op::validate`]; [`super::Policy::new`] checks).
    pub fn apply(&self, img: &mut Image, rng: &mut AugRng, cx: &mut Context<'_>) {
        match self {
            Op::RandomResizedCrop { size, scale, ratio } => {
                if img.data.is_empty() {
                    return;
                }
                let side = size
                    .or(cx.view_side)
                    .unwrap_or(img.width.min(img.height))
                    .max(1);
                let crop = resize::sample_crop(img.width, img.height, *scale, *ratio, rng);
                resize::resized_crop(img, crop, side, side, &mut cx.scratch);
            }
            Op::Rotate { degrees } => {
                let angle = uniform(rng, -degrees, *degrees);
                rotate::rotate(img, angle, &mut cx.scratch);
            }
            Op::HorizontalFlip => flip::flip_horizontal(img),
            Op::VerticalFlip => flip::flip_vertical(img),
            Op::ColorJitter {
                brightness,
                contrast,
                saturation,
                hue,
            } => color::JitterDraw::sample(*brightness, *contrast, *saturation, *hue, rng)
                .apply(img, &mut cx.scratch),
            Op::Grayscale => color::grayscale(img),
            Op::GaussianBlur { kernel, sigma } => {
                let sigma = uniform(rng, sigma.0, sigma.1);
                blur::gaussian_blur(img, *kernel, sigma, &mut cx.scratch);
            }
            Op::Solarize { threshold } => color::solarize(img, *threshold),
            Op::RandomErasing {
                scale,
                ratio,
                value: fill,
            } => {
                let Some(b) = erase::sample_box(img.width, img.height, *scale, *ratio, rng) else {
                    crate::notes::count(crate::notes::NoteCode::ErasingNoBox);
                    return;
                };
                match fill.as_slice() {
                    [v] => erase::erase(img, b, &[*v; 3]),
                    [_, _, _] => erase::erase(img, b, fill),
                    _ => {
                        let noise = &mut cx.scratch.out;
                        noise.clear();
                        noise.resize(b.width as usize * b.height as usize * 3, 0);
                        rand_chacha::rand_core::RngCore::fill_bytes(rng, noise);
                        erase::erase(img, b, noise);
                    }
                }
            }
            Op::OneOf { choices, weights } => {
                if let Some(i) = pick(weights, choices.len(), rng) {
                    choices[i].apply(img, rng, cx);
                }
            }
            Op::Offline(op) => {
                let computed = cx.offline(img, op.as_ref());
                op.render(&computed, img, rng);
            }
        }
    }
}

/// Index drawn with probability proportional to `weights` (all equal when
/// `weights` is empty); `None` when there is nothing to pick. One draw.
fn pick(weights: &[f64], n: usize, rng: &mut AugRng) -> Option<usize> {
    if n == 0 {
        return None;
    }
    let u = unit(rng);
    if weights.is_empty() {
        return Some(((u * n as f64) as usize).min(n - 1));
    }
    let target = u * weights.iter().sum::<f64>();
    let mut cumulative = 0.0;
    let mut last = None;
    for (i, &w) in weights.iter().enumerate().take(n) {
        if w > 0.0 {
            cumulative += w;
            last = Some(i);
            if target < cumulative {
                return Some(i);
            }
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::rng::rng_for;

    #[test]
    fn validation_rejects_out_of_range_parameters() {
        let bad = [
            Op::RandomResizedCrop {
                size: Some(0),
                scale: (0.1, 1.0),
                ratio: DEFAULT_RATIO,
            },
            Op::RandomResizedCrop {
                size: None,
                scale: (0.9, 0.1),
                ratio: DEFAULT_RATIO,
            },
            Op::RandomResizedCrop {
                size: None,
                scale: (0.1, 1.0),
                ratio: (0.0, 1.0),
            },
            Op::Rotate { degrees: f64::NAN },
            Op::ColorJitter {
                brightness: -0.1,
                contrast: 0.0,
                saturation: 0.0,
                hue: 0.0,
            },
            Op::ColorJitter {
                brightness: 0.0,
                contrast: 0.0,
                saturation: 0.0,
                hue: 0.6,
            },
            Op::GaussianBlur {
                kernel: 4,
                sigma: (0.1, 2.0),
            },
            Op::GaussianBlur {
                kernel: 3,
                sigma: (0.0, 2.0),
            },
            Op::Solarize { threshold: 1.5 },
            Op::OneOf {
                choices: vec![],
                weights: vec![],
            },
            Op::OneOf {
                choices: vec![PolicyItem::always(Op::Grayscale)],
                weights: vec![1.0, 2.0],
            },
            Op::OneOf {
                choices: vec![PolicyItem::always(Op::Grayscale)],
                weights: vec![0.0],
            },
            Op::OneOf {
                choices: vec![PolicyItem::new(Op::Grayscale, 2.0)],
                weights: vec![],
            },
        ];
        for op in bad {
            assert!(op.validate().is_err(), "{op:?} should be invalid");
        }
        let err = Op::GaussianBlur {
            kernel: 4,
            sigma: (0.1, 2.0),
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.to_string(), "gaussian_blur: kernel side 4 is not odd");
        let err = Op::Solarize { threshold: 1.5 }.validate().unwrap_err();
        assert_eq!(err.to_string(), "solarize: threshold 1.5 is outside [0, 1]");
    }

    #[test]
    fn pick_respects_weights() {
        let mut rng = rng_for(5, &[0; 32], 0, 0, 0);
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            counts[pick(&[1.0, 0.0, 3.0], 3, &mut rng).unwrap()] += 1;
        }
        assert_eq!(counts[1], 0);
        let share = f64::from(counts[2]) / 30_000.0;
        assert!((0.74..0.76).contains(&share), "{counts:?}");
        assert_eq!(pick(&[], 0, &mut rng), None);
        let mut equal = [0u32; 4];
        for _ in 0..40_000 {
            equal[pick(&[], 4, &mut rng).unwrap()] += 1;
        }
        assert!(
            equal.iter().all(|&c| (9_500..10_500).contains(&c)),
            "{equal:?}"
        );
    }
}
