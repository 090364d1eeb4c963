//! Hostile and broken clients against a real `serve` (issue 13): idle and half-sent
//! connections, oversized heads, stalled downloads, connection floods, a second server on
//! the same port, SIGTERM while clients hold connections, HTTP/2 by prior knowledge.
//!
//! Each test uses short limits through `ServeOptions` (or the binary's flags) so it ends
//! in seconds; every wait is bounded by a socket timeout or a deadline.

#[path = "suite/common.rs"]
mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Fixture, Import};
use mirror_server::serve::{ServeOptions, ServerHandle, start_with};

const BIN: &str = env!("CARGO_BIN_EXE_mirror-server");
const SMALL: &str = "keys/repo.gpg";
const BIG: &str = "keys/big.bin";
/// Larger than what loopback socket buffers hold for a client that does not read.
const BIG_LEN: usize = 24 << 20;

fn big_bytes() -> Vec<u8> {
    (0..BIG_LEN).map(|i| (i % 251) as u8).collect()
}

/// A fixture store with `SMALL` and `BIG` imported as snapshot `test/1`.
fn store() -> Fixture {
    let fx = Fixture::new();
    let big = big_bytes();
    let files: Vec<(&str, &[u8])> = vec![(SMALL, b"repo key\n"), (BIG, &big)];
    let drive = fx.drive("drive1", 1, &files);
    fx.import(&drive, &[]).unwrap();
    fx
}

/// Options with every connection rule long enough not to fire unless a test shortens it.
fn opts() -> ServeOptions {
    ServeOptions {
        header_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
        min_rate: 0,
        min_rate_period: Duration::from_secs(30),
        drain_timeout: Duration::from_secs(2),
        max_connections: Some(64),
        ..Default::default()
    }
}

struct Server {
    rt: tokio::runtime::Runtime,
    handle: Option<ServerHandle>,
    _fx: Fixture,
}

impl Server {
    fn start(o: ServeOptions) -> Server {
        let fx = store();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let handle = rt
            .block_on(start_with(
                fx.store.clone(),
                "127.0.0.1:0".parse().unwrap(),
                o,
            ))
            .unwrap();
        Server {
            rt,
            handle: Some(handle),
            _fx: fx,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.handle.as_ref().unwrap().addr
    }

    fn metrics(&self) -> &mirror_server::serve::Metrics {
        &self.handle.as_ref().unwrap().state.metrics
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown());
        }
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(15))).unwrap();
    s
}

/// Reads until the server closes the connection (EOF or reset) and returns how long that
/// took and what was read. Panics if it stays open past the socket's read timeout.
fn wait_closed(s: &mut TcpStream) -> (Duration, Vec<u8>) {
    let t = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (t.elapsed(), out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (t.elapsed(), out),
            Err(e) => panic!(
                "connection not closed by the server after {:?}: {e}",
                t.elapsed()
            ),
        }
    }
}

/// Like [`get`], `None` when the connection is refused or reset (the cap is full).
fn try_get(addr: SocketAddr, path: &str) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    Some(split_response(&out))
}

/// One `GET path` on a fresh connection (`Connection: close`): (status, body).
fn get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut s = connect(addr);
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let (_, out) = wait_closed(&mut s);
    split_response(&out)
}

fn split_response(out: &[u8]) -> (u16, Vec<u8>) {
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(out.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&out[..end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out[end..].to_vec())
}

/// Reads one response head of a keep-alive connection plus `Content-Length` bytes.
fn read_one_response(s: &mut TcpStream) -> u16 {
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "connection closed mid-head");
        got.push(b[0]);
    }
    let head = String::from_utf8_lossy(&got).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    split_response(&got).0
}

