//! Writing blobs: [`BlobWriter`] (hash while writing to a temp file, check, fsync, rename,
//! fsync the directory) and resumable partial downloads ([`Cas::resume_writer`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use formats::digest::{Digest, Hasher};
use sha2::{Digest as _, Sha512};

use super::{COPY_BUF, Cas, CasError, Expected, io_err, sync_dir};
use crate::blob_store::LocalBlob;
use crate::layout::names::{BLOB_TEMP_PREFIX, PARTIAL_PREFIX};

/// Source of unique temp-file names within this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Cas {
    /// A writer to a new temp file in `root/tmp` that hashes (SHA-256) and counts while
    /// writing. Finish with [`BlobWriter::commit`]; dropping it removes the temp file.
    pub fn writer(&self) -> io::Result<BlobWriter> {
        self.new_writer(false)
    }

    /// Like [`Cas::writer`], also computing SHA-512 so that [`Expected::sha512_hex`] can
    /// be checked.
    pub fn writer_with_sha512(&self) -> io::Result<BlobWriter> {
        self.new_writer(true)
    }

    pub(super) fn new_writer(&self, sha512: bool) -> io::Result<BlobWriter> {
        let tmp = self.tmp_dir();
        loop {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let path = tmp.join(format!(
                "{BLOB_TEMP_PREFIX}{}-{n}-{nanos}",
                std::process::id()
            ));
            // Readable too: [`BlobWriter::append_from`] hashes through a mapping of it.
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(file) => {
                    return Ok(BlobWriter {
                        file: Some(file),
                        tmp_path: path,
                        blobs_dir: self.blobs_dir(),
                        hasher: Hasher::new(),
                        sha512: sha512.then(Sha512::new),
                        done: false,
                        keep: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// A blob being written: a temp file in the store's `tmp/` that hashes and counts while
/// written. [`BlobWriter::commit`] verifies and renames it into place; dropping it without
/// committing removes the temp file.
pub struct BlobWriter {
    file: Option<File>,
    tmp_path: PathBuf,
    blobs_dir: PathBuf,
    hasher: Hasher,
    sha512: Option<Sha512>,
    done: bool,
    /// A resumable partial ([`Cas::resume_writer`]): dropping keeps the file.
    keep: bool,
}

impl std::fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobWriter")
            .field("tmp_path", &self.tmp_path)
            .field("bytes_written", &self.hasher.len())
            .finish_non_exhaustive()
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already finished"))?;
        let n = file.write(buf)?;
        let written = buf.get(..n).unwrap_or_default();
        self.hasher.update(written);
        if let Some(h) = self.sha512.as_mut() {
            h.update(written);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.hasher.len()
    }

    /// Appends bytes `range` (half-open, byte offsets) of `src` to the blob: the kernel
    /// copies them into the temp file ([`LocalBlob::copy_to`]: `copy_file_range(2)`,
    /// `sendfile(2)`, else reads and writes), then they are hashed as they now stand in
    /// the temp file, read in place through a read-only mapping of it. So the bytes pass
    /// through no user-space buffer (one memory copy in all, where reading and writing
    /// make two), and the digest [`BlobWriter::commit`] checks covers the bytes the store
    /// holds. For large blobs; callers split a long copy into ranges of a few MiB, so
    /// the pages hashed are still in the page cache and progress can be shown.
    ///
    /// Errors: `src` ends before `range.end` ([`io::ErrorKind::UnexpectedEof`]), a read
    /// or write fails (a full store: `StorageFull`), the mapping fails.
    pub fn append_from(&mut self, src: &LocalBlob, range: Range<u64>) -> io::Result<u64> {
        let file = self
            .file
            .as_ref()
            .ok_or_else(|| io::Error::other("blob writer already finished"))?;
        let at = self.hasher.len();
        let n = src.copy_to(range, file)?;
        let (hasher, sha512) = (&mut self.hasher, &mut self.sha512);
        super::mapped::with_range(file, at, n, |bytes| {
            hasher.update(bytes);
            if let Some(h) = sha512.as_mut() {
                h.update(bytes);
            }
        })?;
        Ok(n)
    }

    /// The temp file being written. File-system backend only.
    #[doc(hidden)]
    pub fn temp_path(&self) -> &Path {
        &self.tmp_path
    }

    /// Flushes and fsyncs the temp file, checks it against `expected` (size, SHA-256,
    /// SHA-512), then renames it to `blobs/sha256/<hex>` and fsyncs that directory. If a
    /// regular file with that name and size already exists, the temp file is removed instead.
    ///
    /// Errors: [`CasError::Mismatch`] (what was expected vs what was written; the temp file
    /// is removed and nothing is stored), [`CasError::Io`].
    pub fn commit(self, expected: &Expected) -> Result<(Digest, u64), CasError> {
        self.finish(expected, true)
    }

    /// Like [`BlobWriter::commit`] (the same checks, the same atomic rename to
    /// `blobs/sha256/<hex>`), but without the fsync of the file and of the directory: the
    /// blob is published in the file system's namespace while its bytes may still sit in
    /// the page cache. For batches (an import stages hundreds or 100,000 blobs) whose
    /// writer makes the whole batch durable at once afterwards, with one
    /// [`crate::fsio::sync_filesystem`] of the store's file system, before anything
    /// refers to the blobs. A process that dies (`kill -9`) loses nothing; after a power
    /// loss before that sync, a blob file may be empty, short or hold zeros, so the caller
    /// must not trust such a batch without that sync (or re-hash it).
    ///
    /// Errors: as [`BlobWriter::commit`].
    pub fn commit_unsynced(self, expected: &Expected) -> Result<(Digest, u64), CasError> {
        self.finish(expected, false)
    }

    /// [`BlobWriter::commit`] (`durable`) or [`BlobWriter::commit_unsynced`].
    fn finish(mut self, expected: &Expected, durable: bool) -> Result<(Digest, u64), CasError> {
        // Whatever happens now, a partial file is either renamed into place or removed:
        // content that failed its check must not be resumed.
        self.keep = false;
        // The file stays open (and a partial's lock held) until the end: Drop unlinks a
        // rejected temp file before closing it, and the rename below happens under the lock.
        let tmp = self.tmp_path.clone();
        let file = self.file.as_mut().ok_or_else(|| CasError::Io {
            path: tmp.clone(),
            source: io::Error::other("blob writer already finished"),
        })?;
        file.flush().map_err(io_err(&tmp))?;
        if durable {
            file.sync_all().map_err(io_err(&tmp))?;
        }
        let hasher = std::mem::take(&mut self.hasher);
        let (digest, size) = hasher.finish();
        if let Some(want) = expected.size
            && want != size
        {
            return Err(CasError::Mismatch {
                what: "size".into(),
                expected: want.to_string(),
                actual: size.to_string(),
            });
        }
        if let Some(want) = expected.digest
            && want != digest
        {
            return Err(CasError::Mismatch {
                what: "sha256".into(),
                expected: want.to_string(),
                actual: digest.to_string(),
            });
        }
        if let Some(want) = &expected.sha512_hex {
            let actual = match self.sha512.take() {
                Some(h) => hex::encode(h.finalize()),
                None => {
                    return Err(CasError::Mismatch {
                        what: "sha512".into(),
                        expected: want.clone(),
                        actual: "not computed (use Cas::writer_with_sha512)".into(),
                    });
                }
            };
            if !want.eq_ignore_ascii_case(&actual) {
                return Err(CasError::Mismatch {
                    what: "sha512".into(),
                    expected: want.to_ascii_lowercase(),
                    actual,
                });
            }
        }
        let dest = self.blobs_dir.join(digest.hex());
        match fs::symlink_metadata(&dest) {
            Ok(m) if m.file_type().is_file() && m.len() == size => {
                // Already stored; Drop removes the temp file.
                return Ok((digest, size));
            }
            _ => {}
        }
        if !self.same_file_at_path() {
            return Err(CasError::Io {
                path: tmp,
                source: io::Error::other(
                    "the partial file was replaced while being written; not storing it",
                ),
            });
        }
        fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
        self.done = true;
        if durable {
            sync_dir(&self.blobs_dir).map_err(io_err(&self.blobs_dir))?;
        }
        Ok((digest, size))
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.done && !self.keep {
            // Unlink first, then close: a partial's lock is held until it is gone.
            let _ = fs::remove_file(&self.tmp_path);
            self.file.take();
        }
    }
}

impl Cas {
    /// Where the resumable partial download of blob `d` lives:
    /// `root/tmp/.partial-<hex>` (whether or not it exists). File-system backend only.
    #[doc(hidden)]
    pub fn partial_path(&self, d: &Digest) -> PathBuf {
        self.tmp_dir().join(format!("{PARTIAL_PREFIX}{}", d.hex()))
    }

    /// A writer for blob `d` that resumes a partial download kept from an earlier writer
    /// (this run or a previous, interrupted one): it opens or creates
    /// [`Cas::partial_path`], takes an exclusive lock on it, re-hashes the bytes already
    /// there (SHA-256, and SHA-512 when `sha512`; 1 MiB reads, never the whole file in
    /// memory) and appends after them. [`BlobWriter::bytes_written`] is then the length
    /// already on disk: ask the upstream for the rest only.
    ///
    /// Dropping the writer keeps the partial file for the next attempt; call
    /// [`BlobWriter::discard`] to throw it away (content that must restart from byte 0).
    /// [`BlobWriter::commit`] verifies the whole content against `expected` as for any
    /// writer, and removes the partial file when it does not match.
    ///
    /// When another writer (another process, or another download of the same digest in
    /// this one) holds the partial file, this falls back to an ordinary temp file (as
    /// [`Cas::writer`]), starting from byte 0.
    ///
    /// Errors: the partial file cannot be created, read or locked for a reason other
    /// than contention.
    pub fn resume_writer(&self, d: &Digest, sha512: bool) -> io::Result<BlobWriter> {
        let path = self.partial_path(d);
        // Never open through anything but a regular file (a link planted in tmp/).
        match fs::symlink_metadata(&path) {
            Ok(m) if !m.file_type().is_file() => return self.new_writer(sha512),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return self.new_writer(sha512),
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        // Locked: the file must still be the one at the name (not one unlinked by its
        // holder between our open and our lock, and not a link's target).
        if !same_inode(&file, &path) {
            return self.new_writer(sha512);
        }
        let mut hasher = Hasher::new();
        let mut sha = sha512.then(Sha512::new);
        let mut buf = vec![0u8; COPY_BUF];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let chunk = buf.get(..n).unwrap_or_default();
            hasher.update(chunk);
            if let Some(h) = sha.as_mut() {
                h.update(chunk);
            }
        }
        // The read left the position at the end: writes append to what was re-hashed.
        Ok(BlobWriter {
            file: Some(file),
            tmp_path: path,
            blobs_dir: self.blobs_dir(),
            hasher,
            sha512: sha,
            done: false,
            keep: true,
        })
    }

    /// Removes the partial download of blob `d` (for example once the blob is in the
    /// store by other means). Returns whether a file was removed; a partial that another
    /// writer holds is left alone (`Ok(false)`).
    pub fn remove_partial(&self, d: &Digest) -> io::Result<bool> {
        let path = self.partial_path(d);
        let file = match OpenOptions::new().write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(false),
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Whether `file` is the regular file at `path` (same device and inode, `path` not a link).
fn same_inode(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => b.file_type().is_file() && a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

impl BlobWriter {
    /// Whether the temp file is still the open file (nobody replaced the name).
    fn same_file_at_path(&self) -> bool {
        self.file
            .as_ref()
            .is_some_and(|f| same_inode(f, &self.tmp_path))
    }

    /// Whether dropping this writer keeps its file for a later resume (a writer from
    /// [`Cas::resume_writer`] that got the partial file).
    pub fn is_resumable(&self) -> bool {
        self.keep
    }

    /// Throws the written bytes away now, removing the temp file even when it is a
    /// resumable partial (the next [`Cas::resume_writer`] starts from byte 0).
    pub fn discard(mut self) {
        self.keep = false;
        // Drop closes and removes the file.
    }
}

impl crate::blob_store::BlobWrite for BlobWriter {
    fn bytes_written(&self) -> u64 {
        BlobWriter::bytes_written(self)
    }

    fn commit(self, expected: &Expected) -> Result<(Digest, u64), CasError> {
        BlobWriter::commit(self, expected)
    }
}
