//! The plan as pretty JSON, written by hand.
//!
//! The bytes are exactly those serde_json's pretty printer writes for the
//! document of [`super::write_json`] (two-space indent, `"key": value`, `{}`
//! and `[]` when empty, no trailing newline; the tests compare the two), but
//! they go straight into one reused buffer: strings are escaped only when they
//! hold a byte that needs it, integers are written without `fmt`, and a
//! parameter map shared by many steps (ten thousand probes of one
//! configuration) is rendered once and copied. Floats, and strings that need
//! escaping, are still written by serde_json, so they cannot differ.

use super::STATUS_UNKNOWN;
use crate::plan::{Arm, Executor, Fingerprint, Key, Plan, Site, Step, Value};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::Arc;

/// The buffer is handed to the writer whenever it holds this much.
const FLUSH_AT: usize = 1 << 18;

/// Writes the plan as pretty JSON into `out`, in pieces of about [`FLUSH_AT`] bytes.
pub(super) fn write(plan: &Plan, mut out: impl Write) -> io::Result<()> {
    let mut b: Vec<u8> = Vec::with_capacity(FLUSH_AT + (1 << 16));
    // Rendered parameter maps shared between steps, by the address of the shared map.
    let mut shared: FxHashMap<*const BTreeMap<String, Value>, Vec<u8>> = FxHashMap::default();
    b.push(b'{');
    entry(&mut b, 1, "seed", true);
    int(&mut b, plan.seed);
    entry(&mut b, 1, "device", false);
    string(&mut b, &plan.device);
    // Only when not the default, so that a plan without `set executor` reads as it always has.
    if !plan.executor.is_local() {
        entry(&mut b, 1, "executor", false);
        executor(&mut b, &plan.executor);
    }
    entry(&mut b, 1, "arm_count", false);
    uint(&mut b, plan.arms.len() as u64);
    entry(&mut b, 1, "step_count", false);
    uint(&mut b, plan.steps.len() as u64);
    entry(&mut b, 1, "steps_by_kind", false);
    let counts = plan.counts_by_kind();
    object(&mut b, 1, counts.iter(), |b, _, n| uint(b, *n as u64));
    entry(&mut b, 1, "arms", false);
    if plan.arms.is_empty() {
        b.extend_from_slice(b"[]");
    } else {
        b.push(b'[');
        for (i, a) in plan.arms.iter().enumerate() {
            item(&mut b, 2, i == 0);
            arm(&mut b, a);
            if b.len() >= FLUSH_AT {
                out.write_all(&b)?;
                b.clear();
            }
        }
        close(&mut b, 1, b']');
    }
    entry(&mut b, 1, "steps", false);
    if plan.steps.is_empty() {
        b.extend_from_slice(b"[]");
    } else {
        b.push(b'[');
        for (i, s) in plan.steps.iter().enumerate() {
            item(&mut b, 2, i == 0);
            step(&mut b, s, &mut shared);
            if b.len() >= FLUSH_AT {
                out.write_all(&b)?;
                b.clear();
            }
        }
        close(&mut b, 1, b']');
    }
    close(&mut b, 0, b'}');
    out.write_all(&b)
}

/// The executor, as the value of the document's `executor` (its fields at depth 2).
fn executor(b: &mut Vec<u8>, e: &Executor) {
    b.push(b'{');
    entry(b, 2, "kind", true);
    string(b, e.kind.as_str());
    for (name, v) in [("partition", &e.partition), ("account", &e.account)] {
        entry(b, 2, name, false);
        match v {
            Some(s) => string(b, s),
            None => b.extend_from_slice(b"null"),
        }
    }
    entry(b, 2, "max_jobs", false);
    match e.max_jobs {
        Some(n) => uint(b, n),
        None => b.extend_from_slice(b"null"),
    }
    entry(b, 2, "sbatch_args", false);
    if e.sbatch_args.is_empty() {
        b.extend_from_slice(b"[]");
    } else {
        b.push(b'[');
        for (i, a) in e.sbatch_args.iter().enumerate() {
            item(b, 3, i == 0);
            string(b, a);
        }
        close(b, 2, b']');
    }
    close(b, 1, b'}');
}

