//! Seeded splits of a dataset into train/val/test parts, and the labelled
//! subsets evaluations train on.
//!
//! Both work on labels and indices only, and are functions of their
//! arguments and seed: the shuffles are ChaCha8 through portable integer
//! arithmetic. Stratifying by label treats unlabelled images (-1) as one
//! more stratum. Indices in every result are sorted ascending.

use std::collections::BTreeMap;

use super::DataError;
use super::rng;

/// ChaCha streams, so that one seed gives unrelated shuffles to each use.
const SPLIT_STREAM: u64 = 1;
const SUBSET_STREAM: u64 = 2;

/// The size of a part: a number of images or a fraction of all of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    /// Exactly this many images.
    Count(usize),
    /// This fraction of the images, in (0, 1].
    Fraction(f64),
}

/// How to divide a dataset (the language's `split { ... }` block).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitSpec {
    /// Size of the train part.
    pub train: Amount,
    /// Size of the test part; `None` for every image not in another part.
    pub test: Option<Amount>,
    /// Size of the validation part; `None` for no validation part.
    pub val: Option<Amount>,
    /// Keep each label's share of the images in every part.
    pub stratify: bool,
}

/// The indices of the images in each part, sorted ascending.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parts {
    /// The train part.
    pub train: Vec<usize>,
    /// The test part.
    pub test: Vec<usize>,
    /// The validation part (empty without one).
    pub val: Vec<usize>,
}

/// Divides the images with these `labels` (-1: unlabelled) as `spec` says.
///
/// Fractions are of all the images; the sizes of the fractional parts
/// are rounded together (largest remainder), so fractions summing to 1 use
/// every image. The images are shuffled with `seed` and dealt out; when
/// stratifying, each part's size is shared among the labels in proportion
/// to their counts (largest remainder again, so part sizes stay exact).
/// Asking for more images than there are is [`DataError::Invalid`].
pub fn split(labels: &[i32], spec: &SplitSpec, seed: u64) -> Result<Parts, DataError> {
    let sizes = part_sizes(labels.len(), spec)?;
    let mut rng = rng::chacha(seed, SPLIT_STREAM);
    let mut parts: [Vec<usize>; 3] = Default::default();
    if spec.stratify {
        let mut strata: Vec<Vec<usize>> = by_label(0..labels.len(), labels).into_values().collect();
        let counts: Vec<usize> = strata.iter().map(Vec::len).collect();
        for (members, shares) in strata.iter_mut().zip(share(sizes, &counts)) {
            rng::shuffle(&mut rng, members);
            deal(members, shares, &mut parts);
        }
    } else {
        let mut all: Vec<usize> = (0..labels.len()).collect();
        rng::shuffle(&mut rng, &mut all);
        deal(&all, sizes, &mut parts);
    }
    for part in &mut parts {
        part.sort_unstable();
    }
    let [train, val, test] = parts;
    Ok(Parts { train, test, val })
}

/// The labelled images among `indices` that an evaluation trains on,
/// chosen per class with `seed`, sorted. Unlabelled images are ignored.
///
/// With `per_class`, exactly that many of each class (a class with fewer
/// is [`DataError::Invalid`]); it wins over `fraction`. With `fraction`
/// (in (0, 1]), that share of each class, rounded, and at least one. With
/// neither, all labelled images. A smaller fraction (or `per_class`) with
/// the same seed gives a subset of a larger one's images.
pub fn label_subset(
    labels: &[i32],
    indices: &[usize],
    fraction: Option<f64>,
    per_class: Option<usize>,
    seed: u64,
) -> Result<Vec<usize>, DataError> {
    if let Some(f) = fraction {
        check_fraction("label fraction", f)?;
    }
    if let Some(&i) = indices.iter().find(|&&i| i >= labels.len()) {
        return Err(DataError::Invalid(format!(
            "image index {i} out of range: there are {} images",
            labels.len()
        )));
    }
    let mut rng = rng::chacha(seed, SUBSET_STREAM);
    let mut chosen = Vec::new();
    for (label, mut members) in by_label(indices.iter().copied(), labels) {
        if label < 0 {
            continue;
        }
        members.dedup();
        let take = match (per_class, fraction) {
            (Some(n), _) if members.len() < n => {
                return Err(DataError::Invalid(format!(
                    "class {label} has {} labelled images, fewer than the {n} per class asked for",
                    members.len()
                )));
            }
            (Some(n), _) => n,
            (None, Some(f)) => {
                ((f * members.len() as f64).round() as usize).clamp(1, members.len())
            }
            (None, None) => members.len(),
        };
        rng::shuffle(&mut rng, &mut members);
        chosen.extend_from_slice(&members[..take]);
    }
    chosen.sort_unstable();
    Ok(chosen)
}

