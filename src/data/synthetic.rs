//! Synthetic shapes: a procedural labelled dataset with exact masks, the
//! default for the quickstart and the tests, needing no files.
//!
//! Each image holds one shape of its class (circle, square, triangle,
//! cross, ring, star, ellipse, diamond: the first `classes` of these) in a
//! random bright colour, at a random position, scale and rotation, wholly
//! inside the image, on a muted background: one colour (`Plain`), or
//! low-contrast stripes, checks or noise (`Textured`). Colour and pose say
//! nothing about the class; only the shape does. The mask is 1 exactly on
//! the shape's pixels (a pixel belongs to the shape when its centre does;
//! there is no anti-aliasing, so every shape pixel has the shape's colour).
//!
//! The images are a function of `(count, size, classes, background, seed)`
//! alone: ChaCha8 streams (one for the label order, one per image) and
//! IEEE arithmetic without trigonometry give the same bytes everywhere.

use rand::RngCore;
use rayon::prelude::*;

use super::options::Background;
use super::rng::{self, below, direction, range, unit};
use super::{DataError, ImageSet};

/// The shape classes, by label; a dataset with `classes: n` uses the first `n`.
pub const SHAPES: [&str; 8] = [
    "circle", "square", "triangle", "cross", "ring", "star", "ellipse", "diamond",
];

/// The smallest image side: below it shapes are a few pixels.
pub const MIN_SIZE: u32 = 8;

/// Generates `count` images of `size` x `size` RGB pixels, with masks, of
/// `classes` (2 to 8) shape classes. Labels are balanced (`i % classes`,
/// then shuffled); class names are the shape names.
pub fn generate(
    count: usize,
    size: u32,
    classes: u32,
    background: Background,
    seed: u64,
) -> Result<ImageSet, DataError> {
    if !(2..=SHAPES.len() as u32).contains(&classes) {
        return Err(DataError::Invalid(format!(
            "synthetic shapes have 2 to {} classes, not {classes}",
            SHAPES.len()
        )));
    }
    if size < MIN_SIZE {
        return Err(DataError::Invalid(format!(
            "synthetic shapes need a size of at least {MIN_SIZE}, not {size}"
        )));
    }
    let side = size as usize;
    let area = side * side;
    let too_large = || {
        DataError::Invalid(format!(
            "{count} images of {size}x{size} do not fit in memory"
        ))
    };
    let mask_len = count.checked_mul(area).ok_or_else(too_large)?;
    let pixel_len = mask_len.checked_mul(3).ok_or_else(too_large)?;

    let mut labels: Vec<i32> = (0..count).map(|i| (i % classes as usize) as i32).collect();
    rng::shuffle(&mut rng::chacha(seed, 0), &mut labels);

    let mut pixels = vec![0; pixel_len];
    let mut masks = vec![0; mask_len];
    pixels
        .par_chunks_mut(area * 3)
        .zip(masks.par_chunks_mut(area))
        .zip(&labels)
        .enumerate()
        .for_each(|(i, ((image, mask), &label))| {
            let mut rng = rng::chacha(seed, i as u64 + 1);
            let canvas = Canvas { side, image, mask };
            canvas.draw(&mut rng, Shape::ALL[label as usize], background);
        });

    Ok(ImageSet {
        width: size,
        height: size,
        channels: 3,
        pixels,
        labels,
        masks: Some(masks),
        classes: SHAPES[..classes as usize]
            .iter()
            .map(|&s| s.into())
            .collect(),
    })
}

/// The shapes, in the order of [`SHAPES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Circle,
    Square,
    Triangle,
    Cross,
    Ring,
    Star,
    Ellipse,
    Diamond,
}

/// The five-pointed star's outline: outer points at radius 1, inner at 0.42,
/// every 36 degrees from the top.
const STAR: [(f32, f32); 10] = [
    (0.0, -1.0),
    (0.246_87, -0.339_79),
    (0.951_06, -0.309_02),
    (0.399_44, 0.129_79),
    (0.587_79, 0.809_02),
    (0.0, 0.42),
    (-0.587_79, 0.809_02),
    (-0.399_44, 0.129_79),
    (-0.951_06, -0.309_02),
    (-0.246_87, -0.339_79),
];

impl Shape {
    const ALL: [Shape; 8] = [
        Shape::Circle,
        Shape::Square,
        Shape::Triangle,
        Shape::Cross,
        Shape::Ring,
        Shape::Star,
        Shape::Ellipse,
        Shape::Diamond,
    ];

