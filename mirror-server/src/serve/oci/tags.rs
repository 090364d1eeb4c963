//! `GET /v2/<name>/tags/list?n=<int>&last=<tag>` (distribution-spec §Listing Tags).
//!
//! Answers `{"name": <name as requested>, "tags": [...]}` with the repository's tags in
//! lexical (byte) order, the ones after `last`, at most `n` (all when `n` is absent; none
//! when `n=0`). When more remain, a `Link: </v2/<name>/tags/list?n=N&last=T>; rel="next"`
//! header (RFC 8288) names the next page (`&ns=` is carried over). The tag lists are
//! precomputed per snapshot ([`crate::serve::routes::OciCatalog::tags`]).

use axum::http::header;
use axum::response::Response;

use super::errors::OciFailure;
use super::{Query, json_response, next_link, paginate, require_repository, resolve_name};
use crate::serve::routes::Live;

/// The handler. Errors: `400 NAME_INVALID`, `400 UNSUPPORTED` (bad `n`), `404 NAME_UNKNOWN`.
pub fn list(live: &Live, name: &str, query: &Query) -> Result<Response, OciFailure> {
    let repository = resolve_name(name, query.ns.as_deref(), &live.oci)?;
    let n = query.page_size()?;
    require_repository(live, &repository)?;
    let all = live
        .oci
        .tags
        .get(&repository)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let (page, more) = paginate(all, n, query.last.as_deref());
    let mut resp = json_response(&serde_json::json!({ "name": name, "tags": page }));
    if more
        && let (Some(n), Some(last)) = (n, page.last())
        && let Some(link) = next_link(
            &format!("/v2/{name}/tags/list"),
            n,
            last,
            query.ns.as_deref(),
        )
    {
        resp.headers_mut().insert(header::LINK, link);
    }
    Ok(resp)
}
