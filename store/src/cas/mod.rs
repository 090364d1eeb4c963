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
//! # Storage backends
//!
//! [`Cas`] is the file-system backend of [`crate::BlobStore`]: its path-free API
//! ([`Cas::stat`], [`Cas::open_range`], [`Cas::read_bytes`], [`Cas::writer`] and
//! [`BlobWriter::commit`], [`Cas::remove_blob`], [`Cas::iter_digests`]) hands out readers
//! and byte ranges, never paths or `File`s, so an S3-compatible backend (MinIO, Ceph RGW;
//! DESIGN.md §Scale) can sit behind the same trait. The methods that return paths or files
//! ([`Cas::blob_path`], [`Cas::open_blob`], …) are the file-system backend's only, hidden
//! from the docs, and kept until their callers (serve, import, export) move to readers.
//!
//! Files: this module (the store, reads, copies, removal), `writer` ([`BlobWriter`],
//! resumable partials), `tests`.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use formats::digest::{Digest, Hasher};

use crate::blob_store::{BlobReader, BlobStore, LocalBlob};
pub use crate::blob_store::{CasError, Expected};
pub use crate::fsio::{describe_type, open_regular, sync_dir};
pub use crate::layout::names::PARTIAL_PREFIX;
use crate::layout::names::{BLOBS_DIR, TMP_DIR};

mod mapped;
mod writer;
pub use writer::BlobWriter;

/// Copy buffer size for streaming blobs (1 MiB).
const COPY_BUF: usize = 1024 * 1024;

/// A content-addressed blob store rooted at a local directory (see the module docs).
#[derive(Debug, Clone)]
pub struct Cas {
    root: PathBuf,
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
        fs::create_dir_all(root.join(BLOBS_DIR).join("sha256"))?;
        fs::create_dir_all(root.join(TMP_DIR))?;
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

    /// The root directory. File-system backend only.
    #[doc(hidden)]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory holding the blobs, `root/blobs/sha256`. File-system backend only.
    #[doc(hidden)]
    pub fn blobs_dir(&self) -> PathBuf {
        self.root.join(BLOBS_DIR).join("sha256")
    }

