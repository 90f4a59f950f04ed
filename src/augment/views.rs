//! Multi-view generation: several augmented views of one sample, each with
//! its own deterministic stream.

use super::img::Image;
use super::ops::resize::resize;
use super::ops::{Context, DEFAULT_RATIO, Op, PolicyItem, SpecError};
use super::policy::{Policy, run};
use super::rng::{AugRng, rng_for};

/// One kind of view: how many, at which side, with which crop and policy.
/// Asymmetric views (BYOL) are specs with different policies; multi-crop is
/// global specs plus `local` ones.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewSpec {
    /// Number of views of this kind.
    pub count: u32,
    /// View side; default [`ViewSpec::side`].
    pub size: Option<u32>,
    /// If set, each view starts with a random resized crop of this area
    /// fraction (aspect ratio 3/4..4/3) to the view side.
    pub scale: Option<(f64, f64)>,
    /// A local (small) view: placed after the global ones, default side 3/7
    /// of the image's (96/224, as multi-crop papers).
    pub local: bool,
    /// The policy applied to each view.
    pub policy: Policy,
}

impl ViewSpec {
    /// `count` global views of the image's side with `policy` and no crop of their own.
    pub fn new(count: u32, policy: Policy) -> Self {
        Self {
            count,
            size: None,
            scale: None,
            local: false,
            policy,
        }
    }

    /// The side of this spec's views for an image whose shorter side is
    /// `image_side`: `size`, else the image side (global) or
    /// `round(3/7 * image_side)` (local); at least 1.
    pub fn side(&self, image_side: u32) -> u32 {
        self.size
            .unwrap_or_else(|| {
                if self.local {
                    (f64::from(image_side) * 3.0 / 7.0).round() as u32
                } else {
                    image_side
                }
            })
            .max(1)
    }

    /// Checks the size and scale (the policy is valid by construction).
    pub fn validate(&self) -> Result<(), SpecError> {
        let scale = self.scale.unwrap_or((1.0, 1.0));
        Op::RandomResizedCrop {
            size: self.size,
            scale,
            ratio: DEFAULT_RATIO,
        }
        .validate()
        .map_err(|e| SpecError {
            op: "view".to_string(),
            message: e.message,
        })
    }
}

/// Identifies one sample's draw: everything its randomness derives from
/// except the view index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SampleDraw {
    /// The pipeline seed.
    pub seed: u64,
    /// The key of the step drawing (e.g. the pretraining run).
    pub step_key: [u8; 32],
    /// The epoch.
    pub epoch: u32,
    /// The sample's index in the dataset.
    pub index: u64,
}

impl SampleDraw {
    /// The stream of view `view` ([`rng_for`]).
    pub fn rng(&self, view: u32) -> AugRng {
        rng_for(self.seed, &self.step_key, self.epoch, self.index, view)
    }
}

/// How many leading items of a policy run before a view's own crop: the
/// deterministic ops up to and including the first offline op (or `one_of`
/// holding one), when only deterministic ops precede it, so the offline op
/// sees a function of the stored sample and is served from the cache; 0 when
/// the policy has no such op.
pub fn cached_head(items: &[PolicyItem]) -> usize {
    for (i, item) in items.iter().enumerate() {
        if item.op.has_offline() {
            return i + 1;
        }
        if !item.is_deterministic() {
            return 0;
        }
    }
    0
}

