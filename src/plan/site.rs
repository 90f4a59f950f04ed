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
    /// FNV-1a state after the base's bytes (see [`Site::text_hash`]).
    base_fnv: u64,
    tail: [&'static str; 2],
}

/// The declaration part of sites, shared by the steps of one declaration under one assignment.
#[derive(Clone, Debug)]
pub struct SiteBase {
    text: Arc<str>,
    fnv: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv(state: u64, bytes: impl Iterator<Item = u8>) -> u64 {
    bytes.fold(state, |acc, b| {
        (acc ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl SiteBase {
    /// `lin[method=byol]`.
    pub fn new(text: String) -> Self {
        let fnv = fnv(FNV_OFFSET, text.bytes());
        SiteBase {
            text: text.into(),
            fnv,
        }
    }
}

impl Site {
    /// `base/tail0tail1`: the step part is the two static pieces joined.
    pub fn new(base: &SiteBase, tail: [&'static str; 2]) -> Self {
        Site {
            base: base.text.clone(),
            base_fnv: base.fnv,
            tail,
        }
    }

    /// The declaration part, `lin[method=byol]`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The rendered text's three pieces: the declaration part (to be followed by `/`) and
    /// the two pieces of the step part.
    pub fn pieces(&self) -> (&str, &'static str, &'static str) {
        (&self.base, self.tail[0], self.tail[1])
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
        let tail = std::iter::once(b'/')
            .chain(self.tail[0].bytes())
            .chain(self.tail[1].bytes());
        fnv(self.base_fnv, tail)
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
        // The common length of the two bases decides most comparisons in one `memcmp`.
        let (a, b) = (self.base.as_bytes(), other.base.as_bytes());
        let n = a.len().min(b.len());
        match a[..n].cmp(&b[..n]) {
            Ordering::Equal => self.bytes().skip(n).cmp(other.bytes().skip(n)),
            decided => decided,
        }
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
        let base = SiteBase::new("lin[lr=0.1]".into());
        let a = Site::new(&base, ["features(", "train)"]);
        let b = Site::new(&base, ["features(test)", ""]);
        let c = Site::new(&SiteBase::new("lin[lr2=0.1]".into()), ["knn", ""]);
        assert_eq!(a.to_string(), "lin[lr=0.1]/features(train)");
        assert_eq!(b.to_string(), "lin[lr=0.1]/features(test)");
        let mut sites = [c.clone(), a.clone(), b.clone()];
        sites.sort();
        let texts: Vec<String> = sites.iter().map(Site::to_string).collect();
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, sorted);
        // Equal texts are one site, however they are split.
        let same = Site::new(
            &SiteBase::new("lin[lr=0.1]".into()),
            ["features(train)", ""],
        );
        assert_eq!(a, same);
        assert_eq!(a.text_hash(), same.text_hash());
        assert_ne!(a, b);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            "\"lin[lr=0.1]/features(train)\""
        );
    }
}
