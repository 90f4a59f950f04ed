//! Augmentation: ops with probabilities, policies, multi-view generation,
//! deterministic randomness, and the offline (content-hash) cache mechanism.
//!
//! A library on its own: typed specs in, images out; nothing here knows the
//! language. Images are 8-bit RGB, HWC ([`Image`]).
//!
//! ```
//! use sslp::augment::{Op, Policy, PolicyItem, rng_for, Image};
//!
//! let policy = Policy::new(vec![
//!     PolicyItem::always(Op::RandomResizedCrop { size: Some(32), scale: (0.08, 1.0), ratio: (0.75, 4.0 / 3.0) }),
//!     PolicyItem::new(Op::HorizontalFlip, 0.5),
//!     PolicyItem::new(Op::Grayscale, 0.2),
//! ])?;
//! let img = Image::black(48, 48);
//! let view = policy.apply(&img, &mut rng_for(42, &[0; 32], 0, 7, 0), None);
//! assert_eq!((view.width(), view.height()), (32, 32));
//! # Ok::<(), sslp::augment::SpecError>(())
//! ```
//!
//! Determinism: every random draw comes from [`rng_for`]`(seed, step key,
//! epoch, sample index, view)`, so augmentations are byte-identical across
//! runs, machines and thread schedules ([`rng`] says how draws are derived).

pub mod grid;
mod img;
pub mod normalize;
pub mod offline;
pub mod ops;
pub mod policy;
pub mod rng;
pub mod saliency_op;
pub mod segments;
pub mod views;

pub use grid::{SaveError, encode_png, grid, save_png, zoomed_grid};
pub use img::{Image, ImageError};
pub use normalize::{normalize, normalize_into};
pub use offline::{
    CacheStats, MemoryOfflineStore, OfflineCache, OfflineOp, OfflineStore, offline_key,
};
pub use ops::{Context, DEFAULT_RATIO, Op, PolicyItem, Scratch, SpecError};
pub use policy::Policy;
pub use rng::{AugRng, rng_for};
pub use segments::KMeansSegments;
pub use views::{SampleDraw, ViewSpec, make_views};
