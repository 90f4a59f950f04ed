//! Resolved parameter values and their canonical hash.
//!
//! A step's key is a hash of its kind, version, parameters and input keys.
//! The parameters are hashed through a tagged, length-prefixed encoding with
//! map keys in sorted order (a `BTreeMap`), so the key does not depend on
//! how the source was written: formatting, comments, declaration order and
//! the names of value declarations never reach it.

use super::kind::StepKind;
use crate::lang::number::format_float;
use crate::lang::registry;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// A content key: blake3 of a step's canonical description.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Key(pub [u8; 32]);

impl Key {
    /// Full lowercase hex, written into a fixed buffer (no allocation).
    pub fn hex_digits(&self) -> [u8; 64] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (pair, b) in out.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0xf)];
        }
        out
    }

    /// Full lowercase hex.
    pub fn hex(&self) -> String {
        self.hex_digits().iter().map(|&b| char::from(b)).collect()
    }

    /// The first 12 hex digits, for display.
    pub fn short(&self) -> String {
        self.hex_digits()[..12]
            .iter()
            .map(|&b| char::from(b))
            .collect()
    }

    /// Parses full hex.
    pub fn from_hex(s: &str) -> Option<Key> {
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
            let text = std::str::from_utf8(chunk).ok()?;
            out[i] = u8::from_str_radix(text, 16).ok()?;
        }
        Some(Key(out))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.short())
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.hex_digits();
        f.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)
    }
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let digits = self.hex_digits();
        match std::str::from_utf8(&digits) {
            Ok(text) => s.serialize_str(text),
            Err(e) => Err(serde::ser::Error::custom(e)),
        }
    }
}

/// Hashes a [`Key`] by its first eight bytes: a key is already a uniform
/// blake3 digest, so hashing it again (SipHash) would only cost time.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `Key` hashes as its 32-byte array, written once (a length prefix first for slices;
        // arrays write no length). Mix whatever comes so any other use stays correct.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
}

/// A map from keys to anything, hashed by [`KeyHasher`].
pub type KeyMap<V> = std::collections::HashMap<Key, V, std::hash::BuildHasherDefault<KeyHasher>>;

/// A resolved value: what a step's parameter is after defaults, references and sweeps.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Nothing.
    Null,
    /// Boolean.
    Bool(bool),
    /// Integer.
    Int(i64),
    /// Real.
    Float(f64),
    /// Text or an enum word.
    Str(String),
    /// List.
    List(Vec<Value>),
    /// Map with sorted keys.
    Map(BTreeMap<String, Value>),
    /// The output of another step (an input edge), with an optional port (`train`).
    Step(Key, Option<String>),
}