/// An arm, as an item of the `arms` list (its fields at depth 3).
fn arm(b: &mut Vec<u8>, a: &Arm) {
    b.push(b'{');
    entry(b, 3, "name", true);
    string(b, &a.name);
    entry(b, 3, "decl", false);
    string(b, &a.decl);
    entry(b, 3, "axes", false);
    // A map, as the document has always had it: sorted by name, the last of equal names.
    let axes: BTreeMap<&str, &str> = a
        .axes
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    object(b, 3, axes.iter(), |b, _, v| string(b, v));
    entry(b, 3, "output", false);
    key(b, &a.output);
    entry(b, 3, "steps", false);
    uint(b, a.lineage.len() as u64);
    close(b, 2, b'}');
}

/// A step, as an item of the `steps` list (its fields at depth 3).
fn step(
    b: &mut Vec<u8>,
    s: &Step,
    shared: &mut FxHashMap<*const BTreeMap<String, Value>, Vec<u8>>,
) {
    b.push(b'{');
    entry(b, 3, "key", true);
    key(b, &s.key);
    entry(b, 3, "short", false);
    b.push(b'"');
    b.extend_from_slice(&s.key.hex_digits()[..12]);
    b.push(b'"');
    entry(b, 3, "kind", false);
    string(b, s.kind.as_str());
    entry(b, 3, "decl", false);
    string(b, &s.decl);
    entry(b, 3, "version", false);
    uint(b, u64::from(s.version));
    entry(b, 3, "params", false);
    if Arc::strong_count(&s.params) > 1 {
        let rendered = shared.entry(Arc::as_ptr(&s.params)).or_insert_with(|| {
            let mut r = vec![];
            map(&mut r, 3, &s.params);
            r
        });
        b.extend_from_slice(rendered);
    } else {
        map(b, 3, &s.params);
    }
    entry(b, 3, "exec", false);
    map(b, 3, &s.exec);
    entry(b, 3, "inputs", false);
    object(b, 3, (&s.inputs).into_iter(), |b, _, k| key(b, k));
    entry(b, 3, "sites", false);
    if s.sites.is_empty() {
        b.extend_from_slice(b"[]");
    } else {
        b.push(b'[');
        for (i, site_) in s.sites.iter().enumerate() {
            item(b, 4, i == 0);
            site(b, site_);
        }
        close(b, 3, b']');
    }
    entry(b, 3, "arms", false);
    uint(b, s.arms.len() as u64);
    entry(b, 3, "status", false);
    string(b, STATUS_UNKNOWN);
    match &s.fingerprint {
        Fingerprint::None => {}
        Fingerprint::Pending => {
            entry(b, 3, "fingerprint", false);
            string(b, "pending");
        }
        Fingerprint::Content { hash, .. } => {
            entry(b, 3, "fingerprint", false);
            key(b, hash);
        }
    }
    close(b, 2, b'}');
}

/// A value whose first line is at depth `depth` (its items one deeper).
fn value(b: &mut Vec<u8>, v: &Value, depth: usize) {
    match v {
        Value::Null => b.extend_from_slice(b"null"),
        Value::Bool(true) => b.extend_from_slice(b"true"),
        Value::Bool(false) => b.extend_from_slice(b"false"),
        Value::Int(i) => int(b, *i),
        // serde_json's own float formatting (and `null` for non-finite values). Writing
        // into a `Vec` cannot fail.
        Value::Float(f) => {
            let _ = serde_json::to_writer(&mut *b, f);
        }
        Value::Str(s) => string(b, s),
        Value::List(xs) => {
            if xs.is_empty() {
                b.extend_from_slice(b"[]");
            } else {
                b.push(b'[');
                for (i, x) in xs.iter().enumerate() {
                    item(b, depth + 1, i == 0);
                    value(b, x, depth + 1);
                }
                close(b, depth, b']');
            }
        }
        Value::Map(m) => map(b, depth, m),
        Value::Step(..) => string(b, &v.display()),
    }
}

fn map(b: &mut Vec<u8>, depth: usize, m: &BTreeMap<String, Value>) {
    object(b, depth, m.iter(), |b, depth, v| value(b, v, depth));
}

/// An object of `entries`, each value written by `write` at the entries' depth.
fn object<K: AsRef<str>, V>(
    b: &mut Vec<u8>,
    depth: usize,
    entries: impl ExactSizeIterator<Item = (K, V)>,
    mut write: impl FnMut(&mut Vec<u8>, usize, V),
) {
    if entries.len() == 0 {
        b.extend_from_slice(b"{}");
        return;
    }
    b.push(b'{');
    for (i, (k, v)) in entries.enumerate() {
        entry(b, depth + 1, k.as_ref(), i == 0);
        write(b, depth + 1, v);
    }
    close(b, depth, b'}');
}