#[test]
fn idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let srv = Server::start(ServeOptions {
        idle_timeout: Duration::from_secs(1),
        header_timeout: Duration::from_secs(5),
        ..opts()
    });
    let mut s = connect(srv.addr());
    write!(s, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_one_response(&mut s), 200);
    let (waited, rest) = wait_closed(&mut s);
    assert!(rest.is_empty());
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(3),
        "idle connection closed after {waited:?}, idle timeout 1 s"
    );
    // A connection that never sends a request is closed by the header timeout, not kept
    // for the idle timeout... and not before it.
    let srv = Server::start(ServeOptions {
        idle_timeout: Duration::from_secs(30),
        header_timeout: Duration::from_secs(1),
        ..opts()
    });
    let mut s = connect(srv.addr());
    let (waited, _) = wait_closed(&mut s);
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(3),
        "silent connection closed after {waited:?}, header timeout 1 s"
    );
    // The count drops when the connection's task ends, just after the socket closes.
    let t = Instant::now();
    while srv.metrics().connections_open() != 0 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "closed connection still counted"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_header_sent_one_byte_at_a_time_is_cut_by_the_header_timeout() {
    let srv = Server::start(ServeOptions {
        header_timeout: Duration::from_secs(2),
        ..opts()
    });
    let mut s = connect(srv.addr());
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: {}\r\n\r\n",
        "a".repeat(200)
    );
    let t = Instant::now();
    let mut cut = None;
    for b in head.bytes() {
        if s.write_all(&[b]).is_err() {
            cut = Some(t.elapsed());
            break;
        }
        // One byte a second: the head would take minutes.
        std::thread::sleep(Duration::from_secs(1));
        let mut probe = [0u8; 1];
        s.set_nonblocking(true).unwrap();
        let r = s.read(&mut probe);
        s.set_nonblocking(false).unwrap();
        match r {
            Ok(0) => {
                cut = Some(t.elapsed());
                break;
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                cut = Some(t.elapsed());
                break;
            }
            Ok(_) => panic!("the server answered a head that never completed"),
            Err(_) => {}
        }
        assert!(t.elapsed() < Duration::from_secs(10), "slow header not cut");
    }
    let cut = cut.expect("the whole slow head was accepted");
    assert!(
        cut >= Duration::from_millis(1500) && cut < Duration::from_secs(5),
        "slow header cut after {cut:?}, header timeout 2 s"
    );
}

#[test]
fn a_head_over_64_kib_gets_431_and_the_connection_closes() {
    let srv = Server::start(opts());
    let addr = srv.addr();
    // Complete but too large.
    let mut s = connect(addr);
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let _ = s.write_all(big.as_bytes());
    let (_, out) = wait_closed(&mut s);
    assert_eq!(
        split_response(&out).0,
        431,
        "{}",
        String::from_utf8_lossy(&out)
    );
    // 400 KB of a head that never ends: refused after 64 KiB, not buffered.
    let mut s = connect(addr);
    let chunk = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Half: {}",
        "b".repeat(400_000)
    );
    let mut sent = 0;
    for c in chunk.as_bytes().chunks(16 * 1024) {
        match s.write_all(c) {
            Ok(()) => sent += c.len(),
            Err(_) => break,
        }
    }
    let (_, out) = wait_closed(&mut s);
    assert_eq!(split_response(&out).0, 431, "after {sent} bytes sent");
    // Just under the limit is fine.
    let mut s = connect(addr);
    write!(
        s,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Ok: {}\r\n\r\n",
        "c".repeat(60 * 1024)
    )
    .unwrap();
    let (_, out) = wait_closed(&mut s);
    assert_eq!(split_response(&out).0, 200);
}

