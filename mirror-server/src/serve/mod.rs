//! `mirror-server serve`: the read-only HTTP server (axum) over the live snapshot.
//!
//! Routes (GET and HEAD; any other method gets `405`):
//!
//! | path                               | module      |
//! |------------------------------------|-------------|
//! | `/apt/<repo>/…`                    | [`apt`]     |
//! | `/simple/`, `/simple/<project>/…`  | [`simple`]  |
//! | `/v2`, `/v2/…` (every method; push methods get `405 UNSUPPORTED`) | [`oci`] |
//! | `/healthz`, `/metrics`             | [`health`]  |
//! | `/snapshots/`                      | JSON list of the held snapshots (name, channel, sequence, live, current, pinned, …) |
//! | `/snapshots/<channel>/<seq>/<path>`| that held snapshot, served exactly as the live one is at `/<path>` (`apt/`, `simple/` with PEP 691 negotiation, files; not the OCI `/v2` API) |
//! | any other path (`/keys/…`, …)      | logical-path lookup, served by [`files`] |
//!
//! Every request first goes through [`access_log::observe`]: the `Host` rules of RFC 9112
//! §3.2 (`400` otherwise), the request counters and latency histogram of [`health`], the
//! completed-bytes count, and the access log when one is configured
//! ([`ServeOptions::access_log`]). Error bodies ([`plain`]) escape control characters.
//! With [`ServeOptions::tls`] the same routes are served over HTTPS only (rustls; HTTP/2
//! or HTTP/1.1 by ALPN; the certificate is reloadable): see [`tls`].
//!
//! The routing table ([`crate::live::Live`]) is built from the store's current snapshot at
//! start and rebuilt when `STORE/current.gen` or the index file changes (polled every second). Each request
//! takes one `Arc` of the table, so it never sees a mix of two snapshots. No redb lock is
//! held while serving: the index is opened read-only, read and closed on each reload.
//!
//! Tables of other held snapshots (for `/snapshots/…`) are loaded on demand
//! ([`crate::live::load_named`]) and kept in a small LRU cache of [`HELD_CACHE`] tables,
//! which is emptied whenever `current.gen` changes (rollback, gc, import), so a snapshot
//! removed by garbage collection answers `404` within a second. A logical path of the
//! live snapshot that begins with `snapshots/` is shadowed by these routes.

pub mod access_log;
pub mod apt;
pub mod conn;
pub mod files;
pub mod health;
pub mod oci;
pub mod simple;
pub mod tls;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use store::Cas;

use crate::live::{self, Live};

pub use access_log::{AccessLogConfig, AccessLogFormat, AccessLogTarget};
pub use health::{LiveChannel, Metrics};

/// Answer of every content route while the store has no snapshot.
pub const NO_SNAPSHOT: &str = "no snapshot imported yet: run mirror-server import\n";

/// How many routing tables of non-live snapshots the server keeps in memory.
pub const HELD_CACHE: usize = 4;

/// URL prefix of the held-snapshot routes.
pub const SNAPSHOTS_PREFIX: &str = "/snapshots";

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
    pub small: files::SmallBlobs,
    /// The access log, when one is configured.
    access_log: Option<access_log::AccessLog>,
    /// Each channel's live snapshot, for `/metrics` (refreshed with the routing table).
    channels: RwLock<Arc<[LiveChannel]>>,
}

impl AppState {
    /// State over `store` serving `live` (no snapshot when `None`).
    pub fn new(store: PathBuf, live: Option<Live>) -> AppState {
        AppState {
            cas: Cas::at(&store),
            store,
            live: RwLock::new(live.map(Arc::new)),
            held: Mutex::new(HeldCache::default()),
            metrics: Metrics::default(),
            small: files::SmallBlobs::default(),
            access_log: None,
            channels: RwLock::new(Arc::from(Vec::new())),
        }
    }

