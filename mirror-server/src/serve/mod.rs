//! `mirror-server serve`: the read-only HTTP server (axum) over the live snapshot.
//!
//! Routes (GET and HEAD; any other method gets `405`), one row each in the route table
//! [`router::ROUTES`]:
//!
//! | path                               | module      |
//! |------------------------------------|-------------|
//! | `/apt/<repo>/…`                    | [`apt`]     |
//! | `/simple/`, `/simple/<project>/…`  | [`simple`]  |
//! | `/v2`, `/v2/…` (every method; push methods get `405 UNSUPPORTED`) | [`oci`] |
//! | `/healthz`, `/metrics`             | [`health`]  |
//! | `/ui`, `/ui/…`                     | the read-only web console, [`crate::ui`] (unless `serve --no-ui`) |
//! | `/snapshots/`                      | JSON list of the held snapshots (name, channel, sequence, live, current, pinned, …) |
//! | `/snapshots/<channel>/<seq>/<path>`| that held snapshot, served exactly as the live one is at `/<path>` (`apt/`, `simple/` with PEP 691 negotiation, files; not the OCI `/v2` API) |
//! | any other path (`/keys/…`, …)      | logical-path lookup, served by [`files`] |
//!
//! Modules: [`router`](mod@router) (the route table and the axum router), [`state`] ([`AppState`],
//! [`ServeOptions`]), [`routes`] (a snapshot's routing table, from the store), [`snapshots`],
//! [`apt`], [`simple`], [`oci`], [`health`], [`files`] (handlers), [`body`] (blob bodies:
//! `Range`, `ETag`, streaming), [`content_type`], [`path`] (request path → logical path),
//! [`response`] (plain-text answers), [`conn`], [`tls`], [`access_log`], [`signals`]
//! (SIGHUP, SIGTERM).
//!
//! Starting ([`start_with`]) takes these steps:
//!
//! 1. load the TLS files, raise the descriptor limit and size the connection cap;
//! 2. bind one listening socket and clone it for each serving thread;
//! 3. load the store's current snapshot and the channels' live snapshots;
//! 4. build the shared [`AppState`] (with the access log);
//! 5. start the serving threads ([`conn::accept_loop`] over [`router::routes`]);
//! 6. start the reload loop.
//!
//! Every request is first observed ([`observe::Observation`], in the connection's service;
//! [`observe::observe`] is the same as a middleware of [`router::router`]): the `Host` rules of RFC 9112
//! §3.2 (`400` otherwise), the request counters and latency histogram of [`health`], the
//! completed-bytes count, and the access log when one is configured
//! ([`ServeOptions::access_log`]). Error bodies ([`response::plain`]) escape control characters.
//! With [`ServeOptions::tls`] the same routes are served over HTTPS only (rustls; HTTP/2
//! or HTTP/1.1 by ALPN; the certificate is reloadable): see [`tls`].
//!
//! The routing table ([`routes::Live`]) is built from the store's current snapshot at
//! start and rebuilt when `STORE/current.gen` or the index file changes (polled every second). Each request
//! takes one `Arc` of the table, so it never sees a mix of two snapshots. No redb lock is
//! held while serving: the index is opened read-only, read and closed on each reload.
//!
//! Tables of other held snapshots (for `/snapshots/…`) are loaded on demand
//! ([`routes::load_named`]) and kept in a small LRU cache of [`HELD_CACHE`] tables,
//! which is emptied whenever `current.gen` changes (rollback, gc, import), so a snapshot
//! removed by garbage collection answers `404` within a second. A logical path of the
//! live snapshot that begins with `snapshots/` is shadowed by these routes.

pub mod access_log;
pub mod apt;
pub mod body;
pub mod conn;
pub mod content_type;
pub mod files;
pub mod health;
pub mod metrics;
pub mod observe;
pub mod oci;
pub mod path;
pub mod response;
pub mod router;
pub mod routes;
pub mod signals;
pub mod simple;
pub mod snapshots;
pub mod state;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

pub use access_log::{AccessLogConfig, AccessLogFormat, AccessLogTarget};
pub use content_type::guess as guess_content_type;
pub use health::{LiveChannel, Metrics};
pub use path::{PathReject, logical_path};
pub use response::{NO_SNAPSHOT, escape_controls, plain};
pub use router::{route_class, router};
pub use snapshots::SNAPSHOTS_PREFIX;
pub use state::{AppState, HELD_CACHE, ServeOptions, default_workers};

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

