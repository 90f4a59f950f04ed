//! Fixed-size records read one at a time from a binary file, for the
//! CIFAR and STL-10 formats: only the records asked for are read, through
//! one reused buffer, and every error names the file and the byte offset.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::DataError;

/// An open file of `record_len`-byte records, positioned at the first.
pub(super) struct Records {
    path: PathBuf,
    reader: BufReader<File>,
    record_len: usize,
    /// Records in the file, counting an incomplete last one.
    total: usize,
    /// Records that will be read (the limit applied).
    count: usize,
    next: usize,
    buf: Vec<u8>,
}

impl Records {
    /// Opens `path` to read its first `limit` records (all without a limit).
    /// An incomplete record among those is a [`DataError::Format`] at its
    /// offset, reported before anything is read.
    pub(super) fn open(
        path: &Path,
        record_len: usize,
        limit: Option<usize>,
    ) -> Result<Records, DataError> {
        debug_assert!(record_len > 0);
        let file = File::open(path).map_err(|e| DataError::io(path, &e))?;
        let len = file.metadata().map_err(|e| DataError::io(path, &e))?.len();
        let complete = usize::try_from(len / record_len as u64).unwrap_or(usize::MAX);
        let partial = len % record_len as u64;
        let total = complete + usize::from(partial != 0);
        let count = limit.map_or(total, |l| l.min(total));
        if count > complete {
            return Err(DataError::format(
                path,
                complete as u64 * record_len as u64,
                format!(
                    "truncated: record {complete} has only {partial} of its {record_len} bytes"
                ),
            ));
        }
        Ok(Records {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 20, file),
            record_len,
            total,
            count,
            next: 0,
            buf: vec![0; record_len],
        })
    }

    /// The file.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Records in the file, an incomplete last one included.
    pub(super) fn total(&self) -> usize {
        self.total
    }

    /// Records that [`Records::next_record`] will yield.
    pub(super) fn count(&self) -> usize {
        self.count
    }

    /// Byte offset of the record last yielded (of the first before any).
    pub(super) fn offset(&self) -> u64 {
        self.next.saturating_sub(1) as u64 * self.record_len as u64
    }

    /// The next record, or `None` after [`Records::count`] of them.
    pub(super) fn next_record(&mut self) -> Result<Option<&[u8]>, DataError> {
        if self.next == self.count {
            return Ok(None);
        }
        let offset = self.next as u64 * self.record_len as u64;
        self.reader.read_exact(&mut self.buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                DataError::format(&self.path, offset, "file ended inside a record")
            } else {
                DataError::io(&self.path, &e)
            }
        })?;
        self.next += 1;
        Ok(Some(&self.buf))
    }
}