    /// Each channel's live snapshot as last read from the index (see
    /// [`health::live_channels`]).
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
        let loaded = tokio::task::spawn_blocking(move || live::load_named(&store, &owned))
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

/// A running server. Dropping it stops the serving threads in the background (their
/// stop signal closes); [`ServerHandle::shutdown`] also waits for them and the in-flight
/// requests to finish.
#[derive(Debug)]
pub struct ServerHandle {
    /// The address the listener is bound to (useful with port 0).
    pub addr: SocketAddr,
    /// Shared state (for tests and embedding).
    pub state: Arc<AppState>,
    /// The TLS acceptor when serving HTTPS ([`tls::Tls::reload`] on SIGHUP).
    pub tls: Option<Arc<tls::Tls>>,
    shutdown: tokio::sync::watch::Sender<bool>,
    workers: Vec<std::thread::JoinHandle<std::io::Result<()>>>,
    reloader: tokio::task::JoinHandle<()>,
    drain_timeout: Duration,
}

impl ServerHandle {
    /// Stops accepting, lets in-flight requests finish for at most
    /// [`ServeOptions::drain_timeout`], then closes every connection; stops the reload
    /// task. Returns within the drain timeout plus about two seconds, whatever the
    /// clients do (a thread still running then is left behind with a warning).
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        self.reloader.abort();
        let workers = self.workers;
        let bound = self.drain_timeout + Duration::from_secs(3);
        let joined = tokio::time::timeout(
            bound,
            tokio::task::spawn_blocking(move || {
                workers.into_iter().map(|w| w.join()).collect::<Vec<_>>()
            }),
        )
        .await;
        let Ok(joined) = joined else {
            tracing::warn!("serving threads still running after the drain timeout; leaving them");
            return;
        };
        for r in joined.into_iter().flatten() {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "server stopped with an error"),
                Err(_) => tracing::warn!("server worker thread panicked"),
            }
        }
    }
}

/// Number of serving threads [`start`] uses: one per available CPU, at most 16.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(16))
}

/// Binds `listen`, loads the store's current snapshot and serves it until
/// [`ServerHandle::shutdown`], with [`default_workers`] serving threads.
///
/// Errors: the address cannot be bound, or the store's index or current manifest cannot be
/// read (a store with nothing imported is fine: content routes answer `503`).
pub async fn start(store: PathBuf, listen: SocketAddr) -> anyhow::Result<ServerHandle> {
    start_with(store, listen, ServeOptions::default()).await
}

/// How [`start_with`] serves: threads, connection limits, TLS, logs. Every field has a
/// default that suits a Cube's localhost server; `serve`'s flags fill it. The connection
/// rules are described in [`conn`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Serving threads, each with its own event loop (at least 1; default
    /// [`default_workers`]).
    pub workers: usize,
    /// How long a stop (SIGTERM, [`ServerHandle::shutdown`]) lets in-flight requests
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
    /// ([`conn::default_max_connections`]; `serve --max-connections`).
    pub max_connections: Option<usize>,
    /// Serve HTTPS with these files instead of plain HTTP (default `None`): see [`tls`].
    pub tls: Option<tls::TlsSettings>,
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
        }
    }
}

