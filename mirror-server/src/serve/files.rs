//! Every path no other route claims (`/keys/…`, `/v2x`, …): the logical-path lookup in the
//! snapshot's routing table, typed by the manifest's media type or by file name
//! ([`super::content_type`]). [`serve_logical`] is also how `apt` and `simple` answer
//! their files.

use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::body;
use super::response::plain;
use super::routes::Live;
use super::state::AppState;

/// Serves logical path `logical` from `live`, typed by the manifest's media type or
/// `guess(logical)`; `404` when absent.
pub async fn serve_logical(
    state: &AppState,
    live: &Live,
    logical: &str,
    req: &Parts,
    guess: fn(&str) -> &'static str,
) -> Response {
    let Some(entry) = live.get(logical) else {
        return plain(StatusCode::NOT_FOUND, format!("not found: /{logical}\n"));
    };
    let ct = entry
        .media_type
        .as_deref()
        .unwrap_or_else(|| guess(logical));
    body::blob_response(
        state,
        entry,
        ct,
        req.method == Method::HEAD,
        &req.headers,
        &[],
    )
    .await
}
