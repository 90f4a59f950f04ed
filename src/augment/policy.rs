//! Policies: ops with probabilities, applied in order.
//!
//! Randomness: every item draws from its own child stream, forked from the
//! policy's stream whether or not the item applies ([`PolicyItem::apply`],
//! [`fork`](super::rng::fork)); the child's first draw `u` decides (`u < p`
//! applies, so `p = 0` never and `p = 1` always applies) and the op draws its
//! parameters from the rest. The parent stream thus advances by the same
//! amount per item whatever happens, and an item's outcome or parameters never
//! shift another item's draws: changing one item's probability leaves every
//! other item's crops, angles and colours as they were (common random numbers
//! across such arms).
//!
//! Policies build on [`ops`](super::ops), which holds [`PolicyItem`] and
//! [`Context`]; nothing in `ops` imports this module.

use super::img::Image;
use super::offline::OfflineCache;
use super::ops::{Context, PolicyItem, SpecError};
use super::rng::AugRng;

/// A validated sequence of ops with probabilities.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Policy(Vec<PolicyItem>);

impl Policy {
    /// A policy of `items`, each validated.
    pub fn new(items: Vec<PolicyItem>) -> Result<Self, SpecError> {
        items.iter().try_for_each(PolicyItem::validate)?;
        Ok(Self(items))
    }

    /// The policy that changes nothing.
    pub fn empty() -> Self {
        Self(Vec::new())
    }

    /// The items, in order.
    pub fn items(&self) -> &[PolicyItem] {
        &self.0
    }

    /// Applies the policy to a copy of `img` (the stored sample; offline ops
    /// consult `cache` by its content).
    pub fn apply(&self, img: &Image, rng: &mut AugRng, cache: Option<&OfflineCache>) -> Image {
        let mut out = img.clone();
        self.apply_in_place(&mut out, rng, &mut Context::new(cache));
        out
    }

    /// Applies the policy to `img` in place, reusing `cx`'s buffers.
    pub fn apply_in_place(&self, img: &mut Image, rng: &mut AugRng, cx: &mut Context<'_>) {
        run(self.0.iter(), img, rng, cx);
    }
}

