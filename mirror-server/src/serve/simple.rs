//! `/simple/…`: the PEP 503 / PEP 691 simple repository API.
//!
//! - `/simple/` and `/simple/<project>/`: the index pages, chosen by content negotiation
//!   (PEP 691 §Version + Format Selection): `?format=<media type>` wins over `Accept`;
//!   `Accept` is ranked by q-value among the PEP 691 types, `text/html` and `*/*`; no
//!   `Accept` means HTML; only unsupported types mean `406`. Responses carry
//!   `Vary: Accept`. The pages are the snapshot's logical files
//!   `simple/[<project>/]index.json` and `…/index.html`.
//! - a project name that is not PEP 503-normalized is redirected (`301`) to the normalized
//!   URL, keeping the query; `/simple/<project>` without the slash is redirected to the
//!   slash form (PEP 503 §Specification allows both).
//! - `/simple/<project>/<file>` (distributions and PEP 658 `.metadata` files): the logical
//!   file `simple/<project>/<file>`, with Range support. The page files themselves are
//!   served at their logical paths too (`/simple/index.json`,
//!   `/simple/<project>/index.html`), without negotiation.
//!
//! The same handler serves a held snapshot under `/snapshots/<channel>/<seq>/simple/…`:
//! it takes the path relative to the mount point and the mount prefix, which redirects
//! keep. The pages themselves use relative links, so they work under any prefix.

use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::body;
use super::content_type;
use super::files::serve_logical;
use super::path::{bad_request, logical_path};
use super::response::plain;
use super::routes::Live;
use super::state::AppState;

/// PEP 691 JSON, version 1.
pub const V1_JSON: &str = "application/vnd.pypi.simple.v1+json";
/// PEP 691 HTML, version 1.
pub const V1_HTML: &str = "application/vnd.pypi.simple.v1+html";
/// PEP 691 "latest" JSON alias.
pub const LATEST_JSON: &str = "application/vnd.pypi.simple.latest+json";
/// PEP 691 "latest" HTML alias.
pub const LATEST_HTML: &str = "application/vnd.pypi.simple.latest+html";
/// PEP 503 HTML.
pub const TEXT_HTML: &str = "text/html";

/// Characters escaped in a redirect's path segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Serialization of an index page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PEP 691 JSON (`index.json`).
    Json,
    /// PEP 503 HTML (`index.html`).
    Html,
}

/// The outcome of content negotiation: which file, and the `Content-Type` to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chosen {
    /// Which serialization.
    pub format: Format,
    /// The media type to answer with.
    pub content_type: &'static str,
}

/// Maps a requested media type to what is served (the `latest` aliases answer with the
/// concrete `v1` type, as PEP 691 asks).
fn lookup(media: &str, allow_wildcard: bool) -> Option<Chosen> {
    let c = |format, content_type| {
        Some(Chosen {
            format,
            content_type,
        })
    };
    match media {
        V1_JSON | LATEST_JSON => c(Format::Json, V1_JSON),
        V1_HTML | LATEST_HTML => c(Format::Html, V1_HTML),
        TEXT_HTML => c(Format::Html, TEXT_HTML),
        "*/*" if allow_wildcard => c(Format::Html, TEXT_HTML),
        _ => None,
    }
}

/// Chooses the page format (PEP 691 §Version + Format Selection).
///
/// `format_query` is the decoded `?format=` value, which wins when present (`*/*` is not
/// accepted there). Otherwise `accept` is parsed as `type/subtype;q=…` items; the supported
/// item with the highest q (> 0) wins, ties going to the earlier item. No `Accept` (or an
/// empty one) gives HTML. `None` means `406 Not Acceptable`.
pub fn negotiate(format_query: Option<&str>, accept: Option<&str>) -> Option<Chosen> {
    if let Some(f) = format_query {
        return lookup(&f.trim().to_ascii_lowercase(), false);
    }
    let accept = accept.map(str::trim).unwrap_or("");
    if accept.is_empty() {
        return lookup(TEXT_HTML, false);
    }
    let mut best: Option<(f32, Chosen)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0f32;
        for p in parts {
            if let Some((k, v)) = p.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q = v
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q))
                    .unwrap_or(0.0);
            }
        }
        if q <= 0.0 {
            continue;
        }
        if let Some(c) = lookup(&media, true)
            && best.is_none_or(|(bq, _)| q > bq)
        {
            best = Some((q, c));
        }
    }
    best.map(|(_, c)| c)
}

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (
            StatusCode::MOVED_PERMANENTLY,
            [(header::LOCATION, v)],
            format!("moved to {location}\n"),
        )
            .into_response(),
        Err(_) => plain(StatusCode::BAD_REQUEST, "bad request\n"),
    }
}

