//! Images in class subfolders, `root/CLASS/NAME.{png,jpg,jpeg}`, with an
//! optional folder of masks.
//!
//! Classes are the subfolders of `root` sorted by name (hidden ones, whose
//! names start with `.`, are skipped; an empty subfolder is still a class).
//! Images are the files with a `png`, `jpg` or `jpeg` extension (any case)
//! in each class folder, sorted by class, then by file name; other files
//! are ignored. Every image is decoded to RGB. Decoding runs in parallel;
//! the order, and which error is reported first, do not depend on it.
//!
//! A masks folder may be inside `root` (`root/masks`): it is not a class.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{DynamicImage, GrayImage, ImageReader, Luma};
use rayon::prelude::*;

use super::{DataError, ImageSet};

/// The filter for resizing images: bicubic, sharp and without ringing
/// artefacts worth mentioning at the sizes SSL uses.
const FILTER: FilterType = FilterType::CatmullRom;

/// Loads the images under `root` (see the module documentation). With
/// `limit`, only the first `limit` images, in that order, are decoded.
///
/// `masks`, a folder relative to `root`, gives every image a mask: the PNG
/// with the image's file stem at `masks/CLASS/STEM.png`, or else at
/// `masks/STEM.png`. A mask must have its image's dimensions; a pixel with
/// any non-zero colour channel is foreground (1), others background (0).
///
/// With `size`, every image is resized to `size` x `size` (bicubic) and
/// every mask too (nearest neighbour). Without it, all images must have the
/// dimensions of the first.
pub fn load(
    root: &Path,
    masks: Option<&Path>,
    size: Option<u32>,
    limit: Option<usize>,
) -> Result<ImageSet, DataError> {
    let mask_dir = masks.map(|m| root.join(m));
    let Listing {
        classes,
        entries,
        total,
    } = listing(root, mask_dir.as_deref(), limit)?;
    if total == 0 {
        return Err(DataError::Invalid(format!(
            "no images in {}: expected CLASS/NAME.png (or .jpg, .jpeg) under it",
            root.display()
        )));
    }
    let Some(first) = entries.first().map(|e| e.path.as_path()) else {
        // `limit: 0`.
        return Ok(ImageSet {
            channels: 3,
            masks: mask_dir.map(|_| Vec::new()),
            classes,
            ..ImageSet::default()
        });
    };
    let (width, height) = match size {
        Some(0) => return Err(DataError::Invalid("size must be at least 1".into())),
        Some(size) => (size, size),
        None => reader(first)?
            .into_dimensions()
            .map_err(|e| decode_error(first, &e))?,
    };
    let job = Job {
        first,
        masks: mask_dir,
        size,
        width,
        height,
    };

    let area = width as usize * height as usize;
    let mask_len = entries
        .len()
        .checked_mul(area)
        .filter(|n| n.checked_mul(3).is_some())
        .ok_or_else(|| {
            DataError::Invalid(format!(
                "{} images of {width}x{height} do not fit in memory",
                entries.len()
            ))
        })?;
    let mut pixels = vec![0; mask_len * 3];
    let mut mask_pixels = job.masks.as_ref().map(|_| vec![0; mask_len]);
    let error = match &mut mask_pixels {
        Some(mask_pixels) => pixels
            .par_chunks_mut(area * 3)
            .zip(mask_pixels.par_chunks_mut(area))
            .zip(&entries)
            .map(|((out, mask_out), entry)| job.run(entry, out, Some(mask_out)))
            .find_map_first(Result::err),
        None => pixels
            .par_chunks_mut(area * 3)
            .zip(&entries)
            .map(|(out, entry)| job.run(entry, out, None))
            .find_map_first(Result::err),
    };
    if let Some(error) = error {
        return Err(error);
    }
    Ok(ImageSet {
        width,
        height,
        channels: 3,
        pixels,
        labels: entries.iter().map(|e| e.label).collect(),
        masks: mask_pixels,
        classes,
    })
}

/// One image file, its class and its mask.
struct Entry {
    path: PathBuf,
    class: OsString,
    label: i32,
    /// Set by [`listing`] when masks are asked for.
    mask: Option<MaskFile>,
}