/// Applies `items` in order to `img`, which enters as the stored sample.
pub(super) fn run<'a>(
    items: impl IntoIterator<Item = &'a PolicyItem>,
    img: &mut Image,
    rng: &mut AugRng,
    cx: &mut Context<'_>,
) {
    cx.untouched = true;
    for item in items {
        item.apply(img, rng, cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::offline::OfflineOp;
    use crate::augment::ops::Op;
    use crate::augment::rng::{below, rng_for};
    use std::sync::Arc;

    fn photo() -> Image {
        let data = (0..16u32 * 16)
            .flat_map(|i| [(i * 7 % 256) as u8, (i * 13 % 256) as u8, (i % 256) as u8])
            .collect();
        Image::new(16, 16, data).unwrap()
    }

    #[test]
    fn probability_zero_never_applies_and_one_always_does() {
        let src = photo();
        let never = Policy::new(vec![PolicyItem::new(Op::Grayscale, 0.0)]).unwrap();
        let always = Policy::new(vec![PolicyItem::new(Op::Grayscale, 1.0)]).unwrap();
        let mut grey = src.clone();
        crate::augment::ops::color::grayscale(&mut grey);
        for i in 0..200 {
            let mut rng = rng_for(0, &[0; 32], 0, i, 0);
            assert_eq!(never.apply(&src, &mut rng, None), src);
            assert_eq!(always.apply(&src, &mut rng, None), grey);
        }
    }

    #[test]
    fn probability_is_respected_statistically() {
        let item = PolicyItem::new(Op::HorizontalFlip, 0.3);
        let mut rng = rng_for(1, &[0; 32], 0, 0, 0);
        let mut cx = Context::default();
        let mut img = Image::black(1, 1);
        let applied = (0..20_000)
            .filter(|_| item.apply(&mut img, &mut rng, &mut cx))
            .count();
        assert!((5_700..6_300).contains(&applied), "{applied}");
    }

    #[test]
    fn one_of_follows_weights_and_the_chosen_probability() {
        let policy = Policy::new(vec![PolicyItem::always(Op::OneOf {
            choices: vec![
                PolicyItem::always(Op::Grayscale),
                PolicyItem::always(Op::Solarize { threshold: 0.0 }),
                PolicyItem::new(Op::HorizontalFlip, 0.0),
            ],
            weights: vec![1.0, 3.0, 4.0],
        })])
        .unwrap();
        let src = Image::new(2, 1, vec![255, 0, 0, 10, 20, 30]).unwrap();
        let mut counts = [0u32; 3];
        for i in 0..8_000 {
            let out = policy.apply(&src, &mut rng_for(2, &[0; 32], 0, i, 0), None);
            match out.pixel(0, 0) {
                [76, 76, 76] => counts[0] += 1,
                [0, 255, 255] => counts[1] += 1,
                [255, 0, 0] => counts[2] += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        // Grey 1/8, solarized 3/8, unchanged (flip chosen but p = 0) 4/8.
        for (c, expected) in counts.iter().zip([1_000.0, 3_000.0, 4_000.0]) {
            assert!((f64::from(*c) - expected).abs() < 150.0, "{counts:?}");
        }
    }

    #[test]
    fn same_stream_same_bytes_different_stream_different_bytes() {
        let policy = Policy::new(vec![
            PolicyItem::always(Op::RandomResizedCrop {
                size: Some(12),
                scale: (0.2, 1.0),
                ratio: crate::augment::ops::DEFAULT_RATIO,
            }),
            PolicyItem::new(
                Op::ColorJitter {
                    brightness: 0.4,
                    contrast: 0.4,
                    saturation: 0.4,
                    hue: 0.1,
                },
                0.8,
            ),
            PolicyItem::always(Op::Rotate { degrees: 30.0 }),
        ])
        .unwrap();
        let src = photo();
        let key = [3; 32];
        let a = policy.apply(&src, &mut rng_for(7, &key, 1, 5, 0), None);
        let b = policy.apply(&src, &mut rng_for(7, &key, 1, 5, 0), None);
        assert_eq!(a, b);
        assert_eq!((a.width(), a.height()), (12, 12));
        for rng in [
            rng_for(7, &key, 2, 5, 0),
            rng_for(7, &key, 1, 6, 0),
            rng_for(7, &key, 1, 5, 1),
            rng_for(8, &key, 1, 5, 0),
        ] {
            assert_ne!(policy.apply(&src, &mut rng.clone(), None), a);
        }
    }

    /// Fills the image with one random colour: its output depends only on
    /// the stream it is given.
    struct RandomFill;

    impl OfflineOp for RandomFill {
        fn name(&self) -> &str {
            "random_fill"
        }
        fn version(&self) -> u32 {
            1
        }
        fn params_key(&self) -> [u8; 32] {
            [0; 32]
        }
        fn compute(&self, _: &Image) -> Vec<u8> {
            Vec::new()
        }
        fn render(&self, _: &[u8], img: &mut Image, rng: &mut AugRng) {
            let rgb = [
                below(rng, 256) as u8,
                below(rng, 256) as u8,
                below(rng, 256) as u8,
            ];
            img.data_mut()
                .chunks_exact_mut(3)
                .for_each(|p| p.copy_from_slice(&rgb));
        }
    }

    #[test]
    fn an_items_outcome_does_not_shift_the_others_draws() {
        let with = |p: f64| {
            Policy::new(vec![
                PolicyItem::new(Op::Rotate { degrees: 10.0 }, p),
                PolicyItem::always(Op::Offline(Arc::new(RandomFill))),
            ])
            .unwrap()
        };
        let src = photo();
        for i in 0..20 {
            let rng = rng_for(9, &[0; 32], 0, i, 0);
            assert_eq!(
                with(0.0).apply(&src, &mut rng.clone(), None),
                with(1.0).apply(&src, &mut rng.clone(), None)
            );
        }
    }

    #[test]
    fn invalid_items_are_rejected() {
        assert!(Policy::new(vec![PolicyItem::new(Op::Grayscale, 1.5)]).is_err());
        assert!(Policy::new(vec![PolicyItem::new(Op::Grayscale, f64::NAN)]).is_err());
        assert!(Policy::new(vec![PolicyItem::new(Op::Solarize { threshold: 2.0 }, 0.5)]).is_err());
        assert!(Policy::empty().items().is_empty());
    }
}
