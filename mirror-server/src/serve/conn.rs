//! The connection layer of `serve`: one listening socket shared by the serving threads,
//! the accept loop, the cap on open connections and, per connection, the deadlines that
//! keep a hostile or broken client from holding the server.
//!
//! # Model
//!
//! [`bind`] opens **one** listening socket (`SO_REUSEADDR`, never `SO_REUSEPORT`), so a
//! second process cannot bind the same address: the kernel shares a port only among
//! sockets that all set `SO_REUSEPORT`. Every serving thread accepts on its own
//! [`std::net::TcpListener::try_clone`] of that socket, in its own single-threaded event
//! loop ([`accept_loop`]). Each accepted connection is served by one task
//! (`serve_tcp`, then [`serve_stream`]) with hyper-util's `auto::Builder`: HTTP/1.1, and
//! HTTP/2 by prior knowledge (h2c, RFC 9113 §3.3).
//!
//! # Rules per connection ([`Limits`])
//!
//! | rule | default | what happens |
//! |------|---------|--------------|
//! | header timeout | 10 s | the first request (and the handshake, if any) must arrive within it after accept; later, a request head must be complete within it after its first byte (the slowloris defence) |
//! | idle timeout | 60 s | a keep-alive connection with no request in flight that receives nothing for this long is closed (RFC 9112 §9.8 allows the server to close idle connections at any time) |
//! | minimum rate | 1 KiB/s over 30 s | a response the client does not read (the socket stays full) that moves fewer than `min_rate × period` bytes in `period` is cut |
//! | head size | 64 KiB | [`Metered`] reads at most 64 KiB while no request is in flight; past it an HTTP/1.1 client gets `431 Request Header Fields Too Large` (RFC 6585 §5) and the connection closes; HTTP/2 also advertises `SETTINGS_MAX_HEADER_LIST_SIZE` 64 KiB |
//! | open connections | [`default_max_connections`] | over the cap a new connection is accepted and closed at once, counted in `mirror_connections_refused_total` |
//!
//! The watchdog sees bytes, not frames: on an HTTP/2 connection with no request in flight,
//! any frame the client sends (a `PING`, a `WINDOW_UPDATE`) starts the header deadline,
//! so such a connection is closed after the header timeout unless a request follows;
//! clients open a new one when they need it.
//!
//! The deadlines are enforced by a watchdog that runs beside the hyper connection in the
//! connection's task, over byte counters kept by [`Metered`] (a thin wrapper of the
//! stream) and the number of requests in flight. When a rule fires, the connection future
//! is dropped, which closes the socket and frees its buffers.
//!
//! # Shutdown
//!
//! When the stop signal turns true, the accept loops stop, each connection gets hyper's
//! graceful shutdown (idle HTTP/1.1 connections close; HTTP/2 sends `GOAWAY`) and
//! in-flight responses may finish until `drain_timeout`; then every connection still open
//! is closed, whatever the client does.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

use super::observe::{Observation, bad_host, host_problem};
use super::router::route_class;
use super::state::AppState;

/// Largest request head accepted: 64 KiB (request line and header fields of HTTP/1.1; the
/// header list of HTTP/2, RFC 9113 §6.5.2). apt, pip, uv and OCI clients send a few
/// hundred bytes.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Concurrent HTTP/2 streams per connection (RFC 9113 §5.1.2). Each stream may hold one
/// open blob file, so this also bounds the descriptors one connection can take.
pub const H2_MAX_STREAMS: u32 = 32;

/// Upper bound of [`default_max_connections`]: 4096 connections is far more than the
/// machines a Cube serves open at once, and bounds the memory a flood can take (an idle
/// connection holds a few KiB, a connection with a half-sent 64 KiB head at most ~72 KiB).
pub const MAX_CONNECTIONS_CEILING: usize = 4096;