/// The views of `img` (the stored sample) for `specs`: global specs first,
/// then local ones, each in the given order, `count` views each; view `v`
/// (counting from 0 in that order) draws from `draw.rng(v)`.
///
/// Per view: the policy's [`cached_head`] (deterministic ops and the first
/// offline op: it sees a function of the stored sample, so its result comes
/// from the cache), then the spec's crop if `scale` is set, then the rest of
/// the policy. Crops without an explicit size produce
/// the view side, and a view that does not end at `side x side` (no crop,
/// or a crop of another size) is resized to it, so every view of a spec has
/// the same shape.
pub fn make_views(
    img: &Image,
    specs: &[ViewSpec],
    draw: &SampleDraw,
    cx: &mut Context<'_>,
) -> Vec<Image> {
    let image_side = img.width.min(img.height);
    let total = specs.iter().map(|s| s.count as usize).sum();
    let mut views = Vec::with_capacity(total);
    let ordered = specs
        .iter()
        .filter(|s| !s.local)
        .chain(specs.iter().filter(|s| s.local));
    let mut view = 0;
    for spec in ordered {
        let side = spec.side(image_side);
        let crop = spec.scale.map(|scale| {
            PolicyItem::always(Op::RandomResizedCrop {
                size: Some(side),
                scale,
                ratio: DEFAULT_RATIO,
            })
        });
        let items = spec.policy.items();
        let head = cached_head(items);
        for _ in 0..spec.count {
            let mut out = img.clone();
            cx.view_side = Some(side);
            let steps = items[..head].iter().chain(&crop).chain(&items[head..]);
            run(steps, &mut out, &mut draw.rng(view), cx);
            if (out.width, out.height) != (side, side) && !out.data.is_empty() {
                resize(&mut out, side, side, &mut cx.scratch);
            }
            views.push(out);
            view += 1;
        }
    }
    cx.view_side = None;
    views
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::offline::{CacheStats, OfflineCache};
    use crate::augment::segments::KMeansSegments;
    use std::sync::Arc;

    fn photo() -> Image {
        let data = (0..32u32 * 32)
            .flat_map(|i| [(i * 7 % 256) as u8, (i / 4) as u8, (255 - i % 256) as u8])
            .collect();
        Image::new(32, 32, data).unwrap()
    }

    fn draw(index: u64) -> SampleDraw {
        SampleDraw {
            seed: 42,
            step_key: [9; 32],
            epoch: 3,
            index,
        }
    }

    fn jitter() -> Policy {
        Policy::new(vec![
            PolicyItem::new(Op::HorizontalFlip, 0.5),
            PolicyItem::always(Op::ColorJitter {
                brightness: 0.4,
                contrast: 0.4,
                saturation: 0.4,
                hue: 0.1,
            }),
        ])
        .unwrap()
    }

    fn global(count: u32) -> ViewSpec {
        ViewSpec {
            scale: Some((0.14, 1.0)),
            ..ViewSpec::new(count, jitter())
        }
    }

    fn local(count: u32) -> ViewSpec {
        ViewSpec {
            scale: Some((0.05, 0.14)),
            local: true,
            ..ViewSpec::new(count, jitter())
        }
    }

    #[test]
    fn globals_come_first_and_local_views_are_three_sevenths() {
        let views = make_views(
            &photo(),
            &[local(3), global(2)],
            &draw(0),
            &mut Context::default(),
        );
        let sides: Vec<_> = views.iter().map(|v| (v.width(), v.height())).collect();
        assert_eq!(sides, [(32, 32), (32, 32), (14, 14), (14, 14), (14, 14)]);
        // View indices follow that order: the globals alone give the same first two.
        let globals = make_views(&photo(), &[global(2)], &draw(0), &mut Context::default());
        assert_eq!(globals[..], views[..2]);
        assert_ne!(views[0], views[1]);
    }

    #[test]
    fn views_are_deterministic_per_sample_draw() {
        let specs = [global(2), local(2)];
        let mut cx = Context::default();
        let a = make_views(&photo(), &specs, &draw(5), &mut cx);
        let b = make_views(&photo(), &specs, &draw(5), &mut cx);
        assert_eq!(a, b);
        let c = make_views(&photo(), &specs, &draw(6), &mut cx);
        assert!(a.iter().zip(&c).all(|(x, y)| x != y));
        let d = make_views(
            &photo(),
            &specs,
            &SampleDraw {
                epoch: 4,
                ..draw(5)
            },
            &mut cx,
        );
        assert!(a.iter().zip(&d).all(|(x, y)| x != y));
    }

    #[test]
    fn threads_do_not_change_the_bytes() {
        use rayon::prelude::*;
        let specs = [global(2), local(2)];
        let sequential: Vec<_> = (0..48)
            .map(|i| make_views(&photo(), &specs, &draw(i), &mut Context::default()))
            .collect();
        let parallel: Vec<_> = (0..48u64)
            .into_par_iter()
            .map_init(Context::default, |cx, i| {
                make_views(&photo(), &specs, &draw(i), cx)
            })
            .collect();
        assert_eq!(sequential, parallel);
    }

    #[test]
    fn asymmetric_policies_and_explicit_sizes() {
        let grey = Policy::new(vec![PolicyItem::always(Op::Grayscale)]).unwrap();
        let specs = [
            ViewSpec::new(1, Policy::empty()),
            ViewSpec {
                size: Some(16),
                ..ViewSpec::new(1, grey)
            },
        ];
        let views = make_views(&photo(), &specs, &draw(0), &mut Context::default());
        assert_eq!(views[0], photo());
        // No crop: resized to the requested side, then grey.
        assert_eq!((views[1].width(), views[1].height()), (16, 16));
        assert!(
            views[1]
                .data()
                .chunks(3)
                .all(|p| p[0] == p[1] && p[1] == p[2])
        );
    }

    #[test]
    fn policy_crops_default_to_the_view_side() {
        let policy = Policy::new(vec![PolicyItem::always(Op::RandomResizedCrop {
            size: None,
            scale: (0.5, 1.0),
            ratio: DEFAULT_RATIO,
        })])
        .unwrap();
        let spec = ViewSpec {
            local: true,
            ..ViewSpec::new(2, policy)
        };
        for v in make_views(&photo(), &[spec], &draw(1), &mut Context::default()) {
            assert_eq!((v.width(), v.height()), (14, 14));
        }
    }

    #[test]
    fn leading_offline_ops_hit_the_cache_before_the_view_crop() {
        let policy = Policy::new(vec![
            PolicyItem::always(Op::Offline(Arc::new(KMeansSegments {
                k: 4,
                iterations: 3,
            }))),
            PolicyItem::new(Op::HorizontalFlip, 0.5),
        ])
        .unwrap();
        let spec = ViewSpec {
            scale: Some((0.2, 1.0)),
            ..ViewSpec::new(2, policy)
        };
        let cache = OfflineCache::in_memory();
        let mut cx = Context::new(Some(&cache));
        for epoch in 0..3 {
            make_views(
                &photo(),
                std::slice::from_ref(&spec),
                &SampleDraw { epoch, ..draw(0) },
                &mut cx,
            );
        }
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 5,
                computes: 1,
                uncached: 0
            }
        );
    }

    #[test]
    fn offline_ops_after_deterministic_ops_hit_the_cache() {
        let seg = || {
            Op::Offline(Arc::new(KMeansSegments {
                k: 4,
                iterations: 3,
            }))
        };
        let items = vec![
            PolicyItem::always(Op::Grayscale),
            PolicyItem::always(Op::HorizontalFlip),
            PolicyItem::always(seg()),
            PolicyItem::new(Op::VerticalFlip, 0.5),
        ];
        assert_eq!(cached_head(&items), 3);
        // A random op (or a deterministic one that may not apply) before it: nothing cached.
        let random = [
            PolicyItem::new(Op::Grayscale, 0.5),
            PolicyItem::always(seg()),
        ];
        assert_eq!(cached_head(&random), 0);
        let spec = ViewSpec {
            scale: Some((0.2, 1.0)),
            ..ViewSpec::new(2, Policy::new(items).unwrap())
        };
        let cache = OfflineCache::in_memory();
        let mut cx = Context::new(Some(&cache));
        for epoch in 0..3 {
            make_views(
                &photo(),
                std::slice::from_ref(&spec),
                &SampleDraw { epoch, ..draw(0) },
                &mut cx,
            );
        }
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 5,
                computes: 1,
                uncached: 0
            }
        );
        // After a random op the offline op runs online, uncached, and is counted as such.
        let spec = ViewSpec::new(1, Policy::new(random.to_vec()).unwrap());
        let cache = OfflineCache::in_memory();
        let counted = Arc::new(crate::notes::Tally::default());
        let tally = Some(counted.clone());
        crate::notes::within(&tally, || {
            for i in 0..40 {
                make_views(
                    &photo(),
                    std::slice::from_ref(&spec),
                    &draw(i),
                    &mut Context::new(Some(&cache)),
                );
            }
        });
        let stats = cache.stats();
        assert!(stats.uncached > 0, "{stats:?}");
        let notes = counted.notes();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].code, "offline.computed_online");
        assert_eq!(notes[0].count, stats.uncached);
    }

    /// The reproducibility contract end to end: these bytes must not change
    /// unless a kernel or the draw derivation changes on purpose.
    #[test]
    fn views_are_pinned() {
        let policy = Policy::new(vec![
            PolicyItem::new(Op::Rotate { degrees: 20.0 }, 0.5),
            PolicyItem::new(
                Op::ColorJitter {
                    brightness: 0.4,
                    contrast: 0.4,
                    saturation: 0.4,
                    hue: 0.1,
                },
                0.8,
            ),
            PolicyItem::new(Op::Grayscale, 0.2),
            PolicyItem::always(Op::GaussianBlur {
                kernel: 3,
                sigma: (0.1, 2.0),
            }),
            PolicyItem::new(Op::Solarize { threshold: 0.5 }, 0.2),
        ])
        .unwrap();
        let specs = [
            ViewSpec {
                scale: Some((0.08, 1.0)),
                ..ViewSpec::new(2, policy.clone())
            },
            ViewSpec {
                scale: Some((0.05, 0.14)),
                local: true,
                ..ViewSpec::new(2, policy)
            },
        ];
        let mut h = blake3::Hasher::new();
        for index in 0..8 {
            for v in make_views(&photo(), &specs, &draw(index), &mut Context::default()) {
                h.update(v.data());
            }
        }
        assert_eq!(
            h.finalize().to_hex().as_str(),
            "413861280be44813f339e5d7ee9a33c51bbe9f6f18fe2a0266b6a423e231a7f5"
        );
    }

    #[test]
    fn spec_validation() {
        assert!(global(1).validate().is_ok());
        let bad = ViewSpec {
            size: Some(0),
            ..global(1)
        };
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "view: size must be at least 1"
        );
        assert_eq!(local(1).side(224), 96);
    }
}