/// Where an image's mask is, or where it was looked for.
enum MaskFile {
    /// The mask file.
    Found(PathBuf),
    /// Neither `masks/CLASS/STEM.png` nor `masks/STEM.png` exists.
    Missing { per_class: PathBuf, flat: PathBuf },
}

/// What [`load`] reads: the classes, and the images kept (after the limit)
/// with their masks.
struct Listing {
    classes: Vec<String>,
    entries: Vec<Entry>,
    /// Images found before the limit.
    total: usize,
}

/// The one listing [`load`] and [`files`] share: the classes and images of
/// [`list`], the first `limit` images kept, each with its mask resolved
/// when `mask_dir` is given.
fn listing(
    root: &Path,
    mask_dir: Option<&Path>,
    limit: Option<usize>,
) -> Result<Listing, DataError> {
    let (classes, mut entries) = list(root, mask_dir)?;
    let total = entries.len();
    if let Some(limit) = limit {
        entries.truncate(limit);
    }
    if let Some(dir) = mask_dir {
        entries
            .par_iter_mut()
            .for_each(|entry| entry.mask = Some(mask_path(dir, entry)));
    }
    Ok(Listing {
        classes,
        entries,
        total,
    })
}

/// The files [`load`] reads with these arguments: every image kept, in
/// order, then every mask found; and the masks looked for but missing
/// (their per-class path). An error where the loader would fail to list.
pub fn files(
    root: &Path,
    masks: Option<&Path>,
    limit: Option<usize>,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>), DataError> {
    let mask_dir = masks.map(|m| root.join(m));
    let Listing { entries, .. } = listing(root, mask_dir.as_deref(), limit)?;
    let mut found = Vec::with_capacity(entries.len() * (1 + usize::from(masks.is_some())));
    let mut missing = Vec::new();
    found.extend(entries.iter().map(|e| e.path.clone()));
    for entry in entries {
        match entry.mask {
            Some(MaskFile::Found(path)) => found.push(path),
            Some(MaskFile::Missing { per_class, .. }) => missing.push(per_class),
            None => {}
        }
    }
    Ok((found, missing))
}

/// The classes (sorted subfolder names) and the images, sorted by class,
/// then by file name. The subfolder holding `mask_dir`, if any, is not a class.
fn list(root: &Path, mask_dir: Option<&Path>) -> Result<(Vec<String>, Vec<Entry>), DataError> {
    let mut class_dirs = sorted_entries(root, |path, kind| {
        if kind.is_symlink() {
            path.is_dir()
        } else {
            kind.is_dir()
        }
    })?;
    if let Some(mask_dir) = mask_dir {
        let mask_dir = fs::canonicalize(mask_dir).map_err(|e| DataError::io(mask_dir, &e))?;
        class_dirs.retain(|(_, dir)| {
            fs::canonicalize(dir).map_or(true, |dir| !mask_dir.starts_with(dir))
        });
    }
    let mut classes = Vec::with_capacity(class_dirs.len());
    let mut entries = Vec::new();
    for (label, (name, dir)) in class_dirs.into_iter().enumerate() {
        let label = i32::try_from(label)
            .map_err(|_| DataError::Invalid(format!("too many classes in {}", root.display())))?;
        let image = |path: &Path, kind: fs::FileType| {
            is_image(path)
                && if kind.is_symlink() {
                    path.is_file()
                } else {
                    kind.is_file()
                }
        };
        for (_, path) in sorted_entries(&dir, image)? {
            entries.push(Entry {
                path,
                class: name.clone(),
                label,
                mask: None,
            });
        }
        classes.push(name.to_string_lossy().into_owned());
    }
    Ok((classes, entries))
}

/// The non-hidden entries of `dir` that `keep` accepts, sorted by name.
/// `keep` gets the entry's type as the directory listing reports it (no
/// `stat` per file, unless it is a symbolic link to follow).
fn sorted_entries(
    dir: &Path,
    keep: impl Fn(&Path, fs::FileType) -> bool,
) -> Result<Vec<(OsString, PathBuf)>, DataError> {
    let io_error = |e: std::io::Error| DataError::io(dir, &e);
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let (name, path) = (entry.file_name(), entry.path());
        let kind = entry.file_type().map_err(io_error)?;
        if !name.to_string_lossy().starts_with('.') && keep(&path, kind) {
            found.push((name, path));
        }
    }
    found.sort_unstable();
    Ok(found)
}

