//! `GET /v2/_catalog?n=<int>&last=<name>` (CNCF distribution catalog API; the OCI spec
//! leaves it as an extension).
//!
//! Answers `{"repositories": [...]}`: every served repository name, in its served form
//! (`docker.io/library/ubuntu`, `127.0.0.1__5000/team/app`), in lexical (byte) order,
//! paginated like `tags/list` with a `Link: </v2/_catalog?n=N&last=R>; rel="next"` header.

use axum::http::header;
use axum::response::Response;

use super::errors::OciFailure;
use super::{Query, json_response, next_link, paginate};
use crate::serve::routes::Live;

/// The handler. Errors: `400 UNSUPPORTED` when `n` is not a non-negative integer.
pub fn list(live: &Live, query: &Query) -> Result<Response, OciFailure> {
    let n = query.page_size()?;
    let (page, more) = paginate(&live.oci.repositories, n, query.last.as_deref());
    let mut resp = json_response(&serde_json::json!({ "repositories": page }));
    if more
        && let (Some(n), Some(last)) = (n, page.last())
        && let Some(link) = next_link("/v2/_catalog", n, last, None)
    {
        resp.headers_mut().insert(header::LINK, link);
    }
    Ok(resp)
}
