//! The compute a design change costs: the steps it makes run, times how long
//! steps of their kinds took before, as the store recorded it.
//!
//! Pure: the caller reads the store (`exec::Store`) and hands over
//! [`StoreFacts`]; without a store the estimate is unknown.

use super::{Diff, StepClass};
use crate::plan::{Key, Plan};
use std::collections::{BTreeMap, BTreeSet};

/// One finished step's wall time, from a store record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// Step kind (`pretrain`, `knn`, ...).
    pub kind: String,
    /// The declaration it came from.
    pub decl: String,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
}

/// What the store knows, for estimating a change.
#[derive(Debug, Clone, Default)]
pub struct StoreFacts {
    /// Where the store is, as shown to the reader.
    pub location: String,
    /// Steps of the new design the store already has, done (they cost nothing).
    pub done: BTreeSet<Key>,
    /// Wall times of the finished steps it records.
    pub timings: Vec<Timing>,
}

/// The estimate for the steps of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindEstimate {
    /// Step kind.
    pub kind: String,
    /// Steps of this kind to run.
    pub steps: usize,
    /// Of those, steps with a recorded duration to go by.
    pub known: usize,
    /// Sum of the known steps' estimates, in milliseconds.
    pub total_ms: u64,
    /// Finished steps of this kind the store records (what the estimates go by).
    pub records: usize,
}

/// The compute of a change, by step kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    /// Steps the change makes run (new keys not already done in the store).
    pub steps: usize,
    /// Steps with a new key that the store already has (from an earlier run).
    pub already_done: usize,
    /// Per kind, sorted by kind.
    pub kinds: Vec<KindEstimate>,
}

impl Estimate {
    /// Estimates the compute of `diff` (whose new design is `new`) from the store's records.
    ///
    /// A step is estimated by the median wall time of the recorded steps of
    /// its declaration and kind, else of its kind; with neither, it is unknown.
    pub fn new(diff: &Diff, new: &Plan, facts: &StoreFacts) -> Estimate {
        let mut by_site: BTreeMap<(&str, &str), Vec<u64>> = BTreeMap::new();
        let mut by_kind: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for t in &facts.timings {
            by_site
                .entry((t.decl.as_str(), t.kind.as_str()))
                .or_default()
                .push(t.duration_ms);
            by_kind
                .entry(t.kind.as_str())
                .or_default()
                .push(t.duration_ms);
        }
        let mut kinds: BTreeMap<&str, KindEstimate> = BTreeMap::new();
        let (mut steps, mut already_done) = (0, 0);
        for s in &new.steps {
            if diff
                .classes
                .get(&s.key)
                .is_none_or(|c| *c == StepClass::Kept)
            {
                continue;
            }
            if facts.done.contains(&s.key) {
                already_done += 1;
                continue;
            }
            steps += 1;
            let kind = s.kind.as_str();
            let e = kinds.entry(kind).or_insert_with(|| KindEstimate {
                kind: kind.to_string(),
                steps: 0,
                known: 0,
                total_ms: 0,
                records: by_kind.get(kind).map_or(0, Vec::len),
            });
            e.steps += 1;
            let durations = by_site
                .get(&(s.decl.as_str(), kind))
                .or_else(|| by_kind.get(kind));
            if let Some(d) = durations {
                e.known += 1;
                e.total_ms += median(d);
            }
        }
        Estimate {
            steps,
            already_done,
            kinds: kinds.into_values().collect(),
        }
    }

    /// Sum of the known estimates, in milliseconds.
    pub fn known_ms(&self) -> u64 {
        self.kinds.iter().map(|k| k.total_ms).sum()
    }

    /// Steps with no recorded duration to go by.
    pub fn unknown_steps(&self) -> usize {
        self.kinds.iter().map(|k| k.steps - k.known).sum()
    }
}

/// The median of non-empty `xs` (the lower middle of an even count).
fn median(xs: &[u64]) -> u64 {
    let mut v = xs.to_vec();
    v.sort_unstable();
    v[(v.len() - 1) / 2]
}

/// A duration for people: `850 ms`, `12 s`, `4 min 10 s`, `2 h 5 min`, `3 d 4 h`.
pub fn human_duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        _ if ms < 1000 => format!("{ms} ms"),
        0..60 => format!("{s} s"),
        60..3600 if s.is_multiple_of(60) => format!("{} min", s / 60),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86_400 if (s % 3600) / 60 == 0 => format!("{} h", s / 3600),
        3600..86_400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ if (s % 86_400) / 3600 == 0 => format!("{} d", s / 86_400),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human_duration(850), "850 ms");
        assert_eq!(human_duration(12_400), "12 s");
        assert_eq!(human_duration(250_000), "4 min 10 s");
        assert_eq!(human_duration(300_000), "5 min");
        assert_eq!(human_duration(7_500_000), "2 h 5 min");
        assert_eq!(human_duration(7_200_000), "2 h");
        assert_eq!(human_duration(273_600_000), "3 d 4 h");
    }

    #[test]
    fn the_median_is_the_lower_middle() {
        assert_eq!(median(&[5]), 5);
        assert_eq!(median(&[9, 1, 5]), 5);
        assert_eq!(median(&[4, 1, 9, 2]), 2);
    }
}