/// Connection rules of [`serve_stream`] and the cap of [`accept_loop`] (see the module
/// docs for the defaults and why).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time allowed for the handshake and the first request after accept, and for a
    /// request head once its first byte has arrived.
    pub header_timeout: Duration,
    /// Time a connection with no request in flight may stay silent.
    pub idle_timeout: Duration,
    /// Minimum transfer rate of a response the client does not read, in bytes per second
    /// (0 disables the rule).
    pub min_rate: u64,
    /// Window over which [`Limits::min_rate`] is measured.
    pub min_rate_period: Duration,
    /// Open connections at most, over every serving thread (at least 1).
    pub max_connections: usize,
    /// Time in-flight requests get to finish after the stop signal.
    pub drain_timeout: Duration,
}

impl Limits {
    /// How often the watchdog looks at a connection: a quarter of the shortest deadline,
    /// between 50 ms and 1 s (so a deadline fires at most a quarter late).
    fn tick(&self) -> Duration {
        let shortest = self
            .header_timeout
            .min(self.idle_timeout)
            .min(self.min_rate_period);
        (shortest / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
    }
}

/// Raises the soft `RLIMIT_NOFILE` of this process to its hard limit (getrlimit(2),
/// setrlimit(2)) and returns the soft limit now in force (descriptors).
///
/// An infinite hard limit is replaced by `/proc/sys/fs/nr_open` (the kernel refuses
/// more). Errors: the limits cannot be read, or the kernel refuses the new soft limit (the
/// old soft limit stays; callers log it and go on).
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit struct through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut hard = lim.rlim_max;
    if hard == libc::RLIM_INFINITY {
        hard = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20);
    }
    if lim.rlim_cur != libc::RLIM_INFINITY && lim.rlim_cur >= hard {
        return Ok(lim.rlim_cur);
    }
    let new = libc::rlimit {
        rlim_cur: hard,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads one rlimit struct through a valid pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(hard)
}

/// Descriptors kept out of the connection cap for everything else the server opens: the
/// store's index and blobs, snapshot reloads, the blocking pool, logs: a quarter of
/// `nofile`, between 64 and 1024.
pub fn fd_reserve(nofile: u64) -> u64 {
    (nofile / 4).clamp(64, 1024)
}

/// Default cap on open connections for a soft descriptor limit of `nofile`: `nofile`
/// minus [`fd_reserve`], at most [`MAX_CONNECTIONS_CEILING`], at least 1. With the usual
/// soft limit of 1024 this is 768; under systemd's `LimitNOFILE=65536`, 4096.
pub fn default_max_connections(nofile: u64) -> usize {
    let free = nofile.saturating_sub(fd_reserve(nofile)).max(1);
    usize::try_from(free).map_or(MAX_CONNECTIONS_CEILING, |f| f.min(MAX_CONNECTIONS_CEILING))
}