/// Like [`start`], with the threads, limits and TLS of `opts`.
///
/// Raises the soft descriptor limit to the hard one ([`conn::raise_nofile_limit`]) and
/// binds **one** listening socket ([`conn::bind`]: a second server on the same address
/// fails with "address in use"). Each serving thread runs its own single-threaded async
/// runtime and accepts on its own clone of that socket ([`conn::accept_loop`]), the way
/// nginx's workers share one listening socket: a request is parsed, answered and written
/// by one thread, with no cross-thread wake-ups. The reload task runs on the caller's
/// runtime; all threads share one [`AppState`].
///
/// Errors: the address is in use or cannot be bound; the store's current snapshot cannot
/// be loaded; a thread cannot be started.
pub async fn start_with(
    store: PathBuf,
    listen: SocketAddr,
    opts: ServeOptions,
) -> anyhow::Result<ServerHandle> {
    let workers = opts.workers.max(1);
    let tls = match &opts.tls {
        Some(t) => Some(tls::Tls::load(t).context("cannot start TLS")?),
        None => None,
    };
    let nofile = match conn::raise_nofile_limit() {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the soft descriptor limit (RLIMIT_NOFILE)");
            1024
        }
    };
    let max_connections = match opts.max_connections {
        Some(n) => {
            let room = nofile.saturating_sub(conn::fd_reserve(nofile));
            if n as u64 > room {
                tracing::warn!(
                    max_connections = n,
                    nofile,
                    "--max-connections leaves fewer than {} descriptors for the store and reloads (raise LimitNOFILE)",
                    conn::fd_reserve(nofile)
                );
            }
            n.max(1)
        }
        None => conn::default_max_connections(nofile),
    };
    let limits = conn::Limits {
        header_timeout: opts.header_timeout,
        idle_timeout: opts.idle_timeout,
        min_rate: opts.min_rate,
        min_rate_period: opts.min_rate_period,
        max_connections,
        drain_timeout: opts.drain_timeout,
    };
    let listener = conn::bind(listen)?;
    let addr = listener.local_addr().context("listener address")?;
    let mut listeners = Vec::with_capacity(workers);
    for _ in 1..workers {
        listeners.push(
            listener
                .try_clone()
                .with_context(|| format!("cannot share the listening socket of {addr}"))?,
        );
    }
    listeners.push(listener);
    let generation = reload_key(&store);
    let (initial, channels) = {
        let s = store.clone();
        tokio::task::spawn_blocking(move || (live::load(&s), health::live_channels(&s)))
            .await
            .context("loading the live snapshot")?
    };
    let initial = initial
        .with_context(|| format!("cannot load the current snapshot of {}", store.display()))?;
    let access = opts
        .access_log
        .as_ref()
        .map(access_log::AccessLog::open)
        .transpose()?;
    match &initial {
        Some(l) => {
            tracing::info!(snapshot = %l.name, files = l.routes.len(), %addr, workers, max_connections, nofile, "serving")
        }
        None => {
            tracing::info!(%addr, workers, max_connections, nofile, "serving; no snapshot imported yet")
        }
    }
    let mut state = AppState::new(store, initial);
    state.access_log = access;
    set_channels(&state, channels);
    let state = Arc::new(state);
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut threads = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let ctx = Arc::new(
            conn::ConnContext::new(router(state.clone()), state.clone(), limits)
                .with_tls(tls.clone()),
        );
        let rx = rx.clone();
        let t = std::thread::Builder::new()
            .name(format!("serve-{i}"))
            .spawn(move || serve_thread(listener, ctx, rx, i == 0))
            .context("cannot start a serving thread")?;
        threads.push(t);
    }
    let reloader = tokio::spawn(reload_loop(state.clone(), generation));
    Ok(ServerHandle {
        addr,
        state,
        tls,
        shutdown: tx,
        workers: threads,
        reloader,
        drain_timeout: opts.drain_timeout,
    })
}

/// Blocking-pool threads per serving thread (cache fills, streamed reads, snapshot
/// loads): enough to keep a disk busy, few enough that each thread's allocator arena and
/// stack do not add up under load.
const BLOCKING_THREADS: usize = 8;

