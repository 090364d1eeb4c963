//! Per-request observation: the access log, the request metrics and the `Host` check.
//!
//! [`super::observe::Observation`] wraps every request (in the connection's service, or as
//! the middleware [`super::observe::observe`] of [`super::router::router`]). For every request it
//!
//! 1. refuses an HTTP/1.x request whose `Host` header is missing (HTTP/1.1 only), repeated
//!    or not a valid `uri-host[:port]` with `400 Bad Request` (RFC 9112 §3.2: "A server
//!    MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request message
//!    that lacks a Host header field and to any request message that contains more than
//!    one Host header field line or a Host header field with an invalid field value").
//!    HTTP/1.0 without `Host` is served; HTTP/2 carries the authority in `:authority`;
//! 2. counts the request per route class and status, and records the time to the response
//!    head in the latency histogram ([`super::Metrics`]);
//! 3. wraps the response body so that, when the body has been handed to the connection in
//!    full, its length joins `mirror_http_completed_response_bytes_total`, and when it is
//!    dropped before its end (client gone, connection cut) the response counts in
//!    `mirror_http_incomplete_responses_total` instead;
//! 4. when an access log is configured ([`AccessLogConfig`]), writes one line at that
//!    moment: time the request arrived, client address, method, target, protocol, status,
//!    body bytes handed to the connection, duration until the body ended (seconds),
//!    the snapshot that answered (a held one for `/snapshots/<channel>/<seq>/…`, else the
//!    live one when the request arrived), and whether the body was complete.
//!
//! # Formats
//!
//! `combined` is the Apache/nginx combined log format followed by three fields:
//!
//! ```text
//! 127.0.0.1 - - [02/Dec/2026:19:10:35 +0000] "GET /apt/cuda/x.deb HTTP/1.1" 200 200000 "-" "curl/8.5.0" 0.001234 "test/1" complete
//! ```
//!
//! (`%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`, then the duration in seconds,
//! the snapshot name in quotes (`"-"` when none is imported) and `complete` or
//! `incomplete`). `%b` is the body bytes actually handed to the connection (`0`, not `-`,
//! for an empty body, as nginx's `$body_bytes_sent`).
//!
//! `json` is one JSON object per line:
//!
//! ```text
//! {"time":"2026-12-02T19:10:35.123456Z","client":"127.0.0.1:40312","method":"GET","target":"/apt/cuda/x.deb","protocol":"HTTP/1.1","status":200,"bytes":200000,"duration_seconds":0.001234,"snapshot":"test/1","complete":true,"referer":null,"user_agent":"curl/8.5.0","class":"apt"}
//! ```
//!
//! Request-controlled strings (target, referer, user agent) are escaped in both formats:
//! control bytes, `"`, `\` and bytes outside printable ASCII become `\xHH` (`\"` and `\\`
//! in `combined`), as nginx does, so a line can never be split or forged and a terminal
//! never receives a raw escape sequence.
//!
//! # Writing without blocking
//!
//! Lines go through a bounded channel ([`QUEUE_LINES`]) to one dedicated writer thread
//! with a buffered writer, flushed every [`FLUSH_EVERY`] (50 ms) while lines come. When
//! the queue is full (the disk stalls), the line is dropped and counted in
//! `mirror_access_log_dropped_lines_total`: the event loops never wait for the log.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Instant, SystemTime};

use axum::http::{HeaderValue, Method, Version};

/// Lines the access-log queue holds before new lines are dropped (and counted).
pub const QUEUE_LINES: usize = 16_384;

/// Access-log line format (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AccessLogFormat {
    /// Apache/nginx combined log format, then duration, snapshot and completeness.
    #[default]
    Combined,
    /// One JSON object per line.
    Json,
}

/// Where the access log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    /// Standard output (`--access-log -`; journald under systemd).
    Stdout,
    /// A file, created if absent and appended to (mode 0640).
    File(PathBuf),
}

impl AccessLogTarget {
    /// `-` is standard output, anything else a file path.
    pub fn parse(s: &str) -> AccessLogTarget {
        if s == "-" {
            AccessLogTarget::Stdout
        } else {
            AccessLogTarget::File(PathBuf::from(s))
        }
    }
}

/// The access log of [`super::ServeOptions::access_log`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogConfig {
    /// Where lines are written.
    pub target: AccessLogTarget,
    /// Line format.
    pub format: AccessLogFormat,
}

/// A running access log: the sending side of the writer thread's queue.
#[derive(Debug)]
pub struct AccessLog {
    tx: SyncSender<String>,
    pub(super) format: AccessLogFormat,
    dropped: AtomicU64,
}