    /// Whether the point (`u`, `v`) of the shape's frame is inside. Every
    /// shape lies within the unit disk; none is the rotation of another.
    fn contains(self, u: f32, v: f32) -> bool {
        let (au, av) = (u.abs(), v.abs());
        match self {
            Shape::Circle => u * u + v * v <= 0.85 * 0.85,
            Shape::Square => au.max(av) <= 0.68,
            // Equilateral, vertices at radius 1.
            Shape::Triangle => v <= 0.5 && au * 1.732_050_8 <= v + 1.0,
            Shape::Cross => (au <= 0.28 && av <= 0.92) || (av <= 0.28 && au <= 0.92),
            Shape::Ring => (0.5 * 0.5..=0.95 * 0.95).contains(&(u * u + v * v)),
            Shape::Star => in_polygon(&STAR, u, v),
            Shape::Ellipse => (u / 0.95).powi(2) + (v / 0.5).powi(2) <= 1.0,
            // An elongated rhombus, so that it is not a rotated square.
            Shape::Diamond => au / 0.55 + av / 0.95 <= 1.0,
        }
    }
}

/// Even-odd rule.
fn in_polygon(vertices: &[(f32, f32)], u: f32, v: f32) -> bool {
    let mut inside = false;
    let mut prev = vertices[vertices.len() - 1];
    for &(x, y) in vertices {
        let (px, py) = prev;
        if (y > v) != (py > v) && u < (px - x) * (v - y) / (py - y) + x {
            inside = !inside;
        }
        prev = (x, y);
    }
    inside
}

/// One image and its mask, being drawn.
struct Canvas<'a> {
    side: usize,
    image: &'a mut [u8],
    mask: &'a mut [u8],
}

impl Canvas<'_> {
    /// Draws the background, then the shape. The order of the draws from
    /// `rng` is part of the dataset's definition.
    fn draw(mut self, rng: &mut impl RngCore, shape: Shape, background: Background) {
        self.background(rng, background);
        self.shape(rng, shape);
    }

    fn background(&mut self, rng: &mut impl RngCore, style: Background) {
        let side = self.side as f32;
        let hue = unit(rng);
        let (saturation, value) = (range(rng, 0.05, 0.35), range(rng, 0.2, 0.5));
        let base = hsv(hue, saturation, value);
        if style == Background::Plain {
            let colour = to_u8(base);
            self.fill(|_, _| colour);
            return;
        }
        let shift = if unit(rng) < 0.5 { -1.0 } else { 1.0 };
        let other = hsv(
            hue + range(rng, -0.08, 0.08),
            saturation,
            (value + shift * range(rng, 0.06, 0.14)).clamp(0.0, 1.0),
        );
        let colours = [to_u8(base), to_u8(other)];
        match below(rng, 3) {
            0 => {
                let (dx, dy) = direction(rng);
                let period = side * range(rng, 0.12, 0.3);
                self.fill(|x, y| {
                    let t = (x * dx + y * dy) / period;
                    colours[usize::from(t - t.floor() >= 0.5)]
                });
            }
            1 => {
                let cell = side * range(rng, 0.1, 0.25);
                self.fill(|x, y| {
                    let parity = ((x / cell).floor() + (y / cell).floor()) as i64 & 1;
                    colours[parity as usize]
                });
            }
            _ => self.fill(|_, _| {
                let w = unit(rng);
                to_u8([0, 1, 2].map(|c| base[c] + (other[c] - base[c]) * w))
            }),
        }
    }

    /// Sets every pixel to `colour(x, y)` of its centre, row by row.
    fn fill(&mut self, mut colour: impl FnMut(f32, f32) -> [u8; 3]) {
        for (i, px) in self.image.chunks_exact_mut(3).enumerate() {
            let (y, x) = (i / self.side, i % self.side);
            px.copy_from_slice(&colour(x as f32 + 0.5, y as f32 + 0.5));
        }
    }

    fn shape(&mut self, rng: &mut impl RngCore, shape: Shape) {
        let side = self.side as f32;
        let radius = side * range(rng, 0.24, 0.42);
        let (cos, sin) = direction(rng);
        let cx = range(rng, radius, side - radius);
        let cy = range(rng, radius, side - radius);
        let colour = to_u8(hsv(unit(rng), range(rng, 0.5, 0.9), range(rng, 0.85, 1.0)));

        let inv = 1.0 / radius;
        let span = |c: f32| {
            let lo = (c - radius).floor().max(0.0) as usize;
            let hi = ((c + radius).ceil() as usize).min(self.side);
            lo..hi
        };
        for y in span(cy) {
            let dy = y as f32 + 0.5 - cy;
            for x in span(cx) {
                let dx = x as f32 + 0.5 - cx;
                let u = (dx * cos + dy * sin) * inv;
                let v = (dy * cos - dx * sin) * inv;
                if shape.contains(u, v) {
                    let i = y * self.side + x;
                    self.image[3 * i..3 * i + 3].copy_from_slice(&colour);
                    self.mask[i] = 1;
                }
            }
        }
    }
}