/// Starts an object's entry: separator, indent, the quoted name and `: `.
fn entry(b: &mut Vec<u8>, depth: usize, name: &str, first: bool) {
    item(b, depth, first);
    string(b, name);
    b.extend_from_slice(b": ");
}

/// Starts an item of a list or object: `,` unless first, a new line, the indent.
fn item(b: &mut Vec<u8>, depth: usize, first: bool) {
    if !first {
        b.push(b',');
    }
    newline(b, depth);
}

/// Ends a non-empty list or object whose first line is at `depth`.
fn close(b: &mut Vec<u8>, depth: usize, bracket: u8) {
    newline(b, depth);
    b.push(bracket);
}

fn newline(b: &mut Vec<u8>, depth: usize) {
    const SPACES: &[u8; 64] = &[b' '; 64];
    b.push(b'\n');
    let mut n = 2 * depth;
    while n > 0 {
        let k = n.min(SPACES.len());
        b.extend_from_slice(&SPACES[..k]);
        n -= k;
    }
}

/// Whether JSON needs an escape for this text (serde_json escapes exactly these bytes).
/// Sixteen bytes at a time without an early exit inside a block, so that it is vectorised.
fn needs_escape(s: &[u8]) -> bool {
    let special = |c: u8| (c < 0x20) | (c == b'"') | (c == b'\\');
    let mut blocks = s.chunks_exact(16);
    for block in &mut blocks {
        if block.iter().fold(false, |hit, &c| hit | special(c)) {
            return true;
        }
    }
    blocks.remainder().iter().any(|&c| special(c))
}

fn string(b: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        // Rare: serde_json's escaping, so the bytes are its bytes. Cannot fail on a `Vec`.
        let _ = serde_json::to_writer(&mut *b, s);
    } else {
        b.push(b'"');
        b.extend_from_slice(s.as_bytes());
        b.push(b'"');
    }
}

/// A site's text, `base/step`, quoted, without building it.
fn site(b: &mut Vec<u8>, s: &Site) {
    let (base, t0, t1) = s.pieces();
    if [base, t0, t1].iter().any(|p| needs_escape(p.as_bytes())) {
        string(b, &s.to_string());
        return;
    }
    b.push(b'"');
    b.extend_from_slice(base.as_bytes());
    b.push(b'/');
    b.extend_from_slice(t0.as_bytes());
    b.extend_from_slice(t1.as_bytes());
    b.push(b'"');
}

fn key(b: &mut Vec<u8>, k: &Key) {
    b.push(b'"');
    b.extend_from_slice(&k.hex_digits());
    b.push(b'"');
}

fn uint(b: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    b.extend_from_slice(&digits[i..]);
}

fn int(b: &mut Vec<u8>, n: i64) {
    if n < 0 {
        b.push(b'-');
    }
    uint(b, n.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::StepKind;

    // Equality with serde_json's pretty printer, on hand-made and shipped plans, is tested in
    // `tests/plan_json.rs`; these are the writer's own pieces.
    #[test]
    fn escapes_are_found_anywhere_in_a_block() {
        // The step kind list is the registry's; every kind name is plain text.
        assert!(!needs_escape(StepKind::Features.as_str().as_bytes()));
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 100] {
            let plain = vec![b'a'; len];
            assert!(!needs_escape(&plain));
            for at in 0..len {
                for c in [b'"', b'\\', b'\n', 0, 0x1f] {
                    let mut text = plain.clone();
                    text[at] = c;
                    assert!(needs_escape(&text), "{len} {at} {c}");
                }
                let mut text = plain.clone();
                text[at] = 0x7f;
                assert!(!needs_escape(&text));
            }
        }
    }

    #[test]
    fn integers_as_fmt_writes_them() {
        for n in [
            0,
            1,
            -1,
            9,
            10,
            99,
            100,
            12345,
            -987654321,
            i64::MIN,
            i64::MAX,
        ] {
            let mut b = vec![];
            int(&mut b, n);
            assert_eq!(String::from_utf8(b).unwrap(), n.to_string());
        }
    }
}