impl AccessLog {
    /// Opens the target (a file is created with mode 0640 if absent, and appended to) and
    /// starts the writer thread, which ends when the last [`AccessLog`] is dropped.
    ///
    /// Errors: the file cannot be opened (the message names it), or the thread cannot
    /// start.
    pub fn open(cfg: &AccessLogConfig) -> anyhow::Result<AccessLog> {
        use anyhow::Context as _;
        let out: Box<dyn std::io::Write + Send> = match &cfg.target {
            AccessLogTarget::Stdout => Box::new(std::io::stdout()),
            AccessLogTarget::File(p) => {
                use std::os::unix::fs::OpenOptionsExt as _;
                let f = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o640)
                    .open(p)
                    .with_context(|| {
                        format!(
                            "cannot open the access log {}: check that its directory exists \
                             and is writable by this user, or pass --access-log -",
                            p.display()
                        )
                    })?;
                Box::new(f)
            }
        };
        let name = match &cfg.target {
            AccessLogTarget::Stdout => "standard output".to_owned(),
            AccessLogTarget::File(p) => p.display().to_string(),
        };
        AccessLog::to_writer(out, name, cfg.format, QUEUE_LINES)
            .context("cannot start the access-log thread")
    }

    /// An access log writing `format` lines to `out` (called `name` in warnings) through a
    /// queue of `capacity` lines.
    ///
    /// Errors: the writer thread cannot start.
    pub fn to_writer(
        out: Box<dyn std::io::Write + Send>,
        name: String,
        format: AccessLogFormat,
        capacity: usize,
    ) -> std::io::Result<AccessLog> {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || writer(rx, out, &name))?;
        Ok(AccessLog {
            tx,
            format,
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues one line (with its `\n`); drops and counts it when the queue is full.
    pub(super) fn send(&self, line: String) {
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lines dropped so far because the queue was full (or the writer had stopped).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// How long a written line may wait in the writer's buffer before it is flushed.
pub const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// The writer thread: writes queued lines through a 64 KiB buffer, flushed at most every
/// [`FLUSH_EVERY`] under load and within [`FLUSH_EVERY`] of the last line when idle (so
/// a line reaches the file within about 50 ms, with at most ~20 flushes a second); a
/// write error is reported once (and again after a success).
fn writer(rx: Receiver<String>, out: Box<dyn std::io::Write + Send>, name: &str) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut w = std::io::BufWriter::with_capacity(64 * 1024, out);
    let mut failing = false;
    let mut report = |r: std::io::Result<()>| match r {
        Ok(()) => failing = false,
        Err(e) => {
            if !failing {
                tracing::warn!(log = %name, error = %e, "cannot write the access log; lines are lost until it recovers");
            }
            failing = true;
        }
    };
    let mut dirty = false;
    let mut flushed = Instant::now();
    loop {
        let wait = if dirty {
            FLUSH_EVERY.saturating_sub(flushed.elapsed())
        } else {
            std::time::Duration::from_secs(3600)
        };
        match rx.recv_timeout(wait) {
            Ok(line) => {
                report(w.write_all(line.as_bytes()));
                dirty = true;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if dirty && flushed.elapsed() >= FLUSH_EVERY {
            report(w.flush());
            dirty = false;
            flushed = Instant::now();
        }
    }
    report(w.flush());
}

/// What the access log needs from the request, kept until the body ends.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) time: SystemTime,
    pub(super) client: Option<SocketAddr>,
    pub(super) method: Method,
    pub(super) target: String,
    pub(super) version: Version,
    pub(super) status: u16,
    pub(super) referer: Option<HeaderValue>,
    pub(super) user_agent: Option<HeaderValue>,
    pub(super) snapshot: Option<String>,
    pub(super) class: &'static str,
}

/// `s` with control bytes, bytes outside printable ASCII, and (when `quotes`) `"` and `\`
/// escaped (`\xHH`, `\"`, `\\`).
pub fn escape_bytes(s: &[u8], quotes: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s {
        match b {
            b'"' if quotes => out.push_str("\\\""),
            b'\\' if quotes => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02X}");
            }
        }
    }
    out
}

fn protocol(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP",
    }
}