impl Value {
    /// The map behind a value, if it is one.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The string behind a value, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A number as f64.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Feeds the canonical encoding into a hasher (or a buffer, see [`KeySink`]).
    pub fn hash_into<H: KeySink + ?Sized>(&self, h: &mut H) {
        match self {
            Value::Null => {
                h.update(b"n");
            }
            Value::Bool(b) => {
                h.update(if *b { b"T" } else { b"F" });
            }
            Value::Int(i) => {
                h.update(b"i");
                h.update(&i.to_le_bytes());
            }
            Value::Float(f) => {
                // -0.0 and 0.0 are the same parameter.
                let f = if *f == 0.0 { 0.0 } else { *f };
                h.update(b"f");
                h.update(&f.to_bits().to_le_bytes());
            }
            Value::Str(s) => {
                h.update(b"s");
                h.update(&(s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
            Value::List(xs) => {
                h.update(b"l");
                h.update(&(xs.len() as u64).to_le_bytes());
                for x in xs {
                    x.hash_into(h);
                }
            }
            Value::Map(m) => hash_map_into(m, h),
            Value::Step(key, port) => {
                h.update(b"k");
                h.update(&key.0);
                let port = port.as_deref().unwrap_or("");
                h.update(&(port.len() as u64).to_le_bytes());
                h.update(port.as_bytes());
            }
        }
    }

    /// A compact one-line rendering (`0.5`, `[a, b]`, `{k: v}`), for diffs and labels.
    pub fn display(&self) -> String {
        match self {
            Value::Null => "none".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format_float(*f),
            Value::Str(s) => s.clone(),
            Value::List(xs) => format!(
                "[{}]",
                xs.iter().map(Value::display).collect::<Vec<_>>().join(", ")
            ),
            Value::Map(m) => {
                let name = m.get("type").and_then(Value::as_str);
                let rest: Vec<String> = m
                    .iter()
                    .filter(|(k, _)| k.as_str() != "type")
                    .map(|(k, v)| format!("{k}: {}", v.display()))
                    .collect();
                match name {
                    Some(n) => format!("{n}({})", rest.join(", ")),
                    None => format!("{{{}}}", rest.join(", ")),
                }
            }
            Value::Step(k, port) => match port {
                Some(p) => format!("@{}.{p}", k.short()),
                None => format!("@{}", k.short()),
            },
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) => s.serialize_f64(*f),
            Value::Str(x) => s.serialize_str(x),
            Value::List(xs) => {
                let mut seq = s.serialize_seq(Some(xs.len()))?;
                for x in xs {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            Value::Map(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            Value::Step(..) => s.serialize_str(&self.display()),
        }
    }
}

/// Where a canonical encoding goes: straight into a hasher, or into a buffer
/// hashed in one call (many small `update`s cost more than the hashing).
pub trait KeySink {
    /// Appends bytes to the encoding.
    fn update(&mut self, bytes: &[u8]);
}

impl KeySink for blake3::Hasher {
    fn update(&mut self, bytes: &[u8]) {
        blake3::Hasher::update(self, bytes);
    }
}

impl KeySink for Vec<u8> {
    fn update(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Feeds a map's canonical encoding (that of [`Value::Map`]) into a sink, without copying it.
pub(super) fn hash_map_into<H: KeySink + ?Sized>(m: &BTreeMap<String, Value>, h: &mut H) {
    h.update(b"m");
    h.update(&(m.len() as u64).to_le_bytes());
    for (k, v) in m {
        h.update(&(k.len() as u64).to_le_bytes());
        h.update(k.as_bytes());
        v.hash_into(h);
    }
}

/// Salt of the key scheme: bump it when the way keys are computed changes
/// (not when a kind's outputs change: bump that kind's version instead, see
/// [`super::kind`]).
pub const KEY_SALT: &[u8] = b"sslp/step-key/v2\0";

/// Computes a step key from its kind, parameters and named inputs.
///
/// The rule (what enters, and which version to bump when) is documented in
/// [`super::kind`]: the salt, the kind's name and code version, the registry
/// version of every registry kind the step names, the parameters and the
/// input keys.
pub fn step_key(
    kind: StepKind,
    params: &BTreeMap<String, Value>,
    inputs: &BTreeMap<String, Key>,
) -> Key {
    with_buffer(|h| {
        h.update(KEY_SALT);
        h.update(kind.as_str().as_bytes());
        h.update(b"\0");
        h.update(&kind.version().to_le_bytes());
        let called = registry_versions(kind, params);
        h.update(&(called.len() as u64).to_le_bytes());
        for (name, version) in &called {
            h.update(&(name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update(&version.to_le_bytes());
        }
        hash_map_into(params, h);
        h.update(&(inputs.len() as u64).to_le_bytes());
        for (name, key) in inputs {
            h.update(&(name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update(&key.0);
        }
    })
}

/// The blake3 hash of a parameter map's canonical encoding: equal maps, equal digests.
pub(super) fn params_digest(params: &BTreeMap<String, Value>) -> Key {
    with_buffer(|h| hash_map_into(params, h))
}

/// Encodes into a reused per-thread buffer, then hashes it in one call.
fn with_buffer(encode: impl FnOnce(&mut Vec<u8>)) -> Key {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with(|cell| {
        let mut buf = cell.borrow_mut();
        buf.clear();
        encode(&mut buf);
        Key(*blake3::hash(&buf).as_bytes())
    })
}

/// The registry kinds a step names, with their versions: the step kind's own
/// schema (if the registry has one) and every `type` of a call in its
/// parameters, at any depth. Sorted by name.
pub fn registry_versions(
    kind: StepKind,
    params: &BTreeMap<String, Value>,
) -> BTreeMap<&'static str, u32> {
    fn walk(v: &Value, out: &mut BTreeMap<&'static str, u32>) {
        match v {
            Value::Map(m) => {
                if let Some(k) = m
                    .get("type")
                    .and_then(Value::as_str)
                    .and_then(registry::schema_named)
                {
                    out.insert(k.name, k.version);
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::List(xs) => xs.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    if let Some(k) = registry::schema_named(kind.as_str()) {
        out.insert(k.name, k.version);
    }
    for v in params.values() {
        walk(v, &mut out);
    }
    if let Some(k) = params
        .get("type")
        .and_then(Value::as_str)
        .and_then(registry::schema_named)
    {
        out.insert(k.name, k.version);
    }
    out
}

/// The key of a step that reads files: its key without content (`pending`,
/// from [`step_key`]) combined with the fingerprint of those files.
pub fn content_key(pending: &Key, fingerprint: &Key) -> Key {
    let mut h = blake3::Hasher::new();
    h.update(b"sslp/content-key/v1\0");
    h.update(&pending.0);
    h.update(&fingerprint.0);
    Key(*h.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_depends_on_every_part() {
        let mut p = BTreeMap::new();
        p.insert("lr".to_string(), Value::Float(0.1));
        let inputs = BTreeMap::new();
        let a = step_key(StepKind::Pretrain, &p, &inputs);
        assert_eq!(a, step_key(StepKind::Pretrain, &p, &inputs));
        assert_ne!(a, step_key(StepKind::Features, &p, &inputs));
        let mut q = p.clone();
        q.insert("lr".to_string(), Value::Float(0.2));
        assert_ne!(a, step_key(StepKind::Pretrain, &q, &inputs));
        let mut i2 = BTreeMap::new();
        i2.insert("data".to_string(), a);
        assert_ne!(a, step_key(StepKind::Pretrain, &p, &i2));
    }

    #[test]
    fn called_kinds_are_found_at_any_depth() {
        let mut method = BTreeMap::new();
        method.insert("type".to_string(), Value::Str("byol".into()));
        let mut op = BTreeMap::new();
        op.insert("type".to_string(), Value::Str("grayscale".into()));
        let mut view = BTreeMap::new();
        view.insert("policy".to_string(), Value::List(vec![Value::Map(op)]));
        let mut p = BTreeMap::new();
        p.insert("method".to_string(), Value::Map(method));
        p.insert("views".to_string(), Value::List(vec![Value::Map(view)]));
        let names: Vec<&str> = registry_versions(StepKind::Pretrain, &p)
            .into_keys()
            .collect();
        assert_eq!(names, ["byol", "grayscale", "pretrain"]);
        assert!(registry_versions(StepKind::Features, &BTreeMap::new()).is_empty());
    }

    #[test]
    fn int_and_float_differ_and_zero_signs_agree() {
        let mut h1 = blake3::Hasher::new();
        Value::Int(1).hash_into(&mut h1);
        let mut h2 = blake3::Hasher::new();
        Value::Float(1.0).hash_into(&mut h2);
        assert_ne!(h1.finalize(), h2.finalize());
        let mut h3 = blake3::Hasher::new();
        Value::Float(-0.0).hash_into(&mut h3);
        let mut h4 = blake3::Hasher::new();
        Value::Float(0.0).hash_into(&mut h4);
        assert_eq!(h3.finalize(), h4.finalize());
    }

    #[test]
    fn content_key_depends_on_both_parts() {
        let (a, b) = (Key([1; 32]), Key([2; 32]));
        assert_eq!(content_key(&a, &b), content_key(&a, &b));
        assert_ne!(content_key(&a, &b), content_key(&b, &a));
        assert_ne!(content_key(&a, &b), a);
    }

    #[test]
    fn hex_round_trip() {
        let k = Key([7; 32]);
        assert_eq!(Key::from_hex(&k.hex()), Some(k));
        assert_eq!(k.short().len(), 12);
    }
}
