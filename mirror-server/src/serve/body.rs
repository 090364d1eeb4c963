//! Blob responses: `ETag`/`If-None-Match`, single byte ranges, `HEAD`, streamed bodies.
//!
//! Implements RFC 9110 §13.1.2 (`If-None-Match`, weak comparison), §13.1.5 (`If-Range`,
//! strong comparison), §14 (`Range: bytes=…`, `206`, `416`, `Content-Range`). Multiple ranges
//! are not supported: such a request gets the whole file with `200`, which §14.2 allows.
//! Small blobs (≤ [`SMALL_BLOB_MAX`]: index pages, `Packages.gz`, manifests) are served
//! from an in-memory cache whose entries are checked against their digest when loaded;
//! larger ones are streamed from the CAS file in `STREAM_CHUNK`-byte frames by a
//! blocking-pool reader, so memory stays flat and a blob is never read whole.

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::RwLock;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use formats::digest::Digest;
use store::{BlobReader, CasError};

use super::response::plain;
use super::routes::Entry;
use super::state::AppState;

/// What a `Range` header asks of a representation of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// No usable range (absent, malformed, other unit, several ranges): send everything.
    Full,
    /// Bytes `start..=end` (inclusive, `end < size`).
    Partial {
        /// First byte offset.
        start: u64,
        /// Last byte offset, inclusive.
        end: u64,
    },
    /// A well-formed range that selects nothing (`416`).
    Unsatisfiable,
}

/// Parses a `Range` header value against a representation of `size` bytes (RFC 9110 §14.1.2):
/// `bytes=a-b`, `bytes=a-`, `bytes=-n`. Anything else, and any list of several ranges,
/// yields [`ByteRange::Full`] (the header is ignored, as §14.2 allows).
pub fn parse_range(value: &str, size: u64) -> ByteRange {
    let value = value.trim();
    let Some((unit, spec)) = value.split_once('=') else {
        return ByteRange::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return ByteRange::Full;
    }
    let spec = spec.trim();
    if spec.contains(',') {
        return ByteRange::Full;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return ByteRange::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Absurdly long numbers saturate: they are past any end anyway.
        Some(s.parse::<u64>().unwrap_or(u64::MAX))
    };
    match (first.is_empty(), last.is_empty()) {
        (false, _) => {
            let Some(start) = num(first) else {
                return ByteRange::Full;
            };
            let end = if last.is_empty() {
                u64::MAX
            } else {
                match num(last) {
                    Some(e) if e >= start => e,
                    _ => return ByteRange::Full,
                }
            };
            if start >= size {
                return ByteRange::Unsatisfiable;
            }
            ByteRange::Partial {
                start,
                end: end.min(size - 1),
            }
        }
        (true, false) => {
            let Some(n) = num(last) else {
                return ByteRange::Full;
            };
            if n == 0 || size == 0 {
                return ByteRange::Unsatisfiable;
            }
            ByteRange::Partial {
                start: size - n.min(size),
                end: size - 1,
            }
        }
        (true, true) => ByteRange::Full,
    }
}

/// True when an `If-None-Match` value matches `etag` (weak comparison, RFC 9110 §13.1.2):
/// `*`, or any listed entity tag equal to `etag` ignoring a `W/` prefix.
pub fn if_none_match(value: &str, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let want = strip(etag);
    value
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || strip(t) == want)
}

/// The strong entity tag of a blob: `"<sha256 hex>"`.
pub fn etag_of(entry: &Entry) -> String {
    format!("\"{}\"", entry.digest.hex())
}

