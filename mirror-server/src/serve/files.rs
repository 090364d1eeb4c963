//! Blob responses: `ETag`/`If-None-Match`, single byte ranges, `HEAD`, streamed bodies.
//!
//! Implements RFC 9110 §13.1.2 (`If-None-Match`, weak comparison), §13.1.5 (`If-Range`,
//! strong comparison), §14 (`Range: bytes=…`, `206`, `416`, `Content-Range`). Multiple ranges
//! are not supported: such a request gets the whole file with `200`, which §14.2 allows.
//! Bodies are streamed from the CAS file (64 KiB reads); a blob is never read into memory.

use std::io::SeekFrom;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::{AppState, plain};
use crate::live::Entry;

/// Read size for streamed bodies, in bytes.
const STREAM_CHUNK: usize = 64 * 1024;

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

/// Serves the blob of `entry` for a `GET` (or headers only for `HEAD`, `head == true`),
/// honouring `If-None-Match`, `If-Range` and a single `Range`. `extra` headers are added
/// to every response (e.g. `Vary: Accept`).
pub async fn blob_response(
    state: &AppState,
    entry: &Entry,
    content_type: &str,
    head: bool,
    req: &HeaderMap,
    extra: &[(header::HeaderName, HeaderValue)],
) -> Response {
    let etag = etag_of(entry);
    let mut common = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        common.insert(header::ETAG, v);
    }
    common.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    for (k, v) in extra {
        common.insert(k.clone(), v.clone());
    }

    if let Some(inm) = req.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok())
        && if_none_match(inm, &etag)
    {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }

    let (file, size) = match state.cas.open_blob(&entry.digest) {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(digest = %entry.digest, error = %e, "blob unavailable");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "blob missing from the store; re-import the snapshot\n",
            );
        }
    };
    if size != entry.size {
        tracing::error!(digest = %entry.digest, size, expected = entry.size, "blob has the wrong size");
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "blob in the store is damaged; re-import the snapshot\n",
        );
    }

    let range_applies = match req.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        // Strong comparison only; a date or another tag means "send everything".
        Some(tag) => tag.trim() == etag,
        None => true,
    };
    let range = match req.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if range_applies => parse_range(r, size),
        _ => ByteRange::Full,
    };

    let mut headers = common;
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
        return (status, headers, Body::empty()).into_response();
    }
    let mut file = tokio::fs::File::from_std(file);
    if start > 0
        && let Err(e) = file.seek(SeekFrom::Start(start)).await
    {
        tracing::error!(digest = %entry.digest, error = %e, "seek failed");
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot read blob\n");
    }
    state.metrics.add_bytes(len);
    let stream = ReaderStream::with_capacity(file.take(len), STREAM_CHUNK);
    (status, headers, Body::from_stream(stream)).into_response()
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
