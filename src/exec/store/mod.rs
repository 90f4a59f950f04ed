//! The cache: files that any number of processes, on any node that mounts
//! the store, can share, plus a sled index that only the coordinating
//! process opens.
//!
//! Layout of a store directory (default `.sslp/` beside the pipeline):
//!
//! ```text
//! blobs/ab/cdef…        blob files named by the blake3 of their bytes
//! records/ab/cdef…      completion records: step key -> Record (JSON); the truth
//! checkpoints/KEY       the latest checkpoint of an unfinished step (a BlobRef)
//! offline/ab/cdef…      offline-op results (blake3 of the value, then the value)
//! steps/KEY.json        step files handed to `sslp worker` (see `exec::stepfile`)
//! jobs/KEY.*            a cluster job's id and its output (see `exec::slurm`)
//! fingerprints/         per dataset root, the memo of file content hashes (see
//!                       `exec::fingerprint`)
//! tmp/                  files being written: NAME.HOST.PID.N
//! LOCK, index/          the coordinator's lock and its sled index (records as
//!                       read so far, and per dataset the file manifest of the last run)
//! ```
//!
//! Invariants: every file is written to `tmp/` and renamed into place, so a
//! reader sees all of it or nothing; a blob is fsynced before any record
//! refers to it; a record is written only after all its blobs exist. A
//! killed process can leave an orphan blob (removed by `gc`) but never a
//! record pointing at a missing or partial blob. Blob reads re-hash the
//! bytes, so damage is reported, not used.
//!
//! Three ways to open a store: [`Store::open`] (the coordinator: takes the
//! lock and the index), [`Store::open_shared`] (a worker: files only, no
//! lock, so many can run beside a coordinator), and [`Store::open_read`]
//! (`status`, `report`: the index when it is free, else the files, read-only).

use crate::plan::Key;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

mod layout;
use layout::{fanned, fanned_files, write_atomic};

/// A store problem, with the path involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the store.
    #[error(
        "store {dir} is locked by pid {pid} (another sslp is using it); wait for it, or pass --wait"
    )]
    Locked {
        /// The store directory.
        dir: PathBuf,
        /// The owner's pid, as written in LOCK (`?` if unreadable).
        pid: String,
    },
    /// A file operation failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A blob's bytes do not hash to its name.
    #[error(
        "blob {path} is damaged: its content does not match its hash (run `sslp cache verify`)"
    )]
    Corrupt {
        /// The blob file.
        path: PathBuf,
    },
    /// A write to a store opened read-only (another process coordinates it).
    #[error("store {dir} is open read-only here (another sslp holds its lock)")]
    ReadOnly {
        /// The store directory.
        dir: PathBuf,
    },
    /// The sled index failed.
    #[error("index {path}: {message}")]
    Index {
        /// The index directory.
        path: PathBuf,
        /// sled's message.
        message: String,
    },
}

/// A reader that hashes (blake3) and counts every byte passing through.
struct HashingReader<R> {
    inner: R,
    hasher: blake3::Hasher,
    read: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// A reference to a blob: its hash and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    /// blake3 of the bytes, hex.
    pub hash: String,
    /// Size in bytes.
    pub size: u64,
}

/// One output of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "as", rename_all = "lowercase")]
pub enum Output {
    /// A small value kept in the index.
    Inline {
        /// The value.
        value: serde_json::Value,
    },
    /// A large value in a blob file.
    Blob {
        /// Which blob.
        blob: BlobRef,
    },
}

/// Whether a step finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Finished; its outputs are valid cache entries.
    Done,
    /// Failed; kept for `cache show`, retried on the next run.
    Failed,
}

/// What the index holds for a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Step kind.
    pub kind: String,
    /// Declaration it came from (informational).
    pub decl: String,
    /// Done or failed.
    pub status: Status,
    /// Its parameters, for `cache show`.
    pub params: serde_json::Value,
    /// Keys of its inputs, by name.
    pub inputs: BTreeMap<String, String>,
    /// Named outputs.
    pub outputs: BTreeMap<String, Output>,
    /// Scalar results (losses, accuracies).
    pub metrics: BTreeMap<String, f64>,
    /// Fallbacks and clamps the step used (older records have none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<crate::notes::StepNote>,
    /// Start time, milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// Wall time of the step in milliseconds.
    pub duration_ms: u64,
    /// Peak resident memory while the step ran, in bytes (see [`super::memory`]; older records have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss: Option<u64>,
    /// The error message of a failed step.
    pub message: Option<String>,
}