fn is_image(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["png", "jpg", "jpeg"]
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    })
}

/// What is the same for every image: where masks are, the output size.
struct Job<'a> {
    /// The first image, which sets the size when `size` is not given.
    first: &'a Path,
    masks: Option<PathBuf>,
    size: Option<u32>,
    width: u32,
    height: u32,
}

impl Job<'_> {
    /// Decodes `entry` into `out` (HWC), and its mask into `mask_out`.
    fn run(
        &self,
        entry: &Entry,
        out: &mut [u8],
        mask_out: Option<&mut [u8]>,
    ) -> Result<(), DataError> {
        let image = decode(&entry.path)?;
        let (width, height) = (image.width(), image.height());
        if self.size.is_none() && (width, height) != (self.width, self.height) {
            return Err(DataError::Invalid(format!(
                "{} is {width}x{height} but {} is {}x{}: give `size:` to resize every image to one size",
                entry.path.display(),
                self.first.display(),
                self.width,
                self.height,
            )));
        }
        let image = self.resize(image.into_rgb8(), FILTER);
        out.copy_from_slice(image.as_raw());

        if let (Some(mask_file), Some(mask_out)) = (&entry.mask, mask_out) {
            let path = match mask_file {
                MaskFile::Found(path) => path,
                MaskFile::Missing { per_class, flat } => {
                    return Err(DataError::Invalid(format!(
                        "no mask for {}: looked for {} and {}",
                        entry.path.display(),
                        per_class.display(),
                        flat.display()
                    )));
                }
            };
            let mask = decode(path)?;
            if (mask.width(), mask.height()) != (width, height) {
                return Err(DataError::Invalid(format!(
                    "{} is {}x{} but its image {} is {width}x{height}",
                    path.display(),
                    mask.width(),
                    mask.height(),
                    entry.path.display(),
                )));
            }
            let mask = self.resize(binarize(mask), FilterType::Nearest);
            mask_out.copy_from_slice(mask.as_raw());
        }
        Ok(())
    }

    /// `image` at the output size.
    fn resize<P>(
        &self,
        image: image::ImageBuffer<P, Vec<u8>>,
        filter: FilterType,
    ) -> image::ImageBuffer<P, Vec<u8>>
    where
        P: image::Pixel<Subpixel = u8> + 'static,
    {
        match self.size {
            Some(size) if image.dimensions() != (size, size) => {
                imageops::resize(&image, size, size, filter)
            }
            _ => image,
        }
    }
}

/// The mask of `entry`: `dir/CLASS/STEM.png`, else `dir/STEM.png`.
fn mask_path(dir: &Path, entry: &Entry) -> MaskFile {
    let mut name = entry.path.file_stem().unwrap_or_default().to_owned();
    name.push(".png");
    let per_class = dir.join(&entry.class).join(&name);
    let flat = dir.join(&name);
    if per_class.is_file() {
        MaskFile::Found(per_class)
    } else if flat.is_file() {
        MaskFile::Found(flat)
    } else {
        MaskFile::Missing { per_class, flat }
    }
}

/// A mask as 0 (all colour channels zero) or 1 (any non-zero).
fn binarize(mask: DynamicImage) -> GrayImage {
    match mask {
        DynamicImage::ImageLuma8(mut grey) => {
            for p in grey.iter_mut() {
                *p = u8::from(*p != 0);
            }
            grey
        }
        other => {
            let rgb = other.into_rgb16();
            GrayImage::from_fn(rgb.width(), rgb.height(), |x, y| {
                Luma([u8::from(rgb.get_pixel(x, y).0 != [0; 3])])
            })
        }
    }
}

fn reader(path: &Path) -> Result<ImageReader<std::io::BufReader<fs::File>>, DataError> {
    let io_error = |e: std::io::Error| DataError::io(path, &e);
    ImageReader::open(path)
        .map_err(io_error)?
        .with_guessed_format()
        .map_err(io_error)
}

fn decode(path: &Path) -> Result<DynamicImage, DataError> {
    reader(path)?.decode().map_err(|e| decode_error(path, &e))
}

