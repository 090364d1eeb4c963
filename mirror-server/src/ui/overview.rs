//! `GET /ui/`: the held snapshots (the `mirror-server snapshots` list, from
//! [`crate::lifecycle::held_snapshots`]) with their artifact counts per kind and the last
//! `verify` outcome ([`super::verify_status`]).

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::verify_status::{self, LastVerify};
use super::{blocking, human_bytes, render};
use crate::lifecycle::{LifecycleError, SnapshotRow};
use crate::serve::AppState;

/// One held snapshot as the overview shows it.
#[derive(Debug, Clone)]
pub struct SnapshotView {
    /// `<channel>/<sequence>`.
    pub name: String,
    /// Channel.
    pub channel: String,
    /// Sequence number.
    pub sequence: u64,
    /// Creation time (RFC 3339), from the manifest.
    pub created: String,
    /// Import time (RFC 3339).
    pub imported_at: String,
    /// Key id of the signer.
    pub signer: String,
    /// Artifact bytes, human-readable.
    pub size: String,
    /// Number of artifacts.
    pub artifacts: u64,
    /// `kind count` pairs, or why they could not be read.
    pub counts: Vec<(String, u64)>,
    /// Why the counts are missing (the manifest could not be read), else empty.
    pub counts_error: String,
    /// Live on its channel.
    pub live: bool,
    /// Served at the root paths.
    pub current: bool,
    /// Pinned against garbage collection.
    pub pinned: bool,
    /// The pin's reason, when pinned with one.
    pub pin_reason: String,
    /// The verify state's label ([`verify_status::SnapshotVerify::label`]).
    pub verify: &'static str,
    /// Its CSS class.
    pub verify_class: &'static str,
    /// The snapshot's packages page.
    pub packages_url: String,
}

/// The overview page.
#[derive(Template)]
#[template(path = "ui/overview.html")]
pub struct Overview {
    /// Page title.
    pub title: String,
    /// The snapshot served at the root paths, if any.
    pub current: Option<String>,
    /// Every held snapshot, by channel then sequence.
    pub snapshots: Vec<SnapshotView>,
    /// The last verify run, described.
    pub last_verify: String,
    /// Its CSS class (`ok`, `bad`, `unknown`).
    pub last_verify_class: &'static str,
}

fn describe(last: Option<&LastVerify>) -> (String, &'static str) {
    match last {
        None => (
            "mirror-server verify has not run on this store yet (run it to re-hash every blob)"
                .into(),
            "unknown",
        ),
        Some(l) if l.ok => (format!("passed at {}", l.time), "ok"),
        Some(l) => (
            format!(
                "FAILED at {}: {} problems in {} snapshots (run mirror-server verify for the list)",
                l.time, l.problems, l.failed_total
            ),
            "bad",
        ),
    }
}

/// Builds the page from the store (blocking).
///
/// Errors: the index or the audit log cannot be read (a message naming it).
pub fn build(state: &AppState) -> Result<Overview, String> {
    let rows: Vec<SnapshotRow> = match crate::lifecycle::held_snapshots(&state.store) {
        Ok(r) => r,
        Err(LifecycleError::NoStore { .. }) => Vec::new(),
        Err(e) => return Err(format!("cannot list the held snapshots: {e}")),
    };
    let log = crate::audit::read_log(&state.store)
        .map_err(|e| format!("cannot read the audit log: {e}"))?;
    let last = verify_status::last_verify(&log);
    let (last_verify, last_verify_class) = describe(last.as_ref());
    let snapshots = rows
        .iter()
        .map(|row| {
            let r = &row.record;
            let (counts, counts_error) = match state.ui.cache.counts(&state.store, r) {
                Ok(c) => (c.as_ref().clone(), String::new()),
                Err(e) => (Vec::new(), e),
            };
            let v = verify_status::snapshot_state(last.as_ref(), &r.name, &r.imported_at);
            SnapshotView {
                name: r.name.clone(),
                channel: r.channel.clone(),
                sequence: r.sequence,
                created: r.created.clone(),
                imported_at: r.imported_at.clone(),
                signer: r.signer.clone(),
                size: human_bytes(r.bytes),
                artifacts: r.artifacts,
                counts,
                counts_error,
                live: row.live,
                current: row.current,
                pinned: row.pinned,
                pin_reason: row
                    .pin
                    .as_ref()
                    .and_then(|p| p.reason.clone())
                    .unwrap_or_default(),
                verify: v.label(),
                verify_class: v.class(),
                packages_url: format!("/ui/snapshots/{}/{}/packages", r.channel, r.sequence),
            }
        })
        .collect();
    Ok(Overview {
        title: "Snapshots".into(),
        current: rows
            .iter()
            .find(|r| r.current)
            .map(|r| r.record.name.clone()),
        snapshots,
        last_verify,
        last_verify_class,
    })
}

/// `GET /ui/`.
pub async fn page(State(state): State<Arc<AppState>>) -> Response {
    match blocking(move || build(&state)).await {
        Ok(p) => render(StatusCode::OK, &p),
        Err(r) => r,
    }
}
