//! `/healthz` (JSON liveness with the live snapshot) and `/metrics` (Prometheus text
//! exposition format 0.0.4).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppState;

/// The route classes counted, in `/metrics` order (see [`super::route_class`]).
pub const CLASSES: [&str; 7] = [
    "apt",
    "simple",
    "oci",
    "snapshots",
    "files",
    "health",
    "metrics",
];

/// Status codes counted individually: 100–599 (others are counted as 599).
const STATUSES: usize = 500;

/// Request and byte counters: one atomic per (route class, status), so counting takes no
/// lock on the request path.
#[derive(Debug)]
pub struct Metrics {
    requests: Box<[AtomicU64]>,
    bytes: AtomicU64,
    /// Connections open now (see [`Metrics::try_open_connection`]).
    connections_open: AtomicU64,
    /// Connections closed at accept because the cap was reached.
    connections_refused: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: (0..CLASSES.len() * STATUSES)
                .map(|_| AtomicU64::new(0))
                .collect(),
            bytes: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
        }
    }
}

fn slot(class: usize, status: u16) -> usize {
    class * STATUSES + usize::from(status.clamp(100, 599) - 100)
}

impl Metrics {
    /// Counts one answered request of route class `class` (one of [`CLASSES`]; others
    /// count as `files`) with HTTP `status`.
    pub fn count(&self, class: &'static str, status: u16) {
        let c = CLASSES.iter().position(|k| *k == class).unwrap_or(4);
        self.requests[slot(c, status)].fetch_add(1, Ordering::Relaxed);
    }

    /// Every non-zero counter: (class, status, count), by class then status.
    pub fn snapshot(&self) -> Vec<(&'static str, u16, u64)> {
        let mut out = Vec::new();
        for (c, class) in CLASSES.iter().enumerate() {
            for st in 0..STATUSES {
                let n = self.requests[c * STATUSES + st].load(Ordering::Relaxed);
                if n > 0 {
                    out.push((*class, (st + 100) as u16, n));
                }
            }
        }
        out
    }

    /// Adds `n` bytes of response body started (`GET` of blobs).
    pub fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Requests counted for (`class`, `status`).
    pub fn requests(&self, class: &str, status: u16) -> u64 {
        CLASSES.iter().position(|k| *k == class).map_or(0, |c| {
            self.requests[slot(c, status)].load(Ordering::Relaxed)
        })
    }

    /// Body bytes served so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Counts a new connection as open when fewer than `cap` are; otherwise counts it as
    /// refused and returns `false` (the caller closes it).
    pub fn try_open_connection(&self, cap: usize) -> bool {
        let cap = cap as u64;
        let ok = self
            .connections_open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then_some(n + 1)
            })
            .is_ok();
        if !ok {
            self.connections_refused.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Counts one connection of [`Metrics::try_open_connection`] as closed.
    pub fn connection_closed(&self) {
        let _ = self
            .connections_open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Connections open now.
    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::Acquire)
    }

    /// Connections refused (over the cap) so far.
    pub fn connections_refused(&self) -> u64 {
        self.connections_refused.load(Ordering::Relaxed)
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
/// - `mirror_snapshot_sequence` gauge (0 when none), `mirror_snapshot_info{name,channel}` 1;
/// - `mirror_connections_open` gauge (client connections open now) and
///   `mirror_connections_refused_total` counter (connections closed at accept because
///   `serve --max-connections` were open).
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut out = String::new();
    out.push_str(
        "# HELP mirror_http_requests_total HTTP requests answered, by route class and status.\n",
    );
    out.push_str("# TYPE mirror_http_requests_total counter\n");
    for (class, status, n) in state.metrics.snapshot() {
        let _ = writeln!(
            out,
            "mirror_http_requests_total{{route=\"{class}\",status=\"{status}\"}} {n}"
        );
    }
    out.push_str("# HELP mirror_http_response_bytes_total Bytes of blob bodies served.\n");
    out.push_str("# TYPE mirror_http_response_bytes_total counter\n");
    let _ = writeln!(
        out,
        "mirror_http_response_bytes_total {}",
        state.metrics.bytes()
    );
    out.push_str("# HELP mirror_connections_open Client connections open now.\n");
    out.push_str("# TYPE mirror_connections_open gauge\n");
    let _ = writeln!(
        out,
        "mirror_connections_open {}",
        state.metrics.connections_open()
    );
    out.push_str(
        "# HELP mirror_connections_refused_total Connections closed at accept because the connection cap was reached.\n",
    );
    out.push_str("# TYPE mirror_connections_refused_total counter\n");
    let _ = writeln!(
        out,
        "mirror_connections_refused_total {}",
        state.metrics.connections_refused()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_by_class_and_status() {
        let m = Metrics::default();
        m.count("oci", 200);
        m.count("oci", 200);
        m.count("apt", 404);
        m.count("unknown", 999); // counted as files/599
        assert_eq!(m.requests("oci", 200), 2);
        assert_eq!(m.requests("apt", 404), 1);
        assert_eq!(m.requests("files", 599), 1);
        assert_eq!(m.requests("nope", 200), 0);
        assert_eq!(
            m.snapshot(),
            vec![("apt", 404, 1), ("oci", 200, 2), ("files", 599, 1)]
        );
    }

    #[test]
    fn connections_are_capped_and_refusals_counted() {
        let m = Metrics::default();
        assert!(m.try_open_connection(2));
        assert!(m.try_open_connection(2));
        assert!(!m.try_open_connection(2));
        assert_eq!((m.connections_open(), m.connections_refused()), (2, 1));
        m.connection_closed();
        assert!(m.try_open_connection(2));
        m.connection_closed();
        m.connection_closed();
        m.connection_closed(); // never below zero
        assert_eq!((m.connections_open(), m.connections_refused()), (0, 1));
    }
}