fn decode_error(path: &Path, err: &image::ImageError) -> DataError {
    DataError::Decode {
        path: path.to_path_buf(),
        message: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    /// An RGB test image whose pixel (x, y) is (x, y, seed).
    fn rgb(width: u32, height: u32, seed: u8) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| Rgb([x as u8, y as u8, seed]))
    }

    /// A mask with foreground on the left half (255 or 1 as given).
    fn half_mask(width: u32, height: u32, on: u8) -> GrayImage {
        GrayImage::from_fn(width, height, |x, _| {
            Luma([if x < width / 2 { on } else { 0 }])
        })
    }

    /// root/cat/{a,b}.png, root/dog/c.png, and distractors.
    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for class in ["dog", "cat", ".hidden", "empty"] {
            fs::create_dir(root.join(class)).unwrap();
        }
        rgb(4, 3, 2).save(root.join("cat/b.png")).unwrap();
        rgb(4, 3, 1).save(root.join("cat/a.png")).unwrap();
        rgb(4, 3, 3).save(root.join("dog/c.PNG")).unwrap();
        rgb(4, 3, 9).save(root.join(".hidden/x.png")).unwrap();
        fs::write(root.join("dog/notes.txt"), "not an image").unwrap();
        fs::write(root.join("readme.md"), "not a class").unwrap();
        dir
    }

    #[test]
    fn classes_and_images_are_sorted_and_decoded_exactly() {
        let dir = tree();
        let set = load(dir.path(), None, None, None).unwrap();
        assert_eq!(set.classes, ["cat", "dog", "empty"]);
        assert_eq!(set.labels, [0, 0, 1]);
        assert_eq!((set.width, set.height, set.channels), (4, 3, 3));
        assert_eq!(set.masks, None);
        for (i, seed) in [1, 2, 3].into_iter().enumerate() {
            assert_eq!(set.image(i), rgb(4, 3, seed).as_raw().as_slice());
        }
        let set = load(dir.path(), None, None, Some(2)).unwrap();
        assert_eq!(set.labels, [0, 0]);
        assert_eq!(set.image(1), rgb(4, 3, 2).as_raw().as_slice());
    }

    #[test]
    fn jpeg_and_grey_images_decode_to_rgb() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("x")).unwrap();
        RgbImage::from_pixel(8, 8, Rgb([200, 40, 90]))
            .save(dir.path().join("x/a.jpg"))
            .unwrap();
        GrayImage::from_pixel(8, 8, Luma([77]))
            .save(dir.path().join("x/b.png"))
            .unwrap();
        let set = load(dir.path(), None, None, None).unwrap();
        let close = |a: u8, b: u8| a.abs_diff(b) <= 4;
        assert!(
            set.image(0)
                .chunks(3)
                .all(|p| close(p[0], 200) && close(p[1], 40) && close(p[2], 90))
        );
        assert!(set.image(1).iter().all(|&v| v == 77));
    }

    #[test]
    fn masks_per_class_or_flat_become_zero_one() {
        let dir = tree();
        let masks = dir.path().join("m");
        fs::create_dir_all(masks.join("cat")).unwrap();
        half_mask(4, 3, 255).save(masks.join("cat/a.png")).unwrap();
        half_mask(4, 3, 1).save(masks.join("b.png")).unwrap();
        // An RGB mask: any non-zero channel is foreground.
        RgbImage::from_fn(4, 3, |x, _| Rgb([0, u8::from(x < 2), 0]))
            .save(masks.join("c.png"))
            .unwrap();
        let set = load(dir.path(), Some(Path::new("m")), None, None).unwrap();
        assert_eq!(
            set.classes,
            ["cat", "dog", "empty"],
            "the mask folder is no class"
        );
        assert_eq!(set.len(), 3);
        let row = [1, 1, 0, 0];
        let expected: Vec<u8> = row.repeat(3);
        for i in 0..3 {
            assert_eq!(set.mask(i).unwrap(), expected.as_slice(), "mask {i}");
        }
    }

    #[test]
    fn a_missing_or_mismatched_mask_is_an_error_naming_the_image() {
        let dir = tree();
        let masks = dir.path().join("m");
        fs::create_dir(&masks).unwrap();
        half_mask(4, 3, 255).save(masks.join("a.png")).unwrap();
        half_mask(4, 3, 255).save(masks.join("c.png")).unwrap();
        let err = load(dir.path(), Some(Path::new("m")), None, None).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, DataError::Invalid(_)));
        assert!(
            message.contains("cat/b.png") && message.contains("m/b.png"),
            "{message}"
        );

        half_mask(5, 3, 255).save(masks.join("b.png")).unwrap();
        let err = load(dir.path(), Some(Path::new("m")), None, None).unwrap_err();
        assert!(err.to_string().contains("is 5x3 but its image"), "{err}");

        let err = load(dir.path(), Some(Path::new("../nope")), None, None).unwrap_err();
        assert!(
            matches!(&err, DataError::Io { path, .. } if path.ends_with("nope")),
            "{err:?}"
        );
    }

    #[test]
    fn masks_may_live_outside_root() {
        let dir = tempfile::tempdir().unwrap();
        let (root, masks) = (dir.path().join("images"), dir.path().join("masks"));
        fs::create_dir_all(root.join("a")).unwrap();
        fs::create_dir_all(&masks).unwrap();
        rgb(4, 3, 0).save(root.join("a/x.jpeg")).unwrap();
        half_mask(4, 3, 9).save(masks.join("x.png")).unwrap();
        let set = load(&root, Some(Path::new("../masks")), None, None).unwrap();
        assert_eq!(set.mask(0).unwrap(), [1, 1, 0, 0].repeat(3));
    }

    #[test]
    fn size_resizes_images_and_masks() {
        let dir = tree();
        rgb(10, 7, 4).save(dir.path().join("dog/d.png")).unwrap();
        let masks = dir.path().join("m");
        fs::create_dir(&masks).unwrap();
        for (name, w, h) in [("a", 4, 3), ("b", 4, 3), ("c", 4, 3), ("d", 10, 7)] {
            half_mask(w, h, 255)
                .save(masks.join(format!("{name}.png")))
                .unwrap();
        }
        let set = load(dir.path(), Some(Path::new("m")), Some(6), None).unwrap();
        assert_eq!((set.len(), set.width, set.height), (4, 6, 6));
        let masks = set.masks.as_ref().unwrap();
        assert!(masks.iter().all(|&m| m <= 1));
        for i in 0..4 {
            assert_eq!(set.mask(i).unwrap()[..6], [1, 1, 1, 0, 0, 0]);
        }
        // Blue (the seed) survives resizing, up to rounding.
        assert!(set.image(3).chunks(3).all(|p| p[2].abs_diff(4) <= 1));
    }

    #[test]
    fn odd_sizes_need_size() {
        let dir = tree();
        rgb(5, 3, 0).save(dir.path().join("dog/d.png")).unwrap();
        rgb(6, 3, 0).save(dir.path().join("dog/e.png")).unwrap();
        let err = load(dir.path(), None, None, None).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, DataError::Invalid(_)));
        assert!(message.contains("dog/d.png is 5x3 but"), "{message}");
        assert!(
            message.contains("cat/a.png is 4x3") && message.contains("`size:`"),
            "{message}"
        );
    }

    #[test]
    fn a_corrupt_image_is_a_decode_error_naming_it() {
        let dir = tree();
        let bad = dir.path().join("dog/bad.png");
        let mut bytes = fs::read(dir.path().join("cat/a.png")).unwrap();
        bytes.truncate(bytes.len() / 2);
        fs::write(&bad, bytes).unwrap();
        fs::write(dir.path().join("dog/worse.jpg"), b"garbage").unwrap();
        let err = load(dir.path(), None, None, None).unwrap_err();
        assert!(
            matches!(&err, DataError::Decode { path, .. } if *path == bad),
            "{err:?}"
        );
    }

    #[test]
    fn empty_or_missing_roots_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path(), None, None, None).unwrap_err();
        assert!(err.to_string().starts_with("no images in"), "{err}");
        let missing = dir.path().join("nope");
        let err = load(&missing, None, None, None).unwrap_err();
        assert!(
            matches!(&err, DataError::Io { path, .. } if *path == missing),
            "{err:?}"
        );
    }
}