/// `indices` grouped by label, labels ascending, each group sorted.
fn by_label(indices: impl Iterator<Item = usize>, labels: &[i32]) -> BTreeMap<i32, Vec<usize>> {
    let mut groups: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for i in indices {
        groups.entry(labels[i]).or_default().push(i);
    }
    for members in groups.values_mut() {
        members.sort_unstable();
    }
    groups
}

fn check_fraction(what: &str, f: f64) -> Result<(), DataError> {
    if f > 0.0 && f <= 1.0 {
        Ok(())
    } else {
        Err(DataError::Invalid(format!("{what} {f} is not in (0, 1]")))
    }
}

/// The sizes of the train, val and test parts of `n` images (what [`split`]
/// makes, whatever the labels), or why the split cannot be made.
pub fn sizes_of(n: usize, spec: &SplitSpec) -> Result<[usize; 3], DataError> {
    part_sizes(n, spec)
}

/// The sizes of train, val and test for `n` images.
fn part_sizes(n: usize, spec: &SplitSpec) -> Result<[usize; 3], DataError> {
    let amounts = [Some(spec.train), spec.val, spec.test];
    let mut quotas = Vec::new();
    for (name, amount) in ["train", "val", "test"].iter().zip(&amounts) {
        if let Some(Amount::Fraction(f)) = amount {
            check_fraction(&format!("{name} fraction"), *f)?;
            quotas.push(f * n as f64);
        }
    }
    let rounded_total = quotas.iter().sum::<f64>().round() as usize;
    let mut rounded = apportion(&quotas, rounded_total).into_iter();
    let mut sizes = amounts.map(|amount| match amount {
        Some(Amount::Count(c)) => c,
        Some(Amount::Fraction(_)) => rounded.next().unwrap_or_default(),
        None => 0,
    });
    let asked = sizes.iter().fold(0usize, |sum, &s| sum.saturating_add(s));
    if asked > n {
        let [train, val, test] = sizes;
        return Err(DataError::Invalid(format!(
            "the split asks for {asked} images (train {train}, val {val}, test {test}) \
             but the data has {n}"
        )));
    }
    if spec.test.is_none() {
        sizes[2] = n - asked;
    }
    Ok(sizes)
}

/// Whole numbers summing to `total` (at least the sum of the floors, and
/// at most that plus the number of quotas), each the floor of its quota or
/// one more: the largest remainders get the extra ones, ties to the first.
fn apportion(quotas: &[f64], total: usize) -> Vec<usize> {
    let mut out: Vec<usize> = quotas.iter().map(|q| q.floor() as usize).collect();
    let mut order: Vec<usize> = (0..quotas.len()).collect();
    order.sort_by(|&a, &b| {
        (quotas[b] - quotas[b].floor()).total_cmp(&(quotas[a] - quotas[a].floor()))
    });
    let missing = total.saturating_sub(out.iter().sum());
    for &k in order.iter().take(missing) {
        out[k] += 1;
    }
    out
}

