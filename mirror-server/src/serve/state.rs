//! The server's shared state ([`AppState`]: the live routing table, the held-snapshot cache,
//! counters, small-blob cache, access log) and the options [`super::start_with`] takes
//! ([`ServeOptions`]).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use store::Cas;

use super::access_log::{self, AccessLogConfig};
use super::metrics::{LiveChannel, Metrics};
use super::routes::{self, Live};
use super::{body, tls};

/// How many routing tables of non-live snapshots the server keeps in memory.
pub const HELD_CACHE: usize = 4;

/// LRU of held snapshots' routing tables (most recent first), with the epoch it was
/// filled in (see [`AppState::clear_held_cache`]).
#[derive(Debug, Default)]
struct HeldCache {
    epoch: u64,
    entries: VecDeque<Arc<Live>>,
}

/// Shared server state.
#[derive(Debug)]
pub struct AppState {
    /// The store directory.
    pub store: PathBuf,
    /// The store's blobs (read only).
    pub cas: Cas,
    live: RwLock<Option<Arc<Live>>>,
    held: Mutex<HeldCache>,
    /// Request and byte counters.
    pub metrics: Metrics,
    /// Bytes of small blobs, served from memory.
    pub small: body::SmallBlobs,
    /// The access log, when one is configured.
    pub(super) access_log: Option<access_log::AccessLog>,
    /// Each channel's live snapshot, for `/metrics` (refreshed with the routing table).
    channels: RwLock<Arc<[LiveChannel]>>,
    /// The web console: on or off, TLS, its cache ([`crate::ui`]).
    pub ui: crate::ui::UiState,
}

impl AppState {
    /// State over `store` serving `live` (no snapshot when `None`), with the console on
    /// (plain HTTP).
    pub fn new(store: PathBuf, live: Option<Live>) -> AppState {
        AppState {
            cas: Cas::at(&store),
            store,
            live: RwLock::new(live.map(Arc::new)),
            held: Mutex::new(HeldCache::default()),
            metrics: Metrics::default(),
            small: body::SmallBlobs::default(),
            access_log: None,
            channels: RwLock::new(Arc::from(Vec::new())),
            ui: crate::ui::UiState::new(true, false),
        }
    }

    /// Each channel's live snapshot as last read from the index (see
    /// [`super::metrics::live_channels`]).
    pub fn live_channels(&self) -> Arc<[LiveChannel]> {
        match self.channels.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the channels' live snapshots reported by `/metrics`.
    pub fn set_live_channels(&self, channels: Vec<LiveChannel>) {
        let new: Arc<[LiveChannel]> = Arc::from(channels);
        match self.channels.write() {
            Ok(mut g) => *g = new,
            Err(p) => *p.into_inner() = new,
        }
    }

    fn held_cache(&self) -> std::sync::MutexGuard<'_, HeldCache> {
        match self.held.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Empties the cache of held snapshots' tables (called when `current.gen` changes).
    /// A table being loaded while this runs is not cached.
    pub fn clear_held_cache(&self) {
        let mut c = self.held_cache();
        c.epoch = c.epoch.wrapping_add(1);
        c.entries.clear();
    }

    /// Names of the tables in the held-snapshot cache, most recently used first.
    pub fn held_cached(&self) -> Vec<String> {
        self.held_cache()
            .entries
            .iter()
            .map(|l| l.name.clone())
            .collect()
    }

    /// The routing table of held snapshot `name`: the live table when it is the live
    /// snapshot, else from the cache, else loaded from the store (blocking work on the
    /// blocking pool) and cached. `Ok(None)` when the store does not hold it.
    ///
    /// Errors: the index or the snapshot's manifest cannot be read (the message names
    /// the snapshot and the blob).
    pub async fn held_snapshot(self: &Arc<Self>, name: &str) -> Result<Option<Arc<Live>>, String> {
        if let Some(l) = self.snapshot().filter(|l| l.name == name) {
            return Ok(Some(l));
        }
        let epoch = {
            let mut c = self.held_cache();
            if let Some(i) = c.entries.iter().position(|l| l.name == name)
                && let Some(l) = c.entries.remove(i)
            {
                c.entries.push_front(l.clone());
                return Ok(Some(l));
            }
            c.epoch
        };
        let store = self.store.clone();
        let owned = name.to_owned();
        let loaded = tokio::task::spawn_blocking(move || routes::load_named(&store, &owned))
            .await
            .map_err(|e| format!("loading snapshot {name} failed: {e}"))?
            .map_err(|e| e.to_string())?;
        let Some(l) = loaded.map(Arc::new) else {
            return Ok(None);
        };
        let mut c = self.held_cache();
        if c.epoch == epoch && !c.entries.iter().any(|e| e.name == l.name) {
            c.entries.push_front(l.clone());
            c.entries.truncate(HELD_CACHE);
        }
        Ok(Some(l))
    }

    /// The routing table of the live snapshot, if any (one consistent snapshot).
    pub fn snapshot(&self) -> Option<Arc<Live>> {
        match self.live.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the live routing table.
    pub fn set_snapshot(&self, live: Option<Live>) {
        let new = live.map(Arc::new);
        match self.live.write() {
            Ok(mut g) => *g = new,
            Err(p) => *p.into_inner() = new,
        }
    }
}

/// Number of serving threads [`super::start`] uses: one per available CPU, at most 16.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(16))
}

/// How [`super::start_with`] serves: threads, connection limits, TLS, logs. Every field has a
/// default that suits a Cube's localhost server; `serve`'s flags fill it. The connection
/// rules are described in [`super::conn`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Serving threads, each with its own event loop (at least 1; default
    /// [`default_workers`]).
    pub workers: usize,
    /// How long a stop (SIGTERM, [`super::ServerHandle::shutdown`]) lets in-flight requests
    /// finish before their connections are closed (default 10 s).
    pub drain_timeout: Duration,
    /// One line per request to a file or standard output (default none); see
    /// [`access_log`].
    pub access_log: Option<AccessLogConfig>,
    /// Time allowed after accept for the first request, and for a request head after its
    /// first byte (default 10 s; `serve --header-timeout`).
    pub header_timeout: Duration,
    /// Time a keep-alive connection with no request in flight may stay silent (default
    /// 60 s; `serve --idle-timeout`).
    pub idle_timeout: Duration,
    /// Minimum rate, in bytes per second, of a response the client is not reading; 0
    /// turns the rule off (default 1024; `serve --min-rate`).
    pub min_rate: u64,
    /// Window over which `min_rate` is measured (default 30 s; `serve --min-rate-period`).
    pub min_rate_period: Duration,
    /// Cap on open client connections; `None` derives it from the descriptor limit
    /// ([`super::conn::default_max_connections`]; `serve --max-connections`).
    pub max_connections: Option<usize>,
    /// Serve HTTPS with these files instead of plain HTTP (default `None`): see [`tls`].
    pub tls: Option<tls::TlsSettings>,
    /// Serve the read-only web console under `/ui/` (default `true`; `serve --no-ui`
    /// turns it off): see [`crate::ui`].
    pub ui: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            workers: default_workers(),
            drain_timeout: Duration::from_secs(10),
            access_log: None,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            min_rate: 1024,
            min_rate_period: Duration::from_secs(30),
            max_connections: None,
            tls: None,
            ui: true,
        }
    }
}
