//! `/v2/…`: the OCI distribution-spec v1.1 pull side and content discovery, read-only.
//!
//! | request                                   | answer                                  |
//! |-------------------------------------------|-----------------------------------------|
//! | `GET /v2/`, `/v2`                         | `200 {}` (API version check)            |
//! | `GET/HEAD /v2/<name>/manifests/<ref>`     | [`manifests`]: exact bytes, by tag or digest |
//! | `GET/HEAD /v2/<name>/blobs/<digest>`      | [`blobs`]: with `Range`                 |
//! | `GET /v2/<name>/tags/list?n=&last=`       | [`tags`]: sorted, paginated with `Link` |
//! | `GET /v2/<name>/referrers/<digest>`       | [`referrers`]: with `?artifactType=`    |
//! | `GET /v2/_catalog?n=&last=`               | [`catalog`]                             |
//! | any other method                          | `405 UNSUPPORTED`                       |
//!
//! Every response carries `Docker-Distribution-API-Version: registry/2.0`; every error is
//! OCI error JSON ([`errors`]).
//!
//! **Names.** Repositories are served as `<registry component>/<path>`, where the
//! component is the upstream registry host with `:` replaced by `__`
//! ([`formats::oci::registry_to_component`]): `docker.io/library/ubuntu`,
//! `127.0.0.1__5000/team/app`. The `<name>` in a request is mapped to a repository by
//! [`resolve_name`]:
//! 1. with `?ns=<registry>` (containerd mirrors, `hosts.toml`): `<component(ns)>/<name>`;
//! 2. else, when the first component of `<name>` is a served registry component, or looks
//!    like a registry host (contains `.` or `__`, or is `localhost`, Docker's rule), `<name>`
//!    as is (`docker pull mirror:8080/docker.io/library/ubuntu`);
//! 3. else Docker's `registry-mirrors`: `docker.io/<name>`, with `library/` added for a
//!    single-segment name (`/v2/ubuntu/…` → `docker.io/library/ubuntu`).
//!
//! Names, tags and digests are checked against the spec's grammar before any lookup:
//! a bad name is `400 NAME_INVALID`, a bad digest (or an algorithm other than sha256) is
//! `400 DIGEST_INVALID`; a manifest reference that is neither a valid tag nor a digest is
//! `404 MANIFEST_UNKNOWN` (distribution-spec endpoint table, end-3: a manifest `GET`/`HEAD`
//! answers 200 or 404 only).
//!
//! All lookups go to the precomputed routing table ([`crate::serve::routes::Live`]): logical paths
//! `v2/<repo>/manifests/<ref>`, `v2/<repo>/blobs/<digest>`, `v2/<repo>/referrers/<digest>`,
//! and [`crate::serve::routes::OciCatalog`] for tags and repositories.

pub mod blobs;
pub mod catalog;
pub mod errors;
pub mod manifests;
pub mod referrers;
pub mod tags;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use formats::oci::{is_valid_repository, registry_to_component};

use super::path::{PathReject, logical_path};
use super::response::NO_SNAPSHOT;
use super::routes::{Live, OciCatalog};
use crate::serve::state::AppState;
use errors::{ErrorCode, OciFailure};

/// `Docker-Distribution-API-Version`, sent on every `/v2` response.
pub const API_VERSION_HEADER: HeaderName =
    HeaderName::from_static("docker-distribution-api-version");
/// Value of [`API_VERSION_HEADER`].
pub const API_VERSION: &str = "registry/2.0";
/// `Docker-Content-Digest`, the digest of the manifest or blob served.
pub const CONTENT_DIGEST_HEADER: HeaderName = HeaderName::from_static("docker-content-digest");
/// The registry a name with no registry part means (Docker's default namespace).
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// Prefix Docker adds to single-segment names on [`DEFAULT_REGISTRY`].
pub const DEFAULT_NAMESPACE: &str = "library";

/// What a `/v2` request path asks for (after percent-decoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v2/` or `/v2`.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/tags/list`.
    Tags {
        /// The name as requested.
        name: String,
    },
    /// `/v2/<name>/manifests/<reference>`.
    Manifest {
        /// The name as requested.
        name: String,
        /// Tag or digest, unchecked.
        reference: String,
    },
    /// `/v2/<name>/blobs/<digest>`.
    Blob {
        /// The name as requested.
        name: String,
        /// Digest, unchecked.
        reference: String,
    },
    /// `/v2/<name>/referrers/<digest>`.
    Referrers {
        /// The name as requested.
        name: String,
        /// Digest of the subject, unchecked.
        reference: String,
    },
    /// Anything else under `/v2/`.
    Unknown,
}