/// How many of each stratum (of `counts` images) go to each part (of
/// `sizes` images): each part's quota per stratum is proportional to the
/// stratum's count, rounded by largest remainder, never more than the
/// stratum has left. Parts are served in order, so the last (test, usually
/// the rest) absorbs the rounding.
fn share(sizes: [usize; 3], counts: &[usize]) -> Vec<[usize; 3]> {
    let n: usize = counts.iter().sum();
    let mut left = counts.to_vec();
    let mut shares = vec![[0; 3]; counts.len()];
    for (p, &size) in sizes.iter().enumerate() {
        let quotas: Vec<f64> = counts
            .iter()
            .map(|&c| size as f64 * c as f64 / n as f64)
            .collect();
        let target = apportion(&quotas, size);
        let mut given = 0;
        for (k, &t) in target.iter().enumerate() {
            let take = t.min(left[k]);
            shares[k][p] = take;
            left[k] -= take;
            given += take;
        }
        // Strata short of their quota leave some over: the others with
        // images left take them, largest remainder first. `sizes` sum to at
        // most `n`, so there are always enough.
        let mut order: Vec<usize> = (0..counts.len()).collect();
        order.sort_by(|&a, &b| {
            (quotas[b] - quotas[b].floor()).total_cmp(&(quotas[a] - quotas[a].floor()))
        });
        while given < size {
            let before = given;
            for &k in &order {
                if given < size && left[k] > 0 {
                    shares[k][p] += 1;
                    left[k] -= 1;
                    given += 1;
                }
            }
            if given == before {
                debug_assert!(false, "parts larger than the data");
                break;
            }
        }
    }
    shares
}

