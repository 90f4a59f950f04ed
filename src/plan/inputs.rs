//! A step's named inputs: a small map from input name to the key of the step
//! that produces it, kept as a sorted vector (most steps have one to three
//! inputs; a `BTreeMap` node would hold room for eleven).

use super::Key;
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::collections::BTreeMap;

/// Named inputs, sorted by name, each name once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inputs(Vec<(String, Key)>);

impl Inputs {
    /// The key of the input called `name`.
    pub fn get(&self, name: &str) -> Option<&Key> {
        self.position(name).ok().map(|i| &self.0[i].1)
    }

    /// Whether an input is called `name`.
    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Adds or replaces an input.
    pub fn insert(&mut self, name: String, key: Key) {
        match self.position(&name) {
            Ok(i) => self.0[i].1 = key,
            Err(i) => self.0.insert(i, (name, key)),
        }
    }

    /// Number of inputs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// (name, key) pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Key)> {
        self.0.iter().map(|(n, k)| (n, k))
    }

    /// Input names in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(n, _)| n)
    }

    /// Input keys in name order.
    pub fn values(&self) -> impl Iterator<Item = &Key> {
        self.0.iter().map(|(_, k)| k)
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }
}

impl From<BTreeMap<String, Key>> for Inputs {
    fn from(map: BTreeMap<String, Key>) -> Self {
        Inputs(map.into_iter().collect())
    }
}

impl FromIterator<(String, Key)> for Inputs {
    fn from_iter<I: IntoIterator<Item = (String, Key)>>(iter: I) -> Self {
        let map: BTreeMap<String, Key> = iter.into_iter().collect();
        map.into()
    }
}

impl<'a> IntoIterator for &'a Inputs {
    type Item = (&'a String, &'a Key);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, Key)>,
        fn(&'a (String, Key)) -> (&'a String, &'a Key),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(n, k)| (n, k))
    }
}

impl IntoIterator for Inputs {
    type Item = (String, Key);
    type IntoIter = std::vec::IntoIter<(String, Key)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Serialize for Inputs {
    /// As a JSON object, like the map it stands for.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, key) in &self.0 {
            map.serialize_entry(name, key)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_sorted_map() {
        let mut inputs = Inputs::default();
        inputs.insert("test".into(), Key([2; 32]));
        inputs.insert("data".into(), Key([1; 32]));
        inputs.insert("test".into(), Key([3; 32]));
        assert_eq!(inputs.len(), 2);
        assert_eq!(inputs.get("test"), Some(&Key([3; 32])));
        assert!(inputs.contains_key("data") && !inputs.contains_key("train"));
        let names: Vec<&String> = inputs.keys().collect();
        assert_eq!(names, ["data", "test"]);
        let from_map: Inputs = [
            ("test".to_string(), Key([3; 32])),
            ("data".into(), Key([1; 32])),
        ]
        .into_iter()
        .collect();
        assert_eq!(inputs, from_map);
        let json = serde_json::to_value(&inputs).unwrap();
        assert_eq!(json["data"], serde_json::json!(Key([1; 32]).hex()));
    }
}