/// Classifies a logical path (`v2/…`, no leading `/`, already percent-decoded).
/// The reference is the last segment and the resource the one before it, so a name may
/// contain `/` (and even a `manifests` component).
pub fn parse_endpoint(logical: &str) -> Endpoint {
    if logical == "v2" || logical == "v2/" {
        return Endpoint::Base;
    }
    let Some(rest) = logical.strip_prefix("v2/") else {
        return Endpoint::Unknown;
    };
    if rest == "_catalog" {
        return Endpoint::Catalog;
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Endpoint::Tags {
            name: name.to_owned(),
        };
    }
    let Some((head, reference)) = rest.rsplit_once('/') else {
        return Endpoint::Unknown;
    };
    let Some((name, resource)) = head.rsplit_once('/') else {
        return Endpoint::Unknown;
    };
    let (name, reference) = (name.to_owned(), reference.to_owned());
    match resource {
        "manifests" => Endpoint::Manifest { name, reference },
        "blobs" => Endpoint::Blob { name, reference },
        "referrers" => Endpoint::Referrers { name, reference },
        _ => Endpoint::Unknown,
    }
}

/// Maps the `<name>` of a request (and its `?ns=` query parameter) to a served repository
/// name; see the module docs for the three rules.
///
/// Errors: `400 NAME_INVALID` when `name`, `ns` or the resulting repository breaks the
/// distribution-spec name grammar (`[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/…)*`, at most 255
/// bytes). Whether the repository exists is not checked here.
pub fn resolve_name(
    name: &str,
    ns: Option<&str>,
    catalog: &OciCatalog,
) -> Result<String, OciFailure> {
    let invalid = |what: &str, value: &str| {
        OciFailure::new(
            ErrorCode::NameInvalid,
            format!(
                "invalid {what} {value:?}: expected lowercase components [a-z0-9]+ joined by \
                 '.', '_', '__' or '-', separated by '/', at most 255 bytes"
            ),
        )
        .detail(serde_json::json!({ "name": value }))
    };
    if !is_valid_repository(name) {
        return Err(invalid("repository name", name));
    }
    let repository = match ns {
        Some(ns) => {
            let component = registry_to_component(ns);
            if ns.contains('/') || !is_valid_repository(&component) {
                return Err(invalid("registry namespace (ns)", ns));
            }
            format!("{component}/{name}")
        }
        None => {
            let (first, rest) = match name.split_once('/') {
                Some((f, r)) => (f, Some(r)),
                None => (name, None),
            };
            let looks_like_registry =
                first.contains('.') || first.contains("__") || first == "localhost";
            if catalog.serves_component(first) || (rest.is_some() && looks_like_registry) {
                name.to_owned()
            } else if rest.is_none() {
                format!("{DEFAULT_REGISTRY}/{DEFAULT_NAMESPACE}/{name}")
            } else {
                format!("{DEFAULT_REGISTRY}/{name}")
            }
        }
    };
    if !is_valid_repository(&repository) {
        return Err(invalid("repository name", &repository));
    }
    Ok(repository)
}

/// The query parameters the pull API reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// `ns`: the upstream registry (containerd mirrors).
    pub ns: Option<String>,
    /// `n`: page size, unparsed.
    pub n: Option<String>,
    /// `last`: the last entry of the previous page.
    pub last: Option<String>,
    /// `artifactType`: the referrers filter.
    pub artifact_type: Option<String>,
}

impl Query {
    /// Parses an `application/x-www-form-urlencoded` query string; the first occurrence
    /// of a key wins, unknown keys are ignored.
    pub fn parse(query: Option<&str>) -> Query {
        let mut q = Query::default();
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let slot = match k.as_ref() {
                "ns" => &mut q.ns,
                "n" => &mut q.n,
                "last" => &mut q.last,
                "artifactType" => &mut q.artifact_type,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(v.into_owned());
            }
        }
        q
    }

    /// `n` as a page size: `None` when absent (everything), else a non-negative integer.
    ///
    /// Errors: `400 UNSUPPORTED` when `n` is not a non-negative decimal integer.
    pub fn page_size(&self) -> Result<Option<usize>, OciFailure> {
        match self.n.as_deref() {
            None => Ok(None),
            Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                // Larger than any list: saturate.
                Ok(Some(s.parse::<usize>().unwrap_or(usize::MAX)))
            }
            Some(s) => Err(OciFailure::new(
                ErrorCode::Unsupported,
                format!("invalid page size n={s:?}: expected a non-negative integer"),
            )
            .status(StatusCode::BAD_REQUEST)),
        }
    }
}

