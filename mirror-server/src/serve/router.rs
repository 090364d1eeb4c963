//! The one route table: each URL prefix → its resource (handler) → its metrics class.
//!
//! [`ROUTES`] is the only place a prefix is written. [`Resource::of`] reads it for the
//! metrics class of every request ([`route_class`], counted by [`super::observe::observe`]),
//! for the axum routes of [`router`] (`/healthz`, `/metrics`, `/v2…`, whose method rules
//! are axum's or the registry's), for the content fallback (`/snapshots…` or a tree) and,
//! inside a tree (the live snapshot at `/`, a held one under
//! `/snapshots/<channel>/<seq>`), for `/simple…` and `/apt/…`. Which handler serves a
//! resource is one exhaustive `match` per place a request can land, so a new row cannot be
//! forgotten. Handlers never call back into this module: `/snapshots/…` hands its tree
//! back ([`snapshots::Held`]) and the router serves it.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get};

use super::path::{bad_request, logical_path};
use super::response::{NO_SNAPSHOT, plain};
use super::routes::Live;
use super::snapshots::{self, SNAPSHOTS_PREFIX};
use super::{AppState, apt, content_type, files, health, oci, simple};

/// What a request path addresses; the discriminant is the index of its metrics class in
/// [`health::CLASSES`] (the `/metrics` order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `/apt/<repo>/…`: [`apt`].
    Apt = 0,
    /// `/simple`, `/simple/…`: [`simple`].
    Simple = 1,
    /// `/v2`, `/v2/…`: [`oci`].
    Oci = 2,
    /// `/snapshots`, `/snapshots/…`: [`snapshots`].
    Snapshots = 3,
    /// Any other path: [`files`].
    Files = 4,
    /// `/healthz`: [`health::healthz`].
    Health = 5,
    /// `/metrics`: [`health::metrics`].
    Metrics = 6,
    /// `/ui`, `/ui/…`: the web console, [`crate::ui`] (a plain logical path when the
    /// console is off, `serve --no-ui`).
    Ui = 7,
}

/// One row of [`ROUTES`]: `prefix` itself matches when `exact`, paths below it
/// (`prefix/…`) when `subtree`.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The path, without a trailing `/`.
    pub prefix: &'static str,
    /// Whether `prefix` itself matches.
    pub exact: bool,
    /// Whether `prefix/` and everything below it match.
    pub subtree: bool,
    /// What it addresses.
    pub resource: Resource,
}

/// The route table; a path no row matches is [`Resource::Files`].
pub const ROUTES: [Route; 7] = [
    Route {
        prefix: "/healthz",
        exact: true,
        subtree: false,
        resource: Resource::Health,
    },
    Route {
        prefix: "/metrics",
        exact: true,
        subtree: false,
        resource: Resource::Metrics,
    },
    Route {
        prefix: "/apt",
        exact: false,
        subtree: true,
        resource: Resource::Apt,
    },
    Route {
        prefix: "/simple",
        exact: true,
        subtree: true,
        resource: Resource::Simple,
    },
    Route {
        prefix: "/v2",
        exact: true,
        subtree: true,
        resource: Resource::Oci,
    },
    Route {
        prefix: SNAPSHOTS_PREFIX,
        exact: true,
        subtree: true,
        resource: Resource::Snapshots,
    },
    Route {
        prefix: crate::ui::UI_PREFIX,
        exact: true,
        subtree: true,
        resource: Resource::Ui,
    },
];

impl Route {
    fn matches(&self, path: &str) -> bool {
        match path.strip_prefix(self.prefix) {
            Some("") => self.exact,
            Some(rest) => self.subtree && rest.starts_with('/'),
            None => false,
        }
    }
}

impl Resource {
    /// The resource a request path (or a path inside a snapshot's tree) addresses.
    pub fn of(path: &str) -> Resource {
        ROUTES
            .iter()
            .find(|r| r.matches(path))
            .map_or(Resource::Files, |r| r.resource)
    }

    /// Its metrics class (`apt`, `simple`, `oci`, `snapshots`, `files`, `health`,
    /// `metrics`, `ui`).
    pub fn class(self) -> &'static str {
        health::CLASSES[self as usize]
    }

    /// The axum handler of a resource axum routes itself (with axum's method rules for
    /// `/healthz` and `/metrics`, the registry's for `/v2`); `None` for the content
    /// resources, served by the fallback, and for the console, whose router
    /// ([`crate::ui::router`]) [`routes`] merges when it is on.
    fn method_router(self) -> Option<MethodRouter<Arc<AppState>>> {
        match self {
            Resource::Health => Some(get(health::healthz)),
            Resource::Metrics => Some(get(health::metrics)),
            Resource::Oci => Some(any(oci::handle)),
            Resource::Apt
            | Resource::Simple
            | Resource::Snapshots
            | Resource::Files
            | Resource::Ui => None,
        }
    }
}

/// Route class of a request path, for metrics.
pub fn route_class(path: &str) -> &'static str {
    Resource::of(path).class()
}

/// The router over `state` with [`super::observe::observe`] as its outermost middleware
/// (`Host` rules, metrics, access log): for embedding and tests. The serving threads use
/// [`routes`] and observe each request in the connection's service instead (one boxed
/// service and one boxed body fewer per request); both count and log the same.
pub fn router(state: Arc<AppState>) -> Router {
    routes(state.clone()).layer(middleware::from_fn_with_state(state, observe))
}