/// One serving thread: a single-threaded runtime accepting on `listener` until `stop`
/// turns true, then draining its connections (bounded by the drain timeout); blocking
/// reads still running after that get one more second. The first thread also returns
/// freed memory after connection bursts ([`conn::trim_after_bursts`]).
fn serve_thread(
    listener: std::net::TcpListener,
    ctx: Arc<conn::ConnContext>,
    stop: tokio::sync::watch::Receiver<bool>,
    first: bool,
) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()?;
    let r = rt.block_on(async move {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        if first {
            tokio::spawn(conn::trim_after_bursts(ctx.state.clone(), stop.clone()));
        }
        conn::accept_loop(listener, ctx, stop).await;
        Ok(())
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    r
}

/// Polls `STORE/current.gen` every second and swaps in the new snapshot when it changes.
/// A failed load keeps the old table and is retried on the next tick.
/// What the reload loop watches: `STORE/current.gen` and the index file's size and
/// modification time. The generation is bumped after every change of the live snapshot;
/// the index's own change covers an import killed between its commit and that bump, so a
/// running server never keeps serving a snapshot the index no longer calls current.
fn reload_key(store: &std::path::Path) -> Option<String> {
    let generation = live::generation(store);
    let index = std::fs::metadata(store.join(live::INDEX_FILE))
        .ok()
        .map(|m| {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}:{mtime}", m.len())
        });
    match (generation, index) {
        (None, None) => None,
        (g, i) => Some(format!(
            "{}|{}",
            g.unwrap_or_default(),
            i.unwrap_or_default()
        )),
    }
}

async fn reload_loop(state: Arc<AppState>, mut last: Option<String>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let store = state.store.clone();
        let now = match tokio::task::spawn_blocking(move || reload_key(&store)).await {
            Ok(g) => g,
            Err(_) => continue,
        };
        if now == last {
            continue;
        }
        state.clear_held_cache();
        let store = state.store.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            (live::load(&store), health::live_channels(&store))
        })
        .await
        .map(|(l, c)| {
            set_channels(&state, c);
            l
        });
        match loaded {
            Ok(Ok(l)) => {
                match &l {
                    Some(l) => {
                        tracing::info!(snapshot = %l.name, files = l.routes.len(), "switched snapshot")
                    }
                    None => tracing::info!("no snapshot"),
                }
                state.set_snapshot(l);
                last = now;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "reload failed; still serving the previous snapshot")
            }
            Err(e) => tracing::warn!(error = %e, "reload task failed"),
        }
    }
}

/// Stores the channels' live snapshots for `/metrics`; a failed read keeps the previous
/// ones (and is logged).
fn set_channels(state: &AppState, channels: anyhow::Result<Vec<LiveChannel>>) {
    match channels {
        Ok(c) => state.set_live_channels(c),
        Err(e) => tracing::warn!(
            error = %e,
            "cannot read the channels' live snapshots for /metrics; keeping the previous ones"
        ),
    }
}

/// The router over `state` (used by [`start`]; public for embedding and tests).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .route("/v2", any(oci::handle))
        .route("/v2/", any(oci::handle))
        .route("/v2/{*rest}", any(oci::handle))
        .fallback(content)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            access_log::observe,
        ))
        .with_state(state)
}

/// Route class of a request path, for metrics.
pub fn route_class(path: &str) -> &'static str {
    if path == "/healthz" {
        "health"
    } else if path == "/metrics" {
        "metrics"
    } else if path.starts_with("/apt/") {
        "apt"
    } else if path == "/simple" || path.starts_with("/simple/") {
        "simple"
    } else if path == "/v2" || path.starts_with("/v2/") {
        "oci"
    } else if path == SNAPSHOTS_PREFIX || path.starts_with("/snapshots/") {
        "snapshots"
    } else {
        "files"
    }
}

/// A `text/plain` response. Error bodies often quote the request path, which may hold
/// percent-decoded control bytes: every control character (C0, DEL, C1) in `body` except
/// one final `\n` is written as `\u{..}`, so a body printed by `curl` can never drive
/// the terminal.
pub fn plain(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        escape_controls(body.into()),
    )
        .into_response()
}

