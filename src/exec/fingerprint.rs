//! Content fingerprints of dataset files: the IO layer that puts what is on
//! disk into the keys of `dataset` steps.
//!
//! The planner never reads files. [`plan::plan`](crate::plan::plan) marks
//! every dataset step that reads files *pending*; [`fingerprint_plan`] lists
//! the files of each (through [`data::spec::files`](crate::data::spec::files), the listing the loaders
//! use), hashes them, and returns a [`FingerprintTable`] that
//! [`plan::plan_with`](crate::plan::plan_with) turns into content keys.
//!
//! A dataset's fingerprint is blake3 over the sorted (relative path, blake3
//! of the bytes) of its files, and the relative paths of the files it needs
//! but that are missing. Hashing every byte on every command would be slow,
//! so a [`Memo`] in the store remembers each file's hash under its
//! (canonical path, size, mtime with nanoseconds, ctime, inode, device):
//! an unchanged file is not read again. A file whose mtime is within
//! [`RACY_WINDOW_NS`] of the moment its memo entry was made is hashed again
//! (git's "racy" rule): it may have been rewritten, same size, within the
//! same timestamp tick, after it was hashed.

use crate::data::spec::{self as dspec, DataFiles};
use crate::exec::engine::dataset_spec;
use crate::plan::{Fingerprint, FingerprintTable, Key, Plan};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The memo's timestamp granularity: a file whose mtime is less than this
/// before the moment its hash was memoised is hashed again. Two seconds
/// cover the coarsest common file systems (FAT: 2 s; HFS+, ext3: 1 s) and
/// the kernel's coarse clock tick behind ext4/xfs timestamps.
pub const RACY_WINDOW_NS: i64 = 2_000_000_000;

/// What the memo compares: a file's identity and its change stamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileStat {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Status change time, nanoseconds since the Unix epoch (0 where unknown).
    pub ctime_ns: i64,
    /// Inode number (0 where unknown).
    pub ino: u64,
    /// Device number (0 where unknown).
    pub dev: u64,
}

/// How files are examined: the real file system, or a fake in tests.
pub trait FileAccess: Sync {
    /// The stamps of a file (following symbolic links).
    fn stat(&self, path: &Path) -> io::Result<FileStat>;
    /// blake3 of a file's bytes.
    fn hash(&self, path: &Path) -> io::Result<[u8; 32]>;
    /// The current time, nanoseconds since the Unix epoch.
    fn now_ns(&self) -> i64;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFiles;

impl FileAccess for RealFiles {
    fn stat(&self, path: &Path) -> io::Result<FileStat> {
        let m = fs::metadata(path)?;
        Ok(stat_of(&m))
    }

    fn hash(&self, path: &Path) -> io::Result<[u8; 32]> {
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(fs::File::open(path)?)?;
        Ok(*hasher.finalize().as_bytes())
    }

    fn now_ns(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
}

#[cfg(unix)]
fn stat_of(m: &fs::Metadata) -> FileStat {
    use std::os::unix::fs::MetadataExt;
    let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
    FileStat {
        size: m.size(),
        mtime_ns: ns(m.mtime(), m.mtime_nsec()),
        ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        ino: m.ino(),
        dev: m.dev(),
    }
}

#[cfg(not(unix))]
fn stat_of(m: &fs::Metadata) -> FileStat {
    let ns = |t: io::Result<std::time::SystemTime>| {
        t.ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    };
    FileStat {
        size: m.len(),
        mtime_ns: ns(m.modified()),
        ctime_ns: ns(m.created()),
        ino: 0,
        dev: 0,
    }
}

/// One memoised file hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MemoEntry {
    stat: FileStat,
    hash: [u8; 32],
    /// When the hash was taken (at the latest): the start of the fingerprint that made it.
    checked_ns: i64,
}

impl MemoEntry {
    /// Whether the memoised hash can stand for the file with stamps `now`.
    fn valid_for(&self, now: &FileStat) -> bool {
        self.stat == *now && self.checked_ns.saturating_sub(now.mtime_ns) >= RACY_WINDOW_NS
    }
}

/// File hashes by canonical path, valid while a file's stamps do not change.
/// One memo per canonical dataset root (its entries keyed by the path
/// relative to it), persisted under the store's `fingerprints/` folder,
/// written atomically (a temporary file renamed), so commands that do not
/// hold the store's lock (`sslp plan`) can read and refresh it.
#[derive(Debug, Default, Clone)]
pub struct Memo {
    /// By path relative to the canonical root, `/`-separated.
    entries: HashMap<String, MemoEntry>,
    dirty: bool,
}

const MEMO_MAGIC: &[u8; 8] = b"SSLPFPM1";
const MANIFEST_MAGIC: &[u8; 8] = b"SSLPMAN1";

impl Memo {
    /// An empty memo.
    pub fn new() -> Memo {
        Memo::default()
    }

