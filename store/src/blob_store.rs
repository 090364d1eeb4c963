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
//!
//! The trait is synchronous (`std::io::Read`/`Write`): every caller already runs blob I/O
//! on blocking threads (`spawn_blocking` in the server); an S3 backend wraps its
//! client's response bodies in [`BlobReader`]. Errors are [`CasError`]s for every backend.
//!
//! The file-system backend is [`crate::Cas`].

use std::io::{self, Read};
use std::ops::Range;

use formats::digest::Digest;

use crate::cas::{CasError, Expected};

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

#[cfg(test)]
mod tests;
