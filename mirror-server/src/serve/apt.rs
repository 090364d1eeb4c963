//! `/apt/<repo>/…`: APT repositories, standard (`dists/…`, `pool/…`, `by-hash`) and flat.
//!
//! The request path maps to the logical path `apt/<repo>/<rest>` after
//! [`super::path::logical_path`] (percent-decoding, `./` segments dropped). Flat
//! repositories stay flat: apt asks for `<repo>/./x.deb`, which is `apt/<repo>/x.deb`.
//! Files the manifest gives no media type are typed by [`super::content_type::apt`].

use axum::http::request::Parts;
use axum::response::Response;

use super::content_type;
use super::files::serve_logical;
use super::routes::Live;
use super::state::AppState;

/// Serves `logical` (already normalized, starting with `apt/`).
pub async fn handle(state: &AppState, live: &Live, logical: &str, req: &Parts) -> Response {
    serve_logical(state, live, logical, req, content_type::apt).await
}
