//! `/healthz` (JSON liveness with the live snapshot) and `/metrics` (Prometheus text
//! exposition format 0.0.4).
//!
//! Every counter is a lock-free atomic updated on the request path (by
//! [`super::observe::observe`]); `/metrics` only reads them. What each series means and
//! what an operator alerts on is tabled in `docs/operator-guide.md` ("Metrics and alerts").

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::state::AppState;

pub use super::metrics::{CLASSES, LATENCY_BUCKETS, LiveChannel, Metrics, live_channels};

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

/// `GET /metrics`: Prometheus text exposition format 0.0.4
/// (<https://prometheus.io/docs/instrumenting/exposition_formats/>), `text/plain;
/// version=0.0.4`. Series (the alert table in `docs/operator-guide.md` says what to do
/// about each):
///
/// - `mirror_http_requests_total{route,status}` counter (route: apt, simple, oci,
///   snapshots, files, health, metrics);
/// - `mirror_request_duration_seconds{class}` histogram: time from the request's arrival
///   to its response head, per route class (the body's transfer is not included);
/// - `mirror_http_completed_response_bytes_total` counter: body bytes of responses handed
///   to the connection in full; `mirror_http_incomplete_responses_total` counter:
///   responses whose body was cut (client gone, connection closed);
/// - `mirror_access_log_dropped_lines_total` counter (only with an access log);
/// - `mirror_snapshot_sequence{channel}` and `mirror_snapshot_age_seconds{channel}`
///   gauges: sequence and age (now minus the manifest's `created`, seconds) of each
///   channel's live snapshot (no sample when nothing is imported; no age when `created`
///   is not RFC 3339); `mirror_snapshot_info{name,channel}` 1 for the snapshot served at
///   the root paths.
/// - `mirror_connections_open` gauge (client connections open now) and
///   `mirror_connections_refused_total` counter (connections closed at accept because
///   `serve --max-connections` were open).
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut out = String::new();
    write_requests(&mut out, &state);
    write_latency(&mut out, &state);
    write_bytes(&mut out, &state);
    write_connections(&mut out, &state);
    write_access_log(&mut out, &state);
    write_snapshots(&mut out, &state);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        out,
    )
        .into_response()
}

/// `mirror_http_requests_total`.
fn write_requests(out: &mut String, state: &AppState) {
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
}

/// `mirror_request_duration_seconds` (every class, so `rate()` has a series from start).
fn write_latency(out: &mut String, state: &AppState) {
    out.push_str(
        "# HELP mirror_request_duration_seconds Time from a request's arrival to its response head, by route class.\n",
    );
    out.push_str("# TYPE mirror_request_duration_seconds histogram\n");
    for class in CLASSES {
        let (cumulative, sum) = state.metrics.latency(class);
        for (le, n) in LATENCY_BUCKETS.iter().zip(&cumulative) {
            let _ = writeln!(
                out,
                "mirror_request_duration_seconds_bucket{{class=\"{class}\",le=\"{le}\"}} {n}"
            );
        }
        let count = cumulative.last().copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "mirror_request_duration_seconds_bucket{{class=\"{class}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "mirror_request_duration_seconds_sum{{class=\"{class}\"}} {sum}"
        );
        let _ = writeln!(
            out,
            "mirror_request_duration_seconds_count{{class=\"{class}\"}} {count}"
        );
    }
}

/// `mirror_http_completed_response_bytes_total`, `mirror_http_incomplete_responses_total`.
fn write_bytes(out: &mut String, state: &AppState) {
    out.push_str(
        "# HELP mirror_http_completed_response_bytes_total Body bytes of responses sent in full (cut responses are not counted).\n",
    );
    out.push_str("# TYPE mirror_http_completed_response_bytes_total counter\n");
    let _ = writeln!(
        out,
        "mirror_http_completed_response_bytes_total {}",
        state.metrics.completed_bytes()
    );
    out.push_str(
        "# HELP mirror_http_incomplete_responses_total Responses whose body was cut before its end (client gone, connection closed).\n",
    );
    out.push_str("# TYPE mirror_http_incomplete_responses_total counter\n");
    let _ = writeln!(
        out,
        "mirror_http_incomplete_responses_total {}",
        state.metrics.incomplete()
    );
}

/// `mirror_connections_open`, `mirror_connections_refused_total`.
fn write_connections(out: &mut String, state: &AppState) {
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
}

/// `mirror_access_log_dropped_lines_total` (only when an access log is configured).
fn write_access_log(out: &mut String, state: &AppState) {
    if let Some(log) = &state.access_log {
        out.push_str(
            "# HELP mirror_access_log_dropped_lines_total Access-log lines dropped because the writer fell behind.\n",
        );
        out.push_str("# TYPE mirror_access_log_dropped_lines_total counter\n");
        let _ = writeln!(
            out,
            "mirror_access_log_dropped_lines_total {}",
            log.dropped()
        );
    }
}

/// `mirror_snapshot_sequence`, `mirror_snapshot_age_seconds`, `mirror_snapshot_info`.
fn write_snapshots(out: &mut String, state: &AppState) {
    let channels = state.live_channels();
    let now = chrono::Utc::now();
    out.push_str(
        "# HELP mirror_snapshot_sequence Sequence number of each channel's live snapshot.\n",
    );
    out.push_str("# TYPE mirror_snapshot_sequence gauge\n");
    for c in channels.iter() {
        let _ = writeln!(
            out,
            "mirror_snapshot_sequence{{channel=\"{}\"}} {}",
            escape_label(&c.channel),
            c.sequence
        );
    }
    out.push_str(
        "# HELP mirror_snapshot_age_seconds Age of each channel's live snapshot: now minus its manifest's created time.\n",
    );
    out.push_str("# TYPE mirror_snapshot_age_seconds gauge\n");
    for c in channels.iter() {
        if let Some(created) = c.created {
            let age = (now - created).num_milliseconds() as f64 / 1000.0;
            let _ = writeln!(
                out,
                "mirror_snapshot_age_seconds{{channel=\"{}\"}} {age}",
                escape_label(&c.channel)
            );
        }
    }
    if let Some(l) = state.snapshot() {
        out.push_str("# HELP mirror_snapshot_info The snapshot served at the root paths.\n");
        out.push_str("# TYPE mirror_snapshot_info gauge\n");
        let _ = writeln!(
            out,
            "mirror_snapshot_info{{name=\"{}\",channel=\"{}\"}} 1",
            escape_label(&l.name),
            escape_label(&l.channel)
        );
    }
}
