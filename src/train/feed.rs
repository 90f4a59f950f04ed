//! Batches prepared ahead of the training step, on a bounded queue.
//!
//! Decoding and augmenting batch `n + 1` (and `n + 2`) run on a helper thread
//! while the trainer computes step `n`, so the step does not wait for its data
//! unless the data is the slower side; the time it does wait is measured and
//! reported per epoch. A batch is a pure function of its index (the sources
//! draw every random choice from `(seed, step key, epoch, image)`), so reading
//! ahead changes nothing that is computed: the same batches arrive in the same
//! order. Fallback notes counted while a batch is made go to the caller's tally.

use std::ops::Range;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::Scope;
use std::time::{Duration, Instant};

/// Batches the helper thread keeps ready beyond the one being trained on.
pub const DEPTH: usize = 2;

/// The consumer's end: batches in index order, with the time spent waiting for them.
pub struct Feed<T> {
    next: usize,
    end: usize,
    rx: Receiver<(usize, T)>,
    waited: Duration,
}

impl<T: Send> Feed<T> {
    /// Starts making the items of `range` (`make(index)`, in order) on a thread of `scope`,
    /// at most [`DEPTH`] ahead of the consumer. The thread stops at the end of the range or
    /// as soon as the feed is dropped (an error or an interrupt in the trainer).
    pub fn start<'scope, 'env, F>(
        scope: &'scope Scope<'scope, 'env>,
        range: Range<usize>,
        make: F,
    ) -> Self
    where
        F: Fn(usize) -> T + Send + 'scope,
        T: 'scope,
    {
        let (tx, rx) = sync_channel(DEPTH);
        let tally = crate::notes::current();
        let (start, end) = (range.start, range.end);
        scope.spawn(move || crate::notes::within(&tally, || produce(range, &make, &tx)));
        Feed {
            next: start,
            end,
            rx,
            waited: Duration::ZERO,
        }
    }

    /// Time spent waiting in `next` since the last call, reset to zero.
    pub fn take_waited(&mut self) -> Duration {
        std::mem::take(&mut self.waited)
    }
}

impl<T> Iterator for Feed<T> {
    type Item = T;

    /// The next item, or `None` past the end of the range (or if the maker panicked).
    fn next(&mut self) -> Option<T> {
        if self.next >= self.end {
            return None;
        }
        let began = Instant::now();
        let got = self.rx.recv().ok();
        self.waited += began.elapsed();
        let (index, item) = got?;
        debug_assert_eq!(index, self.next, "items arrive in order");
        self.next += 1;
        Some(item)
    }
}

fn produce<T>(range: Range<usize>, make: &dyn Fn(usize) -> T, tx: &SyncSender<(usize, T)>) {
    for i in range {
        if tx.send((i, make(i))).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn items_arrive_in_order_and_the_maker_stays_bounded_ahead() {
        let made = AtomicUsize::new(0);
        std::thread::scope(|s| {
            let mut feed = Feed::start(s, 3..10, |i| {
                made.fetch_add(1, Ordering::SeqCst);
                i * 10
            });
            let first = feed.next();
            assert_eq!(first, Some(30));
            // Give the maker time to run ahead as far as it may.
            std::thread::sleep(Duration::from_millis(50));
            let ahead = made.load(Ordering::SeqCst);
            assert!(ahead <= 1 + DEPTH + 1, "made {ahead} with one consumed");
            let rest: Vec<usize> = std::iter::from_fn(|| feed.next()).collect();
            assert_eq!(rest, vec![40, 50, 60, 70, 80, 90]);
            assert_eq!(feed.next(), None);
        });
    }

    #[test]
    fn dropping_the_feed_stops_the_maker() {
        let made = AtomicUsize::new(0);
        std::thread::scope(|s| {
            let mut feed = Feed::start(s, 0..1_000_000, |i| {
                made.fetch_add(1, Ordering::SeqCst);
                i
            });
            assert_eq!(feed.next(), Some(0));
            drop(feed);
        });
        // The scope joined the maker: it stopped long before the end of its range.
        assert!(made.load(Ordering::SeqCst) < 10);
    }

    #[test]
    fn waiting_is_measured() {
        std::thread::scope(|s| {
            let mut feed = Feed::start(s, 0..2, |i| {
                std::thread::sleep(Duration::from_millis(30));
                i
            });
            assert_eq!(feed.next(), Some(0));
            assert!(feed.take_waited() >= Duration::from_millis(20));
            assert_eq!(feed.take_waited(), Duration::ZERO);
        });
    }
}
