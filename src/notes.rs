//! Run-time notes: counters of algorithmic fallbacks and clamps.
//!
//! Library code (saliency, augmentation, evaluation) calls [`count`] where it
//! falls back or clamps; the count goes to the [`Tally`] of the step that is
//! running on this thread, if any (none in plain library use: then counting
//! costs one thread-local read). The executor installs a tally per step with
//! [`within`] and turns it into [`StepNote`]s stored with the step's record;
//! code that fans out to rayon carries the tally over with [`current`] and
//! [`within`]. Counting only happens on the fallback path, so the common path
//! pays nothing.

use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a note counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NoteCode {
    /// SaliencyCut found no object at any threshold and used the 2×mean threshold of the saliency map.
    SaliencyThresholdFallback,
    /// `random_resized_crop` found no box in 10 attempts and took the central crop.
    CentralCropFallback,
    /// kNN `k` was larger than the labelled training images and was clamped to their number.
    KnnKClamped,
    /// A batch size was larger than the images and was clamped to their number.
    BatchClamped,
    /// A MoCo queue is longer than the images it is filled from: it holds repeated keys.
    QueueLongerThanData,
    /// An offline op ran on an image that earlier ops had changed, so it was computed online.
    OfflineComputedOnline,
    /// The L-BFGS linear probe stopped at its iteration limit before converging.
    LbfgsNotConverged,
    /// t-SNE embedded a random subsample of the points (exact t-SNE is quadratic).
    TsneSubsampled,
    /// `random_erasing` found no box in 10 attempts and left the image unchanged (as torchvision).
    ErasingNoBox,
    /// f16 training skipped optimiser steps whose gradients overflowed (and halved the loss scale).
    LossScaleSkipped,
}

impl NoteCode {
    /// Every code, in a fixed order.
    pub const ALL: [NoteCode; 10] = [
        NoteCode::SaliencyThresholdFallback,
        NoteCode::CentralCropFallback,
        NoteCode::KnnKClamped,
        NoteCode::BatchClamped,
        NoteCode::QueueLongerThanData,
        NoteCode::OfflineComputedOnline,
        NoteCode::LbfgsNotConverged,
        NoteCode::TsneSubsampled,
        NoteCode::ErasingNoBox,
        NoteCode::LossScaleSkipped,
    ];

    /// The stable string form, stored in records.
    pub fn as_str(self) -> &'static str {
        match self {
            NoteCode::SaliencyThresholdFallback => "saliency_cut.threshold_fallback",
            NoteCode::CentralCropFallback => "random_resized_crop.central_fallback",
            NoteCode::KnnKClamped => "knn.k_clamped",
            NoteCode::BatchClamped => "batch_clamped",
            NoteCode::QueueLongerThanData => "moco.queue_longer_than_data",
            NoteCode::OfflineComputedOnline => "offline.computed_online",
            NoteCode::LbfgsNotConverged => "linear_probe.lbfgs_not_converged",
            NoteCode::TsneSubsampled => "tsne.subsampled",
            NoteCode::ErasingNoBox => "random_erasing.no_box",
            NoteCode::LossScaleSkipped => "precision.loss_scale_skipped",
        }
    }

    /// A sentence for people, given the count.
    pub fn describe(self, count: u64) -> String {
        match self {
            NoteCode::SaliencyThresholdFallback => format!(
                "SaliencyCut found no object in {count} image(s) and used the 2×mean saliency threshold"
            ),
            NoteCode::CentralCropFallback => format!(
                "random_resized_crop took the central crop {count} time(s) (no box fit in 10 attempts)"
            ),
            NoteCode::KnnKClamped => {
                format!("kNN `k` was clamped to the {count} labelled training images")
            }
            NoteCode::BatchClamped => {
                format!("the batch was clamped to the {count} available images")
            }
            NoteCode::QueueLongerThanData => format!(
                "the MoCo queue is longer than the {count} training images: it holds repeated keys"
            ),
            NoteCode::OfflineComputedOnline => format!(
                "an offline op was computed online {count} time(s) (earlier ops had changed the image)"
            ),
            NoteCode::LbfgsNotConverged => {
                format!("L-BFGS stopped at its limit of {count} iterations before converging")
            }
            NoteCode::TsneSubsampled => {
                format!("t-SNE embedded a random subsample of {count} points")
            }
            NoteCode::ErasingNoBox => format!(
                "random_erasing left {count} image(s) unchanged (no box fit in 10 attempts)"
            ),
            NoteCode::LossScaleSkipped => format!(
                "f16 training skipped {count} optimiser step(s) whose gradients overflowed (the loss scale was halved each time)"
            ),
        }
    }

    fn index(self) -> usize {
        NoteCode::ALL.iter().position(|&c| c == self).unwrap_or(0)
    }
}

