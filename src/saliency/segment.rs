//! Felzenszwalb–Huttenlocher graph segmentation as CmCode runs it for RC
//! (saliency.md §2 "Segmentation"): a σ-Gaussian pre-blur of the Lab image
//! with replicated borders, an 8-connected grid graph (4 edges per pixel:
//! right, down, down-right, up-right) weighted by Euclidean Lab distance, the
//! FH merge rule with τ(C) = k/|C|, a post-pass merging components smaller
//! than `min_size`, and labels in raster order of first appearance.
//!
//! Edge order: the reference sorts with `std::sort`, which is not stable, so
//! equal weights may be visited in any order there. Here edges are sorted by
//! a stable LSD radix sort on the f32 weight bits (non-negative floats order
//! like their bit patterns; two 16-bit digits), so equal weights keep
//! generation order (raster order of the first pixel, then right, down,
//! down-right, up-right). Labels match the reference exactly except where a
//! tie between equal weights changes a merge (saliency.md §2).
//!
//! The `min_size` post-pass skips edges whose endpoints both already lie in
//! components of at least `min_size` pixels (such components only grow, so
//! the reference would skip those edges too) — same result, far fewer finds.

use super::filter::{self, Border};
use super::lab;

/// Disjoint-set forest with union by rank, component sizes and path
/// compression (FH's `universe`).
#[derive(Debug, Clone)]
pub struct UnionFind {
    parent: Vec<u32>,
    rank: Vec<u8>,
    size: Vec<u32>,
}

impl UnionFind {
    /// `n` singleton sets.
    pub fn new(n: usize) -> Self {
        assert!(n <= u32::MAX as usize, "too many elements");
        UnionFind {
            parent: (0..n as u32).collect(),
            rank: vec![0; n],
            size: vec![1; n],
        }
    }

    /// The root of `x`'s set (compressing the path).
    #[inline]
    pub fn find(&mut self, x: u32) -> u32 {
        let mut root = x;
        while self.parent[root as usize] != root {
            root = self.parent[root as usize];
        }
        let mut y = x;
        while self.parent[y as usize] != root {
            let next = self.parent[y as usize];
            self.parent[y as usize] = root;
            y = next;
        }
        root
    }

    /// Merge the sets of two distinct roots `a`, `b` (the higher rank stays
    /// root; on equal ranks `b` does). Returns the new root.
    #[inline]
    pub fn join(&mut self, a: u32, b: u32) -> u32 {
        let (ai, bi) = (a as usize, b as usize);
        if self.rank[ai] > self.rank[bi] {
            self.parent[bi] = a;
            self.size[ai] += self.size[bi];
            a
        } else {
            self.parent[ai] = b;
            self.size[bi] += self.size[ai];
            if self.rank[ai] == self.rank[bi] {
                self.rank[bi] += 1;
            }
            b
        }
    }

    /// Size of the set whose root is `root`.
    #[inline]
    pub fn size(&self, root: u32) -> u32 {
        self.size[root as usize]
    }
}

/// Stable LSD radix sort of `keys` by their high 32 bits (two 16-bit
/// digits, both histograms in one read; constant digits skipped). Keys are
/// `(f32 weight bits << 32) | ordinal`, so this is a stable sort by weight.
pub fn radix_sort_by_high_word(keys: &mut Vec<u64>) {
    const BITS: u32 = 16;
    const RADIX: usize = 1 << BITS;
    let n = keys.len();
    if n < 2 {
        return;
    }
    let mut counts = vec![[0u32; 2]; RADIX];
    for &k in keys.iter() {
        counts[((k >> 32) as usize) & (RADIX - 1)][0] += 1;
        counts[(k >> 48) as usize][1] += 1;
    }
    let mut buf = vec![0u64; n];
    for pass in 0..2 {
        if counts.iter().any(|c| c[pass] as usize == n) {
            continue; // every key has the same digit: the pass is a no-op
        }
        let mut sum = 0u32;
        for c in counts.iter_mut() {
            let t = c[pass];
            c[pass] = sum;
            sum += t;
        }
        let shift = 32 + BITS * pass as u32;
        for &k in keys.iter() {
            let d = ((k >> shift) as usize) & (RADIX - 1);
            buf[counts[d][pass] as usize] = k;
            counts[d][pass] += 1;
        }
        std::mem::swap(keys, &mut buf);
    }
}