#[test]
fn a_stalled_download_is_cut_by_the_minimum_rate() {
    let srv = Server::start(ServeOptions {
        min_rate: 64 * 1024,
        min_rate_period: Duration::from_secs(1),
        ..opts()
    });
    let addr = srv.addr();
    // A reader that keeps up gets everything.
    let (status, body) = get(addr, &format!("/{BIG}"));
    assert_eq!(status, 200);
    assert_eq!(body.len(), BIG_LEN);
    assert!(body == big_bytes(), "the big blob came back different");
    // A client that stops reading is cut.
    let mut s = connect(addr);
    write!(s, "GET /{BIG} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut first = [0u8; 12];
    s.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let t = Instant::now();
    loop {
        // Wait (bounded) for the server to give up on us: it shows as its socket gone.
        if srv.metrics().connections_open() == 0 {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(6),
            "stalled download not cut"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let cut = t.elapsed();
    assert!(
        cut >= Duration::from_millis(900),
        "cut after {cut:?}, before the period"
    );
    let (_, out) = wait_closed(&mut s);
    assert!(
        out.len() < BIG_LEN,
        "the stalled client still got the whole blob ({} bytes)",
        out.len()
    );
}

#[test]
fn over_the_cap_connections_are_refused_and_healthz_answers_after() {
    let srv = Server::start(ServeOptions {
        max_connections: Some(4),
        header_timeout: Duration::from_secs(30),
        ..opts()
    });
    let addr = srv.addr();
    let held: Vec<TcpStream> = (0..4).map(|_| connect(addr)).collect();
    let t = Instant::now();
    while srv.metrics().connections_open() < 4 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "held connections not counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The fifth is closed at once, without an answer.
    let mut s = connect(addr);
    let _ = write!(s, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let (waited, out) = wait_closed(&mut s);
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    assert!(waited < Duration::from_secs(1), "refusal took {waited:?}");
    assert_eq!(srv.metrics().connections_refused(), 1);
    assert_eq!(srv.metrics().connections_open(), 4);
    drop(held);
    let t = Instant::now();
    while srv.metrics().connections_open() > 0 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "closed connections still counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, body) = get(addr, "/healthz");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("test/1"));
    let t = Instant::now();
    while srv.metrics().connections_open() > 0 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "/healthz connection still counted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, body) = get(addr, "/metrics");
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("# TYPE mirror_connections_open gauge\nmirror_connections_open 1\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "# TYPE mirror_connections_refused_total counter\nmirror_connections_refused_total 1\n"
        ),
        "{text}"
    );
}

#[test]
fn every_request_carries_the_peer_address() {
    use axum::extract::ConnectInfo;
    use mirror_server::serve::conn;
    let fx = Fixture::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let state = Arc::new(mirror_server::serve::AppState::new(fx.store.clone(), None));
    let app = axum::Router::new().route(
        "/peer",
        axum::routing::get(
            |ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() },
        ),
    );
    let limits = conn::Limits {
        header_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        min_rate: 0,
        min_rate_period: Duration::from_secs(5),
        max_connections: 8,
        drain_timeout: Duration::from_secs(1),
    };
    let ctx = Arc::new(conn::ConnContext::new(app, state, limits));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let task = rt.spawn(conn::accept_loop(listener, ctx, rx));
    let mut s = connect(addr);
    let me = s.local_addr().unwrap();
    write!(
        s,
        "GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let (_, out) = wait_closed(&mut s);
    assert_eq!(split_response(&out), (200, me.to_string().into_bytes()));
    tx.send(true).unwrap();
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), task).await })
        .expect("accept loop did not stop")
        .unwrap();
}

#[test]
fn http2_prior_knowledge_still_works() {
    let srv = Server::start(opts());
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "--http2-prior-knowledge",
            "-o",
            "-",
        ])
        .args(["-w", "\n%{http_version} %{http_code}"])
        .arg(format!("http://{}/{SMALL}", srv.addr()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text, "repo key\n\n2 200");
    // A big blob over h2, checked byte for byte.
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "--http2-prior-knowledge",
            "-o",
            "-",
        ])
        .arg(format!("http://{}/{BIG}", srv.addr()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == big_bytes(),
        "h2 body differs ({} bytes)",
        out.stdout.len()
    );
}

/// A `mirror-server serve` child with its stderr collected; `addr` from its "listening
/// on" line.
struct Proc {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(store: &std::path::Path, listen: &str, extra: &[&str]) -> Result<Proc, String> {
        Proc::spawn_with(Command::new(BIN), store, listen, extra)
    }

    /// Like [`Proc::spawn`], under a soft and hard `RLIMIT_NOFILE` of `nofile` (set by
    /// the shell's `ulimit -n` before it execs the server).
    fn spawn_limited(
        store: &std::path::Path,
        listen: &str,
        nofile: u32,
        extra: &[&str],
    ) -> Result<Proc, String> {
        let mut sh = Command::new("sh");
        sh.args([
            "-c",
            &format!("ulimit -n {nofile} && exec \"$0\" \"$@\""),
            BIN,
        ]);
        Proc::spawn_with(sh, store, listen, extra)
    }

