//! `/healthz` (JSON liveness with the live snapshot) and `/metrics` (Prometheus text
//! exposition format 0.0.4).
//!
//! Every counter is a lock-free atomic updated on the request path (by
//! [`super::access_log::observe`]); `/metrics` only reads them. What each series means and
//! what an operator alerts on is tabled in `docs/operator-guide.md` ("Metrics and alerts").

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::state::AppState;

/// The route classes counted, in `/metrics` order: the metrics class of each
/// [`super::router::Resource`] (its discriminant is the index here).
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

/// Upper bounds (seconds) of the request-latency histogram's buckets (`le`), after the
/// Prometheus client libraries' defaults, from 1 ms; `+Inf` follows.
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Request, latency and byte counters: one atomic per (route class, status) and per
/// (route class, latency bucket), so counting takes no lock on the request path.
#[derive(Debug)]
pub struct Metrics {
    requests: Box<[AtomicU64]>,
    /// Per class, [`LATENCY_BUCKETS`] then `+Inf`: requests whose latency fell in that
    /// bucket (not cumulative; the exposition sums them).
    latency: Box<[AtomicU64]>,
    /// Per class: sum of the latencies, in microseconds.
    latency_sum_us: Box<[AtomicU64]>,
    completed_bytes: AtomicU64,
    incomplete: AtomicU64,
    /// Connections open now (see [`Metrics::try_open_connection`]).
    connections_open: AtomicU64,
    /// Connections closed at accept because the cap was reached.
    connections_refused: AtomicU64,
}

fn atomics(n: usize) -> Box<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: atomics(CLASSES.len() * STATUSES),
            latency: atomics(CLASSES.len() * (LATENCY_BUCKETS.len() + 1)),
            latency_sum_us: atomics(CLASSES.len()),
            completed_bytes: AtomicU64::new(0),
            incomplete: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
        }
    }
}

fn class_index(class: &str) -> usize {
    CLASSES.iter().position(|k| *k == class).unwrap_or(4)
}

fn slot(class: usize, status: u16) -> usize {
    class * STATUSES + usize::from(status.clamp(100, 599) - 100)
}

impl Metrics {
    /// Counts one answered request of route class `class` (one of [`CLASSES`]; others
    /// count as `files`) with HTTP `status`.
    pub fn count(&self, class: &'static str, status: u16) {
        self.requests[slot(class_index(class), status)].fetch_add(1, Ordering::Relaxed);
    }

    /// Records one request of route class `class` (others count as `files`) whose
    /// response head was ready `took` after the request arrived.
    pub fn observe_latency(&self, class: &str, took: Duration) {
        let c = class_index(class);
        let secs = took.as_secs_f64();
        let b = LATENCY_BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency[c * (LATENCY_BUCKETS.len() + 1) + b].fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_us[c].fetch_add(us, Ordering::Relaxed);
    }

    /// Route class `class`'s histogram: cumulative counts per [`LATENCY_BUCKETS`] bound
    /// then `+Inf` (the last is the count), and the sum of latencies in seconds.
    pub fn latency(&self, class: &str) -> (Vec<u64>, f64) {
        let c = class_index(class);
        let n = LATENCY_BUCKETS.len() + 1;
        let mut acc = 0;
        let cumulative = (0..n)
            .map(|b| {
                acc += self.latency[c * n + b].load(Ordering::Relaxed);
                acc
            })
            .collect();
        let sum = self.latency_sum_us[c].load(Ordering::Relaxed) as f64 / 1e6;
        (cumulative, sum)
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

    /// Adds the `n` body bytes of a response handed to the connection in full.
    pub fn add_completed_bytes(&self, n: u64) {
        self.completed_bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one response whose body was dropped before its end (client gone,
    /// connection cut).
    pub fn count_incomplete(&self) {
        self.incomplete.fetch_add(1, Ordering::Relaxed);
    }

    /// Responses cut before the end of their body so far.
    pub fn incomplete(&self) -> u64 {
        self.incomplete.load(Ordering::Relaxed)
    }

    /// Requests counted for (`class`, `status`).
    pub fn requests(&self, class: &str, status: u16) -> u64 {
        CLASSES.iter().position(|k| *k == class).map_or(0, |c| {
            self.requests[slot(c, status)].load(Ordering::Relaxed)
        })
    }

    /// Body bytes of the responses completed so far (cut responses are not counted).
    pub fn completed_bytes(&self) -> u64 {
        self.completed_bytes.load(Ordering::Relaxed)
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

/// The live snapshot of one channel, as `/metrics` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveChannel {
    /// The channel.
    pub channel: String,
    /// Sequence number of its live snapshot.
    pub sequence: u64,
    /// The manifest's `created`, when it parses as RFC 3339.
    pub created: Option<chrono::DateTime<chrono::Utc>>,
}

/// The live snapshot of every channel in `store`'s index, sorted by channel (empty when
/// nothing was imported). Blocking (opens the index read-only).
///
/// Errors: the index cannot be read.
pub fn live_channels(store: &std::path::Path) -> anyhow::Result<Vec<LiveChannel>> {
    let rows = match crate::lifecycle::held_snapshots(store) {
        Ok(rows) => rows,
        Err(crate::lifecycle::LifecycleError::NoStore { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out: Vec<LiveChannel> = rows
        .into_iter()
        .filter(|r| r.live)
        .map(|r| LiveChannel {
            created: chrono::DateTime::parse_from_rfc3339(&r.record.created)
                .ok()
                .map(|t| t.with_timezone(&chrono::Utc)),
            channel: r.record.channel,
            sequence: r.record.sequence,
        })
        .collect();
    out.sort_by(|a, b| a.channel.cmp(&b.channel));
    Ok(out)
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
    fn latency_histogram_is_cumulative() {
        let m = Metrics::default();
        m.observe_latency("apt", Duration::from_micros(500));
        m.observe_latency("apt", Duration::from_millis(30));
        m.observe_latency("apt", Duration::from_secs(60));
        let (c, sum) = m.latency("apt");
        assert_eq!(c.len(), LATENCY_BUCKETS.len() + 1);
        assert_eq!(c[0], 1); // le 0.001
        assert_eq!(c[4], 1); // le 0.025
        assert_eq!(c[5], 2); // le 0.05
        assert_eq!(c[LATENCY_BUCKETS.len() - 1], 2); // le 10
        assert_eq!(*c.last().unwrap(), 3); // +Inf
        assert!((sum - 60.0305).abs() < 1e-9, "{sum}");
        assert_eq!(m.latency("oci").0.last(), Some(&0));
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
