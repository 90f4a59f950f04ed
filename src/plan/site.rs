//! Where a step sits in the design: `lin[method=byol,policy=p1]/features(train)`.
//!
//! A plan of 10,000 arms holds tens of thousands of sites, most of them
//! sharing their declaration part with a sibling step of the same arm, so a
//! site keeps that part shared (`Arc<str>`) and its step part as static text,
//! and is rendered only when shown.

use serde::{Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// A step's place in the design: the declaration under one assignment of the
/// sweeps it reads (`lin[method=byol]`), then `/` and the step's own part.
#[derive(Clone, Debug)]
pub struct Site {
    base: Arc<str>,
    tail: [&'static str; 2],
}

impl Site {
    /// `base/tail0tail1`: the step part is the two static pieces joined.
    pub fn new(base: Arc<str>, tail: [&'static str; 2]) -> Self {
        Site { base, tail }
    }

    /// The declaration part, `lin[method=byol]`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The rendered text's bytes, without building it.
    fn bytes(&self) -> impl Iterator<Item = u8> + '_ {
        self.base
            .bytes()
            .chain(std::iter::once(b'/'))
            .chain(self.tail[0].bytes())
            .chain(self.tail[1].bytes())
    }

    /// FNV-1a of the rendered text: equal sites hash equal however their pieces are split.
    pub fn text_hash(&self) -> u64 {
        self.bytes().fold(0xcbf2_9ce4_8422_2325u64, |acc, b| {
            (acc ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{}", self.base, self.tail[0], self.tail[1])
    }
}

impl PartialEq for Site {
    /// Equal rendered texts, however the pieces are split.
    fn eq(&self, other: &Self) -> bool {
        (Arc::ptr_eq(&self.base, &other.base) && self.tail == other.tail)
            || self.bytes().eq(other.bytes())
    }
}

impl Eq for Site {}

impl std::hash::Hash for Site {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(self.text_hash());
    }
}

impl PartialOrd for Site {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Site {
    /// The order of the rendered texts.
    fn cmp(&self, other: &Self) -> Ordering {
        self.bytes().cmp(other.bytes())
    }
}

impl Serialize for Site {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_orders_as_its_text() {
        let a = Site::new("lin[lr=0.1]".into(), ["features(", "train)"]);
        let b = Site::new("lin[lr=0.1]".into(), ["features(test)", ""]);
        let c = Site::new("lin[lr2=0.1]".into(), ["knn", ""]);
        assert_eq!(a.to_string(), "lin[lr=0.1]/features(train)");
        assert_eq!(b.to_string(), "lin[lr=0.1]/features(test)");
        let mut sites = vec![c.clone(), a.clone(), b.clone()];
        sites.sort();
        let texts: Vec<String> = sites.iter().map(Site::to_string).collect();
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, sorted);
        // Equal texts are one site, however they are split.
        assert_eq!(a, Site::new("lin[lr=0.1]".into(), ["features(train)", ""]));
        assert_ne!(a, b);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            "\"lin[lr=0.1]/features(train)\""
        );
    }
}
