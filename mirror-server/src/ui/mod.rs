//! The read-only web console under `/ui/`, served by `mirror-server serve` on its own
//! listener (off with `serve --no-ui`).
//!
//! Server-rendered HTML (askama templates in `mirror-server/templates/ui/`, compiled into
//! the binary, every value HTML-escaped by the template engine), no JavaScript at all, one
//! module per page:
//!
//! | path | module | shows |
//! |------|--------|-------|
//! | `/ui/` | [`overview`] | the held snapshots: channel, sequence, created, signer, size, artifact counts per kind, live/current/pinned markers, the last `verify` outcome |
//! | `/ui/snapshots/<channel>/<seq>/packages?q=&ecosystem=&page=` | [`packages`] | a snapshot's packages (search by name, filter by ecosystem, [`PAGE_ROWS`] a page) with version, license, supplier, purl, digest and upstream provenance |
//! | `/ui/diff?a=<channel/seq>&b=<channel/seq>` | [`diff`] | the package diff of two held snapshots, and the vulnerability section |
//! | `/ui/audit` | [`audit`] | the audit log (newest first) and its hash-chain status |
//! | `/ui/clients` | [`clients`] | what `mirror-server client-config` prints, for the URL the browser used |
//! | `/ui/style.css` | this module | the stylesheet (embedded in the binary) |
//!
//! Every response under `/ui/` (pages, errors, `405`) carries [`CSP`],
//! `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and
//! `Cache-Control: no-cache` ([`security_headers`]). Only `GET` and `HEAD` are routed;
//! other methods get `405` with `Allow: GET,HEAD`. A bad query parameter (unknown
//! snapshot, malformed name or page, over-long search) gets an HTML `400`/`404` page
//! ([`error_page`]) naming what was wrong; nothing a request sends can make a handler
//! panic. Pages are bounded: [`PAGE_ROWS`] packages, [`diff::MAX_ROWS`] diff rows per
//! section, [`audit::MAX_ENTRIES`] audit entries.
//!
//! Snapshot data comes from the store the server serves, read on the blocking pool:
//! [`data`] parses a manifest once and keeps the last few snapshots' package tables and
//! every snapshot's artifact counts (keyed by manifest digest: a held snapshot never
//! changes).

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::serve::AppState;

pub mod audit;
pub mod clients;
pub mod data;
pub mod diff;
pub mod overview;
pub mod packages;
pub mod verify_status;

/// URL prefix of the console (without the trailing `/`).
pub const UI_PREFIX: &str = "/ui";

/// The `Content-Security-Policy` of every `/ui/` response (CSP Level 3): nothing may
/// load except the console's own stylesheet and images, forms submit only to the
/// server itself, no page may frame it, and no `<base>` may redirect relative URLs.
/// Scripts are not allowed at all (`default-src 'none'`).
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Package rows on one page of [`packages`].
pub const PAGE_ROWS: usize = 200;

/// The console's stylesheet, served at `/ui/style.css`.
const STYLE_CSS: &str = include_str!("../../templates/ui/style.css");

/// What the console needs from the server, in [`AppState`].
#[derive(Debug, Default)]
pub struct UiState {
    /// Whether `/ui/` is routed (`serve --no-ui` turns it off).
    pub enabled: bool,
    /// The server speaks HTTPS (the client-setup page then uses `https://` URLs).
    pub tls: bool,
    /// Parsed snapshot data ([`data::Cache`]).
    pub cache: data::Cache,
}

impl UiState {
    /// The console on (`enabled`) or off, for a server that speaks HTTPS when `tls`.
    pub fn new(enabled: bool, tls: bool) -> UiState {
        UiState {
            enabled,
            tls,
            cache: data::Cache::default(),
        }
    }
}