/// Deals `members` out: the first `sizes[0]` to train, the next to val,
/// the next to test.
fn deal(members: &[usize], sizes: [usize; 3], parts: &mut [Vec<usize>; 3]) {
    let mut rest = members;
    for (part, size) in parts.iter_mut().zip(sizes) {
        let (taken, remaining) = rest.split_at(size);
        part.extend_from_slice(taken);
        rest = remaining;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn spec(train: Amount, val: Option<Amount>, test: Option<Amount>, stratify: bool) -> SplitSpec {
        SplitSpec {
            train,
            test,
            val,
            stratify,
        }
    }

    /// 60 images of class 0, 30 of class 1, 10 of class 2, interleaved.
    fn labels_60_30_10() -> Vec<i32> {
        (0..100)
            .map(|i| match i % 10 {
                0..=5 => 0,
                6..=8 => 1,
                _ => 2,
            })
            .collect()
    }

    fn per_class(labels: &[i32], part: &[usize]) -> BTreeMap<i32, usize> {
        let mut counts = BTreeMap::new();
        for &i in part {
            *counts.entry(labels[i]).or_default() += 1;
        }
        counts
    }

    fn assert_partition(parts: &Parts, n: usize) {
        let mut all: Vec<usize> = [&parts.train, &parts.val, &parts.test]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        for part in [&parts.train, &parts.val, &parts.test] {
            assert!(
                part.windows(2).all(|w| w[0] < w[1]),
                "sorted, no duplicates"
            );
        }
        all.sort_unstable();
        all.dedup();
        assert_eq!(
            all.len(),
            parts.train.len() + parts.val.len() + parts.test.len(),
            "disjoint"
        );
        assert!(all.iter().all(|&i| i < n));
    }

    #[test]
    fn fractions_give_exact_sizes_and_the_rest_is_test() {
        let labels = labels_60_30_10();
        for stratify in [false, true] {
            let parts = split(
                &labels,
                &spec(
                    Amount::Fraction(0.7),
                    Some(Amount::Fraction(0.1)),
                    None,
                    stratify,
                ),
                3,
            )
            .unwrap();
            assert_eq!(
                (parts.train.len(), parts.val.len(), parts.test.len()),
                (70, 10, 20)
            );
            assert_partition(&parts, 100);
        }
    }

    #[test]
    fn counts_may_leave_images_unused() {
        let labels = labels_60_30_10();
        let parts = split(
            &labels,
            &spec(Amount::Count(50), None, Some(Amount::Count(20)), true),
            0,
        )
        .unwrap();
        assert_eq!(
            (parts.train.len(), parts.val.len(), parts.test.len()),
            (50, 0, 20)
        );
        assert_partition(&parts, 100);
        assert_eq!(
            per_class(&labels, &parts.train),
            BTreeMap::from([(0, 30), (1, 15), (2, 5)])
        );
        assert_eq!(
            per_class(&labels, &parts.test),
            BTreeMap::from([(0, 12), (1, 6), (2, 2)])
        );
    }

    #[test]
    fn fractions_summing_to_one_round_together() {
        // 0.5 of 5 is 2.5 each: one part gets 3, the other 2, never 3 + 3.
        let labels = [0; 5];
        let parts = split(
            &labels,
            &spec(
                Amount::Fraction(0.5),
                None,
                Some(Amount::Fraction(0.5)),
                false,
            ),
            1,
        )
        .unwrap();
        assert_eq!(parts.train.len() + parts.test.len(), 5);
    }

    #[test]
    fn stratified_shares_use_largest_remainders() {
        // 7 of each of three classes; 10 for train is 3.33 each.
        let labels: Vec<i32> = (0..21).map(|i| i % 3).collect();
        let parts = split(&labels, &spec(Amount::Count(10), None, None, true), 9).unwrap();
        let counts: Vec<usize> = per_class(&labels, &parts.train).into_values().collect();
        assert_eq!(counts.iter().sum::<usize>(), 10);
        assert!(counts.iter().all(|&c| c == 3 || c == 4), "{counts:?}");
        assert_eq!(parts.test.len(), 11);
    }

    #[test]
    fn unlabelled_images_are_their_own_stratum() {
        let labels: Vec<i32> = (0..40).map(|i| if i < 20 { -1 } else { i % 2 }).collect();
        let parts = split(&labels, &spec(Amount::Fraction(0.5), None, None, true), 4).unwrap();
        assert_eq!(
            per_class(&labels, &parts.train),
            BTreeMap::from([(-1, 10), (0, 5), (1, 5)])
        );
    }

    #[test]
    fn the_seed_decides_and_only_it() {
        let labels = labels_60_30_10();
        let s = spec(Amount::Fraction(0.5), None, None, true);
        let a = split(&labels, &s, 1).unwrap();
        assert_eq!(a, split(&labels, &s, 1).unwrap());
        assert_ne!(a, split(&labels, &s, 2).unwrap());
        let unstratified = spec(Amount::Fraction(0.5), None, None, false);
        assert_ne!(
            split(&labels, &unstratified, 1).unwrap(),
            split(&labels, &unstratified, 2).unwrap()
        );
    }

    #[test]
    fn asking_too_much_is_invalid() {
        let labels = [0; 10];
        let cases = [
            spec(Amount::Count(11), None, None, false),
            spec(Amount::Count(6), None, Some(Amount::Count(5)), true),
            spec(
                Amount::Fraction(0.6),
                Some(Amount::Fraction(0.5)),
                None,
                false,
            ),
            spec(Amount::Fraction(0.0), None, None, false),
            spec(Amount::Fraction(1.5), None, None, false),
            spec(Amount::Fraction(f64::NAN), None, None, false),
        ];
        for case in cases {
            let err = split(&labels, &case, 0).unwrap_err();
            assert!(matches!(err, DataError::Invalid(_)), "{case:?}");
        }
        let err = split(&labels, &cases[1], 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the split asks for 11 images (train 6, val 0, test 5) but the data has 10"
        );
    }

    #[test]
    fn label_subset_by_fraction_is_stratified_with_one_at_least() {
        // Class 0: 20 images, class 1: 3, class 2: 1; unlabelled ignored.
        let mut labels = vec![0; 20];
        labels.extend([1, 1, 1, 2, -1, -1]);
        let all: Vec<usize> = (0..labels.len()).collect();
        let subset = label_subset(&labels, &all, Some(0.1), None, 5).unwrap();
        assert_eq!(
            per_class(&labels, &subset),
            BTreeMap::from([(0, 2), (1, 1), (2, 1)])
        );
        assert!(subset.windows(2).all(|w| w[0] < w[1]));
        let everything = label_subset(&labels, &all, None, None, 5).unwrap();
        assert_eq!(everything, (0..24).collect::<Vec<_>>());
    }

    #[test]
    fn label_subset_per_class_is_exact_and_wins() {
        let labels: Vec<i32> = (0..30).map(|i| i % 3).collect();
        let train: Vec<usize> = (0..24).collect();
        let subset = label_subset(&labels, &train, Some(1.0), Some(5), 0).unwrap();
        assert_eq!(
            per_class(&labels, &subset),
            BTreeMap::from([(0, 5), (1, 5), (2, 5)])
        );
        assert!(
            subset.iter().all(|&i| i < 24),
            "only from the given indices"
        );
        let err = label_subset(&labels, &train, None, Some(9), 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "class 0 has 8 labelled images, fewer than the 9 per class asked for"
        );
    }

    #[test]
    fn label_subsets_are_nested_and_seeded() {
        let labels: Vec<i32> = (0..200).map(|i| i % 4).collect();
        let all: Vec<usize> = (0..200).collect();
        let small: BTreeSet<usize> = label_subset(&labels, &all, Some(0.1), None, 3)
            .unwrap()
            .into_iter()
            .collect();
        let large: BTreeSet<usize> = label_subset(&labels, &all, Some(0.5), None, 3)
            .unwrap()
            .into_iter()
            .collect();
        assert!(small.is_subset(&large));
        let other = label_subset(&labels, &all, Some(0.1), None, 4).unwrap();
        assert_ne!(small.into_iter().collect::<Vec<_>>(), other);
        // The order of the given indices does not matter.
        let reversed: Vec<usize> = all.iter().rev().copied().collect();
        assert_eq!(
            label_subset(&labels, &all, Some(0.3), None, 3).unwrap(),
            label_subset(&labels, &reversed, Some(0.3), None, 3).unwrap()
        );
    }

    #[test]
    fn label_subset_rejects_bad_arguments() {
        let labels = [0, 1];
        assert!(label_subset(&labels, &[2], None, None, 0).is_err());
        assert!(label_subset(&labels, &[0], Some(0.0), None, 0).is_err());
        assert!(label_subset(&labels, &[0], Some(1.1), None, 0).is_err());
    }

    fn amount() -> impl Strategy<Value = Amount> {
        prop_oneof![
            (0usize..60).prop_map(Amount::Count),
            (0.01f64..=1.0).prop_map(Amount::Fraction)
        ]
    }

    proptest! {
        #[test]
        fn splits_are_exact_partitions(
            labels in prop::collection::vec(-1i32..5, 0..80),
            train in amount(),
            val in prop::option::of(amount()),
            test in prop::option::of(amount()),
            stratify: bool,
            seed: u64,
        ) {
            let s = spec(train, val, test, stratify);
            let n = labels.len();
            match (split(&labels, &s, seed), part_sizes(n, &s)) {
                (Ok(parts), Ok([tr, va, te])) => {
                    prop_assert_eq!((parts.train.len(), parts.val.len(), parts.test.len()), (tr, va, te));
                    assert_partition(&parts, n);
                    if test.is_none() {
                        prop_assert_eq!(tr + va + te, n);
                    }
                }
                (Err(_), Err(_)) => {}
                (a, b) => prop_assert!(false, "split {:?} but sizes {:?}", a, b),
            }
        }
    }
}