    /// Number of files memoised.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is memoised.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether entries changed since loading.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Reads a memo file; a missing or damaged file is an empty memo (it is only a cache).
    pub fn load(path: &Path) -> Memo {
        fs::read(path)
            .ok()
            .and_then(|bytes| Memo::decode(&bytes))
            .unwrap_or_default()
    }

    /// Writes the memo to `path` atomically (a temporary file beside it, renamed).
    pub fn save(&self, path: &Path) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let tmp = path.with_extension(format!(
            "tmp.{}.{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&self.encode())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.entries.len() * 120);
        out.extend_from_slice(MEMO_MAGIC);
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        let mut paths: Vec<&String> = self.entries.keys().collect();
        paths.sort();
        for path in paths {
            let e = &self.entries[path];
            put_bytes(&mut out, path.as_bytes());
            out.extend_from_slice(&e.stat.size.to_le_bytes());
            out.extend_from_slice(&e.stat.mtime_ns.to_le_bytes());
            out.extend_from_slice(&e.stat.ctime_ns.to_le_bytes());
            out.extend_from_slice(&e.stat.ino.to_le_bytes());
            out.extend_from_slice(&e.stat.dev.to_le_bytes());
            out.extend_from_slice(&e.checked_ns.to_le_bytes());
            out.extend_from_slice(&e.hash);
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<Memo> {
        let mut r = Reader(bytes);
        if r.take(8)? != MEMO_MAGIC {
            return None;
        }
        let n = r.u64()?;
        let mut entries = HashMap::with_capacity(usize::try_from(n).ok()?.min(1 << 24));
        for _ in 0..n {
            let path = String::from_utf8(r.bytes()?.to_vec()).ok()?;
            let stat = FileStat {
                size: r.u64()?,
                mtime_ns: r.i64()?,
                ctime_ns: r.i64()?,
                ino: r.u64()?,
                dev: r.u64()?,
            };
            let checked_ns = r.i64()?;
            let hash = r.take(32)?.try_into().ok()?;
            entries.insert(
                path,
                MemoEntry {
                    stat,
                    hash,
                    checked_ns,
                },
            );
        }
        r.0.is_empty().then_some(Memo {
            entries,
            dirty: false,
        })
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// A bounds-checked little-endian reader: `None` on truncation, never a panic.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
        self.take(n as usize)
    }
}

/// What a fingerprint cost.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Files fingerprinted (present).
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Files read and hashed (not served by the memo).
    pub hashed: usize,
    /// Bytes read and hashed.
    pub hashed_bytes: u64,
    /// Of the files hashed, those whose stamps matched but were too recent to trust (racy).
    pub racy: usize,
}

/// Per file, its relative path (with `/` separators) and the blake3 of its bytes, sorted by path.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The dataset's fingerprint.
    pub fingerprint: Key,
    /// (relative path, content hash), sorted by path.
    pub files: Vec<(String, [u8; 32])>,
    /// Files needed but missing, relative, sorted.
    pub missing: Vec<String>,
}

impl Manifest {
    /// The compact binary form kept in the store.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + self.files.len() * 64);
        out.extend_from_slice(MANIFEST_MAGIC);
        out.extend_from_slice(&self.fingerprint.0);
        out.extend_from_slice(&(self.files.len() as u64).to_le_bytes());
        for (path, hash) in &self.files {
            put_bytes(&mut out, path.as_bytes());
            out.extend_from_slice(hash);
        }
        out.extend_from_slice(&(self.missing.len() as u64).to_le_bytes());
        for path in &self.missing {
            put_bytes(&mut out, path.as_bytes());
        }
        out
    }