/// Handles every path under `/simple`. `raw` is the request path relative to the mount
/// point (`/simple/…`), `prefix` the mount point (`""` at the root, or
/// `/snapshots/<channel>/<seq>`), prepended to redirect locations.
pub async fn handle(
    state: &AppState,
    live: &Live,
    req: &Parts,
    prefix: &str,
    raw: &str,
) -> Response {
    let query = req.uri.query();
    let with_query = |p: String| match query {
        Some(q) => format!("{p}?{q}"),
        None => p,
    };
    if raw == "/simple" {
        return redirect(&with_query(format!("{prefix}/simple/")));
    }
    let logical = match logical_path(raw) {
        Ok(l) => l,
        Err(r) => return bad_request(r),
    };
    // logical = "simple/<project>[/<rest>]" or "simple/" (root).
    let segs: Vec<&str> = logical.split('/').collect();
    let project = segs.get(1).copied().unwrap_or("");
    if project.is_empty() {
        return if segs.len() == 2 {
            index_page(state, live, "simple", req).await
        } else {
            plain(StatusCode::NOT_FOUND, format!("not found: {prefix}{raw}\n"))
        };
    }
    // The root index's own files, `simple/index.html` and `simple/index.json`: logical
    // paths like any other (docs/media-format.md), not project names (a normalized name
    // holds no `.`, so no project is shadowed).
    if segs.len() == 2 && matches!(project, "index.html" | "index.json") {
        return serve_logical(state, live, &logical, req, content_type::guess).await;
    }
    let normalized = formats::pypi::name::normalize(project);
    let rest = segs.get(2..).unwrap_or_default();
    if normalized != project || rest.is_empty() {
        let mut loc = format!(
            "{prefix}/simple/{}/",
            utf8_percent_encode(&normalized, SEGMENT)
        );
        let tail: Vec<String> = rest
            .iter()
            .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
            .collect();
        loc.push_str(&tail.join("/"));
        return redirect(&with_query(loc));
    }
    if rest == [""] {
        return index_page(state, live, &format!("simple/{project}"), req).await;
    }
    serve_logical(state, live, &logical, req, content_type::guess).await
}

async fn index_page(state: &AppState, live: &Live, dir: &str, req: &Parts) -> Response {
    let format_q = req.uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "format")
            .map(|(_, v)| v.into_owned())
    });
    // One `Accept` field (what clients send) is read in place; several are joined.
    let mut fields = req.headers.get_all(header::ACCEPT).iter();
    let joined;
    let accept = match (fields.next(), fields.next()) {
        (None, _) => "",
        (Some(one), None) => one.to_str().unwrap_or(""),
        (Some(_), Some(_)) => {
            joined = req
                .headers
                .get_all(header::ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(",");
            joined.as_str()
        }
    };
    let accept = (!accept.is_empty()).then_some(accept);
    let vary = [(header::VARY, HeaderValue::from_static("Accept"))];
    let Some(chosen) = negotiate(format_q.as_deref(), accept) else {
        let mut resp = plain(
            StatusCode::NOT_ACCEPTABLE,
            format!("not acceptable: this index serves {V1_JSON}, {V1_HTML} and {TEXT_HTML}\n"),
        );
        resp.headers_mut().extend(vary);
        return resp;
    };
    let file = match chosen.format {
        Format::Json => format!("{dir}/index.json"),
        Format::Html => format!("{dir}/index.html"),
    };
    let Some(entry) = live.get(&file) else {
        let mut resp = plain(StatusCode::NOT_FOUND, format!("not found: /{dir}/\n"));
        resp.headers_mut().extend(vary);
        return resp;
    };
    let ct = if chosen.content_type == TEXT_HTML {
        "text/html; charset=utf-8"
    } else {
        chosen.content_type
    };
    body::blob_response(
        state,
        entry,
        ct,
        req.method == Method::HEAD,
        &req.headers,
        &vary,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(q: Option<&str>, a: Option<&str>) -> Option<(Format, &'static str)> {
        negotiate(q, a).map(|c| (c.format, c.content_type))
    }

    #[test]
    fn negotiation() {
        assert_eq!(fmt(None, None), Some((Format::Html, TEXT_HTML)));
        assert_eq!(fmt(None, Some("")), Some((Format::Html, TEXT_HTML)));
        // pip's Accept header.
        assert_eq!(
            fmt(
                None,
                Some(
                    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
                )
            ),
            Some((Format::Json, V1_JSON))
        );
        assert_eq!(
            fmt(
                None,
                Some("text/html;q=0.9, application/vnd.pypi.simple.v1+html")
            ),
            Some((Format::Html, V1_HTML))
        );
        assert_eq!(fmt(None, Some(LATEST_JSON)), Some((Format::Json, V1_JSON)));
        assert_eq!(fmt(None, Some(LATEST_HTML)), Some((Format::Html, V1_HTML)));
        assert_eq!(fmt(None, Some("*/*")), Some((Format::Html, TEXT_HTML)));
        assert_eq!(
            fmt(
                None,
                Some("Application/VND.pypi.simple.v1+JSON;q=0.5, */*;q=0.4")
            ),
            Some((Format::Json, V1_JSON))
        );
        // q=0 excludes.
        assert_eq!(
            fmt(
                None,
                Some("application/vnd.pypi.simple.v1+json;q=0, text/html;q=0.1")
            ),
            Some((Format::Html, TEXT_HTML))
        );
        // Only unsupported types.
        assert_eq!(fmt(None, Some("application/xml, image/png")), None);
        assert_eq!(
            fmt(None, Some("application/vnd.pypi.simple.v1+json;q=0")),
            None
        );
        // ?format= wins.
        assert_eq!(
            fmt(Some(V1_JSON), Some("text/html")),
            Some((Format::Json, V1_JSON))
        );
        assert_eq!(
            fmt(Some("text/html"), Some(V1_JSON)),
            Some((Format::Html, TEXT_HTML))
        );
        assert_eq!(fmt(Some("application/xml"), None), None);
        assert_eq!(fmt(Some("*/*"), None), None);
    }
}