/// One access-log line (with its `\n`).
pub(super) fn format_line(
    format: AccessLogFormat,
    p: &Pending,
    bytes: u64,
    took: std::time::Duration,
    complete: bool,
) -> String {
    let time: chrono::DateTime<chrono::Utc> = p.time.into();
    let header =
        |v: &Option<HeaderValue>, quotes| v.as_ref().map(|v| escape_bytes(v.as_bytes(), quotes));
    match format {
        AccessLogFormat::Combined => {
            let client = p
                .client
                .map_or_else(|| "-".to_owned(), |c| c.ip().to_string());
            format!(
                "{client} - - [{}] \"{} {} {}\" {} {bytes} \"{}\" \"{}\" {:.6} \"{}\" {}\n",
                time.format("%d/%b/%Y:%H:%M:%S +0000"),
                escape_bytes(p.method.as_str().as_bytes(), true),
                escape_bytes(p.target.as_bytes(), true),
                protocol(p.version),
                p.status,
                header(&p.referer, true).unwrap_or_else(|| "-".into()),
                header(&p.user_agent, true).unwrap_or_else(|| "-".into()),
                took.as_secs_f64(),
                p.snapshot
                    .as_deref()
                    .map_or_else(|| "-".into(), |s| escape_bytes(s.as_bytes(), true)),
                if complete { "complete" } else { "incomplete" },
            )
        }
        AccessLogFormat::Json => {
            // Written directly (no intermediate JSON value): fields in a fixed order, and
            // every request-controlled string through `json_string`.
            let mut s = String::with_capacity(320);
            let _ = write!(
                s,
                "{{\"time\":\"{}\",\"client\":",
                time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            );
            match p.client {
                Some(c) => {
                    let _ = write!(s, "\"{c}\"");
                }
                None => s.push_str("null"),
            }
            let _ = writeln!(
                s,
                ",\"method\":{},\"target\":{},\"protocol\":\"{}\",\"status\":{},\"bytes\":{bytes},\"duration_seconds\":{},\"snapshot\":{},\"complete\":{complete},\"referer\":{},\"user_agent\":{},\"class\":\"{}\"}}",
                json_string(p.method.as_str().as_bytes()),
                json_string(p.target.as_bytes()),
                protocol(p.version),
                p.status,
                took.as_secs_f64(),
                json_opt(p.snapshot.as_deref().map(str::as_bytes)),
                json_opt(p.referer.as_ref().map(HeaderValue::as_bytes)),
                json_opt(p.user_agent.as_ref().map(HeaderValue::as_bytes)),
                p.class,
            );
            s
        }
    }
}

/// A JSON string literal (RFC 8259 §7) holding [`escape_bytes`]`(b, false)`: printable
/// ASCII as is (`"` and `\` escaped for JSON), every other byte as the four characters
/// `\xHH` (written `\\xHH` in the JSON text).
pub fn json_string(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 2);
    out.push('"');
    for &c in b {
        match c {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(c)),
            _ => {
                let _ = write!(out, "\\\\x{c:02X}");
            }
        }
    }
    out.push('"');
    out
}

fn json_opt(b: Option<&[u8]>) -> String {
    b.map_or_else(|| "null".to_owned(), json_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that blocks until `gate` is dropped, like a stalled disk.
    /// A writer whose `write` reports that it was entered, then blocks until the gate
    /// closes.
    struct Stalled {
        entered: std::sync::mpsc::Sender<()>,
        gate: std::sync::mpsc::Receiver<()>,
    }

    impl std::io::Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.entered.send(());
            let _ = self.gate.recv();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_writer_drops_and_counts_lines_instead_of_blocking() {
        let (gate, gate_rx) = std::sync::mpsc::channel::<()>();
        let (entered_tx, entered) = std::sync::mpsc::channel::<()>();
        let log = AccessLog::to_writer(
            Box::new(Stalled {
                entered: entered_tx,
                gate: gate_rx,
            }),
            "stalled".into(),
            AccessLogFormat::Combined,
            8,
        )
        .unwrap();
        // One line, flushed within FLUSH_EVERY: the writer thread is then stuck in
        // `write`, as on a stalled disk.
        log.send("first\n".into());
        entered
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the writer flushes its first line within FLUSH_EVERY");
        let started = Instant::now();
        // The queue holds 8 lines; the other 992 are dropped, and sending never waits.
        for i in 0..1000 {
            log.send(format!("line {i}\n"));
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(log.dropped(), 992);
        drop(gate);
    }

    #[test]
    fn json_strings_round_trip_to_the_escaped_text() {
        for raw in [&b"plain"[..], b"a\"b\\c", b"\x1b[2J\n\xc3\xa9\x7f"] {
            let lit = json_string(raw);
            assert!(lit.bytes().all(|b| (0x20..0x7f).contains(&b)), "{lit}");
            let back: String = serde_json::from_str(&lit).unwrap();
            assert_eq!(back, escape_bytes(raw, false));
        }
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape_bytes(b"/a\x1b[31m\"\\\n\xff", true),
            "/a\\x1B[31m\\\"\\\\\\x0A\\xFF"
        );
        assert_eq!(escape_bytes(b"a\"b\\", false), "a\"b\\");
        assert_eq!(escape_bytes(b"\x7f", false), "\\x7F");
    }
}
