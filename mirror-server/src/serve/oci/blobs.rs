//! `GET`/`HEAD /v2/<name>/blobs/<digest>` (distribution-spec §Pulling blobs).
//!
//! Streams the blob from the CAS with `Docker-Content-Digest`, `ETag`, and single byte
//! ranges (`Range: bytes=a-b | a- | -n` → `206` with `Content-Range`, `416` with
//! `Content-Range: bytes */size` when unsatisfiable; RFC 9110 §14, via
//! [`crate::serve::body::blob_response`]). `Content-Type` is `application/octet-stream`,
//! as CNCF distribution sends for every blob. A manifest of the same repository is also
//! served here by digest (all content is one blob store in the spec's model).

use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use formats::oci::parse_digest;

use super::errors::{ErrorCode, OciFailure, digest_failure};
use super::{CONTENT_DIGEST_HEADER, Query, require_repository, resolve_name};
use crate::serve::body;
use crate::serve::routes::Live;
use crate::serve::state::AppState;

/// `Content-Type` of every blob response.
pub const BLOB_CONTENT_TYPE: &str = "application/octet-stream";

/// The handler. Errors: `400 NAME_INVALID` / `400 DIGEST_INVALID` (grammar, checked
/// first), `404 NAME_UNKNOWN` (no such repository), `404 BLOB_UNKNOWN` (no such blob in it).
pub async fn get(
    state: &AppState,
    live: &Live,
    name: &str,
    reference: &str,
    query: &Query,
    head: bool,
    req: &HeaderMap,
) -> Result<Response, OciFailure> {
    let repository = resolve_name(name, query.ns.as_deref(), &live.oci)?;
    let digest = parse_digest(reference).map_err(|e| digest_failure(&e))?;
    let entry = live
        .get(&format!("v2/{repository}/blobs/{digest}"))
        .or_else(|| live.get(&format!("v2/{repository}/manifests/{digest}")));
    let Some(entry) = entry else {
        require_repository(live, &repository)?;
        return Err(OciFailure::new(
            ErrorCode::BlobUnknown,
            format!("blob {digest} is not in repository {repository:?} of the live snapshot"),
        )
        .detail(serde_json::json!({ "name": repository, "digest": digest.to_string() })));
    };
    let mut extra = Vec::new();
    if let Ok(v) = HeaderValue::from_str(&digest.to_string()) {
        extra.push((CONTENT_DIGEST_HEADER, v));
    }
    Ok(body::blob_response(state, entry, BLOB_CONTENT_TYPE, head, req, &extra).await)
}
