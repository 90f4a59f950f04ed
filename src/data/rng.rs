//! Portable seeded randomness for the loaders, splits and generators.
//!
//! Every draw is ChaCha8 output turned into numbers by integer arithmetic
//! written here, not by `rand`'s distributions (whose algorithms may change
//! between versions): a seed gives the same values on every machine and
//! with every version of the dependencies, as content-addressed keys need.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator for `seed`; distinct `stream`s are independent sequences.
pub(super) fn chacha(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// A uniform integer in `0..n` (`n > 0`), unbiased (Lemire's method).
pub(super) fn below(rng: &mut impl RngCore, n: usize) -> usize {
    debug_assert!(n > 0);
    let n = n as u64;
    let threshold = n.wrapping_neg() % n;
    loop {
        let product = u128::from(rng.next_u64()) * u128::from(n);
        if (product as u64) >= threshold {
            return (product >> 64) as usize;
        }
    }
}

/// A uniform `f32` in `[0, 1)`, from 24 random bits.
pub(super) fn unit(rng: &mut impl RngCore) -> f32 {
    (rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// A uniform `f32` in `[lo, hi)`.
pub(super) fn range(rng: &mut impl RngCore, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * unit(rng)
}

/// A uniformly random direction `(cos θ, sin θ)`, by rejection sampling in
/// the unit disk: no trigonometry, whose last bits vary between platforms.
pub(super) fn direction(rng: &mut impl RngCore) -> (f32, f32) {
    loop {
        let x = range(rng, -1.0, 1.0);
        let y = range(rng, -1.0, 1.0);
        let r2 = x * x + y * y;
        if (0.01..=1.0).contains(&r2) {
            let r = r2.sqrt();
            return (x / r, y / r);
        }
    }
}

/// Shuffles `items` in place (Fisher–Yates).
pub(super) fn shuffle<T>(rng: &mut impl RngCore, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, below(rng, i + 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut rng = chacha(1, 0);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            seen[below(&mut rng, 7)] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn streams_differ_and_seeds_repeat() {
        assert_eq!(chacha(5, 0).next_u64(), chacha(5, 0).next_u64());
        assert_ne!(chacha(5, 0).next_u32(), chacha(5, 1).next_u32());
    }

    #[test]
    fn directions_are_unit_vectors() {
        let mut rng = chacha(2, 0);
        for _ in 0..100 {
            let (c, s) = direction(&mut rng);
            assert!((c * c + s * s - 1.0).abs() < 1e-5);
        }
    }
}