/// [`etag_of`] as a header value.
fn etag_header(digest: &Digest) -> HeaderValue {
    let mut v = Vec::with_capacity(66);
    v.push(b'"');
    v.extend_from_slice(digest.hex().as_bytes());
    v.push(b'"');
    // Hex digits and quotes are always a valid header value.
    HeaderValue::from_maybe_shared(Bytes::from(v))
        .unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

/// Blobs up to this size (bytes) are served from memory ([`SmallBlobs`]).
pub const SMALL_BLOB_MAX: u64 = 256 * 1024;

/// Upper bound of the memory the small-blob cache holds, in bytes (each entry's bytes, its
/// `ETag` value and a fixed per-entry overhead).
pub const SMALL_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Read size of a streamed (large) body, in bytes: one `pread` and one body frame.
const STREAM_CHUNK: usize = 256 * 1024;

/// The bytes of small blobs (≤ [`SMALL_BLOB_MAX`]), keyed by digest, so that index pages,
/// `Packages.gz`, manifests and `.metadata` files are answered without touching the file
/// system. Filled on first use, after the blob's SHA-256 is checked against its digest
/// (a damaged store file is refused, not cached). At most [`SMALL_CACHE_BYTES`]: when full,
/// arbitrary entries are evicted. Blobs are immutable, so an entry is never stale.
#[derive(Debug, Default)]
pub struct SmallBlobs {
    inner: RwLock<SmallInner>,
}

#[derive(Debug, Default)]
struct SmallInner {
    map: HashMap<Digest, SmallBlob>,
    bytes: usize,
}

/// A cached small blob: its bytes and its `ETag` header value, made once when the blob
/// is loaded, so answering it allocates no header.
#[derive(Debug, Clone)]
pub struct SmallBlob {
    /// The blob's bytes (checked against its digest when loaded).
    pub bytes: Bytes,
    /// `"<sha256 hex>"` ([`etag_of`]) as a header value.
    pub etag: HeaderValue,
}

/// What one cache entry costs beyond its bytes and its `ETag` value: the map slot (digest,
/// two handles) and the allocator's headers, rounded up. Tiny blobs (an index page of a
/// few hundred bytes) are mostly overhead, so the budget counts it.
const SMALL_ENTRY_OVERHEAD: usize = 128;

impl SmallBlob {
    /// Memory this entry holds, in bytes, as charged against [`SMALL_CACHE_BYTES`].
    fn cost(&self) -> usize {
        self.bytes.len() + self.etag.len() + SMALL_ENTRY_OVERHEAD
    }

    /// The cache entry of blob `digest` with content `bytes`.
    pub fn new(digest: &Digest, bytes: Bytes) -> SmallBlob {
        SmallBlob {
            bytes,
            etag: etag_header(digest),
        }
    }
}

impl SmallBlobs {
    /// The cached blob `digest`, if held.
    pub fn get(&self, digest: &Digest) -> Option<SmallBlob> {
        let g = match self.inner.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.map.get(digest).cloned()
    }

    /// Caches `blob` as the content of `digest`, evicting other entries to stay within
    /// [`SMALL_CACHE_BYTES`]. Larger than [`SMALL_BLOB_MAX`]: not cached.
    pub fn insert(&self, digest: Digest, blob: SmallBlob) {
        if blob.bytes.len() as u64 > SMALL_BLOB_MAX {
            return;
        }
        let len = blob.cost();
        let mut g = match self.inner.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        while g.bytes + len > SMALL_CACHE_BYTES {
            let Some(victim) = g.map.keys().next().copied() else {
                break;
            };
            if let Some(old) = g.map.remove(&victim) {
                g.bytes -= old.cost();
            }
        }
        g.bytes += len;
        if let Some(old) = g.map.insert(digest, blob) {
            g.bytes -= old.cost();
        }
    }

    /// Number of cached blobs and the memory charged for them, in bytes.
    pub fn usage(&self) -> (usize, usize) {
        let g = match self.inner.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        (g.map.len(), g.bytes)
    }
}

/// Why a blob cannot be served.
#[derive(Debug, thiserror::Error)]
enum Unservable {
    #[error("blob missing from the store; re-import the snapshot")]
    Missing(#[source] store::CasError),
    #[error("blob in the store is damaged ({0}); re-import the snapshot")]
    Damaged(String),
    #[error("cannot read the blob: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads a small blob whole, checked against its digest ([`store::Cas::read_bytes`]; at
/// most the snapshot's size for it).
fn load_small(cas: &store::Cas, entry: &Entry) -> Result<Bytes, Unservable> {
    Ok(Bytes::from(cas.read_bytes(&entry.digest, entry.size)?))
}

impl From<CasError> for Unservable {
    /// A missing blob, an I/O error, or anything else (a mismatch, a bad range) as damage.
    fn from(e: CasError) -> Self {
        match e {
            e @ CasError::Missing(_) => Unservable::Missing(e),
            CasError::Io { source, .. } => Unservable::Io(source),
            e => Unservable::Damaged(e.to_string()),
        }
    }
}

/// Where a response body comes from.
enum Source {
    /// A small blob, whole, from [`SmallBlobs`].
    Memory(SmallBlob),
    /// A large blob, read from the store per request (its size checked).
    Stored,
}

/// Opens the blob of `entry`: from memory when small (filling the cache), else the file.
async fn open_source(state: &AppState, entry: &Entry) -> Result<Source, Unservable> {
    if entry.size <= SMALL_BLOB_MAX {
        if let Some(b) = state.small.get(&entry.digest) {
            return Ok(Source::Memory(b));
        }
        let cas = state.cas.clone();
        let e = entry.clone();
        let bytes = tokio::task::spawn_blocking(move || load_small(&cas, &e))
            .await
            .map_err(|e| Unservable::Io(std::io::Error::other(e.to_string())))??;
        let blob = SmallBlob::new(&entry.digest, bytes);
        state.small.insert(entry.digest, blob.clone());
        return Ok(Source::Memory(blob));
    }
    let size = state
        .cas
        .stat(&entry.digest)?
        .ok_or(CasError::Missing(entry.digest))?;
    if size != entry.size {
        return Err(Unservable::Damaged(format!(
            "{size} bytes, the snapshot says {}",
            entry.size
        )));
    }
    Ok(Source::Stored)
}

/// Read buffers of streamed bodies kept for reuse, at most [`POOL_KEEP`]: a buffer is
/// filled by `pread`, handed to the connection as a body frame, and comes back here when
/// the frame has been written, so streaming allocates (and zeroes) nothing per frame.
static POOL: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// How many idle read buffers [`POOL`] keeps (× [`STREAM_CHUNK`] bytes of memory).
const POOL_KEEP: usize = 16;

/// A read buffer on loan from [`POOL`]; the first `len` bytes are the frame.
struct Pooled {
    buf: Vec<u8>,
    len: usize,
}

impl Pooled {
    fn take() -> Vec<u8> {
        let mut pool = match POOL.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        pool.pop().unwrap_or_else(|| vec![0; STREAM_CHUNK])
    }
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if buf.len() != STREAM_CHUNK {
            return;
        }
        let mut pool = match POOL.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if pool.len() < POOL_KEEP {
            pool.push(buf);
        }
    }
}

/// A body streaming the bytes of `reader` ([`store::BlobStore::open_range`]): each frame
/// is one read of up to [`STREAM_CHUNK`] bytes into a pooled buffer, run on the blocking
/// pool (the reader moves there and back), so memory stays flat, the async workers never
/// wait on storage, and a slow client holds no thread. A read error or an early end ends
/// the body early (the client sees a short response; the size was checked before the
/// head was sent).
fn reader_body(reader: BlobReader, digest: Digest) -> Body {
    let len = reader.len();
    let frames =
        futures_util::stream::try_unfold((Some(reader), 0u64), move |(reader, sent)| async move {
            let Some(mut reader) = reader.filter(|_| sent < len) else {
                return Ok(None);
            };
            let want = STREAM_CHUNK.min((len - sent) as usize);
            let read = tokio::task::spawn_blocking(move || {
                let mut buf = Pooled::take();
                loop {
                    match reader.read(&mut buf[..want]) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        r => return r.map(|n| (reader, buf, n)),
                    }
                }
            })
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
            match read {
                Ok((_, _, 0)) => {
                    tracing::error!(%digest, offset = sent, "blob ended early");
                    Err(std::io::ErrorKind::UnexpectedEof.into())
                }
                Ok((reader, buf, n)) => Ok(Some((
                    Bytes::from_owner(Pooled { buf, len: n }),
                    (Some(reader), sent + n as u64),
                ))),
                Err(e) => {
                    tracing::error!(%digest, offset = sent, error = %e, "blob read failed");
                    Err(e)
                }
            }
        });
    Body::from_stream(frames)
}

/// Serves the blob of `entry` for a `GET` (or headers only for `HEAD`, `head == true`),
/// honouring `If-None-Match`, `If-Range` and a single `Range`. `extra` headers are added
/// to every response (e.g. `Vary: Accept`). Small blobs come from memory
/// ([`SmallBlobs`], with their `ETag` value made once); large ones are streamed from the
/// file.
pub async fn blob_response(
    state: &AppState,
    entry: &Entry,
    content_type: &str,
    head: bool,
    req: &HeaderMap,
    extra: &[(header::HeaderName, HeaderValue)],
) -> Response {
    let common = |etag: HeaderValue| {
        let mut headers = HeaderMap::with_capacity(8);
        headers.insert(header::ETAG, etag);
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        for (k, v) in extra {
            headers.insert(k.clone(), v.clone());
        }
        headers
    };

    if let Some(inm) = req.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok())
        && if_none_match(inm, &etag_of(entry))
    {
        let headers = common(etag_header(&entry.digest));
        return respond(StatusCode::NOT_MODIFIED, headers, Body::empty());
    }

    let source = match open_source(state, entry).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(digest = %entry.digest, error = %e, "blob unavailable");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"));
        }
    };
    let mut headers = common(match &source {
        Source::Memory(m) => m.etag.clone(),
        Source::Stored => etag_header(&entry.digest),
    });
    let size = entry.size;

    let range = match req.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) => {
            let range_applies = match req.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
                // Strong comparison only; a date or another tag means "send everything".
                Some(tag) => tag.trim() == etag_of(entry),
                None => true,
            };
            if range_applies {
                parse_range(r, size)
            } else {
                ByteRange::Full
            }
        }
        None => ByteRange::Full,
    };

    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    let (status, start, len) = match range {
        ByteRange::Full => (StatusCode::OK, 0, size),
        ByteRange::Partial { start, end } => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        ByteRange::Unsatisfiable => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                headers,
                "range not satisfiable\n",
            )
                .into_response();
        }
    };
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));

    if head {
        return respond(status, headers, Body::empty());
    }
    let body = match source {
        // start + len <= size == bytes.len(): checked when the blob was loaded.
        Source::Memory(m) => Body::from(m.bytes.slice(start as usize..(start + len) as usize)),
        Source::Stored => match state.cas.open_range(&entry.digest, start..start + len) {
            Ok(reader) => reader_body(reader, entry.digest),
            Err(e) => {
                tracing::error!(digest = %entry.digest, error = %e, "blob unavailable");
                return plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"));
            }
        },
    };
    respond(status, headers, body)
}

