//! What to load: [`DatasetSpec`], one variant per dataset kind of the
//! language (`sslp explain cifar10`, ...), with typed fields, and [`load`],
//! which hands it to the right loader.
//!
//! The dispatcher: it imports the loaders, never the other way round. The
//! option enums the loaders take ([`Subset`], ...) live in the leaf module
//! `data/options.rs`, re-exported from [`crate::data`].

use std::path::{Path, PathBuf};

use super::options::{Background, Cifar100Labels, MnistVariant, Stl10Subset, Subset};
use super::{DataError, ImageSet, cifar, folder, mnist, stl10, synthetic};

/// A dataset to load: one variant per dataset kind of the language.
///
/// Relative roots are resolved by [`load`] against the pipeline's folder.
#[derive(Debug, Clone, PartialEq)]
pub enum DatasetSpec {
    /// CIFAR-10 binary batches (see [`cifar::load_cifar10`]).
    Cifar10 {
        /// Folder holding `data_batch_*.bin` and `test_batch.bin`.
        root: PathBuf,
        /// Train or test images.
        subset: Subset,
        /// Keep only the first N images.
        limit: Option<usize>,
    },
    /// CIFAR-100 binary files (see [`cifar::load_cifar100`]).
    Cifar100 {
        /// Folder holding `train.bin` and `test.bin`.
        root: PathBuf,
        /// Train or test images.
        subset: Subset,
        /// Fine or coarse labels.
        labels: Cifar100Labels,
        /// Keep only the first N images.
        limit: Option<usize>,
    },
    /// STL-10 binary files (see [`stl10::load`]).
    Stl10 {
        /// Folder holding `train_X.bin`, `train_y.bin`, ...
        root: PathBuf,
        /// Which part.
        subset: Stl10Subset,
        /// Keep only the first N images.
        limit: Option<usize>,
    },
    /// MNIST or Fashion-MNIST IDX files, optionally gzipped (see [`mnist::load`]).
    Mnist {
        /// Folder holding `train-images-idx3-ubyte[.gz]`, ...
        root: PathBuf,
        /// Train or `t10k` images.
        subset: Subset,
        /// Digits or Fashion-MNIST.
        variant: MnistVariant,
        /// Keep only the first N images.
        limit: Option<usize>,
    },
    /// Images in class subfolders (see [`folder::load`]).
    ImageFolder {
        /// Folder with one subfolder per class.
        root: PathBuf,
        /// Folder of masks, relative to `root`.
        masks: Option<PathBuf>,
        /// Resize every image to `size` x `size`.
        size: Option<u32>,
        /// Keep only the first N images.
        limit: Option<usize>,
    },
    /// Procedural shapes; no files (see [`synthetic::generate`]).
    SyntheticShapes {
        /// Number of images.
        count: usize,
        /// Image side in pixels.
        size: u32,
        /// Number of shape classes, 2 to 8.
        classes: u32,
        /// Background style.
        background: Background,
        /// Generator seed.
        seed: u64,
    },
}

/// Loads the dataset `spec` describes; relative roots are resolved against
/// `base` (the folder of the pipeline file).
pub fn load(spec: &DatasetSpec, base: &Path) -> Result<ImageSet, DataError> {
    match spec {
        DatasetSpec::Cifar10 {
            root,
            subset,
            limit,
        } => cifar::load_cifar10(&base.join(root), *subset, *limit),
        DatasetSpec::Cifar100 {
            root,
            subset,
            labels,
            limit,
        } => cifar::load_cifar100(&base.join(root), *subset, *labels, *limit),
        DatasetSpec::Stl10 {
            root,
            subset,
            limit,
        } => stl10::load(&base.join(root), *subset, *limit),
        DatasetSpec::Mnist {
            root,
            subset,
            variant,
            limit,
        } => mnist::load(&base.join(root), *subset, *variant, *limit),
        DatasetSpec::ImageFolder {
            root,
            masks,
            size,
            limit,
        } => folder::load(&base.join(root), masks.as_deref(), *size, *limit),
        DatasetSpec::SyntheticShapes {
            count,
            size,
            classes,
            background,
            seed,
        } => synthetic::generate(*count, *size, *classes, *background, *seed),
    }
}

/// The files a dataset's loader reads (see [`files`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DataFiles {
    /// The dataset root: `base` joined with the spec's root.
    pub root: PathBuf,
    /// The files that exist, relative to `root`, in the loader's order.
    pub present: Vec<PathBuf>,
    /// Files the loader needs (or looks for) that do not exist, relative to `root`.
    pub missing: Vec<PathBuf>,
}