/// The console's routes (GET and HEAD only), each response with [`security_headers`].
/// `/ui` redirects to `/ui/`; a path under `/ui/` that is no page gets the HTML `404`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(UI_PREFIX, get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(overview::page))
        .route("/ui/style.css", get(style))
        .route(
            "/ui/snapshots/{channel}/{seq}/packages",
            get(packages::page),
        )
        .route("/ui/diff", get(diff::page))
        .route("/ui/audit", get(audit::page))
        .route("/ui/clients", get(clients::page))
        .route("/ui/{*rest}", get(not_found))
        .layer(axum::middleware::map_response(security_headers))
}

/// Adds [`CSP`], `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`,
/// `X-Frame-Options: DENY` (for browsers without CSP `frame-ancestors`) and
/// `Cache-Control: no-cache` to a response.
pub async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

async fn style() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        )],
        STYLE_CSS,
    )
        .into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        format!(
            "There is no console page at {}. The pages are /ui/, /ui/diff, /ui/audit and /ui/clients; a snapshot's packages are at /ui/snapshots/<channel>/<sequence>/packages.",
            uri.path()
        ),
    )
}

/// The error page.
#[derive(Template)]
#[template(path = "ui/error.html")]
struct ErrorPage {
    title: String,
    message: String,
}

/// An HTML error page with `status` (its reason phrase as the title) and `message`
/// (escaped by the template).
pub fn error_page(status: StatusCode, message: impl Into<String>) -> Response {
    let page = ErrorPage {
        title: format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("error")
        ),
        message: message.into(),
    };
    render(status, &page)
}

/// Renders `page` as a `text/html` response with `status`; a template error (none is
/// expected: the templates are checked at compile time) is a plain-text `500`.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot render a console page");
            crate::serve::response::plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot render the page: {e}\n"),
            )
        }
    }
}

/// Runs blocking store work `f` on the blocking pool; its error (a message naming what
/// failed) or a failed task becomes a `500` page.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "console page failed");
            Err(error_page(StatusCode::INTERNAL_SERVER_ERROR, e))
        }
        Err(e) => Err(error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the request's worker task failed: {e}"),
        )),
    }
}

/// The query string's `key=value` pairs (`application/x-www-form-urlencoded`, as a GET
/// form sends them), at most [`MAX_QUERY_BYTES`] of query.
///
/// Errors: the message of the `400` page when the query is longer.
pub(crate) fn query_pairs(query: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let q = query.unwrap_or("");
    if q.len() > MAX_QUERY_BYTES {
        return Err(format!(
            "The query string is {} bytes; the console accepts at most {MAX_QUERY_BYTES}.",
            q.len()
        ));
    }
    Ok(url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// Longest query string a console page accepts, in bytes.
pub const MAX_QUERY_BYTES: usize = 2048;

/// The last value of `key` in `pairs`, if any (empty values count as absent).
pub(crate) fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// `n` bytes in binary units (`1.5 GiB`), for the pages.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit.min(UNITS.len() - 1)])
    }
}

/// `v`, or `—` when absent or empty (how the pages show a missing field).
pub fn or_dash(v: Option<&str>) -> String {
    match v {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => "\u{2014}".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_dashes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(or_dash(None), "\u{2014}");
        assert_eq!(or_dash(Some("")), "\u{2014}");
        assert_eq!(or_dash(Some("MIT")), "MIT");
    }

    #[test]
    fn query_parameters() {
        let p = query_pairs(Some("q=a%20b&ecosystem=&q=c+d")).unwrap();
        assert_eq!(param(&p, "q"), Some("c d"));
        assert_eq!(param(&p, "ecosystem"), None);
        assert!(query_pairs(Some(&"x".repeat(MAX_QUERY_BYTES + 1))).is_err());
    }

    #[test]
    fn error_page_escapes() {
        let r = error_page(
            StatusCode::NOT_FOUND,
            "no <script>alert(1)</script> \"here\"",
        );
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let page = ErrorPage {
            title: "404".into(),
            message: "<script>\"'&".into(),
        }
        .render()
        .unwrap();
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&#60;script&#62;&#34;&#39;&#38;"), "{page}");
    }
}