    /// Parses [`Manifest::encode`]'s output; `None` if damaged.
    pub fn decode(bytes: &[u8]) -> Option<Manifest> {
        let mut r = Reader(bytes);
        if r.take(8)? != MANIFEST_MAGIC {
            return None;
        }
        let fingerprint = Key(r.take(32)?.try_into().ok()?);
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).ok();
        let n = r.u64()?;
        let mut files = Vec::with_capacity(usize::try_from(n).ok()?.min(1 << 24));
        for _ in 0..n {
            let path = text(r.bytes()?)?;
            files.push((path, r.take(32)?.try_into().ok()?));
        }
        let n = r.u64()?;
        let mut missing = Vec::new();
        for _ in 0..n {
            missing.push(text(r.bytes()?)?);
        }
        r.0.is_empty().then_some(Manifest {
            fingerprint,
            files,
            missing,
        })
    }

    /// What changed from `old` to `self`.
    pub fn changes_since(&self, old: &Manifest) -> Changes {
        let before: BTreeMap<&str, &[u8; 32]> =
            old.files.iter().map(|(p, h)| (p.as_str(), h)).collect();
        let after: BTreeMap<&str, &[u8; 32]> =
            self.files.iter().map(|(p, h)| (p.as_str(), h)).collect();
        let mut changes = Changes::default();
        for (path, hash) in &after {
            match before.get(path) {
                Some(h) if h != hash => changes.changed.push(path.to_string()),
                Some(_) => {}
                None => changes.added.push(path.to_string()),
            }
        }
        changes.removed = before
            .keys()
            .filter(|p| !after.contains_key(*p))
            .map(|p| p.to_string())
            .collect();
        changes
    }
}

/// The difference between two manifests of one dataset.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Files whose content changed.
    pub changed: Vec<String>,
    /// Files that appeared.
    pub added: Vec<String>,
    /// Files that disappeared.
    pub removed: Vec<String>,
}

impl Changes {
    /// Whether no file changed.
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty() && self.removed.is_empty()
    }

    /// `1 of 4 files changed (train-images-idx3-ubyte), 2 added (a.png, b.png)`:
    /// at most three names per group.
    pub fn describe(&self, total: usize) -> String {
        fn names(list: &[String]) -> String {
            let mut shown: Vec<&str> = list.iter().take(3).map(String::as_str).collect();
            let more = list.len().saturating_sub(3);
            let tail = format!("{more} more");
            if more > 0 {
                shown.push(&tail);
            }
            shown.join(", ")
        }
        let mut parts = vec![];
        if !self.changed.is_empty() {
            parts.push(format!(
                "{} of {total} file{} changed ({})",
                self.changed.len(),
                if total == 1 { "" } else { "s" },
                names(&self.changed)
            ));
        }
        if !self.added.is_empty() {
            parts.push(format!(
                "{} added ({})",
                self.added.len(),
                names(&self.added)
            ));
        }
        if !self.removed.is_empty() {
            parts.push(format!(
                "{} removed ({})",
                self.removed.len(),
                names(&self.removed)
            ));
        }
        if parts.is_empty() {
            return "no file changed".into();
        }
        parts.join(", ")
    }
}

/// The fingerprint of one dataset's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetFingerprint {
    /// The fingerprint and the per-file hashes it covers.
    pub manifest: Manifest,
    /// What it cost.
    pub stats: Stats,
}