/// Binds `listen`, loads the store's current snapshot and serves it until
/// [`ServerHandle::shutdown`], with [`default_workers`] serving threads.
///
/// Errors: the address cannot be bound, or the store's index or current manifest cannot be
/// read (a store with nothing imported is fine: content routes answer `503`).
pub async fn start(store: PathBuf, listen: SocketAddr) -> anyhow::Result<ServerHandle> {
    start_with(store, listen, ServeOptions::default()).await
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
    // 1. TLS files, descriptor limit, connection cap.
    let tls = match &opts.tls {
        Some(t) => Some(tls::Tls::load(t).context("cannot start TLS")?),
        None => None,
    };
    let (limits, nofile) = connection_limits(&opts);
    // 2. One listening socket, a clone per serving thread.
    let (addr, listeners) = bind_listeners(listen, workers)?;
    // 3. The current snapshot and the channels' live snapshots.
    let generation = reload_key(&store);
    let (initial, channels) = load_live(&store).await?;
    // 4. The shared state.
    let access = opts
        .access_log
        .as_ref()
        .map(access_log::AccessLog::open)
        .transpose()?;
    let max_connections = limits.max_connections;
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
    state.ui = crate::ui::UiState::new(opts.ui, tls.is_some());
    set_channels(&state, channels);
    let state = Arc::new(state);
    // 5. The serving threads.
    let (tx, rx) = tokio::sync::watch::channel(false);
    let threads = spawn_workers(listeners, &state, limits, &tls, &rx)?;
    // 6. The reload loop.
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

/// The connection rules of `opts` and the soft descriptor limit, raised to the hard one
/// ([`conn::raise_nofile_limit`]; 1024 when it cannot be read). Without
/// [`ServeOptions::max_connections`] the cap derives from that limit; a cap that leaves too
/// few descriptors for the store is kept, with a warning.
fn connection_limits(opts: &ServeOptions) -> (conn::Limits, u64) {
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
    (limits, nofile)
}

/// Binds `listen` once ([`conn::bind`]) and returns its address and `workers` handles of
/// that one socket.
///
/// Errors: the address is in use or cannot be bound; the socket cannot be cloned.
fn bind_listeners(
    listen: SocketAddr,
    workers: usize,
) -> anyhow::Result<(SocketAddr, Vec<std::net::TcpListener>)> {
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
    Ok((addr, listeners))
}

/// The store's current routing table (`None`: nothing imported) and each channel's live
/// snapshot, read on the blocking pool.
///
/// Errors: the index or the current manifest cannot be read.
async fn load_live(
    store: &std::path::Path,
) -> anyhow::Result<(Option<routes::Live>, anyhow::Result<Vec<LiveChannel>>)> {
    let (initial, channels) = {
        let s = store.to_path_buf();
        tokio::task::spawn_blocking(move || (routes::load(&s), health::live_channels(&s)))
            .await
            .context("loading the live snapshot")?
    };
    let initial = initial
        .with_context(|| format!("cannot load the current snapshot of {}", store.display()))?;
    Ok((initial, channels))
}

/// Starts one serving thread per listener, each with its own router over `state`, stopping
/// when `stop` turns true.
///
/// Errors: a thread cannot be started.
fn spawn_workers(
    listeners: Vec<std::net::TcpListener>,
    state: &Arc<AppState>,
    limits: conn::Limits,
    tls: &Option<Arc<tls::Tls>>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Vec<std::thread::JoinHandle<std::io::Result<()>>>> {
    let mut threads = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let ctx = Arc::new(
            conn::ConnContext::new(router::routes(state.clone()), state.clone(), limits)
                .with_tls(tls.clone()),
        );
        let rx = stop.clone();
        let t = std::thread::Builder::new()
            .name(format!("serve-{i}"))
            .spawn(move || serve_thread(listener, ctx, rx, i == 0))
            .context("cannot start a serving thread")?;
        threads.push(t);
    }
    Ok(threads)
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

/// What the reload loop watches: `STORE/current.gen` and the index file's size and
/// modification time. The generation is bumped after every change of the live snapshot;
/// the index's own change covers an import killed between its commit and that bump, so a
/// running server never keeps serving a snapshot the index no longer calls current.
fn reload_key(store: &std::path::Path) -> Option<String> {
    let generation = routes::generation(store);
    let index = std::fs::metadata(store.join(routes::INDEX_FILE))
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

/// Polls `STORE/current.gen` every second and swaps in the new snapshot when it changes.
/// A failed load keeps the old table and is retried on the next tick.
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
            (routes::load(&store), health::live_channels(&store))
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
