//! `GET /v2/<name>/referrers/<digest>?artifactType=<type>` (distribution-spec v1.1
//! §Listing Referrers).
//!
//! Answers the referrers index that export generated for the subject (logical path
//! `v2/<repo>/referrers/sha256:<hex>`, an OCI image index of the descriptors of every
//! manifest whose OCI 1.1 `subject` or cosign `sha256-<hex>.sig|.att|.sbom` tag names the
//! subject), with `Content-Type: application/vnd.oci.image.index.v1+json`. A subject
//! without referrers (or not in the repository at all) gets `200` with an empty index, as
//! the spec requires. With `artifactType`, only the descriptors of that artifact type are
//! kept ([`formats::oci::filter_referrers`]) and `OCI-Filters-Applied: artifactType` is set.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use formats::oci::{
    MAX_MANIFEST_BYTES, OCI_INDEX, filter_referrers, parse_digest, render_referrers_index,
};

use super::errors::{ErrorCode, OciFailure, digest_failure};
use super::{Query, require_repository, resolve_name};
use crate::serve::routes::Live;
use crate::serve::state::AppState;

/// `OCI-Filters-Applied`, set when the `artifactType` filter was applied.
pub const FILTERS_APPLIED_HEADER: HeaderName = HeaderName::from_static("oci-filters-applied");

/// The handler. Errors: `400 NAME_INVALID` / `400 DIGEST_INVALID` (grammar, checked
/// first), `404 NAME_UNKNOWN` (no such repository), `500` when the stored index cannot be
/// read or parsed (the store is damaged).
pub async fn get(
    state: &AppState,
    live: &Live,
    name: &str,
    reference: &str,
    query: &Query,
) -> Result<Response, OciFailure> {
    let repository = resolve_name(name, query.ns.as_deref(), &live.oci)?;
    let digest = parse_digest(reference).map_err(|e| digest_failure(&e))?;
    require_repository(live, &repository)?;
    let index = match live.get(&format!("v2/{repository}/referrers/{digest}")) {
        None => render_referrers_index(&[]),
        Some(entry) => {
            let cas = state.cas.clone();
            let d = entry.digest;
            let read =
                tokio::task::spawn_blocking(move || cas.read_bytes(&d, MAX_MANIFEST_BYTES)).await;
            match read {
                Ok(Ok(bytes)) => bytes,
                Ok(Err(e)) => {
                    tracing::error!(digest = %d, error = %e, "referrers index unavailable");
                    return Err(damaged(&repository, &digest));
                }
                Err(e) => {
                    tracing::error!(digest = %d, error = %e, "referrers read task failed");
                    return Err(damaged(&repository, &digest));
                }
            }
        }
    };
    let (body, filtered) = match query.artifact_type.as_deref() {
        Some(t) => match filter_referrers(&index, t) {
            Ok(b) => (b, true),
            Err(e) => {
                tracing::error!(%repository, subject = %digest, error = %e, "stored referrers index does not parse");
                return Err(damaged(&repository, &digest));
            }
        },
        None => (index, false),
    };
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(OCI_INDEX))],
        Body::from(body),
    )
        .into_response();
    if filtered {
        resp.headers_mut().insert(
            FILTERS_APPLIED_HEADER,
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(resp)
}

fn damaged(repository: &str, digest: &formats::digest::Digest) -> OciFailure {
    OciFailure::new(
        ErrorCode::Unknown,
        format!(
            "the referrers index of {digest} in {repository:?} is missing or damaged in the \
             store; re-import the snapshot"
        ),
    )
}
