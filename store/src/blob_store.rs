//! [`BlobStore`]: where a store's blobs live, behind one trait.
//!
//! A blob is named by the SHA-256 of its bytes ([`Digest`]) and never changes. The trait
//! is what the server and the importer need from the storage, and nothing that only a
//! file system has: no paths and no `File`s cross it.
//!
//! - **Read**: [`BlobStore::stat`] (size), [`BlobStore::reader`] (the whole blob),
//!   [`BlobStore::open_range`] (a byte range, for HTTP `Range` requests and resumed
//!   copies; an S3 backend maps it to a ranged `GetObject`), [`BlobStore::read_bytes`] (a
//!   small blob whole, re-hashed).
//! - **Write**: [`BlobStore::writer`] streams bytes while hashing them; only
//!   [`BlobWrite::commit`] publishes the blob, atomically and only when the content matches
//!   the [`Expected`] digest and size. A writer dropped before its commit (a failed copy, a
//!   crash) leaves nothing visible under the blob's name. An S3 backend writes a
//!   multipart upload to a temporary key and publishes with a copy to the digest key.
//! - **Manage**: [`BlobStore::delete`], [`BlobStore::list`].
//! - **Capability** (optional, with a default for backends without it):
//!   [`BlobStore::local`], the blob as a local file ([`LocalBlob`]) whose bytes the kernel
//!   copies into another file (`copy_file_range(2)`, `sendfile(2)`); export uses it for
//!   bytes it has hashed, and falls back to [`BlobStore::open_range`] when it is `None`.
//!
//! The trait is synchronous (`std::io::Read`/`Write`): every caller already runs blob I/O
//! on blocking threads (`spawn_blocking` in the server); an S3 backend wraps its
//! client's response bodies in [`BlobReader`]. Errors are [`CasError`]s for every backend.
//!
//! The file-system backend is [`crate::Cas`].

use std::io::{self, Read};
use std::ops::Range;
use std::path::PathBuf;

use formats::digest::Digest;

mod local;
pub use local::LocalBlob;

/// What a blob must match when it is committed. Every field is optional; a set field
/// that does not match makes [`crate::cas::BlobWriter::commit`] fail with [`CasError::Mismatch`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// The SHA-256 digest the content must have.
    pub digest: Option<Digest>,
    /// The size in bytes the content must have.
    pub size: Option<u64>,
    /// The SHA-512 the content must have, as hex (compared case-insensitively), e.g. from an
    /// APT `Packages` `SHA512` field. Needs a writer made with [`crate::cas::Cas::writer_with_sha512`]
    /// (or [`crate::cas::Cas::copy_in`], which makes one when this is set).
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

