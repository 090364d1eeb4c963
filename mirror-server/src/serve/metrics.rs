//! The server's counters: requests by route class and status, the latency histogram,
//! completed and cut response bodies, open and refused connections, and the live
//! snapshot of each channel. Lock-free atomics updated on the request path (by
//! [`super::observe`] and [`super::conn`]); [`super::health`] renders them at `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The route classes counted, in `/metrics` order: the metrics class of each
/// [`super::router::Resource`] (its discriminant is the index here).
pub const CLASSES: [&str; 8] = [
    "apt",
    "simple",
    "oci",
    "snapshots",
    "files",
    "health",
    "metrics",
    "ui",
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
