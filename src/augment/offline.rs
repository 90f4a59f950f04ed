//! Offline augmentation with hashing (the thesis' mechanism, generalised).
//!
//! An [`OfflineOp`] splits into an expensive deterministic part,
//! [`OfflineOp::compute`] (e.g. a segmentation), done once per image and
//! stored under [`offline_key`] (the image's content hash, the op's name,
//! version and the parameters that affect the computation), and a cheap
//! random part, [`OfflineOp::render`] (e.g. a random palette), done per draw.
//! [`OfflineCache`] wraps any [`OfflineStore`] (the engine's store, or
//! [`MemoryOfflineStore`]) and counts hits and computations.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use super::img::Image;
use super::rng::AugRng;

/// An op with an expensive deterministic part, cached by image content, and
/// a cheap random rendering per draw.
pub trait OfflineOp: Send + Sync {
    /// The op's name; part of the cache key.
    fn name(&self) -> &str;

    /// The version of [`OfflineOp::compute`]'s code; bump it when its output
    /// changes, so stale results are not reused.
    fn version(&self) -> u32;

    /// A hash of the parameters that affect [`OfflineOp::compute`] (not of
    /// those that only affect rendering).
    fn params_key(&self) -> [u8; 32];

    /// The expensive part: a pure function of the image (and the parameters).
    fn compute(&self, img: &Image) -> Vec<u8>;

    /// The cheap part, per draw: renders `computed` (this op's result for
    /// `img`) onto `img` in place, drawing its randomness from `rng`.
    fn render(&self, computed: &[u8], img: &mut Image, rng: &mut AugRng);
}

impl fmt::Debug for dyn OfflineOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@v{}", self.name(), self.version())
    }
}

/// Two offline ops are equal when they compute the same thing: same name,
/// version and computation parameters.
impl PartialEq for dyn OfflineOp {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
            && self.version() == other.version()
            && self.params_key() == other.params_key()
    }
}

/// Key-value storage for offline results.
pub trait OfflineStore: Send + Sync {
    /// The value stored under `key`, if any.
    fn get(&self, key: &[u8; 32]) -> Option<Vec<u8>>;

    /// Stores `value` under `key` (overwriting is harmless: values are a
    /// function of their key).
    fn put(&self, key: &[u8; 32], value: &[u8]);
}

/// An [`OfflineStore`] in memory.
#[derive(Debug, Default)]
pub struct MemoryOfflineStore {
    map: RwLock<HashMap<[u8; 32], Vec<u8>>>,
}

impl MemoryOfflineStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of stored values.
    pub fn len(&self) -> usize {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl OfflineStore for MemoryOfflineStore {
    fn get(&self, key: &[u8; 32]) -> Option<Vec<u8>> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.get(key).cloned()
    }

    fn put(&self, key: &[u8; 32], value: &[u8]) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        map.insert(*key, value.to_vec());
    }
}

/// The store key of `op`'s result for the image with `content_hash`
/// ([`Image::content_hash`]): blake3 (its own domain) of the op's name,
/// version and parameter key, and the content hash.
pub fn offline_key(content_hash: &[u8; 32], op: &dyn OfflineOp) -> [u8; 32] {
    let name = op.name().as_bytes();
    let mut h = blake3::Hasher::new_derive_key("sslp augment offline key v1");
    h.update(&(name.len() as u64).to_le_bytes());
    h.update(name);
    h.update(&op.version().to_le_bytes());
    h.update(&op.params_key());
    h.update(content_hash);
    *h.finalize().as_bytes()
}

/// Counters of an [`OfflineCache`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered by the store.
    pub hits: u64,
    /// Computations whose result was stored (cache misses).
    pub computes: u64,
    /// Computations on images other ops had already changed, not stored.
    pub uncached: u64,
}

/// An [`OfflineStore`] with hit and computation counters. Shared between
/// threads by reference.
pub struct OfflineCache {
    store: Arc<dyn OfflineStore>,
    hits: AtomicU64,
    computes: AtomicU64,
    uncached: AtomicU64,
}

impl OfflineCache {
    /// A cache over `store`.
    pub fn new(store: Arc<dyn OfflineStore>) -> Self {
        Self {
            store,
            hits: AtomicU64::new(0),
            computes: AtomicU64::new(0),
            uncached: AtomicU64::new(0),
        }
    }

    /// A cache over a fresh [`MemoryOfflineStore`].
    pub fn in_memory() -> Self {
        Self::new(Arc::new(MemoryOfflineStore::new()))
    }

    /// The underlying store.
    pub fn store(&self) -> &dyn OfflineStore {
        self.store.as_ref()
    }

    /// `op`'s result for `img`: from the store, or computed and stored.
    /// Hashes the image; see [`OfflineCache::get_or_compute_hashed`] when the
    /// content hash is already known.
    pub fn get_or_compute(&self, img: &Image, op: &dyn OfflineOp) -> Vec<u8> {
        self.get_or_compute_hashed(&img.content_hash(), img, op)
    }