impl Record {
    /// Every blob the record refers to.
    pub fn blobs(&self) -> impl Iterator<Item = &BlobRef> {
        self.outputs.values().filter_map(|o| match o {
            Output::Blob { blob } => Some(blob),
            Output::Inline { .. } => None,
        })
    }
}

/// The coordinator's part of a store: its lock and the sled index.
struct Index {
    /// step key -> Record (JSON), as read or written by this machine.
    db: sled::Db,
    /// dataset identity -> the file manifest of the last run.
    datasets: sled::Tree,
    _lock: File,
}

/// An open store: its shared files, and the index when this process coordinates.
pub struct Store {
    dir: PathBuf,
    index: Option<Index>,
    read_only: bool,
}

/// A report of `verify`.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    /// Blobs checked.
    pub blobs_checked: usize,
    /// Blobs whose content does not match their name.
    pub damaged: Vec<String>,
    /// Records that refer to a missing blob: (step key, blob hash).
    pub missing: Vec<(String, String)>,
}

/// A report of `gc`.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct GcReport {
    /// Blob files removed.
    pub removed: usize,
    /// Bytes freed.
    pub bytes: u64,
}

/// The offline-op results of a store (`offline/`), one file per result:
/// the blake3 of the value, then the value.
#[derive(Debug, Clone)]
pub struct OfflineFiles {
    dir: PathBuf,
    read_only: bool,
}

impl OfflineFiles {
    fn path(&self, key: &[u8; 32]) -> PathBuf {
        fanned(&self.dir.join("offline"), &Key(*key).hex())
    }

    /// The result stored under `key` (`None` when absent or damaged: it is recomputed).
    pub fn get(&self, key: &[u8; 32]) -> Option<Vec<u8>> {
        let bytes = fs::read(self.path(key)).ok()?;
        let (hash, value) = bytes.split_at_checked(32)?;
        (blake3::hash(value).as_bytes() == hash).then(|| value.to_vec())
    }

    /// Stores a result. Not fsynced: a torn file fails its hash and is recomputed.
    pub fn put(&self, key: &[u8; 32], value: &[u8]) {
        if self.read_only {
            return;
        }
        let mut bytes = Vec::with_capacity(32 + value.len());
        bytes.extend_from_slice(blake3::hash(value).as_bytes());
        bytes.extend_from_slice(value);
        if let Err(e) = write_atomic(&self.dir, &self.path(key), &bytes, false) {
            tracing::warn!("offline result not stored: {e}");
        }
    }
}

/// How [`Store::open`] treats the lock.
enum LockWait {
    Block,
    Fail,
}

/// Creates the store's folders; the store's absolute path (job scripts and
/// step files name it, and they run elsewhere).
fn create_folders(dir: &Path) -> Result<PathBuf, StoreError> {
    for sub in layout::FOLDERS {
        let p = dir.join(sub);
        fs::create_dir_all(&p).map_err(|e| io_err(&p, e))?;
    }
    fs::canonicalize(dir).map_err(|e| io_err(dir, e))
}

/// Takes the store's lock; `None` when another process holds it and `wait` is `Fail`.
fn take_lock(dir: &Path, wait: LockWait) -> Result<Result<File, StoreError>, StoreError> {
    let lock_path = dir.join("LOCK");
    let mut lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| io_err(&lock_path, e))?;
    let acquired = match wait {
        LockWait::Block => lock.lock().map(|()| true),
        LockWait::Fail => match lock.try_lock() {
            Ok(()) => Ok(true),
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        },
    };
    match acquired {
        Ok(true) => {}
        Ok(false) => {
            let mut pid = String::new();
            let _ = lock.read_to_string(&mut pid);
            let pid = pid.trim();
            return Ok(Err(StoreError::Locked {
                dir: dir.to_path_buf(),
                pid: if pid.is_empty() {
                    "?".into()
                } else {
                    pid.to_string()
                },
            }));
        }
        Err(e) => return Err(io_err(&lock_path, e)),
    }
    lock.set_len(0).map_err(|e| io_err(&lock_path, e))?;
    write!(lock, "{}", std::process::id()).map_err(|e| io_err(&lock_path, e))?;
    let _ = lock.flush();
    Ok(Ok(lock))
}