/// The routes over `state` without the observing middleware: whoever calls them must
/// observe each request ([`super::observe::Observation`], with [`route_class`]) as
/// [`super::conn::serve_stream`] does. The console's routes ([`crate::ui::router`]) are
/// merged in unless it is off ([`crate::ui::UiState::enabled`]).
pub fn routes(state: Arc<AppState>) -> Router {
    let mut app = Router::new();
    if state.ui.enabled {
        app = app.merge(crate::ui::router());
    }
    for route in ROUTES {
        let Some(handler) = route.resource.method_router() else {
            continue;
        };
        if route.exact {
            app = app.route(route.prefix, handler.clone());
        }
        if route.subtree {
            app = app
                .route(&format!("{}/", route.prefix), handler.clone())
                .route(&format!("{}/{{*rest}}", route.prefix), handler);
        }
    }
    app.fallback(content).with_state(state)
}

/// The outermost middleware: [`super::observe::observe`] with the request's metrics class.
async fn observe(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let class = route_class(req.uri().path());
    super::observe::observe(state, class, req, next).await
}

/// Fallback handler: every content route.
async fn content(State(state): State<Arc<AppState>>, req: Request) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, HeaderValue::from_static("GET, HEAD"))],
            "method not allowed: this server is read-only\n",
        )
            .into_response();
    }
    let (req, _body) = req.into_parts();
    let path = req.uri.path().to_owned();
    if Resource::of(&path) == Resource::Snapshots {
        return match snapshots::resolve(&state, &req, &path).await {
            Ok(held) => serve_tree(&state, &held.live, &req, &held.prefix, &held.path).await,
            Err(answer) => answer,
        };
    }
    let Some(live) = state.snapshot() else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, NO_SNAPSHOT);
    };
    serve_tree(&state, &live, &req, "", &path).await
}

/// Serves `path` (a request path relative to the mount point `prefix`, starting with
/// `/`) from `live`: `/simple…` with PEP 503/691 negotiation, `/apt/…`, else the logical
/// path. `prefix` is `""` at the root or `/snapshots/<channel>/<seq>`; redirects keep it.
async fn serve_tree(
    state: &AppState,
    live: &Live,
    req: &Parts,
    prefix: &str,
    path: &str,
) -> Response {
    let mut resp = serve_tree_in(state, live, req, prefix, path).await;
    if state.access_log.is_some() {
        // The access log names the snapshot that answered (a held one under /snapshots/).
        resp.extensions_mut()
            .insert(super::observe::Answered(live.name.clone()));
    }
    resp
}

/// Inside a tree only `/simple…` and `/apt/…` have handlers of their own; `/v2`,
/// `/healthz`, `/metrics`, `/snapshots` and `/ui` there are plain logical paths (and so
/// is `/ui` at the root when the console is off).
async fn serve_tree_in(
    state: &AppState,
    live: &Live,
    req: &Parts,
    prefix: &str,
    path: &str,
) -> Response {
    let resource = Resource::of(path);
    if resource == Resource::Simple {
        return simple::handle(state, live, req, prefix, path).await;
    }
    let logical = match logical_path(path) {
        Ok(l) => l,
        Err(r) => return bad_request(r),
    };
    match resource {
        Resource::Apt => apt::handle(state, live, &logical, req).await,
        Resource::Simple
        | Resource::Oci
        | Resource::Snapshots
        | Resource::Files
        | Resource::Health
        | Resource::Metrics
        | Resource::Ui => {
            files::serve_logical(state, live, &logical, req, content_type::guess).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(route_class("/apt/x/InRelease"), "apt");
        assert_eq!(route_class("/apt"), "files");
        assert_eq!(route_class("/simple/"), "simple");
        assert_eq!(route_class("/simple"), "simple");
        assert_eq!(route_class("/simplex"), "files");
        assert_eq!(route_class("/keys/repo.gpg"), "files");
        assert_eq!(route_class("/healthz"), "health");
        assert_eq!(route_class("/healthz/"), "files");
        assert_eq!(route_class("/metrics"), "metrics");
        assert_eq!(route_class("/v2"), "oci");
        assert_eq!(route_class("/v2/"), "oci");
        assert_eq!(route_class("/v2/a/b/manifests/x"), "oci");
        assert_eq!(route_class("/v2x"), "files");
        assert_eq!(route_class("/snapshots"), "snapshots");
        assert_eq!(route_class("/snapshots/"), "snapshots");
        assert_eq!(route_class("/snapshots/test/1/apt/x"), "snapshots");
        assert_eq!(route_class("/snapshotsx"), "files");
        assert_eq!(route_class("/ui"), "ui");
        assert_eq!(route_class("/ui/audit"), "ui");
        assert_eq!(route_class("/uix"), "files");
    }

    #[test]
    fn every_resource_has_its_class() {
        for (r, class) in [
            (Resource::Apt, "apt"),
            (Resource::Simple, "simple"),
            (Resource::Oci, "oci"),
            (Resource::Snapshots, "snapshots"),
            (Resource::Files, "files"),
            (Resource::Health, "health"),
            (Resource::Metrics, "metrics"),
            (Resource::Ui, "ui"),
        ] {
            assert_eq!(r.class(), class);
        }
    }
}