    /// As [`OfflineCache::get_or_compute`], with `img`'s content hash given.
    /// Two threads missing the same key at once both compute (and count);
    /// the stored values are identical.
    pub fn get_or_compute_hashed(
        &self,
        content_hash: &[u8; 32],
        img: &Image,
        op: &dyn OfflineOp,
    ) -> Vec<u8> {
        let key = offline_key(content_hash, op);
        if let Some(value) = self.store.get(&key) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return value;
        }
        let value = op.compute(img);
        self.store.put(&key, &value);
        self.computes.fetch_add(1, Ordering::Relaxed);
        value
    }

    /// `op`'s result for an image that is not a stored sample: computed,
    /// counted, not stored.
    pub fn compute_uncached(&self, img: &Image, op: &dyn OfflineOp) -> Vec<u8> {
        self.uncached.fetch_add(1, Ordering::Relaxed);
        crate::notes::count(crate::notes::NoteCode::OfflineComputedOnline);
        op.compute(img)
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            computes: self.computes.load(Ordering::Relaxed),
            uncached: self.uncached.load(Ordering::Relaxed),
        }
    }
}

impl fmt::Debug for OfflineCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OfflineCache")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::segments::KMeansSegments;
    use crate::augment::{Op, Policy, PolicyItem, rng_for};

    fn photo(shift: u8) -> Image {
        let data = (0..12u32 * 12)
            .flat_map(|i| {
                let (x, y) = (i % 12, i / 12);
                if x < 6 {
                    [200u8.wrapping_add(shift), 30, 30]
                } else if y < 6 {
                    [20, 180, 40]
                } else {
                    [10, 20, 220]
                }
            })
            .collect();
        Image::new(12, 12, data).unwrap()
    }

    fn segments(k: u8) -> Arc<dyn OfflineOp> {
        Arc::new(KMeansSegments { k, iterations: 5 })
    }

    #[test]
    fn key_depends_on_content_name_version_and_parameters() {
        let h = photo(0).content_hash();
        let base = offline_key(&h, segments(3).as_ref());
        assert_eq!(base, offline_key(&h, segments(3).as_ref()));
        assert_ne!(
            base,
            offline_key(&photo(1).content_hash(), segments(3).as_ref())
        );
        assert_ne!(base, offline_key(&h, segments(4).as_ref()));
        let more_iterations = KMeansSegments {
            k: 3,
            iterations: 6,
        };
        assert_ne!(base, offline_key(&h, &more_iterations));
    }

    #[test]
    fn second_epoch_hits_the_cache_and_renders_differ_per_draw() {
        let policy = Policy::new(vec![PolicyItem::always(Op::Offline(segments(3)))]).unwrap();
        let cache = OfflineCache::in_memory();
        let img = photo(0);
        let key = [1; 32];
        let epoch0 = policy.apply(&img, &mut rng_for(3, &key, 0, 17, 0), Some(&cache));
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 0,
                computes: 1,
                uncached: 0
            }
        );
        let epoch1 = policy.apply(&img, &mut rng_for(3, &key, 1, 17, 0), Some(&cache));
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 1,
                computes: 1,
                uncached: 0
            }
        );
        // Random palettes: the draws differ, the same draw repeats exactly.
        assert_ne!(epoch0, epoch1);
        let again = policy.apply(&img, &mut rng_for(3, &key, 0, 17, 0), Some(&cache));
        assert_eq!(again, epoch0);
        assert_eq!(cache.stats().hits, 2);
        // Without a cache the result is the same, computed afresh.
        assert_eq!(
            policy.apply(&img, &mut rng_for(3, &key, 0, 17, 0), None),
            epoch0
        );
    }

    #[test]
    fn randomly_transformed_images_are_computed_but_not_stored() {
        let policy = Policy::new(vec![
            PolicyItem::always(Op::Rotate { degrees: 10.0 }),
            PolicyItem::always(Op::Offline(segments(3))),
        ])
        .unwrap();
        let store = Arc::new(MemoryOfflineStore::new());
        let cache = OfflineCache::new(store.clone());
        policy.apply(&photo(0), &mut rng_for(0, &[0; 32], 0, 0, 0), Some(&cache));
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 0,
                computes: 0,
                uncached: 1
            }
        );
        assert!(store.is_empty());
    }

    #[test]
    fn deterministically_transformed_images_are_cached() {
        let policy = Policy::new(vec![
            PolicyItem::always(Op::HorizontalFlip),
            PolicyItem::always(Op::Offline(segments(3))),
        ])
        .unwrap();
        let store = Arc::new(MemoryOfflineStore::new());
        let cache = OfflineCache::new(store.clone());
        for epoch in 0..2 {
            policy.apply(
                &photo(0),
                &mut rng_for(0, &[0; 32], epoch, 0, 0),
                Some(&cache),
            );
        }
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 1,
                computes: 1,
                uncached: 0
            }
        );
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn memory_store_round_trips() {
        let store = MemoryOfflineStore::new();
        assert_eq!(store.get(&[0; 32]), None);
        store.put(&[0; 32], b"abc");
        assert_eq!(store.get(&[0; 32]).as_deref(), Some(&b"abc"[..]));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn offline_ops_compare_by_what_they_compute() {
        assert_eq!(segments(3).as_ref(), segments(3).as_ref());
        assert_ne!(segments(3).as_ref(), segments(2).as_ref());
        assert_eq!(format!("{:?}", segments(3)), "kmeans_segments@v1");
    }
}