/// Binds the one listening socket of `addr` (backlog 1024, `SO_REUSEADDR` so a restart
/// does not wait for `TIME_WAIT`, **no** `SO_REUSEPORT`).
///
/// Errors: the address is in use (the error names it and says how to find the owner and
/// what to do), or cannot be bound for another reason (permission, no such address).
pub fn bind(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let s = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: cannot create a socket: {e}"))?;
    s.set_reuseaddr(true)
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: SO_REUSEADDR: {e}"))?;
    if let Err(e) = s.bind(addr) {
        if e.kind() == io::ErrorKind::AddrInUse {
            anyhow::bail!(
                "cannot listen on {addr}: address in use: another process already listens there \
                 (see which with `ss -ltnp 'sport = :{port}'`); stop it, or give serve another \
                 --listen address",
                port = addr.port()
            );
        }
        anyhow::bail!("cannot listen on {addr}: {e}");
    }
    let l = s
        .listen(1024)
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    l.into_std()
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

/// Byte counters and request state of one connection, shared by [`Metered`], the
/// service and the watchdog.
#[derive(Debug, Default)]
struct ConnStats {
    read: AtomicU64,
    written: AtomicU64,
    /// A write returned `Pending` (the socket is full) since the watchdog last looked.
    write_blocked: AtomicBool,
    /// Requests dispatched whose response body is not finished.
    in_flight: AtomicUsize,
    /// Requests dispatched so far.
    requests: AtomicU64,
    /// Bytes read with no request in flight since the last request was dispatched: the
    /// request head being received (held to [`MAX_HEAD_BYTES`] by [`Metered`]).
    head_bytes: AtomicU64,
}

/// A stream that counts the bytes read and written and notes when a write would block,
/// for the watchdog of [`serve_stream`], and holds a request head to [`MAX_HEAD_BYTES`].
/// Generic over the stream (plain TCP, TLS).
///
/// The head limit is enforced here rather than by hyper's `max_buf_size`, which also
/// bounds hyper's write queue: at 64 KiB it would stop hyper from asking for the next
/// 256 KiB blob frame while one is being written, and streamed downloads lost about a
/// third of their throughput. While no request is in flight, reads are cut to what is
/// left of the 64 KiB; once it is used up, an HTTP/1.1 client gets
/// `431 Request Header Fields Too Large` (RFC 6585 §5, best effort: one non-blocking
/// write) and the read fails, which closes the connection. HTTP/2 header lists are held
/// by `SETTINGS_MAX_HEADER_LIST_SIZE` instead; its frames between requests count too.
#[derive(Debug)]
pub struct Metered<S> {
    inner: S,
    stats: Arc<ConnStats>,
    /// The first bytes of the connection, to tell HTTP/2's preface (`PRI …`) apart.
    prefix: [u8; 3],
    prefix_len: usize,
    refused: bool,
}

/// The answer to a request head over [`MAX_HEAD_BYTES`] (HTTP/1.1).
const TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 39\r\n\r\nrequest head larger than 64 KiB: refused";

impl<S> Metered<S> {
    fn new(inner: S, stats: Arc<ConnStats>) -> Metered<S> {
        Metered {
            inner,
            stats,
            prefix: [0; 3],
            prefix_len: 0,
            refused: false,
        }
    }

    /// Counts `got` (the bytes just read) and keeps the connection's first three.
    fn note_read(&mut self, got: &[u8], head: bool) {
        if got.is_empty() {
            return;
        }
        self.stats
            .read
            .fetch_add(got.len() as u64, Ordering::Relaxed);
        if head {
            self.stats
                .head_bytes
                .fetch_add(got.len() as u64, Ordering::Relaxed);
        }
        let take = (3 - self.prefix_len).min(got.len());
        self.prefix[self.prefix_len..self.prefix_len + take].copy_from_slice(&got[..take]);
        self.prefix_len += take;
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let head = self.stats.in_flight.load(Ordering::Relaxed) == 0;
        let left = if head {
            (MAX_HEAD_BYTES as u64).saturating_sub(self.stats.head_bytes.load(Ordering::Relaxed))
        } else {
            u64::MAX
        };
        if left == 0 {
            if !self.refused {
                self.refused = true;
                if self.prefix_len < 3 || &self.prefix != b"PRI" {
                    let _ = Pin::new(&mut self.inner).poll_write(cx, TOO_LARGE);
                }
            }
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head larger than 64 KiB",
            )));
        }
        if left >= buf.remaining() as u64 {
            let before = buf.filled().len();
            let r = Pin::new(&mut self.inner).poll_read(cx, buf);
            let this = &mut *self;
            this.note_read(&buf.filled()[before..], head);
            return r;
        }
        // Near the limit: read at most what is left, through a small buffer.
        let mut tmp = [0u8; 4096];
        let n = (left as usize).min(tmp.len());
        let mut small = ReadBuf::new(&mut tmp[..n]);
        let r = Pin::new(&mut self.inner).poll_read(cx, &mut small);
        let got = small.filled().len();
        buf.put_slice(&tmp[..got]);
        self.note_read(&tmp[..got], head);
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note_write(&r);
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note_write(&r);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        if r.is_pending() {
            self.stats.write_blocked.store(true, Ordering::Relaxed);
        }
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S> Metered<S> {
    fn note_write(&self, r: &Poll<io::Result<usize>>) {
        match r {
            Poll::Ready(Ok(n)) => {
                self.stats.written.fetch_add(*n as u64, Ordering::Relaxed);
            }
            Poll::Pending => self.stats.write_blocked.store(true, Ordering::Relaxed),
            Poll::Ready(Err(_)) => {}
        }
    }
}

