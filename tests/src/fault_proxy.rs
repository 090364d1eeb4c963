//! A fault-injecting HTTP/1.1 reverse proxy in front of a real fixture upstream (issue 16).
//!
//! [`FaultProxy::start`] listens on 127.0.0.1 and forwards each `GET` to the upstream
//! (with its `Range`, `If-None-Match`, `If-Modified-Since` and `Accept`), then answers
//! with the upstream's status, headers and body, unless a [`Rule`] whose path suffix
//! matches says otherwise for that request. Every answer closes the connection, so each
//! attempt of the client is one connection and one line in [`FaultProxy::log`].
//!
//! The faults are the ones an upstream on the internet produces: a connection reset
//! part-way through the body (RST), a body shorter than its `Content-Length` (FIN), a
//! right-length body with wrong bytes, bursts of a status (500, 503, with or without
//! `Retry-After`), a slow drip, a redirect loop. [`StallServer`] is the stalled TLS
//! handshake: it accepts and never says anything.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// What to do to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The upstream's headers, half the body, then a reset (`SO_LINGER` 0).
    ResetMidBody,
    /// The upstream's headers (full `Content-Length`), half the body, then a clean close.
    ShortBody,
    /// The upstream's headers and a body of the right length with one byte changed.
    WrongBytes,
    /// This status with an empty body, and `Retry-After: <secs>` when given.
    Status {
        /// The status code.
        code: u16,
        /// `Retry-After` in seconds.
        retry_after: Option<u64>,
    },
    /// The upstream's answer, the body sent `bytes_per_sec` bytes a second.
    Drip {
        /// Body bytes sent per second (in chunks of a tenth of that, every 100 ms).
        bytes_per_sec: usize,
    },
    /// `302` to the same path.
    RedirectLoop,
}

/// One fault for the requests whose path ends with `path_suffix`: applied to the first
/// `times` of them (`usize::MAX` for every one), then the requests pass through.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Matches a request whose path (without the query) ends with this.
    pub path_suffix: String,
    /// The fault.
    pub fault: Fault,
    /// How many matching requests get it.
    pub times: usize,
}

impl Rule {
    /// `fault` for the first `times` requests ending in `path_suffix`.
    pub fn new(path_suffix: &str, fault: Fault, times: usize) -> Rule {
        Rule {
            path_suffix: path_suffix.to_owned(),
            fault,
            times,
        }
    }