impl Store {
    /// Opens (creating if needed) the store in `dir` as its coordinator: takes
    /// the lock and the index. With `wait`, blocks until another coordinator
    /// releases it; otherwise fails with `Locked`.
    pub fn open(dir: &Path, wait: bool) -> Result<Store, StoreError> {
        let dir = &create_folders(dir)?;
        let lock = take_lock(
            dir,
            if wait {
                LockWait::Block
            } else {
                LockWait::Fail
            },
        )??;
        Store::with_lock(dir, lock)
    }

    /// Opens the store's shared files only, for a worker: no lock and no
    /// index, so workers run beside a coordinator and each other.
    pub fn open_shared(dir: &Path) -> Result<Store, StoreError> {
        let dir = &create_folders(dir)?;
        Ok(Store {
            dir: dir.to_path_buf(),
            index: None,
            read_only: false,
        })
    }

    /// Opens the store for reading (`status`, `report`, `cache ls`): as its
    /// coordinator when nobody is, else its files only, read-only.
    pub fn open_read(dir: &Path) -> Result<Store, StoreError> {
        let dir = &create_folders(dir)?;
        match take_lock(dir, LockWait::Fail)? {
            Ok(lock) => Store::with_lock(dir, lock),
            Err(_) => Ok(Store {
                dir: dir.to_path_buf(),
                index: None,
                read_only: true,
            }),
        }
    }