/// Counts one request as in flight until its response body is finished or dropped.
struct InFlight(Arc<ConnStats>);

impl InFlight {
    fn new(stats: Arc<ConnStats>) -> InFlight {
        stats.in_flight.fetch_add(1, Ordering::Relaxed);
        stats.requests.fetch_add(1, Ordering::Relaxed);
        stats.head_bytes.store(0, Ordering::Relaxed);
        InFlight(stats)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One open connection, counted in [`Metrics`] until dropped.
struct OpenGuard(Arc<AppState>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.metrics.connection_closed();
    }
}

/// What every connection task of a serving thread shares.
pub struct ConnContext {
    /// The application: [`super::router::routes`], which [`serve_stream`] observes
    /// ([`Observation`]) request by request.
    pub router: Router,
    /// The server's state (its [`super::Metrics`] count the open and refused
    /// connections: `mirror_connections_open`, `mirror_connections_refused_total`).
    pub state: Arc<AppState>,
    /// The rules.
    pub limits: Limits,
    /// HTTPS: every connection does this TLS handshake first ([`ConnContext::with_tls`]).
    pub tls: Option<Arc<super::tls::Tls>>,
    builder: auto::Builder<TokioExecutor>,
}

impl std::fmt::Debug for ConnContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnContext")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl ConnContext {
    /// The context of one serving thread: HTTP/1.1 with no hyper-side header timeout
    /// (the watchdog owns the deadlines; [`Metered`] holds heads to 64 KiB); HTTP/2 with a 64 KiB
    /// header list, [`H2_MAX_STREAMS`] streams and 64 KiB receive windows (the server
    /// reads no request bodies).
    pub fn new(router: Router, state: Arc<AppState>, limits: Limits) -> ConnContext {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(None)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(MAX_HEAD_BYTES as u32)
            .max_concurrent_streams(H2_MAX_STREAMS)
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(256 * 1024)
            .max_send_buf_size(256 * 1024);
        ConnContext {
            router,
            state,
            limits,
            tls: None,
            builder,
        }
    }

    /// The same context serving HTTPS with `tls` (`None`: plain HTTP). The handshake
    /// counts against the header timeout; HTTP/2 or HTTP/1.1 then follows what the client
    /// sends (the ALPN-negotiated protocol's preface).
    pub fn with_tls(mut self, tls: Option<Arc<super::tls::Tls>>) -> ConnContext {
        self.tls = tls;
        self
    }
}

/// Accepts on `listener` until `stop` turns true, serving each connection in its own task
/// (`serve_tcp`) while fewer than `ctx.limits.max_connections` are open (counted over
/// every thread sharing `ctx.state`); over the cap a connection is accepted and closed
/// at once (the client sees the close immediately instead of waiting in the listen
/// backlog, and the refusal is counted). Then waits for the connection tasks, at most
/// `drain_timeout` plus one second.
///
/// Accept errors are logged; when the process is out of descriptors (`EMFILE`,
/// `ENFILE`) the loop pauses 100 ms so it does not spin.
pub async fn accept_loop(
    listener: tokio::net::TcpListener,
    ctx: Arc<ConnContext>,
    stop: watch::Receiver<bool>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    let mut stopping = stop.clone();
    loop {
        tokio::select! {
            () = stopped(&mut stopping) => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            r = listener.accept() => match r {
                Ok((tcp, peer)) => {
                    if !ctx.state.metrics.try_open_connection(ctx.limits.max_connections) {
                        drop(tcp);
                        continue;
                    }
                    let guard = OpenGuard(ctx.state.clone());
                    tasks.spawn(serve_tcp(tcp, peer, ctx.clone(), stop.clone(), guard));
                }
                Err(e) => {
                    let out_of_fds = matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
                    if out_of_fds {
                        tracing::warn!(error = %e, "cannot accept a connection: out of file descriptors (raise LimitNOFILE or lower --max-connections)");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    } else {
                        tracing::debug!(error = %e, "accept failed");
                    }
                }
            }
        }
    }
    drop(listener);
    let bound = ctx.limits.drain_timeout + Duration::from_secs(1);
    let drained =
        tokio::time::timeout(bound, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            open = tasks.len(),
            "connections still open after the drain timeout; closing them"
        );
        tasks.shutdown().await;
    }
}

