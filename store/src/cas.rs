//! Content-addressed blob store (CAS) on a local file system.
//!
//! Layout under the root (the same as the media, see `docs/media-format.md`):
//!
//! ```text
//! <root>/blobs/sha256/<64 lowercase hex>   one file per blob, named by its SHA-256
//! <root>/tmp/                              temp files being written (same file system,
//!                                          so a verified blob is renamed into place)
//! <root>/tmp/.partial-<64 lowercase hex>   a download of that blob in progress, kept
//!                                          across runs so it can resume (see below)
//! ```
//!
//! Every write goes through a [`BlobWriter`]: bytes are hashed while they are written to
//! a temp file, the result is checked against what the caller [`Expected`], the file is
//! fsynced, renamed to its digest name, and the directory is fsynced. A blob file
//! therefore only ever holds bytes whose SHA-256 is its name. A symbolic link or any
//! other non-regular file under `blobs/sha256/` is never treated as a blob.
//!
//! # Resumable downloads
//!
//! [`Cas::resume_writer`] writes to `tmp/.partial-<hex>`, named by the SHA-256 the
//! content is expected to have, and holds an exclusive `flock` on it while open. Dropped
//! without [`BlobWriter::commit`] (a cut connection, a failed run, a `kill -9`), the
//! partial file stays; the next `resume_writer` for that digest re-hashes the bytes
//! already there and continues after them, so a downloader asks only for the rest
//! (`Range: bytes=<len>-`). Nothing partial ever gets a blob name: [`BlobWriter::commit`]
//! checks the whole content as usual, and removes the partial file when it does not match.
//!
//! # Storage drivers
//!
//! [`Cas`] is the local file-system driver. The server only needs [`Cas::contains`],
//! [`Cas::open_blob`] (or [`Cas::blob_path`]) and [`Cas::read_bytes`], so an
//! S3-compatible driver (MinIO, Ceph RGW; DESIGN.md §Scale) can come later behind the
//! same methods; writing (import) stays local and uploads verified blobs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use formats::digest::{Digest, Hasher};

pub use crate::fsio::{describe_type, open_regular, sync_dir};
use sha2::{Digest as _, Sha512};

/// Copy buffer size for streaming blobs (1 MiB).
const COPY_BUF: usize = 1024 * 1024;

/// Source of unique temp-file names within this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A content-addressed blob store rooted at a local directory (see the module docs).
#[derive(Debug, Clone)]
pub struct Cas {
    root: PathBuf,
}

/// What a blob must match when it is committed. Every field is optional; a set field
/// that does not match makes [`BlobWriter::commit`] fail with [`CasError::Mismatch`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// The SHA-256 digest the content must have.
    pub digest: Option<Digest>,
    /// The size in bytes the content must have.
    pub size: Option<u64>,
    /// The SHA-512 the content must have, as hex (compared case-insensitively), e.g. from an
    /// APT `Packages` `SHA512` field. Needs a writer made with [`Cas::writer_with_sha512`]
    /// (or [`Cas::copy_in`], which makes one when this is set).
    pub sha512_hex: Option<String>,
}

impl Expected {
    /// Expects exactly this digest and size.
    pub fn exact(digest: Digest, size: u64) -> Self {
        Expected {
            digest: Some(digest),
            size: Some(size),
            sha512_hex: None,
        }
    }
}