    /// The directory holding temp files, `root/tmp`. File-system backend only.
    #[doc(hidden)]
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join(TMP_DIR)
    }

    /// Where the blob `d` lives: `root/blobs/sha256/<hex>` (whether or not it exists).
    /// File-system backend only: use [`Cas::open_range`] or [`Cas::read_bytes`].
    #[doc(hidden)]
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
    /// [`open_regular`]). Returns the open file and its size in bytes. File-system backend
    /// only: use [`Cas::open_range`].
    ///
    /// Errors: [`CasError::Missing`] when absent or not a regular file.
    #[doc(hidden)]
    pub fn open_blob(&self, d: &Digest) -> Result<(File, u64), CasError> {
        let path = self.blob_path(d);
        match open_regular(&path) {
            Ok((f, m)) => Ok((f, m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(CasError::Missing(*d)),
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => Err(CasError::Missing(*d)),
            Err(e) => Err(CasError::Io { path, source: e }),
        }
    }

    /// The size in bytes of blob `d`, `None` when absent (as [`Cas::contains`], with the
    /// error naming the blob's file).
    pub fn stat(&self, d: &Digest) -> Result<Option<u64>, CasError> {
        self.contains(d).map_err(|e| io_err(&self.blob_path(d))(e))
    }

    /// A reader over the bytes `range` (half-open, in bytes) of blob `d`, which must lie
    /// within the blob (`start <= end <= size`; an empty range reads nothing). The file is
    /// opened as [`Cas::open_blob`] does (regular files only); the bytes are not re-hashed
    /// (the writer checked them; `verify` re-hashes the store).
    ///
    /// Errors: [`CasError::Missing`], [`CasError::Range`] (naming the blob's size),
    /// [`CasError::Io`].
    pub fn open_range(&self, d: &Digest, range: Range<u64>) -> Result<BlobReader, CasError> {
        let (mut file, size) = self.open_blob(d)?;
        if range.start > range.end || range.end > size {
            return Err(CasError::Range {
                digest: *d,
                start: range.start,
                end: range.end,
                size,
            });
        }
        if range.start > 0 {
            file.seek(SeekFrom::Start(range.start))
                .map_err(|e| io_err(&self.blob_path(d))(e))?;
        }
        let len = range.end - range.start;
        Ok(BlobReader::new(Box::new(file.take(len)), range, size))
    }

    /// Blob `d` as a [`LocalBlob`] (the file opened as [`Cas::open_blob`] does: regular
    /// files only), for copies the kernel makes; [`BlobStore::local`] of this backend.
    ///
    /// Errors: [`CasError::Missing`], [`CasError::Io`].
    pub fn local(&self, d: &Digest) -> Result<LocalBlob, CasError> {
        let (file, size) = self.open_blob(d)?;
        Ok(LocalBlob::new(file, size))
    }

    /// A reader over the whole of blob `d` (see [`Cas::open_range`]).
    ///
    /// Errors: [`CasError::Missing`], [`CasError::Io`].
    pub fn reader(&self, d: &Digest) -> Result<BlobReader, CasError> {
        let (file, size) = self.open_blob(d)?;
        Ok(BlobReader::new(Box::new(file.take(size)), 0..size, size))
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
        if self.adopt_unsynced(staged, d)? {
            let dir = self.blobs_dir();
            sync_dir(&dir).map_err(io_err(&dir))?;
        }
        Ok(())
    }

    /// [`Cas::adopt`] without the fsync of the blobs directory, for a batch: returns
    /// whether a file was renamed into this store (`false`: it held the blob already and
    /// the staged copy was removed). The caller fsyncs [`Cas::blobs_dir`] once after the
    /// batch (renames into one directory are made durable by one fsync of it) and before
    /// anything refers to the blobs. The staged files' bytes must be durable already
    /// (their writer's [`BlobWriter::commit`], or a sync after
    /// [`BlobWriter::commit_unsynced`]): a rename never makes data durable.
    ///
    /// Errors: [`CasError::Missing`] when `staged` lacks `d`, [`CasError::Io`].
    pub fn adopt_unsynced(&self, staged: &Cas, d: &Digest) -> Result<bool, CasError> {
        let from = staged.blob_path(d);
        let to = self.blob_path(d);
        let staged_size = staged
            .contains(d)
            .map_err(io_err(&from))?
            .ok_or(CasError::Missing(*d))?;
        if self.contains(d).map_err(io_err(&to))? == Some(staged_size) {
            fs::remove_file(&from).map_err(io_err(&from))?;
            return Ok(false);
        }
        fs::rename(&from, &to).map_err(io_err(&to))?;
        Ok(true)
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

/// The file-system backend: each method is the [`Cas`] method of the same name (or
/// [`Cas::remove_blob`], [`Cas::iter_digests`]), with I/O errors naming the file.
impl BlobStore for Cas {
    type Writer = BlobWriter;

    fn stat(&self, d: &Digest) -> Result<Option<u64>, CasError> {
        Cas::stat(self, d)
    }

    fn reader(&self, d: &Digest) -> Result<BlobReader, CasError> {
        Cas::reader(self, d)
    }

    fn open_range(&self, d: &Digest, range: Range<u64>) -> Result<BlobReader, CasError> {
        Cas::open_range(self, d, range)
    }

    fn read_bytes(&self, d: &Digest, max: u64) -> Result<Vec<u8>, CasError> {
        Cas::read_bytes(self, d, max)
    }

    fn writer(&self) -> Result<BlobWriter, CasError> {
        Cas::writer(self).map_err(|e| io_err(&self.tmp_dir())(e))
    }

    fn delete(&self, d: &Digest) -> Result<Option<u64>, CasError> {
        self.remove_blob(d)
            .map_err(|e| io_err(&self.blob_path(d))(e))
    }

    fn list(&self) -> Result<Vec<Digest>, CasError> {
        self.iter_digests()
            .map_err(|e| io_err(&self.blobs_dir())(e))
    }

    fn local(&self, d: &Digest) -> Result<Option<LocalBlob>, CasError> {
        Cas::local(self, d).map(Some)
    }
}

#[cfg(test)]
mod tests;