/// A response of `status` with exactly `headers` (moved in, not merged) and `body`.
fn respond(status: StatusCode, headers: HeaderMap, body: Body) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use ByteRange::*;
        let p = |s, e| Partial { start: s, end: e };
        assert_eq!(parse_range("bytes=0-9", 100), p(0, 9));
        assert_eq!(parse_range("bytes=10-", 100), p(10, 99));
        assert_eq!(parse_range("bytes=-10", 100), p(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), p(0, 99));
        assert_eq!(parse_range("bytes=90-1000", 100), p(90, 99));
        assert_eq!(parse_range("bytes=99-99", 100), p(99, 99));
        assert_eq!(parse_range("Bytes = 1-2", 100), p(1, 2));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=100-200", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=-5", 0), Unsatisfiable);
        assert_eq!(
            parse_range("bytes=99999999999999999999999-", 100),
            Unsatisfiable
        );
        // Ignored: several ranges, other units, malformed, reversed.
        for ignored in [
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=a-b",
            "bytes=5-1",
            "bytes=-",
            "bytes=1",
            "0-1",
            "bytes=+1-2",
        ] {
            assert_eq!(parse_range(ignored, 100), Full, "{ignored}");
        }
    }

    #[test]
    fn etags() {
        let tag = "\"abc\"";
        assert!(if_none_match("\"abc\"", tag));
        assert!(if_none_match("W/\"abc\"", tag));
        assert!(if_none_match("\"x\", \"abc\"", tag));
        assert!(if_none_match("*", tag));
        assert!(!if_none_match("\"abd\"", tag));
        assert!(!if_none_match("abc", tag));
    }
}
