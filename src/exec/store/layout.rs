//! Where things live in a store directory, and the one way files are written
//! there: to a temporary name in `tmp/`, fsynced, then renamed into place, so
//! a reader on any node sees a whole file or none.

use super::{StoreError, io_err};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The sub-folders every store has (created on open).
pub(super) const FOLDERS: [&str; 7] = [
    "blobs",
    "tmp",
    "records",
    "checkpoints",
    "offline",
    "steps",
    "jobs",
];

/// `root/ab/cdef…`: files named by a hex digest, fanned out by its first two digits.
pub(super) fn fanned(root: &Path, hex: &str) -> PathBuf {
    let (a, b) = hex.split_at(2.min(hex.len()));
    root.join(a).join(b)
}

/// This machine's short name, for temporary file names (several nodes write to one store).
pub(super) fn host() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().split('.').next().unwrap_or("").to_string())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or_else(|| "host".into())
}

/// A temporary name unique to this process on this host: `NAME.HOST.PID.N`.
fn tmp_name(dir: &Path, name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    dir.join("tmp")
        .join(format!("{name}.{}.{}.{n}", host(), std::process::id()))
}

/// Whether a file in `tmp/` was left by a process of this host that is gone
/// (files of other hosts, and of live processes, are never touched).
pub(super) fn is_stale_tmp(file_name: &str, this_host: &str) -> bool {
    let mut parts = file_name.rsplitn(4, '.');
    let (_n, pid, host) = (parts.next(), parts.next(), parts.next());
    match (host, pid.and_then(|p| p.parse::<u32>().ok())) {
        (Some(h), Some(pid)) if h == this_host => {
            pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
        }
        _ => false,
    }
}

/// Writes `bytes` to `path` atomically: temporary file, optional fsync, rename,
/// then (with `durable`) an fsync of the folder.
pub(super) fn write_atomic(
    store: &Path,
    path: &Path,
    bytes: &[u8],
    durable: bool,
) -> Result<(), StoreError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = tmp_name(store, &name);
    {
        let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        f.write_all(bytes).map_err(|e| io_err(&tmp, e))?;
        if durable {
            f.sync_all().map_err(|e| io_err(&tmp, e))?;
        }
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(path, e));
    }
    if durable
        && let Some(parent) = path.parent()
        && let Ok(d) = File::open(parent)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Every file two levels below `root` (`root/ab/cdef…`), as (`abcdef…`, path), sorted.
pub(super) fn fanned_files(root: &Path) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let mut out = vec![];
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(root, e)),
    };
    for a in entries.flatten() {
        let Ok(inner) = fs::read_dir(a.path()) else {
            continue;
        };
        for b in inner.flatten() {
            let name = format!(
                "{}{}",
                a.file_name().to_string_lossy(),
                b.file_name().to_string_lossy()
            );
            out.push((name, b.path()));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temporary_files_are_only_those_of_dead_processes_here() {
        let me = std::process::id();
        assert!(!is_stale_tmp(&format!("abc.vm.{me}.0"), "vm"));
        // pid 0 is never a process in /proc: dead.
        assert!(is_stale_tmp("abc.vm.0.3", "vm"));
        assert!(!is_stale_tmp("abc.node7.0.3", "vm"));
        assert!(!is_stale_tmp("garbage", "vm"));
    }

    #[test]
    fn atomic_writes_replace_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let path = fanned(&dir.path().join("records"), "abcdef");
        write_atomic(dir.path(), &path, b"one", true).unwrap();
        write_atomic(dir.path(), &path, b"two", false).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        let files = fanned_files(&dir.path().join("records")).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0, "abcdef");
    }
}