/// Errors of the blob store. Messages name the file and what failed.
#[derive(Debug, thiserror::Error)]
pub enum CasError {
    /// A file-system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The content does not match what was expected; nothing was stored.
    #[error("{what} mismatch: expected {expected}, got {actual}")]
    Mismatch {
        /// `"sha256"`, `"size"` or `"sha512"`.
        what: String,
        /// The expected value (digest string, hex or byte count).
        expected: String,
        /// The value the content actually has.
        actual: String,
    },
    /// A blob is larger than the caller allows for an in-memory read.
    #[error("blob {digest} is {size} bytes, over the {max}-byte limit for this read")]
    TooLarge {
        /// The blob.
        digest: Digest,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        max: u64,
    },
    /// The blob is not in the store (or its file is not a regular file).
    #[error("blob {0} is not in the store")]
    Missing(Digest),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CasError + '_ {
    move |source| CasError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Cas {
    /// Opens (creating if needed) a store rooted at `root`: creates `root/blobs/sha256`
    /// and `root/tmp`.
    pub fn open(root: &Path) -> io::Result<Cas> {
        fs::create_dir_all(root.join("blobs").join("sha256"))?;
        fs::create_dir_all(root.join("tmp"))?;
        Ok(Cas {
            root: root.to_path_buf(),
        })
    }

    /// A handle on a store rooted at `root` without creating anything (for readers such
    /// as the server, which must not modify a store; a missing blob reads as absent).
    pub fn at(root: &Path) -> Cas {
        Cas {
            root: root.to_path_buf(),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory holding the blobs, `root/blobs/sha256`.
    pub fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    /// The directory holding temp files, `root/tmp`.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where the blob `d` lives: `root/blobs/sha256/<hex>` (whether or not it exists).
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs_dir().join(d.hex())
    }

    /// `Some(size in bytes)` if the blob is present as a regular file, `None` if absent.
    /// A symbolic link (or any non-regular file) at the blob's path counts as absent.
    pub fn contains(&self, d: &Digest) -> io::Result<Option<u64>> {
        match fs::symlink_metadata(self.blob_path(d)) {
            Ok(m) if m.file_type().is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens the blob `d` for reading, refusing anything but a regular file (see
    /// [`open_regular`]). Returns the open file and its size in bytes.
    ///
    /// Errors: [`CasError::Missing`] when absent or not a regular file.
    pub fn open_blob(&self, d: &Digest) -> Result<(File, u64), CasError> {
        let path = self.blob_path(d);
        match open_regular(&path) {
            Ok((f, m)) => Ok((f, m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(CasError::Missing(*d)),
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => Err(CasError::Missing(*d)),
            Err(e) => Err(CasError::Io { path, source: e }),
        }
    }

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

    fn new_writer(&self, sha512: bool) -> io::Result<BlobWriter> {
        let tmp = self.tmp_dir();
        loop {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let path = tmp.join(format!(".blob-{}-{n}-{nanos}", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
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

    /// Stores a small in-memory blob (an index, a page, a manifest) and returns its digest.
    /// A blob already present with the same digest and size is left alone (the rule
    /// [`BlobWriter::commit`] applies), so storing unchanged bytes again writes and fsyncs
    /// nothing: a re-sync that regenerates the same pages touches no file.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, CasError> {
        let d = Digest::of(bytes);
        if matches!(self.contains(&d), Ok(Some(n)) if n == bytes.len() as u64) {
            return Ok(d);
        }
        let tmp = self.tmp_dir();
        let mut w = self.writer().map_err(io_err(&tmp))?;
        w.write_all(bytes).map_err(io_err(&tmp))?;
        let (d, _) = w.commit(&Expected::default())?;
        Ok(d)
    }

    /// Reads a whole blob into memory, refusing blobs larger than `max` bytes, and checks
    /// that its SHA-256 is still `d` (bytes handed out are verified bytes).
    ///
    /// Errors: [`CasError::Missing`], [`CasError::TooLarge`], [`CasError::Mismatch`] (the
    /// file was damaged on disk), [`CasError::Io`].
    pub fn read_bytes(&self, d: &Digest, max: u64) -> Result<Vec<u8>, CasError> {
        let (file, size) = self.open_blob(d)?;
        if size > max {
            return Err(CasError::TooLarge {
                digest: *d,
                size,
                max,
            });
        }
        let path = self.blob_path(d);
        let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        // Read at most max+1 bytes so a file that grew after stat cannot exhaust memory.
        file.take(max.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(io_err(&path))?;
        if buf.len() as u64 > max {
            return Err(CasError::TooLarge {
                digest: *d,
                size: buf.len() as u64,
                max,
            });
        }
        let actual = Digest::of(&buf);
        if actual != *d {
            return Err(CasError::Mismatch {
                what: "sha256".into(),
                expected: d.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(buf)
    }

    /// Streams the file `src` into the store, hashing while copying (1 MiB buffer), checks
    /// it against `expected`, fsyncs and renames it into place. Returns the digest and size.
    ///
    /// When `expected.digest` is set and that blob is already present (with the expected
    /// size, if one is given), nothing is copied and the digest and stored size are returned.
    pub fn copy_in(&self, src: &Path, expected: &Expected) -> Result<(Digest, u64), CasError> {
        if let Some(d) = expected.digest {
            let have = self.contains(&d).map_err(io_err(&self.blob_path(&d)))?;
            if let Some(size) = have
                && expected.size.is_none_or(|s| s == size)
            {
                return Ok((d, size));
            }
        }
        let mut input = File::open(src).map_err(io_err(src))?;
        let tmp = self.tmp_dir();
        let mut w = self
            .new_writer(expected.sha512_hex.is_some())
            .map_err(io_err(&tmp))?;
        copy_stream(&mut input, &mut w, src, &tmp)?;
        w.commit(expected)
    }

    /// Moves the blob `d` from another store on the same file system (for example an
    /// import's staging store) into this one with a rename, then fsyncs the blobs
    /// directory. If this store already holds `d` as a regular file of the same size, the
    /// staged copy is removed instead; anything else at the name (a link, a damaged file of
    /// another size) is replaced.
    pub fn adopt(&self, staged: &Cas, d: &Digest) -> Result<(), CasError> {
        let from = staged.blob_path(d);
        let to = self.blob_path(d);
        let staged_size = staged
            .contains(d)
            .map_err(io_err(&from))?
            .ok_or(CasError::Missing(*d))?;
        if self.contains(d).map_err(io_err(&to))? == Some(staged_size) {
            fs::remove_file(&from).map_err(io_err(&from))?;
            return Ok(());
        }
        fs::rename(&from, &to).map_err(io_err(&to))?;
        let dir = self.blobs_dir();
        sync_dir(&dir).map_err(io_err(&dir))
    }

    /// Re-hashes the blob's file and fails with [`CasError::Mismatch`] if its SHA-256 is
    /// no longer `d`.
    pub fn verify_blob(&self, d: &Digest) -> Result<(), CasError> {
        let (actual, _) = self.hash_blob(d, |_| {})?;
        if actual != *d {
            return Err(CasError::Mismatch {
                what: "sha256".into(),
                expected: d.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(())
    }

    /// Streams the blob's file through SHA-256 (1 MiB reads, never the whole file in
    /// memory) and returns the digest its bytes actually have and the number of bytes
    /// read. `progress` is called with the size of each chunk read (for a progress bar).
    /// Unlike [`Cas::verify_blob`] this does not compare: the caller decides what a
    /// difference means.
    ///
    /// Errors: [`CasError::Missing`] when absent or not a regular file, [`CasError::Io`].
    pub fn hash_blob(
        &self,
        d: &Digest,
        mut progress: impl FnMut(u64),
    ) -> Result<(Digest, u64), CasError> {
        let (mut file, _) = self.open_blob(d)?;
        let path = self.blob_path(d);
        let mut h = Hasher::new();
        let mut buf = vec![0u8; COPY_BUF];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CasError::Io { path, source: e }),
            };
            h.update(buf.get(..n).unwrap_or_default());
            progress(n as u64);
        }
        Ok(h.finish())
    }

    /// Deletes the blob `d` if it is present as a regular file and returns its size in
    /// bytes; `Ok(None)` when it was absent (or not a regular file, which is left alone).
    /// Does not fsync the directory; call [`sync_dir`] on [`Cas::blobs_dir`] after a batch.
    pub fn remove_blob(&self, d: &Digest) -> io::Result<Option<u64>> {
        let path = self.blob_path(d);
        let size = match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_file() => m.len(),
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        match fs::remove_file(&path) {
            Ok(()) => Ok(Some(size)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Digests of all blobs present as regular files; other names (not 64 lowercase hex)
    /// and non-regular files are ignored. Unordered.
    pub fn iter_digests(&self) -> io::Result<Vec<Digest>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.blobs_dir())? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Ok(d) = Digest::from_hex(&name) else {
                continue;
            };
            if entry.file_type()?.is_file() {
                out.push(d);
            }
        }
        Ok(out)
    }
}

fn copy_stream(
    input: &mut impl Read,
    w: &mut BlobWriter,
    src: &Path,
    tmp: &Path,
) -> Result<(), CasError> {
    let mut buf = vec![0u8; COPY_BUF];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(src)(e)),
        };
        w.write_all(buf.get(..n).unwrap_or_default())
            .map_err(io_err(tmp))?;
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

    /// The temp file being written.
    pub fn temp_path(&self) -> &Path {
        &self.tmp_path
    }

    /// Flushes and fsyncs the temp file, checks it against `expected` (size, SHA-256,
    /// SHA-512), then renames it to `blobs/sha256/<hex>` and fsyncs that directory. If a
    /// regular file with that name and size already exists, the temp file is removed instead.
    ///
    /// Errors: [`CasError::Mismatch`] (what was expected vs what was written; the temp file
    /// is removed and nothing is stored), [`CasError::Io`].
    pub fn commit(mut self, expected: &Expected) -> Result<(Digest, u64), CasError> {
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
        file.sync_all().map_err(io_err(&tmp))?;
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
        sync_dir(&self.blobs_dir).map_err(io_err(&self.blobs_dir))?;
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

/// Name prefix of a resumable partial download in `root/tmp`: `.partial-<64 hex>`.
pub const PARTIAL_PREFIX: &str = ".partial-";

impl Cas {
    /// Where the resumable partial download of blob `d` lives:
    /// `root/tmp/.partial-<hex>` (whether or not it exists).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Cas) {
        let dir = tempfile::tempdir().unwrap();
        let cas = Cas::open(&dir.path().join("store")).unwrap();
        (dir, cas)
    }

    fn tmp_is_empty(cas: &Cas) -> bool {
        fs::read_dir(cas.tmp_dir()).unwrap().next().is_none()
    }

    #[test]
    fn put_read_contains() {
        let (_d, cas) = store();
        let d = cas.put_bytes(b"hello").unwrap();
        assert_eq!(d, Digest::of(b"hello"));
        assert_eq!(cas.contains(&d).unwrap(), Some(5));
        assert_eq!(cas.read_bytes(&d, 5).unwrap(), b"hello");
        assert!(matches!(
            cas.read_bytes(&d, 4),
            Err(CasError::TooLarge {
                size: 5,
                max: 4,
                ..
            })
        ));
        assert!(
            cas.blob_path(&d)
                .ends_with(format!("blobs/sha256/{}", d.hex()))
        );
        // Putting it again is a no-op: the same file (inode) stays, nothing is rewritten.
        use std::os::unix::fs::MetadataExt;
        let ino = fs::metadata(cas.blob_path(&d)).unwrap().ino();
        assert_eq!(cas.put_bytes(b"hello").unwrap(), d);
        assert_eq!(fs::metadata(cas.blob_path(&d)).unwrap().ino(), ino);
        assert_eq!(cas.iter_digests().unwrap(), vec![d]);
        assert!(tmp_is_empty(&cas));
    }

    #[test]
    fn missing_blob() {
        let (_d, cas) = store();
        let d = Digest::of(b"nope");
        assert_eq!(cas.contains(&d).unwrap(), None);
        assert!(matches!(cas.read_bytes(&d, 10), Err(CasError::Missing(x)) if x == d));
    }

    #[test]
    fn writer_mismatch_removes_temp_and_stores_nothing() {
        let (_d, cas) = store();
        let mut w = cas.writer().unwrap();
        w.write_all(b"abc").unwrap();
        assert_eq!(w.bytes_written(), 3);
        let err = w
            .commit(&Expected::exact(Digest::of(b"abd"), 3))
            .unwrap_err();
        match err {
            CasError::Mismatch {
                what,
                expected,
                actual,
            } => {
                assert_eq!(what, "sha256");
                assert_eq!(expected, Digest::of(b"abd").to_string());
                assert_eq!(actual, Digest::of(b"abc").to_string());
            }
            other => panic!("{other}"),
        }
        let mut w = cas.writer().unwrap();
        w.write_all(b"abc").unwrap();
        let err = w
            .commit(&Expected {
                size: Some(4),
                ..Expected::default()
            })
            .unwrap_err();
        assert!(
            matches!(err, CasError::Mismatch { ref what, .. } if what == "size"),
            "{err}"
        );
        assert!(tmp_is_empty(&cas));
        assert!(cas.iter_digests().unwrap().is_empty());
    }

    #[test]
    fn sha512_is_checked() {
        let (_d, cas) = store();
        let good = hex::encode(Sha512::digest(b"data"));
        let mut w = cas.writer_with_sha512().unwrap();
        w.write_all(b"data").unwrap();
        w.commit(&Expected {
            sha512_hex: Some(good.to_uppercase()),
            ..Expected::default()
        })
        .unwrap();
        let mut w = cas.writer_with_sha512().unwrap();
        w.write_all(b"datb").unwrap();
        let err = w
            .commit(&Expected {
                sha512_hex: Some(good),
                ..Expected::default()
            })
            .unwrap_err();
        assert!(
            matches!(err, CasError::Mismatch { ref what, .. } if what == "sha512"),
            "{err}"
        );
        assert!(tmp_is_empty(&cas));
    }

    #[test]
    fn dropped_writer_removes_temp() {
        let (_d, cas) = store();
        let mut w = cas.writer().unwrap();
        w.write_all(b"partial").unwrap();
        let p = w.temp_path().to_path_buf();
        assert!(p.exists());
        drop(w);
        assert!(!p.exists());
    }

    #[test]
    fn copy_in_and_verify() {
        let (dir, cas) = store();
        let src = dir.path().join("src.bin");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&src, &data).unwrap();
        let want = Digest::of(&data);
        let (d, n) = cas
            .copy_in(&src, &Expected::exact(want, data.len() as u64))
            .unwrap();
        assert_eq!((d, n), (want, data.len() as u64));
        cas.verify_blob(&d).unwrap();
        // Already present: no copy even if the source vanished.
        fs::remove_file(&src).unwrap();
        assert_eq!(
            cas.copy_in(&src, &Expected::exact(want, data.len() as u64))
                .unwrap(),
            (want, data.len() as u64)
        );
        // Damage on disk is detected.
        fs::write(cas.blob_path(&d), b"damaged").unwrap();
        assert!(matches!(
            cas.verify_blob(&d),
            Err(CasError::Mismatch { .. })
        ));
        assert!(matches!(
            cas.read_bytes(&d, u64::MAX),
            Err(CasError::Mismatch { .. })
        ));
    }

    #[test]
    fn hash_and_remove() {
        let (_d, cas) = store();
        let d = cas.put_bytes(b"content").unwrap();
        let mut seen = 0;
        assert_eq!(cas.hash_blob(&d, |n| seen += n).unwrap(), (d, 7));
        assert_eq!(seen, 7);
        fs::write(cas.blob_path(&d), b"changed!").unwrap();
        assert_eq!(
            cas.hash_blob(&d, |_| {}).unwrap(),
            (Digest::of(b"changed!"), 8)
        );
        assert_eq!(cas.remove_blob(&d).unwrap(), Some(8));
        assert_eq!(cas.remove_blob(&d).unwrap(), None);
        assert!(matches!(
            cas.hash_blob(&d, |_| {}),
            Err(CasError::Missing(_))
        ));
    }

    #[test]
    fn symlink_is_not_a_blob() {
        let (dir, cas) = store();
        let target = dir.path().join("target");
        fs::write(&target, b"x").unwrap();
        let d = Digest::of(b"x");
        std::os::unix::fs::symlink(&target, cas.blob_path(&d)).unwrap();
        assert_eq!(cas.contains(&d).unwrap(), None);
        assert!(matches!(cas.open_blob(&d), Err(CasError::Missing(_))));
        assert!(cas.iter_digests().unwrap().is_empty());
        // Committing the real content replaces the link with a regular file.
        assert_eq!(cas.put_bytes(b"x").unwrap(), d);
        assert_eq!(cas.contains(&d).unwrap(), Some(1));
        assert!(
            fs::symlink_metadata(cas.blob_path(&d))
                .unwrap()
                .file_type()
                .is_file()
        );
    }

    #[test]
    fn adopt_moves_from_staging() {
        let (dir, cas) = store();
        let staging = Cas::open(&dir.path().join("store/tmp/import-1")).unwrap();
        let d = staging.put_bytes(b"staged").unwrap();
        assert_eq!(cas.contains(&d).unwrap(), None);
        cas.adopt(&staging, &d).unwrap();
        assert_eq!(cas.contains(&d).unwrap(), Some(6));
        assert_eq!(staging.contains(&d).unwrap(), None);
    }

    #[test]
    fn open_regular_refuses_links_and_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        fs::write(&f, b"1").unwrap();
        let l = dir.path().join("l");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        assert!(open_regular(&f).is_ok());
        assert_eq!(
            open_regular(&l).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            open_regular(dir.path()).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            open_regular(&dir.path().join("none")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn resume_writer_continues_a_kept_partial() {
        let (_d, cas) = store();
        let data = b"hello resumable world";
        let d = Digest::of(data);
        let mut w = cas.resume_writer(&d, true).unwrap();
        assert!(w.is_resumable());
        assert_eq!(w.bytes_written(), 0);
        w.write_all(&data[..8]).unwrap();
        drop(w); // a cut connection or a killed process: the partial stays
        assert_eq!(fs::read(cas.partial_path(&d)).unwrap(), &data[..8]);
        let mut w = cas.resume_writer(&d, true).unwrap();
        assert_eq!(w.bytes_written(), 8, "re-hashed what was on disk");
        w.write_all(&data[8..]).unwrap();
        let sha512 = hex::encode(Sha512::digest(data));
        let got = w
            .commit(&Expected {
                sha512_hex: Some(sha512),
                ..Expected::exact(d, data.len() as u64)
            })
            .unwrap();
        assert_eq!(got, (d, data.len() as u64));
        assert_eq!(cas.read_bytes(&d, 100).unwrap(), data);
        assert!(!cas.partial_path(&d).exists());
        assert!(tmp_is_empty(&cas));
    }

    #[test]
    fn resumed_partial_with_wrong_bytes_is_refused_and_removed() {
        let (_d, cas) = store();
        let data = b"the right content";
        let d = Digest::of(data);
        let mut w = cas.resume_writer(&d, false).unwrap();
        w.write_all(b"THE WRONG").unwrap(); // e.g. damaged by a crash
        drop(w);
        let mut w = cas.resume_writer(&d, false).unwrap();
        w.write_all(&data[9..]).unwrap();
        let err = w
            .commit(&Expected::exact(d, data.len() as u64))
            .unwrap_err();
        assert!(matches!(err, CasError::Mismatch { ref what, .. } if what == "sha256"));
        assert_eq!(cas.contains(&d).unwrap(), None);
        assert!(tmp_is_empty(&cas), "a rejected partial is not resumed");
        assert_eq!(cas.resume_writer(&d, false).unwrap().bytes_written(), 0);
    }

    #[test]
    fn discard_and_remove_partial() {
        let (_d, cas) = store();
        let d = Digest::of(b"x");
        let mut w = cas.resume_writer(&d, false).unwrap();
        w.write_all(b"abc").unwrap();
        w.discard();
        assert!(tmp_is_empty(&cas));
        let mut w = cas.resume_writer(&d, false).unwrap();
        w.write_all(b"abc").unwrap();
        // Held: not removed.
        assert!(!cas.remove_partial(&d).unwrap());
        drop(w);
        assert!(cas.remove_partial(&d).unwrap());
        assert!(!cas.remove_partial(&d).unwrap());
        assert!(tmp_is_empty(&cas));
    }

    #[test]
    fn a_held_partial_is_not_shared() {
        let (_d, cas) = store();
        let d = Digest::of(b"shared");
        let mut first = cas.resume_writer(&d, false).unwrap();
        first.write_all(b"sha").unwrap();
        let mut second = cas.resume_writer(&d, false).unwrap();
        assert!(!second.is_resumable(), "falls back to a private temp file");
        assert_eq!(second.bytes_written(), 0);
        assert_ne!(second.temp_path(), first.temp_path());
        second.write_all(b"shared").unwrap();
        assert_eq!(second.commit(&Expected::exact(d, 6)).unwrap(), (d, 6));
        first.write_all(b"red").unwrap();
        // Already stored by the other writer: the partial is removed.
        assert_eq!(first.commit(&Expected::exact(d, 6)).unwrap(), (d, 6));
        assert!(tmp_is_empty(&cas));
    }

    #[test]
    fn a_link_at_the_partial_name_is_never_followed() {
        let (dir, cas) = store();
        let d = Digest::of(b"linked");
        let target = dir.path().join("outside");
        fs::write(&target, b"keep me").unwrap();
        std::os::unix::fs::symlink(&target, cas.partial_path(&d)).unwrap();
        let mut w = cas.resume_writer(&d, false).unwrap();
        assert!(!w.is_resumable());
        assert_eq!(w.bytes_written(), 0);
        w.write_all(b"linked").unwrap();
        w.commit(&Expected::exact(d, 6)).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"keep me");
        assert!(
            fs::symlink_metadata(cas.partial_path(&d))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
}