/// Serves one accepted TCP connection: sets `TCP_NODELAY` (headers and body go out as
/// separate writes; with Nagle's algorithm the body would wait for the client's delayed
/// ACK), runs the TLS handshake when the context has TLS (under the header deadline),
/// then [`serve_stream`]. `_open` is released when the connection is closed.
async fn serve_tcp(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    ctx: Arc<ConnContext>,
    stop: watch::Receiver<bool>,
    _open: OpenGuard,
) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!("cannot set TCP_NODELAY: {e}");
    }
    let accepted = Instant::now();
    let Some(tls) = ctx.tls.clone() else {
        serve_stream(tcp, peer, accepted, &ctx, stop).await;
        return;
    };
    // The TLS handshake is bounded by the same deadline as the first request head (and by
    // the handshake's own timeout); the time it takes counts against the header timeout.
    let deadline = accepted + ctx.limits.header_timeout;
    let mut stop_hs = stop.clone();
    let stream = tokio::select! {
        s = tokio::time::timeout_at(deadline, tls.accept(tcp)) => match s {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake not completed within the header timeout");
                return;
            }
        },
        () = stopped(&mut stop_hs) => return,
    };
    serve_stream(stream, peer, accepted, &ctx, stop).await;
}

/// Resolves when `stop` turns true or its sender is gone (holds no borrow of the value,
/// so the futures that await it stay `Send`).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Why the watchdog closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    Header,
    Idle,
    Slow,
    Drain,
}

impl Cut {
    fn as_str(self) -> &'static str {
        match self {
            Cut::Header => "request head not received within the header timeout",
            Cut::Idle => "idle timeout",
            Cut::Slow => "client reads below the minimum rate",
            Cut::Drain => "drain timeout after stop",
        }
    }
}

/// The deadlines of one connection (see the module docs), fed from [`ConnStats`] once
/// per tick.
struct Watchdog {
    limits: Limits,
    /// Requests counted at the last look (a change means a request was dispatched).
    requests: u64,
    /// Bytes read when the connection last became idle.
    idle_read: u64,
    /// The connection has no request in flight since this instant.
    idle_since: Option<Instant>,
    /// A request head (or the first request) is being received since this instant.
    head_since: Option<Instant>,
    /// The client has not been reading since this instant, with this many bytes written.
    stall: Option<(Instant, u64)>,
}

impl Watchdog {
    fn new(limits: Limits, accepted: Instant) -> Watchdog {
        Watchdog {
            limits,
            requests: 0,
            idle_read: 0,
            idle_since: Some(accepted),
            // The first request must arrive within the header timeout of the accept.
            head_since: Some(accepted),
            stall: None,
        }
    }