/// The grid graph's edges as sorted keys: `(weight bits << 32) | (a·4 + dir)`
/// with dir 0 = right, 1 = down, 2 = down-right, 3 = up-right, generated in
/// the reference's order (raster over `a`, then dir) so the stable sort keeps
/// that order among equal weights.
fn sorted_edges(img: &[[f32; 3]], w: usize, h: usize) -> Vec<u64> {
    let n_edges = 4 * w * h + 2 - 3 * (w + h);
    let mut keys = Vec::with_capacity(n_edges);
    let key = |d: f32, ord: usize| (u64::from(d.to_bits()) << 32) | ord as u64;
    for y in 0..h {
        let row = &img[y * w..(y + 1) * w];
        let below = (y + 1 < h).then(|| &img[(y + 1) * w..(y + 2) * w]);
        let above = (y > 0).then(|| &img[(y - 1) * w..y * w]);
        for (x, &p) in row.iter().enumerate() {
            let ord = (y * w + x) * 4;
            let has_right = x + 1 < w;
            if has_right {
                keys.push(key(lab::distance(p, row[x + 1]), ord));
            }
            if let Some(below) = below {
                keys.push(key(lab::distance(p, below[x]), ord + 1));
                if has_right {
                    keys.push(key(lab::distance(p, below[x + 1]), ord + 2));
                }
            }
            if let (Some(above), true) = (above, has_right) {
                keys.push(key(lab::distance(p, above[x + 1]), ord + 3));
            }
        }
    }
    debug_assert_eq!(keys.len(), n_edges);
    radix_sort_by_high_word(&mut keys);
    keys
}

/// FH on a pre-built sorted edge list: the merge pass, the `min_size`
/// post-pass and raster-order labels.
fn segment_sorted(keys: &[u64], w: usize, h: usize, k: f32, min_size: usize) -> (Vec<u32>, usize) {
    let n = w * h;
    let mut u = UnionFind::new(n);
    let offsets = [1isize, w as isize, w as isize + 1, 1 - w as isize];
    let ends = |key: u64| {
        let ord = (key & 0xFFFF_FFFF) as u32;
        let a = ord >> 2;
        let b = (a as isize + offsets[(ord & 3) as usize]) as u32;
        (a, b)
    };
    // saliency.md §2: τ(C) = k/|C|, starting at k/1.
    let mut threshold = vec![k; n];
    for &key in keys {
        let (a, b) = ends(key);
        let wt = f32::from_bits((key >> 32) as u32);
        let (ra, rb) = (u.find(a), u.find(b));
        if ra != rb && wt <= threshold[ra as usize] && wt <= threshold[rb as usize] {
            let r = u.join(ra, rb);
            threshold[r as usize] = wt + k / u.size(r) as f32;
        }
    }
    // saliency.md §2: post-pass in sorted-edge order over components < min_size.
    let min_size = min_size.min(u32::MAX as usize) as u32;
    if min_size > 1 {
        // A pixel whose component already has min_size pixels stays in a
        // component at least that large, so an edge between two such pixels
        // can never merge: only edges touching a small component need finds.
        let small: Vec<bool> = (0..n as u32)
            .map(|p| {
                let r = u.find(p);
                u.size(r) < min_size
            })
            .collect();
        for &key in keys {
            let (a, b) = ends(key);
            if !small[a as usize] && !small[b as usize] {
                continue;
            }
            let (ra, rb) = (u.find(a), u.find(b));
            if ra != rb && (u.size(ra) < min_size || u.size(rb) < min_size) {
                u.join(ra, rb);
            }
        }
    }
    let mut label_of_root = vec![u32::MAX; n];
    let mut count = 0u32;
    let labels = (0..n as u32)
        .map(|p| {
            let r = u.find(p) as usize;
            if label_of_root[r] == u32::MAX {
                label_of_root[r] = count;
                count += 1;
            }
            label_of_root[r]
        })
        .collect();
    (labels, count as usize)
}

