//! The per-thread state ops run with ([`Context`]): reusable buffers, the
//! side of the view being made, and the offline cache.

use super::Scratch;
use crate::augment::img::Image;
use crate::augment::offline::{OfflineCache, OfflineOp};

/// What ops need besides the image and a stream: reusable buffers, and the
/// offline cache if there is one. Make one per thread and reuse it.
#[derive(Debug)]
pub struct Context<'c> {
    cache: Option<&'c OfflineCache>,
    pub(in crate::augment) scratch: Scratch,
    /// The side a crop without an explicit size produces (set per view).
    pub(in crate::augment) view_side: Option<u32>,
    /// Only deterministic ops have changed the image since it entered the
    /// policy, so it is a function of the stored sample and offline results
    /// may be cached by its content hash.
    pub(in crate::augment) untouched: bool,
}

impl<'c> Context<'c> {
    /// A context using `cache` for offline ops (`None`: compute them every time).
    pub fn new(cache: Option<&'c OfflineCache>) -> Self {
        Self {
            cache,
            scratch: Scratch::default(),
            view_side: None,
            untouched: true,
        }
    }

    /// The offline cache, if any.
    pub fn cache(&self) -> Option<&'c OfflineCache> {
        self.cache
    }

    /// The offline result of `op` on `img`: through the cache while the
    /// image is still the stored sample; computed directly (and counted as
    /// uncached) once other ops have changed it, so transient images never
    /// fill the store.
    pub(super) fn offline(&self, img: &Image, op: &dyn OfflineOp) -> Vec<u8> {
        match self.cache {
            Some(cache) if self.untouched => cache.get_or_compute(img, op),
            Some(cache) => cache.compute_uncached(img, op),
            None => op.compute(img),
        }
    }
}

impl Default for Context<'_> {
    fn default() -> Self {
        Self::new(None)
    }
}