/// RGB in [0, 1] of hue `h` (any real, in turns), saturation and value.
fn hsv(h: f32, s: f32, v: f32) -> [f32; 3] {
    let h = (h - h.floor()) * 6.0;
    let sector = h.floor();
    let f = h - sector;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    match sector as u8 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

fn to_u8(rgb: [f32; 3]) -> [u8; 3] {
    rgb.map(|c| (c * 255.0 + 0.5) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes(
        count: usize,
        size: u32,
        classes: u32,
        background: Background,
        seed: u64,
    ) -> ImageSet {
        generate(count, size, classes, background, seed).unwrap()
    }

    #[test]
    fn same_parameters_same_bytes_on_every_machine() {
        let set = shapes(64, 16, 8, Background::Textured, 7);
        assert_eq!(set, shapes(64, 16, 8, Background::Textured, 7));
        // Pinned: a change here changes every cached dataset.
        let hash = blake3::hash(&set.to_bytes());
        assert_eq!(hash.to_hex().as_str(), GOLDEN);
        let plain = shapes(16, 12, 3, Background::Plain, 0);
        assert_eq!(
            blake3::hash(&plain.to_bytes()).to_hex().as_str(),
            GOLDEN_PLAIN
        );
    }

    const GOLDEN: &str = "1df0135eca4cccc3c141a6aab0197e71d72ce2dd72b235a7334443a2891035d3";
    const GOLDEN_PLAIN: &str = "6b9699ca6df41e869838ca5ca530372c07d0596d334131bca29b64377671e8c4";

    #[test]
    fn every_parameter_changes_the_images() {
        let base = shapes(20, 16, 4, Background::Textured, 1);
        for other in [
            shapes(20, 16, 4, Background::Textured, 2),
            shapes(20, 16, 4, Background::Plain, 1),
            shapes(20, 16, 5, Background::Textured, 1),
        ] {
            assert_ne!(base.pixels, other.pixels);
        }
    }

    #[test]
    fn labels_are_balanced_and_shuffled() {
        let set = shapes(103, 8, 5, Background::Plain, 3);
        assert_eq!(
            set.classes,
            ["circle", "square", "triangle", "cross", "ring"]
        );
        let mut counts = [0; 5];
        for &l in &set.labels {
            counts[l as usize] += 1;
        }
        assert_eq!(counts, [21, 21, 21, 20, 20]);
        let ordered: Vec<i32> = (0..103).map(|i| i % 5).collect();
        assert_ne!(set.labels, ordered);
    }

    #[test]
    fn masks_are_exactly_the_shape_pixels_and_the_shape_is_salient() {
        for background in [Background::Textured, Background::Plain] {
            let set = shapes(200, 32, 8, background, 11);
            let mut salient = 0;
            for i in 0..set.len() {
                let (image, mask) = (set.image(i), set.mask(i).unwrap());
                let (fg, bg): (Vec<_>, Vec<_>) =
                    image.chunks(3).zip(mask).partition(|&(_, &m)| m == 1);
                let fg: Vec<&[u8]> = fg.into_iter().map(|(p, _)| p).collect();
                let bg: Vec<&[u8]> = bg.into_iter().map(|(p, _)| p).collect();
                assert!(mask.iter().all(|&m| m <= 1));
                assert!(
                    fg.len() > 20 && bg.len() > 100,
                    "image {i}: {} shape pixels",
                    fg.len()
                );
                assert!(
                    fg.iter().all(|p| *p == fg[0]),
                    "image {i}: the shape has one colour"
                );
                let mean = |px: &[&[u8]], c: usize| {
                    px.iter().map(|p| f32::from(p[c])).sum::<f32>() / px.len() as f32
                };
                let distance = (0..3)
                    .map(|c| (mean(&fg, c) - mean(&bg, c)).powi(2))
                    .sum::<f32>()
                    .sqrt();
                salient += usize::from(distance > 80.0);
                if background == Background::Plain {
                    assert!(
                        bg.iter().all(|p| *p == bg[0]),
                        "image {i}: a plain background"
                    );
                }
            }
            assert!(
                salient >= 190,
                "{background}: only {salient} of 200 images have a salient shape"
            );
        }
    }

    #[test]
    fn shapes_fit_the_unit_disk_and_cover_a_fair_area() {
        let n = 200;
        for shape in Shape::ALL {
            let mut inside = 0;
            for i in 0..n {
                for j in 0..n {
                    let (u, v) = (
                        (i as f32 + 0.5) / n as f32 * 2.0 - 1.0,
                        (j as f32 + 0.5) / n as f32 * 2.0 - 1.0,
                    );
                    if shape.contains(u, v) {
                        assert!(u * u + v * v <= 1.0, "{shape:?} at {u},{v}");
                        inside += 1;
                    }
                }
            }
            let fraction = inside as f32 / (n * n) as f32;
            assert!(
                (0.15..0.65).contains(&fraction),
                "{shape:?} covers {fraction}"
            );
        }
    }

    #[test]
    fn bad_parameters_are_invalid() {
        for (classes, size) in [(1, 32), (9, 32), (4, 7)] {
            let err = generate(10, size, classes, Background::Plain, 0).unwrap_err();
            assert!(matches!(err, DataError::Invalid(_)));
        }
        assert!(generate(0, 8, 2, Background::Plain, 0).unwrap().is_empty());
    }
}