/// Segment a `w × h` Lab image (row-major) with FH: blur with σ (replicated
/// borders, OpenCV's kernel size for σ), merge with constant `k`, absorb
/// components smaller than `min_size`. Returns per-pixel labels 0..R−1 in
/// raster order of first appearance, and R.
///
/// The reference's RC call uses σ = 0.5, k = 50, min_size = 200 (TPAMI) or
/// 50 (CVPR 2011).
pub fn segment(
    lab: &[[f32; 3]],
    w: usize,
    h: usize,
    k: f32,
    min_size: usize,
    sigma: f32,
) -> (Vec<u32>, usize) {
    assert_eq!(lab.len(), w * h, "image size mismatch");
    assert!(4 * w * h <= u32::MAX as usize, "image too large");
    if w == 0 || h == 0 {
        return (Vec::new(), 0);
    }
    let keys = if sigma > 0.0 {
        let smooth = filter::gaussian_blur3_sigma(lab, w, h, f64::from(sigma), Border::Replicate);
        sorted_edges(&smooth, w, h)
    } else {
        sorted_edges(lab, w, h)
    };
    segment_sorted(&keys, w, h, k, min_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(w: usize, h: usize, split: usize, a: [f32; 3], b: [f32; 3]) -> Vec<[f32; 3]> {
        (0..w * h)
            .map(|p| if p % w < split { a } else { b })
            .collect()
    }

    #[test]
    fn union_find_tracks_sizes_and_ranks() {
        let mut u = UnionFind::new(5);
        let r = u.join(0, 1); // equal ranks: 1 becomes root
        assert_eq!(r, 1);
        assert_eq!(u.size(1), 2);
        let r = u.join(1, 2); // rank 1 > 0: 1 stays root
        assert_eq!(r, 1);
        assert_eq!(u.size(1), 3);
        assert_eq!(u.find(0), 1);
        assert_eq!(u.find(2), 1);
        assert_eq!(u.find(3), 3);
    }

    #[test]
    fn radix_sort_is_stable_and_sorted() {
        let mut state = 12345u64;
        let mut keys: Vec<u64> = (0..5000u64)
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let w = ((state >> 40) % 50) as f32 * 0.5;
                (u64::from(w.to_bits()) << 32) | i
            })
            .collect();
        let mut expected = keys.clone();
        expected.sort_unstable(); // low word = generation order → stable result
        radix_sort_by_high_word(&mut keys);
        assert_eq!(keys, expected);
    }

    #[test]
    fn merge_rule_by_hand() {
        // L = 0, 10, 30 in a row (no blur): edges 10 then 20.
        let img = [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [30.0, 0.0, 0.0]];
        // k = 15: 10 ≤ 15 merges, τ = 10 + 15/2 = 17.5; 20 > 17.5 stays apart.
        assert_eq!(segment(&img, 3, 1, 15.0, 1, 0.0), (vec![0, 0, 1], 2));
        // k = 45: τ = 10 + 22.5 = 32.5 ≥ 20 and 45 ≥ 20 → one region.
        assert_eq!(segment(&img, 3, 1, 45.0, 1, 0.0), (vec![0, 0, 0], 1));
    }

    #[test]
    fn two_flat_blocks_give_two_regions() {
        let img = blocks(20, 10, 8, [50.0, 0.0, 0.0], [50.0, 60.0, 0.0]);
        let (labels, n) = segment(&img, 20, 10, 50.0, 1, 0.0);
        assert_eq!(n, 2);
        for (p, &l) in labels.iter().enumerate() {
            assert_eq!(l, u32::from(p % 20 >= 8));
        }
    }

    #[test]
    fn blurred_boundary_strips_merge_by_min_size() {
        let img = blocks(20, 10, 8, [50.0, 0.0, 0.0], [50.0, 60.0, 0.0]);
        // With the σ = 0.5 blur the two boundary columns become strips of
        // their own; min_size = 20 folds each into its nearer block.
        let (_, n) = segment(&img, 20, 10, 50.0, 1, 0.5);
        assert!(n > 2, "{n}");
        let (labels, n) = segment(&img, 20, 10, 50.0, 20, 0.5);
        assert_eq!(n, 2);
        for (p, &l) in labels.iter().enumerate() {
            assert_eq!(l, u32::from(p % 20 >= 8), "pixel {p}");
        }
    }

    #[test]
    fn small_component_is_absorbed() {
        // A 3×3 dark patch inside a 20×20 bright field (no blur).
        let img: Vec<[f32; 3]> = (0..400)
            .map(|p| {
                let (x, y) = (p % 20, p / 20);
                if (5..8).contains(&x) && (5..8).contains(&y) {
                    [10.0, 0.0, 0.0]
                } else {
                    [90.0, 0.0, 0.0]
                }
            })
            .collect();
        let (labels, n) = segment(&img, 20, 20, 50.0, 1, 0.0);
        assert_eq!(n, 2);
        assert_eq!(labels[0], 0);
        assert_eq!(labels[6 * 20 + 6], 1);
        let (labels, n) = segment(&img, 20, 20, 50.0, 10, 0.0);
        assert_eq!(n, 1);
        assert!(labels.iter().all(|&l| l == 0));
    }

    /// FH written plainly from the reference: every edge in a Vec, a stable
    /// std sort by weight, no skipping in the post-pass.
    fn naive(img: &[[f32; 3]], w: usize, h: usize, k: f32, min_size: usize) -> (Vec<u32>, usize) {
        let mut edges = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let a = y * w + x;
                let mut add = |b: usize| edges.push((lab::distance(img[a], img[b]), a, b));
                if x + 1 < w {
                    add(a + 1);
                }
                if y + 1 < h {
                    add(a + w);
                }
                if x + 1 < w && y + 1 < h {
                    add(a + w + 1);
                }
                if x + 1 < w && y > 0 {
                    add(a + 1 - w);
                }
            }
        }
        edges.sort_by(|p, q| p.0.total_cmp(&q.0));
        let mut u = UnionFind::new(w * h);
        let mut thr = vec![k; w * h];
        for &(wt, a, b) in &edges {
            let (ra, rb) = (u.find(a as u32), u.find(b as u32));
            if ra != rb && wt <= thr[ra as usize] && wt <= thr[rb as usize] {
                let r = u.join(ra, rb);
                thr[r as usize] = wt + k / u.size(r) as f32;
            }
        }
        for &(_, a, b) in &edges {
            let (ra, rb) = (u.find(a as u32), u.find(b as u32));
            if ra != rb && (u.size(ra) < min_size as u32 || u.size(rb) < min_size as u32) {
                u.join(ra, rb);
            }
        }
        let mut map = std::collections::HashMap::new();
        let labels = (0..(w * h) as u32)
            .map(|p| {
                let r = u.find(p);
                let next = map.len() as u32;
                *map.entry(r).or_insert(next)
            })
            .collect();
        (labels, map.len())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        #[test]
        fn matches_the_plain_algorithm(
            w in 1usize..14,
            h in 1usize..14,
            levels in proptest::collection::vec(0u8..6, 196),
            k in 1.0f32..80.0,
            min_size in 1usize..30,
        ) {
            // Few distinct values → many equal weights (ties).
            let img: Vec<[f32; 3]> = (0..w * h)
                .map(|p| {
                    let v = f32::from(levels[p]);
                    [v * 9.0, v * 5.0 - 12.0, 3.0]
                })
                .collect();
            proptest::prop_assert_eq!(
                segment(&img, w, h, k, min_size, 0.0),
                naive(&img, w, h, k, min_size)
            );
        }
    }

    #[test]
    fn labels_follow_raster_order() {
        // Pixel 0 is in the left block, so that block is 0.
        let img = blocks(6, 4, 3, [80.0, 0.0, 0.0], [20.0, 0.0, 0.0]);
        let (labels, n) = segment(&img, 6, 4, 10.0, 1, 0.0);
        assert_eq!(n, 2);
        assert_eq!(&labels[..6], &[0, 0, 0, 1, 1, 1]);
    }
}