    /// `fault` for every request ending in `path_suffix`.
    pub fn always(path_suffix: &str, fault: Fault) -> Rule {
        Rule::new(path_suffix, fault, usize::MAX)
    }
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Logged {
    /// Request path (with the query).
    pub path: String,
    /// Its `Range` header, if any.
    pub range: Option<String>,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// When the request head had arrived, from the proxy's start.
    pub at: Duration,
    /// The upstream's status (0 when it was not asked).
    pub upstream_status: u16,
}

struct Shared {
    upstream: String,
    rules: Mutex<Vec<(Rule, usize)>>,
    log: Mutex<Vec<Logged>>,
    started: Instant,
}

/// The running proxy; stops when dropped.
pub struct FaultProxy {
    /// Base URL, `http://127.0.0.1:<port>` (no trailing slash).
    pub url: String,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://host:port`, no trailing slash) on its own
    /// runtime thread. Errors: the listener cannot be bound.
    pub fn start(upstream: &str) -> anyhow::Result<FaultProxy> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
        let url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            rules: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            started: Instant::now(),
        });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        let s = shared.clone();
        runtime.spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let s = s.clone();
                let client = client.clone();
                tokio::spawn(async move {
                    let _ = serve(conn, &s, &client).await;
                });
            }
        });
        Ok(FaultProxy {
            url,
            shared,
            runtime: Some(runtime),
        })
    }

    /// Replaces the rules (and their counts).
    pub fn set_rules(&self, rules: Vec<Rule>) {
        *self.shared.rules.lock().unwrap() = rules.into_iter().map(|r| (r, 0)).collect();
    }

    /// Every request so far, in arrival order.
    pub fn log(&self) -> Vec<Logged> {
        self.shared.log.lock().unwrap().clone()
    }

    /// The logged requests whose path ends with `suffix`.
    pub fn requests_for(&self, suffix: &str) -> Vec<Logged> {
        self.log()
            .into_iter()
            .filter(|l| l.path.split('?').next().unwrap_or("").ends_with(suffix))
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Reads one request head (at most 64 KiB). `None` on EOF or an oversized head.
async fn read_head(conn: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(1024);
    let mut byte = [0u8; 1024];
    loop {
        let n = conn.read(&mut byte).await?;
        if n == 0 || buf.len() > 64 << 10 {
            return Ok(None);
        }
        buf.extend_from_slice(&byte[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(Some(String::from_utf8_lossy(&buf[..end]).into_owned()));
        }
    }
}

/// The rule for `path`, counting it; `None` when none applies (any more).
fn take_fault(s: &Shared, path: &str) -> Option<Fault> {
    let path = path.split('?').next().unwrap_or("");
    let mut rules = s.rules.lock().unwrap();
    for (rule, used) in rules.iter_mut() {
        if path.ends_with(&rule.path_suffix) && *used < rule.times {
            *used += 1;
            return Some(rule.fault.clone());
        }
    }
    None
}

async fn serve(mut conn: TcpStream, s: &Shared, client: &reqwest::Client) -> anyhow::Result<()> {
    let Some(head) = read_head(&mut conn).await? else {
        return Ok(());
    };
    let at = s.started.elapsed();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let header = |k: &str| headers.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone());
    let fault = take_fault(s, path);
    let mut logged = Logged {
        path: path.to_owned(),
        range: header("range"),
        fault: fault.clone(),
        at,
        upstream_status: 0,
    };

    // Faults that do not need the upstream.
    let early = match &fault {
        Some(Fault::Status { code, retry_after }) => {
            let extra = retry_after.map_or(String::new(), |r| format!("Retry-After: {r}\r\n"));
            Some(format!(
                "HTTP/1.1 {code} Fault\r\nContent-Length: 0\r\n{extra}Connection: close\r\n\r\n"
            ))
        }
        Some(Fault::RedirectLoop) => Some(format!(
            "HTTP/1.1 302 Found\r\nLocation: {path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )),
        _ if method != "GET" && method != "HEAD" => Some(
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_owned(),
        ),
        _ => None,
    };
    if let Some(answer) = early {
        s.log.lock().unwrap().push(logged);
        conn.write_all(answer.as_bytes()).await?;
        conn.shutdown().await?;
        return Ok(());
    }

    let mut req = client.get(format!("{}{path}", s.upstream));
    for k in ["range", "if-none-match", "if-modified-since", "accept"] {
        if let Some(v) = header(k) {
            req = req.header(k, v);
        }
    }
    let resp = req.send().await?;
    logged.upstream_status = resp.status().as_u16();
    s.log.lock().unwrap().push(logged);
    let status = resp.status();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    for (k, v) in resp.headers() {
        let k = k.as_str();
        if matches!(
            k,
            "connection" | "transfer-encoding" | "keep-alive" | "content-length"
        ) {
            continue;
        }
        out.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap_or("")));
    }
    let body = resp.bytes().await?;
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    conn.write_all(out.as_bytes()).await?;
    if method == "HEAD" {
        conn.shutdown().await?;
        return Ok(());
    }
    match fault {
        Some(Fault::ResetMidBody) => {
            conn.write_all(&body[..body.len() / 2]).await?;
            conn.flush().await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
            conn.set_zero_linger()?;
            drop(conn);
        }
        Some(Fault::ShortBody) => {
            conn.write_all(&body[..body.len() / 2]).await?;
            conn.shutdown().await?;
        }
        Some(Fault::WrongBytes) => {
            let mut wrong = body.to_vec();
            if let Some(b) = wrong.get_mut(body.len() / 2) {
                *b ^= 0x5a;
            }
            conn.write_all(&wrong).await?;
            conn.shutdown().await?;
        }
        Some(Fault::Drip { bytes_per_sec }) => {
            let step = (bytes_per_sec / 10).max(1);
            for chunk in body.chunks(step) {
                conn.write_all(chunk).await?;
                conn.flush().await?;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            conn.shutdown().await?;
        }
        _ => {
            conn.write_all(&body).await?;
            conn.shutdown().await?;
        }
    }
    Ok(())
}

/// A TCP listener that accepts connections and never sends a byte: a TLS handshake to it
/// stalls. Its thread and the connections it holds live until the test process ends.
pub struct StallServer {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    _thread: std::thread::JoinHandle<()>,
    held: Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl StallServer {
    /// Starts the listener. Errors: it cannot be bound.
    pub fn start() -> anyhow::Result<StallServer> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?.to_string();
        let held = Arc::new(Mutex::new(Vec::new()));
        let h = held.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                h.lock().unwrap().push(conn);
            }
        });
        Ok(StallServer {
            addr,
            _thread: thread,
            held,
        })
    }

    /// How many connections it has accepted (and holds).
    pub fn accepted(&self) -> usize {
        self.held.lock().unwrap().len()
    }
}
