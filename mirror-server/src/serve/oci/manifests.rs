//! `GET`/`HEAD /v2/<name>/manifests/<reference>` (distribution-spec §Pulling manifests).
//!
//! The reference is a digest (`sha256:<hex>`, logical path `v2/<repo>/manifests/sha256:<hex>`)
//! or a tag (`v2/<repo>/manifests/<tag>`); both answer the exact stored bytes with
//! `Content-Type` = the manifest's own media type (OCI or Docker schema 2, never converted),
//! `Docker-Content-Digest`, `Content-Length` and `ETag`. The `Accept` header is not used
//! to convert or refuse anything: every stored manifest is served as it is.

use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use formats::digest::Digest;
use formats::oci::{OCI_MANIFEST, is_valid_tag, parse_digest};

use super::errors::{ErrorCode, OciFailure, digest_failure};
use super::{CONTENT_DIGEST_HEADER, Query, require_repository, resolve_name};
use crate::serve::body;
use crate::serve::routes::{Entry, Live};
use crate::serve::state::AppState;

/// A checked manifest reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference<'a> {
    /// A tag (`[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`).
    Tag(&'a str),
    /// A sha256 digest.
    Digest(Digest),
}

/// Parses a manifest reference: anything with a `:` is a digest
/// ([`formats::oci::parse_digest`]), anything else a tag ([`formats::oci::is_valid_tag`]).
///
/// Errors: `400 DIGEST_INVALID` for a malformed or non-sha256 digest; `404
/// MANIFEST_UNKNOWN` for a string that is neither. The distribution-spec endpoint table
/// (end-3, `GET`/`HEAD /v2/<name>/manifests/<reference>`) allows only 200 and 404 there,
/// and no manifest can be tagged with a string that breaks the tag grammar, so a
/// malformed tag is simply unknown; only a malformed digest earns a 400.
pub fn parse_reference(reference: &str) -> Result<Reference<'_>, OciFailure> {
    if reference.contains(':') {
        return parse_digest(reference)
            .map(Reference::Digest)
            .map_err(|e| digest_failure(&e));
    }
    if is_valid_tag(reference) {
        Ok(Reference::Tag(reference))
    } else {
        Err(OciFailure::new(
            ErrorCode::ManifestUnknown,
            format!(
                "manifest unknown: {reference:?} is not a valid tag \
                 ([a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}) nor a digest (sha256:<64 hex digits>), \
                 so no manifest has it"
            ),
        )
        .detail(serde_json::json!({ "reference": reference })))
    }
}

/// The manifest of `repository` at `reference`, if the snapshot has it.
pub fn lookup<'l>(live: &'l Live, repository: &str, reference: Reference<'_>) -> Option<&'l Entry> {
    match reference {
        Reference::Tag(t) => live.get(&format!("v2/{repository}/manifests/{t}")),
        Reference::Digest(d) => live.get(&format!("v2/{repository}/manifests/{d}")),
    }
}

/// Serves a manifest entry: exact bytes, its media type (or [`OCI_MANIFEST`] when the
/// snapshot gives none), `Docker-Content-Digest`, ranges and `ETag` as for any blob.
pub async fn respond(state: &AppState, entry: &Entry, head: bool, req: &HeaderMap) -> Response {
    let ct = entry.media_type.as_deref().unwrap_or(OCI_MANIFEST);
    let mut extra = Vec::new();
    if let Ok(v) = HeaderValue::from_str(&entry.digest.to_string()) {
        extra.push((CONTENT_DIGEST_HEADER, v));
    }
    body::blob_response(state, entry, ct, head, req, &extra).await
}

/// The handler. Errors: `400 NAME_INVALID`, `400 DIGEST_INVALID` (grammar, checked
/// first), `404 NAME_UNKNOWN` (no such repository), `404 MANIFEST_UNKNOWN` (no such tag
/// or digest in it, or a reference that is neither a valid tag nor a digest).
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
    let reference = match parse_reference(reference) {
        Ok(r) => r,
        Err(e) if e.code == ErrorCode::ManifestUnknown => {
            require_repository(live, &repository)?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let Some(entry) = lookup(live, &repository, reference) else {
        require_repository(live, &repository)?;
        let shown = match reference {
            Reference::Tag(t) => t.to_owned(),
            Reference::Digest(d) => d.to_string(),
        };
        return Err(OciFailure::new(
            ErrorCode::ManifestUnknown,
            format!("manifest {shown} is not in repository {repository:?} of the live snapshot"),
        )
        .detail(serde_json::json!({ "name": repository, "reference": shown })));
    };
    Ok(respond(state, entry, head, req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(parse_reference("v1.0").unwrap(), Reference::Tag("v1.0"));
        let d = Digest::of(b"x");
        assert_eq!(
            parse_reference(&d.to_string()).unwrap(),
            Reference::Digest(d)
        );
        assert_eq!(
            parse_reference("sha256:abc").unwrap_err().code,
            ErrorCode::DigestInvalid
        );
        assert_eq!(
            parse_reference(&format!("sha512:{}", "a".repeat(128)))
                .unwrap_err()
                .code,
            ErrorCode::DigestInvalid
        );
        for bad in [".bad", "-bad", "a/b", "", &"a".repeat(129)] {
            let e = parse_reference(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::ManifestUnknown, "{bad:?}");
            assert_eq!(e.code.status(), axum::http::StatusCode::NOT_FOUND);
        }
    }
}
