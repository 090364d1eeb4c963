//! `GET /ui/snapshots/<channel>/<seq>/packages?q=<text>&ecosystem=<deb|pypi|oci>&page=<n>`:
//! a held snapshot's packages (its SBOM components, [`super::data::SnapshotData`]),
//! searched by name (case-insensitive substring, [`MAX_SEARCH_CHARS`] at most), filtered
//! by ecosystem, [`super::PAGE_ROWS`] rows a page.
//!
//! Answers: `200`; `400` for a malformed snapshot name, ecosystem, page or search;
//! `404` for a snapshot the store does not hold or a page past the last.

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use formats::snapshot::SnapshotName;

use super::data::{self, PackageRow};
use super::{PAGE_ROWS, blocking, error_page, or_dash, param, query_pairs, render};
use crate::serve::AppState;

/// Longest search text, in characters.
pub const MAX_SEARCH_CHARS: usize = 200;

/// The ecosystems the filter accepts ([`formats::sbom::Ecosystem::as_str`]).
pub const ECOSYSTEMS: [&str; 3] = ["deb", "pypi", "oci"];

/// One package row as shown (absent fields are `—`).
#[derive(Debug, Clone)]
pub struct RowView {
    /// `deb`, `pypi`, `oci`.
    pub ecosystem: &'static str,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// License.
    pub license: String,
    /// Supplier.
    pub supplier: String,
    /// Package URL.
    pub purl: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Logical path.
    pub path: String,
    /// Configured source name.
    pub upstream: String,
    /// Where the bytes came from.
    pub upstream_url: String,
}

impl RowView {
    fn of(p: &PackageRow) -> RowView {
        RowView {
            ecosystem: p.ecosystem.as_str(),
            name: p.name.clone(),
            version: or_dash(Some(&p.version)),
            arch: or_dash(p.arch.as_deref()),
            license: or_dash(p.license.as_deref()),
            supplier: or_dash(p.supplier.as_deref()),
            purl: or_dash(p.purl.as_deref()),
            digest: p.digest.to_string(),
            path: p.path.clone(),
            upstream: or_dash(p.upstream.as_deref()),
            upstream_url: or_dash(p.upstream_url.as_deref()),
        }
    }
}

/// The packages page.
#[derive(Template)]
#[template(path = "ui/packages.html")]
pub struct Packages {
    /// Page title.
    pub title: String,
    /// The snapshot.
    pub snapshot: String,
    /// The form's action (this page's path).
    pub action: String,
    /// The search text.
    pub q: String,
    /// The ecosystem filter (`""`: all).
    pub ecosystem: String,
    /// The filter's options: each ecosystem and whether it is chosen.
    pub options: Vec<(&'static str, bool)>,
    /// Packages in the snapshot.
    pub total: usize,
    /// Packages matching the search.
    pub matched: usize,
    /// This page's rows.
    pub rows: Vec<RowView>,
    /// 1-based page number.
    pub page: usize,
    /// Number of pages (at least 1).
    pub pages: usize,
    /// Link to the previous page, if any.
    pub prev_url: Option<String>,
    /// Link to the next page, if any.
    pub next_url: Option<String>,
    /// First row's 1-based number among the matches (0 when none).
    pub first: usize,
    /// Last row's number.
    pub last: usize,
}

/// What a request asks for, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Search text (trimmed).
    pub q: String,
    /// Ecosystem, or `""` for all.
    pub ecosystem: String,
    /// 1-based page.
    pub page: usize,
}

impl Filter {
    /// Reads `q`, `ecosystem` and `page` from the query pairs.
    ///
    /// Errors: a message for the `400` page (search too long, unknown ecosystem, page not
    /// a positive number).
    pub fn parse(pairs: &[(String, String)]) -> Result<Filter, String> {
        let q = param(pairs, "q").unwrap_or("").trim().to_owned();
        if q.chars().count() > MAX_SEARCH_CHARS {
            return Err(format!(
                "The search text is {} characters long; at most {MAX_SEARCH_CHARS} are accepted.",
                q.chars().count()
            ));
        }
        let ecosystem = param(pairs, "ecosystem").unwrap_or("").to_owned();
        if !ecosystem.is_empty() && !ECOSYSTEMS.contains(&ecosystem.as_str()) {
            return Err(format!(
                "Unknown ecosystem {ecosystem:?}: use deb, pypi or oci (or leave it empty for all)."
            ));
        }
        let page = match param(pairs, "page") {
            None => 1,
            Some(p) => match p.parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(format!("Page {p:?} is not a page number (1, 2, …)."));
                }
            },
        };
        Ok(Filter { q, ecosystem, page })
    }

    /// Whether `p` matches: its name contains the search text (case-insensitive) and it
    /// is of the ecosystem, when one is chosen.
    pub fn matches(&self, q_lower: &str, p: &PackageRow) -> bool {
        (self.ecosystem.is_empty() || p.ecosystem.as_str() == self.ecosystem)
            && (q_lower.is_empty() || p.name_lower.contains(q_lower))
    }

    /// This page's URL with `page` = `n`.
    fn url(&self, action: &str, n: usize) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if !self.q.is_empty() {
            s.append_pair("q", &self.q);
        }
        if !self.ecosystem.is_empty() {
            s.append_pair("ecosystem", &self.ecosystem);
        }
        s.append_pair("page", &n.to_string());
        format!("{action}?{}", s.finish())
    }
}

