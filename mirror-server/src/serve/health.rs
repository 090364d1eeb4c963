//! `/healthz` (JSON liveness with the live snapshot) and `/metrics` (Prometheus text
//! exposition format 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppState;

/// Request and byte counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    bytes: AtomicU64,
}

impl Metrics {
    /// Counts one answered request of route class `class` with HTTP `status`.
    pub fn count(&self, class: &'static str, status: u16) {
        let mut m = match self.requests.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *m.entry((class, status)).or_insert(0) += 1;
    }

    /// Adds `n` bytes of response body started (`GET` of blobs).
    pub fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Requests counted for (`class`, `status`).
    pub fn requests(&self, class: &str, status: u16) -> u64 {
        let m = match self.requests.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        m.iter()
            .filter(|((c, s), _)| *c == class && *s == status)
            .map(|(_, n)| *n)
            .sum()
    }

    /// Body bytes served so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// `GET /healthz`: `200 {"status":"ok","snapshot":"<channel>/<seq>"|null}`.
pub async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let name = state.snapshot().map(|l| l.name.clone());
    Json(serde_json::json!({ "status": "ok", "snapshot": name })).into_response()
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`: Prometheus text format.
///
/// - `mirror_http_requests_total{route,status}` counter (route: apt, simple, oci,
///   snapshots, files, health, metrics);
/// - `mirror_http_response_bytes_total` counter (blob body bytes sent or being sent);
/// - `mirror_snapshot_sequence` gauge (0 when none), `mirror_snapshot_info{name,channel}` 1.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut out = String::new();
    out.push_str(
        "# HELP mirror_http_requests_total HTTP requests answered, by route class and status.\n",
    );
    out.push_str("# TYPE mirror_http_requests_total counter\n");
    {
        let m = match state.metrics.requests.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for ((class, status), n) in m.iter() {
            let _ = writeln!(
                out,
                "mirror_http_requests_total{{route=\"{class}\",status=\"{status}\"}} {n}"
            );
        }
    }
    out.push_str("# HELP mirror_http_response_bytes_total Bytes of blob bodies served.\n");
    out.push_str("# TYPE mirror_http_response_bytes_total counter\n");
    let _ = writeln!(
        out,
        "mirror_http_response_bytes_total {}",
        state.metrics.bytes()
    );
    let live = state.snapshot();
    out.push_str(
        "# HELP mirror_snapshot_sequence Sequence number of the served snapshot (0 when none).\n",
    );
    out.push_str("# TYPE mirror_snapshot_sequence gauge\n");
    let _ = writeln!(
        out,
        "mirror_snapshot_sequence {}",
        live.as_ref().map_or(0, |l| l.sequence)
    );
    if let Some(l) = &live {
        out.push_str("# HELP mirror_snapshot_info The served snapshot.\n");
        out.push_str("# TYPE mirror_snapshot_info gauge\n");
        let _ = writeln!(
            out,
            "mirror_snapshot_info{{name=\"{}\",channel=\"{}\"}} 1",
            escape_label(&l.name),
            escape_label(&l.channel)
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        out,
    )
        .into_response()
}