    /// Looks at `s` at `now`: `Some(rule)` when the connection must be closed.
    fn check(&mut self, s: &ConnStats, now: Instant) -> Option<Cut> {
        let requests = s.requests.load(Ordering::Relaxed);
        let in_flight = s.in_flight.load(Ordering::Relaxed);
        let read = s.read.load(Ordering::Relaxed);
        let written = s.written.load(Ordering::Relaxed);
        let blocked = s.write_blocked.swap(false, Ordering::Relaxed);
        let new_request = requests != self.requests;
        self.requests = requests;
        if in_flight > 0 {
            self.idle_since = None;
            self.head_since = None;
            if self.limits.min_rate == 0 || !blocked {
                self.stall = None;
                return None;
            }
            match self.stall {
                None => self.stall = Some((now, written)),
                Some((since, from)) => {
                    let period = now.duration_since(since);
                    if period >= self.limits.min_rate_period {
                        let need = (self.limits.min_rate as f64 * period.as_secs_f64()) as u64;
                        if written.saturating_sub(from) < need {
                            return Some(Cut::Slow);
                        }
                        self.stall = Some((now, written));
                    }
                }
            }
            return None;
        }
        self.stall = None;
        if self.idle_since.is_none() || new_request {
            self.idle_since = Some(now);
            self.idle_read = read;
            self.head_since = None;
        }
        if self.head_since.is_none() && read != self.idle_read {
            self.head_since = Some(now);
        }
        if let Some(h) = self.head_since {
            if now.duration_since(h) >= self.limits.header_timeout {
                return Some(Cut::Header);
            }
        } else if let Some(i) = self.idle_since
            && now.duration_since(i) >= self.limits.idle_timeout
        {
            return Some(Cut::Idle);
        }
        None
    }
}

/// Serves HTTP/1.1 or HTTP/2 (prior knowledge) on `stream` from `peer` until the client
/// closes, a rule of `ctx.limits` fires, or, after `stop`, the drain timeout passes.
/// Every request carries [`ConnectInfo`]`<SocketAddr>` of `peer` in its extensions.
/// `accepted` is when the connection was accepted (the first request's deadline counts
/// from it).
pub async fn serve_stream<S>(
    stream: S,
    peer: SocketAddr,
    accepted: Instant,
    ctx: &ConnContext,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let stats = Arc::new(ConnStats::default());
    let io = TokioIo::new(Metered::new(stream, stats.clone()));
    let router = ctx.router.clone();
    let state = ctx.state.clone();
    let svc_stats = stats.clone();
    // Every request is observed here, outside the router (the `Host` rules, metrics,
    // access log: `observe`), so no middleware layer boxes a service and a body per
    // request; the response body carries the in-flight count until hyper drops it.
    let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let in_flight = InFlight::new(svc_stats.clone());
        let obs = Observation::begin(&state, route_class(req.uri().path()), &req);
        let answer = match host_problem(req.version(), req.headers()) {
            Some(why) => Err(bad_host(why)),
            None => Ok(tower_service::Service::call(&mut router.clone(), req)),
        };
        async move {
            let resp = match answer {
                Ok(fut) => fut.await?,
                Err(resp) => resp,
            };
            Ok::<_, Infallible>(obs.end(resp, in_flight))
        }
    });
    let conn = ctx.builder.serve_connection(io, svc);
    tokio::pin!(conn);
    let limits = ctx.limits;
    let mut dog = Watchdog::new(limits, accepted);
    let mut tick = tokio::time::interval(limits.tick());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut drain_until: Option<Instant> = None;
    let cut = loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                break None;
            }
            now = tick.tick() => {
                if let Some(c) = dog.check(&stats, now) {
                    break Some(c);
                }
            }
            () = tokio::time::sleep_until(drain_until.unwrap_or_else(Instant::now)), if drain_until.is_some() => {
                break Some(Cut::Drain);
            }
            () = stopped(&mut stop), if drain_until.is_none() => {
                drain_until = Some(Instant::now() + limits.drain_timeout);
                conn.as_mut().graceful_shutdown();
            }
        }
    };
    if let Some(c) = cut {
        tracing::debug!(%peer, reason = c.as_str(), "closing connection");
    }
}