/// `s` with every control character except one trailing `\n` escaped as `\u{hex}`
/// (Rust's `char::escape_unicode` form); `s` itself when it has none.
pub fn escape_controls(s: String) -> String {
    let (text, newline) = match s.strip_suffix('\n') {
        Some(t) => (t, "\n"),
        None => (s.as_str(), ""),
    };
    if !text.chars().any(char::is_control) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out.push_str(newline);
    out
}

/// Why a request path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathReject {
    /// A `..` segment, an encoded `/`, NUL or backslash, or invalid UTF-8 (`400`).
    BadRequest(&'static str),
}

/// Turns a raw request path (`/apt/cuda/./x%2b1.deb`) into a logical path
/// (`apt/cuda/x+1.deb`): percent-decodes each segment (apt sends `%2b` for `+`), drops `.`
/// segments (apt asks for `flat/./x.deb`), refuses `..`, and changes nothing else (an empty
/// segment stays and simply matches no file). A path with nothing to decode or drop (the
/// usual case) is borrowed, not copied.
pub fn logical_path(raw: &str) -> Result<Cow<'_, str>, PathReject> {
    let rest = raw.strip_prefix('/').unwrap_or(raw);
    let plain =
        !rest.contains(['%', '\\', '\0']) && !rest.split('/').any(|seg| seg == "." || seg == "..");
    if plain {
        return Ok(Cow::Borrowed(rest));
    }
    let mut out: Vec<String> = Vec::new();
    for seg in rest.split('/') {
        let dec = percent_encoding::percent_decode_str(seg)
            .decode_utf8()
            .map_err(|_| PathReject::BadRequest("path is not UTF-8"))?;
        match dec.as_ref() {
            "." => continue,
            ".." => return Err(PathReject::BadRequest("\"..\" in path")),
            s if s.contains(['/', '\\', '\0']) => {
                return Err(PathReject::BadRequest(
                    "encoded '/', backslash or NUL in path",
                ));
            }
            _ => out.push(dec.into_owned()),
        }
    }
    Ok(Cow::Owned(out.join("/")))
}

fn bad_request(r: PathReject) -> Response {
    let PathReject::BadRequest(why) = r;
    plain(StatusCode::BAD_REQUEST, format!("bad request: {why}\n"))
}

/// Serves logical path `logical` from `live`, typed by the manifest's media type or
/// `guess(logical)`; `404` when absent.
pub(crate) async fn serve_logical(
    state: &AppState,
    live: &Live,
    logical: &str,
    req: &Parts,
    guess: fn(&str) -> &'static str,
) -> Response {
    let Some(entry) = live.get(logical) else {
        return plain(StatusCode::NOT_FOUND, format!("not found: /{logical}\n"));
    };
    let ct = entry
        .media_type
        .as_deref()
        .unwrap_or_else(|| guess(logical));
    files::blob_response(
        state,
        entry,
        ct,
        req.method == Method::HEAD,
        &req.headers,
        &[],
    )
    .await
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
    if path == SNAPSHOTS_PREFIX || path.starts_with("/snapshots/") {
        return held(&state, &req, &path).await;
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
            .insert(access_log::Answered(live.name.clone()));
    }
    resp
}

async fn serve_tree_in(
    state: &AppState,
    live: &Live,
    req: &Parts,
    prefix: &str,
    path: &str,
) -> Response {
    if path == "/simple" || path.starts_with("/simple/") {
        return simple::handle(state, live, req, prefix, path).await;
    }
    let logical = match logical_path(path) {
        Ok(l) => l,
        Err(r) => return bad_request(r),
    };
    if path.starts_with("/apt/") {
        apt::handle(state, live, &logical, req).await
    } else {
        serve_logical(state, live, &logical, req, guess_content_type).await
    }
}

