//! `/snapshots`, `/snapshots/` (JSON list of the held snapshots) and
//! `/snapshots/<channel>/<seq>/…` (that held snapshot, served like the live one).
//!
//! [`resolve`] answers the list, the redirects and the errors itself and otherwise hands
//! back the snapshot's table and the path inside it ([`Held`]); the router serves that
//! tree, so this handler never calls back into the router.

use std::sync::Arc;

use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::response::plain;
use super::routes::Live;
use super::state::AppState;

/// URL prefix of the held-snapshot routes.
pub const SNAPSHOTS_PREFIX: &str = "/snapshots";

/// A held snapshot's tree to serve: its table, its mount point
/// (`/snapshots/<channel>/<seq>`) and the request path below it (starting with `/`).
#[derive(Debug)]
pub struct Held {
    /// The held snapshot's routing table.
    pub live: Arc<Live>,
    /// The mount point, kept by redirects.
    pub prefix: String,
    /// The request path relative to `prefix`.
    pub path: String,
}

/// `/snapshots`, `/snapshots/` (the list) and `/snapshots/<channel>/<seq>/…`: the
/// held snapshot's tree to serve, or the answer itself (`Err`: the list, a `301` to the
/// slash form, `404` for a malformed or unheld name, `500` when it cannot be loaded).
pub async fn resolve(state: &Arc<AppState>, req: &Parts, path: &str) -> Result<Held, Response> {
    let rest = path
        .strip_prefix(SNAPSHOTS_PREFIX)
        .unwrap_or("")
        .trim_start_matches('/');
    if rest.is_empty() {
        return Err(held_list(state).await);
    }
    let mut parts = rest.splitn(3, '/');
    let (channel, seq) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let name = format!("{channel}/{seq}");
    if formats::snapshot::SnapshotName::parse(&name).is_none() {
        return Err(plain(
            StatusCode::NOT_FOUND,
            format!(
                "not found: {path}: expected {SNAPSHOTS_PREFIX}/<channel>/<sequence>/<path> (GET {SNAPSHOTS_PREFIX}/ lists the held snapshots)\n"
            ),
        ));
    }
    let prefix = format!("{SNAPSHOTS_PREFIX}/{name}");
    let Some(tail) = parts.next() else {
        let loc = match req.uri.query() {
            Some(q) => format!("{prefix}/?{q}"),
            None => format!("{prefix}/"),
        };
        return Err(match HeaderValue::from_str(&loc) {
            Ok(v) => (
                StatusCode::MOVED_PERMANENTLY,
                [(header::LOCATION, v)],
                format!("moved to {loc}\n"),
            )
                .into_response(),
            Err(_) => plain(StatusCode::BAD_REQUEST, "bad request\n"),
        });
    };
    let live = match state.held_snapshot(&name).await {
        Ok(Some(l)) => l,
        Ok(None) => {
            return Err(plain(
                StatusCode::NOT_FOUND,
                format!(
                    "snapshot {name} is not held by this server (GET {SNAPSHOTS_PREFIX}/ lists the held snapshots)\n"
                ),
            ));
        }
        Err(e) => {
            tracing::error!(snapshot = %name, error = %e, "cannot load a held snapshot");
            return Err(plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("snapshot {name} cannot be loaded: {e}\n"),
            ));
        }
    };
    Ok(Held {
        live,
        prefix,
        path: format!("/{tail}"),
    })
}

/// `GET /snapshots/`: JSON array of the held snapshots (see
/// [`crate::lifecycle::SnapshotRow`]); `[]` when nothing was imported.
async fn held_list(state: &AppState) -> Response {
    let store = state.store.clone();
    let rows = tokio::task::spawn_blocking(move || crate::lifecycle::held_snapshots(&store)).await;
    match rows {
        Ok(Ok(rows)) => axum::Json(rows).into_response(),
        Ok(Err(crate::lifecycle::LifecycleError::NoStore { .. })) => {
            axum::Json(Vec::<crate::lifecycle::SnapshotRow>::new()).into_response()
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot list snapshots");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot list snapshots: {e}\n"),
            )
        }
        Err(e) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot list snapshots: {e}\n"),
        ),
    }
}
