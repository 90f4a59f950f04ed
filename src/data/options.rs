//! The datasets' options, as typed enums whose values parse from, and print
//! as, the language's words (`"train_unlabeled".parse::<Stl10Subset>()`).
//!
//! A leaf of `data`: the loaders take these enums and [`spec`](super::spec)
//! names them in [`DatasetSpec`](super::DatasetSpec), so the loaders need
//! nothing from `spec` and the dispatcher imports them one way.

use std::fmt;
use std::str::FromStr;

use super::DataError;

/// Defines a fieldless enum whose values are the language's words for it,
/// with `ALL`, `as_str`, `Display` and `FromStr`.
macro_rules! word_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $word:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &[$name] = &[$($name::$variant),+];

            /// The language's word for this value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $word, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = DataError;

            fn from_str(word: &str) -> Result<Self, DataError> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == word)
                    .ok_or_else(|| unknown_word(word, Self::ALL.iter().map(|v| v.as_str())))
            }
        }
    };
}

fn unknown_word<'a>(word: &str, options: impl Iterator<Item = &'a str>) -> DataError {
    let options: Vec<String> = options.map(|o| format!("`{o}`")).collect();
    DataError::Invalid(format!(
        "unknown option `{word}`: expected one of {}",
        options.join(", ")
    ))
}

word_enum! {
    /// The official part of CIFAR-10, CIFAR-100 or MNIST.
    Subset {
        /// The training images.
        #[default]
        Train => "train",
        /// The test images (MNIST's `t10k`).
        Test => "test",
    }
}

word_enum! {
    /// The part of STL-10.
    Stl10Subset {
        /// The 5,000 labelled training images.
        #[default]
        Train => "train",
        /// The 8,000 labelled test images.
        Test => "test",
        /// The 100,000 unlabelled images (label -1).
        Unlabeled => "unlabeled",
        /// The training images followed by the unlabelled ones.
        TrainUnlabeled => "train_unlabeled",
    }
}

word_enum! {
    /// Which CIFAR-100 label set becomes the labels.
    Cifar100Labels {
        /// The 100 fine classes.
        #[default]
        Fine => "fine",
        /// The 20 coarse superclasses.
        Coarse => "coarse",
    }
}

word_enum! {
    /// Which dataset an IDX folder holds; only the class names differ.
    MnistVariant {
        /// Handwritten digits, classes `"0"` to `"9"`.
        #[default]
        Mnist => "mnist",
        /// Fashion-MNIST, classes `"T-shirt/top"` to `"Ankle boot"`.
        Fashion => "fashion",
    }
}

word_enum! {
    /// The background of synthetic shapes.
    Background {
        /// Low-contrast stripes, checks or noise in muted colours.
        #[default]
        Textured => "textured",
        /// One muted colour.
        Plain => "plain",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for s in Stl10Subset::ALL {
            assert_eq!(s.as_str().parse::<Stl10Subset>().unwrap(), *s);
        }
        assert_eq!("coarse".parse(), Ok(Cifar100Labels::Coarse));
        assert_eq!(Background::default().to_string(), "textured");
        let err = "val".parse::<Subset>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown option `val`: expected one of `train`, `test`"
        );
    }
}