/// Errors of a blob store, whatever its backend (the name is the file-system backend's,
/// [`crate::cas::Cas`], the first). Messages name the file or object and what failed.
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
    /// A byte range that is not within the blob (`start <= end <= size` is required).
    #[error("bytes {start}..{end} are not within blob {digest} of {size} bytes")]
    Range {
        /// The blob.
        digest: Digest,
        /// First byte asked for.
        start: u64,
        /// One past the last byte asked for.
        end: u64,
        /// The blob's size in bytes.
        size: u64,
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

/// Where blobs are kept (see the module docs). Implemented by [`crate::Cas`] (a local
/// directory laid out like the media).
pub trait BlobStore: Send + Sync {
    /// A blob being written (see [`BlobWrite`]).
    type Writer: BlobWrite;

    /// The size in bytes of blob `d`, `None` when the store does not hold it.
    ///
    /// Errors: [`CasError::Io`] when the storage cannot be asked.
    fn stat(&self, d: &Digest) -> Result<Option<u64>, CasError>;

    /// Whether the store holds blob `d`.
    ///
    /// Errors: as [`BlobStore::stat`].
    fn exists(&self, d: &Digest) -> Result<bool, CasError> {
        Ok(self.stat(d)?.is_some())
    }

    /// A reader over the whole of blob `d`. The bytes are not re-hashed on the way
    /// (they were checked when written); use [`BlobStore::read_bytes`] for checked bytes.
    ///
    /// Errors: [`CasError::Missing`], [`CasError::Io`].
    fn reader(&self, d: &Digest) -> Result<BlobReader, CasError>;

    /// A reader over bytes `range` (half-open, byte offsets) of blob `d`; the range must
    /// lie within the blob (`start <= end <= size`), an empty one reads nothing.
    ///
    /// Errors: [`CasError::Missing`], [`CasError::Range`], [`CasError::Io`].
    fn open_range(&self, d: &Digest, range: Range<u64>) -> Result<BlobReader, CasError>;

    /// Blob `d` whole in memory, refused when over `max` bytes, and re-hashed: the bytes
    /// returned have SHA-256 `d`.
    ///
    /// Errors: [`CasError::Missing`], [`CasError::TooLarge`], [`CasError::Mismatch`] (the
    /// stored bytes were damaged), [`CasError::Io`].
    fn read_bytes(&self, d: &Digest, max: u64) -> Result<Vec<u8>, CasError>;

    /// A new writer. Nothing is visible until [`BlobWrite::commit`].
    ///
    /// Errors: [`CasError::Io`] when the temporary object cannot be made.
    fn writer(&self) -> Result<Self::Writer, CasError>;

    /// Deletes blob `d`; returns its size, `None` when it was absent.
    ///
    /// Errors: [`CasError::Io`].
    fn delete(&self, d: &Digest) -> Result<Option<u64>, CasError>;

    /// The digests of all blobs held, unordered.
    ///
    /// Errors: [`CasError::Io`].
    fn list(&self) -> Result<Vec<Digest>, CasError>;

    /// Capability: blob `d` as a local file ([`LocalBlob`]: positioned reads, copies made
    /// by the kernel), when this backend keeps blobs in local files. `Ok(None)` when it
    /// does not (the default, e.g. object storage): read through
    /// [`BlobStore::open_range`] instead. The bytes are not re-hashed.
    ///
    /// Errors: [`CasError::Missing`], [`CasError::Io`].
    fn local(&self, d: &Digest) -> Result<Option<LocalBlob>, CasError> {
        let _ = d;
        Ok(None)
    }
}

/// A blob being written: hashes (SHA-256) and counts the bytes as they are written.
pub trait BlobWrite: io::Write + Send {
    /// Bytes written so far.
    fn bytes_written(&self) -> u64;

    /// Checks the content against `expected` (digest, size, SHA-512 where the writer
    /// computes it) and publishes the blob under its digest atomically: readers see the
    /// whole blob or nothing. A blob already held under that digest is left as it is.
    /// Returns the digest and the size in bytes.
    ///
    /// Errors: [`CasError::Mismatch`] (nothing is published and the written bytes are
    /// thrown away), [`CasError::Io`].
    fn commit(self, expected: &Expected) -> Result<(Digest, u64), CasError>;
}

/// Bytes of one blob, as [`BlobStore::reader`] or [`BlobStore::open_range`] hand them
/// out: a reader that yields exactly [`BlobReader::len`] bytes (fewer only when the
/// storage fails or the blob was damaged underneath), with the range and the blob's size
/// for `Content-Range`.
pub struct BlobReader {
    inner: Box<dyn Read + Send>,
    range: Range<u64>,
    size: u64,
}

impl BlobReader {
    /// Wraps a backend's reader of bytes `range` of a blob of `size` bytes.
    pub fn new(inner: Box<dyn Read + Send>, range: Range<u64>, size: u64) -> BlobReader {
        BlobReader { inner, range, size }
    }

    /// The byte range of the blob this reader yields (half-open).
    pub fn range(&self) -> Range<u64> {
        self.range.clone()
    }

    /// The number of bytes this reader yields.
    pub fn len(&self) -> u64 {
        self.range.end.saturating_sub(self.range.start)
    }

    /// Whether the reader yields no bytes (an empty range).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The size in bytes of the whole blob.
    pub fn blob_size(&self) -> u64 {
        self.size
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("range", &self.range)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// A blob as `Read + Seek`, for formats read out of order (a wheel's zip central
/// directory at its end, then one member). Reads go through [`BlobStore::open_range`]
/// from the current position to the blob's end; a seek that moves drops that reader and
/// the next read opens a new range there (a ranged `GetObject` on object storage). Wrap it
/// in a `BufReader` so that short relative seeks stay within the buffer.
///
/// Errors (as `io::Error`): a missing blob is [`io::ErrorKind::NotFound`], a seek before
/// the start [`io::ErrorKind::InvalidInput`], any other [`CasError`] is carried as
/// [`io::ErrorKind::Other`] with its message.
pub struct SeekableBlob<'a, S: BlobStore> {
    store: &'a S,
    digest: Digest,
    size: u64,
    pos: u64,
    reader: Option<BlobReader>,
}

impl<'a, S: BlobStore> SeekableBlob<'a, S> {
    /// Blob `digest` of `store`, positioned at its start.
    ///
    /// Errors: [`CasError::Missing`] when the store does not hold it, [`CasError::Io`].
    pub fn open(store: &'a S, digest: &Digest) -> Result<Self, CasError> {
        let size = store.stat(digest)?.ok_or(CasError::Missing(*digest))?;
        Ok(SeekableBlob {
            store,
            digest: *digest,
            size,
            pos: 0,
            reader: None,
        })
    }

    /// The blob's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
}

fn cas_to_io(e: CasError) -> io::Error {
    match e {
        CasError::Missing(_) => io::Error::new(io::ErrorKind::NotFound, e.to_string()),
        CasError::Io { source, .. } => source,
        e => io::Error::other(e.to_string()),
    }
}

impl<S: BlobStore> Read for SeekableBlob<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.size || buf.is_empty() {
            return Ok(0);
        }
        if self.reader.is_none() {
            let r = self
                .store
                .open_range(&self.digest, self.pos..self.size)
                .map_err(cas_to_io)?;
            self.reader = Some(r);
        }
        let Some(r) = self.reader.as_mut() else {
            return Ok(0);
        };
        let n = r.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<S: BlobStore> io::Seek for SeekableBlob<'_, S> {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let target = match to {
            io::SeekFrom::Start(n) => Some(n),
            io::SeekFrom::End(d) => self.size.checked_add_signed(d),
            io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let Some(target) = target else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("seek before the start of blob {}", self.digest),
            ));
        };
        if target != self.pos {
            self.reader = None;
            self.pos = target;
        }
        Ok(self.pos)
    }
}

impl<S: BlobStore> std::fmt::Debug for SeekableBlob<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeekableBlob")
            .field("digest", &self.digest)
            .field("size", &self.size)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
