//! The cache: a sled index of step records plus content-addressed blob files.
//!
//! Layout of a store directory (default `.sslp/` beside the pipeline):
//!
//! ```text
//! LOCK            exclusive lock, holds the owner's pid
//! index/          sled: step key -> Record (JSON); tree `offline`: offline-op results;
//!                 tree `datasets`: per dataset, the file manifest of the last run
//! fingerprints/   per dataset root, the memo of file content hashes (see
//!                 `exec::fingerprint`); written atomically, readable without the lock
//! blobs/ab/cdef…  blob files named by the blake3 of their bytes
//! tmp/            blobs being written
//! ```
//!
//! Invariants: a blob is written to `tmp/`, fsynced and renamed into place
//! before any record refers to it; a record is inserted (and flushed) only
//! after all its blobs exist. A killed process can leave an orphan blob
//! (removed by `gc`) but never a record pointing at a missing or partial blob.
//! Blob reads re-hash the bytes, so damage is reported, not used.

use crate::plan::Key;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

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

/// An open, locked store.
pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    offline: sled::Tree,
    checkpoints: sled::Tree,
    datasets: sled::Tree,
    _lock: File,
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

impl Store {
    /// Opens (creating if needed) the store in `dir`. With `wait`, blocks
    /// until another process releases it; otherwise fails with `Locked`.
    pub fn open(dir: &Path, wait: bool) -> Result<Store, StoreError> {
        for sub in ["blobs", "tmp"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(|e| io_err(&p, e))?;
        }
        let lock_path = dir.join("LOCK");
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| io_err(&lock_path, e))?;
        let acquired = if wait {
            lock.lock().map(|()| true)
        } else {
            match lock.try_lock() {
                Ok(()) => Ok(true),
                Err(std::fs::TryLockError::WouldBlock) => Ok(false),
                Err(std::fs::TryLockError::Error(e)) => Err(e),
            }
        };
        match acquired {
            Ok(true) => {}
            Ok(false) => {
                let mut pid = String::new();
                let _ = lock.read_to_string(&mut pid);
                let pid = pid.trim();
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                    pid: if pid.is_empty() {
                        "?".into()
                    } else {
                        pid.to_string()
                    },
                });
            }
            Err(e) => return Err(io_err(&lock_path, e)),
        }
        lock.set_len(0).map_err(|e| io_err(&lock_path, e))?;
        write!(lock, "{}", std::process::id()).map_err(|e| io_err(&lock_path, e))?;
        let _ = lock.flush();
        let index = dir.join("index");
        let db = sled::Config::new()
            .path(&index)
            .open()
            .map_err(|e| StoreError::Index {
                path: index.clone(),
                message: e.to_string(),
            })?;
        let offline = db.open_tree("offline").map_err(|e| StoreError::Index {
            path: index.clone(),
            message: e.to_string(),
        })?;
        let checkpoints = db.open_tree("checkpoints").map_err(|e| StoreError::Index {
            path: index.clone(),
            message: e.to_string(),
        })?;
        let datasets = db.open_tree("datasets").map_err(|e| StoreError::Index {
            path: index.clone(),
            message: e.to_string(),
        })?;
        // Blobs half-written by a killed run are garbage.
        if let Ok(entries) = fs::read_dir(dir.join("tmp")) {
            for e in entries.flatten() {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            db,
            offline,
            checkpoints,
            datasets,
            _lock: lock,
        })
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn index_err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Index {
            path: self.dir.join("index"),
            message: e.to_string(),
        }
    }

    /// The record of a step, if any.
    pub fn get(&self, key: &Key) -> Result<Option<Record>, StoreError> {
        let Some(bytes) = self.db.get(key.0).map_err(|e| self.index_err(e))? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| self.index_err(format!("record {} is unreadable: {e}", key.short())))
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

    /// Inserts a record and flushes the index. Its blobs must already be written.
    pub fn put(&self, key: &Key, record: &Record) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(record).map_err(|e| self.index_err(e))?;
        self.db
            .insert(key.0, bytes)
            .map_err(|e| self.index_err(e))?;
        self.db.flush().map_err(|e| self.index_err(e))?;
        Ok(())
    }

    /// Every (key, record) in the index, in key order.
    pub fn records(&self) -> Result<Vec<(Key, Record)>, StoreError> {
        let mut out = vec![];
        for item in self.db.iter() {
            let (k, v) = item.map_err(|e| self.index_err(e))?;
            let Ok(key) = <[u8; 32]>::try_from(k.as_ref()) else {
                continue;
            };
            if let Ok(r) = serde_json::from_slice::<Record>(&v) {
                out.push((Key(key), r));
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
        let (a, b) = hash.split_at(2.min(hash.len()));
        self.dir.join("blobs").join(a).join(b)
    }

    /// Writes bytes as a blob (temp file, fsync, rename) and returns its reference.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<BlobRef, StoreError> {
        let hash = blake3::hash(bytes).to_hex().to_string();
        let path = self.blob_path(&hash);
        let blob = BlobRef {
            hash: hash.clone(),
            size: bytes.len() as u64,
        };
        if path.is_file() && fs::metadata(&path).map(|m| m.len()).ok() == Some(blob.size) {
            return Ok(blob);
        }
        let tmp = self
            .dir
            .join("tmp")
            .join(format!("{hash}.{}", std::process::id()));
        {
            let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
            f.write_all(bytes).map_err(|e| io_err(&tmp, e))?;
            f.sync_all().map_err(|e| io_err(&tmp, e))?;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
        }
        fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
        if let Some(parent) = path.parent()
            && let Ok(d) = File::open(parent)
        {
            let _ = d.sync_all();
        }
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

    /// The memo folder of dataset file hashes (`exec::fingerprint`).
    pub fn fingerprint_dir(&self) -> PathBuf {
        self.dir.join("fingerprints")
    }

    /// The file manifest the last run recorded for a dataset identity
    /// (`exec::fingerprint::Manifest`, encoded).
    pub fn dataset_manifest(&self, identity: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        self.datasets
            .get(identity.0)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| self.index_err(e))
    }

    /// Records a dataset identity's file manifest, flushed at once.
    pub fn put_dataset_manifest(&self, identity: &Key, manifest: &[u8]) -> Result<(), StoreError> {
        self.datasets
            .insert(identity.0, manifest)
            .map_err(|e| self.index_err(e))?;
        self.datasets.flush().map_err(|e| self.index_err(e))?;
        Ok(())
    }

    /// An offline-op result by its key.
    pub fn offline_get(&self, key: &[u8; 32]) -> Option<Vec<u8>> {
        self.offline.get(key).ok().flatten().map(|v| v.to_vec())
    }

    /// Stores an offline-op result (flushed with the next record).
    pub fn offline_put(&self, key: &[u8; 32], value: &[u8]) {
        let _ = self.offline.insert(key, value);
    }

    /// The offline-results tree, for the augmentation library's offline cache.
    pub fn offline_tree(&self) -> sled::Tree {
        self.offline.clone()
    }

    /// Number of offline-op results.
    pub fn offline_len(&self) -> usize {
        self.offline.len()
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
        let bytes = self.checkpoints.get(key.0).ok().flatten()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Replaces a step's checkpoint; durable when it returns.
    pub fn checkpoint_put(&self, key: &Key, bytes: &[u8]) -> Result<(), StoreError> {
        let blob = self.put_blob(bytes)?;
        let json = serde_json::to_vec(&blob).map_err(|e| self.index_err(e))?;
        self.checkpoints
            .insert(key.0, json)
            .map_err(|e| self.index_err(e))?;
        self.checkpoints.flush().map_err(|e| self.index_err(e))?;
        Ok(())
    }

    /// Forgets a step's checkpoint (its blob goes at the next `gc`).
    pub fn checkpoint_clear(&self, key: &Key) {
        let _ = self.checkpoints.remove(key.0);
        let _ = self.checkpoints.flush();
    }

    /// Removes blob files that no record refers to, and stale temp files.
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        let mut referenced: BTreeSet<String> = self
            .records()?
            .iter()
            .flat_map(|(_, r)| r.blobs().map(|b| b.hash.clone()))
            .collect();
        // Checkpoints of unfinished training runs stay: a rerun resumes from them.
        for entry in self.checkpoints.iter().flatten() {
            if let Ok(blob) = serde_json::from_slice::<BlobRef>(&entry.1) {
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
        let root = self.dir.join("blobs");
        let mut out = vec![];
        for a in fs::read_dir(&root).map_err(|e| io_err(&root, e))?.flatten() {
            let Ok(inner) = fs::read_dir(a.path()) else {
                continue;
            };
            for b in inner.flatten() {
                let hash = format!(
                    "{}{}",
                    a.file_name().to_string_lossy(),
                    b.file_name().to_string_lossy()
                );
                out.push((hash, b.path()));
            }
        }
        out.sort();
        Ok(out)
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
}