/// Builds the page of held snapshot `name` (blocking). `Ok(Err(response))` for a
/// snapshot the store does not hold or a page past the last.
///
/// Errors: the index or the manifest cannot be read.
pub fn build(
    state: &AppState,
    name: &str,
    f: &Filter,
) -> Result<Result<Packages, Response>, String> {
    let Some(rec) = data::record(&state.store, name)? else {
        return Ok(Err(error_page(
            StatusCode::NOT_FOUND,
            format!(
                "Snapshot {name} is not held by this server; the snapshots page lists the held ones."
            ),
        )));
    };
    let d = state.ui.cache.snapshot(&state.store, &rec)?;
    let q_lower = f.q.to_lowercase();
    let matched: Vec<&PackageRow> = d
        .packages
        .iter()
        .filter(|p| f.matches(&q_lower, p))
        .collect();
    let pages = matched.len().div_ceil(PAGE_ROWS).max(1);
    if f.page > pages {
        return Ok(Err(error_page(
            StatusCode::NOT_FOUND,
            format!(
                "Page {} is past the last page ({pages}) of this search in {name}.",
                f.page
            ),
        )));
    }
    let start = (f.page - 1) * PAGE_ROWS;
    let rows: Vec<RowView> = matched
        .iter()
        .skip(start)
        .take(PAGE_ROWS)
        .map(|p| RowView::of(p))
        .collect();
    let action = format!("/ui/snapshots/{}/{}/packages", rec.channel, rec.sequence);
    Ok(Ok(Packages {
        title: format!("Packages of {name}"),
        snapshot: name.to_owned(),
        q: f.q.clone(),
        ecosystem: f.ecosystem.clone(),
        options: ECOSYSTEMS.iter().map(|e| (*e, f.ecosystem == *e)).collect(),
        total: d.packages.len(),
        matched: matched.len(),
        first: if rows.is_empty() { 0 } else { start + 1 },
        last: start + rows.len(),
        rows,
        page: f.page,
        pages,
        prev_url: (f.page > 1).then(|| f.url(&action, f.page - 1)),
        next_url: (f.page < pages).then(|| f.url(&action, f.page + 1)),
        action,
    }))
}

/// `GET /ui/snapshots/<channel>/<seq>/packages`.
pub async fn page(
    State(state): State<Arc<AppState>>,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let Ok(Path((channel, seq))) = path else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The snapshot in the address is not valid UTF-8.",
        );
    };
    let name = format!("{channel}/{seq}");
    if SnapshotName::parse(&name).is_none() {
        return error_page(
            StatusCode::BAD_REQUEST,
            format!(
                "{name:?} is not a snapshot name: expected /ui/snapshots/<channel>/<sequence>/packages with a channel of lower-case letters, digits, '.', '_' and '-' and a sequence number from 1."
            ),
        );
    }
    let pairs = match query_pairs(query.as_deref()) {
        Ok(p) => p,
        Err(m) => return error_page(StatusCode::BAD_REQUEST, m),
    };
    let filter = match Filter::parse(&pairs) {
        Ok(f) => f,
        Err(m) => return error_page(StatusCode::BAD_REQUEST, m),
    };
    match blocking(move || build(&state, &name, &filter)).await {
        Ok(Ok(p)) => render(StatusCode::OK, &p),
        Ok(Err(r)) | Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        query_pairs(Some(q)).unwrap()
    }

    #[test]
    fn filters_parse_and_refuse() {
        let f = Filter::parse(&pairs("q=+Req+&ecosystem=pypi&page=2")).unwrap();
        assert_eq!(
            f,
            Filter {
                q: "Req".into(),
                ecosystem: "pypi".into(),
                page: 2
            }
        );
        assert_eq!(Filter::parse(&pairs("")).unwrap().page, 1);
        assert!(Filter::parse(&pairs("ecosystem=npm")).is_err());
        assert!(Filter::parse(&pairs("page=0")).is_err());
        assert!(Filter::parse(&pairs("page=-1")).is_err());
        assert!(Filter::parse(&pairs("page=99999999999999999999999")).is_err());
        assert!(Filter::parse(&pairs(&format!("q={}", "a".repeat(201)))).is_err());
        assert_eq!(
            f.url("/ui/snapshots/s/1/packages", 3),
            "/ui/snapshots/s/1/packages?q=Req&ecosystem=pypi&page=3"
        );
    }
}