/// `/snapshots`, `/snapshots/` (the list) and `/snapshots/<channel>/<seq>/…`.
async fn held(state: &Arc<AppState>, req: &Parts, path: &str) -> Response {
    let rest = path
        .strip_prefix(SNAPSHOTS_PREFIX)
        .unwrap_or("")
        .trim_start_matches('/');
    if rest.is_empty() {
        return held_list(state).await;
    }
    let mut parts = rest.splitn(3, '/');
    let (channel, seq) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let name = format!("{channel}/{seq}");
    if formats::snapshot::SnapshotName::parse(&name).is_none() {
        return plain(
            StatusCode::NOT_FOUND,
            format!(
                "not found: {path}: expected {SNAPSHOTS_PREFIX}/<channel>/<sequence>/<path> (GET {SNAPSHOTS_PREFIX}/ lists the held snapshots)\n"
            ),
        );
    }
    let prefix = format!("{SNAPSHOTS_PREFIX}/{name}");
    let Some(tail) = parts.next() else {
        let loc = match req.uri.query() {
            Some(q) => format!("{prefix}/?{q}"),
            None => format!("{prefix}/"),
        };
        return match HeaderValue::from_str(&loc) {
            Ok(v) => (
                StatusCode::MOVED_PERMANENTLY,
                [(header::LOCATION, v)],
                format!("moved to {loc}\n"),
            )
                .into_response(),
            Err(_) => plain(StatusCode::BAD_REQUEST, "bad request\n"),
        };
    };
    let live = match state.held_snapshot(&name).await {
        Ok(Some(l)) => l,
        Ok(None) => {
            return plain(
                StatusCode::NOT_FOUND,
                format!(
                    "snapshot {name} is not held by this server (GET {SNAPSHOTS_PREFIX}/ lists the held snapshots)\n"
                ),
            );
        }
        Err(e) => {
            tracing::error!(snapshot = %name, error = %e, "cannot load a held snapshot");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("snapshot {name} cannot be loaded: {e}\n"),
            );
        }
    };
    serve_tree(state, &live, req, &prefix, &format!("/{tail}")).await
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

/// `Content-Type` for a file the manifest gives none for, by file name.
pub fn guess_content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "deb" | "gz" | "xz" => apt::content_type(path),
        "json" => "application/json",
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" | "metadata" => "text/plain; charset=utf-8",
        "asc" => "application/pgp-keys",
        "gpg" => "application/pgp-keys",
        "whl" | "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_paths() {
        assert_eq!(
            logical_path("/apt/cuda/./cuda-x%2b1_amd64.deb").unwrap(),
            "apt/cuda/cuda-x+1_amd64.deb"
        );
        assert_eq!(
            logical_path("/apt/deb/dists/x/InRelease").unwrap(),
            "apt/deb/dists/x/InRelease"
        );
        assert_eq!(logical_path("/a//b/").unwrap(), "a//b/");
        assert_eq!(logical_path("/a/%2e/b").unwrap(), "a/b");
        for bad in [
            "/a/../b",
            "/a/%2e%2e/b",
            "/a%2fb",
            "/a%00",
            "/a%5cb",
            "/%ff",
        ] {
            assert!(logical_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn classes() {
        assert_eq!(route_class("/apt/x/InRelease"), "apt");
        assert_eq!(route_class("/simple/"), "simple");
        assert_eq!(route_class("/keys/repo.gpg"), "files");
        assert_eq!(route_class("/healthz"), "health");
        assert_eq!(route_class("/v2/"), "oci");
        assert_eq!(route_class("/v2/a/b/manifests/x"), "oci");
        assert_eq!(route_class("/snapshots/"), "snapshots");
        assert_eq!(route_class("/snapshots/test/1/apt/x"), "snapshots");
        assert_eq!(route_class("/snapshotsx"), "files");
    }

    #[test]
    fn control_characters_escaped() {
        assert_eq!(escape_controls("not found: /a\n".into()), "not found: /a\n");
        assert_eq!(
            escape_controls("not found: /a\u{1b}[2J\n\u{9b}\u{7f}\n".into()),
            "not found: /a\\u{1b}[2J\\u{a}\\u{9b}\\u{7f}\n"
        );
    }
}