    fn with_lock(dir: &Path, lock: File) -> Result<Store, StoreError> {
        let index_dir = dir.join("index");
        let index_err = |e: sled::Error| StoreError::Index {
            path: index_dir.clone(),
            message: e.to_string(),
        };
        let db = sled::Config::new()
            .path(&index_dir)
            .open()
            .map_err(index_err)?;
        let datasets = db.open_tree("datasets").map_err(index_err)?;
        let store = Store {
            dir: dir.to_path_buf(),
            index: Some(Index {
                db,
                datasets,
                _lock: lock,
            }),
            read_only: false,
        };
        store.migrate()?;
        // Files half-written by a killed process of this host are garbage.
        let this_host = layout::host();
        if let Ok(entries) = fs::read_dir(dir.join("tmp")) {
            for e in entries.flatten() {
                if layout::is_stale_tmp(&e.file_name().to_string_lossy(), &this_host) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(store)
    }

    /// Moves what older stores kept in the index (records without a file,
    /// offline results, checkpoints) into the shared files, once.
    fn migrate(&self) -> Result<(), StoreError> {
        let Some(ix) = &self.index else {
            return Ok(());
        };
        for item in ix.db.iter() {
            let (k, v) = item.map_err(|e| self.index_err(e))?;
            let Ok(key) = <[u8; 32]>::try_from(k.as_ref()) else {
                continue;
            };
            let path = self.record_path(&Key(key));
            if !path.is_file() {
                write_atomic(&self.dir, &path, &v, true)?;
            }
        }
        for name in ["offline", "checkpoints"] {
            if !ix
                .db
                .tree_names()
                .iter()
                .any(|t| t.as_ref() == name.as_bytes())
            {
                continue;
            }
            let tree = ix.db.open_tree(name).map_err(|e| self.index_err(e))?;
            for item in tree.iter() {
                let (k, v) = item.map_err(|e| self.index_err(e))?;
                let Ok(key) = <[u8; 32]>::try_from(k.as_ref()) else {
                    continue;
                };
                if name == "offline" {
                    self.offline_put(&key, &v);
                } else {
                    write_atomic(&self.dir, &self.checkpoint_file(&Key(key)), &v, true)?;
                }
            }
            drop(tree);
            ix.db.drop_tree(name).map_err(|e| self.index_err(e))?;
        }
        Ok(())
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True when this process holds the store's lock and index (it may submit and record).
    pub fn is_coordinator(&self) -> bool {
        self.index.is_some()
    }

    fn index_err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Index {
            path: self.dir.join("index"),
            message: e.to_string(),
        }
    }

    fn writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                dir: self.dir.clone(),
            });
        }
        Ok(())
    }

    fn record_path(&self, key: &Key) -> PathBuf {
        fanned(&self.dir.join("records"), &key.hex())
    }

    /// The file that points at a step's checkpoint (deleting it makes the step start over).
    pub fn checkpoint_file(&self, key: &Key) -> PathBuf {
        self.dir.join("checkpoints").join(key.hex())
    }

    fn parse_record(path: &Path, bytes: &[u8]) -> Result<Record, StoreError> {
        serde_json::from_slice(bytes)
            .map_err(|e| io_err(path, format!("the step record is unreadable: {e}")))
    }

    /// The record of a step, if any: the index's when it says done (done is
    /// final), else the completion record a worker may have written since,
    /// which the index then takes in.
    pub fn get(&self, key: &Key) -> Result<Option<Record>, StoreError> {
        let mut indexed = None;
        if let Some(ix) = &self.index
            && let Some(bytes) = ix.db.get(key.0).map_err(|e| self.index_err(e))?
        {
            let record = Self::parse_record(&self.dir.join("index"), &bytes)?;
            if record.status == Status::Done {
                return Ok(Some(record));
            }
            indexed = Some(bytes);
        }
        let path = self.record_path(key);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return indexed
                    .map(|b| Self::parse_record(&self.dir.join("index"), &b))
                    .transpose();
            }
            Err(e) => return Err(io_err(&path, e)),
        };
        let record = Self::parse_record(&path, &bytes)?;
        if let Some(ix) = &self.index
            && indexed.as_deref() != Some(bytes.as_slice())
        {
            ix.db.insert(key.0, bytes).map_err(|e| self.index_err(e))?;
        }
        Ok(Some(record))
    }

    /// Whether a step is done and all its blobs are present (a cache hit).
    pub fn is_done(&self, key: &Key) -> Result<bool, StoreError> {
        Ok(match self.get(key)? {
            Some(r) if r.status == Status::Done => {
                r.blobs().all(|b| self.blob_path(&b.hash).is_file())
            }
            _ => false,
        })
    }

    /// Writes a step's completion record (durably), then the index's copy.
    /// Its blobs must already be written.
    pub fn put(&self, key: &Key, record: &Record) -> Result<(), StoreError> {
        self.writable()?;
        let bytes = serde_json::to_vec(record).map_err(|e| self.index_err(e))?;
        write_atomic(&self.dir, &self.record_path(key), &bytes, true)?;
        if let Some(ix) = &self.index {
            ix.db.insert(key.0, bytes).map_err(|e| self.index_err(e))?;
            ix.db.flush().map_err(|e| self.index_err(e))?;
        }
        Ok(())
    }

    /// Every (key, record) in the store, in key order (from the completion records).
    pub fn records(&self) -> Result<Vec<(Key, Record)>, StoreError> {
        let mut out = vec![];
        for (hex, path) in fanned_files(&self.dir.join("records"))? {
            let Some(key) = Key::from_hex(&hex) else {
                continue;
            };
            if let Ok(bytes) = fs::read(&path)
                && let Ok(r) = serde_json::from_slice::<Record>(&bytes)
            {
                out.push((key, r));
            }
        }
        Ok(out)
    }

    /// Finds a key by a hex prefix (at least 4 digits), as `cache show` takes it.
    pub fn find(&self, prefix: &str) -> Result<Vec<Key>, StoreError> {
        let prefix = prefix.to_ascii_lowercase();
        Ok(self
            .records()?
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| k.hex().starts_with(&prefix))
            .collect())
    }

    fn blob_path(&self, hash: &str) -> PathBuf {
        fanned(&self.dir.join("blobs"), hash)
    }

    /// The file a blob is kept in (for messages that must name it).
    pub fn blob_file(&self, blob: &BlobRef) -> PathBuf {
        self.blob_path(&blob.hash)
    }

    /// Writes bytes as a blob (temp file, fsync, rename) and returns its reference.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<BlobRef, StoreError> {
        self.writable()?;
        let hash = blake3::hash(bytes).to_hex().to_string();
        let path = self.blob_path(&hash);
        let blob = BlobRef {
            hash: hash.clone(),
            size: bytes.len() as u64,
        };
        if path.is_file() && fs::metadata(&path).map(|m| m.len()).ok() == Some(blob.size) {
            return Ok(blob);
        }
        write_atomic(&self.dir, &path, bytes, true)?;
        Ok(blob)
    }

    /// Reads a blob as a stream through `parse`, checking its size and hash once it is read:
    /// a large blob (a feature bank) is never held twice, as bytes and as parsed values.
    /// A parse error (`InvalidData` for a malformed layout) comes back with the blob's path;
    /// a blob whose bytes do not match its hash is [`StoreError::Corrupt`] whatever was parsed.
    pub fn read_blob<T>(
        &self,
        blob: &BlobRef,
        parse: impl FnOnce(&mut dyn Read) -> std::io::Result<T>,
    ) -> Result<T, StoreError> {
        let path = self.blob_path(&blob.hash);
        let file = File::open(&path).map_err(|e| io_err(&path, e))?;
        let mut reader = HashingReader {
            inner: std::io::BufReader::with_capacity(1 << 20, file),
            hasher: blake3::Hasher::new(),
            read: 0,
        };
        let parsed = parse(&mut reader);
        // Hash whatever the parser left unread, so trailing garbage is caught too.
        std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| io_err(&path, e))?;
        if reader.read != blob.size || reader.hasher.finalize().to_hex().as_str() != blob.hash {
            return Err(StoreError::Corrupt { path });
        }
        parsed.map_err(|e| io_err(&path, e))
    }

    /// Reads a blob and checks its hash.
    pub fn get_blob(&self, blob: &BlobRef) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(&blob.hash);
        let bytes = fs::read(&path).map_err(|e| io_err(&path, e))?;
        if blake3::hash(&bytes).to_hex().as_str() != blob.hash {
            return Err(StoreError::Corrupt { path });
        }
        Ok(bytes)
    }

    /// Writes a file of the store (a step file, a job script) atomically and durably;
    /// `path` must lie in the store's folder.
    pub fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        self.writable()?;
        if !path.starts_with(&self.dir) {
            return Err(io_err(path, "outside the store"));
        }
        write_atomic(&self.dir, path, bytes, true)
    }

    /// The memo folder of dataset file hashes (`exec::fingerprint`).
    pub fn fingerprint_dir(&self) -> PathBuf {
        self.dir.join("fingerprints")
    }

    /// The file manifest the last run recorded for a dataset identity
    /// (`exec::fingerprint::Manifest`, encoded); none without the index.
    pub fn dataset_manifest(&self, identity: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(ix) = &self.index else {
            return Ok(None);
        };
        ix.datasets
            .get(identity.0)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| self.index_err(e))
    }

    /// Records a dataset identity's file manifest, flushed at once (coordinator only).
    pub fn put_dataset_manifest(&self, identity: &Key, manifest: &[u8]) -> Result<(), StoreError> {
        let Some(ix) = &self.index else {
            return Err(StoreError::ReadOnly {
                dir: self.dir.clone(),
            });
        };
        ix.datasets
            .insert(identity.0, manifest)
            .map_err(|e| self.index_err(e))?;
        ix.datasets.flush().map_err(|e| self.index_err(e))?;
        Ok(())
    }

    /// The offline-op results, as a handle the augmentation cache can keep.
    pub fn offline(&self) -> OfflineFiles {
        OfflineFiles {
            dir: self.dir.clone(),
            read_only: self.read_only,
        }
    }

    /// An offline-op result by its key (`None` when absent or damaged: it is recomputed).
    pub fn offline_get(&self, key: &[u8; 32]) -> Option<Vec<u8>> {
        self.offline().get(key)
    }

    /// Stores an offline-op result (see [`OfflineFiles::put`]).
    pub fn offline_put(&self, key: &[u8; 32], value: &[u8]) {
        self.offline().put(key, value);
    }

    /// Number of offline-op results.
    pub fn offline_len(&self) -> usize {
        fanned_files(&self.dir.join("offline")).map_or(0, |f| f.len())
    }

    /// The latest checkpoint of an unfinished step (training resumes from it).
    pub fn checkpoint_get(&self, key: &Key) -> Option<Vec<u8>> {
        let blob = self.checkpoint_ref(key)?;
        match self.get_blob(&blob) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                tracing::warn!(
                    "checkpoint of {} is unusable ({e}); starting over",
                    key.short()
                );
                None
            }
        }
    }

    fn checkpoint_ref(&self, key: &Key) -> Option<BlobRef> {
        let bytes = fs::read(self.checkpoint_file(key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Replaces a step's checkpoint; durable when it returns.
    pub fn checkpoint_put(&self, key: &Key, bytes: &[u8]) -> Result<(), StoreError> {
        let blob = self.put_blob(bytes)?;
        let json = serde_json::to_vec(&blob).map_err(|e| self.index_err(e))?;
        write_atomic(&self.dir, &self.checkpoint_file(key), &json, true)
    }

    /// Forgets a step's checkpoint (its blob goes at the next `gc`).
    pub fn checkpoint_clear(&self, key: &Key) {
        if !self.read_only {
            let _ = fs::remove_file(self.checkpoint_file(key));
        }
    }

    /// Removes blob files that no record or checkpoint refers to.
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        self.writable()?;
        let mut referenced: BTreeSet<String> = self
            .records()?
            .iter()
            .flat_map(|(_, r)| r.blobs().map(|b| b.hash.clone()))
            .collect();
        // Checkpoints of unfinished training runs stay: a rerun resumes from them.
        let root = self.dir.join("checkpoints");
        for entry in fs::read_dir(&root).map_err(|e| io_err(&root, e))?.flatten() {
            if let Ok(bytes) = fs::read(entry.path())
                && let Ok(blob) = serde_json::from_slice::<BlobRef>(&bytes)
            {
                referenced.insert(blob.hash);
            }
        }
        let mut report = GcReport::default();
        for (hash, path) in self.blob_files()? {
            if !referenced.contains(&hash) {
                report.bytes += fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
                report.removed += 1;
            }
        }
        Ok(report)
    }

    /// Re-hashes every blob, and checks that every record's blobs exist.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let mut report = VerifyReport::default();
        for (hash, path) in self.blob_files()? {
            report.blobs_checked += 1;
            let ok = fs::read(&path)
                .map(|b| blake3::hash(&b).to_hex().as_str() == hash)
                .unwrap_or(false);
            if !ok {
                report.damaged.push(path.display().to_string());
            }
        }
        for (key, record) in self.records()? {
            for b in record.blobs() {
                if !self.blob_path(&b.hash).is_file() {
                    report.missing.push((key.hex(), b.hash.clone()));
                }
            }
        }
        Ok(report)
    }

    fn blob_files(&self) -> Result<Vec<(String, PathBuf)>, StoreError> {
        fanned_files(&self.dir.join("blobs"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(outputs: BTreeMap<String, Output>) -> Record {
        Record {
            kind: "dataset".into(),
            decl: "d".into(),
            status: Status::Done,
            params: serde_json::Value::Null,
            inputs: BTreeMap::new(),
            outputs,
            metrics: BTreeMap::new(),
            notes: vec![],
            started_ms: 0,
            duration_ms: 1,
            peak_rss: None,
            message: None,
        }
    }

    #[test]
    fn blobs_round_trip_and_damage_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false).unwrap();
        let b = store.put_blob(b"hello").unwrap();
        assert_eq!(store.get_blob(&b).unwrap(), b"hello");
        let path = store.blob_path(&b.hash);
        fs::write(&path, b"hellO").unwrap();
        assert!(matches!(
            store.get_blob(&b),
            Err(StoreError::Corrupt { .. })
        ));
        let report = store.verify().unwrap();
        assert_eq!(report.damaged.len(), 1);
    }

    #[test]
    fn streamed_reads_check_the_hash_after_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false).unwrap();
        let b = store.put_blob(b"hello world").unwrap();
        let first5 = |r: &mut dyn Read| {
            let mut buf = [0u8; 5];
            r.read_exact(&mut buf).map(|()| buf)
        };
        // A parser that stops early still has the rest hashed.
        assert_eq!(&store.read_blob(&b, first5).unwrap(), b"hello");
        let path = store.blob_path(&b.hash);
        fs::write(&path, b"hello worlD").unwrap();
        assert!(matches!(
            store.read_blob(&b, first5),
            Err(StoreError::Corrupt { .. })
        ));
        fs::write(&path, b"hello world").unwrap();
        let refuse = |_: &mut dyn Read| -> std::io::Result<()> {
            Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "bad layout",
            ))
        };
        let err = store.read_blob(&b, refuse).unwrap_err().to_string();
        assert!(
            err.contains("bad layout") && err.contains(&b.hash[2..]),
            "{err}"
        );
    }

    #[test]
    fn records_gc_and_hits() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false).unwrap();
        let kept = store.put_blob(b"kept").unwrap();
        let orphan = store.put_blob(b"orphan").unwrap();
        let key = Key([1; 32]);
        assert!(!store.is_done(&key).unwrap());
        let mut outputs = BTreeMap::new();
        outputs.insert("images".into(), Output::Blob { blob: kept.clone() });
        store.put(&key, &record(outputs)).unwrap();
        assert!(store.is_done(&key).unwrap());
        let gc = store.gc().unwrap();
        assert_eq!(gc.removed, 1);
        assert!(store.get_blob(&kept).is_ok());
        assert!(store.get_blob(&orphan).is_err());
        assert_eq!(store.find(&key.hex()[..6]).unwrap(), vec![key]);
        let v = store.verify().unwrap();
        assert!(v.damaged.is_empty() && v.missing.is_empty());
    }

    #[test]
    fn a_second_open_is_refused_with_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path(), false).unwrap();
        // fs4 locks are per open file description, so a second open in-process conflicts too.
        match Store::open(dir.path(), false) {
            Err(StoreError::Locked { pid, .. }) => assert_eq!(pid, std::process::id().to_string()),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("second open should fail"),
        }
    }

    #[test]
    fn workers_write_beside_a_coordinator_which_takes_their_records_in() {
        let dir = tempfile::tempdir().unwrap();
        let coordinator = Store::open(dir.path(), false).unwrap();
        let worker = Store::open_shared(dir.path()).unwrap();
        assert!(!worker.is_coordinator() && coordinator.is_coordinator());
        let key = Key([3; 32]);
        let mut failed = record(BTreeMap::new());
        failed.status = Status::Failed;
        coordinator.put(&key, &failed).unwrap();
        // A worker finishes the step later: its record replaces the failed one.
        let blob = worker.put_blob(b"features").unwrap();
        let mut outputs = BTreeMap::new();
        outputs.insert("bank".into(), Output::Blob { blob });
        worker.put(&key, &record(outputs)).unwrap();
        assert!(coordinator.is_done(&key).unwrap());
        worker.checkpoint_put(&key, b"epoch 3").unwrap();
        assert_eq!(coordinator.checkpoint_get(&key).unwrap(), b"epoch 3");
        worker.offline_put(&[5; 32], b"mask");
        assert_eq!(coordinator.offline_get(&[5; 32]).unwrap(), b"mask");
        assert_eq!(coordinator.offline_len(), 1);
    }

    #[test]
    fn readers_open_a_held_store_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let coordinator = Store::open(dir.path(), false).unwrap();
        let key = Key([4; 32]);
        coordinator.put(&key, &record(BTreeMap::new())).unwrap();
        let reader = Store::open_read(dir.path()).unwrap();
        assert!(!reader.is_coordinator());
        assert!(reader.is_done(&key).unwrap());
        assert_eq!(reader.records().unwrap().len(), 1);
        assert!(matches!(
            reader.put_blob(b"x"),
            Err(StoreError::ReadOnly { .. })
        ));
        drop((reader, coordinator));
        // Once free, a reader coordinates (and may record what it reads).
        assert!(Store::open_read(dir.path()).unwrap().is_coordinator());
    }

    #[test]
    fn stores_of_the_index_era_move_into_files() {
        let dir = tempfile::tempdir().unwrap();
        let key = Key([6; 32]);
        {
            let db = sled::Config::new()
                .path(dir.path().join("index"))
                .open()
                .unwrap();
            let bytes = serde_json::to_vec(&record(BTreeMap::new())).unwrap();
            db.insert(key.0, bytes).unwrap();
            db.open_tree("offline")
                .unwrap()
                .insert([7u8; 32], &b"mask"[..])
                .unwrap();
            db.flush().unwrap();
        }
        let store = Store::open(dir.path(), false).unwrap();
        assert!(store.record_path(&key).is_file());
        assert_eq!(store.offline_get(&[7; 32]).unwrap(), b"mask");
        drop(store);
        let reader = Store::open_shared(dir.path()).unwrap();
        assert!(reader.is_done(&key).unwrap());
    }
}
