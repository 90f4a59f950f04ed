//! Datasets (image sources) and the `split { ... }` block that divides one
//! into parts. Both describe where images come from, so they share a file: a
//! split's `data` is a dataset or a part of another split.

use super::{Bound, Category as C, Kind, Ty, d, kind, opt, req};

const SUBSET_TRAIN_TEST: Ty = Ty::Enum(&["train", "test"]);

/// Every dataset, in the order docs list them.
pub(super) const DATASETS: &[Kind] = &[
    kind(
        "cifar10",
        C::Dataset,
        "CIFAR-10 in its binary format (data_batch_*.bin, test_batch.bin), 32x32 RGB, 10 classes",
        &[
            req(
                "root",
                Ty::Str,
                "Directory holding the .bin batches, relative to the pipeline file",
            ),
            d(
                "subset",
                SUBSET_TRAIN_TEST,
                "train",
                Bound::ANY,
                "Official train (50,000) or test (10,000) images",
            ),
            opt(
                "limit",
                Ty::Int,
                Bound::ONE_PLUS,
                "Use only the first N images",
            ),
        ],
    ),
    kind(
        "cifar100",
        C::Dataset,
        "CIFAR-100 in its binary format (train.bin, test.bin), 32x32 RGB, 100 fine / 20 coarse classes",
        &[
            req("root", Ty::Str, "Directory holding train.bin and test.bin"),
            d(
                "subset",
                SUBSET_TRAIN_TEST,
                "train",
                Bound::ANY,
                "Official train or test images",
            ),
            d(
                "labels",
                Ty::Enum(&["fine", "coarse"]),
                "fine",
                Bound::ANY,
                "Which label set",
            ),
            opt(
                "limit",
                Ty::Int,
                Bound::ONE_PLUS,
                "Use only the first N images",
            ),
        ],
    ),
    kind(
        "stl10",
        C::Dataset,
        "STL-10 in its binary format (train_X.bin, ...), 96x96 RGB, 10 classes plus 100,000 unlabelled",
        &[
            req("root", Ty::Str, "Directory holding the .bin files"),
            d(
                "subset",
                Ty::Enum(&["train", "test", "unlabeled", "train_unlabeled"]),
                "train",
                Bound::ANY,
                "Which part; `unlabeled` images have no label",
            ),
            opt(
                "limit",
                Ty::Int,
                Bound::ONE_PLUS,
                "Use only the first N images",
            ),
        ],
    ),
    kind(
        "mnist",
        C::Dataset,
        "MNIST or Fashion-MNIST in IDX format (optionally .gz), 28x28 grey, 10 classes",
        &[
            req(
                "root",
                Ty::Str,
                "Directory holding the *-images-idx3-ubyte and *-labels-idx1-ubyte files",
            ),
            d(
                "subset",
                SUBSET_TRAIN_TEST,
                "train",
                Bound::ANY,
                "Official train or t10k images",
            ),
            d(
                "variant",
                Ty::Enum(&["mnist", "fashion"]),
                "mnist",
                Bound::ANY,
                "Digits or Fashion-MNIST",
            ),
            opt(
                "limit",
                Ty::Int,
                Bound::ONE_PLUS,
                "Use only the first N images",
            ),
        ],
    ),
    kind(
        "image_folder",
        C::Dataset,
        "Images in class subfolders (root/CLASS/*.png|jpg), with an optional parallel mask folder",
        &[
            req("root", Ty::Str, "Directory with one subfolder per class"),
            opt(
                "masks",
                Ty::Str,
                Bound::ANY,
                "Folder of same-stem PNG masks (for segmentation), relative to root",
            ),
            opt(
                "size",
                Ty::Int,
                Bound::ONE_PLUS,
                "Resize every image to size x size",
            ),
            opt(
                "limit",
                Ty::Int,
                Bound::ONE_PLUS,
                "Use only the first N images",
            ),
        ],
    ),
    kind(
        "synthetic_shapes",
        C::Dataset,
        "Procedural coloured shapes on textured backgrounds, with class labels and exact masks",
        &[
            d(
                "count",
                Ty::Int,
                "1000",
                Bound::ONE_PLUS,
                "Number of images",
            ),
            d(
                "size",
                Ty::Int,
                "32",
                Bound::new(8.0, true, 4096.0, true),
                "Image side in pixels",
            ),
            d(
                "classes",
                Ty::Int,
                "4",
                Bound::new(2.0, true, 8.0, true),
                "Number of shape classes",
            ),
            d(
                "background",
                Ty::Enum(&["textured", "plain"]),
                "textured",
                Bound::ANY,
                "Background style",
            ),
            d(
                "seed",
                Ty::Int,
                "0",
                Bound::NONNEG,
                "Generator seed (part of the dataset's identity)",
            ),
        ],
    ),
];

// ------------------------------------------------------------------ split

/// The `split { ... }` schema.
pub(super) const SPLIT: Kind = kind(
    "split",
    C::Split,
    "Divides a dataset into parts `train`, `test` and optionally `val` (counts or fractions)",
    &[
        req("data", Ty::Data, "The images to divide"),
        req(
            "train",
            Ty::Amount,
            "Size of the train part: a count or a fraction",
        ),
        opt(
            "test",
            Ty::Amount,
            Bound::ANY,
            "Size of the test part (default: the rest)",
        ),
        opt("val", Ty::Amount, Bound::ANY, "Size of a validation part"),
        d(
            "stratify",
            Ty::Bool,
            "true",
            Bound::ANY,
            "Keep class proportions in every part",
        ),
        opt(
            "seed",
            Ty::Int,
            Bound::NONNEG,
            "Shuffle seed (default: the pipeline seed)",
        ),
    ],
);

/// Members of a split declaration: `pv.train`, `pv.test`, `pv.val`.
pub const SPLIT_MEMBERS: [&str; 3] = ["train", "test", "val"];