/// One page of a sorted list (distribution-spec §Listing Tags): the entries after `last`
/// (strictly greater, byte order), at most `n` of them (all when `n` is `None`), and
/// whether more remain after the page.
pub fn paginate<'a>(
    sorted: &'a [String],
    n: Option<usize>,
    last: Option<&str>,
) -> (&'a [String], bool) {
    let start = match last {
        Some(l) => sorted.partition_point(|t| t.as_str() <= l),
        None => 0,
    };
    let rest = sorted.get(start..).unwrap_or(&[]);
    match n {
        Some(n) if n < rest.len() => (rest.get(..n).unwrap_or(rest), n > 0),
        _ => (rest, false),
    }
}

/// A `Link: <path?n=N&last=T[&ns=NS]>; rel="next"` header value (RFC 8288), `None` when
/// it cannot be a header value.
pub fn next_link(path: &str, n: usize, last: &str, ns: Option<&str>) -> Option<HeaderValue> {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("n", &n.to_string());
    q.append_pair("last", last);
    if let Some(ns) = ns {
        q.append_pair("ns", ns);
    }
    HeaderValue::from_str(&format!("<{path}?{}>; rel=\"next\"", q.finish())).ok()
}

/// A `200` JSON response.
pub fn json_response(body: &serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

/// Looks up a repository that has to exist: `404 NAME_UNKNOWN` otherwise.
pub fn require_repository(live: &Live, repository: &str) -> Result<(), OciFailure> {
    if live.oci.has_repository(repository) {
        Ok(())
    } else {
        Err(OciFailure::new(
            ErrorCode::NameUnknown,
            format!("repository {repository:?} is not in the live snapshot"),
        )
        .detail(serde_json::json!({ "name": repository })))
    }
}

/// Handler for every `/v2` request (mounted by [`crate::serve::router::router`]).
pub async fn handle(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let mut resp = dispatch(&state, req).await;
    resp.headers_mut()
        .insert(API_VERSION_HEADER, HeaderValue::from_static(API_VERSION));
    resp
}

async fn dispatch(state: &AppState, req: Request) -> Response {
    let method = req.method().clone();
    if method != Method::GET && method != Method::HEAD {
        let mut resp = OciFailure::new(
            ErrorCode::Unsupported,
            format!("{method} is not supported: this registry is read-only (pull only)"),
        )
        .detail(serde_json::json!({ "method": method.as_str() }))
        .into_response();
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let (parts, _body) = req.into_parts();
    let logical = match logical_path(parts.uri.path()) {
        Ok(l) => l,
        Err(PathReject::BadRequest(why)) => {
            return OciFailure::new(ErrorCode::NameInvalid, format!("bad request path: {why}"))
                .into_response();
        }
    };
    let endpoint = parse_endpoint(&logical);
    if endpoint == Endpoint::Base {
        return json_response(&serde_json::json!({}));
    }
    let Some(live) = state.snapshot() else {
        return OciFailure::new(ErrorCode::Unavailable, NO_SNAPSHOT.trim_end()).into_response();
    };
    let query = Query::parse(parts.uri.query());
    let head = parts.method == Method::HEAD;
    let result = match endpoint {
        Endpoint::Base => return json_response(&serde_json::json!({})),
        Endpoint::Catalog => catalog::list(&live, &query),
        Endpoint::Tags { name } => tags::list(&live, &name, &query),
        Endpoint::Manifest { name, reference } => {
            manifests::get(
                state,
                &live,
                &name,
                &reference,
                &query,
                head,
                &parts.headers,
            )
            .await
        }
        Endpoint::Blob { name, reference } => {
            blobs::get(
                state,
                &live,
                &name,
                &reference,
                &query,
                head,
                &parts.headers,
            )
            .await
        }
        Endpoint::Referrers { name, reference } => {
            referrers::get(state, &live, &name, &reference, &query).await
        }
        Endpoint::Unknown => Err(OciFailure::new(
            ErrorCode::Unsupported,
            format!("no such endpoint: {}", parts.uri.path()),
        )
        .status(StatusCode::NOT_FOUND)),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(components: &[&str]) -> OciCatalog {
        OciCatalog {
            components: components.iter().map(|s| (*s).to_owned()).collect(),
            ..OciCatalog::default()
        }
    }

    #[test]
    fn endpoints() {
        assert_eq!(parse_endpoint("v2/"), Endpoint::Base);
        assert_eq!(parse_endpoint("v2"), Endpoint::Base);
        assert_eq!(parse_endpoint("v2/_catalog"), Endpoint::Catalog);
        assert_eq!(
            parse_endpoint("v2/a/b/tags/list"),
            Endpoint::Tags { name: "a/b".into() }
        );
        assert_eq!(
            parse_endpoint("v2/a/manifests/b/manifests/v1"),
            Endpoint::Manifest {
                name: "a/manifests/b".into(),
                reference: "v1".into()
            }
        );
        assert_eq!(
            parse_endpoint("v2/a/blobs/sha256:00"),
            Endpoint::Blob {
                name: "a".into(),
                reference: "sha256:00".into()
            }
        );
        assert_eq!(
            parse_endpoint("v2/a/referrers/x"),
            Endpoint::Referrers {
                name: "a".into(),
                reference: "x".into()
            }
        );
        for other in ["v2/a", "v2/a/b", "v2/a/blobs/uploads/", "v2/a/other/x"] {
            assert!(
                matches!(
                    parse_endpoint(other),
                    Endpoint::Unknown | Endpoint::Blob { .. }
                ),
                "{other}"
            );
        }
        assert_eq!(parse_endpoint("v2/a/other/x"), Endpoint::Unknown);
    }

    #[test]
    fn names() {
        let c = catalog(&["docker.io", "127.0.0.1__5000", "ghcr.io"]);
        let r = |n: &str, ns: Option<&str>| resolve_name(n, ns, &c);
        assert_eq!(
            r("library/ubuntu", Some("docker.io")).unwrap(),
            "docker.io/library/ubuntu"
        );
        assert_eq!(
            r("team/app", Some("127.0.0.1:5000")).unwrap(),
            "127.0.0.1__5000/team/app"
        );
        assert_eq!(
            r("docker.io/library/ubuntu", None).unwrap(),
            "docker.io/library/ubuntu"
        );
        assert_eq!(
            r("127.0.0.1__5000/team/app", None).unwrap(),
            "127.0.0.1__5000/team/app"
        );
        assert_eq!(r("ubuntu", None).unwrap(), "docker.io/library/ubuntu");
        assert_eq!(r("bitnami/redis", None).unwrap(), "docker.io/bitnami/redis");
        // Not served, but a registry host by Docker's rule: kept (then NAME_UNKNOWN).
        assert_eq!(r("quay.example/x/y", None).unwrap(), "quay.example/x/y");
        assert_eq!(r("localhost/x", None).unwrap(), "localhost/x");
        for bad in ["Ubuntu", "a//b", "/a", "a/", "a:b", "a..b", ""] {
            let e = r(bad, None).unwrap_err();
            assert_eq!(e.code, ErrorCode::NameInvalid, "{bad}");
        }
        assert_eq!(
            r("x", Some("bad/ns")).unwrap_err().code,
            ErrorCode::NameInvalid
        );
        assert_eq!(r("x", Some("")).unwrap_err().code, ErrorCode::NameInvalid);
        let long = "a".repeat(250);
        assert_eq!(
            r(&long, Some("docker.io")).unwrap_err().code,
            ErrorCode::NameInvalid
        );
    }

    #[test]
    fn pages() {
        let v: Vec<String> = ["a", "b", "c", "d"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(paginate(&v, None, None), (&v[..], false));
        assert_eq!(paginate(&v, Some(2), None), (&v[..2], true));
        assert_eq!(paginate(&v, Some(2), Some("b")), (&v[2..], false));
        assert_eq!(paginate(&v, Some(1), Some("bb")), (&v[2..3], true));
        assert_eq!(paginate(&v, Some(0), None), (&v[..0], false));
        assert_eq!(paginate(&v, None, Some("z")), (&v[4..], false));
        assert_eq!(paginate(&v, Some(10), None), (&v[..], false));
    }

    #[test]
    fn queries() {
        let q = Query::parse(Some(
            "ns=127.0.0.1%3A5000&n=2&last=v1&artifactType=a%2Fb&n=9",
        ));
        assert_eq!(q.ns.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(q.page_size().unwrap(), Some(2));
        assert_eq!(q.last.as_deref(), Some("v1"));
        assert_eq!(q.artifact_type.as_deref(), Some("a/b"));
        assert!(Query::parse(Some("n=-1")).page_size().is_err());
        assert!(Query::parse(Some("n=")).page_size().is_err());
        assert_eq!(Query::parse(None).page_size().unwrap(), None);
        assert_eq!(
            next_link("/v2/a/tags/list", 2, "v1", Some("docker.io")).unwrap(),
            "</v2/a/tags/list?n=2&last=v1&ns=docker.io>; rel=\"next\""
        );
    }
}