/// Why the files of a dataset could not be fingerprinted.
#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    /// A listed file vanished or cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The dataset's files cannot be listed.
    #[error(transparent)]
    List(#[from] crate::data::DataError),
    /// A dataset step whose parameters do not decode.
    #[error("dataset `{decl}`: {source}")]
    Param {
        /// The dataset's declaration.
        decl: String,
        /// The decoding error.
        source: super::decode::DecodeError,
    },
    /// Fingerprinting a dataset of the plan failed.
    #[error("cannot fingerprint dataset `{decl}`: {source}")]
    Dataset {
        /// The dataset's declaration.
        decl: String,
        /// Why.
        source: Box<FingerprintError>,
    },
}

/// One file fingerprinted: relative path, content hash, size, and the new
/// memo entry (with whether the old one was racy) when it was read.
type Hashed = (String, [u8; 32], u64, Option<(MemoEntry, bool)>);

/// A path relative to a dataset root as text with `/` separators.
fn rel_text(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Fingerprints the listed files of a dataset, through and into `memo`.
///
/// `memo` is the memo of the canonical form of `files.root` (see
/// [`memo_path`]); its entries are keyed by the path relative to it. Stamps
/// are read and files hashed in parallel (rayon). A file that vanishes or
/// cannot be read is an error naming it.
pub fn fingerprint_files(
    files: &DataFiles,
    memo: &mut Memo,
    access: &impl FileAccess,
) -> Result<DatasetFingerprint, FingerprintError> {
    // Entries made now are stamped with the time before any file is read:
    // every hash below is taken at or after it.
    let started = access.now_ns();
    let results: Vec<Hashed> = files
        .present
        .par_iter()
        .map(|rel| {
            let full = files.root.join(rel);
            let rel = rel_text(rel);
            let stat = access
                .stat(&full)
                .map_err(|source| FingerprintError::Read {
                    path: full.clone(),
                    source,
                })?;
            let memoised = memo.entries.get(&rel);
            if let Some(entry) = memoised.filter(|e| e.valid_for(&stat)) {
                return Ok((rel, entry.hash, stat.size, None));
            }
            let racy = memoised.is_some_and(|e| e.stat == stat);
            let hash = access
                .hash(&full)
                .map_err(|source| FingerprintError::Read {
                    path: full.clone(),
                    source,
                })?;
            let entry = MemoEntry {
                stat,
                hash,
                checked_ns: started,
            };
            Ok((rel, hash, stat.size, Some((entry, racy))))
        })
        .collect::<Result<_, FingerprintError>>()?;

    let mut stats = Stats::default();
    let mut manifest = Manifest::default();
    for (rel, hash, size, fresh) in results {
        stats.files += 1;
        stats.bytes += size;
        if let Some((entry, racy)) = fresh {
            stats.hashed += 1;
            stats.hashed_bytes += size;
            stats.racy += usize::from(racy);
            memo.entries.insert(rel.clone(), entry);
            memo.dirty = true;
        }
        manifest.files.push((rel, hash));
    }
    manifest.files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    manifest.missing = files.missing.iter().map(|p| rel_text(p)).collect();
    manifest.missing.sort_unstable();

    let mut h = blake3::Hasher::new();
    h.update(b"sslp/dataset-files/v1\0");
    h.update(&(manifest.files.len() as u64).to_le_bytes());
    for (rel, hash) in &manifest.files {
        h.update(&(rel.len() as u64).to_le_bytes());
        h.update(rel.as_bytes());
        h.update(hash);
    }
    h.update(&(manifest.missing.len() as u64).to_le_bytes());
    for rel in &manifest.missing {
        h.update(&(rel.len() as u64).to_le_bytes());
        h.update(rel.as_bytes());
    }
    manifest.fingerprint = Key(*h.finalize().as_bytes());
    Ok(DatasetFingerprint { manifest, stats })
}

/// The memo file of a dataset root inside a memo folder.
pub fn memo_path(memo_dir: &Path, canonical_root: &Path) -> PathBuf {
    let id = blake3::hash(canonical_root.as_os_str().as_encoded_bytes());
    memo_dir.join(format!("{}.memo", &id.to_hex()[..32]))
}

/// Fingerprints the files of a folder's dataset: lists them, then hashes
/// them through the memo kept in `memo_dir` (read, and rewritten when
/// something was hashed; `None`: no memo, every file is read). `Ok(None)`
/// for datasets that read no files.
///
/// This is the function `sslp plan`, `sslp run` and the benchmark use.
pub fn fingerprint_dataset(
    spec: &dspec::DatasetSpec,
    base: &Path,
    memo_dir: Option<&Path>,
) -> Result<Option<(DataFiles, DatasetFingerprint)>, FingerprintError> {
    let Some(files) = dspec::files(spec, base)? else {
        return Ok(None);
    };
    let canonical = fs::canonicalize(&files.root).unwrap_or_else(|_| files.root.clone());
    let memo_file = memo_dir.map(|d| memo_path(d, &canonical));
    let mut memo = memo_file.as_deref().map(Memo::load).unwrap_or_default();
    let fingerprint = fingerprint_files(&files, &mut memo, &RealFiles)?;
    if let Some(path) = memo_file.filter(|_| memo.is_dirty()) {
        // The memo is a cache: failing to write it costs time later, not correctness.
        if let Err(e) = memo.save(&path) {
            tracing::warn!("cannot write the fingerprint memo {}: {e}", path.display());
        }
    }
    Ok(Some((files, fingerprint)))
}

/// One fingerprinted dataset step of a plan.
#[derive(Debug, Clone)]
pub struct DatasetReport {
    /// The declaration.
    pub decl: String,
    /// The step's key without content.
    pub pending: Key,
    /// Stable name of "this dataset, here" for the store's last-run manifest:
    /// the pending key with the canonical root (two folders with the same
    /// relative root are two identities).
    pub identity: Key,
    /// The files and their fingerprint.
    pub fingerprint: DatasetFingerprint,
}

/// Every dataset of a plan, fingerprinted.
#[derive(Debug, Clone, Default)]
pub struct Fingerprinted {
    /// Pending key -> fingerprint, for [`plan_with`](crate::plan::plan_with).
    pub table: FingerprintTable,
    /// Per dataset, in plan order.
    pub datasets: Vec<DatasetReport>,
}

/// Fingerprints every pending dataset step of `plan` (relative roots
/// resolved against `base`), through the memo in `memo_dir` if given.
pub fn fingerprint_plan(
    plan: &Plan,
    base: &Path,
    memo_dir: Option<&Path>,
) -> Result<Fingerprinted, FingerprintError> {
    let mut out = Fingerprinted::default();
    for step in plan
        .steps
        .iter()
        .filter(|s| s.fingerprint == Fingerprint::Pending)
    {
        let spec = dataset_spec(&step.params).map_err(|source| FingerprintError::Param {
            decl: step.decl.clone(),
            source,
        })?;
        let Some((files, fingerprint)) =
            fingerprint_dataset(&spec, base, memo_dir).map_err(|e| FingerprintError::Dataset {
                decl: step.decl.clone(),
                source: Box::new(e),
            })?
        else {
            continue;
        };
        let canonical = fs::canonicalize(&files.root).unwrap_or(files.root);
        let mut h = blake3::Hasher::new();
        h.update(b"sslp/dataset-identity/v1\0");
        h.update(&step.key.0);
        h.update(canonical.as_os_str().as_encoded_bytes());
        out.table.insert(step.key, fingerprint.manifest.fingerprint);
        out.datasets.push(DatasetReport {
            decl: step.decl.clone(),
            pending: step.key,
            identity: Key(*h.finalize().as_bytes()),
            fingerprint,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A fake file system: contents and stamps set by the test, reads counted.
    #[derive(Default)]
    struct FakeFiles {
        files: Mutex<HashMap<PathBuf, (FileStat, Vec<u8>)>>,
        reads: AtomicU64,
        now: AtomicU64,
    }

    impl FakeFiles {
        fn put(&self, path: &str, bytes: &[u8], stat: FileStat) {
            self.files
                .lock()
                .unwrap()
                .insert(PathBuf::from(path), (stat, bytes.to_vec()));
        }
        fn reads(&self) -> u64 {
            self.reads.load(Ordering::SeqCst)
        }
    }

    impl FileAccess for FakeFiles {
        fn stat(&self, path: &Path) -> io::Result<FileStat> {
            self.files
                .lock()
                .unwrap()
                .get(path)
                .map(|f| f.0)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }
        fn hash(&self, path: &Path) -> io::Result<[u8; 32]> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let files = self.files.lock().unwrap();
            let (_, bytes) = files.get(path).ok_or(io::ErrorKind::NotFound)?;
            Ok(*blake3::hash(bytes).as_bytes())
        }
        fn now_ns(&self) -> i64 {
            self.now.load(Ordering::SeqCst) as i64
        }
    }

    const SEC: i64 = 1_000_000_000;

    fn listing(names: &[&str]) -> DataFiles {
        DataFiles {
            root: PathBuf::from("/d"),
            present: names.iter().map(PathBuf::from).collect(),
            missing: vec![],
        }
    }

    fn stat(size: u64, mtime_ns: i64) -> FileStat {
        FileStat {
            size,
            mtime_ns,
            ctime_ns: mtime_ns,
            ino: 7,
            dev: 1,
        }
    }

    #[test]
    fn an_unchanged_file_is_not_read_again() {
        let fs = FakeFiles::default();
        fs.put("/d/a", b"aaaa", stat(4, 100 * SEC));
        fs.put("/d/b", b"bbbb", stat(4, 100 * SEC));
        fs.now.store((200 * SEC) as u64, Ordering::SeqCst);
        let files = listing(&["a", "b"]);
        let mut memo = Memo::new();
        let first = fingerprint_files(&files, &mut memo, &fs).unwrap();
        assert_eq!((fs.reads(), first.stats.hashed), (2, 2));
        // Through a save and a load, as between two commands.
        let mut memo = Memo::decode(&memo.encode()).unwrap();
        let second = fingerprint_files(&files, &mut memo, &fs).unwrap();
        assert_eq!(fs.reads(), 2, "unchanged files must not be read");
        assert_eq!(second.stats.hashed, 0);
        assert!(!memo.is_dirty());
        assert_eq!(first.manifest, second.manifest);
        // A changed stamp (size, mtime, ctime or inode) means a read.
        fs.put(
            "/d/b",
            b"bbbc",
            FileStat {
                ino: 8,
                ..stat(4, 100 * SEC)
            },
        );
        let third = fingerprint_files(&files, &mut memo, &fs).unwrap();
        assert_eq!((fs.reads(), third.stats.hashed), (3, 1));
        assert_ne!(third.manifest.fingerprint, first.manifest.fingerprint);
        assert_eq!(third.manifest.changes_since(&first.manifest).changed, ["b"]);
    }

    #[test]
    fn a_same_size_rewrite_within_the_timestamp_granularity_is_detected() {
        // The file is hashed in the same tick it was written; it is then
        // rewritten (same size) within that tick, so every stamp is the same.
        let fs = FakeFiles::default();
        let t = 1_000 * SEC;
        fs.put("/d/a", b"old!", stat(4, t));
        fs.now.store((t + SEC / 2) as u64, Ordering::SeqCst);
        let files = listing(&["a"]);
        let mut memo = Memo::new();
        let before = fingerprint_files(&files, &mut memo, &fs).unwrap();
        fs.put("/d/a", b"new!", stat(4, t));
        fs.now.store((t + 10 * SEC) as u64, Ordering::SeqCst);
        let after = fingerprint_files(&files, &mut memo, &fs).unwrap();
        assert_eq!(after.stats.racy, 1, "the racy entry must be re-hashed");
        assert_ne!(before.manifest.fingerprint, after.manifest.fingerprint);
        // Now hashed long after its mtime: trusted from here on.
        let again = fingerprint_files(&files, &mut memo, &fs).unwrap();
        assert_eq!((again.stats.hashed, fs.reads()), (0, 2));
        assert_eq!(again.manifest, after.manifest);
    }

    #[test]
    fn names_and_missing_files_enter_the_fingerprint() {
        let fs = FakeFiles::default();
        fs.put("/d/a", b"x", stat(1, SEC));
        fs.put("/d/b", b"x", stat(1, SEC));
        fs.now.store((100 * SEC) as u64, Ordering::SeqCst);
        let fp = |files: &DataFiles| {
            fingerprint_files(files, &mut Memo::new(), &fs)
                .unwrap()
                .manifest
                .fingerprint
        };
        let a = listing(&["a"]);
        let b = listing(&["b"]);
        let mut a_missing = listing(&["a"]);
        a_missing.missing.push(PathBuf::from("c"));
        assert_ne!(fp(&a), fp(&b), "same bytes under another name");
        assert_ne!(fp(&a), fp(&a_missing));
        assert_eq!(fp(&a), fp(&a));
        let err = fingerprint_files(&listing(&["gone"]), &mut Memo::new(), &fs);
        match err.unwrap_err() {
            FingerprintError::Read { path, .. } => assert!(path.ends_with("d/gone"), "{path:?}"),
            other => panic!("not a read error: {other}"),
        }
    }

    #[test]
    fn memo_and_manifest_survive_encoding_and_reject_damage() {
        let fs = FakeFiles::default();
        fs.put("/d/x/é.png", b"x", stat(1, SEC));
        fs.now.store((100 * SEC) as u64, Ordering::SeqCst);
        let mut memo = Memo::new();
        let mut files = listing(&["x/é.png"]);
        files.missing.push(PathBuf::from("y"));
        let fp = fingerprint_files(&files, &mut memo, &fs).unwrap();
        let bytes = memo.encode();
        let back = Memo::decode(&bytes).unwrap();
        assert_eq!(back.entries, memo.entries);
        assert!(Memo::decode(&bytes[..bytes.len() - 1]).is_none());
        assert!(Memo::decode(b"garbage").is_none());
        let m = fp.manifest.encode();
        assert_eq!(Manifest::decode(&m), Some(fp.manifest.clone()));
        assert!(Manifest::decode(&m[..m.len() - 3]).is_none());
        assert_eq!(fp.manifest.missing, ["y"]);
    }

    #[test]
    fn memo_files_round_trip_on_disk_and_real_hashes_match_blake3() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        fs::create_dir_all(root.join("c")).unwrap();
        fs::write(root.join("c/1.bin"), b"hello").unwrap();
        let files = DataFiles {
            root: root.clone(),
            present: vec![PathBuf::from("c/1.bin")],
            missing: vec![],
        };
        let mut memo = Memo::new();
        let fp = fingerprint_files(&files, &mut memo, &RealFiles).unwrap();
        assert_eq!(fp.manifest.files[0].1, *blake3::hash(b"hello").as_bytes());
        let path = memo_path(&dir.path().join("memo"), &root);
        memo.save(&path).unwrap();
        assert_eq!(Memo::load(&path).entries, memo.entries);
        assert!(Memo::load(&dir.path().join("none")).is_empty());
    }

    #[test]
    fn changes_are_described_with_names() {
        let m = |files: &[(&str, u8)]| Manifest {
            fingerprint: Key([0; 32]),
            files: files
                .iter()
                .map(|(p, b)| (p.to_string(), [*b; 32]))
                .collect(),
            missing: vec![],
        };
        let old = m(&[("a", 1), ("b", 1), ("c", 1), ("d", 1)]);
        let new = m(&[("a", 1), ("b", 2), ("c", 1), ("e", 1)]);
        let c = new.changes_since(&old);
        assert_eq!(
            c.describe(4),
            "1 of 4 files changed (b), 1 added (e), 1 removed (d)"
        );
        assert!(old.changes_since(&old).is_empty());
        let many = Changes {
            changed: (0..5).map(|i| format!("f{i}")).collect(),
            ..Changes::default()
        };
        assert_eq!(
            many.describe(9),
            "5 of 9 files changed (f0, f1, f2, 2 more)"
        );
    }
}