/// The files [`load`] reads for `spec`, from the same listing functions
/// the loaders use (so the two cannot disagree): IDX, CIFAR and STL-10
/// binaries with their class-name files when present, every image of an
/// image folder (after `limit`) and its mask. With a `limit`, the record
/// files of CIFAR and STL-10 after the ones holding the first images are
/// still listed. `None` for kinds that read no files (`synthetic_shapes`).
///
/// Missing files are listed as such rather than being an error (the
/// loader reports them when it runs); an unreadable folder is an error.
pub fn files(spec: &DatasetSpec, base: &Path) -> Result<Option<DataFiles>, DataError> {
    let mut out = DataFiles::default();
    let required = |path: PathBuf, out: &mut DataFiles| match path.is_file() {
        true => out.present.push(path),
        false => out.missing.push(path),
    };
    let optional = |path: PathBuf, out: &mut DataFiles| {
        if path.is_file() {
            out.present.push(path);
        }
    };
    match spec {
        DatasetSpec::Cifar10 { root, subset, .. } => {
            out.root = base.join(root);
            let (data, names) = cifar::cifar10_files(&out.root, *subset);
            data.into_iter().for_each(|p| required(p, &mut out));
            optional(names, &mut out);
        }
        DatasetSpec::Cifar100 {
            root,
            subset,
            labels,
            ..
        } => {
            out.root = base.join(root);
            let (data, names) = cifar::cifar100_files(&out.root, *subset, *labels);
            required(data, &mut out);
            optional(names, &mut out);
        }
        DatasetSpec::Stl10 { root, subset, .. } => {
            out.root = base.join(root);
            let (data, names) = stl10::files(&out.root, *subset);
            for (images, labels) in data {
                required(images, &mut out);
                labels.into_iter().for_each(|p| required(p, &mut out));
            }
            optional(names, &mut out);
        }
        DatasetSpec::Mnist { root, subset, .. } => {
            out.root = base.join(root);
            mnist::files(&out.root, *subset)
                .into_iter()
                .for_each(|p| required(p, &mut out));
        }
        DatasetSpec::ImageFolder {
            root, masks, limit, ..
        } => {
            out.root = base.join(root);
            if !out.root.is_dir() {
                out.missing.push(out.root.clone());
            } else {
                let masks = match masks {
                    Some(m) if !out.root.join(m).is_dir() => {
                        out.missing.push(out.root.join(m));
                        None
                    }
                    other => other.as_deref(),
                };
                let (present, missing) = folder::files(&out.root, masks, *limit)?;
                out.present = present;
                out.missing.extend(missing);
            }
        }
        DatasetSpec::SyntheticShapes { .. } => return Ok(None),
    }
    let root = out.root.clone();
    let relative = |p: PathBuf| match p.strip_prefix(&root) {
        Ok(rel) if rel.as_os_str().is_empty() => PathBuf::from("."),
        Ok(rel) => rel.to_path_buf(),
        Err(_) => p,
    };
    out.present = out.present.into_iter().map(relative).collect();
    out.missing = out.missing.into_iter().map(relative).collect();
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_roots_resolve_against_base() {
        let dir = tempfile::tempdir().unwrap();
        let spec = DatasetSpec::Cifar10 {
            root: "batches".into(),
            subset: Subset::Test,
            limit: None,
        };
        match load(&spec, dir.path()).unwrap_err() {
            DataError::Io { path, .. } => {
                assert_eq!(path, dir.path().join("batches/test_batch.bin"));
            }
            other => panic!("expected an Io error, got {other:?}"),
        }
    }

    #[test]
    fn files_lists_what_the_loader_reads() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("m");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("t10k-images-idx3-ubyte.gz"), b"x").unwrap();
        let spec = DatasetSpec::Mnist {
            root: "m".into(),
            subset: Subset::Test,
            variant: MnistVariant::Mnist,
            limit: None,
        };
        let listed = super::files(&spec, dir.path()).unwrap().unwrap();
        assert_eq!(listed.root, dir.path().join("m"));
        assert_eq!(
            listed.present,
            vec![PathBuf::from("t10k-images-idx3-ubyte.gz")]
        );
        assert_eq!(
            listed.missing,
            vec![PathBuf::from("t10k-labels-idx1-ubyte")]
        );

        // An image folder: images in order, then masks; the limit applies to both.
        let root = dir.path().join("f");
        for (class, name) in [("b", "2.png"), ("a", "1.png"), ("a", "0.jpg")] {
            std::fs::create_dir_all(root.join(class)).unwrap();
            std::fs::write(root.join(class).join(name), b"img").unwrap();
        }
        std::fs::write(root.join("a/notes.txt"), b"ignored").unwrap();
        std::fs::create_dir_all(root.join("masks/a")).unwrap();
        std::fs::write(root.join("masks/a/0.png"), b"mask").unwrap();
        std::fs::write(root.join("masks/1.png"), b"mask").unwrap();
        let spec = DatasetSpec::ImageFolder {
            root: "f".into(),
            masks: Some("masks".into()),
            size: None,
            limit: Some(2),
        };
        let listed = super::files(&spec, dir.path()).unwrap().unwrap();
        let names: Vec<String> = listed
            .present
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            names,
            ["a/0.jpg", "a/1.png", "masks/a/0.png", "masks/1.png"]
        );
        assert!(listed.missing.is_empty());
    }

    #[test]
    fn synthetic_needs_no_files() {
        let spec = DatasetSpec::SyntheticShapes {
            count: 10,
            size: 16,
            classes: 3,
            background: Background::Plain,
            seed: 1,
        };
        assert_eq!(files(&spec, Path::new("/nonexistent")), Ok(None));
        let set = load(&spec, Path::new("/nonexistent")).unwrap();
        assert_eq!((set.len(), set.width, set.channels), (10, 16, 3));
    }
}