/// Returns freed heap to the operating system after a burst of connections closed: when
/// the open count falls to a quarter of the peak seen since the last trim (and the peak
/// was at least 256), calls glibc `malloc_trim(0)` (`live::release_free_memory`) on the
/// blocking pool.
/// Checks every second until `stop`.
pub async fn trim_after_bursts(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut peak = 0u64;
    loop {
        tokio::select! {
            () = stopped(&mut stop) => return,
            _ = tick.tick() => {}
        }
        let open = state.metrics.connections_open();
        peak = peak.max(open);
        if peak >= 256 && open <= peak / 4 {
            peak = open;
            let _ = tokio::task::spawn_blocking(crate::serve::routes::release_free_memory).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            min_rate: 1000,
            min_rate_period: Duration::from_secs(30),
            max_connections: 10,
            drain_timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn caps_from_the_fd_limit() {
        assert_eq!(default_max_connections(1024), 768);
        assert_eq!(default_max_connections(65536), MAX_CONNECTIONS_CEILING);
        assert_eq!(default_max_connections(100), 36);
        assert_eq!(default_max_connections(10), 1);
        assert_eq!(fd_reserve(1 << 20), 1024);
    }

    #[test]
    fn first_request_must_arrive_within_the_header_timeout() {
        let t0 = Instant::now();
        let s = ConnStats::default();
        let mut d = Watchdog::new(limits(), t0);
        assert_eq!(d.check(&s, t0 + Duration::from_secs(9)), None);
        assert_eq!(d.check(&s, t0 + Duration::from_secs(10)), Some(Cut::Header));
    }

    #[test]
    fn idle_then_slow_head() {
        let t0 = Instant::now();
        let s = ConnStats::default();
        let mut d = Watchdog::new(limits(), t0);
        // A request is dispatched and answered.
        s.requests.store(1, Ordering::Relaxed);
        s.read.store(100, Ordering::Relaxed);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(d.check(&s, t1), None);
        // Idle 59 s: fine; 60 s: cut.
        assert_eq!(d.check(&s, t1 + Duration::from_secs(59)), None);
        let mut d2 = Watchdog::new(limits(), t0);
        assert_eq!(d2.check(&s, t1), None);
        assert_eq!(d2.check(&s, t1 + Duration::from_secs(60)), Some(Cut::Idle));
        // One byte of a new head: the header timeout runs from then.
        s.read.store(101, Ordering::Relaxed);
        let t2 = t1 + Duration::from_secs(30);
        assert_eq!(d.check(&s, t2), None);
        assert_eq!(d.check(&s, t2 + Duration::from_secs(9)), None);
        assert_eq!(d.check(&s, t2 + Duration::from_secs(10)), Some(Cut::Header));
    }

    #[test]
    fn stalled_reader_is_cut_and_a_slow_server_is_not() {
        let t0 = Instant::now();
        let s = ConnStats::default();
        let mut d = Watchdog::new(limits(), t0);
        s.requests.store(1, Ordering::Relaxed);
        s.in_flight.store(1, Ordering::Relaxed);
        // The server is slow (no blocked write): never cut.
        for i in 1..100 {
            assert_eq!(d.check(&s, t0 + Duration::from_secs(i)), None);
        }
        // The client stops reading: 29 s fine, 30 s cut.
        let t1 = t0 + Duration::from_secs(100);
        s.write_blocked.store(true, Ordering::Relaxed);
        assert_eq!(d.check(&s, t1), None);
        s.write_blocked.store(true, Ordering::Relaxed);
        assert_eq!(d.check(&s, t1 + Duration::from_secs(29)), None);
        s.write_blocked.store(true, Ordering::Relaxed);
        assert_eq!(d.check(&s, t1 + Duration::from_secs(30)), Some(Cut::Slow));
        // A reader at 2x the minimum rate is kept.
        let mut d = Watchdog::new(limits(), t0);
        let mut w = 0;
        for i in 0..100 {
            w += 2000;
            s.written.store(w, Ordering::Relaxed);
            s.write_blocked.store(true, Ordering::Relaxed);
            assert_eq!(d.check(&s, t1 + Duration::from_secs(i)), None);
        }
    }
}