    fn spawn_with(
        mut cmd: Command,
        store: &std::path::Path,
        listen: &str,
        extra: &[&str],
    ) -> Result<Proc, String> {
        let mut child = cmd
            .args(["serve", "--store"])
            .arg(store)
            .args(["--listen", listen, "--workers", "2"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix("mirror-server listening on http://") {
                    let _ = tx.send(a.to_owned());
                }
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => Ok(Proc {
                child,
                addr: a.parse().unwrap(),
                stderr,
            }),
            Err(_) => {
                let deadline = Instant::now() + Duration::from_secs(10);
                let status = loop {
                    if let Some(st) = child.try_wait().unwrap() {
                        break Some(st);
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        break None;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                };
                std::thread::sleep(Duration::from_millis(100));
                Err(format!("{status:?}\n{}", stderr.lock().unwrap()))
            }
        }
    }

    /// Sends `sig` and waits (bounded) for the exit: (status, time taken).
    fn signal_and_wait(
        &mut self,
        sig: i32,
        bound: Duration,
    ) -> (std::process::ExitStatus, Duration) {
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return (st, t.elapsed());
            }
            if t.elapsed() > bound {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "serve did not exit within {bound:?} of signal {sig}\n{}",
                    self.stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_second_serve_on_the_same_port_fails_and_the_first_keeps_serving() {
    let fx = store();
    let mut first = Proc::spawn(&fx.store, "127.0.0.1:0", &[]).unwrap();
    let addr = first.addr;
    let err = Proc::spawn(&fx.store, &addr.to_string(), &[])
        .err()
        .expect("a second serve started on a port in use");
    assert!(err.contains("address in use"), "{err}");
    assert!(err.contains(&addr.to_string()), "{err}");
    assert!(err.contains("--listen"), "{err}");
    assert!(
        !err.contains("Some(ExitStatus(unix_wait_status(0)))"),
        "{err}"
    );
    // The first still answers every request, on fresh connections.
    for _ in 0..50 {
        let (status, body) = get(addr, &format!("/{SMALL}"));
        assert_eq!((status, body.as_slice()), (200, b"repo key\n".as_slice()));
    }
    let (st, _) = first.signal_and_wait(libc::SIGTERM, Duration::from_secs(10));
    assert!(st.success(), "{st:?}");
}

#[test]
fn sigterm_exits_within_the_drain_timeout_whatever_clients_hold() {
    let fx = store();
    let mut srv = Proc::spawn(
        &fx.store,
        "127.0.0.1:0",
        &[
            "--drain-timeout",
            "1",
            "--header-timeout",
            "60",
            "--idle-timeout",
            "60",
            "--min-rate",
            "0",
        ],
    )
    .unwrap();
    let addr = srv.addr;
    // A half-sent head, a download the client does not read, an idle keep-alive one.
    let mut half = connect(addr);
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaa")
        .unwrap();
    let mut stalled = connect(addr);
    write!(stalled, "GET /{BIG} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut first = [0u8; 12];
    stalled.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let mut idle = connect(addr);
    write!(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_one_response(&mut idle), 200);
    let (st, took) = srv.signal_and_wait(libc::SIGTERM, Duration::from_secs(10));
    assert!(st.success(), "{st:?}\n{}", srv.stderr.lock().unwrap());
    assert!(
        took < Duration::from_secs(3),
        "exit took {took:?} with a 1 s drain timeout"
    );
    // Every connection was closed.
    for s in [&mut half, &mut stalled, &mut idle] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = wait_closed(s);
    }
}

#[test]
fn a_flood_at_the_descriptor_limit_leaves_room_for_a_snapshot_switch() {
    let fx = store();
    // 128 descriptors: a reserve of 64 for the store and reloads, so a cap of 64.
    let srv =
        Proc::spawn_limited(&fx.store, "127.0.0.1:0", 128, &["--header-timeout", "60"]).unwrap();
    let addr = srv.addr;
    let mut flood: Vec<TcpStream> = (0..200).map(|_| connect(addr)).collect();
    // The refused ones are closed at once; the others stay open.
    let t = Instant::now();
    let (mut open, mut refused) = (0, 0);
    for s in &mut flood {
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut b = [0u8; 1];
        match s.read(&mut b) {
            Ok(0) => refused += 1,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => refused += 1,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => open += 1,
            other => panic!("unexpected read on a flood connection: {other:?}"),
        }
    }
    assert!(t.elapsed() < Duration::from_secs(30));
    assert_eq!(
        (open, refused),
        (64, 136),
        "descriptors: {}",
        srv.stderr.lock().unwrap()
    );
    // While the cap is full, a new snapshot is imported and the server switches to it.
    let drive = fx.drive("drive2", 2, &[(SMALL, b"second key\n")]);
    fx.import(&drive, &[]).unwrap();
    let t = Instant::now();
    while !srv
        .stderr
        .lock()
        .unwrap()
        .contains("switched snapshot snapshot=test/2")
    {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no switch while the cap was full:\n{}",
            srv.stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(flood);
    // Until the server has seen the flood go, a new connection may still be refused.
    let t = Instant::now();
    loop {
        let got = try_get(addr, "/healthz");
        if let Some((200, body)) = &got
            && String::from_utf8_lossy(body).contains("test/2")
        {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "healthz: {got:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        get(addr, &format!("/{SMALL}")),
        (200, b"second key\n".to_vec())
    );
    let log = srv.stderr.lock().unwrap().clone();
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(!log.contains("reload failed"), "{log}");
}