/// A note of a finished step: what happened and how often (or the size it was clamped to).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepNote {
    /// Stable code (`saliency_cut.threshold_fallback`).
    pub code: String,
    /// What happened, for people.
    pub message: String,
    /// How many times (for clamps: the value clamped to).
    pub count: u64,
}

impl StepNote {
    /// A note of `code` with `count`.
    pub fn new(code: NoteCode, count: u64) -> Self {
        StepNote {
            code: code.as_str().to_string(),
            message: code.describe(count),
            count,
        }
    }
}

/// Counters of one step, shared by the threads that work for it.
#[derive(Debug, Default)]
pub struct Tally {
    counts: [AtomicU64; NoteCode::ALL.len()],
    /// Codes whose count is a size (a clamp), not a number of events: the largest value is kept.
    sizes: [AtomicU64; NoteCode::ALL.len()],
}

impl Tally {
    /// Adds `n` events of `code`.
    pub fn add(&self, code: NoteCode, n: u64) {
        self.counts[code.index()].fetch_add(n, Ordering::Relaxed);
    }

    /// Records that a value was clamped to `size` (kept once, the largest).
    pub fn size(&self, code: NoteCode, size: u64) {
        self.sizes[code.index()].fetch_max(size.max(1), Ordering::Relaxed);
    }

    /// The notes so far, one per code that happened.
    pub fn notes(&self) -> Vec<StepNote> {
        NoteCode::ALL
            .iter()
            .filter_map(|&c| {
                let events = self.counts[c.index()].load(Ordering::Relaxed);
                let size = self.sizes[c.index()].load(Ordering::Relaxed);
                let n = if size > 0 { size } else { events };
                (n > 0).then(|| StepNote::new(c, n))
            })
            .collect()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Tally>>> = const { RefCell::new(None) };
}

/// The tally of the step running on this thread, to hand to worker threads.
pub fn current() -> Option<Arc<Tally>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Runs `f` with `tally` as this thread's tally, restoring the previous one after.
pub fn within<R>(tally: &Option<Arc<Tally>>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<Tally>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = prev);
        }
    }
    let prev = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), tally.clone()));
    let _restore = Restore(prev);
    f()
}

/// Counts one event of `code` for the running step (nothing outside a step).
pub fn count(code: NoteCode) {
    CURRENT.with(|c| {
        if let Some(t) = c.borrow().as_ref() {
            t.add(code, 1);
        }
    });
}

/// Records a clamp of `code` to `size` for the running step.
pub fn clamped(code: NoteCode, size: u64) {
    CURRENT.with(|c| {
        if let Some(t) = c.borrow().as_ref() {
            t.size(code, size);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_go_to_the_installed_tally_only() {
        count(NoteCode::CentralCropFallback); // no tally: ignored
        let t = Some(Arc::new(Tally::default()));
        within(&t, || {
            count(NoteCode::CentralCropFallback);
            count(NoteCode::CentralCropFallback);
            clamped(NoteCode::KnnKClamped, 7);
        });
        count(NoteCode::CentralCropFallback); // restored: ignored
        let notes = t.as_ref().unwrap().notes();
        assert_eq!(
            notes,
            vec![
                StepNote::new(NoteCode::CentralCropFallback, 2),
                StepNote::new(NoteCode::KnnKClamped, 7)
            ]
        );
        assert!(notes[0].message.contains("2 time(s)"));
        assert!(current().is_none());
    }

    #[test]
    fn worker_threads_share_the_tally() {
        let t = Some(Arc::new(Tally::default()));
        within(&t, || {
            let handle = current();
            std::thread::scope(|s| {
                for _ in 0..4 {
                    let h = handle.clone();
                    s.spawn(move || within(&h, || count(NoteCode::SaliencyThresholdFallback)));
                }
            });
        });
        assert_eq!(t.as_ref().unwrap().notes()[0].count, 4);
    }
}
